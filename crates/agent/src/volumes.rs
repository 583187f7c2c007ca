//! The agent's checkpointed resources — the dynamic reservations and persistent volumes the
//! master made on it — and the volumes' directories.
//!
//! As in Mesos: the master sends the whole set after each change; the agent keeps it in
//! `<work_dir>/meta/resources/resources.info` (replaced atomically) and reports it when it
//! registers, so the master rebuilds the agent's resources after either restarts. A persistent
//! volume's data lives in `<work_dir>/volumes/roles/<role>/<id>`, outside any sandbox: it
//! outlives tasks, executors and restarts, and goes only when the volume is destroyed. A task
//! using a volume sees it at its `container_path` in the sandbox.

use drover_api::{Resource, TaskInfo};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "resources.info";

/// A persistent volume named by a resource: (role, persistence id, container path, read-only).
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub role: String,
    pub id: String,
    pub container_path: Option<String>,
    pub read_only: bool,
}

/// The persistent volume `r` is, if it is one.
pub fn volume_of(r: &Resource) -> Option<Volume> {
    Some(Volume {
        role: r.reservation_role().to_string(),
        id: r.persistence_id()?.to_string(),
        container_path: r.volume_container_path().map(str::to_string),
        read_only: r
            .disk
            .as_ref()
            .and_then(|d| d.pointer("/volume/mode"))
            .and_then(|m| m.as_str())
            .is_some_and(|m| m == "RO"),
    })
}

/// Where volume `id` of `role` keeps its data.
pub fn volume_path(work_dir: &Path, role: &str, id: &str) -> PathBuf {
    work_dir
        .join("volumes")
        .join("roles")
        .join(crate::checkpoint::safe(role))
        .join(crate::checkpoint::safe(id))
}

/// The volumes task `t` uses, with their paths on this machine.
pub fn of_task(work_dir: &Path, t: &TaskInfo) -> Vec<(Volume, PathBuf)> {
    t.resources
        .iter()
        .filter_map(volume_of)
        .filter(|v| v.container_path.is_some())
        .map(|v| {
            let p = volume_path(work_dir, &v.role, &v.id);
            (v, p)
        })
        .collect()
}

/// The checkpointed resources, or none (a new agent, or a file that does not read: logged).
pub fn load(meta: &Path) -> Vec<Resource> {
    let path = meta.join("resources").join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::error!("checkpointed resources {} unreadable: {e}", path.display());
            Vec::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            tracing::error!("checkpointed resources {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// Replace the checkpointed resources with `resources` (write, fsync, rename), then make the
/// directories of new volumes and remove those of volumes no longer there.
pub fn store(
    work_dir: &Path,
    meta: &Path,
    old: &[Resource],
    resources: &[Resource],
) -> std::io::Result<()> {
    let dir = meta.join("resources");
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(resources).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(FILE))?;
    let now: Vec<Volume> = resources.iter().filter_map(volume_of).collect();
    for v in &now {
        std::fs::create_dir_all(volume_path(work_dir, &v.role, &v.id))?;
    }
    for v in old.iter().filter_map(volume_of) {
        if !now.iter().any(|n| n.role == v.role && n.id == v.id) {
            let p = volume_path(work_dir, &v.role, &v.id);
            if let Err(e) = std::fs::remove_dir_all(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!("removing destroyed volume {}: {e}", p.display());
                }
            }
        }
    }
    Ok(())
}

/// Make each volume of `t` appear at its container path in `sandbox` (a symlink, as Mesos'
/// agent does without filesystem isolation). For process tasks; Docker binds them instead.
pub fn link_into(work_dir: &Path, sandbox: &Path, t: &TaskInfo) -> std::io::Result<()> {
    for (v, host) in of_task(work_dir, t) {
        let Some(cp) = v.container_path.as_deref() else {
            continue;
        };
        if !drover_api::resources::inside_sandbox(cp) {
            return Err(std::io::Error::other(format!(
                "volume {}: container_path '{cp}' must be a relative path inside the sandbox",
                v.id
            )));
        }
        std::fs::create_dir_all(&host)?;
        let at = sandbox.join(cp);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::os::unix::fs::symlink(&host, &at) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            r => r?,
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn volume(role: &str, id: &str, path: &str) -> Resource {
        serde_json::from_value(serde_json::json!({"name": "disk", "type": "SCALAR",
            "scalar": {"value": 64}, "reservations": [{"type": "DYNAMIC", "role": role}],
            "disk": {"persistence": {"id": id, "principal": "ops"},
                     "volume": {"container_path": path, "mode": "RW"}}}))
        .unwrap()
    }

    #[test]
    fn volumes_are_made_kept_and_removed_with_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (work, meta) = (dir.path(), dir.path().join("meta"));
        assert!(load(&meta).is_empty());
        let a = vec![volume("eng/db", "v1", "data"), volume("web", "../x", "d")];
        store(work, &meta, &[], &a).unwrap();
        assert_eq!(load(&meta), a);
        let v1 = volume_path(work, "eng/db", "v1");
        assert!(v1.is_dir());
        assert!(v1.starts_with(work.join("volumes/roles")));
        // No name steers the path out of the volumes directory.
        let odd = volume_path(work, "web", "../x");
        assert_eq!(odd.parent().unwrap(), work.join("volumes/roles/web"));
        std::fs::write(v1.join("file"), "kept").unwrap();
        // The same set again keeps the data; a set without v1 removes it.
        store(work, &meta, &a, &a).unwrap();
        assert_eq!(std::fs::read_to_string(v1.join("file")).unwrap(), "kept");
        store(work, &meta, &a, &a[1..]).unwrap();
        assert!(!v1.exists());
        assert_eq!(load(&meta), a[1..].to_vec());
    }

    #[test]
    fn a_task_sees_its_volume_at_its_container_path() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        std::fs::create_dir_all(&sandbox).unwrap();
        let mut t: TaskInfo = serde_json::from_value(serde_json::json!({
            "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"}}))
        .unwrap();
        t.resources = vec![volume("db", "v1", "data")];
        link_into(dir.path(), &sandbox, &t).unwrap();
        std::fs::write(sandbox.join("data/f"), "x").unwrap();
        assert_eq!(
            std::fs::read_to_string(volume_path(dir.path(), "db", "v1").join("f")).unwrap(),
            "x"
        );
        // Launching again (a restarted task) finds the link there.
        link_into(dir.path(), &sandbox, &t).unwrap();
        t.resources = vec![volume("db", "v2", "../escape")];
        assert!(link_into(dir.path(), &sandbox, &t).is_err());
    }
}
