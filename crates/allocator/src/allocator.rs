//! The allocator's state (agents, frameworks, roles, offer filters), its constructor and lookups;
//! the operations on it live in the private modules below, one `impl Allocator` block each:
//! `agents`, `frameworks`, `filters` (resources recovered, refuse filters, suppression), `drf`
//! (weights and the share-ordered sets), `cycle` (the allocation cycle), `quota` (guarantees,
//! limits, headroom and the cycle's first stage) and `views`.
//!
//! Bookkeeping that keeps a cycle proportional to what changed:
//! - agents live in one of three states: *queued* (something changed; visit next cycle),
//!   *parked* (offerable, but every candidate framework is filtered until a known time, or there
//!   is no candidate at all) and *idle* (nothing worth offering until resources come back);
//! - roles with at least one candidate framework (registered, active, subscribed, not
//!   suppressed) sit in a `BTreeSet` ordered by (weighted dominant share, name), and each role
//!   keeps its candidates in a `BTreeSet` ordered by (dominant share in the role, id); both are
//!   re-keyed in O(log n) when an allocation changes a share;
//! - when an agent joins or leaves, every share changes: the sets are rebuilt once, at the start
//!   of the next cycle (Mesos' sorter does the same with its `dirty` flag).

use crate::hash::{FxMap, FxSet};
use crate::pool::{slots_from, Qty, Refused, Slot};
use drover_api::resources::to_fixed;
use drover_api::Resources;
use std::collections::BTreeSet;
use std::sync::Arc;

mod agents;
mod cycle;
mod drf;
mod filters;
mod frameworks;
mod operations;
mod quota;
mod revocable;
mod views;

pub use operations::Conversion;
pub use quota::Quota;

/// Allocator settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// An offer must hold at least this many cpus, or `min_mem`.
    pub min_cpus: f64,
    /// An offer must hold at least this much memory (MiB), or `min_cpus`.
    pub min_mem: f64,
    /// Seed of the per-cycle agent shuffle.
    pub seed: u64,
    /// Visit agents in a seeded random order each cycle (as Mesos does), or else by id.
    pub shuffle_agents: bool,
}

impl Default for Config {
    /// Mesos' defaults: `--min_allocatable_resources=cpus:0.01|mem:32`, agents shuffled.
    fn default() -> Self {
        Config {
            min_cpus: 0.01,
            min_mem: 32.0,
            seed: 0,
            shuffle_agents: true,
        }
    }
}

/// One offer to make: everything on `agent_id` usable by `role`, to `framework_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: Resources,
}

/// (share as an order-preserving integer, name, index).
type SortKey = (u64, Arc<str>, u32);

/// A total order on `f64` as `u64` (negative numbers and infinities included).
fn ord_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 0 {
        b | 1 << 63
    } else {
        !b
    }
}

