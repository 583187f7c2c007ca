//! The pool of cgroup v1 pairs (cpu, memory): pairs named by slot, which container each belongs
//! to, and which are kept for the next container when theirs ended cleanly.

use super::cgroup_dir::remove_cgroup;
use crate::containerizer::Limits;
use crate::dirfd::Dir;
use std::path::Path;
use std::sync::Mutex;

/// The limits last written to a v1 cgroup pair.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Written {
    /// 0: never written (the kernel's default, 1024, is not assumed).
    pub(super) shares: u64,
    pub(super) quota: Option<u64>,
    pub(super) mem: Option<u64>,
}

impl Written {
    pub(super) fn of(limits: Limits, cfs: bool) -> Written {
        Written {
            shares: ((limits.cpus * 1024.0) as u64).max(2),
            quota: cfs.then(|| ((limits.cpus * 100_000.0) as u64).max(1000)),
            mem: (limits.mem_mb > 0.0).then_some((limits.mem_mb * 1024.0 * 1024.0) as u64),
        }
    }
}

/// v1 cgroup pairs (cpu, memory), named by slot, and the containers they belong to. Creating
/// and removing a cgroup is most of what a short task costs the kernel (per-cgroup state and ~30
/// control files for the memory controller); a pair that held a task that ended cleanly is kept
/// for the next container instead, and only limits that differ are written. Not reused: a pair
/// with a process left in it or an OOM kill in its history.
#[derive(Debug, Default)]
pub struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Empty pairs: name, what they were given.
    free: Vec<(String, Written)>,
    /// Each live container's pair and what it was given.
    live: std::collections::HashMap<String, (String, Written)>,
}

/// Enough for bursts of short tasks; beyond it pairs are removed.
const POOL_MAX: usize = 512;

/// The most memory still charged to an ended container's cgroup for it to be emptied and kept.
const POOL_MAX_CHARGED: u64 = 8 << 20;

/// Names of pairs: this prefix, the pid of the agent that made them, a number.
const SLOT_PREFIX: &str = "task-";

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A name for a new pair, unique on the host while this process lives (`drover up` runs
    /// several agents, each with its own pool, in one process).
    pub(super) fn new_name() -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{SLOT_PREFIX}{}-{n}", std::process::id())
    }

    pub(super) fn take(&self) -> Option<(String, Written)> {
        self.lock().free.pop()
    }

    pub(super) fn bind(&self, cid: &str, name: String, w: Written) {
        self.lock().live.insert(cid.to_string(), (name, w));
    }

    pub(super) fn name(&self, cid: &str) -> Option<String> {
        self.lock().live.get(cid).map(|(n, _)| n.clone())
    }

    pub(super) fn unbind(&self, cid: &str) -> Option<(String, Written)> {
        self.lock().live.remove(cid)
    }

    /// Keep an ended container's pair for later if it is empty and clean (the caller knows it
    /// saw no OOM kill); whether it was kept.
    pub(super) fn keep(&self, cpu: &Dir, memory: &Dir, name: String, w: Written) -> bool {
        if self.lock().free.len() >= POOL_MAX {
            return false;
        }
        let empty = |dir: &Dir| {
            dir.read_string(&format!("{name}/cgroup.procs"))
                .map(|b| b.is_empty())
                .unwrap_or(false)
        };
        // Little still charged to it (the task's page cache): emptying it is quick. A big one is
        // removed instead — rmdir hands its charges to the parent without reclaiming them, where
        // force_empty would reclaim them all, on the agent's thread.
        let charged = memory
            .read_string(&format!("{name}/memory.usage_in_bytes"))
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok());
        let Some(charged) = charged.filter(|&b| b <= POOL_MAX_CHARGED) else {
            return false;
        };
        if !(empty(memory) && empty(cpu)) {
            return false;
        }
        // Hand back the pages still charged to it, so the next container starts from nothing.
        // Only when there are some: force_empty drains every CPU's page lists first, waiting
        // for a kernel worker on each (most short tasks leave nothing charged).
        if charged > 0 {
            let _ = memory.write(&format!("{name}/memory.force_empty"), b"0");
        }
        self.lock().free.push((name, w));
        true
    }

    pub(super) fn drain(&self, cpu: &Dir, memory: &Dir) {
        let free = std::mem::take(&mut self.lock().free);
        for (name, _) in free {
            remove_cgroup(cpu, &name);
            remove_cgroup(memory, &name);
        }
    }

    /// Pairs of agents that are gone (killed before they could drain their pool, or whose tasks
    /// ended while they were down). A pair with a process in it cannot be removed, and stays:
    /// the agent that restarts finds it through the process (`adopt`).
    pub(super) fn remove_stale(cpu: &Dir, memory: &Dir) {
        for dir in [cpu, memory] {
            let Ok(entries) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                // `pool-` pairs are from agents before slot names.
                let Some(pid) = name
                    .strip_prefix(SLOT_PREFIX)
                    .or_else(|| name.strip_prefix("pool-"))
                    .and_then(|r| r.split('-').next())
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = dir.rmdir(&name);
                }
            }
        }
    }
}
