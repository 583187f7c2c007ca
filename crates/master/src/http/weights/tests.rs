//! `/weights` and the weights operator calls through the router: all or nothing, Mesos'
//! messages, the same weights both ways.

use crate::core::harness::*;
use axum::http::{Method, StatusCode};
use drover_metrics::testing::call;
use serde_json::{json, Value};

fn master() -> axum::Router {
    let h = Harness::new();
    let shared = crate::build(crate::MasterConfig::default(), 5050, None).expect("builds");
    *shared.lock() = h.m;
    crate::http::router(shared)
}

#[tokio::test]
async fn weights_are_set_all_or_nothing_and_read_back_both_ways() {
    let app = master();
    let put = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::PUT, "/weights", &body.to_string()).await }
    };
    let (status, _) =
        put(json!([{"role": "eng/web", "weight": 2.5}, {"role": "ads", "weight": 1}])).await;
    assert_eq!(status, StatusCode::OK);
    // One bad entry: nothing changes.
    let (status, text) =
        put(json!([{"role": "ads", "weight": 7}, {"role": "ops", "weight": 0}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "Failed to validate update weights request JSON for role 'ops': Invalid weight '0': Weights must be positive");
    let (status, text) = put(json!([{"role": "/bad", "weight": 1}])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.starts_with("Failed to validate update weights request JSON: Invalid role '/bad'"),
        "{text}"
    );
    let (status, text) = call(&app, Method::PUT, "/master/weights", "{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.starts_with("Failed to parse update weights request JSON '{'"),
        "{text}"
    );

    let (status, text) = call(&app, Method::GET, "/master/weights", "").await;
    assert_eq!(status, StatusCode::OK);
    let want = json!([{"role": "ads", "weight": 1.0}, {"role": "eng/web", "weight": 2.5}]);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), want);
    let (status, text) = call(
        &app,
        Method::POST,
        "/api/v1",
        &json!({"type": "GET_WEIGHTS"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["get_weights"]["weight_infos"], want);
    let update = json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "ads", "weight": 3}, {"role": "x", "weight": -1}]}});
    let (status, _) = call(&app, Method::POST, "/api/v1", &update.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, text) = call(&app, Method::GET, "/weights", "").await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        want,
        "unchanged"
    );
}
