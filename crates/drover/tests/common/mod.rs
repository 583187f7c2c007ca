//! Test harness: real `drover` processes on ephemeral loopback ports, and the paths of the real
//! third-party clients built by `tests/clients/setup.sh`.
#![allow(dead_code)]

pub mod cluster;
pub mod dockercluster;
pub mod dockerimage;
pub mod ha;
pub mod hadocker;
pub mod marathon_schema;
pub mod sched;
pub mod ui;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn drover_bin() -> &'static str {
    env!("CARGO_BIN_EXE_drover")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The venvs built by tests/clients/setup.sh (PYC, default /tmp/drover-clients).
pub fn pyclients() -> PathBuf {
    let p = PathBuf::from(std::env::var("PYC").unwrap_or_else(|_| "/tmp/drover-clients".into()));
    assert!(
        p.join("mesos/bin/python").exists(),
        "the Python clients are missing at {}: run tests/clients/setup.sh (the README's test command does)",
        p.display()
    );
    p
}

/// A process killed (SIGKILL) when the test ends, whatever happens.
pub struct Proc {
    pub child: Child,
    pub stdout_lines: std::sync::mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str], log: &Path) -> Proc {
        let log_file = std::fs::File::create(log).expect("log file");
        let mut child = Command::new(drover_bin())
            .args(args)
            .env("DROVER_LOG", "info,drover_master=debug")
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn drover");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc {
            child,
            stdout_lines: rx,
        }
    }

    /// Wait for a stdout line containing `needle`; returns it.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout_lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => continue,
                Err(_) => panic!("no line containing {needle:?} within {timeout:?}"),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The processes whose working directory is under `root`, with it.
pub fn processes_under(root: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
            cwd.starts_with(root).then_some((pid, cwd))
        })
        .collect()
}

