//! The typed commands the REST API hands the core. A handler decodes its request into one of
//! these, [`Marathon::execute`] runs it with Marathon's checks (404 for an app, group, task or
//! deployment that does not exist; 409 for an app or group that exists or a deployment in
//! progress, unless forced; 422 for a definition that is not valid) and returns what happened
//! with the scheduler calls to make, and the handler encodes it. [`Marathon::dry_run`] plans
//! the deployment an app or group command would start, with the same code, changing nothing.

use super::{Calls, DeployPlan, Deployment, Instance, Marathon};
use crate::planner;
use crate::validate::{canonical_id, validate_app};
use crate::MarathonError;
use drover_api::marathon::{App, ValidationDetail};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Changes to apps, each starting one deployment.
// One per request, moved once: not worth boxing the app.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum AppCommand {
    /// `POST /v2/apps`: a new app, validated ([`crate::validate::validate_app`]; 409 when an
    /// app or a group of that id exists).
    Create { app: App, force: bool },
    /// `PUT /v2/apps/{id}`: create or replace `id`; with `partial`, `patch` (a JSON object) is
    /// laid over the stored definition (`cmd` and `args` replace each other).
    Update {
        id: String,
        patch: Value,
        partial: bool,
        force: bool,
    },
    /// `PUT /v2/apps`: partial updates of several apps (each patch names its `id`), one
    /// deployment.
    UpdateMany { patches: Vec<Value>, force: bool },
    /// `POST /v2/apps/{id}/restart`: every instance replaced, even if nothing changed.
    Restart { id: String, force: bool },
    /// `DELETE /v2/apps/{id}`.
    Delete { id: String, force: bool },
}

/// Changes to groups (every app under an id), each starting one deployment.
#[derive(Clone, Debug)]
pub enum GroupCommand {
    /// `POST /v2/groups` (`replace` false: the apps are created or updated) and
    /// `PUT /v2/groups` (`replace` true: apps of the group not in `apps` are removed).
    Update {
        id: String,
        apps: Vec<App>,
        replace: bool,
        force: bool,
    },
    /// A group body with `scaleBy`: every app of the group scaled by the factor (rounded up).
    Scale { id: String, by: f64, force: bool },
    /// `DELETE /v2/groups/{id}`: every app of the group removed.
    Delete { id: String, force: bool },
}

/// Kills of tasks; with `scale`, their apps' instance counts are lowered by as many (one
/// deployment), so they are not replaced.
#[derive(Clone, Debug)]
pub enum KillCommand {
    /// `DELETE /v2/apps/{id}/tasks[?host=]`: the app's tasks (on one host).
    AppTasks {
        app: String,
        host: Option<String>,
        scale: bool,
        force: bool,
    },
    /// `DELETE /v2/apps/{id}/tasks/{task}`.
    AppTask {
        app: String,
        task: String,
        scale: bool,
        force: bool,
    },
    /// `POST /v2/tasks/delete`: tasks by id (unknown ids are skipped).
    Tasks {
        ids: Vec<String>,
        scale: bool,
        force: bool,
    },
}

/// Deployments in progress.
#[derive(Clone, Debug)]
pub enum DeploymentCommand {
    /// `DELETE /v2/deployments/{id}`: with `force`, stop it where it is; without, roll its
    /// apps back to their `previous` definitions (apps absent from it are removed) with a new
    /// deployment. The driver reads `previous` from the store
    /// ([`super::previous_definitions`]).
    Cancel {
        id: String,
        force: bool,
        previous: HashMap<String, App>,
    },
}

/// A deployment that started.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub deployment: Deployment,
    /// The app did not exist before (`PUT /v2/apps/{id}` answers 201 then).
    pub created: bool,
}

/// Tasks being killed.
#[derive(Clone, Debug)]
pub struct Killed {
    /// The tasks, as they were before the kill.
    pub tasks: Vec<Instance>,
    /// With `scale`: the deployment that lowers their apps' instance counts.
    pub deployment: Option<Deployment>,
}

/// A command [`Marathon::execute`] runs.
pub trait Command {
    type Output;
    /// Run against the core at `now`, adding the scheduler calls it needs to `calls`.
    fn run(
        self,
        m: &mut Marathon,
        now: f64,
        calls: &mut Calls,
    ) -> Result<Self::Output, MarathonError>;
}

/// What a command that deploys asks for, once checked against the state.
#[derive(Clone, Debug)]
pub struct DeployRequest {
    pub apps: Vec<App>,
    pub removed: Vec<String>,
    pub force: bool,
    pub restart: bool,
    pub created: bool,
    /// The `api_post_event` to emit: the URI and the definition posted.
    pub announce: Option<(String, App)>,
}

