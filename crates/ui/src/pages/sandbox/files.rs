//! A task's sandbox as the UI reaches it: where the task runs (from the model), the sandbox's
//! directory on that agent (the agent's `/state`, `executors[].directory`, as `drover task log`
//! finds it), paths inside it as the pages name them (relative, never `..`), and the agent's
//! files API (`/files/browse`, `/files/read`), each call with its own short timeout so a page
//! never hangs on an agent that does not answer.

use crate::model::cluster::Cluster;
use axum::http::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// The most one read asks of the agent (and the most of a file a page shows).
pub const CHUNK: u64 = 64 * 1024;
/// How long one call to an agent may take: a page waits at most this per call.
const TIMEOUT: Duration = Duration::from_secs(4);
/// The most of an agent's refusal quoted on a page.
const QUOTED: usize = 300;

/// Why a sandbox could not be shown; each with the status its page answers.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A parameter of the request that cannot be served (the field, then why).
    #[error("{field}: {why}")]
    BadParam { field: &'static str, why: String },
    #[error(
        "No task with id '{0}' is known (finished tasks are kept for a while, then forgotten)."
    )]
    NoTask(String),
    #[error("The agent {0} this task ran on is not registered with the master any more.")]
    NoAgent(String),
    #[error("The agent at {addr} could not be reached: {cause}.")]
    Unreachable { addr: String, cause: String },
    #[error("The agent at {addr} refused {what} ({status}): {text}")]
    Refused {
        addr: String,
        what: &'static str,
        status: u16,
        text: String,
    },
    #[error("The agent at {addr} answered {what} with something other than its files API's JSON: {cause}")]
    BadAnswer {
        addr: String,
        what: &'static str,
        cause: String,
    },
    #[error("The agent at {addr} no longer has the sandbox of task {task} (an agent removes a sandbox some time after its task ended).")]
    NoSandbox { addr: String, task: String },
}

impl SandboxError {
    /// Each error's status, here and nowhere else: the agent's own 4xx pass through, an agent
    /// that cannot be reached or answers nonsense is a bad gateway.
    pub fn status(&self) -> StatusCode {
        match self {
            SandboxError::BadParam { .. } => StatusCode::BAD_REQUEST,
            SandboxError::NoTask(_) | SandboxError::NoSandbox { .. } => StatusCode::NOT_FOUND,
            SandboxError::Refused { status, .. } if (400..500).contains(status) => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            SandboxError::NoAgent(_)
            | SandboxError::Unreachable { .. }
            | SandboxError::Refused { .. }
            | SandboxError::BadAnswer { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    fn bad_path(why: String) -> SandboxError {
        SandboxError::BadParam { field: "path", why }
    }
}

/// Where a task's files are: what the model knows of it and its agent.
#[derive(Debug, Clone)]
pub struct Where {
    pub task_id: String,
    pub task_name: String,
    pub framework_id: String,
    pub agent_id: String,
    /// `http://<hostname>:<port>`, when the agent is known.
    pub agent: Option<String>,
}

impl Where {
    pub fn of(c: &Cluster, task_id: &str) -> Option<Where> {
        let t = c.task(task_id)?;
        Some(Where {
            task_id: t.id.clone(),
            task_name: t.name.clone(),
            framework_id: t.framework_id.clone(),
            agent_id: t.agent_id.clone(),
            agent: c
                .agents
                .get(&t.agent_id)
                .map(|a| format!("http://{}:{}", a.hostname, a.port)),
        })
    }

    /// The agent's files API, or why there is none.
    pub fn agent<'a>(&self, http: &'a reqwest::Client) -> Result<Agent<'a>, SandboxError> {
        match &self.agent {
            Some(base) => Ok(Agent {
                http,
                base: base.clone(),
            }),
            None => Err(SandboxError::NoAgent(self.agent_id.clone())),
        }
    }
}

/// A path inside a sandbox as the pages name it: relative, its parts without `.`, `..` or
/// empty ones. The empty path is the sandbox itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rel(Vec<String>);

/// A `path=` as asked, checked for what no sandbox path may contain; an absolute one is kept
/// until the sandbox's directory is known (it may name a place inside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Relative(Rel),
    Absolute(Vec<String>),
}

fn parts(raw: &str) -> Result<Vec<String>, SandboxError> {
    if raw.chars().any(char::is_control) {
        return Err(SandboxError::bad_path(
            "control characters are not allowed".into(),
        ));
    }
    let mut out = Vec::new();
    for p in raw.split('/') {
        match p {
            "" | "." => {}
            // Refused rather than resolved: what a `..` would reach depends on symlinks the
            // UI cannot see, and no link the UI makes contains one.
            ".." => {
                return Err(SandboxError::bad_path(
                    "'..' is not allowed: paths stay inside the task's sandbox".into(),
                ))
            }
            p => out.push(p.to_string()),
        }
    }
    Ok(out)
}

