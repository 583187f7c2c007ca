//! Status updates and reconciliation. A run is ACTIVE once its task runs and SUCCESS when it
//! finishes; a failure is retried while the restart policy (or Chronos' `retries`) allows. A
//! task the master says it never had (reconciliation, a dropped launch) is launched again —
//! it never started, so this is not a second run. A successful run starts the jobs waiting on
//! it, in the same write.

use super::{plus, scheduled_run_id_from, Calls, Jobs, RunStatus, Trigger};
use drover_api::scheduler::{Acknowledge, Call, CallType, Kill, Reconcile, ReconcileTask};
use drover_api::{AgentID, Reason, TaskID, TaskState, TaskStatus};
use jiff::Timestamp;

/// Launched runs not yet confirmed by the master are asked about again this often.
const RECONCILE_EVERY_SECS: i64 = 30;

/// Whether a terminal update of a task never seen beyond STAGING says the task never reached
/// its agent, so launching it again is not a second start: the launch was dropped or its offer
/// invalid; reconciliation found it unknown to the master or to its agent (Mesos' "Reconciliation:
/// Task is unknown…" and "Reconciliation: task unknown to the agent" — a task the master knows,
/// even one that ended, is answered with its own state and message); or its agent re-registered
/// without it (older masters' TASK_GONE/LOST "not reported by its re-registering agent").
fn never_reached_its_agent(status: &TaskStatus) -> bool {
    use TaskState::*;
    let message = status.message.as_deref().unwrap_or("");
    let lost = matches!(status.state, TASK_GONE | TASK_LOST | TASK_UNKNOWN);
    let unknown = message.starts_with("Reconciliation: Task is unknown")
        || message.starts_with("Reconciliation: task unknown to the agent");
    status.state == TASK_DROPPED
        || status.reason == Some(Reason::REASON_INVALID_OFFERS)
        || (lost && status.reason == Some(Reason::REASON_RECONCILIATION) && unknown)
        || (lost
            && (status.reason == Some(Reason::REASON_AGENT_RESTARTED)
                || message == "Task was not reported by its re-registering agent"))
}

impl Jobs {
    /// A status update. Returns the calls to make (ack, kill of a task no run owns).
    pub fn update(&mut self, status: &TaskStatus, now: Timestamp) -> Calls {
        let mut calls = Vec::new();
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            let mut c = Call::new(CallType::ACKNOWLEDGE, self.framework_id.clone());
            c.acknowledge = Some(Acknowledge {
                agent_id: agent.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            });
            calls.push(c);
        }
        let tid = status.task_id.value.as_str();
        let Some((job, run_id)) = self.by_task.get(tid).cloned() else {
            // Not a task of any run we keep (its job was deleted, or it predates a lost
            // state): kill it, so nothing runs that no one accounts for.
            if !status.state.is_terminal() && status.state != TaskState::TASK_UNREACHABLE {
                let mut c = Call::new(CallType::KILL, self.framework_id.clone());
                c.kill = Some(Kill {
                    task_id: status.task_id.clone(),
                    agent_id: status.agent_id.clone(),
                    kill_policy: None,
                });
                calls.push(c);
            }
            return calls;
        };
        let Some(mut r) = self.runs.get(&job).and_then(|m| m.get(&run_id)).cloned() else {
            return calls;
        };
        let Some(ti) = r.tasks.iter().position(|t| t.id == tid) else {
            return calls;
        };
        let last = ti + 1 == r.tasks.len();
        let t = &mut r.tasks[ti];
        let ever_started = t.started_at.is_some();
        if t.state == status.state && !status.state.is_terminal() {
            return calls;
        }
        if t.state.is_terminal() {
            // Already accounted for (a repeated terminal update).
            return calls;
        }
        t.state = status.state;
        t.message = status.message.clone().or(t.message.take());
        use TaskState::*;
        match status.state {
            TASK_STARTING | TASK_RUNNING => {
                t.started_at.get_or_insert(now);
            }
            s if s.is_terminal() || s == TASK_UNKNOWN => {
                t.completed_at = Some(now);
            }
            _ => {}
        }
        if !last {
            self.save_run(&r);
            self.index_run(r);
            return calls;
        }
        match status.state {
            TASK_STAGING => {}
            TASK_STARTING => r.status = RunStatus::Starting,
            TASK_RUNNING => {
                if r.status != RunStatus::Active {
                    self.emit(
                        "job_run_active",
                        &job,
                        Some(&r.id),
                        format!("task {tid} running"),
                        now,
                    );
                }
                r.status = RunStatus::Active;
            }
            TASK_UNREACHABLE | TASK_KILLING => {}
            TASK_FINISHED => {
                r.status = RunStatus::Success;
                r.completed_at = Some(now);
                self.counters.runs_succeeded += 1;
                self.emit(
                    "job_run_finished",
                    &job,
                    Some(&r.id),
                    format!("task {tid} finished"),
                    now,
                );
                let done = r.clone();
                self.retire(r);
                self.start_dependents_of(&done.job_id, &done.id, now);
                return calls;
            }
            _ => {
                // Ended without finishing.
                let never_launched = !ever_started && never_reached_its_agent(status);
                let why = format!(
                    "task {tid} {:?}{}",
                    status.state,
                    status
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                if r.stopping {
                    r.status = RunStatus::Failed;
                    r.reason = Some("stopped".into());
                } else if never_launched && status.state != TASK_ERROR {
                    // The master never had it: launch it again (not a second start).
                    r.status = RunStatus::Initial;
                    r.reason = Some(format!("{why}; launching again"));
                } else if self.may_retry(&r, now) {
                    r.status = RunStatus::Initial;
                    r.start_by = r.retry_until.unwrap_or_else(|| plus(now, 3600));
                    r.reason = Some(format!("{why}; retrying"));
                    self.emit("job_run_retry", &job, Some(&r.id), why.clone(), now);
                } else {
                    r.status = RunStatus::Failed;
                    r.reason = Some(why.clone());
                }
                if r.status == RunStatus::Failed {
                    r.completed_at = Some(now);
                    self.counters.runs_failed += 1;
                    self.emit("job_run_failed", &job, Some(&r.id), why, now);
                    self.retire(r);
                    return calls;
                }
                calls.extend(self.launch_wanted_after_failure());
            }
        }
        self.save_run(&r);
        self.index_run(r);
        calls
    }

