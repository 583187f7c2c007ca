//! `/v2/events`: Marathon's event stream as Server-Sent Events, from the core's broadcast bus
//! (filtered by `event_type`); a consumer that falls behind the bus is dropped rather than
//! slowing anything down.

use super::{params, Q, S};
use crate::core::{iso, DROVER_EVENTS};
use crate::driver::unix_now;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) async fn events(State(s): S, Query(q): Q, headers: HeaderMap) -> Response {
    let filter: Vec<String> = params(&q, "event_type")
        .into_iter()
        .map(String::from)
        .collect();
    let rx = s.lock().events.subscribe();
    let attached = json!({"remoteAddress": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default(), "eventType": "event_stream_attached", "timestamp": iso(unix_now())});
    let first = futures_util::stream::iter(
        (filter.is_empty() || filter.iter().any(|f| f == "event_stream_attached")).then(|| {
            Ok::<_, std::convert::Infallible>(
                SseEvent::default()
                    .event("event_stream_attached")
                    .data(attached.to_string()),
            )
        }),
    );
    // A consumer that falls behind the bus is dropped rather than slowing anything down.
    let rest = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            match rx.recv().await {
                Ok((kind, body)) => {
                    let named = filter.iter().any(|f| f == &kind);
                    if (!filter.is_empty() && !named)
                        || (!named && DROVER_EVENTS.contains(&kind.as_str()))
                    {
                        continue;
                    }
                    return Some((
                        Ok(SseEvent::default().event(kind).data(body.to_string())),
                        (rx, filter),
                    ));
                }
                Err(_) => return None,
            }
        }
    });
    use futures_util::StreamExt;
    Sse::new(first.chain(rest))
        .keep_alive(KeepAlive::default())
        .into_response()
}
