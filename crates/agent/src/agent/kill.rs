//! Stopping things: a task's kill (through its containerizer once it runs; remembered for the
//! launch while it is being started; passed to a custom executor), an executor's shutdown, a
//! framework's, and the agent's own stop (Ctrl-C), which returns once everything it started
//! has ended.

use super::{frame, Agent, TaskEntry};
use crate::containerizer::{Kind, Stop};
use drover_api::executor as ex;
use drover_api::*;
use std::time::{Duration, Instant};

/// Seconds as a `Duration` (negative or not a number: none; absurdly large: clamped).
pub(super) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.clamp(0.0, 1e9)).unwrap_or(Duration::ZERO)
}

impl Agent {
    pub(crate) fn kill_task(&self, fid: &FrameworkID, tid: &TaskID, policy: Option<KillPolicy>) {
        let key = (fid.clone(), tid.clone());
        let mut st = self.lock();
        let Some(t) = st.tasks.get_mut(&key) else {
            drop(st);
            tracing::debug!(framework_id = %fid, task_id = %tid, "kill for a task this agent does not have");
            return;
        };
        if t.state.is_terminal() {
            return;
        }
        t.kill_requested = true;
        let grace = policy
            .or(t.info.kill_policy.clone())
            .and_then(|p| p.grace_period)
            .map(|g| g.nanoseconds as f64 / 1e9)
            .unwrap_or(self.cfg.default_kill_grace_secs);
        t.kill_grace = Some(grace);
        match t.executor_id.clone() {
            None if t.launched => {
                let (kind, cid) = (t.kind, t.container_id.clone());
                drop(st);
                self.stop_task(&key, kind, &cid, grace, true);
            }
            None => {
                // Not started yet (fetching, or being started): the launch sees kill_requested
                // and stops, or delivers the kill once the container runs.
            }
            Some(eid) => {
                let ekey = (fid.clone(), eid);
                let mut killed_queued = false;
                if let Some(x) = st.executors.get_mut(&ekey) {
                    if let Some(pos) = x.queued.iter().position(|q| &q.task_id == tid) {
                        x.queued.remove(pos);
                        killed_queued = true;
                    } else if let Some(s) = &x.stream {
                        let mut ev = ex::Event::bare(ex::EventType::KILL);
                        ev.kill = Some(ex::KillEvent {
                            task_id: tid.clone(),
                            kill_policy: None,
                        });
                        let _ = s.send(frame(&ev));
                    }
                }
                drop(st);
                if killed_queued {
                    self.task_update(
                        fid,
                        tid,
                        TaskState::TASK_KILLED,
                        "Task killed before delivery to the executor".into(),
                        Some(Reason::REASON_TASK_KILLED_DURING_LAUNCH),
                    );
                }
            }
        }
    }

    /// The grace period of the kill asked for, else the task's kill policy's, else the agent's.
    pub(super) fn grace_of(&self, t: &TaskEntry) -> f64 {
        t.kill_grace.unwrap_or_else(|| {
            t.info
                .kill_policy
                .as_ref()
                .and_then(|p| p.grace_period.as_ref())
                .map(|g| g.nanoseconds as f64 / 1e9)
                .unwrap_or(self.cfg.default_kill_grace_secs)
        })
    }

    /// Stop a command task's running container: SIGTERM, SIGKILL after `grace` seconds. With
    /// `announce`, a framework that takes TASK_KILLING hears it first.
    pub(super) fn stop_task(
        &self,
        key: &(FrameworkID, TaskID),
        kind: Kind,
        cid: &str,
        grace: f64,
        announce: bool,
    ) {
        let wants_killing = announce
            && self
                .lock()
                .frameworks
                .get(&key.0)
                .map(|f| f.has_capability("TASK_KILLING_STATE"))
                .unwrap_or(false);
        if wants_killing {
            self.task_update(
                &key.0,
                &key.1,
                TaskState::TASK_KILLING,
                "Killing the task".into(),
                None,
            );
        }
        if let Some(c) = self.containerizer(kind) {
            c.kill(cid, Stop::Graceful(secs(grace)));
        }
    }

