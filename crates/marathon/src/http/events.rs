//! `/v2/events`: Marathon's event stream as Server-Sent Events, from the core's broadcast bus
//! (filtered by `event_type`); a consumer that falls behind the bus is dropped rather than
//! slowing anything down.

use super::{params, Q, S};
use crate::core::DROVER_EVENTS;
use crate::driver::unix_now;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Publishes `event_stream_detached` when its stream is dropped (the client went away).
struct Attached {
    shared: std::sync::Arc<crate::Shared>,
    remote: String,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut m = self.shared.lock();
        m.stream_changed("event_stream_detached", &self.remote, unix_now());
    }
}

pub(super) async fn events(
    State(s): S,
    Query(q): Q,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let filter: Vec<String> = params(&q, "event_type")
        .into_iter()
        .map(String::from)
        .collect();
    let remote = peer.ip().to_string();
    // Subscribed first, so this stream sees its own `event_stream_attached`, as every other
    // stream and callback does (Marathon publishes it on the bus).
    let rx = {
        let mut m = s.lock();
        let rx = m.events.subscribe();
        m.stream_changed("event_stream_attached", &remote, unix_now());
        rx
    };
    let attached = Attached {
        shared: s.clone(),
        remote,
    };
    let rest = futures_util::stream::unfold(
        (rx, filter, attached),
        |(mut rx, filter, attached)| async move {
            loop {
                match rx.recv().await {
                    Ok((kind, body)) => {
                        // No filter: Marathon's events; a filter: the types it names (Drover's
                        // too).
                        let wanted = if filter.is_empty() {
                            !DROVER_EVENTS.contains(&kind.as_str())
                        } else {
                            filter.iter().any(|f| f == &kind)
                        };
                        if !wanted {
                            continue;
                        }
                        return Some((
                            Ok::<_, std::convert::Infallible>(
                                SseEvent::default().event(kind).data(body.to_string()),
                            ),
                            (rx, filter, attached),
                        ));
                    }
                    Err(_) => return None,
                }
            }
        },
    );
    Sse::new(rest)
        .keep_alive(KeepAlive::default())
        .into_response()
}
