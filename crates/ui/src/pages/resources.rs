//! Resources (`/ui/resources`): the roles with their weight, frameworks, what they are
//! allocated and have reserved, and their quota (guarantee, limit, what counts against it, as
//! bars); the reservations and persistent volumes of each agent by role; and maintenance — the
//! machines of the schedule with their window, mode and the frameworks' answers, and the agents
//! draining, drained or deactivated.
//!
//! Nothing of it is followed: each page reads the leading master's JSON endpoints once
//! (`/master/roles`, `/master/slaves`, `/master/maintenance/schedule` and `/status`, at the same
//! time), parsed by `model::roles`. What the master does not answer is said where it would be
//! shown; the rest of the page is shown all the same.

use super::{render, Page, S};
use crate::fmt::{mib, num, pct, when};
use crate::model::roles::{AgentState, Amounts, Kind, Machine, Reservation, Role};
use crate::table::{encode, page, Pager, Query, MAX_PER};
use crate::Ui;
use askama::Template;
use axum::extract::{Query as Q, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

/// Why the master gave no answer to show.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MasterError {
    #[error("No leading master is known yet.")]
    NoLeader,
    #[error("The master at {0} could not be reached: {1}")]
    Unreachable(String, String),
    #[error("The master at {0} answered {2} to {1}.")]
    Refused(String, String, u16),
    #[error("The master at {0} answered {1} with something that is not JSON.")]
    NotJson(String, String),
}

/// GET `path` of the leading master: its JSON.
pub async fn master_get(ui: &Ui, path: &str) -> Result<Value, MasterError> {
    let addr = ui.cfg.leader.current().ok_or(MasterError::NoLeader)?;
    let base = drover_follow::base_url(&addr);
    let r = ui
        .http
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| MasterError::Unreachable(addr.clone(), e.to_string()))?;
    let status = r.status();
    if !status.is_success() {
        return Err(MasterError::Refused(addr, path.into(), status.as_u16()));
    }
    let bytes = r
        .bytes()
        .await
        .map_err(|e| MasterError::Unreachable(addr.clone(), e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|_| MasterError::NotJson(addr, path.into()))
}

/// Amounts as people read them, the usual resources first: `cpus 0.5 · mem 128 MiB`.
pub fn show(a: &Amounts) -> String {
    let order = ["cpus", "mem", "disk", "gpus"];
    let mut parts: Vec<String> = order
        .iter()
        .filter_map(|k| Some(one(k, *a.get(*k)?)))
        .collect();
    parts.extend(
        a.iter()
            .filter(|(k, _)| !order.contains(&k.as_str()))
            .map(|(k, v)| one(k, *v)),
    );
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

fn one(name: &str, v: f64) -> String {
    match name {
        "mem" | "disk" => format!("{name} {}", mib(&v)),
        _ => format!("{name} {}", num(&v)),
    }
}

/// Seconds as people read them: `45 s`, `2 h`, `1 h 30 min`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "min"), (sec, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n} {u}"))
        .collect();
    if parts.is_empty() {
        "0 s".into()
    } else {
        parts.join(" ")
    }
}

/// One resource of a quota: what counts against it of its limit (else its guarantee).
pub struct QuotaBar {
    pub label: String,
    pub pct: u32,
    /// `0.5 of 1 (limit)`.
    pub text: String,
    /// Consumed beyond the limit (a limit forced below what was already used).
    pub over: bool,
}

pub struct RoleRow {
    pub name: String,
    /// Left padding of its cell, in pixels: nested roles are indented under their parent.
    pub indent: usize,
    pub depth: usize,
    pub weight: String,
    pub frameworks: usize,
    pub allocated: String,
    pub reserved: String,
    pub guarantee: String,
    pub limit: String,
    pub consumed: String,
    pub bars: Vec<QuotaBar>,
}

impl RoleRow {
    pub fn new(r: &Role) -> RoleRow {
        let mut main = Amounts::new();
        for k in ["cpus", "mem", "disk"] {
            main.insert(k.into(), r.allocated.get(k).copied().unwrap_or(0.0));
        }
        for (k, v) in r.allocated.iter().filter(|(k, _)| k.as_str() == "gpus") {
            main.insert(k.clone(), *v);
        }
        let mut bars = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            r.guarantee.keys().chain(r.limit.keys()).collect();
        for k in names {
            let (of, which) = match (r.limit.get(k), r.guarantee.get(k)) {
                (Some(l), _) => (*l, "limit"),
                (None, Some(g)) => (*g, "guarantee"),
                (None, None) => continue,
            };
            let used = r.consumed.get(k).copied().unwrap_or(0.0);
            let fmt = |v: f64| match k.as_str() {
                "mem" | "disk" => mib(&v),
                _ => num(&v),
            };
            bars.push(QuotaBar {
                label: k.clone(),
                pct: pct(&used, &of),
                text: format!("{} of {} ({which})", fmt(used), fmt(of)),
                over: which == "limit" && used > of,
            });
        }
        RoleRow {
            name: r.name.clone(),
            indent: 10 + 20 * r.depth(),
            depth: r.depth(),
            weight: num(&r.weight),
            frameworks: r.frameworks.len(),
            allocated: show(&main),
            reserved: show(&r.reserved),
            guarantee: show(&r.guarantee),
            limit: show(&r.limit),
            consumed: if r.has_quota() {
                show(&r.consumed)
            } else {
                "—".into()
            },
            bars,
        }
    }
}

