//! The `process` containerizer: start a command in its sandbox, in its own session, with
//! stdout/stderr going to files in the sandbox, optionally inside a cgroup (v1 or v2) that limits
//! cpu and memory. Killing is SIGTERM to the whole session, then SIGKILL after the grace period.
//!
//! How a task is started: fork(2) copies the page tables of the whole agent (with `drover up`, of
//! the master too), and every page the agent then writes faults once more; that cost grows with
//! the agent's memory (4–6 ms per task with `drover up` at a few hundred tasks in flight). So the
//! agent uses posix_spawn(3) (vfork: no copy) with `POSIX_SPAWN_SETSID`, and the process it
//! starts is `/bin/sh`, which joins the container's cgroups (`echo 0 > cgroup.procs`) and enters
//! the sandbox before anything of the task runs: a shell command is that same shell (one exec
//! per task, as Mesos' `sh -c`), an argv command is `exec`'d by it. (Re-executing `drover` itself
//! as such a shim cost ~1.4 ms of CPU per task more than `sh`: the dynamic loader relocating a
//! large binary, and its page faults.) The child is waited for through a pidfd. Where a uid
//! switch is needed it is fork with the same steps between fork and exec.

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
    pub user: Option<String>,
    pub limits: Option<Limits>,
    pub container_id: String,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cpus: f64,
    pub mem_mb: f64,
}

