//! The master's `/metrics`, in the Prometheus text format (Mesos has no such endpoint; Drover
//! adds it). Read at each scrape, under the master's lock as `/metrics/snapshot` is:
//!
//! - every value of `/metrics/snapshot` under its Mesos name mapped by
//!   [`drover_metrics::mesos_name`] (`master/tasks_running` → `mesos_master_tasks_running`),
//!   a counter where Mesos documents a counter, else a gauge; Drover's own entries of the
//!   snapshot (`drover/offers_sent`) become `drover_master_offers_sent_total`;
//! - `drover_master_task_state_transitions_total{state}`: tasks that entered each state;
//! - roles' quotas, which the snapshot names one per role and resource
//!   (`allocator/mesos/quota/roles/<role>/resources/<r>/guarantee`), as two families with
//!   labels: `mesos_allocator_mesos_quota_guarantee{role,resource}` and `…_quota_limit`.
//!
//! Recorded as they happen: `drover_master_http_requests_total` and
//! `drover_master_http_request_duration_seconds` per route, and
//! `drover_master_allocation_cycle_seconds`, observed by the driver around each allocation (the
//! core reads no clock).

use crate::Shared;
use drover_metrics::{
    exponential_buckets, mesos_name, prometheus_name, Histogram, HttpMetrics, Kind, Registry,
    Series, Snapshot,
};
use std::sync::Arc;

/// The prefix of the master's own metrics.
const PREFIX: &str = "drover_master";

/// How long allocation cycles take: 0.1 ms to about 3 s, doubling.
pub(crate) fn allocation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The registry `/metrics` serves, and the request metrics its router records.
pub(crate) fn registry(shared: &Arc<Shared>) -> (Arc<Registry>, HttpMetrics) {
    let mut root = Registry::default();
    let own = root.sub_registry_with_prefix(PREFIX);
    let http = HttpMetrics::register(own);
    own.register(
        "allocation_cycle_seconds",
        "Time the allocator took to run one allocation cycle",
        shared.allocation_cycles.clone(),
    );
    let s = shared.clone();
    root.register_collector(Box::new(Snapshot::new(move || series(&s))));
    (Arc::new(root), http)
}

/// Mesos' counters among the snapshot's names (the rest are gauges).
fn is_counter(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.starts_with("messages_")
        || matches!(
            last,
            "tasks_finished"
                | "tasks_failed"
                | "tasks_killed"
                | "tasks_lost"
                | "tasks_error"
                | "tasks_dropped"
                | "tasks_gone"
                | "slave_removals"
                | "invalid_status_updates"
                | "allocation_runs"
                | "offers_sent"
                | "offers_rescinded"
        )
}

/// One value of `/metrics/snapshot` as a Prometheus series.
fn snapshot_series(name: &str, value: f64) -> Series {
    let prom = match name.strip_prefix("drover/") {
        Some(rest) => prometheus_name(&format!("{PREFIX}_{rest}")),
        None => mesos_name(name),
    };
    let kind = if is_counter(name) {
        Kind::Counter
    } else {
        Kind::Gauge
    };
    Series::one(prom, format!("{name} of /metrics/snapshot"), kind, value)
}

/// Where the snapshot's per-role quota values are.
const QUOTA_PREFIX: &str = "allocator/mesos/quota/roles/";

/// Roles' guarantees and limits as two labelled families.
fn quota_series(
    quotas: &std::collections::BTreeMap<String, drover_allocator::Quota>,
) -> [Series; 2] {
    let family = |kind: &str,
                  pick: fn(
        &drover_allocator::Quota,
    ) -> &std::collections::BTreeMap<String, f64>| {
        let points = quotas
            .iter()
            .flat_map(|(role, q)| {
                pick(q).iter().map(move |(name, &v)| {
                    (
                        vec![
                            ("role".to_string(), role.clone()),
                            ("resource".to_string(), name.clone()),
                        ],
                        v,
                    )
                })
            })
            .collect();
        Series {
            name: mesos_name(&format!("allocator/mesos/quota/{kind}")),
            help: format!("Each role's quota {kind}, by resource ({QUOTA_PREFIX}<role>/resources/<resource>/{kind} of /metrics/snapshot)"),
            kind: Kind::Gauge,
            points,
        }
    };
    [
        family("guarantee", |q| &q.guarantees),
        family("limit", |q| &q.limits),
    ]
}

