//! Jobs (the jobs scheduler, over Metronome's REST API): the jobs table and a job's page with
//! its schedules, runs, history and skipped occurrences, and Run now / Stop.
//!
//! | module | owns |
//! |---|---|
//! | here | the routes, the jobs table (`/ui/jobs`): filtered, sorted and paged here |
//! | `api.rs` | where the scheduler is (the URL given, else the framework `metronome`'s `webui_url`) and its answers |
//! | `detail.rs` | a job's page (`/ui/jobs/<id>`) |
//! | `actions.rs` | Run now and Stop: a form post becomes a `JobAction`, the action a Metronome request |
//!
//! Nothing of the scheduler is followed: each page reads it once (`GET /v1/jobs?embed=…`).
//! Live: runs come and go with their tasks, which the master reports, so a page fetches its
//! `<main>` again when a task of the framework `metronome` is added or ends
//! (`data-refresh="task"`, `data-refresh-framework`, see app.js), and a run's tasks change
//! state in place (`data-key="task:<id>"`).

pub mod actions;
pub mod api;
pub mod detail;

#[cfg(test)]
mod tests;

pub use actions::{JobAction, JobError};
pub use api::usable_url;

use super::{render, Page, S};
use crate::model::jobs::{time, Job, Status};
use crate::table::{page, Pager, Query};
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// What the jobs table asks the scheduler for.
pub const LIST: &str = "/v1/jobs?embed=activeRuns&embed=schedules&embed=historySummary";

/// This area's routes.
pub fn routes() -> Router<Arc<crate::Ui>> {
    Router::new()
        .route("/ui/jobs", get(list))
        .route("/ui/jobs/{id}", get(detail::get_page))
        .route("/ui/jobs/{id}/run", get(back).post(actions::run_now))
        .route(
            "/ui/jobs/{id}/runs/{run}/stop",
            get(back_from_run).post(actions::stop),
        )
}

/// An action's URL asked with GET (a reload after an error): the job's page.
async fn back(Path(id): Path<String>) -> Response {
    Redirect::to(&job_href(&id)).into_response()
}

async fn back_from_run(Path((id, _)): Path<(String, String)>) -> Response {
    Redirect::to(&job_href(&id)).into_response()
}

/// A job's page.
pub fn job_href(id: &str) -> String {
    format!("/ui/jobs/{}", crate::table::encode(id))
}

/// A row of the jobs table.
pub struct Row {
    pub id: String,
    pub href: String,
    pub description: String,
    /// `(cron, timezone, enabled)` of each schedule.
    pub schedules: Vec<(String, String, bool)>,
    pub next: String,
    next_raw: Option<String>,
    pub status: &'static str,
    pub active: usize,
    /// How the last run ended (`Succeeded`/`Failed`) and when.
    pub last: Option<(&'static str, String)>,
    last_raw: Option<String>,
    pub successes: u64,
    pub failures: u64,
}

impl Row {
    pub fn of(j: &Job) -> Row {
        let next = j.next_run().map(str::to_string);
        let last = j.last_run();
        Row {
            id: j.id.clone(),
            href: job_href(&j.id),
            description: j.description.clone(),
            schedules: j
                .schedules
                .iter()
                .map(|s| (s.cron.clone(), s.timezone.clone(), s.enabled))
                .collect(),
            next: next.as_deref().map_or_else(|| "—".into(), time),
            next_raw: next,
            status: j.status().as_str(),
            active: j.active_runs.len(),
            last: last.map(|(ok, at)| (if ok { "Succeeded" } else { "Failed" }, time(at))),
            last_raw: last.map(|(_, at)| at.to_string()),
            successes: j.success_count,
            failures: j.failure_count,
        }
    }
}

/// The jobs a query asks for: its text (id, description, labels) and status filters.
pub fn select(jobs: &[Job], q: &Query) -> Vec<Row> {
    let status = q.state.as_deref().filter(|s| !s.is_empty());
    jobs.iter()
        .filter(|j| status.is_none_or(|s| s == j.status().as_str()))
        .filter(|j| {
            let mut texts: Vec<&str> = vec![&j.id, &j.description];
            texts.extend(j.labels.iter().map(|(_, v)| v.as_str()));
            q.matches(&texts)
        })
        .map(Row::of)
        .collect()
}

/// Sort rows by a column and cut the page.
pub fn sorted(rows: Vec<Row>, q: &Query, path: &str) -> (Vec<Row>, Pager) {
    let sort = q.sort_or("id").to_string();
    let p = page(rows, q, |a, b| {
        // Jobs never run and never scheduled come after the others, ascending.
        let opt = |x: &Option<String>, y: &Option<String>| match (x, y) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        let by = match sort.as_str() {
            "next" => opt(&a.next_raw, &b.next_raw),
            "status" => a.status.cmp(b.status),
            "last" => opt(&a.last_raw, &b.last_raw),
            "successes" => a.successes.cmp(&b.successes),
            "failures" => a.failures.cmp(&b.failures),
            _ => Ordering::Equal,
        };
        by.then_with(|| a.id.cmp(&b.id))
    });
    let pager = Pager::new(&p, q, path);
    (p.rows, pager)
}

/// A message after an action, from `?done=…` (only the known ones: the query is anyone's).
pub fn done_message(params: &HashMap<String, String>) -> Option<String> {
    let job = params.get("job").map(String::as_str).unwrap_or("the job");
    let run = params.get("run").map(String::as_str).unwrap_or("");
    Some(match params.get("done")?.as_str() {
        "started" => format!("Started run {run} of {job}."),
        "stopped" => format!("Stopping run {run} of {job}: its tasks are being killed."),
        _ => return None,
    })
}

/// The framework id a page follows the tasks of (empty: unknown, any task's change).
pub fn followed(ui: &crate::Ui) -> String {
    api::framework(ui).map(|(id, _)| id).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "jobs.html")]
pub struct JobsPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub searching: bool,
    pub rows: Vec<Row>,
    pub pager: Pager,
    pub statuses: &'static [Status],
    pub flash: Option<String>,
    /// Why the scheduler could not be read.
    pub error: Option<String>,
    pub not_configured: bool,
    pub framework: String,
}

impl JobsPage {
    pub fn sel(&self, s: &Status) -> bool {
        self.q.state.as_deref() == Some(s.as_str())
    }

    /// This view without its filters.
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
    // Current to the events published before the scheduler is read.
    let page_ = Page::new(&ui, &headers, "Jobs", "jobs", "task");
    let (jobs, error) = match api::get(&ui, LIST).await {
        Ok(v) => (Job::list(&v), None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let searching = q.state.as_deref().is_some_and(|s| !s.is_empty())
        || q.q.as_deref().is_some_and(|t| !t.trim().is_empty());
    let path = "/ui/jobs";
    let (rows, pager) = sorted(select(&jobs, &q), &q, path);
    render(&JobsPage {
        page: page_,
        q,
        path,
        searching,
        rows,
        pager,
        statuses: Status::ALL,
        flash: done_message(&params),
        not_configured: error == Some(api::ApiError::NotConfigured),
        error: error.map(|e| e.message()),
        framework: followed(&ui),
    })
}
