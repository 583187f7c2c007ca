//! A task's sandbox, read through its agent's files API: the browser
//! (`/ui/tasks/<id>/files?path=<relative>`: a directory's entries, breadcrumbs), a file's end
//! (`/ui/tasks/<id>/files/view?path=…`: its last 64 KiB, and the agent's download through the
//! gateway), and the task page's section (its log's last lines, which the page's event stream
//! then follows — [`tail`] — and the sandbox's top directory). The UI server asks the agent
//! (`http://<hostname>:<port>` from the model), each call with a short timeout; what goes wrong
//! is said on the page, with the status it comes with (a path leaving the sandbox: 400; an
//! agent that cannot be reached: 502).

pub mod files;
pub mod tail;
#[cfg(test)]
mod tests;

use super::{render, Page, S};
use crate::table::encode;
use crate::Ui;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use files::{Asked, Entry, Rel, SandboxError, Where};
use serde::Deserialize;
use std::sync::Arc;
pub use tail::LogFile;

/// The most entries a directory's page lists (the rest are counted, not sent).
pub const MAX_ENTRIES: usize = 500;
/// The most entries of the sandbox's top directory on the task page.
pub const SECTION_ENTRIES: usize = 50;
/// The most lines of a log the task page renders (the live tail adds to them).
pub const LOG_LINES: usize = 200;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/tasks/{id}/files", get(browse))
        .route("/ui/tasks/{id}/files/view", get(view))
}

/// `?path=` of the browser and the file view: relative to the sandbox.
#[derive(Deserialize, Default)]
pub struct PathQuery {
    #[serde(default)]
    pub path: String,
}

/// `?log=` of the task page: the log its panel shows.
#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    pub log: Option<String>,
}

/// `n` bytes as people read them: `512 B`, `1.5 KiB`, `3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut x = n as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!(
        "{} {}",
        crate::fmt::num(&((x * 10.0).round() / 10.0)),
        UNITS[unit]
    )
}

fn task_href(task: &str) -> String {
    format!("/ui/tasks/{}", encode(task))
}

fn browse_href(task: &str, at: &Rel) -> String {
    if at.is_root() {
        format!("{}/files", task_href(task))
    } else {
        format!("{}/files?path={}", task_href(task), encode(&at.as_string()))
    }
}

fn view_href(task: &str, at: &Rel) -> String {
    format!(
        "{}/files/view?path={}",
        task_href(task),
        encode(&at.as_string())
    )
}

/// The agent's download of a file, through the gateway's `/agent/<id>/`.
fn download_href(agent_id: &str, abs: &str) -> String {
    format!(
        "/agent/{}/files/download?path={}",
        encode(agent_id),
        encode(abs)
    )
}

/// A directory entry as the table shows it.
pub struct Row {
    pub name: String,
    pub href: String,
    pub is_dir: bool,
    pub size: String,
    pub mode: String,
    pub modified: String,
}

/// A directory's table: its first rows (directories first, then by name) and how many
/// there are.
pub struct Listing {
    pub caption: String,
    pub rows: Vec<Row>,
    pub total: usize,
}

impl Listing {
    pub fn cut(&self) -> bool {
        self.rows.len() < self.total
    }
}

/// The table of the entries of `at` in the sandbox of `task`, at most `max` rows.
pub fn listing(task: &str, at: &Rel, mut entries: Vec<Entry>, max: usize) -> Listing {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let total = entries.len();
    let rows = entries
        .into_iter()
        .take(max)
        .map(|e| {
            let child = at.child(&e.name);
            Row {
                href: if e.is_dir {
                    browse_href(task, &child)
                } else {
                    view_href(task, &child)
                },
                size: if e.is_dir {
                    "—".into()
                } else {
                    bytes(e.size)
                },
                modified: crate::fmt::when(&e.mtime),
                is_dir: e.is_dir,
                mode: e.mode,
                name: e.name,
            }
        })
        .collect();
    let caption = if at.is_root() {
        "Files in the sandbox".to_string()
    } else {
        format!("Files in {}", at.as_string())
    };
    Listing {
        caption,
        rows,
        total,
    }
}

/// A link of the breadcrumbs; the last one is the page itself.
pub struct Crumb {
    pub label: String,
    pub href: String,
}

