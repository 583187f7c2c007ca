//! Status updates: a task's new state recorded and its update queued (ids, time, uuid filled
//! in), acknowledgements (the next update of the task goes; an acknowledged terminal one moves
//! the task to the completed list), and the checkpoints that go with them.

use super::{frame, unix_now, Agent, AgentState, CompletedTask};
use crate::checkpoint::{self, ExecutorCheckpoint, TaskCheckpoint};
use drover_api::agent_protocol::StatusUpdate;
use drover_api::executor as ex;
use drover_api::*;

impl Agent {
    /// Record a new state of a task and queue its status update.
    pub(crate) fn task_update(
        &self,
        fid: &FrameworkID,
        tid: &TaskID,
        state: TaskState,
        message: String,
        reason: Option<Reason>,
    ) {
        let mut s = TaskStatus::new(tid.clone(), state);
        s.source = Some(if reason.is_some() && state != TaskState::TASK_KILLED {
            StatusSource::SOURCE_AGENT
        } else {
            StatusSource::SOURCE_EXECUTOR
        });
        s.reason = reason;
        if !message.is_empty() {
            s.message = Some(message);
        }
        self.send_status(self.lock(), fid, s);
    }

    /// Record `s.state` as the task's state and queue `s` (ids, time, uuid filled in). Takes the
    /// lock guard so a caller can check the task and update it atomically (health checks).
    pub(super) fn send_status(
        &self,
        mut st: std::sync::MutexGuard<'_, AgentState>,
        fid: &FrameworkID,
        mut s: TaskStatus,
    ) {
        let agent_id = st.id.clone();
        let tid = s.task_id.clone();
        let key = (fid.clone(), tid.clone());
        let live = st.tasks.get(&key).is_some_and(|t| !t.state.is_terminal());
        // An evicted revocable task ends as the QoS controller says, not as its kill does.
        if live && s.state.is_terminal() && st.preempted.remove(&key) {
            let aware = st
                .frameworks
                .get(fid)
                .is_some_and(|f| f.has_capability("PARTITION_AWARE"));
            super::qos::preempted_status(&mut s, aware);
        }
        let (eid, cid) = match st.tasks.get_mut(&key) {
            Some(t) => {
                if t.state.is_terminal() {
                    return;
                }
                t.state = s.state;
                if t.killed_by_health_check && s.state.is_terminal() {
                    s.healthy = Some(false); // as Mesos' command executor does
                }
                (
                    t.executor_id
                        .clone()
                        .unwrap_or_else(|| ExecutorID::new(tid.value.clone())),
                    t.container_id.clone(),
                )
            }
            None => return,
        };
        if s.state.is_terminal() {
            *st.ended.entry(s.state.as_str()).or_default() += 1;
        }
        s.agent_id = agent_id;
        s.executor_id = Some(eid);
        s.timestamp = Some(unix_now());
        s.uuid = Some(uuid::Uuid::new_v4().as_bytes().to_vec());
        s.container_status = Some(serde_json::json!({"container_id": {"value": cid}}));
        st.updates.enqueue(StatusUpdate {
            framework_id: fid.clone(),
            status: s,
        });
        self.checkpoint_task(&st, fid, &tid);
        drop(st);
        self.link.flush();
    }

