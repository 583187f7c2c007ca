//! The master's decision core: its state, and every decision it takes, one responsibility per
//! module below (each one `impl Master` block).
//!
//! The core is pure: the time comes in as `now`, stream ids from the [`IdSource`] given to
//! [`Master::new`] (offer, agent and framework ids are counted), it reads no clock and does no
//! I/O. What must survive a restart is recorded as [`RegistryOp`]s that the driver takes with
//! [`Master::take_pending`] and writes before it answers the request that caused them. Messages
//! to frameworks and agents go out through per-connection in-memory queues ([`Outbox`]) that the
//! HTTP layer drains, so nothing here blocks.

mod accept;
mod agents;
mod calls;
mod drain;
mod frameworks;
mod housekeeping;
mod maintenance;
mod offers;
mod operations;
mod oversubscription;
mod quota;
mod reservations;
mod updates;

pub use drain::DrainError;
pub use maintenance::{MaintenanceError, StoredMaintenance};
pub use operations::OperationInvalid;
pub use reservations::operation;

#[cfg(test)]
pub(crate) mod harness;

use crate::tasks::{Id, Interner, TaskRec, TaskSet};
use crate::MasterConfig;
use bytes::Bytes;
use drover_allocator::Allocator;
use drover_api::agent_protocol::ToAgent;
use drover_api::scheduler::{CallType, Event};
use drover_api::*;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Outbound queue of one connection (a framework's or an agent's stream); records are already
/// framed, so writing one is a single send.
pub type Outbox = UnboundedSender<Bytes>;

/// A task record as frameworks hold it: shared, so a snapshot for a reader is a copy of
/// pointers, and a change to a record a snapshot still holds copies that one record.
pub type TaskRef = Arc<TaskRec>;

const COMPLETED_TASKS_PER_FRAMEWORK: usize = 1000;
const COMPLETED_FRAMEWORKS: usize = 50;
pub const HEARTBEAT_SECS: f64 = 15.0;
const DEFAULT_REFUSE_SECS: f64 = 5.0;

pub fn frame<T: serde::Serialize>(msg: &T) -> Bytes {
    let json = serde_json::to_vec(msg).unwrap_or_default();
    Bytes::from(recordio::encode(&json))
}

/// Where the ids the core does not count come from. A framework's stream id must not be
/// guessable from another one (Mesos uses a random UUID), so the live master draws it at
/// random; tests give a sequence.
pub trait IdSource: Send {
    fn stream_id(&mut self) -> String;
}

/// Random UUIDs, for the live master.
pub struct RandomIds;

impl IdSource for RandomIds {
    fn stream_id(&mut self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// A write to the registry that a decision asked for; the driver applies them in order.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistryOp {
    PutAgent(AgentInfo),
    PutFramework(FrameworkInfo),
    /// Forget the framework and remember that it may not come back.
    RemoveFramework(FrameworkID),
    PutWeights(HashMap<String, f64>),
    /// A role's quota, set or changed.
    PutQuota(drover_api::quota::QuotaConfig),
    /// A role's quota, removed (set back to the default).
    RemoveQuota(String),
    /// The agent is gone for good (`MARK_AGENT_GONE`): never admit it again.
    MarkAgentGone(AgentID),
    /// `DEACTIVATE_AGENT`: offer nothing on it, across restarts, until reactivated.
    DeactivateAgent(AgentID),
    ReactivateAgent(AgentID),
    /// An agent removed by an operator (its machine went DOWN): forgotten, may come back.
    RemoveAgent(AgentID),
    /// The maintenance schedule and the machines that are DOWN.
    PutMaintenance(StoredMaintenance),
    /// `DRAIN_AGENT`: the agent's drain state and config.
    PutDrain(AgentID, drover_api::maintenance::DrainInfo),
    RemoveDrain(AgentID),
}

/// What the registry held when the master started.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Agents the registry admitted: expected back within `agent_reregister_timeout`.
    pub agents: Vec<AgentInfo>,
    /// Agents marked gone: refused (and shut down) if they come back.
    pub gone_agents: Vec<String>,
    /// Agents an operator deactivated.
    pub deactivated_agents: Vec<String>,
    pub frameworks: Vec<FrameworkInfo>,
    pub removed_frameworks: Vec<String>,
    pub weights: HashMap<String, f64>,
    /// Roles' quotas, each a non-default config.
    pub quotas: Vec<drover_api::quota::QuotaConfig>,
    pub maintenance: StoredMaintenance,
    /// Agents being drained or drained.
    pub draining: Vec<(AgentID, drover_api::maintenance::DrainInfo)>,
}