/// Tasks / <task> / Sandbox / a / b: each a link, up to `at`.
pub fn crumbs(w: &Where, at: &Rel) -> Vec<Crumb> {
    let mut v = vec![
        Crumb {
            label: "Tasks".into(),
            href: "/ui/tasks".into(),
        },
        Crumb {
            label: w.task_name.clone(),
            href: task_href(&w.task_id),
        },
        Crumb {
            label: "Sandbox".into(),
            href: browse_href(&w.task_id, &Rel::default()),
        },
    ];
    for a in at.ancestry() {
        v.push(Crumb {
            label: a.name().to_string(),
            href: browse_href(&w.task_id, &a),
        });
    }
    v
}

/// The task, its agent and sandbox, and the path asked inside it; a path that cannot be
/// inside is refused before the agent is asked anything.
async fn open(ui: &Ui, id: &str, raw: &str) -> Result<(Where, String, Rel), SandboxError> {
    let asked = Asked::parse(raw)?;
    let w = Where::of(&ui.live.cluster(), id).ok_or_else(|| SandboxError::NoTask(id.into()))?;
    let dir = w.agent(&ui.http)?.sandbox(&w).await?;
    let at = asked.within(&dir)?;
    Ok((w, dir, at))
}

/// The refusal of a path of the wrong kind: a file's browser shows the file, a directory's
/// view lists it.
fn wrong_kind(e: &SandboxError, what: &str, says: &str) -> bool {
    matches!(e, SandboxError::Refused { what: w, text, .. } if *w == what && text.to_lowercase().contains(says))
}

#[derive(Template)]
#[template(path = "sandbox.html")]
pub struct BrowsePage {
    pub page: Page,
    pub crumbs: Vec<Crumb>,
    pub task_name: String,
    pub at: String,
    pub listing: Listing,
}

#[derive(Template)]
#[template(path = "sandbox_view.html")]
pub struct ViewPage {
    pub page: Page,
    pub crumbs: Vec<Crumb>,
    pub name: String,
    pub text: String,
    pub size: String,
    /// The text is the file's end, not all of it.
    pub partial: bool,
    pub download: String,
}

#[derive(Template)]
#[template(path = "sandbox_error.html")]
pub struct ErrorPage {
    pub page: Page,
    pub heading: &'static str,
    pub message: String,
    pub back: String,
}

/// A page saying what went wrong, with the status it means.
pub fn error_page(ui: &Ui, headers: &HeaderMap, task: &str, e: SandboxError) -> Response {
    let heading = match &e {
        SandboxError::BadParam { .. } => "Bad request",
        SandboxError::NoTask(_) | SandboxError::NoSandbox { .. } => "Not found",
        SandboxError::Refused { .. } => "Refused by the agent",
        _ => "The agent could not be read",
    };
    let back = match &e {
        SandboxError::NoTask(_) => "/ui/tasks".to_string(),
        _ => task_href(task),
    };
    let page = Page::new(ui, headers, heading, "tasks", "");
    let status = e.status();
    let mut r = render(&ErrorPage {
        page,
        heading,
        message: e.to_string(),
        back,
    });
    *r.status_mut() = status;
    r
}

async fn browse(
    State(ui): S,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (w, dir, at) = open(&ui, &id, &q.path).await?;
        let entries = w.agent(&ui.http)?.browse(&at.on_agent(&dir)).await;
        Ok::<_, SandboxError>((w, at, entries))
    }
    .await;
    let (w, at, entries) = match r {
        Ok(x) => x,
        Err(e) => return error_page(&ui, &headers, &id, e),
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) if wrong_kind(&e, "/files/browse", "not a directory") => {
            return Redirect::to(&view_href(&id, &at)).into_response()
        }
        Err(e) => return error_page(&ui, &headers, &id, e),
    };
    let page = Page::new(
        &ui,
        &headers,
        format!("Sandbox of {}", w.task_name),
        "tasks",
        "",
    );
    render(&BrowsePage {
        page,
        crumbs: crumbs(&w, &at),
        at: if at.is_root() {
            "/".into()
        } else {
            at.as_string()
        },
        listing: listing(&w.task_id, &at, entries, MAX_ENTRIES),
        task_name: w.task_name,
    })
}