    pub(super) fn acknowledge(&self, fid: &FrameworkID, tid: &TaskID, uuid: &[u8]) {
        let mut st = self.lock();
        let Some(acked) = st.updates.ack(fid, tid, uuid) else {
            return;
        };
        let key = (fid.clone(), tid.clone());
        // Tell a custom executor its update landed.
        if let Some(eid) = st.tasks.get(&key).and_then(|t| t.executor_id.clone()) {
            if let Some(x) = st.executors.get(&(fid.clone(), eid)) {
                if let Some(s) = &x.stream {
                    let mut ev = ex::Event::bare(ex::EventType::ACKNOWLEDGED);
                    ev.acknowledged = Some(ex::Acknowledged {
                        task_id: tid.clone(),
                        uuid: uuid.to_vec(),
                    });
                    let _ = s.send(frame(&ev));
                }
            }
        }
        let done = acked.status.state.is_terminal() && !st.updates.has_pending(fid, tid);
        if done {
            if let Some(t) = st.tasks.remove(&key) {
                if let Some(eid) = &t.executor_id {
                    if let Some(x) = st.executors.get_mut(&(fid.clone(), eid.clone())) {
                        x.tasks.remove(tid);
                    }
                }
                self.journal_write(&st, |j| j.remove(fid, tid));
                if st.completed.len() >= 1000 {
                    st.completed.pop_front();
                }
                st.completed.push_back(CompletedTask {
                    framework_id: fid.clone(),
                    executor_id: t
                        .executor_id
                        .clone()
                        .unwrap_or_else(|| ExecutorID::new(tid.value.clone())),
                    info: t.info,
                    state: t.state,
                    sandbox: t.sandbox,
                });
            }
        } else {
            self.checkpoint_task(&st, fid, tid);
        }
        drop(st);
        self.link.flush();
    }

    fn task_checkpoint(st: &AgentState, fid: &FrameworkID, tid: &TaskID) -> Option<TaskCheckpoint> {
        let t = st.tasks.get(&(fid.clone(), tid.clone()))?;
        Some(TaskCheckpoint {
            framework: st.frameworks.get(fid).cloned().unwrap_or_default(),
            task: t.info.clone(),
            state: t.state,
            executor_id: t.executor_id.clone(),
            container_id: t.container_id.clone(),
            sandbox: t.sandbox.clone(),
            pid: t.pid,
            pid_start: t.pid_start,
            pending: st.updates.pending(fid, tid).into_iter().cloned().collect(),
        })
    }

    /// Journal the task: whole the first time, then only what changes (state, process, pending
    /// updates).
    pub(super) fn checkpoint_task(&self, st: &AgentState, fid: &FrameworkID, tid: &TaskID) {
        let Some(t) = st.tasks.get(&(fid.clone(), tid.clone())) else {
            return;
        };
        self.journal_write(st, |j| {
            if !j.has(fid, tid) {
                return match Self::task_checkpoint(st, fid, tid) {
                    Some(cp) => j.put(&cp),
                    None => Ok(()),
                };
            }
            j.progress(&checkpoint::TaskProgressRef {
                framework_id: fid,
                task_id: tid,
                state: t.state,
                pid: t.pid,
                pid_start: t.pid_start,
                pending: st.updates.pending(fid, tid),
            })
        });
    }

    /// Append to the task journal (under the state lock, so lines follow the state's order) and
    /// rewrite it when it has grown to many times the live tasks.
    pub(super) fn journal_write(
        &self,
        st: &AgentState,
        write: impl FnOnce(&mut checkpoint::TaskJournal) -> std::io::Result<()>,
    ) {
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = write(&mut j) {
            tracing::error!("task checkpoint failed: {e}");
        }
        if j.wants_compaction(st.tasks.len()) {
            let live: Vec<TaskCheckpoint> = st
                .tasks
                .keys()
                .filter_map(|(f, t)| Self::task_checkpoint(st, f, t))
                .collect();
            if let Err(e) = j.compact(&live) {
                tracing::error!("rewriting the task journal failed: {e}");
            }
        }
    }

    pub(super) fn checkpoint_executor(&self, st: &AgentState, ekey: &(FrameworkID, ExecutorID)) {
        let Some(x) = st.executors.get(ekey) else {
            return;
        };
        let cp = ExecutorCheckpoint {
            framework: st.frameworks.get(&ekey.0).cloned().unwrap_or_default(),
            info: x.info.clone(),
            container_id: x.container_id.clone(),
            sandbox: x.sandbox.clone(),
            pid: x.pid,
            pid_start: x.pid_start,
        };
        if let Err(e) = checkpoint::write_executor(&self.cfg.meta_dir(), &cp) {
            tracing::error!(executor_id = %ekey.1, "checkpoint failed: {e}");
        }
    }
}
