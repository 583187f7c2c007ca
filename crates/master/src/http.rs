//! HTTP edge of the master, and the driver of its core: decode a request, run the decision
//! through [`Shared::decide`] (which writes the registry ops it records before the answer goes
//! out), encode the answer. Full views are rendered from a snapshot on a blocking thread, not
//! under the master's lock. Streams (framework subscriptions, agent connections, operator
//! SUBSCRIBE) are channels drained into chunked responses; when a client goes away its channel
//! closes and the master is told.

use crate::core::{frame, Outbox};
use crate::{ApiError, Shared};
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drover_api::agent_protocol::{AgentCall, Register, CALL_PATH, REGISTER_PATH};
use drover_api::operator::{self, CallType as OpCall, ResponseType};
use drover_api::scheduler::{Call, CallType};
use drover_api::FrameworkID;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream_lite::ReceiverStream;

mod maintenance;
mod quota;
mod reservations;
mod weights;

type S = State<Arc<Shared>>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

/// A tiny adapter from an mpsc receiver to a `Stream`, so no extra crate is needed.
mod tokio_stream_lite {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    pub struct ReceiverStream<T>(pub tokio::sync::mpsc::UnboundedReceiver<T>);
    impl<T> futures_util::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

/// Runs its closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A streamed body that ends when the master drops its sender (TEARDOWN, failover) and calls
/// `gone` once the response is dropped (ended, or the client went away).
fn stream_body_then(
    rx: mpsc::UnboundedReceiver<Bytes>,
    gone: impl FnOnce() + Send + 'static,
) -> Body {
    let guard = OnDrop(Some(gone));
    Body::from_stream(ReceiverStream(rx).map(move |b| {
        let _keep = &guard;
        Ok::<_, std::convert::Infallible>(b)
    }))
}

pub fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.lock().cfg.max_body_bytes;
    let mut r = Router::new()
        .route("/api/v1/scheduler", post(scheduler))
        .route("/api/v1", post(operator_api))
        // pymesos' operator client posts here.
        .route("/api/v1/operator", post(operator_api))
        .route(REGISTER_PATH, post(agent_register))
        .route(CALL_PATH, post(agent_call))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/master/health", get(|| async { StatusCode::OK }))
        .route("/master/teardown", post(teardown))
        .route("/teardown", post(teardown))
        .route("/master/redirect", get(redirect))
        .route("/redirect", get(redirect));
    // Mesos serves each JSON endpoint under /master/x, /x, and both with .json.
    for name in [
        "state",
        "state-summary",
        "frameworks",
        "slaves",
        "tasks",
        "roles",
        "flags",
        "version",
    ] {
        // libprocess also tolerates a trailing slash (the Mesos CLI asks for /master/frameworks/).
        for path in [
            format!("/master/{name}"),
            format!("/{name}"),
            format!("/master/{name}.json"),
            format!("/{name}.json"),
        ] {
            r = r
                .route(&path, get(json_endpoint))
                .route(&format!("{path}/"), get(json_endpoint));
        }
    }
    for path in ["/metrics/snapshot", "/metrics/snapshot.json"] {
        r = r.route(path, get(metrics_snapshot));
    }
    r = quota::routes(r);
    r = maintenance::routes(r);
    r = reservations::routes(r);
    r = weights::routes(r);
    let (registry, requests) = crate::metrics::registry(&shared);
    r.route("/metrics", drover_metrics::endpoint(registry))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::map_response(
            move |resp: Response| async move { explain_too_large(resp, limit) },
        ))
        // Outermost: a master that does not lead redirects or refuses before anything else.
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::leadership::gate,
        ))
        // Counts every request, those the gate redirected or refused too.
        .layer(axum::middleware::from_fn_with_state(
            requests,
            drover_metrics::track,
        ))
        .with_state(shared)
}

