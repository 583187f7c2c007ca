//! Packages, through Cosmos at the gateway: the catalogue (searched by Cosmos, sorted and
//! paged here) with the installed packages and their Uninstall buttons; a package's page
//! (`describe`) with an install form made from its config schema (see [`crate::schema_form`])
//! or its options as JSON; the install and uninstall POSTs, answered with a redirect to the
//! list, or with the form again and the errors at the fields they name.
//!
//! Cosmos is asked as the `dcos` CLI asks it: `POST /package/<op>` with its versioned media
//! types. The options sent are everything the form shows (as the DC/OS UI sends them), not a
//! difference from the defaults: Cosmos merges the defaults under them either way.

mod cosmos;

use super::{missing, render, Page, S};
use crate::schema_form::{self as sf, Control, Errors, Item};
use crate::table::{encode, page, Pager, Query};
use crate::Ui;
use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, Query as Q, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
pub use cosmos::Refusal;
use cosmos::{cosmos, DESCRIBE, INSTALL, LIST, SEARCH, UNINSTALL};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The largest form accepted (options JSON included).
const MAX_FORM: usize = 256 << 10;
/// The most installed packages one page lists.
const MAX_INSTALLED: usize = crate::table::MAX_PER;

/// This area's routes.
pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/packages", get(list))
        .route("/ui/packages/{name}", get(detail))
        .route("/ui/packages/{name}/install", post(install))
        .route("/ui/packages/{name}/uninstall", post(uninstall))
        .layer(DefaultBodyLimit::max(MAX_FORM))
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `/ui/apps/<id>` for a Marathon app id (`/helloworld`).
fn app_href(app_id: &str) -> String {
    format!("/ui/apps/{}", encode(app_id.trim_start_matches('/')))
}

fn package_href(name: &str) -> String {
    format!("/ui/packages/{}", encode(name))
}

// ---- the list ----

/// The list's query: the table's (search, sort, page) and what the last action said.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<usize>,
    pub per: Option<usize>,
    /// After an install: the app id it made (empty for a CLI-only package) …
    pub installed: Option<String>,
    /// … or after an uninstall: the app id removed; with the package's name.
    pub uninstalled: Option<String>,
    pub package: Option<String>,
}

impl ListQuery {
    fn table(&self) -> Query {
        Query {
            q: self.q.clone(),
            sort: self.sort.clone(),
            dir: self.dir.clone(),
            page: self.page,
            per: self.per,
            ..Query::default()
        }
    }
}

pub struct CatalogueRow {
    pub name: String,
    pub href: String,
    pub version: String,
    pub description: String,
    pub tags: String,
    pub framework: bool,
    pub selected: bool,
}

pub struct InstalledRow {
    pub app_id: String,
    pub app_href: String,
    pub name: String,
    pub href: String,
    pub version: String,
    pub uninstall: String,
}

/// A message after an action: the text, and a link to what it made.
pub struct Notice {
    pub text: String,
    pub link: Option<(String, String)>,
    /// The package's post-install (or post-uninstall) notes.
    pub notes: String,
}

#[derive(Template)]
#[template(path = "packages.html")]
pub struct PackagesPage {
    pub page: Page,
    pub q: Query,
    pub path: &'static str,
    pub rows: Vec<CatalogueRow>,
    pub pager: Pager,
    pub catalogue_error: Option<String>,
    pub installed: Vec<InstalledRow>,
    pub installed_total: usize,
    pub installed_error: Option<String>,
    pub notice: Option<Notice>,
}

/// The catalogue's rows from a search answer.
pub fn catalogue(found: &Value) -> Vec<CatalogueRow> {
    found["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let name = text(p, "name");
            CatalogueRow {
                href: package_href(&name),
                version: text(p, "currentVersion"),
                description: text(p, "description"),
                tags: p["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                framework: p["framework"] == true,
                selected: p["selected"] == true,
                name,
            }
        })
        .collect()
}

