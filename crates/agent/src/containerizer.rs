//! The one interface the agent runs containers through, and the values that cross it. Two
//! implementations: `process` (a session and cgroups on this machine) and `docker` (a Docker
//! Engine container); the agent picks one per task, once, by the task's `container.type`
//! ([`Kind::of`]), and keeps the choice on the task. Tests drive the agent with a recording
//! fake (`fake`).
//!
//! A container's life as the agent drives it: [`Containerizer::launch`] (resolves once its first
//! process runs), [`Containerizer::wait`] (resolves once it has ended and how is known), the
//! agent reports the end, then [`Containerizer::destroy`] releases what it still holds.
//! [`Containerizer::kill`] may come at any point after the launch; a kill that comes while the
//! launch is under way is the agent's to deliver once the launch has returned (it holds the
//! task's state), or to turn into "killed before it was launched" ([`Launching::proceed`]).
//! After an agent restart, [`Containerizer::recover`] says which of the checkpointed containers
//! still run; those are then waited for like launched ones.
//!
//! The operations return boxed futures (not `async fn`): the agent holds its containerizers as
//! trait objects, and a trait with `async fn` cannot be one.

use drover_api::{AgentID, ContainerType, FrameworkID, TaskInfo};
use futures_util::future::BoxFuture;
use std::path::PathBuf;
use std::time::Duration;

/// Which containerizer runs a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A process tree in its own session and cgroups (`container.type` MESOS or none).
    Process,
    /// A Docker Engine container (`container.type` DOCKER).
    Docker,
}

impl Kind {
    /// The containerizer a command task asks for.
    pub fn of(task: &TaskInfo) -> Kind {
        match task.container_type() {
            Some(ContainerType::DOCKER) => Kind::Docker,
            _ => Kind::Process,
        }
    }
}

/// cpu and memory limits of a container, from its resources.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    pub mem_mb: f64,
}

/// What to start. The sandbox exists and the task's URIs are fetched into it.
#[derive(Clone, Debug)]
pub struct Launch {
    pub container_id: String,
    pub agent_id: AgentID,
    pub framework_id: FrameworkID,
    /// The sandbox's path on this machine.
    pub sandbox: PathBuf,
    /// The command as a process runs it (`/bin/sh -c value`, or the argv).
    pub argv: Vec<String>,
    /// The environment the agent gives it: its own variables, then the task's.
    pub env: Vec<(String, String)>,
    /// Run as this user (when the agent switches users).
    pub user: Option<String>,
    /// None: no cgroup limits (an executor).
    pub limits: Option<Limits>,
    /// The task, for a command task (None: a custom executor). Docker builds its container from
    /// the task's container info, command and resources.
    pub task: Option<TaskInfo>,
}

/// What the agent is told, and asked, while a launch is under way.
pub trait Launching: Send + Sync {
    /// The launch is under way: what the task asks for is valid (TASK_STARTING).
    fn starting(&self);
    /// Asked by a containerizer whose launch takes a while (an image pull, a container
    /// created) right before the container's first process starts: false when a kill came
    /// meanwhile; nothing is started then and the launch ends with [`LaunchError::Killed`].
    fn proceed(&self) -> bool;
}

/// A [`Launching`] that says nothing and always proceeds (executors).
pub struct Unattended;

impl Launching for Unattended {
    fn starting(&self) {}
    fn proceed(&self) -> bool {
        true
    }
}

/// A container's first process runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Started {
    /// Its process on this machine (process containers), checkpointed for recovery.
    pub pid: Option<u32>,
    /// That process's start time (clock ticks since boot), which tells it from a reused pid.
    pub pid_start: Option<u64>,
}

