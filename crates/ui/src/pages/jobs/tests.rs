//! The jobs pages against a fake jobs scheduler on loopback that answers as Metronome does
//! (and as Drover's adds, the skipped occurrences) and records what it was asked: found as the
//! master's framework `metronome` (its webui_url) or at the URL given; the table's rows,
//! filters, sorting and paging; a job's page; Run now and Stop with their redirects and the
//! scheduler's errors at the action; and what the pages say without a scheduler.

use crate::live::Live;
use crate::testing::{get, get_with, subscribed};
use crate::Ui;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

fn schedule(cron: &str, tz: &str, next: &str) -> Value {
    json!({"id": "default", "cron": cron, "timezone": tz, "startingDeadlineSeconds": 900,
        "concurrencyPolicy": "ALLOW", "enabled": true, "nextRunAt": next})
}

fn summary(ok: u64, failed: u64, last_ok: Option<&str>, last_failed: Option<&str>) -> Value {
    json!({"successCount": ok, "failureCount": failed, "lastSuccessAt": last_ok,
        "lastFailureAt": last_failed})
}

/// Three jobs: `nightly` (scheduled, running, ran both ways), `adhoc` (never run, no
/// schedule), `broken` (scheduled, last run failed).
fn jobs() -> Vec<Value> {
    vec![
        json!({"id": "nightly", "description": "The nightly report", "labels": {"team": "data"},
            "run": {"cmd": "report.sh --all", "cpus": 0.5, "mem": 128, "disk": 0,
                "restart": {"policy": "NEVER"}, "maxLaunchDelay": 3600,
                "env": {"MODE": "full"}},
            "schedules": [schedule("0 3 * * *", "Europe/Paris", "2026-12-05T02:00:00.000+0000")],
            "activeRuns": [{"id": "20261204090000abcde", "jobId": "nightly", "status": "ACTIVE",
                "createdAt": "2026-12-04T09:00:00.000+0000", "completedAt": null,
                "tasks": [{"id": "nightly_20261204090000abcde.1", "status": "TASK_RUNNING",
                    "startedAt": "2026-12-04T09:00:01.000+0000"}]}],
            "historySummary": summary(5, 2, Some("2026-12-03T02:00:09.000+0000"),
                Some("2026-12-02T02:00:09.000+0000"))}),
        json!({"id": "adhoc", "run": {"cmd": "true", "cpus": 0.1, "mem": 16, "disk": 0},
            "schedules": [], "activeRuns": [], "historySummary": summary(0, 0, None, None)}),
        json!({"id": "broken", "description": "fails",
            "run": {"cmd": "false", "cpus": 0.1, "mem": 16, "disk": 0},
            "schedules": [schedule("*/5 * * * *", "UTC", "2026-12-04T09:05:00.000+0000")],
            "activeRuns": [], "historySummary": summary(1, 9, Some("2026-12-01T00:00:00.000+0000"),
                Some("2026-12-04T09:00:02.000+0000"))}),
    ]
}

fn history() -> Value {
    let run = |id: &str, day: u32| {
        json!({"id": id, "createdAt": format!("2026-12-0{day}T02:00:00.000+0000"),
            "finishedAt": format!("2026-12-0{day}T02:00:09.000+0000"),
            "tasks": [format!("nightly_{id}.1")]})
    };
    json!({"successCount": 5, "failureCount": 2,
        "lastSuccessAt": "2026-12-03T02:00:09.000+0000",
        "lastFailureAt": "2026-12-02T02:00:09.000+0000",
        "successfulFinishedRuns": [run("ok3", 3), run("ok1", 1)],
        "failedFinishedRuns": [run("bad2", 2)]})
}

/// (method, path and query) of everything asked.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

