//! Reservations and persistent volumes made by an operator over HTTP: the v1 calls
//! `RESERVE_RESOURCES`, `UNRESERVE_RESOURCES`, `CREATE_VOLUMES`, `DESTROY_VOLUMES`, and Mesos'
//! old form-encoded endpoints `POST /reserve`, `/unreserve` (`slaveId`, `resources`),
//! `/create-volumes`, `/destroy-volumes` (`slaveId`, `volumes`), under `/master` too. Each
//! decodes its request into an [`Operation`] on an agent and hands it to
//! [`Master::operator_operation`](crate::Master::operator_operation); 202 when it is applied.
//! The router's layers give these routes the body limit and the leader's gate.

use super::S;
use crate::core::operation;
use crate::{ApiError, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use drover_api::operator::{self, CallType};
use drover_api::{AgentID, OperationType};
use serde_json::Value;
use std::sync::Arc;

/// Add the old endpoints, with and without `/master`.
pub(super) fn routes(r: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    let mut r = r;
    for base in ["", "/master"] {
        r = r
            .route(&format!("{base}/reserve"), post(reserve))
            .route(&format!("{base}/unreserve"), post(unreserve))
            .route(&format!("{base}/create-volumes"), post(create_volumes))
            .route(&format!("{base}/destroy-volumes"), post(destroy_volumes));
    }
    r
}

/// The operation a v1 call asks for, its message's field and the field of its list.
fn call_shape(kind: CallType) -> Option<(OperationType, &'static str, &'static str)> {
    match kind {
        CallType::RESERVE_RESOURCES => {
            Some((OperationType::RESERVE, "reserve_resources", "resources"))
        }
        CallType::UNRESERVE_RESOURCES => {
            Some((OperationType::UNRESERVE, "unreserve_resources", "resources"))
        }
        CallType::CREATE_VOLUMES => Some((OperationType::CREATE, "create_volumes", "volumes")),
        CallType::DESTROY_VOLUMES => Some((OperationType::DESTROY, "destroy_volumes", "volumes")),
        _ => None,
    }
}

/// `RESERVE_RESOURCES {agent_id, source?, resources}`, `UNRESERVE_RESOURCES {agent_id,
/// resources}`, `CREATE_VOLUMES {agent_id, volumes}`, `DESTROY_VOLUMES {agent_id, volumes}`.
pub(super) fn operator_call(s: &Shared, call: &operator::Call) -> Result<StatusCode, ApiError> {
    let (kind, message, field) =
        call_shape(call.kind).ok_or(ApiError::OperatorCallUnsupported(call.kind))?;
    let missing = |what: &'static str| ApiError::MissingField(what);
    let body = call.rest.get(message).ok_or(missing(message))?;
    let (agent_field, list_field) = match kind {
        OperationType::RESERVE => ("reserve_resources.agent_id", "reserve_resources.resources"),
        OperationType::UNRESERVE => (
            "unreserve_resources.agent_id",
            "unreserve_resources.resources",
        ),
        OperationType::CREATE => ("create_volumes.agent_id", "create_volumes.volumes"),
        _ => ("destroy_volumes.agent_id", "destroy_volumes.volumes"),
    };
    let agent = body
        .get("agent_id")
        .and_then(|a| a.get("value"))
        .and_then(|v| v.as_str())
        .ok_or(missing(agent_field))?;
    let list = body
        .get(field)
        .and_then(|l| l.as_array())
        .ok_or(missing(list_field))?;
    let mut op = operation(kind, list.clone());
    if let (Some(source), Some(reserve)) = (body.get("source"), op.reserve.as_mut()) {
        reserve["source"] = source.clone();
    }
    apply(s, &AgentID::new(agent), &op)
}

fn apply(s: &Shared, agent: &AgentID, op: &drover_api::Operation) -> Result<StatusCode, ApiError> {
    let now = s.now();
    s.decide(|m| m.operator_operation(agent, op, now))?;
    Ok(StatusCode::ACCEPTED)
}

/// A form field holding a JSON array of resources.
fn json_list(form: &[(String, String)], field: &'static str) -> Result<Vec<Value>, ApiError> {
    let text = form
        .iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.as_str())
        .ok_or(ApiError::MissingFormField(field))?;
    serde_json::from_str(text).map_err(|cause| ApiError::FormFieldJson { field, cause })
}

/// An old endpoint: `slaveId=<id>&<field>=<JSON array>` as `kind` on that agent (`source`,
/// for `/reserve`, is read and refused when not empty).
fn form_operation(
    s: &Shared,
    body: &[u8],
    kind: OperationType,
    field: &'static str,
) -> Result<StatusCode, ApiError> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(ApiError::UndecodableForm)?;
    let agent = form
        .iter()
        .find(|(k, _)| k == "slaveId")
        .map(|(_, v)| AgentID::new(v.as_str()))
        .ok_or(ApiError::MissingFormField("slaveId"))?;
    let list = json_list(&form, field)?;
    let mut op = operation(kind, list);
    if kind == OperationType::RESERVE && form.iter().any(|(k, _)| k == "source") {
        let source = json_list(&form, "source")?;
        if let Some(reserve) = op.reserve.as_mut() {
            reserve["source"] = Value::Array(source);
        }
    }
    apply(s, &agent, &op)
}

async fn reserve(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    form_operation(&s, &body, OperationType::RESERVE, "resources")
}

async fn unreserve(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    form_operation(&s, &body, OperationType::UNRESERVE, "resources")
}

async fn create_volumes(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    form_operation(&s, &body, OperationType::CREATE, "volumes")
}

async fn destroy_volumes(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    form_operation(&s, &body, OperationType::DESTROY, "volumes")
}

#[cfg(test)]
mod tests;
