//! The gateway's `/metrics`, in the Prometheus text format, over everything it serves: its own
//! routes and what the binary mounts beside them (Cosmos, the web UI), and every request it
//! proxies. [`instrument`] is applied by [`crate::serve`] to the merged router.
//!
//! - `drover_gateway_http_requests_total{route,method,status}` and
//!   `drover_gateway_http_request_duration_seconds{route,method}`: `route` is the kind of route
//!   a proxied request took (`mesos`, `agent`, `marathon`, `service`, `mesos_dns`: never an
//!   agent id or a service name), or for the gateway's own answers the template it matched
//!   (`/metadata`, `/package/install`, `/ui/tasks`), `other` when none did;
//! - `drover_gateway_upstream_errors_total{route,status}`: the 502, 504 and 508 answers the
//!   gateway made itself because an upstream could not be reached, did not answer in time,
//!   answered too much, or led back to the gateway (an upstream's own 502 passed on is not
//!   one). Duration is to the response's headers; a streamed body is not waited for.

use crate::proxy::OwnAnswer;
use crate::routes::{route, Route};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use drover_metrics::{matched_route, HttpMetrics, Registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug)]
struct Recorder {
    http: HttpMetrics,
    upstream_errors: Family<UpstreamLabels, Counter>,
}

/// `app` with `/metrics` beside its routes, and every request of it counted.
pub fn instrument(app: axum::Router) -> axum::Router {
    let mut root = Registry::default();
    let own = root.sub_registry_with_prefix("drover_gateway");
    let rec = Recorder {
        http: HttpMetrics::register(own),
        upstream_errors: Family::default(),
    };
    own.register(
        "upstream_errors",
        "Answers the gateway gave because of its upstream (502 unreachable or failed, 504 too \
         slow, 508 a loop), by route kind and status",
        rec.upstream_errors.clone(),
    );
    app.route("/metrics", drover_metrics::endpoint(Arc::new(root)))
        .layer(axum::middleware::from_fn_with_state(rec, record))
}

async fn record(State(rec): State<Recorder>, req: Request, next: Next) -> Response {
    let kind = route(req.uri().path()).kind();
    let label = match kind {
        "local" => matched_route(&req),
        proxied => proxied.to_string(),
    };
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    rec.http.observe(&label, &method, status, started.elapsed());
    let upstream = matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT | StatusCode::LOOP_DETECTED
    );
    if upstream && kind != Route::Local.kind() && resp.extensions().get::<OwnAnswer>().is_some() {
        rec.upstream_errors
            .get_or_create(&UpstreamLabels {
                route: kind,
                status: status.as_u16(),
            })
            .inc();
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Method;
    use drover_metrics::testing::{call, scrape, send, value};

    /// A gateway whose master refuses connections (nothing listens on port 1).
    fn gateway(dir: &std::path::Path) -> axum::Router {
        let cfg = crate::Config {
            master: "127.0.0.1:1".into(),
            marathon: Vec::new(),
            dns_http: None,
            advertise_ip: "127.0.0.1".into(),
            work_dir: dir.to_path_buf(),
            limits: crate::proxy::Limits::default(),
            zk_session_timeout: std::time::Duration::from_secs(10),
        };
        let g = crate::Gateway::new(cfg, 8000).unwrap();
        instrument(crate::http::router(g))
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_kind_and_upstream_errors_by_status() {
        let dir = tempfile::tempdir().unwrap();
        let app = gateway(dir.path());
        let (status, _) = call(&app, Method::GET, "/mesos/master/state", "").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let looped = Request::get("/mesos/master/state")
            .header(crate::proxy::HOPS, crate::proxy::MAX_HOPS)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, looped).await.0, StatusCode::LOOP_DETECTED);
        // Not upstream errors: no Marathon configured (503), an unknown agent (404).
        call(&app, Method::GET, "/service/marathon/v2/apps", "").await;
        call(&app, Method::GET, "/metadata", "").await;
        call(&app, Method::GET, "/no/such/page", "").await;
        let text = scrape(&app).await;
        let requests = |route: &str, status: &str| {
            let s = format!(
                "drover_gateway_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"{status}\"}}"
            );
            value(&text, &s)
        };
        assert_eq!(requests("mesos", "5xx"), Some(2.0), "{text}");
        assert_eq!(requests("marathon", "5xx"), Some(1.0), "{text}");
        assert_eq!(requests("/metadata", "2xx"), Some(1.0), "{text}");
        assert_eq!(requests("other", "4xx"), Some(1.0), "{text}");
        let errors = |route: &str, status: u16| {
            let s = format!(
                "drover_gateway_upstream_errors_total{{route=\"{route}\",status=\"{status}\"}}"
            );
            value(&text, &s)
        };
        assert_eq!(errors("mesos", 502), Some(1.0), "{text}");
        assert_eq!(errors("mesos", 508), Some(1.0), "{text}");
        assert_eq!(errors("marathon", 503), None, "{text}");
        assert!(
            !text.contains("master/state"),
            "a path became a label:\n{text}"
        );
    }
}