/// Cgroup support found on this host.
#[derive(Clone, Debug)]
pub enum Cgroups {
    None(String),
    /// `cfs`: write a CFS quota (a hard cap) besides the weight.
    V1 {
        cpu: PathBuf,
        memory: PathBuf,
        cfs: bool,
        pool: Arc<Pool>,
    },
    V2 {
        root: PathBuf,
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
                    return Cgroups::V2 { root: dir, cfs };
                }
            }
        }
        let cpu = root.join("cpu");
        let memory = root.join("memory");
        if cpu.join("cpu.shares").exists() && memory.join("memory.limit_in_bytes").exists() {
            let (c, m) = (cpu.join("drover"), memory.join("drover"));
            match (std::fs::create_dir_all(&c), std::fs::create_dir_all(&m)) {
                (Ok(()), Ok(())) => {
                    Pool::remove_stale(&c, &m);
                    return Cgroups::V1 {
                        cpu: c,
                        memory: m,
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
                let c = cpu.join(container_id);
                let m = memory.join(container_id);
                let want = Written::of(limits, *cfs);
                // Write what differs from what the pair was given before.
                let write = |had: Written| -> std::io::Result<()> {
                    if had.shares != want.shares {
                        std::fs::write(c.join("cpu.shares"), want.shares.to_string())?;
                    }
                    // The period stays the kernel's default, 100 ms (also what v2's cpu.max
                    // says): each write of the period or the quota makes the kernel walk every
                    // cpu cgroup on the host (tg_set_cfs_bandwidth), under one global mutex.
                    if had.quota != want.quota {
                        let q = want.quota.map(|q| q as i64).unwrap_or(-1);
                        std::fs::write(c.join("cpu.cfs_quota_us"), q.to_string())?;
                    }
                    if had.mem != want.mem {
                        let v = want.mem.map(|b| b as i64).unwrap_or(-1);
                        std::fs::write(m.join("memory.limit_in_bytes"), v.to_string())?;
                    }
                    Ok(())
                };
                let fresh = || -> std::io::Result<()> {
                    std::fs::create_dir_all(&c)?;
                    std::fs::create_dir_all(&m)?;
                    write(Written::default())
                };
                // A pooled pair, renamed to this container; a new pair when there is none or the
                // reused one takes no new limit (memory in use above it).
                match pool.take(cpu, memory, container_id) {
                    Some(had) if write(had).is_ok() => {}
                    Some(_) => {
                        let _ = std::fs::remove_dir(&c);
                        let _ = std::fs::remove_dir(&m);
                        fresh()?;
                    }
                    None => fresh()?,
                }
                pool.written(container_id, want);
                Ok(true)
            })(),
            Cgroups::V2 { root, cfs } => (|| -> std::io::Result<bool> {
                let d = root.join(container_id);
                std::fs::create_dir_all(&d)?;
                if *cfs {
                    let quota = ((limits.cpus * 100_000.0) as u64).max(1000);
                    std::fs::write(d.join("cpu.max"), format!("{quota} 100000"))?;
                }
                let weight = ((limits.cpus * 100.0) as u64).clamp(1, 10_000);
                std::fs::write(d.join("cpu.weight"), weight.to_string())?;
                if limits.mem_mb > 0.0 {
                    let bytes = (limits.mem_mb * 1024.0 * 1024.0) as u64;
                    std::fs::write(d.join("memory.max"), bytes.to_string())?;
                    let _ = std::fs::write(d.join("memory.swap.max"), "0");
                }
                Ok(true)
            })(),
        };
        r.unwrap_or_else(|e| {
            tracing::warn!(container_id, "could not apply cgroup limits: {e}");
            false
        })
    }

    /// The `cgroup.procs` files a process writes "0" to, to join the container's cgroups.
    pub fn procs_files(&self, container_id: &str) -> Vec<PathBuf> {
        match self {
            Cgroups::None(_) => vec![],
            Cgroups::V1 { cpu, memory, .. } => {
                vec![
                    cpu.join(container_id).join("cgroup.procs"),
                    memory.join(container_id).join("cgroup.procs"),
                ]
            }
            Cgroups::V2 { root, .. } => vec![root.join(container_id).join("cgroup.procs")],
        }
    }

    /// Whether the kernel OOM-killed something in this container's cgroup.
    pub fn oom_killed(&self, container_id: &str) -> bool {
        let text = match self {
            Cgroups::None(_) => return false,
            Cgroups::V1 { memory, .. } => {
                std::fs::read_to_string(memory.join(container_id).join("memory.oom_control"))
            }
            Cgroups::V2 { root, .. } => {
                std::fs::read_to_string(root.join(container_id).join("memory.events"))
            }
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
        match self {
            Cgroups::None(_) => None,
            Cgroups::V1 { cpu, memory, .. } => {
                let acct = cpu
                    .parent()?
                    .parent()?
                    .join("cpuacct")
                    .join("drover")
                    .join(container_id)
                    .join("cpuacct.usage");
                let cpu_ns: u64 = std::fs::read_to_string(acct)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                let mem: u64 = std::fs::read_to_string(
                    memory.join(container_id).join("memory.usage_in_bytes"),
                )
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
                let _ = cpu;
                Some((cpu_ns as f64 / 1e9, mem))
            }
            Cgroups::V2 { root, .. } => {
                let d = root.join(container_id);
                let stat = std::fs::read_to_string(d.join("cpu.stat")).ok()?;
                let usec: u64 = stat
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("usage_usec ")
                            .and_then(|v| v.trim().parse().ok())
                    })
                    .unwrap_or(0);
                let mem: u64 = std::fs::read_to_string(d.join("memory.current"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                Some((usec as f64 / 1e6, mem))
            }
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
                if oom_killed || !pool.give_back(cpu, memory, container_id) {
                    let _ = std::fs::remove_dir(cpu.join(container_id));
                    let _ = std::fs::remove_dir(memory.join(container_id));
                }
            }
            Cgroups::V2 { root, .. } => {
                let _ = std::fs::remove_dir(root.join(container_id));
            }
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

/// Empty v1 cgroup pairs (cpu, memory) kept for the next container. Creating and removing a
/// cgroup is most of what a short task costs the kernel (per-cgroup state and ~30 control files
/// for the memory controller); a pair that held a task that ended cleanly is renamed to the next
/// container instead, and only limits that differ are written. cgroup v1 renames within a parent
/// only, so pooled pairs sit beside the containers' as `pool-<agent pid>-<n>`. Not reused: a
/// pair with a process left in it or an OOM kill in its history.
#[derive(Debug, Default)]
pub struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    free: Vec<(String, Written)>,
    /// What each live container's pair was given.
    live: std::collections::HashMap<String, Written>,
}

/// Enough for bursts of short tasks; beyond it pairs are removed as before.
const POOL_MAX: usize = 512;

/// The most memory still charged to an ended container's cgroup for it to be emptied and kept.
const POOL_MAX_CHARGED: u64 = 8 << 20;

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn written(&self, cid: &str, w: Written) {
        self.lock().live.insert(cid.to_string(), w);
    }

    /// Rename a pooled pair to `cid`; what it was given. None: no pair (or it could not be
    /// renamed: then it is removed).
    fn take(&self, cpu: &Path, memory: &Path, cid: &str) -> Option<Written> {
        let (name, w) = self.lock().free.pop()?;
        rename_pair(cpu, memory, &name, cid).then_some(w)
    }

    /// Keep `cid`'s pair for later if it is empty and clean (the caller knows it saw no OOM
    /// kill); whether it was kept or is gone.
    fn give_back(&self, cpu: &Path, memory: &Path, cid: &str) -> bool {
        let written = self.lock().live.remove(cid);
        let Some(w) = written else { return false };
        if self.lock().free.len() >= POOL_MAX {
            return false;
        }
        let m = memory.join(cid);
        let empty = |dir: &Path| {
            std::fs::read(dir.join("cgroup.procs"))
                .map(|b| b.is_empty())
                .unwrap_or(false)
        };
        // Little still charged to it (the task's page cache): emptying it is quick. A big one is
        // removed instead — rmdir hands its charges to the parent without reclaiming them, where
        // force_empty would reclaim them all, on the agent's thread.
        let small = std::fs::read_to_string(m.join("memory.usage_in_bytes"))
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|b| b <= POOL_MAX_CHARGED);
        if !(small && empty(&m) && empty(&cpu.join(cid))) {
            return false;
        }
        // Hand back the pages still charged to it, so the next container starts from nothing.
        let _ = std::fs::write(m.join("memory.force_empty"), "0");
        // Unique in the process: `drover up` runs several agents, each with its own pool, in one.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("pool-{}-{n}", std::process::id());
        if rename_pair(cpu, memory, cid, &name) {
            self.lock().free.push((name, w));
        }
        true
    }

    fn drain(&self, cpu: &Path, memory: &Path) {
        let free = std::mem::take(&mut self.lock().free);
        for (name, _) in free {
            let _ = std::fs::remove_dir(cpu.join(&name));
            let _ = std::fs::remove_dir(memory.join(&name));
        }
    }

    /// Pooled pairs of agents that are gone (killed before they could drain their pool).
    fn remove_stale(cpu: &Path, memory: &Path) {
        for dir in [cpu, memory] {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let Some(pid) = name
                    .strip_prefix("pool-")
                    .and_then(|r| r.split('-').next())
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }
}

