//! `/ping`, `/v2/info` (what clients read to find Marathon's configuration), `/v2/leader`
//! and `/metrics`.

use super::S;
use axum::extract::State;
use axum::Json;
use drover_api::TaskState;
use serde_json::{json, Value};

pub(super) async fn ping() -> &'static str {
    "pong"
}

pub(super) async fn info(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(json!({
        "name": "marathon", "version": "1.11.24", "buildref": concat!("drover-", env!("CARGO_PKG_VERSION")),
        "elected": true, "leader": s.cfg.advertise, "frameworkId": m.framework_id.as_ref().map(|f| f.value.clone()),
        "marathon_config": {"master": s.cfg.master, "hostname": s.cfg.hostname, "failover_timeout": s.cfg.failover_timeout_secs as i64,
                            "mesos_role": m.role, "mesos_user": s.cfg.user, "task_launch_timeout": 300000, "checkpoint": true,
                            "framework_name": "marathon", "ha": false,
                            "local_port_min": m.service_port_range.0, "local_port_max": m.service_port_range.1, "webui_url": format!("http://{}", s.cfg.advertise)},
        "http_config": {"http_port": s.cfg.advertise.rsplit(':').next().and_then(|p| p.parse::<u16>().ok())},
        "event_subscriber": {"type": "http_callback", "http_endpoints": m.subscriptions.iter().collect::<Vec<_>>()},
        // Drover keeps Marathon's state in its own store, not ZooKeeper; clients still parse this.
        "zookeeper_config": {"zk": null, "zk_timeout": 10000, "zk_session_timeout": 10000, "zk_max_versions": 50},
    }))
}

pub(super) async fn leader(State(s): S) -> Json<Value> {
    Json(json!({"leader": s.cfg.advertise}))
}

pub(super) async fn metrics(State(s): S) -> Json<Value> {
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
