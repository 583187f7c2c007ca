//! Deployments: the running ones with their steps (which is done, which runs, which waits),
//! live — a `deployments` event re-reads the page — and, on each, Roll back (`DELETE
//! /v2/deployments/<id>`: Marathon starts a deployment back to what the apps were) and Stop
//! (`?force=true`: it ends where it is). An app's page shows its deployments the same way.

use super::apps::ActionError;
use super::{render, Page, S};
use crate::table::encode;
use crate::Ui;
use askama::Template;
use axum::extract::{Path, Query as Q, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/deployments", get(list))
        .route("/ui/deployments/{id}/{action}", post(act))
}

/// One step of a deployment.
pub struct Step {
    pub n: usize,
    /// `RestartApplication /web, ScaleApplication /db`.
    pub actions: String,
    /// `done`, `running` or `waiting`.
    pub state: &'static str,
}

/// A deployment as the pages show it.
pub struct DeploymentView {
    pub id: String,
    pub apps: Vec<String>,
    /// The step running, from 1, and how many there are.
    pub current: usize,
    pub total: usize,
    /// (action, app) of the step running.
    pub actions: Vec<(String, String)>,
    /// When it started (the version it deploys).
    pub started: String,
    pub steps: Vec<Step>,
}

fn step_actions(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["action"].as_str().unwrap_or("").to_string(),
                a["app"]
                    .as_str()
                    .or(a["pod"].as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

impl DeploymentView {
    /// From Marathon's deployment JSON (`GET /v2/deployments`).
    pub fn from_json(v: &Value) -> Option<DeploymentView> {
        let id = v["id"].as_str()?.to_string();
        let steps_json = v["steps"].as_array().cloned().unwrap_or_default();
        let total = v["totalSteps"]
            .as_u64()
            .map_or(steps_json.len(), |t| t as usize);
        let current = v["currentStep"].as_u64().unwrap_or(0) as usize;
        let steps = steps_json
            .iter()
            .enumerate()
            .map(|(i, s)| Step {
                n: i + 1,
                actions: step_actions(&s["actions"])
                    .iter()
                    .map(|(a, app)| format!("{a} {app}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                state: match (i + 1).cmp(&current) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => "running",
                    std::cmp::Ordering::Greater => "waiting",
                },
            })
            .collect();
        Some(DeploymentView {
            apps: v["affectedApps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            current,
            total,
            actions: step_actions(&v["currentActions"]),
            started: v["version"].as_str().unwrap_or("—").to_string(),
            steps,
            id,
        })
    }

    /// Steps finished, for the progress bar.
    pub fn done(&self) -> usize {
        self.current.saturating_sub(1).min(self.total)
    }

    pub fn touches(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a == app) || self.actions.iter().any(|(_, a)| a == app)
    }
}

/// The deployments Marathon runs, oldest first.
pub fn views(ui: &Ui) -> Vec<DeploymentView> {
    let m = ui.live.marathon();
    let mut out: Vec<DeploymentView> = m
        .deployments
        .values()
        .filter_map(DeploymentView::from_json)
        .collect();
    out.sort_by(|a, b| a.started.cmp(&b.started).then(a.id.cmp(&b.id)));
    out
}

#[derive(Template)]
#[template(path = "deployments.html")]
pub struct DeploymentsPage {
    pub page: Page,
    pub rows: Vec<DeploymentView>,
    pub flash: Option<String>,
    pub error: Option<ActionError>,
    /// Where the roll back and stop forms come back to.
    pub back: String,
}

impl DeploymentsPage {
    /// An error about no deployment shown (or none at all): above the table.
    fn error_above(&self) -> Option<&ActionError> {
        self.error.as_ref().filter(|e| match &e.deployment {
            None => true,
            Some(id) => !self.rows.iter().any(|d| &d.id == id),
        })
    }

    fn error_for(&self, id: &str) -> Option<&ActionError> {
        self.error
            .as_ref()
            .filter(|e| e.deployment.as_deref() == Some(id))
    }
}

fn flash(params: &HashMap<String, String>) -> Option<String> {
    let id = params.get("id").map(String::as_str).unwrap_or("");
    Some(match params.get("done")?.as_str() {
        "rolled-back" => format!(
            "Rolling back deployment {id}: a new deployment returns its apps to what they were."
        ),
        "stopped" => format!("Stopped deployment {id} where it was."),
        _ => return None,
    })
}

async fn list(State(ui): S, Q(params): Q<HashMap<String, String>>, headers: HeaderMap) -> Response {
    page(&ui, &params, &headers, None)
}

fn page(
    ui: &Ui,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    error: Option<ActionError>,
) -> Response {
    let page_ = Page::new(ui, headers, "Deployments", "deployments", "deployments");
    let status = error.as_ref().map(|e| e.status);
    let mut r = render(&DeploymentsPage {
        page: page_,
        rows: views(ui),
        flash: flash(params),
        error,
        back: "/ui/deployments".into(),
    });
    if let Some(s) = status.and_then(|s| StatusCode::from_u16(s).ok()) {
        *r.status_mut() = s;
    }
    r
}

/// Where a form asks to come back to: a page of the UI, else the deployments page (never
/// another site).
fn back_to(form: &HashMap<String, String>) -> String {
    form.get("back")
        .filter(|b| b.starts_with("/ui/") && !b.contains("//") && !b.contains('\\'))
        .cloned()
        .unwrap_or_else(|| "/ui/deployments".into())
}

/// `POST /ui/deployments/<id>/rollback` and `…/stop`.
async fn act(
    State(ui): S,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (path, done) = match action.as_str() {
        "rollback" => (format!("/v2/deployments/{}", encode(&id)), "rolled-back"),
        "stop" => (
            format!("/v2/deployments/{}?force=true", encode(&id)),
            "stopped",
        ),
        other => {
            let e = ActionError::new(
                other,
                404,
                format!("There is no action '{other}' on a deployment: rollback or stop."),
            );
            return page(&ui, &HashMap::new(), &headers, Some(e));
        }
    };
    let back = back_to(&form);
    let mut e = match ui.marathon.send(Method::DELETE, &path, None).await {
        Ok((status, _)) if status.is_success() => {
            ui.live.reread(&ui.marathon, None).await;
            let sep = if back.contains('?') { '&' } else { '?' };
            return Redirect::to(&format!("{back}{sep}done={done}&id={}", encode(&id)))
                .into_response();
        }
        Ok((status, v)) => ActionError::marathon(&action, status.as_u16(), &v),
        Err(e) => ActionError::unreachable(&action, &e),
    };
    e.deployment = Some(id.clone());
    // Shown where the form was: at the deployment on its app's page, or on this page.
    let app = back.trim_start_matches("/ui/apps");
    if back.starts_with("/ui/apps/") && super::apps::valid_id(app) {
        let none = HashMap::new();
        let q = crate::table::Query::default();
        return super::apps::detail_page(&ui, app, q, &none, &headers, Some(e)).await;
    }
    page(&ui, &HashMap::new(), &headers, Some(e))
}