impl Asked {
    pub fn parse(raw: &str) -> Result<Asked, SandboxError> {
        let ps = parts(raw)?;
        Ok(if raw.starts_with('/') {
            Asked::Absolute(ps)
        } else {
            Asked::Relative(Rel(ps))
        })
    }

    /// The path inside the sandbox at `dir` (the agent's absolute directory).
    pub fn within(self, dir: &str) -> Result<Rel, SandboxError> {
        match self {
            Asked::Relative(r) => Ok(r),
            Asked::Absolute(ps) => {
                let root = parts(dir).unwrap_or_default();
                match ps.strip_prefix(root.as_slice()) {
                    Some(rest) => Ok(Rel(rest.to_vec())),
                    None => Err(SandboxError::bad_path(format!(
                        "'/{}' is outside the task's sandbox",
                        ps.join("/")
                    ))),
                }
            }
        }
    }
}

impl Rel {
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `a/b/c`; empty for the sandbox itself.
    pub fn as_string(&self) -> String {
        self.0.join("/")
    }

    pub fn name(&self) -> &str {
        self.0.last().map_or("", String::as_str)
    }

    pub fn child(&self, name: &str) -> Rel {
        let mut v = self.0.clone();
        v.push(name.to_string());
        Rel(v)
    }

    /// Each ancestor (not the sandbox itself), then this path: `a`, `a/b`, `a/b/c`.
    pub fn ancestry(&self) -> Vec<Rel> {
        (1..=self.0.len())
            .map(|n| Rel(self.0[..n].to_vec()))
            .collect()
    }

    /// The absolute path on the agent.
    pub fn on_agent(&self, dir: &str) -> String {
        let dir = dir.trim_end_matches('/');
        if self.0.is_empty() {
            dir.to_string()
        } else {
            format!("{dir}/{}", self.as_string())
        }
    }
}

/// The directory of task `tid` of framework `fid` in an agent's `/state`: the executor that
/// has it among its tasks, queued or completed ones (the last one found when a relaunched id
/// appears twice).
pub fn find_directory(state: &Value, fid: &str, tid: &str) -> Option<String> {
    let has = |e: &Value| {
        ["tasks", "queued_tasks", "completed_tasks"]
            .iter()
            .any(|k| {
                e[*k]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["id"] == tid))
            })
    };
    let mut found = None;
    for fw_list in ["frameworks", "completed_frameworks"] {
        for f in state[fw_list].as_array().into_iter().flatten() {
            if f["id"] != fid {
                continue;
            }
            for ex_list in ["executors", "completed_executors"] {
                for e in f[ex_list].as_array().into_iter().flatten() {
                    if has(e) {
                        if let Some(d) = e["directory"].as_str() {
                            found = Some(d.to_string());
                        }
                    }
                }
            }
        }
    }
    found
}

/// One entry of `/files/browse`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The last part of its path.
    pub name: String,
    pub size: u64,
    pub is_dir: bool,
    /// As `ls -l` shows it: `drwxr-xr-x`.
    pub mode: String,
    /// Seconds since the epoch.
    pub mtime: f64,
}

