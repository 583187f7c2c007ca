//! Metronome's validation: a body decoded with the path of the first field that does not fit,
//! then the rules of its JSON schemas (id pattern, minimums, enums, a cron that can fire, a
//! known zone) and of its model validators (`JobRunSpec`, `JobSpec`, `ScheduleSpec`: something
//! to run, Docker xor UCR, secrets defined and used, a deadline of a minute at least), each
//! refusal a 422 detail at its path with Metronome's message where it has one.

use crate::core::{Job, Schedule, Timing};
use crate::schedule::{Cron, ScheduleError};
use crate::JobsError;
use drover_api::metronome::{ErrorDetail, JobSpec, ScheduleSpec};
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use std::sync::OnceLock;

/// Metronome's job id pattern (dot-separated segments of lower-case letters, digits, dashes).
pub const ID_PATTERN: &str = r"^([a-z0-9]+(\-+[a-z0-9]+)*)(\.([a-z0-9]+(\-+[a-z0-9]+)*))*$";

fn id_re() -> Option<&'static regex::Regex> {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(ID_PATTERN).ok())
        .as_ref()
}

pub fn valid_id(id: &str) -> bool {
    id.len() <= 255 && id_re().is_some_and(|re| re.is_match(id))
}

/// The id pattern of a schedule sent on its own (`schedulespec.schema.json`: no dots, at least
/// two characters); a schedule inside a job body takes the job's pattern.
pub const SCHEDULE_ID_PATTERN: &str = r"^([a-z0-9][a-z0-9\-]*[a-z0-9]+)$";

/// A schedule id as `POST /v1/jobs/{id}/schedules` and `PUT …/schedules/{sid}` take it.
pub fn valid_schedule_id(id: &str) -> bool {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    id.len() <= 255
        && RE
            .get_or_init(|| regex::Regex::new(SCHEDULE_ID_PATTERN).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(id))
}

/// Whether a body is JSON at all: Metronome (Play) answers one that is not with 400, before any
/// field is looked at; the error names where the text broke.
pub fn json_syntax(body: &[u8]) -> Result<(), String> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(e) if e.is_syntax() || e.is_eof() => Err(e.to_string()),
        _ => Ok(()),
    }
}

/// Under a minimum, or not a number at all.
fn below(x: f64, min: f64) -> bool {
    x.is_nan() || x < min
}

fn detail(path: &str, msg: impl Into<String>) -> ErrorDetail {
    ErrorDetail {
        path: path.into(),
        errors: vec![msg.into()],
    }
}

/// Decode a body as `T`, or a 422 naming the field.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, JobsError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." {
            String::new()
        } else {
            format!(
                "/{}",
                path.replace('.', "/").replace('[', "(").replace(']', ")")
            )
        };
        let inner = e.into_inner();
        JobsError::Invalid(vec![detail(&path, inner.to_string())])
    })
}

