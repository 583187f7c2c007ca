//! `drover reservation` against `drover up`: an operator reserves cpus and disk for a role,
//! makes a persistent volume on the disk, sees both in `list`, is refused a second volume with
//! the same id, destroys the volume and unreserves everything.

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

/// `drover reservation …`: (exit code, stdout, stderr).
fn cli(master: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(drover_bin())
        .arg("reservation")
        .args(args)
        .args(["--master", master])
        .output()
        .expect("drover reservation");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// (role, resource name, persistence id or "", value) of everything `list --json` shows.
fn listed(master: &str) -> Vec<(String, String, String, f64)> {
    let (code, out, err) = cli(master, &["list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let mut rows = Vec::new();
    for h in v.as_array().cloned().unwrap_or_default() {
        for r in h["resources"].as_array().cloned().unwrap_or_default() {
            rows.push((
                h["role"].as_str().unwrap_or_default().to_string(),
                r["name"].as_str().unwrap_or_default().to_string(),
                r["disk"]["persistence"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["scalar"]["value"].as_f64().unwrap_or(0.0),
            ));
        }
    }
    rows.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    rows
}

#[test]
fn an_operator_reserves_makes_a_volume_destroys_it_and_unreserves() {
    let up = Up::start(1, &[]);
    let m = up.master.clone();
    let slaves = get_json(&format!("http://{m}/master/slaves")).expect("slaves");
    let agent = slaves["slaves"][0]["id"]
        .as_str()
        .expect("an agent")
        .to_string();

    let (code, out, err) = cli(
        &m,
        &[
            "reserve",
            &agent,
            "db",
            "cpus=1,disk=100",
            "--principal",
            "ops",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("reserved cpus=1,disk=100 for role db on agent {agent}")
    );
    let (code, out, err) = cli(
        &m,
        &[
            "create-volume",
            &agent,
            "db",
            "v1",
            "--size",
            "64",
            "--path",
            "state",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created volume v1"), "{out}");
    assert_eq!(
        listed(&m),
        vec![
            ("db".into(), "cpus".into(), "".into(), 1.0),
            ("db".into(), "disk".into(), "".into(), 36.0),
            ("db".into(), "disk".into(), "v1".into(), 64.0),
        ]
    );
    let (code, table, _) = cli(&m, &["list"]);
    assert_eq!(code, 0);
    assert!(table.contains("v1") && table.contains("ops"), "{table}");

    // The same id again: the master refuses it (exit 1, its message).
    let (code, _, err) = cli(&m, &["create-volume", &agent, "db", "v1", "--size", "10"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    // A volume that is not there: not found, nothing sent.
    let (code, _, err) = cli(&m, &["destroy-volume", &agent, "db", "nope"]);
    assert_eq!(code, 3, "{err}");

    let (code, _, err) = cli(&m, &["destroy-volume", &agent, "db", "v1"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        listed(&m),
        vec![
            ("db".into(), "cpus".into(), "".into(), 1.0),
            ("db".into(), "disk".into(), "".into(), 100.0),
        ]
    );
    let (code, _, err) = cli(&m, &["unreserve", &agent, "db", "cpus=1,disk=100"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listed(&m), vec![]);
}
