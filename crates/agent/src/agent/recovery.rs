//! After a restart: the checkpointed frameworks, executors and tasks back in the agent's state,
//! their pending updates queued again; each containerizer says which of its containers still
//! run, and those are followed again (re-adopted); the ones that ended while the agent was away
//! are reported.

use super::{Agent, ExecutorEntry, TaskEntry};
use crate::checkpoint;
use crate::containerizer::{Containerizer, Kind, Known, Recovered};
use drover_api::*;
use std::collections::HashSet;
use std::sync::Arc;

type TaskKey = (FrameworkID, TaskID);

/// The checkpoints, back in the state: what each containerizer is to be asked about.
struct Restored {
    agent_id: Option<AgentID>,
    /// For the process containerizer: executors (no task) and command tasks, with the executor
    /// key each stands for.
    process: Vec<(Option<TaskKey>, (FrameworkID, ExecutorID), Known)>,
    docker: Vec<(TaskKey, Known)>,
    /// Tasks whose process is gone for sure (their executor was not checkpointed), in
    /// checkpoint order.
    lost: Vec<TaskKey>,
    /// Docker tasks of an agent that now runs without the docker containerizer.
    no_docker: Vec<TaskKey>,
}

impl Agent {
    /// Rebuild the state from the checkpoints and take back what still runs. Process
    /// containers are answered for at once, before this returns (so the first registration
    /// reports what really runs); Docker containers once the Engine answers, which may be
    /// later.
    pub(crate) async fn recover(&self) {
        let Restored {
            agent_id,
            process,
            docker,
            mut lost,
            no_docker,
        } = self.restore();
        let c = self.containerizers.process.clone();
        let known = process.iter().map(|(_, _, k)| k.clone()).collect();
        let answers = c.recover(agent_id.as_ref(), known).await;
        for ((task, ekey, known), answer) in process.into_iter().zip(answers) {
            match (task, answer) {
                (None, Recovered::Running) => self.readopt_executor(ekey, known),
                (None, Recovered::Gone(_)) => self.forget_executor(&ekey, &mut lost),
                (Some(key), Recovered::Running) => {
                    tracing::info!(task_id = %key.1, pid = known.pid, "re-adopting task");
                    self.readopt_task(c.clone(), Kind::Process, key, known.container_id);
                }
                (Some(key), Recovered::Gone(message)) => {
                    self.task_update(
                        &key.0,
                        &key.1,
                        TaskState::TASK_FAILED,
                        message,
                        Some(Reason::REASON_AGENT_RESTARTED),
                    );
                }
            }
        }
        for (fid, tid) in lost {
            self.task_update(
                &fid,
                &tid,
                TaskState::TASK_FAILED,
                "Task's process was gone when the agent recovered".into(),
                Some(Reason::REASON_AGENT_RESTARTED),
            );
        }
        for (fid, tid) in no_docker {
            self.task_update(
                &fid,
                &tid,
                TaskState::TASK_FAILED,
                "The agent restarted without the docker containerizer; the task's container cannot be recovered".into(),
                Some(Reason::REASON_AGENT_RESTARTED),
            );
        }
        if let Some(d) = self.containerizers.docker.clone() {
            let me = self.arc();
            tokio::spawn(async move { me.recover_docker(d, agent_id, docker).await });
        }
    }

    /// Read the checkpoints into the state (pending updates queued again).
    fn restore(&self) -> Restored {
        let meta = self.cfg.meta_dir();
        let tasks = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_recovered();
        let executors = checkpoint::read_executors(&meta);
        let mut st = self.lock();
        // Known to the process containerizer: executors first, then command tasks.
        let mut process = Vec::new();
        let mut docker = Vec::new();
        let mut lost = Vec::new();
        let mut no_docker = Vec::new();
        for e in executors {
            let Some(fid) = e.framework.id.clone() else {
                continue;
            };
            st.frameworks.insert(fid.clone(), e.framework.clone());
            let ekey = (fid.clone(), e.info.executor_id.clone());
            process.push((
                None,
                ekey.clone(),
                Known {
                    container_id: e.container_id.clone(),
                    sandbox: e.sandbox.clone(),
                    pid: e.pid,
                    pid_start: e.pid_start,
                },
            ));
            st.executors.insert(
                ekey,
                ExecutorEntry {
                    framework_id: fid,
                    info: e.info,
                    container_id: e.container_id,
                    sandbox: e.sandbox,
                    pid: e.pid,
                    pid_start: e.pid_start,
                    launched: false,
                    stream: None,
                    queued: vec![],
                    tasks: HashSet::new(),
                },
            );
        }
        for cp in tasks {
            let Some(fid) = cp.framework.id.clone() else {
                continue;
            };
            st.frameworks.insert(fid.clone(), cp.framework.clone());
            let tid = cp.task.task_id.clone();
            let key = (fid.clone(), tid.clone());
            for u in &cp.pending {
                st.updates.enqueue(u.clone());
            }
            let kind = match &cp.executor_id {
                Some(_) => Kind::Process,
                None => Kind::of(&cp.task),
            };
            let known = Known {
                container_id: cp.container_id.clone(),
                sandbox: cp.sandbox.clone(),
                pid: cp.pid,
                pid_start: cp.pid_start,
            };
            if let Some(eid) = &cp.executor_id {
                match st.executors.get_mut(&(fid.clone(), eid.clone())) {
                    Some(x) => {
                        x.tasks.insert(tid.clone());
                    }
                    None if !cp.state.is_terminal() => lost.push(key.clone()),
                    None => {}
                }
            } else if cp.state.is_terminal() {
            } else if kind == Kind::Docker && self.containerizers.docker.is_some() {
                docker.push((key.clone(), known));
            } else if kind == Kind::Docker {
                no_docker.push(key.clone());
            } else {
                let ekey = (fid.clone(), ExecutorID::new(tid.value.clone()));
                process.push((Some(key.clone()), ekey, known));
            }
            st.tasks.insert(
                key,
                TaskEntry {
                    framework_id: fid,
                    info: cp.task,
                    state: cp.state,
                    executor_id: cp.executor_id,
                    kind,
                    container_id: cp.container_id,
                    sandbox: cp.sandbox,
                    pid: cp.pid,
                    pid_start: cp.pid_start,
                    launched: false,
                    kill_requested: false,
                    kill_grace: None,
                    killed_by_health_check: false,
                },
            );
        }
        Restored {
            agent_id: st.id.clone(),
            process,
            docker,
            lost,
            no_docker,
        }
    }

