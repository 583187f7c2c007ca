//! Marathon through the real marathon-python client against `drover up`: create, list, scale,
//! restart, update, kill (with and without scale), validation and conflicts, delete, events.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn marathon_python_drives_apps_end_to_end() {
    let py = pyclients();
    let up = Up::start_with_marathon(2, &[]);
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/marathon_scenario.py"))
        .arg(format!("http://{}", up.marathon))
        .output()
        .expect("run marathon scenario");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "scenario output not JSON ({e}): {stdout}\nstderr: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        )
    });
    let errors: Vec<&Value> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !e.as_str().unwrap_or_default().starts_with("event stream"))
        .collect();
    assert!(errors.is_empty(), "{r:#}\n{}", up.log());
    assert_eq!(r["created_id"], "/test/sleeper");
    assert_eq!(r["listed"], serde_json::json!(["/test/sleeper"]));
    assert_eq!(r["label_filter"], serde_json::json!(["/test/sleeper"]));
    assert_eq!(r["get_app_instances"], 2);
    assert_eq!(r["after_scale"], 4);
    assert_eq!(r["restart_replaced_all"], true);
    assert_eq!(r["after_update_cmd"], "sleep 700");
    assert_eq!(r["after_update"], 3);
    assert_eq!(r["replaced_after_kill"], true);
    assert_eq!(r["after_kill_scale"], serde_json::json!([2, 2]));
    assert_eq!(r["duplicate_create"], 409);
    assert_eq!(r["invalid_create"], 422);
    assert_eq!(r["after_delete"], 404);
    assert_eq!(r["info_name"], "marathon");
    let events: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    for kind in [
        "api_post_event",
        "status_update_event",
        "deployment_success",
    ] {
        assert!(
            events.contains(&kind),
            "event {kind} not seen in {events:?}"
        );
    }
    // Marathon is a framework like any other: the master sees it, named "marathon".
    let fws = get_json(&format!("http://{}/master/frameworks", up.master)).unwrap();
    assert!(fws["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "marathon"));
}
