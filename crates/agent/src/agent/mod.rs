//! The agent's state and what it does with it. This module holds the state (frameworks, tasks,
//! executors, completed tasks, the status update manager) and the agent's parts; what the agent
//! does is spread by responsibility, one `impl Agent` each:
//!
//! - `master`: messages from the master, the registration report, the [`Registrant`] side of the
//!   master connection;
//! - `launch`: running command tasks through their containerizer, following them to their end;
//! - `executors`: custom executors (their process, the v1 executor API's calls);
//! - `kill`: kills, executor and framework shutdown, the agent's own stop;
//! - `updates`: status updates, acknowledgements, checkpoints;
//! - `recovery`: after a restart, what still runs;
//! - `checks`: health checks of command tasks ([`TaskHealth`]);
//! - `stats`: `/monitor/statistics`;
//! - `snapshot`: `/metrics/snapshot`, Mesos' counters and gauges of an agent;
//! - `ending`: how a container's end becomes a task's terminal update (pure);
//! - `qos`: oversubscription, the resource estimate sent to the master and the evictions of
//!   revocable tasks when a regular task is starved.
//!
//! No module the agent uses imports it back: containerizers, health checks and the master
//! connection reach the agent only through the interfaces they define and it implements.

mod checks;
mod ending;
mod executors;
mod kill;
mod launch;
mod master;
mod qos;
mod recovery;
mod snapshot;
mod stats;
mod updates;

pub(crate) use executors::ExecutorCallError;
pub(crate) use snapshot::is_counter;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use crate::checkpoint::TaskJournal;
use crate::containerizer::{Containerizer, Kind};
use crate::fetcher::Fetcher;
use crate::link::Link;
use crate::status::StatusUpdateManager;
use crate::AgentConfig;
use bytes::Bytes;
use drover_api::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc;

#[cfg(doc)]
use crate::{health::TaskHealth, link::Registrant};

pub struct TaskEntry {
    pub framework_id: FrameworkID,
    pub info: TaskInfo,
    pub state: TaskState,
    /// `None` for command tasks: the agent is their executor (Mesos shows executor id = task id).
    pub executor_id: Option<ExecutorID>,
    /// Which containerizer runs it (command tasks), chosen once from `container.type`.
    pub kind: Kind,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    /// Its container runs (launched, or found running after a restart): kills go to it.
    pub launched: bool,
    pub kill_requested: bool,
    /// The grace period of the kill asked for (seconds), for a launch still under way.
    pub kill_grace: Option<f64>,
    /// Killed after failing its health checks: its terminal update says `healthy: false`.
    pub killed_by_health_check: bool,
}

pub struct ExecutorEntry {
    pub framework_id: FrameworkID,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    /// Its process runs: kills go to it.
    pub launched: bool,
    pub stream: Option<mpsc::UnboundedSender<Bytes>>,
    pub queued: Vec<TaskInfo>,
    pub tasks: HashSet<TaskID>,
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
    /// Tasks that reached each terminal state (`slave/tasks_finished`, …).
    pub ended: HashMap<&'static str, u64>,
    /// Dynamic reservations and persistent volumes the master made here (checkpointed).
    pub checkpointed: Vec<drover_api::Resource>,
    /// Revocable tasks the QoS controller evicted: their terminal update says so.
    pub preempted: HashSet<(FrameworkID, TaskID)>,
    /// The oversubscribed resources the master last heard of since the agent registered.
    pub oversubscribed_sent: Option<Vec<drover_api::Resource>>,
    /// Samples the QoS controller took and revocable tasks it evicted
    /// (`slave/qos_samples`, `slave/qos_evictions`).
    pub qos_samples: u64,
    pub qos_evictions: u64,
}

/// The containerizers tasks run in, one per [`Kind`].
pub struct Containerizers {
    pub process: Arc<dyn Containerizer>,
    /// `None`: the agent runs without the `docker` containerizer.
    pub docker: Option<Arc<dyn Containerizer>>,
}

