//! How the core's jobs, schedules and runs look on Metronome's wire: its timestamp format
//! (`2016-07-15T13:02:59.735+0000`), runs with their tasks (in Metronome's task states),
//! schedules with `nextRunAt`, and the `embed=` parts of a job — as dcos/metronome's JSON
//! writers (`api/v1/models/package.scala`) and `JobInfoServiceImpl` put them together.

use crate::core::{Job, Jobs, Run, Schedule, Timing};
use drover_api::metronome::{FinishedRun, History, JobRun, RunTask, ScheduleSpec};
use drover_api::TaskState;
use jiff::Timestamp;
use serde_json::{json, Value};

/// Metronome's timestamp format, in UTC.
pub fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// What `embed=` asks for.
#[derive(Default, Clone, Copy, Debug)]
pub struct Embed {
    pub active_runs: bool,
    pub schedules: bool,
    pub history: bool,
    pub history_summary: bool,
}

impl Embed {
    /// Read every `embed=` of a query (repeatable; unknown values and parameters ignored).
    pub fn parse(query: Option<&str>) -> Embed {
        let mut e = Embed::default();
        for pair in query.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k != "embed" {
                continue;
            }
            for v in v.split(',') {
                match v {
                    "activeRuns" => e.active_runs = true,
                    "schedules" => e.schedules = true,
                    "history" => e.history = true,
                    "historySummary" => e.history_summary = true,
                    _ => {}
                }
            }
        }
        e
    }
}

/// Where a job is shown: alone (`GET /v1/jobs/{id}`) or in the list (`GET /v1/jobs`). In the
/// list Metronome embeds `activeRuns` only for jobs that have some (the dcos CLI's `job list`
/// then says `Running` for those only); alone, always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Alone,
    InList,
}

/// A Mesos task state as Metronome names it (`scheduler/TaskState.scala`): killing is still
/// running; error, lost, dropped, gone, unreachable and unknown are failed.
pub fn task_status(state: TaskState) -> &'static str {
    use TaskState::*;
    match state {
        TASK_STAGING => "TASK_STAGING",
        TASK_STARTING => "TASK_STARTING",
        TASK_RUNNING | TASK_KILLING => "TASK_RUNNING",
        TASK_FINISHED => "TASK_FINISHED",
        TASK_KILLED => "TASK_KILLED",
        TASK_FAILED
        | TASK_ERROR
        | TASK_LOST
        | TASK_DROPPED
        | TASK_UNREACHABLE
        | TASK_GONE
        | TASK_GONE_BY_OPERATOR
        | TASK_UNKNOWN => "TASK_FAILED",
    }
}

pub fn run(r: &Run) -> JobRun {
    JobRun {
        id: r.id.clone(),
        job_id: r.job_id.clone(),
        status: r.status.name().into(),
        created_at: time(r.created_at),
        completed_at: r.completed_at.map(time),
        tasks: r
            .tasks
            .iter()
            .map(|t| RunTask {
                id: t.id.clone(),
                started_at: Some(time(t.started_at.unwrap_or(t.launched_at))),
                completed_at: t.completed_at.map(time),
                status: task_status(t.state).into(),
            })
            .collect(),
    }
}

/// A schedule as Metronome shows it, with its next run: the next occurrence the scheduler will
/// handle, or for a disabled schedule the next time its expression names after `now` (Metronome
/// writes that for every schedule); null only when none is left.
pub fn schedule(j: &Jobs, job: &str, s: &Schedule, now: Timestamp) -> ScheduleSpec {
    let key = (job.to_string(), s.id.clone());
    let next = j
        .cursors
        .get(&key)
        .and_then(|c| c.next_due)
        .filter(|_| s.enabled)
        .or_else(|| j.whens.get(&key).and_then(|w| w.next_after(now)));
    let (cron, timezone) = match &s.timing {
        Timing::Cron { expr, timezone } => (expr.clone(), timezone.clone()),
        Timing::Iso8601 { spec, timezone } => (
            spec.clone(),
            timezone.clone().unwrap_or_else(|| "UTC".into()),
        ),
    };
    ScheduleSpec {
        id: s.id.clone(),
        cron,
        timezone,
        starting_deadline_seconds: s.starting_deadline_seconds,
        concurrency_policy: if s.forbid_concurrent {
            "FORBID"
        } else {
            "ALLOW"
        }
        .into(),
        enabled: s.enabled,
        next_run_at: next.map(time),
    }
}

fn finished(r: &Run) -> FinishedRun {
    FinishedRun {
        id: r.id.clone(),
        created_at: time(r.created_at),
        finished_at: r.completed_at.map(time),
        tasks: r.tasks.iter().map(|t| t.id.clone()).collect(),
    }
}

/// A job's history (`embed=history`: with its runs; `historySummary`: the counts only).
pub fn history(j: &Jobs, job: &str, with_runs: bool) -> History {
    let t = j.totals.get(job).cloned().unwrap_or_default();
    let runs = crate::core::persist_newest_first(j.history.get(job));
    History {
        success_count: t.success_count,
        failure_count: t.failure_count,
        last_success_at: t.last_success_at.map(time),
        last_failure_at: t.last_failure_at.map(time),
        successful_finished_runs: with_runs.then(|| {
            runs.iter()
                .filter(|r| r.status == crate::core::RunStatus::Success)
                .map(|r| finished(r))
                .collect()
        }),
        failed_finished_runs: with_runs.then(|| {
            runs.iter()
                .filter(|r| r.status == crate::core::RunStatus::Failed)
                .map(|r| finished(r))
                .collect()
        }),
    }
}

/// A job as `GET /v1/jobs[/{id}]` shows it, with what `embed` asks for.
pub fn job(j: &Jobs, job: &Job, embed: Embed, shown: Shown, now: Timestamp) -> Value {
    let mut spec = job.spec.clone();
    spec.dependencies = job
        .parents
        .iter()
        .map(|p| drover_api::metronome::JobRef { id: p.clone() })
        .collect();
    let mut v = serde_json::to_value(&spec).unwrap_or_else(|_| json!({}));
    let id = &job.spec.id;
    if embed.schedules {
        v["schedules"] = json!(job
            .schedules
            .iter()
            .map(|s| schedule(j, id, s, now))
            .collect::<Vec<_>>());
    }
    if embed.active_runs {
        let runs: Vec<JobRun> = j.active_runs(id).map(run).collect();
        if shown == Shown::Alone || !runs.is_empty() {
            v["activeRuns"] = json!(runs);
        }
    }
    if embed.history {
        v["history"] = json!(history(j, id, true));
    }
    if embed.history_summary {
        v["historySummary"] = json!(history(j, id, false));
    }
    v
}
