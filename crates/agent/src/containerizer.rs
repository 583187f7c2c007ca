//! The `process` containerizer: fork/exec a command in its sandbox, in its own session, with
//! stdout/stderr going to files in the sandbox, optionally inside a cgroup (v1 or v2) that limits
//! cpu and memory. Killing is SIGTERM to the whole session, then SIGKILL after the grace period.
//!
//! How a task is started: fork(2) copies the page tables of the whole agent (with `drover up`, of
//! the master too), and every page the agent then writes faults once more; that cost grows with
//! the agent's memory and was most of a launch's CPU (4–6 ms per task with `drover up` at a few
//! hundred tasks in flight). So when the binary offers the exec shim (`task_exec_shim`, which
//! `drover` calls first thing), the agent starts `/proc/self/exe` with posix_spawn(3) (vfork: no
//! copy), and that shim — already the task's process — starts the session, joins the cgroups and
//! execs the command: same pid, session, cgroups, sandbox, environment and stdio as before. Where
//! a uid switch is needed, or in a binary without the shim, it is fork with the same steps
//! between fork and exec.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The argument that makes the binary the exec shim.
const SHIM_ARG: &str = "__drover-task-exec";

/// Set by `task_exec_shim`: this binary can be its own exec shim.
static SHIM: AtomicBool = AtomicBool::new(false);

/// Call first thing in `main`, before any thread starts. Started as the exec shim
/// (`<exe> __drover-task-exec <cgroup.procs>... -- <argv>...`): start a session, join the cgroups,
/// exec the command; never returns (exit status 127 when that fails, as a shell's). Otherwise:
/// remember that the agent may start tasks through it, and return.
pub fn task_exec_shim() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(SHIM_ARG)) {
        SHIM.store(true, Ordering::Relaxed);
        return;
    }
    let rest: Vec<OsString> = args.collect();
    let fail = |what: String| -> ! {
        eprintln!("drover: {what}");
        std::process::exit(127)
    };
    let Some(sep) = rest.iter().position(|a| a == "--") else {
        fail("exec shim: no '--' before the command".into())
    };
    let (cgroup_procs, argv) = (&rest[..sep], &rest[sep + 1..]);
    let Some((program, args)) = argv.split_first() else {
        fail("exec shim: empty command".into())
    };
    if let Err(e) = nix::unistd::setsid() {
        fail(format!("setsid: {e}"));
    }
    for p in cgroup_procs {
        if let Err(e) = std::fs::write(p, b"0") {
            fail(format!("joining cgroup {}: {e}", Path::new(p).display()));
        }
    }
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(program).args(args).exec();
    fail(format!(
        "failed to execute '{}': {e}",
        program.to_string_lossy()
    ))
}

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
    V1 { cpu: PathBuf, memory: PathBuf },
    V2 { root: PathBuf },
}

