//! Running tasks: the master's `RUN_TASKS` (command tasks, and tasks for a custom executor),
//! a command task's start through the containerizer its `container.type` picked (sandbox,
//! fetch, launch, `TASK_STARTING` → `TASK_RUNNING`), following it to its end, and the
//! environment a task's process is given.

use super::{ending, frame, Agent, ExecutorEntry, TaskEntry};
use crate::containerizer::{Containerizer, Kind, Launch, LaunchError, Launching, Limits, Started};
use drover_api::executor as ex;
use drover_api::*;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// A command task's launch as its containerizer sees the agent: `TASK_STARTING` when it is
/// under way, and whether a kill came before its first process starts.
struct CommandLaunch<'a> {
    agent: &'a Agent,
    key: &'a (FrameworkID, TaskID),
}

impl Launching for CommandLaunch<'_> {
    fn starting(&self) {
        let (fid, tid) = self.key;
        self.agent
            .task_update(fid, tid, TaskState::TASK_STARTING, String::new(), None);
    }

    fn proceed(&self) -> bool {
        let killed = self
            .agent
            .lock()
            .tasks
            .get(self.key)
            .map(|e| e.kill_requested)
            .unwrap_or(true);
        !killed && !self.agent.stopping()
    }
}

impl Agent {
    pub(super) fn run_tasks(
        &self,
        framework: FrameworkInfo,
        executor: Option<ExecutorInfo>,
        tasks: Vec<TaskInfo>,
    ) {
        let Some(fid) = framework.id.clone() else {
            return;
        };
        if self.stopping() {
            tracing::warn!(framework_id = %fid, tasks = tasks.len(), "the agent is stopping: not launching");
            return;
        }
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let mut st = self.lock();
        st.frameworks.insert(fid.clone(), framework.clone());
        let entry = |t: &TaskInfo, executor_id, kind, container_id, sandbox| TaskEntry {
            framework_id: fid.clone(),
            info: t.clone(),
            state: TaskState::TASK_STAGING,
            executor_id,
            kind,
            container_id,
            sandbox,
            pid: None,
            pid_start: None,
            launched: false,
            kill_requested: false,
            kill_grace: None,
            killed_by_health_check: false,
        };
        match executor {
            None => {
                for t in tasks {
                    let key = (fid.clone(), t.task_id.clone());
                    if st.tasks.contains_key(&key) {
                        continue; // a duplicate launch (master retry): the task is already here
                    }
                    let cid = uuid::Uuid::new_v4().to_string();
                    let sandbox = self.sandbox_for(&agent_id, &fid, &t.task_id.value, &cid);
                    st.tasks
                        .insert(key, entry(&t, None, Kind::of(&t), cid, sandbox));
                    let me = self.arc();
                    let fw = framework.clone();
                    let running = self
                        .running
                        .enter(format!("task {} of framework {fid}", t.task_id));
                    tokio::spawn(async move {
                        me.start_command_task(fw, t).await;
                        drop(running);
                    });
                }
            }
            Some(e) => {
                let ekey = (fid.clone(), e.executor_id.clone());
                let exists = st.executors.contains_key(&ekey);
                if !exists {
                    let cid = uuid::Uuid::new_v4().to_string();
                    let sandbox = self.sandbox_for(&agent_id, &fid, &e.executor_id.value, &cid);
                    st.executors.insert(
                        ekey.clone(),
                        ExecutorEntry {
                            framework_id: fid.clone(),
                            info: e.clone(),
                            container_id: cid,
                            sandbox,
                            pid: None,
                            pid_start: None,
                            launched: false,
                            stream: None,
                            queued: vec![],
                            tasks: HashSet::new(),
                        },
                    );
                }
                for t in tasks {
                    let key = (fid.clone(), t.task_id.clone());
                    if st.tasks.contains_key(&key) {
                        continue;
                    }
                    let (cid, sandbox) = {
                        let Some(ee) = st.executors.get(&ekey) else {
                            return;
                        };
                        (ee.container_id.clone(), ee.sandbox.clone())
                    };
                    let executor_id = Some(e.executor_id.clone());
                    st.tasks
                        .insert(key, entry(&t, executor_id, Kind::Process, cid, sandbox));
                    let Some(ee) = st.executors.get_mut(&ekey) else {
                        return;
                    };
                    ee.tasks.insert(t.task_id.clone());
                    match &ee.stream {
                        Some(s) => {
                            let mut ev = ex::Event::bare(ex::EventType::LAUNCH);
                            ev.launch = Some(ex::LaunchEvent { task: t.clone() });
                            let _ = s.send(frame(&ev));
                        }
                        None => ee.queued.push(t.clone()),
                    }
                    self.checkpoint_task(&st, &fid, &t.task_id);
                }
                if !exists {
                    let me = self.arc();
                    let fw = framework.clone();
                    let running = self
                        .running
                        .enter(format!("executor {} of framework {fid}", e.executor_id));
                    tokio::spawn(async move {
                        me.start_executor(fw, e).await;
                        drop(running);
                    });
                }
            }
        }
    }

