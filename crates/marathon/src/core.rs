//! Marathon's state and decisions: apps and their versions, the instances it believes in,
//! deployments, the launch queue with backoff, offer matching and status updates. Synchronous
//! code over plain data; the framework link feeds it events and posts the calls it returns.

use crate::constraints::{self, AgentFacts};
use crate::planner::{self, InstanceView, Target};
use crate::validate::{hostname_of, parent_of, task_prefix};
use crate::MarathonError;
use drover_api::marathon::App;
use drover_api::scheduler::{Accept, Call, CallType, Decline, Kill};
use drover_api::*;
use drover_store::{Op, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// An instance (task) Marathon launched and believes in.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Instance {
    pub task_id: String,
    pub app_id: String,
    pub version: String,
    /// The app's `lastConfigChangeAt` when launched: a scale changes `version` but not this,
    /// so only a config change makes instances old.
    #[serde(default)]
    pub config_version: String,
    pub agent_id: String,
    pub host: String,
    pub ports: Vec<u32>,
    pub state: TaskState,
    pub staged_at: f64,
    #[serde(default)]
    pub started_at: Option<f64>,
    #[serde(default)]
    pub killing: bool,
    /// Result of Marathon-run health checks: None until the first result.
    #[serde(default)]
    pub healthy: Option<bool>,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_success: Option<f64>,
    #[serde(default)]
    pub last_failure: Option<f64>,
    #[serde(default)]
    pub last_failure_cause: Option<String>,
    #[serde(default)]
    pub last_message: Option<String>,
    /// Readiness (apps with readinessChecks): an instance takes part in a deployment's count
    /// only once ready. Kept once true.
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub last_readiness: Option<Value>,
}

