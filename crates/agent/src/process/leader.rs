//! A task's session leader and what the agent knows of it: signalling it without ever hitting
//! a process that took its pid number ([`Leader`]), waiting for and reaping our own child through
//! a pidfd ([`Process`]), waiting for one that is not our child (re-adopted after a restart), and
//! what `/proc` says of a process (start time, usage).

use std::sync::{Arc, Mutex};

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
    pub(super) fn of_child(pid: u32) -> std::io::Result<Process> {
        Ok(Process {
            pidfd: crate::sys::pidfd_open(pid as i32)?,
            leader: Leader::Child {
                pid,
                reaped: Arc::new(Mutex::new(false)),
            },
        })
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

/// Wait for a process that is not our child to end (pid polling; start time guards pid reuse).
pub async fn wait_foreign(pid: u32, start: u64) {
    loop {
        if process_start_time(pid) != Some(start) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
