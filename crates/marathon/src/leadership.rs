//! Several Marathons, one leader (`--zk zk://…/marathon`).
//!
//! Each Marathon joins a Curator-compatible latch at `<path>/leader-curator` (member data: its
//! `host:port`). The leader loads its state from ZooKeeper (`<path>/state`, written only with its
//! latch node as a fence) and runs the deciding loops (the framework link to the master, health
//! checks, plans); it adds `X-Marathon-Leader` to every answer. The others run nothing: they
//! proxy API calls to the leader (`X-Marathon-Via`, loop detection, `X-Forwarded-For`), redirect
//! `/v2/events` to it, and say who leads at `/v2/leader`. A leader that loses its connection to
//! ZooKeeper stops deciding and refuses writes (503) until it is back; one whose session
//! expires becomes a follower and drops its state. No task is touched by any of this: the next
//! leader finds the instances in ZooKeeper and reconciles them with the master.

use crate::{Marathon, Shared};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drover_zk::{Contender, Layout, Role, Sessions, ZkStore};
use futures_util::TryStreamExt;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where this Marathon stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Standing {
    Leading,
    Suspended,
    /// `leader`: the leader's `host:port`, when one is known.
    Following {
        leader: Option<String>,
    },
}

/// How a Marathon takes part in an HA group.
#[derive(Clone)]
pub struct Ha {
    /// Sessions at the group's path (`/marathon`).
    pub sessions: Sessions,
}

impl Ha {
    fn latch(&self) -> Result<Sessions, drover_zk::ZkError> {
        let url = self.sessions.url();
        Sessions::new(
            url.with_path(&format!("{}/leader-curator", url.path)),
            self.sessions.timeout(),
        )
    }
    fn state_root(&self) -> String {
        format!("{}/state", self.sessions.url().path)
    }
}

impl Shared {
    pub fn standing(&self) -> Standing {
        self.standing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_standing(&self, s: Standing) {
        *self.standing.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// The `--zk` URL (without its password), when this Marathon runs an election.
    pub fn ha_url(&self) -> Option<String> {
        self.ha.as_ref().map(|h| h.sessions.url().to_string())
    }

    /// Step down (`DELETE /v2/leader`): false when this Marathon does not lead.
    pub fn abdicate(&self) -> bool {
        match (&self.standing(), self.contender.get()) {
            (Standing::Leading, Some(c)) => {
                c.abdicate();
                true
            }
            _ => false,
        }
    }

    /// Replace the core (a new term's, or an empty one when leadership ends).
    fn install(&self, mut m: Marathon) {
        m.service_port_range = self.cfg.service_ports;
        m.framework_template = crate::framework::framework_template(&self.cfg);
        let old = std::mem::replace(&mut *self.m.lock().unwrap_or_else(|e| e.into_inner()), m);
        drop(old);
    }
}

/// Contend for leadership and act on what the latch says, for as long as Marathon runs.
pub async fn run(shared: Arc<Shared>, ha: Ha, http: reqwest::Client) {
    let latch = match ha.latch() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("marathon election: {e}");
            return;
        }
    };
    let contender = Contender::start(
        latch,
        Layout::CuratorLatch,
        shared.cfg.advertise.clone().into_bytes(),
    );
    let mut role = contender.role();
    if shared.contender.set(contender).is_err() {
        tracing::error!("marathon election started twice");
        return;
    }
    let mut term: Option<u64> = None;
    // Write failures when the state was loaded: a term in which a write failed reloads its
    // state from ZooKeeper before it decides again (memory may hold a change that is not there).
    let mut failures_at_load = 0;
    loop {
        let now = role.borrow_and_update().clone();
        let failed = shared
            .write_failures
            .load(std::sync::atomic::Ordering::SeqCst)
            != failures_at_load;
        match now {
            Role::Leading(t) if term == Some(t.number) && !failed => {
                if !shared.deciding() {
                    tracing::info!("marathon: connection to ZooKeeper back; leading again");
                    shared.start_deciding(&http);
                }
                shared.set_standing(Standing::Leading);
            }
            Role::Leading(t) => {
                shared.stop_deciding();
                if term.is_some() {
                    // A reload within the term (a write failed): nothing is decided and no
                    // change is taken until the state is read back — the term is over until then.
                    tracing::warn!(
                        "marathon: reloading the state from ZooKeeper; not deciding until it is back"
                    );
                    shared.set_standing(Standing::Suspended);
                }
                let store: Arc<dyn drover_store::Store> = Arc::new(ZkStore::new(
                    ha.sessions.clone(),
                    t.client.clone(),
                    &ha.state_root(),
                    Some(t.node.clone()),
                ));
                let role_name = shared.cfg.role.clone();
                // Counted before the read: a failure during it makes the next turn read again.
                let at_load = shared
                    .write_failures
                    .load(std::sync::atomic::Ordering::SeqCst);
                match tokio::task::spawn_blocking(move || Marathon::new(store, role_name)).await {
                    Ok(Ok(m)) => {
                        failures_at_load = at_load;
                        tracing::info!(
                            "marathon: elected leader (term {}); {} apps, {} instances loaded from ZooKeeper",
                            t.number,
                            m.apps.len(),
                            m.instances.len()
                        );
                        shared.install(m);
                        term = Some(t.number);
                        shared.set_standing(Standing::Leading);
                        shared.start_deciding(&http);
                    }
                    other => {
                        let why = match other {
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                            Ok(Ok(_)) => String::new(),
                        };
                        // Not deciding (stopped above), and `failures_at_load` is left as it
                        // was, so the next turn reads the state again rather than deciding on
                        // what memory holds.
                        tracing::error!(
                            "marathon: elected, but loading the state failed: {why}; retrying"
                        );
                        shared.set_standing(Standing::Suspended);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            Role::Suspended(_) => {
                tracing::warn!(
                    "marathon: lost the connection to ZooKeeper; not deciding until it is back"
                );
                shared.stop_deciding();
                shared.set_standing(Standing::Suspended);
            }
            Role::Follower { leader } => {
                shared.stop_deciding();
                if term.take().is_some() {
                    tracing::warn!("marathon: no longer the leader");
                    match Marathon::new(
                        Arc::new(drover_store::MemoryStore::default()),
                        shared.cfg.role.clone(),
                    ) {
                        Ok(m) => shared.install(m),
                        Err(e) => tracing::error!("marathon: resetting the state: {e}"),
                    }
                }
                let leader = leader.and_then(|d| String::from_utf8(d).ok());
                shared.set_standing(Standing::Following { leader });
            }
        }
        // Woken by the election, or every second to see whether a write failed meanwhile
        // (then the state is reloaded: memory may hold a change the store does not).
        let failures = shared
            .write_failures
            .load(std::sync::atomic::Ordering::SeqCst);
        loop {
            tokio::select! {
                r = role.changed() => {
                    if r.is_err() {
                        return;
                    }
                    break;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    let now = shared.write_failures.load(std::sync::atomic::Ordering::SeqCst);
                    if now != failures && term.is_some() {
                        tracing::warn!("marathon: a write to ZooKeeper failed; reloading the state");
                        break;
                    }
                }
            }
        }
    }
}

fn message(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({ "message": msg }))).into_response()
}

/// Paths every Marathon answers itself (its own metrics for Prometheus among them).
fn local(method: &Method, path: &str) -> bool {
    path == "/ping"
        || path == "/metrics/prometheus"
        || (path == "/v2/leader" && method == Method::GET)
}

/// Headers that belong to one connection, not to the request or answer passed on.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// Serve, proxy, redirect or refuse a request by where this Marathon stands.
pub async fn gate(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if s.ha.is_none() {
        return answer_if_written(&s, req, next).await;
    }
    let mut standing = s.standing();
    if local(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    // No leader known: Marathon retries for a while before it gives up.
    for _ in 0..10 {
        if standing != (Standing::Following { leader: None }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        standing = s.standing();
    }
    match standing {
        Standing::Leading => {
            let mut resp = answer_if_written(&s, req, next).await;
            if let Ok(v) = HeaderValue::from_str(&format!("http://{}", s.cfg.advertise)) {
                resp.headers_mut().insert("X-Marathon-Leader", v);
            }
            resp
        }
        Standing::Suspended if req.method() == Method::GET => next.run(req).await,
        Standing::Suspended => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "This Marathon lost its connection to ZooKeeper and cannot prove that it still leads; retry shortly",
        ),
        Standing::Following { leader: None } => message(
            StatusCode::BAD_GATEWAY,
            "Could not determine the current leader",
        ),
        Standing::Following {
            leader: Some(leader),
        } => {
            if req.uri().path() == "/v2/events" {
                let pq = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/v2/events");
                return (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, format!("http://{leader}{pq}"))],
                )
                    .into_response();
            }
            proxy(&s, &leader, peer, req).await
        }
    }
}

