//! A job's actions — Run now, and Stop on an active run — as plain HTML forms that work
//! without JavaScript. A post becomes a `JobAction`, the action the request Metronome's own UI
//! sends, and the answer a 303 back to the job's page saying what was done, or the job's page
//! again with the scheduler's message at the action and the scheduler's status.

use super::api::{self, ApiError};
use super::detail;
use crate::pages::S;
use crate::table::{encode, Query};
use crate::Ui;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobAction {
    /// Start a run now, whatever the schedules say.
    RunNow,
    /// Stop an active run (its tasks are killed).
    Stop(String),
}

/// Why an action did not happen, shown at its form.
#[derive(Clone, Debug, PartialEq)]
pub struct JobError {
    /// `run` or `stop`.
    pub action: &'static str,
    /// The run a Stop was for.
    pub run: Option<String>,
    /// The status the page answers with: the scheduler's, or the one for what happened.
    pub status: u16,
    pub message: String,
    /// The scheduler's validation details, `path: error` each.
    pub details: Vec<String>,
}

impl JobError {
    pub fn of(action: &JobAction, e: &ApiError) -> JobError {
        JobError {
            action: action.name(),
            run: match action {
                JobAction::Stop(r) => Some(r.clone()),
                JobAction::RunNow => None,
            },
            status: e.status(),
            message: e.message(),
            details: e.details(),
        }
    }

    /// Whether the scheduler itself refused (else it was not reached).
    pub fn refused(&self) -> bool {
        !matches!(self.status, 502 | 503)
    }
}

impl JobAction {
    pub fn name(&self) -> &'static str {
        match self {
            JobAction::RunNow => "run",
            JobAction::Stop(_) => "stop",
        }
    }

    /// The scheduler's path it is posted to.
    pub fn path(&self, job: &str) -> String {
        match self {
            JobAction::RunNow => format!("/v1/jobs/{job}/runs"),
            JobAction::Stop(run) => format!("/v1/jobs/{job}/runs/{run}/actions/stop"),
        }
    }

    /// Where to go once it is done (`answer`: the scheduler's, the new run for Run now).
    pub fn done(&self, job: &str, answer: &Value) -> String {
        let run = match self {
            JobAction::RunNow => answer["id"].as_str().unwrap_or(""),
            JobAction::Stop(run) => run,
        };
        let what = match self {
            JobAction::RunNow => "started",
            JobAction::Stop(_) => "stopped",
        };
        format!(
            "{}?done={what}&job={}&run={}",
            super::job_href(job),
            encode(job),
            encode(run)
        )
    }
}

/// Do `action` on job `job`.
pub async fn act(ui: &Ui, job: &str, action: JobAction, headers: &HeaderMap) -> Response {
    if !api::valid_job_id(job) {
        return detail::not_an_id(ui, headers, job);
    }
    if let JobAction::Stop(run) = &action {
        if !api::valid_run_id(run) {
            return crate::pages::missing(
                ui,
                headers,
                "jobs",
                format!("'{run}' is not a run id."),
                "/ui/jobs",
            );
        }
    }
    match api::post(ui, &action.path(job)).await {
        Ok(v) => Redirect::to(&action.done(job, &v)).into_response(),
        Err(e) => {
            let none = HashMap::new();
            let err = JobError::of(&action, &e);
            detail::page(ui, job, Query::default(), &none, headers, Some(err)).await
        }
    }
}

pub async fn run_now(State(ui): S, Path(id): Path<String>, headers: HeaderMap) -> Response {
    act(&ui, &id, JobAction::RunNow, &headers).await
}

pub async fn stop(
    State(ui): S,
    Path((id, run)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    act(&ui, &id, JobAction::Stop(run), &headers).await
}
