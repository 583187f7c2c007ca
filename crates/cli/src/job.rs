//! `drover job ...`: jobs through Metronome's REST API (what `dcos job` drives) — list, show,
//! add, run (and follow a run to its end with `--wait`), history (with the occurrences Drover
//! skipped, and why, from its `/v1/jobs/{id}/skipped`), kill, remove, and a job's schedules.
//! The scheduler is `--jobs` (`DROVER_JOBS`), else `<--gateway>/service/metronome` (the
//! gateway's route, as the dcos CLI reaches it), else `127.0.0.1:9000` (`drover up`'s).
//!
//! Failures map onto the CLI's exit codes as `drover app`'s do: no such job, run or schedule 3,
//! a conflict (the id is taken, runs are active) 4, an unreadable file 2, any other refusal
//! (a 422 with its details) or a failed run 1, a wait that ran out 6; an unreachable gateway 5.

use crate::client::{Answer, Client};
use crate::error::{Error, Server};
use crate::render::{labelled, num, outln, print_json, table, truncate, value_text, Live};
use clap::{Args, Subcommand};
use comfy_table::Table;
use drover_api::metronome::{FinishedRun, History, JobRef, JobRun, ScheduleSpec};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `drover up`'s jobs scheduler.
const DEFAULT_JOBS: &str = "http://127.0.0.1:9000";
/// How often a followed run is read.
const POLL: Duration = Duration::from_millis(500);
/// How long a followed run's scheduler may stay silent (a failover) before the wait gives up.
const SILENCE: Duration = Duration::from_secs(60);
/// Finished runs `drover job show` lists (all of them: `drover job history`).
const LAST_RUNS: usize = 5;

/// `drover job`: where the jobs scheduler is, and `--json`.
#[derive(Args, Debug, Clone)]
pub struct JobsArgs {
    /// The jobs scheduler (Metronome's API), as host:port or a URL; `drover up` serves it on
    /// port 9000 [default: 127.0.0.1:9000].
    #[arg(long, global = true, env = "DROVER_JOBS")]
    pub jobs: Option<String>,
    /// Reach the scheduler through this gateway, at <URL>/service/metronome (when --jobs is not
    /// given).
    #[arg(long, global = true, env = "DROVER_GATEWAY")]
    pub gateway: Option<String>,
    /// Print the scheduler's JSON instead of tables, and no progress.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// List the jobs: status (running, queued, idle), schedule, next run, last run, counts.
    List,
    /// Show a job: its definition, schedules, active runs and last finished runs.
    Show {
        /// Job id, e.g. nightly.backup.
        id: String,
    },
    /// Create a job from a JSON file (Metronome's job; `-` reads stdin). A `schedules` list
    /// (at most one) is created with it.
    Add {
        /// The job (JSON), or - for stdin.
        file: PathBuf,
    },
    /// Start a run of a job now and print its id.
    Run {
        /// Job id.
        id: String,
        /// Follow the run until it ends, with a live status line: exit 0 when it succeeds,
        /// 1 when it fails.
        #[arg(long)]
        wait: bool,
        /// With --wait: seconds to wait before giving up (the run goes on) [default: no limit].
        #[arg(long, value_name = "SECS", requires = "wait")]
        timeout: Option<f64>,
    },
    /// A job's finished runs, newest first, and the occurrences that were skipped, with why.
    History {
        /// Job id.
        id: String,
    },
    /// Stop a run of a job (every active run when none is named).
    Kill {
        /// Job id.
        id: String,
        /// The run to stop (`drover job show` lists the active ones).
        run: Option<String>,
    },
    /// Remove a job and its schedules.
    Remove {
        /// Job id.
        id: String,
        /// Stop its active runs too (without it, a job with active runs is not removed).
        #[arg(long)]
        stop_current: bool,
    },
    /// A job's schedules: list, add, update, remove.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCmd {
    /// List a job's schedules with their next run.
    List {
        /// Job id.
        id: String,
    },
    /// Add a schedule to a job from a JSON file (`{"id", "cron", "timezone", …}`; `-` reads
    /// stdin).
    Add {
        /// Job id.
        id: String,
        /// The schedule (JSON), or - for stdin.
        file: PathBuf,
    },
    /// Replace a schedule of a job (the one the file's `id` names).
    Update {
        /// Job id.
        id: String,
        /// The schedule (JSON), or - for stdin.
        file: PathBuf,
    },
    /// Remove a schedule from a job.
    Remove {
        /// Job id.
        id: String,
        /// Schedule id.
        schedule: String,
    },
}

