//! The jobs scheduler's Metronome API through the real clients, unchanged, against `drover up`:
//! dcos-metronome 0.3.0 (whose protobuf parser refuses any field its .proto lacks) through the
//! gateway's `/service/metronome` and directly, and the DC/OS CLI 0.6.1's `dcos job` (which
//! needs Cosmos' `METRONOME` capability) through the gateway, as a user would run them.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `drover up` with one agent and the jobs scheduler (on a free port), without Marathon.
fn up() -> Up {
    Up::start_with_marathon(1, &["--no-marathon"])
}

fn scenario(url: &str, job: &str, up: &Up) -> Value {
    let out = Command::new(pyclients().join("jobs/bin/python"))
        .arg(repo_root().join("tests/clients/metronome_scenario.py"))
        .args([url, job])
        .output()
        .expect("run the metronome scenario");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "scenario output not JSON ({e}): {stdout}\nstderr: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        )
    })
}

fn check_scenario(r: &Value, job: &str, up: &Up) {
    assert_eq!(r["errors"], json!([]), "{r:#}\n{}", up.log());
    assert_eq!(r["ping"], "pong", "{r:#}");
    assert_eq!(r["created"]["id"], job, "{r:#}");
    assert!(
        r["listed"]
            .as_array()
            .is_some_and(|l| l.contains(&json!(job))),
        "{r:#}"
    );
    assert_eq!(
        r["got"],
        json!({"id": job, "description": "echoes", "mem": 32.0, "cmd": "echo hello-from-metronome",
               "labels": {"team": "qa"}, "env": {"GREETING": "hi"}}),
        "{r:#}"
    );
    assert_eq!(
        r["updated"],
        json!({"description": "echoes, updated", "mem": 64.0}),
        "{r:#}"
    );
    let run = r["run"]["id"].as_str().expect("a run id");
    assert_eq!(r["run"]["jobId"], job, "{r:#}");
    assert_eq!(r["got_run"], run, "{r:#}");
    assert!(r["history"]["successCount"].as_u64() >= Some(1), "{r:#}");
    assert!(
        r["history"]["successful"]
            .as_array()
            .is_some_and(|l| l.contains(&json!(run))),
        "{r:#}"
    );
    assert_eq!(r["run_after"]["status"], "SUCCESS", "{r:#}");
    assert_eq!(r["run_after"]["tasks"], json!(["TASK_FINISHED"]), "{r:#}");

    assert_eq!(r["schedule_added"]["id"], "nightly", "{r:#}");
    assert_eq!(r["schedule_added"]["timezone"], "Europe/Berlin", "{r:#}");
    assert_eq!(r["schedule_added"]["enabled"], true, "{r:#}");
    let next = r["schedule_added"]["nextRunAt"].as_str().unwrap_or("");
    assert!(
        next.ends_with(":00:00.000+0000"),
        "03:00 in Berlin, in UTC: {r:#}"
    );
    assert_eq!(r["schedules"], json!(["nightly"]), "{r:#}");
    assert_eq!(r["schedule_got"]["startingDeadlineSeconds"], 120, "{r:#}");
    assert_eq!(r["schedule_updated"], "30 4 * * 1", "{r:#}");
    assert_eq!(r["second_schedule"]["status"], 409, "{r:#}");
    assert_eq!(r["get_job_after_schedule"], job, "{r:#}");
    assert_eq!(r["schedule_deleted"], 200, "{r:#}");
    assert_eq!(r["schedules_after"], json!([]), "{r:#}");

    assert_eq!(r["long_run_status"], "ACTIVE", "{r:#}");
    assert!(
        !r["long_run_active"].as_array().is_none_or(|l| l.is_empty()),
        "{r:#}"
    );
    assert_eq!(r["stop_status"], 200, "{r:#}");
    assert_eq!(r["failure_count"], 1, "{r:#}");
    assert_eq!(r["job_deleted"], 200, "{r:#}");
    assert!(
        !r["after_delete"]
            .as_array()
            .is_some_and(|l| l.contains(&json!(job))),
        "{r:#}"
    );

    assert_eq!(
        r["unknown_job"],
        json!({"status": 404, "message": "Job not found"}),
        "{r:#}"
    );
    assert_eq!(r["unknown_run"]["status"], 404, "{r:#}");
    assert_eq!(r["invalid"]["status"], 422, "{r:#}");
    assert_eq!(r["invalid"]["message"], "Object is not valid", "{r:#}");
    assert!(
        r["invalid"]["paths"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("/id")) && p.contains(&json!("/run/mem"))),
        "{r:#}"
    );
}

