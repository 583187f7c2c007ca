//! The `process` containerizer: a container is a process tree in its own session, started in
//! its sandbox (`spawn`), inside cgroups that limit its cpu and memory where the host has them
//! (`cgroups`, v1 pairs pooled in `pool`, emptied and removed by `cgroup_dir`), signalled and
//! waited for only through its session leader (`leader`). A kill is SIGTERM to the whole
//! session, then SIGKILL after the grace period; why a start failed is in `error`. Custom
//! executors run in process containers too, without limits.

mod cgroup_dir;
mod cgroups;
pub(crate) mod error;
mod leader;
mod pool;
mod spawn;

pub use cgroups::Cgroups;
pub use leader::signal_group;

use crate::containerizer::{
    Containerizer, End, Exit, Known, Launch, LaunchError, Launching, Recovered, Started, Stop,
    Usage,
};
use crate::spawner::Spawner;
use drover_api::AgentID;
use futures_util::future::BoxFuture;
use leader::{process_start_time, process_usage, wait_foreign, Leader, Process};
use nix::sys::signal::Signal;
use spawn::{ProcessLauncher, ProcessSpec};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// One container, from its launch (or recovery) until it is destroyed.
struct Container {
    /// What signals go through.
    leader: Leader,
    /// Our child, until `wait` takes it (None: re-adopted after a restart).
    child: Option<Process>,
    /// Its cgroups were released when it ended.
    released: bool,
}

pub struct ProcessContainerizer {
    launcher: ProcessLauncher,
    cgroups: Cgroups,
    containers: Mutex<HashMap<String, Container>>,
}

impl ProcessContainerizer {
    /// `switch_user`: start tasks as their user (needs root); `spawner`: the thread they start
    /// from.
    pub fn new(cgroups: Cgroups, switch_user: bool, spawner: Spawner) -> ProcessContainerizer {
        ProcessContainerizer {
            launcher: ProcessLauncher {
                cgroups: cgroups.clone(),
                switch_user,
                spawner,
            },
            cgroups,
            containers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn leader(&self, container_id: &str) -> Option<Leader> {
        self.lock().get(container_id).map(|c| c.leader.clone())
    }

    fn start(&self, launch: Launch, launching: &dyn Launching) -> Result<Started, LaunchError> {
        let spec = ProcessSpec {
            argv: launch.argv,
            env: launch.env,
            sandbox: launch.sandbox,
            sandbox_made: true,
            user: launch.user,
            limits: launch.limits,
            container_id: launch.container_id,
        };
        launching.starting();
        let child = self.launcher.spawn(&spec).map_err(LaunchError::Spawn)?;
        let leader = child.leader();
        let pid = leader.pid();
        let started = Started {
            pid: Some(pid),
            pid_start: process_start_time(pid),
        };
        self.lock().insert(
            spec.container_id,
            Container {
                leader,
                child: Some(child),
                released: false,
            },
        );
        Ok(started)
    }

    async fn wait_for(&self, container_id: &str) -> Exit {
        let (child, leader) = {
            let mut containers = self.lock();
            let Some(c) = containers.get_mut(container_id) else {
                return Exit::of(End::Lost);
            };
            c.released = true;
            (c.child.take(), c.leader.clone())
        };
        match (child, leader) {
            (Some(mut child), _) => {
                let status = child.wait().await;
                // The cgroup's OOM history says how it ended; read it before the cgroup goes.
                let oom = self.cgroups.oom_killed(container_id);
                self.cgroups.release(container_id, oom);
                let end = match status {
                    Ok(s) => {
                        use std::os::unix::process::ExitStatusExt;
                        match (s.code(), s.signal()) {
                            (Some(c), _) => End::Code(c.into()),
                            (None, Some(sig)) => End::Signal(sig),
                            (None, None) => End::Exited,
                        }
                    }
                    Err(e) => {
                        tracing::warn!(container_id, "waiting for the container's process: {e}");
                        End::Lost
                    }
                };
                Exit {
                    end,
                    oom,
                    error: None,
                }
            }
            (None, Leader::Adopted { pid, start }) => {
                wait_foreign(pid, start).await;
                self.cgroups.destroy(container_id);
                Exit::of(End::Unobserved)
            }
            // Waited for already.
            (None, Leader::Child { .. }) => Exit::of(End::Lost),
        }
    }

    fn usage_of(&self, container_id: &str) -> Option<Usage> {
        let leader = self.leader(container_id)?;
        let (rss, cpu) = leader
            .alive()
            .then(|| process_usage(leader.pid()))
            .flatten()
            .unwrap_or((0, 0.0));
        let (cg_cpu, cg_mem) = self.cgroups.usage(container_id).unwrap_or((cpu, rss));
        // Run-queue delay of every thread in the container's cgroup; without one, of the
        // leader's threads.
        let threads = self.cgroups.threads(container_id).unwrap_or_else(|| {
            if leader.alive() {
                leader_threads(leader.pid())
            } else {
                Vec::new()
            }
        });
        let run_delay = threads
            .iter()
            .filter_map(|&t| thread_run_delay(t))
            .sum::<f64>();
        Some(Usage {
            cpus_user_time_secs: cg_cpu.max(cpu),
            cpus_system_time_secs: 0.0,
            mem_rss_bytes: if cg_mem > 0 { cg_mem } else { rss },
            cpus_throttled_time_secs: self.cgroups.throttled_secs(container_id),
            cpus_run_delay_secs: Some(run_delay),
            ..Default::default()
        })
    }

    fn adopt(&self, k: Known) -> Recovered {
        match (k.pid, k.pid_start) {
            (Some(pid), Some(start)) if process_start_time(pid) == Some(start) => {
                if !self.cgroups.adopt(&k.container_id, pid) {
                    tracing::info!(
                        container_id = k.container_id,
                        "the container's cgroups were not found: no limits to clean up"
                    );
                }
                self.lock().insert(
                    k.container_id,
                    Container {
                        leader: Leader::Adopted { pid, start },
                        child: None,
                        released: false,
                    },
                );
                Recovered::Running
            }
            _ => Recovered::Gone("Task's process was gone when the agent recovered".into()),
        }
    }

    fn destroy_now(&self, container_id: &str) {
        let released = self
            .lock()
            .remove(container_id)
            .map(|c| c.released)
            .unwrap_or(false);
        if !released {
            // Processes a task left in its cgroups outside its session (daemonised), then the
            // cgroups themselves.
            self.cgroups.kill_all(container_id);
            self.cgroups.destroy(container_id);
        }
    }
}

impl Containerizer for ProcessContainerizer {
    fn launch<'a>(
        &'a self,
        launch: Launch,
        launching: &'a dyn Launching,
    ) -> BoxFuture<'a, Result<Started, LaunchError>> {
        Box::pin(std::future::ready(self.start(launch, launching)))
    }

