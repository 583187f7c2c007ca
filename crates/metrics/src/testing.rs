//! For other crates' tests (feature `test-util`): one request through a router, without a
//! listener, and its answer as text; and a scrape of `/metrics`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use std::net::SocketAddr;
use tower::ServiceExt;

/// Send `method path` with `body` (JSON when not empty) to `app`, as from 127.0.0.1 (handlers
/// that read `ConnectInfo` find it); the status and the body as text.
pub async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    let Ok(req) = req.body(Body::from(body.to_string())) else {
        panic!("a bad request in a test: {path}");
    };
    send(app, req).await
}

/// Send `req` to `app`, as from 127.0.0.1; the status and the body as text.
pub async fn send(app: &axum::Router, mut req: Request<Body>) -> (StatusCode, String) {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 1))));
    let Ok(resp) = app.clone().oneshot(req).await;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// `GET /metrics` of `app`: its text (panics unless 200).
pub async fn scrape(app: &axum::Router) -> String {
    let (status, text) = call(app, Method::GET, "/metrics", "").await;
    assert_eq!(status, StatusCode::OK, "GET /metrics: {text}");
    text
}

/// The value of the sample `line_start` (a name with its labels, as encoded) in `text`.
pub fn value(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