/// SIGKILL every process working under `root` (a test cluster's work dir) and its session: the
/// tasks of agents a test killed with -9 and never restarted, or of a stop that timed out. Then
/// remove the cgroups that agents no longer alive left behind (named `task-<agent pid>-<n>`; a
/// restarted agent removes them too, but a killed one may never restart).
pub fn kill_strays(root: &Path) {
    for (pid, _) in processes_under(root) {
        use nix::sys::signal::{kill, killpg, Signal};
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = killpg(pid, Signal::SIGKILL);
        let _ = kill(pid, Signal::SIGKILL);
    }
    let stale = |name: &str| {
        name.strip_prefix("task-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    // The killed processes leave their cgroups as they die: a few tries.
    for _ in 0..20 {
        let mut busy = false;
        for ctl in ["cpu", "memory"] {
            let dir = Path::new("/sys/fs/cgroup").join(ctl).join("drover");
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if stale(&e.file_name().to_string_lossy()) {
                    busy |= std::fs::remove_dir(e.path()).is_err();
                }
            }
        }
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        self.proc.stop();
        kill_strays(self.dir.path());
    }
}

impl Proc {
    /// Ctrl-C first, so `drover up` and agents stop their tasks (tests would otherwise leave
    /// task processes behind on the machine); SIGKILL if it has not exited within 5 s.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(2);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The word after `marker` in a line a process printed (`master: http://1.2.3.4:5 (…)` → the
/// address).
pub fn word_after(line: &str, marker: &str) -> String {
    line.split(marker)
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"))
        .to_string()
}

/// A v1 framework subscribed by curl (it stays subscribed while the child runs), with the
/// given FrameworkInfo fields besides `user`.
pub fn curl_framework(master: &str, info: serde_json::Value) -> std::process::Child {
    let mut fi = serde_json::json!({"user": "root"});
    if let (Some(o), Some(extra)) = (fi.as_object_mut(), info.as_object()) {
        o.extend(extra.clone());
    }
    let subscribe = serde_json::json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": fi}});
    Command::new("curl")
        .args(["-sN", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-d", &subscribe.to_string()])
        .arg(format!("http://{master}/api/v1/scheduler"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("curl")
}

/// `drover up` with N agents on ephemeral ports.
pub struct Up {
    pub proc: Proc,
    pub master: String,
    pub marathon: String,
    /// The jobs scheduler's host:port (empty with `--no-jobs`).
    pub jobs: String,
    pub agents: Vec<String>,
    /// The gateway's host:port.
    pub gateway: String,
    /// The DNS' host:port (UDP and TCP) and its HTTP API's host:port.
    pub dns: String,
    pub dns_http: String,
    pub dir: tempfile::TempDir,
}

impl Up {
    /// The kernel only (master and agents): tests that count frameworks see only their own.
    pub fn start(agents: usize, extra: &[&str]) -> Up {
        let mut e = vec!["--no-marathon", "--no-jobs"];
        e.extend_from_slice(extra);
        Self::launch(agents, &e)
    }

    /// Master, agents and Marathon, as `drover up` runs by default.
    pub fn start_with_marathon(agents: usize, extra: &[&str]) -> Up {
        Self::launch(agents, extra)
    }

    fn launch(agents: usize, extra: &[&str]) -> Up {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("drover");
        let n = agents.to_string();
        let mut args = vec![
            "up",
            "--work-dir",
            work.to_str().unwrap(),
            "--port",
            "0",
            "--agent-port",
            "0",
            "--marathon-port",
            "0",
            "--gateway-port",
            "0",
            "--dns-port",
            "0",
            "--dns-http-port",
            "0",
            "--jobs-port",
            "0",
            "--agents",
            &n,
        ];
        args.extend_from_slice(extra);
        let proc = Proc::spawn(&args, &dir.path().join("up.log"));
        let line = proc.wait_line("master: http://", Duration::from_secs(60));
        let master = word_after(&line, "http://");
        let marathon = if extra.contains(&"--no-marathon") {
            String::new()
        } else {
            let line = proc.wait_line("marathon: http://", Duration::from_secs(10));
            line.split("http://").nth(1).unwrap().trim().to_string()
        };
        let jobs = if extra.contains(&"--no-jobs") {
            String::new()
        } else {
            let line = proc.wait_line("jobs: http://", Duration::from_secs(10));
            word_after(&line, "http://")
        };
        let mut urls = Vec::new();
        for _ in 0..agents {
            let l = proc.wait_line("agent ", Duration::from_secs(10));
            urls.push(l.split("http://").nth(1).unwrap().trim().to_string());
        }
        let line = proc.wait_line("gateway: http://", Duration::from_secs(10));
        let gateway = word_after(&line, "http://");
        let line = proc.wait_line("dns: ", Duration::from_secs(10));
        let dns = word_after(&line, "dns: ");
        let dns_http = word_after(&line, "API http://");
        let up = Up {
            proc,
            master,
            marathon,
            jobs,
            agents: urls,
            gateway,
            dns,
            dns_http,
            dir,
        };
        up.wait_agents(agents);
        up
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("up.log")).unwrap_or_default()
    }

    pub fn wait_agents(&self, n: usize) {
        wait_for(Duration::from_secs(30), || {
            get_json(&format!("http://{}/master/slaves", self.master))
                .map(|v| v["slaves"].as_array().map(|a| a.len()).unwrap_or(0) >= n)
                .unwrap_or(false)
        });
    }
}

/// Any HTTP call with a JSON body, answered with (status, JSON) — blocking, through curl, so
/// plain test threads need no runtime.
pub fn call(method: &str, url: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    call_within(method, url, body, 20)
}

/// `call` giving up after `secs` (status 0 when no answer came).
pub fn call_within(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
    secs: u32,
) -> (u16, serde_json::Value) {
    let (code, text) = call_text(method, url, body, secs);
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// `POST` of a JSON body answered with text (Mesos' refusals are plain text): (status, text).
pub fn post_text(url: &str, body: &serde_json::Value) -> (u16, String) {
    call_text("POST", url, Some(body), 20)
}

/// Any call answered with (status, body as text); status 0 when no answer came in `secs`.
pub fn call_text(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
    secs: u32,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    let secs = secs.to_string();
    cmd.args([
        "-s",
        "--max-time",
        &secs,
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        url,
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The tasks of Marathon app `app` (`/v2/apps{app}/tasks`); none when Marathon does not answer.
pub fn app_tasks(marathon: &str, app: &str) -> Vec<serde_json::Value> {
    call(
        "GET",
        &format!("http://{marathon}/v2/apps{app}/tasks"),
        None,
    )
    .1["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Blocking GET of JSON (tests run on their own threads; no runtime needed).
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "10", url])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Poll `f` until true or panic at the deadline.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("condition not met within {timeout:?}");
}
