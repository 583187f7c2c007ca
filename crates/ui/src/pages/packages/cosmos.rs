//! Cosmos as the packages pages ask it: `POST /package/<op>` at the gateway with the versioned
//! media types the `dcos` CLI sends, its answer, or its error (class, message, `data`).

use crate::Ui;
use axum::http::StatusCode;
use serde_json::Value;

/// One of Cosmos' operations: its path and the media types of its request and answer.
pub(super) struct Op {
    path: &'static str,
    kind: &'static str,
    /// The answer's version asked for (describe v3 carries the definition whole).
    version: u8,
}

pub(super) const SEARCH: Op = Op {
    path: "/package/search",
    kind: "search",
    version: 1,
};
pub(super) const DESCRIBE: Op = Op {
    path: "/package/describe",
    kind: "describe",
    version: 3,
};
pub(super) const INSTALL: Op = Op {
    path: "/package/install",
    kind: "install",
    version: 2,
};
pub(super) const LIST: Op = Op {
    path: "/package/list",
    kind: "list",
    version: 1,
};
pub(super) const UNINSTALL: Op = Op {
    path: "/package/uninstall",
    kind: "uninstall",
    version: 1,
};

/// `application/vnd.dcos.package.<kind>+json;charset=utf-8;version=v<n>`, as Cosmos names them.
pub(super) fn media(kind: &str, version: u8) -> String {
    format!("application/vnd.dcos.package.{kind}+json;charset=utf-8;version=v{version}")
}

/// What Cosmos answered instead of a result: its error class (`type`), message and `data`
/// (`Unreachable` when it could not be asked).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub kind: String,
    pub message: String,
    pub data: Value,
}

impl Refusal {
    fn unreachable(why: String) -> Refusal {
        Refusal {
            status: 502,
            kind: "Unreachable".into(),
            message: format!("Cosmos could not be asked: {why}"),
            data: Value::Null,
        }
    }

    pub(super) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::BAD_GATEWAY)
    }
}

/// Ask Cosmos `op` with `body`.
pub(super) async fn cosmos(ui: &Ui, op: &Op, body: Value) -> Result<Value, Refusal> {
    let url = format!("{}{}", ui.cfg.gateway.trim_end_matches('/'), op.path);
    let resp = ui
        .http
        .post(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            media(&format!("{}-request", op.kind), 1),
        )
        .header(
            reqwest::header::ACCEPT,
            media(&format!("{}-response", op.kind), op.version),
        )
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Refusal::unreachable(format!("POST {url}: {e}")))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| Refusal::unreachable(format!("POST {url}: {e}")))?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(v);
    }
    Err(Refusal {
        status,
        kind: v["type"].as_str().unwrap_or("Error").to_string(),
        message: v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("POST {} answered {status}: {text:.300}", op.path)),
        data: v.get("data").cloned().unwrap_or(Value::Null),
    })
}
