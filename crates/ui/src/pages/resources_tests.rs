//! The Resources page rendered from a master's JSON (a fixture master over HTTP): roles nested
//! under their parents with their quota and its bars, reservations and volumes by agent and
//! role, maintenance windows with the frameworks' answers, agents out of service; the filter;
//! empty states that say what to do; and a master that does not answer, or answers an error.

use crate::testing::*;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use serde_json::{json, Value};

fn roles() -> Value {
    json!({"roles": [
        {"name": "eng/web", "weight": 2.5, "frameworks": ["F1"],
         "allocated": {"cpus": 0.5, "mem": 128.0}, "offered": {}, "reserved": {"cpus": 1.0},
         "resources": {"cpus": 0.5, "mem": 128.0},
         "quota": {"role": "eng/web", "guarantee": {}, "limit": {}, "consumed": {}}},
        {"name": "eng", "weight": 1.0, "frameworks": [],
         "allocated": {"cpus": 0.5, "mem": 128.0}, "reserved": {"cpus": 1.0},
         "quota": {"role": "eng", "guarantee": {"cpus": 1.0}, "limit": {"cpus": 2.0, "mem": 512.0},
                   "consumed": {"cpus": 0.5, "mem": 128.0}}},
        {"name": "ops", "weight": 1.0, "frameworks": [],
         "quota": {"role": "ops", "guarantee": {}, "limit": {"mem": 64.0}, "consumed": {"mem": 96.0}}},
    ]})
}

fn slaves() -> Value {
    json!({"slaves": [
        {"id": "S0", "hostname": "node-a", "deactivated": false,
         "reserved_resources_full": {"eng/web": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0},
             "reservations": [{"type": "DYNAMIC", "role": "eng/web", "principal": "ops"}]},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 100.0},
             "reservations": [{"type": "DYNAMIC", "role": "eng/web", "principal": "ops"}],
             "disk": {"persistence": {"id": "pg-data", "principal": "ops"},
                      "volume": {"container_path": "data", "mode": "RW"}}}]}},
        {"id": "S1", "hostname": "node-b", "deactivated": true,
         "drain_info": {"state": "DRAINING", "config": {"max_grace_period": {"nanoseconds": 30_000_000_000i64}, "mark_gone": false}},
         "estimated_drain_start_time": 1_796_376_612.0,
         "reserved_resources_full": {}},
    ]})
}

fn schedule() -> Value {
    json!({"windows": [{"machine_ids": [{"hostname": "node-b", "ip": "10.0.0.2"}],
        "unavailability": {"start": {"nanoseconds": 1_796_376_612_000_000_000i64},
                           "duration": {"nanoseconds": 5_400_000_000_000i64}}}]})
}

fn status() -> Value {
    json!({"draining_machines": [{"id": {"hostname": "node-b", "ip": "10.0.0.2"},
        "statuses": [{"framework_id": {"value": "F1"}, "status": "DECLINE",
                      "timestamp": {"nanoseconds": 1_796_376_700_000_000_000i64}}]}]})
}

