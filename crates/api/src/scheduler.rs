//! Mesos v1 scheduler API (`mesos/v1/scheduler/scheduler.proto`): calls a framework posts to
//! `/api/v1/scheduler` and the events it receives on its subscription stream.
#![allow(clippy::upper_case_acronyms)]

use crate::mesos::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallType {
    UNKNOWN,
    SUBSCRIBE,
    TEARDOWN,
    ACCEPT,
    DECLINE,
    ACCEPT_INVERSE_OFFERS,
    DECLINE_INVERSE_OFFERS,
    REVIVE,
    KILL,
    SHUTDOWN,
    ACKNOWLEDGE,
    ACKNOWLEDGE_OPERATION_STATUS,
    RECONCILE,
    RECONCILE_OPERATIONS,
    MESSAGE,
    REQUEST,
    SUPPRESS,
    UPDATE_FRAMEWORK,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Call {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkID>,
    #[serde(rename = "type")]
    pub kind: CallType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_framework: Option<UpdateFramework>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_inverse_offers: Option<InverseOfferIds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline_inverse_offers: Option<InverseOfferIds>,
}

impl Call {
    pub fn new(kind: CallType, framework_id: Option<FrameworkID>) -> Self {
        Call {
            framework_id,
            kind,
            subscribe: None,
            accept: None,
            decline: None,
            revive: None,
            suppress: None,
            kill: None,
            shutdown: None,
            acknowledge: None,
            reconcile: None,
            message: None,
            request: None,
            update_framework: None,
            accept_inverse_offers: None,
            decline_inverse_offers: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Accept {
    #[serde(default)]
    pub offer_ids: Vec<OfferID>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Decline {
    #[serde(default)]
    pub offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Roles {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Kill {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Shutdown {
    pub executor_id: ExecutorID,
    pub agent_id: AgentID,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Acknowledge {
    pub agent_id: AgentID,
    pub task_id: TaskID,
    #[serde(with = "b64_req")]
    pub uuid: Vec<u8>,
}

mod b64_req {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("uuid: invalid base64: {e}")))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Reconcile {
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReconcileTask {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Message {
    pub agent_id: AgentID,
    pub executor_id: ExecutorID,
    #[serde(with = "b64_req")]
    pub data: Vec<u8>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    UNKNOWN,
    SUBSCRIBED,
    OFFERS,
    INVERSE_OFFERS,
    RESCIND,
    RESCIND_INVERSE_OFFER,
    UPDATE,
    UPDATE_OPERATION_STATUS,
    MESSAGE,
    FAILURE,
    ERROR,
    HEARTBEAT,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<Offers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind: Option<Rescind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverse_offers: Option<InverseOffers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind_inverse_offer: Option<RescindInverseOffer>,
}

impl Event {
    fn bare(kind: EventType) -> Self {
        Event {
            kind,
            subscribed: None,
            offers: None,
            rescind: None,
            update: None,
            message: None,
            failure: None,
            error: None,
            inverse_offers: None,
            rescind_inverse_offer: None,
        }
    }
    pub fn heartbeat() -> Self {
        Self::bare(EventType::HEARTBEAT)
    }
    pub fn subscribed(s: Subscribed) -> Self {
        Event {
            subscribed: Some(s),
            ..Self::bare(EventType::SUBSCRIBED)
        }
    }
    pub fn offers(offers: Vec<Offer>) -> Self {
        Event {
            offers: Some(Offers { offers }),
            ..Self::bare(EventType::OFFERS)
        }
    }
    pub fn inverse_offers(inverse_offers: Vec<crate::maintenance::InverseOffer>) -> Self {
        Event {
            inverse_offers: Some(InverseOffers { inverse_offers }),
            ..Self::bare(EventType::INVERSE_OFFERS)
        }
    }
    pub fn rescind_inverse_offer(inverse_offer_id: OfferID) -> Self {
        Event {
            rescind_inverse_offer: Some(RescindInverseOffer { inverse_offer_id }),
            ..Self::bare(EventType::RESCIND_INVERSE_OFFER)
        }
    }
    pub fn rescind(offer_id: OfferID) -> Self {
        Event {
            rescind: Some(Rescind { offer_id }),
            ..Self::bare(EventType::RESCIND)
        }
    }
    pub fn update(status: TaskStatus) -> Self {
        Event {
            update: Some(Update { status }),
            ..Self::bare(EventType::UPDATE)
        }
    }
    pub fn message(m: Message) -> Self {
        Event {
            message: Some(m),
            ..Self::bare(EventType::MESSAGE)
        }
    }
    pub fn failure(f: Failure) -> Self {
        Event {
            failure: Some(f),
            ..Self::bare(EventType::FAILURE)
        }
    }
    pub fn error(message: impl Into<String>) -> Self {
        Event {
            error: Some(Error {
                message: message.into(),
            }),
            ..Self::bare(EventType::ERROR)
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Subscribed {
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Offers {
    #[serde(default)]
    pub offers: Vec<Offer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct InverseOffers {
    #[serde(default)]
    pub inverse_offers: Vec<crate::maintenance::InverseOffer>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RescindInverseOffer {
    pub inverse_offer_id: OfferID,
}

/// `ACCEPT_INVERSE_OFFERS` / `DECLINE_INVERSE_OFFERS`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct InverseOfferIds {
    #[serde(default)]
    pub inverse_offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Rescind {
    pub offer_id: OfferID,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Update {
    pub status: TaskStatus,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Error {
    pub message: String,
}
