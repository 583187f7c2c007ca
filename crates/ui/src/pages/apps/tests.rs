//! The apps and deployments pages rendered from a model the tests build, and their actions
//! against a fake Marathon on loopback that answers as Marathon does and records what it was
//! asked: rows, folders, statuses and health, paging, the app page's tasks, failure and why it
//! is not running, the actions' redirects and errors, and the dispatch of `/ui/apps/<id>/…`.

use super::{target, Target};
use crate::live::Live;
use crate::testing::{get, get_with};
use crate::Ui;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn app(id: &str, instances: u64, running: u64, deployments: &[&str]) -> Value {
    json!({"id": id, "cmd": "sleep 1000", "cpus": 0.25, "mem": 64.0, "disk": 0.0,
        "instances": instances, "tasksRunning": running, "tasksStaged": 0,
        "tasksHealthy": 0, "tasksUnhealthy": 0, "version": "2026-12-04T09:00:00.000Z",
        "deployments": deployments.iter().map(|d| json!({"id": d})).collect::<Vec<_>>()})
}

fn queued(id: &str, count: u64, delayed: bool) -> Value {
    json!({"app": {"id": id}, "count": count, "since": "2026-12-04T09:00:00.000Z",
        "delay": {"timeLeftSeconds": if delayed { 30 } else { 0 }, "overdue": !delayed},
        "processedOffersSummary": {"processedOffersCount": 4, "unusedOffersCount": 4,
            "rejectSummaryLastOffers": [{"reason": "InsufficientCpus", "declined": 4}]},
        "lastUnusedOffers": [
            {"offer": {"id": "o1", "agentId": "S0", "hostname": "node-a",
                "resources": [{"name": "cpus", "role": "*", "scalar": 2.0},
                              {"name": "mem", "role": "*", "scalar": 2048.0}],
                "attributes": []},
             "timestamp": "2026-12-04T09:00:01.000Z", "reason": ["InsufficientCpus"]},
            {"offer": {"id": "o2", "agentId": "S1", "hostname": "node-b",
                "resources": [{"name": "cpus", "role": "*", "scalar": 1.0}], "attributes": []},
             "timestamp": "2026-12-04T09:00:02.000Z", "reason": ["InsufficientCpus"]}]})
}

fn deployment(id: &str, apps: &[&str], current: u64) -> Value {
    json!({"id": id, "version": "2026-12-04T09:10:00.000Z", "affectedApps": apps,
        "steps": [
            {"actions": apps.iter().map(|a| json!({"action": "StartApplication", "app": a})).collect::<Vec<_>>()},
            {"actions": apps.iter().map(|a| json!({"action": "ScaleApplication", "app": a})).collect::<Vec<_>>()}],
        "currentActions": [{"action": "ScaleApplication", "app": apps[0], "readinessCheckResults": []}],
        "currentStep": current, "totalSteps": 2})
}

/// A model of Marathon: folders, every status, a deployment.
fn marathon() -> (Value, Value, Value) {
    let mut checked = app("/web/api", 3, 3, &[]);
    checked["healthChecks"] = json!([{"protocol": "HTTP", "path": "/"}]);
    checked["tasksHealthy"] = json!(2);
    checked["tasksUnhealthy"] = json!(1);
    checked["mem"] = json!(2048.0);
    let apps = json!({"apps": [
        checked,
        app("/web/front", 2, 1, &["d1"]),
        app("/db", 0, 0, &[]),
        app("/batch/nightly/report", 1, 0, &[]),
        app("/crashy", 1, 0, &[]),
        app("/big", 2, 0, &[]),
    ]});
    let queue = json!({"queue": [queued("/crashy", 1, true), queued("/big", 2, false)]});
    let deps = json!([deployment("d1", &["/web/front"], 2)]);
    (apps, queue, deps)
}

fn ui_over(apps: &Value, queue: &Value, deps: &Value, marathon: Vec<String>) -> Arc<Ui> {
    let live = Arc::new(Live::new("t".into()));
    {
        let mut m = live.marathon.write().expect("the model");
        m.load_apps(apps);
        m.load_queue(queue);
        m.load_deployments(deps);
    }
    Ui::detached(live, marathon, "http://127.0.0.1:9".into()).expect("a UI")
}

