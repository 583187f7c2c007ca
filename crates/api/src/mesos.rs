//! Mesos v1 common messages (`mesos/v1/mesos.proto`) with the JSON mapping Mesos emits and accepts:
//! snake_case field names, enum values as their proto names, `bytes` as base64 strings.
#![allow(clippy::upper_case_acronyms)]

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($name:ident),*) => {$(
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name {
            pub value: String,
        }
        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.value)
            }
        }
    )*};
}
id_type!(
    FrameworkID,
    AgentID,
    OfferID,
    TaskID,
    ExecutorID,
    ContainerID,
    OperationID
);

/// `bytes` fields: base64 in JSON, raw bytes in Rust.
pub mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }
}

/// Numbers that clients send either as JSON numbers or (proto3 style, for 64-bit ints) as strings.
pub mod num {
    use serde::{de::Error, Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        N(u64),
        S(String),
    }
    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match NumOrStr::deserialize(d)? {
            NumOrStr::N(n) => Ok(n),
            NumOrStr::S(s) => s
                .parse()
                .map_err(|_| D::Error::custom(format!("not an integer: {s:?}"))),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    SCALAR,
    RANGES,
    SET,
    TEXT,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Scalar {
    pub value: f64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range {
    #[serde(deserialize_with = "num::u64")]
    pub begin: u64,
    #[serde(deserialize_with = "num::u64")]
    pub end: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges {
    #[serde(default)]
    pub range: Vec<Range>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueSet {
    #[serde(default)]
    pub item: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ReservationType {
    STATIC,
    DYNAMIC,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ReservationInfo {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReservationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Resource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    /// Deprecated pre-reservation-refinement role; `*` when unreserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Pre-reservation-refinement dynamic reservation (`principal`, `labels`) of `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<serde_json::Value>,
}

impl Resource {
    pub fn scalar(name: &str, value: f64) -> Self {
        Self::bare(name, ValueType::SCALAR, Some(Scalar { value }), None, None)
    }
    pub fn ranges(name: &str, ranges: Vec<Range>) -> Self {
        Self::bare(
            name,
            ValueType::RANGES,
            None,
            Some(Ranges { range: ranges }),
            None,
        )
    }
    pub fn set(name: &str, items: Vec<String>) -> Self {
        Self::bare(
            name,
            ValueType::SET,
            None,
            None,
            Some(ValueSet { item: items }),
        )
    }
    fn bare(
        name: &str,
        kind: ValueType,
        scalar: Option<Scalar>,
        ranges: Option<Ranges>,
        set: Option<ValueSet>,
    ) -> Self {
        Resource {
            name: name.to_string(),
            kind,
            scalar,
            ranges,
            set,
            role: None,
            reservation: None,
            allocation_info: None,
            reservations: Vec::new(),
            disk: None,
            revocable: None,
            shared: None,
        }
    }
    /// This resource in the reservation-refinement format (`reservations`, a stack), which is
    /// how Drover keeps resources: a pre-refinement `role` (with `reservation` when dynamic)
    /// becomes a one-entry stack, `role: "*"` goes, and empty labels are no labels.
    pub fn upgraded(mut self) -> Resource {
        let role = self.role.take().filter(|r| r != "*");
        let old = self.reservation.take();
        if self.reservations.is_empty() {
            if let Some(role) = role {
                let (principal, labels) = old.map(|o| (o.principal, o.labels)).unwrap_or_default();
                let dynamic = principal.is_some() || labels.is_some();
                self.reservations.push(ReservationInfo {
                    kind: Some(if dynamic {
                        ReservationType::DYNAMIC
                    } else {
                        ReservationType::STATIC
                    }),
                    role: Some(role),
                    principal,
                    labels,
                });
            }
        }
        for r in &mut self.reservations {
            if r.labels.as_ref().is_some_and(|l| l.labels.is_empty()) {
                r.labels = None;
            }
        }
        self
    }

    /// This resource in the pre-refinement format (`role`, and `reservation` when dynamic), for
    /// frameworks without `RESERVATION_REFINEMENT`; `None` for a refined reservation (more than
    /// one level), which such frameworks are never shown.
    pub fn downgraded(&self) -> Option<Resource> {
        if self.reservations.len() > 1 {
            return None;
        }
        let mut r = self.clone();
        match r.reservations.pop() {
            None => {
                if r.role.is_none() {
                    r.role = Some("*".into());
                }
            }
            Some(top) => {
                r.role = top.role.clone();
                if top.kind == Some(ReservationType::DYNAMIC) {
                    r.reservation = Some(ReservationInfo {
                        kind: None,
                        role: None,
                        principal: top.principal,
                        labels: top.labels,
                    });
                }
            }
        }
        Some(r)
    }

    /// The persistent volume's id (`disk.persistence.id`), when this is a volume.
    pub fn persistence_id(&self) -> Option<&str> {
        self.disk.as_ref()?.pointer("/persistence/id")?.as_str()
    }

    /// Where a volume appears in a task's sandbox (`disk.volume.container_path`).
    pub fn volume_container_path(&self) -> Option<&str> {
        self.disk
            .as_ref()?
            .pointer("/volume/container_path")?
            .as_str()
    }

    /// The role these resources are reserved for, `*` when unreserved.
    pub fn reservation_role(&self) -> &str {
        if let Some(r) = self.reservations.last().and_then(|r| r.role.as_deref()) {
            return r;
        }
        match self.role.as_deref() {
            Some(r) => r,
            None => "*",
        }
    }
}

/// An agent attribute. Its value as text (`value_string`) is printed with the other text forms
/// of values, in `resources`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Label {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    #[serde(default)]
    pub labels: Vec<Label>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    #[serde(default)]
    pub variables: Vec<Variable>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandURI {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandInfo {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<CommandURI>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Mesos defaults `shell` to true: `value` runs under `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct DurationInfo {
    #[serde(deserialize_with = "num::u64")]
    pub nanoseconds: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorType {
    UNKNOWN,
    DEFAULT,
    CUSTOM,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExecutorInfo {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorType>,
    pub executor_id: ExecutorID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Mesos' `ContainerInfo` as the framework sent it (typed: [`ContainerInfo`](crate::ContainerInfo)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, with = "b64", skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskInfo {
    pub name: String,
    pub task_id: TaskID,
    pub agent_id: AgentID,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Mesos' `ContainerInfo` as the framework sent it; [`TaskInfo::container_info`] reads it as a
    /// [`ContainerInfo`](crate::ContainerInfo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, with = "b64", skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TaskGroupInfo {
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    TASK_STAGING,
    TASK_STARTING,
    TASK_RUNNING,
    TASK_KILLING,
    TASK_FINISHED,
    TASK_FAILED,
    TASK_KILLED,
    TASK_ERROR,
    TASK_LOST,
    TASK_DROPPED,
    TASK_UNREACHABLE,
    TASK_GONE,
    TASK_GONE_BY_OPERATOR,
    TASK_UNKNOWN,
}

impl TaskState {
    /// Terminal states: the task will never change again.
    pub fn is_terminal(self) -> bool {
        use TaskState::*;
        matches!(
            self,
            TASK_FINISHED
                | TASK_FAILED
                | TASK_KILLED
                | TASK_ERROR
                | TASK_LOST
                | TASK_DROPPED
                | TASK_GONE
                | TASK_GONE_BY_OPERATOR
        )
    }
    pub fn as_str(self) -> &'static str {
        use TaskState::*;
        match self {
            TASK_STAGING => "TASK_STAGING",
            TASK_STARTING => "TASK_STARTING",
            TASK_RUNNING => "TASK_RUNNING",
            TASK_KILLING => "TASK_KILLING",
            TASK_FINISHED => "TASK_FINISHED",
            TASK_FAILED => "TASK_FAILED",
            TASK_KILLED => "TASK_KILLED",
            TASK_ERROR => "TASK_ERROR",
            TASK_LOST => "TASK_LOST",
            TASK_DROPPED => "TASK_DROPPED",
            TASK_UNREACHABLE => "TASK_UNREACHABLE",
            TASK_GONE => "TASK_GONE",
            TASK_GONE_BY_OPERATOR => "TASK_GONE_BY_OPERATOR",
            TASK_UNKNOWN => "TASK_UNKNOWN",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusSource {
    SOURCE_MASTER,
    SOURCE_AGENT,
    SOURCE_EXECUTOR,
}

/// `TaskStatus.Reason`, the subset Drover emits plus those clients may send back.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    REASON_COMMAND_EXECUTOR_FAILED,
    REASON_CONTAINER_LAUNCH_FAILED,
    REASON_CONTAINER_LIMITATION,
    REASON_CONTAINER_LIMITATION_DISK,
    REASON_CONTAINER_LIMITATION_MEMORY,
    REASON_CONTAINER_PREEMPTED,
    REASON_CONTAINER_UPDATE_FAILED,
    REASON_EXECUTOR_REGISTRATION_TIMEOUT,
    REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
    REASON_EXECUTOR_TERMINATED,
    REASON_EXECUTOR_UNREGISTERED,
    REASON_FRAMEWORK_REMOVED,
    REASON_GC_ERROR,
    REASON_INVALID_FRAMEWORKID,
    REASON_INVALID_OFFERS,
    REASON_IO_SWITCHBOARD_EXITED,
    REASON_MASTER_DISCONNECTED,
    REASON_RECONCILIATION,
    REASON_RESOURCES_UNKNOWN,
    REASON_AGENT_DISCONNECTED,
    REASON_AGENT_DRAINING,
    REASON_AGENT_REMOVED,
    REASON_AGENT_REMOVED_BY_OPERATOR,
    REASON_AGENT_REREGISTERED,
    REASON_AGENT_RESTARTED,
    REASON_AGENT_UNKNOWN,
    REASON_TASK_KILLED_DURING_LAUNCH,
    REASON_TASK_CHECK_STATUS_UPDATED,
    REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
    REASON_TASK_GROUP_INVALID,
    REASON_TASK_GROUP_UNAUTHORIZED,
    REASON_TASK_INVALID,
    REASON_TASK_UNAUTHORIZED,
    REASON_TASK_UNKNOWN,
    REASON_MAX_COMPLETION_TIME_REACHED,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TaskStatus {
    pub task_id: TaskID,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<StatusSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, with = "b64", skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    #[serde(default, with = "b64", skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
}

impl TaskStatus {
    pub fn new(task_id: TaskID, state: TaskState) -> Self {
        TaskStatus {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeInfo {
    pub nanoseconds: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Capability {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct FrameworkInfo {
    #[serde(default)]
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_filters: Option<serde_json::Value>,
}

impl FrameworkInfo {
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c.kind == name)
    }
    /// The roles this framework subscribes with: `roles` for MULTI_ROLE frameworks, else `role`
    /// (default `*`).
    pub fn effective_roles(&self) -> Vec<String> {
        if self.has_capability("MULTI_ROLE") {
            return self.roles.clone();
        }
        vec![self.role.clone().unwrap_or_else(|| "*".to_string())]
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Filters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub port: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct URL {
    pub scheme: String,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Offer {
    pub id: OfferID,
    pub framework_id: FrameworkID,
    pub agent_id: AgentID,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<URL>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Set when the agent's machine is scheduled for maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<crate::maintenance::Unavailability>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct AgentInfo {
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default)]
    pub resources: Vec<Resource>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentID>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MasterInfo {
    pub id: String,
    pub ip: u32,
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// What this master can do (Mesos 1.11: `AGENT_UPDATE`, `AGENT_DRAINING`, `QUOTA_V2`);
    /// only what Drover's master does is listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
}

/// One operation of an ACCEPT call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: OperationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<OperationID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreserve: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy: Option<serde_json::Value>,
}

impl Operation {
    /// A LAUNCH of these tasks.
    pub fn launch(task_infos: Vec<TaskInfo>) -> Operation {
        Operation {
            kind: OperationType::LAUNCH,
            id: None,
            launch: Some(Launch { task_infos }),
            launch_group: None,
            reserve: None,
            unreserve: None,
            create: None,
            destroy: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationType {
    UNKNOWN,
    LAUNCH,
    LAUNCH_GROUP,
    RESERVE,
    UNRESERVE,
    CREATE,
    DESTROY,
    GROW_VOLUME,
    SHRINK_VOLUME,
    CREATE_DISK,
    DESTROY_DISK,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Launch {
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LaunchGroup {
    pub executor: ExecutorInfo,
    pub task_group: TaskGroupInfo,
}
