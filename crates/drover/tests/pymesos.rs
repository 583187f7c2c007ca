//! The real pymesos scheduler and executor drivers against `drover up`: command tasks (shell,
//! argv, env, uris), a custom pymesos executor with framework messages both ways, kill,
//! invalid tasks, explicit and implicit reconciliation, decline, suppress and revive.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn pymesos_scheduler_and_executor_work_unchanged() {
    let py = pyclients();
    let up = Up::start(2, &[]);
    let work = tempfile::tempdir().unwrap();
    let clients = repo_root().join("tests/clients");
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(clients.join("pymesos_scenario.py"))
        .arg(&up.master)
        .arg(work.path())
        .arg(clients.join("pymesos_executor.py"))
        .output()
        .expect("run pymesos scenario");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "scenario output not JSON ({e}): {stdout}\nstderr: {}\nmaster log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        )
    });
    assert_eq!(
        r["completed"],
        true,
        "scenario did not complete: {r:#}\nlog:\n{}",
        up.log()
    );
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}");
    let states = |t: &str| -> Vec<String> {
        r["updates"][t]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let d = |t: &str, k: &str| r["details"][t][k].clone();
    for t in ["argv-ok", "uris"] {
        assert_eq!(
            states(t),
            ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"],
            "{t}: {r:#}"
        );
    }
    // The duplicate launch of shell-ok is refused; the first one runs to completion.
    let s = states("shell-ok");
    assert!(
        s.contains(&"TASK_ERROR".to_string()) && s.ends_with(&["TASK_FINISHED".to_string()]),
        "{r:#}"
    );
    assert_eq!(
        states("fail"),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    );
    assert_eq!(d("fail", "message"), "Command exited with status 3");
    assert_eq!(
        states("sleeper"),
        ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
    );
    assert_eq!(states("bad-fetch"), ["TASK_FAILED"]);
    assert_eq!(d("bad-fetch", "reason"), "REASON_CONTAINER_LAUNCH_FAILED");
    assert!(d("bad-fetch", "message")
        .as_str()
        .unwrap_or_default()
        .contains("/nonexistent/artifact.tgz"));
    assert_eq!(states("no-resources"), ["TASK_ERROR"]);
    assert_eq!(d("no-resources", "reason"), "REASON_TASK_INVALID");
    assert_eq!(d("no-resources", "message"), "Task uses no resources");
    assert_eq!(states("exec-task"), ["TASK_RUNNING", "TASK_FINISHED"]);
    assert_eq!(d("exec-task", "message"), "done by executor");
    assert_eq!(
        r["messages"],
        serde_json::json!(["pong"]),
        "executor -> scheduler message"
    );
    let rec = r["reconciled"].as_array().cloned().unwrap_or_default();
    assert!(
        rec.iter()
            .any(|x| x[0] == "shell-ok" && x[1] == "TASK_FINISHED"),
        "explicit reconcile of a finished task: {rec:?}"
    );
    assert!(
        rec.iter()
            .any(|x| x[0] == "never-existed" && x[1] == "TASK_LOST"),
        "unknown task reconciles as LOST: {rec:?}"
    );
    assert!(
        r["offers_after_revive"].as_u64().unwrap_or(0) >= 1,
        "revive brings offers back"
    );

    // The task's output landed in its sandbox, readable through `drover task log`.
    let log = std::process::Command::new(drover_bin())
        .args(["task", "log", "shell-ok", "--master", &up.master])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("hello-bar"),
        "task log: {:?}",
        log
    );
    let _ = Duration::from_secs(0);
}
