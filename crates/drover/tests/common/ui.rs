//! The browser tests' rig: the ui venv's python (or a skip, or in CI a failure, where it or
//! Chromium is missing) and running a flow script of tests/clients/ that prints one JSON object.

use super::repo_root;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The ui venv's python, where it and Chromium are installed. Where either is missing: `None`
/// (the test skips, saying why), or, with DROVER_TESTS_NO_SKIP set as CI sets it, a failure.
pub fn browser_python() -> Option<PathBuf> {
    let pyc = std::env::var("PYC").unwrap_or_else(|_| "/tmp/drover-clients".into());
    let python = Path::new(&pyc).join("ui/bin/python");
    let chromium = std::env::var("DROVER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut missing = Vec::new();
    if !python.exists() {
        missing.push(format!(
            "the ui venv at {} (tests/clients/setup.sh builds it)",
            python.display()
        ));
    }
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium at {chromium} (apt-get install chromium)"));
    }
    if missing.is_empty() {
        return Some(python);
    }
    let why = format!("the browser tests need {}", missing.join(" and "));
    assert!(
        std::env::var_os("DROVER_TESTS_NO_SKIP").is_none(),
        "{why}, and DROVER_TESTS_NO_SKIP is set"
    );
    eprintln!("skipped: {why}");
    None
}

/// Run one flow of ui_flows.py; its JSON, or a failure with what it said.
pub fn flow(python: &Path, args: &[&str]) -> Value {
    flow_in("ui_flows.py", python, args)
}

/// Run one flow of a flows script under tests/clients/ (`ui_flows_apps.py`, …).
pub fn flow_in(script: &str, python: &Path, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(repo_root().join("tests/clients").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run tests/clients/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}):\n{stderr}\nits report:\n{stdout}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{script} {args:?} printed no JSON ({e}):\n{stdout}"))
}
