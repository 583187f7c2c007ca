//! An app's page: its counts, status and health (live, keyed `app:<id>`), the actions, its
//! running deployments with their steps, why it is not running, its tasks (paged), the last
//! task failure and its configuration.
//!
//! The app and its tasks are read from Marathon when the page is asked (`GET /v2/apps/<id>`,
//! which carries the tasks): Marathon's task JSON has what the cluster model lacks — the
//! results of Marathon's own health checks and the host ports it gave each task — and names
//! exactly the app's tasks, where task ids only carry a lossy prefix (`/web_x` and `/web/x`
//! both start theirs `web_x.`). One read per page, paged here: an app of 750 tasks renders
//! 50. Where Marathon cannot be read, the page shows what the model holds and says so.
//!
//! Live: the header follows `app` events in place; any `app` event of this app (a task of it
//! changed) or `deployments` event re-reads the page's `<main>` (`data-refresh-key`, see
//! app.js), so the tab needs no `task` events of the whole cluster.

use super::{crumbs, done_message, ActionError, Why};
use crate::fmt::mib;
use crate::live::app_path;
use crate::model::marathon::{App, Status};
use crate::pages::deployments::DeploymentView;
use crate::pages::{missing, render, Page};
use crate::table::{page as cut, Pager, Query};
use crate::Ui;
use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;

/// A task of the app as its table shows it.
pub struct TaskRow {
    pub id: String,
    pub state: String,
    /// `Healthy`, `Unhealthy`, `Unknown` (checked, no result yet) or `—` (no checks).
    pub health: &'static str,
    pub host: String,
    pub agent_id: String,
    /// `host:port` each.
    pub endpoints: Vec<String>,
    pub started: String,
    pub version: String,
}