pub struct Framework {
    pub id: FrameworkID,
    pub info: FrameworkInfo,
    pub roles: Vec<String>,
    pub suppressed: Vec<String>,
    pub stream: Option<Outbox>,
    pub stream_id: String,
    pub active: bool,
    /// Known from an agent's report after a master restart, not yet re-subscribed.
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    /// When a disconnected framework is torn down unless it re-subscribes.
    pub failover_deadline: Option<f64>,
    pub tasks: HashMap<Id, TaskRef>,
    pub unreachable_tasks: HashMap<Id, TaskRef>,
    /// Rendered with the framework's role, not the one each task's resources had.
    pub completed_tasks: VecDeque<TaskRef>,
    pub offers: HashSet<OfferID>,
    pub executors: HashSet<(AgentID, ExecutorID)>,
}

impl Framework {
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }
    pub fn partition_aware(&self) -> bool {
        self.info.has_capability("PARTITION_AWARE")
    }
    fn send(&mut self, event: &Event) {
        if let Some(s) = &self.stream {
            if s.send(frame(event)).is_err() {
                self.stream = None;
            }
        }
    }
}

pub struct AgentRec {
    pub id: AgentID,
    pub info: AgentInfo,
    pub pid: String,
    pub total: Resources,
    pub stream: Option<Outbox>,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub last_seen: f64,
    /// Set once the agent missed its heartbeats for too long: its tasks were reported unreachable.
    pub unreachable: bool,
    pub tasks: TaskSet,
    pub executors: HashMap<(FrameworkID, ExecutorID), (ExecutorInfo, String)>,
    /// Which registration stream is current (a disconnect of an older one is ignored).
    pub conn: u64,
}

impl AgentRec {
    fn send(&mut self, msg: &ToAgent) {
        if let Some(s) = &self.stream {
            if s.send(frame(msg)).is_err() {
                self.stream = None;
            }
        }
    }
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }
}

pub struct OfferRec {
    pub offer: Offer,
    pub resources: Resources,
    pub role: String,
}

#[derive(Default)]
pub struct Counters {
    /// Status updates the master recorded or sent, by state (Mesos' `master/tasks_finished`,
    /// …: a retried update counts again).
    pub tasks_by_state: HashMap<&'static str, u64>,
    /// Tasks that entered each state: a new task (STAGING, or refused: ERROR, DROPPED) or a
    /// change of state; an update that repeats the state is not one.
    pub transitions: HashMap<&'static str, u64>,
    pub offers_sent: u64,
    pub offers_declined: u64,
    pub offers_accepted: u64,
    pub offers_rescinded: u64,
    pub calls: HashMap<&'static str, u64>,
    pub invalid_calls: u64,
    pub updates_from_agents: u64,
    pub allocation_runs: u64,
    /// How long the last allocation took, as the driver measured it.
    pub allocation_secs_last: f64,
    pub agent_removals: u64,
}

impl Counters {
    /// `n` tasks entered `state` (new tasks, or each a change of state).
    pub fn entered(&mut self, state: TaskState, n: u64) {
        *self.tasks_by_state.entry(state.as_str()).or_default() += n;
        *self.transitions.entry(state.as_str()).or_default() += n;
    }
}

