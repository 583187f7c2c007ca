//! One event stream per tab (`GET /ui/events?topics=…`): the events of the topics the page
//! shows, each with its id; a tab reconnecting with `Last-Event-ID` gets what it missed, or a
//! `resync` when that is no longer kept; a tab too slow to keep up gets a `resync` too rather
//! than a stream with holes.
//!
//! A task's page also asks for its log (`log=<task id>:<stdout|stderr>&log_offset=N`): a tail
//! of that one file is merged into the same stream as `log` events, without ids (the ids are
//! the hub's; the page resumes the log from the `next` offset it keeps, reconnecting with it
//! and `since=` its last id). One connection per tab either way.

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
    /// `<task id>:<stdout|stderr>`: also tail that file (`pages::sandbox::tail`).
    #[serde(default)]
    log: Option<String>,
    /// Where in that file to tail from (the page's offset, or the last `next` the tab got);
    /// none or not a number: from the file's end.
    #[serde(default)]
    log_offset: Option<String>,
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
    let log = match p.log.as_deref().filter(|l| !l.is_empty()) {
        Some(spec) => {
            let offset = p.log_offset.and_then(|o| o.parse::<u64>().ok());
            crate::pages::sandbox::tail::events(ui.clone(), spec, offset)
        }
        None => stream::empty().boxed(),
    };
    // A tab that follows few topics would otherwise keep an old `Last-Event-ID` while the hub
    // moves on, and be told to resync after a short disconnection: every MARK_EVERY events it
    // skips, it is sent a `mark` carrying the latest id (the script ignores it).
    const MARK_EVERY: u32 = 512;
    let live = stream::unfold(
        (rx, ui, topics, 0u32),
        |(mut rx, ui, topics, mut skipped)| async move {
            loop {
                match rx.recv().await {
                    Ok(e) if wanted(&topics, &e) => {
                        let f = frame(&ui, &e);
                        return Some((f, (rx, ui, topics, 0)));
                    }
                    Ok(e) => {
                        skipped += 1;
                        if skipped >= MARK_EVERY {
                            let f = SseEvent::default()
                                .id(ui.live.hub.id(&e))
                                .event("mark")
                                .data("{}");
                            return Some((f, (rx, ui, topics, 0)));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let f = SseEvent::default()
                            .id(ui.live.hub.last_id())
                            .event("resync")
                            .data("{}");
                        return Some((f, (rx, ui, topics, 0)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let hub = stream::iter(first).chain(live);
    let all = stream::select(hub, log).map(Ok);
    Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use crate::testing::*;
    use futures_util::StreamExt;
    use tower::ServiceExt;

    /// Open `/ui/events` and read until `n` events arrived: (event, id, data) of each.
    async fn read_events(
        ui: &std::sync::Arc<crate::Ui>,
        path: &str,
        last: Option<&str>,
        n: usize,
    ) -> Vec<(String, String, String)> {
        let mut rq = axum::http::Request::get(path);
        if let Some(l) = last {
            rq = rq.header("last-event-id", l);
        }
        let resp = crate::router(ui.clone())
            .oneshot(rq.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut body = resp.into_body().into_data_stream();
        let mut text = String::new();
        let mut out = Vec::new();
        while out.len() < n {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream goes on")
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let field = |k: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(k))
                        .unwrap_or("")
                        .trim()
                        .to_string()
                };
                if block.starts_with(':') {
                    continue; // keep-alive comment
                }
                out.push((field("event:"), field("id:"), field("data:")));
            }
        }
        out
    }

    #[tokio::test]
    async fn a_tab_gets_its_topics_and_resumes_from_its_last_event_id() {
        let ui = ui_with(&[]);
        let hub = &ui.live.hub;
        hub.publish("task", r#"{"id":"a"}"#.into());
        hub.publish("stats", "{}".into());
        hub.publish("task", r#"{"id":"b"}"#.into());
        // Resuming after the first event: the missed task event, not the stats one.
        let first = hub.id(&crate::hub::Event {
            seq: 1,
            topic: "task",
            data: String::new(),
        });
        let got = read_events(&ui, "/ui/events?topics=task", Some(&first), 1).await;
        assert_eq!(got[0].0, "task");
        assert_eq!(got[0].2, r#"{"id":"b"}"#);
        assert!(got[0].1.ends_with("-3"), "{got:?}");
        // The page's `since` serves the first connection the same way.
        let got = read_events(
            &ui,
            &format!("/ui/events?topics=task&since={first}"),
            None,
            1,
        )
        .await;
        assert_eq!(got[0].2, r#"{"id":"b"}"#);
        // An id from another run: resync.
        let got = read_events(&ui, "/ui/events?topics=task", Some("0-1"), 1).await;
        assert_eq!(got[0].0, "resync");
    }

    #[tokio::test]
    async fn live_events_follow_in_order() {
        let ui = ui_with(&[]);
        let reader = {
            let ui = ui.clone();
            tokio::spawn(async move { read_events(&ui, "/ui/events?topics=app", None, 2).await })
        };
        // Published until the reader is subscribed and has both (a subscriber counts).
        while ui.live.hub.receivers() == 0 {
            tokio::task::yield_now().await;
        }
        ui.live.hub.publish("task", "{}".into());
        ui.live.hub.publish("app", r#"{"id":"/x"}"#.into());
        ui.live.hub.publish("app", r#"{"id":"/y"}"#.into());
        let got = reader.await.unwrap();
        assert_eq!(
            got.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(),
            [r#"{"id":"/x"}"#, r#"{"id":"/y"}"#]
        );
    }
}
