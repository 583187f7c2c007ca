//! Where the core's ids come from: deployment ids, task ids (and the seed of each task's
//! dynamic port picks). The live system draws random (v4) UUIDs (`crate::driver::RandomIds`);
//! tests use [`SeqIds`], so a run is the same every time.

use uuid::Uuid;

/// A source of fresh ids. `&self`, so planning (a dry run) can draw one without a `&mut`.
pub trait IdSource: Send + Sync {
    fn next_id(&self) -> Uuid;
}

/// Ids 1, 2, 3, … as UUIDs (the number in both halves, so the port seed differs per task).
#[cfg(test)]
#[derive(Default)]
pub struct SeqIds(std::sync::atomic::AtomicU64);

#[cfg(test)]
impl IdSource for SeqIds {
    fn next_id(&self) -> Uuid {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        Uuid::from_u64_pair(n, n)
    }
}