pub struct ReservationRow {
    pub href: String,
    pub hostname: String,
    pub agent_id: String,
    pub role: String,
    pub reserved: String,
    pub kind: String,
    /// `v1: 100 MiB at data (RW)`.
    pub volumes: Vec<String>,
}

impl ReservationRow {
    pub fn new(r: &Reservation) -> ReservationRow {
        let mut amounts = r.amounts.clone();
        let ports = amounts.remove("ports").map(|_| r.ports.join(","));
        let mut reserved = show(&amounts);
        if let Some(p) = ports {
            reserved = if reserved == "—" {
                format!("ports {p}")
            } else {
                format!("{reserved} · ports {p}")
            };
        }
        let kind = match r.kinds.as_slice() {
            [Kind::Static] => "Static".to_string(),
            [Kind::Dynamic] => "Dynamic".to_string(),
            [] => "—".to_string(),
            _ => "Static and dynamic".to_string(),
        };
        let kind = if r.principals.is_empty() {
            kind
        } else {
            format!("{kind}, by {}", r.principals.join(", "))
        };
        ReservationRow {
            href: format!("/ui/nodes/{}", encode(&r.agent_id)),
            hostname: r.hostname.clone(),
            agent_id: r.agent_id.clone(),
            role: r.role.clone(),
            reserved,
            kind,
            volumes: r
                .volumes
                .iter()
                .map(|v| {
                    let at = if v.container_path.is_empty() {
                        String::new()
                    } else {
                        format!(" at {}", v.container_path)
                    };
                    let mode = if v.mode.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", v.mode)
                    };
                    format!("{}: {}{at}{mode}", v.id, mib(&v.size))
                })
                .collect(),
        }
    }
}

/// An agent's link on a page.
pub struct AgentLink {
    pub href: String,
    pub text: String,
}

pub struct AnswerRow {
    pub framework: String,
    pub href: String,
    /// `Accepted`, `Declined`, `Not answered yet`.
    pub status: &'static str,
    pub ok: bool,
    pub at: String,
}

pub struct MachineRow {
    pub name: String,
    pub agents: Vec<AgentLink>,
    /// `Draining`, `Down`, `Scheduled`.
    pub mode: &'static str,
    /// A symbol beside the mode's colour.
    pub sym: &'static str,
    pub start: String,
    pub duration: String,
    pub answers: Vec<AnswerRow>,
}

pub struct AgentStateRow {
    pub href: String,
    pub hostname: String,
    pub agent_id: String,
    pub state: &'static str,
    pub grace: String,
    pub mark_gone: bool,
    pub started: String,
}

#[derive(Template)]
#[template(path = "resources.html")]
pub struct ResourcesPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub searching: bool,
    pub roles: Vec<RoleRow>,
    /// How many roles match (more than shown when cut at `MAX_PER`).
    pub roles_total: usize,
    pub any_quota: bool,
    pub roles_error: Option<String>,
    pub reservations: Vec<ReservationRow>,
    pub pager: Pager,
    pub slaves_error: Option<String>,
    pub machines: Vec<MachineRow>,
    pub maintenance_error: Option<String>,
    pub agents: Vec<AgentStateRow>,
}

impl ResourcesPage {
    /// This view again, as it is.
    pub fn reload_link(&self) -> String {
        self.q.link(self.path, &[])
    }

    /// This view without its filter.
    pub fn clear_link(&self) -> String {
        self.q.link(self.path, &[("q", None), ("page", None)])
    }
}

/// What the master answered, each part on its own (an error where it did not).
pub struct Answers {
    pub roles: Result<Value, MasterError>,
    pub slaves: Result<Value, MasterError>,
    pub schedule: Result<Value, MasterError>,
    pub status: Result<Value, MasterError>,
}

