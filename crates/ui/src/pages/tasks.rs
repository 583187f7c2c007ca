//! Tasks: the table (filtered by state, framework, host and name, sorted and paged on the
//! server) and a task's page. Rows carry `data-key="task:<id>"`, so a `task` event updates a
//! row in place; the node and service pages show their tasks with the same rows. A task's
//! page adds its log and sandbox (`super::sandbox`).

use super::{missing, render, sandbox, Page, S};
use crate::model::cluster::{Cluster, Task};
use crate::table::{page, Pager, Query};
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::HeaderMap;
use axum::response::Response;

/// A task as a table row shows it.
pub struct TaskRow {
    pub id: String,
    pub name: String,
    pub state: &'static str,
    pub health: &'static str,
    pub host: String,
    pub agent_id: String,
    pub framework_id: String,
    pub framework: String,
    pub cpus: String,
    pub mem: String,
    pub updated: String,
    pub ports: String,
}

impl TaskRow {
    pub fn new(c: &Cluster, t: &Task) -> TaskRow {
        TaskRow {
            id: t.id.clone(),
            name: t.name.clone(),
            state: t.state.as_str(),
            health: match t.healthy {
                Some(true) => "healthy",
                Some(false) => "unhealthy",
                None => "—",
            },
            host: c
                .agents
                .get(&t.agent_id)
                .map(|a| a.hostname.clone())
                .unwrap_or_default(),
            agent_id: t.agent_id.clone(),
            framework_id: t.framework_id.clone(),
            framework: c
                .frameworks
                .get(&t.framework_id)
                .map(|f| f.name.clone())
                .unwrap_or_else(|| t.framework_id.clone()),
            cpus: crate::fmt::num(&t.res.cpus),
            mem: crate::fmt::mib(&t.res.mem),
            updated: crate::fmt::when(&t.updated),
            ports: t
                .ports
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The tasks of `c` a query asks for: active ones, or in one state (`state=all`: every one
/// kept), within a framework, on a host, matching the text.
pub fn select<'a>(c: &'a Cluster, q: &Query) -> Vec<&'a Task> {
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    let with_done = state.is_some();
    c.tasks
        .values()
        .chain(c.completed.iter().filter(|_| with_done))
        .filter(|t| match state {
            None | Some("all") => true,
            Some(s) => t.state.as_str() == s,
        })
        .filter(|t| {
            q.framework
                .as_deref()
                .is_none_or(|f| f.is_empty() || t.framework_id == f)
        })
        .filter(|t| {
            q.host.as_deref().is_none_or(|h| {
                h.is_empty()
                    || t.agent_id == h
                    || c.agents.get(&t.agent_id).is_some_and(|a| a.hostname == h)
            })
        })
        .filter(|t| q.matches(&[&t.name, &t.id]))
        .collect()
}

/// Sort and cut a page of tasks into rows.
pub fn rows(c: &Cluster, tasks: Vec<&Task>, q: &Query, path: &str) -> (Vec<TaskRow>, Pager) {
    let sort = q.sort_or("name").to_string();
    let p = page(tasks, q, |a, b| match sort.as_str() {
        "state" => a
            .state
            .as_str()
            .cmp(b.state.as_str())
            .then(a.name.cmp(&b.name)),
        "cpus" => a.res.cpus.total_cmp(&b.res.cpus),
        "mem" => a.res.mem.total_cmp(&b.res.mem),
        "updated" => a.updated.total_cmp(&b.updated),
        "host" => {
            let host = |t: &Task| c.agents.get(&t.agent_id).map(|a| a.hostname.as_str());
            host(a)
                .cmp(&host(b))
                .then(a.agent_id.cmp(&b.agent_id))
                .then(a.name.cmp(&b.name))
        }
        _ => a.name.cmp(&b.name).then(a.id.cmp(&b.id)),
    });
    let pager = Pager::new(&p, q, path);
    (p.rows.iter().map(|t| TaskRow::new(c, t)).collect(), pager)
}

/// What a live table of tasks asked with `q` fetches itself again for (`data-refresh-on`),
/// when a task not among its rows changes: `members` — only a task added or ended — when the
/// table is filtered and sorted by what an update leaves alone (name, id, host, framework,
/// resources); `any` when by state or by the time of the last update, which every update moves.
/// With 10,000 tasks changing 200 times a second, `any` everywhere would have every open task
/// table fetch itself continuously.
pub fn refresh_on(q: &Query) -> &'static str {
    let by_state = q
        .state
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != "all");
    if by_state || matches!(q.sort_or("name"), "state" | "updated") {
        "any"
    } else {
        "members"
    }
}

pub const STATES: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
];

#[derive(Template)]
#[template(path = "tasks.html")]
pub struct TasksPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub rows: Vec<TaskRow>,
    pub pager: Pager,
    /// (id, name) of the frameworks, for the filter.
    pub frameworks: Vec<(String, String)>,
    pub states: &'static [&'static str],
}

impl TasksPage {
    pub fn sel(&self, v: &Option<String>, option: &str) -> bool {
        v.as_deref() == Some(option)
    }
}

pub async fn list(State(ui): S, Q(q): Q<Query>, headers: HeaderMap) -> Response {
    let page_ = Page::new(&ui, &headers, "Tasks", "tasks", "task");
    let c = ui.live.cluster();
    let tasks = select(&c, &q);
    let path = "/ui/tasks";
    let (rows, pager) = rows(&c, tasks, &q, path);
    let frameworks = c
        .frameworks
        .values()
        .map(|f| (f.id.clone(), f.name.clone()))
        .collect();
    drop(c);
    render(&TasksPage {
        page: page_,
        q,
        path,
        rows,
        pager,
        frameworks,
        states: STATES,
    })
}

#[derive(Template)]
#[template(path = "task.html")]
pub struct TaskPage {
    pub page: Page,
    pub t: TaskRow,
    pub executor: String,
    pub message: String,
    pub reason: String,
    pub image: String,
    pub agent_url: String,
    /// Its log and sandbox, read from its agent.
    pub sb: sandbox::Section,
}

pub async fn detail(
    State(ui): S,
    Path(id): Path<String>,
    Q(lq): Q<sandbox::LogQuery>,
    headers: HeaderMap,
) -> Response {
    // The model is read in this block, and not held while the agent is asked below.
    let (mut p, w) = {
        let c = ui.live.cluster();
        let Some(t) = c.task(&id) else {
            drop(c);
            return missing(&ui, &headers, "tasks", format!("No task with id '{id}' is known (finished tasks are kept for a while, then forgotten)."), "/ui/tasks");
        };
        // `log`: the page's stream also tails the log panel's file.
        let page_ = Page::new(
            &ui,
            &headers,
            format!("Task {}", t.name),
            "tasks",
            "task,log",
        );
        let p = TaskPage {
            page: page_,
            executor: t.executor_id.clone().unwrap_or_else(|| "—".into()),
            message: t.message.clone().unwrap_or_else(|| "—".into()),
            reason: t.reason.clone().unwrap_or_else(|| "—".into()),
            image: t.image.clone().unwrap_or_else(|| "—".into()),
            t: TaskRow::new(&c, t),
            agent_url: format!("/ui/nodes/{}", t.agent_id),
            sb: sandbox::Section::default(),
        };
        (p, sandbox::files::Where::of(&c, &id))
    };
    p.sb = sandbox::section(&ui, w, &id, lq.log.as_deref()).await;
    render(&p)
}