async fn view(
    State(ui): S,
    Path(id): Path<String>,
    Query(q): Query<PathQuery>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let (w, dir, at) = open(&ui, &id, &q.path).await?;
        if at.is_root() {
            return Err(SandboxError::BadParam {
                field: "path",
                why: "names the sandbox itself, not a file in it".into(),
            });
        }
        let abs = at.on_agent(&dir);
        let end = w.agent(&ui.http)?.end(&abs).await;
        Ok((w, at, abs, end))
    }
    .await;
    let (w, at, abs, end) = match r {
        Ok(x) => x,
        Err(e) => return error_page(&ui, &headers, &id, e),
    };
    let (text, size, _) = match end {
        Ok(x) => x,
        Err(e) if wrong_kind(&e, "/files/read", "directory") => {
            return Redirect::to(&browse_href(&id, &at)).into_response()
        }
        Err(e) => return error_page(&ui, &headers, &id, e),
    };
    let name = at.name().to_string();
    let page = Page::new(
        &ui,
        &headers,
        format!("{name} · {}", w.task_name),
        "tasks",
        "",
    );
    // The last crumb is this page: the file's view, not its (redirecting) browser link.
    let mut crumbs = crumbs(&w, &at);
    if let Some(c) = crumbs.last_mut() {
        c.href = view_href(&w.task_id, &at);
    }
    render(&ViewPage {
        page,
        crumbs,
        partial: size > files::CHUNK,
        size: bytes(size),
        download: download_href(&w.agent_id, &abs),
        text,
        name,
    })
}

/// The log the task page shows, server-rendered: its last lines and the offset after them.
pub struct LogView {
    pub text: String,
    pub offset: u64,
    pub size: String,
    pub lines: usize,
}

/// The task page's section: its log (the file chosen, its last lines) and the sandbox's top
/// directory, each with what went wrong reading it.
#[derive(Default)]
pub struct Section {
    pub task_id: String,
    pub task_name: String,
    pub file: LogFile,
    pub log: Option<LogView>,
    pub log_error: Option<String>,
    pub view: String,
    pub download: Option<String>,
    pub browse: String,
    pub listing: Option<Listing>,
    pub error: Option<String>,
}

impl Section {
    pub fn files(&self) -> [LogFile; 2] {
        LogFile::ALL
    }

    pub fn is(&self, f: &LogFile) -> bool {
        *f == self.file
    }

    /// The tail the page's event stream asks for.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.task_id, self.file.as_str())
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &text[i + 1..],
        _ if n == 0 => "",
        _ => text,
    }
}

/// What the task page shows of the sandbox of the task `w` names (`None`: the task is not
/// known), with the log `log` (`stdout` unless asked).
pub async fn section(ui: &Ui, w: Option<Where>, task_id: &str, log: Option<&str>) -> Section {
    let (file, bad_log) = match log.filter(|l| !l.is_empty()) {
        None => (LogFile::Stdout, None),
        Some(l) => match LogFile::parse(l) {
            Some(f) => (f, None),
            None => (
                LogFile::Stdout,
                Some(format!(
                    "log: '{l}' is not a log file (stdout or stderr); showing stdout"
                )),
            ),
        },
    };
    let at = Rel::default().child(file.as_str());
    let mut s = Section {
        task_id: task_id.to_string(),
        task_name: w.as_ref().map(|w| w.task_name.clone()).unwrap_or_default(),
        file,
        log: None,
        log_error: bad_log,
        view: view_href(task_id, &at),
        download: None,
        browse: browse_href(task_id, &Rel::default()),
        listing: None,
        error: None,
    };
    let found = match w {
        None => Err(SandboxError::NoTask(task_id.into())),
        Some(w) => match w.agent(&ui.http) {
            Ok(agent) => agent.sandbox(&w).await.map(|dir| (w, dir)),
            Err(e) => Err(e),
        },
    };
    let (w, dir) = match found {
        Ok(x) => x,
        Err(e) => {
            s.error = Some(e.to_string());
            return s;
        }
    };
    let abs = at.on_agent(&dir);
    s.download = Some(download_href(&w.agent_id, &abs));
    let Ok(agent) = w.agent(&ui.http) else {
        return s;
    };
    // Both at once: a slow agent costs the page one timeout, not two.
    let (end, entries) = tokio::join!(agent.end(&abs), agent.browse(&dir));
    match end {
        Ok((text, size, offset)) => {
            let text = last_lines(&text, LOG_LINES).to_string();
            s.log = Some(LogView {
                lines: text.lines().count(),
                text,
                offset,
                size: bytes(size),
            });
        }
        Err(e) => s.log_error = Some(e.to_string()),
    }
    match entries {
        Ok(es) => s.listing = Some(listing(task_id, &Rel::default(), es, SECTION_ENTRIES)),
        Err(e) => s.error = Some(e.to_string()),
    }
    s
}
