//! An HA cluster in Docker for the chaos tests: 3 ZooKeeper servers, 3 masters, 2 Marathons
//! (or none), optionally 2-3 jobs schedulers (`drover jobs --zk zk://…/jobs`) and 4 agents, each
//! a container with its own address on a private network (see dockercluster.rs for the image and
//! the Engine API). ZooKeeper runs in the same image with the host's Java and ZooKeeper mounted
//! read-only (the machines have no registry to pull a JRE image from).
//!
//! Layout on `10.213.X.0/24`: masters `.2-.4:5050`, Marathons `.5-.6:8080`, jobs schedulers
//! `.7-.9:9000`, agents `.10-.13:5051`, ZooKeeper `.20-.22:2181`. Agents run under a supervisor
//! loop as in dockercluster.rs (with [`Options::agent_binds`] mounted, e.g. a host directory
//! their tasks write to); masters, Marathons, jobs schedulers and ZooKeeper servers are killed
//! and started as containers (the process is the container).
#![allow(dead_code)]

use super::dockercluster::{create_network, Docker, CREATED_LABEL, LABEL, OWNER_LABEL};
use super::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Zk,
    Master,
    Marathon,
    Agent,
    Jobs,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub index: usize,
    pub container: String,
    pub ip: String,
}

impl Node {
    pub fn addr(&self) -> String {
        let port = match self.kind {
            Kind::Zk => 2181,
            Kind::Master => 5050,
            Kind::Marathon => 8080,
            Kind::Agent => 5051,
            Kind::Jobs => 9000,
        };
        format!("{}:{port}", self.ip)
    }
}

pub struct HaDocker {
    pub docker: Docker,
    pub image: String,
    pub network: String,
    pub prefix: String,
    pub nodes: Vec<Node>,
    /// `host:2181,…` of the ZooKeeper servers.
    pub zk_hosts: String,
    labels: Value,
}

/// What [`HaDocker::start_with`] starts besides the 3 ZooKeeper servers, 3 masters and 4 agents.
#[derive(Clone, Debug)]
pub struct Options {
    /// The ZooKeeper session timeout of masters, Marathons and jobs schedulers.
    pub session_secs: u32,
    /// Marathons in `zk://…/marathon` (at most 2).
    pub marathons: usize,
    /// Jobs schedulers in `zk://…/jobs` (at most 3).
    pub jobs: usize,
    /// Docker binds (`host:container[:ro]`) of every agent container.
    pub agent_binds: Vec<String>,
}

impl Options {
    /// The chaos test's cluster: 2 Marathons, no jobs scheduler.
    pub fn new(session_secs: u32) -> Options {
        Options {
            session_secs,
            marathons: 2,
            jobs: 0,
            agent_binds: Vec::new(),
        }
    }
}

/// What a ZooKeeper container mounts from the host (read-only): Java, the jars, configs, and
/// the libraries Java links to.
const ZK_BINDS: &[&str] = &[
    "/usr/lib/jvm:/usr/lib/jvm:ro",
    "/usr/share/java:/usr/share/java:ro",
    "/etc/zookeeper:/etc/zookeeper:ro",
    "/etc/java-17-openjdk:/etc/java-17-openjdk:ro",
    "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
];

impl HaDocker {
    pub fn start(session_secs: u32) -> HaDocker {
        Self::start_with(Options::new(session_secs))
    }

