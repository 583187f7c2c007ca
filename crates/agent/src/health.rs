//! Health checks of command tasks, run by the agent the way Mesos' built-in command executor
//! runs them (`src/checks/health_checker.cpp`, `src/checks/checker_process.cpp`,
//! `src/launcher/executor.cpp`):
//!
//! - the first check runs `delay_seconds` after the task is running, each next one
//!   `interval_seconds` after the previous one finished; a check taking longer than
//!   `timeout_seconds` (0: no limit) fails;
//! - failures within `grace_period_seconds` of the task's start are ignored until the first
//!   success;
//! - every counted failure is reported (`TASK_RUNNING`, `healthy: false`,
//!   `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`), a success only when it is the first one or
//!   follows failures;
//! - after `consecutive_failures` failures in a row the task is killed with its kill policy; its
//!   terminal update (`TASK_KILLED`) carries `healthy: false`;
//! - nothing is checked or reported once the task is being killed or has ended.
//!
//! [`Tracker`] is the decision logic alone (no clock, no I/O); [`watch`] runs the checks of one
//! task, which the agent describes ([`Watch`]) and answers for ([`TaskHealth`]: is the task still
//! worth checking, report this result, kill it).

use crate::process::signal_group;
use drover_api::health_check::{HealthCheck, HealthCheckKind};
use drover_api::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What health checking needs from the agent, which owns the tasks.
pub trait TaskHealth: Send + Sync + 'static {
    /// Still worth checking: the same run of the task (`container_id`), running, no kill asked
    /// for, and the agent not stopping (a stopping agent starts no more check processes).
    fn live(&self, key: &(FrameworkID, TaskID), container_id: &str) -> bool;
    /// Queue a `TASK_RUNNING` update with `healthy`, checking under the same lock that the task
    /// is still live (so it never follows a kill or an end); with `kill`, the kill to come is
    /// remembered for the terminal update (`healthy: false`). False: not live any more.
    fn report(
        &self,
        key: &(FrameworkID, TaskID),
        container_id: &str,
        healthy: bool,
        kill: bool,
    ) -> bool;
    /// Kill the task with its kill policy: it failed its checks.
    fn kill(&self, key: &(FrameworkID, TaskID));
}

/// A task to check, as the agent describes it.
pub struct Watch {
    pub key: (FrameworkID, TaskID),
    pub container_id: String,
    /// The task's `health_check`.
    pub health_check: serde_json::Value,
    /// The task's environment; a COMMAND check runs with it and its own variables over it.
    pub env: Vec<(String, String)>,
    pub sandbox: PathBuf,
    /// The user a COMMAND check runs as (None: the agent's).
    pub user: Option<String>,
    /// The task's process's start time (clock ticks since boot): how long it has run decides
    /// the first check of a task re-adopted after a restart.
    pub pid_start: Option<u64>,
}

/// What to do with one check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A failure within the grace period, before any success: not counted, not reported.
    Ignored,
    /// Nothing to report (a success after a success).
    Quiet,
    /// Send a `TASK_RUNNING` update with `healthy`; then kill the task when `kill`.
    Report {
        healthy: bool,
        consecutive_failures: u32,
        kill: bool,
    },
}

/// The state of one task's health: Mesos' `HealthChecker` without its timers.
#[derive(Clone, Debug)]
pub struct Tracker {
    grace: f64,
    max_failures: u32,
    /// No success yet: the grace period still applies and the first success is reported.
    initializing: bool,
    failures: u32,
}

impl Tracker {
    pub fn new(hc: &HealthCheck) -> Tracker {
        Tracker {
            grace: hc.grace_period_seconds,
            max_failures: hc.consecutive_failures,
            initializing: true,
            failures: 0,
        }
    }

