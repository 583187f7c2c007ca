//! Marathon under stress, with separate master, agent and Marathon processes: a rolling update
//! sampled throughout, a failing health check, a killed agent, a kill -9 of Marathon in the
//! middle of a deployment, and placement constraints over agent attributes.

mod common;
use common::cluster::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct World {
    c: Cluster,
    marathon: Proc,
    url: String,
}

impl World {
    fn start(agents: usize, master_flags: &[&str]) -> World {
        let c = Cluster::start(agents, master_flags);
        let (marathon, url) = start_marathon(c.dir.path(), &c.master_addr, 0);
        World { c, marathon, url }
    }
    fn logs(&self) -> String {
        self.c.logs()
    }
}

fn tasks(url: &str, app: &str) -> Vec<Value> {
    call("GET", &format!("http://{url}/v2/apps{app}/tasks"), None).1["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn deployments(url: &str) -> usize {
    call("GET", &format!("http://{url}/v2/deployments"), None)
        .1
        .as_array()
        .map(|a| a.len())
        .unwrap_or(usize::MAX)
}

fn healthy(t: &Value) -> bool {
    t["state"] == "TASK_RUNNING"
        && t["healthCheckResults"]
            .as_array()
            .map(|r| r.iter().any(|h| h["alive"] == true))
            .unwrap_or(false)
}

fn web_app(id: &str, instances: u32, extra: Value) -> Value {
    let mut app = json!({
        "id": id, "instances": instances, "cpus": 0.05, "mem": 32,
        "cmd": "mkdir -p www && touch www/ok && cd www && exec python3 -m http.server $PORT0",
        "healthChecks": [{"protocol": "HTTP", "path": "/ok", "gracePeriodSeconds": 20, "intervalSeconds": 1, "timeoutSeconds": 5, "maxConsecutiveFailures": 2}],
    });
    if let (Some(a), Some(e)) = (app.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            a.insert(k.clone(), v.clone());
        }
    }
    app
}

fn wait_until(timeout: Duration, what: &str, w: &World, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}\n{}", w.logs());
}

#[test]
fn rolling_update_never_drops_below_minimum_health_capacity() {
    let w = World::start(2, &[]);
    let app = web_app(
        "/roll",
        4,
        json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}}),
    );
    let (code, body) = call("POST", &format!("http://{}/v2/apps", w.url), Some(&app));
    assert_eq!(code, 201, "{body}");
    wait_until(Duration::from_secs(60), "4 healthy", &w, || {
        tasks(&w.url, "/roll").iter().filter(|t| healthy(t)).count() == 4
            && deployments(&w.url) == 0
    });
    let (code, body) = call(
        "PUT",
        &format!("http://{}/v2/apps/roll", w.url),
        Some(&json!({"env": {"ROUND": "2"}})),
    );
    assert_eq!(code, 200, "{body}");
    let new_version = body["version"].as_str().unwrap().to_string();
    let mut min_healthy = usize::MAX;
    let mut max_total = 0;
    let mut samples = 0;
    let mut timeline = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ts = tasks(&w.url, "/roll");
        let h = ts.iter().filter(|t| healthy(t)).count();
        timeline.push(format!(
            "{h}/{}:{}",
            ts.len(),
            ts.iter()
                .map(|t| format!(
                    "{}{}",
                    if t["version"] == new_version.as_str() {
                        "N"
                    } else {
                        "o"
                    },
                    if healthy(t) {
                        "+".to_string()
                    } else {
                        format!(
                            "-[{} {} {}]",
                            t["state"],
                            t["healthCheckResults"][0]["consecutiveFailures"],
                            t["healthCheckResults"][0]["lastFailureCause"]
                        )
                    }
                ))
                .collect::<String>()
        ));
        min_healthy = min_healthy.min(h);
        max_total = max_total.max(ts.len());
        samples += 1;
        if deployments(&w.url) == 0
            && ts.len() == 4
            && ts
                .iter()
                .all(|t| healthy(t) && t["version"] == new_version.as_str())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rolling update did not finish\n{}",
            w.logs()
        );
    }
    assert!(samples > 3, "sampled during the update");
    assert!(
        min_healthy >= 2,
        "healthy instances fell to {min_healthy} (< minimumHealthCapacity 0.5 of 4): {}",
        timeline.join(" ")
    );
    assert!(max_total <= 6, "{max_total} instances at once (> 4 × 1.5)");
}

