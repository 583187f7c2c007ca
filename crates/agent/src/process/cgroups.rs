//! cgroups v1 and v2 for process containers: finding a writable hierarchy, a container's cgroup
//! with its cpu and memory limits (v1 pairs from the pool), joining it, reading its usage and OOM
//! kills, emptying and removing it.

use super::cgroup_dir::{empty_cgroup, remove_cgroup};
use super::pool::{Pool, Written};
use crate::containerizer::Limits;
use crate::dirfd::Dir;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cgroup support found on this host. The hierarchies' `drover` directories are held open: a
/// container's files are reached relative to them (see `dirfd`).
#[derive(Clone, Debug)]
pub enum Cgroups {
    None(String),
    /// `cfs`: write a CFS quota (a hard cap) besides the weight.
    V1 {
        cpu: Dir,
        memory: Dir,
        cfs: bool,
        pool: Arc<Pool>,
    },
    V2 {
        root: Dir,
        cfs: bool,
    },
}

impl Cgroups {
    /// Find a writable cgroup hierarchy for `drover` containers, or say why there is none.
    pub fn detect(root: &Path, cfs: bool) -> Cgroups {
        let unified = root.join("cgroup.controllers");
        if let Ok(c) = std::fs::read_to_string(&unified) {
            if c.contains("memory") && c.contains("cpu") {
                let dir = root.join("drover");
                if std::fs::create_dir_all(&dir).is_ok() {
                    let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu +memory");
                    let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory");
                    match Dir::open(&dir) {
                        Ok(root) => return Cgroups::V2 { root, cfs },
                        Err(e) => return Cgroups::None(format!("cgroup v2: {e}")),
                    }
                }
            }
        }
        let cpu = root.join("cpu");
        let memory = root.join("memory");
        if cpu.join("cpu.shares").exists() && memory.join("memory.limit_in_bytes").exists() {
            let (c, m) = (cpu.join("drover"), memory.join("drover"));
            let open = |p: &Path| std::fs::create_dir_all(p).and_then(|()| Dir::open(p));
            match (open(&c), open(&m)) {
                (Ok(cpu), Ok(memory)) => {
                    Pool::remove_stale(&cpu, &memory);
                    return Cgroups::V1 {
                        cpu,
                        memory,
                        cfs,
                        pool: Arc::default(),
                    };
                }
                (Err(e), _) | (_, Err(e)) => {
                    return Cgroups::None(format!("cgroup v1 is not writable: {e}"))
                }
            }
        }
        Cgroups::None(format!(
            "no cgroup v1 cpu+memory or v2 hierarchy with cpu and memory under {}",
            root.display()
        ))
    }

    pub fn describe(&self) -> String {
        match self {
            Cgroups::None(why) => format!("none ({why})"),
            Cgroups::V1 { cfs, .. } | Cgroups::V2 { cfs, .. } => format!(
                "cgroups {} (cpu {}, memory)",
                if matches!(self, Cgroups::V1 { .. }) {
                    "v1"
                } else {
                    "v2"
                },
                if *cfs {
                    "shares and CFS quota"
                } else {
                    "shares"
                }
            ),
        }
    }

