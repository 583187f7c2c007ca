//! The spec editor: create an app or edit one as a form or as JSON, sending back exactly what
//! was there plus what changed; an app's versions with a diff, and applying an old one.
//!
//! The form carries the definition it was rendered from (Marathon's answer without the keys
//! Marathon adds, [`spec::READ_ONLY`]) in a hidden field; a save writes only the fields the
//! user changed onto it ([`spec::apply`]) and sends the whole definition
//! (`PUT /v2/apps/<id>?partialUpdate=false`, so a field the user emptied is gone). Switching
//! between Form and JSON posts the form and renders the other mode from it (no JavaScript
//! needed; the script does the same in place). App pages other than `/ui/apps/new` reach here
//! through the apps area's dispatch (`/ui/apps/<id>/edit`, `/versions`, `/versions/apply`).

#[cfg(test)]
mod tests;
mod view;

use super::{missing, render, Page, S};
use crate::spec::{self, Errors, Field};
use crate::table::{page as cut, Pager, Query};
use crate::Ui;
use askama::Template;
use axum::extract::Query as Q;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use view::{DiffView, Draft, Notice, SpecForm, VersionRow};

/// This area's own routes (an app's edit and versions pages come through the apps area's
/// dispatch, [`edit_page`] and the others).
pub fn routes() -> Router<Arc<Ui>> {
    Router::new().route("/ui/apps/new", get(new_page).post(save_new))
}

#[derive(Template)]
#[template(path = "app_new.html")]
pub struct AppNew {
    pub page: Page,
    pub form: SpecForm,
}

#[derive(Template)]
#[template(path = "app_edit.html")]
pub struct AppEdit {
    pub page: Page,
    pub id: String,
    pub form: Option<SpecForm>,
    /// Why there is no form (Marathon could not be read).
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "app_versions.html")]
pub struct AppVersions {
    pub page: Page,
    pub id: String,
    pub current: String,
    pub versions: Vec<VersionRow>,
    /// Every version, newest first, for the compare form.
    pub all: Vec<String>,
    pub pager: Option<Pager>,
    pub diff: Option<DiffView>,
    pub notice: Option<Notice>,
    /// Why the list or the diff could not be read.
    pub problem: Option<String>,
}

/// An app id from a URL, canonical (`/a/b`), or `None` when it is not one Marathon could hold
/// (so nothing else reaches Marathon's paths).
pub fn app_id(raw: &str) -> Option<String> {
    let segs: Vec<&str> = raw.trim().trim_matches('/').split('/').collect();
    let ok = segs.iter().all(|s| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    });
    ok.then(|| format!("/{}", segs.join("/")))
}

/// A version as Marathon writes it (an ISO-8601 time), safe in a path.
fn version_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() < 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":.-+_".contains(&b))
}

fn bad_id(ui: &Ui, headers: &HeaderMap, raw: &str) -> Response {
    missing(
        ui,
        headers,
        "apps",
        format!("'{raw}' is not an app id (lowercase letters, digits, hyphens and dots, in /-separated parts)."),
        "/ui/apps",
    )
}

/// What a form's save does: create (`POST /v2/apps`) or replace an app.
#[derive(Clone)]
enum Target {
    New,
    Edit(String),
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::New => "/ui/apps/new".into(),
            Target::Edit(id) => format!("/ui/apps{id}/edit"),
        }
    }

    fn cancel(&self) -> String {
        match self {
            Target::New => "/ui/apps".into(),
            Target::Edit(id) => format!("/ui/apps{id}"),
        }
    }
}