/// Rename a v1 cgroup pair (cpu and memory) from `from` to `to`; whether both moved. Half
/// renamed, whatever is left under either name is removed.
fn rename_pair(cpu: &Path, memory: &Path, from: &str, to: &str) -> bool {
    let c = std::fs::rename(cpu.join(from), cpu.join(to));
    let m = std::fs::rename(memory.join(from), memory.join(to));
    if c.is_ok() && m.is_ok() {
        return true;
    }
    for (dir, r) in [(cpu, c), (memory, m)] {
        let _ = std::fs::remove_dir(dir.join(if r.is_ok() { to } else { from }));
    }
    false
}

/// Starts processes. A trait so the agent's logic can be driven with a recording fake.
pub trait Launcher: Send + Sync {
    fn spawn(&self, spec: &ProcessSpec) -> Result<Process, LaunchError>;
}

pub struct ProcessLauncher {
    pub cgroups: Cgroups,
    /// Switch to the task's user (needs root); when false, tasks run as the agent's user.
    pub switch_user: bool,
}

/// A started task process.
pub enum Process {
    /// Started by posix_spawn; its end is seen through a pidfd.
    Spawned {
        pid: u32,
        pidfd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    },
    /// Started by fork (a uid switch), through tokio.
    Forked(tokio::process::Child),
}

impl Process {
    pub fn id(&self) -> Option<u32> {
        match self {
            Process::Spawned { pid, .. } => Some(*pid),
            Process::Forked(c) => c.id(),
        }
    }