impl TaskRow {
    fn from_json(t: &Value, checked: bool) -> Option<TaskRow> {
        let results: Vec<&Value> = t["healthCheckResults"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let health = if results.iter().any(|r| r["alive"] == false) {
            "Unhealthy"
        } else if !results.is_empty() {
            "Healthy"
        } else if checked {
            "Unknown"
        } else {
            "—"
        };
        let host = t["host"].as_str().unwrap_or("").to_string();
        let endpoints = t["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .map(|p| format!("{host}:{p}"))
            .collect();
        let started = match t["startedAt"].as_str() {
            Some(s) => s.to_string(),
            None => t["stagedAt"]
                .as_str()
                .map_or("—".into(), |s| format!("staged {s}")),
        };
        Some(TaskRow {
            id: t["id"].as_str()?.to_string(),
            state: t["state"].as_str().unwrap_or("").to_string(),
            health,
            agent_id: t["slaveId"].as_str().unwrap_or("").to_string(),
            host,
            endpoints,
            started,
            version: t["version"].as_str().unwrap_or("").to_string(),
        })
    }
}

/// The app's last task failure (`lastTaskFailure`).
pub struct Failure {
    pub task_id: String,
    pub state: String,
    pub message: String,
    pub host: String,
    pub when: String,
    pub version: String,
}

impl Failure {
    fn from_json(f: &Value) -> Option<Failure> {
        let s = |k: &str| f[k].as_str().unwrap_or("—").to_string();
        Some(Failure {
            task_id: f["taskId"].as_str()?.to_string(),
            state: s("state"),
            message: f["message"]
                .as_str()
                .filter(|m| !m.is_empty())
                .unwrap_or("—")
                .to_string(),
            host: s("host"),
            when: s("timestamp"),
            version: s("version"),
        })
    }
}

#[derive(Template)]
#[template(path = "app.html")]
pub struct AppPage {
    pub page: Page,
    pub id: String,
    /// The app's header: counts, status and health, keyed for `app` events.
    pub r: super::Row,
    pub disk: String,
    pub version: String,
    pub crumbs: Vec<(String, String)>,
    pub flash: Option<String>,
    pub error: Option<ActionError>,
    /// Marathon could not be read: what the model holds is shown, and why.
    pub stale: Option<String>,
    pub deployments: Vec<DeploymentView>,
    /// Shown when the app is not all running (waiting, delayed, fewer running than wanted).
    pub not_running: bool,
    pub why: Option<Why>,
    pub why_error: Option<String>,
    pub q: Query,
    pub path: String,
    pub tasks: Vec<TaskRow>,
    pub pager: Pager,
    pub failure: Option<Failure>,
    pub config: String,
    /// The page re-reads itself when the app changes (not after a failed action, whose
    /// message would go).
    pub follow: bool,
}

impl AppPage {
    pub fn err(&self, action: &str) -> Option<&ActionError> {
        self.error
            .as_ref()
            .filter(|e| e.is(action) && e.deployment.is_none())
    }

    pub fn dep_err(&self, id: &str) -> Option<&ActionError> {
        self.error
            .as_ref()
            .filter(|e| e.deployment.as_deref() == Some(id))
    }

    pub fn delayed(&self) -> bool {
        self.r.status == Status::Delayed.as_str() || self.why.as_ref().is_some_and(|w| w.delayed)
    }

    /// Where the roll back and stop forms come back to.
    pub fn back(&self) -> String {
        format!("/ui/apps{}", self.id)
    }
}

/// The app as Marathon has it now (with its tasks), or as the model holds it with why
/// Marathon was not read; `None` when neither knows it.
async fn load(ui: &Ui, id: &str) -> Option<(App, Option<String>)> {
    match ui.marathon.get(&app_path(id)).await {
        Ok(Some(v)) => App::from_json(&v["app"]).map(|a| (a, None)),
        Ok(None) => None,
        Err(e) => {
            let m = ui.live.marathon();
            m.apps.get(id).map(|a| (a.clone(), Some(e)))
        }
    }
}

/// The page of app `id` (`error`: an action that failed, shown at its form, with its status).
pub async fn page(
    ui: &Ui,
    id: &str,
    q: Query,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    error: Option<ActionError>,
) -> Response {
    // Current to the events published before Marathon is read: any after are replayed to the
    // tab, so none is lost between the reads and the stream.
    let page_frame = Page::new(ui, headers, format!("App {id}"), "apps", "app,deployments");
    let Some((app, stale)) = load(ui, id).await else {
        return missing(
            ui,
            headers,
            "apps",
            format!("No app with id '{id}' is known to Marathon."),
            "/ui/apps",
        );
    };
    let r = {
        let m = ui.live.marathon();
        let mut r = super::Row::app(&app, &m, true);
        // Marathon's answer is newer than the model when it says deploying; the queue's
        // Waiting and Delayed still come first, as in Marathon's UI.
        if !app.deployments.is_empty() && !matches!(r.status.as_str(), "Waiting" | "Delayed") {
            r.status = Status::Deploying.as_str().to_string();
        }
        r
    };
    let not_running =
        matches!(r.status.as_str(), "Waiting" | "Delayed") || app.running < app.instances;
    let (why, why_error) = if not_running && stale.is_none() {
        match ui.marathon.get("/v2/queue?embed=lastUnusedOffers").await {
            Ok(v) => (v.and_then(|v| Why::from_queue(&v, id)), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    let deployments: Vec<DeploymentView> = crate::pages::deployments::views(ui)
        .into_iter()
        .filter(|d| d.touches(id) || app.deployments.contains(&d.id))
        .collect();
    let tasks: Vec<TaskRow> = app.raw["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| TaskRow::from_json(t, app.health_checked))
        .collect();
    let path = format!("/ui/apps{id}");
    let sort = q.sort_or("host").to_string();
    let p = cut(tasks, &q, |a, b| match sort.as_str() {
        "state" => a.state.cmp(&b.state).then(a.id.cmp(&b.id)),
        "started" => a.started.cmp(&b.started).then(a.id.cmp(&b.id)),
        "health" => a.health.cmp(b.health).then(a.id.cmp(&b.id)),
        "id" => a.id.cmp(&b.id),
        _ => a.host.cmp(&b.host).then(a.id.cmp(&b.id)),
    });
    let pager = Pager::new(&p, &q, &path);
    let mut config = app.raw.clone();
    if let Some(o) = config.as_object_mut() {
        // What Marathon adds to an app it shows is not its configuration.
        for k in [
            "tasks",
            "tasksRunning",
            "tasksStaged",
            "tasksHealthy",
            "tasksUnhealthy",
            "deployments",
            "lastTaskFailure",
            "readinessCheckResults",
        ] {
            o.remove(k);
        }
    }
    let status = error
        .as_ref()
        .and_then(|e| StatusCode::from_u16(e.status).ok());
    let folder = app.folder().to_string();
    let view = AppPage {
        page: page_frame,
        id: id.to_string(),
        disk: mib(&app.disk),
        version: if app.version.is_empty() {
            "—".into()
        } else {
            app.version.clone()
        },
        crumbs: crumbs(&folder),
        flash: done_message(params),
        follow: error.is_none(),
        error,
        stale,
        deployments,
        not_running,
        why,
        why_error,
        q,
        path,
        tasks: p.rows,
        pager,
        failure: Failure::from_json(&app.raw["lastTaskFailure"]),
        config: serde_json::to_string_pretty(&config).unwrap_or_default(),
        r,
    };
    let mut resp = render(&view);
    if let Some(s) = status {
        *resp.status_mut() = s;
    }
    resp
}
