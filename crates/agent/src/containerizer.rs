//! The `process` containerizer: start a command in its sandbox, in its own session, with
//! stdout/stderr going to files in the sandbox, optionally inside a cgroup (v1 or v2) that limits
//! cpu and memory. Killing is SIGTERM to the whole session, then SIGKILL after the grace period.
//!
//! How a task is started: fork(2) copies the page tables of the whole agent (with `drover up`, of
//! the master too), and every page the agent then writes faults once more; that cost grows with
//! the agent's memory (4–6 ms per task with `drover up` at a few hundred tasks in flight). So the
//! agent uses posix_spawn(3) (vfork: no copy) with `POSIX_SPAWN_SETSID`, in the sandbox (held
//! open: `fchdir`), and the process it starts is `/bin/sh`, which joins the container's cgroups
//! (`echo 0 >&3` to `cgroup.procs` files the agent opened) before anything of the task runs: a
//! shell command is that same shell (one exec per task, as Mesos' `sh -c`), an argv command is
//! `exec`'d by it. (Re-executing `drover` itself
//! as such a shim cost ~1.4 ms of CPU per task more than `sh`: the dynamic loader relocating a
//! large binary, and its page faults.) The child is waited for through a pidfd. Where a uid
//! switch is needed it is fork with the same steps between fork and exec.

