//! Marathon's REST v2 API and its event stream (Server-Sent Events). Handlers decode the
//! request, call the core under its lock, and render Marathon's JSON.

use crate::core::{iso, Instance, Marathon};
use crate::validate::{canonical_id, validate_app};
use crate::{MarathonError, Shared};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use drover_api::marathon::App;
use drover_api::TaskState;
use serde_json::{json, Value};
use std::collections::HashMap;
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
            MarathonError::NotFound(m) => (StatusCode::NOT_FOUND, json!({"message": m})),
            MarathonError::Conflict(m) => (StatusCode::CONFLICT, json!({"message": m})),
            MarathonError::DeploymentInProgress(ids) => (
                StatusCode::CONFLICT,
                json!({
                    "message": format!("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{}'.", ids.join(",")),
                    "deployments": ids.iter().map(|i| json!({"id": i})).collect::<Vec<_>>(),
                }),
            ),
            MarathonError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({"message": m})),
            MarathonError::Store(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": format!("storage: {e}")}),
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
        Some(v) => Err(MarathonError::BadRequest(format!(
            "query parameter '{name}' must be true or false, got '{v}'"
        ))),
    }
}

fn params<'a>(q: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == name)
        .flat_map(|(_, v)| v.split(','))
        .collect()
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, MarathonError> {
    serde_json::from_slice(body).map_err(|e| {
        MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
            path: "/".into(),
            errors: vec![format!("Invalid JSON: {e}")],
        }])
    })
}

pub fn router(s: Arc<Shared>) -> Router {
    let limit = s.cfg.max_body_bytes;
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/v2/info", get(info))
        .route("/v2/leader", get(leader))
        .route("/metrics", get(metrics))
        .route("/v2/apps", get(list_apps).post(create_app).put(put_apps))
        .route(
            "/v2/apps/{*rest}",
            get(get_app_path)
                .put(put_app_path)
                .delete(delete_app_path)
                .post(post_app_path),
        )
        .route("/v2/tasks", get(list_tasks))
        .route("/v2/tasks/delete", axum::routing::post(delete_tasks))
        .route("/v2/deployments", get(list_deployments))
        .route(
            "/v2/deployments/{id}",
            axum::routing::delete(delete_deployment),
        )
        .route("/v2/queue", get(queue))
        .route("/v2/queue/{*rest}", axum::routing::delete(reset_delay))
        .route(
            "/v2/groups",
            get(get_root_group).post(post_group).put(put_root_group),
        )
        .route(
            "/v2/groups/{*rest}",
            get(get_group)
                .put(put_group)
                .delete(delete_group)
                .post(post_group_path),
        )
        .route("/v2/events", get(events))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .with_state(s)
}

async fn info(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(json!({
        "name": "marathon", "version": "1.11.24", "buildref": concat!("drover-", env!("CARGO_PKG_VERSION")),
        "elected": true, "leader": s.cfg.advertise, "frameworkId": m.framework_id.as_ref().map(|f| f.value.clone()),
        "marathon_config": {"master": s.cfg.master, "hostname": s.cfg.hostname, "failover_timeout": s.cfg.failover_timeout_secs,
                            "mesos_role": m.role, "mesos_user": s.cfg.user, "task_launch_timeout": 300000, "checkpoint": true,
                            "framework_name": "marathon", "ha": false, "webui_url": format!("http://{}", s.cfg.advertise)},
        "http_config": {"http_port": s.cfg.advertise.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())},
        "event_subscriber": {"type": "sse"},
        // Drover keeps Marathon's state in its own store, not ZooKeeper; clients still parse this.
        "zookeeper_config": {"zk": null, "zk_timeout": 10000, "zk_session_timeout": 10000, "zk_max_versions": 50},
    }))
}

async fn leader(State(s): S) -> Json<Value> {
    Json(json!({"leader": s.cfg.advertise}))
}

async fn metrics(State(s): S) -> Json<Value> {
    let m = s.lock();
    let running = m.instances.values().filter(|i| i.running()).count();
    Json(json!({
        "version": "4.0.0",
        "gauges": {
            "marathon.apps.active.gauge": {"value": m.apps.len()},
            "marathon.instances.running.gauge": {"value": running},
            "marathon.instances.staged.gauge": {"value": m.instances.values().filter(|i| i.state == TaskState::TASK_STAGING).count()},
            "marathon.deployments.active.gauge": {"value": m.deployments.len()},
            "marathon.instances.launch-overdue.gauge": {"value": 0},
        },
        "counters": {}, "histograms": {}, "meters": {}, "timers": {},
    }))
}