/// A mode as the agent gives it — octal digits of `st_mode` (`40755`), or Mesos' own
/// `drwxr-xr-x` — as `ls -l` shows it, and whether it is a directory.
pub fn mode(raw: &str) -> (bool, String) {
    if let Ok(m) = u32::from_str_radix(raw, 8) {
        let kind = match m & 0o170_000 {
            0o040_000 => 'd',
            0o120_000 => 'l',
            0o010_000 => 'p',
            0o140_000 => 's',
            0o020_000 => 'c',
            0o060_000 => 'b',
            _ => '-',
        };
        let mut s = String::from(kind);
        for shift in [6u32, 3, 0] {
            let bits = (m >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            s.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        return (kind == 'd', s);
    }
    (raw.starts_with('d'), raw.to_string())
}

/// The entries of a `/files/browse` answer (entries without a path are skipped).
pub fn entries(v: &Value) -> Vec<Entry> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let path = e["path"].as_str()?;
            let name = path.trim_end_matches('/').rsplit('/').next()?.to_string();
            if name.is_empty() {
                return None;
            }
            let (is_dir, mode) = mode(e["mode"].as_str().unwrap_or(""));
            Some(Entry {
                name,
                size: e["size"].as_u64().unwrap_or(0),
                is_dir,
                mode,
                mtime: e["mtime"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

/// One answer of `/files/read`: `data` read at `offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub offset: u64,
    pub data: String,
}

/// How much of a chunk read can be trusted to end where it seems to. The agent turns bytes
/// into text lossily, so a read that stops inside a multi-byte character ends in U+FFFD and
/// its length in bytes no longer says how far the file was read: such a chunk is taken up to
/// its last line, and the rest read again (a chunk without a line break is taken whole when
/// it is full, rather than waiting forever on one long line). `full`: the read got all it
/// asked for.
pub fn usable(data: &str, full: bool) -> usize {
    if !data.ends_with('\u{FFFD}') {
        return data.len();
    }
    match data.rfind('\n') {
        Some(i) => i + 1,
        None if full => data.len(),
        None => 0,
    }
}

/// How many bytes of the file a chunk's text stands for. A read that starts inside a
/// multi-byte character (the last 64 KiB of a file rarely start on a character) begins with
/// its stray continuation bytes, each of which the agent turned into one U+FFFD (3 bytes of
/// text for 1 of file): counted as what they were, so the tail goes on exactly after the text.
pub fn read_len(text: &str, may_start_inside: bool) -> u64 {
    let stray = if may_start_inside {
        text.chars()
            .take_while(|c| *c == '\u{FFFD}')
            .take(3)
            .count()
    } else {
        0
    };
    (text.len() - 2 * stray) as u64
}

/// An error with its causes (reqwest's own text names the URL, not why it failed).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// The agent a task ran on, through its files API.
pub struct Agent<'a> {
    http: &'a reqwest::Client,
    base: String,
}

impl Agent<'_> {
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    async fn get(&self, what: &'static str, query: &[(&str, &str)]) -> Result<Value, SandboxError> {
        let addr = self.addr().to_string();
        let r = self
            .http
            .get(format!("{}{what}", self.base))
            .query(query)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| SandboxError::Unreachable {
                addr: addr.clone(),
                cause: if e.is_timeout() {
                    format!("no answer within {} s", TIMEOUT.as_secs())
                } else {
                    chain(&e)
                },
            })?;
        let status = r.status();
        if !status.is_success() {
            let text = r.text().await.unwrap_or_default();
            let mut text: String = text.trim().chars().take(QUOTED).collect();
            if text.is_empty() {
                text = status.canonical_reason().unwrap_or("").to_string();
            }
            return Err(SandboxError::Refused {
                addr,
                what,
                status: status.as_u16(),
                text,
            });
        }
        r.json().await.map_err(|e| SandboxError::BadAnswer {
            addr,
            what,
            cause: e.to_string(),
        })
    }

    /// The sandbox directory of the task `w` names.
    pub async fn sandbox(&self, w: &Where) -> Result<String, SandboxError> {
        let state = self.get("/state", &[]).await?;
        find_directory(&state, &w.framework_id, &w.task_id).ok_or_else(|| SandboxError::NoSandbox {
            addr: self.addr().to_string(),
            task: w.task_id.clone(),
        })
    }

    pub async fn browse(&self, path: &str) -> Result<Vec<Entry>, SandboxError> {
        Ok(entries(
            &self.get("/files/browse", &[("path", path)]).await?,
        ))
    }

    /// At most `length` (≤ [`CHUNK`]) bytes at `offset`.
    pub async fn read(&self, path: &str, offset: u64, length: u64) -> Result<Chunk, SandboxError> {
        let (o, l) = (offset.to_string(), length.min(CHUNK).to_string());
        let v = self
            .get(
                "/files/read",
                &[("path", path), ("offset", &o), ("length", &l)],
            )
            .await?;
        Ok(Chunk {
            offset: v["offset"].as_u64().unwrap_or(offset),
            data: v["data"].as_str().unwrap_or("").to_string(),
        })
    }

    /// The file's size (Mesos: a read at offset -1).
    pub async fn size(&self, path: &str) -> Result<u64, SandboxError> {
        let v = self
            .get("/files/read", &[("path", path), ("offset", "-1")])
            .await?;
        v["offset"].as_u64().ok_or_else(|| SandboxError::BadAnswer {
            addr: self.addr().to_string(),
            what: "/files/read",
            cause: format!("no size in {v}"),
        })
    }

    /// The file's end: its last [`CHUNK`] at most, from the start of a line when it is not
    /// all of the file. Gives the text, the file's size, and the offset just after the text
    /// (where a tail goes on from).
    pub async fn end(&self, path: &str) -> Result<(String, u64, u64), SandboxError> {
        let size = self.size(path).await?;
        let start = size.saturating_sub(CHUNK);
        let c = self.read(path, start, CHUNK).await?;
        let full = c.data.len() as u64 + 4 > CHUNK;
        let mut text = c.data;
        text.truncate(usable(&text, full));
        let next = start + read_len(&text, start > 0);
        if start > 0 {
            // The first line is cut: drop it.
            let cut = text.find('\n').map_or(text.len(), |i| i + 1);
            text.drain(..cut);
        }
        Ok((text, size, next))
    }
}
