//! Marathon's state and decisions: apps and their versions, the instances it believes in,
//! deployments, the launch queue with backoff, offer matching, status updates and the kill
//! governor. A pure core: every decision takes `now` (Unix seconds) from its caller, draws ids
//! from the [`IdSource`] it owns, and does no I/O. It returns the scheduler calls to make,
//! queues the store writes it wants ([`Marathon::take_pending`], some of them to be durable
//! before the caller answers: [`Marathon::wants_commit`]) and the events it emits
//! ([`Marathon::take_events`]); the driver (`crate::driver`) reads the clock, does the writes,
//! publishes the events and posts the calls. The store is read only when the core is opened.
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | the types: [`Marathon`], [`Instance`], [`Deployment`], backoff, offer statistics |
//! | `state.rs` | the instance index by app, what changed since the last replan, events |
//! | `persist.rs` | opening from the store, queued and durable writes, reading old versions |
//! | `commands.rs` | the typed commands the REST API hands in ([`AppCommand`], …) and dry runs |
//! | `deploy.rs` | deployments: planning one, starting, cancelling, rolling back, advancing |
//! | `plans.rs` | the planner applied to each app: the launch queue, kills, revive/suppress |
//! | `launch.rs` | offers: matching them against the launch queue, accept or decline |
//! | `task.rs` | building one task from an app and an offer (resources, ports, environment) |
//! | `updates.rs` | status updates, readiness results, reconciliation |
//! | `resident.rs` | resident apps: reservations and persistent volumes, kept and released |
//! | `roles.rs` | the roles apps may have, the roles subscribed with, an offer's role |
//! | `unreachable.rs` | unreachable instances: inactive (replaced), expunged, back |
//! | `governor.rs` | health results and the kill governor |
//! | `ids.rs` | the id source |

mod changes;
mod commands;
mod deploy;
mod governor;
mod ids;
pub mod json;
mod launch;
mod maintenance;
mod persist;
mod plans;
mod ports;
mod resident;
mod roles;
mod state;
mod subscriptions;
mod task;
mod unreachable;
mod updates;

#[cfg(test)]
mod tests;

pub use changes::Change;
pub use commands::{AppCommand, Command, DeploymentCommand, GroupCommand, KillCommand, Killed};
pub use deploy::DeployPlan;
pub use ids::IdSource;
pub use persist::{app_version, previous_definitions, versions};
pub use resident::{Reservation, WipeCommand};
use task::NoFit;
pub use task::{wants_revocable, REVOCABLE_LABEL};

use crate::constraints::AgentFacts;
use drover_api::marathon::App;
use drover_api::scheduler::Call;
use drover_api::{FrameworkID, TaskState};
use drover_store::{Op, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// An instance (task) Marathon launched and believes in.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Instance {
    pub task_id: String,
    pub app_id: String,
    pub version: String,
    /// The app's `lastConfigChangeAt` when launched: a scale changes `version` but not this,
    /// so only a config change makes instances old.
    #[serde(default)]
    pub config_version: String,
    pub agent_id: String,
    pub host: String,
    pub ports: Vec<u32>,
    pub state: TaskState,
    pub staged_at: f64,
    #[serde(default)]
    pub started_at: Option<f64>,
    #[serde(default)]
    pub killing: bool,
    /// Result of Marathon-run health checks: None until the first result.
    #[serde(default)]
    pub healthy: Option<bool>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_success: Option<f64>,
    #[serde(default)]
    pub last_failure: Option<f64>,
    #[serde(default)]
    pub last_failure_cause: Option<String>,
    #[serde(default)]
    pub last_message: Option<String>,
    /// Readiness (apps with readinessChecks): an instance takes part in a deployment's count
    /// only once ready. Kept once true.
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub last_readiness: Option<Value>,
    /// When its task became TASK_UNREACHABLE (cleared when it comes back).
    #[serde(default)]
    pub unreachable_since: Option<f64>,
    /// Unreachable for longer than the app's `inactiveAfterSeconds`: replaced, no longer
    /// counted, kept until expunged (or until its task comes back).
    #[serde(default)]
    pub unreachable_inactive: bool,
    /// The reservation (resident apps) it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<String>,
}