/// A master answering the four endpoints: `None` answers 503 for that one.
async fn master(
    roles: Option<Value>,
    slaves: Option<Value>,
    schedule: Option<Value>,
    status: Option<Value>,
) -> String {
    let answer = |v: Option<Value>| {
        move || async move {
            match v {
                Some(v) => axum::Json(v).into_response(),
                None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
    };
    let app = Router::new()
        .route("/master/roles", axum::routing::get(answer(roles)))
        .route("/master/slaves", axum::routing::get(answer(slaves)))
        .route(
            "/master/maintenance/schedule",
            axum::routing::get(answer(schedule)),
        )
        .route(
            "/master/maintenance/status",
            axum::routing::get(answer(status)),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("an address").to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

fn model() -> Vec<Value> {
    vec![subscribed(
        vec![
            agent("S0", "node-a", 4.0, 4096.0),
            agent("S1", "node-b", 4.0, 4096.0),
        ],
        vec![framework("F1", "marathon")],
        vec![],
    )]
}

async fn full() -> String {
    let m = master(
        Some(roles()),
        Some(slaves()),
        Some(schedule()),
        Some(status()),
    )
    .await;
    page_of(&ui_with_master(&model(), &m)).await
}

/// The page of a UI, answered 200.
async fn page_of(ui: &std::sync::Arc<crate::Ui>) -> String {
    let (code, html) = get(ui, "/ui/resources").await;
    assert_eq!(code, 200, "{html}");
    html
}

/// The row of a table whose attribute `attr` is `key`: its HTML.
fn row<'a>(html: &'a str, attr: &str, key: &str) -> &'a str {
    let at = html
        .find(&format!(r#"<tr {attr}="{key}""#))
        .unwrap_or_else(|| panic!("no row {attr}={key} in {html}"));
    let end = html[at..].find("</tr>").map_or(html.len(), |e| at + e);
    &html[at..end]
}

#[tokio::test]
async fn roles_are_nested_under_their_parents_with_their_quota_and_its_bars() {
    let html = full().await;
    assert!(html.contains("<title>Resources · Drover</title>"), "{html}");
    assert!(html.contains(r#"href="/ui/resources" aria-current="page""#));
    // Parents first, children indented with their path.
    let (eng, web) = (
        html.find(r#"data-role="eng""#),
        html.find(r#"data-role="eng/web""#),
    );
    assert!(eng < web && eng.is_some(), "eng before eng/web");
    let w = row(&html, "data-role", "eng/web");
    assert!(
        w.contains("padding-left: 30px") && w.contains("eng/web"),
        "{w}"
    );
    assert!(
        w.contains(r#"<td class="n" data-f="weight">2.5</td>"#),
        "{w}"
    );
    assert!(
        w.contains(r#"<td class="n" data-f="frameworks">1</td>"#),
        "{w}"
    );
    assert!(w.contains("cpus 0.5 · mem 128 MiB · disk 0 MiB"), "{w}");
    let e = row(&html, "data-role", "eng");
    assert!(e.contains(r#"<td data-f="guarantee">cpus 1</td>"#), "{e}");
    assert!(
        e.contains(r#"<td data-f="limit">cpus 2 · mem 512 MiB</td>"#),
        "{e}"
    );
    // Consumed against the limit where there is one: as a bar, its words beside it.
    assert!(e.contains(r#"aria-label="cpus 25% of its quota""#), "{e}");
    assert!(e.contains("0.5 of 2 (limit)"), "{e}");
    assert!(e.contains("128 MiB of 512 MiB (limit)"), "{e}");
    // A limit forced below what is used: marked with a symbol and words, not colour alone.
    let o = row(&html, "data-role", "ops");
    assert!(
        o.contains("▲</span> over the limit: 96 MiB of 64 MiB (limit)"),
        "{o}"
    );
    assert!(!html.contains("No quota:"), "some roles have quota");
}

#[tokio::test]
async fn reservations_and_volumes_are_listed_by_agent_and_role() {
    let html = full().await;
    let r = row(&html, "data-reservation", "S0/eng/web");
    assert!(r.contains(r#"<a href="/ui/nodes/S0">node-a</a>"#), "{r}");
    assert!(r.contains("cpus 1 · disk 100 MiB"), "{r}");
    assert!(r.contains("Dynamic, by ops"), "{r}");
    assert!(r.contains("pg-data: 100 MiB at data (RW)"), "{r}");
    assert!(
        !html.contains(r#"data-reservation="S1/"#),
        "node-b reserves nothing"
    );
}

#[tokio::test]
async fn maintenance_shows_the_window_the_mode_the_answers_and_agents_out_of_service() {
    let html = full().await;
    let m = row(&html, "data-machine", "node-b (10.0.0.2)");
    assert!(m.contains("▲</span> Draining"), "{m}");
    assert!(
        m.contains("2026-12-04 09:30:12 UTC") && m.contains("1 h 30 min"),
        "{m}"
    );
    assert!(m.contains(r#"<a href="/ui/nodes/S1">agent S1</a>"#), "{m}");
    // The framework by its name, from the model; its answer in words.
    assert!(
        m.contains(r#"<a href="/ui/services/F1">marathon</a>: Declined"#),
        "{m}"
    );
    let a = row(&html, "data-agent", "S1");
    assert!(a.contains("▲</span> Draining") && a.contains("30 s"), "{a}");
    assert!(!html.contains(r#"data-agent="S0""#), "node-a is in service");
}

#[tokio::test]
async fn the_filter_narrows_roles_and_reservations_and_is_a_link() {
    let m = master(
        Some(roles()),
        Some(slaves()),
        Some(schedule()),
        Some(status()),
    )
    .await;
    let ui = ui_with_master(&model(), &m);
    let (_, html) = get(&ui, "/ui/resources?q=ops").await;
    assert!(html.contains(r#"data-role="ops""#));
    assert!(!html.contains(r#"data-role="eng""#), "{html}");
    assert!(
        !html.contains("data-reservation="),
        "no reservation of role or host ops"
    );
    assert!(html.contains("No reservations match."));
    assert!(html.contains(r#"<a href="/ui/resources">Clear the filter</a>"#));
    let (_, html) = get(&ui, "/ui/resources?q=node-a").await;
    assert!(html.contains(r#"data-reservation="S0/eng/web""#));
    let (_, html) = get(&ui, "/ui/resources?sort=role&dir=desc").await;
    assert!(
        html.contains(r#"aria-sort="descending"><a href="/ui/resources?sort=role""#),
        "{html}"
    );
}

#[tokio::test]
async fn empty_states_say_what_to_do() {
    let m = master(
        Some(json!({"roles": [{"name": "web", "weight": 1.0, "frameworks": ["F1"]}]})),
        Some(
            json!({"slaves": [{"id": "S0", "hostname": "node-a", "reserved_resources_full": {}}]}),
        ),
        Some(json!({})),
        Some(json!({})),
    )
    .await;
    let html = page_of(&ui_with_master(&model(), &m)).await;
    for said in [
        "No quota: <code>drover quota set &lt;role&gt; --guarantee cpus=2</code>",
        "No reservations: <code>drover reservation reserve",
        "No maintenance scheduled: <code>drover node schedule",
        "No agent is draining or deactivated: <code>drover node drain",
    ] {
        assert!(html.contains(said), "{said}: {html}");
    }
    let (_, none) = get(
        &ui_with_master(
            &model(),
            &master(Some(json!({"roles": []})), None, None, None).await,
        ),
        "/ui/resources",
    )
    .await;
    assert!(none.contains("No roles yet:"), "{none}");
    // Answers of another shape read as nothing, not as a failure.
    let odd = master(
        Some(json!("roles?")),
        Some(json!({"slaves": {"S0": 1}})),
        Some(json!([1, 2])),
        Some(json!({"down_machines": "all"})),
    )
    .await;
    let html = page_of(&ui_with_master(&model(), &odd)).await;
    assert!(html.contains("No roles yet:") && html.contains("No maintenance scheduled:"));
}

#[tokio::test]
async fn a_master_that_does_not_answer_is_said_where_its_answer_would_be() {
    // Nothing listens on port 9.
    let ui = ui_with_master(&model(), "127.0.0.1:9");
    let (code, html) = get(&ui, "/ui/resources").await;
    assert_eq!(code, 200);
    assert!(
        html.contains("The master at 127.0.0.1:9 could not be reached"),
        "{html}"
    );
    assert!(html.contains("The roles are shown once it answers."));
    assert!(html.contains("Not known while the master cannot be read."));
    assert!(!html.contains("No quota:"), "not known, not none");
    // One endpoint failing leaves the others shown.
    let m = master(Some(roles()), Some(slaves()), None, Some(status())).await;
    let html = page_of(&ui_with_master(&model(), &m)).await;
    assert!(html.contains(r#"data-role="eng""#));
    assert!(html.contains(&format!(
        "The master at {m} answered 503 to /master/maintenance/schedule."
    )));
    assert!(html.contains(r#"data-reservation="S0/eng/web""#));
}

#[tokio::test]
async fn the_page_reads_without_javascript_and_as_a_fragment() {
    let m = master(
        Some(roles()),
        Some(slaves()),
        Some(schedule()),
        Some(status()),
    )
    .await;
    let ui = ui_with_master(&model(), &m);
    let (_, frag) = get_with(&ui, "/ui/resources", &[("x-drover-fragment", "1")]).await;
    assert!(!frag.contains("<html") && frag.contains("<h1>Resources</h1>"));
    // Every section has its heading and every table its caption.
    let full = full().await;
    for h in ["Roles and quota", "Reservations and volumes", "Maintenance"] {
        assert!(full.contains(&format!(">{h}</h2>")), "{h}");
    }
    assert_eq!(full.matches("<caption").count(), 4);
}

#[tokio::test]
async fn nodes_say_when_an_agent_is_drained_or_deactivated() {
    let mut draining = agent("S1", "node-b", 4.0, 4096.0);
    draining["deactivated"] = json!(true);
    draining["drain_info"] = json!({"state": "DRAINING", "config": {"mark_gone": false}});
    let mut off = agent("S2", "node-c", 4.0, 4096.0);
    off["deactivated"] = json!(true);
    let ui = ui_with(&[subscribed(
        vec![agent("S0", "node-a", 4.0, 4096.0), draining, off],
        vec![],
        vec![],
    )]);
    let (_, html) = get(&ui, "/ui/nodes").await;
    let state = |id: &str| {
        let r = row(&html, "data-key", &format!("agent:{id}"));
        r.split("<td>").nth(2).unwrap_or("").to_string()
    };
    assert!(state("S0").contains("●</span> Active"), "{html}");
    assert!(state("S1").contains("▲</span> Draining"), "{html}");
    assert!(state("S2").contains("○</span> Deactivated"), "{html}");
    let (_, node) = get(&ui, "/ui/nodes/S1").await;
    assert!(
        node.contains(r#"<dd>Draining (<a href="/ui/resources#maintenance-h">"#),
        "{node}"
    );
}
