//! The jobs scheduler's side as the UI shows it, read from Metronome's REST JSON: a job with
//! its schedules, active runs and history (counts, and the finished runs with `embed=history`),
//! what one run launches, and the occurrences Drover's scheduler skipped, with why. Pure: JSON
//! in, values out, read leniently (a field missing is shown as unknown, not an error), so a
//! Metronome of another version reads as well.

use serde_json::Value;

/// A job's status in the jobs table: running while it has an active run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    Idle,
}

impl Status {
    pub const ALL: &'static [Status] = &[Status::Running, Status::Idle];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "Running",
            Status::Idle => "Idle",
        }
    }
}

/// One of a job's schedules (`embed=schedules`).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub id: String,
    /// A cron expression (or, for Chronos' jobs, an ISO 8601 repeating interval).
    pub cron: String,
    pub timezone: String,
    pub enabled: bool,
    /// `ALLOW` or `FORBID`.
    pub concurrency: String,
    pub deadline: Option<u64>,
    /// Metronome's timestamp; none when disabled or used up.
    pub next_run_at: Option<String>,
}

/// A task of an active run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTask {
    pub id: String,
    /// A Mesos task state (`TASK_RUNNING`).
    pub status: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// A run not finished yet (`embed=activeRuns`).
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub id: String,
    /// `INITIAL` (waiting for a place), `STARTING`, `ACTIVE`.
    pub status: String,
    pub created_at: String,
    pub tasks: Vec<RunTask>,
}

impl Run {
    /// The status in words.
    pub fn status_words(&self) -> &'static str {
        match self.status.as_str() {
            "INITIAL" => "Waiting to launch",
            "STARTING" => "Starting",
            "ACTIVE" => "Active",
            "SUCCESS" => "Succeeded",
            "FAILED" => "Failed",
            _ => "Unknown",
        }
    }
}

/// A finished run (`embed=history`).
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub id: String,
    pub success: bool,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub tasks: Vec<String>,
}

/// An occurrence that was not run, and why (Drover's `GET /v1/jobs/{id}/skipped`).
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub schedule_id: String,
    pub due_at: String,
    /// How many occurrences this entry stands for (a long gap is one entry).
    pub count: u64,
    pub reason: String,
    pub recorded_at: String,
}

/// What one run launches (the job's `run`), as its page lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct What {
    pub cmd: Option<String>,
    pub args: Vec<String>,
    pub image: Option<String>,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: f64,
    pub user: Option<String>,
    /// `NEVER` or `ON_FAILURE`, with `activeDeadlineSeconds` when set.
    pub restart: String,
    pub max_launch_delay: Option<u64>,
    /// `attribute OPERATOR value` each.
    pub constraints: Vec<String>,
    pub artifacts: Vec<String>,
    /// Name and value (a secret's reference as `secret: name`).
    pub env: Vec<(String, String)>,
}

/// A job as `GET /v1/jobs[/{id}]` gives it, with what was embedded.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub description: String,
    pub labels: Vec<(String, String)>,
    pub schedules: Vec<Schedule>,
    pub active_runs: Vec<Run>,
    pub success_count: u64,
    pub failure_count: u64,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    /// The finished runs, newest first (only with `embed=history`).
    pub history: Vec<Finished>,
    pub what: What,
    /// The job as the scheduler gave it.
    pub raw: Value,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn texts(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn schedule(v: &Value) -> Option<Schedule> {
    Some(Schedule {
        id: text(&v["id"])?,
        cron: v["cron"].as_str().unwrap_or("").to_string(),
        timezone: text(&v["timezone"]).unwrap_or_else(|| "UTC".into()),
        enabled: v["enabled"].as_bool().unwrap_or(true),
        concurrency: text(&v["concurrencyPolicy"]).unwrap_or_else(|| "ALLOW".into()),
        deadline: v["startingDeadlineSeconds"].as_u64(),
        next_run_at: text(&v["nextRunAt"]),
    })
}

fn run(v: &Value) -> Option<Run> {
    Some(Run {
        id: text(&v["id"])?,
        status: v["status"].as_str().unwrap_or("").to_string(),
        created_at: v["createdAt"].as_str().unwrap_or("").to_string(),
        tasks: v["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(RunTask {
                    id: text(&t["id"])?,
                    status: t["status"].as_str().unwrap_or("").to_string(),
                    started_at: text(&t["startedAt"]),
                    completed_at: text(&t["completedAt"]),
                })
            })
            .collect(),
    })
}

fn finished(v: &Value, success: bool) -> Option<Finished> {
    Some(Finished {
        id: text(&v["id"])?,
        success,
        created_at: v["createdAt"].as_str().unwrap_or("").to_string(),
        finished_at: text(&v["finishedAt"]),
        tasks: texts(&v["tasks"]),
    })
}

