//! Nodes: the agents with what their tasks use of each resource (as bars with the numbers
//! beside them), their attributes, state and task counts; a node's page with its tasks.

use super::tasks::{rows, select, TaskRow};
use super::{missing, render, Page, S};
use crate::fmt::{mib, num, pct};
use crate::model::cluster::Agent;
use crate::table::{page, Pager, Query};
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::HeaderMap;
use axum::response::Response;

/// One resource of an agent: used of total.
pub struct Bar {
    /// The resource, as the `agent` events name it (`cpus`, `mem`, `disk`).
    pub key: &'static str,
    pub label: &'static str,
    pub used: String,
    pub total: String,
    pub pct: u32,
}

pub struct NodeRow {
    pub id: String,
    pub hostname: String,
    pub active: bool,
    /// `Active`, `Draining`, `Drained`, `Deactivated` or `Inactive` (unreachable).
    pub state: &'static str,
    pub tasks: usize,
    pub bars: Vec<Bar>,
    pub attributes: String,
    pub registered: String,
}

impl NodeRow {
    pub fn new(a: &Agent) -> NodeRow {
        NodeRow {
            id: a.id.clone(),
            hostname: a.hostname.clone(),
            active: a.active,
            state: match (a.drain, a.deactivated, a.active) {
                (Some(d), _, _) => d,
                (None, true, _) => "Deactivated",
                (None, false, true) => "Active",
                (None, false, false) => "Inactive",
            },
            tasks: a.tasks,
            bars: vec![
                Bar {
                    key: "cpus",
                    label: "CPU",
                    used: num(&a.used.cpus),
                    total: num(&a.total.cpus),
                    pct: pct(&a.used.cpus, &a.total.cpus),
                },
                Bar {
                    key: "mem",
                    label: "Memory",
                    used: mib(&a.used.mem),
                    total: mib(&a.total.mem),
                    pct: pct(&a.used.mem, &a.total.mem),
                },
                Bar {
                    key: "disk",
                    label: "Disk",
                    used: mib(&a.used.disk),
                    total: mib(&a.total.disk),
                    pct: pct(&a.used.disk, &a.total.disk),
                },
            ],
            attributes: a
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            registered: a.registered.as_ref().map_or("—".into(), crate::fmt::when),
        }
    }
}

#[derive(Template)]
#[template(path = "nodes.html")]
pub struct NodesPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub rows: Vec<NodeRow>,
    pub pager: Pager,
}

pub async fn list(State(ui): S, Q(q): Q<Query>, headers: HeaderMap) -> Response {
    let page_ = Page::new(&ui, &headers, "Nodes", "nodes", "agent,agent_gone");
    let c = ui.live.cluster();
    let agents: Vec<&Agent> = c
        .agents
        .values()
        .filter(|a| {
            q.matches(&[
                &a.hostname,
                &a.id,
                &a.attributes
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<String>(),
            ])
        })
        .collect();
    let sort = q.sort_or("hostname").to_string();
    let p = page(agents, &q, |a, b| match sort.as_str() {
        "tasks" => a.tasks.cmp(&b.tasks),
        "cpus" => pct(&a.used.cpus, &a.total.cpus).cmp(&pct(&b.used.cpus, &b.total.cpus)),
        "mem" => pct(&a.used.mem, &a.total.mem).cmp(&pct(&b.used.mem, &b.total.mem)),
        _ => a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)),
    });
    let path = "/ui/nodes";
    let pager = Pager::new(&p, &q, path);
    let rows = p.rows.iter().map(|a| NodeRow::new(a)).collect();
    drop(c);
    render(&NodesPage {
        page: page_,
        q,
        path,
        rows,
        pager,
    })
}

#[derive(Template)]
#[template(path = "node.html")]
pub struct NodePage {
    pub page: Page,
    pub n: NodeRow,
    pub port: i32,
    pub q: Query,
    pub path: String,
    pub rows: Vec<TaskRow>,
    pub pager: Pager,
    pub caption: String,
}

pub async fn detail(
    State(ui): S,
    Path(id): Path<String>,
    Q(mut q): Q<Query>,
    headers: HeaderMap,
) -> Response {
    let c = ui.live.cluster();
    let Some(a) = c.agents.get(&id) else {
        drop(c);
        return missing(
            &ui,
            &headers,
            "nodes",
            format!("No agent with id '{id}' is registered."),
            "/ui/nodes",
        );
    };
    let page_ = Page::new(
        &ui,
        &headers,
        format!("Node {}", a.hostname),
        "nodes",
        "task,agent,agent_gone",
    );
    let n = NodeRow::new(a);
    let port = a.port;
    let path = format!("/ui/nodes/{id}");
    q.host = Some(id.clone());
    let tasks = select(&c, &q);
    q.host = None;
    let (rows, pager) = rows(&c, tasks, &q, &path);
    drop(c);
    let caption = format!("Tasks on {}", n.hostname);
    render(&NodePage {
        page: page_,
        n,
        port,
        q,
        path,
        rows,
        pager,
        caption,
    })
}
