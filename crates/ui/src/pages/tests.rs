//! The pages rendered from a model: what a reader sees, the keys the script updates, paging,
//! filters, fragments and not-found pages.

use crate::testing::*;

fn cluster(n_tasks: usize) -> Vec<serde_json::Value> {
    let tasks = (0..n_tasks)
        .map(|i| {
            let agent = if i % 2 == 0 { "S0" } else { "S1" };
            task(&format!("web.{i:05}"), "web", "F1", agent, "TASK_RUNNING")
        })
        .collect();
    vec![subscribed(
        vec![
            agent("S0", "node-a", 4.0, 4096.0),
            agent("S1", "node-b", 4.0, 4096.0),
        ],
        vec![framework("F1", "marathon")],
        tasks,
    )]
}

#[tokio::test]
async fn the_dashboard_shows_counts_allocation_and_the_leader() {
    let ui = ui_with(&cluster(3));
    let (status, html) = get(&ui, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"<span data-stat="agents-active">2</span>"#),
        "{html}"
    );
    assert!(html.contains(r#"<span data-stat="tasks-running">3</span>"#));
    assert!(html.contains(r#"<span data-stat="frameworks">1</span>"#));
    // 1.5 of 8 CPUs: 19 %.
    assert!(html.contains(r#"<span data-stat="cpus-pct">19</span>"#));
    assert!(html.contains("10.0.0.1:5050"));
    assert!(html.contains(r#"<title>Dashboard · Drover</title>"#));
    assert!(html.contains(r#"<nav aria-label="Main">"#));
}

#[tokio::test]
async fn the_tasks_table_is_paged_on_the_server_and_keyed_for_live_updates() {
    let ui = ui_with(&cluster(450));
    let (_, html) = get(&ui, "/ui/tasks?per=100&page=2").await;
    assert_eq!(html.matches("<tr data-key=\"task:").count(), 100);
    assert!(
        html.contains("data-key=\"task:web.00100\""),
        "page 2 starts at the 101st"
    );
    assert!(html.contains("101–200 of <span data-count>450</span>"));
    // At most MAX_PER rows, whatever is asked.
    let (_, all) = get(&ui, "/ui/tasks?per=100000").await;
    assert_eq!(
        all.matches("<tr data-key=\"task:").count(),
        crate::table::MAX_PER
    );
    // Filters narrow on the server; state of finished tasks needs asking.
    let (_, on_b) = get(&ui, "/ui/tasks?host=node-b&per=200").await;
    assert_eq!(on_b.matches("<tr data-key=\"task:").count(), 200);
    assert!(!on_b.contains("task:web.00000\""), "web.00000 is on node-a");
}

#[tokio::test]
async fn finished_tasks_leave_the_active_view_and_free_their_agent() {
    let mut events = cluster(2);
    events.push(task_updated("web.00000", "F1", "TASK_FAILED"));
    let ui = ui_with(&events);
    let (_, active) = get(&ui, "/ui/tasks").await;
    assert!(!active.contains("task:web.00000\""));
    let (_, failed) = get(&ui, "/ui/tasks?state=TASK_FAILED").await;
    assert!(failed.contains("task:web.00000\""));
    let (_, node) = get(&ui, "/ui/nodes/S0").await;
    assert!(
        node.contains("0 MiB / 4 GiB"),
        "the failed task's memory is free again: {node}"
    );
    let (s, page) = get(&ui, "/ui/tasks/web.00000").await;
    assert_eq!(s, 200, "a finished task still has its page");
    assert!(page.contains("TASK_FAILED"));
}

#[tokio::test]
async fn task_tables_say_which_changes_elsewhere_can_change_them() {
    let ui = ui_with(&cluster(3));
    // By name (or host, resources): only a task added or ended changes which rows a page has.
    for path in [
        "/ui/tasks",
        "/ui/tasks?sort=host",
        "/ui/tasks?state=all",
        "/ui/nodes/S0",
    ] {
        let (_, html) = get(&ui, path).await;
        assert!(
            html.contains(r#"data-refresh="task" data-refresh-on="members""#),
            "{path}"
        );
    }
    // By state or by the last update's time: any update may.
    for path in [
        "/ui/tasks?sort=state",
        "/ui/tasks?sort=updated&dir=desc",
        "/ui/tasks?state=TASK_RUNNING",
        "/ui/services/F1?sort=state",
    ] {
        let (_, html) = get(&ui, path).await;
        assert!(
            html.contains(r#"data-refresh="task" data-refresh-on="any""#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn unknown_things_are_404_pages_that_say_what() {
    let ui = ui_with(&cluster(1));
    for (path, what) in [
        ("/ui/tasks/nope", "No task with id &#39;nope&#39;"),
        ("/ui/nodes/nope", "No agent with id &#39;nope&#39;"),
        ("/ui/services/nope", "No framework with id &#39;nope&#39;"),
    ] {
        let (status, html) = get(&ui, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains(what), "{path}: {html}");
    }
}

#[tokio::test]
async fn a_fragment_is_only_the_main_content() {
    let ui = ui_with(&cluster(1));
    let (_, full) = get(&ui, "/ui/nodes").await;
    let (_, frag) = get_with(&ui, "/ui/nodes", &[("x-drover-fragment", "1")]).await;
    assert!(full.starts_with("<!doctype html>"));
    assert!(!frag.contains("<html") && !frag.contains("<nav aria-label=\"Main\""));
    assert!(frag.contains("<h1>Nodes</h1>") && frag.contains("node-a"));
}

#[tokio::test]
async fn services_and_nodes_show_what_their_tasks_use() {
    let ui = ui_with(&cluster(4));
    let (_, services) = get(&ui, "/ui/services").await;
    assert!(services.contains("marathon") && services.contains("Healthy"));
    assert!(
        services.contains("256 MiB"),
        "4 tasks of 64 MiB: {services}"
    );
    let (_, nodes) = get(&ui, "/ui/nodes?q=rack:r1").await;
    assert!(nodes.contains("node-a") && nodes.contains("node-b"));
    assert!(nodes.contains("aria-label=\"CPU 25% used\""), "{nodes}");
}

#[test]
fn forms_from_another_site_are_refused() {
    use axum::http::{HeaderMap, HeaderValue, Method};
    let h = |pairs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    };
    let cross = super::cross_site;
    assert!(cross(
        &Method::POST,
        &h(&[("origin", "http://evil.example"), ("host", "10.0.0.1:8000")])
    ));
    assert!(cross(
        &Method::POST,
        &h(&[("sec-fetch-site", "cross-site"), ("host", "a")])
    ));
    assert!(cross(
        &Method::POST,
        &h(&[("origin", "null"), ("host", "10.0.0.1:8000")])
    ));
    assert!(!cross(
        &Method::POST,
        &h(&[
            ("origin", "http://10.0.0.1:8000"),
            ("host", "10.0.0.1:8000")
        ])
    ));
    assert!(
        !cross(&Method::POST, &h(&[("host", "10.0.0.1:8000")])),
        "scripts send no Origin"
    );
    assert!(!cross(
        &Method::GET,
        &h(&[("origin", "http://evil.example"), ("host", "a")])
    ));
}

#[tokio::test]
async fn task_ids_with_url_characters_link_to_their_page() {
    let odd = "db#1 ?x%";
    let ui = ui_with(&[subscribed(
        vec![agent("S0", "node-a", 4.0, 4096.0)],
        vec![framework("F1", "marathon")],
        vec![task(odd, "db", "F1", "S0", "TASK_RUNNING")],
    )]);
    let (_, html) = get(&ui, "/ui/tasks").await;
    assert!(
        html.contains(r#"href="/ui/tasks/db%231%20%3Fx%25""#),
        "{html}"
    );
    let (status, page) = get(&ui, "/ui/tasks/db%231%20%3Fx%25").await;
    assert_eq!(status, 200, "{page}");
}
