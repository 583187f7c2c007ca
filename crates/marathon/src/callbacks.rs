//! Delivering events to HTTP callback subscribers (`/v2/eventSubscriptions`): every event of
//! the bus is POSTed as JSON to every subscribed URL, in order per URL. Each URL has its own
//! worker and a bounded queue ([`QUEUE`] events): a slow or dead callback fills only its own
//! queue (its oldest events are dropped, and counted, when it is full), so it never slows
//! Marathon or delays the other subscribers. A failed POST (an error, a status other than 2xx,
//! no answer within [`TIMEOUT`]) is tried again, [`ATTEMPTS`] times in all with a growing
//! pause, then given up. The set of URLs follows the `subscribe_event` / `unsubscribe_event`
//! on the bus itself, so it changes in order with the events around it.

use crate::core::DROVER_EVENTS;
use crate::Shared;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;

/// Events held for one subscriber before its oldest are dropped.
pub const QUEUE: usize = 1024;
/// Tries of one event to one subscriber.
pub const ATTEMPTS: u32 = 3;
/// How long one POST may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

struct Outbox {
    queue: Mutex<VecDeque<Bytes>>,
    ready: Notify,
    dropped: AtomicU64,
}

struct Worker {
    outbox: Arc<Outbox>,
    task: tokio::task::AbortHandle,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Follow the bus and feed every subscriber's worker, until the bus closes.
pub async fn run(shared: Arc<Shared>, http: reqwest::Client) {
    let (mut rx, initial) = {
        let m = shared.lock();
        (m.events.subscribe(), m.subscriptions.clone())
    };
    let mut workers: HashMap<String, Worker> = HashMap::new();
    for url in initial {
        workers.insert(url.clone(), start(url, http.clone()));
    }
    loop {
        let (kind, body) = match rx.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    "event callbacks fell {n} events behind the bus; those were not delivered"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let url = body.get("callbackUrl").and_then(|u| u.as_str());
        match (kind.as_str(), url) {
            ("subscribe_event", Some(url)) if !workers.contains_key(url) => {
                workers.insert(url.to_string(), start(url.to_string(), http.clone()));
            }
            ("unsubscribe_event", Some(url)) => {
                workers.remove(url);
            }
            _ => {}
        }
        // Drover's own events are for clients that ask for them by name (SSE filters).
        if DROVER_EVENTS.contains(&kind.as_str()) {
            continue;
        }
        let bytes = Bytes::from(body.to_string());
        for w in workers.values() {
            w.outbox.push(bytes.clone());
        }
    }
}

impl Outbox {
    fn push(&self, event: Bytes) {
        {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() >= QUEUE {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(event);
        }
        self.ready.notify_one();
    }

    async fn pop(&self) -> Bytes {
        loop {
            if let Some(e) = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            {
                return e;
            }
            self.ready.notified().await;
        }
    }
}

fn start(url: String, http: reqwest::Client) -> Worker {
    let outbox = Arc::new(Outbox {
        queue: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        dropped: AtomicU64::new(0),
    });
    let ob = outbox.clone();
    let task = tokio::spawn(async move {
        let mut reported = 0;
        loop {
            let event = ob.pop().await;
            let dropped = ob.dropped.load(Ordering::Relaxed);
            if dropped > reported {
                tracing::warn!(callback = %url, "the callback is too slow: {} events dropped so far", dropped);
                reported = dropped;
            }
            deliver(&http, &url, event).await;
        }
    })
    .abort_handle();
    Worker { outbox, task }
}

/// POST one event, trying again after a pause on failure.
async fn deliver(http: &reqwest::Client, url: &str, event: Bytes) {
    let mut pause = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        let sent = http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .timeout(TIMEOUT)
            .body(event.clone())
            .send()
            .await;
        let why = match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        if attempt == ATTEMPTS {
            tracing::warn!(callback = %url, "event not delivered after {ATTEMPTS} tries: {why}");
            return;
        }
        tokio::time::sleep(pause).await;
        pause *= 4;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_its_oldest_and_counts_them() {
        let ob = Outbox {
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        };
        for i in 0..QUEUE + 3 {
            ob.push(Bytes::from(i.to_string()));
        }
        let q = ob.queue.lock().unwrap();
        assert_eq!(q.len(), QUEUE);
        assert_eq!(q.front().map(|b| b.as_ref()), Some(b"3".as_ref()));
        assert_eq!(ob.dropped.load(Ordering::Relaxed), 3);
    }
}