async fn fake(State(seen): State<Seen>, method: Method, uri: Uri) -> Response {
    let path = uri.path().to_string();
    let full = uri.path_and_query().map_or(path.clone(), |p| p.to_string());
    seen.lock()
        .expect("what was asked")
        .push((method.to_string(), full));
    let all = jobs();
    let find = |id: &str| all.iter().find(|j| j["id"] == id).cloned();
    let not_found = |id: &str| {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"id": id, "message": format!("Job Definition {id} does not exist")})),
        )
            .into_response()
    };
    let parts: Vec<&str> = path.trim_start_matches("/v1/jobs").split('/').collect();
    match (method, parts.as_slice()) {
        (Method::GET, [""]) => Json(json!(all)).into_response(),
        (Method::GET, ["", id]) => match find(id) {
            Some(mut j) => {
                let mut h = j
                    .as_object_mut()
                    .and_then(|o| o.remove("historySummary"))
                    .unwrap_or_default();
                h["successfulFinishedRuns"] = json!([]);
                h["failedFinishedRuns"] = json!([]);
                j["history"] = if *id == "nightly" { history() } else { h };
                Json(j).into_response()
            }
            None => not_found(id),
        },
        (Method::GET, ["", "nightly", "skipped"]) => Json(json!([
            {"scheduleId": "default", "dueAt": "2026-12-04T02:00:00.000+0000", "count": 1,
             "reason": "concurrencyPolicy FORBID: run 20261203020000xyz12 is still active",
             "recordedAt": "2026-12-04T02:00:00.100+0000"},
            {"scheduleId": "default", "dueAt": "2026-11-30T02:00:00.000+0000", "count": 3,
             "reason": "missed by more than startingDeadlineSeconds (900 s): the scheduler was down",
             "recordedAt": "2026-12-03T01:00:00.000+0000"}]))
        .into_response(),
        (Method::GET, ["", id, "skipped"]) => match find(id) {
            Some(_) if *id == "broken" => (
                StatusCode::NOT_FOUND,
                Json(json!({"message": "Not Found"})),
            )
                .into_response(),
            Some(_) => Json(json!([])).into_response(),
            None => not_found(id),
        },
        (Method::POST, ["", "nightly", "runs"]) => (
            StatusCode::CREATED,
            Json(json!({"id": "20261204100000fghij", "jobId": "nightly", "status": "INITIAL",
                "createdAt": "2026-12-04T10:00:00.000+0000", "completedAt": null, "tasks": []})),
        )
            .into_response(),
        (Method::POST, ["", "broken", "runs"]) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"message": "The jobs' state could not be written: the store is not reachable"})),
        )
            .into_response(),
        (Method::POST, ["", "nightly", "runs", run, "actions", "stop"]) => {
            if *run == "20261204090000abcde" {
                Json(json!({"id": run, "status": "ACTIVE"})).into_response()
            } else {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"jobSpec": "nightly", "id": run,
                        "message": format!("Job Run {run} of job nightly does not exist")})),
                )
                    .into_response()
            }
        }
        _ => (StatusCode::NOT_FOUND, "no such route").into_response(),
    }
}

struct Fake {
    url: String,
    seen: Seen,
}

impl Fake {
    async fn start() -> Fake {
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(fake).with_state(seen.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, app).await });
        Fake { url, seen }
    }

    fn asked(&self, method: &str, path: &str) -> bool {
        self.seen
            .lock()
            .expect("what was asked")
            .iter()
            .any(|(m, p)| m == method && p == path)
    }
}

/// A UI whose master lists the framework `metronome` at `webui_url` (as the jobs scheduler
/// registers), and no jobs URL given.
fn ui_finding(webui_url: &str) -> Arc<Ui> {
    let fw = json!({
        "framework_info": {"user": "root", "name": "metronome", "id": {"value": "fw-jobs"},
            "roles": ["*"], "webui_url": webui_url},
        "active": true, "connected": true, "recovered": false,
    });
    let live = Arc::new(Live::new("t".into()));
    live.master_event("10.0.0.1:5050", subscribed(vec![], vec![fw], vec![]));
    Ui::detached(live, vec![], "http://127.0.0.1:9".into()).expect("a UI")
}

/// A UI given the jobs URL, whose master lists no framework `metronome`.
fn ui_given(url: Option<&str>) -> Arc<Ui> {
    let live = Arc::new(Live::new("t".into()));
    live.master_event("10.0.0.1:5050", subscribed(vec![], vec![], vec![]));
    let mut ui = Ui::detached(live, vec![], "http://127.0.0.1:9".into()).expect("a UI");
    Arc::get_mut(&mut ui).expect("the only handle").cfg.jobs = url.map(str::to_string);
    ui
}

fn rows(html: &str) -> Vec<String> {
    html.split("<tr data-job=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or("").to_string())
        .collect()
}

fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<tr data-job=\"{id}\""))
        .unwrap_or_else(|| panic!("no row of {id}: {html}"));
    let r = &html[start..];
    &r[..r.find("</tr>").expect("its end")]
}

