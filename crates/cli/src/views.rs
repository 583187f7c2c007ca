//! Read-only views of the JSON the CLI reads that `drover_api` has no type for: the master's and
//! agents' v0 endpoints (`/master/slaves`, `/master/frameworks`, `/master/tasks`,
//! `/master/roles`, an agent's
//! `/state` and `/files/read`) and what Marathon adds around an app definition (counts,
//! deployments, tasks, queue entries, events). Drover's servers build these bodies with `json!`
//! — Mesos' v0 shapes have no protobuf, and Marathon's status fields sit on top of the app — so
//! there is no api type to extend without changing what the servers render. Each view has only
//! the fields the CLI shows, with the api types inside where they exist (`marathon::App`,
//! `TaskState`). [`Received`] keeps the body as sent, for `--json`.

use drover_api::marathon::App;
use drover_api::TaskState;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A value as the server sent it (`--json` prints it unchanged) and as the CLI reads it.
#[derive(Debug, Clone)]
pub(crate) struct Received<T> {
    pub raw: Value,
    pub view: T,
}

impl<T> std::ops::Deref for Received<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.view
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Received<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let view = T::deserialize(&raw).map_err(serde::de::Error::custom)?;
        Ok(Received { raw, view })
    }
}

impl<T> Serialize for Received<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct IdRef {
    pub id: String,
}

// -------------------------------------------------------------------------------- master, agents

/// The scalars of a v0 resource map (`{"cpus": 2, "mem": 1024, "ports": "[…]"}`).
#[derive(Deserialize, Debug, Clone, Default)]
pub(crate) struct V0Resources {
    pub cpus: Option<f64>,
    pub mem: Option<f64>,
    pub disk: Option<f64>,
}

/// A v0 attribute value: text, or a scalar as the master rendered it.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(crate) enum AttributeValue {
    Text(String),
    Number(serde_json::Number),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Text(t) => f.write_str(t),
            AttributeValue::Number(n) => write!(f, "{n}"),
        }
    }
}

/// `GET /master/slaves`.
#[derive(Deserialize, Debug)]
pub(crate) struct Slaves {
    pub slaves: Vec<Received<V0Agent>>,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct V0Agent {
    pub id: String,
    #[serde(default)]
    pub hostname: String,
    /// `slave(1)@host:port`.
    #[serde(default)]
    pub pid: String,
    #[serde(default)]
    pub resources: V0Resources,
    #[serde(default)]
    pub used_resources: V0Resources,
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
    #[serde(default)]
    pub active: bool,
    /// What is reserved on the agent, by role, as full resources (volumes among them).
    #[serde(default)]
    pub reserved_resources_full: BTreeMap<String, Vec<drover_api::Resource>>,
    /// Deactivated by an operator (or draining): offered nothing.
    #[serde(default)]
    pub deactivated: bool,
    #[serde(default)]
    pub drain_info: Option<drover_api::maintenance::DrainInfo>,
}

impl V0Agent {
    /// `DRAINING` or `DRAINED` while an operator drains it.
    pub fn drain_state(&self) -> Option<&'static str> {
        use drover_api::maintenance::DrainState;
        self.drain_info.as_ref().map(|d| match d.state {
            DrainState::DRAINED => "DRAINED",
            _ => "DRAINING",
        })
    }

    /// What an operator made of it: active, deactivated, draining, drained; or unreachable.
    pub fn state(&self) -> &'static str {
        match (self.active, self.drain_state(), self.deactivated) {
            (false, _, _) => "unreachable",
            (true, Some("DRAINED"), _) => "drained",
            (true, Some(_), _) => "draining",
            (true, None, true) => "deactivated",
            (true, None, false) => "active",
        }
    }

    /// The agent's `host:port`, from its pid.
    pub fn address(&self) -> Option<&str> {
        self.pid.split('@').nth(1)
    }
}

/// `GET /master/roles`: each role's weight, quota, as Mesos 1.11 writes it (`consumed` is what
/// counts against it), and what its sub-tree has allocated, offered and reserved; older
/// masters have no `quota` and only `resources`.
#[derive(Deserialize, Debug)]
pub(crate) struct Roles {
    pub roles: Vec<V0Role>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct V0Role {
    pub name: String,
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default)]
    pub quota: Option<V0RoleQuota>,
    #[serde(default)]
    pub allocated: BTreeMap<String, f64>,
    #[serde(default)]
    pub offered: BTreeMap<String, f64>,
    #[serde(default)]
    pub reserved: BTreeMap<String, f64>,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize, Debug)]
pub(crate) struct V0RoleQuota {
    #[serde(default)]
    pub guarantee: BTreeMap<String, f64>,
    #[serde(default)]
    pub limit: BTreeMap<String, f64>,
    #[serde(default)]
    pub consumed: BTreeMap<String, f64>,
}

