//! An app's actions — Suspend, Scale, Restart, Destroy, Reset delay — as plain HTML forms
//! that work without JavaScript. A form becomes an `AppAction` (bad input: the field named,
//! with the status Marathon gives for it), the action becomes the Marathon request its own UI
//! sends, and the answer becomes a 303 back to the page with what was done, or the app's page
//! again with Marathon's message at the action and Marathon's status.

use super::detail;
use crate::pages::{render, Page};
use crate::table::{encode, Query};
use crate::Ui;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppAction {
    /// Scale to 0 (Marathon UI's Suspend).
    Suspend,
    Scale(u64),
    Restart,
    Destroy,
    ResetDelay,
}

/// Why an action did not happen, shown at the action's form.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionError {
    /// The action's name (`scale`, …), or a deployment's (`rollback`, `stop`).
    pub action: String,
    /// The status the page answers with: Marathon's, or the one it would give.
    pub status: u16,
    pub message: String,
    /// Marathon's validation details, `path: error` each.
    pub details: Vec<String>,
    /// Marathon said a deployment holds the app (409): the form may be sent again with force.
    pub forceable: bool,
    /// What the form asked, to send it again (`instances` of a scale).
    pub instances: Option<String>,
    /// The deployment an error is about (the deployments page shows it at that row).
    pub deployment: Option<String>,
}

impl ActionError {
    pub fn new(action: &str, status: u16, message: impl Into<String>) -> ActionError {
        ActionError {
            action: action.to_string(),
            status,
            message: message.into(),
            details: Vec::new(),
            forceable: false,
            instances: None,
            deployment: None,
        }
    }

    /// Marathon's answer of `status` with body `v` (`{"message", "details": [{path, errors}]}`).
    pub fn marathon(action: &str, status: u16, v: &Value) -> ActionError {
        let message = v["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("Marathon answered HTTP {status}"));
        let details = v["details"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let errors: Vec<&str> = d["errors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "{}: {}",
                    d["path"].as_str().unwrap_or("/"),
                    errors.join("; ")
                )
            })
            .collect();
        ActionError {
            forceable: status == 409 && message.contains("force"),
            details,
            ..ActionError::new(action, status, message)
        }
    }

    /// Marathon could not be reached at all.
    pub fn unreachable(action: &str, e: &str) -> ActionError {
        ActionError::new(action, 502, format!("Marathon could not be reached: {e}"))
    }

    pub fn is(&self, action: &str) -> bool {
        self.action == action
    }
}

impl AppAction {
    /// The actions' names, as the last segment of their URL.
    pub const NAMES: &'static [&'static str] =
        &["suspend", "scale", "restart", "destroy", "reset-delay"];

    /// The action a form asks for; a bad field is a 422 naming it (as Marathon answers an
    /// invalid `instances`).
    pub fn parse(
        name: &str,
        form: &HashMap<String, String>,
    ) -> Result<AppAction, Box<ActionError>> {
        Ok(match name {
            "suspend" => AppAction::Suspend,
            "restart" => AppAction::Restart,
            "destroy" => AppAction::Destroy,
            "reset-delay" => AppAction::ResetDelay,
            "scale" => {
                let raw = form.get("instances").map(|s| s.trim()).unwrap_or("");
                let bad = |msg: String| {
                    let mut e = ActionError::new("scale", 422, msg);
                    e.instances = Some(raw.to_string());
                    Box::new(e)
                };
                if raw.is_empty() {
                    return Err(bad("Instances: a number is required.".into()));
                }
                match raw.parse::<u64>() {
                    Ok(n) if n <= i32::MAX as u64 => AppAction::Scale(n),
                    _ => {
                        return Err(bad(format!(
                            "Instances: '{raw}' is not a whole number of 0 or more."
                        )))
                    }
                }
            }
            other => {
                return Err(Box::new(ActionError::new(
                    other,
                    404,
                    format!(
                        "There is no action '{other}': an app's actions are {}.",
                        Self::NAMES.join(", ")
                    ),
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            AppAction::Suspend => "suspend",
            AppAction::Scale(_) => "scale",
            AppAction::Restart => "restart",
            AppAction::Destroy => "destroy",
            AppAction::ResetDelay => "reset-delay",
        }
    }

    /// The request Marathon's own UI sends for it.
    pub fn request(self, id: &str, force: bool) -> (Method, String, Option<Value>) {
        let f = if force { "?force=true" } else { "" };
        match self {
            AppAction::Suspend => (
                Method::PUT,
                format!("/v2/apps{id}{f}"),
                Some(json!({"instances": 0})),
            ),
            AppAction::Scale(n) => (
                Method::PUT,
                format!("/v2/apps{id}{f}"),
                Some(json!({"instances": n})),
            ),
            AppAction::Restart => (Method::POST, format!("/v2/apps{id}/restart{f}"), None),
            AppAction::Destroy => (Method::DELETE, format!("/v2/apps{id}{f}"), None),
            AppAction::ResetDelay => (Method::DELETE, format!("/v2/queue{id}/delay"), None),
        }
    }

    /// Where to go once it is done: the app's page saying so (the apps table, after a
    /// destroy, in the app's folder).
    pub fn done(self, id: &str) -> String {
        let app = encode(id);
        match self {
            AppAction::Suspend => format!("/ui/apps{id}?done=suspended&app={app}"),
            AppAction::Scale(n) => format!("/ui/apps{id}?done=scaled&to={n}&app={app}"),
            AppAction::Restart => format!("/ui/apps{id}?done=restarted&app={app}"),
            AppAction::ResetDelay => format!("/ui/apps{id}?done=delay-reset&app={app}"),
            AppAction::Destroy => {
                let folder = match id.rfind('/') {
                    Some(0) | None => String::new(),
                    Some(i) => format!("&folder={}", encode(&id[..i])),
                };
                format!("/ui/apps?done=destroyed&app={app}{folder}")
            }
        }
    }
}

#[derive(askama::Template)]
#[template(path = "app_confirm.html")]
struct ConfirmDestroy {
    page: Page,
    id: String,
    force: bool,
}

/// Do `action` on app `id` as `form` asks (`force=true` to override a deployment).
pub async fn run(
    ui: &Ui,
    id: &str,
    action: &str,
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let none = HashMap::new();
    let failed = |e: ActionError| detail::page(ui, id, Query::default(), &none, headers, Some(e));
    let act = match AppAction::parse(action, form) {
        Ok(a) => a,
        Err(e) => return failed(*e).await,
    };
    let force = form.get("force").is_some_and(|v| v == "true");
    // Destroying cannot be undone: without the script's dialog, a page asks first.
    if matches!(act, AppAction::Destroy) && form.get("confirmed").map(String::as_str) != Some("yes")
    {
        let page = Page::new(ui, headers, format!("Destroy {id}?"), "apps", "");
        return render(&ConfirmDestroy {
            page,
            id: id.to_string(),
            force,
        });
    }
    let (method, path, body) = act.request(id, force);
    match ui.marathon.send(method, &path, body.as_ref()).await {
        Ok((status, _)) if status.is_success() => {
            ui.live.reread(&ui.marathon, Some(id)).await;
            Redirect::to(&act.done(id)).into_response()
        }
        Ok((status, v)) => {
            let mut e = ActionError::marathon(act.name(), status.as_u16(), &v);
            if let AppAction::Scale(n) = act {
                e.instances = Some(n.to_string());
            }
            failed(e).await
        }
        Err(e) => failed(ActionError::unreachable(act.name(), &e)).await,
    }
}