    fn base_env(
        &self,
        fid: &FrameworkID,
        eid: &str,
        sandbox: &Path,
        agent_id: &AgentID,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for k in ["PATH", "LANG", "LC_ALL", "TZ"] {
            if let Ok(v) = std::env::var(k) {
                env.push((k.into(), v));
            }
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push((
                "PATH".into(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ));
        }
        let sb = sandbox.display().to_string();
        let endpoint = format!("{}:{}", self.cfg.advertise_ip, self.cfg.port);
        env.extend([
            ("HOME".to_string(), sb.clone()),
            ("MESOS_SANDBOX".into(), sb.clone()),
            ("MESOS_DIRECTORY".into(), sb),
            ("MESOS_FRAMEWORK_ID".into(), fid.value.clone()),
            ("MESOS_EXECUTOR_ID".into(), eid.to_string()),
            ("MESOS_AGENT_ENDPOINT".into(), endpoint.clone()),
            ("MESOS_SLAVE_ID".into(), agent_id.value.clone()),
            ("MESOS_AGENT_ID".into(), agent_id.value.clone()),
            ("MESOS_SLAVE_PID".into(), format!("slave(1)@{endpoint}")),
            ("MESOS_CHECKPOINT".into(), "1".into()),
            ("MESOS_RECOVERY_TIMEOUT".into(), "15mins".into()),
            ("MESOS_SUBSCRIPTION_BACKOFF_MAX".into(), "2secs".into()),
            ("MESOS_HTTP_COMMAND_EXECUTOR".into(), "0".into()),
            ("LIBPROCESS_IP".into(), self.cfg.advertise_ip.clone()),
        ]);
        env
    }

    /// An executor's environment: the agent's variables, its shutdown grace, then its own.
    pub(super) fn executor_env(
        &self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        e: &ExecutorInfo,
        sandbox: &Path,
    ) -> Vec<(String, String)> {
        let mut env = self.base_env(fid, &e.executor_id.value, sandbox, agent_id);
        env.push((
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            format!("{}secs", self.cfg.executor_shutdown_grace_secs),
        ));
        let vars = e.command.iter().filter_map(|c| c.environment.as_ref());
        for v in vars.flat_map(|e| &e.variables) {
            env.retain(|(k, _)| k != &v.name);
            env.push((v.name.clone(), v.value.clone()));
        }
        env
    }

    /// A command task's environment: the agent's variables, then the task's own.
    pub(super) fn command_env(
        &self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        t: &TaskInfo,
        sandbox: &Path,
        cid: &str,
    ) -> Vec<(String, String)> {
        let mut env = self.base_env(fid, &t.task_id.value, sandbox, agent_id);
        env.push(("MESOS_TASK_ID".into(), t.task_id.value.clone()));
        env.push(("MESOS_CONTAINER_NAME".into(), cid.to_string()));
        for v in t
            .command
            .iter()
            .filter_map(|c| c.environment.as_ref())
            .flat_map(|e| &e.variables)
        {
            env.retain(|(k, _)| k != &v.name);
            env.push((v.name.clone(), v.value.clone()));
        }
        env
    }

    async fn start_command_task(self: Arc<Self>, framework: FrameworkInfo, t: TaskInfo) {
        let Some(fid) = framework.id.clone() else {
            return;
        };
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let key = (fid.clone(), t.task_id.clone());
        let (sandbox, cid, kind) = {
            let st = self.lock();
            match st.tasks.get(&key) {
                Some(e) => (e.sandbox.clone(), e.container_id.clone(), e.kind),
                None => return,
            }
        };
        let cmd = t.command.clone().unwrap_or_default();
        if let Err(e) = self.sandboxes.create(&sandbox) {
            self.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_FAILED,
                format!("Failed to create sandbox: {e}"),
                Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
            );
            return;
        }
        {
            let st = self.lock();
            self.checkpoint_task(&st, &fid, &t.task_id);
        }
        // Persistent volumes: a process task sees each at its container path in the sandbox;
        // Docker binds them there itself.
        if kind == Kind::Process {
            if let Err(e) = crate::volumes::link_into(&self.cfg.work_dir, &sandbox, &t) {
                self.task_update(
                    &fid,
                    &t.task_id,
                    TaskState::TASK_FAILED,
                    format!("Failed to mount persistent volumes: {e}"),
                    Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
                );
                return;
            }
        }
        if !cmd.uris.is_empty() {
            if let Err(e) = self.fetcher.fetch_all(&cmd.uris, &sandbox).await {
                self.task_update(
                    &fid,
                    &t.task_id,
                    TaskState::TASK_FAILED,
                    format!("Failed to fetch all URIs for container '{cid}': {e}"),
                    Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
                );
                return;
            }
        }
        if !(CommandLaunch {
            agent: &self,
            key: &key,
        })
        .proceed()
        {
            self.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_KILLED,
                LaunchError::Killed.to_string(),
                Some(Reason::REASON_TASK_KILLED_DURING_LAUNCH),
            );
            return;
        }
        let argv = if cmd.shell.unwrap_or(true) {
            vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                cmd.value.clone().unwrap_or_default(),
            ]
        } else {
            let mut a = vec![cmd
                .value
                .clone()
                .unwrap_or_else(|| cmd.arguments.first().cloned().unwrap_or_default())];
            a.extend(cmd.arguments.iter().skip(1).cloned());
            a
        };
        let env = self.command_env(&fid, &agent_id, &t, &sandbox, &cid);
        let Some(c) = self.containerizer(kind) else {
            let msg = "The task asks for a DOCKER container, but this agent runs without the docker containerizer (start it with --containerizers docker,process)";
            tracing::warn!(task_id = %t.task_id, "docker launch failed: {msg}");
            self.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_FAILED,
                msg.into(),
                Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
            );
            return;
        };
        let user = cmd
            .user
            .clone()
            .or_else(|| Some(framework.user.clone()))
            .filter(|u| !u.is_empty());
        let launch = Launch {
            container_id: cid.clone(),
            agent_id,
            framework_id: fid.clone(),
            sandbox,
            argv,
            env,
            user,
            limits: Some(limits_of(&t.resources)),
            task: Some(t.clone()),
        };
        let launching = CommandLaunch {
            agent: &self,
            key: &key,
        };
        let started = match c.launch(launch, &launching).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(task_id = %t.task_id, "launch failed: {e}");
                // What a launch that failed half-way holds (a cgroup) goes.
                c.destroy(&cid).await;
                let (state, reason) = match e {
                    LaunchError::Killed => (
                        TaskState::TASK_KILLED,
                        Reason::REASON_TASK_KILLED_DURING_LAUNCH,
                    ),
                    _ => (
                        TaskState::TASK_FAILED,
                        Reason::REASON_CONTAINER_LAUNCH_FAILED,
                    ),
                };
                self.task_update(&fid, &t.task_id, state, e.to_string(), Some(reason));
                return;
            }
        };
        self.launched(&key, started);
        self.follow(c, kind, key, cid).await;
    }

    /// A command task's container runs: record its process, then deliver a kill that came
    /// while it was being started, or say `TASK_RUNNING` (and start its health checks).
    fn launched(&self, key: &(FrameworkID, TaskID), started: Started) {
        let (kind, cid, kill) = {
            let mut st = self.lock();
            let Some(e) = st.tasks.get_mut(key) else {
                return;
            };
            e.pid = started.pid;
            e.pid_start = started.pid_start;
            e.launched = true;
            let kill = e.kill_requested.then(|| self.grace_of(e));
            (e.kind, e.container_id.clone(), kill)
        };
        match kill {
            Some(grace) => self.stop_task(key, kind, &cid, grace, true),
            None => {
                self.task_update(&key.0, &key.1, TaskState::TASK_RUNNING, String::new(), None);
                if kind == Kind::Process {
                    self.watch_health(key);
                }
            }
        }
    }

    /// Wait for a command task's container to end, report how it ended, release what it holds.
    pub(super) async fn follow(
        &self,
        c: Arc<dyn Containerizer>,
        kind: Kind,
        key: (FrameworkID, TaskID),
        cid: String,
    ) {
        let exit = c.wait(&cid).await;
        let killed = self
            .lock()
            .tasks
            .get(&key)
            .map(|e| e.kill_requested)
            .unwrap_or(false);
        let (state, message, reason) = ending::terminal(kind, &exit, killed);
        self.task_update(&key.0, &key.1, state, message, reason);
        c.destroy(&cid).await;
    }
}

pub(super) fn limits_of(resources: &[Resource]) -> Limits {
    let r = Resources::from_list(resources);
    Limits {
        cpus: r.scalar("cpus"),
        mem_mb: r.scalar("mem"),
    }
}
