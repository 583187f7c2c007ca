//! A Chronos job's JSON and the core's [`Job`], both ways, and what Chronos checks on the way in
//! (mesos/chronos `Iso8601JobResource`, `DependentJobResource`, `JobDeserializer`,
//! `MesosTaskBuilder`).
//!
//! In: the name must match `([\w\.-]+)`; a schedule must parse (with its `scheduleTimeZone`)
//! and not start before 1970; `uris` and `fetch` not both; no schedule and no parents is
//! Chronos' "run once now" (`R1/<now>/PT24H`). CPUs, memory and disk of 0 are the scheduler's
//! defaults (0.1, 128, 256): Metronome's minimums do not apply. The run becomes Metronome's run
//! spec: `shell: false` makes `command` the executable and `arguments` its arguments (Chronos
//! ignores `arguments` for a shell command), `fetch`/`uris` artifacts, a Docker container, a
//! Mesos container's image as UCR, `[attr, EQUALS|LIKE|UNLIKE, value]` constraints (EQUALS is
//! IS). The schedule is `Timing::Iso8601` with the id `chronos`, its starting deadline Chronos
//! 2's `epsilon` (60 s if not given), `concurrent: false` forbidding overlap, `disabled`
//! disabling it. The JSON is kept (its counters dropped) in `Job::chronos`.
//!
//! Out: the kept JSON, or one made from a Metronome job, with what the core knows now: the
//! counters from the job's totals, the resources and command as they are now (Metronome may
//! have changed them), `parents`, or the schedule as Chronos rewrites it after every run
//! (`R{left}/{next start}/{period}`; `R0` and disabled when none is left). A Metronome cron
//! schedule shows as its cron expression; a job with neither schedule nor parents as
//! `R0/<created>/PT24H` (it runs only when asked).

use crate::core::chronos::ChronosSchedule;
use crate::core::{Job, Jobs, RunStatus, Schedule, Timing, Totals};
use crate::schedule::Repeating;
use drover_api::chronos::{ChronosJob, Container, EnvironmentVariable, Fetch, Parameter};
use drover_api::metronome::{
    Artifact, Constraint, Docker, DockerParameter, JobSpec, Placement, Restart, RunSpec, Volume,
};
use jiff::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Chronos' job name pattern (the whole name must match).
pub const NAME_PATTERN: &str = r"([\w\.-]+)";
/// The schedule id of a Chronos job's one schedule.
pub const SCHEDULE_ID: &str = "chronos";
/// The scheduler's defaults for a job that gives 0 (Chronos' `mesos_task_cpu/mem/disk`).
pub const DEFAULT_CPUS: f64 = 0.1;
pub const DEFAULT_MEM: f64 = 128.0;
pub const DEFAULT_DISK: f64 = 256.0;
/// Chronos' `user` flag: whom a job runs as when it names no one.
pub const DEFAULT_USER: &str = "root";
/// How late a scheduled occurrence may still start when no `epsilon` is given.
pub const DEFAULT_EPSILON_SECS: u64 = 60;
/// The counters Chronos keeps in the job: shown from the core's totals, never stored.
const COUNTERS: [&str; 5] = [
    "successCount",
    "errorCount",
    "lastSuccess",
    "lastError",
    "errorsSinceLastSuccess",
];

/// Which endpoint a job came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `/iso8601`: a schedule (or none: run once now).
    Scheduled,
    /// `/dependency`: parents.
    Dependent,
}

/// `([\w\.-]+)` as Java reads it: ASCII letters, digits, `_`, `.`, `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Chronos' time format (Joda's `DateTime.toString` in UTC): `2014-03-08T16:57:17.507Z`.
pub fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A request body as a Chronos job, or why not (Chronos answers 400).
pub fn decode(body: &[u8]) -> Result<ChronosJob, String> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        return Err(format!("Unable to process JSON: {e}"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("Unable to process JSON: {inner}")
        } else {
            format!("Unable to process JSON at {path}: {inner}")
        }
    })
}

