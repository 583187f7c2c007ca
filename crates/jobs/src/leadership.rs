//! Several jobs schedulers, one leader (`--zk zk://…/jobs`).
//!
//! Each joins a Curator-style latch at `<path>/leader-curator` (member data: its `host:port`).
//! The leader loads its state from ZooKeeper (`<path>/state`), written only with its latch node
//! as a fence, and runs the deciding loops (the link to the master, the ticker). A write that
//! the fence refuses is never acted on (`driver`): a deposed leader launches nothing, so two
//! leaders at once in a partition cannot start one run twice. The others decide nothing and
//! send API requests to the leader (a 307 redirect, which keeps the method and body).

use crate::{Jobs, Shared};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drover_zk::{Contender, Layout, Role, Sessions, ZkStore};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Where this scheduler stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Standing {
    Leading,
    /// It led and lost ZooKeeper: it decides nothing until it knows whether it still leads.
    Suspended,
    Following {
        leader: Option<String>,
    },
}

/// How a scheduler takes part in an HA group.
#[derive(Clone)]
pub struct Ha {
    /// Sessions at the group's path (`/jobs`).
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

/// Contend for leadership and act on what the latch says, for as long as the scheduler runs.
pub async fn run(shared: Arc<Shared>, ha: Ha) {
    let latch = match ha.latch() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("jobs election: {e}");
            return;
        }
    };
    let contender = Contender::start(
        latch,
        Layout::CuratorLatch,
        shared.cfg.advertise.clone().into_bytes(),
    );
    let mut role = contender.role();
    let mut term: Option<u64> = None;
    loop {
        let now = role.borrow_and_update().clone();
        match now {
            Role::Leading(t) if term == Some(t.number) && !shared.is_stale() => {
                if !shared.deciding() {
                    tracing::info!("jobs: connection to ZooKeeper back; leading again");
                    shared.start_deciding();
                }
                shared.set_standing(Standing::Leading);
            }
            Role::Leading(t) => {
                shared.stop_deciding();
                shared.set_standing(Standing::Suspended);
                let store: Arc<dyn drover_store::Store> = Arc::new(ZkStore::new(
                    ha.sessions.clone(),
                    t.client.clone(),
                    &ha.state_root(),
                    Some(t.node.clone()),
                ));
                let role_name = shared.cfg.role.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    Jobs::open(
                        store,
                        role_name,
                        Box::new(crate::driver::RandomSuffix::default()),
                    )
                })
                .await;
                match opened {
                    Ok(Ok(j)) => {
                        tracing::info!(
                            "jobs: elected leader (term {}); {} jobs, {} active runs loaded from ZooKeeper",
                            t.number,
                            j.jobs.len(),
                            j.runs.values().map(|m| m.len()).sum::<usize>()
                        );
                        shared.install(j);
                        term = Some(t.number);
                        shared.set_standing(Standing::Leading);
                        shared.start_deciding();
                    }
                    other => {
                        let why = match other {
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                            Ok(Ok(_)) => String::new(),
                        };
                        tracing::error!(
                            "jobs: elected, but loading the state failed: {why}; retrying"
                        );
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            }
            Role::Suspended(_) => {
                tracing::warn!(
                    "jobs: lost the connection to ZooKeeper; not deciding until it is back"
                );
                shared.stop_deciding();
                shared.set_standing(Standing::Suspended);
            }
            Role::Follower { leader } => {
                shared.stop_deciding();
                if term.take().is_some() {
                    tracing::warn!("jobs: no longer the leader");
                    shared.install_empty();
                }
                let leader = leader.and_then(|d| String::from_utf8(d).ok());
                shared.set_standing(Standing::Following { leader });
            }
        }
        // Woken by the election, or every second to see whether a write failed meanwhile
        // (then the state is reloaded before deciding again).
        loop {
            tokio::select! {
                r = role.changed() => {
                    if r.is_err() {
                        return;
                    }
                    break;
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if shared.is_stale() && term.is_some() {
                        tracing::warn!("jobs: a write to ZooKeeper failed; reloading the state");
                        term = None;
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

/// Serve, redirect or refuse a request by where this scheduler stands.
pub async fn gate(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/ping"
        || path == "/leader"
        || path == "/v1/scheduler/leader"
        || path == "/scheduler/leader"
    {
        return next.run(req).await;
    }
    let mut standing = s.standing();
    for _ in 0..10 {
        if standing != (Standing::Following { leader: None }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        standing = s.standing();
    }
    match standing {
        Standing::Leading => next.run(req).await,
        Standing::Suspended if req.method() == Method::GET => next.run(req).await,
        Standing::Suspended => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "This scheduler lost its connection to ZooKeeper and cannot prove that it still leads; retry shortly",
        ),
        Standing::Following { leader: None } => {
            message(StatusCode::SERVICE_UNAVAILABLE, "There is no leader")
        }
        Standing::Following {
            leader: Some(leader),
        } => {
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, format!("http://{leader}{pq}"))],
            )
                .into_response()
        }
    }
}