    /// Take one check's result, `since_start` seconds after the task started.
    pub fn record(&mut self, healthy: bool, since_start: f64) -> Verdict {
        if healthy {
            let report = self.initializing || self.failures > 0;
            self.initializing = false;
            self.failures = 0;
            return if report {
                Verdict::Report {
                    healthy: true,
                    consecutive_failures: 0,
                    kill: false,
                }
            } else {
                Verdict::Quiet
            };
        }
        if self.initializing && self.grace > 0.0 && since_start <= self.grace {
            return Verdict::Ignored;
        }
        self.failures = self.failures.saturating_add(1);
        Verdict::Report {
            healthy: false,
            consecutive_failures: self.failures,
            kill: self.failures >= self.max_failures,
        }
    }
}

/// Seconds until the first check of a task that has been running for `age` seconds (0 for a
/// task just launched; more for one re-adopted after an agent restart).
pub fn first_delay(hc: &HealthCheck, age: f64) -> f64 {
    (hc.delay_seconds - age).max(0.0)
}

/// Start checking a command task that is `TASK_RUNNING` (just launched, or re-adopted after an
/// agent restart). Checking stops by itself when the task ends or is being killed.
pub fn watch(target: Arc<dyn TaskHealth>, w: Watch) {
    let tid = w.key.1.clone();
    let hc = match HealthCheck::from_json(&w.health_check) {
        Ok(hc) => hc,
        Err(e) => {
            // The master refuses these at launch; one checkpointed by an older agent is skipped.
            tracing::warn!(task_id = %tid, "not health checking the task: {e}");
            return;
        }
    };
    let probe = match &hc.kind {
        HealthCheckKind::Command(c) => {
            let value = c.value.clone().unwrap_or_default();
            let argv = if c.shell.unwrap_or(true) {
                vec!["/bin/sh".to_string(), "-c".to_string(), value]
            } else {
                std::iter::once(value)
                    .chain(c.arguments.iter().skip(1).cloned())
                    .collect()
            };
            // The task's own environment, then the check's variables over it.
            let mut env = w.env;
            for v in c.environment.iter().flat_map(|e| &e.variables) {
                env.retain(|(k, _)| k != &v.name);
                env.push((v.name.clone(), v.value.clone()));
            }
            Probe::Command {
                argv,
                env,
                dir: w.sandbox,
                user: w.user,
            }
        }
        HealthCheckKind::Http {
            scheme,
            port,
            path,
            ipv6,
        } => {
            let host = if *ipv6 { "[::1]" } else { "127.0.0.1" };
            let url = format!("{scheme}://{host}:{port}{path}");
            if scheme == "https" {
                // curl, exactly as Mesos runs it: `-k`, since a task's certificate is rarely issued for
                // 127.0.0.1, and curl's own TLS errors in the message.
                Probe::Curl { url }
            } else {
                // A fresh connection per check, never through a proxy (curl -s -S -L -g).
                match drover_httpclient::builder()
                    .no_proxy()
                    .pool_max_idle_per_host(0)
                    .build()
                {
                    Ok(client) => Probe::Http { url, client },
                    Err(e) => {
                        tracing::error!(task_id = %tid, "not health checking the task: HTTP client: {e}");
                        return;
                    }
                }
            }
        }
        HealthCheckKind::Tcp { port, ipv6 } => {
            let ip: std::net::IpAddr = if *ipv6 {
                std::net::Ipv6Addr::LOCALHOST.into()
            } else {
                std::net::Ipv4Addr::LOCALHOST.into()
            };
            Probe::Tcp {
                addr: (ip, *port).into(),
            }
        }
    };
    let age = w.pid_start.and_then(process_age).unwrap_or(0.0);
    tracing::info!(task_id = %tid, "starting {} health check", probe.kind());
    tokio::spawn(run(target, w.key, w.container_id, hc, probe, age));
}