    /// Create the container's cgroup with these limits; whether the task should join it (the
    /// child joins before it execs anything of the task: a shell would otherwise fork children
    /// outside). Errors are logged: a task without limits is better than no task, and the log
    /// says so.
    pub fn prepare(&self, container_id: &str, limits: Limits) -> bool {
        let r = match self {
            Cgroups::None(_) => Ok(false),
            Cgroups::V1 {
                cpu,
                memory,
                cfs,
                pool,
            } => (|| -> std::io::Result<bool> {
                let want = Written::of(limits, *cfs);
                // Write what differs from what the pair was given before.
                let write = |id: &str, had: Written| -> std::io::Result<()> {
                    if had.shares != want.shares {
                        cpu.write(
                            &format!("{id}/cpu.shares"),
                            want.shares.to_string().as_bytes(),
                        )?;
                    }
                    // The period stays the kernel's default, 100 ms (also what v2's cpu.max
                    // says): each write of the period or the quota makes the kernel walk every
                    // cpu cgroup on the host (tg_set_cfs_bandwidth), under one global mutex.
                    if had.quota != want.quota {
                        let q = want.quota.map(|q| q as i64).unwrap_or(-1);
                        cpu.write(&format!("{id}/cpu.cfs_quota_us"), q.to_string().as_bytes())?;
                    }
                    if had.mem != want.mem {
                        let v = want.mem.map(|b| b as i64).unwrap_or(-1);
                        memory.write(
                            &format!("{id}/memory.limit_in_bytes"),
                            v.to_string().as_bytes(),
                        )?;
                    }
                    Ok(())
                };
                let fresh = || -> std::io::Result<String> {
                    let name = Pool::new_name();
                    cpu.ensure_dir(&name)?;
                    memory.ensure_dir(&name)?;
                    write(&name, Written::default())?;
                    Ok(name)
                };
                // A pooled pair; a new pair when there is none or the pooled one takes no new
                // limit (memory in use above it).
                let name = match pool.take() {
                    Some((name, had)) if write(&name, had).is_ok() => name,
                    Some((name, _)) => {
                        let _ = cpu.rmdir(&name);
                        let _ = memory.rmdir(&name);
                        fresh()?
                    }
                    None => fresh()?,
                };
                pool.bind(container_id, name, want);
                Ok(true)
            })(),
            Cgroups::V2 { root, cfs } => (|| -> std::io::Result<bool> {
                let id = container_id;
                root.ensure_dir(id)?;
                if *cfs {
                    let quota = ((limits.cpus * 100_000.0) as u64).max(1000);
                    root.write(
                        &format!("{id}/cpu.max"),
                        format!("{quota} 100000").as_bytes(),
                    )?;
                }
                let weight = ((limits.cpus * 100.0) as u64).clamp(1, 10_000);
                root.write(&format!("{id}/cpu.weight"), weight.to_string().as_bytes())?;
                if limits.mem_mb > 0.0 {
                    let bytes = (limits.mem_mb * 1024.0 * 1024.0) as u64;
                    root.write(&format!("{id}/memory.max"), bytes.to_string().as_bytes())?;
                    let _ = root.write(&format!("{id}/memory.swap.max"), b"0");
                }
                Ok(true)
            })(),
        };
        r.unwrap_or_else(|e| {
            tracing::warn!(container_id, "could not apply cgroup limits: {e}");
            false
        })
    }

    /// The container's `cgroup.procs` files: a process writes "0" to each to join the
    /// container's cgroups.
    pub fn procs_paths(&self, container_id: &str) -> Vec<PathBuf> {
        let Some(name) = self.name_of(container_id) else {
            return vec![];
        };
        let procs = format!("{name}/cgroup.procs");
        match self {
            Cgroups::None(_) => vec![],
            Cgroups::V1 { cpu, memory, .. } => vec![cpu.join(&procs), memory.join(&procs)],
            Cgroups::V2 { root, .. } => vec![root.join(&procs)],
        }
    }

    /// The same, open for writing.
    pub fn open_procs(&self, container_id: &str) -> std::io::Result<Vec<std::fs::File>> {
        self.procs_paths(container_id)
            .iter()
            .map(|p| std::fs::OpenOptions::new().write(true).open(p))
            .collect()
    }

    /// The directory name of a container's cgroup: v1 pairs are pooled and named by slot
    /// (`task-<agent pid>-<n>`; renaming them per container cost ~4% of a short task's CPU),
    /// v2 ones are named by container id.
    pub(crate) fn name_of(&self, container_id: &str) -> Option<String> {
        match self {
            Cgroups::None(_) => None,
            Cgroups::V1 { pool, .. } => pool.name(container_id),
            Cgroups::V2 { .. } => Some(container_id.to_string()),
        }
    }

