//! Deployments: planning one from new app definitions (which action for each app, steps
//! ordered by dependencies, conflicts with deployments in progress), starting it, cancelling
//! or rolling it back, advancing it step by step as the planner reaches each app's target,
//! and rendering it as Marathon's deployment JSON.

use super::{iso, Deployment, Marathon};
use crate::MarathonError;
use drover_api::marathon::{App, ValidationDetail};
use drover_store::Op;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A deployment as it would start, computed from the state without changing it: the same
/// value serves a real deployment and a dry run.
#[derive(Clone, Debug)]
pub struct DeployPlan {
    pub deployment: Deployment,
    /// The definitions to store, stamped with the deployment's version.
    pub apps: Vec<App>,
    /// Apps to stop and remove.
    pub removed: Vec<String>,
    /// Deployments in progress that this one cancels (it was forced over them).
    pub superseded: Vec<String>,
    /// How each app that was there before changes.
    pub changes: Vec<(String, super::Change)>,
}

impl Marathon {
    /// Deployments that block a change to `ids` (unless forced).
    pub fn conflicting_deployments(&self, ids: &[String]) -> Vec<String> {
        self.deployments
            .values()
            .filter(|d| d.affected_apps.iter().any(|a| ids.contains(a)))
            .map(|d| d.id.clone())
            .collect()
    }

