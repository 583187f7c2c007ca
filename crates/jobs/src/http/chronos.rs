//! Chronos' REST API, under `/v1/scheduler/` (Chronos 3) and `/scheduler/` (Chronos 2) alike:
//! jobs added (`/iso8601`, `/dependency`, POST or PUT), listed, searched and summarised, run now
//! (with `arguments`), marked successful, their tasks killed, deleted (children handed on, see
//! `core::chronos`); run-time statistics; the dependency graph as CSV and DOT; `/leader`; and
//! `/metrics` at the root as chronos-python asks for it. Handlers decode, call the core through
//! the driver, encode (`chronos_json`). Statuses and bodies are mesos/chronos' resources': 204
//! with no body for a change, 400 `{"status":"Bad Request","message":…}` for anything refused,
//! an unknown job included (Chronos' `require` throws `IllegalArgumentException`).

use super::chronos_json::{self, Kind};
use crate::core::{persist_newest_first, Run, RunStatus};
use crate::{JobsError, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use drover_api::chronos::{ApiResult, ChronosJob, JobSummaries, JobSummary};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

type S = State<Arc<Shared>>;
type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// The percentiles `/stats/{p}` and `/job/stat/{name}` know, as Chronos' histogram names them.
const STATS: [&str; 7] = [
    "75thPercentile",
    "95thPercentile",
    "98thPercentile",
    "99thPercentile",
    "median",
    "mean",
    "count",
];

pub fn routes() -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/iso8601", post(add_scheduled).put(add_scheduled))
        .route("/dependency", post(add_dependent).put(add_dependent))
        .route("/jobs", get(list))
        .route("/jobs/search", get(search))
        .route("/jobs/summary", get(summary))
        .route("/job/{name}", get(show).put(run_now).delete(remove))
        .route("/job/success/{name}", put(mark_success))
        .route("/job/stat/{name}", get(job_stat))
        .route("/stats/{percentile}", get(stats))
        .route("/task/kill/{name}", delete(kill))
        .route("/graph/dot", get(dot))
        .route("/graph/csv", get(csv))
        .route("/leader", get(leader));
    Router::new()
        .nest("/v1/scheduler", api.clone())
        .nest("/scheduler", api)
        .route("/metrics", get(metrics))
}

