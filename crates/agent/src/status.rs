//! The status update manager: per task, updates leave in order and each is resent until the
//! framework acknowledges it; only then does the next one go. Pure: time comes in as `now`.
//! Updates are shared (`Arc`): the sender and the journal read them without copying.

use drover_api::agent_protocol::StatusUpdate;
use drover_api::{FrameworkID, TaskID};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

struct Stream {
    pending: VecDeque<Arc<StatusUpdate>>,
    sent_at: Option<f64>,
    backoff: f64,
}

pub struct StatusUpdateManager {
    streams: HashMap<(FrameworkID, TaskID), Stream>,
    min_retry: f64,
    max_retry: f64,
}

impl StatusUpdateManager {
    pub fn new(min_retry: f64, max_retry: f64) -> Self {
        StatusUpdateManager {
            streams: HashMap::new(),
            min_retry,
            max_retry,
        }
    }

    pub fn enqueue(&mut self, u: StatusUpdate) {
        let key = (u.framework_id.clone(), u.status.task_id.clone());
        let s = self.streams.entry(key).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            sent_at: None,
            backoff: self.min_retry,
        });
        s.pending.push_back(Arc::new(u));
    }

    /// Acknowledge the head update of a task's stream. Returns the acknowledged update if the
    /// uuid matched (a stale or duplicate ack returns None).
    pub fn ack(
        &mut self,
        fid: &FrameworkID,
        tid: &TaskID,
        uuid: &[u8],
    ) -> Option<Arc<StatusUpdate>> {
        let key = (fid.clone(), tid.clone());
        let s = self.streams.get_mut(&key)?;
        if s.pending.front().and_then(|u| u.status.uuid.as_deref()) != Some(uuid) {
            return None;
        }
        let done = s.pending.pop_front();
        s.sent_at = None;
        s.backoff = self.min_retry;
        if s.pending.is_empty() {
            self.streams.remove(&key);
        }
        done
    }

    /// Updates to (re)send now: heads never sent, or not acknowledged within their backoff.
    pub fn due(&mut self, now: f64) -> Vec<Arc<StatusUpdate>> {
        let mut out = Vec::new();
        let max = self.max_retry;
        for s in self.streams.values_mut() {
            let Some(head) = s.pending.front() else {
                continue;
            };
            let send = match s.sent_at {
                None => true,
                Some(t) => now - t >= s.backoff,
            };
            if send {
                if s.sent_at.is_some() {
                    s.backoff = (s.backoff * 2.0).min(max);
                }
                s.sent_at = Some(now);
                out.push(head.clone());
            }
        }
        out
    }

    /// Send every head again at the next `due` (the master or framework reconnected).
    pub fn resend_all(&mut self, framework: Option<&FrameworkID>) {
        for ((f, _), s) in self.streams.iter_mut() {
            if framework.map(|x| x == f).unwrap_or(true) {
                s.sent_at = None;
                s.backoff = self.min_retry;
            }
        }
    }

    /// A task's unacknowledged updates, oldest first.
    pub fn pending(&self, fid: &FrameworkID, tid: &TaskID) -> Vec<&StatusUpdate> {
        self.streams
            .get(&(fid.clone(), tid.clone()))
            .map(|s| s.pending.iter().map(|u| &**u).collect())
            .unwrap_or_default()
    }

    pub fn has_pending(&self, fid: &FrameworkID, tid: &TaskID) -> bool {
        self.streams.contains_key(&(fid.clone(), tid.clone()))
    }

    pub fn drop_framework(&mut self, fid: &FrameworkID) {
        self.streams.retain(|(f, _), _| f != fid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{TaskState, TaskStatus};

    fn upd(task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
        let mut s = TaskStatus::new(TaskID::new(task), state);
        s.uuid = Some(vec![uuid; 16]);
        StatusUpdate {
            framework_id: FrameworkID::new("f"),
            status: s,
        }
    }

    #[test]
    fn updates_go_in_order_one_at_a_time_until_acked() {
        let mut m = StatusUpdateManager::new(10.0, 60.0);
        m.enqueue(upd("t", TaskState::TASK_RUNNING, 1));
        m.enqueue(upd("t", TaskState::TASK_FINISHED, 2));
        let d = m.due(0.0);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].status.state, TaskState::TASK_RUNNING);
        assert!(
            m.due(5.0).is_empty(),
            "not resent before the retry interval"
        );
        assert_eq!(m.due(10.0).len(), 1, "resent after it");
        assert!(
            m.ack(&FrameworkID::new("f"), &TaskID::new("t"), &[2; 16])
                .is_none(),
            "ack of a non-head is ignored"
        );
        assert!(m
            .ack(&FrameworkID::new("f"), &TaskID::new("t"), &[1; 16])
            .is_some());
        let d = m.due(10.0);
        assert_eq!(d[0].status.state, TaskState::TASK_FINISHED);
        m.ack(&FrameworkID::new("f"), &TaskID::new("t"), &[2; 16]);
        assert!(!m.has_pending(&FrameworkID::new("f"), &TaskID::new("t")));
    }

    #[test]
    fn retries_back_off_and_resend_all_resets() {
        let mut m = StatusUpdateManager::new(1.0, 4.0);
        m.enqueue(upd("t", TaskState::TASK_RUNNING, 1));
        assert_eq!(m.due(0.0).len(), 1);
        assert_eq!(m.due(1.0).len(), 1);
        assert!(m.due(2.5).is_empty(), "backoff doubled to 2s");
        assert_eq!(m.due(3.0).len(), 1);
        m.resend_all(None);
        assert_eq!(m.due(3.1).len(), 1);
    }
}
