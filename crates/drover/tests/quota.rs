//! Quota against real processes (`drover master`, `drover agent`): `UPDATE_QUOTA`, `GET_QUOTA`,
//! the old `/quota` endpoint, `/master/roles`' quota with its consumption (a task's resources,
//! not the framework's offers), `drover quota list|set|remove`, and the quota still there after
//! the master restarts from its registry.

mod common;
use common::cluster::*;
use common::sched::*;
use common::*;
use drover_api::*;
use drover_bench::client::SchedulerClient;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

fn api(master: &str, body: Value) -> (u16, Value) {
    call("POST", &format!("http://{master}/api/v1"), Some(&body))
}

/// `POST /api/v1` answered with text: (status, text).
fn api_text(master: &str, body: &Value) -> (u16, String) {
    post_text(&format!("http://{master}/api/v1"), body)
}

fn roles(master: &str) -> Value {
    get_json(&format!("http://{master}/master/roles")).expect("/master/roles")
}

fn role<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles["roles"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no role {name} in {roles:#}"))
}

/// `drover quota …` against `master`: (exit code, stdout, stderr).
fn cli(master: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(drover_bin())
        .arg("quota")
        .args(args)
        .args(["--master", master])
        .output()
        .expect("drover quota");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_set_read_counted_and_kept_across_a_master_restart() {
    // One agent: cpus:2;mem:1024;disk:1000 and ports.
    let mut c = Cluster::start(1, &[]);
    let m = c.master_addr.clone();

    let dev = json!({"role": "dev", "guarantees": {"cpus": {"value": 0.5}}, "limits": {"cpus": {"value": 1.0}, "mem": {"value": 512.0}}});
    let (code, body) = api_text(
        &m,
        &json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [dev]}}),
    );
    assert_eq!((code, body.as_str()), (200, ""));
    // Refused, all of it: guarantees beyond the cluster.
    let (code, body) = api_text(
        &m,
        &json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
            {"role": "web", "limits": {"cpus": {"value": 1}}},
            {"role": "batch", "guarantees": {"cpus": {"value": 4}}},
        ]}}),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body, "Invalid QuotaConfig: total quota guarantees 'cpus:4.5' exceed cluster capacity 'cpus:2; disk:1000; mem:1024' (use 'force' flag to bypass this check)");
    let (code, body) = api_text(
        &m,
        &json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": "eng/web"}]}}),
    );
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "Updating quota on nested role 'eng/web' is not supported yet"
        )
    );

    let (code, q) = api(&m, json!({"type": "GET_QUOTA"}));
    assert_eq!(code, 200, "{q}");
    assert_eq!(q["type"], "GET_QUOTA");
    assert_eq!(q["get_quota"]["status"]["configs"], json!([dev]), "{q:#}");
    assert_eq!(
        q["get_quota"]["status"]["infos"],
        json!([{"role": "dev", "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}}]}])
    );
    // The old endpoint: the same status; a request of its own, removed by path.
    let (code, v0) = call("GET", &format!("http://{m}/quota"), None);
    assert_eq!((code, &v0), (200, &q["get_quota"]["status"]));
    let old = json!({"role": "old", "guarantee": [{"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]});
    let (code, _) = call("POST", &format!("http://{m}/quota"), Some(&old));
    assert_eq!(code, 200);
    let (code, _) = call("POST", &format!("http://{m}/master/quota"), Some(&old));
    assert_eq!(code, 400, "a role that has quota");
    let (code, _) = call("DELETE", &format!("http://{m}/master/quota/old"), None);
    assert_eq!(code, 200);
    let (code, _) = call("DELETE", &format!("http://{m}/quota/old"), None);
    assert_eq!(code, 400, "no quota left to remove");

    // A role with quota is a role, frameworks or not.
    let r = roles(&m);
    assert_eq!(
        role(&r, "dev")["quota"],
        json!({"role": "dev", "guarantee": {"cpus": 0.5}, "limit": {"cpus": 1.0, "mem": 512.0}, "consumed": {}}),
        "{r:#}"
    );

    // A framework of the role runs a task (0.1 cpus, 32 MiB) and declines the rest of its
    // offer: the task counts, the offer never did.
    let mut fw = framework("quota-user", 300.0, false);
    fw.role = Some("dev".into());
    let mut s = SchedulerClient::subscribe(&m, fw)
        .await
        .expect("subscribes");
    launch(&mut s, &[("q1", "sleep 1000")]).await;
    wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    let r = roles(&m);
    assert_eq!(
        role(&r, "dev")["quota"]["consumed"],
        json!({"cpus": 0.1, "mem": 32.0}),
        "{r:#}"
    );
    // A limit below it is refused unless forced.
    let below = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [{"role": "dev", "limits": {"mem": {"value": 16}}}]}});
    let (code, body) = api_text(&m, &below);
    assert_eq!(code, 400);
    assert_eq!(body, "Invalid QuotaConfig: Role 'dev' is already consuming 'cpus:0.1; mem:32'; this is more than the requested limits 'mem:16' (use 'force' flag to bypass this check)");

    // The CLI: the list with consumption; a refusal is the master's message and exit code 1.
    let (code, out, err) = cli(&m, &["list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).expect("JSON");
    let mut want = dev.clone();
    want["consumed"] = json!({"cpus": 0.1, "mem": 32.0});
    assert_eq!(listed, json!([want]));
    let (code, out, _) = cli(&m, &["list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("dev") && out.contains("cpus=1,mem=512") && out.contains("cpus=0.10,mem=32"),
        "{out}"
    );
    // `drover role list`: the role's dominant share of the cluster (0.1 of its 2 cpus).
    let listed = Command::new(drover_bin())
        .args(["role", "list", "--master", &m])
        .output()
        .expect("drover role list");
    let out = String::from_utf8_lossy(&listed.stdout);
    let dev = out
        .lines()
        .find(|l| l.contains(" dev "))
        .unwrap_or_default();
    assert!(dev.contains("5% cpus"), "{out}");
    let (code, _, err) = cli(&m, &["set", "dev", "--limit", "mem=16"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("400 Bad Request") && err.contains("is already consuming 'cpus:0.1; mem:32'"),
        "{err}"
    );
    let (code, _, err) = cli(
        &m,
        &["set", "web", "--guarantee", "cpus=1", "--limit", "cpus=2"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&m, &["set", "batch", "--guarantee", "cpus=8", "--force"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&m, &["remove", "batch"]);
    assert_eq!(code, 0, "{err}");
    let (_, q) = api(&m, json!({"type": "GET_QUOTA"}));
    let configured: Vec<&str> = q["get_quota"]["status"]["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .filter_map(|c| c["role"].as_str())
        .collect();
    assert_eq!(configured, vec!["dev", "web"]);

    // The master restarts from its registry: the quotas are there before anything registers.
    drop(s);
    let port: u16 = m
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    c.master.stop();
    let (again, addr) = start_master(c.dir.path(), port, &[]);
    c.master = again;
    assert_eq!(addr, m);
    let (code, after) = api(&m, json!({"type": "GET_QUOTA"}));
    assert_eq!(code, 200);
    assert_eq!(
        after["get_quota"]["status"],
        q["get_quota"]["status"],
        "{}",
        c.logs()
    );
    let r = roles(&m);
    assert_eq!(role(&r, "web")["quota"]["limit"], json!({"cpus": 2.0}));
}
