//! Marathon's metrics for Prometheus at `/metrics/prometheus` (as Marathon 1.7+ serves them;
//! `/metrics` stays Marathon's Dropwizard JSON). Read at each scrape from the core:
//!
//! - the gauges of the JSON `/metrics`, their names mapped by
//!   [`drover_metrics::prometheus_name`] (`marathon.apps.active.gauge` →
//!   `marathon_apps_active_gauge`);
//! - `marathon_deployments_{started,succeeded,failed,canceled}_total` (failed: superseded by a
//!   forced change; canceled: stopped or rolled back by `DELETE /v2/deployments`), and
//!   `marathon_task_state_transitions_total{state}`, from the core's counters;
//!
//! and recorded as they happen: `marathon_http_requests_total` and
//! `marathon_http_request_duration_seconds` per route. Every Marathon answers for itself, a
//! follower too (its core's state is whatever it holds).

use crate::core::Marathon;
use crate::Shared;
use drover_api::TaskState;
use drover_metrics::{prometheus_name, HttpMetrics, Kind, Registry, Series, Snapshot};
use std::sync::Arc;

/// Marathon's gauges (the JSON `/metrics`' names), counted from the core.
pub(crate) fn gauges(m: &Marathon) -> Vec<(&'static str, f64)> {
    let count = |state: TaskState| m.instances.values().filter(|i| i.state == state).count();
    vec![
        ("marathon.apps.active.gauge", m.apps.len() as f64),
        (
            "marathon.instances.running.gauge",
            count(TaskState::TASK_RUNNING) as f64,
        ),
        (
            "marathon.instances.staged.gauge",
            count(TaskState::TASK_STAGING) as f64,
        ),
        (
            "marathon.deployments.active.gauge",
            m.deployments.len() as f64,
        ),
    ]
}

/// What `/metrics/prometheus` reads from the core.
pub(crate) fn series(m: &Marathon) -> Vec<Series> {
    let mut out: Vec<Series> = gauges(m)
        .into_iter()
        .map(|(name, v)| Series::gauge(prometheus_name(name), format!("{name} of /metrics"), v))
        .collect();
    let c = &m.counters;
    for (what, n, help) in [
        ("started", c.deployments_started, "Deployments started"),
        (
            "succeeded",
            c.deployments_succeeded,
            "Deployments that completed",
        ),
        (
            "failed",
            c.deployments_failed,
            "Deployments superseded by a forced change before they completed",
        ),
        (
            "canceled",
            c.deployments_canceled,
            "Deployments stopped or rolled back by DELETE /v2/deployments",
        ),
    ] {
        out.push(Series::counter(
            format!("marathon_deployments_{what}"),
            help,
            n as f64,
        ));
    }
    let mut states: Vec<(String, f64)> = c
        .transitions
        .iter()
        .map(|(s, n)| (s.to_string(), *n as f64))
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    out.push(Series::by(
        "marathon_task_state_transitions",
        "Instances that entered each state: launched (TASK_STAGING) or updated to another",
        Kind::Counter,
        "state",
        states,
    ));
    out
}

/// The registry `/metrics/prometheus` serves, and the request metrics the router records.
pub(crate) fn registry(s: &Arc<Shared>) -> (Arc<Registry>, HttpMetrics) {
    let mut root = Registry::default();
    let http = HttpMetrics::register(root.sub_registry_with_prefix("marathon"));
    let shared = s.clone();
    root.register_collector(Box::new(Snapshot::new(move || series(&shared.lock()))));
    (Arc::new(root), http)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::{Method, StatusCode};
    use drover_metrics::testing::{call, value};

    #[tokio::test]
    async fn prometheus_metrics_count_deployments_apps_and_requests() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = crate::MarathonConfig {
            framework_name: "marathon".into(),
            master: "127.0.0.1:9".into(),
            advertise: listener.local_addr().unwrap().to_string(),
            hostname: "localhost".into(),
            work_dir: None,
            role: "*".into(),
            user: "root".into(),
            failover_timeout_secs: 60.0,
            max_body_bytes: 1 << 20,
            service_ports: (10000, 20000),
        };
        let handle = crate::start(cfg, listener, None).unwrap();
        let app = crate::http::router(handle.shared.clone());
        let body = r#"{"id": "/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 32}"#;
        let (status, text) = call(&app, Method::POST, "/v2/apps", body).await;
        assert_eq!(status, StatusCode::CREATED, "{text}");
        call(&app, Method::GET, "/v2/apps/web", "").await;
        call(&app, Method::GET, "/v2/apps/web/tasks", "").await;
        // The JSON /metrics is Marathon's, as it was.
        let (status, json) = call(&app, Method::GET, "/metrics", "").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["gauges"]["marathon.apps.active.gauge"]["value"], 1);

        let (status, text) = call(&app, Method::GET, "/metrics/prometheus", "").await;
        assert_eq!(status, StatusCode::OK, "{text}");
        for (sample, want) in [
            ("marathon_apps_active_gauge", 1.0),
            ("marathon_deployments_active_gauge", 1.0),
            ("marathon_deployments_started_total", 1.0),
            ("marathon_deployments_succeeded_total", 0.0),
            (
                "marathon_http_requests_total{route=\"/v2/apps\",method=\"POST\",status=\"2xx\"}",
                1.0,
            ),
            (
                "marathon_http_requests_total{route=\"/v2/apps/{*rest}\",method=\"GET\",status=\"2xx\"}",
                2.0,
            ),
            (
                "marathon_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"2xx\"}",
                1.0,
            ),
        ] {
            assert_eq!(value(&text, sample), Some(want), "{sample} in\n{text}");
        }
        assert!(text.contains("# TYPE marathon_task_state_transitions_total counter\n"));
    }
}
