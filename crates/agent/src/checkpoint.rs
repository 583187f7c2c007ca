//! Checkpoints under `<work_dir>/meta`. Tasks: one append-only journal (`tasks.journal`), one
//! JSON line per change holding the task's whole checkpoint, and a removal line once its terminal
//! update is acknowledged; the newest line of a task wins. Custom executors: one JSON file each,
//! replaced atomically (write + rename). A restarted agent reads them back to re-adopt what still
//! runs.
//!
//! Why a journal: a task changes five or six times (STARTING, RUNNING, its end, an ack of each),
//! and replacing a file by write + rename costs ~1 ms on ext4 (the rename of a file over another
//! makes ext4 start writing the new one out), all under the agent's lock; one line appended is one
//! write(2). The journal is rewritten with only the live tasks when the agent starts and whenever
//! it holds several times more lines than there are tasks.

use drover_api::agent_protocol::StatusUpdate;
use drover_api::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
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
pub(crate) fn safe(s: &str) -> String {
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

fn executor_path(meta: &Path, fid: &FrameworkID, eid: &ExecutorID) -> PathBuf {
    meta.join("executors")
        .join(safe(&fid.value))
        .join(format!("{}.json", safe(&eid.value)))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// What changes in a task's checkpoint after the first one: its state, process and unacknowledged
/// updates. A journal line of these is a few hundred bytes where a whole checkpoint (with the
/// task and framework infos) is kilobytes, written ~6 times per task.
#[derive(Deserialize)]
pub struct TaskProgress {
    pub framework_id: FrameworkID,
    pub task_id: TaskID,
    pub state: TaskState,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub pending: Vec<StatusUpdate>,
}

/// One line of the task journal.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Put(Box<TaskCheckpoint>),
    Progress(TaskProgress),
    Remove {
        framework_id: FrameworkID,
        task_id: TaskID,
    },
}

/// `TaskProgress` as written: borrowed from the agent's state (the updates are not copied).
#[derive(Serialize)]
pub struct TaskProgressRef<'a> {
    pub framework_id: &'a FrameworkID,
    pub task_id: &'a TaskID,
    pub state: TaskState,
    pub pid: Option<u32>,
    pub pid_start: Option<u64>,
    pub pending: Vec<&'a StatusUpdate>,
}

/// The same, borrowed, for writing.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RecordRef<'a> {
    Put(&'a TaskCheckpoint),
    Progress(&'a TaskProgressRef<'a>),
    Remove {
        framework_id: &'a FrameworkID,
        task_id: &'a TaskID,
    },
}

/// The journal is rewritten once it has more lines than this many a live task, plus
/// `COMPACT_MIN_LINES`.
const COMPACT_LINES_PER_TASK: usize = 8;
const COMPACT_MIN_LINES: usize = 16_384;

/// The task journal, open for appending.
pub struct TaskJournal {
    path: PathBuf,
    file: std::fs::File,
    lines: usize,
    /// A write failed part-way: the next line could be glued to a torn one, so rewrite first.
    torn: bool,
    recovered: Vec<TaskCheckpoint>,
    /// Tasks with a whole checkpoint in the file: their changes go in as `Progress` lines.
    full: std::collections::HashSet<(FrameworkID, TaskID)>,
}

