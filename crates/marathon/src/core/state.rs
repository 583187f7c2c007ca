//! The core's bookkeeping: the index of instances by app, which apps changed since the last
//! replan (and whose rendered JSON is stale), the launch queue as last planned, and the
//! outbox of events.

use super::{Event, Instance, Marathon};
use crate::MarathonError;
use drover_api::marathon::App;
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl Marathon {
    /// The app `id`, or Marathon's 404 for it.
    pub fn app(&self, id: &str) -> Result<&App, MarathonError> {
        self.apps
            .get(id)
            .ok_or_else(|| MarathonError::AppNotFound(id.to_string()))
    }

    pub fn app_instances(&self, app_id: &str) -> Vec<&Instance> {
        self.by_app
            .get(app_id)
            .map(|ids| ids.iter().filter_map(|t| self.instances.get(t)).collect())
            .unwrap_or_default()
    }

    pub(super) fn add_instance(&mut self, i: Instance) {
        if i.unreachable_since.is_some() {
            self.unreachable.insert(i.task_id.clone());
        }
        self.by_app
            .entry(i.app_id.clone())
            .or_default()
            .insert(i.task_id.clone());
        self.touch(i.app_id.clone());
        self.instances.insert(i.task_id.clone(), i);
    }

    pub(super) fn drop_instance(&mut self, task_id: &str) -> Option<Instance> {
        let i = self.instances.remove(task_id)?;
        self.unreachable.remove(task_id);
        if let Some(rid) = &i.reservation {
            self.reservation_freed(rid);
        }
        if let Some(set) = self.by_app.get_mut(&i.app_id) {
            set.remove(task_id);
            if set.is_empty() {
                self.by_app.remove(&i.app_id);
            }
        }
        self.touch(i.app_id.clone());
        Some(i)
    }

    /// Something about an app changed: re-plan it, and render its JSON afresh.
    pub(super) fn touch(&mut self, app_id: impl Into<String>) {
        let id = app_id.into();
        self.rendered.remove(&id);
        self.dirty.insert(id);
    }

    /// Forget every instance (the framework was torn down: its tasks are gone).
    pub fn forget_instances(&mut self) {
        self.instances.clear();
        self.by_app.clear();
        self.unreachable.clear();
        self.dirty.extend(self.apps.keys().cloned());
    }

    /// Re-plan every app at the next replan (the periodic full pass).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.apps.keys().cloned());
        self.dirty.extend(self.by_app.keys().cloned());
    }

    /// How many instances each app wants launched right now (the launch queue).
    pub fn queue(&self) -> BTreeMap<String, usize> {
        self.wanted.clone()
    }

    /// Emit an event for `/v2/events` (stamped `now`); the driver publishes it.
    pub(super) fn emit(&mut self, kind: &str, mut body: Value, now: f64) {
        body["eventType"] = json!(kind);
        body["timestamp"] = json!(super::iso(now));
        self.outbox.push((kind.to_string(), body));
    }

    /// The events emitted since the last call, in order.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.outbox)
    }
}
