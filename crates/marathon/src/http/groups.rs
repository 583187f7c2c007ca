//! `/v2/groups`: showing groups, and the changes — create or update a group (`scaleBy`
//! scales every app of it), replace it (`PUT`: apps not in the body are removed), delete it —
//! decoded into group commands the core runs. A group body's apps are made absolute relative
//! to their groups and inherit their groups' dependencies.

use super::render::group_json;
use super::{deployment_ref, flag, params, parse_json, Q, S};
use crate::core::GroupCommand;
use crate::driver::unix_now;
use crate::validate::{canonical_id, validate_app};
use crate::{MarathonError, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use drover_api::marathon::App;
use serde_json::{json, Value};

pub(super) async fn get_root_group(State(s): S, Query(q): Q) -> Json<Value> {
    let m = s.lock();
    Json(group_json(&m, "/", &params(&q, "embed")))
}

pub(super) async fn get_group(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let id = canonical_id(&rest, "/");
    let m = s.lock();
    if id != "/" && !m.apps.keys().any(|a| a.starts_with(&format!("{id}/"))) {
        return Err(MarathonError::GroupNotFound(id.to_string()));
    }
    Ok(Json(group_json(&m, &id, &params(&q, "embed"))))
}

/// All apps of a group body, ids made absolute relative to their groups.
fn collect_apps(
    group: &Value,
    base: &str,
    out: &mut Vec<App>,
    errors: &mut Vec<drover_api::marathon::ValidationDetail>,
    path: &str,
) {
    collect_apps_with(group, base, &[], out, errors, path)
}

/// A group's `dependencies` hold for every app inside it (and its subgroups).
fn collect_apps_with(
    group: &Value,
    base: &str,
    inherited: &[String],
    out: &mut Vec<App>,
    errors: &mut Vec<drover_api::marathon::ValidationDetail>,
    path: &str,
) {
    let gid = group
        .get("id")
        .and_then(|v| v.as_str())
        .map(|i| canonical_id(i, base))
        .unwrap_or_else(|| base.to_string());
    let mut deps: Vec<String> = inherited.to_vec();
    for d in group
        .get("dependencies")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
    {
        if let Some(d) = d.as_str() {
            deps.push(canonical_id(d, crate::validate::parent_of(&gid)));
        }
    }
    for (i, a) in group
        .get("apps")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match crate::validate::app_from_value(a) {
            Ok(mut app) => {
                app.dependencies.extend(deps.iter().cloned());
                match validate_app(app, &gid) {
                    Ok(app) => out.push(app),
                    Err(ds) => errors.extend(ds.into_iter().map(|mut d| {
                        d.path = format!("{path}/apps({i}){}", d.path);
                        d
                    })),
                }
            }
            Err(ds) => {
                errors.extend(
                    ds.into_iter()
                        .map(|d| drover_api::marathon::ValidationDetail {
                            path: format!("{path}/apps({i}){}", d.path),
                            errors: d.errors,
                        }),
                )
            }
        }
    }
    for (i, g) in group
        .get("groups")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        collect_apps_with(g, &gid, &deps, out, errors, &format!("{path}/groups({i})"));
    }
}

/// Decode a group body into a group command and run it.
async fn deploy_group(
    s: &Shared,
    base: &str,
    body: &[u8],
    q: &[(String, String)],
    replace: bool,
) -> Result<Json<Value>, MarathonError> {
    let force = flag(q, "force")?;
    let v: Value = parse_json(body)?;
    let id = v
        .get("id")
        .and_then(|x| x.as_str())
        .map(|i| canonical_id(i, base))
        .unwrap_or_else(|| base.to_string());
    let cmd = match v.get("scaleBy").and_then(|x| x.as_f64()) {
        Some(by) => GroupCommand::Scale { id, by, force },
        None => {
            let mut apps = Vec::new();
            let mut errors = Vec::new();
            collect_apps(&v, base, &mut apps, &mut errors, "");
            if !errors.is_empty() {
                return Err(MarathonError::Invalid(errors));
            }
            GroupCommand::Update {
                id,
                apps,
                replace,
                force,
            }
        }
    };
    let (done, calls) = s.lock().execute(cmd, unix_now())?;
    s.send(calls);
    Ok(Json(deployment_ref(&done.deployment)))
}

pub(super) async fn post_group(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, MarathonError> {
    deploy_group(&s, "/", &body, &q, false)
        .await
        .map(|j| (StatusCode::CREATED, j).into_response())
}

pub(super) async fn post_group_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, MarathonError> {
    let base = canonical_id(&rest, "/");
    deploy_group(&s, &base, &body, &q, false)
        .await
        .map(|j| (StatusCode::CREATED, j).into_response())
}

pub(super) async fn put_root_group(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Json<Value>, MarathonError> {
    deploy_group(&s, "/", &body, &q, true).await
}

pub(super) async fn put_group(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Json<Value>, MarathonError> {
    let id = canonical_id(&rest, "/");
    let mut v: Value = parse_json(&body)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(id));
    }
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    deploy_group(&s, "/", &bytes, &q, true).await
}

pub(super) async fn delete_group(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let id = canonical_id(&rest, "/");
    let force = flag(&q, "force")?;
    let (done, calls) = s
        .lock()
        .execute(GroupCommand::Delete { id, force }, unix_now())?;
    s.send(calls);
    Ok(Json(deployment_ref(&done.deployment)))
}
