//! Maintenance and draining over HTTP: Mesos' `/maintenance/schedule` (`GET`, `POST` a whole
//! schedule), `/maintenance/status`, `/machine/down` and `/machine/up` (a JSON list of machine
//! ids), under `/master` too; and the operator calls `GET_MAINTENANCE_STATUS`,
//! `GET_MAINTENANCE_SCHEDULE`, `UPDATE_MAINTENANCE_SCHEDULE`, `START_MAINTENANCE`,
//! `STOP_MAINTENANCE` and `DRAIN_AGENT`. Each decodes and hands the request to the core
//! (`crates/master/src/core/maintenance.rs`, `drain.rs`).

use super::quota::body_of;
use super::S;
use crate::{ApiError, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drover_api::maintenance::{i64_num_or_str, DrainConfig, Duration, MachineID, Schedule};
use drover_api::operator::{self, CallType};
use drover_api::AgentID;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Add the maintenance routes.
pub(super) fn routes(r: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    let mut r = r;
    for base in ["", "/master"] {
        r = r
            .route(
                &format!("{base}/maintenance/schedule"),
                get(schedule).post(update_schedule),
            )
            .route(&format!("{base}/maintenance/status"), get(status))
            .route(&format!("{base}/machine/down"), post(machine_down))
            .route(&format!("{base}/machine/up"), post(machine_up));
    }
    r
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|cause| ApiError::UndecodableBody {
        what: "the maintenance request",
        cause,
    })
}

async fn schedule(State(s): S) -> Json<Schedule> {
    Json(s.lock().maintenance.schedule.clone())
}

async fn update_schedule(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let schedule: Schedule = parse(&body)?;
    let now = s.now();
    s.decide(|m| m.update_maintenance_schedule(schedule, now))?;
    Ok(StatusCode::OK)
}

async fn status(State(s): S) -> Response {
    Json(s.lock().maintenance_status()).into_response()
}

async fn machine_down(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let ids: Vec<MachineID> = parse(&body)?;
    let now = s.now();
    s.decide(|m| m.start_maintenance(&ids, now))?;
    Ok(StatusCode::OK)
}

async fn machine_up(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let ids: Vec<MachineID> = parse(&body)?;
    s.decide(|m| m.stop_maintenance(&ids))?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct Machines {
    #[serde(default)]
    machines: Vec<MachineID>,
}

#[derive(Deserialize)]
struct UpdateSchedule {
    schedule: Schedule,
}

/// `google.protobuf.Duration` in JSON as Mesos' parser reads it: an object (a string such as
/// "10s" is refused).
#[derive(Deserialize)]
struct ProtoDuration {
    #[serde(default, deserialize_with = "i64_num_or_str")]
    seconds: i64,
    #[serde(default)]
    nanos: i32,
}

#[derive(Deserialize)]
struct IdValue {
    value: String,
}

#[derive(Deserialize)]
struct DrainAgent {
    agent_id: IdValue,
    #[serde(default)]
    max_grace_period: Option<ProtoDuration>,
    #[serde(default)]
    mark_gone: bool,
}

/// The maintenance and drain operator calls.
pub(super) fn operator_call(s: &Shared, call: &operator::Call) -> Result<Response, ApiError> {
    let now = s.now();
    match call.kind {
        CallType::GET_MAINTENANCE_STATUS => Ok(Json(json!({
            "type": "GET_MAINTENANCE_STATUS",
            "get_maintenance_status": {"status": s.lock().maintenance_status()},
        }))
        .into_response()),
        CallType::GET_MAINTENANCE_SCHEDULE => Ok(Json(json!({
            "type": "GET_MAINTENANCE_SCHEDULE",
            "get_maintenance_schedule": {"schedule": s.lock().maintenance.schedule.clone()},
        }))
        .into_response()),
        CallType::UPDATE_MAINTENANCE_SCHEDULE => {
            let u: UpdateSchedule = body_of(call, "update_maintenance_schedule")?;
            s.decide(|m| m.update_maintenance_schedule(u.schedule, now))?;
            Ok(StatusCode::OK.into_response())
        }
        CallType::START_MAINTENANCE => {
            let u: Machines = body_of(call, "start_maintenance")?;
            s.decide(|m| m.start_maintenance(&u.machines, now))?;
            Ok(StatusCode::OK.into_response())
        }
        CallType::STOP_MAINTENANCE => {
            let u: Machines = body_of(call, "stop_maintenance")?;
            s.decide(|m| m.stop_maintenance(&u.machines))?;
            Ok(StatusCode::OK.into_response())
        }
        CallType::DRAIN_AGENT => {
            let d: DrainAgent = body_of(call, "drain_agent")?;
            let config = DrainConfig {
                max_grace_period: d.max_grace_period.map(|p| Duration {
                    nanoseconds: p
                        .seconds
                        .saturating_mul(1_000_000_000)
                        .saturating_add(i64::from(p.nanos)),
                }),
                mark_gone: d.mark_gone,
            };
            let id = AgentID::new(d.agent_id.value);
            s.decide(|m| m.drain_agent(&id, config, now))?;
            Ok(StatusCode::OK.into_response())
        }
        other => Err(ApiError::OperatorCallUnsupported(other)),
    }
}
