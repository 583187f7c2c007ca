//! Chronos' job JSON (`/v1/scheduler/iso8601`, `/dependency`, `/jobs`), named, ordered and
//! defaulted as mesos/chronos writes and reads it (`JobSerializer.scala`, `JobDeserializer.scala`):
//! every field written, in Chronos' order, `parents` for a dependent job and `schedule` with
//! `scheduleTimeZone` for a scheduled one. Reading is as lenient as Chronos' Jackson tree reads
//! (`asText`, `asBoolean`, `asDouble`): `null` is the default, a number where text is wanted is
//! its text, `"true"` is true. Keys Chronos does not know are kept in [`ChronosJob::extra`], so a
//! job reads back as it was given; `epsilon` and `async` (dropped in Chronos 3, still sent by
//! old clients) are kept the same way.

use serde::de::{Deserializer, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A Chronos job, scheduled (`schedule`) or dependent (`parents`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChronosJob {
    #[serde(deserialize_with = "text")]
    pub name: String,
    #[serde(default, deserialize_with = "text")]
    pub command: String,
    /// Run `command` through `/bin/sh -c` (else it is the executable, `arguments` its argv).
    #[serde(default = "yes", deserialize_with = "flag_true")]
    pub shell: bool,
    #[serde(default, deserialize_with = "text")]
    pub executor: String,
    #[serde(default, deserialize_with = "text")]
    pub executor_flags: String,
    #[serde(default, deserialize_with = "text")]
    pub task_info_data: String,
    #[serde(default = "two", deserialize_with = "retries")]
    pub retries: i64,
    #[serde(default, deserialize_with = "text")]
    pub owner: String,
    #[serde(default, deserialize_with = "text")]
    pub owner_name: String,
    #[serde(default, deserialize_with = "text")]
    pub description: String,
    #[serde(default, deserialize_with = "int")]
    pub success_count: i64,
    #[serde(default, deserialize_with = "int")]
    pub error_count: i64,
    /// ISO 8601 (`2014-03-08T16:57:17.507Z`), or empty.
    #[serde(default, deserialize_with = "text")]
    pub last_success: String,
    #[serde(default, deserialize_with = "text")]
    pub last_error: String,
    /// 0 means the scheduler's default (0.1 CPUs, 128 MB, 256 MB of disk).
    #[serde(default, deserialize_with = "number")]
    pub cpus: f64,
    #[serde(default, deserialize_with = "number")]
    pub disk: f64,
    #[serde(default, deserialize_with = "number")]
    pub mem: f64,
    #[serde(default, deserialize_with = "flag")]
    pub disabled: bool,
    #[serde(default, deserialize_with = "flag")]
    pub soft_error: bool,
    #[serde(default, deserialize_with = "flag")]
    pub data_processing_job_type: bool,
    #[serde(default, deserialize_with = "int")]
    pub errors_since_last_success: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub fetch: Vec<Fetch>,
    /// Deprecated in favour of `fetch` (a job may not give both).
    #[serde(default, deserialize_with = "texts")]
    pub uris: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub environment_variables: Vec<EnvironmentVariable>,
    #[serde(default, deserialize_with = "texts")]
    pub arguments: Vec<String>,
    #[serde(default, deserialize_with = "flag")]
    pub high_priority: bool,
    #[serde(default, deserialize_with = "text")]
    pub run_as_user: String,
    #[serde(default, deserialize_with = "flag")]
    pub concurrent: bool,
    /// Seconds; 0 is no limit.
    #[serde(default, deserialize_with = "int")]
    pub max_completion_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// `[attribute, EQUALS|LIKE|UNLIKE, value]`.
    #[serde(default, deserialize_with = "constraints")]
    pub constraints: Vec<Vec<String>>,
    /// A dependent job's parents (a set: written once each).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_texts"
    )]
    pub parents: Option<Vec<String>>,
    /// `R[n]/<start>/<period>`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub schedule: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub schedule_time_zone: Option<String>,
    /// Chronos 2's launch window (an ISO 8601 duration, `PT60S`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub epsilon: Option<String>,
    /// Chronos 2's asynchronous jobs (ignored).
    #[serde(
        default,
        rename = "async",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_flag"
    )]
    pub is_async: Option<bool>,
    /// Keys Chronos does not know, kept as given.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ChronosJob {
    /// A job named `name` with Chronos' defaults (no schedule, no parents yet).
    pub fn new(name: &str) -> ChronosJob {
        ChronosJob {
            name: name.to_string(),
            command: String::new(),
            shell: true,
            executor: String::new(),
            executor_flags: String::new(),
            task_info_data: String::new(),
            retries: 2,
            owner: String::new(),
            owner_name: String::new(),
            description: String::new(),
            success_count: 0,
            error_count: 0,
            last_success: String::new(),
            last_error: String::new(),
            cpus: 0.0,
            disk: 0.0,
            mem: 0.0,
            disabled: false,
            soft_error: false,
            data_processing_job_type: false,
            errors_since_last_success: 0,
            fetch: vec![],
            uris: vec![],
            environment_variables: vec![],
            arguments: vec![],
            high_priority: false,
            run_as_user: String::new(),
            concurrent: false,
            max_completion_time: 0,
            container: None,
            constraints: vec![],
            parents: None,
            schedule: None,
            schedule_time_zone: None,
            epsilon: None,
            is_async: None,
            extra: BTreeMap::new(),
        }
    }
}