    /// Wait for the process to end and reap it.
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        use std::os::fd::AsFd;
        use std::os::unix::process::ExitStatusExt;
        let pidfd = match self {
            Process::Forked(c) => return c.wait().await,
            Process::Spawned { pidfd, .. } => pidfd,
        };
        loop {
            let mut ready = pidfd.readable().await?;
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG;
            match waitid(Id::PIDFd(pidfd.get_ref().as_fd()), flags) {
                // The raw wait status, as waitpid(2) encodes it.
                Ok(WaitStatus::Exited(_, code)) => {
                    return Ok(std::process::ExitStatus::from_raw((code & 0xff) << 8))
                }
                Ok(WaitStatus::Signaled(_, sig, core)) => {
                    return Ok(std::process::ExitStatus::from_raw(
                        sig as i32 | if core { 0x80 } else { 0 },
                    ))
                }
                Ok(_) => ready.clear_ready(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Single-quote `s` for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the task's shell runs before the task: join the container's cgroups, enter the sandbox.
/// Exit status 127 (a shell's "could not run") when either fails; the shell's message is in the
/// sandbox's stderr.
fn prelude(cgroup_procs: &[PathBuf], sandbox: &Path) -> String {
    let mut steps: Vec<String> = cgroup_procs
        .iter()
        .map(|p| format!("echo 0 >{}", sh_quote(&p.to_string_lossy())))
        .collect();
    steps.push(format!("cd {}", sh_quote(&sandbox.to_string_lossy())));
    format!("{} || exit 127\n", steps.join(" && "))
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

/// posix_spawn `argv` (through `/bin/sh`, see `with_prelude`) in a new session with these stdio
/// files and exactly this environment; the pidfd to wait on.
fn spawn_in_session(
    argv: &[String],
    env: &[(String, String)],
    stdio: [&std::fs::File; 3],
) -> std::io::Result<Process> {
    use nix::spawn::{posix_spawn, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let cstr = |s: String| {
        CString::new(s).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a NUL byte in the command or environment",
            )
        })
    };
    let args: Vec<CString> = argv.iter().cloned().map(cstr).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let mut attr = PosixSpawnAttr::init()?;
    // A new session; no blocked signals; every signal's disposition reset — the agent ignores
    // SIGPIPE (Rust does), which a task must not inherit.
    attr.set_flags(
        PosixSpawnFlags::from_bits_retain(nix::libc::POSIX_SPAWN_SETSID as i32)
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
            | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    attr.set_sigmask(&nix::sys::signal::SigSet::empty())?;
    let mut defaults = nix::sys::signal::SigSet::all();
    defaults.remove(nix::sys::signal::Signal::SIGKILL);
    defaults.remove(nix::sys::signal::Signal::SIGSTOP);
    attr.set_sigdefault(&defaults)?;
    let mut actions = PosixSpawnFileActions::init()?;
    for (i, f) in stdio.iter().enumerate() {
        actions.add_dup2(f.as_raw_fd(), i as i32)?;
    }
    let pid = posix_spawn(Path::new("/bin/sh"), &actions, &attr, &args, &envp)?;
    Ok(Process::Spawned {
        pid: pid.as_raw() as u32,
        pidfd: pidfd_open(pid.as_raw())?,
    })
}

/// A pidfd for our own child, registered with the runtime: readable once the child has ended.
/// (It cannot be reaped, hence its pid not reused, before we wait on it.)
#[allow(unsafe_code)]
fn pidfd_open(pid: i32) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open(2) takes two integers and returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and nothing else owns it.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open, the same descriptor, until the
    // AsyncFd is dropped.
    let afd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    };
    Ok(afd?)
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
        std::fs::create_dir_all(&spec.sandbox).map_err(sandbox_err)?;
        let open_out = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(spec.sandbox.join(name))
                .map_err(sandbox_err)
        };
        let stdout = open_out("stdout")?;
        let stderr = open_out("stderr")?;
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
        let procs = if joined {
            self.cgroups.procs_files(&spec.container_id)
        } else {
            vec![]
        };
        let Some(u) = user else {
            // A command that cannot start fails the launch, as exec would.
            resolve_program(program, &spec.env, &spec.sandbox).map_err(exec_err)?;
            let stdin = std::fs::File::open("/dev/null").map_err(exec_err)?;
            let argv = with_prelude(&prelude(&procs, &spec.sandbox), &spec.argv);
            return spawn_in_session(&argv, &spec.env, [&stdin, &stdout, &stderr])
                .map_err(exec_err);
        };
        for f in ["", "stdout", "stderr"] {
            let _ = nix::unistd::chown(&spec.sandbox.join(f), Some(u.uid), Some(u.gid));
        }
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&spec.sandbox)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .uid(u.uid.as_raw())
            .gid(u.gid.as_raw())
            .kill_on_drop(false);
        let open = |p: &PathBuf| std::fs::OpenOptions::new().write(true).open(p);
        let files: Vec<std::fs::File> = procs.iter().filter_map(|p| open(p).ok()).collect();
        use std::os::fd::AsRawFd;
        before_exec(&mut cmd, files.iter().map(|f| f.as_raw_fd()).collect());
        let child = cmd.spawn().map_err(exec_err);
        drop(files);
        child.map(Process::Forked)
    }
}

