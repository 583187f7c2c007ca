//! Reading the cluster with the Apache Mesos CLI (avmesos-cli), pymesos' operator client and
//! Drover's own CLI while a pymesos framework holds running tasks.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Holder {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Holder {
    fn start(master: &str, n: usize, name: &str) -> Holder {
        let py = pyclients();
        let mut child = Command::new(py.join("mesos/bin/python"))
            .arg(repo_root().join("tests/clients/pymesos_hold.py"))
            .args([master, &n.to_string(), name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pymesos holder");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Holder { child, lines: rx }
    }
    fn wait(&self, needle: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("holder never printed {needle}"),
            }
        }
    }
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn mesos_cli_pymesos_operator_and_drover_cli_read_the_cluster() {
    let py = pyclients();
    let up = Up::start(2, &[]);
    let holder = Holder::start(&up.master, 3, "holder");
    holder.wait("RUNNING 3");

    // The Apache Mesos CLI.
    let cfg = up.dir.path().join("mesos-cli.toml");
    std::fs::write(&cfg, format!("[master]\naddress = \"{}\"\n", up.master)).unwrap();
    let mesos = |args: &[&str]| {
        run(Command::new(py.join("mesoscli/bin/mesos"))
            .args(args)
            .env("MESOS_CLI_CONFIG", &cfg))
    };
    let agents = get_json(&format!("http://{}/master/slaves", up.master)).unwrap();
    let agent_ids: Vec<String> = agents["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let out = mesos(&["agent", "list"]);
    for id in &agent_ids {
        assert!(
            out.contains(id.as_str()),
            "mesos agent list lacks {id}:\n{out}"
        );
    }
    let out = mesos(&["framework", "list"]);
    assert!(out.contains("holder"), "mesos framework list:\n{out}");
    let out = mesos(&["task", "list"]);
    for i in 0..3 {
        assert!(
            out.contains(&format!("holder-{i}")),
            "mesos task list lacks holder-{i}:\n{out}"
        );
    }
    assert!(out.contains("TASK_RUNNING"));

    // pymesos' operator client (v1 operator API).
    let out = run(Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/pymesos_operator.py"))
        .arg(&up.master));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["health"], true);
    assert_eq!(v["agents"].as_array().unwrap().len(), 2);
    assert_eq!(v["frameworks"], serde_json::json!(["holder"]));
    assert_eq!(v["tasks"].as_array().unwrap().len(), 3, "{v}");
    assert!(v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t[1] == "TASK_RUNNING"));

    // Drover's CLI: tables and --json.
    let d = |args: &[&str]| {
        run(Command::new(drover_bin())
            .args(args)
            .env("DROVER_MASTER", &up.master))
    };
    let out = d(&["node", "list"]);
    assert!(
        agent_ids.iter().all(|id| out.contains(id.as_str())),
        "{out}"
    );
    let out = d(&["framework", "list"]);
    assert!(out.contains("holder"), "{out}");
    let out = d(&["task", "list"]);
    assert_eq!(out.matches("TASK_RUNNING").count(), 3, "{out}");
    let tasks: serde_json::Value = serde_json::from_str(&d(&["task", "list", "--json"])).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 3);
    let log = d(&["task", "log", "holder-0"]);
    assert!(log.contains("started"), "task log: {log}");

    // The framework leaves (failover_timeout 0): its tasks are killed, and show as such.
    holder.stop();
    wait_for(Duration::from_secs(20), || {
        get_json(&format!("http://{}/master/tasks", up.master))
            .map(|v| {
                v["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|t| t["state"] == "TASK_KILLED")
            })
            .unwrap_or(false)
    });
    let out = d(&["task", "list"]);
    assert!(!out.contains("TASK_RUNNING"), "{out}");
    let out = d(&["task", "list", "--all"]);
    assert_eq!(out.matches("TASK_KILLED").count(), 3, "{out}");
    // And the processes are really gone from the machine.
    wait_for(Duration::from_secs(10), || {
        let ps = Command::new("pgrep")
            .args(["-f", "sleep 1000"])
            .output()
            .unwrap();
        let pids = String::from_utf8_lossy(&ps.stdout).to_string();
        // Other tests may run sleeps too: check only ours by sandbox dir.
        !pids.lines().any(|p| {
            std::fs::read_link(format!("/proc/{p}/cwd"))
                .map(|c| c.starts_with(up.dir.path()))
                .unwrap_or(false)
        })
    });
    let _ = std::io::stdout().flush();
}