#[test]
fn failing_health_check_replaces_only_that_task() {
    let w = World::start(1, &[]);
    let (code, body) = call(
        "POST",
        &format!("http://{}/v2/apps", w.url),
        Some(&web_app("/hc", 3, json!({}))),
    );
    assert_eq!(code, 201, "{body}");
    wait_until(Duration::from_secs(60), "3 healthy", &w, || {
        tasks(&w.url, "/hc").iter().filter(|t| healthy(t)).count() == 3
    });
    let victim = tasks(&w.url, "/hc")[0]["id"].as_str().unwrap().to_string();
    let others: Vec<String> = tasks(&w.url, "/hc")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .filter(|t| t != &victim)
        .collect();
    // Make the victim's check fail: remove the file its server serves at /ok.
    let ok = glob_one(w.c.dir.path(), &victim);
    std::fs::remove_file(&ok).unwrap();
    wait_until(Duration::from_secs(60), "victim replaced", &w, || {
        let ts = tasks(&w.url, "/hc");
        !ts.iter().any(|t| t["id"] == victim.as_str())
            && ts.iter().filter(|t| healthy(t)).count() == 3
    });
    let ids: Vec<String> = tasks(&w.url, "/hc")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    for o in &others {
        assert!(ids.contains(o), "healthy task {o} was left alone");
    }
    let (_, app) = call("GET", &format!("http://{}/v2/apps/hc", w.url), None);
    assert_eq!(app["app"]["tasksHealthy"], 3);
}

/// The `www/ok` file in the sandbox of `task`.
fn glob_one(root: &std::path::Path, task: &str) -> std::path::PathBuf {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with("www/ok")
                && p.to_string_lossy().contains(&format!("/executors/{task}/"))
            {
                return p;
            }
        }
    }
    panic!("no sandbox file for {task}");
}

