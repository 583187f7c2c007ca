//! A directory held open, and the small file operations the agent repeats under it (mkdir,
//! rmdir, short reads and writes) done relative to it. The cgroup hierarchies and the
//! sandbox tree are touched ~15 times a task; each absolute path made the kernel walk (and, on
//! cgroupfs, revalidate) every component again: ~10% of the agent's CPU in a burst of launches.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open directory and the path it was opened by (for messages and for children's paths).
#[derive(Clone, Debug)]
pub struct Dir {
    path: PathBuf,
    fd: Arc<OwnedFd>,
}

fn io(e: nix::Error) -> std::io::Error {
    std::io::Error::from(e)
}

impl Dir {
    /// Open an existing directory.
    pub fn open(path: &Path) -> std::io::Result<Dir> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?;
        Ok(Dir {
            path: path.to_path_buf(),
            fd: Arc::new(fd),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute path of `rel` under this directory.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// mkdir, 0755; an existing directory is fine.
    pub fn ensure_dir(&self, rel: &str) -> std::io::Result<()> {
        match nix::sys::stat::mkdirat(self.fd.as_fd(), rel, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    pub fn rmdir(&self, rel: &str) -> std::io::Result<()> {
        nix::unistd::unlinkat(self.fd.as_fd(), rel, nix::unistd::UnlinkatFlags::RemoveDir)
            .map_err(io)
    }

    pub fn exists(&self, rel: &str) -> bool {
        nix::sys::stat::fstatat(
            self.fd.as_fd(),
            rel,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok()
    }

    fn open_file(&self, rel: &str, flags: OFlag) -> std::io::Result<std::fs::File> {
        let fd = nix::fcntl::openat(
            self.fd.as_fd(),
            rel,
            flags | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(io)?;
        Ok(std::fs::File::from(fd))
    }

    /// Open for writing, as it is (a control file).
    pub fn open_write(&self, rel: &str) -> std::io::Result<std::fs::File> {
        self.open_file(rel, OFlag::O_WRONLY)
    }

    /// Open for appending, created if missing (a log).
    pub fn open_append(&self, rel: &str) -> std::io::Result<std::fs::File> {
        self.open_file(rel, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND)
    }

    /// Write `bytes` to an existing file in one write (cgroup control files take a value per
    /// write).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.open_write(rel)?.write_all(bytes)
    }

    /// A small file's whole text (control files, /proc): read into one buffer, no size probe.
    pub fn read_string(&self, rel: &str) -> std::io::Result<String> {
        let mut f = self.open_file(rel, OFlag::O_RDONLY)?;
        let mut s = String::with_capacity(512);
        f.read_to_string(&mut s)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_relative_to_the_open_directory() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open(d.path()).unwrap();
        dir.ensure_dir("a").unwrap();
        dir.ensure_dir("a").unwrap();
        dir.ensure_dir("a/b").unwrap();
        assert!(dir.ensure_dir("x/y").is_err(), "no parents are made");
        let b = Dir::open(&d.path().join("a/b")).unwrap();
        assert_eq!(b.path(), d.path().join("a/b"));
        b.open_append("log").unwrap().write_all(b"one ").unwrap();
        b.open_append("log").unwrap().write_all(b"two").unwrap();
        assert_eq!(dir.read_string("a/b/log").unwrap(), "one two");
        dir.write("a/b/log", b"ON").unwrap();
        assert_eq!(b.read_string("log").unwrap(), "ONe two");
        std::fs::rename(d.path().join("a"), d.path().join("c")).unwrap();
        assert!(dir.exists("c/b/log") && !dir.exists("a"));
        // The open directory follows its directory wherever it moved.
        assert_eq!(b.read_string("log").unwrap(), "ONe two");
        std::fs::remove_file(d.path().join("c/b/log")).unwrap();
        dir.rmdir("c/b").unwrap();
        dir.rmdir("c").unwrap();
        assert!(!d.path().join("c").exists());
    }
}