/// The body limit layers answer 413 with a bare "length limit exceeded"; say which limit.
fn explain_too_large(resp: Response, limit: usize) -> Response {
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return resp;
    }
    let msg = format!("Request body is larger than the limit of {limit} bytes (--max-body-bytes)");
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

pub async fn background(shared: Arc<Shared>) {
    let interval =
        std::time::Duration::from_secs_f64(shared.lock().cfg.allocation_interval_secs.max(0.001));
    let s2 = shared.clone();
    tokio::spawn(async move {
        let mut last_hb = 0.0;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let now = s2.now();
            let hb = now - last_hb >= crate::core::HEARTBEAT_SECS;
            if hb {
                last_hb = now;
            }
            if s2.acting() {
                s2.decide(|m| m.tick(now, hb));
            }
        }
    });
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let periodic = tokio::select! {
            _ = ticker.tick() => true,
            _ = shared.alloc_notify.notified() => false,
        };
        if !periodic {
            // Let a burst of events (declines, finished tasks) land in one cycle.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        if !shared.acting() {
            continue;
        }
        allocation_cycle(&shared, shared.now(), periodic);
    }
}

/// Run an allocation cycle if it is time (`periodic`) or one is wanted, timed here (the core
/// reads no clock): the last one's time is in `/metrics/snapshot`, each one's in `/metrics`.
pub(crate) fn allocation_cycle(shared: &Shared, now: f64, periodic: bool) {
    let took = shared.decide(|m| {
        (periodic || m.allocation_wanted).then(|| {
            let started = std::time::Instant::now();
            m.allocate(now);
            let took = started.elapsed().as_secs_f64();
            m.counters.allocation_secs_last = took;
            took
        })
    });
    if let Some(t) = took {
        shared.allocation_cycles.observe(t);
    }
}

/// Render a view on a render thread (a full view of a big cluster takes a while to build and
/// encode; the runtime's threads keep serving meanwhile) and answer it as JSON.
async fn render_json<T: serde::Serialize>(
    s: &Shared,
    render: impl FnOnce() -> T + Send + 'static,
) -> Response {
    render_bytes(s, move || crate::render::to_json(&render(), 0)).await
}

/// `render_json` for a view that writes its own bytes.
async fn render_bytes(
    s: &Shared,
    render: impl FnOnce() -> serde_json::Result<Vec<u8>> + Send + 'static,
) -> Response {
    match s.render(render).await {
        Some(Ok(body)) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Some(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering the view failed",
        )
            .into_response(),
    }
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        // Mesos: a missing Content-Type is a bad request; an unsupported one is 415.
        None => Err(ApiError::MissingContentType),
        Some(ct) if ct.starts_with("application/json") => Ok(()),
        Some(ct) if ct.starts_with("application/x-protobuf") => Err(ApiError::ProtobufUnsupported),
        Some(ct) => Err(ApiError::UnsupportedContentType(ct.to_string())),
    }
}

fn check_accept(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(a)
            if a.contains("application/json") || a.contains("*/*") || a.contains("recordio") =>
        {
            Ok(())
        }
        Some(a) => Err(ApiError::NotAcceptable(a.to_string())),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &'static str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|cause| ApiError::UndecodableBody { what, cause })
}

