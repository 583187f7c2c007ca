//! Unreachable instances, following their app's `unreachableStrategy`
//! ([`crate::unreachable`] decides): a TASK_UNREACHABLE starts the clock; once inactive the
//! instance no longer counts and the planner launches a replacement; once expunged it is
//! forgotten and killed (and killed again if its task comes back, as a task Marathon does not
//! know). A task that comes back before that counts again, and the planner kills the surplus
//! by the app's kill selection, as Marathon's scale check does. Checked on every status
//! update of one and on the periodic pass.

use super::{Calls, Marathon};
use crate::unreachable::{Fate, UnreachableStrategy};
use drover_store::Op;
use serde_json::json;

impl Marathon {
    /// The strategy of `app_id` (the default when the app is gone).
    fn strategy_of(&self, app_id: &str) -> UnreachableStrategy {
        self.apps
            .get(app_id)
            .map(|a| UnreachableStrategy::of(a.unreachable_strategy.as_ref()))
            .unwrap_or_default()
    }

    /// Apply the strategy to every unreachable instance at `now`.
    pub(super) fn check_unreachable(&mut self, now: f64) -> Calls {
        let ids: Vec<String> = self.unreachable.iter().cloned().collect();
        ids.iter()
            .flat_map(|t| self.apply_unreachable(t, now))
            .collect()
    }

    /// Apply the strategy to one unreachable instance at `now`: mark it inactive, or expunge
    /// it (a KILL, in case its agent still runs it, and forgotten).
    pub(super) fn apply_unreachable(&mut self, task_id: &str, now: f64) -> Calls {
        let Some(i) = self.instances.get(task_id) else {
            self.unreachable.remove(task_id);
            return vec![];
        };
        let Some(since) = i.unreachable_since else {
            self.unreachable.remove(task_id);
            return vec![];
        };
        match self.strategy_of(&i.app_id).fate(since, now) {
            Fate::Unreachable => vec![],
            Fate::Inactive if i.unreachable_inactive => vec![],
            Fate::Inactive => {
                let Some(i) = self.instances.get_mut(task_id) else {
                    return vec![];
                };
                i.unreachable_inactive = true;
                let i = i.clone();
                self.touch(i.app_id.clone());
                self.write(vec![self.persist_instance(&i)]);
                self.emit(
                    "instance_changed_event",
                    json!({"instanceId": i.task_id, "condition": "UnreachableInactive", "runSpecId": i.app_id, "agentId": i.agent_id, "host": i.host, "runSpecVersion": i.version}),
                    now,
                );
                vec![]
            }
            Fate::Expunge => self.expunge(task_id),
        }
    }

    /// Forget an instance whose task is unreachable, killing it should it still run.
    pub(super) fn expunge(&mut self, task_id: &str) -> Calls {
        let Some(i) = self.drop_instance(task_id) else {
            return vec![];
        };
        self.kills_sent.remove(task_id);
        self.write(vec![Op::Delete(format!("marathon/instances/{task_id}"))]);
        vec![self.kill_call(&i)]
    }
}