// -------------------------------------------------------------------------------- rendering

pub fn task_json(i: &Instance) -> Value {
    let mut hc = Vec::new();
    if i.healthy.is_some() || i.consecutive_failures > 0 {
        hc.push(json!({
            "alive": i.healthy == Some(true) && i.consecutive_failures == 0, "consecutiveFailures": i.consecutive_failures, "taskId": i.task_id, "instanceId": i.task_id,
            "firstSuccess": i.last_success.map(iso), "lastSuccess": i.last_success.map(iso), "lastFailure": i.last_failure.map(iso),
            "lastFailureCause": i.last_failure_cause,
        }));
    }
    json!({
        "id": i.task_id, "appId": i.app_id, "host": i.host, "ports": i.ports, "servicePorts": [],
        "stagedAt": iso(i.staged_at), "startedAt": i.started_at.map(iso), "version": i.version,
        "slaveId": i.agent_id, "state": i.state, "healthCheckResults": hc,
        "ipAddresses": [{"ipAddress": i.host, "protocol": "IPv4"}], "localVolumes": [],
    })
}

fn counts(m: &Marathon, app: &App) -> (usize, usize, usize, usize) {
    let insts: Vec<&Instance> = m.app_instances(&app.id);
    let staged = insts
        .iter()
        .filter(|i| matches!(i.state, TaskState::TASK_STAGING | TaskState::TASK_STARTING))
        .count();
    let running = insts.iter().filter(|i| i.running()).count();
    let healthy = if app.health_checks.is_empty() {
        0
    } else {
        insts
            .iter()
            .filter(|i| i.running() && i.healthy == Some(true) && i.consecutive_failures == 0)
            .count()
    };
    // Marathon counts a task unhealthy when its last check failed.
    let unhealthy = if app.health_checks.is_empty() {
        0
    } else {
        insts
            .iter()
            .filter(|i| i.running() && (i.healthy == Some(false) || i.consecutive_failures > 0))
            .count()
    };
    (staged, running, healthy, unhealthy)
}

pub fn app_json(m: &Marathon, app: &App, embed: &[&str]) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        let scaling = o.remove("lastScalingAt");
        let config = o.remove("lastConfigChangeAt");
        o.insert(
            "versionInfo".into(),
            json!({"lastScalingAt": scaling, "lastConfigChangeAt": config}),
        );
        o.insert("portDefinitions".into(), json!(app.port_defs()));
        o.remove("ports");
    }
    let (staged, running, healthy, unhealthy) = counts(m, app);
    v["tasksStaged"] = json!(staged);
    v["tasksRunning"] = json!(running);
    v["tasksHealthy"] = json!(healthy);
    v["tasksUnhealthy"] = json!(unhealthy);
    let deps: Vec<Value> = m
        .deployments
        .values()
        .filter(|d| d.affected_apps.contains(&app.id))
        .map(|d| json!({"id": d.id}))
        .collect();
    v["deployments"] = json!(deps);
    let has = |k: &str| {
        embed.iter().any(|e| {
            *e == k
                || *e == format!("apps.{k}")
                || *e == format!("app.{k}")
                || *e == format!("group.apps.{k}")
        })
    };
    if has("tasks") {
        v["tasks"] = json!(m
            .app_instances(&app.id)
            .into_iter()
            .map(task_json)
            .collect::<Vec<_>>());
    }
    if has("lastTaskFailure") || has("failures") {
        if let Some(f) = m.last_failure.get(&app.id) {
            v["lastTaskFailure"] = f.clone();
        }
    }
    if has("readiness") {
        v["readinessCheckResults"] = json!(m
            .app_instances(&app.id)
            .into_iter()
            .filter_map(|i| i.last_readiness.clone())
            .collect::<Vec<_>>());
    }
    if m.governed.contains(&app.id) {
        v["killGovernor"] = json!({"engaged": true, "reason": "most instances are unhealthy at once: not killing them (the check is the likelier fault)"});
    }
    v
}

// -------------------------------------------------------------------------------- apps

