//! The agent's state and what it does with it: run tasks (the built-in command executor or a
//! custom executor), kill them, turn exits into status updates, checkpoint, and recover after a
//! restart.

use crate::checkpoint::{self, ExecutorCheckpoint, TaskCheckpoint};
use crate::containerizer::{self, Cgroups, Launcher, Leader, Limits, ProcessSpec};
use crate::fetcher::Fetcher;
use crate::status::StatusUpdateManager;
use crate::AgentConfig;
use bytes::Bytes;
use drover_api::agent_protocol::{ReportedTask, StatusUpdate, ToAgent};
use drover_api::executor as ex;
use drover_api::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

pub struct TaskEntry {
    pub framework_id: FrameworkID,
    pub info: TaskInfo,
    pub state: TaskState,
    /// `None` for command tasks: the agent is their executor (Mesos shows executor id = task id).
    pub executor_id: Option<ExecutorID>,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    /// What signals reach the task through (set with `pid`).
    pub leader: Option<Leader>,
    pub kill_requested: bool,
    /// Killed after failing its health checks: its terminal update says `healthy: false`.
    pub killed_by_health_check: bool,
    pub launched_at: f64,
}

pub struct ExecutorEntry {
    pub framework_id: FrameworkID,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub leader: Option<Leader>,
    pub stream: Option<mpsc::UnboundedSender<Bytes>>,
    pub queued: Vec<TaskInfo>,
    pub tasks: HashSet<TaskID>,
    pub shutting_down: bool,
}

pub struct CompletedTask {
    pub framework_id: FrameworkID,
    pub info: TaskInfo,
    pub state: TaskState,
    pub executor_id: ExecutorID,
    pub sandbox: PathBuf,
}

pub struct AgentState {
    pub id: Option<AgentID>,
    pub info: AgentInfo,
    pub frameworks: HashMap<FrameworkID, FrameworkInfo>,
    pub tasks: HashMap<(FrameworkID, TaskID), TaskEntry>,
    pub executors: HashMap<(FrameworkID, ExecutorID), ExecutorEntry>,
    pub completed: VecDeque<CompletedTask>,
    pub updates: StatusUpdateManager,
    /// Connected to a master that accepted our registration.
    pub registered: bool,
    pub master: Option<String>,
}

pub struct Agent {
    pub cfg: AgentConfig,
    pub state: Mutex<AgentState>,
    pub launcher: Box<dyn Launcher>,
    pub cgroups: Cgroups,
    pub fetcher: Fetcher,
    /// Wakes the sender when updates are waiting.
    pub flush: Notify,
    pub started: std::time::Instant,
    pub start_unix: f64,
    /// Calls waiting for the next batch to the master.
    pub outbox: Mutex<Vec<drover_api::agent_protocol::FromAgent>>,
    /// Drop the master connection and register again.
    pub reconnect: Notify,
    pub heartbeat_secs: Mutex<f64>,
    /// Task checkpoints; locked after `state` when both are held.
    pub journal: Mutex<checkpoint::TaskJournal>,
    /// The `docker` containerizer, when enabled (`--containerizers docker,process`).
    pub docker: Option<Arc<crate::docker::DockerContainerizer>>,
    /// Makes sandboxes (holds each framework's `executors` directory open).
    pub sandboxes: crate::sandbox::Sandboxes,
    /// Set once the agent stops (Ctrl-C): nothing new is launched.
    pub stopping: std::sync::atomic::AtomicBool,
    /// What runs or is being started: a task's or executor's launch until its process is
    /// reaped (or, re-adopted, seen gone). The agent stops when this is empty.
    pub running: Arc<Running>,
}

