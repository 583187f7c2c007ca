//! Marathon behaviours a user notices, against `drover up`: readiness checks hold a deployment
//! until instances are ready, failed tasks back off (visible in /v2/queue, resettable), and the
//! kill governor stops killing when most instances turn unhealthy at once.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn until(up: &Up, timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}\n{}", up.log());
}

fn sandbox_file(root: &std::path::Path, task: &str, rel: &str) -> std::path::PathBuf {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.to_string_lossy()
                    .contains(&format!("/executors/{task}/runs/"))
                    && p.join("www").is_dir()
                {
                    return p.join(rel);
                }
                stack.push(p);
            }
        }
    }
    panic!("no sandbox for {task}");
}

#[test]
fn readiness_checks_hold_the_deployment_until_instances_are_ready() {
    let up = Up::start_with_marathon(1, &[]);
    let m = &up.marathon;
    let app = json!({
        "id": "/ready", "instances": 2, "cpus": 0.05, "mem": 32,
        "cmd": "mkdir -p www && cd www && exec python3 -m http.server $PORT0",
        "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [{"name": "r", "protocol": "HTTP", "path": "/ready", "portName": "http", "intervalSeconds": 0.3, "timeoutSeconds": 2, "httpStatusCodesForReady": [200]}],
    });
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&app)).0,
        201
    );
    until(&up, Duration::from_secs(30), "2 running", || {
        call("GET", &format!("http://{m}/v2/apps/ready/tasks"), None).1["tasks"]
            .as_array()
            .map(|t| t.iter().filter(|x| x["state"] == "TASK_RUNNING").count() == 2)
            .unwrap_or(false)
    });
    // Running but not ready: the deployment is still there, and readiness results say why.
    let (_, deps) = call("GET", &format!("http://{m}/v2/deployments"), None);
    assert_eq!(
        deps.as_array().unwrap().len(),
        1,
        "deployment waits for readiness: {deps}"
    );
    until(&up, Duration::from_secs(10), "readiness results", || {
        let (_, a) = call(
            "GET",
            &format!("http://{m}/v2/apps?embed=apps.readiness"),
            None,
        );
        a["apps"][0]["readinessCheckResults"]
            .as_array()
            .map(|r| {
                r.iter()
                    .any(|x| x["ready"] == false && x["lastResponse"]["status"] == 404)
            })
            .unwrap_or(false)
    });
    for t in call("GET", &format!("http://{m}/v2/apps/ready/tasks"), None).1["tasks"]
        .as_array()
        .unwrap()
    {
        std::fs::write(
            sandbox_file(up.dir.path(), t["id"].as_str().unwrap(), "www/ready"),
            "yes",
        )
        .unwrap();
    }
    until(
        &up,
        Duration::from_secs(20),
        "deployment finished once ready",
        || {
            call("GET", &format!("http://{m}/v2/deployments"), None)
                .1
                .as_array()
                .map(|a| a.is_empty())
                .unwrap_or(false)
        },
    );
}

#[test]
fn failing_tasks_back_off_and_the_delay_can_be_reset() {
    let up = Up::start_with_marathon(1, &[]);
    let m = &up.marathon;
    let app = json!({"id": "/crashy", "cmd": "echo crashing; exit 7", "instances": 1, "cpus": 0.05, "mem": 16, "backoffSeconds": 600, "backoffFactor": 2});
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&app)).0,
        201
    );
    let failure = |up: &Up| -> Value {
        let mut last = Value::Null;
        until(up, Duration::from_secs(30), "lastTaskFailure", || {
            last = call(
                "GET",
                &format!("http://{m}/v2/apps/crashy?embed=apps.lastTaskFailure"),
                None,
            )
            .1["app"]["lastTaskFailure"]
                .clone();
            !last.is_null()
        });
        last
    };
    let first = failure(&up);
    assert_eq!(first["state"], "TASK_FAILED");
    assert_eq!(first["message"], "Command exited with status 7");
    // The next launch waits: the queue shows the delay.
    let (_, q) = call("GET", &format!("http://{m}/v2/queue"), None);
    let item = q["queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["app"]["id"] == "/crashy")
        .cloned()
        .expect("queued");
    assert!(
        item["delay"]["timeLeftSeconds"].as_i64().unwrap() > 60,
        "{item}"
    );
    assert_eq!(item["delay"]["overdue"], false);
    // Reset it: a new attempt happens (and fails again, with a new task id).
    assert_eq!(
        call("DELETE", &format!("http://{m}/v2/queue/crashy/delay"), None).0,
        204
    );
    until(
        &up,
        Duration::from_secs(30),
        "a new attempt after the reset",
        || {
            let now = call(
                "GET",
                &format!("http://{m}/v2/apps/crashy?embed=apps.lastTaskFailure"),
                None,
            )
            .1["app"]["lastTaskFailure"]
                .clone();
            now["taskId"] != first["taskId"] && !now.is_null()
        },
    );
    assert_eq!(
        call("DELETE", &format!("http://{m}/v2/queue/nope/delay"), None).0,
        404
    );
}

