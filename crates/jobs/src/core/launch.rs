//! Offers: runs waiting for a place are matched, oldest first, against what each offer has
//! left (CPUs, memory, disk, GPUs, placement constraints), and launched with one ACCEPT per
//! offer. A run's task id (`<job>_<run>.<attempt>`) and agent are written, in the same turn,
//! before the ACCEPT is posted: a leader that finds a run STARTING after a failover asks the
//! master about that task rather than launching another.

use super::{Calls, Jobs, RunStatus, RunTask};
use drover_api::container::{DockerInfo, Parameter, Volume};
use drover_api::metronome::{Constraint, JobSpec};
use drover_api::scheduler::{Accept, Call, CallType, Decline};
use drover_api::*;
use jiff::Timestamp;

/// How long an unused offer is refused for, when runs may fall due soon.
const REFUSE_SECONDS: f64 = 5.0;

impl Jobs {
    /// Revive when runs wait and offers are suppressed.
    pub(crate) fn launch_wanted(&mut self, _now: Timestamp) -> Calls {
        if self.connected && self.suppressed && self.waiting() > 0 {
            self.suppressed = false;
            return vec![Call::new(CallType::REVIVE, self.framework_id.clone())];
        }
        vec![]
    }

    /// Match offers against the runs that wait; accept what fits, decline the rest.
    pub fn offers(&mut self, offers: Vec<Offer>, now: Timestamp) -> Calls {
        let mut calls = Vec::new();
        // Oldest first: by due time (or creation), then id.
        let mut waiting: Vec<(Timestamp, String, String)> = self
            .runs
            .values()
            .flat_map(|m| m.values())
            .filter(|r| r.status == RunStatus::Initial && !r.stopping)
            .map(|r| {
                (
                    r.due().unwrap_or(r.created_at),
                    r.job_id.clone(),
                    r.id.clone(),
                )
            })
            .collect();
        waiting.sort();
        let mut placed = vec![false; waiting.len()];
        for offer in offers {
            let mut remaining = Resources::from_list(&offer.resources);
            let mut tasks = Vec::new();
            for (i, (_, job, run)) in waiting.iter().enumerate() {
                if placed[i] {
                    continue;
                }
                let Some(spec) = self.jobs.get(job).map(|j| j.spec.clone()) else {
                    continue;
                };
                let Some(r) = self.runs.get(job).and_then(|m| m.get(run)).cloned() else {
                    continue;
                };
                if !fits(&spec, &offer, &remaining) {
                    continue;
                }
                let attempt = r.attempts + 1;
                let task = build_task(&spec, &r, attempt, &offer);
                let mut used = Resources::new();
                for res in &task.resources {
                    used.add(res);
                }
                if !remaining.contains(&used) {
                    continue;
                }
                for res in &task.resources {
                    remaining.subtract(res);
                }
                placed[i] = true;
                let mut r = r;
                r.attempts = attempt;
                r.status = RunStatus::Starting;
                r.tasks.push(RunTask {
                    id: task.task_id.value.clone(),
                    agent_id: offer.agent_id.value.clone(),
                    host: offer.hostname.clone(),
                    state: TaskState::TASK_STAGING,
                    launched_at: now,
                    started_at: None,
                    completed_at: None,
                    message: None,
                });
                self.save_run(&r);
                self.index_run(r);
                self.counters.tasks_launched += 1;
                tasks.push(task);
            }
            if tasks.is_empty() {
                let mut c = Call::new(CallType::DECLINE, self.framework_id.clone());
                c.decline = Some(Decline {
                    offer_ids: vec![offer.id.clone()],
                    filters: Some(Filters {
                        refuse_seconds: Some(self.refuse_seconds(now)),
                    }),
                });
                calls.push(c);
            } else {
                let mut c = Call::new(CallType::ACCEPT, self.framework_id.clone());
                c.accept = Some(Accept {
                    offer_ids: vec![offer.id.clone()],
                    operations: vec![Operation::launch(tasks)],
                    filters: Some(Filters {
                        refuse_seconds: Some(1.0),
                    }),
                });
                calls.push(c);
            }
        }
        if self.waiting() == 0 && !self.suppressed && self.connected {
            // Nothing waits: no offers until something falls due (the ticker revives).
            self.suppressed = true;
            calls.push(Call::new(CallType::SUPPRESS, self.framework_id.clone()));
        }
        calls
    }

    /// Refuse an unused offer until about when the next occurrence falls due (at most 5 s).
    fn refuse_seconds(&self, now: Timestamp) -> f64 {
        match self.next_due() {
            Some(t) => {
                let secs = t.as_millisecond().saturating_sub(now.as_millisecond()) as f64 / 1000.0;
                secs.clamp(0.5, REFUSE_SECONDS)
            }
            None => REFUSE_SECONDS,
        }
    }
}

/// Whether an offer (what is left of it) has room for one task of the job, constraints met.
fn fits(spec: &JobSpec, offer: &Offer, remaining: &Resources) -> bool {
    let run = &spec.run;
    for (name, need) in [
        ("cpus", run.cpus),
        ("mem", run.mem),
        ("disk", run.disk),
        ("gpus", run.gpus),
    ] {
        if need > 0.0 && resources::to_fixed(remaining.scalar(name)) < resources::to_fixed(need) {
            return false;
        }
    }
    run.placement.constraints.iter().all(|c| meets(c, offer))
}