#[test]
fn killing_an_agent_moves_its_tasks() {
    let mut w = World::start(2, &["--agent-timeout", "2"]);
    let app = json!({"id": "/moving", "cmd": "sleep 600", "instances": 4, "cpus": 0.1, "mem": 32});
    assert_eq!(
        call("POST", &format!("http://{}/v2/apps", w.url), Some(&app)).0,
        201
    );
    wait_until(Duration::from_secs(60), "4 running", &w, || {
        tasks(&w.url, "/moving")
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count()
            == 4
    });
    let ts = tasks(&w.url, "/moving");
    let slaves = get_json(&format!("http://{}/master/slaves", w.c.master_addr)).unwrap();
    let pid_of_agent = |i: usize| {
        slaves["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["pid"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!(":{}", w.c.agents[i].2))
            })
            .map(|s| s["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (busiest, _) = (0..2)
        .map(|i| {
            (
                i,
                ts.iter()
                    .filter(|t| t["slaveId"] == pid_of_agent(i).as_str())
                    .count(),
            )
        })
        .max_by_key(|x| x.1)
        .unwrap();
    let dead_id = pid_of_agent(busiest);
    let (mut dead, _, _) = w.c.agents.remove(busiest);
    dead.kill9();
    wait_until(
        Duration::from_secs(60),
        "tasks moved to the surviving agent",
        &w,
        || {
            let ts = tasks(&w.url, "/moving");
            ts.len() == 4
                && ts
                    .iter()
                    .all(|t| t["state"] == "TASK_RUNNING" && t["slaveId"] != dead_id.as_str())
        },
    );
}

#[test]
fn marathon_kill9_mid_deployment_loses_nothing_and_duplicates_nothing() {
    let mut w = World::start(2, &[]);
    let app = json!({"id": "/durable", "cmd": "sleep 600", "instances": 6, "cpus": 0.1, "mem": 32});
    assert_eq!(
        call("POST", &format!("http://{}/v2/apps", w.url), Some(&app)).0,
        201
    );
    // Kill it as soon as some, but not all, tasks exist.
    wait_until(Duration::from_secs(30), "deployment under way", &w, || {
        !tasks(&w.url, "/durable").is_empty()
    });
    let port: u16 = w.url.rsplit(':').next().unwrap().parse().unwrap();
    w.marathon.kill9();
    let (m, url) = start_marathon(w.c.dir.path(), &w.c.master_addr, port);
    w.marathon = m;
    w.url = url;
    wait_until(
        Duration::from_secs(60),
        "6 running after restart",
        &w,
        || {
            deployments(&w.url) == 0
                && tasks(&w.url, "/durable")
                    .iter()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .count()
                    == 6
        },
    );
    // The master agrees: exactly the 6 tasks Marathon knows run for the marathon framework.
    let ours: std::collections::BTreeSet<String> = tasks(&w.url, "/durable")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    wait_until(
        Duration::from_secs(30),
        "no orphan left on the master",
        &w,
        || {
            let st =
                get_json(&format!("http://{}/master/tasks?limit=-1", w.c.master_addr)).unwrap();
            let live: std::collections::BTreeSet<String> = st["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| {
                    matches!(
                        t["state"].as_str(),
                        Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING")
                    )
                })
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect();
            live == ours
        },
    );
    let fws = get_json(&format!("http://{}/master/frameworks", w.c.master_addr)).unwrap();
    let marathons = fws["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "marathon")
        .count();
    assert_eq!(marathons, 1, "Marathon came back as the same framework");
}

#[test]
fn constraints_spread_instances_over_racks_and_zones() {
    let w = World::start(3, &[]);
    let unique = json!({"id": "/unique", "cmd": "sleep 600", "instances": 3, "cpus": 0.1, "mem": 32, "constraints": [["rack", "UNIQUE"]]});
    let grouped = json!({"id": "/grouped", "cmd": "sleep 600", "instances": 4, "cpus": 0.1, "mem": 32, "constraints": [["zone", "GROUP_BY", "2"]]});
    let too_many = json!({"id": "/too-many", "cmd": "sleep 600", "instances": 4, "cpus": 0.1, "mem": 32, "constraints": [["rack", "UNIQUE"]]});
    for a in [&unique, &grouped, &too_many] {
        assert_eq!(
            call("POST", &format!("http://{}/v2/apps", w.url), Some(a)).0,
            201
        );
    }
    let agent_attr = |agent_id: &str, key: &str| -> String {
        let s = get_json(&format!("http://{}/master/slaves", w.c.master_addr)).unwrap();
        s["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == agent_id)
            .map(|x| {
                x["attributes"][key]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default()
    };
    wait_until(Duration::from_secs(60), "placements", &w, || {
        tasks(&w.url, "/unique")
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count()
            == 3
            && tasks(&w.url, "/grouped")
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count()
                == 4
            && tasks(&w.url, "/too-many")
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .count()
                == 3
    });
    let racks: std::collections::BTreeSet<String> = tasks(&w.url, "/unique")
        .iter()
        .map(|t| agent_attr(t["slaveId"].as_str().unwrap(), "rack"))
        .collect();
    assert_eq!(racks.len(), 3, "one per rack: {racks:?}");
    let mut zones: std::collections::BTreeMap<String, usize> = Default::default();
    for t in tasks(&w.url, "/grouped") {
        *zones
            .entry(agent_attr(t["slaveId"].as_str().unwrap(), "zone"))
            .or_default() += 1;
    }
    assert_eq!(
        zones.values().copied().collect::<Vec<_>>(),
        vec![2, 2],
        "even over zones: {zones:?}"
    );
    // The fourth UNIQUE instance cannot be placed, and /v2/queue says why.
    let q = call("GET", &format!("http://{}/v2/queue", w.url), None).1;
    let item = q["queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["app"]["id"] == "/too-many")
        .cloned()
        .expect("queued");
    assert_eq!(item["count"], 1);
    let reasons = item["processedOffersSummary"]["rejectSummaryLastOffers"].to_string();
    assert!(reasons.contains("UnfulfilledConstraint"), "{reasons}");
}