/// Commands that start a deployment: they can be planned without running ([`Marathon::dry_run`]).
pub trait Deploys {
    /// Check the command against the state and say what it deploys.
    fn request(self, m: &Marathon) -> Result<DeployRequest, MarathonError>;
}

/// The deployment a command would start, and what the planner would do about each app right
/// away: the same values a real run computes.
#[derive(Clone, Debug)]
pub struct DryRun {
    pub plan: DeployPlan,
    pub apps: Vec<AppChange>,
}

/// One app of a dry run.
#[derive(Clone, Debug, PartialEq)]
pub struct AppChange {
    pub app: String,
    pub action: String,
    /// The step (0-based) of the deployment the app is in.
    pub step: usize,
    /// Instances wanted before (None: a new app) and after (0: removed).
    pub instances_before: Option<i64>,
    pub instances_after: i64,
    /// Instances the planner would queue for launch now (launched once its step is current).
    pub launch: usize,
    /// Tasks the planner would kill now.
    pub kill: Vec<String>,
    /// The fields of its definition that change (none for a new or removed app).
    pub changes: Vec<String>,
    /// Whether its running tasks are replaced (a new command, image, resources…) or keep
    /// running (a scale, labels, the upgrade strategy…).
    pub restart: bool,
}

impl Deploys for AppCommand {
    fn request(self, m: &Marathon) -> Result<DeployRequest, MarathonError> {
        let one =
            |app: App, force: bool, created: bool, announce: Option<(String, App)>| DeployRequest {
                apps: vec![app],
                removed: vec![],
                force,
                restart: false,
                created,
                announce,
            };
        Ok(match self {
            AppCommand::Create { app, force } => {
                if m.apps.contains_key(&app.id) {
                    return Err(MarathonError::AppExists(app.id.clone()));
                }
                if m.apps
                    .keys()
                    .any(|a| a.starts_with(&format!("{}/", app.id)))
                {
                    return Err(MarathonError::GroupExists(app.id.clone()));
                }
                one(app.clone(), force, true, Some(("/v2/apps".into(), app)))
            }
            AppCommand::Update {
                id,
                patch,
                partial,
                force,
            } => {
                let existing = m.apps.get(&id);
                let app = merge(existing, &id, &patch, partial)?;
                let uri = format!("/v2/apps{id}");
                one(app.clone(), force, existing.is_none(), Some((uri, app)))
            }
            AppCommand::UpdateMany { patches, force } => {
                let mut apps = Vec::new();
                for (i, p) in patches.iter().enumerate() {
                    let id = p.get("id").and_then(|v| v.as_str()).ok_or_else(|| {
                        MarathonError::Invalid(vec![ValidationDetail {
                            path: format!("({i})/id"),
                            errors: vec!["is required".into()],
                        }])
                    })?;
                    let id = canonical_id(id, "/");
                    apps.push(merge(m.apps.get(&id), &id, p, true)?);
                }
                DeployRequest {
                    apps,
                    removed: vec![],
                    force,
                    restart: false,
                    created: false,
                    announce: None,
                }
            }
            AppCommand::Restart { id, force } => DeployRequest {
                restart: true,
                ..one(m.app(&id)?.clone(), force, false, None)
            },
            AppCommand::Delete { id, force } => {
                m.app(&id)?;
                DeployRequest {
                    apps: vec![],
                    removed: vec![id],
                    force,
                    restart: false,
                    created: false,
                    announce: None,
                }
            }
        })
    }
}

impl Deploys for GroupCommand {
    fn request(self, m: &Marathon) -> Result<DeployRequest, MarathonError> {
        let under = |id: &str| {
            let prefix = group_prefix(id);
            m.apps
                .keys()
                .filter(|a| a.starts_with(&prefix))
                .cloned()
                .collect::<Vec<String>>()
        };
        let (apps, removed, force) = match self {
            GroupCommand::Update {
                id,
                apps,
                replace,
                force,
            } => {
                let removed = if replace {
                    under(&id)
                        .into_iter()
                        .filter(|a| !apps.iter().any(|x| &x.id == a))
                        .collect()
                } else {
                    vec![]
                };
                (apps, removed, force)
            }
            GroupCommand::Scale { id, by, force } => {
                let apps = under(&id)
                    .iter()
                    .filter_map(|a| m.apps.get(a).cloned())
                    .map(|mut a| {
                        a.instances = ((a.instances as f64) * by).ceil() as i64;
                        a
                    })
                    .collect();
                (apps, vec![], force)
            }
            GroupCommand::Delete { id, force } => {
                let removed = under(&id);
                if removed.is_empty() && id != "/" {
                    return Err(MarathonError::GroupNotFound(id.to_string()));
                }
                (vec![], removed, force)
            }
        };
        Ok(DeployRequest {
            apps,
            removed,
            force,
            restart: false,
            created: false,
            announce: None,
        })
    }
}