async fn list_apps(State(s): S, Query(q): Q) -> Response {
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

fn post_event(m: &Marathon, uri: &str, app: &App) {
    m.emit(
        "api_post_event",
        json!({"clientIp": "", "uri": uri, "appDefinition": app}),
    );
}

async fn create_app(State(s): S, Query(q): Q, body: Bytes) -> Result<Response, MarathonError> {
    let force = flag(&q, "force")?;
    let app: App = parse_json(&body)?;
    let app = validate_app(app, "/").map_err(MarathonError::Invalid)?;
    let mut m = s.lock();
    if m.apps.contains_key(&app.id) {
        return Err(MarathonError::Conflict(format!(
            "An app with id [{}] already exists.",
            app.id
        )));
    }
    if m.apps
        .keys()
        .any(|a| a.starts_with(&format!("{}/", app.id)))
    {
        return Err(MarathonError::Conflict(format!(
            "A group with id [{}] already exists.",
            app.id
        )));
    }
    let d = m.deploy(vec![app.clone()], vec![], force, false)?;
    post_event(&m, "/v2/apps", &app);
    let stored = m.apps.get(&app.id).cloned().unwrap_or(app);
    let mut v = app_json(&m, &stored, &[]);
    v["deployments"] = json!([{"id": d.id}]);
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok((
        StatusCode::CREATED,
        [("Location", format!("/v2/apps{}", stored.id))],
        Json(v),
    )
        .into_response())
}

/// Merge a partial app body over an existing definition (Marathon's PUT semantics).
fn merge(
    existing: Option<&App>,
    id: &str,
    body: &[u8],
    partial: bool,
) -> Result<App, MarathonError> {
    let patch: Value = parse_json(body)?;
    if !patch.is_object() {
        return Err(MarathonError::Invalid(vec![
            drover_api::marathon::ValidationDetail {
                path: "/".into(),
                errors: vec!["expected a JSON object".into()],
            },
        ]));
    }
    let mut base = match (existing, partial) {
        (Some(a), true) => serde_json::to_value(a).unwrap_or(json!({})),
        _ => json!({}),
    };
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            b.insert(k.clone(), v.clone());
        }
        // cmd and args replace each other.
        if p.contains_key("cmd") && !p.contains_key("args") {
            b.remove("args");
        }
        if p.contains_key("args") && !p.contains_key("cmd") {
            b.remove("cmd");
        }
        b.insert("id".into(), json!(id));
        b.remove("version");
    }
    let app: App = serde_json::from_value(base).map_err(|e| {
        MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
            path: "/".into(),
            errors: vec![e.to_string()],
        }])
    })?;
    validate_app(app, "/").map_err(MarathonError::Invalid)
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

async fn get_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    let m = s.lock();
    let app = m
        .apps
        .get(&id)
        .ok_or_else(|| MarathonError::NotFound(format!("App '{id}' does not exist")))?;
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
            json!({"tasks": m.app_instances(&id).into_iter().map(task_json).collect::<Vec<_>>()}),
        )),
        ["versions"] => Ok(Json(
            json!({"versions": m.versions(&id).into_iter().rev().collect::<Vec<_>>()}),
        )),
        ["versions", v] => m
            .app_version(&id, v)
            .map(|a| Json(serde_json::to_value(a).unwrap_or(Value::Null)))
            .ok_or_else(|| MarathonError::NotFound(format!("App '{id}' has no version {v}"))),
        _ => Err(MarathonError::NotFound(format!(
            "no such resource under app '{id}'"
        ))),
    }
}

async fn put_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> Result<Response, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    if !sub.is_empty() {
        return Err(MarathonError::NotFound(
            "PUT is only allowed on an app".into(),
        ));
    }
    let force = flag(&q, "force")?;
    let partial = q
        .iter()
        .find(|(k, _)| k == "partialUpdate")
        .map(|(_, v)| !v.eq_ignore_ascii_case("false"))
        .unwrap_or(true);
    let mut m = s.lock();
    let existing = m.apps.get(&id).cloned();
    let app = merge(existing.as_ref(), &id, &body, partial)?;
    let d = m.deploy(vec![app.clone()], vec![], force, false)?;
    post_event(&m, &format!("/v2/apps{id}"), &app);
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({"deploymentId": d.id, "version": d.version})),
    )
        .into_response())
}

