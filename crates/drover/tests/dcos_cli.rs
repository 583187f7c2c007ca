//! The real DC/OS CLI (`dcos` 0.6.1 from PyPI, built by tests/clients/setup.sh) against the
//! gateway of `drover up`, unchanged: cluster setup, the version, Marathon apps, groups and
//! deployments, tasks and their logs, nodes, services, and the error of an unknown app.

mod common;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

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

    /// Run with --json, expecting exit 0 and JSON on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("dcos {args:?}: {e}: {out}"))
    }
}

#[test]
fn the_dcos_cli_runs_unchanged_against_the_gateway() {
    let up = Up::start_with_marathon(1, &[]);
    let g = format!("http://{}", up.gateway);
    let dcos = Dcos::new();

    // cluster setup: no login, the cluster named by its id.
    dcos.ok(&["cluster", "setup", &g]);
    let id = call("GET", &format!("{g}/metadata"), None).1["CLUSTER_ID"]
        .as_str()
        .expect("CLUSTER_ID")
        .to_string();
    assert!(dcos
        .dir
        .path()
        .join("clusters")
        .join(&id)
        .join("dcos.toml")
        .exists());
    let again = dcos.run(&["cluster", "setup", &g]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    let clusters = dcos.json(&["cluster", "list", "--json"]);
    assert_eq!(clusters[0]["cluster_id"], id, "{clusters}");
    assert_eq!(clusters[0]["status"], "AVAILABLE", "{clusters}");
    let v = dcos.ok(&["--version"]);
    assert!(v.contains("dcos.version=1.12.0"), "{v}");

    // Marathon apps.
    let app = up.dir.path().join("hello.json");
    std::fs::write(
        &app,
        r#"{"id": "/hello", "cmd": "echo hello-from-dcos; sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1}"#,
    )
    .expect("write");
    let added = dcos.ok(&["marathon", "app", "add", app.to_str().expect("utf-8")]);
    assert!(added.contains("Created deployment"), "{added}");
    let dep = added
        .split_whitespace()
        .last()
        .expect("a deployment id")
        .to_string();
    dcos.ok(&["marathon", "deployment", "watch", &dep, "--max-count=60"]);
    let exists = dcos.run(&["marathon", "app", "add", app.to_str().expect("utf-8")]);
    assert_eq!(exists.code, 1);
    assert!(
        exists.stderr.contains("already exists"),
        "{}",
        exists.stderr
    );
    let apps = dcos.json(&["marathon", "app", "list", "--json"]);
    assert_eq!(apps[0]["id"], "/hello");
    let table = dcos.ok(&["marathon", "app", "list"]);
    assert!(table.contains("/hello"), "{table}");
    assert_eq!(
        dcos.json(&["marathon", "app", "show", "hello"])["id"],
        "/hello"
    );

    let updated = dcos.ok(&["marathon", "app", "update", "hello", "instances=2"]);
    assert!(updated.contains("Created deployment"), "{updated}");
    wait_for(Duration::from_secs(60), || {
        dcos.json(&["marathon", "app", "show", "/hello"])["tasksRunning"] == 2
    });
    let show = dcos.json(&["marathon", "app", "show", "/hello"]);
    assert_eq!(
        show["cmd"], "echo hello-from-dcos; sleep 1000",
        "a partial update"
    );
    let deps = dcos.run(&["marathon", "deployment", "list", "--json"]);
    assert_eq!(deps.code, 0, "{}", deps.stderr);
    let restarted = dcos.ok(&["marathon", "app", "restart", "hello"]);
    assert!(restarted.contains("Created deployment"), "{restarted}");
    let dep = restarted
        .split_whitespace()
        .last()
        .expect("an id")
        .to_string();
    dcos.ok(&["marathon", "deployment", "watch", &dep, "--max-count=60"]);
    let groups = dcos.json(&["marathon", "group", "list", "--json"]);
    assert!(groups.is_array(), "{groups}");

    // Tasks, their logs, services.
    let tasks = dcos.json(&["task", "--json"]);
    let tasks = tasks.as_array().expect("a list");
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks
        .iter()
        .all(|t| t["name"] == "hello" && t["state"] == "TASK_RUNNING"));
    let table = dcos.ok(&["task"]);
    assert!(table.contains("hello") && table.contains(" R "), "{table}");
    let task_id = tasks[0]["id"].as_str().expect("id").to_string();
    let mut log = String::new();
    wait_for(Duration::from_secs(20), || {
        log = dcos.run(&["task", "log", &task_id]).stdout;
        log.contains("hello-from-dcos")
    });
    let services = dcos.json(&["service", "--json"]);
    assert!(
        services
            .as_array()
            .expect("a list")
            .iter()
            .any(|s| s["name"] == "marathon" && s["active"] == true),
        "{services}"
    );

    // A framework torn down by `dcos service shutdown` (POST /mesos/master/teardown, no
    // Content-Type), and by `drover service shutdown` (the operator API's TEARDOWN).
    for how in ["dcos", "drover"] {
        let mut fw = curl_framework(
            &up.master,
            serde_json::json!({"name": format!("doomed-{how}")}),
        );
        let mut id = String::new();
        wait_for(Duration::from_secs(20), || {
            let all = dcos.json(&["service", "--json"]);
            match all
                .as_array()
                .and_then(|a| a.iter().find(|s| s["name"] == format!("doomed-{how}")))
            {
                Some(s) => {
                    id = s["id"].as_str().unwrap_or("").to_string();
                    true
                }
                None => false,
            }
        });
        if how == "dcos" {
            dcos.ok(&["service", "shutdown", &id]);
        } else {
            let out = Command::new(drover_bin())
                .args(["service", "shutdown", &id, "--master", &up.master])
                .output()
                .expect("drover service shutdown");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        wait_for(Duration::from_secs(20), || {
            !dcos
                .json(&["service", "--json"])
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["id"] == id.as_str()))
        });
        let done = dcos.json(&["service", "--completed", "--json"]);
        assert!(
            done.as_array()
                .is_some_and(|a| a.iter().any(|s| s["id"] == id.as_str())),
            "{done}"
        );
        let _ = fw.kill();
        let _ = fw.wait();
    }
    let unknown = Command::new(drover_bin())
        .args([
            "service",
            "shutdown",
            "no-such-framework",
            "--master",
            &up.master,
        ])
        .output()
        .expect("drover service shutdown");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("No framework found with specified ID"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // Nodes: the masters come from the DNS API through the gateway, the agents from the master.
    let nodes = dcos.json(&["node", "--json"]);
    let nodes = nodes.as_array().expect("a list");
    assert!(
        nodes.iter().any(|n| n["type"] == "master (leader)"),
        "{nodes:?}"
    );
    assert!(nodes.iter().any(|n| n["type"] == "agent"), "{nodes:?}");
    let table = dcos.ok(&["node"]);
    assert!(
        table.contains("master (leader)") && table.contains("agent"),
        "{table}"
    );

    // An unknown app: Marathon's message, exit 1.
    let missing = dcos.run(&["marathon", "app", "show", "/does-not-exist"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .contains("Error: App '/does-not-exist' does not exist"),
        "{}",
        missing.stderr
    );

    dcos.ok(&["marathon", "app", "remove", "hello"]);
    wait_for(Duration::from_secs(30), || {
        dcos.json(&["marathon", "app", "list", "--json"]) == serde_json::json!([])
    });
}

#[test]
fn the_dcos_cli_installs_lists_and_uninstalls_packages() {
    let up = Up::start_with_marathon(1, &[]);
    let g = format!("http://{}", up.gateway);
    let dcos = Dcos::new();
    dcos.ok(&["cluster", "setup", &g]);

    // The catalogue.
    let found = dcos.ok(&["package", "search", "hello"]);
    assert!(found.contains("helloworld"), "{found}");
    let all = dcos.json(&["package", "search", "--json"]);
    let names: Vec<&str> = all["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"helloworld") && names.contains(&"drover"),
        "{names:?}"
    );
    let none = dcos.run(&["package", "search", "no-such-thing"]);
    assert_eq!(none.code, 1, "{}", none.stdout);
    let described = dcos.json(&["package", "describe", "helloworld"]);
    assert_eq!(described["package"]["name"], "helloworld", "{described}");
    let repos = dcos.ok(&["package", "repo", "list"]);
    assert!(repos.contains("Universe: builtin:universe"), "{repos}");

    // Options that break the package's schema: the field is named, nothing is installed.
    let bad = up.dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"port": "eighty"}"#).expect("write");
    let refused = dcos.run(&[
        "package",
        "install",
        "helloworld",
        "--yes",
        "--options",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("port"), "{}", refused.stderr);
    assert_eq!(
        dcos.json(&["marathon", "app", "list", "--json"]),
        serde_json::json!([])
    );

    // Install, the classic demo's scale-up, the second install refused.
    let installed = dcos.run(&["package", "install", "helloworld", "--yes"]);
    assert_eq!(
        installed.code, 0,
        "{}\n{}",
        installed.stdout, installed.stderr
    );
    let app = dcos.json(&["marathon", "app", "show", "helloworld"]);
    assert_eq!(app["labels"]["DCOS_PACKAGE_NAME"], "helloworld", "{app}");
    assert_eq!(app["labels"]["DCOS_PACKAGE_VERSION"], "0.1.0", "{app}");
    // Its deployment ends when the instance passes its health check.
    wait_for(Duration::from_secs(90), || {
        dcos.json(&["marathon", "deployment", "list", "--json"]) == serde_json::json!([])
    });
    assert_eq!(
        dcos.json(&["marathon", "app", "show", "helloworld"])["tasksHealthy"],
        1
    );
    dcos.ok(&["marathon", "app", "update", "helloworld", "instances=5"]);
    wait_for(Duration::from_secs(90), || {
        dcos.json(&["marathon", "app", "show", "helloworld"])["tasksHealthy"] == 5
    });
    let twice = dcos.run(&["package", "install", "helloworld", "--yes"]);
    assert_eq!(twice.code, 1);
    assert!(
        twice.stderr.contains("already installed"),
        "{}",
        twice.stderr
    );
    let listed = dcos.json(&["package", "list", "--json"]);
    assert_eq!(listed[0]["name"], "helloworld", "{listed}");
    assert_eq!(
        listed[0]["apps"],
        serde_json::json!(["/helloworld"]),
        "{listed}"
    );

    // A package that extends the CLI: its binary comes from the gateway, sha256 checked.
    let cli = dcos.run(&["package", "install", "drover", "--yes"]);
    assert_eq!(cli.code, 0, "{}\n{}", cli.stdout, cli.stderr);
    assert!(
        (cli.stdout.clone() + &cli.stderr).contains("New command available: dcos drover"),
        "{}\n{}",
        cli.stdout,
        cli.stderr
    );
    let help = dcos.ok(&["drover", "--help"]);
    assert!(!help.trim().is_empty());
    let agents = dcos.ok(&["drover", "agents"]);
    let agent = call("GET", &format!("http://{}/master/slaves", up.master), None).1["slaves"][0]
        ["id"]
        .as_str()
        .expect("an agent")
        .to_string();
    assert!(agents.contains(&agent), "{agents}");
    let listed = dcos.ok(&["package", "list"]);
    assert!(listed.contains("drover"), "the COMMAND column: {listed}");
    // Uninstalling the CLI part removes the subcommand.
    dcos.ok(&["package", "uninstall", "drover", "--cli"]);
    let gone = dcos.run(&["drover", "--help"]);
    assert_ne!(gone.code, 0, "{}", gone.stdout);

    // Uninstall removes exactly the package's app.
    let other = up.dir.path().join("other.json");
    std::fs::write(
        &other,
        r#"{"id": "/other", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 0}"#,
    )
    .expect("write");
    dcos.ok(&["marathon", "app", "add", other.to_str().expect("utf-8")]);
    let gone = dcos.run(&["package", "uninstall", "helloworld", "--yes"]);
    assert_eq!(gone.code, 0, "{}\n{}", gone.stdout, gone.stderr);
    wait_for(Duration::from_secs(30), || {
        let apps = dcos.json(&["marathon", "app", "list", "--json"]);
        apps.as_array()
            .is_some_and(|a| a.len() == 1 && a[0]["id"] == "/other")
    });
    assert_eq!(
        dcos.json(&["package", "list", "--json"])
            .as_array()
            .map(|a| a.iter().filter(|p| p["name"] == "helloworld").count()),
        Some(0)
    );

    // Drover's own CLI reads the same catalogue.
    let out = Command::new(drover_bin())
        .args(["package", "search", "--json", "--gateway", &g])
        .output()
        .expect("drover package search");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("helloworld"));

    // ... and installs, waiting for the deployment; lists; refuses bad options naming them;
    // uninstalls.
    let drover = |args: &[&str]| {
        let out = Command::new(drover_bin())
            .args(args)
            .args(["--gateway", &g])
            .output()
            .expect("drover package");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, _, err) = drover(&[
        "package",
        "install",
        "helloworld",
        "--options",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("port"), "{err}");
    let site = up.dir.path().join("site.json");
    std::fs::write(&site, r#"{"service": {"name": "site", "instances": 1}}"#).expect("write");
    let (code, out, err) = drover(&[
        "package",
        "install",
        "static-web",
        "--options",
        site.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The wait ended with the deployment: the instance is up and healthy.
    let app = call("GET", &format!("{g}/service/marathon/v2/apps/site"), None).1;
    assert_eq!(app["app"]["tasksHealthy"], 1, "{app}");
    assert!(
        app["app"]["deployments"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{app}"
    );
    // The gateway routes /service/site/ to it: an app labelled DCOS_SERVICE_NAME, as Admin
    // Router does.
    let page = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{g}/service/site/"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&page.stdout), "200");
    let (code, out, _) = drover(&["package", "list", "--json"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("static-web") && out.contains("/site"), "{out}");
    let (code, out, err) = drover(&["package", "uninstall", "static-web"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    wait_for(Duration::from_secs(30), || {
        call("GET", &format!("{g}/service/marathon/v2/apps/site"), None).0 == 404
    });
}

/// The frameworks the leading master has, by name: (active ones, completed ones).
fn frameworks_named(master: &str, name: &str) -> (Vec<Value>, Vec<Value>) {
    let state = call("GET", &format!("http://{master}/master/state"), None).1;
    let pick = |k: &str| -> Vec<Value> {
        state[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["name"] == name)
            .cloned()
            .collect()
    };
    (pick("frameworks"), pick("completed_frameworks"))
}

#[test]
fn a_framework_package_runs_its_framework_and_uninstall_tears_it_down() {
    let up = Up::start_with_marathon(1, &[]);
    let g = format!("http://{}", up.gateway);
    let dcos = Dcos::new();
    dcos.ok(&["cluster", "setup", &g]);

    // `marathon` runs a Marathon of its own (the drover binary, fetched from the gateway) as the
    // framework marathon-user, reached through the gateway at /service/marathon-user/.
    let installed = dcos.run(&["package", "install", "marathon", "--yes"]);
    assert_eq!(
        installed.code, 0,
        "{}\n{}",
        installed.stdout, installed.stderr
    );
    let inner = format!("{g}/service/marathon-user");
    wait_for(Duration::from_secs(120), || {
        let (s, info) = call("GET", &format!("{inner}/v2/info"), None);
        s == 200 && info["marathon_config"]["framework_name"] == "marathon-user"
    });
    let app = serde_json::json!({"id": "/inner", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1});
    let (s, body) = call("POST", &format!("{inner}/v2/apps"), Some(&app));
    assert_eq!(s, 201, "{body}");
    wait_for(Duration::from_secs(60), || {
        let (active, _) = frameworks_named(&up.master, "marathon-user");
        active.len() == 1
            && active[0]["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["state"] == "TASK_RUNNING"))
    });
    let listed = dcos.json(&["package", "list", "--json"]);
    assert!(
        listed.as_array().is_some_and(|a| {
            a.iter().any(|p| {
                p["name"] == "marathon" && p["apps"] == serde_json::json!(["/marathon-user"])
            })
        }),
        "{listed}"
    );

    // Uninstall: the app goes, and the framework is torn down with its task.
    let gone = dcos.run(&["package", "uninstall", "marathon", "--yes"]);
    assert_eq!(gone.code, 0, "{}\n{}", gone.stdout, gone.stderr);
    wait_for(Duration::from_secs(60), || {
        let (active, completed) = frameworks_named(&up.master, "marathon-user");
        active.is_empty() && completed.len() == 1
    });
    let (_, completed) = frameworks_named(&up.master, "marathon-user");
    let tasks = completed[0]["completed_tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        tasks
            .iter()
            .any(|t| t["name"] == "inner" && t["state"] == "TASK_KILLED"),
        "{tasks:?}"
    );
    wait_for(Duration::from_secs(30), || {
        dcos.json(&["marathon", "app", "list", "--json"]) == serde_json::json!([])
    });
}
