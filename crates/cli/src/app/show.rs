//! `drover app show <id>`: an app's definition and state as `label: value` lines (instances,
//! resources, ports, image, constraints, health checks, env, labels, version, deployments, kill
//! governor, last failure), then a table of its tasks.

use super::{app_call, command_of, has_health_checks};
use crate::args::MarathonArgs;
use crate::client::Client;
use crate::error::Error;
use crate::render::{labelled, num, outln, print_json, table, truncate, value_text};
use crate::views::{AppEnvelope, AppStatus, CommandView, MarathonTask};
use comfy_table::Table;
use reqwest::Method;
use serde::Deserialize;

pub(super) async fn show(api: &Client, c: &MarathonArgs, id: &str) -> Result<(), Error> {
    let v: AppEnvelope = app_call(
        api,
        id,
        Method::GET,
        "",
        &[("embed", "app.tasks"), ("embed", "app.lastTaskFailure")],
        None,
    )
    .await?;
    if c.json {
        print_json(&v.app);
        return Ok(());
    }
    let a = &v.app.view;
    outln!("{}", labelled(&rows(a)));
    outln!();
    match tasks_table(a) {
        Some(t) => outln!("{t}"),
        None => outln!("no tasks"),
    }
    Ok(())
}

fn rows(a: &AppStatus) -> Vec<(&'static str, String)> {
    let d = &a.def;
    let mut rows: Vec<(&str, String)> = Vec::new();
    rows.push(("id", d.id.clone()));
    rows.push(("cmd", command_of(a)));
    let mut inst = format!("{}/{} running", a.tasks_running, d.instances);
    if a.tasks_staged > 0 {
        inst.push_str(&format!(", {} staging", a.tasks_staged));
    }
    if has_health_checks(a) {
        inst.push_str(&format!(
            ", {} healthy, {} unhealthy",
            a.tasks_healthy, a.tasks_unhealthy
        ));
    }
    rows.push(("instances", inst));
    let mut res = format!(
        "cpus {}, mem {} MiB, disk {} MiB",
        num(d.cpus),
        num(d.mem),
        num(d.disk)
    );
    if d.gpus > 0 {
        res.push_str(&format!(", gpus {}", d.gpus));
    }
    rows.push(("resources", res));
    let ports: Vec<String> = d
        .port_definitions
        .iter()
        .flatten()
        .map(|p| {
            let mut s = format!("{}/{}", p.port, p.protocol);
            if let Some(n) = &p.name {
                s.push_str(&format!(" ({n})"));
            }
            s
        })
        .collect();
    if !ports.is_empty() {
        rows.push(("ports", ports.join(", ")));
    }
    if let Some(img) = a
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.image.as_ref())
    {
        rows.push(("image", img.clone()));
    }
    if !d.constraints.is_empty() {
        rows.push((
            "constraints",
            serde_json::to_string(&d.constraints).unwrap_or_default(),
        ));
    }
    for (i, hc) in d.health_checks.iter().enumerate() {
        let what = match hc.protocol.as_str() {
            p @ ("COMMAND" | "MESOS_COMMAND") => {
                let cmd = hc
                    .command
                    .as_ref()
                    .and_then(|c| CommandView::deserialize(c).ok())
                    .map(|c| c.value)
                    .unwrap_or_default();
                format!("{p} {cmd}")
            }
            p => format!("{p} {}", hc.path.clone().unwrap_or_default()),
        };
        rows.push((
            if i == 0 { "health check" } else { "" },
            format!(
                "{} every {} s, timeout {} s, {} failures allowed",
                what.trim(),
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.max_consecutive_failures
            ),
        ));
    }
    if !d.env.is_empty() {
        let env: Vec<String> = d
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        rows.push(("env", env.join(" ")));
    }
    if !d.labels.is_empty() {
        let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(("labels", labels.join(" ")));
    }
    rows.push(("version", d.version.clone().unwrap_or_default()));
    if let Some(at) = &a.version_info.last_config_change_at {
        rows.push(("config changed", at.clone()));
    }
    let deps: Vec<&str> = a.deployments.iter().map(|d| d.id.as_str()).collect();
    rows.push((
        "deployments",
        if deps.is_empty() {
            "none".into()
        } else {
            deps.join(", ")
        },
    ));
    if let Some(g) = &a.kill_governor {
        let state = if g.engaged { "ENGAGED" } else { "released" };
        rows.push(("kill governor", format!("{state}: {}", g.reason)));
    }
    if let Some(f) = &a.last_task_failure {
        let mut line = format!("{} on {} at {}", f.state.as_str(), f.host, f.timestamp);
        if let Some(m) = f.message.as_deref().filter(|m| !m.is_empty()) {
            line.push_str(&format!(": {m}"));
        }
        line.push_str(&format!(" (task {})", f.task_id));
        rows.push(("last failure", line));
    }
    rows
}

