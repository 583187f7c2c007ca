//! Marathon's `unreachableStrategy` with real processes: an agent killed with -9 is marked
//! unreachable by the master (`--agent-timeout 2`); the instance of an app with
//! `{inactiveAfterSeconds, expungeAfterSeconds}` stays, shown TASK_UNREACHABLE, and is replaced
//! on the surviving agent once inactive; the instance of an app with `"disabled"` is never
//! replaced. A bad strategy is Marathon's 422 naming the field.

mod common;
use common::cluster::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn states(ts: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ts
        .iter()
        .map(|t| {
            (
                t["state"].as_str().unwrap_or("").to_string(),
                t["slaveId"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn unreachable_instances_are_replaced_after_inactive_after_seconds_unless_disabled() {
    // One agent first, so both apps' instances land on it; the second joins afterwards.
    let mut c = Cluster::start(1, &["--agent-timeout", "2"]);
    let (_marathon, url) = start_marathon(c.dir.path(), &c.master_addr, 0);

    let bad = json!({"id": "/bad", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                     "unreachableStrategy": {"inactiveAfterSeconds": 20, "expungeAfterSeconds": 10}});
    let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(&bad));
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["details"][0]["path"], "/unreachableStrategy/inactiveAfterSeconds",
        "{body}"
    );
    assert_eq!(
        body["details"][0]["errors"][0],
        "inactiveAfterSeconds (20) must be less or equal to expungeAfterSeconds, which is 10"
    );

    let replaced = json!({"id": "/replaced", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                          "unreachableStrategy": {"inactiveAfterSeconds": 8, "expungeAfterSeconds": 3600}});
    let kept = json!({"id": "/kept", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
                      "unreachableStrategy": "disabled"});
    for app in [&replaced, &kept] {
        let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(app));
        assert_eq!(code, 201, "{body}");
    }
    let (_, shown) = call("GET", &format!("http://{url}/v2/apps/kept"), None);
    assert_eq!(shown["app"]["unreachableStrategy"], "disabled");
    wait_until(Duration::from_secs(60), "both running", &c, || {
        ["/replaced", "/kept"].iter().all(|a| {
            let ts = app_tasks(&url, a);
            ts.len() == 1 && ts[0]["state"] == "TASK_RUNNING"
        })
    });
    let first_agent = app_tasks(&url, "/replaced")[0]["slaveId"]
        .as_str()
        .unwrap()
        .to_string();
    let kept_task = app_tasks(&url, "/kept")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (p, port) = start_agent(c.dir.path(), &c.master_addr, 1, 0);
    c.agents.push((p, format!("127.0.0.1:{port}"), port));
    c.wait_agents(2);
    let (mut dead, _, _) = c.agents.remove(0);
    dead.kill9();

    // Unreachable first: still counted, shown as such, nothing launched in its place.
    wait_until(Duration::from_secs(60), "/replaced unreachable", &c, || {
        states(&app_tasks(&url, "/replaced"))
            == vec![("TASK_UNREACHABLE".to_string(), first_agent.clone())]
    });
    // Then inactive: replaced on the surviving agent, the unreachable one still shown.
    wait_until(Duration::from_secs(90), "/replaced replaced", &c, || {
        let s = states(&app_tasks(&url, "/replaced"));
        s.len() == 2
            && s.iter()
                .any(|(st, a)| st == "TASK_RUNNING" && a != &first_agent)
            && s.iter()
                .any(|(st, a)| st == "TASK_UNREACHABLE" && a == &first_agent)
    });
    // Disabled: the same time has passed (and more, for the replacement to run), and /kept
    // still has its one unreachable instance and wants nothing launched.
    let ts = app_tasks(&url, "/kept");
    assert_eq!(ts.len(), 1, "{ts:?}");
    assert_eq!(ts[0]["id"], kept_task.as_str());
    assert_eq!(ts[0]["state"], "TASK_UNREACHABLE");
    let (_, queue) = call("GET", &format!("http://{url}/v2/queue"), None);
    let queued: Vec<&Value> = queue["queue"]
        .as_array()
        .map(|q| q.iter().filter(|e| e["app"]["id"] == "/kept").collect())
        .unwrap_or_default();
    assert!(queued.is_empty(), "{queue}");
    let (_, app) = call("GET", &format!("http://{url}/v2/apps/kept"), None);
    assert_eq!(app["app"]["tasksRunning"], 0);
    assert_eq!(app["app"]["deployments"], json!([]));
}