fn series(s: &Shared) -> Vec<Series> {
    let now = s.now();
    let snapshot = s.metrics(now);
    let (mut transitions, quotas): (Vec<(String, f64)>, _) = {
        let m = s.lock();
        let t = m
            .counters
            .transitions
            .iter()
            .map(|(state, n)| (state.to_string(), *n as f64))
            .collect();
        (t, m.quotas.clone())
    };
    transitions.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Series> = snapshot
        .iter()
        .filter(|(name, _)| !name.starts_with(QUOTA_PREFIX))
        .map(|(name, v)| snapshot_series(name, *v))
        .collect();
    out.extend(quota_series(&quotas));
    out.push(Series::by(
        format!("{PREFIX}_task_state_transitions"),
        "Tasks that entered each state: launched (TASK_STAGING), refused, or changed state",
        Kind::Counter,
        "state",
        transitions,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::harness::Harness;
    use axum::http::Method;
    use drover_metrics::testing::{call, scrape, value};

    #[test]
    fn snapshot_names_keep_mesos_kinds() {
        for (name, prom, kind) in [
            (
                "master/tasks_running",
                "mesos_master_tasks_running",
                Kind::Gauge,
            ),
            (
                "master/tasks_finished",
                "mesos_master_tasks_finished",
                Kind::Counter,
            ),
            (
                "master/messages_accept",
                "mesos_master_messages_accept",
                Kind::Counter,
            ),
            ("master/cpus_total", "mesos_master_cpus_total", Kind::Gauge),
            (
                "allocator/mesos/allocation_runs",
                "mesos_allocator_mesos_allocation_runs",
                Kind::Counter,
            ),
            (
                "drover/offers_sent",
                "drover_master_offers_sent",
                Kind::Counter,
            ),
        ] {
            let s = snapshot_series(name, 1.0);
            assert_eq!((s.name.as_str(), s.kind), (prom, kind), "{name}");
        }
    }

    /// A master serving HTTP over the harness' state: a framework with a running task `t1`.
    fn master_with_a_running_task() -> (Arc<Shared>, axum::Router) {
        let mut h = Harness::new();
        h.running(&[], &["t1"]);
        let shared = crate::build(crate::MasterConfig::default(), 5050, None).expect("builds");
        *shared.lock() = h.m;
        let app = crate::http::router(shared.clone());
        (shared, app)
    }

    #[tokio::test]
    async fn metrics_show_the_snapshot_transitions_offers_and_requests() {
        let (shared, app) = master_with_a_running_task();
        let text = scrape(&app).await;
        for (sample, want) in [
            ("mesos_master_tasks_running", 1.0),
            ("mesos_master_slaves_active", 1.0),
            ("mesos_master_cpus_total", 4.0),
            ("mesos_master_elected", 1.0),
            (
                "drover_master_task_state_transitions_total{state=\"TASK_STAGING\"}",
                1.0,
            ),
            (
                "drover_master_task_state_transitions_total{state=\"TASK_RUNNING\"}",
                1.0,
            ),
        ] {
            assert_eq!(value(&text, sample), Some(want), "{sample} in\n{text}");
        }
        assert!(text.contains("# TYPE mesos_master_tasks_finished_total counter\n"));
        let sent = value(&text, "drover_master_offers_sent_total").expect("offers sent");
        assert!(sent >= 1.0, "{text}");
        let runs = value(&text, "mesos_allocator_mesos_allocation_runs_total").expect("runs");

        let (status, _) = call(&app, Method::GET, "/master/state", "").await;
        assert!(status.is_success());
        call(&app, Method::GET, "/master/state", "").await;
        call(&app, Method::GET, "/no/such/thing", "").await;
        // An allocation cycle, as the driver runs it.
        crate::http::allocation_cycle(&shared, shared.now(), true);
        let text = scrape(&app).await;
        let route = |r: &str, status: &str| {
            format!("drover_master_http_requests_total{{route=\"{r}\",method=\"GET\",status=\"{status}\"}}")
        };
        assert_eq!(
            value(&text, &route("/master/state", "2xx")),
            Some(2.0),
            "{text}"
        );
        assert_eq!(value(&text, &route("other", "4xx")), Some(1.0), "{text}");
        assert_eq!(value(&text, &route("/metrics", "2xx")), Some(1.0), "{text}");
        assert_eq!(
            value(&text, "drover_master_allocation_cycle_seconds_count"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "mesos_allocator_mesos_allocation_runs_total"),
            Some(runs + 1.0),
            "{text}"
        );
    }

    /// Quotas: two labelled families, not one per role and resource as the snapshot names them.
    #[tokio::test]
    async fn quotas_are_two_labelled_families() {
        let (shared, app) = master_with_a_running_task();
        shared
            .lock()
            .update_quota(&drover_api::operator::UpdateQuota {
                force: true,
                quota_configs: vec![serde_json::from_value(serde_json::json!(
                    {"role": "a-b", "guarantees": {"cpus": {"value": 1}}, "limits": {"cpus": {"value": 2}}}
                ))
                .expect("a config")],
            })
            .expect("quota set");
        let text = scrape(&app).await;
        for (sample, want) in [
            (
                "mesos_allocator_mesos_quota_guarantee{role=\"a-b\",resource=\"cpus\"}",
                1.0,
            ),
            (
                "mesos_allocator_mesos_quota_limit{role=\"a-b\",resource=\"cpus\"}",
                2.0,
            ),
        ] {
            assert_eq!(value(&text, sample), Some(want), "{sample} in\n{text}");
        }
        assert!(!text.contains("quota_roles"), "{text}");
    }
}