fn rows(html: &str) -> Vec<String> {
    html.split("<tr data-key=\"app:")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn the_apps_table_groups_by_folder_with_status_and_health() {
    let (apps, queue, deps) = marathon();
    let ui = ui_over(&apps, &queue, &deps, vec![]);
    let (status, html) = get(&ui, "/ui/apps").await;
    assert_eq!(status, 200);
    // Apps at the top, folders as rows to open (folders first).
    assert_eq!(rows(&html), ["/big", "/crashy", "/db"]);
    let web = html
        .find(r#"href="/ui/apps?folder=/web""#)
        .expect("a folder row for /web");
    assert!(
        web < html.find("data-key=\"app:/big\"").expect("a row of /big"),
        "folders come first"
    );
    assert!(html.contains(r#"href="/ui/apps?folder=/batch""#));
    assert!(html.contains(">2 apps<"), "the /web folder holds 2 apps");
    assert!(html.contains(r#"id="new-app" href="/ui/apps/new""#));
    assert!(html.contains(r#"data-refresh="app""#));
    // Statuses, in words.
    for (id, st) in [
        ("/big", "Waiting"),
        ("/crashy", "Delayed"),
        ("/db", "Suspended"),
    ] {
        let row = &html[html
            .find(&format!("data-key=\"app:{id}\""))
            .expect("the row")..];
        let row = &row[..row.find("</tr>").expect("its end")];
        assert!(
            row.contains(&format!(r#"data-f="status">{st}<"#)),
            "{id}: {row}"
        );
        assert!(row.contains(&format!(r#"data-status="{st}""#)));
    }

    let (_, web) = get(&ui, "/ui/apps?folder=/web").await;
    assert_eq!(rows(&web), ["/web/api", "/web/front"]);
    assert!(web.contains("Apps in /web"));
    assert!(web.contains(r#"data-f="status">Deploying<"#));
    // Running of instances, live: the cells the `app` events update.
    assert!(web.contains(r#"<span data-f="running">1</span> / <span data-f="instances">2</span>"#));
    // The health bar: segments of 3, and the counts in words.
    assert!(
        web.contains(r#"class="h-ok" data-bar="healthy/of" style="width: 66.67%""#),
        "{web}"
    );
    assert!(web.contains(r#"data-bar="unhealthy/of" style="width: 33.33%""#));
    assert!(web.contains(r#"<span data-f="healthy">2</span> healthy"#));
    assert!(web.contains(r#"<span data-f="unhealthy">1</span> unhealthy"#));
    // Without health checks, running instances are "no checks", not healthy.
    assert!(web.contains(r#"<span data-f="unknown">1</span> no checks"#));

    // A filter searches the whole folder, flat, by whole id.
    let (_, delayed) = get(&ui, "/ui/apps?state=Delayed").await;
    assert_eq!(rows(&delayed), ["/crashy"]);
    let (_, text) = get(&ui, "/ui/apps?q=REPORT").await;
    assert_eq!(rows(&text), ["/batch/nightly/report"]);
    assert!(
        !text.contains("?folder=/batch\""),
        "no folder rows in a search"
    );
    // Sorted by the numbers, not their text ("2 GiB" > "64 MiB").
    let (_, by_mem) = get(&ui, "/ui/apps?folder=/web&sort=mem").await;
    assert_eq!(rows(&by_mem), ["/web/front", "/web/api"]);
    assert!(by_mem.contains(">2 GiB<"));
    let (_, by_mem) = get(&ui, "/ui/apps?folder=/web&sort=mem&dir=desc").await;
    assert_eq!(rows(&by_mem), ["/web/api", "/web/front"]);
    let (_, sorted) = get(&ui, "/ui/apps?sort=running&dir=desc").await;
    assert!(sorted.contains(r#"aria-sort="descending""#));
}

#[tokio::test]
async fn the_apps_table_is_paged_on_the_server() {
    let list: Vec<Value> = (0..450)
        .map(|i| app(&format!("/svc/app-{i:03}"), 1, 1, &[]))
        .collect();
    let ui = ui_over(&json!({"apps": list}), &json!({}), &json!([]), vec![]);
    let (_, html) = get(&ui, "/ui/apps?folder=/svc&per=100&page=2").await;
    let r = rows(&html);
    assert_eq!(r.len(), 100);
    assert_eq!(r[0], "/svc/app-100", "page 2 starts at the 101st");
    assert!(html.contains("101–200 of <span data-count>450</span>"));
    assert!(html.contains("folder=/svc"), "the pager keeps the folder");
    let (_, all) = get(&ui, "/ui/apps?folder=/svc&per=100000").await;
    assert_eq!(rows(&all).len(), crate::table::MAX_PER);
    // At the top, the 450 apps are one folder row.
    let (_, top) = get(&ui, "/ui/apps").await;
    assert!(rows(&top).is_empty() && top.contains(">450 apps<"));
}

#[tokio::test]
async fn an_unknown_app_is_a_404_page_that_says_so() {
    let (apps, queue, deps) = marathon();
    let ui = ui_over(&apps, &queue, &deps, vec![]);
    let (status, html) = get(&ui, "/ui/apps/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("No app with id &#39;/nope&#39;"), "{html}");
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    let (status, _) = get(&ui, "/ui/apps/web/gone").await;
    assert_eq!(status, 404, "Marathon says it does not exist");
}

#[tokio::test]
async fn the_app_page_reads_from_the_model_when_marathon_cannot_be_read() {
    let (apps, queue, deps) = marathon();
    let ui = ui_over(&apps, &queue, &deps, vec![]);
    let (status, html) = get(&ui, "/ui/apps/web/front").await;
    assert_eq!(status, 200);
    assert!(html.contains("Marathon could not be read"));
    assert!(html.contains(r#"data-key="app:/web/front""#));
    // Its deployment, from the model: step 2 of 2, the first done.
    assert!(html.contains("Step 2 of 2"), "{html}");
    assert!(html.contains(r#"<progress max="2" value="1""#));
    assert!(html.contains(r#"action="/ui/deployments/d1/rollback""#));
}

#[tokio::test]
async fn the_app_page_shows_tasks_failure_and_why_it_is_not_running() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    let (status, html) = get(&ui, "/ui/apps/big").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>/big</h1>"));
    assert!(
        html.contains(r#"data-key="app:/big""#) && html.contains(r#"data-refresh-key="app:/big""#)
    );
    // Tasks: Marathon's, with health and host:ports, linking to the task's page.
    assert!(
        html.contains(r#"<tr data-key="task:big.1" data-state="TASK_RUNNING">"#),
        "{html}"
    );
    assert!(html.contains(r#"href="/ui/tasks/big.1""#));
    assert!(html.contains("<code>node-a:31000</code>, <code>node-a:31001</code>"));
    assert!(html.contains("▲</span> Unhealthy"));
    // The last failure.
    assert!(html.contains("TASK_FAILED") && html.contains("exited with 1"));
    // Why: waiting, the reason with its count and meaning, per agent.
    assert!(html.contains("Why it is not running"));
    assert!(html.contains("2 instances waiting to launch"));
    assert!(html.contains("<code>InsufficientCpus</code></td><td>the offer has fewer CPUs"));
    assert!(html.contains(r#"<a href="/ui/nodes/S0">node-a</a>"#));
    assert!(html.contains("2 CPUs, 2 GiB, 0 MiB disk, 0 ports"));
    // Actions as forms; the editor's pages linked.
    for a in ["scale", "suspend", "restart", "destroy"] {
        assert!(
            html.contains(&format!(r#"action="/ui/apps/big/{a}""#)),
            "{a}"
        );
    }
    assert!(
        !html.contains("/reset-delay\""),
        "not delayed: no Reset delay"
    );
    assert!(html.contains(r#"<label for="scale-instances">Instances</label>"#));
    assert!(
        html.contains(r#"href="/ui/apps/big/edit""#)
            && html.contains(r#"href="/ui/apps/big/versions""#)
    );
    assert!(html.contains("data-confirm=\"Destroy /big?"));

    let (_, crashy) = get(&ui, "/ui/apps/crashy").await;
    assert!(crashy.contains("<strong>Delayed</strong>") && crashy.contains("in 30 s"));
    assert!(crashy.contains(r#"action="/ui/apps/crashy/reset-delay""#));
    // A fully running app has no "why".
    let (_, running) = get(&ui, "/ui/apps/web/api").await;
    assert!(!running.contains("Why it is not running"));
}

#[tokio::test]
async fn actions_send_what_marathon_expects_and_redirect_with_what_was_done() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    for (path, form, want, location) in [
        (
            "/ui/apps/big/scale",
            "instances=3",
            ("PUT", "/v2/apps/big", r#"{"instances":3}"#),
            "/ui/apps/big?done=scaled&to=3&app=/big",
        ),
        (
            "/ui/apps/big/suspend",
            "",
            ("PUT", "/v2/apps/big", r#"{"instances":0}"#),
            "/ui/apps/big?done=suspended&app=/big",
        ),
        (
            "/ui/apps/big/restart",
            "force=true",
            ("POST", "/v2/apps/big/restart?force=true", ""),
            "/ui/apps/big?done=restarted&app=/big",
        ),
        (
            "/ui/apps/crashy/reset-delay",
            "",
            ("DELETE", "/v2/queue/crashy/delay", ""),
            "/ui/apps/crashy?done=delay-reset&app=/crashy",
        ),
        (
            "/ui/apps/web/api/destroy",
            "confirmed=yes",
            ("DELETE", "/v2/apps/web/api", ""),
            "/ui/apps?done=destroyed&app=/web/api&folder=/web",
        ),
    ] {
        let (status, loc, _) = post(&ui, path, form).await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(loc, location, "{path}");
        let seen = fake.seen.lock().expect("what Marathon was asked").clone();
        assert!(
            seen.iter()
                .any(|(m, p, b)| (m.as_str(), p.as_str(), b.as_str()) == want),
            "{path}: Marathon was asked {seen:?}"
        );
    }
    let (_, html) = get(&ui, "/ui/apps/big?done=scaled&to=3&app=/big").await;
    assert!(html.contains(r#"<p class="flash" role="status">Scaling /big to 3 instances.</p>"#));
    let (_, html) = get(&ui, "/ui/apps?done=destroyed&app=/web/api").await;
    assert!(html.contains("Destroyed /web/api."));
    let (_, html) = get(&ui, "/ui/apps?done=%3Cscript%3E").await;
    assert!(!html.contains("class=\"flash\""), "only known messages");

    // A destroy without the dialog's yes (no script) asks on a page first, and sends nothing.
    let before = fake.seen.lock().expect("what Marathon was asked").len();
    let (status, _, html) = post(&ui, "/ui/apps/big/destroy", "").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<h1>Destroy /big?</h1>"), "{html}");
    assert!(html.contains(r#"<input type="hidden" name="confirmed" value="yes">"#));
    assert_eq!(
        fake.seen.lock().expect("asked").len(),
        before,
        "nothing sent"
    );
}

#[tokio::test]
async fn a_refused_action_shows_marathons_message_at_the_action_with_its_status() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    // A bad number never reaches Marathon: 422 at the field.
    let (status, _, html) = post(&ui, "/ui/apps/big/scale", "instances=-1").await;
    assert_eq!(status, 422);
    assert!(
        html.contains("Instances: &#39;-1&#39; is not a whole number of 0 or more."),
        "{html}"
    );
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="scale-error""#));
    assert!(html.contains(r#"id="scale-error""#) && html.contains(r#"value="-1""#));
    // Marathon's 409: its message, and the same action offered with force.
    let (status, _, html) = post(&ui, "/ui/apps/web/front/suspend", "").await;
    assert!(
        fake.seen
            .lock()
            .expect("what Marathon was asked")
            .is_empty(),
        "not sent: the first was bad input, this one is locked"
    );
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("App is locked by one or more deployments"));
    assert!(
        html.contains(r#"<form method="post" action="/ui/apps/web/front/suspend" class="force">"#)
    );
    assert!(
        !html.contains("data-refresh-key"),
        "the error stays until the reader moves on"
    );
    // Marathon down: 502 (the UI is Marathon's gateway here), said so.
    let ui = ui_over(&apps, &queue, &deps, vec!["http://127.0.0.1:9".into()]);
    let (status, _, html) = post(&ui, "/ui/apps/big/restart", "").await;
    assert_eq!(status, 502, "{html}");
    assert!(html.contains("Marathon could not be reached"));
    assert!(
        html.contains("Marathon could not be read"),
        "the page is the model's"
    );
}

#[tokio::test]
async fn the_deployments_page_shows_steps_and_rolls_back_or_stops() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    let (status, html) = get(&ui, "/ui/deployments").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-refresh="deployments""#));
    assert!(html.contains(r#"<tr data-deployment="d1">"#));
    assert!(html.contains("Step 2 of 2"));
    assert!(
        html.contains(r#"<li data-step="done">"#) && html.contains(r#"<li data-step="running">"#)
    );
    assert!(html.contains(r#"ScaleApplication <a href="/ui/apps/web/front">/web/front</a>"#));
    assert!(html.contains("data-confirm=\"Roll back deployment d1?"));
    let (status, loc, _) = post(&ui, "/ui/deployments/d1/rollback", "back=/ui/deployments").await;
    assert_eq!(
        (status, loc.as_str()),
        (303, "/ui/deployments?done=rolled-back&id=d1")
    );
    let (status, loc, _) = post(&ui, "/ui/deployments/d1/stop", "back=https://evil.example/").await;
    assert_eq!(
        (status, loc.as_str()),
        (303, "/ui/deployments?done=stopped&id=d1")
    );
    let seen = fake.seen.lock().expect("what Marathon was asked").clone();
    assert!(seen.contains(&("DELETE".into(), "/v2/deployments/d1".into(), String::new())));
    assert!(seen.contains(&(
        "DELETE".into(),
        "/v2/deployments/d1?force=true".into(),
        String::new()
    )));
    // From an app's page, back to it.
    let (_, loc, _) = post(
        &ui,
        "/ui/deployments/d1/rollback",
        "back=/ui/apps/web/front",
    )
    .await;
    assert_eq!(loc, "/ui/apps/web/front?done=rolled-back&id=d1");
    // Marathon's 404 for a deployment gone meanwhile, at its row.
    let (status, _, html) = post(&ui, "/ui/deployments/gone/rollback", "").await;
    assert_eq!(status, 404);
    assert!(
        html.contains("Marathon refused (HTTP 404):</strong> DeploymentPlan gone does not exist"),
        "{html}"
    );
    let empty = ui_over(&apps, &queue, &json!([]), vec![]);
    assert!(get(&empty, "/ui/deployments")
        .await
        .1
        .contains("No deployment is running."));
}

#[test]
fn paths_under_apps_dispatch_to_pages_actions_and_the_editor() {
    let known = |id: &str| id == "/tools/scale";
    assert_eq!(
        target("web/sleepy", false, known),
        Target::App("/web/sleepy".into())
    );
    assert_eq!(
        target("tools/scale", false, known),
        Target::App("/tools/scale".into())
    );
    assert_eq!(
        target("web/scale", false, known),
        Target::BackTo("/web".into())
    );
    assert_eq!(
        target("tools/scale/scale", true, known),
        Target::Action("/tools/scale".into(), "scale".into())
    );
    assert_eq!(
        target("web/reset-delay", true, known),
        Target::Action("/web".into(), "reset-delay".into())
    );
    assert_eq!(
        target("web/edit", false, known),
        Target::Editor("/web".into(), "edit")
    );
    assert_eq!(
        target("web/versions", false, known),
        Target::Editor("/web".into(), "versions")
    );
    assert_eq!(
        target("a/b/edit", true, known),
        Target::Editor("/a/b".into(), "edit")
    );
    assert_eq!(
        target("web/versions/apply", true, known),
        Target::Editor("/web".into(), "versions/apply")
    );
    assert_eq!(
        target("web", true, known),
        Target::App("/web".into()),
        "nothing to POST to"
    );
    // Only ids Marathon could hold reach Marathon's paths.
    assert!(super::valid_id("/web/api-1.2"));
    for bad in ["/Web", "/a/../v2", "/a//b", "/", "/a/b c", "web"] {
        assert!(!super::valid_id(bad), "{bad}");
    }
}

#[tokio::test]
async fn a_path_that_is_no_app_id_is_a_404_before_marathon_is_asked() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    let (status, html) = get(&ui, "/ui/apps/Bad_Id").await;
    assert_eq!(status, 404);
    assert!(html.contains("is not an app id"), "{html}");
    let (status, _, _) = post(&ui, "/ui/apps/a/%2E%2E/scale", "instances=1").await;
    assert_eq!(status, 404);
    assert!(fake
        .seen
        .lock()
        .expect("what Marathon was asked")
        .is_empty());
}

#[tokio::test]
async fn a_fragment_of_the_apps_page_is_only_its_main() {
    let (apps, queue, deps) = marathon();
    let ui = ui_over(&apps, &queue, &deps, vec![]);
    let (_, frag) = get_with(&ui, "/ui/apps", &[("x-drover-fragment", "1")]).await;
    assert!(!frag.contains("<html") && frag.contains("data-key=\"app:/db\""));
}

// --- a fake Marathon ----------------------------------------------------------------------------

/// (method, path and query, body) of every change asked.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

struct Fake {
    url: String,
    seen: Seen,
}

fn task(id: &str, alive: Option<bool>) -> Value {
    json!({"id": id, "appId": "/big", "host": "node-a", "ports": [31000, 31001],
        "slaveId": "S0", "state": "TASK_RUNNING", "stagedAt": "2026-12-04T09:00:00.000Z",
        "startedAt": "2026-12-04T09:00:01.000Z", "version": "2026-12-04T09:00:00.000Z",
        "healthCheckResults": alive.map(|a| vec![json!({"alive": a})]).unwrap_or_default()})
}

async fn fake(State(seen): State<Seen>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    let full = uri
        .path_and_query()
        .map_or(path.to_string(), |p| p.to_string());
    let (apps, queue, deps) = marathon();
    if method == Method::GET {
        return match path {
            "/v2/queue" => Json(queue).into_response(),
            "/v2/deployments" => Json(deps).into_response(),
            p => {
                let id = p.trim_start_matches("/v2/apps");
                match apps["apps"]
                    .as_array()
                    .expect("a list")
                    .iter()
                    .find(|a| a["id"] == id)
                {
                    Some(a) => {
                        let mut a = a.clone();
                        if id == "/big" {
                            a["healthChecks"] = json!([{"protocol": "COMMAND"}]);
                            a["tasks"] = json!([task("big.1", Some(false)), task("big.2", None)]);
                            a["lastTaskFailure"] = json!({"appId": "/big", "host": "node-a",
                                "message": "exited with 1", "state": "TASK_FAILED", "taskId": "big.0",
                                "timestamp": "2026-12-04T08:59:00.000Z", "version": "v0"});
                        }
                        Json(json!({"app": a})).into_response()
                    }
                    None => (
                        StatusCode::NOT_FOUND,
                        Json(json!({"message": format!("App '{id}' does not exist")})),
                    )
                        .into_response(),
                }
            }
        };
    }
    if full == "/v2/apps/web/front" {
        return (StatusCode::CONFLICT, Json(json!({"message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/d1'.", "deployments": [{"id": "d1"}]}))).into_response();
    }
    if path == "/v2/deployments/gone" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "DeploymentPlan gone does not exist"})),
        )
            .into_response();
    }
    seen.lock().expect("what Marathon was asked").push((
        method.to_string(),
        full,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    Json(json!({"deploymentId": "d2", "version": "2026-12-04T09:20:00.000Z"})).into_response()
}

impl Fake {
    async fn start() -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(fake).with_state(seen.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, app).await });
        Fake { url, seen }
    }
}

/// POST a form through the UI's router: status, Location and body.
async fn post(ui: &Arc<Ui>, path: &str, form: &str) -> (u16, String, String) {
    let rq = axum::http::Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(form.to_string()))
        .expect("a request");
    let resp = crate::router(ui.clone())
        .oneshot(rq)
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("a body");
    (status, loc, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_apps_edit_and_versions_pages_are_the_editors() {
    let (apps, queue, deps) = marathon();
    let fake = Fake::start().await;
    let ui = ui_over(&apps, &queue, &deps, vec![fake.url.clone()]);
    let (status, html) = get(&ui, "/ui/apps/big/edit").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<title>Edit /big · Drover</title>"), "{html}");
    let (_, html) = get(&ui, "/ui/apps/big/versions").await;
    assert!(html.contains("/big"), "{html}");
    assert!(!html.contains("is not an app id"));
}
