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

mod api;
mod follow;
mod text;

use follow::*;
use text::*;

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

#[cfg(test)]
mod tests;