async fn scheduler(State(s): S, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    check_json_content_type(&headers)?;
    check_accept(&headers)?;
    let call: Call = parse(&body, "Call")?;
    let now = s.now();
    if call.kind == CallType::SUBSCRIBE {
        if headers.contains_key("Mesos-Stream-Id") {
            return Err(ApiError::StreamIdOnSubscribe);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (fid, sid) = s.decide(|m| m.subscribe(&call, tx, now))?;
        // Only the master holds the sender: when it lets go (TEARDOWN, failover) the stream
        // ends, as in Mesos; when the client goes away the body is dropped and the master told.
        let watch = s.clone();
        let sid2 = sid.clone();
        let body = stream_body_then(rx, move || {
            let now = watch.now();
            watch.decide(|m| m.framework_disconnected(&fid, &sid2, now));
        });
        let mut resp = Response::new(body);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&sid) {
            h.insert("Mesos-Stream-Id", v);
        }
        return Ok(resp);
    }
    let sid = headers.get("Mesos-Stream-Id").and_then(|v| v.to_str().ok());
    s.decide(|m| m.scheduler_call(call, sid, now))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn agent_register(
    State(s): S,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reg: Register = parse(&body, "agent registration")?;
    let (tx, rx) = mpsc::unbounded_channel();
    let ip = reg
        .agent_info
        .hostname
        .parse::<std::net::IpAddr>()
        .map(|i| i.to_string())
        .unwrap_or(addr.ip().to_string());
    let now = s.now();
    let id = s.decide(|m| m.register_agent(reg, ip, tx, now))?;
    // Only the master holds the sender: a newer registration of the same agent replaces it and
    // this stream ends; when the agent goes away the body is dropped and the master told.
    let watch = s.clone();
    let (id, conn) = id;
    let body = stream_body_then(rx, move || {
        watch.decide(|m| m.agent_disconnected(&id, conn))
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/recordio"),
    );
    Ok(resp)
}

async fn agent_call(State(s): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let call: AgentCall = parse(&body, "agent call")?;
    let now = s.now();
    s.decide(|m| m.agent_calls(&call.agent_id, call.calls, now))?;
    Ok(StatusCode::ACCEPTED)
}

async fn redirect(State(s): S) -> Response {
    let m = s.lock();
    let loc = format!("//{}:{}", m.cfg.advertise_ip, m.info.port);
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, loc)]).into_response()
}

