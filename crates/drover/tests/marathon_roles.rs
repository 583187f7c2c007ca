//! Marathon's app roles (MULTI_ROLE) with real processes: an agent with resources statically
//! reserved for role `dev`; Marathon (role `*`) takes an app `/dev/web` of role `dev` that
//! accepts only `dev`-reserved resources, subscribes to `dev` too (UPDATE_FRAMEWORK, seen in
//! `/master/frameworks`), and runs its task on the reserved resources; a root app may not have
//! the role (Marathon's 422); deleting the app drops the role again.
#![allow(clippy::unwrap_used)]

mod common;
use common::cluster::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The roles of the framework named `marathon` at the master.
fn marathon_roles(master: &str) -> Vec<String> {
    let fws = get_json(&format!("http://{master}/master/frameworks")).unwrap_or(json!({}));
    let mut roles: Vec<String> = fws["frameworks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|f| f["name"] == "marathon" && f["active"] != false)
        .flat_map(|f| f["roles"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    roles.sort();
    roles
}

/// The reservation role of a resource as the master shows it (`reservations[]`, or the old
/// `role`), `*` when unreserved.
fn reserved_for(r: &Value) -> String {
    r["reservations"]
        .as_array()
        .and_then(|rs| rs.last())
        .and_then(|x| x["role"].as_str())
        .or_else(|| r["role"].as_str())
        .unwrap_or("*")
        .to_string()
}

#[test]
fn an_app_of_a_group_role_runs_on_resources_reserved_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (master, master_addr) = start_master(dir.path(), 0, &[]);
    let base = 20000 + (std::process::id() as usize * 131) % 20000;
    let resources = format!(
        "cpus:1;mem:512;disk:1000;ports:[{base}-{}];cpus(dev):1;mem(dev):256",
        base + 9
    );
    let (agent, port) =
        start_agent_with(dir.path(), &master_addr, 0, 0, &["--resources", &resources]);
    let c = Cluster {
        master,
        master_addr,
        agents: vec![(agent, format!("127.0.0.1:{port}"), port)],
        dir,
    };
    c.wait_agents(1);
    let (_marathon, url) = start_marathon(c.dir.path(), &c.master_addr, 0);
    wait_until(Duration::from_secs(30), "marathon subscribed", &c, || {
        marathon_roles(&c.master_addr) == ["*"]
    });
    let (code, info) = call("GET", &format!("http://{url}/v2/info"), None);
    assert_eq!(code, 200);
    assert_eq!(info["marathon_config"]["mesos_role"], "*");

    // A root app may have only Marathon's role.
    let root = json!({"id": "/web", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "role": "dev"});
    let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(&root));
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["details"][0]["path"], "/role", "{body}");
    assert_eq!(
        body["details"][0]["errors"][0],
        "got dev, expected one of: [*]"
    );

    // An app of its top-level group's role, on resources reserved for the role only.
    let app = json!({"id": "/dev/web", "cmd": "sleep 600", "cpus": 0.5, "mem": 64,
        "role": "dev", "acceptedResourceRoles": ["dev"], "portDefinitions": []});
    let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(&app));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["role"], "dev");
    wait_until(
        Duration::from_secs(30),
        "marathon subscribed to dev",
        &c,
        || marathon_roles(&c.master_addr) == ["*", "dev"],
    );
    wait_until(Duration::from_secs(60), "the task runs", &c, || {
        let (_, b) = call("GET", &format!("http://{url}/v2/apps/dev/web/tasks"), None);
        b["tasks"]
            .as_array()
            .is_some_and(|ts| ts.len() == 1 && ts[0]["state"] == "TASK_RUNNING")
    });
    let (_, shown) = call("GET", &format!("http://{url}/v2/apps/dev/web"), None);
    assert_eq!(shown["app"]["role"], "dev", "{shown}");
    assert_eq!(shown["app"]["acceptedResourceRoles"], json!(["dev"]));

    // The task's resources at the master (v1 GET_TASKS): allocated to dev, from the dev
    // reservation; the agent's used resources are reserved ones only.
    let (code, got) = call(
        "POST",
        &format!("http://{}/api/v1", c.master_addr),
        Some(&json!({"type": "GET_TASKS"})),
    );
    assert_eq!(code, 200, "{got}");
    let task = got["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|t| t["state"] == "TASK_RUNNING")
        .unwrap_or_else(|| panic!("no running task: {got}"));
    let res = task["resources"].as_array().cloned().unwrap_or_default();
    assert!(res.iter().any(|r| r["name"] == "cpus"), "{task}");
    for r in &res {
        assert_eq!(reserved_for(r), "dev", "{r}");
        assert_eq!(r["allocation_info"]["role"], "dev", "{r}");
    }
    let slaves = get_json(&format!("http://{}/master/slaves", c.master_addr)).unwrap();
    let used = slaves["slaves"][0]["used_resources_full"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!used.is_empty(), "{slaves}");
    for r in &used {
        assert_eq!(reserved_for(r), "dev", "{r}");
    }
    let tasks = get_json(&format!("http://{}/master/tasks", c.master_addr)).unwrap();
    assert_eq!(tasks["tasks"][0]["role"], "dev", "{tasks}");

    // The last app of the role gone: Marathon drops it.
    let (code, body) = call("DELETE", &format!("http://{url}/v2/apps/dev/web"), None);
    assert_eq!(code, 200, "{body}");
    wait_until(
        Duration::from_secs(30),
        "marathon back to its own role",
        &c,
        || marathon_roles(&c.master_addr) == ["*"],
    );
}