async fn run(
    target: Arc<dyn TaskHealth>,
    key: (FrameworkID, TaskID),
    cid: String,
    hc: HealthCheck,
    probe: Probe,
    age: f64,
) {
    let tid = &key.1;
    let began = Instant::now();
    let timeout = (hc.timeout_seconds > 0.0).then(|| secs(hc.timeout_seconds));
    let mut tracker = Tracker::new(&hc);
    tokio::time::sleep(secs(first_delay(&hc, age))).await;
    loop {
        if !target.live(&key, &cid) {
            break;
        }
        let result = probe.run(timeout).await;
        if let Err(e) = &result {
            tracing::warn!(task_id = %tid, "{} health check failed: {e}", probe.kind());
        }
        match tracker.record(result.is_ok(), age + began.elapsed().as_secs_f64()) {
            Verdict::Ignored => {
                tracing::info!(task_id = %tid, "ignoring failure of {} health check: still in grace period", probe.kind())
            }
            Verdict::Quiet => {}
            Verdict::Report {
                healthy,
                consecutive_failures,
                kill,
            } => {
                if !healthy {
                    tracing::warn!(task_id = %tid, "{} health check failed {consecutive_failures} times consecutively", probe.kind());
                }
                if !target.report(&key, &cid, healthy, kill) {
                    break;
                }
                if kill {
                    tracing::warn!(task_id = %tid, "killing the task: it failed {consecutive_failures} health checks in a row");
                    target.kill(&key);
                    break;
                }
            }
        }
        tokio::time::sleep(secs(hc.interval_seconds)).await;
    }
    tracing::debug!(task_id = %tid, "stopped {} health check", probe.kind());
}

/// Why one check found the task unhealthy. The text goes to the agent's log.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ProbeFailure {
    /// No answer within the check's `timeout_seconds` (`what`: the step that ran out).
    #[error("{what} timed out after {}s", .after.as_secs_f64())]
    TimedOut { what: &'static str, after: Duration },
    /// A TCP check's connection failed (`why`: the system's reason).
    #[error("TCP connection to {addr} failed: {why}")]
    Connect {
        addr: std::net::SocketAddr,
        why: String,
    },
    /// An HTTP check's request failed before any response (`why`: the client's reason).
    #[error("GET {url} failed: {why}")]
    Get { url: String, why: String },
    /// The answer's status is not 200-399.
    #[error("Unexpected HTTP response code: {0}")]
    HttpStatus(u16),
    /// curl itself failed (HTTPS checks); `stderr` is what it said.
    #[error("curl {}: {stderr}", exit_text(*.status))]
    Curl {
        status: std::process::ExitStatus,
        stderr: String,
    },
    /// curl did not print the status code it was asked for.
    #[error("Unexpected output from curl: {output}")]
    CurlOutput { output: String },
    /// A COMMAND check with nothing to run.
    #[error("empty command")]
    EmptyCommand,
    /// A COMMAND check's command exited non-zero or was killed.
    #[error("Command {}", exit_text(*.0))]
    CommandExited(std::process::ExitStatus),
    /// The check's process could not be started.
    #[error("Failed to create subprocess: {why}")]
    Spawn { why: String },
    /// Waiting for the check's process failed.
    #[error("Failed to reap the check process: {why}")]
    Reap { why: String },
}

/// One way of checking, resolved once per task.
enum Probe {
    Command {
        argv: Vec<String>,
        env: Vec<(String, String)>,
        dir: PathBuf,
        user: Option<String>,
    },
    Http {
        url: String,
        client: reqwest::Client,
    },
    Curl {
        url: String,
    },
    Tcp {
        addr: std::net::SocketAddr,
    },
}

