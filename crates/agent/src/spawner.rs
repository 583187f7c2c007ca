//! The thread task processes are started from. A process started by posix_spawn(3) inherits a
//! copy of its spawning thread's descriptor table, and its exec(2) then closes every
//! close-on-exec descriptor in it, one by one. The agent's table holds a pidfd per task not yet
//! reaped and its sockets — thousands during a burst of launches — and those copies and closes
//! were ~30% of the agent's CPU per task (`do_close_on_exec`, `dup_fd`; perf). This thread gives
//! itself a table of its own with only stdin, stdout and stderr in it (`close_range` with
//! `CLOSE_RANGE_UNSHARE`), so a task starts from a table of a handful.
//!
//! Everything a child needs as a descriptor (stdio, the `cgroup.procs` files it writes to, the
//! sandbox as working directory) is opened here, in this table, from paths; a descriptor opened
//! elsewhere never crosses over (its number names another file, or none, in this table). Jobs
//! run one at a time, in order.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

type Job = Box<dyn FnOnce(&mut Local) + Send>;

/// The spawning thread; jobs go to it and their results come back.
pub struct Spawner {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// What a job may use: directories held open in the spawner's own table.
#[derive(Default)]
pub struct Local {
    dirs: HashMap<PathBuf, OwnedFd>,
}

/// Directories held open (sandbox trees of frameworks, cgroup hierarchies); past this many the
/// cache starts again.
const MAX_DIRS: usize = 256;

impl Local {
    /// `path`, a directory, open in this thread's table.
    pub fn dir(&mut self, path: &Path) -> std::io::Result<BorrowedFd<'_>> {
        if !self.dirs.contains_key(path) {
            if self.dirs.len() >= MAX_DIRS {
                self.dirs.clear();
            }
            let fd = nix::fcntl::open(
                path,
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(std::io::Error::from)?;
            self.dirs.insert(path.to_path_buf(), fd);
        }
        match self.dirs.get(path) {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(std::io::Error::other("directory cache")),
        }
    }

    /// Forget a directory held open (it was removed: the next use opens it again).
    pub fn forget(&mut self, path: &Path) {
        self.dirs.remove(path);
    }
}

impl Spawner {
    /// Start the thread. If the kernel cannot give it a table of its own (before Linux 5.9), it
    /// says so in the log and jobs run with a copy of the agent's, as before.
    pub fn start() -> std::io::Result<Spawner> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("drover-spawner".into())
            .spawn(move || {
                // Signals go to the agent's other threads: this one's descriptors are its own.
                if let Err(e) = crate::sys::block_signals_in_this_thread() {
                    tracing::warn!("the spawner thread cannot block signals: {e}");
                }
                if let Err(e) = crate::sys::own_descriptor_table() {
                    tracing::warn!(
                        "the spawner thread shares the agent's descriptor table ({e}): \
                         each task start copies and closes all of the agent's descriptors"
                    );
                }
                let mut local = Local::default();
                while let Ok(job) = rx.recv() {
                    job(&mut local);
                }
            })?;
        Ok(Spawner {
            jobs: Mutex::new(tx),
        })
    }

    /// Run `f` on the spawning thread and wait for its result; None if the thread is gone.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Local) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |local| {
            let _ = tx.send(f(local));
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .ok()?;
        rx.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spawner's thread blocks every signal: a handler run on it would write to its own
    /// descriptor table, where the runtime's signal pipe is not, and the signal would be lost
    /// (a Ctrl-C of `drover up` was, about one in ten).
    #[test]
    fn the_spawner_thread_takes_no_signals() {
        let s = Spawner::start().unwrap();
        let blocked = s
            .run(|_| {
                let st = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                let line = st
                    .lines()
                    .find(|l| l.starts_with("SigBlk:"))
                    .unwrap()
                    .to_string();
                u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
            })
            .unwrap();
        let int_term = (1u64 << (libc::SIGINT - 1)) | (1u64 << (libc::SIGTERM - 1));
        assert_eq!(blocked & int_term, int_term, "SigBlk {blocked:x}");
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/thread-self/fd").unwrap().count()
    }

    #[test]
    fn jobs_run_with_a_table_of_their_own() {
        let s = Spawner::start().unwrap();
        // Plenty open here; almost none there.
        let _held: Vec<std::fs::File> = (0..50)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        assert!(open_fds() >= 50);
        let theirs = s.run(|_| open_fds()).unwrap();
        // stdio and the directory being listed.
        assert!(theirs <= 4, "{theirs} descriptors in the spawner's table");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().to_path_buf();
        let again = s
            .run(move |l| {
                l.dir(&p).unwrap();
                l.dir(&p).unwrap();
                open_fds()
            })
            .unwrap();
        assert_eq!(again, theirs + 1, "a directory is opened once and kept");
    }
}