fn what(v: &Value) -> What {
    let num = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let restart = &v["restart"];
    let policy = restart["policy"].as_str().unwrap_or("NEVER");
    What {
        cmd: text(&v["cmd"]),
        args: texts(&v["args"]),
        image: text(&v["docker"]["image"]).or_else(|| text(&v["ucr"]["image"]["id"])),
        cpus: num("cpus"),
        mem: num("mem"),
        disk: num("disk"),
        gpus: num("gpus"),
        user: text(&v["user"]),
        restart: match restart["activeDeadlineSeconds"].as_u64() {
            Some(s) => format!("{policy} (for at most {s} s)"),
            None => policy.to_string(),
        },
        max_launch_delay: v["maxLaunchDelay"].as_u64(),
        constraints: v["placement"]["constraints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let mut s = format!(
                    "{} {}",
                    c["attribute"].as_str().unwrap_or("?"),
                    c["operator"].as_str().unwrap_or("?")
                );
                if let Some(x) = c["value"].as_str() {
                    s.push(' ');
                    s.push_str(x);
                }
                s
            })
            .collect(),
        artifacts: v["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| text(&a["uri"]))
            .collect(),
        env: v["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, x)| {
                let shown = match (x.as_str(), x["secret"].as_str()) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(name)) => format!("secret: {name}"),
                    (None, None) => x.to_string(),
                };
                (k.clone(), shown)
            })
            .collect(),
    }
}