pub struct Master {
    pub cfg: MasterConfig,
    pub info: MasterInfo,
    pub frameworks: HashMap<FrameworkID, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub agents: HashMap<AgentID, AgentRec>,
    pub offers: HashMap<OfferID, OfferRec>,
    pub allocator: Allocator,
    pub weights: HashMap<String, f64>,
    /// Roles' quotas (none is the default); the allocator holds the same.
    pub quotas: BTreeMap<String, drover_allocator::Quota>,
    pub counters: Counters,
    pub operator_streams: Vec<Outbox>,
    pub start_unix: f64,
    next_id: u64,
    id_source: Box<dyn IdSource>,
    /// Registry writes decided but not yet taken by the driver.
    pending: Vec<RegistryOp>,
    /// Set when something happened that may make an allocation worthwhile.
    pub allocation_wanted: bool,
    /// Frameworks torn down for good: they may not re-subscribe.
    pub removed: HashSet<FrameworkID>,
    /// Ids, roles and names task records share.
    pub ids: Interner,
    /// Admitted agents (from the registry) that have not re-registered since this master
    /// started: their tasks are neither known nor lost yet.
    pub recovered_agents: HashMap<AgentID, AgentInfo>,
    /// Recovered agents that did not come back within `agent_reregister_timeout`.
    pub unreachable_recovered: HashSet<AgentID>,
    /// When this master first ticked (its clock may have run long before it led).
    pub first_tick: Option<f64>,
    /// Agents marked gone by an operator.
    pub gone_agents: HashSet<AgentID>,
    /// Deactivated by an operator: nothing on them is offered.
    pub deactivated: HashSet<AgentID>,
    /// The maintenance schedule, machine modes and inverse offers.
    pub maintenance: maintenance::Maintenance,
    /// Agents an operator is draining (or drained).
    pub draining: HashMap<AgentID, drain::Drain>,
}

fn time_info(secs: f64) -> TimeInfo {
    TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    }
}

impl Master {
    /// A master that starts from what its registry held (`recovered`); `start_unix` is the Unix
    /// time at which `now` is 0.
    pub fn new(
        cfg: MasterConfig,
        info: MasterInfo,
        recovered: Recovered,
        id_source: Box<dyn IdSource>,
        start_unix: f64,
    ) -> Self {
        let mut allocator = Allocator::new(drover_allocator::Config::default());
        let Recovered {
            agents: recovered_agents,
            gone_agents,
            deactivated_agents,
            frameworks,
            removed_frameworks,
            weights,
            quotas: stored_quotas,
            maintenance: stored_maintenance,
            draining,
        } = recovered;
        for (role, w) in &weights {
            if let Err(e) = allocator.set_weight(role, *w) {
                tracing::error!("ignoring stored weight of role {role}: {e}");
            }
        }
        // Before any offer: a role's limits hold from the first cycle.
        let quotas = quota::recover(&mut allocator, stored_quotas);
        let removed = removed_frameworks
            .into_iter()
            .map(FrameworkID::new)
            .collect();
        let mut m = Master {
            cfg,
            info,
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            offers: HashMap::new(),
            allocator,
            weights,
            quotas,
            counters: Counters::default(),
            operator_streams: Vec::new(),
            start_unix,
            next_id: 0,
            id_source,
            pending: Vec::new(),
            allocation_wanted: true,
            removed,
            ids: Interner::default(),
            recovered_agents: recovered_agents
                .into_iter()
                .filter_map(|a| Some((a.id.clone()?, a)))
                .collect(),
            unreachable_recovered: HashSet::new(),
            first_tick: None,
            gone_agents: gone_agents.into_iter().map(AgentID::new).collect(),
            deactivated: deactivated_agents.into_iter().map(AgentID::new).collect(),
            maintenance: maintenance::Maintenance::recover(stored_maintenance),
            draining: draining
                .into_iter()
                .map(|(id, info)| {
                    let d = drain::Drain {
                        info,
                        unacked: HashSet::new(),
                        started: start_unix,
                    };
                    (id, d)
                })
                .collect(),
        };
        for info in frameworks {
            m.recover_framework(info, 0.0);
        }
        m
    }

    /// The registry writes decided since the last call, in the order they were decided.
    pub fn take_pending(&mut self) -> Vec<RegistryOp> {
        std::mem::take(&mut self.pending)
    }

