//! `/ping`, `/v2/info` (what clients read to find Marathon's configuration), `/v2/leader`
//! and `/metrics` (Dropwizard JSON; `/metrics/prometheus` is `crate::metrics`').

use super::S;
use crate::Standing;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub(super) async fn ping() -> &'static str {
    "pong"
}

pub(super) async fn info(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(json!({
        "name": "marathon", "version": "1.11.24", "buildref": concat!("drover-", env!("CARGO_PKG_VERSION")),
        "elected": s.standing() == Standing::Leading, "leader": leader_of(&s), "frameworkId": m.framework_id.as_ref().map(|f| f.value.clone()),
        "marathon_config": {"master": s.cfg.master, "hostname": s.cfg.hostname, "failover_timeout": s.cfg.failover_timeout_secs as i64,
                            "mesos_role": m.role, "mesos_user": s.cfg.user, "task_launch_timeout": 300000, "checkpoint": true,
                            "framework_name": s.cfg.framework_name, "ha": s.ha_url().is_some(),
                            "local_port_min": m.service_port_range.0, "local_port_max": m.service_port_range.1, "webui_url": format!("http://{}", s.cfg.advertise)},
        "http_config": {"http_port": s.cfg.advertise.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())},
        "event_subscriber": {"type": "http_callback", "http_endpoints": m.subscriptions.iter().collect::<Vec<_>>()},
        // With --zk, Marathon's state is in ZooKeeper; else in its own store.
        "zookeeper_config": {"zk": s.ha_url(), "zk_timeout": 10000, "zk_session_timeout": 10000, "zk_max_versions": 50},
    }))
}

/// Who leads: this Marathon, the one it follows, or 404 while none is elected.
pub(super) async fn leader(State(s): S) -> Response {
    match leader_of(&s) {
        Some(l) => Json(json!({ "leader": l })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "There is no leader"})),
        )
            .into_response(),
    }
}

fn leader_of(s: &crate::Shared) -> Option<String> {
    match s.standing() {
        Standing::Leading | Standing::Suspended => Some(s.cfg.advertise.clone()),
        Standing::Following { leader } => leader,
    }
}

/// `DELETE /v2/leader`: the leader steps down and joins the election again at the back. (A
/// follower has passed the call on to the leader before it gets here.)
pub(super) async fn abdicate(State(s): S) -> Response {
    if s.abdicate() {
        (
            StatusCode::ACCEPTED,
            Json(json!({"message": "Leadership abdicated"})),
        )
            .into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "There is no leader to abdicate (this Marathon does not run an election: start it with --zk)"})),
        )
            .into_response()
    }
}

/// Marathon's Dropwizard JSON; `/metrics/prometheus` has the same gauges (`crate::metrics`).
pub(super) async fn metrics(State(s): S) -> Json<Value> {
    let mut gauges: serde_json::Map<String, Value> = crate::metrics::gauges(&s.lock())
        .into_iter()
        .map(|(name, v)| (name.to_string(), json!({ "value": v as u64 })))
        .collect();
    gauges.insert(
        "marathon.instances.launch-overdue.gauge".into(),
        json!({"value": 0}),
    );
    Json(json!({
        "version": "4.0.0",
        "gauges": gauges,
        "counters": {}, "histograms": {}, "meters": {}, "timers": {},
    }))
}