async fn json_endpoint(
    State(s): S,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = uri
        .path()
        .trim_end_matches('/')
        .trim_end_matches(".json")
        .trim_start_matches("/master")
        .trim_start_matches('/')
        .to_string();
    let now = s.now();
    let v = match path.as_str() {
        "state" | "state-summary" | "frameworks" | "slaves" | "tasks" => {
            // The full views: a snapshot under the lock, rendered after it is released.
            let snap = s.snapshot();
            let shared = s.clone();
            return render_bytes(&s, move || match path.as_str() {
                "state" => snap.v0_state_json(now, &shared.flags),
                "state-summary" => crate::render::to_json(&snap.v0_state_summary(), 0),
                "frameworks" => snap.v0_frameworks_json(q.get("framework_id").map(|s| s.as_str())),
                "slaves" => {
                    let mut v = snap.v0_slaves();
                    if let Some(id) = q.get("slave_id") {
                        if let Some(a) = v["slaves"].as_array_mut() {
                            a.retain(|f| f["id"] == id.as_str());
                        }
                    }
                    crate::render::to_json(&v, 0)
                }
                _ => {
                    let limit = q
                        .get("limit")
                        .and_then(|l| l.parse::<i64>().ok())
                        .or(Some(100));
                    let offset = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let desc = q
                        .get("order")
                        .map(|o| o == "des" || o == "desc")
                        .unwrap_or(true);
                    snap.v0_tasks_json(
                        limit,
                        offset,
                        desc,
                        q.get("framework_id").map(|s| s.as_str()),
                        q.get("task_id").map(|s| s.as_str()),
                    )
                }
            })
            .await;
        }
        "roles" => {
            let roles = s.lock().role_views();
            crate::views::v0_roles(roles)
        }
        "flags" => json!({ "flags": s.flags }),
        "version" => {
            json!({"version": drover_api::MESOS_COMPAT_VERSION, "drover_version": env!("CARGO_PKG_VERSION"), "build_user": "drover", "build_date": "", "build_time": 0, "git_sha": ""})
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Json(v).into_response()
}

/// `POST /master/teardown` with the form `frameworkId=<id>` (any Content-Type, or none: the dcos
/// CLI sends none).
async fn teardown(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    // A body that is not a form has no frameworkId in it either.
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let id = form
        .into_iter()
        .find(|(k, _)| k == "frameworkId")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingField("frameworkId"))?;
    let id = FrameworkID::new(id);
    let now = s.now();
    s.decide(|m| m.teardown(&id, now))?;
    Ok(StatusCode::OK.into_response())
}

async fn metrics_snapshot(State(s): S) -> Json<Value> {
    let now = s.now();
    let map: serde_json::Map<String, Value> = s
        .metrics(now)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    Json(Value::Object(map))
}

async fn operator_api(State(s): S, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    check_json_content_type(&headers)?;
    check_accept(&headers)?;
    let call: operator::Call = parse(&body, "master::Call")?;
    let now = s.now();
    let resp = |kind: ResponseType| operator::Response::new(kind);
    let out = match call.kind {
        OpCall::GET_HEALTH => {
            let mut r = resp(ResponseType::GET_HEALTH);
            r.get_health = Some(operator::GetHealth { healthy: true });
            r
        }
        OpCall::GET_VERSION => {
            let mut r = resp(ResponseType::GET_VERSION);
            r.get_version = Some(operator::GetVersion {
                version_info: operator::VersionInfo {
                    version: drover_api::MESOS_COMPAT_VERSION.into(),
                    build_date: None,
                    git_sha: None,
                },
            });
            r
        }
        OpCall::GET_FLAGS => {
            let mut r = resp(ResponseType::GET_FLAGS);
            let flags = s
                .flags
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| operator::Flag {
                            name: k.clone(),
                            value: v.as_str().map(String::from).unwrap_or(v.to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            r.get_flags = Some(operator::GetFlags { flags });
            r
        }
        OpCall::GET_METRICS => {
            let mut r = resp(ResponseType::GET_METRICS);
            r.get_metrics = Some(operator::GetMetrics {
                metrics: s
                    .metrics(now)
                    .into_iter()
                    .map(|(name, value)| operator::Metric { name, value })
                    .collect(),
            });
            r
        }
        OpCall::GET_STATE => {
            let snap = s.snapshot();
            return Ok(render_json(&s, move || {
                let mut r = resp(ResponseType::GET_STATE);
                r.get_state = Some(snap.get_state());
                r
            })
            .await);
        }
        OpCall::GET_AGENTS => {
            let snap = s.snapshot();
            return Ok(render_json(&s, move || {
                let mut r = resp(ResponseType::GET_AGENTS);
                r.get_agents = Some(snap.get_agents());
                r
            })
            .await);
        }
        OpCall::GET_FRAMEWORKS => {
            let snap = s.snapshot();
            return Ok(render_json(&s, move || {
                let mut r = resp(ResponseType::GET_FRAMEWORKS);
                r.get_frameworks = Some(snap.get_frameworks());
                r
            })
            .await);
        }
        OpCall::GET_EXECUTORS => {
            let snap = s.snapshot();
            return Ok(render_json(&s, move || {
                let mut r = resp(ResponseType::GET_EXECUTORS);
                r.get_executors = Some(snap.get_executors());
                r
            })
            .await);
        }
        OpCall::GET_TASKS => {
            let snap = s.snapshot();
            return Ok(render_json(&s, move || {
                let mut r = resp(ResponseType::GET_TASKS);
                r.get_tasks = Some(snap.get_tasks());
                r
            })
            .await);
        }
        OpCall::GET_ROLES => {
            let mut r = resp(ResponseType::GET_ROLES);
            r.get_roles = Some(operator::GetRoles {
                roles: s.lock().role_list(),
            });
            r
        }
        OpCall::GET_MASTER => {
            let mut r = resp(ResponseType::GET_MASTER);
            r.get_master = Some(operator::GetMaster {
                master_info: s.lock().info.clone(),
            });
            r
        }
        OpCall::GET_WEIGHTS | OpCall::UPDATE_WEIGHTS => {
            return weights::operator_call(&s, &call);
        }
        OpCall::TEARDOWN => {
            let id = call
                .rest
                .get("teardown")
                .and_then(|g| g.get("framework_id"))
                .and_then(|a| a.get("value"))
                .and_then(|v| v.as_str())
                .ok_or(ApiError::MissingField("teardown.framework_id"))?;
            let id = FrameworkID::new(id);
            let now = s.now();
            s.decide(|m| m.teardown(&id, now))?;
            return Ok(StatusCode::OK.into_response());
        }
        OpCall::MARK_AGENT_GONE => {
            let id = call
                .rest
                .get("mark_agent_gone")
                .and_then(|g| g.get("agent_id"))
                .and_then(|a| a.get("value"))
                .and_then(|v| v.as_str())
                .ok_or(ApiError::MissingField("mark_agent_gone.agent_id"))?;
            let id = drover_api::AgentID::new(id);
            let now = s.now();
            s.decide(|m| m.mark_agent_gone(&id, now))?;
            return Ok(StatusCode::OK.into_response());
        }
        OpCall::DEACTIVATE_AGENT | OpCall::REACTIVATE_AGENT => {
            let field = if call.kind == OpCall::DEACTIVATE_AGENT {
                "deactivate_agent"
            } else {
                "reactivate_agent"
            };
            let id = call
                .rest
                .get(field)
                .and_then(|g| g.get("agent_id"))
                .and_then(|a| a.get("value"))
                .and_then(|v| v.as_str())
                .ok_or(ApiError::MissingField(if field == "deactivate_agent" {
                    "deactivate_agent.agent_id"
                } else {
                    "reactivate_agent.agent_id"
                }))?;
            let id = drover_api::AgentID::new(id);
            let now = s.now();
            if call.kind == OpCall::DEACTIVATE_AGENT {
                s.decide(|m| m.deactivate_agent(&id, now))?;
            } else {
                s.decide(|m| m.reactivate_agent(&id))?;
            }
            return Ok(StatusCode::OK.into_response());
        }
        OpCall::GET_MAINTENANCE_STATUS
        | OpCall::GET_MAINTENANCE_SCHEDULE
        | OpCall::UPDATE_MAINTENANCE_SCHEDULE
        | OpCall::START_MAINTENANCE
        | OpCall::STOP_MAINTENANCE
        | OpCall::DRAIN_AGENT => {
            return maintenance::operator_call(&s, &call);
        }
        OpCall::GET_QUOTA | OpCall::UPDATE_QUOTA | OpCall::SET_QUOTA | OpCall::REMOVE_QUOTA => {
            return quota::operator_call(&s, &call);
        }
        OpCall::RESERVE_RESOURCES
        | OpCall::UNRESERVE_RESOURCES
        | OpCall::CREATE_VOLUMES
        | OpCall::DESTROY_VOLUMES => {
            return reservations::operator_call(&s, &call).map(IntoResponse::into_response);
        }
        OpCall::SUBSCRIBE => {
            let (tx, rx): (Outbox, _) = mpsc::unbounded_channel();
            // The stream is registered with the state it starts from under one lock: events
            // after the snapshot queue behind SUBSCRIBED, which is rendered after the lock.
            let snap = {
                let mut m = s.lock();
                m.operator_streams.push(tx);
                m.snapshot()
            };
            let subscribed = s.render(move || {
                frame(&json!({"type": "SUBSCRIBED", "subscribed": {"get_state": snap.get_state(), "heartbeat_interval_seconds": crate::core::HEARTBEAT_SECS}}))
            })
            .await;
            let Some(subscribed) = subscribed else {
                return Ok((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "rendering the state failed",
                )
                    .into_response());
            };
            let events = ReceiverStream(rx);
            let body = Body::from_stream(
                futures_util::stream::once(async move { subscribed })
                    .chain(events)
                    .map(Ok::<_, std::convert::Infallible>),
            );
            let mut r = Response::new(body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Ok(r);
        }
        other => {
            return Err(ApiError::OperatorCallUnsupported(other));
        }
    };
    Ok(Json(out).into_response())
}
