//! `drover app ...` and `drover deployment ...` against `drover up`'s Marathon: add from a file,
//! list, scale and update (each waiting for its deployment), dry runs of add, update and scale
//! (the plan printed, nothing changed), show, versions, why (an app that cannot fit),
//! deployment list and rollback, Marathon's 422 details, bad input, remove; and the exit code
//! of each kind of failure, with no server at all for the unreachable one.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::Duration;

struct Cli {
    marathon: String,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(drover_bin())
            .args(args)
            .env("DROVER_MARATHON", &self.marathon)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run drover")
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

    /// Run and require failure with exit code `code` (the CLI's table); stderr.
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

    fn app(&self, id: &str) -> Option<Value> {
        self.json(&["app", "list"])
            .as_array()
            .expect("app list is an array")
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
    }
}

// The CLI's exit codes (its crate doc and the README's CLI section).
const REFUSED: i32 = 1;
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
fn app_commands_drive_marathon_end_to_end() {
    let up = Up::start_with_marathon(1, &[]);
    let cli = Cli {
        marathon: up.marathon.clone(),
    };
    let dir = up.dir.path();
    let file = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write app file");
        p.to_str().expect("utf-8 path").to_string()
    };
    let wait = ["--timeout", "120"];

    // add: waits for the deployment and names it.
    let web = file(
        "web.json",
        r#"{"id": "/cli/web", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 2}"#,
    );
    let out = cli.ok(&[&["app", "add", &web][..], &wait].concat());
    assert!(out.contains("deployment "), "{out}");
    assert!(out.contains("✔ /cli/web deployed: 2/2 running"), "{out}");
    let listed = cli.ok(&["app", "list"]);
    assert!(row(&listed, "/cli/web").contains("2/2"), "{listed}");
    let a = cli.app("/cli/web").expect("app listed");
    assert_eq!(
        (a["tasksRunning"].as_u64(), a["instances"].as_u64()),
        (Some(2), Some(2))
    );

    // --dry-run: the plan of a scale from 2 to 5, and nothing changes.
    let version = cli.json(&["app", "show", "/cli/web"])["version"].clone();
    let out = cli.ok(&["app", "update", "/cli/web", "instances=5", "--dry-run"]);
    assert!(
        out.starts_with(
            "dry run: updating /cli/web would start a deployment of 1 step; nothing was changed\n"
        ),
        "{out}"
    );
    // The table has no inner borders: its cells are apart by two spaces or more.
    let step: Vec<&str> = row(&out, "ScaleApplication")
        .trim_matches(|c| c == '│' || c == ' ')
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        step,
        [
            "1",
            "ScaleApplication",
            "/cli/web",
            "instances (no restart)",
            "2 → 5",
            "3",
            "-"
        ],
        "{out}"
    );
    let plan = cli.json(&["app", "scale", "/cli/web", "1", "--dry-run"]);
    assert_eq!(plan["dryRun"], true, "{plan:#}");
    assert_eq!(plan["apps"][0]["instances"], json!({"from": 2, "to": 1}));
    assert_eq!(plan["apps"][0]["kill"].as_array().map(Vec::len), Some(1));
    let shown = cli.json(&["app", "show", "/cli/web"]);
    assert_eq!(
        (
            &shown["instances"],
            &shown["version"],
            &shown["tasksRunning"]
        ),
        (&json!(2), &version, &json!(2)),
        "{shown:#}"
    );
    assert!(cli
        .json(&["deployment", "list"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(cli.ok(&["app", "why", "/cli/web"]).contains("not waiting"));
    // A dry run of an add leaves no app behind.
    let new = file(
        "new.json",
        r#"{"id": "/cli/new", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 3}"#,
    );
    let out = cli.ok(&["app", "add", &new, "--dry-run"]);
    assert!(out.contains("adding /cli/new would start"), "{out}");
    assert!(row(&out, "StartApplication").contains("new → 3"), "{out}");
    assert!(cli.app("/cli/new").is_none());
    assert!(cli
        .json(&["deployment", "list"])
        .as_array()
        .unwrap()
        .is_empty());

    // scale: waits, then the table says 3/3.
    cli.ok(&[&["app", "scale", "/cli/web", "3"][..], &wait].concat());
    let listed = cli.ok(&["app", "list"]);
    assert!(row(&listed, "/cli/web").contains("3/3"), "{listed}");

    // update: a config change rolls every instance.
    let before: Vec<String> = cli.json(&["app", "show", "/cli/web"])["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    cli.ok(&[
        &[
            "app",
            "update",
            "cli/web",
            "cmd=sleep 700",
            "env.GREETING=hello",
        ][..],
        &wait,
    ]
    .concat());
    let shown = cli.json(&["app", "show", "/cli/web"]);
    assert_eq!(shown["cmd"], "sleep 700");
    assert_eq!(shown["env"]["GREETING"], "hello");
    let tasks = shown["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3, "{shown:#}");
    assert!(
        tasks.iter().all(|t| t["state"] == "TASK_RUNNING"
            && !before.contains(&t["id"].as_str().unwrap().to_string())),
        "{shown:#}"
    );
    let table = cli.ok(&["app", "show", "/cli/web"]);
    assert_eq!(
        table.lines().filter(|l| l.contains("TASK_RUNNING")).count(),
        3,
        "{table}"
    );
    assert!(table.contains("sleep 700"), "{table}");

    // versions: create, scale, update.
    let versions = cli.json(&["app", "versions", "/cli/web"]);
    assert!(versions.as_array().unwrap().len() >= 2, "{versions}");
    let table = cli.ok(&["app", "versions", "/cli/web"]);
    assert!(
        table.contains("(current)") && table.contains("instances 2→3"),
        "{table}"
    );

    // why: nothing to launch for a running app; an app that cannot fit names the reason.
    assert!(cli.ok(&["app", "why", "/cli/web"]).contains("not waiting"));
    let big = file(
        "big.json",
        r#"{"id": "/cli/big", "cmd": "sleep 600", "cpus": 1000, "mem": 32, "instances": 1}"#,
    );
    cli.ok(&["app", "add", &big, "--no-wait"]);
    wait_for(Duration::from_secs(60), || {
        let q = cli.json(&["app", "why", "/cli/big"]);
        q["processedOffersSummary"]["rejectSummaryLastOffers"]
            .as_array()
            .map(|r| {
                r.iter()
                    .any(|x| x["reason"] == "InsufficientCpus" && x["declined"].as_u64() > Some(0))
            })
            .unwrap_or(false)
    });
    let why = cli.ok(&["app", "why", "/cli/big"]);
    assert!(
        why.contains("InsufficientCpus") && why.contains("AGENT"),
        "{why}"
    );

    // deployments: the big app's is still running; a change to it is refused while it runs.
    let deps = cli.json(&["deployment", "list"]);
    let dep = deps
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["affectedApps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "/cli/big")
        })
        .expect("big's deployment listed");
    let dep_id = dep["id"].as_str().unwrap().to_string();
    let err = cli.fails_with(CONFLICT, &["app", "scale", "/cli/big", "2"]);
    assert!(
        err.contains("locked by deployment") && err.contains("--force"),
        "{err}"
    );
    // A dry run meets the lock as the change would; forced, it says what it would cancel.
    let err = cli.fails_with(
        CONFLICT,
        &["app", "update", "/cli/big", "instances=2", "--dry-run"],
    );
    assert!(
        err.contains(&format!("locked by deployment {dep_id}")),
        "{err}"
    );
    let out = cli.ok(&["app", "scale", "/cli/big", "0", "--force", "--dry-run"]);
    assert!(
        out.contains(&format!("it would cancel deployment {}", &dep_id[..8])),
        "{out}"
    );
    assert_eq!(
        cli.json(&["deployment", "list"]),
        deps,
        "a dry run changes nothing"
    );
    // A short wait on it times out clearly, saying why it cannot finish.
    let err = cli.fails_with(
        TIMED_OUT,
        &["deployment", "watch", &dep_id[..8], "--timeout", "1"],
    );
    assert!(err.contains("timed out") && err.contains(&dep_id), "{err}");
    // Rolling back a start removes the app.
    let out = cli.ok(&[&["deployment", "rollback", &dep_id][..], &wait].concat());
    assert!(out.contains("/cli/big removed"), "{out}");
    assert!(cli.app("/cli/big").is_none());

    // Marathon's 422 details, one per line with their paths.
    let bad = file(
        "bad.json",
        r#"{"id": "/cli/Bad_Id", "cmd": "sleep 1", "cpus": -1}"#,
    );
    let err = cli.fails_with(REFUSED, &["app", "add", &bad]);
    assert!(
        err.contains("422") && err.contains("/cpus:") && err.contains("/id:"),
        "{err}"
    );
    let err = cli.fails_with(REFUSED, &["app", "add", &bad, "--dry-run"]);
    assert!(err.contains("422") && err.contains("/cpus:"), "{err}");
    // An app that exists already is a conflict, in a dry run too.
    let err = cli.fails_with(CONFLICT, &["app", "add", &web]);
    assert!(err.contains("409") && err.contains("/cli/web"), "{err}");
    cli.fails_with(CONFLICT, &["app", "add", &web, "--dry-run"]);
    cli.fails_with(
        NOT_FOUND,
        &["app", "update", "/cli/nope", "cmd=x", "--dry-run"],
    );

    // Bad input.
    let err = cli.fails_with(NOT_FOUND, &["app", "show", "/cli/nope"]);
    assert!(err.contains("no app /cli/nope"), "{err}");
    let err = cli.fails_with(NOT_FOUND, &["app", "scale", "/cli/nope", "2"]);
    assert!(err.contains("no app /cli/nope"), "{err}");
    let err = cli.fails_with(NOT_FOUND, &["deployment", "rollback", "nope"]);
    assert!(err.contains("no deployment matches 'nope'"), "{err}");
    let err = cli.fails_with(USAGE, &["app", "update", "/cli/web", "instances"]);
    assert!(
        err.contains("malformed setting 'instances'") && err.contains("key=value"),
        "{err}"
    );
    let err = cli.fails_with(USAGE, &["app", "update", "/cli/web", "instance=4"]);
    assert!(err.contains("not a field"), "{err}");
    let err = cli.fails_with(USAGE, &["app", "add", "/nonexistent/app.json"]);
    assert!(err.contains("cannot read /nonexistent/app.json"), "{err}");
    // Clap's own usage errors have the same code.
    cli.fails_with(USAGE, &["app", "scale", "/cli/web", "many"]);

    // remove: waits until the tasks are gone.
    let out = cli.ok(&[&["app", "remove", "/cli/web"][..], &wait].concat());
    assert!(out.contains("/cli/web removed"), "{out}");
    assert!(cli.json(&["app", "list"]).as_array().unwrap().is_empty());
    assert!(cli
        .json(&["deployment", "list"])
        .as_array()
        .unwrap()
        .is_empty());
}

/// A port on loopback that nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

#[test]
fn no_master_or_marathon_is_a_short_error_with_the_unreachable_code() {
    let addr = format!("127.0.0.1:{}", free_port());
    for (noun, verb, flag, env) in [
        ("node", "list", "--master", "DROVER_MASTER"),
        ("task", "list", "--master", "DROVER_MASTER"),
        ("app", "list", "--marathon", "DROVER_MARATHON"),
        ("deployment", "watch", "--marathon", "DROVER_MARATHON"),
    ] {
        let args = [noun, verb, flag, &addr];
        let out = Command::new(drover_bin())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run drover");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(UNREACHABLE),
            "drover {args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "drover {args:?}: {:?}", out.stdout);
        // What failed and where, then what to do: no causes, no backtrace.
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "drover {args:?}:\n{err}");
        assert!(
            lines[0].starts_with("error: cannot reach ")
                && lines[0].ends_with(&format!(" at {addr} (connection refused)")),
            "drover {args:?}:\n{err}"
        );
        assert!(lines[1].contains(env), "drover {args:?}:\n{err}");
    }
}