#[test]
fn dcos_metronome_client_drives_jobs_through_the_gateway_and_directly() {
    let up = up();
    let gateway = format!("http://{}/service/metronome", up.gateway);
    let r = scenario(&gateway, "via-gateway", &up);
    check_scenario(&r, "via-gateway", &up);
    // The scheduler names itself as the leader, at the address drover up printed.
    let (code, leader) = call("GET", &format!("{gateway}/leader"), None);
    assert_eq!(
        (code, &leader["leader"]),
        (200, &json!(up.jobs)),
        "{leader}"
    );
    let direct = format!("http://{}", up.jobs);
    let r = scenario(&direct, "direct.echo", &up);
    check_scenario(&r, "direct.echo", &up);
}

/// The dcos CLI with a config dir of its own.
struct Dcos {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Dcos {
    fn new() -> Dcos {
        Dcos {
            bin: pyclients().join("dcos/bin/dcos"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        let out = Command::new(&self.bin)
            .args(args)
            .env("DCOS_DIR", self.dir.path())
            .env_remove("DCOS_URL")
            .env_remove("TERM")
            .env("PAGER", "cat")
            .output()
            .expect("run dcos");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }

    /// Run, expecting exit 0.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code, 0,
            "dcos {args:?} exited {}:\n{}\n{}",
            o.code, o.stdout, o.stderr
        );
        o.stdout
    }

    /// Run, expecting exit 1; gives stdout and stderr together.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code, 1,
            "dcos {args:?} exited {}:\n{}\n{}",
            o.code, o.stdout, o.stderr
        );
        o.stdout + &o.stderr
    }

    /// Run, expecting exit 0 and JSON on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("dcos {args:?}: {e}: {out}"))
    }
}

fn file(dir: &Path, name: &str, body: Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body.to_string()).expect("write");
    p.to_str().expect("utf-8").to_string()
}

/// The run id `dcos job run` printed (`Run ID: <id>`).
fn run_id(printed: &str) -> String {
    printed
        .trim()
        .strip_prefix("Run ID: ")
        .unwrap_or_else(|| panic!("no run id in {printed:?}"))
        .to_string()
}

