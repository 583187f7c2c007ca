//! The Apps and Deployments pages in a real browser: Debian's Chromium driven by Playwright from
//! `tests/clients/ui_flows_apps.py`, against the gateway of `drover up` (2 agents, Marathon).
//! One cluster, three flows: scale an app from its page and watch the apps table follow
//! without a reload; restart an app whose new instances wait for a gate file (so the
//! deployment lasts until the flow has seen its progress) and watch it end; open an app no
//! agent can take and read why. Each page passes axe (no serious or critical violation).
//!
//! Skipped where Chromium or the venv is missing, unless DROVER_TESTS_NO_SKIP is set (CI).

mod common;
use common::ui::{browser_python, flow_in};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn app_json(marathon: &str, id: &str) -> Value {
    call("GET", &format!("http://{marathon}/v2/apps{id}"), None).1["app"].clone()
}

fn deployments_of(marathon: &str, id: &str) -> usize {
    call("GET", &format!("http://{marathon}/v2/deployments"), None)
        .1
        .as_array()
        .map_or(0, |d| {
            d.iter()
                .filter(|d| {
                    d["affectedApps"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == id))
                })
                .count()
        })
}

/// Started and settled: `n` running (healthy, where it has checks), no deployment.
fn settled(marathon: &str, id: &str, n: u64) -> bool {
    let a = app_json(marathon, id);
    let healthy_ok =
        a["healthChecks"].as_array().is_none_or(|h| h.is_empty()) || a["tasksHealthy"] == n;
    a["tasksRunning"] == n && healthy_ok && deployments_of(marathon, id) == 0
}

fn create(marathon: &str, app: &Value) {
    let (s, body) = call("POST", &format!("http://{marathon}/v2/apps"), Some(app));
    assert_eq!(s, 201, "{body}");
}

/// The flow passed, and every page it checked had no serious or critical axe violation (its
/// timings are logged, never asserted).
fn no_problems(v: &Value) {
    assert_eq!(v["ok"], true, "{v:#}");
    for (name, p) in v["pages"].as_object().into_iter().flatten() {
        assert_eq!(p["a11y"], json!([]), "{name}: {v:#}");
        eprintln!("{name}: {}", p["timings"]);
    }
    eprintln!("{}: {}", v["flow"], v["timings"]);
}

#[test]
fn apps_pages_in_a_browser_scale_restart_and_say_why_an_app_waits() {
    let Some(python) = browser_python() else {
        return;
    };
    let up = Up::start_with_marathon(2, &[]);
    let m = up.marathon.clone();
    let g = format!("http://{}", up.gateway);

    // (a) Scale from the app's page; the apps table (another tab) follows without a reload.
    create(
        &m,
        &json!({"id": "/ui-apps/web", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "instances": 1}),
    );
    wait_for(Duration::from_secs(60), || settled(&m, "/ui-apps/web", 1));
    let v = flow_in(
        "ui_flows_apps.py",
        &python,
        &["scale", "--url", &g, "--app", "/ui-apps/web", "--to", "3"],
    );
    no_problems(&v);
    assert_eq!(v["read_without_js"]["running"], "1", "{v:#}");
    assert_eq!(v["before"]["instances"], "1", "{v:#}");
    assert_eq!(v["after"]["running"], "3", "{v:#}");
    assert_eq!(v["after"]["instances"], "3", "{v:#}");
    assert!(
        v["flash"]
            .as_str()
            .is_some_and(|f| f.contains("to 3 instances")),
        "{v:#}"
    );
    assert_eq!(v["app_header"]["running"], "3", "{v:#}");
    assert_eq!(app_json(&m, "/ui-apps/web")["instances"], 3);

    // (b) Restart an app whose new instances are healthy only once the gate file exists: its
    // deployment lasts until the flow, having seen the progress, creates the gate.
    let gate = up.dir.path().join("gate");
    std::fs::write(&gate, "go\n").expect("the gate");
    let cmd = format!(
        "while [ ! -f {} ]; do sleep 0.2; done; touch ready; exec sleep 1000",
        gate.display()
    );
    create(
        &m,
        &json!({"id": "/ui-apps/gated", "cmd": cmd, "cpus": 0.05, "mem": 16, "instances": 1,
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": "test -f ready"},
                "gracePeriodSeconds": 300, "intervalSeconds": 1, "delaySeconds": 0,
                "timeoutSeconds": 2, "maxConsecutiveFailures": 3}]}),
    );
    wait_for(Duration::from_secs(60), || settled(&m, "/ui-apps/gated", 1));
    std::fs::remove_file(&gate).expect("close the gate");
    let v = flow_in(
        "ui_flows_apps.py",
        &python,
        &[
            "restart",
            "--url",
            &g,
            "--app",
            "/ui-apps/gated",
            "--gate",
            gate.to_str().expect("a path"),
            "--timeout",
            "60",
        ],
    );
    no_problems(&v);
    assert!(
        v["app_deployment"]["step"]
            .as_str()
            .is_some_and(|s| s.starts_with("Step 1 of")),
        "{v:#}"
    );
    assert!(
        v["app_deployment"]["steps"][0]
            .as_str()
            .is_some_and(|s| s.contains("/ui-apps/gated")),
        "{v:#}"
    );
    assert!(
        v["flash"]
            .as_str()
            .is_some_and(|f| f.starts_with("Restarting /ui-apps/gated")),
        "{v:#}"
    );
    assert_eq!(
        v["after"]["deployments"], "No deployment is running.",
        "{v:#}"
    );
    wait_for(Duration::from_secs(30), || settled(&m, "/ui-apps/gated", 1));

    // (c) An app no agent meets the constraint of: its page says why, per agent.
    create(
        &m,
        &json!({"id": "/ui-apps/nowhere", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
            "instances": 1, "constraints": [["hostname", "CLUSTER", "nope"]]}),
    );
    wait_for(Duration::from_secs(60), || {
        call("GET", &format!("http://{m}/v2/queue"), None).1["queue"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|q| {
                q["app"]["id"] == "/ui-apps/nowhere"
                    && q["processedOffersSummary"]["unusedOffersCount"]
                        .as_u64()
                        .is_some_and(|n| n > 0)
            })
    });
    let v = flow_in(
        "ui_flows_apps.py",
        &python,
        &[
            "why",
            "--url",
            &g,
            "--app",
            "/ui-apps/nowhere",
            "--timeout",
            "60",
        ],
    );
    no_problems(&v);
    let why = &v["why"];
    assert_eq!(why["heading"], "Why it is not running", "{v:#}");
    let reasons = why["reasons"].as_array().expect("reasons");
    assert!(
        reasons.iter().any(|r| r["code"]
            .as_str()
            .is_some_and(|c| c.starts_with("UnfulfilledConstraint"))
            && r["count"].as_u64().is_some_and(|n| n > 0)
            && r["meaning"]
                .as_str()
                .is_some_and(|m| m.contains("constraint"))),
        "{v:#}"
    );
    let agents = why["agents"].as_array().expect("agents");
    assert!(!agents.is_empty(), "the agents that refused: {v:#}");
    assert!(
        agents.iter().all(
            |a| a["reasons"].as_array().is_some_and(|r| r.iter().any(|c| c
                .as_str()
                .is_some_and(|c| c.starts_with("UnfulfilledConstraint"))))
        ),
        "{v:#}"
    );
    eprintln!("why: {}", why["text"]);
}
