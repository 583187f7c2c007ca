//! Role weights over HTTP: the operator calls `GET_WEIGHTS` and `UPDATE_WEIGHTS`, and Mesos'
//! `/weights` endpoint (`GET` the weights, `PUT` a list of `{"role", "weight"}`), under
//! `/master` too. Both updates go to [`Master::update_weights`](crate::Master::update_weights):
//! all or nothing, with Mesos' messages.

use super::S;
use crate::{ApiError, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use drover_api::operator::{self, CallType};
use serde_json::{json, Value};
use std::sync::Arc;

/// Add the `/weights` routes.
pub(super) fn routes(r: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    let mut r = r;
    for base in ["/weights", "/master/weights"] {
        r = r.route(base, get(list).put(put));
    }
    r
}

fn weight_infos(s: &Shared) -> Vec<Value> {
    let m = s.lock();
    let mut v: Vec<(&String, &f64)> = m.weights.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.into_iter()
        .map(|(r, w)| json!({"role": r, "weight": w}))
        .collect()
}

/// `[{"role", "weight"}]` as (role, weight).
fn parse_infos(list: &[Value]) -> Result<Vec<(String, f64)>, ApiError> {
    let mut parsed = Vec::with_capacity(list.len());
    for (i, w) in list.iter().enumerate() {
        let role = w["role"].as_str().ok_or(ApiError::WeightInfoType {
            index: i,
            field: "role",
            expected: "a string",
        })?;
        let weight = w["weight"].as_f64().ok_or(ApiError::WeightInfoType {
            index: i,
            field: "weight",
            expected: "a number",
        })?;
        parsed.push((role.to_string(), weight));
    }
    Ok(parsed)
}

/// `GET_WEIGHTS` or `UPDATE_WEIGHTS`.
pub(super) fn operator_call(s: &Shared, call: &operator::Call) -> Result<Response, ApiError> {
    match call.kind {
        CallType::GET_WEIGHTS => Ok(Json(json!({"type": "GET_WEIGHTS",
            "get_weights": {"weight_infos": weight_infos(s)}}))
        .into_response()),
        CallType::UPDATE_WEIGHTS => {
            let infos = call
                .rest
                .get("update_weights")
                .and_then(|u| u.get("weight_infos"))
                .and_then(|w| w.as_array())
                .ok_or(ApiError::MissingField("update_weights.weight_infos"))?;
            let parsed = parse_infos(infos)?;
            let now = s.now();
            s.decide(|m| m.update_weights(&parsed, now))?;
            Ok(StatusCode::OK.into_response())
        }
        other => Err(ApiError::OperatorCallUnsupported(other)),
    }
}

/// `GET /weights`: `[{"role", "weight"}]`, by role.
async fn list(State(s): S) -> Response {
    Json(weight_infos(&s)).into_response()
}

/// `PUT /weights` with `[{"role", "weight"}]`: 200, or 400 with Mesos' message.
async fn put(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let text = || String::from_utf8_lossy(&body).into_owned();
    let v: Value = serde_json::from_slice(&body).map_err(|e| ApiError::WeightsBody {
        body: text(),
        why: e.to_string(),
    })?;
    let list = v.as_array().ok_or_else(|| ApiError::WeightsBody {
        body: text(),
        why: "not a JSON array".into(),
    })?;
    let parsed = parse_infos(list)?;
    let now = s.now();
    s.decide(|m| m.update_weights(&parsed, now))?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