/// What an agent is made of, besides its config.
pub struct Parts {
    pub containerizers: Containerizers,
    /// What `/state` says of its isolation (`flags.isolation`).
    pub isolation: String,
    pub fetcher: Fetcher,
    pub journal: TaskJournal,
    pub link: Arc<Link>,
    /// The id it had before a restart.
    pub id: Option<AgentID>,
    pub info: AgentInfo,
}

pub struct Agent {
    pub cfg: AgentConfig,
    pub(crate) state: Mutex<AgentState>,
    containerizers: Containerizers,
    isolation: String,
    fetcher: Fetcher,
    link: Arc<Link>,
    pub(crate) start_unix: f64,
    /// Task checkpoints; locked after `state` when both are held.
    journal: Mutex<TaskJournal>,
    /// Makes sandboxes (holds each framework's `executors` directory open).
    sandboxes: crate::sandbox::Sandboxes,
    /// Set once the agent stops (Ctrl-C): nothing new is launched.
    stopping: AtomicBool,
    /// What runs or is being started: a task's or executor's launch until its process is
    /// reaped (or, re-adopted, seen gone). The agent stops when this is empty.
    running: Arc<Running>,
    /// The agent itself, for the work it spawns.
    me: Weak<Agent>,
    /// Set when the master shuts this agent down (it was marked gone): why.
    shutdown: tokio::sync::watch::Sender<Option<String>>,
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
    pub(crate) fn enter(self: &Arc<Self>, what: String) -> RunningGuard {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(n, what);
        RunningGuard {
            of: self.clone(),
            n,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// What is still running, sorted, for a person.
    pub(crate) fn describe(&self) -> Vec<String> {
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
    pub(crate) fn new(cfg: AgentConfig, parts: Parts) -> Arc<Agent> {
        let cfg_meta = cfg.meta_dir();
        Arc::new_cyclic(|me| Agent {
            state: Mutex::new(AgentState {
                id: parts.id,
                info: parts.info,
                frameworks: Default::default(),
                tasks: Default::default(),
                executors: Default::default(),
                completed: Default::default(),
                updates: StatusUpdateManager::new(2.0, 60.0),
                registered: false,
                master: None,
                ended: HashMap::new(),
                checkpointed: crate::volumes::load(&cfg_meta),
                preempted: HashSet::new(),
                oversubscribed_sent: None,
                qos_samples: 0,
                qos_evictions: 0,
            }),
            containerizers: parts.containerizers,
            isolation: parts.isolation,
            fetcher: parts.fetcher,
            link: parts.link,
            start_unix: unix_now(),
            journal: Mutex::new(parts.journal),
            sandboxes: Default::default(),
            stopping: AtomicBool::new(false),
            running: Default::default(),
            me: me.clone(),
            shutdown: tokio::sync::watch::channel(None).0,
            cfg,
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The agent as an `Arc`, for work it spawns. It exists while any method runs.
    fn arc(&self) -> Arc<Agent> {
        self.me.upgrade().unwrap_or_else(|| {
            unreachable!("an agent's method runs while something holds the agent")
        })
    }

    pub(crate) fn agent_id(&self) -> Option<AgentID> {
        self.lock().id.clone()
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The containerizer of a kind; None when the agent runs without it.
    fn containerizer(&self, kind: Kind) -> Option<Arc<dyn Containerizer>> {
        match kind {
            Kind::Process => Some(self.containerizers.process.clone()),
            Kind::Docker => self.containerizers.docker.clone(),
        }
    }

    /// What `/state` says of isolation and containerizers.
    pub(crate) fn isolation(&self) -> (&str, &'static str) {
        let containerizers = if self.containerizers.docker.is_some() {
            "docker,mesos"
        } else {
            "mesos"
        };
        (&self.isolation, containerizers)
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
}
