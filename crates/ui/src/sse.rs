//! One event stream per tab (`GET /ui/events?topics=…`): the events of the topics the page
//! shows, each with its id; a tab reconnecting with `Last-Event-ID` gets what it missed, or a
//! `resync` when that is no longer kept; a tab too slow to keep up gets a `resync` too rather
//! than a stream with holes.

use crate::hub::{Event, Resume};
use crate::Ui;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

#[derive(Deserialize, Default)]
pub struct Params {
    /// Comma-separated topics; none: all.
    #[serde(default)]
    topics: String,
    /// The id a page was rendered at (for the first connection, where the browser has no
    /// `Last-Event-ID` yet): events after it are sent first.
    #[serde(default)]
    since: Option<String>,
}

fn wanted(topics: &[String], e: &Event) -> bool {
    // `reset` and `resync` concern every page.
    topics.is_empty() || e.topic == "reset" || topics.iter().any(|t| t == e.topic)
}

fn frame(ui: &Ui, e: &Event) -> SseEvent {
    SseEvent::default()
        .id(ui.live.hub.id(e))
        .event(e.topic)
        .data(e.data.clone())
}

pub async fn events(
    State(ui): State<Arc<Ui>>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let topics: Vec<String> = p
        .topics
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .take(32)
        .collect();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(p.since);
    let (resume, rx) = ui.live.hub.subscribe(last.as_deref());
    let first: Vec<SseEvent> = match resume {
        Resume::From(missed) => missed
            .iter()
            .filter(|e| wanted(&topics, e))
            .map(|e| frame(&ui, e))
            .collect(),
        Resume::Resync => vec![SseEvent::default()
            .id(ui.live.hub.last_id())
            .event("resync")
            .data("{}")],
    };
    let live = stream::unfold((rx, ui, topics), |(mut rx, ui, topics)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if wanted(&topics, &e) => {
                    let f = frame(&ui, &e);
                    return Some((f, (rx, ui, topics)));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => {
                    let f = SseEvent::default()
                        .id(ui.live.hub.last_id())
                        .event("resync")
                        .data("{}");
                    return Some((f, (rx, ui, topics)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let all = stream::iter(first).chain(live).map(Ok);
    Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