    pub(super) fn shutdown_executor(&self, fid: &FrameworkID, eid: &ExecutorID) {
        let st = self.lock();
        if let Some(x) = st.executors.get(&(fid.clone(), eid.clone())) {
            if let Some(s) = &x.stream {
                let _ = s.send(frame(&ex::Event::bare(ex::EventType::SHUTDOWN)));
            }
            if x.launched {
                let grace = secs(self.cfg.executor_shutdown_grace_secs);
                let (c, cid) = (self.containerizers.process.clone(), x.container_id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    c.kill(&cid, Stop::Kill);
                });
            }
        }
        // A command task's "executor" is the task itself: its process hears SIGTERM (a docker
        // task's container is left to the task's kill).
        let command = st
            .tasks
            .get(&(fid.clone(), TaskID::new(eid.value.clone())))
            .filter(|t| t.executor_id.is_none() && t.launched && t.kind == Kind::Process)
            .map(|t| t.container_id.clone());
        drop(st);
        if let Some(cid) = command {
            self.containerizers.process.kill(&cid, Stop::Term);
        }
    }

    pub(super) fn shutdown_framework(&self, fid: &FrameworkID) {
        let (tasks, execs): (Vec<TaskID>, Vec<ExecutorID>) = {
            let st = self.lock();
            (
                st.tasks
                    .keys()
                    .filter(|(f, _)| f == fid)
                    .map(|(_, t)| t.clone())
                    .collect(),
                st.executors
                    .keys()
                    .filter(|(f, _)| f == fid)
                    .map(|(_, e)| e.clone())
                    .collect(),
            )
        };
        for e in execs {
            self.shutdown_executor(fid, &e);
        }
        for t in tasks {
            self.kill_task(fid, &t, None);
        }
        let mut st = self.lock();
        st.updates.drop_framework(fid);
    }

    /// Ctrl-C of `drover up` or `drover agent`: launch nothing more, stop every task and
    /// executor (a kill with `grace`: SIGTERM, then SIGKILL), and return once every process
    /// the agent started is reaped and what its containers held is gone. `waiting` is told
    /// what is still running whenever it asks (a second Ctrl-C), and every 5 s.
    pub(crate) async fn stop_everything(
        &self,
        grace: f64,
        mut waiting: impl FnMut(&[String]),
        mut asked: impl FnMut() -> bool,
    ) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let policy = KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: (grace.max(0.0) * 1e9) as u64,
            }),
        };
        let (tasks, executors) = {
            let st = self.lock();
            let tasks: Vec<(FrameworkID, TaskID)> = st
                .tasks
                .iter()
                .filter(|(_, t)| !t.state.is_terminal())
                .map(|(k, _)| k.clone())
                .collect();
            let executors: Vec<(FrameworkID, ExecutorID)> = st.executors.keys().cloned().collect();
            (tasks, executors)
        };
        for (fid, tid) in &tasks {
            self.kill_task(fid, tid, Some(policy.clone()));
        }
        for (fid, eid) in &executors {
            self.shutdown_executor(fid, eid);
        }
        // Whatever ignores the polite request is killed after the grace period; whatever is
        // still being started when it comes sees `stopping` and ends at once.
        let mut killed = false;
        let forced_at = Instant::now() + secs(grace);
        let mut told = Instant::now();
        while !self.running.is_empty() {
            if asked() || told.elapsed() > Duration::from_secs(5) {
                waiting(&self.running.describe());
                told = Instant::now();
            }
            if Instant::now() >= forced_at && !killed {
                killed = true;
                for (kind, cid) in self.containers(|launched| launched) {
                    if let Some(c) = self.containerizer(kind) {
                        c.kill(&cid, Stop::Kill);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // What the containers left (processes that left a task's session, its cgroups; a
        // container), then what no container owns (pooled cgroups, containers of an earlier
        // run).
        for (kind, cid) in self.containers(|_| true) {
            if let Some(c) = self.containerizer(kind) {
                c.destroy(&cid).await;
            }
        }
        let leftovers = secs(grace.min(1.0));
        if let Some(d) = self.containerizers.docker.clone() {
            d.shutdown(leftovers).await;
        }
        self.containerizers.process.shutdown(leftovers).await;
    }

    /// The containers of tasks and executors (by whether they were launched).
    fn containers(&self, which: impl Fn(bool) -> bool) -> Vec<(Kind, String)> {
        let st = self.lock();
        st.tasks
            .values()
            .filter(|t| t.executor_id.is_none() && which(t.launched))
            .map(|t| (t.kind, t.container_id.clone()))
            .chain(
                st.executors
                    .values()
                    .filter(|x| which(x.launched))
                    .map(|x| (Kind::Process, x.container_id.clone())),
            )
            .collect()
    }
}