    fn record(&mut self, op: RegistryOp) {
        self.pending.push(op);
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Unix time in seconds, for timestamps shown to users.
    pub fn unix(&self, now: f64) -> f64 {
        self.start_unix + now
    }

    /// A status the master itself produces for a task.
    fn status(
        &self,
        task_id: &TaskID,
        state: TaskState,
        reason: Reason,
        message: String,
        now: f64,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task_id.clone(), state);
        s.source = Some(StatusSource::SOURCE_MASTER);
        s.reason = Some(reason);
        s.message = Some(message);
        s.timestamp = Some(self.unix(now));
        s
    }

    fn send_to_framework(&mut self, fid: &FrameworkID, event: &Event) {
        if let Some(fw) = self.frameworks.get_mut(fid) {
            fw.send(event);
        }
    }

    fn count_state(&mut self, state: TaskState) {
        self.counters.entered(state, 1);
    }
}

pub fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// A task or executor id names a directory of the agent's sandbox tree (as in Mesos'
/// `validateID`): not empty, at most 255 bytes, not `.` or `..`, no `/`, backslash or control
/// characters.
fn validate_id(kind: &'static str, id: &str) -> Result<(), InvalidId> {
    if id.is_empty() {
        return Err(InvalidId::Empty { kind });
    }
    if id.len() > 255 {
        return Err(InvalidId::TooLong { kind });
    }
    if id == "." || id == ".." {
        return Err(InvalidId::Disallowed {
            kind,
            id: id.to_string(),
        });
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(InvalidId::InvalidCharacters {
            kind,
            id: id.to_string(),
        });
    }
    Ok(())
}

/// Why a task or executor id cannot name a sandbox directory; `kind` is "Task" or "Executor".
#[derive(Debug, thiserror::Error)]
enum InvalidId {
    #[error("{kind} ID must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} ID must not be longer than 255 bytes")]
    TooLong { kind: &'static str },
    #[error("{kind} ID '{id}' is disallowed")]
    Disallowed { kind: &'static str, id: String },
    #[error("{kind} ID '{id}' contains invalid characters")]
    InvalidCharacters { kind: &'static str, id: String },
}

fn validate_role(r: &str) -> Result<(), crate::ApiError> {
    let bad = r.is_empty()
        || r == "."
        || r == ".."
        || r.starts_with('-')
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        || r.split('/').any(|p| p.is_empty() && r != "*");
    if bad && r != "*" {
        return Err(crate::ApiError::InvalidRole(r.to_string()));
    }
    Ok(())
}

fn call_name(k: CallType) -> &'static str {
    match k {
        CallType::SUBSCRIBE => "subscribe",
        CallType::TEARDOWN => "teardown",
        CallType::ACCEPT => "accept",
        CallType::DECLINE => "decline",
        CallType::REVIVE => "revive",
        CallType::SUPPRESS => "suppress",
        CallType::KILL => "kill",
        CallType::SHUTDOWN => "shutdown",
        CallType::ACKNOWLEDGE => "acknowledge",
        CallType::RECONCILE => "reconcile",
        CallType::MESSAGE => "message",
        CallType::REQUEST => "request",
        CallType::UPDATE_FRAMEWORK => "update_framework",
        _ => "other",
    }
}

/// Mesos' text form of resources, for error messages.
pub fn resources_text(r: &Resources) -> String {
    let mut parts = Vec::new();
    for x in r.iter() {
        let role = x.reservation_role();
        let name = if role == "*" {
            x.name.clone()
        } else {
            format!("{}({role})", x.name)
        };
        let v = match x.kind {
            ValueType::SCALAR => resources::format_scalar(x.scalar.map(|s| s.value).unwrap_or(0.0)),
            ValueType::RANGES => resources::format_ranges(
                &x.ranges
                    .as_ref()
                    .map(|r| r.range.clone())
                    .unwrap_or_default(),
            ),
            ValueType::SET => format!(
                "{{{}}}",
                x.set.as_ref().map(|s| s.item.join(",")).unwrap_or_default()
            ),
            ValueType::TEXT => String::new(),
        };
        parts.push(format!("{name}:{v}"));
    }
    parts.join("; ")
}