impl Job {
    pub fn from_json(v: &Value) -> Option<Job> {
        let h = if v["history"].is_object() {
            &v["history"]
        } else {
            &v["historySummary"]
        };
        let mut history: Vec<Finished> = h["successfulFinishedRuns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| finished(r, true))
            .chain(
                h["failedFinishedRuns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| finished(r, false)),
            )
            .collect();
        // Newest first: by when they finished, else when they were made.
        history.sort_by(|a, b| {
            let key = |r: &Finished| {
                r.finished_at
                    .clone()
                    .unwrap_or_else(|| r.created_at.clone())
            };
            key(b).cmp(&key(a)).then_with(|| b.id.cmp(&a.id))
        });
        Some(Job {
            id: text(&v["id"])?,
            description: v["description"].as_str().unwrap_or("").to_string(),
            labels: v["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, x)| {
                    (
                        k.clone(),
                        x.as_str().map_or_else(|| x.to_string(), str::to_string),
                    )
                })
                .collect(),
            schedules: v["schedules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(schedule)
                .collect(),
            active_runs: v["activeRuns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(run)
                .collect(),
            success_count: h["successCount"].as_u64().unwrap_or(0),
            failure_count: h["failureCount"].as_u64().unwrap_or(0),
            last_success_at: text(&h["lastSuccessAt"]),
            last_failure_at: text(&h["lastFailureAt"]),
            history,
            what: what(&v["run"]),
            raw: v.clone(),
        })
    }

    /// The jobs of `GET /v1/jobs` (a list).
    pub fn list(v: &Value) -> Vec<Job> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Job::from_json)
            .collect()
    }

    pub fn status(&self) -> Status {
        if self.active_runs.is_empty() {
            Status::Idle
        } else {
            Status::Running
        }
    }

    /// The soonest next run of its enabled schedules.
    pub fn next_run(&self) -> Option<&str> {
        self.schedules
            .iter()
            .filter(|s| s.enabled)
            .filter_map(|s| s.next_run_at.as_deref())
            .min()
    }

    /// How its last finished run ended (`true`: success) and when. (Metronome's times are all
    /// UTC, in one format: as text, they sort in time order.)
    pub fn last_run(&self) -> Option<(bool, &str)> {
        match (
            self.last_success_at.as_deref(),
            self.last_failure_at.as_deref(),
        ) {
            (Some(s), Some(f)) if f > s => Some((false, f)),
            (Some(s), _) => Some((true, s)),
            (None, Some(f)) => Some((false, f)),
            (None, None) => None,
        }
    }
}

/// The skipped occurrences of `GET /v1/jobs/{id}/skipped` (newest first, as given).
pub fn skipped(v: &Value) -> Vec<Skipped> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|x| Skipped {
            schedule_id: x["scheduleId"].as_str().unwrap_or("").to_string(),
            due_at: x["dueAt"].as_str().unwrap_or("").to_string(),
            count: x["count"].as_u64().unwrap_or(1),
            reason: x["reason"].as_str().unwrap_or("").to_string(),
            recorded_at: x["recordedAt"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// A Metronome timestamp (`2026-12-04T09:30:12.735+0000`) as the pages show times:
/// `2026-12-04 09:30:12 UTC` (another offset is kept as given); anything else as it is.
pub fn time(t: &str) -> String {
    let b = t.as_bytes();
    if t.len() < 19 || b[10] != b'T' || !t.is_char_boundary(19) {
        return if t.is_empty() {
            "—".into()
        } else {
            t.to_string()
        };
    }
    let (date, clock) = (&t[..10], &t[11..19]);
    // The offset after the seconds and their fraction.
    let rest = &t[19..];
    let offset = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let zone = match offset {
        "" | "Z" | "+0000" | "+00:00" | "-0000" => "UTC".to_string(),
        o => o.to_string(),
    };
    format!("{date} {clock} {zone}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_reads_with_its_schedules_runs_and_history() {
        let v = json!({"id": "nightly", "description": "the report",
            "labels": {"team": "data"},
            "run": {"cmd": "report.sh", "cpus": 0.5, "mem": 128, "disk": 0,
                "docker": {"image": "alpine:3"}, "restart": {"policy": "ON_FAILURE",
                "activeDeadlineSeconds": 120}, "maxLaunchDelay": 3600,
                "placement": {"constraints": [{"attribute": "rack", "operator": "IS", "value": "r1"}]},
                "env": {"A": "1", "S": {"secret": "pw"}}},
            "schedules": [
                {"id": "a", "cron": "0 3 * * *", "timezone": "Europe/Paris", "enabled": true,
                 "nextRunAt": "2026-12-05T02:00:00.000+0000"},
                {"id": "b", "cron": "0 1 * * *", "enabled": true,
                 "nextRunAt": "2026-12-05T01:00:00.000+0000"},
                {"id": "off", "cron": "* * * * *", "enabled": false,
                 "nextRunAt": "2026-12-04T00:00:00.000+0000"}],
            "activeRuns": [{"id": "r3", "status": "ACTIVE", "createdAt": "2026-12-04T09:00:00.000+0000",
                "tasks": [{"id": "nightly_r3.1", "status": "TASK_RUNNING"}]}],
            "history": {"successCount": 2, "failureCount": 1,
                "lastSuccessAt": "2026-12-03T03:00:05.000+0000",
                "lastFailureAt": "2026-12-02T03:00:05.000+0000",
                "successfulFinishedRuns": [
                    {"id": "r1", "createdAt": "2026-12-01T03:00:00.000+0000", "finishedAt": "2026-12-01T03:00:05.000+0000", "tasks": ["nightly_r1.1"]},
                    {"id": "r2", "createdAt": "2026-12-03T03:00:00.000+0000", "finishedAt": "2026-12-03T03:00:05.000+0000"}],
                "failedFinishedRuns": [
                    {"id": "rf", "createdAt": "2026-12-02T03:00:00.000+0000", "finishedAt": "2026-12-02T03:00:05.000+0000"}]}});
        let j = Job::from_json(&v).expect("a job");
        assert_eq!(j.status(), Status::Running);
        assert_eq!(
            j.next_run(),
            Some("2026-12-05T01:00:00.000+0000"),
            "disabled ones left out"
        );
        assert_eq!(j.last_run(), Some((true, "2026-12-03T03:00:05.000+0000")));
        let order: Vec<&str> = j.history.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(order, ["r2", "rf", "r1"]);
        assert!(!j.history[1].success);
        assert_eq!(j.what.image.as_deref(), Some("alpine:3"));
        assert_eq!(j.what.restart, "ON_FAILURE (for at most 120 s)");
        assert_eq!(j.what.constraints, ["rack IS r1"]);
        assert_eq!(
            j.what.env,
            [("A".into(), "1".into()), ("S".into(), "secret: pw".into())]
        );
        assert_eq!(j.active_runs[0].tasks[0].status, "TASK_RUNNING");
    }

    #[test]
    fn a_job_without_embeds_is_idle_and_never_ran() {
        let j = Job::from_json(&json!({"id": "x", "run": {"cpus": 1, "mem": 32}})).expect("a job");
        assert_eq!(j.status(), Status::Idle);
        assert_eq!((j.next_run(), j.last_run()), (None, None));
        let j = Job::from_json(&json!({"id": "y", "run": {},
            "historySummary": {"successCount": 0, "failureCount": 3,
                "lastFailureAt": "2026-12-02T03:00:05.000+0000"}}))
        .expect("a job");
        assert_eq!(j.last_run(), Some((false, "2026-12-02T03:00:05.000+0000")));
        assert_eq!(j.failure_count, 3);
        assert!(
            Job::from_json(&json!({"run": {}})).is_none(),
            "no id, no job"
        );
    }

    #[test]
    fn times_read_as_the_other_pages_show_them() {
        assert_eq!(
            time("2026-12-04T09:30:12.735+0000"),
            "2026-12-04 09:30:12 UTC"
        );
        assert_eq!(time("2026-12-04T09:30:12Z"), "2026-12-04 09:30:12 UTC");
        assert_eq!(
            time("2026-12-04T10:30:12.000+0100"),
            "2026-12-04 10:30:12 +0100"
        );
        assert_eq!(time(""), "—");
        assert_eq!(time("soon"), "soon");
    }
}