/// The launches and processes the agent is responsible for, by a name a person can read.
#[derive(Default)]
pub struct Running {
    next: std::sync::atomic::AtomicU64,
    live: Mutex<HashMap<u64, String>>,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count one launch until the guard is dropped.
    pub fn enter(self: &Arc<Self>, what: String) -> RunningGuard {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert(n, what);
        RunningGuard {
            of: self.clone(),
            n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// What is still running, sorted, for a person.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().values().cloned().collect();
        v.sort();
        v
    }
}

pub struct RunningGuard {
    of: Arc<Running>,
    n: u64,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.of.lock().remove(&self.n);
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn frame<T: serde::Serialize>(v: &T) -> Bytes {
    Bytes::from(recordio::encode(&serde_json::to_vec(v).unwrap_or_default()))
}

impl Agent {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn agent_id(&self) -> Option<AgentID> {
        self.lock().id.clone()
    }

    fn sandbox_for(&self, agent_id: &AgentID, fid: &FrameworkID, eid: &str, cid: &str) -> PathBuf {
        self.cfg
            .work_dir
            .join("slaves")
            .join(&agent_id.value)
            .join("frameworks")
            .join(&fid.value)
            .join("executors")
            .join(eid)
            .join("runs")
            .join(cid)
    }

    /// Handle one message from the master.
    pub fn on_master_message(self: &Arc<Self>, msg: ToAgent) {
        match msg {
            ToAgent::Registered { .. } | ToAgent::Ping => {}
            ToAgent::RunTasks {
                framework,
                executor,
                tasks,
            } => self.run_tasks(framework, executor, tasks),
            ToAgent::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(&framework_id, &task_id, kill_policy),
            ToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledge(&framework_id, &task_id, uuid.as_deref().unwrap_or_default()),
            ToAgent::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => {
                let st = self.lock();
                if let Some(e) = st.executors.get(&(framework_id, executor_id)) {
                    if let Some(s) = &e.stream {
                        let mut ev = ex::Event::bare(ex::EventType::MESSAGE);
                        ev.message = Some(ex::MessageCall { data });
                        let _ = s.send(frame(&ev));
                    }
                }
            }
            ToAgent::ShutdownExecutor {
                framework_id,
                executor_id,
            } => self.shutdown_executor(&framework_id, &executor_id),
            ToAgent::ShutdownFramework { framework_id } => self.shutdown_framework(&framework_id),
            ToAgent::Reconcile { framework_id, .. } => {
                self.lock().updates.resend_all(Some(&framework_id));
                self.flush.notify_one();
            }
        }
    }

