//! `/metrics/snapshot` and `/metrics` of an agent running tasks on the fakes: the live tasks'
//! gauges and resources, the ended ones' counters, and the requests the router served.

use super::*;
use axum::http::{Method, StatusCode};
use drover_metrics::testing::{call, scrape, value};

#[tokio::test]
async fn metrics_follow_the_tasks_and_count_requests() {
    let h = agent();
    let app = crate::http::router(h.agent.clone());
    h.run(
        framework(&[]),
        vec![task("ok", "echo hi"), task("bad", "exit 3")],
    );
    until("both running", || {
        h.updates("ok") == running() && h.updates("bad") == running()
    })
    .await;
    let text = scrape(&app).await;
    for (sample, want) in [
        ("mesos_slave_tasks_running", 2.0),
        ("mesos_slave_tasks_staging", 0.0),
        ("mesos_slave_executors_running", 2.0),
        ("mesos_slave_frameworks_active", 1.0),
        ("mesos_slave_cpus_total", 4.0),
        ("mesos_slave_cpus_used", 1.0),
        ("mesos_slave_mem_used", 128.0),
        ("mesos_slave_tasks_finished_total", 0.0),
    ] {
        assert_eq!(value(&text, sample), Some(want), "{sample} in\n{text}");
    }
    assert!(text.contains("# TYPE mesos_slave_tasks_failed_total counter\n"));

    h.process.exit(&h.cid("ok"), Exit::of(End::Code(0)));
    h.process.exit(&h.cid("bad"), Exit::of(End::Code(3)));
    until("both ended", || {
        h.updates("ok").len() == 3 && h.updates("bad").len() == 3
    })
    .await;
    let (status, json) = call(&app, Method::GET, "/metrics/snapshot", "").await;
    assert_eq!(status, StatusCode::OK);
    let snap: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(snap["slave/tasks_finished"], 1.0, "{snap}");
    assert_eq!(snap["slave/tasks_failed"], 1.0, "{snap}");
    assert_eq!(snap["slave/tasks_running"], 0.0, "{snap}");
    call(&app, Method::GET, "/state", "").await;
    let text = scrape(&app).await;
    for (sample, want) in [
        ("mesos_slave_tasks_finished_total", 1.0),
        ("mesos_slave_tasks_failed_total", 1.0),
        ("mesos_slave_tasks_running", 0.0),
        ("mesos_slave_cpus_used", 0.0),
        (
            "drover_agent_http_requests_total{route=\"/state\",method=\"GET\",status=\"2xx\"}",
            1.0,
        ),
        (
            "drover_agent_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"2xx\"}",
            1.0,
        ),
    ] {
        assert_eq!(value(&text, sample), Some(want), "{sample} in\n{text}");
    }
}
