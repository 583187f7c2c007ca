//! A cgroup's directory once its container is over: killing what is left in it
//! ([`empty_cgroup`]) and removing it ([`remove_cgroup`]), for `cgroups` (v1 and v2) and the v1
//! `pool`. A leaf: it knows only the hierarchy's directory ([`Dir`]) and the cgroup's name.

use crate::dirfd::Dir;

/// SIGKILL the members of the cgroup `name` under `dir` until it has none, for at most a second.
/// The pids are read from the cgroup itself, so each is a member when it is read.
pub(super) fn empty_cgroup(dir: &Dir, name: &str) {
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
pub(super) fn remove_cgroup(dir: &Dir, name: &str) {
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
