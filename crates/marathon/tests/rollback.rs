//! `PUT /v2/apps/{id}` with `{"version": "…"}`: Marathon's rollback to a stored version of the
//! app, over HTTP; a version not stored is 404; a version sent back among other fields (what
//! GET showed) changes nothing by itself.
#![allow(clippy::unwrap_used)]

mod common;
use common::{call, start};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_alone_rolls_the_app_back_to_it() {
    let (base, _handle) = start().await;
    let http = drover_httpclient::client().unwrap();
    let app = json!({"id": "/roll", "cmd": "sleep 1", "instances": 0, "cpus": 0.1, "mem": 16});
    let (s, _) = call(&http, Method::POST, format!("{base}/v2/apps"), Some(app)).await;
    assert_eq!(s, 201);
    let (_, first) = call(&http, Method::GET, format!("{base}/v2/apps/roll"), None).await;
    let v1 = first["app"]["version"].as_str().unwrap().to_string();
    let change = json!({"cmd": "sleep 2", "mem": 32});
    let (s, _) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/roll"),
        Some(change),
    )
    .await;
    assert_eq!(s, 200);

    // The GET body sent back whole (version included, cmd changed): the version is ignored.
    let mut shown = call(&http, Method::GET, format!("{base}/v2/apps/roll"), None)
        .await
        .1["app"]
        .clone();
    shown["cmd"] = json!("sleep 3");
    let (s, _) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/roll"),
        Some(shown),
    )
    .await;
    assert_eq!(s, 200);
    let (_, now) = call(&http, Method::GET, format!("{base}/v2/apps/roll"), None).await;
    assert_eq!(now["app"]["cmd"], "sleep 3");

    let back = json!({"version": v1});
    let (s, body) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/roll"),
        Some(back),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, now) = call(&http, Method::GET, format!("{base}/v2/apps/roll"), None).await;
    assert_eq!(now["app"]["cmd"], "sleep 1", "{now}");
    assert_eq!(now["app"]["mem"], 16.0);
    assert_ne!(
        now["app"]["version"],
        v1.as_str(),
        "a rollback is a new version"
    );

    let missing = json!({"version": "2001-01-01T00:00:00.000Z"});
    let (s, body) = call(
        &http,
        Method::PUT,
        format!("{base}/v2/apps/roll"),
        Some(missing),
    )
    .await;
    assert_eq!(s, 404, "{body}");
}
