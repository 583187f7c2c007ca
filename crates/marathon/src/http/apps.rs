//! `/v2/apps`: listing and showing apps (with versions and tasks), and the changes — create,
//! update (one or several), restart, delete, kill tasks — each decoded into a command the core
//! runs. `POST /v2/apps` and `PUT /v2/apps/{id}` also answer dry runs (`dryRun=true`).

use super::render::{app_json, task_json};
use super::{deployment_ref, flag, params, parse_json, Q, S};
use crate::core::{self, AppCommand, KillCommand, Killed};
use crate::driver::unix_now;
use crate::validate::{canonical_id, validate_app};
use crate::MarathonError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use drover_api::marathon::App;
use serde_json::{json, Value};

pub(super) async fn list_apps(State(s): S, Query(q): Q) -> Response {
    let embed = params(&q, "embed");
    let cmd = q.iter().find(|(k, _)| k == "cmd").map(|(_, v)| v.clone());
    let id = q.iter().find(|(k, _)| k == "id").map(|(_, v)| v.clone());
    let label = q.iter().find(|(k, _)| k == "label").map(|(_, v)| v.clone());
    let mut m = s.lock();
    let ids: Vec<String> = m
        .apps
        .values()
        .filter(|a| {
            cmd.as_ref()
                .map(|c| a.cmd.as_deref().unwrap_or_default().contains(c.as_str()))
                .unwrap_or(true)
        })
        .filter(|a| {
            id.as_ref()
                .map(|i| a.id.contains(i.as_str()))
                .unwrap_or(true)
        })
        .filter(|a| {
            label
                .as_ref()
                .map(|l| match l.split_once("==") {
                    Some((k, v)) => a
                        .labels
                        .get(k.trim())
                        .map(|x| x == v.trim())
                        .unwrap_or(false),
                    None => match l.split_once("!=") {
                        Some((k, v)) => a
                            .labels
                            .get(k.trim())
                            .map(|x| x != v.trim())
                            .unwrap_or(true),
                        None => a.labels.contains_key(l.trim()),
                    },
                })
                .unwrap_or(true)
        })
        .map(|a| a.id.clone())
        .collect();
    if !embed.is_empty() {
        let apps: Vec<Value> = ids
            .iter()
            .filter_map(|i| m.apps.get(i))
            .map(|a| app_json(&m, a, &embed))
            .collect();
        drop(m);
        return Json(json!({ "apps": apps })).into_response();
    }
    // Each app's JSON is rendered once per change and kept; a listing is a concatenation.
    let mut parts: Vec<Bytes> = Vec::with_capacity(ids.len());
    for i in &ids {
        let cached = m.rendered.get(i).cloned();
        let b = match cached {
            Some(b) => b,
            None => {
                let Some(app) = m.apps.get(i) else { continue };
                let b =
                    Bytes::from(serde_json::to_vec(&app_json(&m, app, &[])).unwrap_or_default());
                m.rendered.insert(i.clone(), b.clone());
                b
            }
        };
        parts.push(b);
    }
    drop(m);
    let mut body = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + 12);
    body.extend_from_slice(b"{\"apps\":[");
    for (k, p) in parts.iter().enumerate() {
        if k > 0 {
            body.push(b',');
        }
        body.extend_from_slice(p);
    }
    body.extend_from_slice(b"]}");
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /v2/apps`: create an app; 201 with the app (and the deployment that starts it).
///
/// `dryRun=true` (Drover's, for `drover app add --dry-run`): answer 200 with the deployment
/// the request would start — Marathon's deployment JSON (`id`, `version`, `affectedApps`,
/// `steps` of `actions` with `action` and `app`, `currentStep`, `totalSteps`) plus
/// `"dryRun": true`, `supersedes` (deployments it would cancel, with `force`) and `apps` (per
/// app: `step`, `instances.from`/`to`, and the `launch` count and `kill` task ids the planner
/// would ask for right away) — and store, emit and launch nothing. A request that would fail
/// fails the same way (422, 409).
pub(super) async fn create_app(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, MarathonError> {
    let force = flag(&q, "force")?;
    let dry_run = flag(&q, "dryRun")?;
    let app: App = parse_json(&body)?;
    let app = validate_app(app, "/").map_err(MarathonError::Invalid)?;
    let posted = app.clone();
    let cmd = AppCommand::Create { app, force };
    let mut m = s.lock();
    let now = unix_now();
    if dry_run {
        let plan = m.dry_run(cmd, now)?;
        return Ok(Json(m.dry_run_json(&plan)).into_response());
    }
    let (done, calls) = m.execute(cmd, now)?;
    let stored = m.apps.get(&posted.id).cloned().unwrap_or(posted);
    let mut v = app_json(&m, &stored, &[]);
    v["deployments"] = json!([{"id": done.deployment.id}]);
    drop(m);
    s.send(calls);
    Ok((
        StatusCode::CREATED,
        [("Location", format!("/v2/apps{}", stored.id))],
        Json(v),
    )
        .into_response())
}

/// Split `/v2/apps/<id>[/restart|/tasks[/<task>]|/versions[/<v>]]`.
fn split_app_path(rest: &str) -> (String, Vec<String>) {
    let parts: Vec<&str> = rest.trim_matches('/').split('/').collect();
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "restart" | "tasks" | "versions") && i > 0 {
            return (
                canonical_id(&parts[..i].join("/"), "/"),
                parts[i..].iter().map(|s| s.to_string()).collect(),
            );
        }
    }
    (canonical_id(&parts.join("/"), "/"), vec![])
}

pub(super) async fn get_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    let m = s.lock();
    let app = m.app(&id)?;
    let embed = params(&q, "embed");
    match sub
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => Ok(Json(
            json!({"app": app_json(&m, app, &[&embed[..], &["tasks", "lastTaskFailure"]].concat())}),
        )),
        ["tasks"] => Ok(Json(
            json!({"tasks": m.app_instances(&id).into_iter().map(|i| task_json(&m, i)).collect::<Vec<_>>()}),
        )),
        ["versions"] => Ok(Json(
            json!({"versions": core::versions(&*m.store, &id).into_iter().rev().collect::<Vec<_>>()}),
        )),
        ["versions", v] => core::app_version(&*m.store, &id, v)
            .map(|a| Json(core::json::definition(&a)))
            .ok_or_else(|| MarathonError::VersionNotFound {
                id: id.to_string(),
                version: v.to_string(),
            }),
        _ => Err(MarathonError::NoSuchResource(format!(
            "no such resource under app '{id}'"
        ))),
    }
}

/// `PUT /v2/apps/{id}`: create or update an app (`partialUpdate=false`: replace the whole
/// definition); 200 (201 when new) with the deployment.
///
/// `dryRun=true`: answer 200 with the deployment the request would start, and change nothing
/// (the same JSON as a dry run of `POST /v2/apps`).
pub(super) async fn put_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    if !sub.is_empty() {
        return Err(MarathonError::NoSuchResource(
            "PUT is only allowed on an app".into(),
        ));
    }
    let force = flag(&q, "force")?;
    let dry_run = flag(&q, "dryRun")?;
    let partial = q
        .iter()
        .find(|(k, _)| k == "partialUpdate")
        .map(|(_, v)| !v.eq_ignore_ascii_case("false"))
        .unwrap_or(true);
    let mut patch: Value = parse_json(&body)?;
    let mut partial = partial;
    let mut m = s.lock();
    // `{"version": v}` (with at most the id beside it) is Marathon's rollback: the app becomes
    // that stored version again. A version among other fields is what GET showed, sent back:
    // ignored, as the merge ignores it.
    if let Some(v) = rollback_version(&patch) {
        let old = core::app_version(&*m.store, &id, &v).ok_or_else(|| {
            MarathonError::VersionNotFound {
                id: id.clone(),
                version: v.clone(),
            }
        })?;
        patch = serde_json::to_value(&old).map_err(|e| {
            MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
                path: "/version".into(),
                errors: vec![format!("the stored version cannot be read: {e}")],
            }])
        })?;
        partial = false;
    }
    let cmd = AppCommand::Update {
        id,
        patch,
        partial,
        force,
    };
    let now = unix_now();
    if dry_run {
        let plan = m.dry_run(cmd, now)?;
        return Ok(Json(m.dry_run_json(&plan)).into_response());
    }
    let (done, calls) = m.execute(cmd, now)?;
    drop(m);
    s.send(calls);
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(deployment_ref(&done.deployment))).into_response())
}

/// The version a body asks to roll back to: `{"version": "…"}`, with at most `id` beside it.
fn rollback_version(body: &Value) -> Option<String> {
    let o = body.as_object()?;
    let v = o.get("version")?.as_str()?;
    o.keys()
        .all(|k| k == "version" || k == "id")
        .then(|| v.to_string())
}

/// `PUT /v2/apps`: partial updates of several apps, one deployment.
pub(super) async fn put_apps(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Json<Value>, MarathonError> {
    let force = flag(&q, "force")?;
    let patches: Vec<Value> = parse_json(&body)?;
    let (done, calls) = s
        .lock()
        .execute(AppCommand::UpdateMany { patches, force }, unix_now())?;
    s.send(calls);
    Ok(Json(deployment_ref(&done.deployment)))
}

/// `DELETE /v2/apps/{id}` (the app), `…/tasks[?host=]` and `…/tasks/{task}` (kill tasks;
/// `scale=true` lowers the app's instances instead of replacing them).
pub(super) async fn delete_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    let force = flag(&q, "force")?;
    let scale = flag(&q, "scale")?;
    let wipe = flag(&q, "wipe")?;
    let mut m = s.lock();
    let now = unix_now();
    let (out, calls) = match sub
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            let (done, calls) = m.execute(AppCommand::Delete { id, force }, now)?;
            (deployment_ref(&done.deployment), calls)
        }
        ["tasks"] => {
            let host = q.iter().find(|(k, _)| k == "host").map(|(_, v)| v.clone());
            let cmd = KillCommand::AppTasks {
                app: id,
                host,
                scale,
                force,
            };
            let (killed, calls) = kill(&mut m, cmd, wipe, now)?;
            (killed_json(&m, &killed), calls)
        }
        ["tasks", task] => {
            let cmd = KillCommand::AppTask {
                app: id,
                task: task.to_string(),
                scale,
                force,
            };
            let (killed, calls) = kill(&mut m, cmd, wipe, now)?;
            let before = killed.tasks.first().map(|i| task_json(&m, i));
            (json!({"task": before.unwrap_or(Value::Null)}), calls)
        }
        _ => {
            m.app(&id)?;
            return Err(MarathonError::NoSuchResource("no such resource".into()));
        }
    };
    drop(m);
    s.send(calls);
    Ok(Json(out))
}

/// `{"tasks": [...]}` of killed tasks as they were, with the deployment when they scaled.
pub(super) fn killed_json(m: &core::Marathon, k: &Killed) -> Value {
    let tasks: Vec<Value> = k.tasks.iter().map(|i| task_json(m, i)).collect();
    match &k.deployment {
        Some(d) => json!({"deploymentId": d.id, "version": d.version, "tasks": tasks}),
        None => json!({ "tasks": tasks }),
    }
}

/// `POST /v2/apps/{id}/restart`.
pub(super) async fn post_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    if sub.first().map(|s| s.as_str()) != Some("restart") {
        return Err(MarathonError::NoSuchResource(
            "POST is only allowed on /v2/apps/{id}/restart".into(),
        ));
    }
    let force = flag(&q, "force")?;
    let (done, calls) = s
        .lock()
        .execute(AppCommand::Restart { id, force }, unix_now())?;
    s.send(calls);
    Ok(Json(deployment_ref(&done.deployment)))
}

/// Run a kill; with `wipe`, releasing the killed resident instances' reservations.
fn kill(
    m: &mut core::Marathon,
    cmd: KillCommand,
    wipe: bool,
    now: f64,
) -> Result<(Killed, crate::core::Calls), MarathonError> {
    if wipe {
        m.execute(core::WipeCommand(cmd), now)
    } else {
        m.execute(cmd, now)
    }
}
