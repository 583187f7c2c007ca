//! The jobs scheduler's state and decisions: jobs with their schedules, the runs it has
//! promised, offers, status updates and reconciliation. A pure core: every decision takes
//! `now` from its caller and does no I/O. It queues the store writes that must be durable
//! before anything acts on them ([`Jobs::take_pending`]) and returns the scheduler calls to
//! make; the driver applies the writes and posts the calls only if the writes landed — so a
//! run is on disk (keyed by job, schedule and due time, its task id derived from that key)
//! before any task of it is launched, and a leader that lost its fence launches nothing.
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | the types: [`Jobs`], [`Job`], [`Schedule`], [`Run`], the store layout |
//! | `persist.rs` | opening from the store, queued writes, history bounds |
//! | `due.rs` | schedules falling due: runs created, catch-up after a gap, skips with reasons |
//! | `launch.rs` | offers: matching runs that wait to a place, building their tasks |
//! | `updates.rs` | status updates, reconciliation, the restart policy, dependent jobs |
//! | `commands.rs` | what the REST APIs ask: jobs, schedules, runs started and stopped |

pub mod chronos;
mod commands;
mod due;
mod launch;
mod persist;
mod updates;

#[cfg(test)]
mod tests;

pub use persist::{newest_first as persist_newest_first, HISTORY_PER_JOB};

use crate::schedule::When;
use drover_api::metronome::JobSpec;
use drover_api::scheduler::Call;
use drover_api::{FrameworkID, TaskState};
use drover_store::{Op, Store};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Store keys: everything under `jobs/`.
pub mod keys {
    pub const FRAMEWORK_ID: &str = "jobs/framework_id";
    pub const SPECS: &str = "jobs/specs/";
    pub const CURSORS: &str = "jobs/cursors/";
    pub const RUNS: &str = "jobs/runs/";
    pub const HISTORY: &str = "jobs/history/";
    pub const SKIPPED: &str = "jobs/skipped/";
    pub fn spec(job: &str) -> String {
        format!("{SPECS}{job}")
    }
    pub fn cursor(job: &str, schedule: &str) -> String {
        format!("{CURSORS}{job}/{schedule}")
    }
    pub fn run(job: &str, run: &str) -> String {
        format!("{RUNS}{job}/{run}")
    }
    pub fn history(job: &str, run: &str) -> String {
        format!("{HISTORY}{job}/{run}")
    }
    pub fn skipped(job: &str, run: &str) -> String {
        format!("{SKIPPED}{job}/{run}")
    }
}

/// How a schedule says when: Metronome's cron or Chronos' ISO 8601 repeating interval.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Timing {
    Cron {
        expr: String,
        timezone: String,
    },
    Iso8601 {
        spec: String,
        timezone: Option<String>,
    },
}

/// One schedule of a job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Schedule {
    pub id: String,
    pub timing: Timing,
    pub starting_deadline_seconds: u64,
    /// `concurrencyPolicy: FORBID`: a due occurrence is skipped while a run is active.
    pub forbid_concurrent: bool,
    pub enabled: bool,
}

/// A job: Metronome's spec (its `schedules` kept here, not in the spec), the parents it waits
/// for (Chronos' `parents`, Metronome's `dependencies`), and the Chronos fields it was given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Job {
    pub spec: JobSpec,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub parents: Vec<String>,
    /// The job as Chronos was given it (for jobs made through the Chronos API): written back
    /// with its counters on `GET /v1/scheduler/jobs`.
    #[serde(default)]
    pub chronos: Option<Value>,
    /// Retries after a failure (Chronos' `retries`); Metronome's `ON_FAILURE` has no count.
    #[serde(default)]
    pub retries: Option<u32>,
    /// When the job was made (its first definition).
    pub created_at: Timestamp,
}