/// A job as `GET /v1/jobs[/{id}]?embed=…` shows it, read leniently (the JSON printed with
/// `--json` is the scheduler's own).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
struct JobView {
    id: String,
    description: Option<String>,
    labels: BTreeMap<String, String>,
    run: RunView,
    schedules: Vec<ScheduleSpec>,
    dependencies: Vec<JobRef>,
    active_runs: Vec<JobRun>,
    history: Option<History>,
    history_summary: Option<History>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
struct RunView {
    cpus: f64,
    mem: f64,
    disk: f64,
    gpus: f64,
    cmd: Option<String>,
    args: Option<Vec<String>>,
    user: Option<String>,
    env: BTreeMap<String, Value>,
    docker: Option<DockerView>,
    restart: Option<RestartView>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
struct DockerView {
    image: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
struct RestartView {
    policy: String,
    active_deadline_seconds: Option<u64>,
}

/// An occurrence the scheduler did not run (Drover's `GET /v1/jobs/{id}/skipped`).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", default)]
struct Skipped {
    schedule_id: String,
    due_at: String,
    count: u64,
    reason: String,
    recorded_at: String,
}

/// The jobs scheduler at one address.
struct Api {
    client: Client,
    /// Reached through the gateway (its `Unreachable` then names the right server and hint).
    via_gateway: bool,
}

/// The CLI's free-text failure with exit code 1 (a refusal spelled out line by line, a failed
/// run).
fn failure(lines: Vec<String>) -> Error {
    Error::DeploymentFailed { failures: lines }
}

/// `/v1/jobs/{id}` with the id as one path segment.
fn job_path(id: &str) -> String {
    format!("/v1/jobs/{}", segment(id))
}

/// A path segment: what Metronome's ids may hold passes; anything else is percent-encoded so it
/// reaches the scheduler (and its 404) instead of another route.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Api {
    fn new(a: &JobsArgs) -> Result<Api, Error> {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let (url, via_gateway) = match (set(&a.jobs), set(&a.gateway)) {
            (Some(j), _) => (j, false),
            (None, Some(g)) => (
                format!("{}/service/metronome", crate::client::base_url(&g)),
                true,
            ),
            (None, None) => (DEFAULT_JOBS.to_string(), false),
        };
        let server = if via_gateway {
            Server::Gateway
        } else {
            Server::Jobs
        };
        Ok(Api {
            client: Client::new(server, &url)?,
            via_gateway,
        })
    }

    fn addr(&self) -> &str {
        self.client.addr()
    }

    /// What to do when the answer is not the scheduler's.
    fn which_flag(&self) -> String {
        if self.via_gateway {
            "--gateway, DROVER_GATEWAY; or --jobs URL for the scheduler itself".into()
        } else {
            "--jobs URL or DROVER_JOBS, or --gateway URL for <gateway>/service/metronome".into()
        }
    }

    /// Send a request; any answer, whatever its status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Error> {
        self.client.send(method, path, query, body).await
    }

    /// A successful answer's JSON; an error status as the failure it names.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value, Error> {
        let a = self.send(method, path, query, body).await?;
        if !a.status.is_success() {
            return Err(self.refused(a));
        }
        self.json(a)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Error> {
        self.call(Method::GET, path, query, None).await
    }

    /// The body of a successful answer, which must be JSON (or empty).
    fn json(&self, a: Answer) -> Result<Value, Error> {
        if let Value::String(text) = &a.body {
            let start: String = text.chars().take(60).collect();
            return Err(self.unreadable(a.request(), format!("not JSON: {}", start.trim())));
        }
        Ok(a.body)
    }

    fn decode<T: DeserializeOwned>(&self, request: &str, v: &Value) -> Result<T, Error> {
        T::deserialize(v).map_err(|e| self.unreadable(request, e.to_string()))
    }

    fn unreadable(&self, request: &str, cause: String) -> Error {
        failure(vec![
            format!(
                "the jobs scheduler at {} answered {request} with a body the CLI cannot read: {cause}",
                self.addr()
            ),
            format!(
                "  is {} Drover's jobs scheduler or Metronome? ({})",
                self.addr(),
                self.which_flag()
            ),
        ])
    }