use crate::dirfd::Dir;
use crate::spawner::Local;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What execvp(3) would run for `program` with this environment's PATH, in directory `cwd`; the
/// error it would give if nothing is runnable, so a command that cannot start fails the launch as
/// it did with fork.
fn resolve_program(
    program: &str,
    env: &[(String, String)],
    cwd: &Path,
) -> std::io::Result<PathBuf> {
    use nix::unistd::{access, AccessFlags};
    let runnable = |p: &Path| p.is_file() && access(p, AccessFlags::X_OK).is_ok();
    if program.contains('/') {
        let p = cwd.join(program);
        if runnable(&p) {
            return Ok(p);
        }
        let errno = if p.exists() {
            nix::libc::EACCES
        } else {
            nix::libc::ENOENT
        };
        return Err(std::io::Error::from_raw_os_error(errno));
    }
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/bin:/usr/bin");
    let mut denied = false;
    for dir in path.split(':') {
        let p = cwd.join(dir).join(program);
        if runnable(&p) {
            return Ok(p);
        }
        denied |= p.exists();
    }
    Err(std::io::Error::from_raw_os_error(if denied {
        nix::libc::EACCES
    } else {
        nix::libc::ENOENT
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("creating sandbox {path}: {source}")]
    Sandbox {
        path: String,
        source: std::io::Error,
    },
    #[error("user '{0}' does not exist on this agent")]
    NoSuchUser(String),
    #[error("failed to execute '{program}': {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
    #[error("command is empty")]
    EmptyCommand,
}

/// What to run, fully resolved.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub sandbox: PathBuf,
    /// The caller made the sandbox (`Sandboxes`); false: the launcher makes it.
    pub sandbox_made: bool,
    pub user: Option<String>,
    pub limits: Option<Limits>,
    pub container_id: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cpus: f64,
    pub mem_mb: f64,
}

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
    fn name_of(&self, container_id: &str) -> Option<String> {
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
}

impl Cgroups {
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

/// SIGKILL the members of the cgroup `name` under `dir` until it has none, for at most a second.
/// The pids are read from the cgroup itself, so each is a member when it is read.
fn empty_cgroup(dir: &Dir, name: &str) {
    let procs = format!("{name}/cgroup.procs");
    for _ in 0..100 {
        let Ok(text) = dir.read_string(&procs) else {
            return;
        };
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Remove an ended container's cgroup `name` under `dir`. Its task's session leader is reaped
/// by now, but a process it started may still be in the cgroup (exiting, or outside the
/// session): the container is over, so those are killed (as Mesos destroys a container whose
/// executor ended) and the removal retried, for at most a second.
fn remove_cgroup(dir: &Dir, name: &str) {
    for _ in 0..100 {
        match dir.rmdir(name) {
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => {
                empty_cgroup(dir, name);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("removing cgroup {name}: {e}");
                return;
            }
            _ => return,
        }
    }
    tracing::warn!("cgroup {name} still busy after a second: left behind");
}

/// The limits last written to a v1 cgroup pair.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Written {
    /// 0: never written (the kernel's default, 1024, is not assumed).
    shares: u64,
    quota: Option<u64>,
    mem: Option<u64>,
}

impl Written {
    fn of(limits: Limits, cfs: bool) -> Written {
        Written {
            shares: ((limits.cpus * 1024.0) as u64).max(2),
            quota: cfs.then(|| ((limits.cpus * 100_000.0) as u64).max(1000)),
            mem: (limits.mem_mb > 0.0).then_some((limits.mem_mb * 1024.0 * 1024.0) as u64),
        }
    }
}

/// v1 cgroup pairs (cpu, memory), named by slot, and the containers they belong to. Creating
/// and removing a cgroup is most of what a short task costs the kernel (per-cgroup state and ~30
/// control files for the memory controller); a pair that held a task that ended cleanly is kept
/// for the next container instead, and only limits that differ are written. Not reused: a pair
/// with a process left in it or an OOM kill in its history.
#[derive(Debug, Default)]
pub struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Empty pairs: name, what they were given.
    free: Vec<(String, Written)>,
    /// Each live container's pair and what it was given.
    live: std::collections::HashMap<String, (String, Written)>,
}

/// Enough for bursts of short tasks; beyond it pairs are removed.
const POOL_MAX: usize = 512;

/// The most memory still charged to an ended container's cgroup for it to be emptied and kept.
const POOL_MAX_CHARGED: u64 = 8 << 20;

/// Names of pairs: this prefix, the pid of the agent that made them, a number.
const SLOT_PREFIX: &str = "task-";

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A name for a new pair, unique on the host while this process lives (`drover up` runs
    /// several agents, each with its own pool, in one process).
    fn new_name() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{SLOT_PREFIX}{}-{n}", std::process::id())
    }

    fn take(&self) -> Option<(String, Written)> {
        self.lock().free.pop()
    }

    fn bind(&self, cid: &str, name: String, w: Written) {
        self.lock().live.insert(cid.to_string(), (name, w));
    }

    fn name(&self, cid: &str) -> Option<String> {
        self.lock().live.get(cid).map(|(n, _)| n.clone())
    }

    fn unbind(&self, cid: &str) -> Option<(String, Written)> {
        self.lock().live.remove(cid)
    }

    /// Keep an ended container's pair for later if it is empty and clean (the caller knows it
    /// saw no OOM kill); whether it was kept.
    fn keep(&self, cpu: &Dir, memory: &Dir, name: String, w: Written) -> bool {
        if self.lock().free.len() >= POOL_MAX {
            return false;
        }
        let empty = |dir: &Dir| {
            dir.read_string(&format!("{name}/cgroup.procs"))
                .map(|b| b.is_empty())
                .unwrap_or(false)
        };
        // Little still charged to it (the task's page cache): emptying it is quick. A big one is
        // removed instead — rmdir hands its charges to the parent without reclaiming them, where
        // force_empty would reclaim them all, on the agent's thread.
        let charged = memory
            .read_string(&format!("{name}/memory.usage_in_bytes"))
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let Some(charged) = charged.filter(|&b| b <= POOL_MAX_CHARGED) else {
            return false;
        };
        if !(empty(memory) && empty(cpu)) {
            return false;
        }
        // Hand back the pages still charged to it, so the next container starts from nothing.
        // Only when there are some: force_empty drains every CPU's page lists first, waiting
        // for a kernel worker on each (most short tasks leave nothing charged).
        if charged > 0 {
            let _ = memory.write(&format!("{name}/memory.force_empty"), b"0");
        }
        self.lock().free.push((name, w));
        true
    }

    fn drain(&self, cpu: &Dir, memory: &Dir) {
        let free = std::mem::take(&mut self.lock().free);
        for (name, _) in free {
            remove_cgroup(cpu, &name);
            remove_cgroup(memory, &name);
        }
    }

    /// Pairs of agents that are gone (killed before they could drain their pool, or whose tasks
    /// ended while they were down). A pair with a process in it cannot be removed, and stays:
    /// the agent that restarts finds it through the process (`adopt`).
    fn remove_stale(cpu: &Dir, memory: &Dir) {
        for dir in [cpu, memory] {
            let Ok(entries) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                // `pool-` pairs are from agents before slot names.
                let Some(pid) = name
                    .strip_prefix(SLOT_PREFIX)
                    .or_else(|| name.strip_prefix("pool-"))
                    .and_then(|r| r.split('-').next())
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = dir.rmdir(&name);
                }
            }
        }
    }
}

