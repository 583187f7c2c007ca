//! mesos-dns' HTTP API over the published snapshot: `/v1/version`, `/v1/config`,
//! `/v1/hosts/{host}`, `/v1/services/{service}`, `/v1/enumerate`, `/v1/axfr`, with its JSON,
//! and `/metrics` (`crate::metrics`). Handlers only read the snapshot; request bodies are
//! limited.

use crate::server::Published;
use crate::{Config, Metrics};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// The largest request body accepted (the API takes none).
const BODY_LIMIT: usize = 4096;
/// Names longer than a DNS name can be match nothing.
const MAX_NAME: usize = 255;

#[derive(Clone)]
struct Api {
    records: Published,
    config: Arc<Config>,
}

/// The HTTP API's routes, for the DNS' own listener or to mount elsewhere (the gateway), with
/// `/metrics` serving `metrics` and its requests counted there.
pub fn router(records: Published, config: Config, metrics: &Metrics) -> Router {
    let enumeration = config.enumeration_on;
    let mut r = Router::new()
        .route("/v1/version", get(version))
        .route("/v1/config", get(config_json))
        .route("/v1/hosts/{host}", get(hosts))
        .route("/v1/hosts/{host}/ports", get(ports))
        .route("/v1/services/{service}", get(services));
    if enumeration {
        r = r
            .route("/v1/enumerate", get(enumerate))
            .route("/v1/axfr", get(axfr));
    }
    r.route(
        "/metrics",
        drover_metrics::endpoint(metrics.registry.clone()),
    )
    .layer(tower_http::limit::RequestBodyLimitLayer::new(BODY_LIMIT))
    .layer(axum::middleware::from_fn_with_state(
        metrics.http.clone(),
        drover_metrics::track,
    ))
    .with_state(Api {
        records,
        config: Arc::new(config),
    })
}

async fn version() -> Json<Value> {
    Json(json!({
        "Service": "Mesos-DNS",
        "Version": concat!("drover-", env!("CARGO_PKG_VERSION")),
        "URL": "https://github.com/mesosphere/mesos-dns",
    }))
}

async fn config_json(State(a): State<Api>) -> Json<Value> {
    let serial = a.records.current().map_or(0, |r| r.serial);
    Json(a.config.to_mesos_json(serial))
}

/// A name as the API takes it: lowercased, wildcards cleaned, absolute.
fn clean(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let mut n = name.replace(".*", "").to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    Some(n)
}

async fn hosts(State(a): State<Api>, Path(host): Path<String>) -> Json<Value> {
    let mut out = Vec::new();
    if let (Some(rs), Some(dom)) = (a.records.current(), clean(&host)) {
        let ips = rs.addrs(&dom);
        for ip in ips
            .iter()
            .filter(|i| i.is_ipv4())
            .chain(ips.iter().filter(|i| i.is_ipv6()))
        {
            out.push(json!({"host": dom, "ip": ip.to_string()}));
        }
    }
    if out.is_empty() {
        out.push(json!({"host": "", "ip": ""}));
    }
    Json(Value::Array(out))
}

async fn ports() -> Response {
    (StatusCode::NOT_IMPLEMENTED, "To be implemented...").into_response()
}

async fn services(State(a): State<Api>, Path(service): Path<String>) -> Json<Value> {
    let mut out = Vec::new();
    if let (Some(rs), Some(dom)) = (a.records.current(), clean(&service)) {
        for s in rs.srvs(&dom) {
            let addrs = rs.addrs(&s.target.text);
            let first = |v4: bool| addrs.iter().find(|i: &&IpAddr| i.is_ipv4() == v4);
            for ip in [first(true), first(false)].into_iter().flatten() {
                out.push(json!({
                    "service": service, "host": &*s.target.text,
                    "ip": ip.to_string(), "port": s.port.to_string(),
                }));
            }
        }
    }
    if out.is_empty() {
        out.push(json!({"service": "", "host": "", "ip": "", "port": ""}));
    }
    Json(Value::Array(out))
}

async fn enumerate(State(a): State<Api>) -> Json<Value> {
    let e = a
        .records
        .current()
        .map(|r| r.enumeration())
        .unwrap_or_default();
    Json(serde_json::to_value(e).unwrap_or(Value::Null))
}

async fn axfr(State(a): State<Api>) -> Json<Value> {
    let rs = a.records.current();
    let (mut as_, mut aaaas, mut srvs) = (Map::new(), Map::new(), Map::new());
    if let Some(rs) = &rs {
        for (name, ips) in rs.all_addrs() {
            let v4: Vec<String> = ips
                .iter()
                .filter(|i| i.is_ipv4())
                .map(|i| i.to_string())
                .collect();
            let v6: Vec<String> = ips
                .iter()
                .filter(|i| i.is_ipv6())
                .map(|i| i.to_string())
                .collect();
            if !v4.is_empty() {
                as_.insert(name.to_string(), json!(v4));
            }
            if !v6.is_empty() {
                aaaas.insert(name.to_string(), json!(v6));
            }
        }
        for (name, list) in rs.all_srvs() {
            let v: Vec<String> = list
                .iter()
                .map(|s| format!("{}:{}", s.target.text, s.port))
                .collect();
            srvs.insert(name.to_string(), json!(v));
        }
    }
    let c = &a.config;
    Json(json!({
        "TTL": c.ttl,
        "Serial": rs.as_ref().map_or(0, |r| r.serial),
        "RefreshSeconds": c.refresh_seconds,
        "Mname": c.soa_mname,
        "Rname": c.soa_rname,
        "Domain": c.domain,
        "Records": {"As": as_, "AAAAs": aaaas, "SRVs": srvs},
    }))
}
