//! `--dry-run` of `drover app add`, `update` and `scale`: the change goes to Marathon with
//! `dryRun=true`, which plans it with the code the real request runs, stores and launches
//! nothing, and answers the deployment it would start — or the 409 or 422 the request would
//! meet, which fail here as they fail the real command. Shown as a line saying what would
//! happen and a table of the deployment's steps; `--json` prints Marathon's answer.

use crate::args::MarathonArgs;
use crate::client::{Answer, Client};
use crate::error::Error;
use crate::render::{outln, print_json, short, table};
use crate::views::{DryRunFlag, DryRunPlan, Received};
use comfy_table::Table;
use serde::Deserialize;
use serde_json::Value;

/// The task ids a cell lists before it says how many more there are.
const KILLS_SHOWN: usize = 3;

/// Print the plan in `a`, the successful answer to a change sent with `dryRun=true`. `doing`
/// names the change in the summary: `updating`.
pub(super) fn print_plan(
    api: &Client,
    c: &MarathonArgs,
    doing: &str,
    a: Answer,
) -> Result<(), Error> {
    let plan = read_plan(api, a)?;
    if c.json {
        print_json(&plan);
        return Ok(());
    }
    outln!("{}", summary(doing, &plan));
    outln!("{}", plan_table(&plan));
    if let Some(n) = note(&plan) {
        outln!("{n}");
    }
    Ok(())
}

/// The plan, or why the answer is not one. A server that does not know `dryRun=true` runs the
/// change and answers it as usual: that is said, not read as an empty plan.
fn read_plan(api: &Client, a: Answer) -> Result<Received<DryRunPlan>, Error> {
    let request = a.request().to_string();
    let body: Value = api.decode(a)?;
    if !DryRunFlag::deserialize(&body).unwrap_or_default().dry_run {
        return Err(api.invalid(
            &request,
            "it is not a dry run's plan: a server that does not know dryRun=true made the change \
             (see `drover app show` and `drover deployment list`)"
                .into(),
        ));
    }
    Received::deserialize(body).map_err(|e| api.invalid(&request, e.to_string()))
}

/// `dry run: updating /web would start a deployment of 1 step; nothing was changed`, and the
/// deployments it would cancel.
fn summary(doing: &str, p: &DryRunPlan) -> String {
    let steps = match p.total_steps {
        1 => "1 step".to_string(),
        n => format!("{n} steps"),
    };
    let mut s = format!(
        "dry run: {doing} {} would start a deployment of {steps}; nothing was changed",
        p.affected_apps.join(", ")
    );
    if !p.supersedes.is_empty() {
        let ids: Vec<&str> = p.supersedes.iter().map(|d| short(d)).collect();
        let (noun, it) = if ids.len() == 1 {
            ("deployment", "it")
        } else {
            ("deployments", "them")
        };
        s.push_str(&format!(
            "\nit would cancel {noun} {} (forced over {it})",
            ids.join(", ")
        ));
    }
    s
}

/// A row per app of each step: the action, instances before → after, and the launches and
/// kills the planner would ask for.
fn plan_table(p: &DryRunPlan) -> Table {
    let mut t = table(&[
        "STEP",
        "ACTION",
        "APP",
        "CHANGE",
        "INSTANCES",
        "TO LAUNCH",
        "TO KILL",
    ]);
    for a in &p.apps {
        let from = a
            .instances
            .from
            .map_or_else(|| "new".to_string(), |n| n.to_string());
        t.add_row(vec![
            a.step.to_string(),
            a.action.clone(),
            a.app.clone(),
            change(a),
            format!("{from} → {}", a.instances.to),
            a.launch.to_string(),
            kills(&a.kill),
        ]);
    }
    t
}

/// What changes in an app and whether its tasks restart: `labels, instances (no restart)`.
fn change(a: &crate::views::PlannedApp) -> String {
    match (a.changes.is_empty(), a.restart) {
        (true, true) => "restart".into(),
        (true, false) => "-".into(),
        (false, true) => format!("{} (restart)", a.changes.join(", ")),
        (false, false) => format!("{} (no restart)", a.changes.join(", ")),
    }
}

/// Task ids one per line, the first few and how many more; `-` for none.
fn kills(ids: &[String]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    let mut lines: Vec<String> = ids.iter().take(KILLS_SHOWN).cloned().collect();
    if ids.len() > KILLS_SHOWN {
        lines.push(format!("… {} more", ids.len() - KILLS_SHOWN));
    }
    lines.join("\n")
}

