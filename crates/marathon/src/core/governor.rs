//! Health results of the checks Marathon runs itself, and the kill governor: an instance that
//! fails `maxConsecutiveFailures` checks in a row is replaced, unless most of its app's
//! instances fail at once (then the checker is the likelier fault, and none are killed until
//! checks recover).

use super::{Calls, Instance, Marathon};
use serde_json::json;

impl Marathon {
    /// Record a health check result for an instance (Marathon-run checks).
    pub fn health_result(
        &mut self,
        task_id: &str,
        ok: bool,
        cause: Option<String>,
        max_failures: u32,
        now: f64,
    ) -> Calls {
        if let Some(i) = self.instances.get(task_id) {
            self.touch(i.app_id.clone());
        }
        let Some(i) = self.instances.get_mut(task_id) else {
            return vec![];
        };
        let before = i.healthy;
        if ok {
            i.consecutive_failures = 0;
            i.healthy = Some(true);
            i.last_success = Some(now);
        } else {
            i.consecutive_failures += 1;
            i.last_failure = Some(now);
            i.last_failure_cause = cause;
            if i.consecutive_failures >= max_failures.max(1) {
                i.healthy = Some(false);
            }
        }
        let i = i.clone();
        if !ok {
            let check = self
                .apps
                .get(&i.app_id)
                .and_then(|a| a.health_checks.first())
                .map(|hc| json!(hc));
            self.emit("failed_health_check_event", json!({"appId": i.app_id, "taskId": i.task_id, "instanceId": i.task_id, "healthCheck": check}), now);
        }
        if before != i.healthy {
            if let Some(h) = i.healthy {
                self.health_changed(&i, h, now);
            }
        }
        let mut calls = Vec::new();
        if i.healthy == Some(false) && !i.killing && !self.kill_governor_allows(&i.app_id) {
            let engaged = self.governed.insert(i.app_id.clone());
            self.rendered.remove(&i.app_id);
            if engaged {
                tracing::warn!(app_id = %i.app_id, "kill governor engaged: most instances fail their checks at once; not killing them");
                self.emit("kill_governor_event", json!({"appId": i.app_id, "engaged": true,
                    "reason": "most instances are unhealthy at once: the check is the likelier fault, so none are killed until checks recover"}), now);
            }
        }
        if self.governed.contains(&i.app_id) && self.kill_governor_allows(&i.app_id) {
            self.governed.remove(&i.app_id);
            self.rendered.remove(&i.app_id);
            self.emit(
                "kill_governor_event",
                json!({"appId": i.app_id, "engaged": false, "reason": "checks recovered"}),
                now,
            );
        }
        if i.healthy == Some(false) && !i.killing && self.kill_governor_allows(&i.app_id) {
            // Replace it: the planner counts it as not healthy and launches a replacement
            // before this one is gone (it is killed once it is marked killing).
            tracing::info!(task_id, "instance unhealthy: replacing it");
            self.emit("unhealthy_instance_kill_event", json!({"appId": i.app_id, "taskId": i.task_id, "instanceId": i.task_id,
                "version": i.version, "reason": i.last_failure_cause.clone().unwrap_or_else(|| "unknown".into()),
                "host": i.host, "slaveId": i.agent_id}), now);
            calls.extend(self.kill_instance(task_id));
        }
        calls.extend(self.reconcile_plans(now));
        calls
    }

    /// Announce that an instance became healthy or unhealthy: Marathon's two events for it.
    pub(super) fn health_changed(&mut self, i: &Instance, alive: bool, now: f64) {
        self.emit("health_status_changed_event", json!({"appId": i.app_id, "taskId": i.task_id, "instanceId": i.task_id, "version": i.version, "alive": alive}), now);
        self.emit("instance_health_changed_event", json!({"instanceId": i.task_id, "runSpecId": i.app_id, "runSpecVersion": i.version, "healthy": alive}), now);
    }

    /// The kill governor: when most of an app's instances are unhealthy at once, the checker is
    /// the likelier fault; stop killing until checks recover.
    pub fn kill_governor_allows(&self, app_id: &str) -> bool {
        let insts: Vec<&Instance> = self
            .app_instances(app_id)
            .into_iter()
            .filter(|i| i.running())
            .collect();
        if insts.len() < 3 {
            return true;
        }
        // "At once": count those already failing, not only those past maxConsecutiveFailures,
        // so the first to cross the line is not killed before the others catch up.
        let failing = insts
            .iter()
            .filter(|i| i.healthy == Some(false) || i.consecutive_failures > 0)
            .count();
        failing * 2 <= insts.len()
    }
}