    /// Find the cgroup of a container the agent re-adopts (after a restart) from its process's
    /// `/proc/<pid>/cgroup`; whether it was found.
    pub fn adopt(&self, container_id: &str, pid: u32) -> bool {
        let Cgroups::V1 {
            cpu, memory, pool, ..
        } = self
        else {
            return matches!(self, Cgroups::V2 { .. });
        };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        // v1 lines are `<id>:<controllers>:<path>`; ours end in `/drover/<name>`.
        let under = |want: &str| {
            text.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
                controllers
                    .split(',')
                    .any(|c| c == want)
                    .then(|| path.rsplit_once("/drover/").map(|(_, n)| n.to_string()))?
            })
        };
        match (under("cpu"), under("memory")) {
            (Some(c), Some(m)) if c == m && cpu.exists(&c) && memory.exists(&m) => {
                // What it was given is not known: every limit is written when it is reused.
                pool.bind(container_id, c, Written::default());
                true
            }
            _ => false,
        }
    }

    /// Whether the kernel OOM-killed something in this container's cgroup.
    pub fn oom_killed(&self, container_id: &str) -> bool {
        let Some(name) = self.name_of(container_id) else {
            return false;
        };
        let text = match self {
            Cgroups::None(_) => return false,
            Cgroups::V1 { memory, .. } => memory.read_string(&format!("{name}/memory.oom_control")),
            Cgroups::V2 { root, .. } => root.read_string(&format!("{name}/memory.events")),
        };
        text.map(|t| {
            t.lines().any(|l| {
                let mut it = l.split_whitespace();
                it.next() == Some("oom_kill")
                    && it.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) > 0
            })
        })
        .unwrap_or(false)
    }

    /// Resource usage of the container: (cpu seconds, memory bytes).
    pub fn usage(&self, container_id: &str) -> Option<(f64, u64)> {
        let name = self.name_of(container_id)?;
        let number = |dir: &Dir, file: &str| -> u64 {
            dir.read_string(&format!("{name}/{file}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        match self {
            Cgroups::None(_) => None,
            Cgroups::V1 { cpu, memory, .. } => {
                let acct = cpu
                    .path()
                    .parent()?
                    .parent()?
                    .join("cpuacct")
                    .join("drover")
                    .join(&name)
                    .join("cpuacct.usage");
                let cpu_ns: u64 = std::fs::read_to_string(acct)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                Some((cpu_ns as f64 / 1e9, number(memory, "memory.usage_in_bytes")))
            }
            Cgroups::V2 { root, .. } => {
                let stat = root.read_string(&format!("{name}/cpu.stat")).ok()?;
                let usec: u64 = stat
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("usage_usec ")
                            .and_then(|v| v.trim().parse().ok())
                    })
                    .unwrap_or(0);
                Some((usec as f64 / 1e6, number(root, "memory.current")))
            }
        }
    }

    /// The threads in the container's cpu cgroup (v1 `tasks`, v2 `cgroup.threads`), for their
    /// scheduler statistics.
    pub fn threads(&self, container_id: &str) -> Option<Vec<u32>> {
        let name = self.name_of(container_id)?;
        let text = match self {
            Cgroups::None(_) => return None,
            Cgroups::V1 { cpu, .. } => cpu.read_string(&format!("{name}/tasks")).ok()?,
            Cgroups::V2 { root, .. } => root.read_string(&format!("{name}/cgroup.threads")).ok()?,
        };
        Some(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Time the container's cgroup spent throttled by its CFS quota, in seconds (v1
    /// `throttled_time` ns, v2 `throttled_usec`).
    pub fn throttled_secs(&self, container_id: &str) -> Option<f64> {
        let name = self.name_of(container_id)?;
        let (text, key, scale) = match self {
            Cgroups::None(_) => return None,
            Cgroups::V1 { cpu, .. } => (
                cpu.read_string(&format!("{name}/cpu.stat")).ok()?,
                "throttled_time ",
                1e9,
            ),
            Cgroups::V2 { root, .. } => (
                root.read_string(&format!("{name}/cpu.stat")).ok()?,
                "throttled_usec ",
                1e6,
            ),
        };
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .map(|v| v as f64 / scale)
    }

    /// SIGKILL whatever is still in the container's cgroups (processes that left the task's
    /// session), until they are empty or a second has passed.
    pub fn kill_all(&self, container_id: &str) {
        let Some(name) = self.name_of(container_id) else {
            return;
        };
        match self {
            Cgroups::None(_) => {}
            Cgroups::V1 { cpu, memory, .. } => {
                empty_cgroup(cpu, &name);
                empty_cgroup(memory, &name);
            }
            Cgroups::V2 { root, .. } => empty_cgroup(root, &name),
        }
    }

    /// Remove the container's cgroup directories once its processes are gone (v1: keep them for
    /// the next container when they are empty and clean).
    pub fn destroy(&self, container_id: &str) {
        self.release(container_id, self.oom_killed(container_id));
    }

    /// `destroy`, for a caller that has just read `oom_killed` (the cgroup's OOM history).
    pub fn release(&self, container_id: &str, oom_killed: bool) {
        match self {
            Cgroups::None(_) => {}
            Cgroups::V1 {
                cpu, memory, pool, ..
            } => {
                let Some((name, w)) = pool.unbind(container_id) else {
                    return;
                };
                if oom_killed || !pool.keep(cpu, memory, name.clone(), w) {
                    remove_cgroup(cpu, &name);
                    remove_cgroup(memory, &name);
                }
            }
            Cgroups::V2 { root, .. } => remove_cgroup(root, container_id),
        }
    }

    /// Remove the pooled cgroups (the agent stops).
    pub fn drain_pool(&self) {
        if let Cgroups::V1 {
            cpu, memory, pool, ..
        } = self
        {
            pool.drain(cpu, memory);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests over the host's real cgroup v1 cpu and memory hierarchies (see
    /// `process::have_cgroups_v1`).
    mod needs_cgroups_v1 {
        use super::*;
        use crate::process::have_cgroups_v1;

        /// Real cgroup v1 pairs: a pair goes back to the pool when its container ends cleanly,
        /// serves the next container with only the changed limits written, is found again through
        /// its process by an agent that restarted, and nothing is left after a drain.
        #[test]
        fn cgroup_pairs_are_reused_with_their_new_limits_adopted_and_drained() {
            if !have_cgroups_v1("cgroup_pairs_are_reused_with_their_new_limits_adopted_and_drained")
            {
                return;
            }
            let cg = Cgroups::detect(Path::new("/sys/fs/cgroup"), true);
            let Cgroups::V1 { cpu, memory, .. } = &cg else {
                panic!(
                    "these machines have cgroup v1 cpu and memory: {}",
                    cg.describe()
                );
            };
            let (cpu, memory) = (cpu.path().to_path_buf(), memory.path().to_path_buf());
            let id = |n: &str| format!("test-{}-{n}", std::process::id());
            let (a, b, c, d) = (id("a"), id("b"), id("c"), id("d"));
            let read = |dir: &Path, f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .unwrap()
                    .trim()
                    .to_string()
            };
            let small = Limits {
                cpus: 0.5,
                mem_mb: 32.0,
            };
            assert!(cg.prepare(&a, small));
            let pair = cg.name_of(&a).expect("a's pair");
            assert_eq!(read(&cpu.join(&pair), "cpu.shares"), "512");
            cg.destroy(&a);
            assert_eq!(cg.name_of(&a), None);
            assert!(
                cpu.join(&pair).exists() && memory.join(&pair).exists(),
                "kept for the next container"
            );
            // The pooled pair becomes b's, with b's limits.
            let big = Limits {
                cpus: 2.0,
                mem_mb: 64.0,
            };
            assert!(cg.prepare(&b, big));
            assert_eq!(cg.name_of(&b).as_ref(), Some(&pair));
            assert_eq!(read(&cpu.join(&pair), "cpu.shares"), "2048");
            assert_eq!(read(&cpu.join(&pair), "cpu.cfs_quota_us"), "200000");
            assert_eq!(
                read(&memory.join(&pair), "memory.limit_in_bytes"),
                (64u64 << 20).to_string()
            );
            // A pair with a process still in it is not pooled: the container is over, so what was
            // left in it (a process outside the task's session, or one still exiting) is killed and
            // the pair removed.
            assert!(cg.prepare(&c, small));
            let busy = cg.name_of(&c).expect("c's pair");
            assert_ne!(busy, pair);
            let sleep = || {
                std::process::Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .unwrap()
            };
            let mut child = sleep();
            std::fs::write(
                memory.join(&busy).join("cgroup.procs"),
                child.id().to_string(),
            )
            .unwrap();
            cg.destroy(&c);
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                child.wait().unwrap().signal(),
                Some(9),
                "what was left in an ended container's cgroup is killed"
            );
            assert!(
                !memory.join(&busy).exists() && !cpu.join(&busy).exists(),
                "and its cgroups are removed"
            );
            // A restarted agent (a new pool) finds d's pair through d's process.
            assert!(cg.prepare(&d, small));
            let ds = cg.name_of(&d).expect("d's pair");
            let mut child = sleep();
            for dir in [&cpu, &memory] {
                std::fs::write(dir.join(&ds).join("cgroup.procs"), child.id().to_string()).unwrap();
            }
            let restarted = Cgroups::detect(Path::new("/sys/fs/cgroup"), true);
            assert_eq!(restarted.name_of(&d), None);
            assert!(restarted.adopt(&d, child.id()));
            assert_eq!(restarted.name_of(&d).as_ref(), Some(&ds));
            child.kill().unwrap();
            child.wait().unwrap();
            restarted.destroy(&d);
            restarted.drain_pool();
            assert!(!cpu.join(&ds).exists() && !memory.join(&ds).exists());
            cg.destroy(&b);
            cg.drain_pool();
            assert!(!cpu.join(&pair).exists() && !memory.join(&pair).exists());
        }
    }
}