/// An ISO 8601 duration (`PT60S`, `PT1M`, `P1D`) in whole seconds.
fn duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    let secs = match s.parse::<jiff::SignedDuration>() {
        Ok(d) => d.as_secs_f64(),
        Err(_) => s
            .parse::<jiff::Span>()
            .ok()?
            .total((
                jiff::Unit::Second,
                jiff::SpanRelativeTo::days_are_24_hours(),
            ))
            .ok()?,
    };
    (secs.is_finite() && secs >= 0.0).then_some(secs.ceil().clamp(1.0, 1.0e12) as u64)
}

/// Dedupe, keeping the first of each (Chronos' parents are a set).
fn unique(names: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// A Chronos job checked and normalised as Chronos stores it: defaults filled in, the schedule
/// resolved (an empty start is now), a container without an image dropped, constraints with an
/// operator Chronos does not know dropped.
fn normalise(mut c: ChronosJob, kind: Kind, now: Timestamp) -> Result<ChronosJob, String> {
    if !valid_name(&c.name) {
        return Err(format!(
            "requirement failed: the job's name is invalid. Allowed names: '{NAME_PATTERN}'"
        ));
    }
    if !c.uris.is_empty() && !c.fetch.is_empty() {
        return Err(format!(
            "Tried to add both uri (deprecated) and fetch parameters on {}",
            c.name
        ));
    }
    for (x, default) in [
        (&mut c.cpus, DEFAULT_CPUS),
        (&mut c.mem, DEFAULT_MEM),
        (&mut c.disk, DEFAULT_DISK),
    ] {
        if *x <= 0.0 {
            *x = default;
        }
    }
    c.retries = c.retries.clamp(0, i64::from(u32::MAX));
    if c.run_as_user.is_empty() {
        c.run_as_user = DEFAULT_USER.into();
    }
    if let Some(ct) = &c.container {
        if ct.image.is_empty() {
            c.container = None;
        }
    }
    if let Some(ct) = &c.container {
        if !matches!(ct.kind.as_str(), "DOCKER" | "MESOS") {
            return Err(format!(
                "Unknown container type '{}' (DOCKER or MESOS)",
                ct.kind
            ));
        }
        if !matches!(ct.network.as_str(), "HOST" | "BRIDGE" | "USER") {
            return Err(format!(
                "Unknown network mode '{}' (HOST, BRIDGE or USER)",
                ct.network
            ));
        }
        for v in &ct.volumes {
            if let Some(m) = &v.mode {
                if !matches!(m.to_uppercase().as_str(), "RO" | "RW") {
                    return Err(format!("Unknown volume mode '{m}' (RO or RW)"));
                }
            }
        }
    }
    c.constraints
        .retain(|x| x.len() >= 3 && matches!(x[1].as_str(), "EQUALS" | "LIKE" | "UNLIKE"));
    for x in &c.constraints {
        if x[1] != "EQUALS" && regex::Regex::new(&x[2]).is_err() {
            return Err(format!(
                "The constraint [{}, {}, {}] is not a valid regular expression",
                x[0], x[1], x[2]
            ));
        }
    }
    if let Some(e) = &c.epsilon {
        if duration_secs(e).is_none() {
            return Err(format!(
                "Cannot parse epsilon '{e}' (an ISO 8601 duration such as PT60S)"
            ));
        }
    }
    let parents = unique(c.parents.take().unwrap_or_default());
    match kind {
        Kind::Dependent => {
            if parents.is_empty() {
                return Err("Error, parent does not exist".into());
            }
            c.parents = Some(parents);
            c.schedule = None;
            c.schedule_time_zone = None;
        }
        Kind::Scheduled => {
            if !parents.is_empty() {
                return Err(format!(
                    "Job '{}' has parents: a dependent job is added through /dependency",
                    c.name
                ));
            }
            let zone = c.schedule_time_zone.take().filter(|z| !z.trim().is_empty());
            let spec = match c.schedule.take().map(|s| s.trim().to_string()) {
                Some(s) if !s.is_empty() => s,
                // JobDeserializer: neither schedule nor parents is "once, now".
                _ => format!("R1/{}/PT24H", time(now)),
            };
            let r = Repeating::parse_at(&spec, zone.as_deref(), now)
                .map_err(|e| format!("Cannot parse schedule '{spec}': {e}"))?;
            if r.start() < Timestamp::from_second(1).unwrap_or(Timestamp::UNIX_EPOCH) {
                return Err(format!("Scheduled start date '{spec}' is before 1970!"));
            }
            // An empty start (`R//PT1H`) is now: written out, so every reading agrees.
            let empty_start = spec.split('/').nth(1).is_some_and(|s| s.trim().is_empty());
            c.schedule = Some(if empty_start { r.to_string() } else { spec });
            c.schedule_time_zone = Some(zone.unwrap_or_default());
        }
    }
    Ok(c)
}

/// Chronos' run as Metronome's run spec.
fn run_spec(c: &ChronosJob) -> RunSpec {
    let docker = c
        .container
        .as_ref()
        .filter(|ct| ct.kind == "DOCKER")
        .map(|ct| Docker {
            image: ct.image.clone(),
            force_pull_image: ct.force_pull_image,
            privileged: false,
            parameters: ct
                .parameters
                .iter()
                .map(|p| DockerParameter {
                    key: p.key.clone(),
                    value: p.value.clone(),
                })
                .collect(),
        });
    let ucr = c.container.as_ref().filter(|ct| ct.kind == "MESOS").map(
        |ct| json!({"image": {"id": ct.image, "kind": "docker", "forcePull": ct.force_pull_image}}),
    );
    let contained = docker.is_some() || ucr.is_some();
    let (cmd, args) = match (c.shell, c.command.is_empty()) {
        // An image's own entrypoint runs when there is no command.
        (_, true) if contained => (None, (!c.arguments.is_empty()).then(|| c.arguments.clone())),
        (true, _) => (Some(c.command.clone()), None),
        (false, true) => (None, Some(c.arguments.clone())),
        (false, false) => (
            None,
            Some(
                std::iter::once(c.command.clone())
                    .chain(c.arguments.iter().cloned())
                    .collect(),
            ),
        ),
    };
    let artifacts = if c.fetch.is_empty() {
        c.uris.iter().map(|u| Fetch::uri(u)).collect()
    } else {
        c.fetch.clone()
    };
    RunSpec {
        cpus: c.cpus,
        mem: c.mem,
        disk: c.disk,
        gpus: 0.0,
        cmd,
        args,
        user: (!c.run_as_user.is_empty()).then(|| c.run_as_user.clone()),
        env: c
            .environment_variables
            .iter()
            .map(|v| (v.name.clone(), Value::String(v.value.clone())))
            .collect(),
        placement: Placement {
            constraints: c
                .constraints
                .iter()
                .map(|x| Constraint {
                    attribute: x[0].clone(),
                    operator: if x[1] == "EQUALS" { "IS" } else { &x[1] }.to_string(),
                    value: Some(x[2].clone()),
                })
                .collect(),
        },
        artifacts: artifacts
            .into_iter()
            .map(|f| Artifact {
                uri: f.uri,
                extract: f.extract,
                executable: f.executable,
                cache: f.cache,
            })
            .collect(),
        max_launch_delay: 3600,
        docker,
        ucr,
        volumes: c
            .container
            .iter()
            .flat_map(|ct| ct.volumes.iter())
            .filter(|v| v.host_path.as_deref().is_some_and(|h| !h.is_empty()))
            .map(|v| Volume {
                container_path: v.container_path.clone(),
                host_path: v.host_path.clone(),
                mode: Some(v.mode.as_deref().unwrap_or("RW").to_uppercase()),
                secret: None,
            })
            .collect(),
        restart: Restart::default(),
        task_kill_grace_period_seconds: None,
        networks: vec![],
        secrets: BTreeMap::new(),
    }
}

/// A Chronos job as the core's job (made at `now` if new), or why Chronos refuses it.
pub fn job_from_chronos(c: ChronosJob, kind: Kind, now: Timestamp) -> Result<Job, String> {
    let c = normalise(c, kind, now)?;
    let schedules = match &c.schedule {
        Some(spec) => vec![Schedule {
            id: SCHEDULE_ID.into(),
            timing: Timing::Iso8601 {
                spec: spec.clone(),
                timezone: c.schedule_time_zone.clone().filter(|z| !z.is_empty()),
            },
            starting_deadline_seconds: c
                .epsilon
                .as_deref()
                .and_then(duration_secs)
                .unwrap_or(DEFAULT_EPSILON_SECS),
            forbid_concurrent: !c.concurrent,
            enabled: !c.disabled,
        }],
        None => vec![],
    };
    let spec = JobSpec {
        id: c.name.clone(),
        description: (!c.description.is_empty()).then(|| c.description.clone()),
        labels: BTreeMap::new(),
        run: run_spec(&c),
        schedules: vec![],
        dependencies: vec![],
    };
    let mut kept = serde_json::to_value(&c).unwrap_or_else(|_| json!({"name": c.name}));
    if let Some(o) = kept.as_object_mut() {
        for k in COUNTERS {
            o.remove(k);
        }
    }
    Ok(Job {
        spec,
        schedules,
        parents: c.parents.clone().unwrap_or_default(),
        chronos: Some(kept),
        retries: Some(u32::try_from(c.retries).unwrap_or(0)),
        created_at: now,
    })
}

/// A Metronome job in Chronos' terms.
fn from_spec(job: &Job) -> ChronosJob {
    let run = &job.spec.run;
    let mut c = ChronosJob::new(&job.spec.id);
    let image = run
        .ucr
        .as_ref()
        .and_then(|u| u.pointer("/image/id"))
        .and_then(Value::as_str);
    (c.command, c.shell, c.arguments) = match (&run.cmd, &run.args) {
        (Some(cmd), _) => (cmd.clone(), true, vec![]),
        (None, Some(args)) if run.docker.is_some() || image.is_some() => {
            (String::new(), false, args.clone())
        }
        (None, Some(args)) => (
            args.first().cloned().unwrap_or_default(),
            false,
            args.iter().skip(1).cloned().collect(),
        ),
        (None, None) => (String::new(), true, vec![]),
    };
    c.retries = i64::from(job.retries.unwrap_or(0));
    c.run_as_user = run.user.clone().unwrap_or_else(|| DEFAULT_USER.into());
    c.environment_variables = run
        .env
        .iter()
        .filter_map(|(k, v)| {
            v.as_str().map(|v| EnvironmentVariable {
                name: k.clone(),
                value: v.to_string(),
            })
        })
        .collect();
    c.fetch = run
        .artifacts
        .iter()
        .map(|a| Fetch {
            uri: a.uri.clone(),
            executable: a.executable,
            cache: a.cache,
            extract: a.extract,
            output_file: String::new(),
        })
        .collect();
    let volumes = run
        .volumes
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| drover_api::chronos::Volume {
            host_path: v.host_path.clone(),
            container_path: v.container_path.clone(),
            mode: v.mode.clone(),
            external: None,
        })
        .collect();
    let container = |kind: &str, image: &str, force: bool, parameters: Vec<Parameter>| Container {
        kind: kind.into(),
        image: image.into(),
        network: "HOST".into(),
        network_name: None,
        network_infos: vec![],
        volumes,
        force_pull_image: force,
        parameters,
    };
    c.container = match (&run.docker, image) {
        (Some(d), _) => Some(container(
            "DOCKER",
            &d.image,
            d.force_pull_image,
            d.parameters
                .iter()
                .map(|p| Parameter {
                    key: p.key.clone(),
                    value: p.value.clone(),
                })
                .collect(),
        )),
        (None, Some(image)) => {
            let force = run
                .ucr
                .as_ref()
                .and_then(|u| u.pointer("/image/forcePull"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Some(container("MESOS", image, force, vec![]))
        }
        (None, None) => None,
    };
    c.constraints = run
        .placement
        .constraints
        .iter()
        .filter_map(|x| {
            let op = match x.operator.as_str() {
                "IS" | "EQ" => "EQUALS",
                "LIKE" => "LIKE",
                "UNLIKE" => "UNLIKE",
                _ => return None,
            };
            Some(vec![
                x.attribute.clone(),
                op.into(),
                x.value.clone().unwrap_or_default(),
            ])
        })
        .collect();
    c.concurrent = job.schedules.first().is_some_and(|s| !s.forbid_concurrent);
    c
}

/// A job as Chronos shows it: the kept JSON (or one made from a Metronome job) with what the
/// core knows now.
pub fn render(j: &Jobs, job: &Job) -> ChronosJob {
    let mut c = job
        .chronos
        .clone()
        .and_then(|v| serde_json::from_value::<ChronosJob>(v).ok())
        .unwrap_or_else(|| from_spec(job));
    let run = &job.spec.run;
    c.cpus = run.cpus;
    c.mem = run.mem;
    c.disk = run.disk;
    c.description = job.spec.description.clone().unwrap_or_default();
    if let (Some(cmd), true) = (&run.cmd, c.shell) {
        c.command = cmd.clone();
    }
    let t = j.totals.get(&job.spec.id).cloned().unwrap_or_default();
    c.success_count = i64::try_from(t.success_count).unwrap_or(i64::MAX);
    c.error_count = i64::try_from(t.failure_count).unwrap_or(i64::MAX);
    c.errors_since_last_success = i64::try_from(t.errors_since_success).unwrap_or(i64::MAX);
    c.last_success = t.last_success_at.map(time).unwrap_or_default();
    c.last_error = t.last_failure_at.map(time).unwrap_or_default();
    if !job.parents.is_empty() {
        c.parents = Some(job.parents.clone());
        c.schedule = None;
        c.schedule_time_zone = None;
        return c;
    }
    c.parents = None;
    match job.schedules.first() {
        Some(s) => {
            let (spec, zone, exhausted) = match (&s.timing, j.chronos_schedule(&job.spec.id, s)) {
                (Timing::Iso8601 { timezone, .. }, Some(ChronosSchedule { spec, exhausted })) => {
                    (spec, timezone.clone().unwrap_or_default(), exhausted)
                }
                (Timing::Iso8601 { spec, timezone }, None) => {
                    (spec.clone(), timezone.clone().unwrap_or_default(), false)
                }
                (Timing::Cron { expr, timezone }, _) => (expr.clone(), timezone.clone(), false),
            };
            c.schedule = Some(spec);
            c.schedule_time_zone = Some(zone);
            c.disabled = !s.enabled || exhausted;
            c.concurrent = !s.forbid_concurrent;
        }
        None => {
            c.schedule = Some(format!("R0/{}/PT24H", time(job.created_at)));
            c.schedule_time_zone = Some(String::new());
        }
    }
    c
}

/// Chronos' `Exporter.getLastState`: `fresh` (never finished), else the later of the last
/// success and the last failure.
pub fn last_state(t: Option<&Totals>) -> &'static str {
    let (s, f) = t.map_or((None, None), |t| (t.last_success_at, t.last_failure_at));
    match (s, f) {
        (None, None) => "fresh",
        (None, Some(_)) => "failure",
        (Some(_), None) => "success",
        (Some(s), Some(f)) if s > f => "success",
        _ => "failure",
    }
}

/// Chronos' `JobStats.getJobState`: `<n> running` while tasks run, `queued` while a run waits
/// for its task to start, else `idle`.
pub fn current_state(j: &Jobs, name: &str) -> String {
    let mut running = 0;
    let mut queued = false;
    for r in j.active_runs(name) {
        match r.status {
            RunStatus::Active => running += 1,
            RunStatus::Initial | RunStatus::Starting => queued = true,
            RunStatus::Success | RunStatus::Failed => {}
        }
    }
    if running > 0 {
        format!("{running} running")
    } else if queued {
        "queued".into()
    } else {
        "idle".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2030-01-01T00:00:00Z".parse().expect("a time")
    }

    fn chronos(v: Value) -> ChronosJob {
        serde_json::from_value(v).expect("a chronos job")
    }

    #[test]
    fn a_scheduled_job_becomes_a_core_job_with_chronos_defaults() {
        let c = chronos(json!({
            "name": "etl.Daily_1", "command": "echo hi", "owner": "o@x", "disabled": false,
            "schedule": "R/2030-01-02T00:00:00.000Z/P1D", "scheduleTimeZone": "PST",
            "epsilon": "PT30S", "async": false, "successCount": 9,
            "environmentVariables": [{"name": "A", "value": "1"}],
            "uris": ["http://x/y.tgz"],
            "constraints": [["rack", "EQUALS", "r1"], ["host", "GROUP_BY", "x"], ["dc", "LIKE", "e.*"]]
        }));
        let job = job_from_chronos(c, Kind::Scheduled, now()).expect("accepted");
        assert_eq!(job.spec.id, "etl.Daily_1");
        assert_eq!(job.spec.run.cpus, DEFAULT_CPUS);
        assert_eq!(job.spec.run.mem, DEFAULT_MEM);
        assert_eq!(job.spec.run.disk, DEFAULT_DISK);
        assert_eq!(job.spec.run.cmd.as_deref(), Some("echo hi"));
        assert_eq!(job.spec.run.user.as_deref(), Some("root"));
        assert_eq!(job.spec.run.env["A"], json!("1"));
        assert_eq!(job.spec.run.artifacts[0].uri, "http://x/y.tgz");
        assert!(job.spec.run.artifacts[0].extract);
        let ops: Vec<&str> = job
            .spec
            .run
            .placement
            .constraints
            .iter()
            .map(|c| c.operator.as_str())
            .collect();
        assert_eq!(ops, ["IS", "LIKE"]);
        assert_eq!(job.retries, Some(2));
        let s = &job.schedules[0];
        assert_eq!(s.id, SCHEDULE_ID);
        assert_eq!(s.starting_deadline_seconds, 30);
        assert!(s.forbid_concurrent && s.enabled);
        assert_eq!(
            s.timing,
            Timing::Iso8601 {
                spec: "R/2030-01-02T00:00:00.000Z/P1D".into(),
                timezone: Some("PST".into())
            }
        );
        let kept = job.chronos.expect("kept");
        assert!(kept.get("successCount").is_none());
        assert_eq!(kept["owner"], json!("o@x"));
        assert_eq!(kept["async"], json!(false));
    }

    #[test]
    fn chronos_refusals_name_what_is_wrong() {
        let refuse = |v: Value, kind| job_from_chronos(chronos(v), kind, now()).err();
        let bad_name = refuse(
            json!({"name": "a b", "command": "x", "schedule": "R/2030-01-01T00:00:00Z/P1D"}),
            Kind::Scheduled,
        );
        assert!(bad_name.is_some_and(|m| m.contains("name is invalid")));
        let bad_schedule = refuse(
            json!({"name": "a", "command": "x", "schedule": "R/yesterday/P1D"}),
            Kind::Scheduled,
        );
        assert!(bad_schedule.is_some_and(|m| m.contains("Cannot parse schedule 'R/yesterday/P1D'")));
        let bad_zone = refuse(
            json!({"name": "a", "command": "x", "schedule": "R/2030-01-01T00:00:00Z/P1D",
                   "scheduleTimeZone": "Mars/Olympus"}),
            Kind::Scheduled,
        );
        assert!(bad_zone.is_some_and(|m| m.contains("Mars/Olympus")));
        let old = refuse(
            json!({"name": "a", "command": "x", "schedule": "R/1969-01-01T00:00:00Z/P1D"}),
            Kind::Scheduled,
        );
        assert!(old.is_some_and(|m| m.contains("before 1970")));
        let both = refuse(
            json!({"name": "a", "command": "x", "uris": ["u"], "fetch": [{"uri": "v"}]}),
            Kind::Scheduled,
        );
        assert!(both.is_some_and(|m| m.contains("both uri")));
        let orphan = refuse(json!({"name": "a", "command": "x"}), Kind::Dependent);
        assert!(orphan.is_some_and(|m| m.contains("parent")));
        let epsilon = refuse(
            json!({"name": "a", "command": "x", "epsilon": "soon"}),
            Kind::Scheduled,
        );
        assert!(epsilon.is_some_and(|m| m.contains("epsilon")));
    }

    #[test]
    fn no_schedule_is_once_now_and_an_empty_start_is_written_out() {
        let once = job_from_chronos(
            chronos(json!({"name": "a", "command": "x"})),
            Kind::Scheduled,
            now(),
        )
        .expect("accepted");
        assert!(matches!(&once.schedules[0].timing,
            Timing::Iso8601 { spec, .. } if spec == "R1/2030-01-01T00:00:00.000Z/PT24H"));
        let empty = job_from_chronos(
            chronos(json!({"name": "a", "command": "x", "schedule": "R5//PT1H"})),
            Kind::Scheduled,
            now(),
        )
        .expect("accepted");
        assert!(matches!(&empty.schedules[0].timing,
            Timing::Iso8601 { spec, .. } if spec == "R5/2030-01-01T00:00:00.000Z/PT1H"));
    }

    #[test]
    fn shell_false_makes_the_command_the_executable() {
        let j = job_from_chronos(
            chronos(json!({"name": "a", "command": "/bin/echo", "shell": false,
                           "arguments": ["x", "y"], "parents": ["p"]})),
            Kind::Dependent,
            now(),
        )
        .expect("accepted");
        assert_eq!(j.spec.run.cmd, None);
        assert_eq!(
            j.spec.run.args,
            Some(vec!["/bin/echo".into(), "x".into(), "y".into()])
        );
        assert_eq!(j.parents, ["p"]);
        let d = job_from_chronos(
            chronos(
                json!({"name": "a", "command": "", "container": {"type": "docker",
                "image": "busybox", "forcePullImage": "true",
                "volumes": [{"hostPath": "/tmp", "containerPath": "/data", "mode": "ro"}],
                "parameters": [{"key": "label", "value": "x=y"}]}}),
            ),
            Kind::Scheduled,
            now(),
        )
        .expect("accepted");
        let docker = d.spec.run.docker.expect("docker");
        assert_eq!(docker.image, "busybox");
        assert!(docker.force_pull_image);
        assert_eq!(docker.parameters[0].key, "label");
        assert_eq!(d.spec.run.cmd, None);
        assert_eq!(d.spec.run.volumes[0].mode.as_deref(), Some("RO"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration_secs("PT60S"), Some(60));
        assert_eq!(duration_secs("PT1M30S"), Some(90));
        assert_eq!(duration_secs("P1D"), Some(86_400));
        assert_eq!(duration_secs("PT0.5S"), Some(1));
        assert_eq!(duration_secs("P1M"), None);
        assert_eq!(duration_secs("-PT5S"), None);
        assert_eq!(duration_secs("x"), None);
    }

    #[test]
    fn last_states() {
        let t = |s: Option<&str>, f: Option<&str>| Totals {
            last_success_at: s.map(|s| s.parse().expect("t")),
            last_failure_at: f.map(|s| s.parse().expect("t")),
            ..Default::default()
        };
        assert_eq!(last_state(None), "fresh");
        assert_eq!(
            last_state(Some(&t(Some("2030-01-01T00:00:00Z"), None))),
            "success"
        );
        assert_eq!(
            last_state(Some(&t(
                Some("2030-01-01T00:00:00Z"),
                Some("2030-01-02T00:00:00Z")
            ))),
            "failure"
        );
    }
}
