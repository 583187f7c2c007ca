//! The web UI's Resources page in a real browser (Debian's Chromium, driven by Playwright from
//! `tests/clients/ui_flows_resources.py`), against the gateway of `drover up`: a quota set with
//! `UPDATE_QUOTA`, a reservation with `RESERVE_RESOURCES` and a persistent volume on it with
//! `CREATE_VOLUMES` (the operator API, as curl sends them), a machine in the maintenance
//! schedule, the agent drained (`DRAIN_AGENT`); the page shows the role with its quota numbers and bars, the reservation by agent
//! and role with its volume, the machine DRAINING with its window, the agent out of service; filtered with its form; the
//! same without JavaScript; no serious accessibility violation.
//!
//! Skipped where Chromium or the ui venv is missing, unless DROVER_TESTS_NO_SKIP is set (CI).
//! `scripts/ui-screenshots.sh` runs the browser tests with DROVER_UI_SCREENSHOTS=docs/ui for
//! the pictures (resources).

mod common;
use common::ui::{browser_python, flow_in};
use common::*;
use serde_json::{json, Value};

fn operator(master: &str, body: &Value) -> (u16, String) {
    post_text(&format!("http://{master}/api/v1"), body)
}

fn find<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r[key] == value))
        .unwrap_or(&Value::Null)
}

#[test]
fn the_resources_page_shows_quota_reservations_volumes_and_maintenance() {
    let Some(python) = browser_python() else {
        return;
    };
    let up = Up::start(1, &[]);
    let (_, slaves) = call("GET", &format!("http://{}/master/slaves", up.master), None);
    let agent = &slaves["slaves"][0];
    let id = agent["id"].as_str().unwrap_or("").to_string();
    assert!(!id.is_empty(), "{slaves:#}");

    let quota = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "guarantees": {"cpus": {"value": 0.5}},
         "limits": {"cpus": {"value": 1.0}, "mem": {"value": 256.0}}}]}});
    assert_eq!(operator(&up.master, &quota), (200, String::new()));
    let reservation = |name: &str, v: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": v},
               "reservations": [{"type": "DYNAMIC", "role": "eng/web", "principal": "ops"}]})
    };
    let reserve = json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
        "agent_id": {"value": id}, "resources": [reservation("cpus", 0.25), reservation("disk", 16.0)]}});
    assert_eq!(operator(&up.master, &reserve), (202, String::new()));
    let mut volume = reservation("disk", 16.0);
    volume["disk"] = json!({"persistence": {"id": "ui-vol", "principal": "ops"},
                            "volume": {"container_path": "data", "mode": "RW"}});
    let create = json!({"type": "CREATE_VOLUMES", "create_volumes": {
        "agent_id": {"value": id}, "volumes": [volume]}});
    assert_eq!(operator(&up.master, &create), (202, String::new()));
    // The agent drained (it runs nothing: DRAINING, then DRAINED at once or soon). Before the
    // schedule: an agent of a scheduled machine cannot be drained, as in Mesos.
    let drain = json!({"type": "DRAIN_AGENT", "drain_agent": {
        "agent_id": {"value": id}, "max_grace_period": {"seconds": 30}}});
    assert_eq!(operator(&up.master, &drain), (200, String::new()));

    // A machine in the schedule (no agent's), an hour from now for two: DRAINING at once.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 + 3600);
    let schedule = json!({"windows": [{"machine_ids": [{"hostname": "maint-1.example"}],
        "unavailability": {"start": {"nanoseconds": start * 1_000_000_000},
                           "duration": {"nanoseconds": 7_200_000_000_000i64}}}]});
    let (code, body) = post_text(
        &format!("http://{}/master/maintenance/schedule", up.master),
        &schedule,
    );
    assert_eq!(code, 200, "{body}");

    let g = format!("http://{}", up.gateway);
    let v = flow_in(
        "ui_flows_resources.py",
        &python,
        &["resources", "--url", &g, "--role", "dev"],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    for read in [&v["read"], &v["without_js"]] {
        let dev = find(&read["roles"], "name", "dev");
        assert_eq!(dev["guarantee"], "cpus 0.5", "{read:#}");
        assert_eq!(dev["limit"], "cpus 1 · mem 256 MiB", "{read:#}");
        assert_eq!(
            dev["bars"],
            json!(["cpus 0% of its quota", "mem 0% of its quota"]),
            "{read:#}"
        );
        // The nested role, under its parent, which lists it by its path.
        let web = find(&read["roles"], "name", "eng/web");
        assert_eq!(web["reserved"], "cpus 0.25 · disk 16 MiB", "{read:#}");
        assert!(
            web["shown"]
                .as_str()
                .is_some_and(|s| s.ends_with("eng/web")),
            "{web:#}"
        );
        assert_eq!(
            find(&read["roles"], "name", "eng")["reserved"],
            web["reserved"]
        );
        let r = find(&read["reservations"], "role", "eng/web");
        assert_eq!(r["href"], format!("/ui/nodes/{id}"), "{read:#}");
        assert_eq!(r["reserved"], "cpus 0.25 · disk 16 MiB", "{read:#}");
        assert_eq!(r["volumes"], "ui-vol: 16 MiB at data (RW)", "{read:#}");
        let m = find(&read["machines"], "machine", "maint-1.example");
        assert_eq!(m["cells"][1], "▲ Draining", "{read:#}");
        assert_eq!(m["cells"][3], "2 h", "{read:#}");
        let out = find(&read["agents_out"], "agent", &id);
        assert!(
            ["▲ Draining", "■ Drained"].contains(&out["cells"][1].as_str().unwrap_or("")),
            "{read:#}"
        );
        assert_eq!(out["cells"][2], "30 s", "{read:#}");
    }
    // Filtered with the form: a link that says the filter, the role alone.
    assert!(
        v["filtered_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/ui/resources?q=dev")),
        "{v:#}"
    );
    let names: Vec<&str> = v["filtered"]["roles"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["dev"], "{v:#}");
    assert_eq!(v["pages"]["resources"]["a11y"], json!([]), "{v:#}");
    eprintln!(
        "resources flow timings: {}",
        v["pages"]["resources"]["timings"]
    );
    eprintln!("screenshot: {}", v["pages"]["resources"]["screenshot"]);
}
