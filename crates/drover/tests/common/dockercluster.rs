//! Multi-host clusters in Docker: every node is its own container with its own address on a
//! private bridge network, so partitions (`network disconnect`), machine deaths (`docker kill`)
//! and reboots (`docker stop`/`start`) are real.
//!
//! The image is built here from the test binary: a rootfs with `drover`, the shared libraries
//! `ldd` lists (and the loader), busybox with its applets (`/bin/sh`, `sleep`, `httpd`, `nc`, …),
//! `/tmp` and `/etc/passwd`, loaded with the Engine API's image import and tagged by the binary's
//! size and mtime, so it is built once per binary. Everything talks to the Engine over its unix
//! socket with curl (no docker CLI needed); every container and network carries the label
//! `drover.multihost` with its owner's pid, is removed when the cluster is dropped (even when
//! the test panics), and leftovers whose owner is gone are removed at the next start.
//!
//! Layout on network `10.213.X.0/24`: master `.2:5050`, Marathon `.3:8080`, agent i `.(10+i):5051`
//! with hostname `agent-i` and attributes `rack:r<i>;zone:z<i % 2>`. Each agent container runs a
//! tiny supervisor (`while :; do drover agent …; done`) under docker-init, so `kill -9` of the
//! agent process alone restarts it with its tasks alive (hold it down with [`Agent::hold`]),
//! while `docker kill`/`stop` takes the whole "machine" down with its tasks.
#![allow(dead_code)]

use super::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const LABEL: &str = "drover.multihost";
pub const OWNER_LABEL: &str = "drover.multihost.owner";
pub const CREATED_LABEL: &str = "drover.multihost.created";
const REPO: &str = "drover-multihost";
/// Bump when the image's layout changes, so an old image of the same binary is not reused.
const RECIPE: &str = "rootfs-v1";
const API: &str = "/v1.41";

/// The Docker Engine API over its unix socket, with curl.
#[derive(Clone)]
pub struct Docker {
    pub socket: String,
}

