//! Starting a process container's process: a command in its sandbox, in its own session, with
//! stdout/stderr going to files in the sandbox, inside its cgroups (v1 or v2) when it has limits.
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

use super::cgroups::Cgroups;
use super::error::SpawnError;
use super::leader::Process;
use crate::containerizer::Limits;
use crate::dirfd::Dir;
use crate::spawner::Local;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

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

pub struct ProcessLauncher {
    pub cgroups: Cgroups,
    /// Switch to the task's user (needs root); when false, tasks run as the agent's user.
    pub switch_user: bool,
    /// Where tasks are started from (see `spawner`).
    pub spawner: crate::spawner::Spawner,
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

impl ProcessLauncher {
    /// Start `spec`'s process; it runs once this returns.
    pub fn spawn(&self, spec: &ProcessSpec) -> Result<Process, SpawnError> {
        let (program, args) = spec.argv.split_first().ok_or(SpawnError::EmptyCommand)?;
        let sandbox_err = |source| SpawnError::Sandbox {
            path: spec.sandbox.display().to_string(),
            source,
        };
        let exec_err = |source| SpawnError::Exec {
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
                        .ok_or_else(|| SpawnError::NoSuchUser(user.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::leader::signal_group;

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

    /// Tests over the host's real cgroup v1 cpu and memory hierarchies (see
    /// `process::have_cgroups_v1`).
    mod needs_cgroups_v1 {
        use super::*;
        use crate::process::have_cgroups_v1;

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
        let pid = p.leader().pid();
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
        signal_group(p.leader().pid(), nix::sys::signal::Signal::SIGTERM);
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
