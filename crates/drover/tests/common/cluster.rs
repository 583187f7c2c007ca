//! Clusters of separate processes (`drover master`, `drover agent`, `drover marathon`) for
//! tests that kill, freeze or restart one of them.
#![allow(dead_code)]

use super::*;
use std::path::Path;
use std::time::Duration;

pub struct Cluster {
    pub master: Proc,
    pub master_addr: String,
    pub agents: Vec<(Proc, String, u16)>,
    pub dir: tempfile::TempDir,
}

impl Drop for Cluster {
    /// Agents first (Ctrl-C: they stop their tasks), then whatever still works under the
    /// cluster's dir (tasks of agents the test killed with -9).
    fn drop(&mut self) {
        for (a, _, _) in &mut self.agents {
            a.stop();
        }
        self.master.stop();
        kill_strays(self.dir.path());
    }
}

pub fn start_master(dir: &Path, port: u16, extra: &[&str]) -> (Proc, String) {
    let work = dir.join("master");
    let p = port.to_string();
    let mut args = vec![
        "master",
        "--work-dir",
        work.to_str().unwrap(),
        "--ip",
        "127.0.0.1",
        "--port",
        &p,
    ];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(
        &args,
        &dir.join(format!(
            "master-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )),
    );
    let line = proc.wait_line("master: http://", Duration::from_secs(30));
    let addr = line.split("http://").nth(1).unwrap().trim().to_string();
    (proc, addr)
}

pub fn start_agent(dir: &Path, master: &str, i: usize, port: u16) -> (Proc, u16) {
    start_agent_with(dir, master, i, port, &[])
}

/// `start_agent` with extra `drover agent` flags (e.g. `--containerizers docker,process`).
pub fn start_agent_with(
    dir: &Path,
    master: &str,
    i: usize,
    port: u16,
    extra: &[&str],
) -> (Proc, u16) {
    let work = dir.join(format!("agent-{i}"));
    let p = port.to_string();
    // Each agent offers its own slice of ports, picked per cluster, so tasks of parallel tests
    // that listen on their ports rarely collide.
    let base =
        20000 + (std::process::id() as usize * 131 + dir.as_os_str().len() * 17 + i * 211) % 20000;
    let resources = format!("cpus:2;mem:1024;disk:1000;ports:[{base}-{}]", base + 99);
    let attributes = format!("rack:r{i};zone:z{}", i % 2);
    let mut args = vec![
        "agent",
        "--master",
        master,
        "--work-dir",
        work.to_str().unwrap(),
        "--ip",
        "127.0.0.1",
        "--port",
        &p,
        "--attributes",
        &attributes,
    ];
    // The caller's own `--resources` (in `extra`) replaces the slice picked here.
    if !extra.contains(&"--resources") {
        args.extend_from_slice(&["--resources", &resources]);
    }
    args.extend_from_slice(extra);
    let proc = Proc::spawn(
        &args,
        &dir.join(format!(
            "agent-{i}-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )),
    );
    let line = proc.wait_line("agent: http://", Duration::from_secs(30));
    let port: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (proc, port)
}

/// Poll `f` until true; at `timeout`, fail saying `what` with the cluster's logs.
pub fn wait_until(timeout: Duration, what: &str, c: &Cluster, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out: {what}\n{}", c.logs());
}

impl Cluster {
    pub fn start(agents: usize, master_flags: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (master, master_addr) = start_master(dir.path(), 0, master_flags);
        let mut list = Vec::new();
        for i in 0..agents {
            let (p, port) = start_agent(dir.path(), &master_addr, i, 0);
            list.push((p, format!("127.0.0.1:{port}"), port));
        }
        let c = Cluster {
            master,
            master_addr,
            agents: list,
            dir,
        };
        c.wait_agents(agents);
        c
    }
    pub fn wait_agents(&self, n: usize) {
        wait_for(Duration::from_secs(30), || {
            get_json(&format!("http://{}/master/slaves", self.master_addr))
                .map(|v| {
                    v["slaves"]
                        .as_array()
                        .map(|a| a.iter().filter(|s| s["connected"] == true).count())
                        .unwrap_or(0)
                        >= n
                })
                .unwrap_or(false)
        });
    }
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if e.path().extension().map(|x| x == "log").unwrap_or(false) {
                s += &format!(
                    "==> {}\n{}\n",
                    e.path().display(),
                    std::fs::read_to_string(e.path()).unwrap_or_default()
                );
            }
        }
        s
    }
}

/// `drover marathon` against `master`, state under `dir/marathon`, on `port` (0 = any).
pub fn start_marathon(dir: &Path, master: &str, port: u16) -> (Proc, String) {
    start_marathon_with(dir, master, port, &[])
}

/// `start_marathon` with extra `drover marathon` flags (e.g. `--role marathon`).
pub fn start_marathon_with(dir: &Path, master: &str, port: u16, extra: &[&str]) -> (Proc, String) {
    let work = dir.join("marathon");
    let p = port.to_string();
    let mut args = vec![
        "marathon",
        "--master",
        master,
        "--work-dir",
        work.to_str().unwrap(),
        "--ip",
        "127.0.0.1",
        "--port",
        &p,
    ];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(
        &args,
        &dir.join(format!(
            "marathon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )),
    );
    let line = proc.wait_line("marathon: http://", Duration::from_secs(30));
    (
        proc,
        line.split("http://").nth(1).unwrap().trim().to_string(),
    )
}
