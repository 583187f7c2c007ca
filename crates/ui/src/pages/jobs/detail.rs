//! A job's page: its status and counts, Run now, its schedules, its active runs (their tasks
//! linked to the task pages, a Stop on each), what a run launches, its finished runs (paged)
//! and the occurrences that were not run, with why.
//!
//! Read when asked: `GET /v1/jobs/<id>?embed=activeRuns&embed=schedules&embed=history` and
//! Drover's `GET /v1/jobs/<id>/skipped` (a scheduler without it — Metronome itself — is said
//! to keep no such list).

use super::api::{self, ApiError};
use super::{done_message, followed, JobError};
use crate::model::jobs::{time, Finished, Job, Run, Schedule, Skipped};
use crate::pages::{missing, render, Page, S};
use crate::table::{encode, page as cut, Pager, Query};
use crate::Ui;
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::HashMap;

/// The most skipped occurrences listed (newest first).
pub const SKIPPED_SHOWN: usize = 50;

pub struct ScheduleView {
    pub id: String,
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    pub concurrency: String,
    pub deadline: String,
    pub next: String,
}

impl ScheduleView {
    fn of(s: &Schedule) -> ScheduleView {
        ScheduleView {
            id: s.id.clone(),
            cron: s.cron.clone(),
            timezone: s.timezone.clone(),
            enabled: s.enabled,
            concurrency: s.concurrency.clone(),
            deadline: s.deadline.map_or_else(|| "—".into(), |d| format!("{d} s")),
            next: match (&s.next_run_at, s.enabled) {
                (_, false) => "— (disabled)".into(),
                (Some(t), true) => time(t),
                (None, true) => "— (none to come)".into(),
            },
        }
    }
}

pub struct TaskView {
    pub id: String,
    pub state: String,
    pub started: String,
}

pub struct RunView {
    pub id: String,
    pub status: String,
    pub words: &'static str,
    pub created: String,
    pub tasks: Vec<TaskView>,
    /// The Stop form's action.
    pub stop: String,
}

impl RunView {
    fn of(job: &str, r: &Run) -> RunView {
        RunView {
            id: r.id.clone(),
            status: r.status.clone(),
            words: r.status_words(),
            created: time(&r.created_at),
            tasks: r
                .tasks
                .iter()
                .map(|t| TaskView {
                    id: t.id.clone(),
                    state: t.status.clone(),
                    started: t.started_at.as_deref().map_or_else(|| "—".into(), time),
                })
                .collect(),
            stop: format!("/ui/jobs/{}/runs/{}/stop", encode(job), encode(&r.id)),
        }
    }
}

pub struct FinishedView {
    pub id: String,
    pub result: &'static str,
    pub success: bool,
    pub created: String,
    pub finished: String,
    pub tasks: Vec<String>,
}

impl FinishedView {
    fn of(r: &Finished) -> FinishedView {
        FinishedView {
            id: r.id.clone(),
            result: if r.success { "Succeeded" } else { "Failed" },
            success: r.success,
            created: time(&r.created_at),
            finished: r.finished_at.as_deref().map_or_else(|| "—".into(), time),
            tasks: r.tasks.clone(),
        }
    }
}

pub struct SkippedView {
    pub due: String,
    pub schedule: String,
    pub count: u64,
    pub reason: String,
    pub recorded: String,
}

impl SkippedView {
    fn of(s: &Skipped) -> SkippedView {
        SkippedView {
            due: time(&s.due_at),
            schedule: s.schedule_id.clone(),
            count: s.count,
            reason: s.reason.clone(),
            recorded: time(&s.recorded_at),
        }
    }
}

#[derive(Template)]
#[template(path = "job.html")]
pub struct JobPage {
    pub page: Page,
    pub id: String,
    pub job: Job,
    pub status: &'static str,
    pub next: String,
    /// How the last run ended and when.
    pub last: Option<(&'static str, String)>,
    pub flash: Option<String>,
    pub error: Option<JobError>,
    /// The page fetches itself again as runs come and go (not after a failed action, whose
    /// message would go).
    pub follow: bool,
    pub framework: String,
    pub schedules: Vec<ScheduleView>,
    pub runs: Vec<RunView>,
    pub q: Query,
    pub path: String,
    pub history: Vec<FinishedView>,
    pub pager: Pager,
    pub skipped: Vec<SkippedView>,
    /// Skipped entries not listed (past `SKIPPED_SHOWN`).
    pub skipped_more: usize,
    /// Why the skipped occurrences are not listed.
    pub skipped_error: Option<String>,
    pub mem: String,
    pub disk: String,
    pub cpus: String,
    pub config: String,
}

impl JobPage {
    pub fn err(&self, action: &str) -> Option<&JobError> {
        self.error
            .as_ref()
            .filter(|e| e.action == action && e.run.is_none())
    }

    /// A Stop that failed (shown above the runs: its run may have ended meanwhile).
    pub fn stop_err(&self) -> Option<&JobError> {
        self.error.as_ref().filter(|e| e.action == "stop")
    }