/// Run a request; if it changed something whose durable write failed meanwhile (the store is
/// unreachable, or this Marathon was deposed and its write fenced off), answer 503 rather than
/// report a change that may not survive.
async fn answer_if_written(s: &Shared, req: Request, next: Next) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let before = s.write_failures.load(SeqCst);
    let resp = next.run(req).await;
    if resp.status().is_success() && s.write_failures.load(SeqCst) != before {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "The change could not be stored (the store is unreachable, or this Marathon no longer leads); retry",
        );
    }
    resp
}

/// Pass a request to the leader and its answer back, streamed.
async fn proxy(s: &Shared, leader: &str, peer: SocketAddr, req: Request) -> Response {
    let me = format!("1.1 {}", s.cfg.advertise);
    let via: Vec<String> = req
        .headers()
        .get_all("X-Marathon-Via")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|x| x.trim().to_string()))
        .collect();
    if via.contains(&me) {
        return message(StatusCode::BAD_GATEWAY, "Detected proxying loop.");
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, s.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return message(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "Request body could not be read (limit {} bytes): {e}",
                    s.cfg.max_body_bytes
                ),
            )
        }
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("http://{leader}{pq}");
    let mut headers = HeaderMap::new();
    for (k, v) in parts.headers.iter() {
        if !hop_by_hop(k) && k.as_str() != "x-forwarded-for" {
            headers.append(k.clone(), v.clone());
        }
    }
    let forwarded = match parts
        .headers
        .get("X-Forwarded-For")
        .and_then(|v| v.to_str().ok())
    {
        Some(f) => format!("{f}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert("X-Forwarded-For", v);
    }
    if let Ok(v) = HeaderValue::from_str(&me) {
        headers.append("X-Marathon-Via", v);
    }
    let sent = s
        .proxy_http
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let mut resp = Response::builder().status(r.status());
            for (k, v) in r.headers() {
                if !hop_by_hop(k) {
                    resp = resp.header(k, v);
                }
            }
            let stream = r.bytes_stream().map_err(std::io::Error::other);
            resp.body(Body::from_stream(stream)).unwrap_or_else(|e| {
                message(
                    StatusCode::BAD_GATEWAY,
                    &format!("proxying to the leader {leader}: {e}"),
                )
            })
        }
        Err(e) => message(
            StatusCode::BAD_GATEWAY,
            &format!("proxying to the leader {leader} failed: {e}"),
        ),
    }
}
