//! HTTP callback subscriptions, Marathon's "pluggable event bus" (`/v2/eventSubscriptions`):
//! the set of callback URLs, kept durable in the store, and the `subscribe_event` /
//! `unsubscribe_event` a change announces. Delivering events to the URLs is the driver's
//! (`crate::callbacks`); the core only says who is subscribed.

use super::Marathon;
use drover_store::Op;
use serde_json::{json, Value};

/// Where the set of callback URLs is stored (one record: a JSON array).
pub(super) const KEY: &str = "marathon/event_subscriptions";

impl Marathon {
    /// Subscribe `url` (again is a no-op but for the event): the `subscribe_event` as the API
    /// answers it.
    pub fn subscribe(&mut self, url: &str, client_ip: &str, now: f64) -> Value {
        if self.subscriptions.insert(url.to_string()) {
            self.store_subscriptions();
        }
        self.announce("subscribe_event", url, client_ip, now)
    }

    /// Unsubscribe `url` (not subscribed is no error): the `unsubscribe_event`.
    pub fn unsubscribe(&mut self, url: &str, client_ip: &str, now: f64) -> Value {
        if self.subscriptions.remove(url) {
            self.store_subscriptions();
        }
        self.announce("unsubscribe_event", url, client_ip, now)
    }

    /// An event stream attached or detached (`event_stream_attached` / `_detached`), from
    /// `remote`.
    pub fn stream_changed(&mut self, kind: &str, remote: &str, now: f64) {
        self.emit(kind, json!({"remoteAddress": remote}), now);
    }

    fn store_subscriptions(&mut self) {
        let urls: Vec<&String> = self.subscriptions.iter().collect();
        let bytes = serde_json::to_vec(&urls).unwrap_or_default();
        self.write_durable(vec![Op::Put(KEY.into(), bytes)]);
    }

    fn announce(&mut self, kind: &str, url: &str, client_ip: &str, now: f64) -> Value {
        let mut body = json!({"clientIp": client_ip, "callbackUrl": url});
        self.emit(kind, body.clone(), now);
        body["eventType"] = json!(kind);
        body["timestamp"] = json!(super::iso(now));
        body
    }
}
