//! The pages: one module per area, each a handler that reads the model, cuts the page of rows
//! asked for, and renders a template. What every page shares is here: the frame (navigation,
//! the event stream's topics, the id the page is current to), fragments (a page asked with
//! `X-Drover-Fragment` answers only its `<main>`, which the script swaps in after a `resync`
//! or when rows come and go), the static files, and the not-found page.

pub mod apps;
pub mod dashboard;
pub mod deployments;
pub mod editor;
pub mod jobs;
pub mod nodes;
pub mod packages;
pub mod resources;
#[cfg(test)]
mod resources_tests;
pub mod sandbox;
pub mod services;
pub mod tasks;
#[cfg(test)]
mod tests;

use crate::Ui;
use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub type S = axum::extract::State<Arc<Ui>>;

/// The sections of the navigation: (key, label, link).
pub const NAV: &[(&str, &str, &str)] = &[
    ("dashboard", "Dashboard", "/"),
    ("services", "Services", "/ui/services"),
    ("apps", "Apps", "/ui/apps"),
    ("deployments", "Deployments", "/ui/deployments"),
    ("nodes", "Nodes", "/ui/nodes"),
    ("tasks", "Tasks", "/ui/tasks"),
    ("packages", "Packages", "/ui/packages"),
    ("jobs", "Jobs", "/ui/jobs"),
    ("resources", "Resources", "/ui/resources"),
];

/// What the frame of every page needs.
pub struct Page {
    pub title: String,
    /// The navigation key of this page.
    pub section: &'static str,
    /// Event topics the page follows (comma-separated).
    pub topics: &'static str,
    /// The event id the page is current to.
    pub since: String,
    /// Only `<main>`'s content.
    pub fragment: bool,
}

impl Page {
    pub fn new(
        ui: &Ui,
        headers: &HeaderMap,
        title: impl Into<String>,
        section: &'static str,
        topics: &'static str,
    ) -> Page {
        Page {
            title: title.into(),
            section,
            topics,
            since: ui.live.hub.last_id(),
            fragment: headers.contains_key("x-drover-fragment"),
        }
    }

    pub fn nav(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        NAV
    }
}

/// Render a template, or say plainly that it could not be.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = Html(html).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // Only the UI's own script runs on its pages, whatever text a page shows (an app's
            // labels, a package's description); style attributes draw the bars.
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                     img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'self'",
                ),
            );
            r
        }
        Err(e) => {
            tracing::error!("ui: rendering a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page could not be rendered: {e}"),
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "missing.html")]
pub struct Missing {
    pub page: Page,
    pub what: String,
    pub back: &'static str,
}

/// A 404 page naming what was not found.
pub fn missing(
    ui: &Ui,
    headers: &HeaderMap,
    section: &'static str,
    what: String,
    back: &'static str,
) -> Response {
    let page = Page::new(ui, headers, "Not found", section, "");
    let mut r = render(&Missing { page, what, back });
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

const SCRIPT: &str = include_str!("../../assets/app.js");
const STYLE: &str = include_str!("../../assets/app.css");

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Whether a request that changes something comes from another site: the browser says so
/// (`Sec-Fetch-Site: cross-site`), or its `Origin` is not the host it was sent to.
pub fn cross_site(method: &axum::http::Method, headers: &HeaderMap) -> bool {
    if matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD) {
        return false;
    }
    let text = |k: header::HeaderName| headers.get(k).and_then(|v| v.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return true;
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            origin.split_once("://").map_or(origin, |(_, rest)| rest) != host
        }
        // An opaque origin (a sandboxed frame, a file): not this site.
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The UI's forms are plain posts a page on any site could send (no preflight, unlike
/// Marathon's own DELETE and PUT): refuse those another site sends.
async fn same_origin(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if cross_site(req.method(), req.headers()) {
        return (
            StatusCode::FORBIDDEN,
            "A form sent from another site was refused: the UI's actions are taken only from its own pages.",
        )
            .into_response();
    }
    next.run(req).await
}

pub fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/ui", get(|| async { Redirect::to("/") }))
        .route("/ui/", get(|| async { Redirect::to("/") }))
        .route("/ui/events", get(crate::sse::events))
        .route(
            "/ui/static/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/static/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/ui/nodes", get(nodes::list))
        .route("/ui/nodes/{id}", get(nodes::detail))
        .route("/ui/tasks", get(tasks::list))
        .route("/ui/tasks/{id}", get(tasks::detail))
        .route("/ui/services", get(services::list))
        .route("/ui/services/{id}", get(services::detail))
        .route("/ui/resources", get(resources::page_))
        .merge(apps::routes())
        .merge(deployments::routes())
        .merge(editor::routes())
        .merge(jobs::routes())
        .merge(packages::routes())
        .merge(sandbox::routes())
        // Every form the UI takes (an app's JSON, a package's options) fits in 1 MiB.
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .layer(axum::middleware::from_fn(same_origin))
        .with_state(ui)
}

pub use crate::fmt::{mib, num, pct, when};
