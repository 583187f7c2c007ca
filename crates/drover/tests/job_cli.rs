//! `drover job ...` against `drover up`'s jobs scheduler: add a job from a file (with its
//! schedule) and find it in the list; run --wait to SUCCESS (exit 0, history shows it) and to
//! FAILED (exit 1, the task named); show and every --json parse; a long run followed past
//! --timeout (exit 6), refused removal while it runs (exit 4), killed, then FAILED in history;
//! the occurrences a FORBID schedule skipped, with their reason, in history; schedules; the
//! scheduler through the gateway; remove; and the exit code and message of each kind of
//! failure (unknown job 3, invalid job 1 with its details, unreadable file 2, taken id 4).

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

struct Cli {
    jobs: String,
}

impl Cli {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(drover_bin());
        c.args(args)
            .env("DROVER_JOBS", &self.jobs)
            .env_remove("DROVER_GATEWAY")
            .env("RUST_BACKTRACE", "0");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run drover")
    }

    /// Run with `stdin` as standard input.
    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn drover");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("drover output")
    }

    /// Run and require success; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "drover {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Run and require failure with exit code `code`; stderr.
    fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "drover {args:?} should have exited {code}:\nstdout: {}\nstderr: {err}",
            String::from_utf8_lossy(&out.stdout)
        );
        err
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("drover {a:?} printed no JSON ({e}): {out}"))
    }
}

// The CLI's exit codes (its crate doc and the README's CLI section).
const FAILED: i32 = 1;
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const CONFLICT: i32 = 4;
const UNREACHABLE: i32 = 5;
const TIMED_OUT: i32 = 6;

/// The table row that mentions `needle`.
fn row<'a>(table: &'a str, needle: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle} in:\n{table}"))
}

