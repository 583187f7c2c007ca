//! The JSON Marathon shows for apps (with counts, deployments, the embeds clients ask for and
//! the kill governor), tasks and groups.

use crate::core::json::definition;
use crate::core::{iso, Instance, Marathon};
use drover_api::marathon::App;
use drover_api::TaskState;
use serde_json::{json, Value};

/// A task as Marathon shows it, with its app's service ports (Marathon fills them in on
/// `/v2/tasks` only; Drover everywhere, so a load balancer reading `embed=apps.tasks` finds
/// them).
pub fn task_json(m: &Marathon, i: &Instance) -> Value {
    let mut hc = Vec::new();
    if i.healthy.is_some() || i.consecutive_failures > 0 {
        hc.push(json!({
            "alive": i.healthy == Some(true) && i.consecutive_failures == 0, "consecutiveFailures": i.consecutive_failures, "taskId": i.task_id, "instanceId": i.task_id,
            "firstSuccess": i.last_success.map(iso), "lastSuccess": i.last_success.map(iso), "lastFailure": i.last_failure.map(iso),
            "lastFailureCause": i.last_failure_cause,
        }));
    }
    json!({
        "id": i.task_id, "appId": i.app_id, "host": i.host, "ports": i.ports,
        "servicePorts": m.apps.get(&i.app_id).map(|a| a.service_ports()).unwrap_or_default(),
        "stagedAt": iso(i.staged_at), "startedAt": i.started_at.map(iso), "version": i.version,
        "slaveId": i.agent_id, "state": i.state, "healthCheckResults": hc,
        "ipAddresses": [{"ipAddress": i.host, "protocol": "IPv4"}], "localVolumes": local_volumes(m, i),
        "role": m.apps.get(&i.app_id).and_then(|a| a.role.clone()).unwrap_or_else(|| m.role.clone()),
    })
}

/// A resident instance's persistent volumes, as Marathon lists them with its task.
fn local_volumes(m: &Marathon, i: &Instance) -> Value {
    let (Some(rid), Some(app)) = (&i.reservation, m.apps.get(&i.app_id)) else {
        return json!([]);
    };
    json!(crate::resident::volumes(app)
        .into_iter()
        .map(|v| json!({"containerPath": v.container_path, "persistenceId": format!("{rid}#{}", v.container_path)}))
        .collect::<Vec<_>>())
}

fn counts(m: &Marathon, app: &App) -> (usize, usize, usize, usize) {
    let insts: Vec<&Instance> = m.app_instances(&app.id);
    let staged = insts
        .iter()
        .filter(|i| matches!(i.state, TaskState::TASK_STAGING | TaskState::TASK_STARTING))
        .count();
    let running = insts.iter().filter(|i| i.running()).count();
    let healthy = if app.health_checks.is_empty() {
        0
    } else {
        insts
            .iter()
            .filter(|i| i.running() && i.healthy == Some(true) && i.consecutive_failures == 0)
            .count()
    };
    // Marathon counts a task unhealthy when its last check failed.
    let unhealthy = if app.health_checks.is_empty() {
        0
    } else {
        insts
            .iter()
            .filter(|i| i.running() && (i.healthy == Some(false) || i.consecutive_failures > 0))
            .count()
    };
    (staged, running, healthy, unhealthy)
}

pub fn app_json(m: &Marathon, app: &App, embed: &[&str]) -> Value {
    let mut v = definition(app);
    let (staged, running, healthy, unhealthy) = counts(m, app);
    v["tasksStaged"] = json!(staged);
    v["tasksRunning"] = json!(running);
    v["tasksHealthy"] = json!(healthy);
    v["tasksUnhealthy"] = json!(unhealthy);
    let deps: Vec<Value> = m
        .deployments
        .values()
        .filter(|d| d.affected_apps.contains(&app.id))
        .map(|d| json!({"id": d.id}))
        .collect();
    v["deployments"] = json!(deps);
    let has = |k: &str| {
        embed.iter().any(|e| {
            *e == k
                || *e == format!("apps.{k}")
                || *e == format!("app.{k}")
                || *e == format!("group.apps.{k}")
        })
    };
    if has("tasks") {
        v["tasks"] = json!(m
            .app_instances(&app.id)
            .into_iter()
            .map(|i| task_json(m, i))
            .collect::<Vec<_>>());
    }
    if has("lastTaskFailure") || has("failures") {
        if let Some(f) = m.last_failure.get(&app.id) {
            v["lastTaskFailure"] = f.clone();
        }
    }
    if has("readiness") {
        v["readinessCheckResults"] = json!(m
            .app_instances(&app.id)
            .into_iter()
            .filter_map(|i| i.last_readiness.clone())
            .collect::<Vec<_>>());
    }
    // Drover's: only when asked for (marathon-python refuses app fields it does not know).
    if has("killGovernor") && m.governed.contains(&app.id) {
        v["killGovernor"] = json!({"engaged": true, "reason": "most instances are unhealthy at once: not killing them (the check is the likelier fault)"});
    }
    v
}

pub fn group_json(m: &Marathon, gid: &str, embed: &[&str]) -> Value {
    let prefix = if gid == "/" {
        "/".to_string()
    } else {
        format!("{gid}/")
    };
    let apps: Vec<Value> = m
        .apps
        .values()
        .filter(|a| a.id.starts_with(&prefix) && !a.id[prefix.len()..].contains('/'))
        .map(|a| app_json(m, a, embed))
        .collect();
    let mut subgroups: Vec<String> = m
        .apps
        .keys()
        .filter(|a| a.starts_with(&prefix) && a[prefix.len()..].contains('/'))
        .map(|a| {
            format!(
                "{prefix}{}",
                a[prefix.len()..].split('/').next().unwrap_or_default()
            )
        })
        .collect();
    subgroups.sort();
    subgroups.dedup();
    let version = m
        .apps
        .values()
        .filter(|a| a.id.starts_with(&prefix))
        .filter_map(|a| a.version.clone())
        .max()
        .or_else(|| m.root_version.clone())
        .unwrap_or_else(|| iso(0.0));
    json!({
        "id": gid, "apps": apps, "pods": [], "dependencies": [], "version": version,
        "groups": subgroups.iter().map(|g| group_json(m, g, embed)).collect::<Vec<_>>(),
    })
}
