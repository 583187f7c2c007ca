//! Health checks of command tasks, from the agent's side: what a task's checks need to know
//! ([`Watch`]), and the agent's answers to them ([`TaskHealth`]).

use super::{Agent, AgentState};
use crate::health::{self, TaskHealth, Watch};
use drover_api::*;

impl Agent {
    /// Start checking a process task that is `TASK_RUNNING` (just launched, or re-adopted after
    /// an agent restart), if it has a health check.
    pub(super) fn watch_health(&self, key: &(FrameworkID, TaskID)) {
        let Some(agent_id) = self.agent_id() else {
            return;
        };
        let watch = {
            let st = self.lock();
            let Some(t) = st.tasks.get(key).filter(|t| t.executor_id.is_none()) else {
                return;
            };
            let Some(health_check) = t.info.health_check.clone() else {
                return;
            };
            let user = t
                .info
                .command
                .as_ref()
                .and_then(|c| c.user.clone())
                .or_else(|| st.frameworks.get(&key.0).map(|f| f.user.clone()))
                .filter(|u| !u.is_empty())
                .filter(|_| self.cfg.switch_user && nix::unistd::geteuid().is_root());
            Watch {
                key: key.clone(),
                container_id: t.container_id.clone(),
                health_check,
                env: self.command_env(&key.0, &agent_id, &t.info, &t.sandbox, &t.container_id),
                sandbox: t.sandbox.clone(),
                user,
                pid_start: t.pid_start,
            }
        };
        health::watch(self.arc(), watch);
    }
}

/// Still worth checking: the same run of the task, running, and no kill asked for.
fn live(st: &AgentState, key: &(FrameworkID, TaskID), cid: &str) -> bool {
    st.tasks
        .get(key)
        .map(|t| t.container_id == cid && t.state == TaskState::TASK_RUNNING && !t.kill_requested)
        .unwrap_or(false)
}

impl TaskHealth for Agent {
    fn live(&self, key: &(FrameworkID, TaskID), container_id: &str) -> bool {
        live(&self.lock(), key, container_id) && !self.stopping()
    }

    fn report(
        &self,
        key: &(FrameworkID, TaskID),
        container_id: &str,
        healthy: bool,
        kill: bool,
    ) -> bool {
        let mut st = self.lock();
        if !live(&st, key, container_id) {
            return false;
        }
        if kill {
            if let Some(t) = st.tasks.get_mut(key) {
                t.killed_by_health_check = true;
            }
        }
        let mut s = TaskStatus::new(key.1.clone(), TaskState::TASK_RUNNING);
        s.source = Some(StatusSource::SOURCE_EXECUTOR);
        s.reason = Some(Reason::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
        s.healthy = Some(healthy);
        self.send_status(st, &key.0, s);
        true
    }

    fn kill(&self, key: &(FrameworkID, TaskID)) {
        self.kill_task(&key.0, &key.1, None);
    }
}