/// A URI fetched into the sandbox before the command runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Fetch {
    #[serde(default, deserialize_with = "text")]
    pub uri: String,
    #[serde(default, deserialize_with = "flag")]
    pub executable: bool,
    #[serde(default, deserialize_with = "flag")]
    pub cache: bool,
    #[serde(default = "yes", deserialize_with = "flag_true")]
    pub extract: bool,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "text"
    )]
    pub output_file: String,
}

impl Fetch {
    /// A deprecated `uris` entry as Chronos turns it into a fetch (extracted, not cached).
    pub fn uri(uri: &str) -> Fetch {
        Fetch {
            uri: uri.to_string(),
            executable: false,
            cache: false,
            extract: true,
            output_file: String::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EnvironmentVariable {
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    #[serde(default, deserialize_with = "text")]
    pub value: String,
}

/// A job's container: Docker (the default) or the Mesos containerizer with an image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `DOCKER` or `MESOS`.
    #[serde(rename = "type", default = "docker", deserialize_with = "upper")]
    pub kind: String,
    #[serde(default, deserialize_with = "text")]
    pub image: String,
    /// `HOST`, `BRIDGE` or `USER`.
    #[serde(default = "host", deserialize_with = "upper")]
    pub network: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub network_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub network_infos: Vec<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub volumes: Vec<Volume>,
    #[serde(default, deserialize_with = "flag")]
    pub force_pull_image: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub parameters: Vec<Parameter>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub host_path: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub container_path: String,
    /// `RO` or `RW`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub mode: Option<String>,
    /// An external (Docker volume driver) volume: kept, not mounted by Drover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Parameter {
    #[serde(default, deserialize_with = "text")]
    pub key: String,
    #[serde(default, deserialize_with = "text")]
    pub value: String,
}

/// `GET /jobs/summary`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobSummaries {
    pub jobs: Vec<JobSummary>,
}

/// One job in `GET /jobs/summary`: its last result and what it is doing now.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobSummary {
    pub name: String,
    /// `success`, `failure` or `fresh` (never run).
    pub status: String,
    /// `idle`, `queued` or `<n> running`.
    pub state: String,
    /// Empty for a dependent job.
    pub schedule: String,
    pub parents: Vec<String>,
    pub disabled: bool,
}

/// An error, as Chronos' `ApiResult` writes it: `{"status": "Bad Request", "message": …}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ApiResult {
    pub status: String,
    pub message: String,
}

fn yes() -> bool {
    true
}
fn two() -> i64 {
    2
}
fn docker() -> String {
    "DOCKER".into()
}
fn host() -> String {
    "HOST".into()
}