impl Docker {
    /// The engine at `DOCKER_HOST` (unix://…) or /var/run/docker.sock. Panics, loudly, when no
    /// engine answers: these tests must never pass by skipping.
    pub fn connect() -> Docker {
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_string(),
            Ok(h) if !h.is_empty() => panic!("multihost tests: DOCKER_HOST={h} is not a unix socket; they need a local Docker Engine"),
            _ => "/var/run/docker.sock".to_string(),
        };
        let d = Docker { socket };
        let (code, body) = d.raw("GET", "/_ping", None, &[]);
        if code != 200 {
            panic!(
                "multihost tests need a Docker Engine, and none answers at unix://{} (HTTP status {code}, {:?}). \
                 Start dockerd (or point DOCKER_HOST at its socket) and make it writable for this user; \
                 these tests do not skip.",
                d.socket,
                String::from_utf8_lossy(&body)
            );
        }
        let (_, v) = d.get("/version");
        let api = v["ApiVersion"].as_str().unwrap_or("?");
        assert!(
            version_at_least(api, 1, 41),
            "multihost tests need Docker Engine API >= 1.41, the engine speaks {api}"
        );
        d
    }

    /// One request: (status, body bytes). Status 0 means curl could not talk to the socket.
    fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[&str],
    ) -> (u16, Vec<u8>) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "120",
            "--unix-socket",
            &self.socket,
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        let url = format!(
            "http://docker{}{path}",
            if path == "/_ping" { "" } else { API }
        );
        cmd.arg(url);
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("curl is needed by the multihost tests");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            if let Some(b) = body {
                let _ = stdin.write_all(b);
            }
        }
        let out = child.wait_with_output().expect("curl");
        let mut bytes = out.stdout;
        let nl = bytes.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let code = String::from_utf8_lossy(&bytes[nl..])
            .trim()
            .parse()
            .unwrap_or(0);
        bytes.truncate(nl);
        (code, bytes)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (c, b) = self.raw("GET", path, None, &[]);
        (c, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        let text = body.map(|b| b.to_string());
        let (c, b) = self.raw(
            "POST",
            path,
            text.as_deref().map(str::as_bytes),
            &["Content-Type: application/json"],
        );
        let v = serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).to_string()));
        (c, v)
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let (c, b) = self.raw("DELETE", path, None, &[]);
        (
            c,
            serde_json::from_slice(&b)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).to_string())),
        )
    }

    /// POST that must succeed (2xx or 304 "already in that state").
    pub fn must(&self, path: &str, body: Option<&Value>) -> Value {
        let (c, v) = self.post(path, body);
        assert!(
            (200..300).contains(&c) || c == 304,
            "docker POST {path} failed: HTTP {c}: {v}"
        );
        v
    }

    /// Run a command in a running container; (exit code, stdout+stderr).
    pub fn exec(&self, container: &str, argv: &[&str]) -> (i64, String) {
        let (c, v) = self.post(
            &format!("/containers/{container}/exec"),
            Some(&json!({"Cmd": argv, "AttachStdout": true, "AttachStderr": true})),
        );
        assert_eq!(c, 201, "exec in {container}: {v}");
        let id = v["Id"].as_str().unwrap().to_string();
        let body = json!({"Detach": false, "Tty": false}).to_string();
        let (c, raw) = self.raw(
            "POST",
            &format!("/exec/{id}/start"),
            Some(body.as_bytes()),
            &["Content-Type: application/json"],
        );
        assert_eq!(
            c,
            200,
            "exec start in {container}: {}",
            String::from_utf8_lossy(&raw)
        );
        let out = demux(&raw);
        let (_, info) = self.get(&format!("/exec/{id}/json"));
        (info["ExitCode"].as_i64().unwrap_or(-1), out)
    }

    /// The last `tail` lines of a container's stdout and stderr.
    pub fn logs(&self, container: &str, tail: usize) -> String {
        let (_, raw) = self.raw(
            "GET",
            &format!("/containers/{container}/logs?stdout=1&stderr=1&tail={tail}"),
            None,
            &[],
        );
        demux(&raw)
    }

    pub fn running(&self, container: &str) -> bool {
        self.get(&format!("/containers/{container}/json")).1["State"]["Running"] == true
    }

    /// The image for this test binary, built and imported once (see the module doc).
    pub fn drover_image(&self) -> String {
        let bin = Path::new(drover_bin());
        let meta = std::fs::metadata(bin).expect("the drover binary");
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tag = format!(
            "{:016x}",
            fnv1a(format!("{RECIPE}|{}|{}|{mtime}", bin.display(), meta.len()).as_bytes())
        );
        let name = format!("{REPO}:{tag}");
        let lock_path = std::env::temp_dir().join("drover-multihost-image.lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .expect("image lock file");
        let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("image lock");
        if self.get(&format!("/images/{name}/json")).0 == 200 {
            return name;
        }
        let t0 = Instant::now();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rootfs");
        build_rootfs(bin, &root);
        let tar = dir.path().join("image.tar");
        let st = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar is needed by the multihost tests");
        assert!(st.success(), "tar of the image rootfs failed");
        let bytes = std::fs::read(&tar).unwrap();
        let (c, out) = self.raw(
            "POST",
            &format!(
                "/images/create?fromSrc=-&repo={REPO}&tag={tag}&changes={}",
                urlencode(&format!("LABEL {LABEL}=image"))
            ),
            Some(&bytes),
            &["Content-Type: application/x-tar"],
        );
        let out = String::from_utf8_lossy(&out);
        assert!(
            c == 200 && !out.contains("\"error"),
            "docker image import failed: HTTP {c}: {out}"
        );
        assert_eq!(
            self.get(&format!("/images/{name}/json")).0,
            200,
            "imported image {name} is not there: {out}"
        );
        eprintln!(
            "multihost: built image {name} ({} MB) in {:.1?}",
            bytes.len() >> 20,
            t0.elapsed()
        );
        // Older images of this repo (older binaries): removed unless a container still uses them.
        let filter = urlencode(&json!({"reference": [REPO]}).to_string());
        if let Value::Array(imgs) = self.get(&format!("/images/json?filters={filter}")).1 {
            for i in imgs {
                for t in i["RepoTags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                {
                    if t != name {
                        let _ = self.delete(&format!("/images/{t}"));
                    }
                }
            }
        }
        name
    }

    /// Remove containers and networks of earlier runs whose owning process is gone (or that
    /// are older than two hours), so a killed test run leaves nothing behind for long.
    pub fn remove_leftovers(&self) {
        let filter = urlencode(&json!({"label": [LABEL]}).to_string());
        let stale = |labels: &Value| {
            let pid = labels[OWNER_LABEL]
                .as_str()
                .and_then(|p| p.parse::<u32>().ok());
            let created: u64 = labels[CREATED_LABEL]
                .as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let alive = pid
                .map(|p| p != std::process::id() && Path::new(&format!("/proc/{p}")).exists())
                .unwrap_or(false);
            !alive || unix_now() as u64 > created + 7200
        };
        if let Value::Array(cs) = self
            .get(&format!("/containers/json?all=1&filters={filter}"))
            .1
        {
            for c in cs.iter().filter(|c| stale(&c["Labels"])) {
                let _ = self.delete(&format!(
                    "/containers/{}?force=1&v=1",
                    c["Id"].as_str().unwrap_or_default()
                ));
            }
        }
        if let Value::Array(ns) = self.get(&format!("/networks?filters={filter}")).1 {
            for n in ns.iter().filter(|n| stale(&n["Labels"])) {
                let _ = self.delete(&format!(
                    "/networks/{}",
                    n["Id"].as_str().unwrap_or_default()
                ));
            }
        }
    }
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// Docker's multiplexed stdout/stderr stream (8-byte frame headers) as text; text that is not
/// framed (a TTY) is returned as is.
fn demux(raw: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= raw.len() && raw[i] <= 2 && raw[i + 1..i + 4] == [0, 0, 0] {
        let n = u32::from_be_bytes([raw[i + 4], raw[i + 5], raw[i + 6], raw[i + 7]]) as usize;
        let end = (i + 8 + n).min(raw.len());
        out.extend_from_slice(&raw[i + 8..end]);
        i = end;
    }
    if i == 0 {
        return String::from_utf8_lossy(raw).to_string();
    }
    String::from_utf8_lossy(&out).to_string()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Copy `src` (following symlinks) to the same absolute path under `root`.
fn copy_into(root: &Path, src: &Path) {
    let dst = root.join(src.strip_prefix("/").unwrap_or(src));
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    if !dst.exists() {
        std::fs::copy(src, &dst)
            .unwrap_or_else(|e| panic!("copying {} into the image: {e}", src.display()));
    }
}

/// The shared libraries (and loader) `ldd` lists for `bin`; empty for a static binary.
fn shared_libs(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .expect("ldd is needed by the multihost tests");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = l
                .split("=>")
                .nth(1)
                .unwrap_or(l)
                .split_whitespace()
                .next()?;
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect()
}

fn find_busybox() -> PathBuf {
    for p in [
        "/bin/busybox",
        "/usr/bin/busybox",
        "/sbin/busybox",
        "/usr/sbin/busybox",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the multihost tests need busybox for the image's /bin/sh, sleep, httpd, nc: apt-get install busybox-static (.ci/run does)");
}

fn build_rootfs(bin: &Path, root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "root",
        "proc",
        "sys",
        "dev",
        "var/lib/drover",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    // drover, without its debug info when `strip` is at hand (half the size to import).
    let dst = root.join("bin/drover");
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&dst)
        .arg(bin)
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !stripped {
        std::fs::copy(bin, &dst).expect("copying drover into the image");
    }
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    for lib in shared_libs(bin) {
        copy_into(root, &lib);
    }
    // busybox (static from busybox-static; a dynamic one brings its libraries) and its applets.
    let bb = find_busybox();
    std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
    std::fs::set_permissions(
        root.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for lib in shared_libs(&bb) {
        copy_into(root, &lib);
    }
    let list = Command::new(&bb)
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    for applet in &applets {
        let link = root.join(applet);
        if link.symlink_metadata().is_err() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink("/bin/busybox", &link).unwrap();
        }
    }
    for needed in [
        "sh", "sleep", "nc", "httpd", "ps", "kill", "pidof", "touch", "rm",
    ] {
        assert!(
            applets.iter().any(|a| a.rsplit('/').next() == Some(needed)),
            "busybox at {} lacks the applet {needed}",
            bb.display()
        );
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Options of a cluster.
#[derive(Clone, Debug)]
pub struct Options {
    pub agents: usize,
    /// Master `--agent-timeout` (seconds).
    pub agent_timeout: f64,
    /// Each agent's `--resources`.
    pub resources: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            agents: 3,
            agent_timeout: 4.0,
            resources: "cpus:2;mem:1024;disk:2000;ports:[31000-31099]".into(),
        }
    }
}

/// One agent container.
#[derive(Clone, Debug)]
pub struct Agent {
    pub container: String,
    pub ip: String,
    pub hostname: String,
    pub rack: String,
    pub zone: String,
}

impl Agent {
    pub fn addr(&self) -> String {
        format!("{}:5051", self.ip)
    }
}

/// A master, Marathon and N agents, each in its own container on a private network.
pub struct DockerCluster {
    pub docker: Docker,
    pub image: String,
    pub network: String,
    /// e.g. "10.213.57"; node addresses are this plus ".N".
    pub prefix: String,
    pub master: String,
    pub marathon: String,
    pub agents: Vec<Agent>,
    pub opts: Options,
    containers: Vec<String>,
    labels: Value,
}

impl DockerCluster {
    pub fn start(opts: Options) -> DockerCluster {
        let t0 = Instant::now();
        let docker = Docker::connect();
        docker.remove_leftovers();
        let image = docker.drover_image();
        let labels = json!({LABEL: "1", OWNER_LABEL: std::process::id().to_string(), CREATED_LABEL: (unix_now() as u64).to_string()});
        let (network, prefix) = create_network(&docker, &labels);
        let mut c = DockerCluster {
            docker,
            image,
            master: format!("{prefix}.2:5050"),
            marathon: format!("{prefix}.3:8080"),
            network,
            prefix,
            agents: Vec::new(),
            opts: opts.clone(),
            containers: Vec::new(),
            labels,
        };
        let master_ip = format!("{}.2", c.prefix);
        let timeout = opts.agent_timeout.to_string();
        c.run(
            "master",
            "master",
            &master_ip,
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
                &master_ip,
                "--agent-timeout",
                &timeout,
            ],
        );
        for i in 0..opts.agents {
            let a = Agent {
                container: format!("{}-agent-{i}", c.network),
                ip: format!("{}.{}", c.prefix, 10 + i),
                hostname: format!("agent-{i}"),
                rack: format!("r{i}"),
                zone: format!("z{}", i % 2),
            };
            let attrs = format!("rack:{};zone:{}", a.rack, a.zone);
            let master = c.master.clone();
            let res = opts.resources.clone();
            let agent_cmd = [
                "drover",
                "agent",
                "--master",
                &master,
                "--work-dir",
                "/var/lib/drover/agent",
                "--ip",
                "0.0.0.0",
                "--port",
                "5051",
                "--advertise-ip",
                &a.ip,
                "--hostname",
                &a.hostname,
                "--attributes",
                &attrs,
                "--no-cgroups",
                "--resources",
                &res,
            ];
            // A supervisor: the agent comes back after kill -9 unless /tmp/hold exists.
            let mut argv = vec![
                "/bin/sh",
                "-c",
                "while :; do \"$@\"; sleep 0.2; while [ -e /tmp/hold ]; do sleep 0.1; done; done",
                "supervise",
            ];
            argv.extend_from_slice(&agent_cmd);
            c.run(&format!("agent-{i}"), &a.hostname, &a.ip, &argv);
            c.agents.push(a);
        }
        let marathon_ip = format!("{}.3", c.prefix);
        let master = c.master.clone();
        c.run(
            "marathon",
            "marathon",
            &marathon_ip,
            &[
                "drover",
                "marathon",
                "--master",
                &master,
                "--work-dir",
                "/var/lib/drover/marathon",
                "--ip",
                "0.0.0.0",
                "--port",
                "8080",
                "--advertise-ip",
                &marathon_ip,
            ],
        );
        c.wait(Duration::from_secs(60), "all agents registered", |c| {
            c.connected_agents().len() == opts.agents
        });
        c.wait(Duration::from_secs(60), "Marathon up and subscribed", |c| {
            get_json(&format!("http://{}/v2/info", c.marathon)).is_some()
                && get_json(&format!("http://{}/master/frameworks", c.master))
                    .map(|f| {
                        f["frameworks"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .any(|x| x["name"] == "marathon" && x["active"] == true)
                            })
                            .unwrap_or(false)
                    })
                    .unwrap_or(false)
        });
        eprintln!(
            "multihost: cluster on {} ({}.0/24) up in {:.1?}",
            c.network,
            c.prefix,
            t0.elapsed()
        );
        c
    }

    /// Create and start a container on the network at `ip`.
    fn run(&mut self, role: &str, hostname: &str, ip: &str, argv: &[&str]) {
        let name = format!("{}-{role}", self.network);
        let body = json!({
            "Image": self.image,
            "Cmd": argv,
            "Hostname": hostname,
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NO_COLOR=1", "DROVER_LOG=info"],
            "Labels": self.labels,
            "HostConfig": {"Init": true, "NetworkMode": self.network},
            "NetworkingConfig": {"EndpointsConfig": {self.network.clone(): {"IPAMConfig": {"IPv4Address": ip}}}},
        });
        let (code, v) = self
            .docker
            .post(&format!("/containers/create?name={name}"), Some(&body));
        assert_eq!(code, 201, "creating container {name}: {v}");
        self.containers.push(name.clone());
        self.docker.must(&format!("/containers/{name}/start"), None);
    }

    pub fn master_container(&self) -> String {
        format!("{}-master", self.network)
    }

    pub fn marathon_container(&self) -> String {
        format!("{}-marathon", self.network)
    }

    /// Poll `f` every 100 ms until true; panic with the cluster's logs at the deadline.
    pub fn wait(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Self) -> bool,
    ) -> Duration {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if f(self) {
                return t0.elapsed();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out after {timeout:?}: {what}");
    }

    /// `/master/slaves` entries (registered agents, reachable ones only).
    pub fn slaves(&self) -> Vec<Value> {
        get_json(&format!("http://{}/master/slaves", self.master))
            .and_then(|v| v["slaves"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Hostnames of the agents the master sees connected.
    pub fn connected_agents(&self) -> BTreeSet<String> {
        self.slaves()
            .iter()
            .filter(|s| s["connected"] == true && s["active"] == true)
            .filter_map(|s| s["hostname"].as_str().map(String::from))
            .collect()
    }

    /// The master's view of agent i: (agent id, connected).
    pub fn agent_record(&self, i: usize) -> Option<(String, bool)> {
        self.slaves()
            .into_iter()
            .find(|s| s["hostname"] == self.agents[i].hostname.as_str())
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or_default().to_string(),
                    s["connected"] == true && s["active"] == true,
                )
            })
    }

    pub fn agent_id(&self, i: usize) -> String {
        self.agent_record(i)
            .map(|r| r.0)
            .unwrap_or_else(|| panic!("agent {i} is not registered"))
    }

    /// Every task the master knows (active, unreachable and completed): id -> state.
    pub fn master_tasks(&self) -> Vec<Value> {
        get_json(&format!("http://{}/master/tasks?limit=-1", self.master))
            .and_then(|v| v["tasks"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn master_task_state(&self, id: &str) -> Option<String> {
        self.master_tasks()
            .into_iter()
            .find(|t| t["id"] == id)
            .and_then(|t| t["state"].as_str().map(String::from))
    }

    /// Ids of the tasks the master believes are alive (staging, starting, running, killing).
    pub fn master_live_tasks(&self) -> BTreeSet<String> {
        self.master_tasks()
            .into_iter()
            .filter(|t| {
                matches!(
                    t["state"].as_str(),
                    Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING")
                )
            })
            .filter_map(|t| t["id"].as_str().map(String::from))
            .collect()
    }

    /// Processes in agent i's container whose full command line is exactly `args`.
    /// Processes on agent i whose command line is `args`, or, for a task's shell, ends with the
    /// task's command after the agent's one-line prelude (`/bin/sh -c <prelude>\n<cmd>`).
    pub fn processes(&self, i: usize, args: &str) -> usize {
        // Command lines from /proc (ps may truncate long ones), one record each (a command
        // line may hold newlines).
        let script = "for p in /proc/[0-9]*; do [ -r $p/cmdline ] && { tr '\\0' ' ' < $p/cmdline; printf '\\036'; }; done; true";
        let (code, out) = self
            .docker
            .exec(&self.agents[i].container, &["/bin/sh", "-c", script]);
        assert_eq!(
            code, 0,
            "listing processes in {}: {out}",
            self.agents[i].container
        );
        let task_shell = args
            .strip_prefix("/bin/sh -c ")
            .map(|cmd| format!("\n{cmd}"));
        out.split('\u{1e}')
            .map(str::trim)
            .filter(|l| {
                *l == args
                    || task_shell
                        .as_deref()
                        .is_some_and(|t| l.starts_with("/bin/sh -c ") && l.ends_with(t))
            })
            .count()
    }

    pub fn exec(&self, i: usize, script: &str) -> (i64, String) {
        self.docker
            .exec(&self.agents[i].container, &["/bin/sh", "-c", script])
    }

    /// Cut agent i off the network (its processes keep running).
    pub fn disconnect(&self, i: usize) {
        self.docker.must(
            &format!("/networks/{}/disconnect", self.network),
            Some(&json!({"Container": self.agents[i].container, "Force": true})),
        );
    }

    /// Plug agent i back in, at its old address.
    pub fn connect(&self, i: usize) {
        let body = json!({"Container": self.agents[i].container, "EndpointConfig": {"IPAMConfig": {"IPv4Address": self.agents[i].ip}}});
        self.docker
            .must(&format!("/networks/{}/connect", self.network), Some(&body));
    }

    /// `docker kill`: the machine dies, with every process in it.
    pub fn kill(&self, i: usize) {
        self.docker.must(
            &format!("/containers/{}/kill", self.agents[i].container),
            None,
        );
        let c = self.agents[i].container.clone();
        self.wait(Duration::from_secs(30), "container stopped", |s| {
            !s.docker.running(&c)
        });
    }

    /// `docker stop -t secs`: SIGTERM, then SIGKILL; the machine goes down with its tasks.
    pub fn stop(&self, i: usize, secs: u32) {
        self.docker.must(
            &format!("/containers/{}/stop?t={secs}", self.agents[i].container),
            None,
        );
    }

    /// `docker start`: the same container (same work dir, same address) boots again.
    pub fn start_again(&self, i: usize) {
        self.docker.must(
            &format!("/containers/{}/start", self.agents[i].container),
            None,
        );
    }

    /// Hold agent i's supervisor (the agent is not restarted while held) or release it.
    pub fn hold(&self, i: usize, on: bool) {
        let (code, out) = self.exec(
            i,
            if on {
                "touch /tmp/hold"
            } else {
                "rm -f /tmp/hold"
            },
        );
        assert_eq!(code, 0, "{out}");
    }

    /// `kill -9` of the agent process only: its tasks live on.
    pub fn kill9_agent_process(&self, i: usize) {
        let (code, out) = self.exec(i, "kill -9 $(pidof drover)");
        assert_eq!(
            code, 0,
            "kill -9 of the agent in {}: {out}",
            self.agents[i].container
        );
    }

    pub fn agent_process_running(&self, i: usize) -> bool {
        self.exec(i, "pidof drover").0 == 0
    }

    /// What the master and Marathon believe: agents, every task, apps, deployments, the queue.
    pub fn state_summary(&self) -> String {
        let mut s = String::new();
        for a in self.slaves() {
            s += &format!(
                "agent {} {} connected={} active={}\n",
                a["id"], a["hostname"], a["connected"], a["active"]
            );
        }
        for t in self.master_tasks() {
            s += &format!(
                "master task {} {} on {}\n",
                t["id"], t["state"], t["slave_id"]
            );
        }
        for path in ["/v2/apps?embed=apps.tasks", "/v2/deployments", "/v2/queue"] {
            s += &format!(
                "marathon {path}: {}\n",
                call("GET", &format!("http://{}{path}", self.marathon), None).1
            );
        }
        s
    }

    /// The tail of every container's log.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for c in &self.containers {
            s += &format!("==> {c}\n{}\n", self.docker.logs(c, 150));
        }
        s
    }
}

/// A private bridge network with its own /24 (so containers keep their address across
/// disconnect/connect and restarts): one that no route of this host and no other network uses.
pub fn create_network(d: &Docker, labels: &Value) -> (String, String) {
    let routes = host_routes();
    let seed = (std::process::id() as u64).wrapping_mul(2654435761)
        ^ (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64);
    for attempt in 0..60u64 {
        let x = ((seed + attempt * 97) % 250) + 1;
        let net = u32::from_be_bytes([10, 213, x as u8, 0]);
        if routes.iter().any(|(dst, mask)| {
            *mask != 0 && (net & mask) == (*dst & mask) || (*dst & 0xffff_ff00) == net
        }) {
            continue;
        }
        let prefix = format!("10.213.{x}");
        let name = format!("drover-mh-{}-{x}", std::process::id());
        let body = json!({
            "Name": name, "CheckDuplicate": true, "Driver": "bridge", "Labels": labels,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": format!("{prefix}.0/24"), "Gateway": format!("{prefix}.1")}]},
        });
        let (code, v) = d.post("/networks/create", Some(&body));
        if code == 201 {
            return (name, prefix);
        }
        let msg = v.to_string();
        if !(msg.contains("overlap") || msg.contains("already exists") || msg.contains("in use")) {
            panic!("creating docker network {name}: HTTP {code}: {msg}");
        }
    }
    panic!("no free 10.213.X.0/24 subnet for a docker network");
}

/// IPv4 routes of this host as (destination, mask), host byte order.
fn host_routes() -> Vec<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?.swap_bytes();
            Some((dst, mask))
        })
        .collect()
}

