//! Services: the frameworks, with their health (active, connected), tasks and what they use;
//! a framework's page with its tasks and a link to its own web UI through the gateway.

use super::tasks::{rows, select, TaskRow};
use super::{missing, render, Page, S};
use crate::fmt::{mib, num};
use crate::model::cluster::Framework;
use crate::table::{page, Pager, Query};
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::HeaderMap;
use axum::response::Response;

pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Healthy, Disconnected, Inactive: with a symbol beside, never colour alone.
    pub health: &'static str,
    pub tasks: usize,
    pub cpus: String,
    pub mem: String,
    pub disk: String,
    pub webui: Option<String>,
}

impl ServiceRow {
    pub fn new(f: &Framework) -> ServiceRow {
        ServiceRow {
            id: f.id.clone(),
            name: f.name.clone(),
            role: f.role.clone(),
            health: match (f.active, f.connected) {
                (true, true) => "Healthy",
                (_, false) => "Disconnected",
                (false, true) => "Inactive",
            },
            tasks: f.tasks,
            cpus: num(&f.used.cpus),
            mem: mib(&f.used.mem),
            disk: mib(&f.used.disk),
            webui: f
                .webui_url
                .as_ref()
                .map(|_| format!("/service/{}/", f.name)),
        }
    }
}

#[derive(Template)]
#[template(path = "services.html")]
pub struct ServicesPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub rows: Vec<ServiceRow>,
    pub pager: Pager,
}

pub async fn list(State(ui): S, Q(q): Q<Query>, headers: HeaderMap) -> Response {
    let page_ = Page::new(
        &ui,
        &headers,
        "Services",
        "services",
        "framework,framework_gone",
    );
    let c = ui.live.cluster();
    let fws: Vec<&Framework> = c
        .frameworks
        .values()
        .filter(|f| q.matches(&[&f.name, &f.id, &f.role]))
        .collect();
    let sort = q.sort_or("name").to_string();
    let p = page(fws, &q, |a, b| match sort.as_str() {
        "tasks" => a.tasks.cmp(&b.tasks),
        "cpus" => a.used.cpus.total_cmp(&b.used.cpus),
        "mem" => a.used.mem.total_cmp(&b.used.mem),
        _ => a.name.cmp(&b.name).then(a.id.cmp(&b.id)),
    });
    let path = "/ui/services";
    let pager = Pager::new(&p, &q, path);
    let rows = p.rows.iter().map(|f| ServiceRow::new(f)).collect();
    drop(c);
    render(&ServicesPage {
        page: page_,
        q,
        path,
        rows,
        pager,
    })
}

#[derive(Template)]
#[template(path = "service.html")]
pub struct ServicePage {
    pub page: Page,
    pub s: ServiceRow,
    pub hostname: String,
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
    let Some(f) = c.frameworks.get(&id) else {
        drop(c);
        return missing(
            &ui,
            &headers,
            "services",
            format!("No framework with id '{id}' is registered."),
            "/ui/services",
        );
    };
    let page_ = Page::new(
        &ui,
        &headers,
        format!("Service {}", f.name),
        "services",
        "task,framework",
    );
    let s = ServiceRow::new(f);
    let hostname = f.hostname.clone().unwrap_or_else(|| "—".into());
    let path = format!("/ui/services/{id}");
    q.framework = Some(id.clone());
    let tasks = select(&c, &q);
    q.framework = None;
    let (rows, pager) = rows(&c, tasks, &q, &path);
    drop(c);
    let caption = format!("Tasks of {}", s.name);
    render(&ServicePage {
        page: page_,
        s,
        hostname,
        q,
        path,
        rows,
        pager,
        caption,
    })
}
