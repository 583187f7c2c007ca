//! The gateway's HTTP surface: its own answers (metadata, the open-cluster probes, the page at
//! `/`), and every other path routed (routes.rs) to the part behind it and forwarded (proxy.rs).

use crate::proxy::{error, Target};
use crate::routes::{join, route, Route};
use crate::Gateway;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;

pub fn router(g: Arc<Gateway>) -> Router {
    Router::new()
        .route("/metadata", get(metadata))
        .route("/dcos-metadata/dcos-version.json", get(version))
        // HEAD is the dcos CLI's "login" probe: 200 with no WWW-Authenticate is an open cluster.
        .route("/pkgpanda/active.buildinfo.full.json", get(buildinfo))
        .fallback(dispatch)
        .with_state(g)
}

async fn metadata(State(g): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    Json(crate::metadata::metadata(
        &g.cluster_id,
        &g.cfg.advertise_ip,
    ))
}

async fn version() -> Json<serde_json::Value> {
    Json(crate::metadata::version())
}

async fn buildinfo() -> Json<serde_json::Value> {
    Json(serde_json::json!({}))
}

/// A request with no body can be sent again (to the next Marathon, or where a master redirects).
fn bodiless(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    ) && !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
}

/// The same request again, for a retry (only ever of a bodiless one).
fn again(method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Request<Body> {
    let mut r = Request::new(Body::empty());
    *r.method_mut() = method.clone();
    *r.uri_mut() = uri.clone();
    *r.headers_mut() = headers.clone();
    r
}

/// `Location: //10.0.0.2:5050/master/state` (a master that does not lead) → its base URL and path.
fn redirected(resp: &Response<Body>) -> Option<(String, String)> {
    if resp.status() != StatusCode::TEMPORARY_REDIRECT {
        return None;
    }
    let loc = resp.headers().get(header::LOCATION)?.to_str().ok()?;
    let rest = loc.strip_prefix("//")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('?').next().unwrap_or(path);
    Some((format!("http://{authority}"), path.to_string()))
}

async fn dispatch(
    State(g): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    let r = route(req.uri().path());
    let prefix = r.prefix();
    let ip = Some(peer.ip());
    let retry = bodiless(req.method(), req.headers()).then(|| {
        (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        )
    });
    match r {
        Route::Local => not_found(&req),
        Route::Mesos { path } => {
            let Some(base) = g.master_url() else {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "No leader elected".into(),
                    &prefix,
                    &g.cfg.master,
                );
            };
            let to = Target {
                base,
                path,
                route: prefix.clone(),
            };
            let resp = g.proxy.forward(req, &to, ip).await;
            // A master that stopped leading since the gateway last looked redirects: follow once.
            match (redirected(&resp), retry) {
                (Some((base, path)), Some((m, u, h))) => {
                    let to = Target {
                        base,
                        path,
                        route: prefix,
                    };
                    g.proxy.forward(again(&m, &u, &h), &to, ip).await
                }
                _ => resp,
            }
        }
        Route::Agent { id, path } => {
            let found = g
                .directory
                .find(|d| d.agents.get(&id).cloned(), || g.read_directory())
                .await;
            let Some(base) = found else {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("Agent {id} is not known to the leading master"),
                    &prefix,
                    "",
                );
            };
            let to = Target {
                base,
                path,
                route: prefix,
            };
            let resp = g.proxy.forward(req, &to, ip).await;
            if resp
                .extensions()
                .get::<crate::proxy::Unreachable>()
                .is_some()
            {
                // It may have re-registered elsewhere: read the directory again next time.
                g.directory.invalidate();
            }
            resp
        }
        Route::Marathon { path } => {
            // With several Marathons (an HA set), a request may have to be sent again to the
            // next one: its body (small: apps, groups) is read first, within the limit.
            let (parts, body) = req.into_parts();
            let mut req = Some(Request::from_parts(clone_parts(&parts), body));
            let mut replay: Option<Bytes> = None;
            if g.cfg.marathon.len() > 1 && retry.is_none() {
                let Some(r) = req.take() else {
                    return not_found_marathon(&prefix);
                };
                let limit = g.proxy.limits().max_request_bytes;
                match http_body_util::BodyExt::collect(http_body_util::Limited::new(
                    r.into_body(),
                    limit,
                ))
                .await
                {
                    Ok(c) => replay = Some(c.to_bytes()),
                    Err(_) => {
                        return error(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "Request body is larger than the gateway's limit of {limit} bytes"
                            ),
                            &prefix,
                            "",
                        )
                    }
                }
            }
            let mut resp = None;
            for base in &g.cfg.marathon {
                let to = Target {
                    base: base.trim_end_matches('/').to_string(),
                    path: path.clone(),
                    route: prefix.clone(),
                };
                let this = match (req.take(), &retry, &replay) {
                    (Some(r), _, _) => r,
                    (None, _, Some(b)) => {
                        Request::from_parts(clone_parts(&parts), Body::from(b.clone()))
                    }
                    (None, Some((m, u, h)), None) => again(m, u, h),
                    (None, None, None) => break,
                };
                let r = g.proxy.forward(this, &to, ip).await;
                // Another Marathon of an HA set answers (and proxies to its leader) when this
                // one cannot be reached (refused, or no connection in time).
                let down = r.extensions().get::<crate::proxy::Unreachable>().is_some();
                resp = Some(r);
                if !down {
                    break;
                }
            }
            resp.unwrap_or_else(|| not_found_marathon(&prefix))
        }
        Route::Service { name, path } => {
            // As Admin Router: a Marathon app labelled DCOS_SERVICE_NAME first, then a
            // framework's webui_url.
            let found = g
                .directory
                .find(
                    |d| {
                        d.services
                            .get(&name)
                            .or_else(|| d.frameworks.get(&name))
                            // Drover's jobs scheduler (the framework `metronome`) serves
                            // Chronos' API too: `/service/chronos/` reaches it when no
                            // Chronos of its own runs.
                            .or_else(|| {
                                (name == "chronos")
                                    .then(|| d.frameworks.get("metronome"))
                                    .flatten()
                            })
                            .cloned()
                    },
                    || g.read_directory(),
                )
                .await;
            let Some(webui) = found else {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("No service named {name:?}: no running Marathon app labelled DCOS_SERVICE_NAME={name}, no framework of that name with a web UI (webui_url)"),
                    &prefix,
                    "",
                );
            };
            let Some((base, base_path)) = split_url(&webui) else {
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!("Framework {name:?} has a webui_url the gateway cannot use: {webui:?}"),
                    &prefix,
                    &webui,
                );
            };
            let to = Target {
                base,
                path: join(&base_path, &path),
                route: prefix,
            };
            g.proxy.forward(req, &to, ip).await
        }
        Route::MesosDns { path } => {
            let Some(base) = g.cfg.dns_http.clone() else {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "No DNS is configured for this gateway (--dns-http)".into(),
                    &prefix,
                    "",
                );
            };
            let to = Target {
                base: base.trim_end_matches('/').to_string(),
                path,
                route: prefix,
            };
            g.proxy.forward(req, &to, ip).await
        }
    }
}

