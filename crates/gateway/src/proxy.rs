//! Forwarding one request to one upstream with hyper's client: bodies pass through as streams in
//! both directions (SSE, RecordIO, a followed log), hop-by-hop headers stay behind, and an
//! upstream that refuses, fails or does not answer in time becomes a 502 or 504 whose JSON names
//! the route and the upstream — never a hang.

use axum::body::Body;
use axum::http::{
    header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri,
};
use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type OutBody = UnsyncBoxBody<Bytes, BoxError>;

/// Limits and timeouts of the proxy.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body passed on (413 beyond it).
    pub max_request_bytes: usize,
    /// Largest response an upstream may declare with Content-Length (502 beyond it); streamed
    /// responses (no length: events, RecordIO, logs) pass as they come.
    pub max_response_bytes: u64,
    pub connect_timeout: Duration,
    /// How long an upstream may take to send its response's headers.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_response_bytes: 1 << 30,
            connect_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(60),
        }
    }
}

/// Marks a gateway answer given because the upstream could not be reached at all (refused,
/// unresolvable, or no connection in time): nothing was sent, so another upstream may be tried.
#[derive(Debug, Clone, Copy)]
pub struct Unreachable;

/// Marks an answer the gateway made itself (an error of [`error`]), not one passed on from an
/// upstream: its 502, 504 and 508 are the upstream errors `/metrics` counts.
#[derive(Debug, Clone, Copy)]
pub struct OwnAnswer;

/// The header that counts how many times a request went through a gateway: a framework whose
/// `webui_url` points back at the gateway would otherwise loop for ever.
pub const HOPS: &str = "x-drover-gateway-hops";
/// More hops than this is a loop.
pub const MAX_HOPS: u32 = 3;

/// What a request is forwarded to.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`.
    pub base: String,
    /// The path the upstream is asked for (the query is the request's).
    pub path: String,
    /// The route it came by (`/service/marathon`), for messages.
    pub route: String,
}

/// The proxy: one connection pool for every upstream.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, OutBody>,
    limits: Limits,
}

/// Headers that belong to one hop (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
}

/// A JSON error answer of the gateway's own: `{"message", "route", "upstream"}`. Marathon's
/// clients (the dcos CLI among them) print `message`.
pub fn error(status: StatusCode, message: String, route: &str, upstream: &str) -> Response<Body> {
    let body = serde_json::json!({"message": message, "route": route, "upstream": upstream});
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.extensions_mut().insert(OwnAnswer);
    r
}

/// Why a forward failed before a response came.
fn failure(e: &hyper_util::client::legacy::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Whether the forward failed because the request's (chunked) body went past the limit.
fn body_too_large(e: &hyper_util::client::legacy::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        src = s.source();
    }
    false
}

impl Proxy {
    pub fn new(limits: Limits) -> Proxy {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(limits.connect_timeout));
        http.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(http);
        Proxy { client, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forward `req` to `to`. `client_ip` goes into X-Forwarded-For.
    pub async fn forward(
        &self,
        req: Request<Body>,
        to: &Target,
        client_ip: Option<std::net::IpAddr>,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let uri: Uri = match format!("{}{}{query}", to.base, to.path).parse() {
            Ok(u) => u,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot forward to {}{}: {e}", to.base, to.path),
                    &to.route,
                    &to.base,
                )
            }
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_request_bytes as u64) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body is larger than the gateway's limit of {} bytes",
                    self.limits.max_request_bytes
                ),
                &to.route,
                &to.base,
            );
        }
        let hops = parts
            .headers
            .get(HOPS)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        if hops >= MAX_HOPS {
            return error(
                StatusCode::LOOP_DETECTED,
                format!(
                    "the request went through the gateway {hops} times: {}{} leads back to it",
                    to.base, to.path
                ),
                &to.route,
                &to.base,
            );
        }
        parts.headers.insert(HOPS, HeaderValue::from(hops + 1));
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        if let Some(ip) = client_ip {
            let xff = match parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(prev) => format!("{prev}, {ip}"),
                None => ip.to_string(),
            };
            if let Ok(v) = HeaderValue::try_from(xff) {
                parts.headers.insert("x-forwarded-for", v);
            }
        }
        if let Some(h) = original_host {
            parts.headers.insert("x-forwarded-host", h);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        parts.uri = uri;
        // Chunked bodies are cut off at the limit too: the upstream sees the body end in an error.
        let body: OutBody = Limited::new(body, self.limits.max_request_bytes)
            .map_err(|e| -> BoxError { e })
            .boxed_unsync();
        let out = Request::from_parts(parts, body);
        let head = matches!(out.method(), &Method::HEAD);
        let resp = match tokio::time::timeout(self.limits.header_timeout, self.client.request(out))
            .await
        {
            Err(_) => {
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{} did not answer within {:.1} s",
                        to.base,
                        self.limits.header_timeout.as_secs_f64()
                    ),
                    &to.route,
                    &to.base,
                )
            }
            Ok(Err(e)) => {
                if body_too_large(&e) {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "Request body is larger than the gateway's limit of {} bytes",
                            self.limits.max_request_bytes
                        ),
                        &to.route,
                        &to.base,
                    );
                }
                let status = if e.is_connect() && failure(&e).contains("timed out") {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                let mut r = error(
                    status,
                    format!("cannot reach {}: {}", to.base, failure(&e)),
                    &to.route,
                    &to.base,
                );
                if e.is_connect() {
                    r.extensions_mut().insert(Unreachable);
                }
                return r;
            }
            Ok(Ok(r)) => r,
        };
        let (mut parts, incoming) = resp.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if !head && declared.is_some_and(|n| n > self.limits.max_response_bytes) {
            return error(
                StatusCode::BAD_GATEWAY,
                format!(
                    "{} answered with a body larger than the gateway's limit of {} bytes",
                    to.base, self.limits.max_response_bytes
                ),
                &to.route,
                &to.base,
            );
        }
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, Body::new(incoming))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("accept", HeaderValue::from_static("application/json"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["accept"], "application/json");
    }

    #[tokio::test]
    async fn a_chunked_body_past_the_limit_is_a_413() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().route(
            "/sink",
            axum::routing::post(|b: axum::body::Bytes| async move { b.len().to_string() }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let proxy = Proxy::new(Limits {
            max_request_bytes: 1000,
            ..Limits::default()
        });
        let to = Target {
            base: format!("http://{addr}"),
            path: "/sink".into(),
            route: "/test".into(),
        };
        let chunks = futures_util::stream::iter(
            (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 500]))),
        );
        let mut req = Request::new(Body::from_stream(chunks));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = "/test/sink".parse().expect("uri");
        let resp = proxy.forward(req, &to, None).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Within the limit it goes through.
        let mut req = Request::new(Body::from(vec![b'x'; 900]));
        *req.method_mut() = Method::POST;
        let resp = proxy.forward(req, &to, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
