//! Where the jobs scheduler is, and its answers: the URL the UI was given (`drover up` knows
//! it; `drover gateway --jobs`), else the `webui_url` of the framework `metronome` the master
//! lists — Drover's jobs scheduler registers with its own API's address there, as DC/OS'
//! Metronome does. One request per page; nothing is followed.

use crate::Ui;
use reqwest::Method;
use serde_json::Value;

/// The framework the jobs scheduler registers as.
pub const FRAMEWORK: &str = "metronome";

/// Why the scheduler gave no answer to show.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// No URL was given and the master lists no framework `metronome` with a `webui_url`.
    NotConfigured,
    /// It could not be reached (refused, timed out, not JSON).
    Unreachable(String),
    /// It answered with an error: its status and body (`{"message", "details"}`).
    Refused(u16, Value),
}

impl ApiError {
    /// The status a page answers with for it.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::NotConfigured => 503,
            ApiError::Unreachable(_) => 502,
            ApiError::Refused(s, _) => *s,
        }
    }

    /// The scheduler's message, or what happened, in a sentence.
    pub fn message(&self) -> String {
        match self {
            ApiError::NotConfigured => format!(
                "The jobs scheduler is not configured: the gateway was given no URL for it \
                 (drover gateway --jobs http://host:9000) and the master lists no framework \
                 '{FRAMEWORK}' with a web UI address."
            ),
            ApiError::Unreachable(e) => format!("The jobs scheduler could not be reached: {e}"),
            ApiError::Refused(status, v) => v["message"]
                .as_str()
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| format!("The jobs scheduler answered HTTP {status}")),
        }
    }

    /// Its validation details, `path: error` each.
    pub fn details(&self) -> Vec<String> {
        let ApiError::Refused(_, v) = self else {
            return Vec::new();
        };
        v["details"]
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
            .collect()
    }
}

/// Whether a URL given for the scheduler can be used (`http://host:port[/path]`).
pub fn usable_url(u: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .filter_map(|p| u.strip_prefix(p))
        .any(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// The framework `metronome` the master lists: (its id, its `webui_url`), an active one first.
pub fn framework(ui: &Ui) -> Option<(String, Option<String>)> {
    let c = ui.live.cluster();
    let mut found: Vec<_> = c
        .frameworks
        .values()
        .filter(|f| f.name == FRAMEWORK)
        .collect();
    found.sort_by_key(|f| !f.active);
    found.first().map(|f| (f.id.clone(), f.webui_url.clone()))
}

/// The scheduler's base URL, without a trailing slash.
pub fn base(ui: &Ui) -> Option<String> {
    let u = match &ui.cfg.jobs {
        Some(u) => u.clone(),
        None => framework(ui)?.1.filter(|u| usable_url(u))?,
    };
    Some(u.trim_end_matches('/').to_string())
}

/// Send `method path` to the scheduler: its JSON answer (`Null` when it had none) when it
/// succeeded.
pub async fn call(ui: &Ui, method: Method, path: &str) -> Result<Value, ApiError> {
    let base = base(ui).ok_or(ApiError::NotConfigured)?;
    let r = ui
        .http
        .request(method, format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| ApiError::Unreachable(format!("{base}: {e}")))?;
    let status = r.status();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| ApiError::Unreachable(format!("{base}: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(v)
    } else {
        Err(ApiError::Refused(status.as_u16(), v_or_text(v, &bytes)))
    }
}

/// An error body that is not JSON (a proxy's page) as its message.
fn v_or_text(v: Value, bytes: &[u8]) -> Value {
    if v.is_null() && !bytes.is_empty() {
        let text = String::from_utf8_lossy(bytes);
        serde_json::json!({"message": text.chars().take(300).collect::<String>()})
    } else {
        v
    }
}

pub async fn get(ui: &Ui, path: &str) -> Result<Value, ApiError> {
    call(ui, Method::GET, path).await
}

pub async fn post(ui: &Ui, path: &str) -> Result<Value, ApiError> {
    call(ui, Method::POST, path).await
}

/// Whether `id` is a job id Metronome could hold (lowercase letters, digits, `-`, in parts
/// split by `.`), so nothing else reaches the scheduler's paths.
pub fn valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Whether `id` could be a run's id (letters, digits, `-`, `_`, `.`; not `.` or `..`).
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_the_scheduler_could_hold_reach_its_paths() {
        assert!(valid_job_id("nightly") && valid_job_id("team.report-1"));
        for bad in ["", "..", "a/b", "A", "a..b", "a%2Fb", ".a"] {
            assert!(!valid_job_id(bad), "{bad}");
        }
        assert!(valid_run_id("20261204093012abcde"));
        for bad in ["", ".", "..", "a/b", "a b", "a?b"] {
            assert!(!valid_run_id(bad), "{bad}");
        }
        assert!(usable_url("http://10.0.0.1:9000") && usable_url("https://jobs/"));
        assert!(!usable_url("10.0.0.1:9000") && !usable_url("http://"));
    }
}
