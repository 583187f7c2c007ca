//! Metronome's REST API: `/v1/jobs` and their schedules and runs, `/v0/scheduled-jobs`,
//! `/v1/info`, `/ping`, `/leader`, `/v1/queue`. Handlers decode, call the core through the
//! driver, encode. Statuses and bodies are dcos/metronome's controllers': 404 bodies
//! `UnknownJob` `{id, message}`, `UnknownSchedule` `{id, message}`, `UnknownJobRun`
//! `{jobSpec, id, message}`; 409 `{message}` (a schedule refused by Scala's `require`, so its
//! message starts `requirement failed: `); 422 `{message, details}`, or `{message}` for
//! dependencies; a body that is not JSON 400 `{message, requestPath}`, as Play answers it.

use super::metronome_error;
use super::render::{self, Embed, Shown};
use super::validate::{
    check_schedule, check_spec, decode, job_from_spec, json_syntax, valid_schedule_id,
    SCHEDULE_ID_PATTERN,
};
use crate::core::RunStatus;
use crate::{JobsError, Shared};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drover_api::metronome::{ErrorDetail, JobSpec, ScheduleSpec};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::sync::Arc;

type S = State<Arc<Shared>>;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/info", get(info))
        .route("/v1/info", get(info))
        .route("/leader", get(leader))
        .route("/v1/queue", get(queue))
        .route("/v1/jobs", get(list_jobs).post(create_job))
        .route(
            "/v1/jobs/{id}",
            get(get_job).put(replace_job).delete(delete_job),
        )
        .route(
            "/v1/jobs/{id}/schedules",
            get(list_schedules).post(add_schedule),
        )
        .route(
            "/v1/jobs/{id}/schedules/{sid}",
            get(get_schedule)
                .put(replace_schedule)
                .delete(delete_schedule),
        )
        // The dcos CLI 0.6 asks for `schedules//{sid}` (it puts a `/` before the schedule id
        // too); Admin Router's nginx merges the slashes, so Metronome never saw them.
        .route(
            "/v1/jobs/{id}/schedules//{sid}",
            get(get_schedule)
                .put(replace_schedule)
                .delete(delete_schedule),
        )
        .route("/v1/jobs/{id}/runs", get(list_runs).post(start_run))
        .route("/v1/jobs/{id}/runs/{run}", get(get_run))
        .route("/v1/jobs/{id}/runs/{run}/actions/stop", post(stop_run))
        .route("/v1/jobs/{id}/skipped", get(skipped))
        .route("/v0/scheduled-jobs", post(create_job))
        .route(
            "/v0/scheduled-jobs/{id}",
            axum::routing::put(replace_scheduled_job),
        )
}

/// Metronome's answer for an error: the shared mapping, with the bodies Metronome words its own
/// way here (schedule conflicts from `require`, dependency errors from `JobSpec`).
fn err(e: JobsError) -> Response {
    let (status, message) = match &e {
        JobsError::ScheduleExists(_) | JobsError::OneSchedule => {
            (StatusCode::CONFLICT, format!("requirement failed: {e}"))
        }
        JobsError::ParentNotFound(p) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Dependencies contain unknown jobs. unknown=[{p}]"),
        ),
        JobsError::DependencyCycle(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Dependencies have a cycle.".into(),
        ),
        _ => return metronome_error(e),
    };
    (status, Json(json!({ "message": message }))).into_response()
}

/// Why a request body was refused: not JSON at all (Play's 400 `Invalid Json`, before any field
/// is looked at), or not a valid object (422).
enum Refused {
    NotJson(String),
    Invalid(JobsError),
}

impl From<JobsError> for Refused {
    fn from(e: JobsError) -> Self {
        Refused::Invalid(e)
    }
}

impl Refused {
    fn answer(self, uri: &Uri) -> Response {
        match self {
            Refused::NotJson(e) => {
                let body =
                    json!({"message": format!("Invalid Json: {e}"), "requestPath": uri.path()});
                (StatusCode::BAD_REQUEST, Json(body)).into_response()
            }
            Refused::Invalid(e) => err(e),
        }
    }
}

/// A request body as `T`.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Refused> {
    json_syntax(bytes).map_err(Refused::NotJson)?;
    Ok(decode(bytes)?)
}

async fn info() -> Response {
    Json(json!({"version": "0.6.33", "libVersion": "1.9.100"})).into_response()
}

async fn leader(State(s): S) -> Response {
    match s.leader() {
        Some(l) => Json(json!({ "leader": l })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "There is no leader"})),
        )
            .into_response(),
    }
}

/// Runs waiting for a place, by job.
async fn queue(State(s): S) -> Response {
    let v = s.read(|j| {
        j.runs
            .iter()
            .filter_map(|(job, runs)| {
                let waiting: Vec<_> = runs
                    .values()
                    .filter(|r| r.status == RunStatus::Initial)
                    .map(|r| json!({"runId": r.id}))
                    .collect();
                (!waiting.is_empty()).then(|| json!({"jobId": job, "runs": waiting}))
            })
            .collect::<Vec<_>>()
    });
    Json(v).into_response()
}

