//! Builders of operator API events for the crate's tests: a cluster in a few lines.

use serde_json::{json, Value};

/// A v1 Task in TASK_RUNNING with one RUNNING status.
pub fn task(id: &str, name: &str, fid: &str, agent: &str) -> Value {
    json!({
        "task_id": {"value": id}, "name": name, "framework_id": {"value": fid},
        "agent_id": {"value": agent}, "state": "TASK_RUNNING", "resources": [],
        "statuses": [{"task_id": {"value": id}, "state": "TASK_RUNNING", "timestamp": 1.0}]
    })
}

/// `task` with ports resources.
pub fn with_ports(mut t: Value, ranges: &[(u64, u64)]) -> Value {
    let r: Vec<Value> = ranges
        .iter()
        .map(|(b, e)| json!({"begin": b, "end": e}))
        .collect();
    t["resources"] = json!([{"name": "ports", "type": "RANGES", "ranges": {"range": r}}]);
    t
}

pub fn agent(id: &str, ip: &str) -> Value {
    json!({"agent_info": {"hostname": format!("host-{id}"), "id": {"value": id}, "port": 5051},
           "active": true, "version": "1.11.0", "pid": format!("slave(1)@{ip}:5051")})
}

pub fn framework(id: &str, name: &str) -> Value {
    json!({"framework_info": {"name": name, "id": {"value": id}, "user": "root"},
           "active": true, "connected": true, "recovered": false})
}

pub fn subscribed(tasks: Vec<Value>, frameworks: Vec<Value>, agents: Vec<Value>) -> Value {
    json!({"type": "SUBSCRIBED", "subscribed": {"get_state": {
        "get_tasks": {"tasks": tasks},
        "get_executors": {"executors": []},
        "get_frameworks": {"frameworks": frameworks},
        "get_agents": {"agents": agents}
    }, "heartbeat_interval_seconds": 15.0}})
}

pub fn task_updated(fid: &str, id: &str, state: &str, healthy: Option<bool>) -> Value {
    let mut status = json!({"task_id": {"value": id}, "state": state, "timestamp": 2.0});
    if let Some(h) = healthy {
        status["healthy"] = json!(h);
    }
    json!({"type": "TASK_UPDATED", "task_updated": {
        "framework_id": {"value": fid}, "status": status, "state": state}})
}
