//! For the UI's tests: operator events as the master sends them, a UI over a model the test
//! fills, and GETs through the UI's router.

use crate::live::Live;
use crate::Ui;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

pub fn agent(id: &str, host: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "agent_info": {"hostname": host, "port": 5051, "id": {"value": id},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
                {"name": "disk", "type": "SCALAR", "scalar": {"value": 1000.0}},
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}}],
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}}]},
        "active": true, "version": "1.11.0",
        "registered_time": {"nanoseconds": 1_796_376_612_000_000_000i64},
    })
}

pub fn framework(id: &str, name: &str) -> Value {
    json!({
        "framework_info": {"user": "root", "name": name, "id": {"value": id}, "roles": ["*"]},
        "active": true, "connected": true, "recovered": false,
    })
}

pub fn task(id: &str, name: &str, fid: &str, aid: &str, state: &str) -> Value {
    json!({
        "name": name, "task_id": {"value": id}, "framework_id": {"value": fid},
        "agent_id": {"value": aid}, "state": state,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31005, "end": 31005}]}}],
        "statuses": [{"task_id": {"value": id}, "state": state, "timestamp": 1_796_376_612.0}],
    })
}

pub fn subscribed(agents: Vec<Value>, frameworks: Vec<Value>, tasks: Vec<Value>) -> Value {
    json!({"type": "SUBSCRIBED", "subscribed": {"get_state": {
        "get_tasks": {"tasks": tasks},
        "get_executors": {"executors": []},
        "get_frameworks": {"frameworks": frameworks},
        "get_agents": {"agents": agents},
    }}})
}

pub fn task_updated(id: &str, fid: &str, state: &str) -> Value {
    json!({"type": "TASK_UPDATED", "task_updated": {
        "framework_id": {"value": fid}, "state": state,
        "status": {"task_id": {"value": id}, "state": state, "timestamp": 1_796_376_700.0}}})
}

/// A UI over a model fed `events` (from a master at 10.0.0.1:5050), reaching no Marathon.
pub fn ui_with(events: &[Value]) -> Arc<Ui> {
    let live = Arc::new(Live::new("t".into()));
    for e in events {
        live.master_event("10.0.0.1:5050", e.clone());
    }
    Ui::detached(live, vec![], "http://127.0.0.1:9".into()).expect("a UI")
}

/// GET `path` through the UI's router: status and body.
pub async fn get(ui: &Arc<Ui>, path: &str) -> (u16, String) {
    get_with(ui, path, &[]).await
}

pub async fn get_with(ui: &Arc<Ui>, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut rq = axum::http::Request::get(path);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let resp = crate::router(ui.clone())
        .oneshot(rq.body(axum::body::Body::empty()).expect("a request"))
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A UI over a model fed `events` whose leading master is at `master` (`host:port`): for the
/// pages that read the master's endpoints.
pub fn ui_with_master(events: &[Value], master: &str) -> Arc<Ui> {
    let live = Arc::new(Live::new("t".into()));
    for e in events {
        live.master_event("10.0.0.1:5050", e.clone());
    }
    let http = drover_httpclient::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("a client");
    let leader =
        drover_zk::Leader::new(master, std::time::Duration::from_secs(1)).expect("a leader");
    let (stop, _) = tokio::sync::watch::channel(false);
    Arc::new(Ui {
        live,
        cfg: crate::Config {
            leader,
            marathon: vec![],
            gateway: "http://127.0.0.1:9".into(),
            jobs: None,
        },
        http: http.clone(),
        marathon: crate::live::MarathonClient { urls: vec![], http },
        stop,
    })
}