/// A job spec's rules; `path` prefixes each detail (`` or `/job` in v0 bodies).
pub fn check_spec(spec: &JobSpec) -> Vec<ErrorDetail> {
    let mut out = Vec::new();
    if !valid_id(&spec.id) {
        out.push(detail(
            "/id",
            format!("'{}' does not match pattern {ID_PATTERN}", spec.id),
        ));
    }
    let mut parents = std::collections::HashSet::new();
    for (i, d) in spec.dependencies.iter().enumerate() {
        if !valid_id(&d.id) {
            out.push(detail(
                &format!("/dependencies({i})/id"),
                format!("'{}' does not match pattern {ID_PATTERN}", d.id),
            ));
        }
        if !parents.insert(d.id.as_str()) {
            out.push(detail("/dependencies", "has double entries"));
        }
    }
    let run = &spec.run;
    if run.cmd.as_deref() == Some("") {
        out.push(detail(
            "/run/cmd",
            "error.minLength: the minimum length is 1",
        ));
    }
    if below(run.cpus, 0.01) {
        out.push(detail("/run/cpus", "error.min: the minimum is 0.01"));
    }
    if below(run.mem, 32.0) {
        out.push(detail("/run/mem", "error.min: the minimum is 32"));
    }
    if below(run.disk, 0.0) {
        out.push(detail("/run/disk", "error.min: the minimum is 0"));
    }
    if below(run.gpus, 0.0) {
        out.push(detail("/run/gpus", "error.min: the minimum is 0"));
    }
    if run.gpus.fract() != 0.0 {
        out.push(detail(
            "/run/gpus",
            "error.expected.integer: GPUs are counted in whole units",
        ));
    }
    if run.max_launch_delay < 1 {
        out.push(detail("/run/maxLaunchDelay", "error.min: the minimum is 1"));
    }
    // Metronome's `JobRunSpec` validators (args alone are not enough: they need an image).
    let image = run.docker.as_ref().is_some_and(|d| !d.image.is_empty());
    if run.cmd.is_none() && !image && run.ucr.is_none() {
        out.push(detail("/run", "Cmd, Docker or UCR image must be specified"));
    }
    if run.docker.is_some() && run.ucr.is_some() {
        out.push(detail(
            "/run",
            "Either Docker or UCR should be provided, but not both",
        ));
    }
    if run.gpus != 0.0 && run.docker.is_some() {
        out.push(detail("/run/gpus", "GPUs are not supported with Docker"));
    }
    if run.docker.is_some() && run.volumes.iter().any(|v| v.secret.is_some()) {
        out.push(detail(
            "/run/volumes",
            "File based secrets are only supported by UCR",
        ));
    }
    if let Some(msg) = secrets_mismatch(run) {
        out.push(detail("/run", msg));
    }
    if !matches!(run.restart.policy.as_str(), "NEVER" | "ON_FAILURE") {
        out.push(detail(
            "/run/restart/policy",
            "error.expected.enum: NEVER or ON_FAILURE",
        ));
    }
    for (i, c) in run.placement.constraints.iter().enumerate() {
        let p = format!("/run/placement/constraints({i})");
        match c.operator.as_str() {
            "IS" | "EQ" => {}
            "LIKE" | "UNLIKE" => {
                if regex::Regex::new(c.value.as_deref().unwrap_or("")).is_err() {
                    out.push(detail(
                        &format!("{p}/value"),
                        "is not a valid regular expression",
                    ));
                }
            }
            _ => out.push(detail(
                &format!("{p}/operator"),
                "error.expected.enum: IS, LIKE or UNLIKE",
            )),
        }
        if c.value.is_none() {
            out.push(detail(&format!("{p}/value"), "error.path.missing"));
        }
    }
    for (i, v) in run.volumes.iter().enumerate() {
        let p = format!("/run/volumes({i})");
        if v.container_path.is_empty() {
            out.push(detail(&format!("{p}/containerPath"), "must not be empty"));
        }
        if v.secret.is_some() && (v.host_path.is_some() || v.mode.is_some()) {
            out.push(detail(
                &p,
                "expected HostVolume or SecretVolume object but got both",
            ));
        }
        if v.secret.is_none() {
            if v.host_path.as_deref().unwrap_or("").is_empty() {
                out.push(detail(&format!("{p}/hostPath"), "error.path.missing"));
            }
            if !matches!(v.mode.as_deref(), Some("RO" | "RW")) {
                out.push(detail(
                    &format!("{p}/mode"),
                    "error.expected.enum: RO or RW",
                ));
            }
        }
    }
    if let Some(d) = &run.docker {
        if d.image.trim().is_empty() {
            out.push(detail("/run/docker/image", "must not be empty"));
        }
    }
    for (i, a) in run.artifacts.iter().enumerate() {
        if a.uri.trim().is_empty() {
            out.push(detail(
                &format!("/run/artifacts({i})/uri"),
                "must not be empty",
            ));
        }
    }
    for (k, v) in &run.env {
        let ok = v.is_string() || v.get("secret").is_some_and(|s| s.is_string());
        if !ok {
            out.push(detail(
                &format!("/run/env/{k}"),
                "must be a string or {\"secret\": name}",
            ));
        }
    }
    out
}

