//! Custom executors: starting one's process (a process container without limits), killing it
//! when it does not subscribe in time, what its end means for its tasks, and the calls of the
//! v1 executor API (SUBSCRIBE, UPDATE, MESSAGE).

use super::{frame, unix_now, Agent};
use crate::containerizer::{End, Kind, Launch, LaunchError, Stop, Unattended};
use bytes::Bytes;
use drover_api::agent_protocol::{FromAgent, StatusUpdate};
use drover_api::executor as ex;
use drover_api::*;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Why an executor's call was refused (400, with this text).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecutorCallError {
    #[error("Framework {0} is not known to this agent")]
    UnknownFramework(FrameworkID),
    #[error("Executor {executor} of framework {framework} is not known to this agent")]
    UnknownExecutor {
        framework: FrameworkID,
        executor: ExecutorID,
    },
    #[error("'update.status.uuid' must be a 16-byte UUID")]
    BadUuid,
    #[error("'update.status.state' must not be TASK_STAGING")]
    Staging,
    #[error("Task {task} is not known to executor {executor}")]
    UnknownTask { task: TaskID, executor: ExecutorID },
}

impl Agent {
    pub(super) async fn start_executor(self: Arc<Self>, framework: FrameworkInfo, e: ExecutorInfo) {
        let Some(fid) = framework.id.clone() else {
            return;
        };
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let ekey = (fid.clone(), e.executor_id.clone());
        let Some((sandbox, cid)) = self
            .lock()
            .executors
            .get(&ekey)
            .map(|x| (x.sandbox.clone(), x.container_id.clone()))
        else {
            return;
        };
        if let Err(err) = self.sandboxes.create(&sandbox) {
            self.fail_executor(&ekey, format!("Failed to create sandbox: {err}"))
                .await;
            return;
        }
        let cmd = e.command.clone().unwrap_or_default();
        if let Err(err) = self.fetcher.fetch_all(&cmd.uris, &sandbox).await {
            let msg = format!("Failed to fetch all URIs for container '{cid}': {err}");
            self.fail_executor(&ekey, msg).await;
            return;
        }
        let argv = if cmd.shell.unwrap_or(true) {
            vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                cmd.value.clone().unwrap_or_default(),
            ]
        } else {
            let mut a = vec![cmd.value.clone().unwrap_or_default()];
            a.extend(cmd.arguments.iter().skip(1).cloned());
            a
        };
        let env = self.executor_env(&fid, &agent_id, &e, &sandbox);
        let launch = Launch {
            container_id: cid.clone(),
            agent_id,
            framework_id: fid.clone(),
            sandbox,
            argv,
            env,
            user: cmd
                .user
                .clone()
                .or_else(|| Some(framework.user.clone()))
                .filter(|u| !u.is_empty()),
            limits: None,
            task: None,
        };
        let c = self.containerizers.process.clone();
        let started = match c.launch(launch, &Unattended).await {
            Ok(s) => s,
            Err(err) => {
                let msg = match err {
                    LaunchError::Spawn(why) => format!("Failed to launch executor: {why}"),
                    other => other.to_string(),
                };
                self.fail_executor(&ekey, msg).await;
                return;
            }
        };
        {
            let mut st = self.lock();
            if let Some(x) = st.executors.get_mut(&ekey) {
                x.pid = started.pid;
                x.pid_start = started.pid_start;
                x.launched = true;
            }
            self.checkpoint_executor(&st, &ekey);
        }
        // An executor that never subscribes is killed (Mesos: executor_registration_timeout).
        let me = self.clone();
        let ekey2 = ekey.clone();
        let reg_timeout = self.cfg.executor_registration_timeout_secs;
        tokio::spawn(async move {
            tokio::time::sleep(super::kill::secs(reg_timeout)).await;
            let st = me.lock();
            if let Some(x) = st.executors.get(&ekey2) {
                if x.stream.is_none() && x.launched {
                    tracing::warn!(executor_id = %ekey2.1, "executor did not subscribe in time; killing it");
                    me.containerizers.process.kill(&x.container_id, Stop::Kill);
                }
            }
        });
        let exit = c.wait(&cid).await;
        let code = match exit.end {
            End::Code(c) => c as i32,
            _ => -1,
        };
        self.executor_gone(&fid, &e.executor_id, code).await;
    }

    /// An executor could not be started: fail its tasks, forget it.
    async fn fail_executor(&self, ekey: &(FrameworkID, ExecutorID), msg: String) {
        let tids: Vec<TaskID> = self
            .lock()
            .executors
            .get(ekey)
            .map(|x| x.tasks.iter().cloned().collect())
            .unwrap_or_default();
        for tid in tids {
            self.task_update(
                &ekey.0,
                &tid,
                TaskState::TASK_FAILED,
                msg.clone(),
                Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
            );
        }
        self.executor_gone(&ekey.0, &ekey.1, -1).await;
    }

    /// An executor's process is gone: fail what it left running, tell the master.
    pub(super) async fn executor_gone(&self, fid: &FrameworkID, eid: &ExecutorID, status: i32) {
        let ekey = (fid.clone(), eid.clone());
        let (tids, cid) = {
            let mut st = self.lock();
            let Some(x) = st.executors.remove(&ekey) else {
                return;
            };
            crate::checkpoint::remove_executor(&self.cfg.meta_dir(), fid, eid);
            (x.tasks.into_iter().collect::<Vec<_>>(), x.container_id)
        };
        if let Some(c) = self.containerizer(Kind::Process) {
            c.destroy(&cid).await;
        }
        for tid in tids {
            let live = self
                .lock()
                .tasks
                .get(&(fid.clone(), tid.clone()))
                .map(|t| !t.state.is_terminal())
                .unwrap_or(false);
            if live {
                self.task_update(
                    fid,
                    &tid,
                    TaskState::TASK_FAILED,
                    format!("Executor terminated with status {status}"),
                    Some(Reason::REASON_EXECUTOR_TERMINATED),
                );
            }
        }
        self.link.send_call(FromAgent::ExecutorExited {
            framework_id: fid.clone(),
            executor_id: eid.clone(),
            status,
        });
    }

    /// Executor SUBSCRIBE: attach its stream, deliver queued tasks.
    pub(crate) fn executor_subscribe(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        sub: ex::Subscribe,
        stream: mpsc::UnboundedSender<Bytes>,
    ) -> Result<(), ExecutorCallError> {
        let mut st = self.lock();
        let agent_info = {
            let mut i = st.info.clone();
            i.id = st.id.clone();
            i
        };
        let framework_info = st
            .frameworks
            .get(fid)
            .cloned()
            .ok_or_else(|| ExecutorCallError::UnknownFramework(fid.clone()))?;
        let x = st
            .executors
            .get_mut(&(fid.clone(), eid.clone()))
            .ok_or_else(|| ExecutorCallError::UnknownExecutor {
                framework: fid.clone(),
                executor: eid.clone(),
            })?;
        let mut ev = ex::Event::bare(ex::EventType::SUBSCRIBED);
        ev.subscribed = Some(ex::Subscribed {
            executor_info: x.info.clone(),
            framework_info,
            agent_info,
            container_id: Some(ContainerID::new(x.container_id.clone())),
        });
        let _ = stream.send(frame(&ev));
        let unacked: HashSet<TaskID> = sub
            .unacknowledged_tasks
            .iter()
            .map(|t| t.task_id.clone())
            .collect();
        for t in std::mem::take(&mut x.queued) {
            if unacked.contains(&t.task_id) {
                continue;
            }
            let mut ev = ex::Event::bare(ex::EventType::LAUNCH);
            ev.launch = Some(ex::LaunchEvent { task: t });
            let _ = stream.send(frame(&ev));
        }
        x.stream = Some(stream);
        Ok(())
    }

    pub(crate) fn executor_disconnected(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        stream: &mpsc::UnboundedSender<Bytes>,
    ) {
        let mut st = self.lock();
        if let Some(x) = st.executors.get_mut(&(fid.clone(), eid.clone())) {
            if x.stream
                .as_ref()
                .map(|s| s.same_channel(stream))
                .unwrap_or(false)
            {
                x.stream = None;
            }
        }
    }

    /// An update that came from a custom executor (it chose the uuid).
    pub(crate) fn executor_update(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        mut status: TaskStatus,
    ) -> Result<(), ExecutorCallError> {
        if status.uuid.as_ref().map(|u| u.len()) != Some(16) {
            return Err(ExecutorCallError::BadUuid);
        }
        if status.state == TaskState::TASK_STAGING {
            return Err(ExecutorCallError::Staging);
        }
        let mut st = self.lock();
        let agent_id = st.id.clone();
        let key = (fid.clone(), status.task_id.clone());
        let ended = match st.tasks.get_mut(&key) {
            Some(t) if t.executor_id.as_ref() == Some(eid) => {
                let ended = !t.state.is_terminal() && status.state.is_terminal();
                if !t.state.is_terminal() {
                    t.state = status.state;
                }
                ended
            }
            _ => {
                return Err(ExecutorCallError::UnknownTask {
                    task: status.task_id.clone(),
                    executor: eid.clone(),
                })
            }
        };
        if ended {
            *st.ended.entry(status.state.as_str()).or_default() += 1;
        }
        status.agent_id = agent_id;
        status.executor_id = Some(eid.clone());
        status.source = Some(StatusSource::SOURCE_EXECUTOR);
        if status.timestamp.is_none() {
            status.timestamp = Some(unix_now());
        }
        let tid = status.task_id.clone();
        st.updates.enqueue(StatusUpdate {
            framework_id: fid.clone(),
            status,
        });
        self.checkpoint_task(&st, fid, &tid);
        drop(st);
        self.link.flush();
        Ok(())
    }

    /// Executor MESSAGE: on to the framework, through the master.
    pub(crate) fn executor_message(
        &self,
        fid: FrameworkID,
        eid: ExecutorID,
        data: Option<Vec<u8>>,
    ) {
        self.link.send_call(FromAgent::ExecutorMessage {
            framework_id: fid,
            executor_id: eid,
            data,
        });
    }
}