impl Probe {
    fn kind(&self) -> &'static str {
        match self {
            Probe::Command { .. } => "COMMAND",
            Probe::Http { .. } | Probe::Curl { .. } => "HTTP",
            Probe::Tcp { .. } => "TCP",
        }
    }

    /// Run the check once: `Ok` is healthy, `Err` says why not.
    async fn run(&self, timeout: Option<Duration>) -> Result<(), ProbeFailure> {
        let timed_out = |what: &'static str| ProbeFailure::TimedOut {
            what,
            after: timeout.unwrap_or_default(),
        };
        match self {
            Probe::Tcp { addr } => {
                match within(timeout, tokio::net::TcpStream::connect(addr)).await {
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(ProbeFailure::Connect {
                        addr: *addr,
                        why: e.to_string(),
                    }),
                    None => Err(timed_out("TCP connection")),
                }
            }
            Probe::Http { url, client } => match within(timeout, client.get(url).send()).await {
                Some(Ok(r)) => http_status(r.status().as_u16()),
                Some(Err(e)) => Err(ProbeFailure::Get {
                    url: url.clone(),
                    why: e.to_string(),
                }),
                None => Err(timed_out("GET")),
            },
            Probe::Curl { url } => {
                let mut cmd = tokio::process::Command::new("curl");
                cmd.args([
                    "-s",
                    "-S",
                    "-L",
                    "-k",
                    "-w",
                    "%{http_code}",
                    "-o",
                    "/dev/null",
                    "-g",
                    url,
                ]);
                let (status, out, err) = run_process(cmd, timeout, "curl").await?;
                if !status.success() {
                    return Err(ProbeFailure::Curl {
                        status,
                        stderr: String::from_utf8_lossy(&err).trim().to_string(),
                    });
                }
                let text = String::from_utf8_lossy(&out);
                let code = text
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| ProbeFailure::CurlOutput {
                        output: text.to_string(),
                    })?;
                http_status(code)
            }
            Probe::Command {
                argv,
                env,
                dir,
                user,
            } => {
                let (program, args) = argv.split_first().ok_or(ProbeFailure::EmptyCommand)?;
                let mut cmd = tokio::process::Command::new(program);
                cmd.args(args)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .current_dir(dir);
                if let Some(u) = user
                    .as_deref()
                    .and_then(|u| nix::unistd::User::from_name(u).ok().flatten())
                {
                    if !u.uid.is_root() {
                        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
                    }
                }
                let (status, _, _) = run_process(cmd, timeout, "Command").await?;
                if status.success() {
                    Ok(())
                } else {
                    Err(ProbeFailure::CommandExited(status))
                }
            }
        }
    }
}

/// Mesos' built-in executors accept 200-399 (after following redirects); `statuses` is ignored.
fn http_status(code: u16) -> Result<(), ProbeFailure> {
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(ProbeFailure::HttpStatus(code))
    }
}

fn exit_text(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(sig)) => format!("terminated with signal {sig}"),
        _ => "exited".into(),
    }
}

/// Run a helper process in its own process group; on timeout the whole group is killed (the
/// failure then names the check's step as `what`).
async fn run_process(
    mut cmd: tokio::process::Command,
    timeout: Option<Duration>,
    what: &'static str,
) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), ProbeFailure> {
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| ProbeFailure::Spawn { why: e.to_string() })?;
    let pid = child.id();
    match within(timeout, child.wait_with_output()).await {
        Some(Ok(o)) => Ok((o.status, o.stdout, o.stderr)),
        Some(Err(e)) => Err(ProbeFailure::Reap { why: e.to_string() }),
        None => {
            // The child itself dies with the dropped future (kill_on_drop); this gets the rest.
            if let Some(p) = pid {
                signal_group(p, nix::sys::signal::Signal::SIGKILL);
            }
            Err(ProbeFailure::TimedOut {
                what,
                after: timeout.unwrap_or_default(),
            })
        }
    }
}

async fn within<F: std::future::Future>(timeout: Option<Duration>, f: F) -> Option<F::Output> {
    match timeout {
        Some(t) => tokio::time::timeout(t, f).await.ok(),
        None => Some(f.await),
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.min(1e9)).unwrap_or(Duration::ZERO)
}