    pub fn start_with(o: Options) -> HaDocker {
        assert!(o.marathons <= 2 && o.jobs <= 3, "{o:?}");
        let session_secs = o.session_secs;
        let t0 = Instant::now();
        let docker = Docker::connect();
        docker.remove_leftovers();
        let image = docker.drover_image();
        let labels = json!({LABEL: "1", OWNER_LABEL: std::process::id().to_string(), CREATED_LABEL: (dockercluster::unix_now() as u64).to_string()});
        let (network, prefix) = create_network(&docker, &labels);
        let mut c = HaDocker {
            docker,
            image,
            network,
            prefix,
            nodes: Vec::new(),
            zk_hosts: String::new(),
            labels,
        };
        let zk_ips: Vec<String> = (0..3).map(|i| format!("{}.{}", c.prefix, 20 + i)).collect();
        let servers: String = zk_ips
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("server.{}={ip}:2888:3888\\n", i + 1))
            .collect();
        let zk_hosts = zk_ips
            .iter()
            .map(|ip| format!("{ip}:2181"))
            .collect::<Vec<_>>()
            .join(",");
        c.zk_hosts = zk_hosts.clone();
        let mesos = format!("zk://{zk_hosts}/mesos");
        let marathon_zk = format!("zk://{zk_hosts}/marathon");
        let jobs_zk = format!("zk://{zk_hosts}/jobs");
        for (i, ip) in zk_ips.iter().enumerate() {
            let script = format!(
                "mkdir -p /data && echo {id} > /data/myid && printf 'tickTime=200\\ninitLimit=25\\nsyncLimit=10\\ndataDir=/data\\nclientPort=2181\\nadmin.enableServer=false\\n4lw.commands.whitelist=srvr,ruok\\nmaxSessionTimeout=30000\\n{servers}' > /zoo.cfg && exec /usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xmx96m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '/usr/share/java/zookeeper.jar:/usr/share/java/*:/etc/zookeeper/conf_example' org.apache.zookeeper.server.quorum.QuorumPeerMain /zoo.cfg",
                id = i + 1
            );
            c.run(Kind::Zk, i, ip, &["/bin/sh", "-c", &script], ZK_BINDS);
        }
        let session = session_secs.to_string();
        for i in 0..3 {
            let ip = format!("{}.{}", c.prefix, 2 + i);
            c.run(
                Kind::Master,
                i,
                &ip,
                &[
                    "drover",
                    "master",
                    "--work-dir",
                    "/var/lib/drover/master",
                    "--ip",
                    "0.0.0.0",
                    "--port",
                    "5050",
                    "--advertise-ip",
                    &ip,
                    "--hostname",
                    &ip,
                    "--zk",
                    &mesos,
                    "--quorum",
                    "2",
                    "--zk-session-timeout",
                    &session,
                    "--agent-timeout",
                    "15",
                ],
                &[],
            );
        }
        for i in 0..4 {
            let ip = format!("{}.{}", c.prefix, 10 + i);
            let host = format!("agent-{i}");
            let agent = [
                "drover",
                "agent",
                "--master",
                &mesos,
                "--work-dir",
                "/var/lib/drover/agent",
                "--ip",
                "0.0.0.0",
                "--port",
                "5051",
                "--advertise-ip",
                &ip,
                "--hostname",
                &host,
                "--no-cgroups",
                "--resources",
                "cpus:4;mem:2048;disk:2000;ports:[31000-31099]",
            ];
            let mut argv = vec![
                "/bin/sh",
                "-c",
                "while :; do \"$@\"; sleep 0.2; done",
                "supervise",
            ];
            argv.extend_from_slice(&agent);
            let binds: Vec<&str> = o.agent_binds.iter().map(String::as_str).collect();
            c.run(Kind::Agent, i, &ip, &argv, &binds);
        }
        for i in 0..o.marathons {
            let ip = format!("{}.{}", c.prefix, 5 + i);
            c.run(
                Kind::Marathon,
                i,
                &ip,
                &[
                    "drover",
                    "marathon",
                    "--master",
                    &mesos,
                    "--zk",
                    &marathon_zk,
                    "--zk-session-timeout",
                    &session,
                    "--work-dir",
                    "/var/lib/drover/marathon",
                    "--ip",
                    "0.0.0.0",
                    "--port",
                    "8080",
                    "--advertise-ip",
                    &ip,
                ],
                &[],
            );
        }
        for i in 0..o.jobs {
            let ip = format!("{}.{}", c.prefix, 7 + i);
            c.run(
                Kind::Jobs,
                i,
                &ip,
                &[
                    "drover",
                    "jobs",
                    "--master",
                    &mesos,
                    "--zk",
                    &jobs_zk,
                    "--zk-session-timeout",
                    &session,
                    "--work-dir",
                    "/var/lib/drover/jobs",
                    "--ip",
                    "0.0.0.0",
                    "--port",
                    "9000",
                    "--advertise-ip",
                    &ip,
                ],
                &[],
            );
        }
        let what = match (o.marathons, o.jobs) {
            (0, 0) => "a leading master with 4 agents",
            (_, 0) => "a leading master with 4 agents and a Marathon",
            (0, _) => "a leading master with 4 agents and a jobs scheduler",
            _ => "a leading master with 4 agents, a Marathon and a jobs scheduler",
        };
        c.wait(Duration::from_secs(120), what, |c| {
            c.leading_master()
                .is_some_and(|m| c.connected_agents(&m) == 4)
                && (o.marathons == 0 || c.marathon_leader().is_some())
                && (o.jobs == 0 || c.jobs_leader().is_some())
        });
        eprintln!(
            "chaos: cluster on {} ({}.0/24) up in {:.1?}",
            c.network,
            c.prefix,
            t0.elapsed()
        );
        c
    }

    fn run(&mut self, kind: Kind, index: usize, ip: &str, argv: &[&str], binds: &[&str]) {
        let role = format!("{kind:?}-{index}").to_lowercase();
        let name = format!("{}-{role}", self.network);
        let body = json!({
            "Image": self.image,
            "Cmd": argv,
            "Hostname": role,
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NO_COLOR=1", "DROVER_LOG=info"],
            "Labels": self.labels,
            "HostConfig": {"Init": true, "NetworkMode": self.network, "Binds": binds},
            "NetworkingConfig": {"EndpointsConfig": {self.network.clone(): {"IPAMConfig": {"IPv4Address": ip}}}},
        });
        let (code, v) = self
            .docker
            .post(&format!("/containers/create?name={name}"), Some(&body));
        assert_eq!(code, 201, "creating container {name}: {v}");
        self.docker.must(&format!("/containers/{name}/start"), None);
        self.nodes.push(Node {
            kind,
            index,
            container: name,
            ip: ip.to_string(),
        });
    }

    pub fn of(&self, kind: Kind) -> Vec<&Node> {
        self.nodes.iter().filter(|n| n.kind == kind).collect()
    }

    pub fn wait(&self, timeout: Duration, what: &str, mut f: impl FnMut(&Self) -> bool) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("chaos: {what} not within {timeout:?}\n{}", self.logs(60));
    }

    /// The master that answers `/master/state` itself.
    pub fn leading_master(&self) -> Option<String> {
        self.of(Kind::Master).into_iter().find_map(|m| {
            let (code, _) = call_quick("GET", &format!("http://{}/master/state-summary", m.addr()));
            (code == 200).then(|| m.addr())
        })
    }

    pub fn connected_agents(&self, master: &str) -> usize {
        get_json(&format!("http://{master}/master/slaves"))
            .and_then(|v| {
                v["slaves"]
                    .as_array()
                    .map(|a| a.iter().filter(|s| s["connected"] == true).count())
            })
            .unwrap_or(0)
    }

    /// The Marathon leader, as every running Marathon that answers names it.
    pub fn marathon_leader(&self) -> Option<String> {
        self.of(Kind::Marathon).into_iter().find_map(|m| {
            let v = get_json(&format!("http://{}/v2/leader", m.addr()))?;
            let l = v["leader"].as_str()?.to_string();
            get_json(&format!("http://{l}/v2/info"))
                .filter(|i| i["elected"] == true)
                .map(|_| l)
        })
    }

    /// The jobs scheduler leader, as the running schedulers that answer name it (the first
    /// answer), if it answers `/leader` naming itself.
    pub fn jobs_leader(&self) -> Option<String> {
        self.of(Kind::Jobs).into_iter().find_map(|j| {
            let (code, body) = call_quick("GET", &format!("http://{}/leader", j.addr()));
            let l = (code == 200)
                .then(|| serde_json::from_str::<Value>(&body).ok())
                .flatten()?["leader"]
                .as_str()?
                .to_string();
            let (code, body) = call_quick("GET", &format!("http://{l}/leader"));
            let again = serde_json::from_str::<Value>(&body).ok()?;
            (code == 200 && again["leader"] == l.as_str()).then_some(l)
        })
    }

    /// Freeze every process of `n` (the cgroup freezer: a stop-the-world pause, as SIGSTOP).
    pub fn pause(&self, n: &Node) {
        let _ = self
            .docker
            .post(&format!("/containers/{}/pause", n.container), None);
    }

    pub fn unpause(&self, n: &Node) {
        let _ = self
            .docker
            .post(&format!("/containers/{}/unpause", n.container), None);
    }

    pub fn kill(&self, n: &Node) {
        let _ = self
            .docker
            .post(&format!("/containers/{}/kill", n.container), None);
    }

    pub fn start_again(&self, n: &Node) {
        let _ = self
            .docker
            .post(&format!("/containers/{}/start", n.container), None);
    }

    pub fn running(&self, n: &Node) -> bool {
        self.docker.running(&n.container)
    }

    pub fn disconnect(&self, n: &Node) {
        let _ = self.docker.post(
            &format!("/networks/{}/disconnect", self.network),
            Some(&json!({"Container": n.container, "Force": true})),
        );
    }

    pub fn connect(&self, n: &Node) {
        let body = json!({"Container": n.container, "EndpointConfig": {"IPAMConfig": {"IPv4Address": n.ip}}});
        let _ = self
            .docker
            .post(&format!("/networks/{}/connect", self.network), Some(&body));
    }

    /// Run `iptables args` in `n`'s network namespace (the host's iptables, through nsenter:
    /// the image has none). False if it could not be done.
    fn iptables(&self, n: &Node, args: &[&str]) -> bool {
        let (_, v) = self
            .docker
            .get(&format!("/containers/{}/json", n.container));
        let Some(pid) = v["State"]["Pid"].as_u64().filter(|p| *p > 0) else {
            return false;
        };
        std::process::Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["iptables", "-w"])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Drop all traffic between `n` and `others`, in `n`'s own firewall (both directions).
    pub fn block(&self, n: &Node, others: &[&Node]) -> bool {
        others.iter().all(|o| {
            self.iptables(n, &["-A", "INPUT", "-s", &o.ip, "-j", "DROP"])
                && self.iptables(n, &["-A", "OUTPUT", "-d", &o.ip, "-j", "DROP"])
        })
    }

    /// Undo `block`.
    pub fn unblock(&self, n: &Node) {
        self.iptables(n, &["-F", "INPUT"]);
        self.iptables(n, &["-F", "OUTPUT"]);
    }

    /// Whether `n` is attached to the network.
    pub fn connected(&self, n: &Node) -> bool {
        let (_, v) = self
            .docker
            .get(&format!("/containers/{}/json", n.container));
        v["NetworkSettings"]["Networks"]
            .get(&self.network)
            .is_some()
    }

    /// Every container's log (the last `tail` lines each; 0 for all).
    pub fn logs(&self, tail: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let t = if tail == 0 { 1_000_000 } else { tail };
            s += &format!(
                "==> {}\n{}\n",
                n.container,
                self.docker.logs(&n.container, t)
            );
        }
        s
    }

    pub fn log_of(&self, n: &Node) -> String {
        self.docker.logs(&n.container, 1_000_000)
    }
}

impl Drop for HaDocker {
    fn drop(&mut self) {
        for n in &self.nodes {
            let _ = self
                .docker
                .delete(&format!("/containers/{}?force=true&v=true", n.container));
        }
        let _ = self.docker.delete(&format!("/networks/{}", self.network));
    }
}

/// A GET with a short timeout: (status, body).
pub fn call_quick(method: &str, url: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "3",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output();
    let Ok(out) = out else {
        return (0, String::new());
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
