//! The thin driver around the pure core: the clock, random ids, and the end of every turn
//! under the core's lock. A turn is a [`Turn`] (what [`crate::Shared::lock`] returns); when
//! it ends, the writes the core wants durable before anyone answers are applied to the store
//! (with everything queued before them), and the events the core emitted are published on
//! `/v2/events`, in order, before another turn starts. Instance writes are left to the
//! flusher in `lib.rs`, which group-commits them every 10 ms.

use crate::core::{IdSource, Marathon};
use crate::MarathonError;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, MutexGuard};

/// Unix time now, in seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Random (v4) UUIDs, as Marathon uses for deployments and tasks.
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&self) -> uuid::Uuid {
        uuid::Uuid::new_v4()
    }
}

impl Marathon {
    /// The live core: opened from `store`, drawing random ids.
    pub fn new(store: Arc<dyn drover_store::Store>, role: String) -> Result<Self, MarathonError> {
        Marathon::open(store, role, Box::new(RandomIds))
    }
}

/// One turn with the core, under its lock (see the module doc), and the count of writes that
/// failed, which it bumps if its own does (an answer must not say "done" then: see
/// `leadership::gate`).
pub struct Turn<'a>(MutexGuard<'a, Marathon>, &'a std::sync::atomic::AtomicU64);

impl<'a> Turn<'a> {
    pub fn new(
        guard: MutexGuard<'a, Marathon>,
        failures: &'a std::sync::atomic::AtomicU64,
    ) -> Self {
        Turn(guard, failures)
    }
}

impl Deref for Turn<'_> {
    type Target = Marathon;
    fn deref(&self) -> &Marathon {
        &self.0
    }
}

impl DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut Marathon {
        &mut self.0
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let m = &mut *self.0;
        if m.wants_commit() {
            let ops = m.take_pending();
            if let Err(e) = m.store.apply(ops) {
                tracing::error!("marathon store write failed: {e}");
                self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        for event in m.take_events() {
            let _ = m.events.send(event);
        }
    }
}
