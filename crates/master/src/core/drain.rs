//! Draining an agent (`DRAIN_AGENT`, Mesos 1.9+): the agent is deactivated, every task on it
//! is killed with its grace period capped at `max_grace_period`, and it goes DRAINING →
//! DRAINED once nothing runs there and every terminal update was acknowledged; with
//! `mark_gone` it is then marked gone.
//!
//! The master drives the drain (Mesos sends the agent a `DrainSlaveMessage` and the agent
//! kills): it sends the kills, again when the agent re-registers, and it marks the kills'
//! updates as Mesos' agent does — `REASON_AGENT_DRAINING` on TASK_KILLING/TASK_KILLED, and
//! TASK_GONE_BY_OPERATOR instead of TASK_KILLED for partition-aware frameworks when the agent
//! will be marked gone. A deactivated agent is offered nothing, so nothing new lands there.

use super::{Master, RegistryOp};
use crate::ApiError;
use drover_api::agent_protocol::ToAgent;
use drover_api::maintenance::{DrainConfig, DrainInfo, DrainState};
use drover_api::*;
use std::collections::HashSet;

/// Why a drain is refused (Mesos' words; 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DrainError {
    #[error("Agent {agent} is part of a maintenance schedule under Machine {machine}")]
    InSchedule { agent: AgentID, machine: String },
    #[error("Agent is still in the DRAINING state")]
    StillDraining,
    #[error("'drain_agent.max_grace_period' must not be negative")]
    NegativeGracePeriod,
}

/// An agent being drained, or drained.
#[derive(Clone, Debug)]
pub struct Drain {
    pub info: DrainInfo,
    /// Terminal updates passed on to frameworks and not acknowledged yet.
    pub unacked: HashSet<(FrameworkID, TaskID)>,
    /// Unix seconds the drain started (Mesos' `estimated_drain_start_time`).
    pub started: f64,
}

/// The kill policy a task is killed with while draining (Mesos' agent): `max_grace_period`
/// when the task has none or a longer one, else the task's own (None: the agent uses it).
pub fn drain_kill_policy(config: &DrainConfig, task: Option<&KillPolicy>) -> Option<KillPolicy> {
    let max = config.max_grace_period?;
    let cap = KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: max.nanoseconds.max(0) as u64,
        }),
    };
    match task.and_then(|p| p.grace_period.as_ref()) {
        None => Some(cap),
        Some(g) if (max.nanoseconds.max(0) as u64) < g.nanoseconds => Some(cap),
        Some(_) => None,
    }
}

impl Master {
    /// `DRAIN_AGENT`.
    pub fn drain_agent(
        &mut self,
        id: &AgentID,
        config: DrainConfig,
        now: f64,
    ) -> Result<(), ApiError> {
        if config.max_grace_period.is_some_and(|d| d.nanoseconds < 0) {
            return Err(DrainError::NegativeGracePeriod.into());
        }
        if !self.knows_agent(id) {
            return Err(ApiError::UnknownAgentToDeactivate);
        }
        if let Some(a) = self.agents.get(id) {
            let ip = super::maintenance::pid_ip(&a.pid);
            if let Some((m, _)) = self.maintenance.machine_of(&a.info.hostname, ip) {
                return Err(DrainError::InSchedule {
                    agent: id.clone(),
                    machine: m.to_json(),
                }
                .into());
            }
        }
        let info = DrainInfo {
            state: DrainState::DRAINING,
            config,
        };
        self.record(RegistryOp::PutDrain(id.clone(), info.clone()));
        let unacked = self
            .draining
            .remove(id)
            .map(|d| d.unacked)
            .unwrap_or_default();
        self.draining.insert(
            id.clone(),
            Drain {
                info,
                unacked,
                started: self.unix(now),
            },
        );
        tracing::info!(agent_id = %id, "draining the agent");
        if self.deactivated.insert(id.clone()) {
            self.record(RegistryOp::DeactivateAgent(id.clone()));
        }
        self.allocator.deactivate_agent(&id.value);
        self.rescind_offers_of(id, now);
        self.send_drain_kills(id);
        self.check_drained(id, now);
        Ok(())
    }

    /// Kill every task on draining agent `id` (on DRAIN_AGENT, and again when it re-registers).
    pub(super) fn send_drain_kills(&mut self, id: &AgentID) {
        let Some(drain) = self.draining.get(id) else {
            return;
        };
        if drain.info.state != DrainState::DRAINING {
            return;
        }
        let config = drain.info.config.clone();
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        let mut kills = Vec::new();
        for (fid, tid) in agent.tasks.to_vec() {
            let policy = self
                .frameworks
                .get(&FrameworkID::new(&*fid))
                .and_then(|f| f.tasks.get(&tid))
                .and_then(|t| drain_kill_policy(&config, t.kill_policy()));
            kills.push(ToAgent::KillTask {
                framework_id: FrameworkID::new(&*fid),
                task_id: TaskID::new(&*tid),
                kill_policy: policy,
            });
        }
        if let Some(agent) = self.agents.get_mut(id) {
            for k in kills {
                agent.send(&k);
            }
        }
    }