/// The installed packages from a list answer.
pub fn installed(listed: &Value) -> Vec<InstalledRow> {
    listed["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let app_id = text(p, "appId");
            let def = &p["packageInformation"]["packageDefinition"];
            let name = text(def, "name");
            InstalledRow {
                app_href: app_href(&app_id),
                href: package_href(&name),
                uninstall: format!("{}/uninstall", package_href(&name)),
                version: text(def, "version"),
                name,
                app_id,
            }
        })
        .collect()
}

/// What the list says after an action, with the notes of the package's definition `def`.
fn notice(q: &ListQuery, def: Option<&Value>) -> Option<Notice> {
    let name = q.package.as_deref().filter(|n| !n.is_empty())?;
    let notes = |key: &str| def.map(|d| text(d, key)).unwrap_or_default();
    if let Some(app) = &q.installed {
        return Some(if app.is_empty() {
            Notice {
                text: format!("Installed {name}."),
                link: None,
                notes: notes("postInstallNotes"),
            }
        } else {
            Notice {
                text: format!("Installed {name} as the app {app}."),
                link: Some((app_href(app), format!("Open {app}"))),
                notes: notes("postInstallNotes"),
            }
        });
    }
    q.uninstalled.as_ref().map(|app| Notice {
        text: format!("Uninstalled {name} (the app {app})."),
        link: None,
        notes: notes("postUninstallNotes"),
    })
}

pub async fn list(State(ui): S, Q(lq): Q<ListQuery>, headers: HeaderMap) -> Response {
    let page_ = Page::new(&ui, &headers, "Packages", "packages", "");
    let query = lq.q.clone().filter(|q| !q.trim().is_empty());
    // After an action, the package's notes for it (as the dcos CLI prints them).
    let acted = lq
        .package
        .clone()
        .filter(|n| !n.is_empty() && (lq.installed.is_some() || lq.uninstalled.is_some()));
    let (found, listed, def) = tokio::join!(
        cosmos(&ui, &SEARCH, json!({ "query": query })),
        cosmos(&ui, &LIST, json!({})),
        async {
            match &acted {
                Some(n) => cosmos(&ui, &DESCRIBE, json!({ "packageName": n }))
                    .await
                    .ok(),
                None => None,
            }
        }
    );
    let q = lq.table();
    let path = "/ui/packages";
    let (rows, catalogue_error) = match &found {
        Ok(f) => (catalogue(f), None),
        Err(r) => (Vec::new(), Some(r.message.clone())),
    };
    let sort = q.sort_or("name").to_string();
    let p = page(rows, &q, |a, b| match sort.as_str() {
        "version" => a.version.cmp(&b.version).then(a.name.cmp(&b.name)),
        _ => a.name.cmp(&b.name),
    });
    let pager = Pager::new(&p, &q, path);
    let (mut inst, installed_error) = match &listed {
        Ok(l) => (installed(l), None),
        Err(r) => (Vec::new(), Some(r.message.clone())),
    };
    let installed_total = inst.len();
    inst.truncate(MAX_INSTALLED);
    render(&PackagesPage {
        page: page_,
        q,
        path,
        rows: p.rows,
        pager,
        catalogue_error,
        installed: inst,
        installed_total,
        installed_error,
        notice: notice(&lq, def.as_ref().map(|d| &d["package"])),
    })
}

// ---- a package ----

/// A package's facts as its page shows them.
pub struct Described {
    pub name: String,
    pub version: String,
    pub description: String,
    pub maintainer: String,
    pub tags: String,
    pub framework: bool,
    pub selected: bool,
    pub website: String,
    pub scm: String,
    /// (name, url).
    pub licenses: Vec<(String, String)>,
    pub pre_install_notes: String,
    /// (what, name, where): assets, images, CLI binaries.
    pub resources: Vec<(String, String, String)>,
    /// It has a Marathon template: installing runs an app.
    pub runs_app: bool,
    pub schema: Value,
}