impl Command for AppCommand {
    type Output = Deployed;
    fn run(self, m: &mut Marathon, now: f64, _: &mut Calls) -> Result<Deployed, MarathonError> {
        let r = self.request(m)?;
        m.start_request(r, now)
    }
}

impl Command for GroupCommand {
    type Output = Deployed;
    fn run(self, m: &mut Marathon, now: f64, _: &mut Calls) -> Result<Deployed, MarathonError> {
        let r = self.request(m)?;
        m.start_request(r, now)
    }
}

impl Command for KillCommand {
    type Output = Killed;
    fn run(self, m: &mut Marathon, now: f64, calls: &mut Calls) -> Result<Killed, MarathonError> {
        let (ids, scale, force) = match self {
            KillCommand::AppTasks {
                app,
                host,
                scale,
                force,
            } => {
                m.app(&app)?;
                let ids = m
                    .app_instances(&app)
                    .into_iter()
                    .filter(|i| host.as_ref().map(|h| &i.host == h).unwrap_or(true))
                    .map(|i| i.task_id.clone())
                    .collect();
                (ids, scale, force)
            }
            KillCommand::AppTask {
                app,
                task,
                scale,
                force,
            } => {
                m.app(&app)?;
                if !m
                    .instances
                    .get(&task)
                    .map(|i| i.app_id == app)
                    .unwrap_or(false)
                {
                    return Err(MarathonError::TaskNotFound {
                        app: app.to_string(),
                        task: task.to_string(),
                    });
                }
                (vec![task], scale, force)
            }
            KillCommand::Tasks { ids, scale, force } => {
                let known = ids
                    .into_iter()
                    .filter(|t| m.instances.contains_key(t))
                    .collect();
                (known, scale, force)
            }
        };
        m.kill_tasks(&ids, scale, force, now, calls)
    }
}

impl Command for DeploymentCommand {
    type Output = Option<Deployment>;
    fn run(
        self,
        m: &mut Marathon,
        now: f64,
        _: &mut Calls,
    ) -> Result<Option<Deployment>, MarathonError> {
        match self {
            DeploymentCommand::Cancel {
                id,
                force,
                previous,
            } => m.rollback(&id, force, &previous, now),
        }
    }
}

impl Marathon {
    /// Run one command at `now`: what it did, and the scheduler calls to make (its own, then
    /// the replan's).
    pub fn execute<C: Command>(
        &mut self,
        cmd: C,
        now: f64,
    ) -> Result<(C::Output, Calls), MarathonError> {
        let mut calls = Vec::new();
        let out = cmd.run(self, now, &mut calls)?;
        calls.extend(self.reconcile_plans(now));
        Ok((out, calls))
    }

    /// The deployment `cmd` would start at `now` and what the planner would do about each of
    /// its apps right away, or the error it would meet; nothing changes.
    pub fn dry_run(&self, cmd: impl Deploys, now: f64) -> Result<DryRun, MarathonError> {
        let r = cmd.request(self)?;
        let plan = self.plan_deploy(r.apps, r.removed, r.force, r.restart, now)?;
        let mut apps = Vec::new();
        for (step, actions) in plan.deployment.steps.iter().enumerate() {
            for (action, id) in actions {
                let before = self.apps.get(id).map(|a| a.instances);
                // The definition stored last for the id (a body may name an app twice).
                let change = match plan.apps.iter().rev().find(|a| &a.id == id) {
                    Some(app) if action != "StopApplication" => {
                        let p = planner::plan(&Self::target(app), &self.views(app));
                        (app.instances, p.launch, p.kill)
                    }
                    _ => {
                        let kill = self
                            .app_instances(id)
                            .into_iter()
                            .filter(|i| !i.killing)
                            .map(|i| i.task_id.clone())
                            .collect();
                        (0, 0, kill)
                    }
                };
                let fields = plan
                    .changes
                    .iter()
                    .find(|(a, _)| a == id)
                    .map(|(_, c)| c.fields.clone());
                apps.push(AppChange {
                    changes: fields.unwrap_or_default(),
                    restart: action == "RestartApplication",
                    app: id.clone(),
                    action: action.clone(),
                    step,
                    instances_before: before,
                    instances_after: change.0,
                    launch: change.1,
                    kill: change.2,
                });
            }
        }
        Ok(DryRun { plan, apps })
    }

