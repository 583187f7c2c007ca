//! Marathon's resident apps with real processes: an app with a persistent volume reserves,
//! creates the volume and launches; its command writes into the volume; the task is killed and
//! Marathon launches it again on the same agent, on the same reservation, and the new task
//! reads what the first wrote; deleting the app destroys the volume and unreserves, so the
//! master shows no reserved resources left. Bad resident definitions get Marathon's 422.

mod common;
use common::cluster::*;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Files named `name` under `root` whose text contains `needle`.
fn files_with(root: &Path, name: &str, needle: &str) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|f| f == name)
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(needle))
            {
                n += 1;
            }
        }
    }
    n
}

fn reserved_anywhere(master: &str) -> Vec<Value> {
    let slaves = get_json(&format!("http://{master}/master/slaves")).unwrap_or(json!({}));
    slaves["slaves"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|s| {
            s["reserved_resources_full"]
                .as_object()
                .map(|o| o.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_resident_app_keeps_its_volume_across_relaunches_and_releases_it_when_deleted() {
    let c = Cluster::start(1, &[]);
    let (_marathon, url) =
        start_marathon_with(c.dir.path(), &c.master_addr, 0, &["--role", "marathon"]);

    let bad = json!({"id": "/bad", "cmd": "sleep 600", "cpus": 0.1, "mem": 32,
        "container": {"type": "MESOS", "volumes": [{"containerPath": "/data", "mode": "RW", "persistent": {"type": "root", "size": 0}}]}});
    let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(&bad));
    assert_eq!(code, 422, "{body}");
    let paths: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"/container/volumes(0)/containerPath")
            && paths.contains(&"/container/volumes(0)/persistent/size"),
        "{body}"
    );

    // Each run counts the runs before it (read from the volume), then adds its own.
    let cmd = "n=$(cat data/runs 2>/dev/null | wc -l); echo \"runs before: $n\"; echo run >> data/runs; sleep 600";
    let app = json!({"id": "/db", "cmd": cmd, "cpus": 0.1, "mem": 32, "instances": 1,
        "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 50}}]}});
    let (code, body) = call("POST", &format!("http://{url}/v2/apps"), Some(&app));
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["unreachableStrategy"], "disabled");
    assert_eq!(body["upgradeStrategy"]["maximumOverCapacity"], 0.0);
    wait_until(Duration::from_secs(60), "first run", &c, || {
        let ts = app_tasks(&url, "/db");
        ts.len() == 1 && ts[0]["state"] == "TASK_RUNNING"
    });
    let first = app_tasks(&url, "/db")[0].clone();
    assert_eq!(first["localVolumes"][0]["containerPath"], "data", "{first}");
    assert!(
        !reserved_anywhere(&c.master_addr).is_empty(),
        "reserved for the instance"
    );
    wait_until(Duration::from_secs(30), "first run wrote", &c, || {
        files_with(c.dir.path(), "stdout", "runs before: 0") == 1
    });

    // Killed (not scaled): launched again on the same agent, on the same volume.
    let id = first["id"].as_str().unwrap();
    let (code, body) = call(
        "DELETE",
        &format!("http://{url}/v2/apps/db/tasks/{id}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    wait_until(Duration::from_secs(60), "relaunched", &c, || {
        let ts = app_tasks(&url, "/db");
        ts.len() == 1 && ts[0]["state"] == "TASK_RUNNING" && ts[0]["id"] != first["id"]
    });
    let second = app_tasks(&url, "/db")[0].clone();
    assert_eq!(second["slaveId"], first["slaveId"]);
    assert_eq!(second["localVolumes"], first["localVolumes"]);
    wait_until(
        Duration::from_secs(30),
        "the second run read the first's data",
        &c,
        || files_with(c.dir.path(), "stdout", "runs before: 1") == 1,
    );

    let sid = second["id"].as_str().unwrap();
    let (code, body) = call(
        "DELETE",
        &format!("http://{url}/v2/apps/db/tasks/{sid}?scale=true&wipe=true"),
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        body["message"],
        "You cannot use scale and wipe at the same time."
    );

    // Deleted: the volume destroyed, everything unreserved.
    let (code, body) = call("DELETE", &format!("http://{url}/v2/apps/db"), None);
    assert_eq!(code, 200, "{body}");
    wait_until(Duration::from_secs(60), "reservations released", &c, || {
        app_tasks(&url, "/db").is_empty() && reserved_anywhere(&c.master_addr).is_empty()
    });
}