/// Why a launch did not start anything. The text is the task's `TASK_FAILED` message.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// A kill came before the first process started (see [`Launching::proceed`]).
    #[error("Task killed before it was launched")]
    Killed,
    /// The container's process could not be started.
    #[error("Failed to launch container: {0}")]
    Spawn(#[from] crate::process::error::SpawnError),
    /// The Docker Engine that starts the container is not there.
    #[error("Failed to launch container: {0}")]
    Engine(#[from] crate::docker::error::EngineError),
    /// A Docker container for an executor (the docker containerizer runs command tasks only).
    #[error("Failed to launch container: the docker containerizer runs command tasks only")]
    NotACommandTask,
    /// The container info cannot be made into a Docker container (before TASK_STARTING).
    #[error("Invalid docker container: {0}")]
    InvalidDocker(#[from] crate::docker::error::SpecError),
    #[error("Failed to look up image '{image}': {why}")]
    LookUpImage { image: String, why: String },
    #[error("Failed to pull image '{image}': {why}")]
    PullImage { image: String, why: String },
    #[error("Failed to create container from image '{image}': {why}")]
    Create { image: String, why: String },
    #[error("Failed to start container from image '{image}': {why}")]
    Start { image: String, why: String },
}

/// How a container is stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    /// SIGTERM now, SIGKILL once the grace period is over if it still runs (a task's kill).
    Graceful(Duration),
    /// SIGTERM only (a command task's executor shut down).
    Term,
    /// SIGKILL now.
    Kill,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Exit {
    pub end: End,
    /// The kernel (or the Engine) OOM-killed something in it: a memory limitation.
    pub oom: bool,
    /// What the Engine said went wrong, if anything.
    pub error: Option<String>,
}

impl Exit {
    pub fn of(end: End) -> Exit {
        Exit {
            end,
            oom: false,
            error: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Exited with this status.
    Code(i64),
    /// Ended by this signal.
    Signal(i32),
    /// Ended with neither a status nor a signal.
    Exited,
    /// Not our child (re-adopted after a restart): its exit status went to init.
    Unobserved,
    /// Removed by someone else (a Docker container gone).
    Vanished,
    /// The agent lost track of it (waiting failed).
    Lost,
}

/// Resource usage of a running container, as Mesos' `ResourceStatistics` names it. The agent
/// adds the timestamp and the limits from the task's resources.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    pub cpus_user_time_secs: f64,
    pub cpus_system_time_secs: f64,
    pub mem_rss_bytes: u64,
    /// The limit the container has (Docker); otherwise the agent's, from the resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    /// Time the container's threads waited runnable on a run queue (`/proc/<tid>/schedstat`),
    /// seconds: what the QoS controller watches. Not part of Mesos' statistics.
    #[serde(skip)]
    pub cpus_run_delay_secs: Option<f64>,
}

/// A container the agent had checkpointed before it restarted.
#[derive(Clone, Debug, PartialEq)]
pub struct Known {
    pub container_id: String,
    /// Its sandbox on this machine.
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
}

/// What became of a checkpointed container.
#[derive(Clone, Debug, PartialEq)]
pub enum Recovered {
    /// It still runs and is under control again: wait for it, kill it, as a launched one.
    Running,
    /// It is gone, or never started; the message says which (the task's TASK_FAILED message).
    Gone(String),
}

/// Runs containers. Every operation on a container names it by its container id.
pub trait Containerizer: Send + Sync {
    /// Start a container. Resolves once its first process runs, or with why not.
    fn launch<'a>(
        &'a self,
        launch: Launch,
        launching: &'a dyn Launching,
    ) -> BoxFuture<'a, Result<Started, LaunchError>>;

    /// Resolves once the launched (or recovered) container has ended and how is known; what
    /// must go for that to be known (process: its cgroups, read for an OOM kill) is released.
    /// Asked once per container.
    fn wait<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Exit>;

    /// Start stopping a launched container; returns at once (the grace period runs on its own).
    /// Nothing happens for a container that is not running.
    fn kill(&self, container_id: &str, stop: Stop);

    /// Resource usage of a running container; None when there is none to give.
    fn usage<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Option<Usage>>;

    /// After an agent restart: which of these checkpointed containers still run, each taken
    /// under control again; containers of this agent that are not among them are removed.
    /// One answer per container, in order.
    fn recover<'a>(
        &'a self,
        agent_id: Option<&'a AgentID>,
        containers: Vec<Known>,
    ) -> BoxFuture<'a, Vec<Recovered>>;

    /// Release what an ended (or never started) container still holds: processes left in its
    /// cgroups and the cgroups, the Docker container. The container is forgotten.
    fn destroy<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()>;

    /// The agent stops: remove what this containerizer holds that no container owns (pooled
    /// cgroups; Docker containers of this agent it no longer tracks, after `grace`).
    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, ()>;
}
