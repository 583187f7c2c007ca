//! Metronome's REST v1 types (`/v1/jobs`, schedules, runs), named and shaped as Metronome's RAML
//! and JSON schemas have them (dcos/metronome `api/src/main/resources/public/api/v1`). Defaults
//! are Metronome's, filled in on read so a stored job answers with them. Fields old clients do
//! not know (`schedules`, `dependencies`, `gpus`, `networks`, `secrets`) are written only when
//! set: dcos-metronome's protobuf parser refuses any field it has no slot for.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &f64) -> bool {
    *n == 0.0
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobRef {
    pub id: String,
}

/// What one run launches.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSpec {
    pub cpus: f64,
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default, skip_serializing_if = "is_zero")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// A job's schedule. `nextRunAt` is written in answers, ignored in requests.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// A Mesos task state (`TASK_RUNNING`, …).
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
