//! Checkpoints under `<work_dir>/meta`: one JSON file per running task and per custom executor,
//! replaced atomically (write + rename) on every change, removed once a task's terminal update is
//! acknowledged. A restarted agent reads them back to re-adopt what still runs.

use drover_api::agent_protocol::StatusUpdate;
use drover_api::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Serialize, Deserialize)]
pub struct TaskCheckpoint {
    pub framework: FrameworkInfo,
    pub task: TaskInfo,
    pub state: TaskState,
    pub executor_id: Option<ExecutorID>,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub pending: Vec<StatusUpdate>,
}

#[derive(Serialize, Deserialize)]
pub struct ExecutorCheckpoint {
    pub framework: FrameworkInfo,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub sandbox: PathBuf,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
}

/// File names must not be steered by ids: encode anything but [A-Za-z0-9._-].
fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || (c == '.' && !out.is_empty()) {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02x}", c as u32));
        }
    }
    out
}

fn task_path(meta: &Path, fid: &FrameworkID, tid: &TaskID) -> PathBuf {
    meta.join("tasks").join(safe(&fid.value)).join(format!("{}.json", safe(&tid.value)))
}

fn executor_path(meta: &Path, fid: &FrameworkID, eid: &ExecutorID) -> PathBuf {
    meta.join("executors").join(safe(&fid.value)).join(format!("{}.json", safe(&eid.value)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

pub fn write_task(meta: &Path, cp: &TaskCheckpoint) -> std::io::Result<()> {
    let Some(fid) = &cp.framework.id else { return Ok(()) };
    let bytes = serde_json::to_vec(cp).map_err(std::io::Error::other)?;
    write_atomic(&task_path(meta, fid, &cp.task.task_id), &bytes)
}

pub fn remove_task(meta: &Path, fid: &FrameworkID, tid: &TaskID) {
    let _ = std::fs::remove_file(task_path(meta, fid, tid));
}

pub fn write_executor(meta: &Path, cp: &ExecutorCheckpoint) -> std::io::Result<()> {
    let Some(fid) = &cp.framework.id else { return Ok(()) };
    let bytes = serde_json::to_vec(cp).map_err(std::io::Error::other)?;
    write_atomic(&executor_path(meta, fid, &cp.info.executor_id), &bytes)
}

pub fn remove_executor(meta: &Path, fid: &FrameworkID, eid: &ExecutorID) {
    let _ = std::fs::remove_file(executor_path(meta, fid, eid));
}

fn read_dir_json<T: serde::de::DeserializeOwned>(root: &Path) -> Vec<T> {
    let mut out = Vec::new();
    let Ok(fws) = std::fs::read_dir(root) else { return out };
    for fw in fws.flatten() {
        let Ok(files) = std::fs::read_dir(fw.path()) else { continue };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().map(|e| e != "json").unwrap_or(true) {
                continue;
            }
            match std::fs::read(&p).map(|b| serde_json::from_slice::<T>(&b)) {
                Ok(Ok(v)) => out.push(v),
                Ok(Err(e)) => tracing::error!("unreadable checkpoint {}: {e}", p.display()),
                Err(e) => tracing::error!("reading checkpoint {}: {e}", p.display()),
            }
        }
    }
    out
}

pub fn read_all(meta: &Path) -> (Vec<TaskCheckpoint>, Vec<ExecutorCheckpoint>) {
    (read_dir_json(&meta.join("tasks")), read_dir_json(&meta.join("executors")))
}

pub fn read_agent_id(meta: &Path) -> Option<AgentID> {
    std::fs::read_to_string(meta.join("agent_id")).ok().map(|s| AgentID::new(s.trim())).filter(|a| !a.value.is_empty())
}

pub fn write_agent_id(meta: &Path, id: &AgentID) -> std::io::Result<()> {
    write_atomic(&meta.join("agent_id"), id.value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_meta_dir() {
        assert_eq!(safe("../../etc"), "%2e.%2f..%2fetc");
        assert!(!safe("a/b").contains('/'));
    }

    #[test]
    fn task_checkpoints_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let fw = FrameworkInfo { name: "f".into(), id: Some(FrameworkID::new("fw1")), ..Default::default() };
        let task = TaskInfo {
            name: "t".into(),
            task_id: TaskID::new("t/1"),
            agent_id: AgentID::new("a"),
            resources: vec![],
            executor: None,
            command: None,
            container: None,
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
        };
        let cp = TaskCheckpoint {
            framework: fw,
            task,
            state: TaskState::TASK_RUNNING,
            executor_id: None,
            container_id: "c".into(),
            sandbox: "/x".into(),
            pid: Some(1),
            pid_start: Some(2),
            pending: vec![],
        };
        write_task(d.path(), &cp).unwrap();
        let (tasks, _) = read_all(d.path());
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task.task_id.value, "t/1");
        remove_task(d.path(), &FrameworkID::new("fw1"), &TaskID::new("t/1"));
        assert!(read_all(d.path()).0.is_empty());
    }
}
