//! `dryRun=true` on `POST /v2/apps` and `PUT /v2/apps/{id}`, over HTTP: the plan comes back
//! (200) and nothing is stored, deployed or launched; without it, the same requests do what
//! they always did. Marathon runs here without a master (the link keeps retrying), which is
//! enough for the REST API.
#![allow(clippy::unwrap_used)]

mod common;
use common::{call, start};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_answer_the_plan_and_change_nothing() {
    use reqwest::Method;
    let (base, _handle) = start().await;
    let http = drover_httpclient::client().unwrap();
    let app =
        json!({"id": "/demo/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 32});

    let (status, plan) = call(
        &http,
        Method::POST,
        format!("{base}/v2/apps?dryRun=true"),
        Some(app.clone()),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["dryRun"], true);
    assert_eq!(
        plan["steps"],
        json!([{"actions": [{"action": "StartApplication", "app": "/demo/web"}]}])
    );
    assert_eq!(plan["totalSteps"], 1);
    assert_eq!(plan["apps"][0]["launch"], 2);
    assert_eq!(plan["apps"][0]["instances"], json!({"from": null, "to": 2}));
    let (_, apps) = call(&http, Method::GET, format!("{base}/v2/apps"), None).await;
    assert_eq!(apps, json!({"apps": []}), "a dry run stores nothing");
    let (_, deployments) = call(&http, Method::GET, format!("{base}/v2/deployments"), None).await;
    assert_eq!(deployments, json!([]));
    let (_, queue) = call(&http, Method::GET, format!("{base}/v2/queue"), None).await;
    assert_eq!(queue, json!({"queue": []}));

    // The real request, as always.
    let (status, created) = call(
        &http,
        Method::POST,
        format!("{base}/v2/apps"),
        Some(app.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "/demo/web");
    let version = created["version"].clone();

    // A dry run fails as the request would: the app exists.
    let (status, body) = call(
        &http,
        Method::POST,
        format!("{base}/v2/apps?dryRun=true"),
        Some(app.clone()),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // And the deployment in progress blocks an update, unless forced.
    let scale = json!({"instances": 5});
    let (status, _) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/demo/web?dryRun=true"),
        Some(scale.clone()),
    )
    .await;
    assert_eq!(status, 409);
    let (status, plan) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/demo/web?dryRun=true&force=true"),
        Some(scale.clone()),
    )
    .await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["steps"][0]["actions"][0]["action"], "ScaleApplication");
    assert_eq!(plan["apps"][0]["instances"], json!({"from": 2, "to": 5}));
    assert_eq!(plan["supersedes"].as_array().map(|a| a.len()), Some(1));
    let (_, shown) = call(&http, Method::GET, format!("{base}/v2/apps/demo/web"), None).await;
    assert_eq!(shown["app"]["instances"], 2, "a dry run changes nothing");
    assert_eq!(shown["app"]["version"], version);
    let (_, deployments) = call(&http, Method::GET, format!("{base}/v2/deployments"), None).await;
    assert_eq!(
        deployments.as_array().map(|d| d.len()),
        Some(1),
        "the deployment in progress stays"
    );

    // An invalid update is refused as it would be.
    let (status, _) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/demo/web?dryRun=true&force=true"),
        Some(json!({"instances": -1})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/demo/web?dryRun=maybe"),
        Some(scale.clone()),
    )
    .await;
    assert_eq!(status, 400);

    // The real update, as always.
    let (status, done) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/demo/web?force=true"),
        Some(scale),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["deploymentId"].is_string());
    let (_, shown) = call(&http, Method::GET, format!("{base}/v2/apps/demo/web"), None).await;
    assert_eq!(shown["app"]["instances"], 5);
}