impl Instance {
    pub fn running(&self) -> bool {
        self.state == TaskState::TASK_RUNNING
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Backoff {
    pub failures: u32,
    /// Unix time before which no new instance is launched.
    pub until: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Deployment {
    pub id: String,
    pub version: String,
    pub affected_apps: Vec<String>,
    /// Each step: (action, app id). Steps run in order (group dependencies).
    pub steps: Vec<Vec<(String, String)>>,
    pub current_step: usize,
    #[serde(default)]
    pub force: bool,
    /// Each affected app's definition before the deployment (none: it is new) and after it
    /// (none: it is removed): the `original` and `target` of its events.
    #[serde(default)]
    pub before: BTreeMap<String, Option<App>>,
    #[serde(default)]
    pub after: BTreeMap<String, Option<App>>,
}

#[derive(Clone, Debug, Default)]
pub struct OfferSummary {
    pub processed: u64,
    pub unused: u64,
    pub reasons: BTreeMap<String, u64>,
    pub last_unused: VecDeque<Value>,
}

/// What the core did since it was opened, for `/metrics/prometheus`: plain counts, so the core
/// stays pure (the driver reads them at each scrape).
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub deployments_started: u64,
    pub deployments_succeeded: u64,
    /// Ended unfinished because a forced change superseded them (a `deployment_failed`).
    pub deployments_failed: u64,
    /// Stopped or rolled back by `DELETE /v2/deployments` (a `deployment_failed` too).
    pub deployments_canceled: u64,
    /// Instances that entered each state: launched (TASK_STAGING), or updated to another state.
    pub transitions: HashMap<&'static str, u64>,
}

/// An event for `/v2/events`: its type and its JSON body.
pub type Event = (String, Value);

/// Event types of Drover's own, beyond Marathon's: sent only to `/v2/events` streams that
/// name them in `event_type`, never to callbacks (marathon-python's `event_stream()` raises on
/// an event type it does not know).
pub const DROVER_EVENTS: &[&str] = &["kill_governor_event"];

pub struct Marathon {
    /// Read when the core is opened; written by the driver from [`Marathon::take_pending`].
    pub store: Arc<dyn Store>,
    pub apps: BTreeMap<String, App>,
    pub instances: BTreeMap<String, Instance>,
    pub backoff: HashMap<String, Backoff>,
    pub last_failure: HashMap<String, Value>,
    pub deployments: BTreeMap<String, Deployment>,
    pub offer_stats: HashMap<String, OfferSummary>,
    pub framework_id: Option<FrameworkID>,
    pub connected: bool,
    /// When to reconcile again with the master, and how many times since subscribing.
    pub next_reconcile: Option<(f64, u32)>,
    pub suppressed: bool,
    /// Agents seen in offers: facts for constraints and hostnames.
    pub agents: HashMap<String, AgentFacts>,
    /// The bus `/v2/events` subscribers read; the driver publishes [`Marathon::take_events`]
    /// on it.
    pub events: tokio::sync::broadcast::Sender<Event>,
    pub role: String,
    /// What Marathon subscribes with but its id and roles (user, name, capabilities, …), set
    /// by the driver: see [`Marathon::framework_info`].
    pub framework_template: drover_api::FrameworkInfo,
    /// The roles of the last SUBSCRIBE or UPDATE_FRAMEWORK.
    pub subscribed_roles: Vec<String>,
    /// The range service ports are assigned from (inclusive; Marathon's 10000-20000).
    pub service_port_range: (u32, u32),
    /// Callback URLs every event is POSTed to (`/v2/eventSubscriptions`).
    pub subscriptions: BTreeSet<String>,
    /// The version of the last deployment started: the root group's version.
    pub root_version: Option<String>,
    /// Apps whose kill governor is engaged.
    pub governed: HashSet<String>,
    /// When each queued app started waiting.
    pub queued_since: HashMap<String, f64>,
    /// When the KILL of each killing instance was last sent (NaN: sent, time not yet known;
    /// -inf: due now, a kill of an earlier Marathon).
    /// Kills are sent again until the task ends: a KILL can be lost with a master or a leader.
    pub kills_sent: HashMap<String, f64>,
    /// Each app's JSON as `GET /v2/apps` shows it, kept until the app changes, so listing
    /// thousands of apps costs a copy, not a render.
    pub rendered: HashMap<String, bytes::Bytes>,
    pub counters: Counters,
    /// Resident instances' reservations, by id (the `marathon_task_id` label).
    pub reservations: BTreeMap<String, Reservation>,
    /// Where deployment and task ids come from.
    ids: Box<dyn IdSource>,
    /// Store writes waiting for the driver.
    pending: Vec<Op>,
    /// Whether `pending` holds writes that must be durable before the caller answers (app
    /// definitions, deployments, the framework id).
    durable: bool,
    /// Events waiting for the driver to publish them.
    outbox: Vec<Event>,
    /// Instances by app, so per-app work costs that app's instances, not all of them.
    by_app: HashMap<String, BTreeSet<String>>,
    /// Apps whose plan may have changed since the last replan.
    dirty: HashSet<String>,
    /// Launches each app wants (the launch queue), as of the last replan.
    wanted: BTreeMap<String, usize>,
    /// Instances whose task is unreachable, so the periodic check of their strategy costs
    /// those, not every instance.
    unreachable: BTreeSet<String>,
    /// Agents under maintenance (by agent id): their instances are moved off.
    pub draining_agents: HashMap<String, maintenance::Draining>,
}

/// RFC 3339 with milliseconds, UTC, as Marathon prints timestamps and versions.
pub fn iso(t: f64) -> String {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_millis(when).to_string()
}

/// Scheduler calls the core wants made, in order.
pub type Calls = Vec<Call>;