    /// An update from draining agent `agent_id`, marked as Mesos' draining agent marks it;
    /// a terminal one is remembered until acknowledged.
    pub(super) fn drain_decorate(
        &mut self,
        agent_id: &AgentID,
        fid: &FrameworkID,
        status: &mut TaskStatus,
    ) {
        let Some(drain) = self.draining.get_mut(agent_id) else {
            return;
        };
        if matches!(
            status.state,
            TaskState::TASK_KILLING | TaskState::TASK_KILLED
        ) {
            status.reason = Some(Reason::REASON_AGENT_DRAINING);
            let partition_aware = self
                .frameworks
                .get(fid)
                .is_some_and(|f| f.partition_aware());
            if status.state == TaskState::TASK_KILLED
                && drain.info.config.mark_gone
                && partition_aware
            {
                status.state = TaskState::TASK_GONE_BY_OPERATOR;
            }
        }
        if status.state.is_terminal() && status.uuid.is_some() {
            drain.unacked.insert((fid.clone(), status.task_id.clone()));
        }
    }

    /// A framework acknowledged an update of `task` on agent `agent_id`.
    pub(super) fn drain_acknowledged(
        &mut self,
        agent_id: &AgentID,
        fid: &FrameworkID,
        task: &TaskID,
        now: f64,
    ) {
        if let Some(d) = self.draining.get_mut(agent_id) {
            if d.unacked.remove(&(fid.clone(), task.clone())) {
                self.check_drained(agent_id, now);
            }
        }
    }

    /// DRAINING → DRAINED once the registered agent runs nothing and every terminal update
    /// was acknowledged (updates of frameworks that are gone do not count); then marked gone
    /// if the drain asked for it.
    pub(super) fn check_drained(&mut self, id: &AgentID, now: f64) {
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        if agent.unreachable || !agent.tasks.is_empty() {
            return;
        }
        let frameworks = &self.frameworks;
        let Some(drain) = self.draining.get_mut(id) else {
            return;
        };
        if drain.info.state != DrainState::DRAINING {
            return;
        }
        drain.unacked.retain(|(f, _)| frameworks.contains_key(f));
        if !drain.unacked.is_empty() {
            return;
        }
        if drain.info.config.mark_gone {
            tracing::info!(agent_id = %id, "agent drained: marking it gone");
            if let Err(e) = self.mark_agent_gone(id, now) {
                tracing::error!(agent_id = %id, "marking the drained agent gone failed: {e}");
            }
            return;
        }
        drain.info.state = DrainState::DRAINED;
        let info = drain.info.clone();
        tracing::info!(agent_id = %id, "agent drained");
        self.record(RegistryOp::PutDrain(id.clone(), info));
    }

    /// Every draining agent that may have finished (from the periodic tick).
    pub(super) fn check_all_drained(&mut self, now: f64) {
        let ids: Vec<AgentID> = self
            .draining
            .iter()
            .filter(|(_, d)| d.info.state == DrainState::DRAINING)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.check_drained(&id, now);
        }
    }

    /// REACTIVATE_AGENT of a draining agent: refused while DRAINING; a DRAINED one forgets
    /// its drain.
    pub(super) fn end_drain_for_reactivation(&mut self, id: &AgentID) -> Result<(), ApiError> {
        match self.draining.get(id).map(|d| d.info.state) {
            Some(DrainState::DRAINING) => Err(DrainError::StillDraining.into()),
            Some(_) => {
                self.draining.remove(id);
                self.record(RegistryOp::RemoveDrain(id.clone()));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_caps_the_grace_period_as_mesos_agent_does() {
        let d = |s: i64| drover_api::maintenance::Duration {
            nanoseconds: s * 1_000_000_000,
        };
        let g = |s: u64| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: s * 1_000_000_000,
            }),
        };
        let cfg = |max: Option<i64>| DrainConfig {
            max_grace_period: max.map(d),
            mark_gone: false,
        };
        // (max grace period, the task's policy, the policy it is killed with)
        let cases = [
            (None, Some(g(30)), None),
            (None, None, None),
            (Some(5), None, Some(g(5))),
            (Some(5), Some(KillPolicy { grace_period: None }), Some(g(5))),
            (Some(5), Some(g(30)), Some(g(5))),
            (Some(5), Some(g(2)), None),
            (Some(0), Some(g(2)), Some(g(0))),
        ];
        for (max, task, want) in cases {
            assert_eq!(
                drain_kill_policy(&cfg(max), task.as_ref()),
                want,
                "{max:?} {task:?}"
            );
        }
    }
}