    fn wait<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Exit> {
        Box::pin(self.wait_for(container_id))
    }

    fn kill(&self, container_id: &str, stop: Stop) {
        let Some(leader) = self.leader(container_id) else {
            return;
        };
        match stop {
            Stop::Kill => {
                leader.signal(Signal::SIGKILL);
            }
            Stop::Term => {
                leader.signal(Signal::SIGTERM);
            }
            Stop::Graceful(grace) => {
                leader.signal(Signal::SIGTERM);
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    // Through the leader: a task that ended within its grace period may have
                    // given its pid to another task by now.
                    leader.signal(Signal::SIGKILL);
                });
            }
        }
    }

    fn usage<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Option<Usage>> {
        Box::pin(std::future::ready(self.usage_of(container_id)))
    }

    fn recover<'a>(
        &'a self,
        _agent_id: Option<&'a AgentID>,
        containers: Vec<Known>,
    ) -> BoxFuture<'a, Vec<Recovered>> {
        let out = containers.into_iter().map(|k| self.adopt(k)).collect();
        Box::pin(std::future::ready(out))
    }

    fn destroy<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()> {
        self.destroy_now(container_id);
        Box::pin(std::future::ready(()))
    }

    fn shutdown(&self, _grace: Duration) -> BoxFuture<'_, ()> {
        self.cgroups.drain_pool();
        Box::pin(std::future::ready(()))
    }
}

/// Whether the cgroup v1 cpu and memory hierarchies are there and writable by this process, for
/// the tests that need them (in modules named `needs_cgroups_v1`): root on a cgroup v1 host, as
/// CI runs them. Elsewhere such a test returns at once and says on stderr that it was skipped
/// and why; with DROVER_TESTS_NO_SKIP set (`.ci/run` sets it) a need that is not met fails the
/// test instead.
#[cfg(test)]
pub(crate) fn have_cgroups_v1(test: &str) -> bool {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let unmet: Vec<String> = [("cpu", "cpu.shares"), ("memory", "memory.limit_in_bytes")]
        .into_iter()
        .filter_map(|(controller, file)| {
            let dir = root.join(controller);
            if !dir.join(file).exists() {
                return Some(format!(
                    "no cgroup v1 {controller} hierarchy at {}",
                    dir.display()
                ));
            }
            nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK)
                .err()
                .map(|e| format!("{} is not writable: {e}", dir.display()))
        })
        .collect();
    if unmet.is_empty() {
        return true;
    }
    let why = unmet.join("; ");
    let need = "writable cgroup v1 cpu and memory hierarchies (root on a cgroup v1 host)";
    assert!(
        std::env::var_os("DROVER_TESTS_NO_SKIP").is_none(),
        "{test} needs {need}, and DROVER_TESTS_NO_SKIP is set: {why}"
    );
    eprintln!("skipped {test}: it needs {need}: {why}");
    false
}

/// The threads of process `pid` (`/proc/<pid>/task`).
fn leader_threads(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Seconds thread `tid` has waited on a run queue: the second field of `/proc/<tid>/schedstat`
/// (nanoseconds). A thread that ended meanwhile counts nothing.
fn thread_run_delay(tid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?;
    parse_run_delay(&text)
}

fn parse_run_delay(schedstat: &str) -> Option<f64> {
    let ns: u64 = schedstat.split_whitespace().nth(1)?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

#[cfg(test)]
mod run_delay_tests {
    #[test]
    fn schedstat_second_field_is_the_run_queue_wait() {
        assert_eq!(super::parse_run_delay("444594 2500000000 1\n"), Some(2.5));
        assert_eq!(super::parse_run_delay("12"), None);
        assert_eq!(super::parse_run_delay(""), None);
    }
}