/// How long a process has run, from its start time in clock ticks since boot (USER_HZ = 100).
fn process_age(start_ticks: u64) -> Option<f64> {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((uptime - start_ticks as f64 / 100.0).max(0.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(grace: f64, failures: u32) -> HealthCheck {
        HealthCheck::from_json(
            &json!({"type": "TCP", "tcp": {"port": 1}, "grace_period_seconds": grace,
            "consecutive_failures": failures, "delay_seconds": 2}),
        )
        .unwrap()
    }

    fn unhealthy(n: u32, kill: bool) -> Verdict {
        Verdict::Report {
            healthy: false,
            consecutive_failures: n,
            kill,
        }
    }

    const HEALTHY: Verdict = Verdict::Report {
        healthy: true,
        consecutive_failures: 0,
        kill: false,
    };

    #[test]
    fn first_success_is_reported_then_quiet() {
        let mut t = Tracker::new(&hc(10.0, 3));
        assert_eq!(t.record(true, 1.0), HEALTHY);
        assert_eq!(t.record(true, 2.0), Verdict::Quiet);
        assert_eq!(t.record(true, 30.0), Verdict::Quiet);
    }

    #[test]
    fn failures_in_grace_are_ignored_until_the_first_success() {
        let mut t = Tracker::new(&hc(10.0, 3));
        assert_eq!(t.record(false, 1.0), Verdict::Ignored);
        assert_eq!(
            t.record(false, 10.0),
            Verdict::Ignored,
            "the grace period includes its end"
        );
        assert_eq!(t.record(true, 11.0), HEALTHY);
        // After a success the grace period no longer applies, even inside its window.
        let mut t = Tracker::new(&hc(10.0, 3));
        assert_eq!(t.record(true, 1.0), HEALTHY);
        assert_eq!(t.record(false, 2.0), unhealthy(1, false));
    }

    #[test]
    fn failures_after_grace_count_and_every_one_is_reported_until_the_kill() {
        let mut t = Tracker::new(&hc(5.0, 3));
        assert_eq!(t.record(false, 4.0), Verdict::Ignored);
        assert_eq!(t.record(false, 6.0), unhealthy(1, false));
        assert_eq!(t.record(false, 7.0), unhealthy(2, false));
        assert_eq!(t.record(false, 8.0), unhealthy(3, true));
    }

    #[test]
    fn a_success_resets_the_count_and_is_reported_after_failures() {
        let mut t = Tracker::new(&hc(0.0, 3));
        assert_eq!(t.record(true, 0.0), HEALTHY);
        assert_eq!(t.record(false, 1.0), unhealthy(1, false));
        assert_eq!(t.record(false, 2.0), unhealthy(2, false));
        assert_eq!(t.record(true, 3.0), HEALTHY);
        assert_eq!(t.record(true, 4.0), Verdict::Quiet);
        assert_eq!(t.record(false, 5.0), unhealthy(1, false));
    }

    #[test]
    fn zero_grace_counts_at_once_and_small_thresholds_kill_at_once() {
        let mut t = Tracker::new(&hc(0.0, 1));
        assert_eq!(t.record(false, 0.0), unhealthy(1, true));
        // consecutive_failures 0: Mesos kills on the first counted failure too (1 >= 0).
        let mut t = Tracker::new(&hc(0.0, 0));
        assert_eq!(t.record(false, 0.0), unhealthy(1, true));
    }

    #[test]
    fn failures_before_any_success_but_after_grace_count() {
        let mut t = Tracker::new(&hc(1.0, 2));
        assert_eq!(t.record(false, 0.5), Verdict::Ignored);
        assert_eq!(t.record(false, 1.5), unhealthy(1, false));
        assert_eq!(t.record(true, 2.0), HEALTHY);
    }

    #[test]
    fn first_check_waits_out_what_is_left_of_the_delay() {
        let h = hc(0.0, 3);
        assert_eq!(first_delay(&h, 0.0), 2.0);
        assert_eq!(first_delay(&h, 0.5), 1.5);
        assert_eq!(
            first_delay(&h, 100.0),
            0.0,
            "a re-adopted task is checked at once"
        );
    }

    #[test]
    fn http_statuses_200_to_399_are_healthy() {
        assert!(http_status(200).is_ok());
        assert!(http_status(302).is_ok());
        assert!(http_status(399).is_ok());
        assert!(http_status(199).is_err());
        assert_eq!(
            http_status(404).map_err(|e| e.to_string()),
            Err("Unexpected HTTP response code: 404".into())
        );
        assert!(http_status(503).is_err());
    }

    /// Each failure reads as it did when it was a string: the agent's log lines name it so.
    #[test]
    fn probe_failures_say_what_failed() {
        use std::os::unix::process::ExitStatusExt;
        let exited = |code: i32| std::process::ExitStatus::from_raw(code << 8);
        let killed = std::process::ExitStatus::from_raw(9);
        let cases = [
            (
                ProbeFailure::TimedOut {
                    what: "TCP connection",
                    after: Duration::from_millis(1500),
                },
                "TCP connection timed out after 1.5s",
            ),
            (
                ProbeFailure::TimedOut {
                    what: "Command",
                    after: Duration::from_secs(20),
                },
                "Command timed out after 20s",
            ),
            (
                ProbeFailure::Connect {
                    addr: "127.0.0.1:8080".parse().unwrap(),
                    why: "Connection refused (os error 111)".into(),
                },
                "TCP connection to 127.0.0.1:8080 failed: Connection refused (os error 111)",
            ),
            (
                ProbeFailure::HttpStatus(500),
                "Unexpected HTTP response code: 500",
            ),
            (
                ProbeFailure::Curl {
                    status: exited(7),
                    stderr: "curl: (7) Failed to connect".into(),
                },
                "curl exited with status 7: curl: (7) Failed to connect",
            ),
            (
                ProbeFailure::CurlOutput {
                    output: "abc\n".into(),
                },
                "Unexpected output from curl: abc\n",
            ),
            (ProbeFailure::EmptyCommand, "empty command"),
            (
                ProbeFailure::CommandExited(exited(1)),
                "Command exited with status 1",
            ),
            (
                ProbeFailure::CommandExited(killed),
                "Command terminated with signal 9",
            ),
            (
                ProbeFailure::Spawn {
                    why: "No such file or directory (os error 2)".into(),
                },
                "Failed to create subprocess: No such file or directory (os error 2)",
            ),
        ];
        for (failure, text) in cases {
            assert_eq!(failure.to_string(), text, "{failure:?}");
        }
    }

    #[tokio::test]
    async fn probes_report_what_they_find() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = |s: &str| Probe::Command {
            argv: vec!["/bin/sh".into(), "-c".into(), s.into()],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("MARK".into(), "yes".into()),
            ],
            dir: dir.path().to_path_buf(),
            user: None,
        };
        assert_eq!(cmd("test \"$MARK\" = yes").run(None).await, Ok(()));
        assert_eq!(
            cmd("exit 3").run(None).await.map_err(|e| e.to_string()),
            Err("Command exited with status 3".into())
        );
        let slow = cmd("sleep 5")
            .run(Some(Duration::from_millis(100)))
            .await
            .unwrap_err()
            .to_string();
        assert!(slow.contains("timed out"), "{slow}");
        std::fs::write(dir.path().join("ready"), "").unwrap();
        assert_eq!(cmd("test -f ready").run(None).await, Ok(()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(
            Probe::Tcp { addr }.run(Some(Duration::from_secs(5))).await,
            Ok(())
        );
        drop(listener);
        assert!(Probe::Tcp { addr }
            .run(Some(Duration::from_secs(5)))
            .await
            .is_err());
        let curl = Probe::Curl {
            url: format!("https://{addr}/"),
        }
        .run(Some(Duration::from_secs(5)))
        .await
        .unwrap_err()
        .to_string();
        assert!(curl.starts_with("curl exited with status"), "{curl}");

        // HTTP: the status decides; one fresh connection per check.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for status in ["204 No Content", "503 Service Unavailable"] {
                let (mut c, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = c.read(&mut buf).await;
                let reply =
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                c.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let client = drover_httpclient::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let http = Probe::Http {
            url: format!("http://{addr}/health"),
            client,
        };
        assert_eq!(http.run(Some(Duration::from_secs(5))).await, Ok(()));
        assert_eq!(
            http.run(Some(Duration::from_secs(5)))
                .await
                .map_err(|e| e.to_string()),
            Err("Unexpected HTTP response code: 503".into())
        );
    }
}
