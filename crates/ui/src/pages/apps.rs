//! Apps (Marathon): the apps table grouped by folder, an app's page with its actions, tasks,
//! last failure and why it is not running.
//!
//! | module | owns |
//! |---|---|
//! | here | the routes, the apps table (`/ui/apps`), the dispatch of `/ui/apps/<id>[/<sub>]` |
//! | `detail.rs` | the app's page |
//! | `actions.rs` | Suspend, Scale, Restart, Destroy, Reset delay: a form becomes an `AppAction`, the action a Marathon request |
//! | `why.rs` | why an app is not running, from Marathon's launch queue |
//!
//! App ids hold slashes (`/web/sleepy`), so one catch-all per method takes `/ui/apps/<id>…`
//! and dispatches on the last segment: the app's actions here; `/edit` and `/versions` to the
//! spec editor's handlers (axum cannot route `/ui/apps/{*id}/edit` beside `/ui/apps/{*id}`).

mod actions;
mod detail;
mod why;

#[cfg(test)]
mod tests;

pub use actions::{ActionError, AppAction};
pub use detail::page as detail_page;
pub use why::Why;

use super::{render, Page, S};
use crate::fmt::{mib, num};
use crate::model::marathon::{App, Marathon, Status};
use crate::table::{page, Pager, Query};
use crate::Ui;
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/apps", get(list))
        .route("/ui/apps/{*rest}", get(get_path).post(post_path))
}

/// The statuses, as the filter offers them.
pub const STATUSES: &[Status] = &[
    Status::Running,
    Status::Deploying,
    Status::Suspended,
    Status::Waiting,
    Status::Delayed,
];

/// The health of some instances: what the bar and its words show.
pub struct Health {
    pub healthy: u64,
    pub unhealthy: u64,
    pub unknown: u64,
    /// What the segments are a share of.
    pub of: u64,
    pub checked: bool,
}

impl Health {
    pub fn of_app(a: &App) -> Health {
        Health {
            healthy: a.healthy,
            unhealthy: a.unhealthy,
            unknown: a.unknown(),
            of: a.bar_of(),
            checked: a.health_checked,
        }
    }

    fn add(&mut self, a: &App) {
        self.healthy += a.healthy;
        self.unhealthy += a.unhealthy;
        self.unknown += a.unknown();
        self.of += a.bar_of();
        self.checked |= a.health_checked;
    }

    /// A segment's width, as the script computes it when an `app` event comes.
    pub fn pct(&self, n: &u64) -> String {
        if self.of == 0 {
            return "0".into();
        }
        num(&(100.0 * *n as f64 / self.of as f64).min(100.0))
    }
}

/// A row of the apps table: an app, or a folder of apps to open.
pub struct Row {
    pub folder: bool,
    /// The app's id, or the folder's path.
    pub id: String,
    /// What the link says: the last segment in a folder's view, the whole id in a search.
    pub name: String,
    pub href: String,
    pub cpus: String,
    pub mem: String,
    /// The numbers, to sort by.
    cpus_n: f64,
    mem_n: f64,
    pub running: u64,
    pub instances: u64,
    pub health: Health,
    /// The app's status; for a folder, how many apps it holds.
    pub status: String,
    pub deployments: usize,
}

impl Row {
    fn app(a: &App, m: &Marathon, full: bool) -> Row {
        Row {
            folder: false,
            id: a.id.clone(),
            name: if full {
                a.id.clone()
            } else {
                a.id.rsplit('/').next().unwrap_or(&a.id).to_string()
            },
            href: format!("/ui/apps{}", a.id),
            cpus: num(&a.cpus),
            mem: mib(&a.mem),
            cpus_n: a.cpus,
            mem_n: a.mem,
            running: a.running,
            instances: a.instances,
            health: Health::of_app(a),
            status: a.status(m.queue.get(&a.id)).as_str().to_string(),
            deployments: a.deployments.len(),
        }
    }
}

