//! The planner applied to each app: its instances as the planner sees them (version, running,
//! healthy, killing), its target, the launch queue it leads to, the kills it asks for, and
//! reviving or suppressing offers as the queue fills and empties.

use super::deploy::config_version;
use super::{Calls, Instance, Marathon};
use crate::planner::{self, InstanceView, Target};
use drover_api::marathon::App;
use drover_api::scheduler::{Call, CallType, Kill};
use drover_api::{AgentID, DurationInfo, KillPolicy, TaskID};

impl Marathon {
    fn is_healthy(&self, app: &App, i: &Instance) -> bool {
        i.running()
            && !i.killing
            // Healthy means the last check passed, as the API shows it (`alive`).
            && (app.health_checks.is_empty() || (i.healthy == Some(true) && i.consecutive_failures == 0))
            && (app.readiness_checks.is_empty() || i.ready)
    }

    /// `app`'s instances as the planner sees them (judged by `app`'s checks).
    pub(super) fn views(&self, app: &App) -> Vec<InstanceView> {
        self.app_instances(&app.id)
            .into_iter()
            // Unreachable inactive instances are replaced: they do not count.
            .filter(|i| !i.unreachable_inactive)
            .map(|i| InstanceView {
                id: i.task_id.clone(),
                version: if self.under_maintenance(&i.agent_id) {
                    super::maintenance::MAINTENANCE_VERSION.to_string()
                } else if i.config_version.is_empty() {
                    i.version.clone()
                } else {
                    i.config_version.clone()
                },
                running: i.running(),
                healthy: self.is_healthy(app, i),
                killing: i.killing,
                staged_at: i.staged_at,
            })
            .collect()
    }

    pub(super) fn target(app: &App) -> Target<'_> {
        Target {
            version: config_version(app),
            instances: app.instances.max(0) as usize,
            minimum_health_capacity: app.upgrade_strategy.minimum_health_capacity,
            maximum_over_capacity: app.upgrade_strategy.maximum_over_capacity,
            youngest_first: app.kill_selection != "OLDEST_FIRST",
        }
    }

    /// Whether every instance of `app` runs its configuration, healthy, as many as it wants.
    pub(super) fn target_reached(&self, app: &App) -> bool {
        planner::is_complete(&Self::target(app), &self.views(app))
    }

    /// Re-plan the apps that changed: refresh their launch counts and kill what must go.
    pub(super) fn replan(&mut self, now: f64) -> Calls {
        let mut calls = Vec::new();
        let ids: Vec<String> = self.dirty.drain().collect();
        for id in ids {
            match self.apps.get(&id) {
                Some(app) => {
                    let p = planner::plan(&Self::target(app), &self.views(app));
                    if p.launch > 0 {
                        self.wanted.insert(id.clone(), p.launch);
                        self.queued_since.entry(id.clone()).or_insert(now);
                    } else {
                        self.wanted.remove(&id);
                        self.queued_since.remove(&id);
                    }
                    for k in p.kill {
                        calls.extend(self.kill_instance(&k));
                    }
                }
                None => {
                    // Instances of an app that no longer exists; its reservations go too.
                    self.wanted.remove(&id);
                    self.release_reservations(&id);
                    let orphans: Vec<String> = self
                        .app_instances(&id)
                        .iter()
                        .filter(|i| !i.killing)
                        .map(|i| i.task_id.clone())
                        .collect();
                    for t in orphans {
                        calls.extend(self.kill_instance(&t));
                    }
                }
            }
        }
        // kill_instance marks apps dirty again; their plans did not change by it.
        self.dirty.clear();
        calls
    }

    /// Kill what the planner says must go, advance deployments, update the roles subscribed with
    /// when the apps' changed, and revive or suppress offers (for every role at once).
    /// Called on every event (for the apps it touched) and periodically (for all).
    pub fn reconcile_plans(&mut self, now: f64) -> Calls {
        let mut calls = self.check_unreachable(now);
        calls.extend(self.replan(now));
        calls.extend(self.retry_kills(now));
        calls.extend(self.reconcile_if_due(now));
        self.advance_deployments(now);
        calls.extend(self.answer_inverse_offers());
        self.release_orphan_reservations();
        // The roles subscribed with follow the apps' (before any REVIVE, so it revives them).
        calls.extend(self.update_roles());
        let wanted = !self.wanted.is_empty() || self.releases_pending();
        if wanted && self.suppressed {
            self.suppressed = false;
            calls.push(Call::new(CallType::REVIVE, self.framework_id.clone()));
        } else if !wanted && !self.suppressed && self.connected {
            self.suppressed = true;
            calls.push(Call::new(CallType::SUPPRESS, self.framework_id.clone()));
        }
        calls
    }

    /// Send the KILL of every killing instance whose task has not ended again, every
    /// `KILL_RETRY_SECS` (and at once for those a previous leader was killing: `open` marks
    /// them due).
    fn retry_kills(&mut self, now: f64) -> Calls {
        const KILL_RETRY_SECS: f64 = 5.0;
        // Only the instances being killed are looked at (this runs on every event).
        let instances = &self.instances;
        self.kills_sent.retain(|t, _| {
            instances
                .get(t)
                .is_some_and(|i| i.killing && !i.state.is_terminal())
        });
        let connected = self.connected;
        let mut due = Vec::new();
        for (t, at) in self.kills_sent.iter_mut() {
            if at.is_nan() {
                *at = now;
            } else if connected && now - *at >= KILL_RETRY_SECS {
                *at = now;
                due.push(t.clone());
            }
        }
        due.iter()
            .filter_map(|t| self.instances.get(t))
            .map(|i| self.kill_call(i))
            .collect()
    }

    /// Kill one instance (once): mark it killing and return the KILL, with the app's grace
    /// period.
    pub fn kill_instance(&mut self, task_id: &str) -> Calls {
        let Some(i) = self.instances.get_mut(task_id) else {
            return vec![];
        };
        if i.killing {
            return vec![];
        }
        if i.unreachable_since.is_some() {
            // As Marathon: an unreachable instance is expunged (its KILL sent in case its
            // agent still runs it), not waited for.
            return self.expunge(task_id);
        }
        i.killing = true;
        let i = i.clone();
        self.touch(i.app_id.clone());
        self.write(vec![self.persist_instance(&i)]);
        self.kills_sent.insert(i.task_id.clone(), f64::NAN);
        vec![self.kill_call(&i)]
    }

    pub(super) fn kill_call(&self, i: &super::Instance) -> Call {
        let grace = self
            .apps
            .get(&i.app_id)
            .and_then(|a| a.task_kill_grace_period_seconds);
        let mut c = Call::new(CallType::KILL, self.framework_id.clone());
        c.kill = Some(Kill {
            task_id: TaskID::new(i.task_id.clone()),
            agent_id: Some(AgentID::new(i.agent_id.clone())),
            kill_policy: grace.map(|g| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: u64::from(g) * 1_000_000_000,
                }),
            }),
        });
        c
    }
}
