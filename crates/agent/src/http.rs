//! The agent's HTTP edge: the v1 executor API, `/state`, `/monitor/statistics`,
//! `/metrics/snapshot` (and `/metrics` for Prometheus, `crate::metrics`), and the sandbox file
//! browser (`/files/browse|read|download`), which never serves a path outside the
//! sandboxes (403).

use crate::agent::{Agent, ExecutorCallError};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drover_api::executor as ex;
use drover_api::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

type S = State<Arc<Agent>>;

/// Why a request was refused: the response's text, with its status from [`Refusal::status`].
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("Expecting 'Content-Type' of application/json")]
    NotJson,
    #[error("Failed to parse body into executor::Call: {0}")]
    BadCall(serde_json::Error),
    /// The agent refused an executor's SUBSCRIBE or UPDATE.
    #[error("{0}")]
    Executor(#[from] ExecutorCallError),
    /// A call without the message its type needs (`update`, `message`).
    #[error("Expecting '{0}' to be present")]
    Missing(&'static str),
    #[error("Unknown executor call type")]
    UnknownCall,
    /// A file browser path that is outside the sandboxes, or would be if it existed.
    #[error("'{0}' is outside the sandboxes")]
    OutsideSandboxes(String),
    #[error("'{0}' does not exist")]
    NoSuchPath(String),
    #[error("not a directory")]
    NotADirectory,
    #[error("no such file")]
    NoSuchFile,
    #[error("Cannot read a directory")]
    IsADirectory,
    /// `offset` or `length` of `/files/read` is not a number.
    #[error("Failed to parse {0}")]
    NotANumber(&'static str),
    #[error("offset beyond the file")]
    OffsetBeyondFile,
    /// The file could not be opened or read.
    #[error("{0}")]
    Unreadable(std::io::Error),
}

impl Refusal {
    /// Each refusal's status, here and nowhere else.
    fn status(&self) -> StatusCode {
        match self {
            Refusal::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::BadCall(_)
            | Refusal::Executor(_)
            | Refusal::Missing(_)
            | Refusal::UnknownCall
            | Refusal::IsADirectory
            | Refusal::NotANumber(_)
            | Refusal::OffsetBeyondFile => StatusCode::BAD_REQUEST,
            Refusal::OutsideSandboxes(_) => StatusCode::FORBIDDEN,
            Refusal::NoSuchPath(_)
            | Refusal::NotADirectory
            | Refusal::NoSuchFile
            | Refusal::Unreadable(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

pub fn router(agent: Arc<Agent>) -> Router {
    let limit = agent.cfg.max_body_bytes;
    let mut r = Router::new()
        .route("/api/v1/executor", post(executor_api))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/files/browse", get(files_browse))
        .route("/files/browse.json", get(files_browse))
        .route("/files/read", get(files_read))
        .route("/files/read.json", get(files_read))
        .route("/files/download", get(files_download))
        .route("/files/download.json", get(files_download));
    for p in [
        "/state",
        "/state.json",
        "/slave(1)/state",
        "/slave(1)/state.json",
    ] {
        r = r.route(p, get(state));
    }
    for p in ["/monitor/statistics", "/monitor/statistics.json"] {
        r = r.route(p, get(statistics));
    }
    for p in ["/metrics/snapshot", "/metrics/snapshot.json"] {
        r = r.route(p, get(metrics_snapshot));
    }
    let (registry, requests) = crate::metrics::registry(&agent);
    r.route("/metrics", drover_metrics::endpoint(registry))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::from_fn_with_state(
            requests,
            drover_metrics::track,
        ))
        .with_state(agent)
}

struct RxStream(mpsc::UnboundedReceiver<Bytes>);
impl futures_util::Stream for RxStream {
    type Item = Bytes;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        self.0.poll_recv(cx)
    }
}

async fn executor_api(State(a): S, headers: HeaderMap, body: Bytes) -> Response {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) if ct.starts_with("application/json") => {}
        _ => return Refusal::NotJson.into_response(),
    }
    let call: ex::Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return Refusal::BadCall(e).into_response(),
    };
    match call.kind {
        ex::CallType::SUBSCRIBE => {
            let (tx, rx) = mpsc::unbounded_channel();
            if let Err(m) = a.executor_subscribe(
                &call.framework_id,
                &call.executor_id,
                call.subscribe.unwrap_or_default(),
                tx.clone(),
            ) {
                return Refusal::from(m).into_response();
            }
            let watch = a.clone();
            let (fid, eid) = (call.framework_id.clone(), call.executor_id.clone());
            tokio::spawn(async move {
                tx.closed().await;
                watch.executor_disconnected(&fid, &eid, &tx);
            });
            let mut resp = Response::new(Body::from_stream(
                RxStream(rx).map(Ok::<_, std::convert::Infallible>),
            ));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        ex::CallType::UPDATE => {
            let Some(u) = call.update else {
                return Refusal::Missing("update").into_response();
            };
            match a.executor_update(&call.framework_id, &call.executor_id, u.status) {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(m) => Refusal::from(m).into_response(),
            }
        }
        ex::CallType::MESSAGE => {
            let Some(m) = call.message else {
                return Refusal::Missing("message").into_response();
            };
            a.executor_message(call.framework_id, call.executor_id, m.data);
            StatusCode::ACCEPTED.into_response()
        }
        ex::CallType::HEARTBEAT => StatusCode::ACCEPTED.into_response(),
        ex::CallType::UNKNOWN => Refusal::UnknownCall.into_response(),
    }
}

fn v0_task(fid: &FrameworkID, t: &TaskInfo, state: TaskState, eid: &str, agent_id: &str) -> Value {
    json!({
        "id": t.task_id.value, "name": t.name, "framework_id": fid.value, "executor_id": eid,
        "slave_id": agent_id, "state": state,
        "resources": Value::Object(Resources::from_list(&t.resources).to_v0_map()),
    })
}

async fn state(State(a): S) -> Json<Value> {
    let (isolation, containerizers) = a.isolation();
    let st = a.lock();
    let agent_id = st.id.clone().map(|i| i.value).unwrap_or_default();
    let mut frameworks: HashMap<FrameworkID, Vec<Value>> = HashMap::new();
    // Executors: custom ones, plus one per command task (Mesos' command executor).
    for x in st.executors.values() {
        let tasks: Vec<Value> = st
            .tasks
            .values()
            .filter(|t| {
                t.framework_id == x.framework_id
                    && t.executor_id.as_ref() == Some(&x.info.executor_id)
            })
            .map(|t| {
                v0_task(
                    &t.framework_id,
                    &t.info,
                    t.state,
                    &x.info.executor_id.value,
                    &agent_id,
                )
            })
            .collect();
        let queued: Vec<Value> = x
            .queued
            .iter()
            .map(|t| {
                v0_task(
                    &x.framework_id,
                    t,
                    TaskState::TASK_STAGING,
                    &x.info.executor_id.value,
                    &agent_id,
                )
            })
            .collect();
        frameworks
            .entry(x.framework_id.clone())
            .or_default()
            .push(json!({
                "id": x.info.executor_id.value, "name": x.info.name.clone().unwrap_or_default(),
                "source": x.info.source.clone().unwrap_or_default(), "container": x.container_id,
                "directory": x.sandbox.display().to_string(),
                "resources": Value::Object(Resources::from_list(&x.info.resources).to_v0_map()),
                "tasks": tasks, "queued_tasks": queued, "completed_tasks": [],
            }));
    }
    for t in st.tasks.values().filter(|t| t.executor_id.is_none()) {
        frameworks.entry(t.framework_id.clone()).or_default().push(json!({
            "id": t.info.task_id.value, "name": format!("Command Executor (Task: {})", t.info.task_id.value),
            "source": t.info.task_id.value, "container": t.container_id,
            "directory": t.sandbox.display().to_string(),
            "resources": Value::Object(Resources::from_list(&t.info.resources).to_v0_map()),
            "tasks": [v0_task(&t.framework_id, &t.info, t.state, &t.info.task_id.value, &agent_id)],
            "queued_tasks": [], "completed_tasks": [],
        }));
    }
    let mut completed_by_fw: HashMap<FrameworkID, Vec<Value>> = HashMap::new();
    for c in &st.completed {
        completed_by_fw.entry(c.framework_id.clone()).or_default().push(json!({
            "id": c.executor_id.value, "name": "", "source": "", "directory": c.sandbox.display().to_string(),
            "tasks": [], "queued_tasks": [],
            "completed_tasks": [v0_task(&c.framework_id, &c.info, c.state, &c.executor_id.value, &agent_id)],
        }));
    }
    let mut fids: Vec<FrameworkID> = frameworks
        .keys()
        .chain(completed_by_fw.keys())
        .cloned()
        .collect();
    fids.sort();
    fids.dedup();
    let fw_json: Vec<Value> = fids
        .iter()
        .map(|fid| {
            let info = st.frameworks.get(fid).cloned().unwrap_or_default();
            json!({
                "id": fid.value, "name": info.name, "user": info.user,
                "role": info.role.clone().unwrap_or_else(|| "*".into()),
                "executors": frameworks.get(fid).cloned().unwrap_or_default(),
                "completed_executors": completed_by_fw.get(fid).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let attributes: serde_json::Map<String, Value> = st
        .info
        .attributes
        .iter()
        .map(|x| (x.name.clone(), json!(x.value_string())))
        .collect();
    Json(json!({
        "version": MESOS_COMPAT_VERSION,
        "id": agent_id,
        "pid": format!("slave(1)@{}:{}", a.cfg.advertise_ip, a.cfg.port),
        "hostname": st.info.hostname,
        "resources": Value::Object(Resources::from_list(&st.info.resources).to_v0_map()),
        "attributes": attributes,
        "master_hostname": st.master.clone().unwrap_or_default(),
        "start_time": a.start_unix,
        "flags": {"work_dir": a.cfg.work_dir.display().to_string(), "master": a.cfg.master, "port": a.cfg.port.to_string(),
                  "isolation": isolation, "containerizers": containerizers},
        "frameworks": fw_json,
        "completed_frameworks": [],
    }))
}

async fn metrics_snapshot(State(a): S) -> Json<Value> {
    let map: serde_json::Map<String, Value> = a
        .metrics()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    Json(Value::Object(map))
}

async fn statistics(State(a): S) -> Json<Value> {
    Json(Value::Array(a.statistics().await))
}

/// Resolve a requested path to a real path inside the sandboxes root, or refuse.
fn confine(a: &Agent, path: Option<&String>) -> Result<PathBuf, Refusal> {
    let Some(p) = path.filter(|p| !p.is_empty()) else {
        return Err(Refusal::Missing("path"));
    };
    let root = a.cfg.work_dir.join("slaves");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let real = match std::fs::canonicalize(Path::new(p)) {
        Ok(r) => r,
        Err(_) => {
            // Say 403 for anything outside even when it does not exist, so nothing is probed.
            let lexical = Path::new(p);
            if !lexical.starts_with(&root) || p.contains("..") {
                return Err(Refusal::OutsideSandboxes(p.clone()));
            }
            return Err(Refusal::NoSuchPath(p.clone()));
        }
    };
    if !real.starts_with(&root) {
        return Err(Refusal::OutsideSandboxes(p.clone()));
    }
    Ok(real)
}

async fn files_browse(State(a): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let dir = match confine(&a, q.get("path")) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Refusal::NotADirectory.into_response();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        use std::os::unix::fs::MetadataExt;
        out.push(json!({
            "path": e.path().display().to_string(), "size": m.len(), "nlink": m.nlink(), "mode": format!("{:o}", m.mode()),
            "mtime": m.mtime(), "uid": m.uid().to_string(), "gid": m.gid().to_string(),
        }));
    }
    Json(Value::Array(out)).into_response()
}

async fn files_read(State(a): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let file = match confine(&a, q.get("path")) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let Ok(meta) = std::fs::metadata(&file) else {
        return Refusal::NoSuchFile.into_response();
    };
    if meta.is_dir() {
        return Refusal::IsADirectory.into_response();
    }
    let size = meta.len() as i64;
    let offset: i64 = match q.get("offset").map(|o| o.parse::<i64>()) {
        None => -1,
        Some(Ok(o)) => o,
        Some(Err(_)) => return Refusal::NotANumber("offset").into_response(),
    };
    let length: i64 = match q.get("length").map(|o| o.parse::<i64>()) {
        None => -1,
        Some(Ok(o)) => o,
        Some(Err(_)) => return Refusal::NotANumber("length").into_response(),
    };
    // Mesos: offset -1 means "tell me the size".
    if offset < 0 {
        return Json(json!({"data": "", "offset": size})).into_response();
    }
    let len = if length < 0 {
        (size - offset).clamp(0, 1 << 20)
    } else {
        length.min(1 << 20)
    };
    let data = match std::fs::File::open(&file) {
        Ok(mut f) => {
            use std::io::{Read, Seek, SeekFrom};
            let mut buf = vec![0u8; len.max(0) as usize];
            if f.seek(SeekFrom::Start(offset as u64)).is_err() {
                return Refusal::OffsetBeyondFile.into_response();
            }
            let n = f.read(&mut buf).unwrap_or(0);
            buf.truncate(n);
            buf
        }
        Err(e) => return Refusal::Unreadable(e).into_response(),
    };
    Json(json!({"data": String::from_utf8_lossy(&data), "offset": offset})).into_response()
}

async fn files_download(State(a): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let file = match confine(&a, q.get("path")) {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    match tokio::fs::read(&file).await {
        Ok(b) => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                b,
            )
                .into_response()
        }
        Err(e) => Refusal::Unreadable(e).into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What an executor or a file browser reads, and the status it comes with.
    #[test]
    fn refusals_keep_their_texts_and_statuses() {
        let bad_json = serde_json::from_str::<Value>("{").unwrap_err();
        let cases = [
            (
                Refusal::NotJson,
                415,
                "Expecting 'Content-Type' of application/json",
            ),
            (
                Refusal::BadCall(bad_json),
                400,
                "Failed to parse body into executor::Call: EOF while parsing an object at line 1 column 1",
            ),
            (
                Refusal::Executor(ExecutorCallError::BadUuid),
                400,
                "'update.status.uuid' must be a 16-byte UUID",
            ),
            (
                Refusal::Missing("update"),
                400,
                "Expecting 'update' to be present",
            ),
            (
                Refusal::Missing("path"),
                400,
                "Expecting 'path' to be present",
            ),
            (Refusal::UnknownCall, 400, "Unknown executor call type"),
            (
                Refusal::OutsideSandboxes("/etc/passwd".into()),
                403,
                "'/etc/passwd' is outside the sandboxes",
            ),
            (
                Refusal::NoSuchPath("/w/slaves/x".into()),
                404,
                "'/w/slaves/x' does not exist",
            ),
            (Refusal::NotADirectory, 404, "not a directory"),
            (Refusal::NoSuchFile, 404, "no such file"),
            (Refusal::IsADirectory, 400, "Cannot read a directory"),
            (
                Refusal::NotANumber("offset"),
                400,
                "Failed to parse offset",
            ),
            (
                Refusal::NotANumber("length"),
                400,
                "Failed to parse length",
            ),
            (Refusal::OffsetBeyondFile, 400, "offset beyond the file"),
            (
                Refusal::Unreadable(std::io::Error::from_raw_os_error(13)),
                404,
                "Permission denied (os error 13)",
            ),
        ];
        for (refusal, status, text) in cases {
            assert_eq!(refusal.status().as_u16(), status, "{refusal:?}");
            assert_eq!(refusal.to_string(), text, "{refusal:?}");
        }
        let r = Refusal::NoSuchFile.into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
