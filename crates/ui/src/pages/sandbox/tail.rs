//! The live tail of a task's stdout or stderr, merged into the tab's one event stream
//! (`/ui/events?…&log=<task id>:<stdout|stderr>&log_offset=N`) as `log` events:
//! `{"file", "offset", "next", "data"}` (the text read at `offset`; `next` is where the tail
//! goes on from, which the page keeps, to reconnect with), `{"error"}` once when reading starts
//! to fail, `{"note"}` when the tail jumps (the file shrank, or the tab was away so long that
//! it skips to the end).
//!
//! The server reads that one file through the agent's `/files/read`, at most [`CHUNK`] a read,
//! only while the tab is connected (the stream is dropped with the connection): at once again
//! after a full chunk, after 250 ms after new text, backing off to 2 s while nothing comes.
//! [`Tail`] is that decision, a plain value; the stream only does what it says.

use super::files::{usable, SandboxError, Where, CHUNK};
use crate::Ui;
use axum::response::sse::Event as SseEvent;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The wait after new text, and the first wait when nothing came.
pub const FIRST: Duration = Duration::from_millis(250);
/// The longest wait while nothing comes (or reads fail).
pub const IDLE_MAX: Duration = Duration::from_secs(2);
/// How far behind a tail may start: a tab that was away longer gets the file's end (and a
/// note), not everything since, which could be gigabytes.
pub const CATCH_UP: u64 = 1 << 20;
/// After this many empty reads in a row, the file's size is checked: a file truncated under
/// the tail (a log rotated in place) is read again from its start, not waited on forever.
pub const SIZE_EVERY: u32 = 8;

/// The log files a tail follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFile {
    #[default]
    Stdout,
    Stderr,
}

impl LogFile {
    pub const ALL: [LogFile; 2] = [LogFile::Stdout, LogFile::Stderr];

    pub fn parse(s: &str) -> Option<LogFile> {
        match s {
            "stdout" => Some(LogFile::Stdout),
            "stderr" => Some(LogFile::Stderr),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFile::Stdout => "stdout",
            LogFile::Stderr => "stderr",
        }
    }
}

/// `<task id>:<stdout|stderr>` (the last `:` separates: task ids may contain one).
pub fn parse_spec(spec: &str) -> Result<(String, LogFile), SandboxError> {
    let bad = |why: &str| SandboxError::BadParam {
        field: "log",
        why: why.to_string(),
    };
    let (task, file) = spec
        .rsplit_once(':')
        .ok_or_else(|| bad("expected <task id>:<stdout|stderr>"))?;
    if task.is_empty() {
        return Err(bad("no task id before ':'"));
    }
    let file = LogFile::parse(file).ok_or_else(|| bad("the file is stdout or stderr"))?;
    Ok((task.to_string(), file))
}

/// The next wait of a back-off.
pub fn backoff(d: Duration) -> Duration {
    (d * 2).clamp(FIRST, IDLE_MAX)
}

/// Where a tail stands and how long it waits next.
#[derive(Debug, Clone, PartialEq)]
pub struct Tail {
    offset: u64,
    idle: Duration,
    empty: u32,
}

impl Tail {
    /// A tail of a file of `size` bytes, from `asked` (the offset the page was rendered at, or
    /// the last one the tab received): from there when it is within the file and not too far
    /// behind; from the start of a file that shrank below it; near the end when it fell more
    /// than [`CATCH_UP`] behind; from the end when nothing was asked. With a note for the
    /// reader when it did not start where asked.
    pub fn start(asked: Option<u64>, size: u64) -> (Tail, Option<String>) {
        let at = |offset| Tail {
            offset,
            idle: FIRST,
            empty: 0,
        };
        match asked {
            None => (at(size), None),
            Some(o) if o > size => (
                at(0),
                Some("the file is shorter than when it was last read: reading it again from its start".into()),
            ),
            Some(o) if size - o > CATCH_UP => {
                let from = size - CHUNK;
                (
                    at(from),
                    Some(format!(
                        "{} bytes skipped (the download has all of the file)",
                        from - o
                    )),
                )
            }
            Some(o) => (at(o), None),
        }
    }

    /// Where the next read starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// A read at [`Tail::offset`] answered `data`: how many bytes of it to send (from its
    /// start; 0 for none) and how long to wait before the next read.
    pub fn read(&mut self, data: &str) -> (usize, Duration) {
        let full = data.len() as u64 + 4 > CHUNK;
        let n = usable(data, full);
        if n == 0 {
            self.empty = self.empty.saturating_add(1);
            let wait = self.idle;
            self.idle = backoff(self.idle);
            return (0, wait);
        }
        self.offset += n as u64;
        self.empty = 0;
        self.idle = FIRST;
        // A full chunk: more is likely waiting.
        (n, if full { Duration::ZERO } else { FIRST })
    }

    /// A read failed: the wait before trying again.
    pub fn failed(&mut self) -> Duration {
        let wait = self.idle;
        self.idle = backoff(self.idle);
        wait
    }