/// Metronome's check that every secret referenced (by `env` or a volume) is defined in
/// `secrets`, and every one defined is referenced.
fn secrets_mismatch(run: &drover_api::metronome::RunSpec) -> Option<String> {
    use std::collections::BTreeSet;
    let used: BTreeSet<&str> = run
        .env
        .values()
        .filter_map(|v| v.get("secret").and_then(|s| s.as_str()))
        .chain(run.volumes.iter().filter_map(|v| v.secret.as_deref()))
        .collect();
    let defined: BTreeSet<&str> = run.secrets.keys().map(String::as_str).collect();
    let undefined: Vec<&str> = used.difference(&defined).copied().collect();
    let unused: Vec<&str> = defined.difference(&used).copied().collect();
    let mut msg = String::new();
    if !undefined.is_empty() {
        msg.push_str(&format!(
            "The following secrets are referenced, but undefined: {}. Please add them to the secrets field.",
            undefined.join(", ")
        ));
    }
    if !unused.is_empty() {
        msg.push_str(&format!(
            "The following secrets are defined, but not referenced: {}. Please remove them from the secrets field.",
            unused.join(", ")
        ));
    }
    (!msg.is_empty()).then_some(msg)
}

/// A schedule's rules, and the schedule as the core keeps it.
pub fn check_schedule(s: &ScheduleSpec, prefix: &str) -> Result<Schedule, Vec<ErrorDetail>> {
    let mut out = Vec::new();
    if !valid_id(&s.id) {
        out.push(detail(
            &format!("{prefix}/id"),
            format!("'{}' does not match pattern {ID_PATTERN}", s.id),
        ));
    }
    match Cron::parse(&s.cron, &s.timezone) {
        Ok(_) => {}
        Err(ScheduleError::TimeZone(z)) => out.push(detail(
            &format!("{prefix}/timezone"),
            format!("Invalid timezone: {z}"),
        )),
        Err(e) => out.push(detail(&format!("{prefix}/cron"), e.to_string())),
    }
    if s.starting_deadline_seconds < 1 {
        out.push(detail(
            &format!("{prefix}/startingDeadlineSeconds"),
            "error.min: the minimum is 1",
        ));
    } else if s.starting_deadline_seconds < 60 {
        // `ScheduleSpec`'s validator (`startingDeadline >= 1.minute`), in its words.
        let n = s.starting_deadline_seconds;
        let unit = if n == 1 { "second" } else { "seconds" };
        out.push(detail(
            &format!("{prefix}/startingDeadline"),
            format!("got {n} {unit}, expected 1 minute or more"),
        ));
    }
    let forbid = match s.concurrency_policy.as_str() {
        "ALLOW" => false,
        "FORBID" => true,
        _ => {
            out.push(detail(
                &format!("{prefix}/concurrencyPolicy"),
                "error.expected.enum: ALLOW or FORBID",
            ));
            false
        }
    };
    if !out.is_empty() {
        return Err(out);
    }
    Ok(Schedule {
        id: s.id.clone(),
        timing: Timing::Cron {
            expr: s.cron.clone(),
            timezone: s.timezone.clone(),
        },
        starting_deadline_seconds: s.starting_deadline_seconds,
        forbid_concurrent: forbid,
        enabled: s.enabled,
    })
}