/// Starts processes. A trait so the agent's logic can be driven with a recording fake.
pub trait Launcher: Send + Sync {
    fn spawn(&self, spec: &ProcessSpec) -> Result<Process, LaunchError>;
}

pub struct ProcessLauncher {
    pub cgroups: Cgroups,
    /// Switch to the task's user (needs root); when false, tasks run as the agent's user.
    pub switch_user: bool,
    /// Where tasks are started from (see `spawner`).
    pub spawner: crate::spawner::Spawner,
}

/// The leader of a task's session (its process group, which setsid made equal to its pid):
/// the one way the agent signals a task, so a signal never reaches a process that took the pid
/// number after the task was gone. pids are reused quickly at thousands of tasks a second, and
/// every task leads a session whose group id is its pid.
#[derive(Clone, Debug)]
pub enum Leader {
    /// Our child. Its pid cannot be taken by another process before it is reaped, and
    /// `Process::wait` reaps it under this lock and marks it: a signal sent under the lock while
    /// unmarked reaches the task's own group.
    Child { pid: u32, reaped: Arc<Mutex<bool>> },
    /// A task re-adopted after an agent restart (not our child): known by its start time, which
    /// is checked right before each signal.
    Adopted { pid: u32, start: u64 },
}

impl Leader {
    pub fn pid(&self) -> u32 {
        match self {
            Leader::Child { pid, .. } | Leader::Adopted { pid, .. } => *pid,
        }
    }

    /// Signal the task's whole session; false when the task is gone (its pid may be another's).
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> bool {
        let group = nix::unistd::Pid::from_raw(self.pid() as i32);
        match self {
            Leader::Child { reaped, .. } => {
                let reaped = reaped.lock().unwrap_or_else(|e| e.into_inner());
                !*reaped && nix::sys::signal::killpg(group, sig).is_ok()
            }
            Leader::Adopted { pid, start } => {
                process_start_time(*pid) == Some(*start)
                    && nix::sys::signal::killpg(group, sig).is_ok()
            }
        }
    }

    /// Whether the leader still runs (a zombie does not).
    pub fn alive(&self) -> bool {
        match self {
            Leader::Child { pid, reaped } => {
                !*reaped.lock().unwrap_or_else(|e| e.into_inner())
                    && process_start_time(*pid).is_some()
            }
            Leader::Adopted { pid, start } => process_start_time(*pid) == Some(*start),
        }
    }
}