    /// The deployment that putting `apps` (create or update) and removing `removed` would
    /// start at `now`; 409 (`DeploymentInProgress`) when it touches an app a deployment in
    /// progress touches, unless `force`; 422 for a role the app may not have. Each app gets its
    /// role (`roles.rs`) and service ports
    /// ([`Marathon::assign_service_ports`]) and an action, for `/v2/deployments`: new apps
    /// start; apps whose change needs no new task ([`Marathon::change_of`]) scale, keeping
    /// their configuration version so nothing restarts; others restart (all of them when
    /// `restart`); apps that did not change at all are left out, keeping their version. A
    /// change of nothing is a deployment of no steps, done as soon as it starts.
    pub fn plan_deploy(
        &self,
        apps: Vec<App>,
        removed: Vec<String>,
        force: bool,
        restart: bool,
        now: f64,
    ) -> Result<DeployPlan, MarathonError> {
        let mut apps = apps;
        // Each app's role: Marathon's when it has none, one it may have (`roles.rs`).
        let mut invalid: Vec<ValidationDetail> = Vec::new();
        for app in &mut apps {
            invalid.extend(self.settle_role(app));
        }
        // Resident apps: their role and what their reservations hold stay.
        invalid.extend(
            apps.iter()
                .flat_map(|a| crate::resident::check_update(self.apps.get(&a.id), a, force))
                .map(|(path, msg)| ValidationDetail {
                    path,
                    errors: vec![msg],
                }),
        );
        if !invalid.is_empty() {
            return Err(MarathonError::Invalid(invalid));
        }
        self.assign_service_ports(&mut apps, &removed)?;
        let ids: Vec<String> = apps
            .iter()
            .map(|a| a.id.clone())
            .chain(removed.iter().cloned())
            .collect();
        let superseded = self.conflicting_deployments(&ids);
        if !superseded.is_empty() && !force {
            return Err(MarathonError::DeploymentInProgress(superseded));
        }
        let version = iso(now);
        let mut actions: Vec<(String, String)> = Vec::new();
        let mut new_apps = Vec::new();
        let mut changes = Vec::new();
        let mut unchanged_version = None;
        for mut app in apps {
            let prev = self.apps.get(&app.id);
            let change = prev.map(|p| self.change_of(p, &app));
            let action = match (prev, &change) {
                (None, _) => "StartApplication",
                (Some(_), _) if restart => "RestartApplication",
                (Some(p), Some(c)) if c.is_none() => {
                    unchanged_version = unchanged_version.or_else(|| p.version.clone());
                    continue;
                }
                (Some(_), Some(c)) if !c.restart => "ScaleApplication",
                (Some(_), _) => "RestartApplication",
            };
            app.version = Some(version.clone());
            app.extra.insert("lastScalingAt".into(), json!(version));
            if action != "ScaleApplication" {
                app.extra
                    .insert("lastConfigChangeAt".into(), json!(version));
            } else if let Some(p) = prev {
                if let Some(v) = p.extra.get("lastConfigChangeAt") {
                    app.extra.insert("lastConfigChangeAt".into(), v.clone());
                }
            }
            if let Some(c) = change {
                changes.push((app.id.clone(), c));
            }
            actions.push((action.to_string(), app.id.clone()));
            new_apps.push(app);
        }
        for id in &removed {
            actions.push(("StopApplication".to_string(), id.clone()));
        }
        let affected: Vec<String> = actions.iter().map(|(_, id)| id.clone()).collect();
        let before = affected
            .iter()
            .map(|id| (id.clone(), self.apps.get(id).cloned()))
            .collect();
        let after = affected
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    new_apps.iter().rev().find(|a| &a.id == id).cloned(),
                )
            })
            .collect();
        // Dependencies order the steps: an app's step comes after those it depends on.
        let steps = order_steps(&actions, &new_apps);
        let version = match (steps.is_empty(), unchanged_version) {
            (true, Some(v)) => v,
            _ => version,
        };
        Ok(DeployPlan {
            deployment: Deployment {
                id: self.ids.next_id().to_string(),
                version,
                affected_apps: affected,
                steps,
                current_step: 0,
                force,
                before,
                after,
            },
            apps: new_apps,
            removed,
            superseded,
            changes,
        })
    }

    /// Put new app definitions (create or update), remove `removed`, and start one
    /// deployment for them.
    pub(super) fn deploy(
        &mut self,
        apps: Vec<App>,
        removed: Vec<String>,
        force: bool,
        restart: bool,
        now: f64,
    ) -> Result<Deployment, MarathonError> {
        let plan = self.plan_deploy(apps, removed, force, restart, now)?;
        Ok(self.start_deploy(plan, now))
    }

    /// Start a planned deployment: cancel what it supersedes, store the definitions and the
    /// deployment (durably), and announce it.
    fn start_deploy(&mut self, plan: DeployPlan, now: f64) -> Deployment {
        let DeployPlan {
            deployment: d,
            apps,
            removed,
            superseded,
            changes: _,
        } = plan;
        for id in superseded {
            if self.cancel_deployment(&id, now) {
                self.counters.deployments_failed += 1;
            }
        }
        self.root_version = Some(iso(now));
        self.counters.deployments_started += 1;
        if d.steps.is_empty() {
            self.counters.deployments_succeeded += 1;
            // Nothing changed: nothing to store, run or wait for.
            self.emit(
                "deployment_success",
                json!({"id": d.id, "plan": self.plan_json(&d)}),
                now,
            );
            return d;
        }
        let mut ops = Vec::new();
        for app in &apps {
            let bytes = serde_json::to_vec(app).unwrap_or_default();
            ops.push(Op::Put(format!("marathon/apps/{}", app.id), bytes.clone()));
            ops.push(Op::Put(
                format!("marathon/versions/{}/{}", app.id, d.version),
                bytes,
            ));
            self.backoff.remove(&app.id);
        }
        for id in &removed {
            ops.push(Op::Delete(format!("marathon/apps/{id}")));
        }
        ops.push(Op::Put(
            format!("marathon/deployments/{}", d.id),
            serde_json::to_vec(&d).unwrap_or_default(),
        ));
        self.write_durable(ops);
        for app in apps {
            self.touch(app.id.clone());
            let before = self.apps.get(&app.id).map(|p| p.health_checks.clone());
            self.announce_checks(
                &app.id,
                &before.unwrap_or_default(),
                &app.health_checks,
                &d.version,
                now,
            );
            self.apps.insert(app.id.clone(), app);
        }
        for id in &removed {
            self.touch(id.clone());
            if let Some(gone) = self.apps.remove(id) {
                self.announce_checks(id, &gone.health_checks, &[], &d.version, now);
            }
        }
        for a in &d.affected_apps {
            self.rendered.remove(a);
        }
        self.deployments.insert(d.id.clone(), d.clone());
        let group = d
            .affected_apps
            .first()
            .map(|a| crate::validate::parent_of(a).to_string())
            .unwrap_or_else(|| "/".into());
        self.emit(
            "group_change_success",
            json!({"groupId": group, "version": d.version}),
            now,
        );
        self.emit(
            "deployment_info",
            json!({"plan": self.plan_json(&d), "currentStep": self.step_json(&d, 0)}),
            now,
        );
        d
    }

    /// Marathon's `add_health_check_event` for each check an app gains and
    /// `remove_health_check_event` for each it loses.
    fn announce_checks(
        &mut self,
        app: &str,
        before: &[drover_api::marathon::HealthCheck],
        after: &[drover_api::marathon::HealthCheck],
        version: &str,
        now: f64,
    ) {
        for hc in after.iter().filter(|h| !before.contains(h)) {
            self.emit(
                "add_health_check_event",
                json!({"appId": app, "healthCheck": hc, "version": version}),
                now,
            );
        }
        for _ in before.iter().filter(|h| !after.contains(h)) {
            self.emit("remove_health_check_event", json!({"appId": app}), now);
        }
    }

    /// Stop a deployment where it is (`deployment_failed`); false if there is none of `id`.
    pub(super) fn cancel_deployment(&mut self, id: &str, now: f64) -> bool {
        let Some(d) = self.deployments.remove(id) else {
            return false;
        };
        for a in &d.affected_apps {
            self.rendered.remove(a);
        }
        self.write(vec![Op::Delete(format!("marathon/deployments/{id}"))]);
        self.emit(
            "deployment_failed",
            json!({"id": d.id, "plan": self.plan_json(&d), "reason": "superseded or cancelled"}),
            now,
        );
        true
    }

    /// `DELETE /v2/deployments/{id}`: without force, roll back to the apps' `previous`
    /// definitions with a new deployment (apps with none are removed); with force, just stop
    /// the deployment where it is.
    pub(super) fn rollback(
        &mut self,
        id: &str,
        force: bool,
        previous: &HashMap<String, App>,
        now: f64,
    ) -> Result<Option<Deployment>, MarathonError> {
        let Some(d) = self.deployments.get(id).cloned() else {
            return Err(MarathonError::DeploymentNotFound(id.to_string()));
        };
        if self.cancel_deployment(id, now) {
            self.counters.deployments_canceled += 1;
        }
        if force {
            return Ok(None);
        }
        let mut restore = Vec::new();
        let mut remove = Vec::new();
        for app_id in &d.affected_apps {
            match previous.get(app_id) {
                Some(app) => restore.push(app.clone()),
                None => remove.push(app_id.clone()),
            }
        }
        Ok(Some(self.deploy(restore, remove, true, false, now)?))
    }

    /// A deployment as its events carry it: `id`, `version`, `steps`, and `original` and
    /// `target`, the root group before and after it, as Marathon 1.4-1.6 wrote them and as
    /// marathon-python reads them (without them its `event_stream()` raises). The trees hold
    /// the apps the deployment affects, in their groups, not every app of the cluster: whole
    /// trees made each event grow with the cluster (5,000 apps: ~1.4 s of rendering a
    /// deployment under the core's lock), which is why Marathon 1.7 dropped them.
    pub fn plan_json(&self, d: &Deployment) -> Value {
        let tree = |side: &std::collections::BTreeMap<String, Option<App>>| {
            let apps: Vec<&App> = side.values().flatten().collect();
            super::json::group_tree(&apps, &d.version)
        };
        json!({
            "id": d.id,
            "original": tree(&d.before),
            "target": tree(&d.after),
            "steps": d.steps.iter().map(|s| json!({"actions": step_actions(Some(s))})).collect::<Vec<_>>(),
            "version": d.version,
        })
    }

    fn step_json(&self, d: &Deployment, i: usize) -> Value {
        json!({"actions": step_actions(d.steps.get(i))})
    }

    /// A deployment as `GET /v2/deployments` shows it.
    pub fn deployment_json(&self, d: &Deployment) -> Value {
        let current: Vec<Value> = d
            .steps
            .get(d.current_step)
            .map(|s| {
                s.iter()
                    .map(|(a, app)| json!({"action": a, "app": app, "readinessCheckResults": []}))
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "id": d.id, "version": d.version, "affectedApps": d.affected_apps, "affectedPods": [],
            "steps": d.steps.iter().map(|s| json!({"actions": step_actions(Some(s))})).collect::<Vec<_>>(),
            "currentActions": current, "currentStep": d.current_step + 1, "totalSteps": d.steps.len(),
        })
    }

    /// Move each deployment past the steps whose apps reached their targets; finish those
    /// past their last step.
    pub(super) fn advance_deployments(&mut self, now: f64) {
        let ids: Vec<String> = self.deployments.keys().cloned().collect();
        for id in ids {
            // Called at every replan: only the current step is copied to check it (a
            // deployment holds its apps' definitions before and after), the rest only when
            // the step is done.
            while let Some((current, step)) = self
                .deployments
                .get(&id)
                .and_then(|d| Some((d.current_step, d.steps.get(d.current_step)?.clone())))
            {
                let done = step.iter().all(|(action, app_id)| {
                    match (action.as_str(), self.apps.get(app_id)) {
                        ("StopApplication", _) | (_, None) => self.app_instances(app_id).is_empty(),
                        (_, Some(app)) => self.target_reached(app),
                    }
                });
                if !done {
                    break;
                }
                let Some(d) = self.deployments.get(&id) else {
                    break;
                };
                let (plan, finished, last) = (
                    self.plan_json(d),
                    self.step_json(d, current),
                    current + 1 >= d.steps.len(),
                );
                self.emit(
                    "deployment_step_success",
                    json!({"plan": plan, "currentStep": finished}),
                    now,
                );
                if last {
                    if let Some(d) = self.deployments.remove(&id) {
                        for a in &d.affected_apps {
                            self.rendered.remove(a);
                        }
                    }
                    self.write(vec![Op::Delete(format!("marathon/deployments/{id}"))]);
                    self.counters.deployments_succeeded += 1;
                    self.emit("deployment_success", json!({"id": id, "plan": plan}), now);
                    for (action, app) in &step {
                        if action == "StopApplication" {
                            self.emit("app_terminated_event", json!({"appId": app}), now);
                        }
                    }
                    break;
                }
                let Some(dm) = self.deployments.get_mut(&id) else {
                    break;
                };
                dm.current_step = current + 1;
                let (next, bytes) = (
                    json!({"actions": step_actions(dm.steps.get(current + 1))}),
                    serde_json::to_vec(&*dm).unwrap_or_default(),
                );
                self.emit(
                    "deployment_info",
                    json!({"plan": plan, "currentStep": next}),
                    now,
                );
                self.write(vec![Op::Put(format!("marathon/deployments/{id}"), bytes)]);
            }
        }
    }

    /// Whether `app_id` may launch: no deployment holds it in a step after its current one
    /// (it waits for its dependencies).
    pub(super) fn launch_allowed(&self, app_id: &str) -> bool {
        for d in self.deployments.values() {
            if let Some(pos) = d
                .steps
                .iter()
                .position(|s| s.iter().any(|(_, a)| a == app_id))
            {
                if pos > d.current_step {
                    return false;
                }
            }
        }
        true
    }
}

