//! Marathon's REST v2 API and its event stream (Server-Sent Events). Handlers only decode: a
//! request becomes a typed command (`crate::core::AppCommand`, …) or a read under the core's
//! lock, the core decides, and the handler renders Marathon's JSON. This module holds the
//! routes, the mapping of errors to statuses, and the decoding helpers the handlers share.
//!
//! | module | owns |
//! |---|---|
//! | `apps.rs` | `/v2/apps` |
//! | `groups.rs` | `/v2/groups` (and group bodies: apps relative to their groups) |
//! | `tasks.rs` | `/v2/tasks`, `/v2/deployments`, `/v2/queue` |
//! | `events.rs` | `/v2/events` (SSE) |
//! | `subscriptions.rs` | `/v2/eventSubscriptions` (HTTP callbacks) |
//! | `misc.rs` | `/ping`, `/v2/info`, `/v2/leader`, `/metrics` (`/metrics/prometheus`: `crate::metrics`) |
//! | `render.rs` | the JSON of apps, tasks and groups |

mod apps;
mod events;
mod groups;
mod misc;
mod render;
mod subscriptions;
mod tasks;

use crate::core::Deployment;
use crate::{MarathonError, Shared};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

type S = State<Arc<Shared>>;
type Q = Query<Vec<(String, String)>>;

impl IntoResponse for MarathonError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            MarathonError::Invalid(details) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Object is not valid", "details": details}),
            ),
            MarathonError::AppNotFound(_)
            | MarathonError::VersionNotFound { .. }
            | MarathonError::GroupNotFound(_)
            | MarathonError::TaskNotFound { .. }
            | MarathonError::DeploymentNotFound(_)
            | MarathonError::NoSuchResource(_) => {
                (StatusCode::NOT_FOUND, json!({"message": self.to_string()}))
            }
            MarathonError::AppExists(_) | MarathonError::GroupExists(_) => {
                (StatusCode::CONFLICT, json!({"message": self.to_string()}))
            }
            MarathonError::DeploymentInProgress(ids) => (
                StatusCode::CONFLICT,
                json!({
                    "message": format!("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{}'.", ids.join(",")),
                    "deployments": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>(),
                }),
            ),
            MarathonError::NotABoolean { .. } | MarathonError::ScaleAndWipe => (
                StatusCode::BAD_REQUEST,
                json!({"message": self.to_string()}),
            ),
            MarathonError::ServicePortsExhausted { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": self.to_string()}),
            ),
            MarathonError::Store(_)
            | MarathonError::WorkDir { .. }
            | MarathonError::HttpClient(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": self.to_string()}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

/// Marathon's boolean query parameters are case-insensitive (`force=True`).
fn flag(q: &[(String, String)], name: &str) -> Result<bool, MarathonError> {
    match q
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) if v == "true" || v.is_empty() => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(value) => Err(MarathonError::NotABoolean {
            name: name.to_string(),
            value,
        }),
    }
}

fn params<'a>(q: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .collect()
}

/// Decode a body; a value of the wrong type is a 422 naming its field as Marathon writes
/// paths (`/healthChecks(0)/intervalSeconds`).
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, MarathonError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = crate::validate::marathon_path(e.path());
        MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
            path,
            errors: vec![format!("Invalid JSON: {}", e.inner())],
        }])
    })
}

/// `{"deploymentId", "version"}`, as Marathon answers a change that started a deployment.
fn deployment_ref(d: &Deployment) -> Value {
    json!({"deploymentId": d.id, "version": d.version})
}

pub fn router(s: Arc<Shared>) -> Router {
    let limit = s.cfg.max_body_bytes;
    let (registry, requests) = crate::metrics::registry(&s);
    Router::new()
        .route("/ping", get(misc::ping))
        .route("/v2/info", get(misc::info))
        .route("/v2/leader", get(misc::leader).delete(misc::abdicate))
        .route("/metrics", get(misc::metrics))
        .route("/metrics/prometheus", drover_metrics::endpoint(registry))
        .route(
            "/v2/apps",
            get(apps::list_apps)
                .post(apps::create_app)
                .put(apps::put_apps),
        )
        .route(
            "/v2/apps/{*rest}",
            get(apps::get_app_path)
                .put(apps::put_app_path)
                .delete(apps::delete_app_path)
                .post(apps::post_app_path),
        )
        .route("/v2/tasks", get(tasks::list_tasks))
        .route("/v2/tasks/delete", axum::routing::post(tasks::delete_tasks))
        .route("/v2/deployments", get(tasks::list_deployments))
        .route(
            "/v2/deployments/{id}",
            axum::routing::delete(tasks::delete_deployment),
        )
        .route("/v2/queue", get(tasks::queue))
        .route(
            "/v2/queue/{*rest}",
            axum::routing::delete(tasks::reset_delay),
        )
        .route(
            "/v2/groups",
            get(groups::get_root_group)
                .post(groups::post_group)
                .put(groups::put_root_group),
        )
        .route(
            "/v2/groups/{*rest}",
            get(groups::get_group)
                .put(groups::put_group)
                .delete(groups::delete_group)
                .post(groups::post_group_path),
        )
        .route("/v2/events", get(events::events))
        .route(
            "/v2/eventSubscriptions",
            get(subscriptions::list)
                .post(subscriptions::subscribe)
                .delete(subscriptions::unsubscribe),
        )
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        // Outermost: a Marathon that does not lead proxies or redirects to the one that does.
        .layer(axum::middleware::from_fn_with_state(
            s.clone(),
            crate::leadership::gate,
        ))
        // Counts every request, those proxied to the leader too.
        .layer(axum::middleware::from_fn_with_state(
            requests,
            drover_metrics::track,
        ))
        .with_state(s)
}
