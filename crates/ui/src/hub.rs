//! The events the open tabs are told, numbered: a ring of the latest (to resume a reconnecting
//! tab from its `Last-Event-ID`) and a broadcast of new ones. Ids are `<epoch>-<n>`: a tab that
//! comes back to a restarted server, or after the ring moved past it, is told to resynchronise
//! rather than silently miss events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many events are kept to resume from.
pub const KEPT: usize = 8192;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    /// What it is about: `stats`, `task`, `agent`, `framework`, `app`, `deployment`, …
    pub topic: &'static str,
    /// JSON.
    pub data: String,
}

/// Where a reconnecting tab stands.
#[derive(Debug, PartialEq)]
pub enum Resume {
    /// These events, then the live ones.
    From(Vec<Arc<Event>>),
    /// It missed more than is kept (or comes from another run): start again from a fresh page.
    Resync,
}

struct Ring {
    next: u64,
    events: VecDeque<Arc<Event>>,
}

pub struct Hub {
    epoch: String,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    /// A hub for a run known by `epoch` (any string without `-`, unique per start).
    pub fn new(epoch: String) -> Hub {
        let (tx, _) = broadcast::channel(4096);
        Hub {
            epoch,
            ring: Mutex::new(Ring {
                next: 1,
                events: VecDeque::with_capacity(KEPT),
            }),
            tx,
        }
    }

    pub fn id(&self, e: &Event) -> String {
        format!("{}-{}", self.epoch, e.seq)
    }

    /// The id of the latest event (a page rendered now is current up to it).
    pub fn last_id(&self) -> String {
        let r = self.lock();
        format!("{}-{}", self.epoch, r.next - 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publish an event to every tab.
    pub fn publish(&self, topic: &'static str, data: String) {
        let mut r = self.lock();
        let e = Arc::new(Event {
            seq: r.next,
            topic,
            data,
        });
        r.next += 1;
        if r.events.len() >= KEPT {
            r.events.pop_front();
        }
        r.events.push_back(e.clone());
        // Sent under the lock, so a subscriber that read the ring under it sees every later
        // event on its receiver, in order, none twice.
        let _ = self.tx.send(e);
    }

    /// How many tabs are connected.
    pub fn receivers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Subscribe, resuming after `last` (a `Last-Event-ID`), or from now when `None`.
    pub fn subscribe(&self, last: Option<&str>) -> (Resume, broadcast::Receiver<Arc<Event>>) {
        let r = self.lock();
        let rx = self.tx.subscribe();
        let Some(last) = last else {
            return (Resume::From(Vec::new()), rx);
        };
        let seq = last
            .rsplit_once('-')
            .filter(|(epoch, _)| *epoch == self.epoch)
            .and_then(|(_, n)| n.parse::<u64>().ok());
        let Some(seq) = seq.filter(|s| *s < r.next) else {
            return (Resume::Resync, rx);
        };
        let oldest = r.events.front().map_or(r.next, |e| e.seq);
        if seq + 1 < oldest {
            return (Resume::Resync, rx);
        }
        let missed = r.events.iter().filter(|e| e.seq > seq).cloned().collect();
        (Resume::From(missed), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tab_resumes_after_its_last_event_or_is_told_to_resync() {
        let hub = Hub::new("k1".into());
        for i in 0..5 {
            hub.publish("task", format!("{i}"));
        }
        let (resume, _) = hub.subscribe(Some("k1-3"));
        let Resume::From(missed) = resume else {
            panic!("resumes")
        };
        assert_eq!(
            missed.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
            ["3", "4"]
        );
        // Up to date: nothing missed.
        assert_eq!(hub.subscribe(Some("k1-5")).0, Resume::From(vec![]));
        // Another run's ids, ids from the future, garbage: start again.
        assert_eq!(hub.subscribe(Some("k0-3")).0, Resume::Resync);
        assert_eq!(hub.subscribe(Some("k1-99")).0, Resume::Resync);
        assert_eq!(hub.subscribe(Some("nonsense")).0, Resume::Resync);
        assert_eq!(hub.last_id(), "k1-5");
    }

    #[test]
    fn a_tab_that_missed_more_than_is_kept_resyncs() {
        let hub = Hub::new("e".into());
        for i in 0..(KEPT + 10) {
            hub.publish("task", i.to_string());
        }
        assert_eq!(hub.subscribe(Some("e-5")).0, Resume::Resync);
        let Resume::From(m) = hub.subscribe(Some(&format!("e-{}", KEPT + 8))).0 else {
            panic!("recent ids resume")
        };
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn events_published_after_subscribing_arrive_in_order() {
        let hub = Hub::new("e".into());
        let (_, mut rx) = hub.subscribe(None);
        hub.publish("a", "1".into());
        hub.publish("b", "2".into());
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
    }
}