#[test]
fn kill_governor_stops_killing_when_most_instances_fail_at_once() {
    let up = Up::start_with_marathon(1, &[]);
    let m = &up.marathon;
    let app = json!({
        "id": "/governed", "instances": 3, "cpus": 0.05, "mem": 32,
        "cmd": "mkdir -p www && touch www/ok && cd www && exec python3 -m http.server $PORT0",
        "healthChecks": [{"protocol": "HTTP", "path": "/ok", "gracePeriodSeconds": 20, "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 2}],
    });
    assert_eq!(
        call("POST", &format!("http://{m}/v2/apps"), Some(&app)).0,
        201
    );
    let get = || {
        call(
            "GET",
            &format!("http://{m}/v2/apps/governed?embed=app.killGovernor"),
            None,
        )
        .1["app"]
            .clone()
    };
    until(&up, Duration::from_secs(30), "3 healthy", || {
        get()["tasksHealthy"] == 3
    });
    let ids: Vec<String> = get()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    // The checker (here: the file every instance serves) breaks for all of them at once.
    for id in &ids {
        std::fs::remove_file(sandbox_file(up.dir.path(), id, "www/ok")).unwrap();
    }
    until(&up, Duration::from_secs(20), "governor engaged", || {
        let a = get();
        a["killGovernor"]["engaged"] == true && a["tasksUnhealthy"].as_u64().unwrap_or(0) >= 2
    });
    let a = get();
    assert!(a["tasksUnhealthy"].as_u64().unwrap() >= 2, "{a}");
    let now: Vec<String> = a["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert!(
            now.contains(id),
            "instance {id} was killed while the governor was engaged"
        );
    }
    // Checks recover: the governor lets go and the app is healthy with the same instances.
    for id in &ids {
        std::fs::write(sandbox_file(up.dir.path(), id, "www/ok"), "").unwrap();
    }
    until(&up, Duration::from_secs(20), "healthy again", || {
        let a = get();
        a["tasksHealthy"] == 3 && a["killGovernor"].is_null()
    });
}

#[test]
fn mesos_http_and_command_checks_run_on_the_agent_and_show_in_marathon() {
    let up = Up::start_with_marathon(1, &[]);
    let m = &up.marathon;
    let web = json!({
        "id": "/agent-checked", "instances": 2, "cpus": 0.05, "mem": 32,
        "cmd": "mkdir -p www && touch www/ok && cd www && exec python3 -m http.server $PORT0",
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/ok", "gracePeriodSeconds": 20, "intervalSeconds": 1, "delaySeconds": 0, "timeoutSeconds": 2, "maxConsecutiveFailures": 2}],
    });
    let cmd = json!({
        "id": "/cmd-checked", "instances": 1, "cpus": 0.05, "mem": 16, "cmd": "touch alive; sleep 600",
        "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f alive"}, "gracePeriodSeconds": 20, "intervalSeconds": 1, "delaySeconds": 0, "timeoutSeconds": 2, "maxConsecutiveFailures": 2}],
    });
    for a in [&web, &cmd] {
        assert_eq!(call("POST", &format!("http://{m}/v2/apps"), Some(a)).0, 201);
    }
    let get = |id: &str| call("GET", &format!("http://{m}/v2/apps{id}"), None).1["app"].clone();
    until(
        &up,
        Duration::from_secs(30),
        "checked healthy by the agents",
        || get("/agent-checked")["tasksHealthy"] == 2 && get("/cmd-checked")["tasksHealthy"] == 1,
    );
    // The master's copy of the task carries the Mesos health check Marathon set.
    let tasks = get_json(&format!("http://{}/master/tasks", up.master)).unwrap();
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["statuses"]
                .as_array()
                .map(|s| s.iter().any(|x| x["healthy"] == true))
                .unwrap_or(false)),
        "{tasks}"
    );
    // The command check fails: the agent reports it, kills the task, Marathon replaces it.
    let victim = get("/cmd-checked")["tasks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let alive = {
        let mut stack = vec![up.dir.path().to_path_buf()];
        let mut found = None;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.ends_with("alive")
                    && p.to_string_lossy()
                        .contains(&format!("/executors/{victim}/"))
                {
                    found = Some(p);
                }
            }
        }
        found.expect("sandbox file")
    };
    std::fs::remove_file(alive).unwrap();
    until(
        &up,
        Duration::from_secs(30),
        "replaced after failing its command check",
        || {
            let a = get("/cmd-checked");
            a["tasksHealthy"] == 1 && a["tasks"][0]["id"] != victim.as_str()
        },
    );
}
