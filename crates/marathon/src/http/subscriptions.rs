//! `/v2/eventSubscriptions`: Marathon's HTTP callback subscriptions (as Marathon 1.4 had them,
//! always enabled here): `GET` lists the callback URLs, `POST ?callbackUrl=` subscribes one
//! and `DELETE ?callbackUrl=` unsubscribes it, each answering with the `subscribe_event` /
//! `unsubscribe_event` it publishes. A URL that is not an absolute http(s) URL is refused with
//! 422, as Marathon validates it.

use super::{Q, S};
use crate::driver::unix_now;
use crate::MarathonError;
use axum::extract::{ConnectInfo, Query, State};
use axum::Json;
use drover_api::marathon::ValidationDetail;
use serde_json::{json, Value};
use std::net::SocketAddr;

pub(super) async fn list(State(s): S) -> Json<Value> {
    let m = s.lock();
    Json(json!({"callbackUrls": m.subscriptions.iter().collect::<Vec<_>>()}))
}

pub(super) async fn subscribe(
    State(s): S,
    Query(q): Q,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<Value>, MarathonError> {
    let url = callback_url(&q)?;
    valid_url(&url)?;
    let ip = peer.ip().to_string();
    Ok(Json(s.lock().subscribe(&url, &ip, unix_now())))
}

pub(super) async fn unsubscribe(
    State(s): S,
    Query(q): Q,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<Value>, MarathonError> {
    let url = callback_url(&q)?;
    let ip = peer.ip().to_string();
    Ok(Json(s.lock().unsubscribe(&url, &ip, unix_now())))
}

fn callback_url(q: &[(String, String)]) -> Result<String, MarathonError> {
    q.iter()
        .rev()
        .find(|(k, _)| k == "callbackUrl")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| invalid("callbackUrl is required"))
}

fn valid_url(url: &str) -> Result<(), MarathonError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(u) => Err(invalid(&format!(
            "unsupported callback URL '{url}': the scheme must be http or https, not '{}'",
            u.scheme()
        ))),
        Err(e) => Err(invalid(&format!("invalid callback URL '{url}': {e}"))),
    }
}

fn invalid(msg: &str) -> MarathonError {
    MarathonError::Invalid(vec![ValidationDetail {
        path: "/callbackUrl".into(),
        errors: vec![msg.to_string()],
    }])
}