    fn run_tasks(
        self: &Arc<Self>,
        framework: FrameworkInfo,
        executor: Option<ExecutorInfo>,
        tasks: Vec<TaskInfo>,
    ) {
        let Some(fid) = framework.id.clone() else {
            return;
        };
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(framework_id = %fid, tasks = tasks.len(), "the agent is stopping: not launching");
            return;
        }
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let now = self.now();
        let mut st = self.lock();
        st.frameworks.insert(fid.clone(), framework.clone());
        match executor {
            None => {
                for t in tasks {
                    let key = (fid.clone(), t.task_id.clone());
                    if st.tasks.contains_key(&key) {
                        continue; // a duplicate launch (master retry): the task is already here
                    }
                    let cid = uuid::Uuid::new_v4().to_string();
                    let sandbox = self.sandbox_for(&agent_id, &fid, &t.task_id.value, &cid);
                    let entry = TaskEntry {
                        framework_id: fid.clone(),
                        info: t.clone(),
                        state: TaskState::TASK_STAGING,
                        executor_id: None,
                        container_id: cid,
                        sandbox,
                        pid: None,
                        pid_start: None,
                        leader: None,
                        kill_requested: false,
                        killed_by_health_check: false,
                        launched_at: now,
                    };
                    st.tasks.insert(key, entry);
                    let me = self.clone();
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
                            leader: None,
                            stream: None,
                            queued: vec![],
                            tasks: HashSet::new(),
                            shutting_down: false,
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
                    st.tasks.insert(
                        key,
                        TaskEntry {
                            framework_id: fid.clone(),
                            info: t.clone(),
                            state: TaskState::TASK_STAGING,
                            executor_id: Some(e.executor_id.clone()),
                            container_id: cid,
                            sandbox,
                            pid: None,
                            pid_start: None,
                            leader: None,
                            kill_requested: false,
                            killed_by_health_check: false,
                            launched_at: now,
                        },
                    );
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
                    let me = self.clone();
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
        sandbox: &std::path::Path,
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

    fn limits_of(resources: &[Resource]) -> Limits {
        let r = Resources::from_list(resources);
        Limits {
            cpus: r.scalar("cpus"),
            mem_mb: r.scalar("mem"),
        }
    }

    /// A command task's environment: the agent's variables, then the task's own.
    pub(crate) fn command_env(
        &self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        t: &TaskInfo,
        sandbox: &std::path::Path,
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
        let (sandbox, cid) = {
            let st = self.lock();
            match st.tasks.get(&key) {
                Some(e) => (e.sandbox.clone(), e.container_id.clone()),
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
        if self
            .lock()
            .tasks
            .get(&key)
            .map(|e| e.kill_requested)
            .unwrap_or(true)
            || self.stopping.load(std::sync::atomic::Ordering::SeqCst)
        {
            self.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_KILLED,
                "Task killed before it was launched".into(),
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
        if crate::docker::takes(&t) {
            return crate::docker::run_task(self, fid, t, sandbox, cid, env).await;
        }
        let user = cmd
            .user
            .clone()
            .or_else(|| Some(framework.user.clone()))
            .filter(|u| !u.is_empty());
        let spec = ProcessSpec {
            argv,
            env,
            sandbox: sandbox.clone(),
            sandbox_made: true,
            user,
            limits: Some(Self::limits_of(&t.resources)),
            container_id: cid.clone(),
        };
        self.task_update(
            &fid,
            &t.task_id,
            TaskState::TASK_STARTING,
            String::new(),
            None,
        );
        let mut child = match self.launcher.spawn(&spec) {
            Ok(c) => c,
            Err(e) => {
                self.task_update(
                    &fid,
                    &t.task_id,
                    TaskState::TASK_FAILED,
                    format!("Failed to launch container: {e}"),
                    Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
                );
                return;
            }
        };
        let pid = child.id();
        let killed_while_starting = {
            let mut st = self.lock();
            match st.tasks.get_mut(&key) {
                Some(e) => {
                    e.pid = pid;
                    e.pid_start = pid.and_then(containerizer::process_start_time);
                    e.leader = Some(child.leader());
                    e.kill_requested
                }
                None => false,
            }
        };
        if killed_while_starting {
            // The kill came while the process was being started: it has a pid now.
            self.kill_task(&fid, &t.task_id, None);
        } else {
            self.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_RUNNING,
                String::new(),
                None,
            );
            crate::health::watch(&self, &fid, &t.task_id);
        }
        let status = child.wait().await;
        self.command_exited(&fid, &t.task_id, &cid, status.ok());
    }

    /// Turn a command task's exit into its terminal update.
    fn command_exited(
        &self,
        fid: &FrameworkID,
        tid: &TaskID,
        cid: &str,
        status: Option<std::process::ExitStatus>,
    ) {
        use std::os::unix::process::ExitStatusExt;
        let killed = self
            .lock()
            .tasks
            .get(&(fid.clone(), tid.clone()))
            .map(|e| e.kill_requested)
            .unwrap_or(false);
        let oom = self.cgroups.oom_killed(cid);
        self.cgroups.release(cid, oom);
        let (state, msg, reason) = match status {
            _ if oom => (
                TaskState::TASK_FAILED,
                "Memory limit exceeded: the task was OOM-killed".to_string(),
                Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
            ),
            Some(s) if killed => (
                TaskState::TASK_KILLED,
                match s.signal() {
                    Some(sig) => format!("Command terminated with signal {}", signal_name(sig)),
                    None => format!("Command exited with status {}", s.code().unwrap_or(-1)),
                },
                None,
            ),
            Some(s) => match (s.code(), s.signal()) {
                (Some(0), _) => (
                    TaskState::TASK_FINISHED,
                    "Command exited with status 0".into(),
                    None,
                ),
                (Some(c), _) => (
                    TaskState::TASK_FAILED,
                    format!("Command exited with status {c}"),
                    None,
                ),
                (None, Some(sig)) => (
                    TaskState::TASK_FAILED,
                    format!("Command terminated with signal {}", signal_name(sig)),
                    None,
                ),
                (None, None) => (TaskState::TASK_FAILED, "Command exited".into(), None),
            },
            None => (
                TaskState::TASK_FAILED,
                "Lost track of the task's process".into(),
                Some(Reason::REASON_EXECUTOR_TERMINATED),
            ),
        };
        self.task_update(fid, tid, state, msg, reason);
    }

    async fn start_executor(self: Arc<Self>, framework: FrameworkInfo, e: ExecutorInfo) {
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
        let fail_all = |me: &Arc<Self>, msg: String| {
            let tids: Vec<TaskID> = me
                .lock()
                .executors
                .get(&ekey)
                .map(|x| x.tasks.iter().cloned().collect())
                .unwrap_or_default();
            for tid in tids {
                me.task_update(
                    &fid,
                    &tid,
                    TaskState::TASK_FAILED,
                    msg.clone(),
                    Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
                );
            }
            me.executor_gone(&fid, &e.executor_id, -1);
        };
        if let Err(err) = self.sandboxes.create(&sandbox) {
            fail_all(&self, format!("Failed to create sandbox: {err}"));
            return;
        }
        let cmd = e.command.clone().unwrap_or_default();
        if let Err(err) = self.fetcher.fetch_all(&cmd.uris, &sandbox).await {
            fail_all(
                &self,
                format!("Failed to fetch all URIs for container '{cid}': {err}"),
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
            let mut a = vec![cmd.value.clone().unwrap_or_default()];
            a.extend(cmd.arguments.iter().skip(1).cloned());
            a
        };
        let mut env = self.base_env(&fid, &e.executor_id.value, &sandbox, &agent_id);
        env.push((
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
            format!("{}secs", self.cfg.executor_shutdown_grace_secs),
        ));
        if let Some(vars) = &cmd.environment {
            for v in &vars.variables {
                env.retain(|(k, _)| k != &v.name);
                env.push((v.name.clone(), v.value.clone()));
            }
        }
        let spec = ProcessSpec {
            argv,
            env,
            sandbox: sandbox.clone(),
            sandbox_made: true,
            user: cmd
                .user
                .clone()
                .or_else(|| Some(framework.user.clone()))
                .filter(|u| !u.is_empty()),
            limits: None,
            container_id: cid.clone(),
        };
        let mut child = match self.launcher.spawn(&spec) {
            Ok(c) => c,
            Err(err) => {
                fail_all(&self, format!("Failed to launch executor: {err}"));
                return;
            }
        };
        let pid = child.id();
        {
            let mut st = self.lock();
            if let Some(x) = st.executors.get_mut(&ekey) {
                x.pid = pid;
                x.pid_start = pid.and_then(containerizer::process_start_time);
                x.leader = Some(child.leader());
            }
            self.checkpoint_executor(&st, &ekey);
        }
        // An executor that never subscribes is killed (Mesos: executor_registration_timeout).
        let me = self.clone();
        let ekey2 = ekey.clone();
        let reg_timeout = self.cfg.executor_registration_timeout_secs;
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs_f64(reg_timeout)).await;
            let st = me.lock();
            if let Some(x) = st.executors.get(&ekey2) {
                if x.stream.is_none() {
                    if let Some(leader) = &x.leader {
                        tracing::warn!(executor_id = %ekey2.1, "executor did not subscribe in time; killing it");
                        leader.signal(nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        });
        let status = child.wait().await;
        let code = status.ok().and_then(|s| s.code()).unwrap_or(-1);
        self.executor_gone(&fid, &e.executor_id, code);
    }

    /// An executor's process is gone: fail what it left running, tell the master.
    fn executor_gone(&self, fid: &FrameworkID, eid: &ExecutorID, status: i32) {
        let ekey = (fid.clone(), eid.clone());
        let (tids, cid) = {
            let mut st = self.lock();
            let Some(x) = st.executors.remove(&ekey) else {
                return;
            };
            checkpoint::remove_executor(&self.cfg.meta_dir(), fid, eid);
            (x.tasks.into_iter().collect::<Vec<_>>(), x.container_id)
        };
        self.cgroups.destroy(&cid);
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
        crate::link::send_call(
            self,
            drover_api::agent_protocol::FromAgent::ExecutorExited {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                status,
            },
        );
    }

    pub(crate) fn kill_task(
        self: &Arc<Self>,
        fid: &FrameworkID,
        tid: &TaskID,
        policy: Option<KillPolicy>,
    ) {
        let key = (fid.clone(), tid.clone());
        let mut st = self.lock();
        let Some(t) = st.tasks.get_mut(&key) else {
            drop(st);
            // Unknown here: say so, so the framework's view converges.
            self.task_update_unknown(fid, tid);
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
        if t.executor_id.is_none() && crate::docker::takes(&t.info) {
            drop(st);
            return crate::docker::kill(self, fid, tid, grace);
        }
        match (&t.executor_id, t.leader.clone()) {
            (None, Some(leader)) => {
                let wants_killing = st
                    .frameworks
                    .get(fid)
                    .map(|f| f.has_capability("TASK_KILLING_STATE"))
                    .unwrap_or(false);
                drop(st);
                if wants_killing {
                    self.task_update(
                        fid,
                        tid,
                        TaskState::TASK_KILLING,
                        "Killing the task".into(),
                        None,
                    );
                }
                leader.signal(nix::sys::signal::Signal::SIGTERM);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(grace)).await;
                    // Through the leader: a task that ended within its grace period may have
                    // given its pid to another task by now.
                    leader.signal(nix::sys::signal::Signal::SIGKILL);
                });
            }
            (None, None) => {
                // Not started yet (fetching, or being started): start_command_task sees
                // kill_requested and stops it.
            }
            (Some(eid), _) => {
                let eid = eid.clone();
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

    fn task_update_unknown(&self, fid: &FrameworkID, tid: &TaskID) {
        tracing::debug!(framework_id = %fid, task_id = %tid, "kill for a task this agent does not have");
    }

    fn shutdown_executor(&self, fid: &FrameworkID, eid: &ExecutorID) {
        let st = self.lock();
        if let Some(x) = st.executors.get(&(fid.clone(), eid.clone())) {
            if let Some(s) = &x.stream {
                let _ = s.send(frame(&ex::Event::bare(ex::EventType::SHUTDOWN)));
            }
            if let Some(leader) = x.leader.clone() {
                let grace = self.cfg.executor_shutdown_grace_secs;
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs_f64(grace)).await;
                    leader.signal(nix::sys::signal::Signal::SIGKILL);
                });
            }
        }
        // A command task's "executor" is the task itself.
        let is_command = st
            .tasks
            .get(&(fid.clone(), TaskID::new(eid.value.clone())))
            .map(|t| t.executor_id.is_none())
            .unwrap_or(false);
        drop(st);
        if is_command {
            // Mesos' default grace for a shutdown.
            let me = self.lock();
            if let Some(leader) = me
                .tasks
                .get(&(fid.clone(), TaskID::new(eid.value.clone())))
                .and_then(|t| t.leader.as_ref())
            {
                leader.signal(nix::sys::signal::Signal::SIGTERM);
            }
        }
    }

    pub fn shutdown_framework(self: &Arc<Self>, fid: &FrameworkID) {
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

    /// Record a new state of a task and queue its status update.
    pub fn task_update(
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
    pub(crate) fn send_status(
        &self,
        mut st: std::sync::MutexGuard<'_, AgentState>,
        fid: &FrameworkID,
        mut s: TaskStatus,
    ) {
        let agent_id = st.id.clone();
        let tid = s.task_id.clone();
        let key = (fid.clone(), tid.clone());
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
        self.flush.notify_one();
    }

    /// An update that came from a custom executor (it chose the uuid).
    pub fn executor_update(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        mut status: TaskStatus,
    ) -> Result<(), String> {
        if status.uuid.as_ref().map(|u| u.len()) != Some(16) {
            return Err("'update.status.uuid' must be a 16-byte UUID".into());
        }
        if status.state == TaskState::TASK_STAGING {
            return Err("'update.status.state' must not be TASK_STAGING".into());
        }
        let mut st = self.lock();
        let agent_id = st.id.clone();
        let key = (fid.clone(), status.task_id.clone());
        match st.tasks.get_mut(&key) {
            Some(t) if t.executor_id.as_ref() == Some(eid) => {
                if !t.state.is_terminal() {
                    t.state = status.state;
                }
            }
            _ => {
                return Err(format!(
                    "Task {} is not known to executor {eid}",
                    status.task_id
                ))
            }
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
        self.flush.notify_one();
        Ok(())
    }

    fn acknowledge(&self, fid: &FrameworkID, tid: &TaskID, uuid: &[u8]) {
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
        self.flush.notify_one();
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
    fn checkpoint_task(&self, st: &AgentState, fid: &FrameworkID, tid: &TaskID) {
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
    fn journal_write(
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

    fn checkpoint_executor(&self, st: &AgentState, ekey: &(FrameworkID, ExecutorID)) {
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

    /// What the master needs to hear when we (re-)register.
    pub fn report(&self) -> (Vec<ReportedTask>, Vec<FrameworkInfo>) {
        let st = self.lock();
        let tasks = st
            .tasks
            .values()
            .map(|t| {
                let mut task = t.info.clone();
                if let Some(eid) = &t.executor_id {
                    task.executor = st
                        .executors
                        .get(&(t.framework_id.clone(), eid.clone()))
                        .map(|x| x.info.clone());
                }
                ReportedTask {
                    framework_id: t.framework_id.clone(),
                    task,
                    state: t.state,
                    executor_id: t.executor_id.clone(),
                }
            })
            .collect();
        let fids: HashSet<&FrameworkID> = st.tasks.values().map(|t| &t.framework_id).collect();
        let frameworks = st
            .frameworks
            .iter()
            .filter(|(k, _)| fids.contains(k))
            .map(|(_, v)| v.clone())
            .collect();
        (tasks, frameworks)
    }

    /// After a restart: re-adopt checkpointed tasks and executors whose processes still run;
    /// report the ones that ended while we were away. Pending updates are queued again.
    pub fn recover(self: &Arc<Self>) {
        let meta = self.cfg.meta_dir();
        let tasks = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_recovered();
        let executors = checkpoint::read_executors(&meta);
        let mut st = self.lock();
        let mut watch: Vec<(FrameworkID, TaskID, u32, u64, String)> = Vec::new();
        let mut lost: Vec<(FrameworkID, TaskID)> = Vec::new();
        for e in executors {
            let Some(fid) = e.framework.id.clone() else {
                continue;
            };
            st.frameworks.insert(fid.clone(), e.framework.clone());
            let alive = matches!((e.pid, e.pid_start), (Some(p), Some(s)) if containerizer::process_start_time(p) == Some(s));
            if !alive {
                checkpoint::remove_executor(&meta, &fid, &e.info.executor_id);
                continue;
            }
            tracing::info!(executor_id = %e.info.executor_id, "re-adopting executor");
            st.executors.insert(
                (fid.clone(), e.info.executor_id.clone()),
                ExecutorEntry {
                    framework_id: fid.clone(),
                    info: e.info.clone(),
                    container_id: e.container_id,
                    sandbox: e.sandbox,
                    pid: e.pid,
                    pid_start: e.pid_start,
                    leader: e
                        .pid
                        .zip(e.pid_start)
                        .map(|(pid, start)| Leader::Adopted { pid, start }),
                    stream: None,
                    queued: vec![],
                    tasks: HashSet::new(),
                    shutting_down: false,
                },
            );
            if let (Some(p), Some(s)) = (e.pid, e.pid_start) {
                let me = self.clone();
                let eid = e.info.executor_id.clone();
                let running = self
                    .running
                    .enter(format!("executor {eid} of framework {fid} (re-adopted)"));
                tokio::spawn(async move {
                    wait_foreign(p, s).await;
                    me.executor_gone(&fid, &eid, -1);
                    drop(running);
                });
            }
        }
        for cp in tasks {
            let Some(fid) = cp.framework.id.clone() else {
                continue;
            };
            st.frameworks.insert(fid.clone(), cp.framework.clone());
            let tid = cp.task.task_id.clone();
            for u in &cp.pending {
                st.updates.enqueue(u.clone());
            }
            let alive = matches!((cp.pid, cp.pid_start), (Some(p), Some(s)) if containerizer::process_start_time(p) == Some(s));
            if let Some(eid) = &cp.executor_id {
                match st.executors.get_mut(&(fid.clone(), eid.clone())) {
                    Some(x) => {
                        x.tasks.insert(tid.clone());
                    }
                    None if !cp.state.is_terminal() => lost.push((fid.clone(), tid.clone())),
                    None => {}
                }
            } else if !cp.state.is_terminal() && crate::docker::takes(&cp.task) {
                // Its container is re-adopted by docker::recover once the tasks are back.
            } else if !cp.state.is_terminal() {
                match (alive, cp.pid, cp.pid_start) {
                    (true, Some(p), Some(s)) => {
                        watch.push((fid.clone(), tid.clone(), p, s, cp.container_id.clone()))
                    }
                    _ => lost.push((fid.clone(), tid.clone())),
                }
            }
            st.tasks.insert(
                (fid.clone(), tid.clone()),
                TaskEntry {
                    framework_id: fid,
                    info: cp.task,
                    state: cp.state,
                    executor_id: cp.executor_id,
                    container_id: cp.container_id,
                    sandbox: cp.sandbox,
                    pid: cp.pid,
                    pid_start: cp.pid_start,
                    leader: cp
                        .pid
                        .zip(cp.pid_start)
                        .map(|(pid, start)| Leader::Adopted { pid, start }),
                    kill_requested: false,
                    killed_by_health_check: false,
                    launched_at: 0.0,
                },
            );
        }
        drop(st);
        for (fid, tid, pid, start, cid) in watch {
            tracing::info!(task_id = %tid, pid, "re-adopting task");
            if !self.cgroups.adopt(&cid, pid) {
                tracing::info!(task_id = %tid, "the task's cgroups were not found: no limits to clean up");
            }
            crate::health::watch(self, &fid, &tid);
            let me = self.clone();
            let running = self
                .running
                .enter(format!("task {tid} of framework {fid} (re-adopted)"));
            tokio::spawn(async move {
                let _running = running;
                wait_foreign(pid, start).await;
                let killed = me
                    .lock()
                    .tasks
                    .get(&(fid.clone(), tid.clone()))
                    .map(|t| t.kill_requested)
                    .unwrap_or(false);
                me.cgroups.destroy(&cid);
                if killed {
                    me.task_update(
                        &fid,
                        &tid,
                        TaskState::TASK_KILLED,
                        "Command terminated after a kill request".into(),
                        None,
                    );
                } else {
                    // The process is not our child any more: its exit status went to init.
                    me.task_update(
                        &fid,
                        &tid,
                        TaskState::TASK_FAILED,
                        "Task exited after the agent restarted; its exit status could not be observed".into(),
                        Some(Reason::REASON_EXECUTOR_TERMINATED),
                    );
                }
            });
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
    }

    /// Ctrl-C of `drover up` or `drover agent`: launch nothing more, stop every task and
    /// executor (a kill with `grace`: SIGTERM, then SIGKILL; docker tasks are stopped), and
    /// return once every process the agent started is reaped and their cgroups are gone.
    /// `waiting` is told what is still running whenever it asks (a second Ctrl-C).
    pub async fn stop_everything(
        self: &Arc<Self>,
        grace: f64,
        mut waiting: impl FnMut(&[String]),
        mut asked: impl FnMut() -> bool,
    ) {
        use nix::sys::signal::Signal;
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        self.stopping.store(true, Ordering::SeqCst);
        let policy = KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: (grace.max(0.0) * 1e9) as u64,
            }),
        };
        let (tasks, executors): (Vec<(FrameworkID, TaskID)>, Vec<(FrameworkID, ExecutorID)>) = {
            let st = self.lock();
            (
                st.tasks
                    .iter()
                    .filter(|(_, t)| !t.state.is_terminal())
                    .map(|(k, _)| k.clone())
                    .collect(),
                st.executors.keys().cloned().collect(),
            )
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
        let forced_at = Instant::now() + Duration::from_secs_f64(grace.max(0.0));
        let mut told = Instant::now();
        while !self.running.is_empty() {
            if asked() || told.elapsed() > Duration::from_secs(5) {
                waiting(&self.running.describe());
                told = Instant::now();
            }
            if Instant::now() >= forced_at && !killed {
                killed = true;
                let leaders: Vec<Leader> = {
                    let st = self.lock();
                    st.tasks
                        .values()
                        .filter_map(|t| t.leader.clone())
                        .chain(st.executors.values().filter_map(|e| e.leader.clone()))
                        .collect()
                };
                for l in leaders {
                    l.signal(Signal::SIGKILL);
                }
                crate::docker::kill_everything(self, 0.0).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Docker tasks started by this agent that it no longer tracks (an earlier run's).
        crate::docker::kill_everything(self, grace.min(1.0)).await;
        // Processes a task left in its cgroups outside its session (daemonised), then the
        // cgroups themselves.
        let containers: Vec<String> = {
            let st = self.lock();
            st.tasks
                .values()
                .map(|t| t.container_id.clone())
                .chain(st.executors.values().map(|e| e.container_id.clone()))
                .collect()
        };
        for c in &containers {
            self.cgroups.kill_all(c);
            self.cgroups.destroy(c);
        }
        self.cgroups.drain_pool();
    }

    /// Executor SUBSCRIBE: attach its stream, deliver queued tasks.
    pub fn executor_subscribe(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        sub: ex::Subscribe,
        stream: mpsc::UnboundedSender<Bytes>,
    ) -> Result<(), String> {
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
            .ok_or_else(|| format!("Framework {fid} is not known to this agent"))?;
        let x = st
            .executors
            .get_mut(&(fid.clone(), eid.clone()))
            .ok_or_else(|| {
                format!("Executor {eid} of framework {fid} is not known to this agent")
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

    pub fn executor_disconnected(
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
}

/// Wait for a process that is not our child to end (pid polling; start time guards pid reuse).
async fn wait_foreign(pid: u32, start: u64) {
    loop {
        if containerizer::process_start_time(pid) != Some(start) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(nix::sys::signal::Signal::SIGTERM) => "Terminated".into(),
        Ok(nix::sys::signal::Signal::SIGKILL) => "Killed".into(),
        Ok(nix::sys::signal::Signal::SIGINT) => "Interrupt".into(),
        Ok(s) => s.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}