/// Between fork and exec: start a new session (signals to the agent's terminal never reach
/// tasks; a kill reaches every process the task started) and join the container's cgroups by
/// writing "0" (= this process) to their already-open `cgroup.procs`.
#[allow(unsafe_code)]
fn before_exec(cmd: &mut tokio::process::Command, cgroup_procs: Vec<i32>) {
    // SAFETY: only async-signal-safe calls run in the child: setsid(2) and write(2) on file
    // descriptors the parent opened and keeps open until spawn returns; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            for &fd in &cgroup_procs {
                let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
                nix::unistd::write(fd, b"0").map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
}

/// Send a signal to a task's whole session (its process group, which setsid made equal to its pid).
pub fn signal_group(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// The start time of a process (clock ticks since boot), to tell a re-used pid from ours.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields follow the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // State is field 3 overall (index 0 here); a zombie is as good as gone.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Resident memory and cpu time of a process from /proc (bytes, seconds).
pub fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
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
            user: None,
            limits: None,
            container_id: "c1".into(),
        }
    }

    fn launcher() -> ProcessLauncher {
        ProcessLauncher {
            cgroups: Cgroups::None("test".into()),
            switch_user: false,
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

    /// Real cgroups (these machines have v1 and run tests as root): a pair goes back to the
    /// pool when its container ends cleanly, is renamed to the next container with only the
    /// changed limits written, and nothing is left after a drain.
    #[test]
    fn cgroup_pairs_are_reused_with_their_new_limits_and_drained() {
        let cg = Cgroups::detect(Path::new("/sys/fs/cgroup"), true);
        let Cgroups::V1 { cpu, memory, .. } = &cg else {
            panic!(
                "these machines have cgroup v1 cpu and memory: {}",
                cg.describe()
            );
        };
        let (cpu, memory) = (cpu.clone(), memory.clone());
        let id = |n: &str| format!("pool-test-{}-{n}", std::process::id());
        let (a, b, c) = (id("a"), id("b"), id("c"));
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
        assert_eq!(read(&cpu.join(&a), "cpu.shares"), "512");
        cg.destroy(&a);
        assert!(!cpu.join(&a).exists() && !memory.join(&a).exists());
        let pooled = |dir: &Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("pool-{}-", std::process::id()))
                })
                .count()
        };
        assert_eq!((pooled(&cpu), pooled(&memory)), (1, 1));
        // The pooled pair becomes b's, with b's limits.
        let big = Limits {
            cpus: 2.0,
            mem_mb: 64.0,
        };
        assert!(cg.prepare(&b, big));
        assert_eq!((pooled(&cpu), pooled(&memory)), (0, 0));
        assert_eq!(read(&cpu.join(&b), "cpu.shares"), "2048");
        assert_eq!(read(&cpu.join(&b), "cpu.cfs_quota_us"), "200000");
        assert_eq!(
            read(&memory.join(&b), "memory.limit_in_bytes"),
            (64u64 << 20).to_string()
        );
        // A pair with a process in it is not pooled.
        assert!(cg.prepare(&c, small));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::fs::write(memory.join(&c).join("cgroup.procs"), child.id().to_string()).unwrap();
        cg.destroy(&c);
        assert!(memory.join(&c).exists(), "a busy cgroup stays where it is");
        child.kill().unwrap();
        child.wait().unwrap();
        cg.destroy(&b);
        assert_eq!(pooled(&cpu), 1);
        cg.drain_pool();
        assert_eq!((pooled(&cpu), pooled(&memory)), (0, 0));
        for dir in [&cpu, &memory] {
            let _ = std::fs::remove_dir(dir.join(&c));
        }
    }

    #[test]
    fn shell_commands_keep_one_shell_and_quoting_survives() {
        let p = prelude(&[PathBuf::from("/cg/it's/cgroup.procs")], Path::new("/sb"));
        assert_eq!(
            p,
            "echo 0 >'/cg/it'\\''s/cgroup.procs' && cd '/sb' || exit 127\n"
        );
        let sh = with_prelude("P\n", &["/bin/sh".into(), "-c".into(), "true".into()]);
        assert_eq!(sh, ["/bin/sh", "-c", "P\ntrue"]);
        let argv = with_prelude("P\n", &["ls".into(), "-l".into()]);
        assert_eq!(argv, ["/bin/sh", "-c", "P\nexec \"$0\" \"$@\"", "ls", "-l"]);
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