/// Text as Jackson's `asText` reads a node: strings as they are, numbers and booleans
/// printed, `null` empty. Arrays and objects are refused.
fn text_of(v: Value) -> Result<String, &'static str> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Array(_) | Value::Object(_) => Err("text"),
    }
}

fn refuse<E: serde::de::Error>(want: &str, v: &Value) -> E {
    E::custom(format!("expected {want}, got {v}"))
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    text_of(v.clone()).map_err(|w| refuse(w, &v))
}

fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(None),
        v => text_of(v.clone()).map(Some).map_err(|w| refuse(w, &v)),
    }
}

fn upper<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d).map(|s| s.to_uppercase())
}

/// A boolean as Jackson's `asBoolean`: `true`, `"true"`, a non-zero number.
fn bool_of(v: &Value) -> Option<bool> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.trim().eq_ignore_ascii_case("true")),
        Value::Number(n) => Some(n.as_f64().is_some_and(|x| x != 0.0)),
        Value::Array(_) | Value::Object(_) => Some(false),
    }
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(bool_of(&Value::deserialize(d)?).unwrap_or(false))
}

fn flag_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(bool_of(&Value::deserialize(d)?).unwrap_or(true))
}

fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(bool_of(&Value::deserialize(d)?))
}

/// A number, or a string holding one; `null` is 0.
fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = Value::deserialize(d)?;
    f64_of(&v)
        .filter(|x| x.is_finite())
        .ok_or_else(|| refuse("a number", &v))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|x| x.is_finite() && x.abs() < 9.0e18)
                .map(|x| x.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(0),
        v => int_of(&v).ok_or_else(|| refuse("an integer", &v)),
    }
}

fn retries<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Null => Ok(2),
        v => int_of(&v).ok_or_else(|| refuse("an integer", &v)),
    }
}

/// A list, `null` empty.
fn nullable<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn texts_of<E: serde::de::Error>(v: Value) -> Result<Vec<String>, E> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| text_of(i.clone()).map_err(|w| refuse(w, &i)))
            .collect(),
        v => Err(refuse("a list", &v)),
    }
}

fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    texts_of(Value::deserialize(d)?)
}

fn opt_texts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => texts_of(v).map(Some),
    }
}

fn constraints<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items.into_iter().map(texts_of).collect(),
        v => Err(refuse("a list of [attribute, operator, value]", &v)),
    }
}

/// Whether a body is JSON at all (before any field is looked at).
pub fn is_json(body: &[u8]) -> bool {
    serde_json::from_slice::<IgnoredAny>(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_lenient_reading() {
        let j: ChronosJob = serde_json::from_value(json!({
            "name": "a", "command": "true", "shell": null, "cpus": "0.5", "retries": null,
            "disabled": "true", "async": false, "epsilon": "PT30S", "owner": 7,
            "parents": ["p"], "somethingElse": {"x": 1}
        }))
        .expect("a job");
        assert!(j.shell);
        assert_eq!(j.cpus, 0.5);
        assert_eq!(j.retries, 2);
        assert!(j.disabled);
        assert_eq!(j.owner, "7");
        assert_eq!(j.is_async, Some(false));
        assert_eq!(j.parents, Some(vec!["p".to_string()]));
        let v = serde_json::to_value(&j).expect("json");
        assert_eq!(v["somethingElse"], json!({"x": 1}));
        assert_eq!(v["async"], json!(false));
        assert_eq!(v["epsilon"], json!("PT30S"));
        assert!(v.get("schedule").is_none());
        assert!(v.get("container").is_none());
    }

    #[test]
    fn wrong_shapes_are_refused_not_panicked_on() {
        for bad in [
            json!({"command": "x"}),
            json!({"name": ["a"]}),
            json!({"name": "a", "cpus": "lots"}),
            json!({"name": "a", "arguments": "x"}),
            json!({"name": "a", "constraints": [[1, {}]]}),
        ] {
            assert!(serde_json::from_value::<ChronosJob>(bad).is_err());
        }
    }
}