    /// An error answer as the failure it names: Metronome's 404s for a job, run or schedule
    /// (their bodies carry the `id`) are "not found"; a 409 a conflict; the rest refusals, with
    /// the scheduler's message and a 422's details one per line.
    fn refused(&self, a: Answer) -> Error {
        let (message, details) = match &a.body {
            Value::Null => (String::new(), vec![]),
            Value::String(t) => (t.trim().to_string(), vec![]),
            v => (
                v["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
                v["details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|d| {
                        let path = d["path"].as_str().filter(|p| !p.is_empty()).unwrap_or("/");
                        let errors: Vec<String> = d["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(value_text)
                            .collect();
                        if errors.is_empty() {
                            vec![format!("  {path}: invalid")]
                        } else {
                            errors
                                .iter()
                                .map(|e| format!("  {path}: {e}"))
                                .collect::<Vec<_>>()
                        }
                    })
                    .collect(),
            ),
        };
        let addr = self.addr();
        let id = a.body["id"].as_str();
        if a.status == StatusCode::NOT_FOUND {
            if let Some(id) = id {
                let (what, hint) = match a.body["jobSpec"].as_str() {
                    Some(job) => (
                        format!("no run {id} of job '{job}'"),
                        format!("`drover job show {job}` lists its active runs, `drover job history {job}` the finished ones"),
                    ),
                    None if message.starts_with("Schedule") => (
                        format!("no schedule '{id}'"),
                        "`drover job schedule list <job>` lists a job's schedules".into(),
                    ),
                    None => (
                        format!("no job '{id}'"),
                        "`drover job list` shows the jobs".into(),
                    ),
                };
                return Error::not_found(
                    format!("{what} in the jobs scheduler at {addr} ({message})"),
                    Some(hint),
                );
            }
        }
        let said = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        let first = format!(
            "the jobs scheduler at {addr} refused {} ({}){said}",
            a.request(),
            a.status
        );
        if a.status == StatusCode::CONFLICT {
            return Error::Conflict {
                message: first,
                hint: None,
            };
        }
        let mut lines = vec![first];
        lines.extend(details);
        if a.status == StatusCode::NOT_FOUND {
            lines.push(format!(
                "  is {addr} Drover's jobs scheduler or Metronome? ({})",
                self.which_flag()
            ));
        }
        failure(lines)
    }
}

/// An error with a hint added (when its kind has one).
fn with_hint(e: Error, text: &str) -> Error {
    match e {
        Error::Conflict { message, .. } => Error::Conflict {
            message,
            hint: Some(text.into()),
        },
        other => other,
    }
}

pub async fn job(cmd: JobCmd, c: JobsArgs) -> Result<(), Error> {
    let api = Api::new(&c)?;
    match cmd {
        JobCmd::List => list(&api, &c).await,
        JobCmd::Show { id } => show(&api, &c, &id).await,
        JobCmd::Add { file } => add(&api, &c, &file).await,
        JobCmd::Run { id, wait, timeout } => {
            let timeout = timeout.map(crate::args::secs).transpose()?;
            run(&api, &c, &id, wait, timeout).await
        }
        JobCmd::History { id } => history(&api, &c, &id).await,
        JobCmd::Kill { id, run } => kill(&api, &c, &id, run.as_deref()).await,
        JobCmd::Remove { id, stop_current } => {
            let q: &[(&str, &str)] = if stop_current {
                &[("stopCurrentJobRuns", "true")]
            } else {
                &[]
            };
            let v = api
                .call(Method::DELETE, &job_path(&id), q, None)
                .await
                .map_err(|e| {
                    with_hint(
                        e,
                        &format!("stop them too with `drover job remove {id} --stop-current`"),
                    )
                })?;
            if c.json {
                print_json(&v);
            } else {
                outln!("removed job {id}");
            }
            Ok(())
        }
        JobCmd::Schedule(cmd) => schedule(&api, &c, cmd).await,
    }
}

/// A JSON object from a file or stdin (`-`), as the scheduler will be sent it.
fn read_object(file: &Path, what: &str) -> Result<Value, Error> {
    let name = if file.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        file.display().to_string()
    };
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Error::usage(format!("cannot read the {what} from stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Error::usage(format!("cannot read {name}: {e}")))?
    };
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::usage(format!("{name} is not valid JSON: {e}")))?;
    if !v.get("id").is_some_and(Value::is_string) {
        return Err(Error::usage(format!(
            "{name} must hold one {what}: a JSON object with a string \"id\""
        )));
    }
    Ok(v)
}

async fn list(api: &Api, c: &JobsArgs) -> Result<(), Error> {
    let q = [
        ("embed", "activeRuns"),
        ("embed", "schedules"),
        ("embed", "historySummary"),
    ];
    let v = api.get("/v1/jobs", &q).await?;
    let mut jobs: Vec<JobView> = api.decode("GET /v1/jobs", &v)?;
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    if c.json {
        print_json(&v);
        return Ok(());
    }
    outln!("{}", jobs_table(&jobs, now()));
    if jobs.is_empty() {
        outln!("no jobs (add one with `drover job add job.json`)");
    }
    Ok(())
}

/// Seconds since the epoch, now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Chronos' words for a job's state: `running` (a run has its task), `queued` (a run waits for
/// a place), `idle`.
fn status(runs: &[JobRun]) -> String {
    let running = runs
        .iter()
        .filter(|r| matches!(r.status.as_str(), "ACTIVE" | "STARTING"))
        .count();
    let queued = runs.len() - running;
    match (running, queued) {
        (0, 0) => "idle".into(),
        (0, 1) => "queued".into(),
        (0, n) => format!("{n} queued"),
        (1, 0) => "running".into(),
        (n, 0) => format!("{n} running"),
        (n, q) => format!("{n} running, {q} queued"),
    }
}

/// `0 3 * * * Europe/Berlin`, `(disabled)` after one that is off; several on their own lines.
fn schedule_text(s: &[ScheduleSpec]) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.iter()
        .map(|s| {
            let off = if s.enabled { "" } else { " (disabled)" };
            format!("{} {}{off}", s.cron, s.timezone)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The soonest next run of the enabled schedules, from now: `in 4h 59m`.
fn next_run(s: &[ScheduleSpec], now: i64) -> String {
    s.iter()
        .filter(|s| s.enabled)
        .filter_map(|s| s.next_run_at.as_deref().and_then(parse_time))
        .min()
        .map(|t| relative(t, now))
        .unwrap_or_else(|| "-".into())
}

/// The later of the last success and the last failure: `success 3m ago`.
fn last_run(h: Option<&History>, now: i64) -> String {
    let Some(h) = h else { return "-".into() };
    let s = h.last_success_at.as_deref().and_then(parse_time);
    let f = h.last_failure_at.as_deref().and_then(parse_time);
    match (s, f) {
        (Some(s), Some(f)) if f > s => format!("failure {}", relative(f, now)),
        (Some(s), _) => format!("success {}", relative(s, now)),
        (None, Some(f)) => format!("failure {}", relative(f, now)),
        (None, None) => "-".into(),
    }
}

/// `3 succeeded, 1 failed; last success 2m ago`.
fn counts(h: &History, now: i64) -> String {
    let mut s = format!("{} succeeded, {} failed", h.success_count, h.failure_count);
    let last = last_run(Some(h), now);
    if last != "-" {
        s.push_str(&format!("; last {last}"));
    }
    s
}

fn jobs_table(jobs: &[JobView], now: i64) -> Table {
    let mut t = table(&[
        "ID", "STATUS", "SCHEDULE", "NEXT RUN", "LAST RUN", "SUCCESS", "FAILURE",
    ]);
    for j in jobs {
        let h = j.history_summary.as_ref().or(j.history.as_ref());
        t.add_row(vec![
            j.id.clone(),
            status(&j.active_runs),
            schedule_text(&j.schedules),
            next_run(&j.schedules, now),
            last_run(h, now),
            h.map(|h| h.success_count.to_string()).unwrap_or_default(),
            h.map(|h| h.failure_count.to_string()).unwrap_or_default(),
        ]);
    }
    t
}

/// What a job runs: its cmd, else its args, else its image.
fn command_of(r: &RunView) -> String {
    if let Some(c) = &r.cmd {
        return c.clone();
    }
    if let Some(a) = &r.args {
        return a.join(" ");
    }
    match &r.docker {
        Some(d) => format!("(image {})", d.image),
        None => String::new(),
    }
}

async fn show(api: &Api, c: &JobsArgs, id: &str) -> Result<(), Error> {
    let q = [
        ("embed", "activeRuns"),
        ("embed", "schedules"),
        ("embed", "history"),
    ];
    let v = api.get(&job_path(id), &q).await?;
    if c.json {
        print_json(&v);
        return Ok(());
    }
    let j: JobView = api.decode(&format!("GET {}", job_path(id)), &v)?;
    let now = now();
    outln!("{}", labelled(&show_rows(&j, now)));
    outln!();
    if j.active_runs.is_empty() {
        outln!("no active runs");
    } else {
        outln!("active runs:");
        outln!("{}", runs_table(&j.active_runs, now));
    }
    let finished = finished_runs(j.history.as_ref());
    if !finished.is_empty() {
        outln!("last runs (all of them: `drover job history {}`):", j.id);
        outln!(
            "{}",
            history_table(finished.iter().take(LAST_RUNS).copied(), now)
        );
    }
    Ok(())
}

fn show_rows(j: &JobView, now: i64) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&str, String)> = vec![("id", j.id.clone())];
    if let Some(d) = j.description.as_deref().filter(|d| !d.is_empty()) {
        rows.push(("description", d.to_string()));
    }
    let r = &j.run;
    rows.push(("cmd", command_of(r)));
    if let Some(d) = &r.docker {
        rows.push(("image", d.image.clone()));
    }
    let mut res = format!(
        "cpus {}, mem {} MiB, disk {} MiB",
        num(r.cpus),
        num(r.mem),
        num(r.disk)
    );
    if r.gpus > 0.0 {
        res.push_str(&format!(", gpus {}", num(r.gpus)));
    }
    rows.push(("resources", res));
    if let Some(u) = &r.user {
        rows.push(("user", u.clone()));
    }
    if let Some(p) = &r.restart {
        let mut s = p.policy.clone();
        if let Some(d) = p.active_deadline_seconds {
            s.push_str(&format!(" (activeDeadlineSeconds {d})"));
        }
        rows.push(("restart", s));
    }
    for (i, (k, v)) in r.env.iter().enumerate() {
        rows.push((
            if i == 0 { "env" } else { "" },
            format!("{k}={}", value_text(v)),
        ));
    }
    for (i, (k, v)) in j.labels.iter().enumerate() {
        rows.push((if i == 0 { "labels" } else { "" }, format!("{k}={v}")));
    }
    if !j.dependencies.is_empty() {
        let ids: Vec<&str> = j.dependencies.iter().map(|d| d.id.as_str()).collect();
        rows.push(("depends on", ids.join(", ")));
    }
    if j.schedules.is_empty() {
        rows.push((
            "schedule",
            "none (runs when started: `drover job run`)".into(),
        ));
    }
    for (i, s) in j.schedules.iter().enumerate() {
        let next = match s.next_run_at.as_deref().and_then(parse_time) {
            Some(t) if s.enabled => format!("next {} ({})", clock(t), relative(t, now)),
            _ if !s.enabled => "disabled".into(),
            _ => "no next run".into(),
        };
        rows.push((
            if i == 0 { "schedule" } else { "" },
            format!(
                "{}: {} {}, {next}; startingDeadlineSeconds {}, {}",
                s.id, s.cron, s.timezone, s.starting_deadline_seconds, s.concurrency_policy
            ),
        ));
    }
    if let Some(h) = &j.history {
        rows.push(("runs", counts(h, now)));
    }
    rows
}

/// A run's tasks: `TASK_RUNNING`, or with several attempts `TASK_FAILED, TASK_RUNNING`.
fn task_states(r: &JobRun) -> String {
    if r.tasks.is_empty() {
        return "-".into();
    }
    r.tasks
        .iter()
        .map(|t| t.status.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn runs_table(runs: &[JobRun], now: i64) -> Table {
    let mut t = table(&["ID", "STATUS", "CREATED", "TASKS"]);
    let mut runs: Vec<&JobRun> = runs.iter().collect();
    runs.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    for r in runs {
        t.add_row(vec![
            r.id.clone(),
            r.status.clone(),
            parse_time(&r.created_at)
                .map(|c| relative(c, now))
                .unwrap_or_default(),
            task_states(r),
        ]);
    }
    t
}

/// A job's finished runs, newest first, each with its outcome.
fn finished_runs(h: Option<&History>) -> Vec<(&'static str, &FinishedRun)> {
    let Some(h) = h else { return vec![] };
    let mut runs: Vec<(&str, &FinishedRun)> = h
        .successful_finished_runs
        .iter()
        .flatten()
        .map(|r| ("SUCCESS", r))
        .chain(
            h.failed_finished_runs
                .iter()
                .flatten()
                .map(|r| ("FAILED", r)),
        )
        .collect();
    runs.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    runs
}

fn history_table<'a>(
    runs: impl Iterator<Item = (&'static str, &'a FinishedRun)>,
    now: i64,
) -> Table {
    let mut t = table(&["ID", "STATUS", "CREATED", "FINISHED", "TASKS"]);
    for (status, r) in runs {
        let created = parse_time(&r.created_at);
        let finished = r.finished_at.as_deref().and_then(parse_time);
        t.add_row(vec![
            r.id.clone(),
            status.to_string(),
            created.map(clock).unwrap_or_else(|| r.created_at.clone()),
            match (created, finished) {
                (Some(c), Some(f)) => format!("{} (took {})", relative(f, now), span(f - c)),
                (None, Some(f)) => relative(f, now),
                _ => "-".into(),
            },
            r.tasks.len().to_string(),
        ]);
    }
    t
}

fn skipped_table(skipped: &[Skipped]) -> Table {
    let mut t = table(&["DUE", "SCHEDULE", "OCCURRENCES", "REASON", "RECORDED"]);
    for s in skipped {
        let at = |ts: &str| parse_time(ts).map(clock).unwrap_or_else(|| ts.to_string());
        t.add_row(vec![
            at(&s.due_at),
            s.schedule_id.clone(),
            s.count.to_string(),
            truncate(&s.reason, 100),
            at(&s.recorded_at),
        ]);
    }
    t
}

async fn history(api: &Api, c: &JobsArgs, id: &str) -> Result<(), Error> {
    let path = job_path(id);
    let v = api.get(&path, &[("embed", "history")]).await?;
    // Drover's own: Metronome has no such route (its 404 carries no `id`), so nothing to show.
    let skipped_path = format!("{path}/skipped");
    let a = api.send(Method::GET, &skipped_path, &[], None).await?;
    let skipped = if a.status.is_success() {
        api.json(a)?
    } else if a.status == StatusCode::NOT_FOUND && a.body.get("id").is_none() {
        json!([])
    } else {
        return Err(api.refused(a));
    };
    if c.json {
        print_json(&json!({"id": id, "history": v["history"], "skipped": skipped}));
        return Ok(());
    }
    let j: JobView = api.decode(&format!("GET {path}"), &v)?;
    let skipped: Vec<Skipped> = api.decode(&format!("GET {skipped_path}"), &skipped)?;
    let now = now();
    let runs = finished_runs(j.history.as_ref());
    if let Some(h) = &j.history {
        outln!("{}: {}", j.id, counts(h, now));
    }
    if runs.is_empty() {
        outln!("no finished runs (start one with `drover job run {id}`)");
    } else {
        outln!("{}", history_table(runs.into_iter(), now));
    }
    if !skipped.is_empty() {
        outln!("skipped occurrences (not run, and why):");
        outln!("{}", skipped_table(&skipped));
    }
    Ok(())
}

async fn add(api: &Api, c: &JobsArgs, file: &Path) -> Result<(), Error> {
    let def = read_object(file, "job")?;
    let id = def["id"].as_str().unwrap_or_default().to_string();
    // Metronome takes a POST with its schedule (at most one) and creates both, or neither.
    let v = api
        .call(
            Method::POST,
            "/v1/jobs",
            &[],
            Some(def.to_string().into_bytes()),
        )
        .await
        .map_err(|e| {
            with_hint(
                e,
                &format!("remove it first (`drover job remove {id}`) or pick another id"),
            )
        })?;
    if c.json {
        print_json(&v);
        return Ok(());
    }
    let j: JobView = api.decode("POST /v1/jobs", &v)?;
    outln!("created job {}", j.id);
    let now = now();
    for s in &j.schedules {
        let next = match s.next_run_at.as_deref().and_then(parse_time) {
            Some(t) if s.enabled => format!("next run {} ({})", clock(t), relative(t, now)),
            _ => "disabled".into(),
        };
        outln!("schedule {}: {} {}, {next}", s.id, s.cron, s.timezone);
    }
    Ok(())
}

async fn run(
    api: &Api,
    c: &JobsArgs,
    id: &str,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let path = format!("{}/runs", job_path(id));
    let v = api.call(Method::POST, &path, &[], None).await?;
    let started: JobRun = api.decode(&format!("POST {path}"), &v)?;
    if !wait {
        if c.json {
            print_json(&v);
        } else {
            outln!("started run {} of job {id}", started.id);
        }
        return Ok(());
    }
    if !c.json {
        outln!("started run {} of job {id}", started.id);
    }
    let start = Instant::now();
    let end = follow(api, id, started, timeout, !c.json).await?;
    if c.json {
        print_json(&end);
    }
    match end.status.as_str() {
        "SUCCESS" => {
            if !c.json {
                outln!(
                    "✔ run {} of job {id}: SUCCESS ({:.1} s)",
                    end.id,
                    start.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        _ => Err(run_failed(id, &end)),
    }
}

/// A run that ended FAILED: what its tasks ended as, and where to read why.
fn run_failed(job: &str, r: &JobRun) -> Error {
    let mut lines = vec![format!("run {} of job {job} FAILED", r.id)];
    for t in &r.tasks {
        lines.push(format!("  task {}: {}", t.id, t.status));
    }
    if let Some(t) = r.tasks.last() {
        lines.push(format!("  its stderr: `drover task log {} --stderr`", t.id));
    }
    lines.push(format!("  the job's runs: `drover job history {job}`"));
    failure(lines)
}

/// A run's live line: `run 2026…AB12C of job nightly: ACTIVE, task TASK_RUNNING`.
fn run_line(job: &str, r: &JobRun) -> String {
    let mut s = format!("run {} of job {job}: {}", r.id, r.status);
    if let Some(t) = r.tasks.last() {
        s.push_str(&format!(", task {}", t.status));
        if r.tasks.len() > 1 {
            s.push_str(&format!(" (attempt {})", r.tasks.len()));
        }
    }
    s
}

fn finished(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILED")
}

/// Follow a run until it ends (or `timeout` passes): a live line on stderr for people. A
/// scheduler that stops answering for a while (a failover) is waited for, up to [`SILENCE`].
async fn follow(
    api: &Api,
    job: &str,
    mut run: JobRun,
    timeout: Option<Duration>,
    show: bool,
) -> Result<JobRun, Error> {
    let live = Live::new(show);
    let mut line = live.line(&run_line(job, &run));
    let start = Instant::now();
    let mut silent_since: Option<Instant> = None;
    let path = format!("{}/runs/{}", job_path(job), segment(&run.id));
    loop {
        if finished(&run.status) {
            line.finish();
            return Ok(run);
        }
        if let Some(t) = timeout.filter(|t| start.elapsed() >= *t) {
            line.finish();
            return Err(Error::TimedOut {
                message: format!(
                    "run {} of job {job} has not ended within {} s ({})",
                    run.id,
                    t.as_secs_f64(),
                    run.status
                ),
                hint: format!(
                    "it goes on: `drover job show {job}`; stop it with `drover job kill {job} {}`",
                    run.id
                ),
            });
        }
        tokio::time::sleep(POLL).await;
        match read_run(api, job, &run.id, &path).await {
            Ok(r) => {
                silent_since = None;
                run = r;
                line.set(run_line(job, &run));
            }
            Err(e @ (Error::NotFound { .. } | Error::Usage { .. })) => {
                line.finish();
                return Err(e);
            }
            Err(e) => {
                let since = *silent_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SILENCE {
                    line.finish();
                    return Err(e);
                }
                line.set(format!(
                    "{}: the jobs scheduler does not answer; waiting",
                    run_line(job, &run)
                ));
            }
        }
    }
}

/// A run as it is now: from `/runs/{run}`, or — Metronome forgets a run once it has finished —
/// from the job's history.
async fn read_run(api: &Api, job: &str, run: &str, path: &str) -> Result<JobRun, Error> {
    let a = api.send(Method::GET, path, &[], None).await?;
    if a.status.is_success() {
        let request = a.request().to_string();
        let v = api.json(a)?;
        return api.decode(&request, &v);
    }
    if a.status != StatusCode::NOT_FOUND || a.body.get("jobSpec").is_none() {
        return Err(api.refused(a));
    }
    let jp = job_path(job);
    let v = api.get(&jp, &[("embed", "history")]).await?;
    let j: JobView = api.decode(&format!("GET {jp}"), &v)?;
    let found = finished_runs(j.history.as_ref())
        .into_iter()
        .find(|(_, r)| r.id == run);
    match found {
        Some((status, r)) => Ok(JobRun {
            id: r.id.clone(),
            job_id: job.to_string(),
            status: status.into(),
            created_at: r.created_at.clone(),
            completed_at: r.finished_at.clone(),
            tasks: r
                .tasks
                .iter()
                .map(|t| drover_api::metronome::RunTask {
                    id: t.clone(),
                    started_at: None,
                    completed_at: None,
                    status: String::new(),
                })
                .collect(),
        }),
        None => Err(Error::not_found(
            format!(
                "run {run} of job '{job}' is gone from the jobs scheduler at {}",
                api.addr()
            ),
            Some(format!("`drover job history {job}` lists the runs it kept")),
        )),
    }
}

async fn kill(api: &Api, c: &JobsArgs, id: &str, run: Option<&str>) -> Result<(), Error> {
    let runs: Vec<String> = match run {
        Some(r) => vec![r.to_string()],
        None => {
            let path = format!("{}/runs", job_path(id));
            let v = api.get(&path, &[]).await?;
            let active: Vec<JobRun> = api.decode(&format!("GET {path}"), &v)?;
            active.into_iter().map(|r| r.id).collect()
        }
    };
    let mut stopped = Vec::new();
    for r in &runs {
        let path = format!("{}/runs/{}/actions/stop", job_path(id), segment(r));
        let v = api.call(Method::POST, &path, &[], None).await?;
        if !c.json {
            outln!("stopped run {r} of job {id}");
        }
        stopped.push(if v.is_null() { json!({"id": r}) } else { v });
    }
    if c.json {
        print_json(&stopped);
    } else if runs.is_empty() {
        outln!("job {id} has no active runs");
    }
    Ok(())
}

async fn schedule(api: &Api, c: &JobsArgs, cmd: ScheduleCmd) -> Result<(), Error> {
    match cmd {
        ScheduleCmd::List { id } => {
            let path = format!("{}/schedules", job_path(&id));
            let v = api.get(&path, &[]).await?;
            if c.json {
                print_json(&v);
                return Ok(());
            }
            let list: Vec<ScheduleSpec> = api.decode(&format!("GET {path}"), &v)?;
            outln!("{}", schedules_table(&list, now()));
            if list.is_empty() {
                outln!("job {id} has no schedules (add one with `drover job schedule add {id} schedule.json`)");
            }
            Ok(())
        }
        ScheduleCmd::Add { id, file } => {
            let body = read_object(&file, "schedule")?;
            let path = format!("{}/schedules", job_path(&id));
            let v = api
                .call(
                    Method::POST,
                    &path,
                    &[],
                    Some(body.to_string().into_bytes()),
                )
                .await?;
            print_schedule(api, c, &path, &v, "added")
        }
        ScheduleCmd::Update { id, file } => {
            let body = read_object(&file, "schedule")?;
            let sid = body["id"].as_str().unwrap_or_default();
            let path = format!("{}/schedules/{}", job_path(&id), segment(sid));
            let v = api
                .call(Method::PUT, &path, &[], Some(body.to_string().into_bytes()))
                .await?;
            print_schedule(api, c, &path, &v, "updated")
        }
        ScheduleCmd::Remove { id, schedule } => {
            let path = format!("{}/schedules/{}", job_path(&id), segment(&schedule));
            api.call(Method::DELETE, &path, &[], None).await?;
            if c.json {
                print_json(&json!({"id": schedule, "jobId": id, "removed": true}));
            } else {
                outln!("removed schedule {schedule} of job {id}");
            }
            Ok(())
        }
    }
}

fn print_schedule(api: &Api, c: &JobsArgs, path: &str, v: &Value, done: &str) -> Result<(), Error> {
    if c.json {
        print_json(v);
        return Ok(());
    }
    let s: ScheduleSpec = api.decode(path, v)?;
    let now = now();
    let next = match s.next_run_at.as_deref().and_then(parse_time) {
        Some(t) if s.enabled => format!("next run {} ({})", clock(t), relative(t, now)),
        _ => "disabled".into(),
    };
    outln!(
        "schedule {} {done}: {} {}, {next}",
        s.id,
        s.cron,
        s.timezone
    );
    Ok(())
}

fn schedules_table(list: &[ScheduleSpec], now: i64) -> Table {
    let mut t = table(&[
        "ID",
        "CRON",
        "TIMEZONE",
        "ENABLED",
        "CONCURRENCY",
        "DEADLINE (s)",
        "NEXT RUN (UTC)",
    ]);
    for s in list {
        let next = s
            .next_run_at
            .as_deref()
            .and_then(parse_time)
            .filter(|_| s.enabled)
            .map(|t| format!("{} ({})", clock(t), relative(t, now)))
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            s.id.clone(),
            s.cron.clone(),
            s.timezone.clone(),
            s.enabled.to_string(),
            s.concurrency_policy.clone(),
            s.starting_deadline_seconds.to_string(),
            next,
        ]);
    }
    t
}

/// Seconds since the epoch of Metronome's timestamp (`2016-07-15T13:02:59.735+0000`; also
/// RFC 3339's `Z` and `+01:00`).
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let field = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (h, mi, sec) = (field(11..13)?, field(14..16)?, field(17..19)?);
    if !matches!(s.as_bytes().get(10), Some(b'T' | b' ')) {
        return None;
    }
    let rest = s.get(19..)?;
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            let oh: i64 = digits.get(0..2)?.parse().ok()?;
            let om: i64 = digits.get(2..4).unwrap_or("00").parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// `2026-03-01 02:00:00 UTC`.
fn clock(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `45s`, `3m`, `4h 59m`, `2d 3h`.
fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `in 4h 59m`, `3m ago`, `just now`.
fn relative(t: i64, now: i64) -> String {
    match t - now {
        0 => "just now".into(),
        d if d > 0 => format!("in {}", span(d)),
        d => format!("{} ago", span(-d)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;

    #[test]
    fn metronome_times_read_and_print_in_utc() {
        let t = parse_time("2016-07-15T13:02:59.735+0000").unwrap();
        assert_eq!(t, 1_468_587_779);
        assert_eq!(clock(t), "2016-07-15 13:02:59 UTC");
        assert_eq!(parse_time("2016-07-15T15:02:59+02:00"), Some(t));
        assert_eq!(parse_time("2016-07-15T13:02:59Z"), Some(t));
        assert_eq!(parse_time("1970-01-01T00:00:00.000+0000"), Some(0));
        assert_eq!(
            clock(parse_time("2024-02-29T23:59:59Z").unwrap()),
            "2024-02-29 23:59:59 UTC"
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(relative(100, 100), "just now");
        assert_eq!(relative(100 + 4 * 3600 + 59 * 60, 100), "in 4h 59m");
        assert_eq!(relative(0, 180), "3m ago");
        assert_eq!(span(2 * 86_400 + 3 * 3600), "2d 3h");
    }

    #[test]
    fn the_jobs_table_says_status_schedule_next_and_last_run() {
        let now = parse_time("2026-03-01T00:00:00Z").unwrap();
        let jobs: Vec<JobView> = serde_json::from_value(json!([
            {"id": "nightly", "run": {"cpus": 0.1, "mem": 32, "disk": 0, "cmd": "backup"},
             "schedules": [{"id": "n", "cron": "0 3 * * *", "timezone": "Europe/Berlin",
                            "nextRunAt": "2026-03-01T02:00:00.000+0000"}],
             "activeRuns": [{"id": "r1", "jobId": "nightly", "status": "ACTIVE", "createdAt": "2026-02-28T23:59:00.000+0000", "completedAt": null, "tasks": []}],
             "historySummary": {"successCount": 4, "failureCount": 1,
                                "lastSuccessAt": "2026-02-28T02:00:10.000+0000",
                                "lastFailureAt": "2026-02-28T23:57:00.000+0000"}},
            {"id": "adhoc", "run": {"cmd": "true"},
             "schedules": [{"id": "s", "cron": "* * * * *", "enabled": false}],
             "activeRuns": [{"id": "r2", "jobId": "adhoc", "status": "INITIAL", "createdAt": "x", "completedAt": null, "tasks": []}],
             "historySummary": {"successCount": 0, "failureCount": 0, "lastSuccessAt": null, "lastFailureAt": null}},
            {"id": "bare", "run": {"cmd": "true"}}
        ]))
        .unwrap();
        assert_eq!(
            cells(&jobs_table(&jobs, now)),
            [
                [
                    "nightly",
                    "running",
                    "0 3 * * * Europe/Berlin",
                    "in 2h 0m",
                    "failure 3m ago",
                    "4",
                    "1"
                ],
                [
                    "adhoc",
                    "queued",
                    "* * * * * UTC (disabled)",
                    "-",
                    "-",
                    "0",
                    "0"
                ],
                ["bare", "idle", "-", "-", "-", "", ""],
            ]
        );
    }

    #[test]
    fn history_lists_finished_runs_newest_first_and_skips_with_reasons() {
        let now = parse_time("2026-03-01T00:10:00Z").unwrap();
        let h: History = serde_json::from_value(json!({
            "successCount": 1, "failureCount": 1, "lastSuccessAt": null, "lastFailureAt": null,
            "successfulFinishedRuns": [{"id": "a", "createdAt": "2026-03-01T00:00:00.000+0000",
                                        "finishedAt": "2026-03-01T00:00:30.000+0000", "tasks": ["t1"]}],
            "failedFinishedRuns": [{"id": "b", "createdAt": "2026-03-01T00:05:00.000+0000",
                                    "finishedAt": "2026-03-01T00:08:00.000+0000", "tasks": ["t2", "t3"]}]
        }))
        .unwrap();
        let runs = finished_runs(Some(&h));
        assert_eq!(
            cells(&history_table(runs.into_iter(), now)),
            [
                [
                    "b",
                    "FAILED",
                    "2026-03-01 00:05:00 UTC",
                    "2m ago (took 3m)",
                    "2"
                ],
                [
                    "a",
                    "SUCCESS",
                    "2026-03-01 00:00:00 UTC",
                    "9m ago (took 30s)",
                    "1"
                ],
            ]
        );
        let skipped: Vec<Skipped> = serde_json::from_value(json!([{"scheduleId": "n",
            "dueAt": "2026-02-28T02:00:00.000+0000", "count": 2,
            "reason": "not started: startingDeadlineSeconds (60 s) passed", "recordedAt": "2026-02-28T05:00:00.000+0000"}]))
        .unwrap();
        assert_eq!(
            cells(&skipped_table(&skipped)),
            [[
                "2026-02-28 02:00:00 UTC",
                "n",
                "2",
                "not started: startingDeadlineSeconds (60 s) passed",
                "2026-02-28 05:00:00 UTC"
            ]]
        );
    }

    fn answer(status: StatusCode, body: Value) -> Answer {
        Answer::json("GET /v1/jobs/x", status, body)
    }

    #[test]
    fn refusals_map_to_the_exit_codes_of_drover_app() {
        let api = Api::new(&JobsArgs {
            jobs: Some("127.0.0.1:9000".into()),
            gateway: None,
            json: false,
        })
        .unwrap();
        let e = api.refused(answer(
            StatusCode::NOT_FOUND,
            json!({"id": "x", "message": "Job not found"}),
        ));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.to_string(),
            "no job 'x' in the jobs scheduler at 127.0.0.1:9000 (Job not found)"
        );
        let e = api.refused(answer(
            StatusCode::NOT_FOUND,
            json!({"jobSpec": "x", "id": "r1", "message": "Job Run not found"}),
        ));
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().starts_with("no run r1 of job 'x'"), "{e}");
        let e = api.refused(answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Object is not valid", "details": [{"path": "/run/cpus", "errors": ["got 0.001, expected 0.01 or more"]}]}),
        ));
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.to_string(),
            "the jobs scheduler at 127.0.0.1:9000 refused GET /v1/jobs/x (422 Unprocessable Entity): Object is not valid\n  /run/cpus: got 0.001, expected 0.01 or more"
        );
        let e = api.refused(answer(
            StatusCode::CONFLICT,
            json!({"message": "Job with this id already exists"}),
        ));
        assert_eq!(e.exit_code(), 4);
        // A 404 that names nothing is not a missing job: the address is wrong.
        let e = api.refused(answer(
            StatusCode::NOT_FOUND,
            json!({"message": "Unknown route.", "requestPath": "/v1/jobs/x"}),
        ));
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("DROVER_JOBS"), "{e}");
    }

    #[test]
    fn the_scheduler_is_found_from_jobs_then_the_gateway() {
        let api = |jobs: Option<&str>, gateway: Option<&str>| {
            Api::new(&JobsArgs {
                jobs: jobs.map(Into::into),
                gateway: gateway.map(Into::into),
                json: false,
            })
            .unwrap()
        };
        assert_eq!(api(None, None).addr(), "127.0.0.1:9000");
        assert_eq!(
            api(None, Some("http://gw:8000/")).addr(),
            "gw:8000/service/metronome"
        );
        assert_eq!(api(Some("j:9000"), Some("http://gw:8000")).addr(), "j:9000");
        assert_eq!(segment("a.b-c"), "a.b-c");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