/// Metronome's constraint operators: `IS` (`EQ`), `LIKE`, `UNLIKE` on `hostname` or an
/// attribute (an attribute the agent does not have is unlike everything).
pub fn meets(c: &Constraint, offer: &Offer) -> bool {
    let field = if c.attribute == "hostname" {
        Some(offer.hostname.clone())
    } else {
        offer
            .attributes
            .iter()
            .find(|a| a.name == c.attribute)
            .map(|a| a.value_string())
    };
    let value = c.value.as_deref().unwrap_or("");
    let like = |f: &str| {
        regex::Regex::new(&format!("^(?:{value})$"))
            .map(|re| re.is_match(f))
            .unwrap_or(false)
    };
    match (c.operator.as_str(), field) {
        ("IS" | "EQ" | "EQUALS", Some(f)) => f == value,
        ("LIKE", Some(f)) => like(&f),
        ("UNLIKE", Some(f)) => !like(&f),
        ("UNLIKE", None) => true,
        _ => false,
    }
}

/// The task of attempt `attempt` of a run, on an offer's agent, with the offer's role.
fn build_task(spec: &JobSpec, r: &super::Run, attempt: u32, offer: &Offer) -> TaskInfo {
    let run = &spec.run;
    let role = offer
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.clone())
        .unwrap_or_else(|| "*".into());
    let mut res = vec![
        Resource::scalar("cpus", run.cpus),
        Resource::scalar("mem", run.mem),
    ];
    if run.disk > 0.0 {
        res.push(Resource::scalar("disk", run.disk));
    }
    if run.gpus > 0.0 {
        res.push(Resource::scalar("gpus", run.gpus));
    }
    for x in &mut res {
        x.allocation_info = Some(AllocationInfo {
            role: Some(role.clone()),
        });
    }
    let task_id = r.task_id(attempt);
    let mut env: Vec<Variable> = run
        .env
        .iter()
        .filter_map(|(k, v)| {
            v.as_str().map(|s| Variable {
                name: k.clone(),
                kind: None,
                value: s.to_string(),
            })
        })
        .collect();
    let mut put = |k: &str, v: String| {
        env.push(Variable {
            name: k.into(),
            kind: None,
            value: v,
        })
    };
    put("MESOS_TASK_ID", task_id.clone());
    put("DROVER_JOB_ID", spec.id.clone());
    put("DROVER_JOB_RUN_ID", r.id.clone());
    if let Some(due) = r.due() {
        put("DROVER_JOB_DUE", due.to_string());
    }
    let docker = run.docker.as_ref();
    let command = match (&run.cmd, &run.args) {
        (Some(cmd), _) => {
            let mut value = cmd.clone();
            // Chronos' run-time arguments, appended to a shell command.
            for a in r.arguments.iter().flatten() {
                value.push(' ');
                value.push_str(&shell_quote(a));
            }
            CommandInfo {
                value: Some(value),
                shell: Some(true),
                ..Default::default()
            }
        }
        (None, Some(args)) => CommandInfo {
            shell: Some(false),
            value: if docker.is_some() {
                None
            } else {
                args.first().cloned()
            },
            arguments: args
                .iter()
                .chain(r.arguments.iter().flatten())
                .cloned()
                .collect(),
            ..Default::default()
        },
        (None, None) => CommandInfo {
            shell: Some(false),
            ..Default::default()
        },
    };
    let command = CommandInfo {
        uris: run
            .artifacts
            .iter()
            .map(|a| CommandURI {
                value: a.uri.clone(),
                executable: Some(a.executable),
                extract: Some(a.extract),
                cache: Some(a.cache),
                output_file: None,
            })
            .collect(),
        environment: Some(Environment { variables: env }),
        user: run.user.clone(),
        ..command
    };
    let volumes: Vec<Volume> = run
        .volumes
        .iter()
        .filter(|v| v.host_path.is_some())
        .map(|v| Volume {
            container_path: v.container_path.clone(),
            host_path: v.host_path.clone(),
            mode: Some(v.mode.clone().unwrap_or_else(|| "RW".into())),
            ..Default::default()
        })
        .collect();
    let container = match docker {
        Some(d) => Some(ContainerInfo {
            kind: Some(ContainerType::DOCKER),
            docker: Some(DockerInfo {
                image: Some(d.image.clone()),
                network: Some("HOST".into()),
                privileged: Some(d.privileged),
                force_pull_image: Some(d.force_pull_image),
                parameters: Some(
                    d.parameters
                        .iter()
                        .map(|p| Parameter {
                            key: p.key.clone(),
                            value: p.value.clone(),
                            extra: Default::default(),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            volumes: Some(volumes),
            ..Default::default()
        }),
        None if !volumes.is_empty() => Some(ContainerInfo {
            kind: Some(ContainerType::MESOS),
            volumes: Some(volumes),
            ..Default::default()
        }),
        None => None,
    };
    TaskInfo {
        name: spec.id.clone(),
        task_id: TaskID::new(task_id),
        agent_id: offer.agent_id.clone(),
        resources: res,
        executor: None,
        command: Some(command),
        container: container.map(Into::into),
        health_check: None,
        check: None,
        kill_policy: run.task_kill_grace_period_seconds.map(|g| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: (g.max(0.0) * 1e9) as u64,
            }),
        }),
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
    }
}

/// A word for `sh -c`: single-quoted unless it is plain.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
