//! Marathon REST details over real HTTP: the environment tasks see, POST /v2/tasks/delete with
//! scale, groups whose dependencies order the deployment, versions, force and rollback, the
//! event stream's filter, and the body-size limit.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

fn until(up: &Up, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}\n{}", up.log());
}

fn running(m: &str, app: &str) -> Vec<Value> {
    call("GET", &format!("http://{m}/v2/apps{app}/tasks"), None).1["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect()
}

fn no_deployments(m: &str) -> bool {
    call("GET", &format!("http://{m}/v2/deployments"), None)
        .1
        .as_array()
        .map(|a| a.is_empty())
        .unwrap_or(false)
}

#[test]
fn tasks_see_marathons_environment() {
    let up = Up::start_with_marathon(1, &[]);
    let m = up.marathon.clone();
    let app = json!({"id": "/env/check", "cmd": "env > env.txt; sleep 600", "cpus": 0.05, "mem": 16,
                     "labels": {"team": "qa"}, "env": {"GREETING": "hi"},
                     "portDefinitions": [{"port": 0, "name": "web"}, {"port": 0}]});
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&app)).0,
        201
    );
    until(&up, "running", || running(&m, "/env/check").len() == 1);
    let t = &running(&m, "/env/check")[0];
    let task_id = t["id"].as_str().unwrap().to_string();
    assert!(
        task_id.starts_with("env_check."),
        "Marathon task ids: {task_id}"
    );
    let ports: Vec<u64> = t["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert_eq!(ports.len(), 2);
    let mut env = String::new();
    until(&up, "env.txt written", || {
        env = find_file(up.dir.path(), &task_id, "env.txt")
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default();
        env.contains("MARATHON_APP_ID")
    });
    for want in [
        "MARATHON_APP_ID=/env/check".to_string(),
        format!("PORT0={}", ports[0]),
        format!("PORT1={}", ports[1]),
        format!("PORT={}", ports[0]),
        format!("PORT_WEB={}", ports[0]),
        "HOST=127.0.0.1".to_string(),
        "GREETING=hi".to_string(),
        "MARATHON_APP_LABEL_TEAM=qa".to_string(),
        format!("MESOS_TASK_ID={task_id}"),
        "MARATHON_APP_RESOURCE_MEM=16".to_string(),
    ] {
        assert!(
            env.lines().any(|l| l == want),
            "{want} missing from:\n{env}"
        );
    }
    // The master's task carries Marathon's name form and discovery info (for DNS).
    let st = get_json(&format!("http://{}/master/tasks", up.master)).unwrap();
    let mt = st["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == task_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mt["name"], "check.env");
}

fn find_file(root: &std::path::Path, task: &str, name: &str) -> Option<std::path::PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().map(|n| n == name).unwrap_or(false)
                && p.to_string_lossy().contains(&format!("/executors/{task}/"))
            {
                return Some(p);
            }
        }
    }
    None
}