/// The describe answer's package (v3: `{"package": …}`).
pub fn described(answer: &Value) -> Described {
    let p = &answer["package"];
    let mut resources = Vec::new();
    let r = &p["resource"];
    for (name, uri) in r["assets"]["uris"].as_object().into_iter().flatten() {
        resources.push((
            "Asset".into(),
            name.clone(),
            uri.as_str().unwrap_or_default().into(),
        ));
    }
    for (name, image) in r["assets"]["container"]["docker"]
        .as_object()
        .into_iter()
        .flatten()
    {
        resources.push((
            "Docker image".into(),
            name.clone(),
            image.as_str().unwrap_or_default().into(),
        ));
    }
    for (name, url) in r["images"].as_object().into_iter().flatten() {
        if let Some(u) = url.as_str() {
            resources.push(("Image".into(), name.clone(), u.into()));
        }
    }
    for (os, arches) in r["cli"]["binaries"].as_object().into_iter().flatten() {
        for (arch, b) in arches.as_object().into_iter().flatten() {
            resources.push(("CLI binary".into(), format!("{os} {arch}"), text(b, "url")));
        }
    }
    Described {
        name: text(p, "name"),
        version: text(p, "version"),
        description: text(p, "description"),
        maintainer: text(p, "maintainer"),
        tags: p["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        framework: p["framework"] == true,
        selected: p["selected"] == true,
        website: web_link(text(p, "website")),
        scm: web_link(text(p, "scm")),
        licenses: p["licenses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (text(l, "name"), web_link(text(l, "url"))))
            .collect(),
        pre_install_notes: text(p, "preInstallNotes"),
        resources,
        runs_app: p.get("marathon").is_some_and(|m| !m.is_null()),
        schema: p.get("config").cloned().unwrap_or(Value::Null),
    }
}

/// A repository's URL as a link only when it is a web address: a package could otherwise ship
/// `javascript:` links that run in the UI's origin when clicked.
fn web_link(url: String) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        url
    } else {
        String::new()
    }
}

/// The install form as shown: the fields, the JSON, and what is wrong.
pub struct InstallForm {
    pub action: String,
    pub items: Vec<Item>,
    pub json: String,
    pub extra: String,
    pub app_id: String,
    pub app_id_error: Option<String>,
    /// Errors about the options as a whole (shown at the JSON box too).
    pub options_error: Option<String>,
    /// Every error, for the summary at the top: (text, the id of the element it is at).
    pub summary: Vec<(String, String)>,
    /// The Cosmos refusal that is not about a field.
    pub problem: Option<String>,
    /// The JSON box is open: it was used, or has an error.
    pub json_open: bool,
}

impl InstallForm {
    /// The form for `d` showing `current`, with the JSON box holding `json` (the options
    /// pretty-printed when `None`).
    fn new(
        d: &Described,
        current: &Map<String, Value>,
        json: Option<String>,
        errors: &Errors,
    ) -> InstallForm {
        let items = sf::form(&d.schema, &Value::Object(current.clone()), errors);
        let mut summary = Vec::new();
        for i in &items {
            match i {
                Item::Field(f) => {
                    if let Some(e) = &f.error {
                        summary.push((format!("{}: {e}", f.label), f.id.clone()));
                    }
                }
                Item::Open(g) => {
                    if let Some(e) = &g.error {
                        summary.push((format!("{}: {e}", g.legend), g.id.clone()));
                    }
                }
                Item::Close => {}
            }
        }
        let options_error = errors.get("").map(|m| m.join("; "));
        if let Some(e) = &options_error {
            summary.push((format!("Options: {e}"), "options-json".into()));
        }
        let unknown = sf::unknown(&d.schema, current);
        InstallForm {
            json_open: json.is_some() || options_error.is_some(),
            action: format!("{}/install", package_href(&d.name)),
            items,
            json: json.unwrap_or_else(|| pretty(&Value::Object(current.clone()))),
            extra: if unknown.is_empty() {
                String::new()
            } else {
                Value::Object(unknown).to_string()
            },
            app_id: String::new(),
            app_id_error: None,
            options_error,
            summary,
            problem: None,
        }
    }