/// Chronos' error body with `status`'s reason as its `status`.
fn answer(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ApiResult {
        status: status.canonical_reason().unwrap_or("Error").to_string(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

fn bad(message: impl Into<String>) -> Response {
    answer(StatusCode::BAD_REQUEST, message)
}

/// Chronos' answer for a refusal by the core.
fn err(e: JobsError) -> Response {
    match &e {
        JobsError::JobNotFound(n) => bad(format!("requirement failed: Job '{n}' not found")),
        JobsError::ParentNotFound(_) | JobsError::DependencyCycle(_) => {
            bad(format!("requirement failed: {e}"))
        }
        JobsError::NotStored | JobsError::Store(_) => {
            answer(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        _ => answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn params(q: Params) -> HashMap<String, String> {
    q.map(|Query(m)| m).unwrap_or_default()
}

async fn add_scheduled(State(s): S, bytes: Bytes) -> Response {
    add(&s, Kind::Scheduled, &bytes)
}

async fn add_dependent(State(s): S, bytes: Bytes) -> Response {
    add(&s, Kind::Dependent, &bytes)
}

/// Upsert: the same name replaces the job (its counts and history stay).
fn add(s: &Shared, kind: Kind, bytes: &[u8]) -> Response {
    let c = match chronos_json::decode(bytes) {
        Ok(c) => c,
        Err(m) => return bad(m),
    };
    let name = c.name.clone();
    let job = match chronos_json::job_from_chronos(c, kind, jiff::Timestamp::now()) {
        Ok(j) => j,
        Err(m) => return bad(m),
    };
    match s.command(|j, now| j.upsert_job(job, now).map(|()| ((), vec![]))) {
        Ok(()) => no_content(),
        Err(JobsError::ParentNotFound(p)) => bad(format!(
            "requirement failed: JobSchedule {name} does not have all parents defined! (no job '{p}')"
        )),
        Err(e) => err(e),
    }
}

/// Every job, Metronome's included; `uris` and `fetch` each filled from the other, as
/// Chronos' list does.
async fn list(State(s): S) -> Response {
    let jobs: Vec<ChronosJob> = s.read(|j| {
        j.jobs
            .values()
            .map(|job| {
                let mut c = chronos_json::render(j, job);
                if c.fetch.is_empty() {
                    c.fetch = c
                        .uris
                        .iter()
                        .map(|u| drover_api::chronos::Fetch::uri(u))
                        .collect();
                } else {
                    c.uris = c.fetch.iter().map(|f| f.uri.clone()).collect();
                }
                c
            })
            .collect()
    });
    Json(jobs).into_response()
}

/// `name`, `command` (each a lower-cased substring, both must hold), `any` (in either, enough
/// on its own), `limit` (10) and `offset` (0); no term at all lists every job.
async fn search(State(s): S, q: Params) -> Response {
    let q = params(q);
    let term = |k: &str| q.get(k).map(|v| v.to_lowercase()).filter(|v| !v.is_empty());
    let (name, command, any) = (term("name"), term("command"), term("any"));
    let number = |k: &str, d: usize| {
        q.get(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map_or(d, |n| usize::try_from(n.max(0)).unwrap_or(d))
    };
    let (limit, offset) = (number("limit", 10), number("offset", 0));
    let jobs: Vec<ChronosJob> = s.read(|j| {
        j.jobs
            .values()
            .map(|job| chronos_json::render(j, job))
            .filter(|c| {
                let (n, cmd) = (c.name.to_lowercase(), c.command.to_lowercase());
                let in_any = |x: &String| n.contains(x) || cmd.contains(x);
                if name.is_none() && command.is_none() {
                    // `any` alone (Chronos' code let every job through then; its docs do not).
                    return any.as_ref().is_none_or(in_any);
                }
                (name.as_ref().is_none_or(|x| n.contains(x))
                    && command.as_ref().is_none_or(|x| cmd.contains(x)))
                    || any.as_ref().is_some_and(in_any)
            })
            .skip(offset)
            .take(limit)
            .collect()
    });
    Json(jobs).into_response()
}

async fn summary(State(s): S) -> Response {
    let jobs = s.read(|j| {
        j.jobs
            .values()
            .map(|job| {
                let c = chronos_json::render(j, job);
                JobSummary {
                    name: c.name.clone(),
                    status: chronos_json::last_state(j.totals.get(&c.name)).into(),
                    state: chronos_json::current_state(j, &c.name),
                    schedule: c.schedule.clone().unwrap_or_default(),
                    parents: c.parents.clone().unwrap_or_default(),
                    disabled: c.disabled,
                }
            })
            .collect()
    });
    Json(JobSummaries { jobs }).into_response()
}

async fn show(State(s): S, Path(name): Path<String>) -> Response {
    match s.read(|j| j.jobs.get(&name).map(|job| chronos_json::render(j, job))) {
        Some(c) => Json(c).into_response(),
        None => err(JobsError::JobNotFound(name)),
    }
}

/// Run now. `arguments` (Chronos appends the string to the command) is split into words.
async fn run_now(State(s): S, Path(name): Path<String>, q: Params) -> Response {
    let arguments = params(q)
        .get("arguments")
        .map(|a| a.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|a| !a.is_empty());
    match s.command(|j, now| {
        let (_, calls) = j.start_run(&name, arguments, now)?;
        Ok(((), calls))
    }) {
        Ok(()) => no_content(),
        Err(e) => err(e),
    }
}

async fn remove(State(s): S, Path(name): Path<String>) -> Response {
    match s.command(|j, now| {
        let (_, calls) = j.delete_chronos_job(&name, now)?;
        Ok(((), calls))
    }) {
        Ok(()) => no_content(),
        Err(JobsError::JobNotFound(n)) => {
            bad(format!("requirement failed: JobSchedule '{n}' not found"))
        }
        Err(e) => err(e),
    }
}

/// Chronos answers 200 with its verdict as text, `false` for a job it does not know.
async fn mark_success(State(s): S, Path(name): Path<String>) -> Response {
    match s.command(|j, now| j.mark_success(&name, now).map(|()| ((), vec![]))) {
        Ok(()) => text(format!("marked job {name} as successful: true")),
        Err(JobsError::JobNotFound(_)) => text(format!("marked job {name} as successful: false")),
        Err(e) => err(e),
    }
}

async fn kill(State(s): S, Path(name): Path<String>) -> Response {
    match s.command(|j, now| Ok(((), j.kill_job_tasks(&name, now)?))) {
        Ok(()) => no_content(),
        Err(JobsError::JobNotFound(n)) => {
            bad(format!("requirement failed: JobSchedule '{n}' not found"))
        }
        Err(e) => err(e),
    }
}

/// How long a successful run took, in milliseconds: from its first task's start to its end.
fn elapsed_ms(r: &Run) -> Option<f64> {
    let first = r.tasks.first()?;
    let start = first.started_at.unwrap_or(first.launched_at);
    let end = r.completed_at?;
    let ms = end.as_millisecond() - start.as_millisecond();
    Some(ms.max(0) as f64)
}

/// Chronos' histogram of a job's run times (successful runs, milliseconds): percentiles as a
/// uniform reservoir's snapshot interpolates them, the mean, the count.
fn histogram(mut times: Vec<f64>) -> Map<String, Value> {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let q = |quantile: f64| -> f64 {
        if n == 0 {
            return 0.0;
        }
        let pos = quantile * (n as f64 + 1.0);
        let index = pos as usize;
        if index < 1 {
            return times[0];
        }
        if index >= n {
            return times[n - 1];
        }
        let (lower, upper) = (times[index - 1], times[index]);
        lower + (pos - pos.floor()) * (upper - lower)
    };
    let mean = if n == 0 {
        0.0
    } else {
        times.iter().sum::<f64>() / n as f64
    };
    let mut m = Map::new();
    for (k, v) in [
        ("75thPercentile", q(0.75)),
        ("95thPercentile", q(0.95)),
        ("98thPercentile", q(0.98)),
        ("99thPercentile", q(0.99)),
        ("median", q(0.5)),
        ("mean", mean),
    ] {
        m.insert(k.into(), json!(v));
    }
    m.insert("count".into(), json!(n));
    m
}

/// A job's successful runs' times.
fn run_times(j: &crate::Jobs, name: &str) -> Vec<f64> {
    j.history
        .get(name)
        .into_iter()
        .flatten()
        .filter(|r| r.status == RunStatus::Success)
        .filter_map(elapsed_ms)
        .collect()
}

/// `MM/dd/yy HH:mm:ss` in UTC, or `N/A`.
fn stat_time(t: Option<jiff::Timestamp>) -> String {
    t.map_or_else(
        || "N/A".into(),
        |t| t.strftime("%m/%d/%y %H:%M:%S").to_string(),
    )
}

/// Joda's period format Chronos prints durations with: `1h2m3s`, zero hours and minutes left out.
fn period(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// `{"histogram": {…}, "taskStatHistory": [{taskId, jobName, slaveId, startTime, endTime,
/// duration, status}]}`, newest first.
async fn job_stat(State(s): S, Path(name): Path<String>) -> Response {
    let v = s.read(|j| {
        j.jobs.contains_key(&name).then(|| {
            let active: Vec<&Run> = j.active_runs(&name).collect();
            let finished = persist_newest_first(j.history.get(&name));
            let tasks: Vec<Value> = active
                .into_iter()
                .chain(finished)
                .flat_map(|r| r.tasks.iter().rev())
                .map(|t| {
                    let start = t.started_at.unwrap_or(t.launched_at);
                    let mut o = json!({
                        "taskId": t.id, "jobName": name, "slaveId": t.agent_id,
                        "startTime": stat_time(Some(start)), "endTime": stat_time(t.completed_at),
                    });
                    if let Some(end) = t.completed_at {
                        o["duration"] =
                            json!(period(end.as_millisecond() - start.as_millisecond()));
                    }
                    o["status"] = json!(match t.state {
                        drover_api::TaskState::TASK_FINISHED => "Success",
                        st if st.is_terminal() => "Fail",
                        _ => "Running",
                    });
                    o
                })
                .collect();
            json!({"histogram": histogram(run_times(j, &name)), "taskStatHistory": tasks})
        })
    });
    match v {
        Some(v) => Json(v).into_response(),
        None => err(JobsError::JobNotFound(name)),
    }
}

/// Every job's run time at a percentile, slowest first, in seconds; `[]` for a name Chronos'
/// histogram does not have.
async fn stats(State(s): S, Path(percentile): Path<String>) -> Response {
    if !STATS.contains(&percentile.as_str()) {
        return Json(json!([])).into_response();
    }
    let mut rows: Vec<(String, f64)> = s.read(|j| {
        j.jobs
            .keys()
            .map(|name| {
                let h = histogram(run_times(j, name));
                let t = h.get(&percentile).and_then(Value::as_f64).unwrap_or(0.0);
                (name.clone(), t)
            })
            .collect()
    });
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let out: Vec<Value> = rows
        .into_iter()
        .map(|(name, t)| json!({"jobNameLabel": name, "time": t / 1000.0}))
        .collect();
    Json(out).into_response()
}

/// Every (parent, child) edge, in job name order.
fn edges(j: &crate::Jobs) -> Vec<(String, String)> {
    j.jobs
        .values()
        .flat_map(|c| c.parents.iter().map(|p| (p.clone(), c.spec.id.clone())))
        .collect()
}

/// JGraphT's DOT export as Chronos writes it: vertices numbered from 1, labelled by name.
async fn dot(State(s): S) -> Response {
    let body = s.read(|j| {
        let ids: HashMap<&str, usize> = j
            .jobs
            .keys()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i + 1))
            .collect();
        let mut out = String::from("digraph G {\n");
        for (n, i) in j.jobs.keys().map(|n| (n, ids.get(n.as_str()))) {
            if let Some(i) = i {
                out.push_str(&format!("  {i} [ label=\"{n}\" ];\n"));
            }
        }
        for (p, c) in edges(j) {
            if let (Some(a), Some(b)) = (ids.get(p.as_str()), ids.get(c.as_str())) {
                out.push_str(&format!("  {a} -> {b};\n"));
            }
        }
        out.push_str("}\n");
        out
    });
    text(body)
}

/// Chronos' `Exporter`: `node,<name>,<fresh|success|failure>,<idle|queued|n running>` per job,
/// then `link,<parent>,<child>` per edge.
async fn csv(State(s): S) -> Response {
    let body = s.read(|j| {
        let mut out = String::new();
        for name in j.jobs.keys() {
            out.push_str(&format!(
                "node,{name},{},{}\n",
                chronos_json::last_state(j.totals.get(name)),
                chronos_json::current_state(j, name)
            ));
        }
        for (p, c) in edges(j) {
            out.push_str(&format!("link,{p},{c}\n"));
        }
        out
    });
    text(body)
}

async fn leader(State(s): S) -> Response {
    Json(json!({"leader": s.leader().unwrap_or_default()})).into_response()
}

/// A Dropwizard metrics registry's JSON, as chronos-python reads `/metrics`: per job the
/// success and failure counters and the run-time histogram Chronos keeps.
async fn metrics(State(s): S) -> Response {
    let v = s.read(|j| {
        let mut counters = Map::new();
        let mut histograms = Map::new();
        for name in j.jobs.keys() {
            let t = j.totals.get(name).cloned().unwrap_or_default();
            counters.insert(
                format!("jobs.run.success.{name}"),
                json!({"count": t.success_count}),
            );
            counters.insert(
                format!("jobs.run.failure.{name}"),
                json!({"count": t.failure_count}),
            );
            histograms.insert(
                format!("jobs.run.time.{name}"),
                Value::Object(histogram(run_times(j, name))),
            );
        }
        json!({"version": "3.0.0", "gauges": {}, "counters": counters,
               "histograms": histograms, "meters": {}, "timers": {}})
    });
    Json(v).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_a_uniform_snapshot_does() {
        let h = histogram(vec![4000.0, 1000.0, 3000.0, 2000.0]);
        assert_eq!(h["median"], json!(2500.0));
        assert_eq!(h["mean"], json!(2500.0));
        assert_eq!(h["99thPercentile"], json!(4000.0));
        assert_eq!(h["count"], json!(4));
        let empty = histogram(vec![]);
        assert_eq!(empty["median"], json!(0.0));
    }

    #[test]
    fn durations_print_as_joda_periods() {
        assert_eq!(period(5_400), "5s");
        assert_eq!(period(3_723_000), "1h2m3s");
        assert_eq!(period(60_000), "1m0s");
    }
}
