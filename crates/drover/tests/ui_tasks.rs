//! The web UI's Tasks pages in a real browser (Debian's Chromium, driven by Playwright from
//! `tests/clients/ui_flows_tasks.py`), against the gateway of `drover up` with Marathon: the
//! tasks table filtered with its form (name, state, host), a task's page following its stdout
//! live over the tab's one event stream (a line with a higher counter appears without a reload),
//! the page without JavaScript, the sandbox browser and the file view, paths that leave the
//! sandbox refused, the log panel's bound, and no serious accessibility violation on any page.
//!
//! Skipped where Chromium or the ui venv is missing, unless DROVER_TESTS_NO_SKIP is set (CI).
//! `scripts/ui-screenshots.sh` runs the browser tests with DROVER_UI_SCREENSHOTS=docs/ui for
//! the pictures (tasks, task, sandbox, file).

mod common;
use common::ui::{browser_python, flow_in};
use common::*;
use serde_json::json;
use std::time::Duration;

fn running(marathon: &str, app: &str) -> usize {
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

#[test]
fn a_tasks_log_follows_live_and_its_sandbox_is_browsed() {
    let Some(python) = browser_python() else {
        return;
    };
    let up = Up::start_with_marathon(2, &[]);
    // The task to follow prints a counted line every 0.2 s; another app's task is there for
    // the filters to leave out.
    let apps = [
        json!({"id": "/ui-log", "cpus": 0.1, "mem": 16, "instances": 1,
            "cmd": "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"}),
        json!({"id": "/ui-quiet", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}),
    ];
    for app in &apps {
        let (s, body) = call(
            "POST",
            &format!("http://{}/v2/apps", up.marathon),
            Some(app),
        );
        assert_eq!(s, 201, "{body}");
    }
    wait_for(Duration::from_secs(60), || {
        running(&up.marathon, "/ui-log") == 1 && running(&up.marathon, "/ui-quiet") == 1
    });

    let g = format!("http://{}", up.gateway);
    let v = flow_in(
        "ui_flows_tasks.py",
        &python,
        &["tasks", "--url", &g, "--name", "ui-log", "--running", "2"],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    let names = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| r["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names("rows_by_name"), ["ui-log"], "{v:#}");
    let mut both = names("rows_running_on_host");
    both.sort();
    assert_eq!(both, ["ui-log", "ui-quiet"], "{v:#}");
    assert_eq!(v["rows_nowhere"], 0, "{v:#}");
    let live = &v["live"];
    assert!(
        live["later"].as_i64() > live["first"].as_i64(),
        "the counter went up live: {live:#}"
    );
    assert_eq!(live["marker_survived"], true, "{live:#}");
    assert_eq!(
        live["event_streams"].as_array().map(Vec::len),
        Some(1),
        "{live:#}"
    );
    // A broken stream is reopened by the page from where its log and events were.
    assert_eq!(v["reconnect"]["not_consecutive"], json!([]), "{v:#}");
    assert!(v["without_js"]["max_counter"].as_i64() >= Some(0), "{v:#}");
    assert_eq!(v["file_view"]["download_status"], 200, "{v:#}");
    assert_eq!(
        v["refused"],
        json!({"../../etc": 400, "/etc/passwd": 400}),
        "{v:#}"
    );
    for page in ["tasks", "task", "sandbox", "file"] {
        assert_eq!(v["pages"][page]["a11y"], json!([]), "{page}: {v:#}");
    }
    assert!(v["flooded"]["lines"].as_u64() <= Some(5000), "{v:#}");
    eprintln!("tasks flow timings: {}", v["timings"]);
    eprintln!("live: {}\nreconnect: {}", v["live"], v["reconnect"]);
}