#[test]
fn groups_tasks_delete_versions_force_rollback_and_limits() {
    let up = Up::start_with_marathon(1, &[]);
    let m = up.marathon.clone();
    // A group whose web part depends on its db part: two steps, db first.
    let group = json!({"id": "/shop", "groups": [
        {"id": "db", "apps": [{"id": "pg", "cmd": "sleep 600", "cpus": 0.05, "mem": 16}]},
        {"id": "web", "dependencies": ["/shop/db"], "apps": [{"id": "front", "cmd": "sleep 600", "cpus": 0.05, "mem": 16, "instances": 2}]},
    ]});
    let (code, body) = call("POST", &format!("http://{m}/v2/groups"), Some(&group));
    assert_eq!(code, 201, "{body}");
    let (_, deps) = call("GET", &format!("http://{m}/v2/deployments"), None);
    let d = &deps.as_array().unwrap()[0];
    assert_eq!(d["totalSteps"], 2, "{d}");
    assert_eq!(d["steps"][0]["actions"][0]["app"], "/shop/db/pg");
    assert_eq!(d["steps"][1]["actions"][0]["app"], "/shop/web/front");
    until(&up, "group running", || {
        no_deployments(&m)
            && running(&m, "/shop/web/front").len() == 2
            && running(&m, "/shop/db/pg").len() == 1
    });
    let (_, g) = call("GET", &format!("http://{m}/v2/groups/shop"), None);
    assert_eq!(g["groups"].as_array().unwrap().len(), 2, "{g}");

    // POST /v2/tasks/delete?scale=true: the app shrinks instead of replacing the task.
    let victim = running(&m, "/shop/web/front")[0]["id"].clone();
    let (code, body) = call(
        "POST",
        &format!("http://{m}/v2/tasks/delete?scale=True"),
        Some(&json!({"ids": [victim]})),
    );
    assert_eq!(code, 200, "{body}");
    until(&up, "scaled to 1", || {
        no_deployments(&m) && running(&m, "/shop/web/front").len() == 1
    });
    let (_, a) = call("GET", &format!("http://{m}/v2/apps/shop/web/front"), None);
    assert_eq!(a["app"]["instances"], 1);

    // Versions: every change is kept and readable.
    let (_, v) = call(
        "GET",
        &format!("http://{m}/v2/apps/shop/web/front/versions"),
        None,
    );
    let versions = v["versions"].as_array().unwrap().clone();
    assert!(versions.len() >= 2, "{v}");
    let (code, old) = call(
        "GET",
        &format!(
            "http://{m}/v2/apps/shop/web/front/versions/{}",
            versions.last().unwrap().as_str().unwrap()
        ),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        old["instances"], 2,
        "the first version had 2 instances: {old}"
    );

    // An app that cannot finish deploying blocks changes (409) unless forced; rollback undoes it.
    let stuck = json!({"instances": 3, "cpus": 500});
    assert_eq!(
        call(
            "PUT",
            &format!("http://{m}/v2/apps/shop/db/pg"),
            Some(&stuck)
        )
        .0,
        200
    );
    let (code, body) = call(
        "PUT",
        &format!("http://{m}/v2/apps/shop/db/pg"),
        Some(&json!({"instances": 2})),
    );
    assert_eq!(code, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("force=true"),
        "{body}"
    );
    let dep_id = body["deployments"][0]["id"].as_str().unwrap().to_string();
    let (code, _) = call(
        "DELETE",
        &format!("http://{m}/v2/deployments/{dep_id}"),
        None,
    );
    assert_eq!(code, 200);
    until(&up, "rolled back", || {
        let (_, a) = call("GET", &format!("http://{m}/v2/apps/shop/db/pg"), None);
        no_deployments(&m) && a["app"]["cpus"] == 0.05 && a["app"]["instances"] == 1
    });
    assert_eq!(
        call(
            "PUT",
            &format!("http://{m}/v2/apps/shop/db/pg"),
            Some(&stuck)
        )
        .0,
        200
    );
    let (code, body) = call(
        "PUT",
        &format!("http://{m}/v2/apps/shop/db/pg?force=TRUE"),
        Some(&json!({"cpus": 0.05, "instances": 2})),
    );
    assert_eq!(code, 200, "force overrides: {body}");
    until(&up, "forced update done", || {
        no_deployments(&m) && running(&m, "/shop/db/pg").len() == 2
    });

    // Bodies over the limit are refused, not buffered.
    let big = format!("{{\"id\":\"/big\",\"cmd\":\"{}\"}}", "x".repeat(9 << 20));
    let path = up.dir.path().join("big.json");
    std::fs::write(&path, big).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
        ])
        .arg(format!("@{}", path.display()))
        .arg(format!("http://{m}/v2/apps"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    assert_eq!(call("GET", &format!("http://{m}/v2/apps/big"), None).0, 404);
}

#[test]
fn event_stream_filters_by_type() {
    let up = Up::start_with_marathon(1, &[]);
    let m = up.marathon.clone();
    let mut sse = std::process::Command::new("curl")
        .args(["-sN", "-H", "Accept: text/event-stream", &format!("http://{m}/v2/events?event_type=deployment_success&event_type=app_terminated_event")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = sse.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(kind) = l.strip_prefix("event:") {
                let _ = tx.send(kind.trim().to_string());
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let app = json!({"id": "/evented", "cmd": "sleep 600", "cpus": 0.05, "mem": 16});
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&app)).0,
        201
    );
    until(&up, "deployed", || {
        no_deployments(&m) && running(&m, "/evented").len() == 1
    });
    assert_eq!(
        call("DELETE", &format!("http://{m}/v2/apps/evented"), None).0,
        200
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(&"app_terminated_event".to_string()) && Instant::now() < deadline {
        if let Ok(k) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(k);
        }
    }
    let _ = sse.kill();
    assert!(seen.contains(&"deployment_success".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"app_terminated_event".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|k| k == "deployment_success" || k == "app_terminated_event"),
        "filtered: {seen:?}"
    );
}