async fn put_apps(State(s): S, Query(q): Q, body: Bytes) -> Result<Json<Value>, MarathonError> {
    let force = flag(&q, "force")?;
    let patches: Vec<Value> = parse_json(&body)?;
    let mut m = s.lock();
    let mut apps = Vec::new();
    for (i, p) in patches.iter().enumerate() {
        let id = p.get("id").and_then(|v| v.as_str()).ok_or_else(|| {
            MarathonError::Invalid(vec![drover_api::marathon::ValidationDetail {
                path: format!("({i})/id"),
                errors: vec!["is required".into()],
            }])
        })?;
        let id = canonical_id(id, "/");
        let bytes = serde_json::to_vec(p).unwrap_or_default();
        apps.push(merge(m.apps.get(&id), &id, &bytes, true)?);
    }
    let d = m.deploy(apps, vec![], force, false)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(Json(json!({"deploymentId": d.id, "version": d.version})))
}

async fn delete_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    let force = flag(&q, "force")?;
    let scale = flag(&q, "scale")?;
    let mut m = s.lock();
    if !m.apps.contains_key(&id) {
        return Err(MarathonError::NotFound(format!(
            "App '{id}' does not exist"
        )));
    }
    let now = crate::core::unix_now();
    let out = match sub
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            let d = m.deploy(vec![], vec![id.clone()], force, false)?;
            json!({"deploymentId": d.id, "version": d.version})
        }
        ["tasks"] => {
            let host = q.iter().find(|(k, _)| k == "host").map(|(_, v)| v.clone());
            let ids: Vec<String> = m
                .app_instances(&id)
                .into_iter()
                .filter(|i| host.as_ref().map(|h| &i.host == h).unwrap_or(true))
                .map(|i| i.task_id.clone())
                .collect();
            kill_tasks(&mut m, &s, &ids, scale, force)?
        }
        ["tasks", task] => {
            if !m
                .instances
                .get(*task)
                .map(|i| i.app_id == id)
                .unwrap_or(false)
            {
                return Err(MarathonError::NotFound(format!(
                    "Task '{task}' of app '{id}' does not exist"
                )));
            }
            let before: Vec<Value> = m.instances.get(*task).map(task_json).into_iter().collect();
            kill_tasks(&mut m, &s, &[task.to_string()], scale, force)?;
            json!({"task": before.first().cloned().unwrap_or(Value::Null)})
        }
        _ => return Err(MarathonError::NotFound("no such resource".into())),
    };
    let calls = m.reconcile_plans(now);
    drop(m);
    s.send(calls);
    Ok(Json(out))
}

/// Kill tasks; with `scale`, lower their apps' instance counts so they are not replaced.
fn kill_tasks(
    m: &mut Marathon,
    s: &Shared,
    ids: &[String],
    scale: bool,
    force: bool,
) -> Result<Value, MarathonError> {
    let killed: Vec<Value> = ids
        .iter()
        .filter_map(|t| m.instances.get(t))
        .map(task_json)
        .collect();
    if scale {
        let mut per_app: HashMap<String, i64> = HashMap::new();
        for t in ids {
            if let Some(i) = m.instances.get(t) {
                *per_app.entry(i.app_id.clone()).or_default() += 1;
            }
        }
        let apps: Vec<App> = per_app
            .iter()
            .filter_map(|(id, n)| {
                m.apps.get(id).cloned().map(|mut a| {
                    a.instances = (a.instances - n).max(0);
                    a
                })
            })
            .collect();
        let d = m.deploy(apps, vec![], force, false)?;
        for t in ids {
            s.send(m.kill_instance(t));
        }
        return Ok(json!({"deploymentId": d.id, "version": d.version, "tasks": killed}));
    }
    for t in ids {
        s.send(m.kill_instance(t));
    }
    Ok(json!({"tasks": killed}))
}

async fn post_app_path(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let (id, sub) = split_app_path(&rest);
    if sub.first().map(|s| s.as_str()) != Some("restart") {
        return Err(MarathonError::NotFound(
            "POST is only allowed on /v2/apps/{id}/restart".into(),
        ));
    }
    let force = flag(&q, "force")?;
    let mut m = s.lock();
    let app = m
        .apps
        .get(&id)
        .cloned()
        .ok_or_else(|| MarathonError::NotFound(format!("App '{id}' does not exist")))?;
    let d = m.deploy(vec![app], vec![], force, true)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(Json(json!({"deploymentId": d.id, "version": d.version})))
}

// -------------------------------------------------------------------------------- tasks

async fn list_tasks(State(s): S, Query(q): Q) -> Json<Value> {
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
        .map(task_json)
        .collect();
    Json(json!({ "tasks": tasks }))
}