#[test]
fn dcos_job_cli_drives_jobs_through_the_gateway() {
    let up = up();
    let g = format!("http://{}", up.gateway);
    let dcos = Dcos::new();
    dcos.ok(&["cluster", "setup", &g]);
    let dir = dcos.dir.path().to_path_buf();

    // A job with a schedule: the CLI posts the job, then its schedule.
    let nightly = file(
        &dir,
        "nightly.json",
        json!({"id": "drover-nightly", "description": "echoes at night",
               "run": {"cmd": "echo hello-from-dcos-job", "cpus": 0.1, "mem": 32},
               "schedules": [{"id": "nightly", "cron": "0 3 * * *", "timezone": "UTC"}]}),
    );
    dcos.ok(&["job", "add", &nightly]);
    let again = dcos.fails(&["job", "add", &nightly]);
    assert!(again.contains("Changes blocked"), "a 409: {again}");
    let bad = file(
        &dir,
        "bad.json",
        json!({"id": "drover-bad", "run": {"cmd": "true", "cpus": 0.1, "mem": 8}}),
    );
    let refused = dcos.fails(&["job", "add", &bad]);
    assert!(
        refused.contains("HTTP 422") && refused.contains("/run/mem"),
        "{refused}"
    );

    let table = dcos.ok(&["job", "list"]);
    let row = table
        .lines()
        .find(|l| l.contains("drover-nightly"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("Scheduled") && row.contains("N/A"), "{table}");
    let listed = dcos.json(&["job", "list", "--json"]);
    assert_eq!(listed[0]["id"], "drover-nightly", "{listed}");
    assert_eq!(listed[0]["schedules"][0]["id"], "nightly", "{listed}");
    assert_eq!(listed[0]["historySummary"]["successCount"], 0, "{listed}");
    assert!(
        listed[0].get("activeRuns").is_none(),
        "no runs yet: {listed}"
    );
    assert_eq!(
        dcos.ok(&["job", "list", "--quiet"]).trim(),
        "drover-nightly"
    );

    // What Metronome prints: integral numbers without a fraction.
    let shown = dcos.json(&["job", "show", "drover-nightly"]);
    assert_eq!(shown["id"], "drover-nightly", "{shown}");
    assert_eq!(shown["description"], "echoes at night", "{shown}");
    assert_eq!(shown["run"]["mem"], json!(32), "{shown}");
    assert_eq!(shown["run"]["disk"], json!(0), "{shown}");
    assert_eq!(shown["run"]["cpus"], json!(0.1), "{shown}");
    let missing = dcos.fails(&["job", "show", "no-such-job"]);
    assert!(missing.contains("Error: Job not found"), "{missing}");

    // Schedules: show, update (disabled, still with its next run), remove, add (array form).
    let table = dcos.ok(&["job", "schedule", "show", "drover-nightly"]);
    assert!(
        table.contains("nightly") && table.contains("0 3 * * *") && table.contains("ALLOW"),
        "{table}"
    );
    let scheds = dcos.json(&["job", "schedule", "show", "drover-nightly", "--json"]);
    let next = scheds[0]["nextRunAt"].as_str().unwrap_or("");
    assert!(next.ends_with("T03:00:00.000+0000"), "{scheds}");
    let changed = file(
        &dir,
        "changed.json",
        json!({"id": "nightly", "cron": "30 4 * * *", "timezone": "UTC", "enabled": false}),
    );
    let said = dcos.ok(&["job", "schedule", "update", "drover-nightly", &changed]);
    assert!(
        said.contains("Schedule ID `nightly` for job ID `drover-nightly` updated."),
        "{said}"
    );
    let scheds = dcos.json(&["job", "schedule", "show", "drover-nightly", "--json"]);
    assert_eq!(scheds[0]["cron"], "30 4 * * *", "{scheds}");
    assert_eq!(scheds[0]["enabled"], false, "{scheds}");
    assert!(
        scheds[0]["nextRunAt"]
            .as_str()
            .is_some_and(|n| n.ends_with("T04:30:00.000+0000")),
        "{scheds}"
    );
    let table = dcos.ok(&["job", "schedule", "show", "drover-nightly"]);
    assert!(
        table.contains("30 4 * * *") && table.contains("False"),
        "{table}"
    );
    dcos.ok(&["job", "schedule", "remove", "drover-nightly", "nightly"]);
    assert_eq!(
        dcos.json(&["job", "schedule", "show", "drover-nightly", "--json"]),
        json!([])
    );
    let gone = dcos.fails(&["job", "schedule", "remove", "drover-nightly", "nightly"]);
    assert!(
        gone.contains("Unable to remove schedule ID 'nightly'"),
        "{gone}"
    );
    let weekly = file(
        &dir,
        "weekly.json",
        json!([{"id": "weekly", "cron": "0 5 * * 1", "concurrencyPolicy": "FORBID"}]),
    );
    dcos.ok(&["job", "schedule", "add", "drover-nightly", &weekly]);
    let scheds = dcos.json(&["job", "schedule", "show", "drover-nightly", "--json"]);
    assert_eq!(scheds[0]["id"], "weekly", "{scheds}");
    assert_eq!(scheds[0]["concurrencyPolicy"], "FORBID", "{scheds}");
    let second = dcos.run(&["job", "schedule", "add", "drover-nightly", &changed]);
    assert_eq!(second.code, 1, "one schedule per job: {}", second.stdout);

    // A run now: it finishes, and the history counts it.
    let run = run_id(&dcos.ok(&["job", "run", "drover-nightly"]));
    wait_for(Duration::from_secs(60), || {
        dcos.json(&["job", "history", "drover-nightly", "--json"])
            .as_array()
            .is_some_and(|h| h.iter().any(|r| r["id"] == run.as_str()))
    });
    let history = dcos.ok(&["job", "history", "drover-nightly"]);
    assert!(
        history.contains("'drover-nightly'  Successful runs: 1 Last Success: 20"),
        "{history}"
    );
    assert!(history.contains(&run), "{history}");
    assert_eq!(
        dcos.ok(&["job", "history", "drover-nightly", "--quiet", "--last"])
            .trim(),
        run
    );
    let table = dcos.ok(&["job", "list"]);
    let row = table
        .lines()
        .find(|l| l.contains("drover-nightly"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("Success"), "{table}");
    let after = dcos.ok(&["job", "show", "runs", "drover-nightly"]);
    assert!(
        after.contains("Nothing running for 'drover-nightly'"),
        "{after}"
    );

    // An update of the job: its schedule stays.
    let updated = file(
        &dir,
        "updated.json",
        json!({"id": "drover-nightly", "description": "echoes, updated",
               "run": {"cmd": "echo hello-again", "cpus": 0.1, "mem": 48, "disk": 0}}),
    );
    dcos.ok(&["job", "update", &updated]);
    let shown = dcos.json(&["job", "show", "drover-nightly"]);
    assert_eq!(shown["description"], "echoes, updated", "{shown}");
    assert_eq!(shown["run"]["mem"], json!(48), "{shown}");
    let scheds = dcos.json(&["job", "schedule", "show", "drover-nightly", "--json"]);
    assert_eq!(scheds[0]["id"], "weekly", "{scheds}");

    // A run that stays: shown while active, killed, counted as a failure.
    let sleeper = file(
        &dir,
        "sleeper.json",
        json!({"id": "drover-sleeper", "run": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32}}),
    );
    dcos.ok(&["job", "add", &sleeper]);
    let long = run_id(&dcos.ok(&["job", "run", "drover-sleeper"]));
    let runs = dcos.ok(&["job", "show", "runs", "drover-sleeper"]);
    assert!(
        runs.contains(&long) && runs.contains("drover-sleeper"),
        "{runs}"
    );
    let one = dcos.json(&[
        "job",
        "show",
        "runs",
        "drover-sleeper",
        "--run-id",
        &long,
        "--json",
    ]);
    assert_eq!(one["id"], long.as_str(), "{one}");
    assert_eq!(one["jobId"], "drover-sleeper", "{one}");
    assert_eq!(
        dcos.ok(&["job", "show", "runs", "drover-sleeper", "--quiet"])
            .trim(),
        long
    );
    wait_for(Duration::from_secs(60), || {
        dcos.json(&[
            "job",
            "show",
            "runs",
            "drover-sleeper",
            "--run-id",
            &long,
            "--json",
        ])["tasks"][0]["status"]
            == "TASK_RUNNING"
    });
    let table = dcos.ok(&["job", "list"]);
    let row = table
        .lines()
        .find(|l| l.contains("drover-sleeper"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("Running"), "{table}");
    let killed = dcos.ok(&["job", "kill", "drover-sleeper", &long]);
    assert!(
        killed.contains(&format!("Run '{long}' for job 'drover-sleeper' killed.")),
        "{killed}"
    );
    wait_for(Duration::from_secs(60), || {
        dcos.json(&["job", "history", "drover-sleeper", "--failures", "--json"])
            .as_array()
            .is_some_and(|h| h.iter().any(|r| r["id"] == long.as_str()))
    });
    let failures = dcos.ok(&["job", "history", "drover-sleeper", "--failures"]);
    assert!(
        failures.contains("'drover-sleeper'  Failure runs: 1 Last Failure: 20"),
        "{failures}"
    );
    let unknown_kill = dcos.fails(&["job", "kill", "no-such-job", &long]);
    assert!(
        unknown_kill.contains("Unable stop run ID"),
        "{unknown_kill}"
    );
    let unknown_run = dcos.fails(&["job", "run", "no-such-job"]);
    assert!(
        unknown_run.contains("Error: Job not found"),
        "{unknown_run}"
    );

    // Remove: refused while a run is active, unless its runs are stopped too.
    let again = run_id(&dcos.ok(&["job", "run", "drover-sleeper"]));
    let refused = dcos.fails(&["job", "remove", "drover-sleeper"]);
    assert!(
        refused.contains("Unable to remove 'drover-sleeper'"),
        "{refused}"
    );
    dcos.ok(&["job", "kill", "drover-sleeper", "--all"]);
    wait_for(Duration::from_secs(60), || {
        dcos.json(&["job", "history", "drover-sleeper", "--failures", "--json"])
            .as_array()
            .is_some_and(|h| h.iter().any(|r| r["id"] == again.as_str()))
    });
    run_id(&dcos.ok(&["job", "run", "drover-sleeper"]));
    dcos.ok(&["job", "remove", "drover-sleeper", "--stop-current-job-runs"]);
    dcos.ok(&["job", "remove", "drover-nightly"]);
    assert_eq!(dcos.json(&["job", "list", "--json"]), json!([]));
    let removed = dcos.fails(&["job", "remove", "drover-nightly"]);
    assert!(
        removed.contains("Unable to remove 'drover-nightly'"),
        "{removed}"
    );
}

/// chronos-python 1.2.1, unchanged, through the gateway's `/service/chronos` (the same
/// scheduler): a scheduled job and a dependent one, run now, the child after its parent,
/// stats and the graph, update, kill, the legacy unversioned API with Chronos 2's fields, the
/// errors it raises, delete.
#[test]
fn chronos_python_drives_scheduled_and_dependent_jobs_through_the_gateway() {
    let up = up();
    let server = format!("{}/service/chronos", up.gateway);
    let out = Command::new(pyclients().join("jobs/bin/python"))
        .arg(repo_root().join("tests/clients/chronos_scenario.py"))
        .arg(&server)
        .output()
        .expect("run the chronos scenario");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "scenario output not JSON ({e}): {stdout}\nstderr: {}\nlog:\n{}",
            String::from_utf8_lossy(&out.stderr),
            up.log()
        )
    });
    assert_eq!(r["errors"], json!([]), "{r:#}\n{}", up.log());
    assert_eq!(r["listed"], json!(["etl-extract", "etl-load"]), "{r:#}");
    assert_eq!(r["search"], json!(["etl-extract"]), "{r:#}");
    let schedule = r["schedule"].as_str().unwrap_or("");
    assert!(
        schedule.starts_with("R/") && schedule.ends_with("/PT1H"),
        "{r:#}"
    );
    assert_eq!(r["child_parents"], json!(["etl-extract"]), "{r:#}");
    assert!(r["parent_success"].as_u64() >= Some(1), "{r:#}");
    assert!(r["child_success"].as_u64() >= Some(1), "{r:#}");
    assert!(
        r["parent_last_success"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{r:#}"
    );
    let graph: Vec<String> = r["graph"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        graph.iter().any(|l| l == "link,etl-extract,etl-load"),
        "{r:#}"
    );
    assert!(
        graph
            .iter()
            .any(|l| l.starts_with("node,etl-extract,success")),
        "{r:#}"
    );
    assert_eq!(r["updated_command"], "echo extracting v2", "{r:#}");
    assert_eq!(r["legacy_listed"], json!(["legacy-job"]), "{r:#}");
    assert!(
        r["unknown_run"]
            .as_str()
            .is_some_and(|s| s.starts_with("error")),
        "{r:#}"
    );
    assert!(
        r["orphan"].as_str().is_some_and(|s| s.starts_with("error")),
        "{r:#}"
    );
    assert_eq!(r["after_delete"], json!([]), "{r:#}");
}
