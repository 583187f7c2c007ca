//! Mesos v1 operator API (`mesos/v1/master/master.proto`): `POST /api/v1` calls, their responses,
//! and the SUBSCRIBE event stream; plus the v1 `Task` message both APIs share.
#![allow(clippy::upper_case_acronyms)]

use crate::mesos::*;
use crate::quota::{QuotaConfig, QuotaRequest, QuotaStatus};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallType {
    UNKNOWN,
    GET_HEALTH,
    GET_FLAGS,
    GET_VERSION,
    GET_METRICS,
    GET_LOGGING_LEVEL,
    SET_LOGGING_LEVEL,
    LIST_FILES,
    READ_FILE,
    GET_STATE,
    GET_AGENTS,
    GET_FRAMEWORKS,
    GET_EXECUTORS,
    GET_OPERATIONS,
    GET_TASKS,
    GET_ROLES,
    GET_WEIGHTS,
    UPDATE_WEIGHTS,
    GET_MASTER,
    SUBSCRIBE,
    RESERVE_RESOURCES,
    UNRESERVE_RESOURCES,
    CREATE_VOLUMES,
    DESTROY_VOLUMES,
    GET_MAINTENANCE_STATUS,
    GET_MAINTENANCE_SCHEDULE,
    UPDATE_MAINTENANCE_SCHEDULE,
    START_MAINTENANCE,
    STOP_MAINTENANCE,
    GET_QUOTA,
    UPDATE_QUOTA,
    SET_QUOTA,
    REMOVE_QUOTA,
    MARK_AGENT_GONE,
    DRAIN_AGENT,
    DEACTIVATE_AGENT,
    REACTIVATE_AGENT,
    TEARDOWN,
    // Agent-side calls that share the enum.
    GET_CONTAINERS,
    LAUNCH_NESTED_CONTAINER,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Call {
    #[serde(rename = "type")]
    pub kind: CallType,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The v1 `Task` message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Task {
    pub name: String,
    pub task_id: TaskID,
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    pub agent_id: AgentID,
    pub state: TaskState,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_update_state: Option<TaskState>,
    #[serde(default, with = "b64", skip_serializing_if = "Option::is_none")]
    pub status_update_uuid: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<serde_json::Value>,
    /// The task's container info as it was launched (typed: [`ContainerInfo`](crate::ContainerInfo)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AgentEntry {
    pub agent_info: AgentInfo,
    pub active: bool,
    #[serde(default)]
    pub deactivated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_info: Option<crate::maintenance::DrainInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_drain_start_time: Option<TimeInfo>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default)]
    pub total_resources: Vec<Resource>,
    #[serde(default)]
    pub allocated_resources: Vec<Resource>,
    #[serde(default)]
    pub offered_resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FrameworkEntry {
    pub framework_info: FrameworkInfo,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reregistered_time: Option<TimeInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered_time: Option<TimeInfo>,
    #[serde(default)]
    pub offers: Vec<Offer>,
    #[serde(default)]
    pub allocated_resources: Vec<Resource>,
    #[serde(default)]
    pub offered_resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExecutorEntry {
    pub executor_info: ExecutorInfo,
    pub agent_id: AgentID,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GetAgents {
    pub agents: Vec<AgentEntry>,
    #[serde(default)]
    pub recovered_agents: Vec<AgentInfo>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GetFrameworks {
    pub frameworks: Vec<FrameworkEntry>,
    #[serde(default)]
    pub completed_frameworks: Vec<FrameworkEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GetExecutors {
    pub executors: Vec<ExecutorEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GetTasks {
    #[serde(default)]
    pub pending_tasks: Vec<Task>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub unreachable_tasks: Vec<Task>,
    #[serde(default)]
    pub completed_tasks: Vec<Task>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GetState {
    pub get_tasks: GetTasks,
    pub get_executors: GetExecutors,
    pub get_frameworks: GetFrameworks,
    pub get_agents: GetAgents,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Role {
    pub name: String,
    pub weight: f64,
    #[serde(default)]
    pub frameworks: Vec<FrameworkID>,
    #[serde(default)]
    pub resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Flag {
    pub name: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VersionInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    UNKNOWN,
    GET_HEALTH,
    GET_FLAGS,
    GET_VERSION,
    GET_METRICS,
    GET_STATE,
    GET_AGENTS,
    GET_FRAMEWORKS,
    GET_EXECUTORS,
    GET_TASKS,
    GET_ROLES,
    GET_MASTER,
    GET_QUOTA,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Response {
    #[serde(rename = "type")]
    pub kind: ResponseType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_health: Option<GetHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_flags: Option<GetFlags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_version: Option<GetVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_metrics: Option<GetMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_state: Option<GetState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_agents: Option<GetAgents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_frameworks: Option<GetFrameworks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_executors: Option<GetExecutors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_tasks: Option<GetTasks>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_roles: Option<GetRoles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_master: Option<GetMaster>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_quota: Option<GetQuota>,
}

impl Response {
    pub fn new(kind: ResponseType) -> Self {
        Response {
            kind,
            get_health: None,
            get_flags: None,
            get_version: None,
            get_metrics: None,
            get_state: None,
            get_agents: None,
            get_frameworks: None,
            get_executors: None,
            get_tasks: None,
            get_roles: None,
            get_master: None,
            get_quota: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetHealth {
    pub healthy: bool,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetFlags {
    pub flags: Vec<Flag>,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetVersion {
    pub version_info: VersionInfo,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetMetrics {
    pub metrics: Vec<Metric>,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetRoles {
    pub roles: Vec<Role>,
}
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetMaster {
    pub master_info: MasterInfo,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GetQuota {
    pub status: QuotaStatus,
}

/// `UPDATE_QUOTA`: set these roles' quotas, all or none; `force` skips the checks against
/// current consumption and cluster capacity. A config with no guarantees and no limits removes
/// the role's quota.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct UpdateQuota {
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub quota_configs: Vec<QuotaConfig>,
}

/// `SET_QUOTA` (deprecated for `UPDATE_QUOTA`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SetQuota {
    pub quota_request: QuotaRequest,
}

/// `REMOVE_QUOTA` (deprecated for `UPDATE_QUOTA` with a default config).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RemoveQuota {
    pub role: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    UNKNOWN,
    SUBSCRIBED,
    TASK_ADDED,
    TASK_UPDATED,
    AGENT_ADDED,
    AGENT_REMOVED,
    FRAMEWORK_ADDED,
    FRAMEWORK_UPDATED,
    FRAMEWORK_REMOVED,
    HEARTBEAT,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(flatten)]
    pub body: serde_json::Map<String, serde_json::Value>,
}