    fn app_id_error(mut self, app_id: String, error: Option<String>) -> InstallForm {
        if let Some(e) = &error {
            self.summary
                .insert(0, (format!("App id: {e}"), "app-id".into()));
        }
        self.app_id = app_id;
        self.app_id_error = error;
        self
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

#[derive(Template)]
#[template(path = "package.html")]
pub struct PackagePage {
    pub page: Page,
    pub d: Described,
    pub form: InstallForm,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VersionQuery {
    pub version: Option<String>,
}

/// Describe `name` (at `version`): the package, or the page to answer instead.
async fn describe(
    ui: &Ui,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
) -> Result<Described, Response> {
    let mut req = json!({ "packageName": name });
    if let Some(v) = version.filter(|v| !v.is_empty()) {
        req["packageVersion"] = json!(v);
    }
    match cosmos(ui, &DESCRIBE, req).await {
        Ok(a) => Ok(described(&a)),
        Err(r) if matches!(r.kind.as_str(), "PackageNotFound" | "VersionNotFound") => {
            Err(missing(ui, headers, "packages", r.message, "/ui/packages"))
        }
        Err(r) => {
            let mut resp = missing(ui, headers, "packages", r.message.clone(), "/ui/packages");
            *resp.status_mut() = r.status();
            Err(resp)
        }
    }
}

pub async fn detail(
    State(ui): S,
    Path(name): Path<String>,
    Q(vq): Q<VersionQuery>,
    headers: HeaderMap,
) -> Response {
    let d = match describe(&ui, &headers, &name, vq.version.as_deref()).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let defaults = sf::defaults(&d.schema);
    let form = InstallForm::new(&d, &defaults, None, &Errors::new());
    let page_ = Page::new(&ui, &headers, format!("Package {}", d.name), "packages", "");
    render(&PackagePage {
        page: page_,
        d,
        form,
    })
}

/// The form's own controls (the options' are named by [`sf::PREFIX`]).
fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What an install form asks: the options (or what is wrong with them before Cosmos is asked),
/// what the form shows again if it must, and the JSON box's text.
pub struct Asked {
    pub options: Map<String, Value>,
    pub errors: Errors,
    /// The options the form shows again: the defaults under what was sent.
    pub current: Map<String, Value>,
    /// The JSON box as typed (JSON mode), else `None` (the options pretty-printed).
    pub json: Option<String>,
}

/// Read a submitted install form for `schema`: in JSON mode the JSON box, else the fields.
pub fn asked(schema: &Value, form: &[(String, String)]) -> Asked {
    let mut current = sf::defaults(schema);
    if field(form, "mode") == Some("json") {
        let typed = field(form, "json").unwrap_or_default().to_string();
        let mut errors = Errors::new();
        let options = match serde_json::from_str::<Value>(typed.trim()) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) | Err(_) if typed.trim().is_empty() => Map::new(),
            Ok(_) => {
                errors.insert(
                    String::new(),
                    vec!["the options must be a JSON object".into()],
                );
                Map::new()
            }
            Err(e) => {
                errors.insert(String::new(), vec![format!("not valid JSON: {e}")]);
                Map::new()
            }
        };
        sf::merge(&mut current, &options);
        return Asked {
            options,
            errors,
            current,
            json: Some(typed),
        };
    }
    let built = sf::options(schema, form);
    sf::merge(&mut current, &built.options);
    Asked {
        options: built.options,
        errors: built.errors,
        current,
        json: None,
    }
}

/// Where a refused install's reasons go on the form shown again.
pub struct Refused {
    /// Errors by the pointer of the field (or fieldset) they are at.
    pub errors: Errors,
    pub status: StatusCode,
    /// At the app id field: the id is taken, or not one.
    pub app_id_error: Option<String>,
    /// About neither: shown in the summary.
    pub problem: Option<String>,
}

/// Cosmos' refusal of an install as the form shows it: a schema mismatch at the fields its
/// reports name, an app id taken (409) or invalid at the app id, anything else said as is.
pub fn refused(schema: &Value, r: &Refusal) -> Refused {
    let mut out = Refused {
        errors: Errors::new(),
        status: r.status(),
        app_id_error: None,
        problem: None,
    };
    match r.kind.as_str() {
        "JsonSchemaMismatch" => {
            out.errors = sf::place(schema, sf::reports(&r.data));
            out.status = StatusCode::UNPROCESSABLE_ENTITY;
        }
        "PackageAlreadyInstalled" => {
            out.app_id_error = Some(format!(
                "{} Choose another app id, or uninstall the app installed now.",
                r.message
            ));
            out.status = StatusCode::CONFLICT;
        }
        "InvalidAppId" => out.app_id_error = Some(r.message.clone()),
        _ => out.problem = Some(format!("{} ({})", r.message, r.kind)),
    }
    out
}

pub async fn install(
    State(ui): S,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let version = field(&form, "packageVersion").map(str::to_string);
    let d = match describe(&ui, &headers, &name, version.as_deref()).await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let app_id = field(&form, "appId").unwrap_or_default().trim().to_string();
    let a = asked(&d.schema, &form);
    // Nothing Cosmos would refuse anyway is sent: a number that is not one, JSON that is not.
    let (errors, status, app_id_error, problem) = if !a.errors.is_empty() {
        let errors = a.errors.clone();
        (errors, StatusCode::UNPROCESSABLE_ENTITY, None, None)
    } else {
        let mut req = json!({"packageName": d.name, "packageVersion": d.version,
            "options": a.options});
        if !app_id.is_empty() {
            req["appId"] = json!(app_id);
        }
        match cosmos(&ui, &INSTALL, req).await {
            Ok(done) => {
                let to = format!(
                    "/ui/packages?installed={}&package={}#installed",
                    encode(&text(&done, "appId")),
                    encode(&d.name)
                );
                return Redirect::to(&to).into_response();
            }
            Err(r) => {
                let o = refused(&d.schema, &r);
                (o.errors, o.status, o.app_id_error, o.problem)
            }
        }
    };
    let mut form_ = InstallForm::new(&d, &a.current, a.json.clone(), &errors)
        .app_id_error(app_id, app_id_error);
    form_.problem = problem;
    let page_ = Page::new(&ui, &headers, format!("Install {}", d.name), "packages", "");
    let mut resp = render(&PackagePage {
        page: page_,
        d,
        form: form_,
    });
    *resp.status_mut() = status;
    resp
}

// ---- uninstall ----

#[derive(Template)]
#[template(path = "package_uninstall.html")]
pub struct UninstallPage {
    pub page: Page,
    pub name: String,
    pub app_id: String,
    pub action: String,
    pub error: Option<String>,
}

/// `POST /ui/packages/<name>/uninstall` with `appId`: with `confirmed=yes` (the script sets it
/// when its dialog is accepted; the page asked without it sets it), uninstall and go back to
/// the list; without, ask first.
pub async fn uninstall(
    State(ui): S,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let app_id = field(&form, "appId").unwrap_or_default().to_string();
    let action = format!("{}/uninstall", package_href(&name));
    let ask = |error: Option<String>, status: StatusCode| {
        let page_ = Page::new(&ui, &headers, format!("Uninstall {name}"), "packages", "");
        let mut r = render(&UninstallPage {
            page: page_,
            name: name.clone(),
            app_id: app_id.clone(),
            action: action.clone(),
            error,
        });
        *r.status_mut() = status;
        r
    };
    if field(&form, "confirmed") != Some("yes") {
        return ask(None, StatusCode::OK);
    }
    let mut req = json!({ "packageName": name });
    if !app_id.is_empty() {
        req["appId"] = json!(app_id);
    }
    match cosmos(&ui, &UNINSTALL, req).await {
        Ok(_) => Redirect::to(&format!(
            "/ui/packages?uninstalled={}&package={}#installed",
            encode(&app_id),
            encode(&name)
        ))
        .into_response(),
        Err(r) => ask(Some(format!("{} ({})", r.message, r.kind)), r.status()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "packages_tests.rs"]
mod tests;

#[cfg(test)]
mod link_tests {
    #[test]
    fn only_web_addresses_become_links() {
        assert_eq!(
            super::web_link("https://example.com/x".into()),
            "https://example.com/x"
        );
        assert_eq!(super::web_link("javascript:alert(1)".into()), "");
        assert_eq!(super::web_link(" JavaScript:alert(1)".into()), "");
        assert_eq!(super::web_link("data:text/html,x".into()), "");
    }
}
