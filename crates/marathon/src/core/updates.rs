//! Status updates: acknowledging them, following each instance's state and the health the
//! agent reports, forgetting instances that ended (with backoff for those that failed),
//! killing tasks Marathon does not know; readiness results; reconciliation after subscribing.

use super::{iso, Calls, Marathon};
use crate::MarathonError;
use drover_api::scheduler::{Call, CallType, Kill};
use drover_api::{AgentID, TaskID, TaskState, TaskStatus};
use drover_store::Op;
use serde_json::{json, Value};

impl Marathon {
    /// A status update for one of our tasks. Returns the calls to make (ack, kills, revive).
    pub fn update(&mut self, status: &TaskStatus, now: f64) -> Calls {
        let mut calls = Vec::new();
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            let mut c = Call::new(CallType::ACKNOWLEDGE, self.framework_id.clone());
            c.acknowledge = Some(drover_api::scheduler::Acknowledge {
                agent_id: agent.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            });
            calls.push(c);
        }
        let tid = status.task_id.value.clone();
        let Some(inst) = self.instances.get_mut(&tid) else {
            // A task we do not believe in (e.g. launched before a crash that lost it): kill it,
            // so nothing runs that Marathon does not know about.
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
        let prev = inst.state;
        let app_of = inst.app_id.clone();
        self.touch(app_of);
        let Some(inst) = self.instances.get_mut(&tid) else {
            return calls;
        };
        inst.state = status.state;
        inst.last_message = status.message.clone();
        let came_back = if status.state == TaskState::TASK_UNREACHABLE {
            inst.unreachable_since.get_or_insert(now);
            false
        } else {
            // Back (or ended): counted again; the planner kills a surplus.
            inst.unreachable_inactive = false;
            inst.unreachable_since.take().is_some()
        };
        // Health from checks the agent runs (MESOS_HTTP, MESOS_TCP, COMMAND).
        let mut health_changed = None;
        if let Some(h) = status.healthy {
            if inst.healthy != Some(h) {
                health_changed = Some(h);
            }
            inst.healthy = Some(h);
            if h {
                inst.consecutive_failures = 0;
                inst.last_success = Some(now);
            } else {
                inst.consecutive_failures += 1;
                inst.last_failure = Some(now);
                inst.last_failure_cause = status.message.clone();
            }
        }
        if status.state == TaskState::TASK_RUNNING && inst.started_at.is_none() {
            inst.started_at = Some(now);
        }
        let inst = inst.clone();
        if let (TaskState::TASK_RUNNING, Some(rid)) = (status.state, &inst.reservation) {
            self.reservation_confirmed(rid);
        }
        if let Some(alive) = health_changed {
            self.health_changed(&inst, alive, now);
        }
        self.emit(
            "status_update_event",
            json!({"slaveId": inst.agent_id, "taskId": tid, "taskStatus": status.state, "message": status.message.clone().unwrap_or_default(),
                   "appId": inst.app_id, "host": inst.host, "ports": inst.ports, "ipAddresses": [], "version": inst.version}),
            now,
        );
        if prev != status.state {
            *self
                .counters
                .transitions
                .entry(status.state.as_str())
                .or_default() += 1;
            self.emit(
                "instance_changed_event",
                json!({"instanceId": tid, "condition": condition(status.state), "runSpecId": inst.app_id, "agentId": inst.agent_id, "host": inst.host, "runSpecVersion": inst.version}),
                now,
            );
        }
        if status.state.is_terminal() || status.state == TaskState::TASK_UNKNOWN {
            self.drop_instance(&tid);
            self.write(vec![Op::Delete(format!("marathon/instances/{tid}"))]);
            let failed = !matches!(
                status.state,
                TaskState::TASK_KILLED | TaskState::TASK_FINISHED
            ) && !inst.killing;
            if failed || (status.state == TaskState::TASK_FINISHED && !inst.killing) {
                if let Some(app) = self.apps.get(&inst.app_id) {
                    let b = self.backoff.entry(inst.app_id.clone()).or_default();
                    let delay = (f64::from(app.backoff_seconds)
                        * app.backoff_factor.powi(b.failures as i32))
                    .min(f64::from(app.max_launch_delay_seconds));
                    b.failures += 1;
                    b.until = now + delay;
                }
                self.last_failure.insert(
                    inst.app_id.clone(),
                    json!({"appId": inst.app_id, "host": inst.host, "message": status.message.clone().unwrap_or_default(),
                           "state": status.state, "taskId": tid, "timestamp": iso(now), "version": inst.version, "slaveId": inst.agent_id}),
                );
            }
        } else if status.state == TaskState::TASK_UNREACHABLE {
            // The app's unreachableStrategy decides: counted still, replaced, or expunged now
            // (the default 0/0: killed if it comes back).
            if inst.killing {
                // Being killed already: expunged, as Marathon's kill of an unreachable one.
                calls.extend(self.expunge(&tid));
            } else {
                self.unreachable.insert(tid.clone());
                self.write(vec![self.persist_instance(&inst)]);
                calls.extend(self.apply_unreachable(&tid, now));
            }
        } else {
            if came_back {
                self.unreachable.remove(&tid);
            }
            self.write(vec![self.persist_instance(&inst)]);
            if status.state == TaskState::TASK_RUNNING {
                if let Some(b) = self.backoff.get_mut(&inst.app_id) {
                    b.failures = 0;
                }
            }
        }
        calls.extend(self.reconcile_plans(now));
        calls
    }