/// What a folder row adds up.
struct Folder {
    apps: usize,
    cpus: f64,
    mem: f64,
    running: u64,
    instances: u64,
    health: Health,
}

/// The folder of a query: `/` unless `folder=/a/b` (a trailing slash dropped).
pub fn folder_of(q: &Query) -> String {
    let f = q
        .folder
        .as_deref()
        .unwrap_or("")
        .trim()
        .trim_end_matches('/');
    if f.is_empty() {
        "/".into()
    } else if f.starts_with('/') {
        f.to_string()
    } else {
        format!("/{f}")
    }
}

/// Whether `id` lies under `folder` (at any depth).
fn under(id: &str, folder: &str) -> bool {
    folder == "/"
        || id
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The breadcrumbs of a folder: `(name, link)` for `/`, `/a`, `/a/b`.
pub fn crumbs(folder: &str) -> Vec<(String, String)> {
    let mut out = vec![("Apps".to_string(), "/ui/apps".to_string())];
    let mut path = String::new();
    for seg in folder.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        path.push_str(seg);
        out.push((
            seg.to_string(),
            format!("/ui/apps?folder={}", crate::table::encode(&path)),
        ));
    }
    out
}

/// The rows a query asks for. Without a filter: the folders directly under the query's folder
/// (what their apps add up to) and the apps directly in it. With a text or status filter: every
/// matching app under the folder, flat, by its whole id (Marathon UI's search).
pub fn select(m: &Marathon, q: &Query) -> Vec<Row> {
    let folder = folder_of(q);
    let status = q.state.as_deref().filter(|s| !s.is_empty());
    let text = q.q.as_deref().is_some_and(|t| !t.trim().is_empty());
    let searching = status.is_some() || text;
    let mut rows = Vec::new();
    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    for a in m.apps.values().filter(|a| under(&a.id, &folder)) {
        if searching {
            let st = a.status(m.queue.get(&a.id));
            if status.is_some_and(|s| s != st.as_str()) || !q.matches(&[&a.id]) {
                continue;
            }
            rows.push(Row::app(a, m, true));
            continue;
        }
        if a.folder() == folder {
            rows.push(Row::app(a, m, false));
            continue;
        }
        // A folder below this one: the app's id up to the next segment.
        let base = if folder == "/" { "" } else { folder.as_str() };
        let rest = &a.id[base.len() + 1..];
        let child = format!("{base}/{}", rest.split('/').next().unwrap_or(rest));
        let f = folders.entry(child).or_insert(Folder {
            apps: 0,
            cpus: 0.0,
            mem: 0.0,
            running: 0,
            instances: 0,
            health: Health {
                healthy: 0,
                unhealthy: 0,
                unknown: 0,
                of: 0,
                checked: false,
            },
        });
        f.apps += 1;
        f.cpus += a.cpus * a.instances as f64;
        f.mem += a.mem * a.instances as f64;
        f.running += a.running;
        f.instances += a.instances;
        f.health.add(a);
    }
    for (path, f) in folders {
        rows.push(Row {
            folder: true,
            name: path.rsplit('/').next().unwrap_or(&path).to_string(),
            href: format!("/ui/apps?folder={}", crate::table::encode(&path)),
            id: path,
            cpus: num(&f.cpus),
            mem: mib(&f.mem),
            cpus_n: f.cpus,
            mem_n: f.mem,
            running: f.running,
            instances: f.instances,
            health: f.health,
            status: if f.apps == 1 {
                "1 app".into()
            } else {
                format!("{} apps", f.apps)
            },
            deployments: 0,
        });
    }
    rows
}