#[test]
fn job_commands_drive_the_jobs_scheduler_end_to_end() {
    let up = Up::start_with_marathon(1, &["--no-marathon"]);
    let cli = Cli {
        jobs: up.jobs.clone(),
    };
    let dir = up.dir.path();
    let file = |name: &str, body: &Value| {
        let p = dir.join(name);
        std::fs::write(&p, body.to_string()).expect("write job file");
        p.to_str().expect("utf-8 path").to_string()
    };

    // add: the job and its schedule, from a file; the list shows both.
    let hello = file(
        "hello.json",
        &json!({"id": "cli-hello", "description": "says hello",
                "run": {"cmd": "echo hello-from-cli", "cpus": 0.1, "mem": 32, "disk": 0},
                "schedules": [{"id": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}]}),
    );
    let out = cli.ok(&["job", "add", &hello]);
    assert!(out.contains("created job cli-hello"), "{out}");
    assert!(
        out.contains("schedule nightly: 0 3 * * * Europe/Berlin, next run "),
        "{out}"
    );
    let listed = cli.ok(&["job", "list"]);
    let r = row(&listed, "cli-hello");
    assert!(
        r.contains("idle") && r.contains("0 3 * * * Europe/Berlin") && r.contains(" in "),
        "{listed}"
    );
    let list = cli.json(&["job", "list"]);
    let j = list
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "cli-hello")
        .expect("listed");
    assert_eq!(j["schedules"][0]["id"], "nightly", "{j:#}");
    assert_eq!(j["historySummary"]["successCount"], 0, "{j:#}");

    // The same id again: a conflict, with what to do.
    let err = cli.fails_with(CONFLICT, &["job", "add", &hello]);
    assert!(
        err.contains("Job with this id already exists") && err.contains("drover job remove"),
        "{err}"
    );

    // run --wait: the run's id, then success; history has it.
    let out = cli.ok(&["job", "run", "cli-hello", "--wait", "--timeout", "120"]);
    assert!(out.contains("started run "), "{out}");
    assert!(
        out.contains("✔ run ") && out.contains("of job cli-hello: SUCCESS"),
        "{out}"
    );
    let run_id = out
        .split("started run ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();
    let hist = cli.ok(&["job", "history", "cli-hello"]);
    assert!(row(&hist, &run_id).contains("SUCCESS"), "{hist}");
    assert!(hist.contains("1 succeeded, 0 failed"), "{hist}");
    let h = cli.json(&["job", "history", "cli-hello"]);
    assert_eq!(h["history"]["successCount"], 1, "{h:#}");
    assert_eq!(
        h["history"]["successfulFinishedRuns"][0]["id"], run_id,
        "{h:#}"
    );
    assert_eq!(h["skipped"], json!([]), "{h:#}");
    let listed = cli.ok(&["job", "list"]);
    assert!(row(&listed, "cli-hello").contains("success"), "{listed}");

    // show: the definition, schedule and last runs; --json is the scheduler's job, embedded.
    let shown = cli.ok(&["job", "show", "cli-hello"]);
    for needle in [
        "says hello",
        "echo hello-from-cli",
        "nightly: 0 3 * * * Europe/Berlin",
        "no active runs",
        &run_id,
    ] {
        assert!(shown.contains(needle), "{needle} missing from:\n{shown}");
    }
    let s = cli.json(&["job", "show", "cli-hello"]);
    assert_eq!(s["id"], "cli-hello");
    assert_eq!(s["run"]["cmd"], "echo hello-from-cli");
    assert_eq!(s["activeRuns"], json!([]), "{s:#}");
    assert_eq!(s["history"]["successCount"], 1, "{s:#}");
    assert!(s["schedules"][0]["nextRunAt"].is_string(), "{s:#}");

    // A job whose command fails: run --wait exits 1 and names the task.
    let out = cli.run_with_stdin(
        &["job", "add", "-"],
        r#"{"id": "cli-fails", "run": {"cmd": "echo oops >&2; exit 3", "cpus": 0.1, "mem": 32}}"#,
    );
    assert!(out.status.success(), "{out:?}");
    let err = cli.fails_with(FAILED, &["job", "run", "cli-fails", "--wait"]);
    assert!(
        err.contains("of job cli-fails FAILED") && err.contains("TASK_FAILED"),
        "{err}"
    );
    assert!(err.contains("drover task log cli-fails_"), "{err}");
    let listed = cli.ok(&["job", "list"]);
    assert!(row(&listed, "cli-fails").contains("failure"), "{listed}");
    // --json --wait prints the run as it ended, and still exits 1.
    let out = cli.run(&["job", "run", "cli-fails", "--wait", "--json"]);
    assert_eq!(out.status.code(), Some(FAILED), "{out:?}");
    let ended: Value = serde_json::from_slice(&out.stdout).expect("the run as JSON");
    assert_eq!(ended["status"], "FAILED", "{ended:#}");

    // A long run: --wait gives up at --timeout (the run goes on), removal is refused while it
    // runs, kill stops it, and history has it FAILED.
    let long = file(
        "long.json",
        &json!({"id": "cli-long", "run": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32}}),
    );
    cli.ok(&["job", "add", &long]);
    let err = cli.fails_with(
        TIMED_OUT,
        &["job", "run", "cli-long", "--wait", "--timeout", "3"],
    );
    assert!(err.contains("has not ended within 3 s"), "{err}");
    let active = cli.json(&["job", "show", "cli-long"])["activeRuns"].clone();
    let long_run = active[0]["id"].as_str().expect("an active run").to_string();
    wait_for(Duration::from_secs(30), || {
        cli.json(&["job", "show", "cli-long"])["activeRuns"][0]["status"] == "ACTIVE"
    });
    assert!(row(&cli.ok(&["job", "list"]), "cli-long").contains("running"));
    let err = cli.fails_with(CONFLICT, &["job", "remove", "cli-long"]);
    assert!(
        err.contains("active job runs") && err.contains("--stop-current"),
        "{err}"
    );
    let out = cli.ok(&["job", "kill", "cli-long", &long_run]);
    assert!(
        out.contains(&format!("stopped run {long_run} of job cli-long")),
        "{out}"
    );
    wait_for(Duration::from_secs(30), || {
        let h = cli.json(&["job", "history", "cli-long"]);
        h["history"]["failedFinishedRuns"][0]["id"] == long_run.as_str()
    });
    assert!(row(&cli.ok(&["job", "history", "cli-long"]), &long_run).contains("FAILED"));
    assert!(cli
        .ok(&["job", "kill", "cli-long"])
        .contains("job cli-long has no active runs"));

    // Occurrences a FORBID schedule could not start (its run still active) are skipped, and
    // history says so. A Chronos job every 2 s, created with Chronos' own API.
    let start = cli.json(&["job", "show", "cli-hello"])["history"]["lastSuccessAt"]
        .as_str()
        .unwrap()
        .to_string();
    let chronos = json!({"name": "cli-chronos", "command": "sleep 600", "owner": "qa@example.com",
                         "schedule": format!("R/{start}/PT2S"), "concurrent": false,
                         "cpus": 0.1, "mem": 32});
    let (status, body) = call(
        "POST",
        &format!("http://{}/v1/scheduler/iso8601", up.jobs),
        Some(&chronos),
    );
    assert_eq!(status, 204, "{body}");
    wait_for(Duration::from_secs(30), || {
        cli.json(&["job", "history", "cli-chronos"])["skipped"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    });
    let hist = cli.ok(&["job", "history", "cli-chronos"]);
    assert!(hist.contains("skipped occurrences"), "{hist}");
    assert!(
        hist.contains("concurrencyPolicy FORBID: run ") && hist.contains("is still active"),
        "{hist}"
    );
    // kill without a run stops every active one; remove --stop-current does it too.
    let out = cli.ok(&["job", "kill", "cli-chronos"]);
    assert!(out.contains("stopped run "), "{out}");
    assert!(cli
        .ok(&["job", "remove", "cli-chronos", "--stop-current"])
        .contains("removed job cli-chronos"));

    // Schedules: list, update, remove, add.
    let sched = cli.ok(&["job", "schedule", "list", "cli-hello"]);
    assert!(row(&sched, "nightly").contains("Europe/Berlin"), "{sched}");
    let weekly = file(
        "weekly.json",
        &json!({"id": "nightly", "cron": "30 4 * * 1", "timezone": "UTC", "concurrencyPolicy": "FORBID"}),
    );
    let out = cli.ok(&["job", "schedule", "update", "cli-hello", &weekly]);
    assert!(
        out.contains("schedule nightly updated: 30 4 * * 1 UTC"),
        "{out}"
    );
    let list = cli.json(&["job", "schedule", "list", "cli-hello"]);
    assert_eq!(list[0]["concurrencyPolicy"], "FORBID", "{list:#}");
    cli.ok(&["job", "schedule", "remove", "cli-hello", "nightly"]);
    assert_eq!(
        cli.json(&["job", "schedule", "list", "cli-hello"]),
        json!([])
    );
    let err = cli.fails_with(
        NOT_FOUND,
        &["job", "schedule", "remove", "cli-hello", "nightly"],
    );
    assert!(err.contains("no schedule 'nightly'"), "{err}");
    cli.ok(&["job", "schedule", "add", "cli-hello", &weekly]);

    // Through the gateway's /service/metronome, as the dcos CLI reaches it.
    let gw = Command::new(drover_bin())
        .args([
            "job",
            "list",
            "--gateway",
            &format!("http://{}", up.gateway),
        ])
        .env_remove("DROVER_JOBS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&gw.stdout);
    assert!(gw.status.success(), "{gw:?}");
    assert!(row(&text, "cli-hello").contains("30 4 * * 1 UTC"), "{text}");

    // Failures: unknown job 3, invalid job 1 with the scheduler's details, unreadable file 2.
    for args in [
        &["job", "show", "nope"][..],
        &["job", "run", "nope"],
        &["job", "history", "nope"],
        &["job", "remove", "nope"],
        &["job", "kill", "nope"],
    ] {
        let err = cli.fails_with(NOT_FOUND, args);
        assert!(
            err.starts_with("error: no job 'nope' in the jobs scheduler at ")
                && err.contains("(Job not found)")
                && err.contains("drover job list"),
            "{args:?}: {err}"
        );
    }
    let err = cli.fails_with(NOT_FOUND, &["job", "kill", "cli-hello", "no-such-run"]);
    assert!(
        err.contains("no run no-such-run of job 'cli-hello'"),
        "{err}"
    );
    let bad = file(
        "bad.json",
        &json!({"id": "Bad_Id", "run": {"cmd": "true", "cpus": 0.001, "mem": 32}}),
    );
    let err = cli.fails_with(FAILED, &["job", "add", &bad]);
    assert!(
        err.contains("(422 Unprocessable Entity): Object is not valid")
            && err.contains("\n  /id: ")
            && err.contains("\n  /run/cpus: "),
        "{err}"
    );
    let err = cli.fails_with(USAGE, &["job", "add", "/nonexistent/job.json"]);
    assert!(err.contains("cannot read /nonexistent/job.json"), "{err}");
    let notjson = dir.join("notjson.json");
    std::fs::write(&notjson, "{nope").unwrap();
    let err = cli.fails_with(USAGE, &["job", "add", notjson.to_str().unwrap()]);
    assert!(err.contains("is not valid JSON"), "{err}");
    cli.fails_with(USAGE, &["job", "run", "cli-hello", "--timeout", "5"]);

    // remove: gone from the list.
    for id in ["cli-hello", "cli-fails", "cli-long"] {
        let out = cli.ok(&["job", "remove", id]);
        assert!(out.contains(&format!("removed job {id}")), "{out}");
    }
    assert_eq!(cli.json(&["job", "list"]), json!([]));
    assert!(cli.ok(&["job", "list"]).contains("no jobs"));

    // Nothing answering: said, with where to point the CLI.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = cli.fails_with(
        UNREACHABLE,
        &["job", "list", "--jobs", &format!("127.0.0.1:{dead}")],
    );
    assert!(
        err.contains(&format!(
            "cannot reach the jobs scheduler at 127.0.0.1:{dead} (connection refused)"
        )) && err.contains("DROVER_JOBS"),
        "{err}"
    );
}
