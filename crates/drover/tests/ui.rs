//! The web UI in a real browser: Debian's Chromium (`/usr/bin/chromium`) driven by Playwright
//! from `tests/clients/ui_flows.py` (the venv `$PYC/ui` that tests/clients/setup.sh builds),
//! against the gateway of `drover up`. Each flow prints one JSON object (what it read, the
//! accessibility violations, timings); the tests assert on it. The browser harness is checked
//! first on pages of its own; then the dashboard: the agent and task counts, live when Marathon
//! scales an app (no reload), with no serious accessibility violation.
//!
//! Skipped where Chromium or the venv is missing, unless DROVER_TESTS_NO_SKIP is set (CI), where
//! that fails. `scripts/ui-screenshots.sh` runs these with DROVER_UI_SCREENSHOTS=docs/ui to
//! picture the pages for the README.

mod common;
use common::ui::{browser_python, flow};
use common::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn the_browser_harness_sees_what_it_must() {
    let Some(python) = browser_python() else {
        return;
    };
    // Pages served by the script itself: an unlabelled <input> axe reports, a console error,
    // a 404, a long task, a count that changes without a reload, a page missing the layout.
    let v = flow(&python, &["selftest"]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert!(
        v["a11y"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == "label")),
        "{v:#}"
    );
    eprintln!("Chromium {}: {}", v["browser"], v["timings"]);
}

fn running_tasks(marathon: &str, app: &str) -> usize {
    call(
        "GET",
        &format!("http://{marathon}/v2/apps{app}/tasks"),
        None,
    )
    .1["tasks"]
        .as_array()
        .map_or(0, |t| {
            t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
        })
}

fn no_deployments(marathon: &str) -> bool {
    call("GET", &format!("http://{marathon}/v2/deployments"), None)
        .1
        .as_array()
        .is_some_and(|d| d.is_empty())
}

#[test]
fn the_dashboard_shows_the_counts_and_follows_a_scale_without_a_reload() {
    let Some(python) = browser_python() else {
        return;
    };
    // Without the jobs scheduler: the frameworks counted are Marathon alone.
    let up = Up::start_with_marathon(2, &["--no-jobs"]);
    let app = json!({"id": "/ui-dash", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
        "instances": 1});
    let (s, body) = call(
        "POST",
        &format!("http://{}/v2/apps", up.marathon),
        Some(&app),
    );
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(60), || {
        running_tasks(&up.marathon, "/ui-dash") == 1 && no_deployments(&up.marathon)
    });

    // The flow reads the counts, then scales the app to 3 through the gateway and waits for
    // the running count to follow on the open page.
    let g = format!("http://{}", up.gateway);
    let v = flow(
        &python,
        &[
            "dashboard",
            "--url",
            &g,
            "--agents",
            "2",
            "--running",
            "1",
            "--frameworks",
            "1",
            "--then-request",
            "PUT",
            "/service/marathon/v2/apps/ui-dash",
            r#"{"instances": 3}"#,
            "--then-running",
            "3",
        ],
    );
    let counts = json!({"agents-active": 2, "agents-total": 2, "tasks-running": 1,
        "frameworks": 1});
    assert_eq!(v["read_without_js"], counts, "server-rendered: {v:#}");
    assert_eq!(v["read"], counts, "live: {v:#}");
    assert_eq!(v["after"]["tasks-running"], 3, "{v:#}");
    assert_eq!(v["after"]["marker_survived"], true, "reloaded: {v:#}");
    assert_eq!(v["a11y"], json!([]), "{v:#}");
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(running_tasks(&up.marathon, "/ui-dash"), 3);
    eprintln!("dashboard timings: {}", v["timings"]);
}

#[test]
fn every_page_reads_without_javascript_passes_axe_and_answers_the_keyboard() {
    let Some(python) = browser_python() else {
        return;
    };
    let up = Up::start_with_marathon(1, &[]);
    let app = json!({"id": "/sweep/web", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
        "instances": 1, "labels": {"team": "ui"}});
    let (s, body) = call(
        "POST",
        &format!("http://{}/v2/apps", up.marathon),
        Some(&app),
    );
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(60), || {
        running_tasks(&up.marathon, "/sweep/web") == 1 && no_deployments(&up.marathon)
    });
    // A job with a schedule and a run going: the jobs table and the job's page have rows.
    let jobs = format!("http://{}/v1/jobs", up.jobs);
    let job = json!({"id": "sweep.nightly", "description": "the sweep's job",
        "run": {"cmd": "sleep 1000", "cpus": 0.1, "mem": 32},
        "schedules": [{"id": "default", "cron": "0 3 * * *", "timezone": "Europe/Paris"}]});
    let (s, body) = call("POST", &jobs, Some(&job));
    assert_eq!(s, 201, "{body}");
    let (s, body) = call("POST", &format!("{jobs}/sweep.nightly/runs"), None);
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(60), || {
        call("GET", &format!("{jobs}/sweep.nightly/runs"), None)
            .1
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["status"] == "ACTIVE"))
    });
    let g = format!("http://{}", up.gateway);
    let v = flow(&python, &["sweep", "--url", &g]);
    let pages = v["pages"].as_object().cloned().unwrap_or_default();
    for name in [
        "dashboard",
        "services",
        "apps",
        "deployments",
        "nodes",
        "tasks",
        "packages",
        "jobs",
        "service",
        "node",
        "task",
        "job",
        "app",
    ] {
        let p = &pages
            .get(name)
            .unwrap_or_else(|| panic!("no {name} page swept: {v:#}"));
        assert!(p["h1_without_js"].is_string(), "{name}: {p:#}");
        assert_eq!(p["a11y"], json!([]), "{name}: {p:#}");
    }
    assert_eq!(v["keyboard"]["/ focuses"], "q", "{v:#}");
    assert_eq!(v["ok"], true, "{v:#}");
}
