//! Mesos v1 executor API (`mesos/v1/executor/executor.proto`): what a custom executor posts to
//! the agent's `/api/v1/executor` and the events it receives.
#![allow(clippy::upper_case_acronyms)]

use crate::mesos::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallType {
    UNKNOWN,
    SUBSCRIBE,
    UPDATE,
    MESSAGE,
    HEARTBEAT,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Call {
    pub executor_id: ExecutorID,
    pub framework_id: FrameworkID,
    #[serde(rename = "type")]
    pub kind: CallType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageCall>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Subscribe {
    #[serde(default)]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(default)]
    pub unacknowledged_updates: Vec<UpdateCall>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct UpdateCall {
    pub status: TaskStatus,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MessageCall {
    #[serde(default, with = "b64")]
    pub data: Option<Vec<u8>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    UNKNOWN,
    SUBSCRIBED,
    LAUNCH,
    LAUNCH_GROUP,
    KILL,
    ACKNOWLEDGED,
    MESSAGE,
    ERROR,
    SHUTDOWN,
    HEARTBEAT,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroupEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<KillEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledged>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::scheduler::Error>,
}

impl Event {
    pub fn bare(kind: EventType) -> Self {
        Event {
            kind,
            subscribed: None,
            launch: None,
            launch_group: None,
            kill: None,
            acknowledged: None,
            message: None,
            error: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Subscribed {
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerID>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LaunchEvent {
    pub task: TaskInfo,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LaunchGroupEvent {
    pub task_group: TaskGroupInfo,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct KillEvent {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Acknowledged {
    pub task_id: TaskID,
    #[serde(with = "b64_bytes")]
    pub uuid: Vec<u8>,
}

mod b64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