fn from_ord(k: u64) -> f64 {
    if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

#[derive(Clone, Debug)]
struct Agent {
    id: Arc<str>,
    total: Qty,
    /// The total as given: what an offer of the whole agent is while nothing is allocated on it
    /// (cloning it is half the cost of building `Resources` from slots); `None` once an
    /// operation changed the agent's resources.
    total_res: Option<Resources>,
    avail: Vec<Slot>,
    allocs: Vec<Rec>,
    /// Refuse filters by (framework, role).
    filters: FxMap<(u32, u32), Filter>,
    queued: bool,
    /// `ord_key` of the wake-up time while parked.
    parked: Option<u64>,
    /// Deactivated by an operator (`DEACTIVATE_AGENT`): nothing on it is offered.
    inactive: bool,
    /// Its revocable resources (the last estimate of what is allocated but unused), offered
    /// or not.
    revocable: Resources,
}

/// What one framework holds on one agent for one role.
#[derive(Clone, Debug)]
struct Rec {
    fw: u32,
    role: u32,
    slots: Vec<Slot>,
}

#[derive(Clone, Debug)]
struct Framework {
    id: Arc<str>,
    /// False for a placeholder: a framework an agent reported resources for before the master
    /// added it (after a master failover), so that its use is counted.
    registered: bool,
    active: bool,
    roles: Vec<FwRole>,
    /// Agents on which it holds something.
    agents: FxSet<u32>,
    /// It has `REVOCABLE_RESOURCES`: only then is it offered revocable resources.
    revocable: bool,
}

#[derive(Clone, Debug)]
struct FwRole {
    role: u32,
    subscribed: bool,
    suppressed: bool,
    qty: Qty,
    /// Its key in the role's candidate set, when it is a candidate.
    key: Option<u64>,
    /// Agents holding a refuse filter of it for this role (the filters live on the agents, so
    /// that a visit looks them up in one small map).
    filtered: FxSet<u32>,
}

impl FwRole {
    fn new(role: u32) -> Self {
        FwRole {
            role,
            subscribed: false,
            suppressed: false,
            qty: Qty::default(),
            key: None,
            filtered: FxSet::default(),
        }
    }
}

#[derive(Clone, Debug)]
struct Filter {
    expiry: f64,
    refused: Refused,
}

/// A role: a node of the role tree (`eng/web` is a child of `eng`).
#[derive(Clone, Debug)]
struct Role {
    name: Arc<str>,
    parent: Option<u32>,
    weight: f64,
    weight_set: bool,
    subscribers: u32,
    /// What frameworks hold in this role itself.
    qty: Qty,
    /// What frameworks hold in this role and the roles under it: what its share is of.
    tree_qty: Qty,
    /// Its key in its parent's `items` (or in `active_roles` at the top), while it is active:
    /// it or a role under it has candidates.
    key: Option<u64>,
    /// What is under it in share order: its active children, and itself (a "leaf" entry, keyed
    /// by its own share at weight 1, as Mesos' virtual `.` leaf) while it has candidates.
    items: BTreeSet<SortKey>,
    leaf_key: Option<u64>,
    candidates: BTreeSet<SortKey>,
    quota: Option<Box<quota::RoleQuota>>,
    /// Unreserved cpus/mem/disk/gpus allocated to it and the roles under it (offers included),
    /// fixed point.
    star_alloc: [i64; 4],
    /// Reserved to it and the roles under it on all agents, allocated or not.
    reserved: [i64; 4],
    /// Out of `active_roles` for the rest of a cycle: at its limits, it can take nothing
    /// unreserved (it is still offered its reservations).
    capped: bool,
}

/// Mesos' hierarchical DRF allocator over agents, frameworks and weighted roles.
///
/// Calls naming an unknown agent, framework or role do nothing: the master's view is the
/// authority, and such calls are the normal result of races (a decline after a removal).
#[derive(Clone, Debug)]
pub struct Allocator {
    config: Config,
    /// `[cpus, mem]` minimum, fixed point.
    min: [i64; 2],
    agents: Vec<Option<Agent>>,
    free_agents: Vec<u32>,
    agent_ids: FxMap<Arc<str>, u32>,
    frameworks: Vec<Option<Framework>>,
    free_frameworks: Vec<u32>,
    framework_ids: FxMap<Arc<str>, u32>,
    roles: Vec<Role>,
    role_ids: FxMap<Arc<str>, u32>,
    active_roles: BTreeSet<SortKey>,
    total: Qty,
    /// The cluster total changed since the sort keys were computed.
    stale: bool,
    /// Queued agents, possibly with stale or repeated entries (the `queued` flag decides).
    queue: Vec<u32>,
    queued: usize,
    /// (`ord_key` of wake-up time, agent).
    parked: BTreeSet<(u64, u32)>,
    /// (`ord_key` of expiry, framework, role, agent), possibly stale.
    filter_expiry: BTreeSet<(u64, u32, u32, u32)>,
    cycle: u64,
    /// Unreserved cpus/mem/disk/gpus on all agents, and how much of it is allocated.
    star_total: [i64; 4],
    star_alloc: [i64; 4],
    /// Roles with a quota.
    quota_roles: Vec<u32>,
    /// Unmet guarantees the cycle under way holds unreserved resources back for.
    required_headroom: [i64; 4],
    /// Some role's room under its quota grew, or a quota changed: the next cycle revisits every
    /// agent (an agent parked because of a limit or the headroom may now be offerable).
    quota_wake: bool,
}

/// The role named `name`, created (with its ancestors) if new.
fn intern(roles: &mut Vec<Role>, ids: &mut FxMap<Arc<str>, u32>, name: &str) -> u32 {
    if let Some(&r) = ids.get(name) {
        return r;
    }
    let parent = name
        .rsplit_once('/')
        .filter(|(p, _)| !p.is_empty())
        .map(|(p, _)| intern(roles, ids, p));
    let r = roles.len() as u32;
    let name: Arc<str> = Arc::from(name);
    roles.push(Role {
        name: name.clone(),
        parent,
        weight: 1.0,
        weight_set: false,
        subscribers: 0,
        qty: Qty::default(),
        tree_qty: Qty::default(),
        key: None,
        items: BTreeSet::new(),
        leaf_key: None,
        candidates: BTreeSet::new(),
        quota: None,
        star_alloc: [0; 4],
        reserved: [0; 4],
        capped: false,
    });
    ids.insert(name, r);
    r
}

/// Drop framework `f`'s refuse filters for the role of `fr`.
fn clear_filters(agents: &mut [Option<Agent>], f: u32, fr: &mut FwRole) {
    for a in fr.filtered.drain() {
        if let Some(agent) = agents[a as usize].as_mut() {
            agent.filters.remove(&(f, fr.role));
        }
    }
}

impl Allocator {
    pub fn new(config: Config) -> Self {
        let min = [to_fixed(config.min_cpus), to_fixed(config.min_mem)];
        Allocator {
            config,
            min,
            agents: Vec::new(),
            free_agents: Vec::new(),
            agent_ids: FxMap::default(),
            frameworks: Vec::new(),
            free_frameworks: Vec::new(),
            framework_ids: FxMap::default(),
            roles: Vec::new(),
            role_ids: FxMap::default(),
            active_roles: BTreeSet::new(),
            total: Qty::default(),
            stale: false,
            queue: Vec::new(),
            queued: 0,
            parked: BTreeSet::new(),
            filter_expiry: BTreeSet::new(),
            cycle: 0,
            star_total: [0; 4],
            star_alloc: [0; 4],
            quota_roles: Vec::new(),
            required_headroom: [0; 4],
            quota_wake: false,
        }
    }

    fn fw(&self, f: u32) -> Option<&Framework> {
        self.frameworks.get(f as usize).and_then(Option::as_ref)
    }

    fn fw_mut(&mut self, f: u32) -> Option<&mut Framework> {
        self.frameworks.get_mut(f as usize).and_then(Option::as_mut)
    }

    fn fw_role_mut(&mut self, f: u32, r: u32) -> Option<&mut FwRole> {
        self.fw_mut(f)
            .and_then(|fw| fw.roles.iter_mut().find(|fr| fr.role == r))
    }

    fn fw_role_count(&self, f: u32) -> usize {
        self.fw(f).map_or(0, |fw| fw.roles.len())
    }

    fn intern(&mut self, name: &str) -> u32 {
        intern(&mut self.roles, &mut self.role_ids, name)
    }

    fn slots_of(&mut self, res: &Resources) -> Vec<Slot> {
        let (roles, ids) = (&mut self.roles, &mut self.role_ids);
        slots_from(res, |n| intern(roles, ids, n))
    }

    /// The known roles among `names`; `None` (all) when `names` is empty.
    fn role_filter(&self, names: &[String]) -> Option<Vec<u32>> {
        if names.is_empty() {
            return None;
        }
        Some(
            names
                .iter()
                .filter_map(|n| self.role_ids.get(n.as_str()).copied())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