/// A Metronome job body (with at most one schedule) as the core keeps it, or 422.
pub fn job_from_spec(mut spec: JobSpec, now: Timestamp) -> Result<Job, JobsError> {
    let mut out = check_spec(&spec);
    let mut schedules = Vec::new();
    if spec.schedules.len() > 1 {
        out.push(detail(
            "/schedules",
            "Only one schedule supported at the moment",
        ));
    }
    if !spec.schedules.is_empty() && !spec.dependencies.is_empty() {
        out.push(detail(
            "/",
            "Jobs may not have both dependencies and schedules specified",
        ));
    }
    for (i, s) in spec.schedules.iter().enumerate() {
        match check_schedule(s, &format!("/schedules({i})")) {
            Ok(s) => schedules.push(s),
            Err(d) => out.extend(d),
        }
    }
    if !out.is_empty() {
        return Err(JobsError::Invalid(out));
    }
    let parents = spec.dependencies.iter().map(|d| d.id.clone()).collect();
    spec.schedules.clear();
    Ok(Job {
        spec,
        schedules,
        parents,
        chronos: None,
        retries: None,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(run: serde_json::Value) -> JobSpec {
        serde_json::from_value(json!({"id": "a.job", "run": run})).expect("a job")
    }
    fn paths(d: &[ErrorDetail]) -> Vec<(&str, &str)> {
        d.iter()
            .map(|d| (d.path.as_str(), d.errors[0].as_str()))
            .collect()
    }

    #[test]
    fn the_model_validators_refuse_what_metronome_refuses() {
        let args_only = check_spec(&spec(json!({"cpus": 0.1, "mem": 32, "args": ["x"]})));
        assert_eq!(
            paths(&args_only),
            [("/run", "Cmd, Docker or UCR image must be specified")]
        );
        let both = check_spec(&spec(
            json!({"cpus": 0.1, "mem": 32, "docker": {"image": "a"},
                                           "ucr": {"image": {"id": "a"}}, "gpus": 1}),
        ));
        assert_eq!(
            paths(&both),
            [
                (
                    "/run",
                    "Either Docker or UCR should be provided, but not both"
                ),
                ("/run/gpus", "GPUs are not supported with Docker")
            ]
        );
        let secrets = check_spec(&spec(json!({"cpus": 0.1, "mem": 32, "cmd": "x",
            "env": {"A": {"secret": "s1"}}, "secrets": {"s2": {"source": "x"}}})));
        assert_eq!(secrets.len(), 1);
        assert!(
            secrets[0].errors[0].contains("referenced, but undefined: s1"),
            "{secrets:?}"
        );
        assert!(
            secrets[0].errors[0].contains("defined, but not referenced: s2"),
            "{secrets:?}"
        );
        let ok = check_spec(&spec(json!({"cpus": 0.1, "mem": 32, "cmd": "x",
            "env": {"A": {"secret": "s1"}}, "secrets": {"s1": {"source": "x"}}})));
        assert!(ok.is_empty(), "{ok:?}");
        let half_gpu = check_spec(&spec(
            json!({"cpus": 0.1, "mem": 32, "cmd": "x", "gpus": 0.5}),
        ));
        assert_eq!(half_gpu[0].path, "/run/gpus");
    }

    #[test]
    fn a_schedule_needs_a_minute_of_deadline_and_its_own_id_pattern() {
        let s: ScheduleSpec = serde_json::from_value(
            json!({"id": "s1", "cron": "* * * * *", "startingDeadlineSeconds": 30}),
        )
        .expect("valid");
        let d = check_schedule(&s, "").expect_err("refused");
        assert_eq!(
            paths(&d),
            [(
                "/startingDeadline",
                "got 30 seconds, expected 1 minute or more"
            )]
        );
        assert!(
            valid_schedule_id("nightly-2") && !valid_schedule_id("a") && !valid_schedule_id("a.b")
        );
        assert!(valid_id("a") && valid_id("a.b"));
    }

    #[test]
    fn schedules_and_dependencies_do_not_mix() {
        let s: JobSpec = serde_json::from_value(
            json!({"id": "child", "run": {"cpus": 1, "mem": 32, "cmd": "x"},
            "dependencies": [{"id": "parent"}, {"id": "parent"}],
            "schedules": [{"id": "s1", "cron": "* * * * *"}]}),
        )
        .expect("valid");
        let Err(JobsError::Invalid(d)) = job_from_spec(s, Timestamp::UNIX_EPOCH) else {
            panic!("accepted")
        };
        assert_eq!(
            paths(&d),
            [
                ("/dependencies", "has double entries"),
                (
                    "/",
                    "Jobs may not have both dependencies and schedules specified"
                )
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_told_apart() {
        assert!(json_syntax(b"{bad").is_err());
        assert!(json_syntax(b"{\"id\": 1").is_err());
        assert!(json_syntax(b"{\"id\": 1}").is_ok());
    }
}
