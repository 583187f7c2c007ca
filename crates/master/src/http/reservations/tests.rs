//! The reservation routes through the router: the old form-encoded endpoints, the v1 calls'
//! decoding and refusals, and the agents' reserved resources in `/master/slaves`.

use crate::core::harness::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use drover_metrics::testing::{call, send};
use serde_json::{json, Value};

/// A master serving HTTP with one agent (4 cpus, 1024 mem, 1000 disk); its id.
fn master() -> (axum::Router, String) {
    let mut h = Harness::new();
    let mut reg = mock_agent(4.0, 1024.0, (31000, 31009));
    reg.agent_info
        .resources
        .push(drover_api::Resource::scalar("disk", 1000.0));
    let ag = h.register(reg);
    let shared = crate::build(crate::MasterConfig::default(), 5050, None).expect("builds");
    *shared.lock() = h.m;
    (crate::http::router(shared), ag.id.value.clone())
}

fn reserved(name: &str, v: f64, role: &str) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": v},
           "reservations": [{"type": "DYNAMIC", "role": role, "principal": "ops"}]})
}

async fn form(app: &axum::Router, path: &str, fields: &[(&str, String)]) -> (StatusCode, String) {
    let body = serde_urlencoded::to_string(fields).expect("a form");
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("a request");
    send(app, req).await
}

#[tokio::test]
async fn the_old_endpoints_take_a_form() {
    let (app, id) = master();
    let list = |v: Vec<Value>| Value::Array(v).to_string();
    let r = form(
        &app,
        "/master/reserve",
        &[
            ("slaveId", id.clone()),
            (
                "resources",
                list(vec![
                    reserved("cpus", 1.0, "ads"),
                    reserved("disk", 200.0, "ads"),
                ]),
            ),
        ],
    )
    .await;
    assert_eq!(r, (StatusCode::ACCEPTED, String::new()));

    let (status, text) = call(&app, Method::GET, "/master/slaves", "").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let slave = &v["slaves"][0];
    assert_eq!(
        slave["reserved_resources"]["ads"]["cpus"],
        json!(1.0),
        "{slave}"
    );
    let full = slave["reserved_resources_full"]["ads"]
        .as_array()
        .expect("a list for ads");
    assert_eq!(full.len(), 2, "{full:?}");
    assert_eq!(full[0]["role"], "ads");
    assert_eq!(full[0]["reservation"]["principal"], "ops");
    assert_eq!(full[0]["reservations"][0]["role"], "ads");

    let mut vol = reserved("disk", 100.0, "ads");
    vol["disk"] =
        json!({"persistence": {"id": "v1"}, "volume": {"container_path": "data", "mode": "RW"}});
    let vols = list(vec![vol]);
    for path in ["/create-volumes", "/master/destroy-volumes"] {
        let r = form(
            &app,
            path,
            &[("slaveId", id.clone()), ("volumes", vols.clone())],
        )
        .await;
        assert_eq!(r, (StatusCode::ACCEPTED, String::new()), "{path}");
    }
    let r = form(
        &app,
        "/unreserve",
        &[
            ("slaveId", id.clone()),
            ("resources", list(vec![reserved("cpus", 1.0, "ads")])),
        ],
    )
    .await;
    assert_eq!(r, (StatusCode::ACCEPTED, String::new()));

    // Refusals: Mesos' words for the form, 409 for more than there is.
    let cases = [
        (
            vec![("resources", list(vec![]))],
            StatusCode::BAD_REQUEST,
            "Missing 'slaveId' query parameter in the request body",
        ),
        (
            vec![("slaveId", id.clone())],
            StatusCode::BAD_REQUEST,
            "Missing 'resources' query parameter in the request body",
        ),
        (
            vec![("slaveId", id.clone()), ("resources", "[{".to_string())],
            StatusCode::BAD_REQUEST,
            "Error in parsing 'resources' query parameter in the request body",
        ),
        (
            vec![("slaveId", "nope".to_string()), ("resources", list(vec![]))],
            StatusCode::BAD_REQUEST,
            "No agent found with specified ID",
        ),
        (
            vec![
                ("slaveId", id.clone()),
                ("resources", list(vec![reserved("cpus", 9.0, "ads")])),
            ],
            StatusCode::CONFLICT,
            "are not available on agent",
        ),
    ];
    for (fields, status, text) in cases {
        let (got, body) = form(&app, "/reserve", &fields).await;
        assert_eq!(got, status, "{body}");
        assert!(body.contains(text), "{body} should say {text}");
    }
}

#[tokio::test]
async fn the_v1_calls_answer_202_or_name_what_is_wrong() {
    let (app, id) = master();
    let post = |body: Value| {
        let app = app.clone();
        async move { call(&app, Method::POST, "/api/v1", &body.to_string()).await }
    };
    let r = post(json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
        "agent_id": {"value": id}, "resources": [reserved("cpus", 2.0, "ads")]}}))
    .await;
    assert_eq!(r, (StatusCode::ACCEPTED, String::new()));
    let r = post(
        json!({"type": "UNRESERVE_RESOURCES", "unreserve_resources": {
        "agent_id": {"value": id}, "resources": [reserved("cpus", 2.0, "ads")]}}),
    )
    .await;
    assert_eq!(r, (StatusCode::ACCEPTED, String::new()));

    let cases = [
        (
            json!({"type": "RESERVE_RESOURCES"}),
            StatusCode::BAD_REQUEST,
            "Expecting 'reserve_resources' to be present",
        ),
        (
            json!({"type": "CREATE_VOLUMES", "create_volumes": {"volumes": []}}),
            StatusCode::BAD_REQUEST,
            "Expecting 'create_volumes.agent_id' to be present",
        ),
        (
            json!({"type": "DESTROY_VOLUMES", "destroy_volumes": {"agent_id": {"value": id}}}),
            StatusCode::BAD_REQUEST,
            "Expecting 'destroy_volumes.volumes' to be present",
        ),
        (
            json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
                "agent_id": {"value": id}, "resources": [reserved("cpus", 1.0, "a/")]}}),
            StatusCode::BAD_REQUEST,
            "Role 'a/' cannot end with a slash",
        ),
        (
            json!({"type": "RESERVE_RESOURCES", "reserve_resources": {
                "agent_id": {"value": id}, "resources": [reserved("cpus", 5.0, "ads")]}}),
            StatusCode::CONFLICT,
            "are not available on agent",
        ),
    ];
    for (body, status, text) in cases {
        let (got, answer) = post(body).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer.contains(text), "{answer} should say {text}");
    }
}