fn health_of(task: &MarathonTask, app_has_checks: bool) -> String {
    if !app_has_checks {
        return "-".into();
    }
    let results = &task.health_check_results;
    if results.is_empty() {
        return "unknown".into();
    }
    let Some(r) = results.iter().find(|r| !r.alive) else {
        return "healthy".into();
    };
    let mut out = format!("unhealthy ({} failures", r.consecutive_failures);
    if let Some(cause) = &r.last_failure_cause {
        out.push_str(&format!(": {}", truncate(cause, 40)));
    }
    out.push(')');
    out
}

/// The app's tasks, oldest first, each marked `(old)` when it runs an earlier configuration.
fn tasks_table(a: &AppStatus) -> Option<Table> {
    let mut tasks: Vec<&MarathonTask> = a.tasks.iter().collect();
    if tasks.is_empty() {
        return None;
    }
    tasks.sort_by_key(|t| t.staged_at.clone().unwrap_or_default());
    let checks = has_health_checks(a);
    let current = a
        .version_info
        .last_config_change_at
        .clone()
        .unwrap_or_default();
    let mut t = table(&[
        "TASK", "HOST", "PORTS", "STATE", "HEALTH", "STARTED", "VERSION",
    ]);
    for x in tasks {
        let ports: Vec<String> = x.ports.iter().map(|p| p.to_string()).collect();
        let version = x.version.clone().unwrap_or_default();
        let old = !current.is_empty() && version.as_str() < current.as_str();
        t.add_row(vec![
            x.id.clone(),
            x.host.clone(),
            ports.join(","),
            x.state.as_str().to_string(),
            health_of(x, checks),
            x.started_at.clone().unwrap_or_default(),
            if old {
                format!("{version} (old)")
            } else {
                version
            },
        ]);
    }
    Some(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    fn app() -> AppStatus {
        serde_json::from_value(json!({
            "id": "/web", "cmd": "sleep 600", "instances": 2, "cpus": 0.5, "mem": 64, "disk": 0,
            "env": {"A": "1"}, "labels": {"team": "x"}, "constraints": [["hostname", "UNIQUE"]],
            "portDefinitions": [{"port": 10000, "protocol": "tcp", "name": "http"}],
            "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "intervalSeconds": 5,
                              "timeoutSeconds": 2, "maxConsecutiveFailures": 3}],
            "version": "2026-01-02T00:00:00.000Z",
            "versionInfo": {"lastConfigChangeAt": "2026-01-02T00:00:00.000Z"},
            "tasksRunning": 2, "tasksHealthy": 1, "tasksUnhealthy": 1, "deployments": [],
            "killGovernor": {"engaged": true, "reason": "most are unhealthy"},
            "lastTaskFailure": {"state": "TASK_FAILED", "host": "h1", "timestamp": "t1", "message": "exit 1", "taskId": "web.0"},
            "tasks": [
                {"id": "web.2", "host": "h1", "ports": [31001], "state": "TASK_RUNNING", "stagedAt": "2",
                 "startedAt": "s2", "version": "2026-01-02T00:00:00.000Z", "healthCheckResults": [{"alive": true}]},
                {"id": "web.1", "host": "h2", "ports": [31000, 31002], "state": "TASK_RUNNING", "stagedAt": "1",
                 "version": "2026-01-01T00:00:00.000Z",
                 "healthCheckResults": [{"alive": false, "consecutiveFailures": 4, "lastFailureCause": "exit 1"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn show_lists_the_definition_and_state() {
        let text = labelled(&rows(&app()));
        assert_eq!(
            text,
            "id:              /web
cmd:             sleep 600
instances:       2/2 running, 1 healthy, 1 unhealthy
resources:       cpus 0.50, mem 64 MiB, disk 0 MiB
ports:           10000/tcp (http)
constraints:     [[\"hostname\",\"UNIQUE\"]]
health check:    COMMAND true every 5 s, timeout 2 s, 3 failures allowed
env:             A=1
labels:          team=x
version:         2026-01-02T00:00:00.000Z
config changed:  2026-01-02T00:00:00.000Z
deployments:     none
kill governor:   ENGAGED: most are unhealthy
last failure:    TASK_FAILED on h1 at t1: exit 1 (task web.0)"
        );
    }

    #[test]
    fn the_tasks_table_is_oldest_first_with_health_and_old_versions_marked() {
        let t = tasks_table(&app()).unwrap();
        assert_eq!(
            cells(&t),
            [
                [
                    "web.1",
                    "h2",
                    "31000,31002",
                    "TASK_RUNNING",
                    "unhealthy (4 failures: exit 1)",
                    "",
                    "2026-01-01T00:00:00.000Z (old)"
                ],
                [
                    "web.2",
                    "h1",
                    "31001",
                    "TASK_RUNNING",
                    "healthy",
                    "s2",
                    "2026-01-02T00:00:00.000Z"
                ],
            ]
        );
    }
}