    /// Record a readiness check result (Marathon-run, HTTP).
    pub fn readiness_result(
        &mut self,
        task_id: &str,
        ready: bool,
        result: Value,
        now: f64,
    ) -> Calls {
        if let Some(i) = self.instances.get_mut(task_id) {
            i.ready |= ready;
            i.last_readiness = Some(result);
            let app = i.app_id.clone();
            self.touch(app);
        }
        self.reconcile_plans(now)
    }

    /// After (re-)subscribing: ask the master about every instance we believe in.
    /// Subscribed: reconcile now (explicitly, then implicitly) and again 15 s and 60 s later
    /// (after a master failover, agents re-register over the first seconds, and the tasks they
    /// bring — one launched by a leader that died before storing it — reach Marathon only
    /// through reconciliation, and are killed), then every 10 minutes, as Marathon does.
    pub fn reconcile_after_subscribing(&mut self, now: f64) -> Calls {
        self.next_reconcile = Some((now + 15.0, 1));
        self.reconcile_calls()
    }

    /// The periodic reconciliations that are due.
    pub(super) fn reconcile_if_due(&mut self, now: f64) -> Calls {
        match self.next_reconcile {
            Some((at, n)) if self.connected && now >= at => {
                let next = if n == 1 { 45.0 } else { 600.0 };
                self.next_reconcile = Some((now + next, n + 1));
                self.reconcile_calls()
            }
            _ => vec![],
        }
    }

    /// Ask about every instance we believe in, then about everything the master has for us
    /// (implicit), so unknown tasks are found and killed.
    fn reconcile_calls(&self) -> Calls {
        let mut implicit = Call::new(CallType::RECONCILE, self.framework_id.clone());
        implicit.reconcile = Some(Default::default());
        vec![self.reconcile_call(), implicit]
    }

    pub fn reconcile_call(&self) -> Call {
        let mut c = Call::new(CallType::RECONCILE, self.framework_id.clone());
        c.reconcile = Some(drover_api::scheduler::Reconcile {
            tasks: self
                .instances
                .values()
                .map(|i| drover_api::scheduler::ReconcileTask {
                    task_id: TaskID::new(i.task_id.clone()),
                    agent_id: Some(AgentID::new(i.agent_id.clone())),
                })
                .collect(),
        });
        c
    }

    /// `DELETE /v2/queue/{id}/delay`: launch again without waiting for the backoff.
    pub fn reset_delay(&mut self, app_id: &str) -> Result<(), MarathonError> {
        self.app(app_id)?;
        self.backoff.remove(app_id);
        Ok(())
    }
}

fn condition(s: TaskState) -> &'static str {
    match s {
        TaskState::TASK_STAGING => "Staging",
        TaskState::TASK_STARTING => "Starting",
        TaskState::TASK_RUNNING => "Running",
        TaskState::TASK_KILLING => "Killing",
        TaskState::TASK_FINISHED => "Finished",
        TaskState::TASK_FAILED => "Failed",
        TaskState::TASK_KILLED => "Killed",
        TaskState::TASK_ERROR => "Error",
        TaskState::TASK_LOST => "Lost",
        TaskState::TASK_DROPPED => "Dropped",
        TaskState::TASK_UNREACHABLE => "Unreachable",
        TaskState::TASK_GONE => "Gone",
        TaskState::TASK_GONE_BY_OPERATOR => "GoneByOperator",
        TaskState::TASK_UNKNOWN => "Unknown",
    }
}
