//! Metronome's validation: a body decoded with the path of the first field that does not fit,
//! then the rules of its JSON schemas (id pattern, minimums, enums, a cron that can fire, a
//! known zone), each refusal a 422 detail at its path.

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
    RE.get_or_init(|| regex::Regex::new(ID_PATTERN).ok()).as_ref()
}

pub fn valid_id(id: &str) -> bool {
    id.len() <= 255 && id_re().is_some_and(|re| re.is_match(id))
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
            format!("/{}", path.replace('.', "/").replace('[', "(").replace(']', ")"))
        };
        let inner = e.into_inner();
        JobsError::Invalid(vec![detail(&path, inner.to_string())])
    })
}

/// A job spec's rules; `path` prefixes each detail (`` or `/job` in v0 bodies).
pub fn check_spec(spec: &JobSpec) -> Vec<ErrorDetail> {
    let mut out = Vec::new();
    if !valid_id(&spec.id) {
        out.push(detail("/id", format!("'{}' does not match pattern {ID_PATTERN}", spec.id)));
    }
    let run = &spec.run;
    if !(run.cpus >= 0.01) {
        out.push(detail("/run/cpus", "error.min: the minimum is 0.01"));
    }
    if !(run.mem >= 32.0) {
        out.push(detail("/run/mem", "error.min: the minimum is 32"));
    }
    if !(run.disk >= 0.0) {
        out.push(detail("/run/disk", "error.min: the minimum is 0"));
    }
    if !(run.gpus >= 0.0) {
        out.push(detail("/run/gpus", "error.min: the minimum is 0"));
    }
    if run.max_launch_delay < 1 {
        out.push(detail("/run/maxLaunchDelay", "error.min: the minimum is 1"));
    }
    if run.cmd.is_none() && run.args.is_none() && run.docker.is_none() && run.ucr.is_none() {
        out.push(detail("/run", "Either cmd, args, docker or ucr must be defined"));
    }
    if !matches!(run.restart.policy.as_str(), "NEVER" | "ON_FAILURE") {
        out.push(detail("/run/restart/policy", "error.expected.enum: NEVER or ON_FAILURE"));
    }
    for (i, c) in run.placement.constraints.iter().enumerate() {
        let p = format!("/run/placement/constraints({i})");
        match c.operator.as_str() {
            "IS" | "EQ" => {}
            "LIKE" | "UNLIKE" => {
                if regex::Regex::new(c.value.as_deref().unwrap_or("")).is_err() {
                    out.push(detail(&format!("{p}/value"), "is not a valid regular expression"));
                }
            }
            _ => out.push(detail(&format!("{p}/operator"), "error.expected.enum: IS, LIKE or UNLIKE")),
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
        if v.secret.is_none() {
            if v.host_path.as_deref().unwrap_or("").is_empty() {
                out.push(detail(&format!("{p}/hostPath"), "error.path.missing"));
            }
            if !matches!(v.mode.as_deref(), Some("RO" | "RW")) {
                out.push(detail(&format!("{p}/mode"), "error.expected.enum: RO or RW"));
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
            out.push(detail(&format!("/run/artifacts({i})/uri"), "must not be empty"));
        }
    }
    for (k, v) in &run.env {
        let ok = v.is_string() || v.get("secret").is_some_and(|s| s.is_string());
        if !ok {
            out.push(detail(&format!("/run/env/{k}"), "must be a string or {\"secret\": name}"));
        }
    }
    out
}

/// A schedule's rules, and the schedule as the core keeps it.
pub fn check_schedule(s: &ScheduleSpec, prefix: &str) -> Result<Schedule, Vec<ErrorDetail>> {
    let mut out = Vec::new();
    if !valid_id(&s.id) {
        out.push(detail(&format!("{prefix}/id"), format!("'{}' does not match pattern {ID_PATTERN}", s.id)));
    }
    match Cron::parse(&s.cron, &s.timezone) {
        Ok(_) => {}
        Err(ScheduleError::TimeZone(z)) => out.push(detail(&format!("{prefix}/timezone"), format!("Invalid timezone: {z}"))),
        Err(e) => out.push(detail(&format!("{prefix}/cron"), e.to_string())),
    }
    if s.starting_deadline_seconds < 1 {
        out.push(detail(&format!("{prefix}/startingDeadlineSeconds"), "error.min: the minimum is 1"));
    }
    let forbid = match s.concurrency_policy.as_str() {
        "ALLOW" => false,
        "FORBID" => true,
        _ => {
            out.push(detail(&format!("{prefix}/concurrencyPolicy"), "error.expected.enum: ALLOW or FORBID"));
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
        out.push(detail("/schedules", "Only one schedule supported at the moment"));
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
