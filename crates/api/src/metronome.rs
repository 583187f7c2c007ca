//! Metronome's REST v1 types (`/v1/jobs`, schedules, runs), named and shaped as Metronome's RAML
//! and JSON schemas have them (dcos/metronome `api/src/main/resources/public/api/v1`). Defaults
//! are Metronome's, filled in on read so a stored job answers with them. Fields old clients do
//! not know (`schedules`, `dependencies`, `gpus`, `networks`, `secrets`) are written only when
//! set: dcos-metronome's protobuf parser refuses any field it has no slot for. Numbers print
//! as Metronome's Play JSON prints them: integral ones without a fraction (`"mem": 32`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &f64) -> bool {
    *n == 0.0
}
/// A number as Play JSON writes a `Double` (trailing zeros stripped): `32`, not `32.0`.
fn num<S: serde::Serializer>(n: &f64, s: S) -> Result<S::Ok, S::Error> {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        s.serialize_i64(*n as i64)
    } else {
        s.serialize_f64(*n)
    }
}
/// Whole seconds, as Metronome writes a `FiniteDuration` (`toSeconds`).
fn opt_secs<S: serde::Serializer>(n: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) if n.is_finite() => s.serialize_some(&(n.trunc() as i64)),
        Some(n) => s.serialize_some(n),
        None => s.serialize_none(),
    }
}
fn default_max_launch_delay() -> u64 {
    3600
}
fn default_true() -> bool {
    true
}
fn default_deadline() -> u64 {
    900
}
fn default_tz() -> String {
    "UTC".into()
}

/// A job: what runs (`run`), named by `id`. `schedules` only in `POST /v1/jobs` bodies (which
/// Metronome accepts with at most one) and with `embed=schedules`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobSpec {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub run: RunSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<JobRef>,
}

/// A parent job (`dependencies[]`); other keys are ignored, as Metronome's schema allows them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobRef {
    pub id: String,
}

/// What one run launches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    #[serde(serialize_with = "num")]
    pub cpus: f64,
    #[serde(serialize_with = "num")]
    pub mem: f64,
    #[serde(default, serialize_with = "num")]
    pub disk: f64,
    /// Whole GPUs (Metronome's is an `Int`).
    #[serde(default, skip_serializing_if = "is_zero", serialize_with = "num")]
    pub gpus: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Values are strings, or `{"secret": name}` references.
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    #[serde(default = "default_max_launch_delay")]
    pub max_launch_delay: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Docker>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucr: Option<Value>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub restart: Restart,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_secs"
    )]
    pub task_kill_grace_period_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Constraint {
    pub attribute: String,
    /// `IS` (`EQ` is its old name), `LIKE`, `UNLIKE`.
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub uri: String,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Docker {
    pub image: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub force_pull_image: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<DockerParameter>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DockerParameter {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// `RO` or `RW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Restart {
    /// `NEVER` or `ON_FAILURE`.
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<u64>,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            policy: "NEVER".into(),
            active_deadline_seconds: None,
        }
    }
}

/// A job's schedule. `nextRunAt` is always written in answers (the dcos CLI's schedule table
/// reads it), ignored in requests, like any other key Metronome's schema lets through
/// (`additionalProperties: true`): a schedule shown can be sent back as it is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    pub id: String,
    pub cron: String,
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default = "default_deadline")]
    pub starting_deadline_seconds: u64,
    /// `ALLOW` or `FORBID`.
    #[serde(default = "default_concurrency")]
    pub concurrency_policy: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub next_run_at: Option<String>,
}

fn default_concurrency() -> String {
    "ALLOW".into()
}

/// A run of a job, as `/v1/jobs/{id}/runs` shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub id: String,
    pub job_id: String,
    /// `INITIAL`, `STARTING`, `ACTIVE`, `SUCCESS`, `FAILED`.
    pub status: String,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub tasks: Vec<RunTask>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunTask {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Metronome's task states: `TASK_CREATED`, `TASK_STAGING`, `TASK_STARTING`,
    /// `TASK_RUNNING`, `TASK_FINISHED`, `TASK_FAILED`, `TASK_KILLED` (the only ones
    /// dcos-metronome's enum knows; Mesos' others are mapped onto them).
    pub status: String,
}

/// `embed=history`: a job's finished runs, counted and listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub success_count: u64,
    pub failure_count: u64,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_finished_runs: Option<Vec<FinishedRun>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_finished_runs: Option<Vec<FinishedRun>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FinishedRun {
    pub id: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    #[serde(default)]
    pub tasks: Vec<String>,
}

/// One path's errors in a 422 (`{"message":"Object is not valid","details":[…]}`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ErrorDetail {
    pub path: String,
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_metronome_prints_them() {
        let run: RunSpec = serde_json::from_value(json!({
            "cpus": 1.0, "mem": 32.0, "disk": 0, "gpus": 2, "cmd": "true",
            "taskKillGracePeriodSeconds": 5.7
        }))
        .expect("valid");
        let v = serde_json::to_string(&run).expect("valid");
        assert!(v.contains(r#""cpus":1,"mem":32,"disk":0,"gpus":2"#), "{v}");
        assert!(v.contains(r#""taskKillGracePeriodSeconds":5"#), "{v}");
        let frac: RunSpec =
            serde_json::from_value(json!({"cpus": 0.25, "mem": 33.5, "cmd": "true"}))
                .expect("valid");
        let v = serde_json::to_string(&frac).expect("valid");
        assert!(v.contains(r#""cpus":0.25,"mem":33.5,"disk":0"#), "{v}");
        assert!(!v.contains("gpus"), "{v}");
    }

    #[test]
    fn a_schedule_shown_can_be_sent_back() {
        let s: ScheduleSpec = serde_json::from_value(json!({
            "id": "nightly", "cron": "0 3 * * *", "nextRunAt": "2026-12-05T03:00:00.000+0000",
            "someFutureField": true
        }))
        .expect("valid");
        assert_eq!(
            (s.timezone.as_str(), s.starting_deadline_seconds, s.enabled),
            ("UTC", 900, true)
        );
        assert_eq!(
            serde_json::to_value(ScheduleSpec {
                next_run_at: None,
                ..s
            })
            .expect("valid")["nextRunAt"],
            json!(null)
        );
    }
}