/// `GET /master/frameworks`.
#[derive(Deserialize, Debug)]
pub(crate) struct Frameworks {
    pub frameworks: Vec<Received<V0Framework>>,
    #[serde(default)]
    pub completed_frameworks: Vec<Received<V0Framework>>,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct V0Framework {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub connected: bool,
    /// Counted only.
    #[serde(default)]
    pub tasks: Vec<IgnoredAny>,
    #[serde(default)]
    pub used_resources: V0Resources,
}

/// `GET /master/tasks`.
#[derive(Deserialize, Debug)]
pub(crate) struct V0Tasks {
    pub tasks: Vec<Received<V0Task>>,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct V0Task {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub state: TaskState,
    #[serde(default)]
    pub slave_id: String,
    #[serde(default)]
    pub framework_id: String,
    #[serde(default)]
    pub resources: V0Resources,
}

/// An agent's `GET /state`: where each executor's sandbox is, and its tasks.
#[derive(Deserialize, Debug)]
pub(crate) struct AgentState {
    #[serde(default)]
    pub frameworks: Vec<AgentFramework>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct AgentFramework {
    pub id: String,
    #[serde(default)]
    pub executors: Vec<AgentExecutor>,
    #[serde(default)]
    pub completed_executors: Vec<AgentExecutor>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct AgentExecutor {
    #[serde(default)]
    pub directory: String,
    #[serde(default)]
    pub tasks: Vec<IdRef>,
    #[serde(default)]
    pub completed_tasks: Vec<IdRef>,
    #[serde(default)]
    pub queued_tasks: Vec<IdRef>,
}

impl AgentExecutor {
    pub fn has_task(&self, id: &str) -> bool {
        [&self.tasks, &self.completed_tasks, &self.queued_tasks]
            .iter()
            .any(|l| l.iter().any(|t| t.id == id))
    }
}

/// An agent's `GET /files/read`.
#[derive(Deserialize, Debug)]
pub(crate) struct FileChunk {
    #[serde(default)]
    pub data: String,
}

// -------------------------------------------------------------------------------- Marathon

/// `GET /v2/apps`.
#[derive(Deserialize, Debug)]
pub(crate) struct Apps {
    pub apps: Vec<Received<AppStatus>>,
}

/// `GET /v2/apps/{id}`.
#[derive(Deserialize, Debug)]
pub(crate) struct AppEnvelope {
    pub app: Received<AppStatus>,
}

/// An app as Marathon answers it: the definition, and what Marathon adds around it.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppStatus {
    #[serde(flatten)]
    pub def: App,
    /// Read here rather than through `App::container`: the CLI needs only the image, whatever
    /// the api type makes of the rest.
    #[serde(default)]
    pub container: Option<ContainerView>,
    #[serde(default)]
    pub tasks_staged: u64,
    #[serde(default)]
    pub tasks_running: u64,
    #[serde(default)]
    pub tasks_healthy: u64,
    #[serde(default)]
    pub tasks_unhealthy: u64,
    #[serde(default)]
    pub deployments: Vec<IdRef>,
    #[serde(default)]
    pub tasks: Vec<MarathonTask>,
    #[serde(default)]
    pub last_task_failure: Option<TaskFailure>,
    #[serde(default)]
    pub kill_governor: Option<KillGovernor>,
    #[serde(default)]
    pub version_info: AppVersionInfo,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub(crate) struct ContainerView {
    #[serde(default)]
    pub docker: Option<DockerView>,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub(crate) struct DockerView {
    #[serde(default)]
    pub image: Option<String>,
}

/// A command health check's `command` (a free-form value in the api type).
#[derive(Deserialize, Debug, Clone)]
pub(crate) struct CommandView {
    #[serde(default)]
    pub value: String,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppVersionInfo {
    #[serde(default)]
    pub last_config_change_at: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MarathonTask {
    pub id: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub ports: Vec<u64>,
    pub state: TaskState,
    #[serde(default)]
    pub health_check_results: Vec<HealthResult>,
    #[serde(default)]
    pub staged_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HealthResult {
    #[serde(default)]
    pub alive: bool,
    #[serde(default)]
    pub consecutive_failures: u64,
    #[serde(default)]
    pub last_failure_cause: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFailure {
    pub state: TaskState,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub task_id: String,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct KillGovernor {
    #[serde(default)]
    pub engaged: bool,
    #[serde(default)]
    pub reason: String,
}

/// `GET /v2/apps/{id}/versions`.
#[derive(Deserialize, Debug)]
pub(crate) struct Versions {
    pub versions: Vec<String>,
}

/// The answer to a change that starts a deployment (PUT, DELETE, restart, rollback).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentStarted {
    #[serde(default)]
    pub deployment_id: Option<String>,
}

/// One entry of `GET /v2/deployments`.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub affected_apps: Vec<String>,
    #[serde(default)]
    pub current_actions: Vec<DeploymentAction>,
    #[serde(default)]
    pub current_step: u64,
    #[serde(default)]
    pub total_steps: u64,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct DeploymentAction {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub app: String,
}

/// Marathon's answer to a change sent with `dryRun=true` (`POST /v2/apps`, `PUT /v2/apps/{id}`):
/// the deployment it would start, as `/v2/deployments` shows one, plus what the planner would
/// do about each app. Read only after [`DryRunFlag`] says it is one.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DryRunPlan {
    #[serde(default)]
    pub affected_apps: Vec<String>,
    pub total_steps: u64,
    /// Deployments it would cancel (forced over them).
    #[serde(default)]
    pub supersedes: Vec<String>,
    /// One per action of the deployment, in step order.
    pub apps: Vec<PlannedApp>,
}

/// `"dryRun": true` marks a dry run's plan; a server without dry runs answers the change itself.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DryRunFlag {
    #[serde(default)]
    pub dry_run: bool,
}

/// One app of a dry run: its action, in which step, and what the planner would ask for at once.
#[derive(Deserialize, Debug)]
pub(crate) struct PlannedApp {
    pub app: String,
    pub action: String,
    /// 1-based.
    pub step: u64,
    pub instances: InstancesChange,
    /// Instances it would queue for launch (launched once their step is current).
    pub launch: u64,
    /// Tasks it would kill.
    #[serde(default)]
    pub kill: Vec<String>,
    /// The fields of the definition that change.
    #[serde(default)]
    pub changes: Vec<String>,
    /// Whether its running tasks are replaced.
    #[serde(default)]
    pub restart: bool,
}

#[derive(Deserialize, Debug)]
pub(crate) struct InstancesChange {
    /// None: the app is new.
    pub from: Option<i64>,
    pub to: i64,
}

/// `GET /v2/tasks`, for the apps a task belongs to.
#[derive(Deserialize, Debug)]
pub(crate) struct MarathonTasks {
    pub tasks: Vec<TaskOfApp>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskOfApp {
    #[serde(default)]
    pub app_id: String,
}

/// `GET /v2/queue`.
#[derive(Deserialize, Debug)]
pub(crate) struct Queue {
    pub queue: Vec<Received<QueueItem>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueueItem {
    pub app: AppStatus,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub delay: LaunchDelay,
    #[serde(default)]
    pub processed_offers_summary: OffersSummary,
    /// With `embed=lastUnusedOffers`.
    #[serde(default)]
    pub last_unused_offers: Vec<UnusedOffer>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LaunchDelay {
    #[serde(default)]
    pub time_left_seconds: i64,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OffersSummary {
    #[serde(default)]
    pub processed_offers_count: u64,
    #[serde(default)]
    pub unused_offers_count: u64,
    #[serde(default)]
    pub reject_summary_last_offers: Vec<Rejections>,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct Rejections {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub declined: u64,
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct UnusedOffer {
    pub offer: OfferView,
    #[serde(default)]
    pub reason: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OfferView {
    #[serde(default)]
    pub agent_id: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub resources: OfferResources,
}

/// An offer's resources: Marathon's list, or a name → value map.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(crate) enum OfferResources {
    List(Vec<OfferResource>),
    Map(BTreeMap<String, Value>),
}

impl Default for OfferResources {
    fn default() -> Self {
        OfferResources::List(vec![])
    }
}

#[derive(Deserialize, Debug, Clone)]
pub(crate) struct OfferResource {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scalar: Option<f64>,
}

/// The `data` of a `deployment_success` or `deployment_failed` event.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentEvent {
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub plan: Option<PlanRef>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Debug)]
pub(crate) struct PlanRef {
    #[serde(default)]
    pub id: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_app_reads_as_its_definition_and_marathons_status() {
        let raw = json!({"id": "/web", "cmd": "sleep 1", "instances": 3, "cpus": 0.5, "mem": 64,
            "container": {"type": "DOCKER", "docker": {"image": "nginx"}},
            "tasksRunning": 2, "tasksStaged": 1, "deployments": [{"id": "d1"}],
            "versionInfo": {"lastConfigChangeAt": "2026-01-01T00:00:00.000Z"},
            "tasks": [{"id": "web.1", "state": "TASK_RUNNING", "ports": [31000], "host": "h"}]});
        let a: Received<AppStatus> = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(a.raw, raw, "--json prints it unchanged");
        assert_eq!(
            (a.def.id.as_str(), a.def.instances, a.tasks_running),
            ("/web", 3, 2)
        );
        assert_eq!(a.deployments[0].id, "d1");
        assert_eq!(a.tasks[0].state, TaskState::TASK_RUNNING);
        let image = a
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .and_then(|d| d.image.as_deref());
        assert_eq!(image, Some("nginx"));
        // Marathon's status fields are not taken for unknown fields of the definition.
        assert!(
            !a.def.extra.contains_key("tasksRunning"),
            "{:?}",
            a.def.extra
        );
        assert_eq!(
            a.version_info.last_config_change_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
    }
}
