//! Metronome's REST API over HTTP: what a client sees for a job's life, its schedule's next
//! run, runs, and the errors (404, 409, 422, an unknown route, a body over the limit).

use super::test_api::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn job(id: &str) -> Value {
    json!({"id": id, "run": {"cmd": "echo hi", "cpus": 0.1, "mem": 32}})
}

#[tokio::test]
async fn a_job_is_created_scheduled_run_and_deleted_with_metronomes_answers() {
    let a = api().await;
    let (s, v) = a.post("/v1/jobs", job("nightly")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["run"]["mem"],
        json!(32),
        "integral numbers print without a fraction: {v}"
    );
    let (s, v) = a.post("/v1/jobs", job("nightly")).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["message"], "Job with this id already exists");
    let sched = json!({"id": "daily", "cron": "0 3 * * *", "timezone": "Europe/Berlin"});
    let (s, v) = a.post("/v1/jobs/nightly/schedules", sched).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let next = v["nextRunAt"].as_str().unwrap_or_default();
    assert!(
        next.ends_with(":00:00.000+0000") && (next.contains("T02:") || next.contains("T01:")),
        "03:00 in Berlin is 01:00 or 02:00 UTC: {v}"
    );
    assert_eq!(v["startingDeadlineSeconds"], 900, "{v}");
    assert_eq!(v["concurrencyPolicy"], "ALLOW", "{v}");
    let (s, v) = a.post("/v1/jobs/nightly/runs", json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "INITIAL", "no master answers here: {v}");
    let run = v["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(run.len(), 19, "yyyyMMddHHmmss + 5: {run}");
    let (s, v) = a
        .get("/v1/jobs/nightly?embed=activeRuns&embed=schedules")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["activeRuns"][0]["id"], run.as_str(), "{v}");
    assert_eq!(v["schedules"][0]["id"], "daily", "{v}");
    let (s, v) = a.json(Method::DELETE, "/v1/jobs/nightly", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, _) = a
        .json(
            Method::DELETE,
            "/v1/jobs/nightly?stopCurrentJobRuns=true",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = a.get("/v1/jobs/nightly").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"id": "nightly", "message": "Job not found"}));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let a = api().await;
    let (s, v) = a
        .post(
            "/v1/jobs",
            json!({"id": "Bad_Id", "run": {"cmd": "x", "cpus": 0.001, "mem": 8}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["message"], "Object is not valid");
    let paths: Vec<&str> = v["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|x| x["path"].as_str()).collect())
        .unwrap_or_default();
    for p in ["/id", "/run/cpus", "/run/mem"] {
        assert!(paths.contains(&p), "{p} named: {v}");
    }
    a.post("/v1/jobs", job("j")).await;
    for (cron, tz, path) in [
        ("0 0 30 2 *", "UTC", "/cron"),
        ("61 * * * *", "UTC", "/cron"),
        ("* * * * *", "Mars/Olympus", "/timezone"),
    ] {
        let (s, v) = a
            .post(
                "/v1/jobs/j/schedules",
                json!({"id": "s1", "cron": cron, "timezone": tz}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{cron} {tz}: {v}");
        assert_eq!(v["details"][0]["path"], path, "{cron} {tz}: {v}");
    }
    let (s, v) = a
        .post(
            "/v1/jobs/nope/schedules",
            json!({"id": "s1", "cron": "* * * * *"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a schedule on a job that does not exist: {v}"
    );
    let (s, v) = a.get("/v1/job").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        v,
        json!({"message": "Unknown route.", "requestPath": "/v1/job"})
    );
    let (s, _) = a
        .call(
            Method::POST,
            "/v1/jobs",
            Some(json!({"id": "big", "pad": "x".repeat(2 << 20)})),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, v) = a.get("/v1/jobs").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v.as_array().map(|l| l.len()),
        Some(1),
        "nothing refused was kept: {v}"
    );
}