/// What the table cannot say: a restart's launches and kills are only its first round.
fn note(p: &DryRunPlan) -> Option<&'static str> {
    p.apps
        .iter()
        .any(|a| a.action == "RestartApplication")
        .then_some("a restart goes on by the app's upgrade strategy as new tasks become ready: the launches and kills shown are its first round")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    fn plan(v: Value) -> DryRunPlan {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_scale_reads_as_one_step_from_two_to_five() {
        // The body of `PUT /v2/apps/web?dryRun=true` (Marathon's `dry_run_json`).
        let p = plan(json!({
            "id": "5b1e", "version": "2026-01-01T00:00:00.000Z", "affectedApps": ["/web"],
            "affectedPods": [], "steps": [{"actions": [{"action": "ScaleApplication", "app": "/web"}]}],
            "currentActions": [{"action": "ScaleApplication", "app": "/web", "readinessCheckResults": []}],
            "currentStep": 1, "totalSteps": 1, "dryRun": true, "supersedes": [],
            "apps": [{"app": "/web", "action": "ScaleApplication", "step": 1,
                      "instances": {"from": 2, "to": 5}, "launch": 3, "kill": [],
                      "changes": ["instances", "labels"], "restart": false}]
        }));
        assert_eq!(
            summary("updating", &p),
            "dry run: updating /web would start a deployment of 1 step; nothing was changed"
        );
        assert_eq!(
            cells(&plan_table(&p)),
            [[
                "1",
                "ScaleApplication",
                "/web",
                "instances, labels (no restart)",
                "2 → 5",
                "3",
                "-"
            ]]
        );
        assert_eq!(note(&p), None);
    }

    #[test]
    fn new_apps_stops_kills_and_cancelled_deployments_are_shown() {
        let kill: Vec<String> = (1..=5).map(|i| format!("g_b.{i}")).collect();
        let p = plan(json!({
            "affectedApps": ["/g/a", "/g/b", "/g/c"], "totalSteps": 2, "dryRun": true,
            "supersedes": ["0123456789abcdef"],
            "apps": [
                {"app": "/g/b", "action": "StopApplication", "step": 1,
                 "instances": {"from": 5, "to": 0}, "launch": 0, "kill": kill},
                {"app": "/g/a", "action": "RestartApplication", "step": 2,
                 "instances": {"from": 2, "to": 2}, "launch": 1, "kill": ["g_a.1"],
                 "changes": ["cmd"], "restart": true},
                {"app": "/g/c", "action": "StartApplication", "step": 2,
                 "instances": {"from": null, "to": 3}, "launch": 3, "kill": []}
            ]
        }));
        assert_eq!(
            summary("adding", &p),
            "dry run: adding /g/a, /g/b, /g/c would start a deployment of 2 steps; nothing was changed\n\
             it would cancel deployment 01234567 (forced over it)"
        );
        assert_eq!(
            cells(&plan_table(&p)),
            [
                [
                    "1",
                    "StopApplication",
                    "/g/b",
                    "-",
                    "5 → 0",
                    "0",
                    "g_b.1\ng_b.2\ng_b.3\n… 2 more"
                ],
                [
                    "2",
                    "RestartApplication",
                    "/g/a",
                    "cmd (restart)",
                    "2 → 2",
                    "1",
                    "g_a.1"
                ],
                ["2", "StartApplication", "/g/c", "-", "new → 3", "3", "-"],
            ]
        );
        assert!(note(&p).unwrap().contains("first round"));
    }

    #[test]
    fn only_a_dry_runs_answer_is_read_as_a_plan() {
        let api = Client::new(crate::Server::Marathon, "127.0.0.1:8080").unwrap();
        let put = |body: Value| Answer::json("PUT /v2/apps/web", reqwest::StatusCode::OK, body);
        let p = read_plan(
            &api,
            put(
                json!({"dryRun": true, "affectedApps": ["/web"], "totalSteps": 1, "apps": [
                {"app": "/web", "action": "ScaleApplication", "step": 1,
                 "instances": {"from": 2, "to": 5}, "launch": 3, "kill": []}]}),
            ),
        )
        .unwrap();
        assert_eq!((p.apps.len(), p.apps[0].instances.to), (1, 5));
        // What a server without dry runs answers a PUT: the deployment it started.
        let e = read_plan(
            &api,
            put(json!({"deploymentId": "d1", "version": "2026-01-01T00:00:00.000Z"})),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string().contains("PUT /v2/apps/web") && e.to_string().contains("made the change"),
            "{e}"
        );
        // A dry run without its apps is unreadable, not an empty plan.
        let e = read_plan(&api, put(json!({"dryRun": true, "totalSteps": 1}))).unwrap_err();
        assert!(e.to_string().contains("missing field `apps`"), "{e}");
    }
}