/// Render the form page of `target` with `status`.
#[allow(clippy::too_many_arguments)]
fn form_page(
    ui: &Ui,
    headers: &HeaderMap,
    target: &Target,
    base: &Value,
    opened: &str,
    json_mode: bool,
    draft: Draft,
    status: StatusCode,
) -> Response {
    let editing = matches!(target, Target::Edit(_));
    let form = SpecForm::new(
        &target.url(),
        base,
        opened,
        json_mode,
        editing,
        target.cancel(),
        draft,
    );
    let mut r = match target {
        Target::New => {
            let page = Page::new(ui, headers, "New app", "apps", "");
            render(&AppNew { page, form })
        }
        Target::Edit(id) => {
            let page = Page::new(ui, headers, format!("Edit {id}"), "apps", "");
            render(&AppEdit {
                page,
                id: id.clone(),
                form: Some(form),
                problem: None,
            })
        }
    };
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

/// `GET /ui/apps/new[?mode=json]`.
async fn new_page(
    axum::extract::State(ui): S,
    Q(q): Q<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let json_mode = q.get("mode").is_some_and(|m| m == "json");
    form_page(
        &ui,
        &headers,
        &Target::New,
        &spec::new_app(),
        "",
        json_mode,
        Draft::default(),
        StatusCode::OK,
    )
}

/// `POST /ui/apps/new`: create, or switch modes.
async fn save_new(
    axum::extract::State(ui): S,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    submit(&ui, Target::New, form, &headers).await
}

/// The app as Marathon has it now: its definition and version, `None` when there is none.
async fn current(ui: &Ui, id: &str) -> Result<Option<(Value, String)>, String> {
    let v = ui.marathon.get(&format!("/v2/apps{id}")).await?;
    Ok(v.map(|v| {
        let app = &v["app"];
        (
            spec::definition(app),
            app["version"].as_str().unwrap_or_default().to_string(),
        )
    }))
}

/// `GET /ui/apps/<id>/edit[?mode=json]`: the app's definition as Marathon has it, in the form.
pub async fn edit_page(
    ui: Arc<Ui>,
    id: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = app_id(&id) else {
        return bad_id(&ui, &headers, &id);
    };
    let json_mode = q.get("mode").is_some_and(|m| m == "json");
    match current(&ui, &id).await {
        Ok(Some((def, version))) => form_page(
            &ui,
            &headers,
            &Target::Edit(id),
            &def,
            &version,
            json_mode,
            Draft::default(),
            StatusCode::OK,
        ),
        Ok(None) => missing(
            &ui,
            &headers,
            "apps",
            format!("Marathon has no app '{id}'."),
            "/ui/apps",
        ),
        Err(e) => {
            let page = Page::new(&ui, &headers, format!("Edit {id}"), "apps", "");
            let mut r = render(&AppEdit {
                page,
                id,
                form: None,
                problem: Some(format!("Marathon could not be read: {e}")),
            });
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
    }
}

/// `POST /ui/apps/<id>/edit`: save, or switch modes.
pub async fn save_edit(
    ui: Arc<Ui>,
    id: String,
    form: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = app_id(&id) else {
        return bad_id(&ui, &headers, &id);
    };
    submit(&ui, Target::Edit(id), form, &headers).await
}

/// A form posted: switch its mode, or save it.
async fn submit(
    ui: &Ui,
    target: Target,
    form: HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let json_mode = form.get("mode").is_some_and(|m| m == "json");
    let action = form.get("action").map(String::as_str).unwrap_or("save");
    let mut opened = form.get("opened").cloned().unwrap_or_default();
    // The definition the form was rendered from; a form that lost it starts again from
    // Marathon's (or a new app's).
    let base = match form.get("base").map(|b| spec::parse_json(b)) {
        Some(Ok(b)) => b,
        _ => match &target {
            Target::New => spec::new_app(),
            Target::Edit(id) => match current(ui, id).await {
                Ok(Some((def, version))) => {
                    opened = version;
                    def
                }
                Ok(None) => {
                    return missing(
                        ui,
                        headers,
                        "apps",
                        format!("Marathon has no app '{id}'."),
                        "/ui/apps",
                    )
                }
                Err(e) => return unreachable_marathon(ui, headers, &target, &e),
            },
        },
    };
    let json_text = form.get("json").cloned().unwrap_or_default();
    let page = |base: &Value, opened: &str, json_mode: bool, d: Draft, s: StatusCode| {
        form_page(ui, headers, &target, base, opened, json_mode, d, s)
    };
    let editing = matches!(target, Target::Edit(_));
    let user = |errors: Errors| Draft {
        texts: Some(form.clone()),
        errors,
        ..Draft::default()
    };
    let typed = |json_errors: Vec<String>| Draft {
        json: Some(json_text.clone()),
        json_errors,
        ..Draft::default()
    };

    // The definition the user asks for, from the mode they were in.
    let wanted = if json_mode {
        spec::parse_json(&json_text).map_err(|e| typed(vec![e]))
    } else {
        spec::apply(&base, &form, editing).map_err(user)
    };
    match (action, wanted) {
        (_, Err(d)) => page(
            &base,
            &opened,
            json_mode,
            d,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("to_json", Ok(def)) => {
            let d = Draft {
                json: Some(spec::pretty(&def)),
                ..Draft::default()
            };
            page(&base, &opened, true, d, StatusCode::OK)
        }
        // The form is rendered from the JSON: it is the form's base from now on.
        ("to_form", Ok(def)) => page(&def, &opened, false, Draft::default(), StatusCode::OK),
        (_, Ok(def)) => {
            let force = form.get("force").is_some_and(|f| f == "true" || f == "on");
            save(
                ui, headers, &target, &base, &opened, json_mode, &form, def, force,
            )
            .await
        }
    }
}

fn unreachable_marathon(ui: &Ui, headers: &HeaderMap, target: &Target, e: &str) -> Response {
    let problem = format!("Marathon could not be reached: {e}");
    match target {
        Target::Edit(id) => {
            let page = Page::new(ui, headers, format!("Edit {id}"), "apps", "");
            let mut r = render(&AppEdit {
                page,
                id: id.clone(),
                form: None,
                problem: Some(problem),
            });
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            r
        }
        Target::New => (StatusCode::BAD_GATEWAY, problem).into_response(),
    }
}

/// Send the definition: created or replaced, then to the app's page; refused, the form again
/// with Marathon's errors at their fields.
#[allow(clippy::too_many_arguments)]
async fn save(
    ui: &Ui,
    headers: &HeaderMap,
    target: &Target,
    base: &Value,
    opened: &str,
    json_mode: bool,
    form: &HashMap<String, String>,
    def: Value,
    force: bool,
) -> Response {
    let json_text = form.get("json").cloned().unwrap_or_default();
    // The user's input as it was, for every answer that shows the form again.
    let draft = |errors: Errors, notice: Option<String>, offer_force: bool| {
        if json_mode {
            Draft {
                json: Some(json_text.clone()),
                json_errors: errors.all(),
                notice,
                offer_force,
                ..Draft::default()
            }
        } else {
            Draft {
                texts: Some(form.clone()),
                errors,
                notice,
                offer_force,
                ..Draft::default()
            }
        }
    };
    let page = |base: &Value, opened: &str, d: Draft, s: StatusCode| {
        form_page(ui, headers, target, base, opened, json_mode, d, s)
    };
    let (method, path) = match target {
        Target::New => (Method::POST, "/v2/apps".to_string()),
        Target::Edit(id) => {
            // Someone else changed the app since the form was opened: say so, and show their
            // definition with this user's changes, rather than undo theirs.
            if !force {
                if let Ok(Some((now, version))) = current(ui, id).await {
                    if version != opened {
                        let notice = format!(
                            "{id} changed since this form was opened (version {}, now {version}). \
                             The form shows its current definition with your changes; save again to apply them.",
                            if opened.is_empty() { "unknown" } else { opened }
                        );
                        let d = if json_mode {
                            Draft {
                                json: Some(json_text.clone()),
                                notice: Some(notice.replace(
                                    "The form shows its current definition with your changes; save again to apply them.",
                                    "Saving again replaces it with the JSON below.",
                                )),
                                ..Draft::default()
                            }
                        } else {
                            Draft {
                                texts: Some(spec::rebase(base, &now, form)),
                                notice: Some(notice),
                                ..Draft::default()
                            }
                        };
                        return page(&now, &version, d, StatusCode::CONFLICT);
                    }
                }
            }
            let mut p = format!("/v2/apps{id}?partialUpdate=false");
            if force {
                p.push_str("&force=true");
            }
            (Method::PUT, p)
        }
    };
    match ui.marathon.send(method, &path, Some(&def)).await {
        Ok((s, body)) if s.is_success() => {
            let id = match target {
                Target::Edit(id) => id.clone(),
                Target::New => body["id"]
                    .as_str()
                    .or(def["id"].as_str())
                    .and_then(app_id)
                    .unwrap_or_default(),
            };
            Redirect::to(&format!("/ui/apps{id}")).into_response()
        }
        Ok((s, body)) if s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST => {
            page(
                base,
                opened,
                draft(Errors::from_marathon(&body), None, false),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Ok((s, body)) if s == StatusCode::CONFLICT => {
            let msg = body["message"]
                .as_str()
                .unwrap_or("Marathon refused: a conflict")
                .to_string();
            let d = match target {
                // A new app's conflict is its id: one that exists (or a group's).
                Target::New => {
                    let mut e = Errors::default();
                    e.at(Field::Id, msg);
                    draft(e, None, false)
                }
                Target::Edit(_) => draft(Errors::default(), Some(msg), true),
            };
            page(base, opened, d, StatusCode::CONFLICT)
        }
        Ok((s, body)) => {
            let msg = body["message"].as_str().unwrap_or("no message").to_string();
            let notice = format!("Marathon answered HTTP {}: {msg}", s.as_u16());
            page(
                base,
                opened,
                draft(Errors::default(), Some(notice), false),
                StatusCode::BAD_GATEWAY,
            )
        }
        Err(e) => {
            let notice = format!("Marathon could not be reached: {e}. Nothing was saved.");
            page(
                base,
                opened,
                draft(Errors::default(), Some(notice), false),
                StatusCode::BAD_GATEWAY,
            )
        }
    }
}

/// `GET /ui/apps/<id>/versions[?a=<older>&b=<newer>]`: the versions, newest first, and the
/// diff of two (by default the one before the current against the current).
pub async fn versions_page(
    ui: Arc<Ui>,
    id: String,
    q: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = app_id(&id) else {
        return bad_id(&ui, &headers, &id);
    };
    versions_view(&ui, &id, &q, &headers, None, StatusCode::OK).await
}

async fn versions_view(
    ui: &Ui,
    id: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    notice: Option<Notice>,
    status: StatusCode,
) -> Response {
    let page = Page::new(ui, headers, format!("Versions of {id}"), "apps", "");
    let mut out = AppVersions {
        page,
        id: id.to_string(),
        current: String::new(),
        versions: vec![],
        all: vec![],
        pager: None,
        diff: None,
        notice,
        problem: None,
    };
    let done = |out: AppVersions, status: StatusCode| {
        let mut r = render(&out);
        if r.status() == StatusCode::OK {
            *r.status_mut() = status;
        }
        r
    };
    let listed = match (
        current(ui, id).await,
        ui.marathon.get(&format!("/v2/apps{id}/versions")).await,
    ) {
        (Ok(Some((_, v))), Ok(Some(list))) => {
            out.current = v;
            list
        }
        (Ok(None), _) | (_, Ok(None)) => {
            return missing(
                ui,
                headers,
                "apps",
                format!("Marathon has no app '{id}'."),
                "/ui/apps",
            )
        }
        (Err(e), _) | (_, Err(e)) => {
            out.problem = Some(format!("Marathon could not be read: {e}"));
            return done(out, StatusCode::BAD_GATEWAY);
        }
    };
    let mut all: Vec<String> = listed["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    // Newest first (Marathon lists them so; ISO times sort as text).
    all.sort_by(|a, b| b.cmp(a));
    all.dedup();
    let pick = |k: &str| q.get(k).filter(|v| all.contains(v)).cloned();
    let (a, b) = match (pick("a"), pick("b")) {
        (Some(a), Some(b)) => (Some(a), Some(b)),
        (a, b) => (
            a.or_else(|| all.get(1).cloned()),
            b.or_else(|| all.first().cloned()),
        ),
    };
    if let (Some(a), Some(b)) = (a.filter(|a| Some(a) != b.as_ref()), b.clone()) {
        let get = |v: &str| {
            let path = format!("/v2/apps{id}/versions/{v}");
            async move { ui.marathon.get(&path).await }
        };
        match futures_util::future::join(get(&a), get(&b)).await {
            (Ok(Some(old)), Ok(Some(new))) => {
                let (old, new) = (spec::definition(&old), spec::definition(&new));
                let d = spec::diff(&old, &new, 3);
                let rows = view::rows(d.as_deref().unwrap_or_default());
                out.diff = Some(DiffView {
                    a_current: a == out.current,
                    added: rows.iter().filter(|r| r.class == "add").count(),
                    removed: rows.iter().filter(|r| r.class == "del").count(),
                    too_large: d.is_none(),
                    rows,
                    a,
                    b,
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                out.problem = Some(format!("A version could not be read: {e}"));
            }
            _ => out.problem = Some("Marathon no longer has one of these versions.".into()),
        }
    }
    let query = Query {
        page: q.get("page").and_then(|p| p.parse().ok()),
        per: q.get("per").and_then(|p| p.parse().ok()),
        ..Query::default()
    };
    let indexed: Vec<(usize, &String)> = all.iter().enumerate().collect();
    let p = cut(indexed, &query, |x, y| x.0.cmp(&y.0));
    let shown = |v: &str| out.diff.as_ref().is_some_and(|d| d.a == v || d.b == v);
    out.versions = p
        .rows
        .iter()
        .map(|(i, v)| VersionRow {
            version: v.to_string(),
            current: **v == out.current,
            compare: all.get(i + 1).map(|prev| {
                format!(
                    "/ui/apps{id}/versions?a={}&b={}",
                    crate::table::encode(prev),
                    crate::table::encode(v)
                )
            }),
            shown: shown(v),
        })
        .collect();
    out.pager = (p.pages > 1).then(|| Pager::new(&p, &query, &format!("/ui/apps{id}/versions")));
    out.all = all;
    done(out, status)
}

/// `POST /ui/apps/<id>/versions/apply` (`version=<v>`): make that version's definition the
/// app's again, then to the app's page.
///
/// Marathon's own rollback is `PUT /v2/apps/<id>` with `{"version": v}`; Drover's Marathon
/// ignores `version` in a PUT (it reads it as one of the keys its answers add), so the UI sends
/// the version's definition itself, which both take as the same change.
pub async fn apply_version(
    ui: Arc<Ui>,
    id: String,
    form: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = app_id(&id) else {
        return bad_id(&ui, &headers, &id);
    };
    let version = form.get("version").map(|v| v.trim()).unwrap_or_default();
    let force = form.get("force").is_some_and(|f| f == "true" || f == "on");
    let q = HashMap::new();
    let fail = |message: String, details: Vec<String>, offer: bool, status: StatusCode| {
        let notice = Notice {
            message,
            details,
            force_version: offer.then(|| version.to_string()),
        };
        versions_view(&ui, &id, &q, &headers, Some(notice), status)
    };
    if !version_ok(version) {
        return fail(
            format!("'{version}' is not a version of {id}."),
            vec![],
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let def = match ui
        .marathon
        .get(&format!("/v2/apps{id}/versions/{version}"))
        .await
    {
        Ok(Some(v)) => spec::definition(&v),
        Ok(None) => {
            return fail(
                format!("Marathon has no version {version} of {id}."),
                vec![],
                false,
                StatusCode::NOT_FOUND,
            )
            .await
        }
        Err(e) => {
            return fail(
                format!("Marathon could not be read: {e}"),
                vec![],
                false,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    };
    let mut path = format!("/v2/apps{id}?partialUpdate=false");
    if force {
        path.push_str("&force=true");
    }
    match ui.marathon.send(Method::PUT, &path, Some(&def)).await {
        Ok((s, _)) if s.is_success() => Redirect::to(&format!("/ui/apps{id}")).into_response(),
        Ok((s, body)) => {
            let msg = body["message"].as_str().unwrap_or("no message");
            let errors = Errors::from_marathon(&body);
            let details = if s == StatusCode::UNPROCESSABLE_ENTITY {
                errors.all()
            } else {
                vec![]
            };
            fail(
                format!(
                    "Marathon refused version {version} (HTTP {}): {msg}",
                    s.as_u16()
                ),
                details,
                s == StatusCode::CONFLICT,
                if s.is_server_error() {
                    StatusCode::BAD_GATEWAY
                } else {
                    s
                },
            )
            .await
        }
        Err(e) => {
            fail(
                format!("Marathon could not be reached: {e}. Nothing was applied."),
                vec![],
                false,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}
