//! The HTTP face of [`Cosmos`]: each handler negotiates the response's media type, decodes the
//! request body, calls one [`Cosmos`] method and encodes its answer (or its Cosmos error, with
//! the error media type). Also `GET /capabilities`, the CLI binaries of built-in packages, and
//! Cosmos' `/cosmos/service/…` API, answered as not implemented.

use crate::builtin;
use crate::error::Error;
use crate::media;
use crate::rpc::decode;
use crate::service::Cosmos;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;

/// The largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// Cosmos' routes, to be mounted at the root of the gateway: `GET /capabilities`,
/// `POST /package/…`, `POST /package/repository/…`, `GET /package/cli/…` and `/cosmos/service/…`.
pub fn router(cosmos: Arc<Cosmos>) -> Router {
    Router::new()
        .route("/capabilities", get(capabilities))
        .route("/package/search", post(search))
        .route("/package/describe", post(describe))
        .route("/package/render", post(render))
        .route("/package/install", post(install))
        .route("/package/list", post(list))
        .route("/package/list-versions", post(list_versions))
        .route("/package/uninstall", post(uninstall))
        .route("/package/repository/list", post(repository_list))
        .route("/package/repository/add", post(repository_add))
        .route("/package/repository/delete", post(repository_delete))
        .route("/package/cli/{package}/{version}/{file}", get(cli_file))
        .route("/package/assets/drover", get(drover_binary))
        .route("/cosmos/service/{*rest}", any(not_implemented))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(cosmos)
}

type Shared = State<Arc<Cosmos>>;

fn respond(status: StatusCode, content_type: &str, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn error_response(e: &Error) -> Response {
    if e.status().is_server_error() {
        tracing::warn!(error = %e, kind = e.kind(), "cosmos request failed");
    }
    respond(e.status(), media::ERROR, &e.body())
}

/// `http://<Host>` as the client reached the gateway (`X-Forwarded-Proto` says when https).
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1:8000");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

/// Negotiate `kind` among `versions` (newest first), run `f` with the chosen version, encode.
async fn endpoint<F, Fut>(headers: &HeaderMap, kind: &str, versions: &[u8], f: F) -> Response
where
    F: FnOnce(u8) -> Fut,
    Fut: Future<Output = Result<Value, Error>>,
{
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    let negotiated = match media::negotiate(accept, kind, versions) {
        Ok(n) => n,
        Err(e) => return error_response(&e),
    };
    match f(negotiated.version).await {
        Ok(body) => respond(StatusCode::OK, &negotiated.content_type, &body),
        Err(e) => error_response(&e),
    }
}

/// `GET /package/assets/drover`: this very binary, for packages whose tasks run a part of Drover
/// (the `marathon` package runs `drover marathon`); streamed from disk.
async fn drover_binary() -> Response {
    let file = match std::env::current_exe() {
        Ok(p) => tokio::fs::File::open(p).await,
        Err(e) => Err(e),
    };
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            return error_response(&Error::ServiceUnavailable {
                service: "drover binary".into(),
                cause: e.to_string(),
            })
        }
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    let mut r = Response::new(axum::body::Body::from_stream(
        tokio_util::io::ReaderStream::new(file),
    ));
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(n) = len {
        r.headers_mut()
            .insert(axum::http::header::CONTENT_LENGTH, n.into());
    }
    r
}

/// What the CLI may use: packages, and jobs (`dcos job` refuses to run without `METRONOME`;
/// the gateway serves the jobs scheduler at `/service/metronome/`). In dcos/cosmos'
/// `CapabilitiesHandler` order; its `SUPPORT_CLUSTER_REPORT`, `LOGGING` and `LOGGING_V2` are
/// left out, as Drover has none of their endpoints (the CLI then reads logs through the
/// files API).
async fn capabilities() -> Response {
    respond(
        StatusCode::OK,
        media::CAPABILITIES,
        &json!({"capabilities": [{"name": "PACKAGE_MANAGEMENT"}, {"name": "METRONOME"}]}),
    )
}

async fn search(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "search-response", &[1], |_| async {
        c.search(decode(&body, "search request")?, &origin(&headers))
            .await
    })
    .await
}

async fn describe(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let origin = origin(&headers);
    endpoint(&headers, "describe-response", &[3, 2], |v| async move {
        c.describe(decode(&body, "describe request")?, &origin, v)
            .await
    })
    .await
}

async fn render(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let origin = origin(&headers);
    endpoint(&headers, "render-response", &[1], |_| async move {
        c.render(decode(&body, "render request")?, &origin).await
    })
    .await
}

async fn install(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let origin = origin(&headers);
    endpoint(&headers, "install-response", &[2, 1], |v| async move {
        c.install(decode(&body, "install request")?, &origin, v)
            .await
    })
    .await
}

async fn list(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "list-response", &[1], |_| async {
        c.list(decode(&body, "list request")?, &origin(&headers))
            .await
    })
    .await
}

async fn list_versions(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "list-versions-response", &[1], |_| async {
        c.list_versions(decode(&body, "list-versions request")?)
            .await
    })
    .await
}

async fn uninstall(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "uninstall-response", &[1], |_| async {
        c.uninstall(decode(&body, "uninstall request")?).await
    })
    .await
}

async fn repository_list(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "repository.list-response", &[1], |_| async {
        let _: Value = decode(&body, "repository list request")?;
        Ok(c.repository_list().await)
    })
    .await
}

async fn repository_add(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "repository.add-response", &[1], |_| async {
        c.repository_add(decode(&body, "repository add request")?)
            .await
    })
    .await
}

async fn repository_delete(State(c): Shared, headers: HeaderMap, body: Bytes) -> Response {
    endpoint(&headers, "repository.delete-response", &[1], |_| async {
        c.repository_delete(decode(&body, "repository delete request")?)
            .await
    })
    .await
}

/// A built-in package's CLI binary, whatever the `Accept`.
async fn cli_file(Path((package, version, file)): Path<(String, String, String)>) -> Response {
    match builtin::cli_file(&package, &version, &file) {
        Some(f) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/octet-stream")],
            f.bytes,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no CLI file {file} of package {package} {version}\n"),
        )
            .into_response(),
    }
}

async fn not_implemented() -> Response {
    error_response(&Error::NotImplemented)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "http_tests.rs"]
mod tests;
