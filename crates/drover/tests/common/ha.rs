//! HA clusters of separate processes on loopback: a real ZooKeeper ensemble, several
//! `drover master --zk`, and agents that follow the leader through `zk://`.
#![allow(dead_code)]

use super::cluster::{start_agent, start_master};
use super::*;
use drover_zk::testing::Ensemble;
use std::time::Duration;

/// Whether ZooKeeper is installed; where it must be (CI), its absence fails the test.
pub fn zookeeper_or_skip() -> bool {
    if drover_zk::testing::available() {
        return true;
    }
    assert!(
        std::env::var_os("DROVER_TESTS_NO_SKIP").is_none(),
        "ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)"
    );
    eprintln!("skipped: ZooKeeper is not installed");
    false
}

pub struct HaCluster {
    pub zk: Ensemble,
    /// `None` once killed.
    pub masters: Vec<Option<(Proc, String)>>,
    pub agents: Vec<(Proc, u16)>,
    pub dir: tempfile::TempDir,
}

/// The session timeout masters get in these tests (the servers tick every 200 ms).
pub const ZK_SESSION_SECS: &str = "2";

impl HaCluster {
    /// `zk_servers` ZooKeeper servers, `masters` masters and `agents` agents given `zk://`.
    pub fn start(zk_servers: usize, masters: usize, agents: usize) -> HaCluster {
        let zk = Ensemble::start(zk_servers).expect("a ZooKeeper ensemble");
        let dir = tempfile::tempdir().unwrap();
        let mut c = HaCluster {
            zk,
            masters: Vec::new(),
            agents: Vec::new(),
            dir,
        };
        for _ in 0..masters {
            let m = c.start_master();
            c.masters.push(Some(m));
        }
        for i in 0..agents {
            let url = c.mesos_url();
            let a = start_agent(c.dir.path(), &url, i, 0);
            c.agents.push(a);
        }
        c
    }

    pub fn mesos_url(&self) -> String {
        self.zk.url("/mesos")
    }

    /// Start one more master (it joins the election).
    pub fn start_master(&self) -> (Proc, String) {
        let sub = self.dir.path().join(format!("m{}", self.masters.len()));
        std::fs::create_dir_all(&sub).unwrap();
        let url = self.mesos_url();
        start_master(
            &sub,
            0,
            &[
                "--zk",
                &url,
                "--quorum",
                "2",
                "--zk-session-timeout",
                ZK_SESSION_SECS,
            ],
        )
    }

    /// Start a Marathon in the HA group `zk://…/marathon`, following the masters through zk.
    pub fn start_marathon(&self, n: usize) -> (Proc, String) {
        let sub = self.dir.path().join(format!("marathon{n}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (mesos, zk) = (self.mesos_url(), self.zk.url("/marathon"));
        let work = sub.join("work");
        let proc = Proc::spawn(
            &[
                "marathon",
                "--master",
                &mesos,
                "--zk",
                &zk,
                "--work-dir",
                work.to_str().unwrap(),
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
            ],
            &sub.join("marathon.log"),
        );
        let line = proc.wait_line("marathon: http://", Duration::from_secs(30));
        let addr = line.split("http://").nth(1).unwrap().trim().to_string();
        (proc, addr)
    }

    /// The index of the master that answers `/master/state` itself (the others redirect).
    pub fn leader(&self) -> Option<usize> {
        let leading: Vec<usize> = self
            .masters
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let (_, addr) = m.as_ref()?;
                let (code, _) = call("GET", &format!("http://{addr}/master/state"), None);
                (code == 200).then_some(i)
            })
            .collect();
        assert!(
            leading.len() <= 1,
            "two masters answer as leader: {leading:?}\n{}",
            self.logs()
        );
        leading.first().copied()
    }

    pub fn wait_leader(&self, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(i) = self.leader() {
                return i;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no leader within {within:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn addr(&self, i: usize) -> String {
        self.masters[i]
            .as_ref()
            .expect("a running master")
            .1
            .clone()
    }

    /// SIGKILL master `i`.
    pub fn kill_master(&mut self, i: usize) {
        if let Some((mut p, _)) = self.masters[i].take() {
            p.kill9();
        }
    }

    /// Wait until the leader has `n` connected agents.
    pub fn wait_agents(&self, n: usize, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(l) = self.leader() {
                let ok = get_json(&format!("http://{}/master/slaves", self.addr(l)))
                    .map(|v| {
                        v["slaves"]
                            .as_array()
                            .map(|a| a.iter().filter(|s| s["connected"] == true).count())
                            .unwrap_or(0)
                            >= n
                    })
                    .unwrap_or(false);
                if ok {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the leader did not have {n} agents within {within:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        let mut s = String::new();
        let mut paths = Vec::new();
        for e in walk(self.dir.path()) {
            if e.extension().is_some_and(|x| x == "log") {
                paths.push(e);
            }
        }
        paths.sort();
        for p in paths {
            s += &format!(
                "==> {}\n{}\n",
                p.display(),
                std::fs::read_to_string(&p).unwrap_or_default()
            );
        }
        s
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                // Masters' and Marathons' dirs, not agents' sandboxes.
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('m'))
                {
                    out.extend(walk(&p));
                }
            } else {
                out.push(p);
            }
        }
    }
    out
}

impl Drop for HaCluster {
    fn drop(&mut self) {
        for (a, _) in &mut self.agents {
            a.stop();
        }
        for (p, _) in self.masters.iter_mut().flatten() {
            p.stop();
        }
        kill_strays(self.dir.path());
    }
}
