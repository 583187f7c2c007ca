//! Prometheus metrics for Drover's HTTP servers. Each process (master, agent, Marathon, DNS,
//! gateway) makes its own [`Registry`], registers what it counts under its prefix
//! (`drover_master`, …), and serves it at `/metrics` in the Prometheus text format 0.0.4.
//!
//! - `http`: [`HttpMetrics`], request counts and latencies per route template (axum's
//!   `MatchedPath`, never the raw path: label values stay bounded), method and status class,
//!   and [`track`], the middleware that records them.
//! - `snapshot`: [`Series`] read at scrape time from state a process already keeps (the Mesos
//!   `/metrics/snapshot` values, a core's counters), so pure code counts in plain fields and
//!   nothing global is incremented; [`mesos_name`] maps Mesos' names.
//! - [`endpoint`] and [`encode`]: the `/metrics` handler.
#![forbid(unsafe_code)]

mod http;
mod snapshot;
#[cfg(feature = "test-util")]
pub mod testing;

pub use http::{matched_route, track, HttpMetrics, OTHER_ROUTE};
pub use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
pub use prometheus_client::registry::Registry;
pub use snapshot::{mesos_name, prometheus_name, Kind, Series, Snapshot};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use std::sync::Arc;

/// The `Content-Type` of what [`encode`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The registry in the Prometheus text format (0.0.4), which every scraper reads.
pub fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}

/// `GET /metrics` for a router of any state: the registry, encoded at each scrape.
pub fn endpoint<S: Clone + Send + Sync + 'static>(registry: Arc<Registry>) -> MethodRouter<S> {
    get(move || async move { respond(&registry) })
}

fn respond(registry: &Registry) -> Response {
    match encode(registry) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        // Only a collector's own formatting can fail; say so rather than serve half a page.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_endpoint_serves_the_text_format() {
        let mut r = Registry::default();
        let h = Histogram::new(exponential_buckets(0.5, 2.0, 2));
        r.sub_registry_with_prefix("drover_test")
            .register("cycle_seconds", "A cycle", h.clone());
        h.observe(0.7);
        let app: axum::Router = axum::Router::new().route("/metrics", endpoint(Arc::new(r)));
        let resp = app
            .oneshot(
                Request::get("/metrics")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(CONTENT_TYPE.as_bytes())
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(
            text.contains("# TYPE drover_test_cycle_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("drover_test_cycle_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("drover_test_cycle_seconds_count 1\n"),
            "{text}"
        );
    }
}