/// Where a schedule stands: the next occurrence not yet handled (run or skipped), and for
/// counted ISO 8601 schedules how many occurrences remain. Written in the same transaction as
/// the runs created for the occurrences before it: the exactly-once ledger.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Cursor {
    pub next_due: Option<Timestamp>,
    #[serde(default)]
    pub remaining: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Recorded; no task of it launched yet.
    Initial,
    /// A task launched (its id and agent recorded before the launch), not running yet.
    Starting,
    Active,
    Success,
    Failed,
}

impl RunStatus {
    pub fn finished(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::Failed)
    }
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Initial => "INITIAL",
            RunStatus::Starting => "STARTING",
            RunStatus::Active => "ACTIVE",
            RunStatus::Success => "SUCCESS",
            RunStatus::Failed => "FAILED",
        }
    }
}

/// Why a run exists.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Trigger {
    /// An occurrence of a schedule.
    Schedule { schedule: String, due: Timestamp },
    /// Started through the API (Metronome's POST runs, Chronos' PUT job).
    Manual,
    /// Its parents all succeeded; `parent_run` is the run that completed the set.
    Parents { parent: String, parent_run: String },
}

/// One task of a run: attempts are numbered from 1.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunTask {
    pub id: String,
    pub agent_id: String,
    pub host: String,
    pub state: TaskState,
    pub launched_at: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Run {
    pub id: String,
    pub job_id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub created_at: Timestamp,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Launch it by then or give it up (a schedule's `startingDeadlineSeconds` after its due
    /// time; `maxLaunchDelay` after a manual start).
    pub start_by: Timestamp,
    /// Give up retrying failures after this (`restart.activeDeadlineSeconds` after creation).
    #[serde(default)]
    pub retry_until: Option<Timestamp>,
    /// Attempts so far (the last task's id ends in `.<attempts>`).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub tasks: Vec<RunTask>,
    /// Chronos' run-time `arguments`.
    #[serde(default)]
    pub arguments: Option<Vec<String>>,
    /// Set when the run was stopped through the API (its task is being killed).
    #[serde(default)]
    pub stopping: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

impl Run {
    /// The task id of attempt `n` (1-based): derived from the run's key alone.
    pub fn task_id(&self, n: u32) -> String {
        format!("{}_{}.{}", self.job_id, self.id, n)
    }
    pub fn due(&self) -> Option<Timestamp> {
        match &self.trigger {
            Trigger::Schedule { due, .. } => Some(*due),
            _ => None,
        }
    }
}

/// An occurrence that was not run, and why.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Skipped {
    pub job_id: String,
    pub schedule: String,
    pub due: Timestamp,
    /// How many occurrences this entry stands for (a long gap collapses into one entry).
    pub count: u64,
    pub reason: String,
    pub at: Timestamp,
}

/// Something a watcher may want to know (`/v1/events`, logs): kept small and flat.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct JobEvent {
    #[serde(rename = "eventType")]
    pub kind: &'static str,
    #[serde(rename = "jobId")]
    pub job_id: String,
    #[serde(rename = "runId", skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub message: String,
    pub timestamp: Timestamp,
}

/// Counts since the core was opened, for metrics and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub runs_created: u64,
    pub runs_succeeded: u64,
    pub runs_failed: u64,
    pub occurrences_skipped: u64,
    pub tasks_launched: u64,
}

/// Where run ids of manual runs get their five random characters.
pub trait Entropy: Send {
    fn suffix(&mut self) -> String;
}