impl Cgroups {
    /// Find a writable cgroup hierarchy for `drover` containers, or say why there is none.
    pub fn detect(root: &Path) -> Cgroups {
        let unified = root.join("cgroup.controllers");
        if let Ok(c) = std::fs::read_to_string(&unified) {
            if c.contains("memory") && c.contains("cpu") {
                let dir = root.join("drover");
                if std::fs::create_dir_all(&dir).is_ok() {
                    let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu +memory");
                    let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory");
                    return Cgroups::V2 { root: dir };
                }
            }
        }
        let cpu = root.join("cpu");
        let memory = root.join("memory");
        if cpu.join("cpu.shares").exists() && memory.join("memory.limit_in_bytes").exists() {
            let (c, m) = (cpu.join("drover"), memory.join("drover"));
            match (std::fs::create_dir_all(&c), std::fs::create_dir_all(&m)) {
                (Ok(()), Ok(())) => return Cgroups::V1 { cpu: c, memory: m },
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
            Cgroups::V1 { .. } => "cgroups v1 (cpu, memory)".into(),
            Cgroups::V2 { .. } => "cgroups v2 (cpu, memory)".into(),
        }
    }

    /// Create the container's cgroup with these limits and open its `cgroup.procs` files, so
    /// the child can join before it execs (a shell would otherwise fork children outside).
    /// Errors are logged: a task without limits is better than no task, and the log says so.
    pub fn prepare(&self, container_id: &str, limits: Limits) -> Vec<std::fs::File> {
        let open = |p: PathBuf| std::fs::OpenOptions::new().write(true).open(p);
        let r = match self {
            Cgroups::None(_) => Ok(vec![]),
            Cgroups::V1 { cpu, memory } => (|| -> std::io::Result<Vec<std::fs::File>> {
                let c = cpu.join(container_id);
                let m = memory.join(container_id);
                std::fs::create_dir_all(&c)?;
                std::fs::create_dir_all(&m)?;
                let shares = ((limits.cpus * 1024.0) as u64).max(2);
                std::fs::write(c.join("cpu.shares"), shares.to_string())?;
                // The period stays the kernel's default, 100 ms (also what v2's cpu.max says): each
                // write of the period or the quota makes the kernel walk every cpu cgroup on the
                // host (tg_set_cfs_bandwidth), under one global mutex.
                let quota = ((limits.cpus * 100_000.0) as u64).max(1000);
                std::fs::write(c.join("cpu.cfs_quota_us"), quota.to_string())?;
                if limits.mem_mb > 0.0 {
                    let bytes = (limits.mem_mb * 1024.0 * 1024.0) as u64;
                    std::fs::write(m.join("memory.limit_in_bytes"), bytes.to_string())?;
                }
                Ok(vec![
                    open(c.join("cgroup.procs"))?,
                    open(m.join("cgroup.procs"))?,
                ])
            })(),
            Cgroups::V2 { root } => (|| -> std::io::Result<Vec<std::fs::File>> {
                let d = root.join(container_id);
                std::fs::create_dir_all(&d)?;
                let quota = ((limits.cpus * 100_000.0) as u64).max(1000);
                std::fs::write(d.join("cpu.max"), format!("{quota} 100000"))?;
                let weight = ((limits.cpus * 100.0) as u64).clamp(1, 10_000);
                std::fs::write(d.join("cpu.weight"), weight.to_string())?;
                if limits.mem_mb > 0.0 {
                    let bytes = (limits.mem_mb * 1024.0 * 1024.0) as u64;
                    std::fs::write(d.join("memory.max"), bytes.to_string())?;
                    let _ = std::fs::write(d.join("memory.swap.max"), "0");
                }
                Ok(vec![open(d.join("cgroup.procs"))?])
            })(),
        };
        r.unwrap_or_else(|e| {
            tracing::warn!(container_id, "could not apply cgroup limits: {e}");
            vec![]
        })
    }

    /// The `cgroup.procs` files a process writes "0" to, to join the container's cgroups.
    pub fn procs_files(&self, container_id: &str) -> Vec<PathBuf> {
        match self {
            Cgroups::None(_) => vec![],
            Cgroups::V1 { cpu, memory } => {
                vec![
                    cpu.join(container_id).join("cgroup.procs"),
                    memory.join(container_id).join("cgroup.procs"),
                ]
            }
            Cgroups::V2 { root } => vec![root.join(container_id).join("cgroup.procs")],
        }
    }

    /// Whether the kernel OOM-killed something in this container's cgroup.
    pub fn oom_killed(&self, container_id: &str) -> bool {
        let text = match self {
            Cgroups::None(_) => return false,
            Cgroups::V1 { memory, .. } => {
                std::fs::read_to_string(memory.join(container_id).join("memory.oom_control"))
            }
            Cgroups::V2 { root } => {
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
            Cgroups::V1 { cpu, memory } => {
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
            Cgroups::V2 { root } => {
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

    /// Remove the container's cgroup directories once its processes are gone.
    pub fn destroy(&self, container_id: &str) {
        match self {
            Cgroups::None(_) => {}
            Cgroups::V1 { cpu, memory } => {
                let _ = std::fs::remove_dir(cpu.join(container_id));
                let _ = std::fs::remove_dir(memory.join(container_id));
            }
            Cgroups::V2 { root } => {
                let _ = std::fs::remove_dir(root.join(container_id));
            }
        }
    }
}

/// Starts processes. A trait so the agent's logic can be driven with a recording fake.
pub trait Launcher: Send + Sync {
    fn spawn(&self, spec: &ProcessSpec) -> Result<tokio::process::Child, LaunchError>;
}

pub struct ProcessLauncher {
    pub cgroups: Cgroups,
    /// Switch to the task's user (needs root); when false, tasks run as the agent's user.
    pub switch_user: bool,
}

impl Launcher for ProcessLauncher {
    fn spawn(&self, spec: &ProcessSpec) -> Result<tokio::process::Child, LaunchError> {
        let (program, args) = spec.argv.split_first().ok_or(LaunchError::EmptyCommand)?;
        let sandbox_err = |source| LaunchError::Sandbox {
            path: spec.sandbox.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&spec.sandbox).map_err(sandbox_err)?;
        let stdout = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.sandbox.join("stdout"))
            .map_err(sandbox_err)?;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.sandbox.join("stderr"))
            .map_err(sandbox_err)?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&spec.sandbox)
            .stdin(std::process::Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(false);
        let mut switch_user = false;
        if self.switch_user && nix::unistd::geteuid().is_root() {
            if let Some(user) = spec.user.as_deref().filter(|u| !u.is_empty()) {
                let u = nix::unistd::User::from_name(user)
                    .ok()
                    .flatten()
                    .ok_or_else(|| LaunchError::NoSuchUser(user.to_string()))?;
                if !u.uid.is_root() {
                    let _ = nix::unistd::chown(&spec.sandbox, Some(u.uid), Some(u.gid));
                    let _ =
                        nix::unistd::chown(&spec.sandbox.join("stdout"), Some(u.uid), Some(u.gid));
                    let _ =
                        nix::unistd::chown(&spec.sandbox.join("stderr"), Some(u.uid), Some(u.gid));
                    cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
                    switch_user = true;
                }
            }
        }
        let cgroup_files = match spec.limits {
            Some(l) => self.cgroups.prepare(&spec.container_id, l),
            None => vec![],
        };
        if SHIM.load(Ordering::Relaxed) && !switch_user {
            // A command that cannot start fails the launch, as with fork.
            resolve_program(program, &spec.env, &spec.sandbox).map_err(|source| {
                LaunchError::Exec {
                    program: program.clone(),
                    source,
                }
            })?;
            let procs = if cgroup_files.is_empty() {
                vec![]
            } else {
                self.cgroups.procs_files(&spec.container_id)
            };
            drop(cmd);
            let stdout = std::fs::OpenOptions::new()
                .append(true)
                .open(spec.sandbox.join("stdout"))
                .map_err(sandbox_err)?;
            let stderr = std::fs::OpenOptions::new()
                .append(true)
                .open(spec.sandbox.join("stderr"))
                .map_err(sandbox_err)?;
            // The same command, environment, directory and stdio, through the shim. Nothing runs
            // between fork and exec here, so std uses posix_spawn.
            let mut shim = tokio::process::Command::new("/proc/self/exe");
            shim.arg(SHIM_ARG)
                .args(&procs)
                .arg("--")
                .arg(program)
                .args(args)
                .env_clear()
                .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .current_dir(&spec.sandbox)
                .stdin(std::process::Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .kill_on_drop(false);
            return shim.spawn().map_err(|source| LaunchError::Exec {
                program: program.clone(),
                source,
            });
        }
        use std::os::fd::AsRawFd;
        let fds: Vec<i32> = cgroup_files.iter().map(|f| f.as_raw_fd()).collect();
        before_exec(&mut cmd, fds);
        let child = cmd.spawn().map_err(|source| LaunchError::Exec {
            program: program.clone(),
            source,
        });
        drop(cgroup_files);
        child
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