impl Instance {
    pub fn running(&self) -> bool {
        self.state == TaskState::TASK_RUNNING
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Backoff {
    pub failures: u32,
    /// Unix time before which no new instance is launched.
    pub until: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Deployment {
    pub id: String,
    pub version: String,
    pub affected_apps: Vec<String>,
    /// Each step: (action, app id). Steps run in order (group dependencies).
    pub steps: Vec<Vec<(String, String)>>,
    pub current_step: usize,
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Debug, Default)]
pub struct OfferSummary {
    pub processed: u64,
    pub unused: u64,
    pub reasons: BTreeMap<String, u64>,
    pub last_unused: VecDeque<Value>,
}

pub struct Marathon {
    pub store: Arc<dyn Store>,
    pub apps: BTreeMap<String, App>,
    pub instances: BTreeMap<String, Instance>,
    pub backoff: HashMap<String, Backoff>,
    pub last_failure: HashMap<String, Value>,
    pub deployments: BTreeMap<String, Deployment>,
    pub offer_stats: HashMap<String, OfferSummary>,
    pub framework_id: Option<FrameworkID>,
    pub connected: bool,
    pub suppressed: bool,
    /// Agents seen in offers: facts for constraints and hostnames.
    pub agents: HashMap<String, AgentFacts>,
    pub events: tokio::sync::broadcast::Sender<(String, Value)>,
    pub role: String,
    pub start_unix: f64,
    /// Apps whose kill governor is engaged.
    pub governed: std::collections::HashSet<String>,
    /// Store writes waiting for the flusher.
    pending: Vec<Op>,
    /// Instances by app, so per-app work costs that app's instances, not all of them.
    by_app: HashMap<String, std::collections::BTreeSet<String>>,
    /// Apps whose plan may have changed since the last replan.
    dirty: std::collections::HashSet<String>,
    /// Launches each app wants (the launch queue), as of the last replan.
    wanted: BTreeMap<String, usize>,
    /// When each queued app started waiting.
    pub queued_since: HashMap<String, f64>,
    /// Each app's JSON as `GET /v2/apps` shows it, kept until the app changes, so listing
    /// thousands of apps costs a copy, not a render.
    pub rendered: HashMap<String, bytes::Bytes>,
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// RFC 3339 with milliseconds, UTC, as Marathon prints timestamps and versions.
pub fn iso(t: f64) -> String {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_millis(when).to_string()
}

/// Scheduler calls the core wants made, in order.
pub type Calls = Vec<Call>;

impl Marathon {
    pub fn new(store: Arc<dyn Store>, role: String) -> Result<Self, MarathonError> {
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let mut m = Marathon {
            store,
            apps: BTreeMap::new(),
            instances: BTreeMap::new(),
            backoff: HashMap::new(),
            last_failure: HashMap::new(),
            deployments: BTreeMap::new(),
            offer_stats: HashMap::new(),
            framework_id: None,
            connected: false,
            suppressed: false,
            agents: HashMap::new(),
            events,
            role,
            start_unix: unix_now(),
            governed: Default::default(),
            pending: Vec::new(),
            by_app: HashMap::new(),
            dirty: Default::default(),
            wanted: BTreeMap::new(),
            queued_since: HashMap::new(),
            rendered: HashMap::new(),
        };
        m.load()?;
        Ok(m)
    }

    fn load(&mut self) -> Result<(), MarathonError> {
        for (_, v) in self.store.scan("marathon/apps/")? {
            if let Ok(app) = serde_json::from_slice::<App>(&v) {
                self.apps.insert(app.id.clone(), app);
            }
        }
        for (_, v) in self.store.scan("marathon/instances/")? {
            if let Ok(i) = serde_json::from_slice::<Instance>(&v) {
                self.add_instance(i);
            }
        }
        for (_, v) in self.store.scan("marathon/deployments/")? {
            if let Ok(d) = serde_json::from_slice::<Deployment>(&v) {
                self.deployments.insert(d.id.clone(), d);
            }
        }
        if let Some(v) = self.store.get("marathon/framework_id")? {
            self.framework_id = Some(FrameworkID::new(String::from_utf8_lossy(&v).to_string()));
        }
        Ok(())
    }

    pub fn emit(&self, kind: &str, mut body: Value) {
        body["eventType"] = json!(kind);
        body["timestamp"] = json!(iso(unix_now()));
        let _ = self.events.send((kind.to_string(), body));
    }

    fn persist_instance(&self, i: &Instance) -> Op {
        Op::Put(
            format!("marathon/instances/{}", i.task_id),
            serde_json::to_vec(i).unwrap_or_default(),
        )
    }

    /// Queue writes of instance state; the flusher commits them together every few
    /// milliseconds (one fsync for many updates). Losing the last few on a crash is safe: on
    /// restart, reconciliation finds tasks Marathon forgot and kills them (no orphan), and the
    /// planner launches what is missing (no duplicate).
    fn write(&mut self, ops: Vec<Op>) {
        self.pending.extend(ops);
    }

    /// Write now, with everything queued before it (app definitions, deployments: the API
    /// answers only once they are durable).
    fn write_now(&mut self, ops: Vec<Op>) {
        self.pending.extend(ops);
        let all = std::mem::take(&mut self.pending);
        if let Err(e) = self.store.apply(all) {
            tracing::error!("marathon store write failed: {e}");
        }
    }

    /// The writes queued since the last call, for the flusher.
    pub fn take_pending(&mut self) -> Vec<Op> {
        std::mem::take(&mut self.pending)
    }

    pub fn set_framework_id(&mut self, id: FrameworkID) {
        self.write_now(vec![Op::Put(
            "marathon/framework_id".into(),
            id.value.clone().into_bytes(),
        )]);
        self.framework_id = Some(id);
    }

    // ------------------------------------------------------------------ apps and deployments

    /// Apps whose deployment blocks a change to `ids` (unless forced).
    pub fn conflicting_deployments(&self, ids: &[String]) -> Vec<String> {
        self.deployments
            .values()
            .filter(|d| d.affected_apps.iter().any(|a| ids.contains(a)))
            .map(|d| d.id.clone())
            .collect()
    }

    /// Put new app definitions (create or update) and start one deployment for them.
    /// `actions` names what happens to each app for `/v2/deployments`.
    pub fn deploy(
        &mut self,
        apps: Vec<App>,
        removed: Vec<String>,
        force: bool,
        restart: bool,
    ) -> Result<Deployment, MarathonError> {
        let ids: Vec<String> = apps
            .iter()
            .map(|a| a.id.clone())
            .chain(removed.iter().cloned())
            .collect();
        let conflicts = self.conflicting_deployments(&ids);
        if !conflicts.is_empty() {
            if !force {
                return Err(MarathonError::DeploymentInProgress(conflicts));
            }
            for id in conflicts {
                self.cancel_deployment(&id);
            }
        }
        let version = iso(unix_now());
        let mut ops = Vec::new();
        let mut actions: Vec<(String, String)> = Vec::new();
        let mut new_apps = Vec::new();
        for mut app in apps {
            let prev = self.apps.get(&app.id).cloned();
            let action = match &prev {
                None => "StartApplication",
                Some(p) if !restart && only_scaled(p, &app) => "ScaleApplication",
                Some(_) => "RestartApplication",
            };
            app.version = Some(version.clone());
            app.extra.insert("lastScalingAt".into(), json!(version));
            if action != "ScaleApplication" {
                app.extra
                    .insert("lastConfigChangeAt".into(), json!(version));
            } else if let Some(p) = &prev {
                if let Some(v) = p.extra.get("lastConfigChangeAt") {
                    app.extra.insert("lastConfigChangeAt".into(), v.clone());
                }
            }
            let bytes = serde_json::to_vec(&app).unwrap_or_default();
            ops.push(Op::Put(format!("marathon/apps/{}", app.id), bytes.clone()));
            ops.push(Op::Put(
                format!("marathon/versions/{}/{}", app.id, version),
                bytes,
            ));
            actions.push((action.to_string(), app.id.clone()));
            self.backoff.remove(&app.id);
            new_apps.push(app);
        }
        for id in &removed {
            ops.push(Op::Delete(format!("marathon/apps/{id}")));
            actions.push(("StopApplication".to_string(), id.clone()));
        }
        // Dependencies order the steps: an app's step comes after those it depends on.
        let steps = order_steps(&actions, &new_apps);
        let d = Deployment {
            id: uuid::Uuid::new_v4().to_string(),
            version: version.clone(),
            affected_apps: ids,
            steps,
            current_step: 0,
            force,
        };
        ops.push(Op::Put(
            format!("marathon/deployments/{}", d.id),
            serde_json::to_vec(&d).unwrap_or_default(),
        ));
        self.write_now(ops);
        for app in new_apps {
            self.touch(app.id.clone());
            self.apps.insert(app.id.clone(), app);
        }
        for id in &removed {
            self.touch(id.clone());
            self.apps.remove(id);
        }
        for a in &d.affected_apps {
            self.rendered.remove(a);
        }
        self.deployments.insert(d.id.clone(), d.clone());
        self.emit(
            "deployment_info",
            json!({"plan": self.plan_json(&d), "currentStep": self.step_json(&d, 0)}),
        );
        Ok(d)
    }

    pub fn cancel_deployment(&mut self, id: &str) {
        if let Some(d) = self.deployments.remove(id) {
            for a in &d.affected_apps {
                self.rendered.remove(a);
            }
            self.write(vec![Op::Delete(format!("marathon/deployments/{id}"))]);
            self.emit("deployment_failed", json!({"id": d.id, "plan": self.plan_json(&d), "reason": "superseded or cancelled"}));
        }
    }

    /// `DELETE /v2/deployments/{id}`: without force, roll back to the apps' previous versions
    /// with a new deployment; with force, just stop the deployment where it is.
    pub fn rollback(&mut self, id: &str, force: bool) -> Result<Option<Deployment>, MarathonError> {
        let Some(d) = self.deployments.get(id).cloned() else {
            return Err(MarathonError::NotFound(format!(
                "DeploymentPlan {id} does not exist"
            )));
        };
        self.cancel_deployment(id);
        if force {
            return Ok(None);
        }
        let mut restore = Vec::new();
        let mut remove = Vec::new();
        for app_id in &d.affected_apps {
            let versions = self.versions(app_id);
            let previous = versions.iter().rev().find(|v| **v < d.version).cloned();
            match previous.and_then(|v| self.app_version(app_id, &v)) {
                Some(app) => restore.push(app),
                None => remove.push(app_id.clone()),
            }
        }
        Ok(Some(self.deploy(restore, remove, true, false)?))
    }

    pub fn versions(&self, app_id: &str) -> Vec<String> {
        self.store
            .scan(&format!("marathon/versions/{app_id}/"))
            .map(|rows| {
                rows.into_iter()
                    .map(|(k, _)| k.rsplit('/').next().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn app_version(&self, app_id: &str, version: &str) -> Option<App> {
        self.store
            .get(&format!("marathon/versions/{app_id}/{version}"))
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    pub fn plan_json(&self, d: &Deployment) -> Value {
        json!({
            "id": d.id, "version": d.version,
            "steps": d.steps.iter().map(|s| json!({"actions": s.iter().map(|(a, app)| json!({"action": a, "app": app})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        })
    }

    fn step_json(&self, d: &Deployment, i: usize) -> Value {
        let actions: Vec<Value> = d
            .steps
            .get(i)
            .map(|s| {
                s.iter()
                    .map(|(a, app)| json!({"action": a, "app": app}))
                    .collect()
            })
            .unwrap_or_default();
        json!({"actions": actions})
    }

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
            "steps": d.steps.iter().map(|s| json!({"actions": s.iter().map(|(a, app)| json!({"action": a, "app": app})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            "currentActions": current, "currentStep": d.current_step + 1, "totalSteps": d.steps.len(),
        })
    }

    // ------------------------------------------------------------------ instances

    pub fn app_instances(&self, app_id: &str) -> Vec<&Instance> {
        self.by_app
            .get(app_id)
            .map(|ids| ids.iter().filter_map(|t| self.instances.get(t)).collect())
            .unwrap_or_default()
    }

    fn add_instance(&mut self, i: Instance) {
        self.by_app
            .entry(i.app_id.clone())
            .or_default()
            .insert(i.task_id.clone());
        self.touch(i.app_id.clone());
        self.instances.insert(i.task_id.clone(), i);
    }

    fn drop_instance(&mut self, task_id: &str) -> Option<Instance> {
        let i = self.instances.remove(task_id)?;
        if let Some(set) = self.by_app.get_mut(&i.app_id) {
            set.remove(task_id);
            if set.is_empty() {
                self.by_app.remove(&i.app_id);
            }
        }
        self.touch(i.app_id.clone());
        Some(i)
    }

    /// Something about an app changed: re-plan it, and render its JSON afresh.
    fn touch(&mut self, app_id: impl Into<String>) {
        let id = app_id.into();
        self.rendered.remove(&id);
        self.dirty.insert(id);
    }

    /// Forget every instance (the framework was torn down: its tasks are gone).
    pub fn forget_instances(&mut self) {
        self.instances.clear();
        self.by_app.clear();
        self.dirty.extend(self.apps.keys().cloned());
    }

    /// Re-plan every app at the next replan (the periodic full pass).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.apps.keys().cloned());
        self.dirty.extend(self.by_app.keys().cloned());
    }

    fn is_healthy(&self, app: &App, i: &Instance) -> bool {
        i.running()
            && !i.killing
            // Healthy means the last check passed, as the API shows it (`alive`).
            && (app.health_checks.is_empty() || (i.healthy == Some(true) && i.consecutive_failures == 0))
            && (app.readiness_checks.is_empty() || i.ready)
    }

    fn views(&self, app: &App) -> Vec<InstanceView> {
        self.app_instances(&app.id)
            .into_iter()
            .map(|i| InstanceView {
                id: i.task_id.clone(),
                version: if i.config_version.is_empty() {
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

    fn target<'a>(app: &'a App) -> Target<'a> {
        Target {
            version: config_version(app),
            instances: app.instances.max(0) as usize,
            minimum_health_capacity: app.upgrade_strategy.minimum_health_capacity,
            maximum_over_capacity: app.upgrade_strategy.maximum_over_capacity,
            youngest_first: app.kill_selection != "OLDEST_FIRST",
        }
    }

    /// How many instances each app wants launched right now (the launch queue).
    pub fn queue(&self) -> BTreeMap<String, usize> {
        self.wanted.clone()
    }

    /// Re-plan the apps that changed: refresh their launch counts and kill what must go.
    fn replan(&mut self) -> Calls {
        let mut calls = Vec::new();
        let ids: Vec<String> = self.dirty.drain().collect();
        for id in ids {
            match self.apps.get(&id) {
                Some(app) => {
                    let p = planner::plan(&Self::target(app), &self.views(app));
                    if p.launch > 0 {
                        self.wanted.insert(id.clone(), p.launch);
                        self.queued_since.entry(id.clone()).or_insert_with(unix_now);
                    } else {
                        self.wanted.remove(&id);
                        self.queued_since.remove(&id);
                    }
                    for k in p.kill {
                        calls.extend(self.kill_instance(&k));
                    }
                }
                None => {
                    // Instances of an app that no longer exists.
                    self.wanted.remove(&id);
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

    /// Kill what the planner says must go, advance deployments, and revive or suppress offers.
    /// Called on every event (for the apps it touched) and periodically (for all).
    pub fn reconcile_plans(&mut self, now_unix: f64) -> Calls {
        let mut calls = self.replan();
        self.advance_deployments();
        let wanted = !self.wanted.is_empty();
        if wanted && self.suppressed {
            self.suppressed = false;
            calls.push(Call::new(CallType::REVIVE, self.framework_id.clone()));
        } else if !wanted && !self.suppressed && self.connected {
            self.suppressed = true;
            calls.push(Call::new(CallType::SUPPRESS, self.framework_id.clone()));
        }
        let _ = now_unix;
        calls
    }

    fn advance_deployments(&mut self) {
        let ids: Vec<String> = self.deployments.keys().cloned().collect();
        for id in ids {
            loop {
                let Some(d) = self.deployments.get(&id).cloned() else {
                    break;
                };
                let Some(step) = d.steps.get(d.current_step) else {
                    break;
                };
                let done = step.iter().all(|(action, app_id)| {
                    match (action.as_str(), self.apps.get(app_id)) {
                        ("StopApplication", _) | (_, None) => self.app_instances(app_id).is_empty(),
                        (_, Some(app)) => {
                            planner::is_complete(&Self::target(app), &self.views(app))
                        }
                    }
                });
                if !done {
                    break;
                }
                self.emit("deployment_step_success", json!({"plan": self.plan_json(&d), "currentStep": self.step_json(&d, d.current_step)}));
                let next = d.current_step + 1;
                if next >= d.steps.len() {
                    self.deployments.remove(&id);
                    for a in &d.affected_apps {
                        self.rendered.remove(a);
                    }
                    self.write(vec![Op::Delete(format!("marathon/deployments/{id}"))]);
                    self.emit(
                        "deployment_success",
                        json!({"id": d.id, "plan": self.plan_json(&d)}),
                    );
                    for (action, app) in step {
                        if action == "StopApplication" {
                            self.emit("app_terminated_event", json!({"appId": app}));
                        }
                    }
                    break;
                }
                if let Some(dm) = self.deployments.get_mut(&id) {
                    dm.current_step = next;
                }
                if let Some(dm) = self.deployments.get(&id) {
                    self.write(vec![Op::Put(
                        format!("marathon/deployments/{id}"),
                        serde_json::to_vec(dm).unwrap_or_default(),
                    )]);
                }
            }
        }
    }

    /// Apps whose current deployment step includes them (others wait for their dependencies).
    fn launch_allowed(&self, app_id: &str) -> bool {
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

    pub fn kill_instance(&mut self, task_id: &str) -> Calls {
        let Some(i) = self.instances.get_mut(task_id) else {
            return vec![];
        };
        if i.killing {
            return vec![];
        }
        i.killing = true;
        let i = i.clone();
        self.touch(i.app_id.clone());
        let grace = self
            .apps
            .get(&i.app_id)
            .and_then(|a| a.task_kill_grace_period_seconds);
        self.write(vec![self.persist_instance(&i)]);
        let mut c = Call::new(CallType::KILL, self.framework_id.clone());
        c.kill = Some(Kill {
            task_id: TaskID::new(i.task_id.clone()),
            agent_id: Some(AgentID::new(i.agent_id.clone())),
            kill_policy: grace.map(|g| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: (g * 1e9) as u64,
                }),
            }),
        });
        vec![c]
    }

    // ------------------------------------------------------------------ offers

    /// Match offers against the launch queue; accept what fits, decline the rest.
    pub fn offers(&mut self, offers: Vec<Offer>, now_unix: f64) -> Calls {
        let mut calls = self.replan();
        let mut queue = self.queue();
        let queued_apps: Vec<String> = queue.keys().cloned().collect();
        for offer in offers {
            let facts = AgentFacts {
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.hostname.clone(),
                attributes: offer
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.value_string()))
                    .collect(),
            };
            self.agents
                .insert(offer.agent_id.value.clone(), facts.clone());
            let mut remaining = Resources::from_list(&offer.resources);
            let mut tasks: Vec<TaskInfo> = Vec::new();
            for app_id in &queued_apps {
                let Some(app) = self.apps.get(app_id).cloned() else {
                    continue;
                };
                let stats = self.offer_stats.entry(app_id.clone()).or_default();
                stats.processed += 1;
                let reason = if !self.launch_allowed(app_id) {
                    Some("DeploymentWaitingForDependencies".to_string())
                } else if self
                    .backoff
                    .get(app_id)
                    .map(|b| b.until > now_unix)
                    .unwrap_or(false)
                {
                    Some("AppDelayed".to_string())
                } else {
                    None
                };
                if let Some(r) = reason {
                    self.note_unused(app_id, &offer, &r);
                    continue;
                }
                loop {
                    let want = queue.get(app_id).copied().unwrap_or(0);
                    if want == 0 {
                        break;
                    }
                    match self.build_task(&app, &offer, &facts, &remaining, &tasks) {
                        Ok((task, used, ports)) => {
                            remaining.subtract_all(&used);
                            let inst = Instance {
                                task_id: task.task_id.value.clone(),
                                app_id: app.id.clone(),
                                version: app.version.clone().unwrap_or_default(),
                                config_version: config_version(&app).to_string(),
                                agent_id: offer.agent_id.value.clone(),
                                host: offer.hostname.clone(),
                                ports,
                                state: TaskState::TASK_STAGING,
                                staged_at: now_unix,
                                started_at: None,
                                killing: false,
                                healthy: None,
                                consecutive_failures: 0,
                                last_success: None,
                                last_failure: None,
                                last_failure_cause: None,
                                last_message: None,
                                ready: false,
                                last_readiness: None,
                            };
                            self.add_instance(inst);
                            tasks.push(task);
                            queue.insert(app_id.clone(), want - 1);
                        }
                        Err(reason) => {
                            self.note_unused(app_id, &offer, &reason);
                            break;
                        }
                    }
                }
            }
            if tasks.is_empty() {
                let mut c = Call::new(CallType::DECLINE, self.framework_id.clone());
                let refuse = if queue.values().any(|n| *n > 0) {
                    5.0
                } else {
                    120.0
                };
                c.decline = Some(Decline {
                    offer_ids: vec![offer.id.clone()],
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse),
                    }),
                });
                calls.push(c);
                continue;
            }
            let ops: Vec<Op> = tasks
                .iter()
                .filter_map(|t| self.instances.get(&t.task_id.value))
                .map(|i| self.persist_instance(i))
                .collect();
            self.write(ops);
            let mut c = Call::new(CallType::ACCEPT, self.framework_id.clone());
            c.accept = Some(Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![drover_api::Operation::launch(tasks)],
                filters: Some(Filters {
                    refuse_seconds: Some(1.0),
                }),
            });
            calls.push(c);
        }
        calls
    }

    fn note_unused(&mut self, app_id: &str, offer: &Offer, reason: &str) {
        let s = self.offer_stats.entry(app_id.to_string()).or_default();
        s.unused += 1;
        *s.reasons.entry(reason.to_string()).or_default() += 1;
        if s.last_unused.len() >= 20 {
            s.last_unused.pop_front();
        }
        s.last_unused.push_back(json!({
            "offer": {"id": offer.id.value, "agentId": offer.agent_id.value, "hostname": offer.hostname,
                      "resources": offer.resources.iter().map(|r| {
                          let mut v = json!({"name": r.name, "role": r.reservation_role()});
                          if let Some(x) = &r.scalar { v["scalar"] = json!(x.value); }
                          if let Some(x) = &r.ranges { v["ranges"] = json!(x.range.iter().map(|g| json!({"begin": g.begin, "end": g.end})).collect::<Vec<_>>()); }
                          if let Some(x) = &r.set { v["set"] = json!(x.item); }
                          v
                      }).collect::<Vec<_>>(),
                      "attributes": offer.attributes.iter().map(|a| json!({"name": a.name, "value": a.value_string()})).collect::<Vec<_>>()},
            "timestamp": iso(unix_now()), "reason": [reason],
        }));
    }

    /// One task of `app` from what is left of an offer, or why not (Marathon's reason names).
    fn build_task(
        &self,
        app: &App,
        offer: &Offer,
        facts: &AgentFacts,
        remaining: &Resources,
        pending: &[TaskInfo],
    ) -> Result<(TaskInfo, Resources, Vec<u32>), String> {
        if let Some(roles) = &app.accepted_resource_roles {
            let role = offer
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.clone())
                .unwrap_or_else(|| "*".into());
            if !roles.iter().any(|r| r == &role || r == "*") {
                return Err("UnfulfilledRole".into());
            }
        }
        for (name, need, reason) in [
            ("cpus", app.cpus, "InsufficientCpus"),
            ("mem", app.mem, "InsufficientMemory"),
            ("disk", app.disk, "InsufficientDisk"),
            ("gpus", app.gpus, "InsufficientGpus"),
        ] {
            if need > 0.0 && resources::to_fixed(remaining.scalar(name)) < resources::to_fixed(need)
            {
                return Err(reason.into());
            }
        }
        // Constraints see the app's live instances plus what this offer already got.
        let mut placed: Vec<AgentFacts> = self
            .app_instances(&app.id)
            .into_iter()
            .filter(|i| !i.state.is_terminal() && !i.killing)
            .map(|i| {
                self.agents.get(&i.agent_id).cloned().unwrap_or(AgentFacts {
                    agent_id: i.agent_id.clone(),
                    hostname: i.host.clone(),
                    attributes: vec![],
                })
            })
            .collect();
        let prefix = format!("{}.", task_prefix(&app.id));
        for _ in pending
            .iter()
            .filter(|t| t.task_id.value.starts_with(&prefix))
        {
            placed.push(facts.clone());
        }
        let refs: Vec<&AgentFacts> = placed.iter().collect();
        constraints::check(&app.constraints, facts, &refs)
            .map_err(|e| format!("UnfulfilledConstraint: {e}"))?;
        // Ports.
        let defs = app.host_ports();
        let mut free = remaining.ranges("ports");
        let mut ports = Vec::new();
        // Dynamic ports are drawn at random from what is offered (as Marathon does), so tasks
        // sharing a host do not all fight over the first port of the range.
        let task_uuid = uuid::Uuid::new_v4();
        let mut seed = u64::from_le_bytes(task_uuid.as_bytes()[..8].try_into().unwrap_or([7; 8]));
        for d in &defs {
            let want = if d.port != 0 && app.require_ports {
                Some(d.port as u64)
            } else {
                None
            };
            let pick = match want {
                Some(p) => free.iter().any(|r| r.begin <= p && p <= r.end).then_some(p),
                None => {
                    let total = resources::ranges_len(&free);
                    (total > 0).then(|| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        nth_port(&free, (seed >> 33) % total)
                    })
                }
            };
            let Some(p) = pick else {
                return Err("InsufficientPorts".into());
            };
            free = resources::subtract_ranges(&free, &[Range { begin: p, end: p }]);
            ports.push(p as u32);
        }
        let mut res = vec![
            Resource::scalar("cpus", app.cpus),
            Resource::scalar("mem", app.mem),
        ];
        if app.disk > 0.0 {
            res.push(Resource::scalar("disk", app.disk));
        }
        if app.gpus > 0.0 {
            res.push(Resource::scalar("gpus", app.gpus));
        }
        if !ports.is_empty() {
            res.push(Resource::ranges(
                "ports",
                resources::coalesce(
                    ports
                        .iter()
                        .map(|&p| Range {
                            begin: p as u64,
                            end: p as u64,
                        })
                        .collect(),
                ),
            ));
        }
        let role = offer
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.clone())
            .unwrap_or_else(|| "*".into());
        let mut used = Resources::new();
        for r in &mut res {
            r.allocation_info = Some(AllocationInfo {
                role: Some(role.clone()),
            });
            used.add(r);
        }
        if !remaining.contains(&used) {
            return Err("InsufficientResources".into());
        }
        let task_id = format!("{}.{}", task_prefix(&app.id), task_uuid);
        let mut env: Vec<Variable> = Vec::new();
        let mut put = |k: String, v: String| {
            env.push(Variable {
                name: k,
                kind: None,
                value: v,
            })
        };
        for (k, v) in &app.env {
            if let Some(s) = v.as_str() {
                put(k.clone(), s.to_string());
            }
        }
        put("MARATHON_APP_ID".into(), app.id.clone());
        put(
            "MARATHON_APP_VERSION".into(),
            app.version.clone().unwrap_or_default(),
        );
        put("MARATHON_APP_RESOURCE_CPUS".into(), app.cpus.to_string());
        put("MARATHON_APP_RESOURCE_MEM".into(), app.mem.to_string());
        put("MARATHON_APP_RESOURCE_DISK".into(), app.disk.to_string());
        put(
            "MARATHON_APP_RESOURCE_GPUS".into(),
            (app.gpus as i64).to_string(),
        );
        put(
            "MARATHON_APP_LABELS".into(),
            app.labels
                .keys()
                .map(|k| k.to_uppercase())
                .collect::<Vec<_>>()
                .join(" "),
        );
        for (k, v) in &app.labels {
            let key: String = k
                .to_uppercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            put(format!("MARATHON_APP_LABEL_{key}"), v.clone());
        }
        if let Some(img) = app
            .container
            .as_ref()
            .and_then(|c| c.get("docker"))
            .and_then(|d| d.get("image"))
            .and_then(|i| i.as_str())
        {
            put("MARATHON_APP_DOCKER_IMAGE".into(), img.to_string());
        }
        put("MESOS_TASK_ID".into(), task_id.clone());
        put("HOST".into(), offer.hostname.clone());
        for (i, p) in ports.iter().enumerate() {
            put(format!("PORT{i}"), p.to_string());
            if let Some(n) = &defs[i].name {
                put(
                    format!("PORT_{}", n.to_uppercase().replace('-', "_")),
                    p.to_string(),
                );
            }
            if defs[i].port != 0 {
                put(format!("PORT_{}", defs[i].port), p.to_string());
            }
        }
        if let Some(p) = ports.first() {
            put("PORT".into(), p.to_string());
        }
        put(
            "PORTS".into(),
            ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let mut uris: Vec<CommandURI> = app
            .fetch
            .iter()
            .map(|f| CommandURI {
                value: f.uri.clone(),
                executable: Some(f.executable),
                extract: Some(f.extract),
                cache: Some(f.cache),
                output_file: f.dest_path.clone(),
            })
            .collect();
        uris.extend(app.uris.iter().map(|u| CommandURI {
            value: u.clone(),
            executable: None,
            extract: Some(true),
            cache: None,
            output_file: None,
        }));
        let command = match (&app.cmd, &app.args) {
            (Some(cmd), _) => CommandInfo {
                value: Some(cmd.clone()),
                shell: Some(true),
                ..Default::default()
            },
            (None, Some(args)) => CommandInfo {
                shell: Some(false),
                value: args.first().cloned(),
                arguments: args.clone(),
                ..Default::default()
            },
            (None, None) => CommandInfo {
                shell: Some(false),
                ..Default::default()
            },
        };
        let command = CommandInfo {
            uris,
            environment: Some(Environment { variables: env }),
            user: app.user.clone(),
            ..command
        };
        let labels: Vec<Label> = app
            .labels
            .iter()
            .map(|(k, v)| Label {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        let discovery = json!({
            "visibility": "FRAMEWORK", "name": hostname_of(&app.id),
            "ports": {"ports": defs.iter().zip(&ports).map(|(d, p)| {
                let mut v = json!({"number": p, "protocol": d.protocol});
                if let Some(n) = &d.name { v["name"] = json!(n); }
                v
            }).collect::<Vec<_>>()},
        });
        let task = TaskInfo {
            name: hostname_of(&app.id),
            task_id: TaskID::new(task_id),
            agent_id: offer.agent_id.clone(),
            resources: res,
            executor: None,
            command: Some(command),
            container: mesos_container(&app, &ports),
            health_check: app
                .health_checks
                .first()
                .and_then(|hc| mesos_health_check(hc, &ports)),
            check: None,
            kill_policy: app.task_kill_grace_period_seconds.map(|g| KillPolicy {
                grace_period: Some(DurationInfo {
                    nanoseconds: (g * 1e9) as u64,
                }),
            }),
            data: None,
            labels: if labels.is_empty() {
                None
            } else {
                Some(Labels { labels })
            },
            discovery: Some(discovery),
            max_completion_time: None,
        };
        let _ = parent_of;
        Ok((task, used, ports))
    }

    // ------------------------------------------------------------------ updates

    /// A status update for one of our tasks. Returns the calls to make (ack, kills, revive).
    pub fn update(&mut self, status: &TaskStatus, now_unix: f64) -> Calls {
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
        // Health from checks the agent runs (MESOS_HTTP, MESOS_TCP, COMMAND).
        let mut health_changed = None;
        if let Some(h) = status.healthy {
            if inst.healthy != Some(h) {
                health_changed = Some(h);
            }
            inst.healthy = Some(h);
            if h {
                inst.consecutive_failures = 0;
                inst.last_success = Some(now_unix);
            } else {
                inst.consecutive_failures += 1;
                inst.last_failure = Some(now_unix);
                inst.last_failure_cause = status.message.clone();
            }
        }
        if status.state == TaskState::TASK_RUNNING && inst.started_at.is_none() {
            inst.started_at = Some(now_unix);
        }
        let inst = inst.clone();
        if let Some(alive) = health_changed {
            self.emit("health_status_changed_event", json!({"appId": inst.app_id, "taskId": tid, "instanceId": tid, "version": inst.version, "alive": alive}));
        }
        self.emit(
            "status_update_event",
            json!({"slaveId": inst.agent_id, "taskId": tid, "taskStatus": status.state, "message": status.message.clone().unwrap_or_default(),
                   "appId": inst.app_id, "host": inst.host, "ports": inst.ports, "ipAddresses": [], "version": inst.version}),
        );
        if prev != status.state {
            self.emit(
                "instance_changed_event",
                json!({"instanceId": tid, "condition": condition(status.state), "runSpecId": inst.app_id, "agentId": inst.agent_id, "host": inst.host, "runSpecVersion": inst.version}),
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
                    let delay = (app.backoff_seconds * app.backoff_factor.powi(b.failures as i32))
                        .min(app.max_launch_delay_seconds);
                    b.failures += 1;
                    b.until = now_unix + delay;
                }
                self.last_failure.insert(
                    inst.app_id.clone(),
                    json!({"appId": inst.app_id, "host": inst.host, "message": status.message.clone().unwrap_or_default(),
                           "state": status.state, "taskId": tid, "timestamp": iso(now_unix), "version": inst.version, "slaveId": inst.agent_id}),
                );
            }
        } else if status.state == TaskState::TASK_UNREACHABLE {
            // Replaced elsewhere: the planner no longer counts it; it is killed if it comes back.
            calls.extend(self.kill_instance(&tid));
            self.drop_instance(&tid);
            self.write(vec![Op::Delete(format!("marathon/instances/{tid}"))]);
        } else {
            self.write(vec![self.persist_instance(&inst)]);
            if status.state == TaskState::TASK_RUNNING {
                if let Some(b) = self.backoff.get_mut(&inst.app_id) {
                    b.failures = 0;
                }
            }
        }
        calls.extend(self.reconcile_plans(now_unix));
        calls
    }

    /// Record a health check result for an instance (Marathon-run checks).
    pub fn health_result(
        &mut self,
        task_id: &str,
        ok: bool,
        cause: Option<String>,
        max_failures: u32,
        now_unix: f64,
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
            i.last_success = Some(now_unix);
        } else {
            i.consecutive_failures += 1;
            i.last_failure = Some(now_unix);
            i.last_failure_cause = cause;
            if i.consecutive_failures >= max_failures.max(1) {
                i.healthy = Some(false);
            }
        }
        let i = i.clone();
        if before != i.healthy {
            if let Some(h) = i.healthy {
                self.emit("health_status_changed_event", json!({"appId": i.app_id, "taskId": i.task_id, "instanceId": i.task_id, "version": i.version, "alive": h}));
            }
        }
        let mut calls = Vec::new();
        if i.healthy == Some(false) && !i.killing && !self.kill_governor_allows(&i.app_id) {
            let engaged = self.governed.insert(i.app_id.clone());
            self.rendered.remove(&i.app_id);
            if engaged {
                tracing::warn!(app_id = %i.app_id, "kill governor engaged: most instances fail their checks at once; not killing them");
                self.emit("kill_governor_event", json!({"appId": i.app_id, "engaged": true,
                    "reason": "most instances are unhealthy at once: the check is the likelier fault, so none are killed until checks recover"}));
            }
        }
        if self.governed.contains(&i.app_id) && self.kill_governor_allows(&i.app_id) {
            self.governed.remove(&i.app_id);
            self.rendered.remove(&i.app_id);
            self.emit(
                "kill_governor_event",
                json!({"appId": i.app_id, "engaged": false, "reason": "checks recovered"}),
            );
        }
        if i.healthy == Some(false) && !i.killing && self.kill_governor_allows(&i.app_id) {
            // Replace it: the planner counts it as not healthy and launches a replacement
            // before this one is gone (it is killed once it is marked killing).
            tracing::info!(task_id, "instance unhealthy: replacing it");
            calls.extend(self.kill_instance(task_id));
        }
        calls.extend(self.reconcile_plans(now_unix));
        calls
    }

    /// Record a readiness check result (Marathon-run, HTTP).
    pub fn readiness_result(
        &mut self,
        task_id: &str,
        ready: bool,
        result: Value,
        now_unix: f64,
    ) -> Calls {
        if let Some(i) = self.instances.get_mut(task_id) {
            i.ready |= ready;
            i.last_readiness = Some(result);
            let app = i.app_id.clone();
            self.touch(app);
        }
        self.reconcile_plans(now_unix)
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

    /// After (re-)subscribing: ask the master about every instance we believe in.
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

    pub fn reset_delay(&mut self, app_id: &str) -> bool {
        self.backoff.remove(app_id).is_some() || self.apps.contains_key(app_id)
    }
}

/// Marathon's `container` as the Mesos `ContainerInfo` the agent runs: a Docker image with its
/// network, port mappings onto the ports taken from the offer, volumes and parameters.
fn mesos_container(app: &App, ports: &[u32]) -> Option<Value> {
    let c = app.container.as_ref()?;
    if !app.is_docker() {
        return Some(json!({"type": "MESOS"}));
    }
    let d = c.get("docker").cloned().unwrap_or(json!({}));
    let network = app.docker_network();
    let mappings: Vec<Value> = if network == "HOST" {
        vec![]
    } else {
        app.port_mappings()
            .iter()
            .zip(ports)
            .map(|(m, host)| {
                let container_port = m.get("containerPort").and_then(|p| p.as_u64()).filter(|p| *p != 0).unwrap_or(*host as u64);
                json!({"host_port": host, "container_port": container_port, "protocol": m.get("protocol").and_then(|p| p.as_str()).unwrap_or("tcp")})
            })
            .collect()
    };
    let volumes: Vec<Value> = c
        .get("volumes")
        .and_then(|v| v.as_array())
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    Some(json!({"container_path": v.get("containerPath")?, "host_path": v.get("hostPath")?,
                                "mode": v.get("mode").and_then(|m| m.as_str()).unwrap_or("RW")}))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({
        "type": "DOCKER",
        "docker": {
            "image": d.get("image").cloned().unwrap_or(Value::Null),
            "network": network,
            "port_mappings": mappings,
            "privileged": d.get("privileged").cloned().unwrap_or(json!(false)),
            "force_pull_image": d.get("forcePullImage").cloned().unwrap_or(json!(false)),
            "parameters": d.get("parameters").cloned().unwrap_or(json!([])),
        },
        "volumes": volumes,
    });
    if network == "USER" {
        if let Some(name) = app
            .networks
            .as_ref()
            .and_then(|n| n.get(0))
            .and_then(|n| n.get("name"))
            .and_then(|n| n.as_str())
        {
            out["network_infos"] = json!([{"name": name}]);
        }
    }
    Some(out)
}

/// Marathon's MESOS_HTTP / MESOS_HTTPS / MESOS_TCP / COMMAND checks, as the Mesos `HealthCheck`
/// the agent runs next to the task (so they scale with the cluster, not with Marathon).
fn mesos_health_check(hc: &drover_api::marathon::HealthCheck, ports: &[u32]) -> Option<Value> {
    let port = hc
        .port
        .or_else(|| ports.get(hc.port_index.unwrap_or(0) as usize).copied());
    let mut v = json!({
        "delay_seconds": hc.delay_seconds.unwrap_or(0.0), "interval_seconds": hc.interval_seconds,
        "timeout_seconds": hc.timeout_seconds, "consecutive_failures": hc.max_consecutive_failures,
        "grace_period_seconds": hc.grace_period_seconds,
    });
    match hc.protocol.as_str() {
        "MESOS_HTTP" | "MESOS_HTTPS" => {
            v["type"] = json!("HTTP");
            v["http"] = json!({"port": port?, "path": hc.path.clone().unwrap_or_else(|| "/".into()),
                               "scheme": if hc.protocol == "MESOS_HTTPS" { "https" } else { "http" }});
        }
        "MESOS_TCP" => {
            v["type"] = json!("TCP");
            v["tcp"] = json!({"port": port?});
        }
        "COMMAND" => {
            v["type"] = json!("COMMAND");
            let cmd = hc.command.as_ref()?;
            v["command"] = match cmd.get("value") {
                Some(_) => json!({"value": cmd["value"], "shell": true}),
                None => json!({"value": cmd, "shell": true}),
            };
        }
        _ => return None,
    }
    Some(v)
}

/// The `n`th port of a coalesced range list.
fn nth_port(ranges: &[Range], mut n: u64) -> u64 {
    for r in ranges {
        let len = r.end - r.begin + 1;
        if n < len {
            return r.begin + n;
        }
        n -= len;
    }
    ranges.last().map(|r| r.end).unwrap_or(0)
}

/// The version of an app's configuration (not of its scale).
fn config_version(app: &App) -> &str {
    app.extra
        .get("lastConfigChangeAt")
        .and_then(|v| v.as_str())
        .or(app.version.as_deref())
        .unwrap_or_default()
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

/// Whether `b` differs from `a` only in `instances` (a scale, not a restart).
fn only_scaled(a: &App, b: &App) -> bool {
    let mut x = a.clone();
    let mut y = b.clone();
    x.instances = 0;
    y.instances = 0;
    for z in [&mut x, &mut y] {
        z.version = None;
        z.extra.remove("lastScalingAt");
        z.extra.remove("lastConfigChangeAt");
        z.extra.remove("versionInfo");
    }
    x == y
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
    fn iso_timestamps() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1795597660.5), "2026-11-25T09:07:40.500Z");
    }

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

    #[test]
    fn scaling_is_not_a_restart() {
        let a: App = serde_json::from_str(r#"{"id":"/a","cmd":"x","instances":1}"#).unwrap();
        let mut b = a.clone();
        b.instances = 5;
        assert!(only_scaled(&a, &b));
        b.cmd = Some("y".into());
        assert!(!only_scaled(&a, &b));
    }
}