    pub fn run_err(&self, run: &str) -> Option<&JobError> {
        self.error
            .as_ref()
            .filter(|e| e.run.as_deref() == Some(run))
    }

    pub fn run_href(&self) -> String {
        format!("/ui/jobs/{}/run", encode(&self.id))
    }
}

/// The page for when the scheduler gave no job to show.
#[derive(Template)]
#[template(path = "job_unavailable.html")]
pub struct Unavailable {
    pub page: Page,
    pub id: String,
    pub message: String,
    pub details: Vec<String>,
    /// The action that was tried, when it was one.
    pub action: Option<JobError>,
}

/// The job's definition as the scheduler has it: without what it adds when it shows one (runs,
/// history, each schedule's next run).
fn definition(raw: &serde_json::Value) -> String {
    let mut v = raw.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["activeRuns", "history", "historySummary"] {
            o.remove(k);
        }
    }
    for s in v["schedules"].as_array_mut().into_iter().flatten() {
        if let Some(o) = s.as_object_mut() {
            o.remove("nextRunAt");
        }
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The job's JSON, with everything embedded.
pub fn job_path(id: &str) -> String {
    format!("/v1/jobs/{id}?embed=activeRuns&embed=schedules&embed=history")
}

pub async fn get_page(
    State(ui): S,
    Path(id): Path<String>,
    Q(q): Q<Query>,
    Q(params): Q<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    page(&ui, &id, q, &params, &headers, None).await
}

/// The page for a path that names no job the scheduler could hold.
pub fn not_an_id(ui: &Ui, headers: &HeaderMap, id: &str) -> Response {
    missing(
        ui,
        headers,
        "jobs",
        format!(
            "'{id}' is not a job id: ids are lowercase letters, digits and '-', in parts split \
             by '.'."
        ),
        "/ui/jobs",
    )
}

/// The page of job `id` (`error`: an action that failed, shown at its form, with its status).
pub async fn page(
    ui: &Ui,
    id: &str,
    q: Query,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    error: Option<JobError>,
) -> Response {
    if !api::valid_job_id(id) {
        return not_an_id(ui, headers, id);
    }
    let frame = Page::new(ui, headers, format!("Job {id}"), "jobs", "task");
    let (job_path, skipped_path) = (job_path(id), format!("/v1/jobs/{id}/skipped"));
    let (job, skipped) = futures_util::join!(api::get(ui, &job_path), api::get(ui, &skipped_path));
    let job = match job.map(|v| Job::from_json(&v)) {
        Ok(Some(j)) => j,
        Ok(None) | Err(ApiError::Refused(404, _)) => {
            return missing(
                ui,
                headers,
                "jobs",
                format!("No job with id '{id}' is known to the jobs scheduler."),
                "/ui/jobs",
            )
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut r = render(&Unavailable {
                page: frame,
                id: id.to_string(),
                message: e.message(),
                details: e.details(),
                action: error,
            });
            *r.status_mut() = status;
            return r;
        }
    };
    let (skipped, skipped_error) = match skipped {
        Ok(v) => (crate::model::jobs::skipped(&v), None),
        Err(ApiError::Refused(404, _)) => (
            Vec::new(),
            Some("This jobs scheduler keeps no list of skipped occurrences.".to_string()),
        ),
        Err(e) => (Vec::new(), Some(e.message())),
    };
    let path = format!("/ui/jobs/{}", encode(id));
    // Finished runs, newest first, paged.
    let finished: Vec<FinishedView> = job.history.iter().map(FinishedView::of).collect();
    let p = cut(finished, &q, |_, _| std::cmp::Ordering::Equal);
    let pager = Pager::new(&p, &q, &path);
    let status = error
        .as_ref()
        .and_then(|e| StatusCode::from_u16(e.status).ok());
    let last = job
        .last_run()
        .map(|(ok, at)| (if ok { "Succeeded" } else { "Failed" }, time(at)));
    let view = JobPage {
        page: frame,
        id: id.to_string(),
        status: job.status().as_str(),
        next: job.next_run().map_or_else(|| "—".into(), time),
        last,
        flash: done_message(params),
        follow: error.is_none(),
        error,
        framework: followed(ui),
        schedules: job.schedules.iter().map(ScheduleView::of).collect(),
        runs: job.active_runs.iter().map(|r| RunView::of(id, r)).collect(),
        q,
        path,
        history: p.rows,
        pager,
        skipped_more: skipped.len().saturating_sub(SKIPPED_SHOWN),
        skipped: skipped
            .iter()
            .take(SKIPPED_SHOWN)
            .map(SkippedView::of)
            .collect(),
        skipped_error,
        mem: crate::fmt::mib(&job.what.mem),
        disk: crate::fmt::mib(&job.what.disk),
        cpus: crate::fmt::num(&job.what.cpus),
        config: definition(&job.raw),
        job,
    };
    let mut resp = render(&view);
    if let Some(s) = status {
        *resp.status_mut() = s;
    }
    resp
}
