//! Every raw call into the C library or the kernel the agent makes, and nothing else: starting a
//! task's process (posix_spawn(3) in a new session; fork with setsid(2) between fork and exec for
//! tasks started under another user), pidfd_open(2) for waiting on a child, and close_range(2)
//! for the spawner thread's own descriptor table. The only module allowed `unsafe`; each block
//! says why it is sound.

use std::os::fd::{BorrowedFd, OwnedFd};

/// posix_spawn `argv` (through `/bin/sh`, see `with_prelude`) in a new session, in directory
/// `cwd`, with these stdio files, `pass` as descriptors 3, 4, …, and exactly this environment;
/// its pid. Runs on the spawner thread, with descriptors of its table.
pub(crate) fn spawn_in_session(
    argv: &[String],
    env: &[(String, String)],
    stdio: [&OwnedFd; 3],
    pass: &[OwnedFd],
    cwd: BorrowedFd<'_>,
) -> std::io::Result<u32> {
    use nix::libc;
    use std::ffi::CString;
    use std::os::fd::{AsFd, AsRawFd};
    let cstr = |s: String| {
        CString::new(s).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a NUL byte in the command or environment",
            )
        })
    };
    let args: Vec<CString> = argv.iter().cloned().map(cstr).collect::<Result<_, _>>()?;
    let envs: Vec<CString> = env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}")))
        .collect::<Result<_, _>>()?;
    let nul_ended = |v: &[CString]| -> Vec<*mut libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr().cast_mut())
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    };
    let (argp, envp) = (nul_ended(&args), nul_ended(&envs));
    // The file actions run in order in the child: a source descriptor below the last target
    // could be overwritten by an earlier dup2 before it is copied. The agent's own descriptors
    // are far above that, but copies above it make sure.
    let floor = 3 + pass.len() as i32;
    let mut raised: Vec<std::os::fd::OwnedFd> = Vec::new();
    let mut sources: Vec<i32> = Vec::new();
    for f in stdio
        .iter()
        .map(|f| f.as_fd())
        .chain(pass.iter().map(|f| f.as_fd()))
    {
        if f.as_raw_fd() < floor {
            let copy = nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(floor))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
            raised.push(unsafe { std::os::fd::FromRawFd::from_raw_fd(copy) });
            sources.push(copy);
        } else {
            sources.push(f.as_raw_fd());
        }
    }
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(rc))
        }
    };
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // on every path (guards below); every pointer handed to posix_spawn points into `args`,
    // `envs`, `argp`, `envp` or a static C string, all alive until it returns; the descriptors
    // are open (owned by the caller or by `raised`) until then.
    unsafe {
        struct Attr(libc::posix_spawnattr_t);
        impl Drop for Attr {
            fn drop(&mut self) {
                // SAFETY: initialised by posix_spawnattr_init before the guard was made.
                unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
            }
        }
        struct Actions(libc::posix_spawn_file_actions_t);
        impl Drop for Actions {
            fn drop(&mut self) {
                // SAFETY: initialised by posix_spawn_file_actions_init before the guard was made.
                unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
            }
        }
        let mut attr = std::mem::MaybeUninit::<libc::posix_spawnattr_t>::uninit();
        check(libc::posix_spawnattr_init(attr.as_mut_ptr()))?;
        let mut attr = Attr(attr.assume_init());
        let mut actions = std::mem::MaybeUninit::<libc::posix_spawn_file_actions_t>::uninit();
        check(libc::posix_spawn_file_actions_init(actions.as_mut_ptr()))?;
        let mut actions = Actions(actions.assume_init());
        // A new session; no blocked signals; every signal's disposition reset — the agent
        // ignores SIGPIPE (Rust does), which a task must not inherit.
        check(libc::posix_spawnattr_setflags(
            &mut attr.0,
            (libc::POSIX_SPAWN_SETSID as i32
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
        ))?;
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        check(libc::posix_spawnattr_setsigmask(&mut attr.0, set.as_ptr()))?;
        libc::sigfillset(set.as_mut_ptr());
        libc::sigdelset(set.as_mut_ptr(), libc::SIGKILL);
        libc::sigdelset(set.as_mut_ptr(), libc::SIGSTOP);
        check(libc::posix_spawnattr_setsigdefault(
            &mut attr.0,
            set.as_ptr(),
        ))?;
        // The working directory first: its descriptor may be one the dup2s below replace.
        check(libc::posix_spawn_file_actions_addfchdir_np(
            &mut actions.0,
            cwd.as_raw_fd(),
        ))?;
        for (target, &source) in sources.iter().enumerate() {
            check(libc::posix_spawn_file_actions_adddup2(
                &mut actions.0,
                source,
                target as libc::c_int,
            ))?;
        }
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawn(
            &mut pid,
            c"/bin/sh".as_ptr(),
            &actions.0,
            &attr.0,
            argp.as_ptr(),
            envp.as_ptr(),
        ))?;
        drop(raised);
        Ok(pid as u32)
    }
}

/// A pidfd for our own child, registered with the runtime: readable once the child has ended.
/// (It cannot be reaped, hence its pid not reused, before we wait on it.)
pub(crate) fn pidfd_open(
    pid: i32,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
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

/// Between fork and exec: start a new session (signals to the agent's terminal never reach
/// tasks; a kill reaches every process the task started) and join the container's cgroups by
/// writing "0" (= this process) to their already-open `cgroup.procs`.
pub(crate) fn before_exec(cmd: &mut std::process::Command, cgroup_procs: Vec<i32>) {
    use std::os::unix::process::CommandExt;
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

/// Block every signal in the calling thread, so the process' signals are handled on its other
/// threads. For the spawner thread, whose descriptor table is its own: a signal handler run
/// there writes to descriptors of that table, where tokio's signal pipe is not, and the signal
/// was lost (`drover up` ignored about one Ctrl-C in ten). Tasks it starts get an empty mask
/// (`posix_spawnattr_setsigmask`; std's `Command` resets it too).
pub(crate) fn block_signals_in_this_thread() -> std::io::Result<()> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set; pthread_sigmask reads it and changes only the
    // calling thread's mask (no old mask asked for).
    let rc = unsafe {
        libc::sigfillset(set.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// Give the calling thread a descriptor table of its own holding only 0, 1 and 2.
pub(crate) fn own_descriptor_table() -> std::io::Result<()> {
    // SAFETY: close_range(2) takes three integers. The descriptors it closes are this thread's
    // new private copies (CLOSE_RANGE_UNSHARE): the rest of the process keeps its own.
    let rc = unsafe { nix::libc::close_range(3, u32::MAX, nix::libc::CLOSE_RANGE_UNSHARE as i32) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
