//! Which master leads, and what a master that does not lead answers.
//!
//! With the embedded store a master always leads. With `--zk` it contends in Mesos' group
//! (`json.info_` nodes holding its MasterInfo JSON) and follows what the contender says:
//! - **leading**: a new term recovers the registry from ZooKeeper (written from then on only
//!   with the term's election node as a fence) and starts from it, as a restarted Mesos master
//!   does: agents re-register with their tasks, frameworks re-subscribe with their ids;
//! - **suspended** (it led, and lost its connection to ZooKeeper): no offers, no writes — calls
//!   that need the leader get 503 with the reason — but reads of what it knows are served, and
//!   when the connection comes back in the same session it leads on with its state intact;
//! - **following**: API calls are redirected to the leader (307, `Location: //ip:port/path`),
//!   or refused with 503 while no leader is elected; a master that stops leading drops every
//!   framework and agent stream, so they find the new leader.

use crate::core::{RandomIds, Recovered};
use crate::registry::Registry;
use crate::{Master, Shared};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drover_api::MasterInfo;
use drover_zk::{Contender, Layout, Role, Sessions, ZkStore};
use std::sync::Arc;
use std::time::Duration;

/// Where this master stands.
#[derive(Clone, Debug)]
pub enum Standing {
    Leading,
    Suspended,
    Following { leader: Option<MasterInfo> },
}

/// How a master takes part in an HA cluster.
#[derive(Clone)]
pub struct Ha {
    pub sessions: Sessions,
    /// `--quorum`: kept for Mesos' flags; ZooKeeper's own quorum makes the registry durable.
    pub quorum: u32,
}

impl Ha {
    /// Where the registry lives: under `log_replicas`, the one child of the group's path that
    /// is not a member (Mesos keeps its replicated log's state there; pymesos and the Mesos
    /// CLI skip it).
    fn registry_root(&self) -> String {
        format!("{}/log_replicas/registry", self.sessions.url().path)
    }
}

