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
    // The event stream included: marathon-python's parser raised on Drover's events before.
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}\n{}", up.log());
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

/// marathon-python's own `event_stream()` (parsed, not raw) follows a create, scale, update,
/// health failure, kill and delete without raising, and its callback-subscription calls work.
#[test]
fn marathon_python_parses_every_event_and_drives_callbacks() {
    let py = pyclients();
    let up = Up::start_with_marathon(1, &[]);
    // A callback that answers 200 to everything (delivery itself is checked in
    // marathon_fidelity.rs).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let callback = format!("http://{}/cb", l.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut c in l.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 65536];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0
                    || c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                {
                    break;
                }
            }
        }
    });
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/marathon_events.py"))
        .arg(format!("http://{}", up.marathon))
        .arg(&callback)
        .output()
        .expect("run marathon events");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "output not JSON ({e}): {stdout}\nstderr: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        )
    });
    assert_eq!(r["errors"], serde_json::json!([]), "{r:#}\n{}", up.log());
    assert_eq!(r["subscribed"], callback.as_str());
    assert_eq!(r["subscriptions"], serde_json::json!([callback]));
    assert_eq!(r["unsubscribed"], callback.as_str());
    assert_eq!(r["subscriptions_after"], serde_json::json!([]));
    let port = r["port_definitions"][0].as_u64().unwrap();
    assert!((10000..=20000).contains(&port), "{r}");
    assert_eq!(r["task_service_ports"], serde_json::json!([[port]]));
    assert_eq!(
        r["health_check"],
        serde_json::json!({"interval": 1, "timeout": 20})
    );
    assert!(r["plans"].as_u64().unwrap() > 0);
    for kind in [
        "api_post_event",
        "status_update_event",
        "instance_changed_event",
        "group_change_success",
        "deployment_info",
        "deployment_step_success",
        "deployment_success",
        "health_status_changed_event",
        "instance_health_changed_event",
        "failed_health_check_event",
        "unhealthy_instance_kill_event",
        "add_health_check_event",
        "remove_health_check_event",
        "app_terminated_event",
        "subscribe_event",
        "event_stream_attached",
    ] {
        assert!(
            r["events"].as_array().unwrap().iter().any(|e| e == kind),
            "event {kind} not parsed: {r}"
        );
    }
}
