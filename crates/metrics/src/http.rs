//! Request counts and latencies of an HTTP server, per route template, method and status
//! class, and the middleware that records them.
//!
//! The route is the template a request matched (`/v2/apps/{*rest}`, axum's `MatchedPath`), not
//! its path: paths carry ids, and a label per id would grow without bound. A request no route
//! matched (a fallback, a 404) is counted under [`OTHER_ROUTE`]. Latency is the time to the
//! response's headers: a streamed body (an event stream, a subscription) is not waited for.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::{Duration, Instant};

/// The route label of a request that matched no route.
pub const OTHER_ROUTE: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    method: &'static str,
}

type Latencies = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// `<prefix>_http_requests_total{route,method,status}` and
/// `<prefix>_http_request_duration_seconds{route,method}`.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Latencies,
}

/// 0.5 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// A method as a label: the standard ones by name, any other (extension methods are
/// unbounded) as `OTHER`.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn status_class(s: StatusCode) -> &'static str {
    match s.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl HttpMetrics {
    /// Register the two families in `registry` (give it the process' prefix).
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let m = HttpMetrics {
            requests: Family::default(),
            latency: Latencies::new_with_constructor(latency_histogram),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request to its response's headers, by route template and method",
            m.latency.clone(),
        );
        m
    }

    /// Count one request of `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method,
                status: status_class(status),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                route: route.to_string(),
                method,
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// The route template `req` matched, or [`OTHER_ROUTE`].
pub fn matched_route(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| OTHER_ROUTE.to_string())
}

/// Middleware (`axum::middleware::from_fn_with_state`) recording each request in
/// [`HttpMetrics`]. Add it with `Router::layer` after the routes, so that it runs once the
/// route is matched and sees its template.
pub async fn track(State(m): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = matched_route(&req);
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    m.observe(&route, &method, resp.status(), started.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(app: &axum::Router, method: Method, path: &str) -> StatusCode {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        app.clone().oneshot(req).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_not_path() {
        let mut r = Registry::default();
        let m = HttpMetrics::register(r.sub_registry_with_prefix("drover_test"));
        let app: axum::Router = axum::Router::new()
            .route("/v2/apps/{id}", get(|| async { "app" }))
            .route("/fail", get(|| async { StatusCode::BAD_GATEWAY }))
            .layer(axum::middleware::from_fn_with_state(m, track));
        for path in ["/v2/apps/a", "/v2/apps/b", "/nowhere", "/fail"] {
            call(&app, Method::GET, path).await;
        }
        assert_eq!(
            call(&app, Method::POST, "/v2/apps/c").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let text = crate::encode(&r).expect("encodes");
        for line in [
            "drover_test_http_requests_total{route=\"/v2/apps/{id}\",method=\"GET\",status=\"2xx\"} 2\n",
            "drover_test_http_requests_total{route=\"/v2/apps/{id}\",method=\"POST\",status=\"4xx\"} 1\n",
            "drover_test_http_requests_total{route=\"other\",method=\"GET\",status=\"4xx\"} 1\n",
            "drover_test_http_requests_total{route=\"/fail\",method=\"GET\",status=\"5xx\"} 1\n",
            "drover_test_http_request_duration_seconds_count{route=\"/v2/apps/{id}\",method=\"GET\"} 2\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        assert!(
            !text.contains("/v2/apps/a"),
            "a raw path became a label:\n{text}"
        );
    }

    #[test]
    fn methods_and_statuses_are_bounded_labels() {
        let ext = Method::from_bytes(b"PURGE").expect("an extension method");
        assert_eq!(method_label(&ext), "OTHER");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(status_class(StatusCode::TEMPORARY_REDIRECT), "3xx");
        assert_eq!(status_class(StatusCode::LOOP_DETECTED), "5xx");
    }
}