async fn list_jobs(State(s): S, RawQuery(q): RawQuery) -> Response {
    let embed = Embed::parse(q.as_deref());
    let now = Timestamp::now();
    let v = s.read(|j| {
        j.jobs
            .values()
            .map(|job| render::job(j, job, embed, Shown::InList, now))
            .collect::<Vec<_>>()
    });
    Json(v).into_response()
}

async fn get_job(State(s): S, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let embed = Embed::parse(q.as_deref());
    let now = Timestamp::now();
    match s.read(|j| {
        j.jobs
            .get(&id)
            .map(|job| render::job(j, job, embed, Shown::Alone, now))
    }) {
        Some(v) => Json(v).into_response(),
        None => err(JobsError::JobNotFound(id)),
    }
}

async fn create_job(State(s): S, uri: Uri, bytes: Bytes) -> Response {
    let spec: JobSpec = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r.answer(&uri),
    };
    let r = s.command(|j, now| {
        let job = job_from_spec(spec, now)?;
        j.create_job(job.clone(), now)?;
        Ok((job, vec![]))
    });
    match r {
        Ok(job) => {
            let mut spec = job.spec.clone();
            let now = Timestamp::now();
            spec.schedules = s.read(|j| {
                job.schedules
                    .iter()
                    .map(|x| render::schedule(j, &job.spec.id, x, now))
                    .collect()
            });
            (StatusCode::CREATED, Json(spec)).into_response()
        }
        Err(e) => err(e),
    }
}

/// `PUT /v1/jobs/{id}`: the id in the path wins over the body's.
async fn replace_job(State(s): S, Path(id): Path<String>, uri: Uri, bytes: Bytes) -> Response {
    let mut v: serde_json::Value = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r.answer(&uri),
    };
    if v.is_object() {
        v["id"] = json!(id);
    }
    let spec: JobSpec = match decode(v.to_string().as_bytes()) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    let details = check_spec(&spec);
    if !details.is_empty() {
        return err(JobsError::Invalid(details));
    }
    match s.command(|j, now| Ok((j.replace_job(spec, now)?, vec![]))) {
        Ok(job) => {
            let now = Timestamp::now();
            Json(s.read(|j| render::job(j, &job, Embed::default(), Shown::Alone, now)))
                .into_response()
        }
        Err(e) => err(e),
    }
}

/// `PUT /v0/scheduled-jobs/{id}`: the job and its schedule replaced together.
async fn replace_scheduled_job(
    State(s): S,
    Path(id): Path<String>,
    uri: Uri,
    bytes: Bytes,
) -> Response {
    let mut spec: JobSpec = match body(&bytes) {
        Ok(v) => v,
        Err(r) => return r.answer(&uri),
    };
    spec.id = id.clone();
    let r = s.command(|j, now| {
        let job = job_from_spec(spec, now)?;
        if !j.jobs.contains_key(&id) {
            return Err(JobsError::JobNotFound(id.clone()));
        }
        j.upsert_job(job.clone(), now)?;
        Ok((job, vec![]))
    });
    match r {
        Ok(job) => {
            let embed = Embed {
                schedules: true,
                ..Default::default()
            };
            let now = Timestamp::now();
            Json(s.read(|j| render::job(j, &job, embed, Shown::Alone, now))).into_response()
        }
        Err(e) => err(e),
    }
}

async fn delete_job(State(s): S, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let stop = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .any(|p| p == "stopCurrentJobRuns=true");
    match s.command(|j, now| j.delete_job(&id, stop, now)) {
        Ok(job) => Json(job.spec).into_response(),
        // Metronome names every job that depends on this one.
        Err(JobsError::HasDependents { job, .. }) => {
            let children: Vec<String> = s.read(|j| {
                j.jobs
                    .values()
                    .filter(|c| c.parents.iter().any(|p| p == &job))
                    .map(|c| c.spec.id.clone())
                    .collect()
            });
            let message = format!(
                "There are jobs with a dependency on {job}. children=[{}]",
                children.join(", ")
            );
            (StatusCode::CONFLICT, Json(json!({ "message": message }))).into_response()
        }
        Err(e) => err(e),
    }
}

async fn list_schedules(State(s): S, Path(id): Path<String>) -> Response {
    let now = Timestamp::now();
    let v = s.read(|j| {
        j.jobs.get(&id).map(|job| {
            job.schedules
                .iter()
                .map(|x| render::schedule(j, &id, x, now))
                .collect::<Vec<_>>()
        })
    });
    match v {
        Some(v) => Json(v).into_response(),
        None => err(JobsError::JobNotFound(id)),
    }
}

async fn get_schedule(State(s): S, Path((id, sid)): Path<(String, String)>) -> Response {
    let now = Timestamp::now();
    let v = s.read(|j| {
        let job = j
            .jobs
            .get(&id)
            .ok_or_else(|| JobsError::JobNotFound(id.clone()))?;
        job.schedules
            .iter()
            .find(|x| x.id == sid)
            .map(|x| render::schedule(j, &id, x, now))
            .ok_or_else(|| JobsError::ScheduleNotFound(sid.clone()))
    });
    match v {
        Ok(v) => Json(v).into_response(),
        Err(e) => err(e),
    }
}