/// A step's actions as Marathon writes them: `{"action", "app"}` each (none: no such step).
fn step_actions(step: Option<&Vec<(String, String)>>) -> Vec<Value> {
    step.map(|s| {
        s.iter()
            .map(|(a, app)| json!({"action": a, "app": app}))
            .collect()
    })
    .unwrap_or_default()
}

/// The version of an app's configuration (not of its scale).
pub(super) fn config_version(app: &App) -> &str {
    app.extra
        .get("lastConfigChangeAt")
        .and_then(|v| v.as_str())
        .or(app.version.as_deref())
        .unwrap_or_default()
}

/// Steps of a deployment: apps with no dependency inside the deployment first, then those that
/// depend on them, and so on; stops come first.
fn order_steps(actions: &[(String, String)], apps: &[App]) -> Vec<Vec<(String, String)>> {
    let mut steps: Vec<Vec<(String, String)>> = Vec::new();
    let stops: Vec<(String, String)> = actions
        .iter()
        .filter(|(a, _)| a == "StopApplication")
        .cloned()
        .collect();
    if !stops.is_empty() {
        steps.push(stops);
    }
    let mut left: Vec<(String, String)> = actions
        .iter()
        .filter(|(a, _)| a != "StopApplication")
        .cloned()
        .collect();
    let in_deploy: Vec<String> = left.iter().map(|(_, id)| id.clone()).collect();
    let deps = |id: &str| -> Vec<String> {
        apps.iter()
            .find(|a| a.id == id)
            .map(|a| {
                a.dependencies
                    .iter()
                    .filter(|d| {
                        in_deploy.iter().any(|x| {
                            x == *d || x.starts_with(&format!("{}/", d.trim_end_matches('/')))
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut done: Vec<String> = Vec::new();
    while !left.is_empty() {
        let (ready, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|(_, id)| {
            deps(id).iter().all(|d| {
                done.iter()
                    .any(|x| x == d || x.starts_with(&format!("{}/", d.trim_end_matches('/'))))
            })
        });
        if ready.is_empty() {
            // A cycle: run the rest together rather than never.
            steps.push(rest);
            break;
        }
        done.extend(ready.iter().map(|(_, id)| id.clone()));
        steps.push(ready);
        left = rest;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_order_steps() {
        let a: App = serde_json::from_str(r#"{"id":"/db","cmd":"x"}"#).unwrap();
        let b: App =
            serde_json::from_str(r#"{"id":"/web","cmd":"x","dependencies":["/db"]}"#).unwrap();
        let actions = vec![
            ("StartApplication".to_string(), "/web".to_string()),
            ("StartApplication".to_string(), "/db".to_string()),
        ];
        let steps = order_steps(&actions, &[a, b]);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0][0].1, "/db");
        assert_eq!(steps[1][0].1, "/web");
    }
}