impl Drop for DockerCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- multihost cluster logs ----\n{}", self.logs());
            eprintln!(
                "---- multihost cluster state ----\n{}",
                self.state_summary()
            );
        }
        for c in self.containers.iter().rev() {
            let _ = self.docker.delete(&format!("/containers/{c}?force=1&v=1"));
        }
        let _ = self.docker.delete(&format!("/networks/{}", self.network));
    }
}

// ---------------------------------------------------------------- Marathon over REST

/// The shared blocking JSON helper, for tests that import only this module.
pub use super::call;

impl DockerCluster {
    /// Create a Marathon app; it must be accepted.
    pub fn add_app(&self, app: &Value) {
        let (code, body) = call(
            "POST",
            &format!("http://{}/v2/apps", self.marathon),
            Some(app),
        );
        assert_eq!(code, 201, "creating app: {body}");
    }

    /// Marathon's tasks of an app (`/v2/apps{app}/tasks`); None when Marathon did not answer.
    pub fn app_tasks(&self, app: &str) -> Option<Vec<Value>> {
        let (code, v) = call(
            "GET",
            &format!("http://{}/v2/apps{app}/tasks", self.marathon),
            None,
        );
        if code != 200 {
            return None;
        }
        v["tasks"].as_array().cloned()
    }

    pub fn running_tasks(&self, app: &str) -> Vec<Value> {
        self.app_tasks(app)
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .collect()
    }

    pub fn deployments(&self) -> usize {
        call(
            "GET",
            &format!("http://{}/v2/deployments", self.marathon),
            None,
        )
        .1
        .as_array()
        .map(|a| a.len())
        .unwrap_or(usize::MAX)
    }

    /// Index of the agent a Marathon task runs on (by its host).
    pub fn agent_of(&self, task: &Value) -> usize {
        self.agents
            .iter()
            .position(|a| task["host"] == a.hostname.as_str())
            .unwrap_or_else(|| panic!("task on an unknown host: {task}"))
    }
}