async fn delete_tasks(State(s): S, Query(q): Q, body: Bytes) -> Result<Json<Value>, MarathonError> {
    let scale = flag(&q, "scale")?;
    let force = flag(&q, "force")?;
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
    let mut m = s.lock();
    let known: Vec<String> = ids
        .into_iter()
        .filter(|t| m.instances.contains_key(t))
        .collect();
    let out = kill_tasks(&mut m, &s, &known, scale, force)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(Json(out))
}

// -------------------------------------------------------------------------------- deployments, queue

async fn list_deployments(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(Value::Array(
        m.deployments
            .values()
            .map(|d| m.deployment_json(d))
            .collect(),
    ))
}

async fn delete_deployment(
    State(s): S,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, MarathonError> {
    let force = flag(&q, "force")?;
    let mut m = s.lock();
    let r = m.rollback(&id, force)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(match r {
        Some(d) => (
            StatusCode::OK,
            Json(json!({"deploymentId": d.id, "version": d.version})),
        )
            .into_response(),
        None => StatusCode::ACCEPTED.into_response(),
    })
}

async fn queue(State(s): S, Query(q): Q) -> Json<Value> {
    let with_offers = params(&q, "embed").iter().any(|e| *e == "lastUnusedOffers");
    let m = s.lock();
    let now = crate::core::unix_now();
    let items: Vec<Value> = m
        .queue()
        .into_iter()
        .filter_map(|(id, count)| {
            let app = m.apps.get(&id)?;
            let b = m.backoff.get(&id).cloned().unwrap_or_default();
            let st = m.offer_stats.get(&id).cloned().unwrap_or_default();
            Some(json!({
                "app": app_json(&m, app, &[]), "count": count,
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

async fn reset_delay(State(s): S, Path(rest): Path<String>) -> Result<StatusCode, MarathonError> {
    let Some(id) = rest.trim_end_matches('/').strip_suffix("/delay") else {
        return Err(MarathonError::NotFound(
            "use DELETE /v2/queue/{appId}/delay".into(),
        ));
    };
    let id = canonical_id(id, "/");
    let mut m = s.lock();
    if !m.apps.contains_key(&id) {
        return Err(MarathonError::NotFound(format!(
            "App '{id}' does not exist"
        )));
    }
    m.reset_delay(&id);
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------------------------------- groups

fn group_json(m: &Marathon, gid: &str, embed: &[&str]) -> Value {
    let prefix = if gid == "/" {
        "/".to_string()
    } else {
        format!("{gid}/")
    };
    let apps: Vec<Value> = m
        .apps
        .values()
        .filter(|a| a.id.starts_with(&prefix) && !a.id[prefix.len()..].contains('/'))
        .map(|a| app_json(m, a, embed))
        .collect();
    let mut subgroups: Vec<String> = m
        .apps
        .keys()
        .filter(|a| a.starts_with(&prefix) && a[prefix.len()..].contains('/'))
        .map(|a| {
            format!(
                "{prefix}{}",
                a[prefix.len()..].split('/').next().unwrap_or_default()
            )
        })
        .collect();
    subgroups.sort();
    subgroups.dedup();
    let version = m
        .apps
        .values()
        .filter(|a| a.id.starts_with(&prefix))
        .filter_map(|a| a.version.clone())
        .max();
    json!({
        "id": gid, "apps": apps, "pods": [], "dependencies": [], "version": version,
        "groups": subgroups.iter().map(|g| group_json(m, g, embed)).collect::<Vec<_>>(),
    })
}

async fn get_root_group(State(s): S, Query(q): Q) -> Json<Value> {
    let m = s.lock();
    Json(group_json(&m, "/", &params(&q, "embed")))
}

async fn get_group(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let id = canonical_id(&rest, "/");
    let m = s.lock();
    if id != "/" && !m.apps.keys().any(|a| a.starts_with(&format!("{id}/"))) {
        return Err(MarathonError::NotFound(format!(
            "Group '{id}' does not exist"
        )));
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
        match serde_json::from_value::<App>(a) {
            Ok(mut app) => match {
                app.dependencies.extend(deps.iter().cloned());
                validate_app(app, &gid)
            } {
                Ok(app) => out.push(app),
                Err(ds) => errors.extend(ds.into_iter().map(|mut d| {
                    d.path = format!("{path}/apps({i}){}", d.path);
                    d
                })),
            },
            Err(e) => errors.push(drover_api::marathon::ValidationDetail {
                path: format!("{path}/apps({i})"),
                errors: vec![e.to_string()],
            }),
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

async fn deploy_group(
    s: &Shared,
    base: &str,
    body: &[u8],
    q: &[(String, String)],
    replace: bool,
) -> Result<Json<Value>, MarathonError> {
    let force = flag(q, "force")?;
    let v: Value = parse_json(body)?;
    let gid = v
        .get("id")
        .and_then(|x| x.as_str())
        .map(|i| canonical_id(i, base))
        .unwrap_or_else(|| base.to_string());
    let mut m = s.lock();
    if let Some(by) = v.get("scaleBy").and_then(|x| x.as_f64()) {
        let prefix = if gid == "/" {
            "/".to_string()
        } else {
            format!("{gid}/")
        };
        let apps: Vec<App> = m
            .apps
            .values()
            .filter(|a| a.id.starts_with(&prefix))
            .cloned()
            .map(|mut a| {
                a.instances = ((a.instances as f64) * by).ceil() as i64;
                a
            })
            .collect();
        let d = m.deploy(apps, vec![], force, false)?;
        return Ok(Json(json!({"deploymentId": d.id, "version": d.version})));
    }
    let mut apps = Vec::new();
    let mut errors = Vec::new();
    collect_apps(&v, base, &mut apps, &mut errors, "");
    if !errors.is_empty() {
        return Err(MarathonError::Invalid(errors));
    }
    let removed: Vec<String> = if replace {
        let prefix = if gid == "/" {
            "/".to_string()
        } else {
            format!("{gid}/")
        };
        m.apps
            .keys()
            .filter(|a| a.starts_with(&prefix) && !apps.iter().any(|x| &x.id == *a))
            .cloned()
            .collect()
    } else {
        vec![]
    };
    let d = m.deploy(apps, removed, force, false)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(Json(json!({"deploymentId": d.id, "version": d.version})))
}

async fn post_group(State(s): S, Query(q): Q, body: Bytes) -> Result<Response, MarathonError> {
    deploy_group(&s, "/", &body, &q, false)
        .await
        .map(|j| (StatusCode::CREATED, j).into_response())
}

async fn post_group_path(
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

async fn put_root_group(
    State(s): S,
    Query(q): Q,
    body: Bytes,
) -> Result<Json<Value>, MarathonError> {
    deploy_group(&s, "/", &body, &q, true).await
}

async fn put_group(
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

async fn delete_group(
    State(s): S,
    Path(rest): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, MarathonError> {
    let id = canonical_id(&rest, "/");
    let force = flag(&q, "force")?;
    let mut m = s.lock();
    let prefix = if id == "/" {
        "/".to_string()
    } else {
        format!("{id}/")
    };
    let removed: Vec<String> = m
        .apps
        .keys()
        .filter(|a| a.starts_with(&prefix))
        .cloned()
        .collect();
    if removed.is_empty() && id != "/" {
        return Err(MarathonError::NotFound(format!(
            "Group '{id}' does not exist"
        )));
    }
    let d = m.deploy(vec![], removed, force, false)?;
    let calls = m.reconcile_plans(crate::core::unix_now());
    drop(m);
    s.send(calls);
    Ok(Json(json!({"deploymentId": d.id, "version": d.version})))
}

// -------------------------------------------------------------------------------- events

async fn events(State(s): S, Query(q): Q, headers: HeaderMap) -> Response {
    let filter: Vec<String> = params(&q, "event_type")
        .into_iter()
        .map(String::from)
        .collect();
    let rx = s.lock().events.subscribe();
    let attached = json!({"remoteAddress": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default(), "eventType": "event_stream_attached", "timestamp": iso(crate::core::unix_now())});
    let first = futures_util::stream::iter(
        (filter.is_empty() || filter.iter().any(|f| f == "event_stream_attached")).then(|| {
            Ok::<_, std::convert::Infallible>(
                SseEvent::default()
                    .event("event_stream_attached")
                    .data(attached.to_string()),
            )
        }),
    );
    // A consumer that falls behind the bus is dropped rather than slowing anything down.
    let rest = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok((kind, body)) => {
                    if !filter.is_empty() && !filter.iter().any(|f| f == &kind) {
                        continue;
                    }
                    return Some((
                        Ok(SseEvent::default().event(kind).data(body.to_string())),
                        (rx, filter),
                    ));
                }
                Err(_) => return None,
            }
        }
    });
    use futures_util::StreamExt;
    Sse::new(first.chain(rest))
        .keep_alive(KeepAlive::default())
        .into_response()
}