/// The scheduler's state.
pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub jobs: BTreeMap<String, Job>,
    /// Parsed schedules by (job, schedule id).
    pub(crate) whens: HashMap<(String, String), When>,
    pub cursors: HashMap<(String, String), Cursor>,
    /// Schedules by their next due time, so a tick costs what is due, not every job.
    pub(crate) due_index: BTreeSet<(Timestamp, String, String)>,
    /// Runs not finished, by job then run id.
    pub runs: BTreeMap<String, BTreeMap<String, Run>>,
    /// Finished runs, newest last, at most [`HISTORY_PER_JOB`] per job.
    pub history: HashMap<String, VecDeque<Run>>,
    /// Counts over all of a job's finished runs (not bounded like `history`).
    pub totals: HashMap<String, Totals>,
    pub skipped: HashMap<String, VecDeque<Skipped>>,
    /// Task id → (job, run).
    pub(crate) by_task: HashMap<String, (String, String)>,
    pub framework_id: Option<FrameworkID>,
    pub connected: bool,
    pub suppressed: bool,
    /// When the next explicit reconciliation of launched runs is due.
    pub next_reconcile: Option<Timestamp>,
    pub role: String,
    pub counters: Counters,
    pub entropy: Box<dyn Entropy>,
    pending: Vec<Op>,
    events: Vec<JobEvent>,
}

/// A job's finished runs, counted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub success_count: u64,
    pub failure_count: u64,
    pub last_success_at: Option<Timestamp>,
    pub last_failure_at: Option<Timestamp>,
    /// Failures since the last success (Chronos' `errorsSinceLastSuccess`).
    #[serde(default)]
    pub errors_since_success: u64,
}

/// Scheduler calls the core wants made, in order.
pub type Calls = Vec<Call>;

/// Metronome's run id of a scheduled occurrence: its due time (UTC, `yyyyMMddHHmmss`) and five
/// characters derived from (job, schedule, due), so every leader names it alike.
pub fn scheduled_run_id(job: &str, schedule: &str, due: Timestamp) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job
        .bytes()
        .chain([0])
        .chain(schedule.bytes())
        .chain([0])
        .chain(due.as_millisecond().to_le_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}{}", stamp(due), base36(h))
}

/// The run id of a dependent job's run: made at `now`, named by the parent run that completed
/// its parents' set.
pub fn scheduled_run_id_from(job: &str, parent_run: &str, now: Timestamp) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job.bytes().chain([1]).chain(parent_run.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}{}", stamp(now), base36(h))
}

/// `t` moved by `secs` seconds (saturating at the ends of time).
pub fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(if secs < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
}

/// `yyyyMMddHHmmss` in UTC.
pub fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%d%H%M%S").to_string()
}

/// Five characters `[0-9A-Z]` from a number.
pub fn base36(mut h: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push(char::from(DIGITS[(h % 36) as usize]));
        h /= 36;
    }
    s
}

impl Jobs {
    /// Queue a durable write.
    pub(crate) fn put<T: Serialize>(&mut self, key: String, value: &T) {
        match serde_json::to_vec(value) {
            Ok(v) => self.pending.push(Op::Put(key, v)),
            Err(e) => tracing::error!("jobs: encoding {key}: {e}"),
        }
    }
    pub(crate) fn delete(&mut self, key: String) {
        self.pending.push(Op::Delete(key));
    }
    /// The writes queued since the last call: the driver applies them in one transaction.
    pub fn take_pending(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.pending)
    }
    pub(crate) fn emit(
        &mut self,
        kind: &'static str,
        job: &str,
        run: Option<&str>,
        msg: String,
        now: Timestamp,
    ) {
        self.events.push(JobEvent {
            kind,
            job_id: job.to_string(),
            run_id: run.map(String::from),
            message: msg,
            timestamp: now,
        });
    }
    pub fn take_events(&mut self) -> Vec<JobEvent> {
        std::mem::take(&mut self.events)
    }
    /// A run, active or finished.
    pub fn run(&self, job: &str, run: &str) -> Option<&Run> {
        self.runs
            .get(job)
            .and_then(|r| r.get(run))
            .or_else(|| self.history.get(job)?.iter().find(|r| r.id == run))
    }
    pub fn active_runs(&self, job: &str) -> impl Iterator<Item = &Run> {
        self.runs.get(job).into_iter().flat_map(|r| r.values())
    }
    /// Runs waiting for an offer.
    pub fn waiting(&self) -> usize {
        self.runs
            .values()
            .flat_map(|r| r.values())
            .filter(|r| r.status == RunStatus::Initial && !r.stopping)
            .count()
    }
}
