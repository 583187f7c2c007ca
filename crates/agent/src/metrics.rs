//! The agent's `/metrics`, in the Prometheus text format (Mesos has no such endpoint; Drover
//! adds it): the values of `/metrics/snapshot` under their Mesos names mapped by
//! [`drover_metrics::mesos_name`] (`slave/tasks_running` → `mesos_slave_tasks_running`; the
//! `slave/tasks_<terminal state>` counters as `…_total`), read at each scrape, and the
//! agent's requests and latencies per route (`drover_agent_http_requests_total`,
//! `drover_agent_http_request_duration_seconds`).

use crate::agent::Agent;
use drover_metrics::{mesos_name, HttpMetrics, Kind, Registry, Series, Snapshot};
use std::sync::Arc;

/// The registry `/metrics` serves, and the request metrics the router records.
pub(crate) fn registry(agent: &Arc<Agent>) -> (Arc<Registry>, HttpMetrics) {
    let mut root = Registry::default();
    let http = HttpMetrics::register(root.sub_registry_with_prefix("drover_agent"));
    let a = agent.clone();
    root.register_collector(Box::new(Snapshot::new(move || {
        a.metrics()
            .into_iter()
            .map(|(name, v)| {
                let kind = if crate::agent::is_counter(&name) {
                    Kind::Counter
                } else {
                    Kind::Gauge
                };
                Series::one(
                    mesos_name(&name),
                    format!("{name} of /metrics/snapshot"),
                    kind,
                    v,
                )
            })
            .collect()
    })));
    (Arc::new(root), http)
}
