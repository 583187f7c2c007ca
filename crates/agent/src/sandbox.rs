//! Making sandboxes: `…/frameworks/<framework>/executors/<executor>/runs/<container>`, Mesos'
//! layout. Each framework's `executors` directory is held open, and a run's three directories
//! are made relative to it: a burst of short tasks makes thousands a second, and the absolute
//! path (nine components under the work dir) was walked for each mkdir, twice more for the ones
//! that failed with ENOENT first (`create_dir_all` tries the whole path, then its parents).

use crate::dirfd::Dir;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Open `executors` directories by path.
#[derive(Debug, Default)]
pub struct Sandboxes {
    open: Mutex<HashMap<PathBuf, Dir>>,
}

/// Frameworks come and go; past this many open directories the cache starts again.
const MAX_OPEN: usize = 256;

impl Sandboxes {
    /// Make `sandbox` and what leads to it. Its last three components (executor, `runs`,
    /// container) must be plain names: ids come from frameworks.
    pub fn create(&self, sandbox: &Path) -> std::io::Result<()> {
        let invalid = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{}: an executor or container id that is not a plain name",
                    sandbox.display()
                ),
            )
        };
        let (base, rel) = split(sandbox).ok_or_else(invalid)?;
        let make = |dir: &Dir| -> std::io::Result<()> {
            dir.ensure_dir(rel[0])?;
            let runs = format!("{}/{}", rel[0], rel[1]);
            dir.ensure_dir(&runs)?;
            dir.ensure_dir(&format!("{runs}/{}", rel[2]))
        };
        let cached = self.lock().get(base).cloned();
        if let Some(dir) = cached {
            match make(&dir) {
                Ok(d) => return Ok(d),
                // The directory held open was removed (the framework's sandboxes were cleaned
                // up): open it again.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::create_dir_all(base)?;
        let dir = Dir::open(base)?;
        make(&dir)?;
        let mut open = self.lock();
        if open.len() >= MAX_OPEN {
            open.clear();
        }
        open.insert(base.to_path_buf(), dir);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Dir>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sandbox path as its framework's `executors` directory and the executor, `runs` and
/// container names under it; None unless those three are plain names.
pub fn split(sandbox: &Path) -> Option<(&Path, [&str; 3])> {
    // Split the text, not the `Path`: its components skip "." silently.
    let text = sandbox.to_str()?;
    let mut parts = text.rsplitn(4, '/');
    let (run, runs, executor, base) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let plain = |n: &str| !n.is_empty() && n != "." && n != "..";
    (plain(run) && plain(runs) && plain(executor) && !base.is_empty())
        .then(|| (Path::new(base), [executor, runs, run]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_are_made_under_their_framework_and_remade_after_a_cleanup() {
        let d = tempfile::tempdir().unwrap();
        let s = Sandboxes::default();
        let execs = d.path().join("frameworks/f1/executors");
        s.create(&execs.join("t1/runs/c1")).unwrap();
        assert!(execs.join("t1/runs/c1").is_dir());
        // A second run of the same executor, through the open directory.
        s.create(&execs.join("t1/runs/c2")).unwrap();
        assert!(execs.join("t1/runs/c2").is_dir());
        // The framework's sandboxes are removed; the next one is made again.
        std::fs::remove_dir_all(d.path().join("frameworks/f1")).unwrap();
        s.create(&execs.join("t2/runs/c3")).unwrap();
        assert!(execs.join("t2/runs/c3").is_dir());
    }

    #[test]
    fn ids_that_are_not_plain_names_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let s = Sandboxes::default();
        let execs = d.path().join("frameworks/f1/executors");
        for bad in ["../runs/c1", "t1/runs/..", "./runs/c1"] {
            let e = s.create(&execs.join(bad)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{bad}: {e}");
        }
        assert!(!d.path().join("frameworks/f1/runs").exists());
    }
}