    /// The docker tasks' containers, once the Engine answers (orphans are removed meanwhile).
    async fn recover_docker(
        &self,
        d: Arc<dyn Containerizer>,
        agent_id: Option<AgentID>,
        tasks: Vec<(TaskKey, Known)>,
    ) {
        let known = tasks.iter().map(|(_, k)| k.clone()).collect();
        let answers = d.recover(agent_id.as_ref(), known).await;
        for ((key, known), answer) in tasks.into_iter().zip(answers) {
            match answer {
                Recovered::Gone(message) => self.task_update(
                    &key.0,
                    &key.1,
                    TaskState::TASK_FAILED,
                    message,
                    Some(Reason::REASON_AGENT_RESTARTED),
                ),
                Recovered::Running => {
                    let state = self.lock().tasks.get(&key).map(|t| t.state);
                    self.readopt_task(d.clone(), Kind::Docker, key.clone(), known.container_id);
                    if matches!(
                        state,
                        Some(TaskState::TASK_STAGING | TaskState::TASK_STARTING)
                    ) {
                        self.task_update(
                            &key.0,
                            &key.1,
                            TaskState::TASK_RUNNING,
                            String::new(),
                            None,
                        );
                    }
                }
            }
        }
    }

    /// A command task's container still runs: kills reach it again (one asked for meanwhile is
    /// delivered now), its health is checked, its end is followed.
    fn readopt_task(&self, c: Arc<dyn Containerizer>, kind: Kind, key: TaskKey, cid: String) {
        let kill = {
            let mut st = self.lock();
            let Some(t) = st.tasks.get_mut(&key) else {
                return;
            };
            t.launched = true;
            t.kill_requested.then(|| self.grace_of(t))
        };
        if let Some(grace) = kill {
            self.stop_task(&key, kind, &cid, grace, false);
        }
        if kind == Kind::Process {
            self.watch_health(&key);
        }
        let running = self.running.enter(format!(
            "task {} of framework {} (re-adopted)",
            key.1, key.0
        ));
        let me = self.arc();
        tokio::spawn(async move {
            me.follow(c, kind, key, cid).await;
            drop(running);
        });
    }

    /// A custom executor's process still runs: kills reach it again; its end is followed.
    fn readopt_executor(&self, ekey: (FrameworkID, ExecutorID), known: Known) {
        tracing::info!(executor_id = %ekey.1, "re-adopting executor");
        if let Some(x) = self.lock().executors.get_mut(&ekey) {
            x.launched = true;
        }
        let running = self.running.enter(format!(
            "executor {} of framework {} (re-adopted)",
            ekey.1, ekey.0
        ));
        let me = self.arc();
        let c = self.containerizers.process.clone();
        tokio::spawn(async move {
            c.wait(&known.container_id).await;
            me.executor_gone(&ekey.0, &ekey.1, -1).await;
            drop(running);
        });
    }

    /// A custom executor that ended while the agent was away: forgotten (its tasks are lost).
    fn forget_executor(&self, ekey: &(FrameworkID, ExecutorID), lost: &mut Vec<TaskKey>) {
        let mut st = self.lock();
        let Some(x) = st.executors.remove(ekey) else {
            return;
        };
        checkpoint::remove_executor(&self.cfg.meta_dir(), &ekey.0, &ekey.1);
        for tid in x.tasks {
            let key = (ekey.0.clone(), tid);
            if st.tasks.get(&key).is_some_and(|t| !t.state.is_terminal()) {
                lost.push(key);
            }
        }
    }
}