/// Framework names the model knows, for the maintenance answers.
fn framework_name(ui: &Ui, id: &str) -> String {
    ui.live
        .cluster()
        .frameworks
        .get(id)
        .map(|f| f.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// The page from the master's answers.
pub fn build(ui: &Ui, page_: Page, q: Query, a: Answers) -> ResourcesPage {
    let path = "/ui/resources";
    let searching = q.q.as_deref().is_some_and(|t| !t.trim().is_empty());

    let (roles, roles_error) = match &a.roles {
        Ok(v) => (Role::list(v), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let any_quota = roles.iter().any(Role::has_quota);
    let matching: Vec<&Role> = roles.iter().filter(|r| q.matches(&[&r.name])).collect();
    let roles_total = matching.len();
    let roles = matching
        .into_iter()
        .take(MAX_PER)
        .map(RoleRow::new)
        .collect();

    let empty = Value::Null;
    let (slaves, slaves_error) = match &a.slaves {
        Ok(v) => (v, None),
        Err(e) => (&empty, Some(e.to_string())),
    };
    let all: Vec<Reservation> = Reservation::list(slaves)
        .into_iter()
        .filter(|r| q.matches(&[&r.role, &r.hostname, &r.agent_id]))
        .collect();
    let sort = q.sort_or("host").to_string();
    let p = page(all, &q, |a, b| match sort.as_str() {
        "role" => a
            .role
            .split('/')
            .cmp(b.role.split('/'))
            .then_with(|| a.hostname.cmp(&b.hostname)),
        _ => a
            .hostname
            .cmp(&b.hostname)
            .then_with(|| a.agent_id.cmp(&b.agent_id))
            .then_with(|| a.role.split('/').cmp(b.role.split('/'))),
    });
    let pager = Pager::new(&p, &q, path);
    let reservations = p.rows.iter().map(ReservationRow::new).collect();

    // Agents by hostname, to link a scheduled machine to its agents.
    let hosts: Vec<(String, String)> = slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["hostname"].as_str()?.to_lowercase(),
                s["id"].as_str()?.into(),
            ))
        })
        .collect();
    let maintenance_error = match (&a.schedule, &a.status) {
        (Err(e), _) | (_, Err(e)) => Some(e.to_string()),
        _ => None,
    };
    let machines = Machine::list(
        a.schedule.as_ref().unwrap_or(&empty),
        a.status.as_ref().unwrap_or(&empty),
    )
    .into_iter()
    .take(MAX_PER)
    .map(|m| {
        let host = m.hostname.as_deref().unwrap_or("").to_lowercase();
        let (mode, sym) = match m.mode {
            "DRAINING" => ("Draining", "▲"),
            "DOWN" => ("Down", "■"),
            _ => ("Scheduled", "○"),
        };
        MachineRow {
            agents: hosts
                .iter()
                .filter(|(h, _)| !host.is_empty() && *h == host)
                .map(|(_, id)| AgentLink {
                    href: format!("/ui/nodes/{}", encode(id)),
                    text: format!("agent {id}"),
                })
                .collect(),
            name: m.name,
            mode,
            sym,
            start: m.start.as_ref().map_or_else(|| "—".into(), when),
            duration: match (m.start, m.duration) {
                (None, _) => "—".into(),
                (Some(_), None) => "Indefinitely".into(),
                (Some(_), Some(d)) => duration(d),
            },
            answers: m
                .answers
                .iter()
                .map(|x| AnswerRow {
                    framework: framework_name(ui, &x.framework_id),
                    href: format!("/ui/services/{}", encode(&x.framework_id)),
                    status: match x.status.as_str() {
                        "ACCEPT" => "Accepted",
                        "DECLINE" => "Declined",
                        _ => "Not answered yet",
                    },
                    ok: x.status == "ACCEPT",
                    at: x.at.as_ref().map_or_else(|| "—".into(), when),
                })
                .collect(),
        }
    })
    .collect();

    let agents = AgentState::list(slaves)
        .into_iter()
        .take(MAX_PER)
        .map(|s| AgentStateRow {
            href: format!("/ui/nodes/{}", encode(&s.agent_id)),
            state: s.words(),
            grace: s.max_grace_period.map_or_else(|| "—".into(), duration),
            mark_gone: s.mark_gone,
            started: s.drain_started.as_ref().map_or_else(|| "—".into(), when),
            hostname: s.hostname,
            agent_id: s.agent_id,
        })
        .collect();

    ResourcesPage {
        page: page_,
        q,
        path,
        searching,
        roles,
        roles_total,
        any_quota,
        roles_error,
        reservations,
        pager,
        slaves_error,
        machines,
        maintenance_error,
        agents,
    }
}

pub async fn page_(State(ui): S, Q(q): Q<Query>, headers: HeaderMap) -> Response {
    let p = Page::new(&ui, &headers, "Resources", "resources", "");
    let (roles, slaves, schedule, status) = tokio::join!(
        master_get(&ui, "/master/roles"),
        master_get(&ui, "/master/slaves"),
        master_get(&ui, "/master/maintenance/schedule"),
        master_get(&ui, "/master/maintenance/status"),
    );
    let a = Answers {
        roles,
        slaves,
        schedule,
        status,
    };
    render(&build(&ui, p, q, a))
}