/// Sort rows by a column (folders first either way) and cut the page.
pub fn sorted(rows: Vec<Row>, q: &Query, path: &str) -> (Vec<Row>, Pager) {
    let sort = q.sort_or("id").to_string();
    let desc = q.descending();
    let p = page(rows, q, |a, b| {
        // `page` reverses the whole comparison when descending; folders stay on top.
        let kind = b.folder.cmp(&a.folder);
        let kind = if desc { kind.reverse() } else { kind };
        let by = match sort.as_str() {
            "cpus" => a.cpus_n.total_cmp(&b.cpus_n),
            "mem" => a.mem_n.total_cmp(&b.mem_n),
            "running" => (a.running, a.instances).cmp(&(b.running, b.instances)),
            "instances" => a.instances.cmp(&b.instances),
            "status" => a.status.cmp(&b.status),
            _ => Ordering::Equal,
        };
        kind.then(by).then_with(|| a.id.cmp(&b.id))
    });
    let pager = Pager::new(&p, q, path);
    (p.rows, pager)
}

/// A message after an action, from `?done=…` (only the known ones: the query is anyone's).
pub fn done_message(params: &HashMap<String, String>) -> Option<String> {
    let app = params.get("app").map(String::as_str).unwrap_or("the app");
    let to = params
        .get("to")
        .and_then(|t| t.parse::<u64>().ok())
        .map(|n| format!("{n} instance{}", if n == 1 { "" } else { "s" }));
    Some(match params.get("done")?.as_str() {
        "suspended" => format!("Suspended {app}: scaling to 0 instances."),
        "scaled" => format!(
            "Scaling {app} to {}.",
            to.unwrap_or_else(|| "the number asked".into())
        ),
        "restarted" => format!("Restarting {app}: a deployment replaces each instance."),
        "destroyed" => format!("Destroyed {app}."),
        "delay-reset" => format!("The launch delay of {app} was reset: it launches again."),
        "rolled-back" => format!(
            "Rolling back deployment {}: a new deployment returns {app} to what it was.",
            params.get("id").map(String::as_str).unwrap_or("")
        ),
        "stopped" => format!(
            "Stopped deployment {} where it was.",
            params.get("id").map(String::as_str).unwrap_or("")
        ),
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "apps.html")]
pub struct AppsPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub folder: String,
    pub crumbs: Vec<(String, String)>,
    pub searching: bool,
    pub rows: Vec<Row>,
    pub pager: Pager,
    pub statuses: &'static [Status],
    pub flash: Option<String>,
    /// Marathon has not been read yet (it is down, or the UI just started).
    pub unread: bool,
}

impl AppsPage {
    pub fn sel(&self, status: &Status) -> bool {
        self.q.state.as_deref() == Some(status.as_str())
    }

    /// This view without its text and status filters.
    pub fn clear_link(&self) -> String {
        self.q
            .link(self.path, &[("q", None), ("state", None), ("page", None)])
    }
}

pub async fn list(
    State(ui): S,
    Q(q): Q<Query>,
    Q(params): Q<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let page_ = Page::new(&ui, &headers, "Apps", "apps", "app");
    let m = ui.live.marathon();
    let folder = folder_of(&q);
    let searching = q.state.as_deref().is_some_and(|s| !s.is_empty())
        || q.q.as_deref().is_some_and(|t| !t.trim().is_empty());
    let rows = select(&m, &q);
    let unread = !m.loaded;
    drop(m);
    let path = "/ui/apps";
    let (rows, pager) = sorted(rows, &q, path);
    render(&AppsPage {
        page: page_,
        crumbs: crumbs(&folder),
        folder,
        q,
        path,
        searching,
        rows,
        pager,
        statuses: STATUSES,
        flash: done_message(&params),
        unread,
    })
}

/// What a path under `/ui/apps/` asks for.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// The app's page.
    App(String),
    /// An action on an app (POST).
    Action(String, String),
    /// The spec editor's pages of an app: `edit`, `versions`, `versions/apply`.
    Editor(String, &'static str),
    /// An action's URL asked with GET (a reload after an error): the app's page.
    BackTo(String),
}

impl Target {
    /// The app it is about.
    pub fn app(&self) -> &str {
        match self {
            Target::App(id)
            | Target::BackTo(id)
            | Target::Action(id, _)
            | Target::Editor(id, _) => id,
        }
    }
}