    fn launch_wanted_after_failure(&mut self) -> Calls {
        if self.connected && self.suppressed {
            self.suppressed = false;
            return vec![Call::new(CallType::REVIVE, self.framework_id.clone())];
        }
        vec![]
    }

    /// Whether a failed attempt is tried again: `ON_FAILURE` within `activeDeadlineSeconds`,
    /// or Chronos' `retries` not used up.
    fn may_retry(&self, r: &super::Run, now: Timestamp) -> bool {
        let Some(job) = self.jobs.get(&r.job_id) else {
            return false;
        };
        if let Some(n) = job.retries {
            return r.attempts <= n;
        }
        job.spec.run.restart.policy == "ON_FAILURE" && r.retry_until.is_none_or(|u| now < u)
    }

    /// Jobs whose parents have all succeeded since their own last run: a run each, named by
    /// the run that completed the set, so it is made once whoever decides it.
    pub(crate) fn start_dependents_of(&mut self, parent: &str, parent_run: &str, now: Timestamp) {
        let children: Vec<String> = self
            .jobs
            .values()
            .filter(|j| j.parents.iter().any(|p| p == parent))
            // A dependent job Chronos was told is `disabled` waits for no one.
            .filter(|j| {
                j.chronos
                    .as_ref()
                    .and_then(|c| c.get("disabled"))
                    .and_then(|d| d.as_bool())
                    != Some(true)
            })
            .map(|j| j.spec.id.clone())
            .collect();
        for child in children {
            let Some(job) = self.jobs.get(&child) else {
                continue;
            };
            let since = self
                .history
                .get(&child)
                .and_then(|h| h.back())
                .map(|r| r.created_at)
                .into_iter()
                .chain(self.active_runs(&child).map(|r| r.created_at))
                .max();
            let ready = job.parents.iter().all(|p| {
                self.totals
                    .get(p)
                    .and_then(|t| t.last_success_at)
                    .is_some_and(|s| since.is_none_or(|since| s > since))
            });
            if !ready {
                continue;
            }
            let id = scheduled_run_id_from(&child, parent_run, now);
            if self.run(&child, &id).is_some() {
                continue;
            }
            let max_delay = job.spec.run.max_launch_delay as i64;
            if let Some(run) = self.new_run(
                &child,
                id,
                Trigger::Parents {
                    parent: parent.to_string(),
                    parent_run: parent_run.to_string(),
                },
                plus(now, max_delay),
                None,
                now,
            ) {
                self.emit(
                    "job_run_started",
                    &child,
                    Some(&run.id),
                    format!("parents succeeded ({parent} run {parent_run})"),
                    now,
                );
                self.save_run(&run);
                self.index_run(run);
            }
        }
    }

    /// Subscribed (again): ask the master about every launched task of every run (explicit),
    /// then about all our tasks (implicit: the ones no run owns get killed in `update`).
    pub fn reconcile_after_subscribing(&mut self, now: Timestamp) -> Calls {
        self.next_reconcile = Some(plus(now, RECONCILE_EVERY_SECS));
        let mut calls = Vec::new();
        let explicit = self.explicit_reconcile(|_| true);
        if explicit
            .reconcile
            .as_ref()
            .is_some_and(|r| !r.tasks.is_empty())
        {
            calls.push(explicit);
        }
        let mut implicit = Call::new(CallType::RECONCILE, self.framework_id.clone());
        implicit.reconcile = Some(Reconcile { tasks: vec![] });
        calls.push(implicit);
        calls
    }

    /// Periodically: launched tasks still STAGING (their launch may have been lost).
    pub fn reconcile_due(&mut self, now: Timestamp) -> Calls {
        match self.next_reconcile {
            Some(t) if t <= now && self.connected => {
                self.next_reconcile = Some(plus(now, RECONCILE_EVERY_SECS));
                let stale = plus(now, -RECONCILE_EVERY_SECS);
                let c = self.explicit_reconcile(|t| {
                    t.state == TaskState::TASK_STAGING && t.launched_at < stale
                });
                match &c.reconcile {
                    Some(r) if !r.tasks.is_empty() => vec![c],
                    _ => vec![],
                }
            }
            _ => vec![],
        }
    }

    fn explicit_reconcile(&self, pick: impl Fn(&super::RunTask) -> bool) -> Call {
        let tasks = self
            .runs
            .values()
            .flat_map(|m| m.values())
            .filter_map(|r| r.tasks.last())
            .filter(|t| !t.state.is_terminal() && pick(t))
            .map(|t| ReconcileTask {
                task_id: TaskID::new(t.id.clone()),
                agent_id: Some(AgentID::new(t.agent_id.clone())),
            })
            .collect();
        let mut c = Call::new(CallType::RECONCILE, self.framework_id.clone());
        c.reconcile = Some(Reconcile { tasks });
        c
    }
}