    /// A dry run as JSON: the deployment as `/v2/deployments` would show it, with
    /// `"dryRun": true`, the deployments it would cancel (`supersedes`, forced) and, per app,
    /// its step (1-based), instances before and after, and the launches and kills the planner
    /// would ask for right away.
    pub fn dry_run_json(&self, dr: &DryRun) -> Value {
        let mut v = self.deployment_json(&dr.plan.deployment);
        v["dryRun"] = json!(true);
        v["supersedes"] = json!(dr.plan.superseded);
        v["apps"] = json!(dr
            .apps
            .iter()
            .map(|c| json!({
                "app": c.app, "action": c.action, "step": c.step + 1,
                "instances": {"from": c.instances_before, "to": c.instances_after},
                "launch": c.launch, "kill": c.kill, "changes": c.changes, "restart": c.restart,
            }))
            .collect::<Vec<_>>());
        v
    }

    fn start_request(&mut self, r: DeployRequest, now: f64) -> Result<Deployed, MarathonError> {
        let deployment = self.deploy(r.apps, r.removed, r.force, r.restart, now)?;
        if let Some((uri, app)) = r.announce {
            self.emit(
                "api_post_event",
                json!({"clientIp": "", "uri": uri, "appDefinition": super::json::definition(self.apps.get(&app.id).unwrap_or(&app))}),
                now,
            );
        }
        Ok(Deployed {
            deployment,
            created: r.created,
        })
    }

    /// Kill tasks; with `scale`, lower their apps' instance counts so they are not replaced.
    fn kill_tasks(
        &mut self,
        ids: &[String],
        scale: bool,
        force: bool,
        now: f64,
        calls: &mut Calls,
    ) -> Result<Killed, MarathonError> {
        let tasks: Vec<Instance> = ids
            .iter()
            .filter_map(|t| self.instances.get(t))
            .cloned()
            .collect();
        let mut deployment = None;
        if scale {
            let mut per_app: BTreeMap<String, i64> = BTreeMap::new();
            for i in &tasks {
                *per_app.entry(i.app_id.clone()).or_default() += 1;
            }
            let apps: Vec<App> = per_app
                .iter()
                .filter_map(|(id, n)| {
                    self.apps.get(id).cloned().map(|mut a| {
                        a.instances = (a.instances - n).max(0);
                        a
                    })
                })
                .collect();
            deployment = Some(self.deploy(apps, vec![], force, false, now)?);
        }
        for t in ids {
            calls.extend(self.kill_instance(t));
        }
        Ok(Killed { tasks, deployment })
    }
}

/// The prefix of the ids of a group's apps.
fn group_prefix(id: &str) -> String {
    if id == "/" {
        "/".to_string()
    } else {
        format!("{id}/")
    }
}

/// Lay a partial app body over an existing definition (Marathon's PUT semantics), or take it
/// whole, and validate the result.
fn merge(
    existing: Option<&App>,
    id: &str,
    patch: &Value,
    partial: bool,
) -> Result<App, MarathonError> {
    if !patch.is_object() {
        return Err(MarathonError::Invalid(vec![ValidationDetail {
            path: "/".into(),
            errors: vec!["expected a JSON object".into()],
        }]));
    }
    let mut base = match (existing, partial) {
        (Some(a), true) => serde_json::to_value(a).unwrap_or(json!({})),
        _ => json!({}),
    };
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        // What Marathon shows but no one sets (an app's JSON from GET, sent back): ignored.
        const SHOWN_ONLY: &[&str] = &[
            "version",
            "versionInfo",
            "tasksStaged",
            "tasksRunning",
            "tasksHealthy",
            "tasksUnhealthy",
            "deployments",
            "tasks",
            "lastTaskFailure",
            "readinessCheckResults",
            "taskStats",
            "killGovernor",
        ];
        for (k, v) in p.iter().filter(|(k, _)| !SHOWN_ONLY.contains(&k.as_str())) {
            b.insert(k.clone(), v.clone());
        }
        // cmd and args replace each other.
        if p.contains_key("cmd") && !p.contains_key("args") {
            b.remove("args");
        }
        if p.contains_key("args") && !p.contains_key("cmd") {
            b.remove("cmd");
        }
        // Legacy `ports` in a patch replace the port definitions.
        if p.contains_key("ports") && !p.contains_key("portDefinitions") {
            b.remove("portDefinitions");
        }
        b.insert("id".into(), json!(id));
        b.remove("version");
    }
    let app = crate::validate::app_from_value(base).map_err(MarathonError::Invalid)?;
    validate_app(app, "/").map_err(MarathonError::Invalid)
}