    /// Whether to check the file's size before the next read.
    pub fn check_size(&self) -> bool {
        self.empty > 0 && self.empty.is_multiple_of(SIZE_EVERY)
    }

    /// The file is `size` bytes now: one that shrank below the offset is read again from its
    /// start (with a note to tell).
    pub fn resize(&mut self, size: u64) -> Option<String> {
        self.empty = 0;
        (size < self.offset).then(|| {
            self.offset = 0;
            self.idle = FIRST;
            "the file was truncated: reading it again from its start".to_string()
        })
    }
}

/// The `log` events of the tail `spec` asks for, from `offset`, for as long as the stream is
/// polled (so as long as the tab is connected).
pub fn events(ui: Arc<Ui>, spec: &str, offset: Option<u64>) -> BoxStream<'static, SseEvent> {
    let f = match parse_spec(spec) {
        Ok((task, file)) => Follower {
            ui,
            task,
            file,
            asked: offset,
            path: None,
            tail: Tail::start(offset, offset.unwrap_or(0)).0,
            wait: Duration::ZERO,
            failing: false,
            bad: None,
        },
        Err(e) => Follower {
            ui,
            task: String::new(),
            file: LogFile::Stdout,
            asked: offset,
            path: None,
            tail: Tail::start(None, 0).0,
            wait: Duration::ZERO,
            failing: false,
            bad: Some(e.to_string()),
        },
    };
    stream::unfold(Some(f), |f| async move {
        let mut f = f?;
        loop {
            if !f.wait.is_zero() {
                tokio::time::sleep(f.wait).await;
            }
            if let Some(bad) = f.bad.take() {
                // Said once; the rest of the tab's stream goes on.
                return Some((log_event(&json!({"error": bad})), None));
            }
            if let Some(v) = f.step().await {
                return Some((log_event(&v), Some(f)));
            }
        }
    })
    .boxed()
}

fn log_event(v: &Value) -> SseEvent {
    SseEvent::default().event("log").data(v.to_string())
}

/// A tail being followed: the task's file on its agent, and the [`Tail`] that decides.
struct Follower {
    ui: Arc<Ui>,
    task: String,
    file: LogFile,
    asked: Option<u64>,
    /// The file's path on the agent, once its sandbox was found.
    path: Option<(Where, String)>,
    tail: Tail,
    wait: Duration,
    /// Reading failed last time (the error was said; the next success says it is over).
    failing: bool,
    bad: Option<String>,
}

impl Follower {
    fn event(&self, offset: u64, data: &str) -> Value {
        json!({"file": self.file.as_str(), "offset": offset, "next": self.tail.offset(),
            "data": data})
    }

    /// One read (after finding the file, the first time): the event to send, if any, with
    /// `self.wait` set to the wait before the next.
    async fn step(&mut self) -> Option<Value> {
        match self.try_step().await {
            Ok(v) => {
                let recovered = std::mem::take(&mut self.failing);
                match v {
                    Some(v) => Some(v),
                    None if recovered => Some(self.event(self.tail.offset(), "")),
                    None => None,
                }
            }
            Err(e) => {
                self.wait = self.tail.failed();
                if std::mem::replace(&mut self.failing, true) {
                    return None;
                }
                let mut v = self.event(self.tail.offset(), "");
                v["error"] = json!(e.to_string());
                Some(v)
            }
        }
    }

    async fn try_step(&mut self) -> Result<Option<Value>, SandboxError> {
        let ui = self.ui.clone();
        let Some((w, path)) = &self.path else {
            let w = Where::of(&ui.live.cluster(), &self.task)
                .ok_or_else(|| SandboxError::NoTask(self.task.clone()))?;
            let agent = w.agent(&ui.http)?;
            let dir = agent.sandbox(&w).await?;
            let path = format!("{}/{}", dir.trim_end_matches('/'), self.file.as_str());
            let size = agent.size(&path).await?;
            let (tail, note) = Tail::start(self.asked, size);
            self.tail = tail;
            self.path = Some((w, path));
            self.wait = Duration::ZERO;
            return Ok(note.map(|n| {
                let mut v = self.event(self.tail.offset(), "");
                v["note"] = json!(n);
                v
            }));
        };
        let agent = w.agent(&ui.http)?;
        if self.tail.check_size() {
            let size = agent.size(path).await?;
            if let Some(n) = self.tail.resize(size) {
                self.wait = Duration::ZERO;
                let mut v = self.event(0, "");
                v["note"] = json!(n);
                return Ok(Some(v));
            }
        }
        let at = self.tail.offset();
        let chunk = agent.read(path, at, CHUNK).await?;
        if chunk.offset != at {
            return Err(SandboxError::BadAnswer {
                addr: agent.addr().to_string(),
                what: "/files/read",
                cause: format!("read at {} when asked for {at}", chunk.offset),
            });
        }
        let (n, wait) = self.tail.read(&chunk.data);
        self.wait = wait;
        Ok((n > 0).then(|| self.event(at, &chunk.data[..n])))
    }
}