/// `ip:port` of a master, from its MasterInfo.
pub fn address_of(info: &MasterInfo) -> String {
    match &info.address {
        Some(a) if a.ip.is_some() => format!("{}:{}", a.ip.as_deref().unwrap_or_default(), a.port),
        _ => {
            let b = info.ip.to_le_bytes();
            format!("{}.{}.{}.{}:{}", b[0], b[1], b[2], b[3], info.port)
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
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

    /// Whether this master may decide (offer, time out agents, write): it leads.
    pub fn acting(&self) -> bool {
        matches!(self.standing(), Standing::Leading)
    }

    /// Start a term: a master rebuilt from what the registry holds, its writes going there.
    fn take_office(&self, registry: Registry, recovered: Recovered) {
        let old = {
            let mut m = self.lock();
            let fresh = Master::new(
                m.cfg.clone(),
                m.info.clone(),
                recovered,
                Box::new(RandomIds),
                unix_now(),
            );
            self.registry.replace(registry);
            std::mem::replace(&mut *m, fresh)
        };
        // Dropped outside the lock: its streams end.
        drop(old);
        self.set_standing(Standing::Leading);
        self.alloc_notify.notify_one();
    }

    /// End a term: forget everything (streams end, so agents and frameworks look for the new
    /// leader); what must survive is in the registry.
    fn leave_office(&self) {
        let old = {
            let mut m = self.lock();
            let empty = Master::new(
                m.cfg.clone(),
                m.info.clone(),
                Recovered::default(),
                Box::new(RandomIds),
                unix_now(),
            );
            self.registry.replace(Registry::detached());
            std::mem::replace(&mut *m, empty)
        };
        drop(old);
    }
}

/// Contend for leadership and act on what the election says, for as long as the master runs.
pub async fn run(shared: Arc<Shared>, ha: Ha) {
    let data = match serde_json::to_vec(&shared.lock().info) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("encoding MasterInfo for the election: {e}");
            return;
        }
    };
    let contender = Contender::start(ha.sessions.clone(), Layout::Mesos, data);
    let mut role = contender.role();
    let mut term: Option<u64> = None;
    loop {
        let now = role.borrow_and_update().clone();
        match now {
            Role::Leading(t) if term == Some(t.number) => shared.set_standing(Standing::Leading),
            Role::Leading(t) => {
                // Whatever this master held (an earlier term whose end the election did not
                // show in between) is not acted on while the new term recovers.
                if term.is_some() {
                    shared.set_standing(Standing::Suspended);
                }
                let store = ZkStore::new(
                    ha.sessions.clone(),
                    t.client.clone(),
                    &ha.registry_root(),
                    Some(t.node.clone()),
                );
                let registry = Registry::new(Arc::new(store));
                let r2 = registry.clone();
                match tokio::task::spawn_blocking(move || r2.recover()).await {
                    Ok(Ok(recovered)) => {
                        tracing::info!(
                            "elected leading master (term {}); recovered {} frameworks from the registry",
                            t.number,
                            recovered.frameworks.len()
                        );
                        if term.is_some() {
                            shared.leave_office();
                        }
                        shared.take_office(registry, recovered);
                        term = Some(t.number);
                    }
                    other => {
                        // Cannot lead without the registry: try again shortly.
                        tracing::error!("elected, but recovering the registry failed: {other:?}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            Role::Suspended(_) => {
                tracing::warn!("lost the connection to ZooKeeper: suspended (no offers, no writes) until it is back");
                shared.set_standing(Standing::Suspended);
            }
            Role::Follower { leader } => {
                if term.take().is_some() {
                    tracing::warn!("no longer the leading master");
                    shared.leave_office();
                }
                let leader = leader.and_then(|d| serde_json::from_slice::<MasterInfo>(&d).ok());
                shared.set_standing(Standing::Following { leader });
            }
        }
        if role.changed().await.is_err() {
            return;
        }
    }
}

/// Paths any master answers itself, leading or not (as Mesos' libprocess does).
fn served_by_any(path: &str) -> bool {
    let p = path.trim_end_matches('/').trim_end_matches(".json");
    matches!(
        p,
        "/health"
            | "/master/health"
            | "/version"
            | "/master/version"
            | "/flags"
            | "/master/flags"
            | "/metrics/snapshot"
            | "/metrics"
    )
}

fn text(status: StatusCode, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.to_string(),
    )
        .into_response()
}

/// Run a request; if a registry write failed meanwhile (the store is unreachable, or this
/// master was deposed and its write fenced off), answer 503 rather than report a change that
/// may not survive a failover.
async fn answer_if_written(s: &Shared, req: Request, next: Next) -> Response {
    use std::sync::atomic::Ordering::SeqCst;
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let before = s.registry.failures.load(SeqCst);
    let resp = next.run(req).await;
    if resp.status().is_success() && s.registry.failures.load(SeqCst) != before {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "The change could not be written to the registry (the store is unreachable, or this \
             master no longer leads); retry",
        );
    }
    resp
}

/// Let a request through, redirect it to the leader, or refuse it, by where this master stands.
pub async fn gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    match s.standing() {
        Standing::Leading => answer_if_written(&s, req, next).await,
        _ if served_by_any(req.uri().path()) => next.run(req).await,
        Standing::Suspended if req.method() == Method::GET => next.run(req).await,
        Standing::Suspended => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "This master lost its connection to ZooKeeper and cannot prove that it still leads; \
             retry shortly (it resumes when the connection is back, or another master leads)",
        ),
        Standing::Following { leader: None } => {
            text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected")
        }
        Standing::Following { leader: Some(info) } => {
            let base = format!("//{}", address_of(&info));
            let path = req.uri().path();
            // '/redirect' itself goes to the leader's root, or it would bounce forever.
            let loc = if path == "/redirect" || path == "/master/redirect" {
                base
            } else {
                match req.uri().query() {
                    Some(q) => format!("{base}{path}?{q}"),
                    None => format!("{base}{path}"),
                }
            };
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, loc)]).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_metrics::testing::{call, value};

    #[tokio::test]
    async fn a_standby_answers_its_metrics_and_redirects_the_rest() {
        let shared = crate::build(crate::MasterConfig::default(), 5050, None).expect("builds");
        let leader = shared.lock().info.clone();
        shared.set_standing(Standing::Following {
            leader: Some(leader),
        });
        let app = crate::http::router(shared.clone());
        let (status, text) = call(&app, Method::GET, "/metrics", "").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(value(&text, "mesos_master_elected"), Some(0.0), "{text}");
        let (status, _) = call(&app, Method::GET, "/metrics/snapshot", "").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(&app, Method::GET, "/master/state", "").await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        let (_, text) = call(&app, Method::GET, "/metrics", "").await;
        let redirected = "drover_master_http_requests_total{route=\"/master/state\",method=\"GET\",status=\"3xx\"}";
        assert_eq!(value(&text, redirected), Some(1.0), "{text}");
    }
}