/// The app id of a path (`web/sleepy` → `/web/sleepy`).
fn app_id(rest: &str) -> String {
    format!("/{}", rest.trim_matches('/'))
}

/// Whether `id` is one Marathon could hold (`/a/b`: lowercase letters, digits, `-` and `.`,
/// no `.` or `..` segment), so nothing else reaches Marathon's paths.
pub fn valid_id(id: &str) -> bool {
    id.starts_with('/')
        && id[1..].split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        })
}

/// The page for a path that names no app Marathon could hold (Marathon answers 404 for it).
fn not_an_id(ui: &Ui, headers: &HeaderMap, rest: &str) -> Response {
    super::missing(
        ui,
        headers,
        "apps",
        format!(
            "'/{rest}' is not an app id: ids are lowercase letters, digits, '-' and '.', in \
             segments split by '/'."
        ),
        "/ui/apps",
    )
}

/// Split `/ui/apps/<rest>`. An app that exists is its page, whatever its last segment (an app
/// may be called `/tools/scale`); POSTs end with what they do.
pub fn target(rest: &str, post: bool, known: impl Fn(&str) -> bool) -> Target {
    let id = app_id(rest);
    if !post && known(&id) {
        return Target::App(id);
    }
    let editor: &[(&str, &'static str)] = if post {
        &[("/versions/apply", "versions/apply"), ("/edit", "edit")]
    } else {
        &[("/versions", "versions"), ("/edit", "edit")]
    };
    for (suffix, what) in editor {
        if let Some(app) = id.strip_suffix(suffix).filter(|a| !a.is_empty()) {
            return Target::Editor(app.to_string(), what);
        }
    }
    if let Some((app, action)) = id.rsplit_once('/') {
        if !app.is_empty() && AppAction::NAMES.contains(&action) {
            return if post {
                Target::Action(app.to_string(), action.to_string())
            } else {
                Target::BackTo(app.to_string())
            };
        }
    }
    Target::App(id)
}

async fn get_path(
    State(ui): S,
    Path(rest): Path<String>,
    Q(q): Q<Query>,
    Q(params): Q<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let known = |id: &str| ui.live.marathon().apps.contains_key(id);
    let t = target(&rest, false, known);
    if !valid_id(t.app()) {
        return not_an_id(&ui, &headers, &rest);
    }
    match t {
        Target::App(id) => detail::page(&ui, &id, q, &params, &headers, None).await,
        Target::BackTo(id) => Redirect::to(&format!("/ui/apps{id}")).into_response(),
        Target::Editor(id, what) => editor_get(ui, id, what, params, headers).await,
        Target::Action(..) => Redirect::to("/ui/apps").into_response(),
    }
}

async fn post_path(
    State(ui): S,
    Path(rest): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let t = target(&rest, true, |_| false);
    if !valid_id(t.app()) {
        return not_an_id(&ui, &headers, &rest);
    }
    match t {
        Target::Action(id, action) => actions::run(&ui, &id, &action, &form, &headers).await,
        Target::Editor(id, what) => editor_post(ui, id, what, form, headers).await,
        Target::App(_) | Target::BackTo(_) => super::missing(
            &ui,
            &headers,
            "apps",
            format!(
                "There is no action at {}: an app's actions are {}.",
                rest,
                AppAction::NAMES.join(", ")
            ),
            "/ui/apps",
        ),
    }
}

/// The spec editor's GET pages of an app (its module serves them).
async fn editor_get(
    ui: Arc<Ui>,
    id: String,
    what: &'static str,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    if what == "versions" {
        super::editor::versions_page(ui, id, params, headers).await
    } else {
        super::editor::edit_page(ui, id, params, headers).await
    }
}

/// The spec editor's POSTs on an app (save an edit, apply a version).
async fn editor_post(
    ui: Arc<Ui>,
    id: String,
    what: &'static str,
    form: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    if what == "versions/apply" {
        super::editor::apply_version(ui, id, form, headers).await
    } else {
        super::editor::save_edit(ui, id, form, headers).await
    }
}
