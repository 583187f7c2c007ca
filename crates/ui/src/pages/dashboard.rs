//! The dashboard (`/`): CPU, memory and disk allocation and the task failure rate with their
//! last minute as charts, services by health, tasks by state, agents up of all, the masters.
//! The numbers are the same JSON the `stats` events carry, so the page and its updates agree.

use super::{render, Page, S};
use crate::history::History;
use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

/// The charts' box.
const W: f64 = 300.0;
const H: f64 = 60.0;

pub struct Chart {
    pub key: &'static str,
    pub label: &'static str,
    pub points: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    pub page: Page,
    pub stats: Value,
    pub charts: Vec<Chart>,
    /// (state, count), busiest first.
    pub states: Vec<(String, u64)>,
    pub failure_rate: String,
    /// The samples as the script extends them: `[[t, cpus%, mem%, disk%, failure%], …]`.
    pub history_json: String,
}

impl Dashboard {
    /// A number or text from the stats, as shown.
    pub fn stat(&self, k: &str) -> String {
        match &self.stats[k] {
            Value::String(s) => s.clone(),
            Value::Null => "0".into(),
            v => v.to_string(),
        }
    }
}

pub fn history_json(h: &History) -> String {
    let rows: Vec<[f64; 5]> = h
        .samples
        .iter()
        .map(|s| {
            [
                s.t,
                s.percent("cpus"),
                s.percent("mem"),
                s.percent("disk"),
                s.failure_rate,
            ]
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
}

pub async fn page(State(ui): S, headers: HeaderMap) -> Response {
    let page = Page::new(&ui, &headers, "Dashboard", "dashboard", "stats,sample");
    let stats = ui.live.stats();
    let history = ui.live.history();
    let charts = [
        ("cpus", "CPU allocation"),
        ("mem", "Memory allocation"),
        ("disk", "Disk allocation"),
        ("failure", "Task failure rate"),
    ]
    .into_iter()
    .map(|(key, label)| Chart {
        key,
        label,
        points: history.points(key, W, H),
    })
    .collect();
    let mut states: Vec<(String, u64)> = stats
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_prefix("state-")?.to_string(), v.as_u64()?)))
        .collect();
    // The states a task usually passes through always have a row (at 0), so a state that
    // first appears after the page was rendered has a cell for its `stats` update.
    for s in [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_KILLING",
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
    ] {
        if !states.iter().any(|(k, _)| k == s) {
            states.push((s.to_string(), 0));
        }
    }
    states.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let failure_rate = history
        .samples
        .back()
        .map_or("0".into(), |s| crate::fmt::num(&s.failure_rate));
    render(&Dashboard {
        page,
        stats,
        charts,
        states,
        failure_rate,
        history_json: history_json(&history),
    })
}