/// A started task process, our child: its end is seen, and it is reaped, through a pidfd.
pub struct Process {
    leader: Leader,
    pidfd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Process {
    /// Take over a child just started (by posix_spawn or fork) that nothing else waits for.
    fn of_child(pid: u32) -> std::io::Result<Process> {
        Ok(Process {
            pidfd: crate::sys::pidfd_open(pid as i32)?,
            leader: Leader::Child {
                pid,
                reaped: Arc::new(Mutex::new(false)),
            },
        })
    }

    pub fn id(&self) -> Option<u32> {
        Some(self.leader.pid())
    }

    /// What kills go through.
    pub fn leader(&self) -> Leader {
        self.leader.clone()
    }

    /// Wait for the process to end and reap it.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        use std::os::fd::AsFd;
        use std::os::unix::process::ExitStatusExt;
        let Leader::Child { reaped, .. } = &self.leader else {
            return Err(std::io::Error::other("not our child"));
        };
        loop {
            let mut ready = self.pidfd.readable().await?;
            // Reaped and marked under the lock `Leader::signal` takes: no signal by this pid
            // after the pid is free.
            let mut marked = reaped.lock().unwrap_or_else(|e| e.into_inner());
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
            match waitid(Id::PIDFd(self.pidfd.get_ref().as_fd()), flags) {
                // The raw wait status, as waitpid(2) encodes it.
                Ok(WaitStatus::Exited(_, code)) => {
                    *marked = true;
                    return Ok(std::process::ExitStatus::from_raw((code & 0xff) << 8));
                }
                Ok(WaitStatus::Signaled(_, sig, core)) => {
                    *marked = true;
                    return Ok(std::process::ExitStatus::from_raw(
                        sig as i32 | if core { 0x80 } else { 0 },
                    ));
                }
                Ok(_) => {
                    drop(marked);
                    ready.clear_ready()
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What the task's shell runs before the task: join the container's cgroups by writing "0" to
/// their `cgroup.procs`, which the agent opened and hands over as descriptors 3 (and 4), then
/// close those. Exit status 127 (a shell's "could not run") when a join fails; the shell's
/// message is in the sandbox's stderr. The sandbox is already the working directory.
fn prelude(cgroup_fds: usize) -> String {
    if cgroup_fds == 0 {
        return String::new();
    }
    let fds: Vec<usize> = (3..3 + cgroup_fds).collect();
    let join: Vec<String> = fds.iter().map(|fd| format!("echo 0 >&{fd}")).collect();
    let close: Vec<String> = fds.iter().map(|fd| format!("{fd}>&-")).collect();
    format!(
        "{} || exit 127\nexec {}\n",
        join.join(" && "),
        close.join(" ")
    )
}

/// The argv that runs `argv` after the prelude: a shell command (`/bin/sh -c CMD`) gets the
/// prelude in front of its script, so it is still one shell; anything else is exec'd by one.
fn with_prelude(prelude: &str, argv: &[String]) -> Vec<String> {
    match argv {
        [sh, c, cmd] if sh == "/bin/sh" && c == "-c" => {
            vec![sh.clone(), c.clone(), format!("{prelude}{cmd}")]
        }
        _ => {
            let mut v = vec![
                "/bin/sh".to_string(),
                "-c".to_string(),
                format!("{prelude}exec \"$0\" \"$@\""),
            ];
            v.extend(argv.iter().cloned());
            v
        }
    }
}

/// A task's start, as the spawner thread carries it out: everything is opened there, from paths.
struct SpawnJob {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    sandbox: PathBuf,
    /// The container's `cgroup.procs` files (none: no limits).
    procs: Vec<PathBuf>,
}

enum SpawnFailure {
    Sandbox(std::io::Error),
    Exec(std::io::Error),
}

impl SpawnJob {
    fn run(self, local: &mut Local) -> Result<u32, SpawnFailure> {
        use nix::fcntl::{openat, OFlag};
        use nix::sys::stat::Mode;
        let open_at = |local: &mut Local, base: &Path, rel: &str, flags: OFlag| {
            let at = |local: &mut Local| -> std::io::Result<OwnedFd> {
                openat(
                    local.dir(base)?,
                    rel,
                    flags | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )
                .map_err(std::io::Error::from)
            };
            // A directory held open that was removed since (and made again) is opened again.
            at(local).or_else(|_| {
                local.forget(base);
                at(local)
            })
        };
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let run = match crate::sandbox::split(&self.sandbox) {
            Some((base, [e, r, c])) => open_at(local, base, &format!("{e}/{r}/{c}"), dir),
            None => nix::fcntl::open(&self.sandbox, dir | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(std::io::Error::from),
        }
        .map_err(SpawnFailure::Sandbox)?;
        let log = |name: &str| {
            openat(
                &run,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map_err(|e| SpawnFailure::Sandbox(e.into()))
        };
        let (stdout, stderr) = (log("stdout")?, log("stderr")?);
        let stdin = nix::fcntl::open(
            "/dev/null",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SpawnFailure::Exec(e.into()))?;
        // cgroup.procs files, relative to their hierarchy's `drover` directory.
        let procs: std::io::Result<Vec<OwnedFd>> = self
            .procs
            .iter()
            .map(|p| {
                let (Some(name), Some(base)) = (
                    p.parent()
                        .and_then(|d| d.file_name())
                        .and_then(|n| n.to_str()),
                    p.parent().and_then(Path::parent),
                ) else {
                    return Err(std::io::Error::other(format!(
                        "{}: not a cgroup",
                        p.display()
                    )));
                };
                open_at(
                    local,
                    base,
                    &format!("{name}/cgroup.procs"),
                    OFlag::O_WRONLY,
                )
            })
            .collect();
        let procs = procs.unwrap_or_else(|e| {
            tracing::warn!("could not open the container's cgroups, it runs without limits: {e}");
            vec![]
        });
        let argv = with_prelude(&prelude(procs.len()), &self.argv);
        crate::sys::spawn_in_session(
            &argv,
            &self.env,
            [&stdin, &stdout, &stderr],
            &procs,
            run.as_fd(),
        )
        .map_err(SpawnFailure::Exec)
    }
}

impl Launcher for ProcessLauncher {
    fn spawn(&self, spec: &ProcessSpec) -> Result<Process, LaunchError> {
        let (program, args) = spec.argv.split_first().ok_or(LaunchError::EmptyCommand)?;
        let sandbox_err = |source| LaunchError::Sandbox {
            path: spec.sandbox.display().to_string(),
            source,
        };
        let exec_err = |source| LaunchError::Exec {
            program: program.clone(),
            source,
        };
        if !spec.sandbox_made {
            std::fs::create_dir_all(&spec.sandbox).map_err(sandbox_err)?;
        }
        let user = if self.switch_user && nix::unistd::geteuid().is_root() {
            match spec.user.as_deref().filter(|u| !u.is_empty()) {
                Some(user) => {
                    let u = nix::unistd::User::from_name(user)
                        .ok()
                        .flatten()
                        .ok_or_else(|| LaunchError::NoSuchUser(user.to_string()))?;
                    (!u.uid.is_root()).then_some(u)
                }
                None => None,
            }
        } else {
            None
        };
        let joined = match spec.limits {
            Some(l) => self.cgroups.prepare(&spec.container_id, l),
            None => false,
        };
        let Some(u) = user else {
            // A command that cannot start fails the launch, as exec would.
            resolve_program(program, &spec.env, &spec.sandbox).map_err(exec_err)?;
            let job = SpawnJob {
                argv: spec.argv.clone(),
                env: spec.env.clone(),
                sandbox: spec.sandbox.clone(),
                procs: if joined {
                    self.cgroups.procs_paths(&spec.container_id)
                } else {
                    vec![]
                },
            };
            let pid = match self.spawner.run(move |local| job.run(local)) {
                Some(Ok(pid)) => pid,
                Some(Err(SpawnFailure::Sandbox(e))) => return Err(sandbox_err(e)),
                Some(Err(SpawnFailure::Exec(e))) => return Err(exec_err(e)),
                None => {
                    return Err(exec_err(std::io::Error::other(
                        "the agent's spawner thread is gone",
                    )))
                }
            };
            // The pidfd in the agent's own table, where the runtime waits on it.
            return Process::of_child(pid).map_err(exec_err);
        };
        let dir = Dir::open(&spec.sandbox).map_err(sandbox_err)?;
        let stdout = dir.open_append("stdout").map_err(sandbox_err)?;
        let stderr = dir.open_append("stderr").map_err(sandbox_err)?;
        let procs = if joined {
            self.cgroups
                .open_procs(&spec.container_id)
                .unwrap_or_else(|e| {
                    tracing::warn!(
                        container_id = spec.container_id,
                        "could not open the container's cgroups, it runs without limits: {e}"
                    );
                    vec![]
                })
        } else {
            vec![]
        };
        for f in ["", "stdout", "stderr"] {
            let _ = nix::unistd::chown(&spec.sandbox.join(f), Some(u.uid), Some(u.gid));
        }
        // std's Command, not tokio's: tokio would reap the child itself (on SIGCHLD, or once
        // dropped), behind the pidfd's back; std's leaves it to `Process::wait`.
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&spec.sandbox)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .uid(u.uid.as_raw())
            .gid(u.gid.as_raw());
        use std::os::fd::AsRawFd;
        crate::sys::before_exec(&mut cmd, procs.iter().map(|f| f.as_raw_fd()).collect());
        let child = cmd.spawn().map_err(exec_err);
        drop(procs);
        // Dropping a std Child neither waits for nor kills it.
        Process::of_child(child?.id()).map_err(exec_err)
    }
}

/// Send a signal to a process group by number, for groups the agent does not track as a
/// [`Leader`] (a health check's own command, waited for by the caller).
pub fn signal_group(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// `/proc/<pid>/stat`, in one read (std's `read_to_string` asks for the size first and then
/// reads in growing steps; this is read for every task started).
fn proc_stat(pid: u32) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    // 52 fields of at most 20 digits and a 16-byte name: under 1.2 KB.
    let mut buf = [0u8; 2048];
    let n = f.read(&mut buf).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

/// The start time of a process (clock ticks since boot), to tell a re-used pid from ours.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = proc_stat(pid)?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace();
    // State is field 3 overall (index 0 here); a zombie is as good as gone.
    if fields.next()? == "Z" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Resident memory and cpu time of a process from /proc (bytes, seconds).
pub fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = proc_stat(pid)?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0;
    let utime: f64 = f.get(11)?.parse::<f64>().ok()? / ticks;
    let stime: f64 = f.get(12)?.parse::<f64>().ok()? / ticks;
    let rss_pages: u64 = f.get(21)?.parse().ok()?;
    Some((rss_pages * 4096, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, argv: &[&str]) -> ProcessSpec {
        ProcessSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("FOO".into(), "it's \"quoted\" $HOME".into()),
            ],
            sandbox: dir.join("sand box"),
            sandbox_made: false,
            user: None,
            limits: None,
            container_id: "c1".into(),
        }
    }

    fn launcher() -> ProcessLauncher {
        ProcessLauncher {
            cgroups: Cgroups::None("test".into()),
            switch_user: false,
            spawner: crate::spawner::Spawner::start().unwrap(),
        }
    }

    /// Tests over the host's real cgroup v1 cpu and memory hierarchies, which they need mounted
    /// at /sys/fs/cgroup and writable: root on a cgroup v1 host, as CI runs them. Elsewhere each
    /// returns at once and says on stderr that it was skipped and why; with DROVER_TESTS_NO_SKIP
    /// set (`.ci/run` sets it) a need that is not met fails the test instead.
    mod needs_cgroups_v1 {
        use super::*;

        /// Whether the cgroup v1 cpu and memory hierarchies are there and writable by this
        /// process; if not, `test` says it is skipped and why.
        fn have_cgroups_v1(test: &str) -> bool {
            let root = Path::new("/sys/fs/cgroup");
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

        /// The way the agent starts tasks: a sandbox made by `Sandboxes`, real cgroup v1 pairs, the
        /// spawner thread's own small descriptor table.
        #[tokio::test]
        async fn a_task_starts_in_its_sandbox_and_cgroups_from_the_spawner() {
            if !have_cgroups_v1("a_task_starts_in_its_sandbox_and_cgroups_from_the_spawner") {
                return;
            }
            let d = tempfile::tempdir().unwrap();
            let cid = format!("spawn-test-{}", std::process::id());
            let sandbox = d
                .path()
                .join(format!("frameworks/f/executors/t/runs/{cid}"));
            crate::sandbox::Sandboxes::default()
                .create(&sandbox)
                .unwrap();
            let l = ProcessLauncher {
                cgroups: Cgroups::detect(Path::new("/sys/fs/cgroup"), true),
                ..launcher()
            };
            for _ in 0..3 {
                let spec = ProcessSpec {
                    sandbox: sandbox.clone(),
                    sandbox_made: true,
                    limits: Some(Limits {
                        cpus: 0.25,
                        mem_mb: 64.0,
                    }),
                    container_id: cid.clone(),
                    ..spec(
                        d.path(),
                        &[
                            "/bin/sh",
                            "-c",
                            "pwd; cat /proc/self/cgroup; ls /proc/self/fd",
                        ],
                    )
                };
                let mut p = l.spawn(&spec).unwrap();
                assert!(p.wait().await.unwrap().success());
                let name = l
                    .cgroups
                    .name_of(&cid)
                    .expect("the container's cgroup pair");
                l.cgroups.destroy(&cid);
                let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
                let err = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
                assert_eq!(err, "", "stderr");
                let mut lines = out.lines().rev();
                // ls: 0, 1, 2 and the directory it lists — the cgroup descriptors were closed.
                let fds: Vec<&str> = lines.by_ref().take(4).collect();
                assert_eq!(fds, ["3", "2", "1", "0"], "{out}");
                assert!(
                    out.starts_with(&format!("{}\n", sandbox.display())),
                    "{out}"
                );
                for ctl in ["cpu", "memory"] {
                    assert!(
                        out.lines()
                            .any(|l| l.contains(&format!(":{ctl}:/drover/{name}"))),
                        "{ctl} cgroup {name}: {out}"
                    );
                }
                std::fs::remove_file(sandbox.join("stdout")).unwrap();
            }
            l.cgroups.drain_pool();
        }

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

    #[tokio::test]
    async fn shell_tasks_run_in_their_own_session_in_the_sandbox() {
        let d = tempfile::tempdir().unwrap();
        // `cat /proc/self/stat`: the session and process group of the shell's child.
        let s = spec(
            d.path(),
            &[
                "/bin/sh",
                "-c",
                "echo $$; cat /proc/self/stat; pwd; echo \"$FOO\"; yes | head -1; exit 3",
            ],
        );
        let mut p = launcher().spawn(&s).unwrap();
        let pid = p.id().unwrap();
        let status = p.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        let out = std::fs::read_to_string(s.sandbox.join("stdout")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            pid.to_string(),
            "the task is the spawned process: {out}"
        );
        let stat = lines[1];
        let after: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        assert_eq!(after[2], pid.to_string(), "process group = task: {stat}");
        assert_eq!(after[3], pid.to_string(), "session = task: {stat}");
        assert_eq!(lines[2], s.sandbox.display().to_string());
        assert_eq!(lines[3], "it's \"quoted\" $HOME");
        assert_eq!(lines[4], "y");
        // SIGPIPE is the default again in the task (the agent ignores it): `yes` dies quietly.
        let err = std::fs::read_to_string(s.sandbox.join("stderr")).unwrap();
        assert_eq!(err, "", "stderr");
    }

    #[tokio::test]
    async fn argv_tasks_are_execed_with_their_arguments_and_signals_show() {
        let d = tempfile::tempdir().unwrap();
        let s = spec(d.path(), &["printf", "%s|", "a b", "it's", "$FOO"]);
        let mut p = launcher().spawn(&s).unwrap();
        assert!(p.wait().await.unwrap().success());
        let out = std::fs::read_to_string(s.sandbox.join("stdout")).unwrap();
        assert_eq!(out, "a b|it's|$FOO|");

        let s = spec(d.path(), &["sleep", "30"]);
        let mut p = launcher().spawn(&s).unwrap();
        signal_group(p.id().unwrap(), nix::sys::signal::Signal::SIGTERM);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(p.wait().await.unwrap().signal(), Some(15));

        let e = launcher()
            .spawn(&spec(d.path(), &["no-such-program-here"]))
            .err()
            .expect("a missing program fails the launch");
        assert!(e.to_string().contains("no-such-program-here"), "{e}");
    }

    #[test]
    fn shell_commands_keep_one_shell_and_quoting_survives() {
        assert_eq!(prelude(0), "");
        assert_eq!(prelude(1), "echo 0 >&3 || exit 127\nexec 3>&-\n");
        assert_eq!(
            prelude(2),
            "echo 0 >&3 && echo 0 >&4 || exit 127\nexec 3>&- 4>&-\n"
        );
        let sh = with_prelude("P\n", &["/bin/sh".into(), "-c".into(), "true".into()]);
        assert_eq!(sh, ["/bin/sh", "-c", "P\ntrue"]);
        let argv = with_prelude("P\n", &["ls".into(), "-l".into()]);
        assert_eq!(argv, ["/bin/sh", "-c", "P\nexec \"$0\" \"$@\"", "ls", "-l"]);
    }

    #[test]
    fn a_process_start_time_and_usage_come_from_proc() {
        let me = std::process::id();
        let start = process_start_time(me).expect("our own start time");
        assert_eq!(process_start_time(me), Some(start));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let later = process_start_time(child.id()).expect("the child's start time");
        assert!(later >= start, "{later} < {start}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            process_start_time(child.id()),
            None,
            "a reaped child is gone"
        );
        let (rss, _cpu) = process_usage(me).expect("our own usage");
        assert!(rss > 0);
    }

    #[test]
    fn programs_resolve_as_execvp_would() {
        let env = |path: &str| vec![("PATH".to_string(), path.to_string())];
        let root = Path::new("/");
        assert_eq!(
            resolve_program("sh", &env("/nonexistent:/bin"), root).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            resolve_program("/bin/sh", &env(""), root).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let missing =
            resolve_program("no-such-program-here", &env("/bin:/usr/bin"), root).unwrap_err();
        assert_eq!(missing.raw_os_error(), Some(nix::libc::ENOENT));
        assert_eq!(
            resolve_program("/no/such/file", &env("/bin"), root)
                .unwrap_err()
                .raw_os_error(),
            Some(nix::libc::ENOENT)
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("plain"), "not executable").unwrap();
        assert_eq!(
            resolve_program("./plain", &env(""), d.path())
                .unwrap_err()
                .raw_os_error(),
            Some(nix::libc::EACCES)
        );
        std::fs::create_dir(d.path().join("bin")).unwrap();
        std::fs::copy("/bin/sh", d.path().join("bin").join("tool")).unwrap();
        assert_eq!(
            resolve_program("bin/tool", &env(""), d.path()).unwrap(),
            d.path().join("bin/tool"),
            "relative to the sandbox"
        );
        assert_eq!(
            resolve_program("tool", &env("bin"), d.path()).unwrap(),
            d.path().join("bin/tool"),
            "relative PATH entries too"
        );
        assert!(
            resolve_program(d.path().to_str().unwrap(), &env(""), root).is_err(),
            "a directory does not run"
        );
    }
}