#[tokio::test]
async fn the_jobs_table_lists_filters_sorts_and_pages_the_schedulers_jobs() {
    let fake = Fake::start().await;
    // Found through the master: the framework `metronome`'s webui_url.
    let ui = ui_finding(&format!("{}/", fake.url));
    let (status, html) = get(&ui, "/ui/jobs").await;
    assert_eq!(status, 200, "{html}");
    assert!(fake.asked(
        "GET",
        "/v1/jobs?embed=activeRuns&embed=schedules&embed=historySummary"
    ));
    assert_eq!(rows(&html), ["adhoc", "broken", "nightly"]);
    let nightly = row(&html, "nightly");
    assert!(
        nightly.contains(r#"<a href="/ui/jobs/nightly">nightly</a>"#),
        "{nightly}"
    );
    assert!(nightly.contains("The nightly report"));
    assert!(
        nightly.contains("<code>0 3 * * *</code> Europe/Paris"),
        "{nightly}"
    );
    assert!(
        nightly.contains("2026-12-05 02:00:00 UTC"),
        "the next run: {nightly}"
    );
    assert!(nightly.contains(r#"data-status="Running""#));
    assert!(
        nightly.contains("Succeeded<div class=\"id\">2026-12-03 02:00:09 UTC"),
        "{nightly}"
    );
    assert!(
        nightly.contains(r#"<td class="n">5</td>"#) && nightly.contains(r#"<td class="n">2</td>"#)
    );
    let broken = row(&html, "broken");
    assert!(broken.contains(r#"data-status="Idle""#));
    assert!(
        broken.contains("Failed<div class=\"id\">2026-12-04 09:00:02 UTC"),
        "{broken}"
    );
    let adhoc = row(&html, "adhoc");
    assert!(
        adhoc.contains("Never run") && adhoc.contains("<td>—</td>"),
        "{adhoc}"
    );
    // Live: it fetches itself again when a task of the jobs' framework comes or goes.
    assert!(html.contains(
        r#"data-refresh="task" data-refresh-on="members" data-refresh-framework="fw-jobs""#
    ));
    assert!(html.contains(r#"data-topics="task""#));
    assert!(html.contains(r#"<a href="/ui/jobs" aria-current="page">Jobs</a>"#));

    // Filters: text (id, description, labels) and status.
    let (_, html) = get(&ui, "/ui/jobs?q=REPORT").await;
    assert_eq!(rows(&html), ["nightly"]);
    let (_, html) = get(&ui, "/ui/jobs?q=data").await;
    assert_eq!(rows(&html), ["nightly"], "by a label");
    let (_, html) = get(&ui, "/ui/jobs?state=Idle").await;
    assert_eq!(rows(&html), ["adhoc", "broken"]);
    assert!(html.contains(r#"<option value="Idle" selected>"#));
    assert!(html.contains(r#"<a href="/ui/jobs">Clear the filter</a>"#));
    let (_, html) = get(&ui, "/ui/jobs?q=nothing-like-it").await;
    assert!(html.contains("No jobs match."));

    // Sorting: by failures, most first; by next run, the unscheduled last.
    let (_, html) = get(&ui, "/ui/jobs?sort=failures&dir=desc").await;
    assert_eq!(rows(&html), ["broken", "nightly", "adhoc"]);
    assert!(html.contains(r#"aria-sort="descending"><a href="/ui/jobs?sort=failures">Failures"#));
    let (_, html) = get(&ui, "/ui/jobs?sort=next").await;
    assert_eq!(rows(&html), ["broken", "nightly", "adhoc"]);
    let (_, html) = get(&ui, "/ui/jobs?sort=last").await;
    assert_eq!(rows(&html), ["nightly", "broken", "adhoc"]);

    // Paging.
    let (_, html) = get(&ui, "/ui/jobs?per=1&page=2").await;
    assert_eq!(rows(&html), ["broken"]);
    assert!(html.contains("2–2 of <span data-count>3</span>"), "{html}");
    assert!(
        html.contains(r#"<a href="/ui/jobs?per=1&#38;page=3" rel="next">"#),
        "{html}"
    );

    // A fragment is only <main>'s content.
    let (_, frag) = get_with(&ui, "/ui/jobs", &[("x-drover-fragment", "1")]).await;
    assert!(!frag.contains("<html") && frag.contains(r#"data-job="nightly""#));
}

#[tokio::test]
async fn a_jobs_page_shows_its_runs_tasks_schedules_history_and_skipped_occurrences() {
    let fake = Fake::start().await;
    let ui = ui_given(Some(&fake.url));
    let (status, html) = get(&ui, "/ui/jobs/nightly").await;
    assert_eq!(status, 200, "{html}");
    assert!(fake.asked(
        "GET",
        "/v1/jobs/nightly?embed=activeRuns&embed=schedules&embed=history"
    ));
    assert!(fake.asked("GET", "/v1/jobs/nightly/skipped"));
    assert!(html.contains("<title>Job nightly · Drover</title>"));
    assert!(html.contains("<h1>nightly</h1>") && html.contains("<p>The nightly report</p>"));
    assert!(html.contains("(1 active run)"));
    assert!(
        html.contains("Succeeded, 2026-12-03 02:00:09 UTC"),
        "{html}"
    );
    assert!(html.contains("5 succeeded, 2 failed"));
    // Run now, as a plain form.
    assert!(html.contains(r#"<form method="post" action="/ui/jobs/nightly/run">"#));
    // The active run: its task linked to the task page, live in place, and Stop.
    assert!(html.contains(r#"<tr data-run="20261204090000abcde" data-status="ACTIVE">"#));
    assert!(html.contains(
        r#"<li data-key="task:nightly_20261204090000abcde.1" data-state="TASK_RUNNING"><a href="/ui/tasks/nightly_20261204090000abcde.1">"#
    ), "{html}");
    assert!(html.contains(r#"action="/ui/jobs/nightly/runs/20261204090000abcde/stop""#));
    // Its schedule.
    assert!(
        html.contains("<td><code>0 3 * * *</code></td>") && html.contains("<td>Europe/Paris</td>")
    );
    assert!(html.contains("<td>900 s</td>"));
    // Finished runs, newest first, each task linked.
    let order: Vec<&str> = html
        .split("data-result=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or(""))
        .collect();
    assert_eq!(order, ["Succeeded", "Failed", "Succeeded"]);
    assert!(html.find("<code>ok3</code>") < html.find("<code>bad2</code>"));
    assert!(html.contains(r#"<a href="/ui/tasks/nightly_bad2.1">nightly_bad2.1</a>"#));
    // The skipped occurrences, with why.
    assert!(html.contains("concurrencyPolicy FORBID: run 20261203020000xyz12 is still active"));
    assert!(html.contains("<td class=\"n\">3</td>") && html.contains("missed by more than"));
    // What a run launches, and the definition without what the scheduler adds.
    assert!(html.contains("<code>report.sh --all</code>"));
    assert!(html.contains("0.5 CPUs, 128 MiB, 0 MiB disk"));
    assert!(html.contains("<code>MODE=full</code>"));
    assert!(!html.contains("nextRunAt") && !html.contains("activeRuns"));
    assert!(
        html.contains(r#"data-refresh="task" data-refresh-on="members">"#),
        "no framework known here: any task's change"
    );

    // A job never run, and a scheduler that keeps no skipped list.
    let (_, html) = get(&ui, "/ui/jobs/adhoc").await;
    assert!(html.contains("Never run") && html.contains("None: the job is not running."));
    assert!(html.contains("None: the job runs only when started"));
    assert!(html.contains("None: every occurrence that fell due was run."));
    let (_, html) = get(&ui, "/ui/jobs/broken").await;
    assert!(html.contains("keeps no list of skipped occurrences"));
    assert!(
        html.contains("<span class=\"sym bad\" aria-hidden=\"true\">▲</span> Failed, 2026-12-04"),
        "{html}"
    );

    // Unknown jobs and paths that are no job id.
    let (status, html) = get(&ui, "/ui/jobs/nope").await;
    assert_eq!(status, 404);
    assert!(
        html.contains("No job with id &#39;nope&#39; is known to the jobs scheduler."),
        "{html}"
    );
    let (status, html) = get(&ui, "/ui/jobs/..%2Fv2").await;
    assert_eq!(status, 404);
    assert!(html.contains("is not a job id"), "{html}");
    assert!(!fake.asked("GET", "/v2?embed=activeRuns&embed=schedules&embed=history"));
}

/// POST a form through the UI's router: status, Location and body.
async fn post(ui: &Arc<Ui>, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut rq =
        axum::http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    let resp = crate::router(ui.clone())
        .oneshot(rq.body(axum::body::Body::empty()).expect("a request"))
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
async fn run_now_and_stop_send_what_metronome_expects_and_say_what_was_done() {
    let fake = Fake::start().await;
    let ui = ui_finding(&fake.url);
    let (status, loc, _) = post(&ui, "/ui/jobs/nightly/run", &[]).await;
    assert_eq!(status, 303);
    assert_eq!(
        loc,
        "/ui/jobs/nightly?done=started&job=nightly&run=20261204100000fghij"
    );
    assert!(fake.asked("POST", "/v1/jobs/nightly/runs"));
    let (_, html) = get(&ui, &loc).await;
    assert!(html.contains(
        r#"<p class="flash" role="status">Started run 20261204100000fghij of nightly.</p>"#
    ));

    let (status, loc, _) = post(&ui, "/ui/jobs/nightly/runs/20261204090000abcde/stop", &[]).await;
    assert_eq!(status, 303);
    assert_eq!(
        loc,
        "/ui/jobs/nightly?done=stopped&job=nightly&run=20261204090000abcde"
    );
    assert!(fake.asked(
        "POST",
        "/v1/jobs/nightly/runs/20261204090000abcde/actions/stop"
    ));
    let (_, html) = get(&ui, &loc).await;
    assert!(html.contains("Stopping run 20261204090000abcde of nightly"));
    let (_, html) = get(&ui, "/ui/jobs/nightly?done=%3Cb%3E").await;
    assert!(!html.contains("class=\"flash\""), "only known messages");

    // A reload of an action's URL goes back to the job's page.
    let (status, _) = get(&ui, "/ui/jobs/nightly/run").await;
    assert_eq!(status, 303);

    // Another site's form is refused before it reaches the scheduler.
    let before = fake.seen.lock().expect("asked").len();
    let (status, _, _) = post(
        &ui,
        "/ui/jobs/nightly/run",
        &[("origin", "http://evil.example"), ("host", "ui.example")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(fake.seen.lock().expect("asked").len(), before);
}

#[tokio::test]
async fn a_refused_action_shows_the_schedulers_message_at_the_action_with_its_status() {
    let fake = Fake::start().await;
    let ui = ui_finding(&fake.url);
    let (status, _, html) = post(&ui, "/ui/jobs/broken/run", &[]).await;
    assert_eq!(status, 503, "{html}");
    assert!(
        html.contains(r#"<div class="error" role="alert" id="run-error">"#),
        "{html}"
    );
    assert!(html.contains("the store is not reachable"));
    assert!(html.contains(r#"aria-describedby="run-error">Run now</button>"#));
    assert!(
        !html.contains("data-refresh="),
        "the message is not refreshed away"
    );

    // A run that ended meanwhile: the scheduler's 404, above the runs.
    let (status, _, html) = post(&ui, "/ui/jobs/nightly/runs/gone1/stop", &[]).await;
    assert_eq!(status, 404, "{html}");
    assert!(html.contains(r#"id="stop-error""#));
    assert!(html.contains("The jobs scheduler refused (HTTP 404):</strong> Job Run gone1 of job nightly does not exist"), "{html}");
    assert!(html.contains("<h1>nightly</h1>"), "the job's page");

    // Ids that are none are not sent.
    let before = fake.seen.lock().expect("asked").len();
    let (status, _, _) = post(&ui, "/ui/jobs/nightly/runs/a%20b/stop", &[]).await;
    assert_eq!(status, 404);
    let (status, _, _) = post(&ui, "/ui/jobs/No/run", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(fake.seen.lock().expect("asked").len(), before);
}

#[tokio::test]
async fn without_a_jobs_scheduler_the_pages_say_why() {
    // None given, none registered with the master.
    let ui = ui_given(None);
    let (status, html) = get(&ui, "/ui/jobs").await;
    assert_eq!(status, 200, "the table reads, saying why it is empty");
    assert!(
        html.contains("The jobs scheduler is not configured"),
        "{html}"
    );
    assert!(html.contains("drover gateway --jobs"));
    assert!(html.contains("<h1>Jobs</h1>"));
    let (status, html) = get(&ui, "/ui/jobs/nightly").await;
    assert_eq!(status, 503);
    assert!(html.contains("<h1>nightly</h1>") && html.contains("is not configured"));
    let (status, _, html) = post(&ui, "/ui/jobs/nightly/run", &[]).await;
    assert_eq!(status, 503, "{html}");
    assert!(
        html.contains(r#"id="run-error""#) && html.contains("Not done"),
        "{html}"
    );

    // Given, but not answering.
    let ui = ui_given(Some("http://127.0.0.1:9"));
    let (status, html) = get(&ui, "/ui/jobs").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("The jobs scheduler could not be reached: http://127.0.0.1:9"),
        "{html}"
    );
    assert!(html.contains("Not known while the jobs scheduler cannot be read."));
    let (status, _) = get(&ui, "/ui/jobs/nightly").await;
    assert_eq!(status, 502);
}