/// A schedule sent on its own: its id checked against the schedule schema's pattern (the body's,
/// before the path's id replaces it on PUT, as Metronome validates the body first).
fn schedule_body(bytes: &[u8], id: Option<&str>) -> Result<crate::core::Schedule, Refused> {
    let mut spec: ScheduleSpec = body(bytes)?;
    if !valid_schedule_id(&spec.id) {
        let d = ErrorDetail {
            path: "/id".into(),
            errors: vec![format!(
                "'{}' does not match pattern {SCHEDULE_ID_PATTERN}",
                spec.id
            )],
        };
        return Err(JobsError::Invalid(vec![d]).into());
    }
    if let Some(id) = id {
        spec.id = id.to_string();
    }
    Ok(check_schedule(&spec, "").map_err(JobsError::Invalid)?)
}

async fn add_schedule(State(s): S, Path(id): Path<String>, uri: Uri, bytes: Bytes) -> Response {
    let sched = match schedule_body(&bytes, None) {
        Ok(x) => x,
        Err(r) => return r.answer(&uri),
    };
    let sid = sched.id.clone();
    match s.command(|j, now| Ok((j.add_schedule(&id, sched, now)?, vec![]))) {
        Ok(()) => (StatusCode::CREATED, Json(shown_schedule(&s, &id, &sid))).into_response(),
        Err(e) => err(e),
    }
}

fn shown_schedule(s: &Shared, id: &str, sid: &str) -> serde_json::Value {
    let now = Timestamp::now();
    s.read(|j| {
        j.jobs
            .get(id)
            .and_then(|job| job.schedules.iter().find(|x| x.id == sid))
            .map(|x| json!(render::schedule(j, id, x, now)))
            .unwrap_or(json!({}))
    })
}

async fn replace_schedule(
    State(s): S,
    Path((id, sid)): Path<(String, String)>,
    uri: Uri,
    bytes: Bytes,
) -> Response {
    let sched = match schedule_body(&bytes, Some(&sid)) {
        Ok(x) => x,
        Err(r) => return r.answer(&uri),
    };
    match s.command(|j, now| Ok((j.replace_schedule(&id, sched, now)?, vec![]))) {
        Ok(()) => Json(shown_schedule(&s, &id, &sid)).into_response(),
        Err(e) => err(e),
    }
}

async fn delete_schedule(State(s): S, Path((id, sid)): Path<(String, String)>) -> Response {
    match s.command(|j, now| Ok((j.delete_schedule(&id, &sid, now)?, vec![]))) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => err(e),
    }
}

async fn list_runs(State(s): S, Path(id): Path<String>) -> Response {
    let v = s.read(|j| {
        j.jobs
            .contains_key(&id)
            .then(|| j.active_runs(&id).map(render::run).collect::<Vec<_>>())
    });
    match v {
        Some(v) => Json(v).into_response(),
        None => err(JobsError::JobNotFound(id)),
    }
}

/// A run, active or finished (Metronome keeps only the active ones here). Metronome looks the
/// run up without the job, so an unknown job is an unknown run too.
async fn get_run(State(s): S, Path((id, run)): Path<(String, String)>) -> Response {
    let v = s.read(|j| {
        j.run(&id, &run)
            .map(render::run)
            .ok_or_else(|| JobsError::RunNotFound {
                job: id.clone(),
                run: run.clone(),
            })
    });
    match v {
        Ok(v) => Json(v).into_response(),
        Err(e) => err(e),
    }
}

async fn start_run(State(s): S, Path(id): Path<String>) -> Response {
    match s.command(|j, now| j.start_run(&id, None, now)) {
        Ok(run) => (StatusCode::CREATED, Json(render::run(&run))).into_response(),
        Err(e) => err(e),
    }
}

async fn stop_run(State(s): S, Path((id, run)): Path<(String, String)>) -> Response {
    let r = s.command(|j, now| {
        let shown = j.run(&id, &run).map(render::run);
        let calls = j.stop_run(&id, &run, now)?;
        Ok((shown, calls))
    });
    match r {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => StatusCode::OK.into_response(),
        Err(e) => err(e),
    }
}

/// Drover's own: the occurrences of a job that were not run, and why (newest first).
async fn skipped(State(s): S, Path(id): Path<String>) -> Response {
    let v = s.read(|j| {
        j.jobs.contains_key(&id).then(|| {
            j.skipped
                .get(&id)
                .map(|q| {
                    q.iter()
                        .rev()
                        .map(|x| {
                            json!({"scheduleId": x.schedule, "dueAt": render::time(x.due), "count": x.count,
                                   "reason": x.reason, "recordedAt": render::time(x.at)})
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    match v {
        Some(v) => Json(v).into_response(),
        None => err(JobsError::JobNotFound(id)),
    }
}
