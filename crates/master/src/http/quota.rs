//! Quota over HTTP: the operator calls (`GET_QUOTA`, `UPDATE_QUOTA`, and the deprecated
//! `SET_QUOTA` and `REMOVE_QUOTA`) and Mesos' old `/quota` endpoint (`GET` the status, `POST` a
//! request, `DELETE /quota/<role>`), under `/master` too. Each decodes its request and hands it
//! to the core ([`Master::update_quota`](crate::Master::update_quota) and its siblings); the
//! router's layers give them the body limit and the leader's gate, as every route has.

use super::S;
use crate::{ApiError, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use drover_api::operator::{self, CallType, RemoveQuota, ResponseType, SetQuota, UpdateQuota};
use drover_api::quota::QuotaRequest;
use serde::Deserialize;
use std::sync::Arc;

/// Add the `/quota` routes.
pub(super) fn routes(r: Router<Arc<Shared>>) -> Router<Arc<Shared>> {
    let mut r = r;
    for base in ["/quota", "/master/quota"] {
        r = r
            .route(base, get(status).post(set).delete(remove))
            .route(&format!("{base}/"), delete(remove))
            .route(&format!("{base}/{{*role}}"), delete(remove));
    }
    r
}

/// The body of an operator call's `field` as `T`.
pub(super) fn body_of<T: serde::de::DeserializeOwned>(
    call: &operator::Call,
    field: &'static str,
) -> Result<T, ApiError> {
    let v = call.rest.get(field).ok_or(ApiError::MissingField(field))?;
    T::deserialize(v).map_err(|cause| ApiError::UndecodableBody {
        what: "master::Call",
        cause,
    })
}

/// `GET_QUOTA`, `UPDATE_QUOTA`, `SET_QUOTA` or `REMOVE_QUOTA`: 200 (with the status for
/// `GET_QUOTA`, empty otherwise), or the refusal.
pub(super) fn operator_call(s: &Shared, call: &operator::Call) -> Result<Response, ApiError> {
    match call.kind {
        CallType::GET_QUOTA => {
            let mut r = operator::Response::new(ResponseType::GET_QUOTA);
            r.get_quota = Some(operator::GetQuota {
                status: s.lock().quota_status(),
            });
            return Ok(Json(r).into_response());
        }
        CallType::UPDATE_QUOTA => {
            let u: UpdateQuota = body_of(call, "update_quota")?;
            s.decide(|m| m.update_quota(&u))?;
        }
        CallType::SET_QUOTA => {
            let q: SetQuota = body_of(call, "set_quota")?;
            s.decide(|m| m.set_quota_request(&q.quota_request))?;
        }
        CallType::REMOVE_QUOTA => {
            let q: RemoveQuota = body_of(call, "remove_quota")?;
            s.decide(|m| m.remove_quota(&q.role))?;
        }
        other => return Err(ApiError::OperatorCallUnsupported(other)),
    }
    Ok(StatusCode::OK.into_response())
}

/// `GET /quota`: the `QuotaStatus`.
async fn status(State(s): S) -> Response {
    let status = s.lock().quota_status();
    Json(status).into_response()
}

/// `POST /quota`: a `QuotaRequest` (`{"role", "guarantee": [Resource…], "force"}`).
async fn set(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let text = || String::from_utf8_lossy(&body).into_owned();
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|cause| ApiError::QuotaRequestJson {
            body: text(),
            cause,
        })?;
    let r = QuotaRequest::deserialize(&v).map_err(|cause| ApiError::QuotaRequestShape {
        body: text(),
        cause,
    })?;
    s.decide(|m| m.set_quota_request(&r))?;
    Ok(StatusCode::OK)
}

/// `DELETE /quota/<role>`: the path is named as Mesos names it, `/master/quota/<role>`.
async fn remove(State(s): S, uri: axum::http::Uri) -> Result<StatusCode, ApiError> {
    let path = uri.path();
    let path = if path.starts_with("/master/") {
        path.to_string()
    } else {
        format!("/master{path}")
    };
    s.decide(|m| m.remove_quota_at(&path))?;
    Ok(StatusCode::OK)
}
