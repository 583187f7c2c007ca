//! Chronos' REST API end to end: a scheduler on a real port (state in memory, a master that
//! never answers, so runs wait for offers), driven over HTTP as Chronos clients drive it.

use super::test_api::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2035-01-01T10:00:00.000Z";

fn scheduled(name: &str) -> Value {
    json!({"name": name, "command": "echo hi", "owner": "ops@example.com", "disabled": false,
           "schedule": format!("R/{START}/PT1H")})
}

fn dependent(name: &str, parents: &[&str]) -> Value {
    json!({"name": name, "command": "echo child", "owner": "ops@example.com", "disabled": false,
           "parents": parents})
}

#[tokio::test]
async fn an_upserted_job_reads_back_with_chronos_defaults_and_is_replaced_by_name() {
    let a = api().await;
    let (status, body) = a.post("/v1/scheduler/iso8601", scheduled("etl")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, json!(""));
    let j = a.job("etl").await;
    assert_eq!(j["name"], "etl");
    assert_eq!(j["command"], "echo hi");
    assert_eq!(j["owner"], "ops@example.com");
    assert_eq!(j["cpus"], json!(0.1));
    assert_eq!(j["mem"], json!(128.0));
    assert_eq!(j["disk"], json!(256.0));
    assert_eq!(j["retries"], json!(2));
    assert_eq!(j["shell"], json!(true));
    assert_eq!(j["runAsUser"], "root");
    assert_eq!(j["successCount"], json!(0));
    assert_eq!(j["errorCount"], json!(0));
    assert_eq!(j["lastSuccess"], "");
    assert_eq!(j["schedule"], format!("R/{START}/PT1H"));
    assert_eq!(j["scheduleTimeZone"], "");
    assert!(j.get("parents").is_none());

    // The same name again: replaced.
    let mut v2 = scheduled("etl");
    v2["command"] = json!("echo v2");
    v2["cpus"] = json!(0.5);
    v2["mem"] = json!(64);
    let (status, _) = a.json(Method::PUT, "/v1/scheduler/iso8601", Some(v2)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let j = a.job("etl").await;
    assert_eq!(j["command"], "echo v2");
    assert_eq!(j["cpus"], json!(0.5));
    assert_eq!(j["mem"], json!(64.0));
    let (_, all) = a.get("/v1/scheduler/jobs").await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    // The core has it as a Metronome job with one ISO 8601 schedule.
    let (cmd, deadline, forbid) = a.handle.shared.read(|j| {
        let job = &j.jobs["etl"];
        (
            job.spec.run.cmd.clone(),
            job.schedules[0].starting_deadline_seconds,
            job.schedules[0].forbid_concurrent,
        )
    });
    assert_eq!(cmd.as_deref(), Some("echo v2"));
    assert_eq!(deadline, 60);
    assert!(forbid);
}

#[tokio::test]
async fn dependencies_must_exist_and_not_cycle() {
    let a = api().await;
    let (status, body) = a
        .post(
            "/v1/scheduler/dependency",
            dependent("orphan", &["missing"]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["status"], "Bad Request");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing")),
        "{body}"
    );
    let (status, _) = a.post("/v1/scheduler/iso8601", scheduled("root")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = a
        .post("/v1/scheduler/dependency", dependent("a", &["root"]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = a
        .post("/v1/scheduler/dependency", dependent("b", &["a"]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // a depending on b closes a cycle.
    let (status, body) = a
        .post("/v1/scheduler/dependency", dependent("a", &["b"]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("cycle")));
    let (status, _) = a
        .post("/v1/scheduler/dependency", dependent("self", &["self"]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // No parents at all.
    let (status, body) = a
        .post("/v1/scheduler/dependency", dependent("none", &[]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("parent")));
    let b = a.job("b").await;
    assert_eq!(b["parents"], json!(["a"]));
    assert!(b.get("schedule").is_none());
}

#[tokio::test]
async fn bad_schedules_names_and_bodies_are_400_naming_what_is_wrong() {
    let a = api().await;
    let mut bad = scheduled("x");
    bad["schedule"] = json!("R/not-a-date/PT1H");
    let (status, body) = a.post("/v1/scheduler/iso8601", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("R/not-a-date/PT1H")),
        "{body}"
    );
    let mut zone = scheduled("x");
    zone["scheduleTimeZone"] = json!("Nowhere/Land");
    let (status, body) = a.post("/v1/scheduler/iso8601", zone).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("Nowhere/Land")));
    let (status, body) = a
        .post("/v1/scheduler/iso8601", scheduled("no spaces please"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("name is invalid")));
    for raw in ["{", "[]", "{\"command\": \"x\"}", "{\"name\": {}}", ""] {
        let resp = a
            .http
            .post(format!("{}/v1/scheduler/iso8601", a.base))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("an answer");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{raw}");
    }
    // An unknown job: Chronos' 400.
    let (status, body) = a.get("/v1/scheduler/job/nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().is_some_and(|m| m.contains("nope")));
    for (m, p) in [
        (Method::PUT, "/v1/scheduler/job/nope"),
        (Method::DELETE, "/v1/scheduler/job/nope"),
        (Method::DELETE, "/v1/scheduler/task/kill/nope"),
        (Method::GET, "/v1/scheduler/job/stat/nope"),
    ] {
        let (status, _) = a.json(m, p, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    }
    let (status, text) = a
        .call(Method::PUT, "/v1/scheduler/job/success/nope", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "marked job nope as successful: false");
}

#[tokio::test]
async fn legacy_fields_and_the_scheduler_prefix_work() {
    let a = api().await;
    let mut legacy = scheduled("legacy");
    legacy["async"] = json!(false);
    legacy["epsilon"] = json!("PT30S");
    legacy["somethingNew"] = json!({"kept": true});
    let (status, body) = a.post("/scheduler/iso8601", legacy).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, j) = a.get("/scheduler/job/legacy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(j["epsilon"], "PT30S");
    assert_eq!(j["async"], json!(false));
    assert_eq!(j["somethingNew"], json!({"kept": true}));
    let deadline = a
        .handle
        .shared
        .read(|j| j.jobs["legacy"].schedules[0].starting_deadline_seconds);
    assert_eq!(deadline, 30);
    let (status, all) = a.get("/scheduler/jobs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all[0]["name"], "legacy");
    let (status, leader) = a.get("/scheduler/leader").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        leader["leader"],
        json!(a.base.trim_start_matches("http://"))
    );
    let (status, metrics) = a.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics["counters"].get("jobs.run.success.legacy").is_some());
}

#[tokio::test]
async fn search_and_summary() {
    let a = api().await;
    for n in ["etl-extract", "etl-load", "report"] {
        let mut j = scheduled(n);
        j["command"] = json!(format!("run {n}"));
        assert_eq!(
            a.post("/v1/scheduler/iso8601", j).await.0,
            StatusCode::NO_CONTENT
        );
    }
    let mut d = dependent("Notify", &["report"]);
    d["command"] = json!("mail ETL done");
    assert_eq!(
        a.post("/v1/scheduler/dependency", d).await.0,
        StatusCode::NO_CONTENT
    );
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|j| j["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, v) = a.get("/v1/scheduler/jobs/search?name=ETL").await;
    assert_eq!(names(&v), ["etl-extract", "etl-load"]);
    let (_, v) = a.get("/v1/scheduler/jobs/search?command=etl%20done").await;
    assert_eq!(names(&v), ["Notify"]);
    let (_, v) = a.get("/v1/scheduler/jobs/search?any=etl").await;
    assert_eq!(names(&v), ["Notify", "etl-extract", "etl-load"]);
    let (_, v) = a
        .get("/v1/scheduler/jobs/search?any=etl&limit=1&offset=1")
        .await;
    assert_eq!(names(&v), ["etl-extract"]);
    let (_, v) = a.get("/v1/scheduler/jobs/search?limit=x").await;
    assert_eq!(names(&v).len(), 4);

    let (status, v) = a.get("/v1/scheduler/jobs/summary").await;
    assert_eq!(status, StatusCode::OK);
    let notify = &v["jobs"][0];
    assert_eq!(
        *notify,
        json!({"name": "Notify", "status": "fresh", "state": "idle", "schedule": "",
               "parents": ["report"], "disabled": false})
    );
    assert_eq!(v["jobs"][1]["schedule"], format!("R/{START}/PT1H"));
}

#[tokio::test]
async fn run_now_with_arguments_then_kill_and_delete() {
    let a = api().await;
    assert_eq!(
        a.post("/v1/scheduler/iso8601", scheduled("work")).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = a
        .call(
            Method::PUT,
            "/v1/scheduler/job/work?arguments=-v%20a,b",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, "");
    let runs: Vec<(Option<Vec<String>>, crate::core::RunStatus)> = a.handle.shared.read(|j| {
        j.active_runs("work")
            .map(|r| (r.arguments.clone(), r.status))
            .collect()
    });
    assert_eq!(
        runs,
        [(
            Some(vec!["-v".to_string(), "a,b".to_string()]),
            crate::core::RunStatus::Initial
        )]
    );
    let (_, v) = a.get("/v1/scheduler/jobs/summary").await;
    assert_eq!(v["jobs"][0]["state"], "queued");
    let (_, v) = a.get("/v1/scheduler/graph/csv").await;
    assert_eq!(v, json!("node,work,fresh,queued\n"));
    // Kill: the waiting run is given up.
    let (status, _) = a
        .call(Method::DELETE, "/v1/scheduler/task/kill/work", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (active, failed) = a.handle.shared.read(|j| {
        (
            j.active_runs("work").count(),
            j.totals.get("work").map(|t| t.failure_count),
        )
    });
    assert_eq!((active, failed), (0, Some(1)));
    let j = a.job("work").await;
    assert_eq!(j["errorCount"], json!(1));
    assert_eq!(j["errorsSinceLastSuccess"], json!(1));
    assert!(j["lastError"].as_str().is_some_and(|t| t.ends_with('Z')));
    // Marked successful.
    let (status, text) = a
        .call(Method::PUT, "/v1/scheduler/job/success/work", None)
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "marked job work as successful: true")
    );
    let j = a.job("work").await;
    assert_eq!(j["successCount"], json!(1));
    assert_eq!(j["errorsSinceLastSuccess"], json!(0));
    let (_, stat) = a.get("/v1/scheduler/job/stat/work").await;
    assert_eq!(stat["histogram"]["count"], json!(0));
    assert!(stat["taskStatHistory"].is_array());
    let (_, v) = a.get("/v1/scheduler/stats/99thPercentile").await;
    assert_eq!(v, json!([{"jobNameLabel": "work", "time": 0.0}]));
    let (_, v) = a.get("/v1/scheduler/stats/nonsense").await;
    assert_eq!(v, json!([]));
    // Delete.
    let (status, _) = a.call(Method::DELETE, "/v1/scheduler/job/work", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = a.get("/v1/scheduler/jobs").await;
    assert_eq!(all, json!([]));
}

#[tokio::test]
async fn deleting_a_parent_hands_its_children_on_and_the_graph_shows_links() {
    let a = api().await;
    assert_eq!(
        a.post("/v1/scheduler/iso8601", scheduled("root")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        a.post("/v1/scheduler/dependency", dependent("mid", &["root"]))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        a.post("/v1/scheduler/dependency", dependent("leaf", &["mid"]))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, csv) = a.call(Method::GET, "/v1/scheduler/graph/csv", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        csv,
        "node,leaf,fresh,idle\nnode,mid,fresh,idle\nnode,root,fresh,idle\nlink,mid,leaf\nlink,root,mid\n"
    );
    let (_, dot) = a.call(Method::GET, "/v1/scheduler/graph/dot", None).await;
    assert_eq!(
        dot,
        "digraph G {\n  1 [ label=\"leaf\" ];\n  2 [ label=\"mid\" ];\n  3 [ label=\"root\" ];\n  2 -> 1;\n  3 -> 2;\n}\n"
    );
    // mid goes: leaf now depends on root.
    let (status, _) = a.call(Method::DELETE, "/v1/scheduler/job/mid", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(a.job("leaf").await["parents"], json!(["root"]));
    // root goes: leaf takes its schedule.
    let (status, _) = a.call(Method::DELETE, "/scheduler/job/root", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let leaf = a.job("leaf").await;
    assert!(leaf.get("parents").is_none());
    assert_eq!(leaf["schedule"], format!("R/{START}/PT1H"));
}

#[tokio::test]
async fn metronome_jobs_show_in_chronos_terms() {
    let a = api().await;
    let (status, body) = a
        .post(
            "/v1/jobs",
            json!({"id": "nightly", "run": {"cpus": 0.2, "mem": 64, "cmd": "backup",
                   "docker": {"image": "busybox"},
                   "placement": {"constraints": [{"attribute": "rack", "operator": "IS", "value": "a"}]}},
                   "schedules": [{"id": "s", "cron": "0 3 * * *", "timezone": "Europe/Paris"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let j = a.job("nightly").await;
    assert_eq!(j["command"], "backup");
    assert_eq!(j["cpus"], json!(0.2));
    assert_eq!(j["container"]["image"], "busybox");
    assert_eq!(j["container"]["type"], "DOCKER");
    assert_eq!(j["constraints"], json!([["rack", "EQUALS", "a"]]));
    assert_eq!(j["schedule"], "0 3 * * *");
    assert_eq!(j["scheduleTimeZone"], "Europe/Paris");
    // And a Chronos job shows through Metronome.
    assert_eq!(
        a.post("/v1/scheduler/iso8601", scheduled("chronos-made"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, m) = a.get("/v1/jobs/chronos-made?embed=schedules").await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["run"]["cmd"], "echo hi");
    assert_eq!(m["schedules"][0]["id"], "chronos");
}