fn not_found_marathon(prefix: &str) -> Response<Body> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "No Marathon is configured for this gateway (--marathon)".into(),
        prefix,
        "",
    )
}

/// A request's head again (its extensions stay behind: the proxy reads none).
fn clone_parts(p: &axum::http::request::Parts) -> axum::http::request::Parts {
    let mut r = Request::new(());
    *r.method_mut() = p.method.clone();
    *r.uri_mut() = p.uri.clone();
    *r.version_mut() = p.version;
    *r.headers_mut() = p.headers.clone();
    r.into_parts().0
}

/// `http://host:port/some/path` → (`http://host:port`, `/some/path`); only plain http.
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    Some((format!("http://{authority}"), path.to_string()))
}

fn not_found(req: &Request<Body>) -> Response<Body> {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({
            "message": format!("No route for {} {}", req.method(), req.uri().path())
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masters_redirect_names_the_leader() {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        r.headers_mut().insert(
            header::LOCATION,
            "//10.0.0.2:5050/master/state?jsonp=x"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            redirected(&r),
            Some(("http://10.0.0.2:5050".into(), "/master/state".into()))
        );
        *r.status_mut() = StatusCode::OK;
        assert_eq!(redirected(&r), None);
    }

    #[test]
    fn webui_urls_split_into_base_and_path() {
        assert_eq!(
            split_url("http://10.0.0.1:9000/ui"),
            Some(("http://10.0.0.1:9000".into(), "/ui".into()))
        );
        assert_eq!(
            split_url("http://10.0.0.1:9000"),
            Some(("http://10.0.0.1:9000".into(), "/".into()))
        );
        assert_eq!(split_url("https://x"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
