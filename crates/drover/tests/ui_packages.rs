//! The web UI's Packages pages in a real browser (Debian's Chromium driven by
//! `tests/clients/ui_flows_packages.py`), against the gateway of `drover up` and its Cosmos:
//! options Cosmos' schema refuses are shown at their field and install nothing; then
//! `helloworld` is installed from the catalogue through its form (a free service port typed
//! into `port`), seen under Installed and in Marathon's API, uninstalled from the list and gone
//! from both. Every page passes axe with no serious or critical violation.
//!
//! Skipped where Chromium or the ui venv is missing, unless DROVER_TESTS_NO_SKIP is set (CI).
//! `scripts/ui-screenshots.sh` sets DROVER_UI_SCREENSHOTS=docs/ui to keep the pictures
//! (packages, package, package-invalid).

mod common;
use common::ui::{browser_python, flow_in};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const FLOWS: &str = "ui_flows_packages.py";

/// A port nothing listens on now, for the app's service port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn marathon_app(up: &Up, id: &str) -> (u16, Value) {
    call("GET", &format!("http://{}/v2/apps{id}", up.marathon), None)
}

fn no_violations(v: &Value, page: &str) {
    assert_eq!(v["pages"][page]["a11y"], json!([]), "{page}: {v:#}");
    assert!(
        v["pages"][page]["layout"]["h1"].is_string(),
        "{page}: {v:#}"
    );
}

#[test]
fn packages_install_from_the_schema_form_show_errors_at_the_field_and_uninstall() {
    let Some(python) = browser_python() else {
        return;
    };
    let up = Up::start_with_marathon(1, &[]);
    let g = format!("http://{}", up.gateway);

    // Options Cosmos refuses: the error at the port field, nothing installed.
    let v = flow_in(FLOWS, &python, &["invalid", "--url", &g]);
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(v["json_refused"]["field"]["invalid"], "true", "{v:#}");
    assert_eq!(v["json_refused"]["field"]["value"], "abc", "{v:#}");
    assert_eq!(v["json_refused"]["focus"], "form-errors", "{v:#}");
    assert_eq!(v["form_refused"]["field"]["invalid"], "true", "{v:#}");
    assert_eq!(v["refused_installs"], 2, "{v:#}");
    no_violations(&v, "package-invalid");
    assert_eq!(marathon_app(&up, "/helloworld").0, 404);

    // Install from the form with another port, listed and in Marathon; uninstall; gone.
    let port = free_port();
    let v = flow_in(
        FLOWS,
        &python,
        &["install", "--url", &g, "--port", &port.to_string()],
    );
    assert_eq!(v["ok"], true, "{v:#}");
    assert_eq!(
        v["field_before"]["value"], "8080",
        "the default, pre-filled: {v:#}"
    );
    assert_eq!(
        v["after_install"]["installed"],
        json!(["/helloworld"]),
        "{v:#}"
    );
    assert_eq!(v["marathon_app"]["port"], port, "{v:#}");
    assert_eq!(v["marathon_app"]["package"], "helloworld", "{v:#}");
    assert_eq!(v["after_uninstall"]["installed"], json!([]), "{v:#}");
    no_violations(&v, "package");
    no_violations(&v, "packages");
    // Marathon's own API agrees: the app is gone (the flow waited for it through the gateway).
    wait_for(Duration::from_secs(30), || {
        marathon_app(&up, "/helloworld").0 == 404
    });
}
