//! `/v2/tasks` (listing, killing by id), `/v2/deployments` (listing, cancelling or rolling
//! back) and `/v2/queue` (the launch queue with its backoff and offer statistics; resetting
//! an app's delay).

use super::apps::killed_json;
use super::render::task_json;
use super::{deployment_ref, flag, params, parse_json, Q, S};
use crate::core::{self, iso, DeploymentCommand, KillCommand};
use crate::driver::unix_now;
use crate::validate::canonical_id;
use crate::MarathonError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use drover_api::TaskState;
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) async fn list_tasks(State(s): S, Query(q): Q) -> Json<Value> {
    let m = s.lock();
    let status = q
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.to_ascii_lowercase());
    let tasks: Vec<Value> = m
        .instances
        .values()
        .filter(|i| match status.as_deref() {
            Some("running") => i.running(),
            Some("staging") => {
                matches!(i.state, TaskState::TASK_STAGING | TaskState::TASK_STARTING)
            }
            _ => true,
        })
        .map(|i| task_json(&m, i))
        .collect();
    Json(json!({ "tasks": tasks }))
}

/// `POST /v2/tasks/delete` `{"ids": [...]}` (`scale=true`: lower the apps' instances).
pub(super) async fn delete_tasks(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Json<Value>, MarathonError> {
    let scale = flag(&q, "scale")?;
    let force = flag(&q, "force")?;
    let wipe = flag(&q, "wipe")?;
    let v: Value = parse_json(&body)?;
    let ids: Vec<String> = v
        .get("ids")
        .and_then(|x| x.as_array())
        .ok_or_else(|| {
            MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
                path: "/ids".into(),
                errors: vec!["is required".into()],
            }])
        })?
        .iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    let cmd = KillCommand::Tasks { ids, scale, force };
    let (out, calls) = {
        let mut m = s.lock();
        let (killed, calls) = if wipe {
            m.execute(crate::core::WipeCommand(cmd), unix_now())?
        } else {
            m.execute(cmd, unix_now())?
        };
        (killed_json(&m, &killed), calls)
    };
    s.send(calls);
    Ok(Json(out))
}

pub(super) async fn list_deployments(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(Value::Array(
        m.deployments
            .values()
            .map(|d| m.deployment_json(d))
            .collect(),
    ))
}

/// `DELETE /v2/deployments/{id}`: roll back (200 with the new deployment) or, with
/// `force=true`, stop it where it is (202).
pub(super) async fn delete_deployment(
    State(s): S,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, MarathonError> {
    let force = flag(&q, "force")?;
    let mut m = s.lock();
    // What the apps were before: read here, at the edge (the core reads no store).
    let previous = match m.deployments.get(&id) {
        Some(d) if !force => core::previous_definitions(&*m.store, d),
        _ => HashMap::new(),
    };
    let cmd = DeploymentCommand::Cancel {
        id,
        force,
        previous,
    };
    let (rollback, calls) = m.execute(cmd, unix_now())?;
    drop(m);
    s.send(calls);
    Ok(match rollback {
        Some(d) => (StatusCode::OK, Json(deployment_ref(&d))).into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}

pub(super) async fn queue(State(s): S, Query(q): Q) -> Json<Value> {
    let with_offers = params(&q, "embed").contains(&"lastUnusedOffers");
    let m = s.lock();
    let now = unix_now();
    let items: Vec<Value> = m
        .queue()
        .into_iter()
        .filter_map(|(id, count)| {
            let app = m.apps.get(&id)?;
            let b = m.backoff.get(&id).cloned().unwrap_or_default();
            let st = m.offer_stats.get(&id).cloned().unwrap_or_default();
            Some(json!({
                "app": crate::core::json::definition(app), "count": count,
                "delay": {"timeLeftSeconds": (b.until - now).max(0.0).ceil() as i64, "overdue": b.until <= now},
                "since": iso(m.queued_since.get(&id).copied().unwrap_or(now)),
                "processedOffersSummary": {
                    "processedOffersCount": st.processed, "unusedOffersCount": st.unused,
                    "rejectSummaryLastOffers": st.reasons.iter().map(|(r, n)| json!({"reason": r, "declined": n, "processed": st.processed})).collect::<Vec<_>>(),
                    "rejectSummaryLaunchAttempt": st.reasons.iter().map(|(r, n)| json!({"reason": r, "declined": n, "processed": st.processed})).collect::<Vec<_>>(),
                },
            }))
            .map(|mut v: Value| {
                if with_offers {
                    v["lastUnusedOffers"] = json!(st.last_unused.iter().cloned().collect::<Vec<_>>());
                }
                v
            })
        })
        .collect();
    Json(json!({ "queue": items }))
}

/// `DELETE /v2/queue/{id}/delay`.
pub(super) async fn reset_delay(
    State(s): S,
    Path(rest): Path<String>,
) -> Result<StatusCode, MarathonError> {
    let Some(id) = rest.trim_end_matches('/').strip_suffix("/delay") else {
        return Err(MarathonError::NoSuchResource(
            "use DELETE /v2/queue/{appId}/delay".into(),
        ));
    };
    let id = canonical_id(id, "/");
    s.lock().reset_delay(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
