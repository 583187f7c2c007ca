//! The REST APIs on one port: Metronome's (`metronome.rs`) and Chronos' (`chronos.rs`), each
//! decoding a request, calling the core through the driver, and encoding the answer. Every
//! route has the body-size limit; errors map to each API's status and body in one place.

pub mod chronos;
pub mod chronos_json;
#[cfg(test)]
mod chronos_tests;
pub mod metronome;
#[cfg(test)]
mod metronome_tests;
pub mod render;
#[cfg(test)]
mod test_api;
pub mod validate;

use crate::{JobsError, Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use std::sync::Arc;

/// Both APIs, with the body limit.
pub fn router(s: Arc<Shared>) -> Router {
    let limit = s.cfg.max_body_bytes;
    Router::new()
        .merge(metronome::routes())
        .merge(chronos::routes())
        .fallback(unknown_route)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(s)
}

/// Metronome's answer for a path it has no route for (`/v1/job` for `/v1/jobs`, say).
async fn unknown_route(uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Unknown route.", "requestPath": uri.path()})),
    )
        .into_response()
}

/// Metronome's answer for an error.
pub fn metronome_error(e: JobsError) -> Response {
    let (status, body) = match &e {
        JobsError::JobNotFound(id) => (
            StatusCode::NOT_FOUND,
            json!({"id": id, "message": e.to_string()}),
        ),
        JobsError::ScheduleNotFound(id) => (
            StatusCode::NOT_FOUND,
            json!({"id": id, "message": e.to_string()}),
        ),
        JobsError::RunNotFound { job, run } => (
            StatusCode::NOT_FOUND,
            json!({"jobSpec": job, "id": run, "message": e.to_string()}),
        ),
        JobsError::JobExists(_)
        | JobsError::ScheduleExists(_)
        | JobsError::OneSchedule
        | JobsError::ActiveRuns
        | JobsError::HasDependents { .. } => {
            (StatusCode::CONFLICT, json!({"message": e.to_string()}))
        }
        JobsError::ParentNotFound(_) | JobsError::DependencyCycle(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Object is not valid", "details": [{"path": "/dependencies", "errors": [e.to_string()]}]}),
        ),
        JobsError::Invalid(details) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Object is not valid", "details": details}),
        ),
        JobsError::NotStored | JobsError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"message": e.to_string()}),
        ),
        JobsError::WorkDir { .. } | JobsError::HttpClient(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": e.to_string()}),
        ),
    };
    (status, axum::Json(body)).into_response()
}