impl TaskJournal {
    /// Read the live task checkpoints (the journal, and the per-task files older agents wrote),
    /// rewrite the journal with just those and open it for appending. `take_recovered` hands them
    /// out.
    pub fn open(meta: &Path) -> std::io::Result<TaskJournal> {
        let path = meta.join("tasks.journal");
        let mut live: HashMap<(FrameworkID, TaskID), TaskCheckpoint> = HashMap::new();
        let legacy = meta.join("tasks");
        for cp in read_dir_json::<TaskCheckpoint>(&legacy) {
            if let Some(fid) = cp.framework.id.clone() {
                live.insert((fid, cp.task.task_id.clone()), cp);
            }
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    match serde_json::from_slice::<Record>(line) {
                        Ok(Record::Put(cp)) => {
                            if let Some(fid) = cp.framework.id.clone() {
                                live.insert((fid, cp.task.task_id.clone()), *cp);
                            }
                        }
                        Ok(Record::Progress(p)) => {
                            if let Some(cp) = live.get_mut(&(p.framework_id, p.task_id)) {
                                cp.state = p.state;
                                cp.pid = p.pid;
                                cp.pid_start = p.pid_start;
                                cp.pending = p.pending;
                            }
                        }
                        Ok(Record::Remove {
                            framework_id,
                            task_id,
                        }) => {
                            live.remove(&(framework_id, task_id));
                        }
                        // The agent died in the middle of a write: that change never happened.
                        Err(e) => tracing::warn!("skipping a torn line of {}: {e}", path.display()),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let recovered: Vec<TaskCheckpoint> = live.into_values().collect();
        let (file, lines) = rewrite(&path, &recovered)?;
        if legacy.exists() {
            let _ = std::fs::remove_dir_all(&legacy);
        }
        let full = keys(&recovered);
        Ok(TaskJournal {
            path,
            file,
            lines,
            torn: false,
            recovered,
            full,
        })
    }

    /// The checkpoints found by `open`.
    pub fn take_recovered(&mut self) -> Vec<TaskCheckpoint> {
        std::mem::take(&mut self.recovered)
    }

    fn append(&mut self, rec: &RecordRef<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.lines += 1;
        // One write(2) on an O_APPEND file: lines of one agent never interleave.
        self.file.write_all(&line).inspect_err(|_| self.torn = true)
    }

    /// Record the whole current checkpoint of a task.
    pub fn put(&mut self, cp: &TaskCheckpoint) -> std::io::Result<()> {
        let Some(fid) = cp.framework.id.clone() else {
            return Ok(());
        };
        self.append(&RecordRef::Put(cp))?;
        self.full.insert((fid, cp.task.task_id.clone()));
        Ok(())
    }

    /// Whether the task's whole checkpoint is in the journal, so `progress` is enough.
    pub fn has(&self, fid: &FrameworkID, tid: &TaskID) -> bool {
        self.full.contains(&(fid.clone(), tid.clone()))
    }

    /// Record what changed in a task that `has` a whole checkpoint.
    pub fn progress(&mut self, p: &TaskProgressRef<'_>) -> std::io::Result<()> {
        self.append(&RecordRef::Progress(p))
    }

    /// Forget a task (its terminal update was acknowledged).
    pub fn remove(&mut self, fid: &FrameworkID, tid: &TaskID) -> std::io::Result<()> {
        self.full.remove(&(fid.clone(), tid.clone()));
        self.append(&RecordRef::Remove {
            framework_id: fid,
            task_id: tid,
        })
    }

    /// Whether `compact` is due, with this many live tasks.
    pub fn wants_compaction(&self, live: usize) -> bool {
        // Rare enough that rewriting the live tasks costs little per line appended (a burst of
        // short tasks appends ~7 lines a task).
        self.torn || self.lines > COMPACT_LINES_PER_TASK * live + COMPACT_MIN_LINES
    }

    /// Replace the journal with one line per live task.
    pub fn compact(&mut self, live: &[TaskCheckpoint]) -> std::io::Result<()> {
        let (file, lines) = rewrite(&self.path, live)?;
        self.file = file;
        self.lines = lines;
        self.torn = false;
        self.full = keys(live);
        Ok(())
    }
}

fn keys(live: &[TaskCheckpoint]) -> std::collections::HashSet<(FrameworkID, TaskID)> {
    live.iter()
        .filter_map(|cp| Some((cp.framework.id.clone()?, cp.task.task_id.clone())))
        .collect()
}

/// Write `live` to a new journal, put it in place atomically, open it for appending.
fn rewrite(path: &Path, live: &[TaskCheckpoint]) -> std::io::Result<(std::fs::File, usize)> {
    let mut buf = Vec::new();
    let mut lines = 0;
    for cp in live.iter().filter(|cp| cp.framework.id.is_some()) {
        serde_json::to_writer(&mut buf, &RecordRef::Put(cp)).map_err(std::io::Error::other)?;
        buf.push(b'\n');
        lines += 1;
    }
    write_atomic(path, &buf)?;
    let file = std::fs::OpenOptions::new().append(true).open(path)?;
    Ok((file, lines))
}

pub fn write_executor(meta: &Path, cp: &ExecutorCheckpoint) -> std::io::Result<()> {
    let Some(fid) = &cp.framework.id else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(cp).map_err(std::io::Error::other)?;
    write_atomic(&executor_path(meta, fid, &cp.info.executor_id), &bytes)
}

pub fn remove_executor(meta: &Path, fid: &FrameworkID, eid: &ExecutorID) {
    let _ = std::fs::remove_file(executor_path(meta, fid, eid));
}

fn read_dir_json<T: serde::de::DeserializeOwned>(root: &Path) -> Vec<T> {
    let mut out = Vec::new();
    let Ok(fws) = std::fs::read_dir(root) else {
        return out;
    };
    for fw in fws.flatten() {
        let Ok(files) = std::fs::read_dir(fw.path()) else {
            continue;
        };
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

pub fn read_executors(meta: &Path) -> Vec<ExecutorCheckpoint> {
    read_dir_json(&meta.join("executors"))
}

/// Where a docker task's log streaming got to (the engine's timestamp of the last message copied
/// into the sandbox, in ns since the epoch), so a restarted agent resumes without repeating.
fn docker_log_cursor_path(meta: &Path, container_id: &str) -> PathBuf {
    meta.join("docker")
        .join(format!("{}.json", safe(container_id)))
}

pub fn write_docker_log_cursor(meta: &Path, container_id: &str, ns: i64) -> std::io::Result<()> {
    write_atomic(
        &docker_log_cursor_path(meta, container_id),
        serde_json::json!({ "log_cursor_ns": ns })
            .to_string()
            .as_bytes(),
    )
}

pub fn read_docker_log_cursor(meta: &Path, container_id: &str) -> Option<i64> {
    let bytes = std::fs::read(docker_log_cursor_path(meta, container_id)).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["log_cursor_ns"].as_i64()
}

pub fn remove_docker_log_cursor(meta: &Path, container_id: &str) {
    let _ = std::fs::remove_file(docker_log_cursor_path(meta, container_id));
}

pub fn read_agent_id(meta: &Path) -> Option<AgentID> {
    std::fs::read_to_string(meta.join("agent_id"))
        .ok()
        .map(|s| AgentID::new(s.trim()))
        .filter(|a| !a.value.is_empty())
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

    fn checkpoint(tid: &str, state: TaskState) -> TaskCheckpoint {
        let fw = FrameworkInfo {
            name: "f".into(),
            id: Some(FrameworkID::new("fw1")),
            ..Default::default()
        };
        let task = TaskInfo {
            name: "t".into(),
            task_id: TaskID::new(tid),
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
        TaskCheckpoint {
            framework: fw,
            task,
            state,
            executor_id: None,
            container_id: "c".into(),
            sandbox: "/x".into(),
            pid: Some(1),
            pid_start: Some(2),
            pending: vec![],
        }
    }

    fn reopen(meta: &Path) -> Vec<TaskCheckpoint> {
        TaskJournal::open(meta).unwrap().take_recovered()
    }

    #[test]
    fn progress_lines_apply_to_the_whole_checkpoint_before_them() {
        let d = tempfile::tempdir().unwrap();
        let mut j = TaskJournal::open(d.path()).unwrap();
        let (fid, tid) = (FrameworkID::new("fw1"), TaskID::new("t1"));
        assert!(!j.has(&fid, &tid));
        j.put(&checkpoint("t1", TaskState::TASK_STAGING)).unwrap();
        assert!(j.has(&fid, &tid));
        let progress = |state, pid| TaskProgressRef {
            framework_id: &fid,
            task_id: &tid,
            state,
            pid,
            pid_start: Some(77),
            pending: vec![],
        };
        j.progress(&progress(TaskState::TASK_RUNNING, Some(4242)))
            .unwrap();
        // A progress line of a task the journal does not hold changes nothing.
        let ghost = TaskID::new("ghost");
        j.progress(&TaskProgressRef {
            task_id: &ghost,
            ..progress(TaskState::TASK_FAILED, None)
        })
        .unwrap();
        drop(j);
        let mut j = TaskJournal::open(d.path()).unwrap();
        let tasks = j.take_recovered();
        assert_eq!(tasks.len(), 1, "no ghost");
        assert_eq!(tasks[0].state, TaskState::TASK_RUNNING);
        assert_eq!((tasks[0].pid, tasks[0].pid_start), (Some(4242), Some(77)));
        assert_eq!(
            tasks[0].task.name, "t",
            "the infos come from the whole line"
        );
        // Reopening rewrote whole lines: the task is known, later changes are progress again.
        assert!(j.has(&fid, &tid));
        j.remove(&fid, &tid).unwrap();
        assert!(!j.has(&fid, &tid));
        drop(j);
        assert!(reopen(d.path()).is_empty());
    }

    #[test]
    fn task_checkpoints_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let mut j = TaskJournal::open(d.path()).unwrap();
        assert!(j.take_recovered().is_empty());
        j.put(&checkpoint("t/1", TaskState::TASK_STARTING)).unwrap();
        j.put(&checkpoint("t/1", TaskState::TASK_RUNNING)).unwrap();
        j.put(&checkpoint("t/2", TaskState::TASK_RUNNING)).unwrap();
        drop(j);
        let mut tasks = reopen(d.path());
        tasks.sort_by(|a, b| a.task.task_id.cmp(&b.task.task_id));
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].task.task_id.value, "t/1");
        assert_eq!(
            tasks[0].state,
            TaskState::TASK_RUNNING,
            "the newest line of a task wins"
        );
        let mut j = TaskJournal::open(d.path()).unwrap();
        j.remove(&FrameworkID::new("fw1"), &TaskID::new("t/1"))
            .unwrap();
        drop(j);
        let tasks = reopen(d.path());
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task.task_id.value, "t/2");
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_the_journal_is_rewritten_clean() {
        let d = tempfile::tempdir().unwrap();
        let mut j = TaskJournal::open(d.path()).unwrap();
        for _ in 0..10 {
            j.put(&checkpoint("t", TaskState::TASK_RUNNING)).unwrap();
        }
        drop(j);
        let path = d.path().join("tasks.journal");
        let mut bytes = std::fs::read(&path).unwrap();
        let torn = serde_json::to_vec(&RecordRef::Put(&checkpoint("t", TaskState::TASK_FINISHED)))
            .unwrap();
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(&path, &bytes).unwrap();
        let tasks = reopen(d.path());
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].state, TaskState::TASK_RUNNING);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "rewritten with one line per live task"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn compaction_keeps_only_what_it_is_given() {
        let d = tempfile::tempdir().unwrap();
        let mut j = TaskJournal::open(d.path()).unwrap();
        assert!(!j.wants_compaction(0));
        for i in 0..COMPACT_MIN_LINES.div_ceil(2) + 1 {
            j.put(&checkpoint(&format!("t{i}"), TaskState::TASK_RUNNING))
                .unwrap();
            j.remove(&FrameworkID::new("fw1"), &TaskID::new(format!("t{i}")))
                .unwrap();
        }
        assert!(j.wants_compaction(0));
        j.compact(&[checkpoint("kept", TaskState::TASK_RUNNING)])
            .unwrap();
        assert!(!j.wants_compaction(1));
        j.put(&checkpoint("after", TaskState::TASK_RUNNING))
            .unwrap();
        drop(j);
        let mut ids: Vec<String> = reopen(d.path())
            .into_iter()
            .map(|c| c.task.task_id.value)
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["after".to_string(), "kept".to_string()]);
    }

    #[test]
    fn per_task_files_of_older_agents_are_folded_into_the_journal() {
        let d = tempfile::tempdir().unwrap();
        let cp = checkpoint("old", TaskState::TASK_RUNNING);
        let file = d.path().join("tasks").join("fw1").join("old.json");
        write_atomic(&file, &serde_json::to_vec(&cp).unwrap()).unwrap();
        let tasks = reopen(d.path());
        assert_eq!(tasks.len(), 1);
        assert!(!file.exists());
        assert_eq!(reopen(d.path()).len(), 1, "now in the journal");
    }
}
