//! The allocator's state (agents, frameworks, roles, offer filters) and the allocation cycle.
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

use crate::hash::{FxMap, FxSet, SplitMix};
use crate::pool::{
    allocatable, find, pool_add, slots_from, slots_to_resources, take_slots, Qty, Refused, Slot,
    STAR,
};
use crate::Error;
use drover_api::resources::to_fixed;
use drover_api::Resources;
use std::collections::BTreeSet;
use std::sync::Arc;

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
    /// (cloning it is half the cost of building `Resources` from slots).
    total_res: Resources,
    avail: Vec<Slot>,
    allocs: Vec<Rec>,
    /// Refuse filters by (framework, role).
    filters: FxMap<(u32, u32), Filter>,
    queued: bool,
    /// `ord_key` of the wake-up time while parked.
    parked: Option<u64>,
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

#[derive(Clone, Debug)]
struct Role {
    name: Arc<str>,
    weight: f64,
    weight_set: bool,
    subscribers: u32,
    qty: Qty,
    /// Its key in `active_roles`, when it has candidates.
    key: Option<u64>,
    candidates: BTreeSet<SortKey>,
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
}

fn intern(roles: &mut Vec<Role>, ids: &mut FxMap<Arc<str>, u32>, name: &str) -> u32 {
    if let Some(&r) = ids.get(name) {
        return r;
    }
    let r = roles.len() as u32;
    let name: Arc<str> = Arc::from(name);
    roles.push(Role {
        name: name.clone(),
        weight: 1.0,
        weight_set: false,
        subscribers: 0,
        qty: Qty::default(),
        key: None,
        candidates: BTreeSet::new(),
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
        }
    }

    // ----- agents -----

    /// Add an agent with its total resources and what frameworks already use on it (after a
    /// master failover). Re-adding an agent replaces it.
    pub fn add_agent(
        &mut self,
        agent_id: &str,
        total: Resources,
        used: &[(String, String, Resources)],
    ) {
        if self.agent_ids.contains_key(agent_id) {
            self.remove_agent(agent_id);
        }
        let avail = self.slots_of(&total);
        let qty = Qty::of(&avail);
        self.total.add(&qty);
        self.stale = true;
        let a = match self.free_agents.pop() {
            Some(a) => a,
            None => {
                self.agents.push(None);
                (self.agents.len() - 1) as u32
            }
        };
        let id: Arc<str> = Arc::from(agent_id);
        self.agent_ids.insert(id.clone(), a);
        self.agents[a as usize] = Some(Agent {
            id,
            total: qty,
            total_res: total,
            avail,
            allocs: Vec::new(),
            filters: FxMap::default(),
            queued: false,
            parked: None,
        });
        for (framework_id, role, res) in used {
            let f = self.ensure_framework(framework_id);
            let r = self.intern(role);
            self.take_into_record(a, f, r, res);
        }
        self.enqueue(a);
    }

    /// Remove an agent; what frameworks held on it is gone with it.
    pub fn remove_agent(&mut self, agent_id: &str) {
        let Some(a) = self.agent_ids.remove(agent_id) else {
            return;
        };
        let Some(agent) = self.agents[a as usize].take() else {
            return;
        };
        self.free_agents.push(a);
        if let Some(k) = agent.parked {
            self.parked.remove(&(k, a));
        }
        if agent.queued {
            self.queued -= 1;
        }
        self.total.sub(&agent.total);
        self.stale = true;
        for &(f, r) in agent.filters.keys() {
            if let Some(fr) = self.fw_role_mut(f, r) {
                fr.filtered.remove(&a);
            }
        }
        let mut touched = Vec::new();
        for rec in agent.allocs {
            if let Some(fw) = self.fw_mut(rec.fw) {
                fw.agents.remove(&a);
            }
            self.change_qty(rec.fw, rec.role, &Qty::of(&rec.slots), false);
            touched.push(rec.fw);
        }
        for f in touched {
            self.gc_framework(f);
        }
    }

    // ----- frameworks -----

    /// Add (or re-subscribe) a framework, active, with its roles. `used` is what it holds on
    /// agents (after a master failover); an (agent, role) the agent already reported is taken
    /// from the agent's report, not counted twice.
    pub fn add_framework(
        &mut self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
        used: &[(String, String, Resources)],
    ) {
        let f = self.ensure_framework(framework_id);
        let mut reported: FxSet<(u32, u32)> = FxSet::default();
        if let Some(fw) = self.frameworks[f as usize].as_mut() {
            fw.registered = true;
            fw.active = true;
            for &a in &fw.agents {
                if let Some(agent) = self.agents[a as usize].as_ref() {
                    reported.extend(
                        agent
                            .allocs
                            .iter()
                            .filter(|x| x.fw == f)
                            .map(|x| (a, x.role)),
                    );
                }
            }
        }
        self.set_subscription(f, roles, suppressed_roles);
        for (agent_id, role, res) in used {
            let Some(&a) = self.agent_ids.get(agent_id.as_str()) else {
                continue;
            };
            let r = self.intern(role);
            if !reported.contains(&(a, r)) {
                self.take_into_record(a, f, r, res);
            }
        }
    }

    /// Change a framework's roles and which of them are suppressed.
    pub fn update_framework(
        &mut self,
        framework_id: &str,
        roles: &[String],
        suppressed_roles: &[String],
    ) {
        if let Some(&f) = self.framework_ids.get(framework_id) {
            self.set_subscription(f, roles, suppressed_roles);
        }
    }

    /// Remove a framework; what it held goes back to the agents.
    pub fn remove_framework(&mut self, framework_id: &str) {
        let Some(f) = self.framework_ids.remove(framework_id) else {
            return;
        };
        let Some(fw) = self.fw_mut(f) else { return };
        fw.registered = false;
        fw.active = false;
        for i in 0..self.fw_role_count(f) {
            self.sync_candidate(f, i);
        }
        let Some(mut fw) = self.frameworks[f as usize].take() else {
            return;
        };
        for fr in &mut fw.roles {
            clear_filters(&mut self.agents, f, fr);
        }
        self.free_frameworks.push(f);
        for fr in fw.roles.iter().filter(|fr| fr.subscribed) {
            self.roles[fr.role as usize].subscribers -= 1;
        }
        let mut agents: Vec<u32> = fw.agents.into_iter().collect();
        agents.sort_unstable();
        for a in agents {
            let Some(agent) = self.agents[a as usize].as_mut() else {
                continue;
            };
            let mut i = 0;
            let mut changed = Vec::new();
            while i < agent.allocs.len() {
                if agent.allocs[i].fw == f {
                    let rec = agent.allocs.swap_remove(i);
                    changed.push((rec.role, Qty::of(&rec.slots)));
                    for s in rec.slots {
                        pool_add(&mut agent.avail, s);
                    }
                } else {
                    i += 1;
                }
            }
            for (r, q) in changed {
                self.roles[r as usize].qty.sub(&q);
                self.rekey_role(r);
            }
            self.enqueue(a);
        }
    }

    /// An active framework receives offers again.
    pub fn activate_framework(&mut self, framework_id: &str) {
        let Some(&f) = self.framework_ids.get(framework_id) else {
            return;
        };
        let Some(fw) = self.fw_mut(f) else { return };
        if !fw.registered {
            return;
        }
        fw.active = true;
        let mut woke = false;
        for i in 0..self.fw_role_count(f) {
            woke |= self.sync_candidate(f, i);
        }
        if woke {
            self.wake_all();
        }
    }

    /// An inactive framework receives no offers but keeps what it holds; its filters are dropped.
    pub fn deactivate_framework(&mut self, framework_id: &str) {
        let Some(&f) = self.framework_ids.get(framework_id) else {
            return;
        };
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        fw.active = false;
        for fr in &mut fw.roles {
            clear_filters(&mut self.agents, f, fr);
        }
        for i in 0..self.fw_role_count(f) {
            self.sync_candidate(f, i);
        }
    }

    /// Stop offers to a framework for `roles` (empty: all its roles).
    pub fn suppress(&mut self, framework_id: &str, roles: &[String]) {
        let Some(&f) = self.framework_ids.get(framework_id) else {
            return;
        };
        let only = self.role_filter(roles);
        let Some(fw) = self.fw_mut(f) else { return };
        for fr in fw.roles.iter_mut().filter(|fr| fr.subscribed) {
            if only.as_ref().is_none_or(|o| o.contains(&fr.role)) {
                fr.suppressed = true;
            }
        }
        for i in 0..self.fw_role_count(f) {
            self.sync_candidate(f, i);
        }
    }

    /// Resume offers to a framework for `roles` (empty: all its roles) and drop its filters there.
    pub fn revive(&mut self, framework_id: &str, roles: &[String]) {
        let Some(&f) = self.framework_ids.get(framework_id) else {
            return;
        };
        let only = self.role_filter(roles);
        let Some(fw) = self.frameworks[f as usize].as_mut() else {
            return;
        };
        let mut touched = false;
        for fr in fw.roles.iter_mut().filter(|fr| fr.subscribed) {
            if only.as_ref().is_none_or(|o| o.contains(&fr.role)) {
                fr.suppressed = false;
                clear_filters(&mut self.agents, f, fr);
                touched = true;
            }
        }
        for i in 0..self.fw_role_count(f) {
            self.sync_candidate(f, i);
        }
        if touched
            && self
                .fw(f)
                .is_some_and(|fw| fw.roles.iter().any(|fr| fr.key.is_some()))
        {
            self.wake_all();
        }
    }

    // ----- roles -----

    /// Set a role's weight (default 1): a role of weight 2 is entitled to twice the share.
    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), Error> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(Error::InvalidWeight {
                role: role.to_string(),
                weight,
            });
        }
        let r = self.intern(role);
        self.roles[r as usize].weight = weight;
        self.roles[r as usize].weight_set = true;
        self.rekey_role(r);
        Ok(())
    }

    // ----- resources coming back -----

    /// Resources allocated to a framework (offered, or used by tasks) come back to the agent.
    /// Only what the framework holds there for that role is taken back. If `refuse_seconds > 0`
    /// the framework is not offered that agent for that role again before `now +
    /// refuse_seconds`, unless the agent then has more to offer than was refused.
    pub fn recover(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        role: &str,
        resources: &Resources,
        refuse_seconds: f64,
        now: f64,
    ) {
        let (Some(&a), Some(&f), Some(&r)) = (
            self.agent_ids.get(agent_id),
            self.framework_ids.get(framework_id),
            self.role_ids.get(role),
        ) else {
            return;
        };
        let want = self.slots_of(resources);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let mut back = Vec::new();
        if let Some(i) = agent.allocs.iter().position(|x| x.fw == f && x.role == r) {
            back = take_slots(&mut agent.allocs[i].slots, &want);
            if agent.allocs[i].slots.is_empty() {
                agent.allocs.swap_remove(i);
                if !agent.allocs.iter().any(|x| x.fw == f) {
                    if let Some(fw) = self.frameworks[f as usize].as_mut() {
                        fw.agents.remove(&a);
                    }
                }
            }
        }
        if !back.is_empty() {
            let q = Qty::of(&back);
            for s in back {
                pool_add(&mut agent.avail, s);
            }
            self.change_qty(f, r, &q, false);
            self.enqueue(a);
        }
        if refuse_seconds > 0.0 {
            let expiry = now + refuse_seconds;
            let registered = self.fw(f).is_some_and(|fw| fw.registered);
            if let Some(fr) = self
                .fw_role_mut(f, r)
                .filter(|fr| registered && fr.subscribed)
            {
                fr.filtered.insert(a);
                if let Some(agent) = self.agents[a as usize].as_mut() {
                    let refused = Refused::of(&want);
                    agent.filters.insert((f, r), Filter { expiry, refused });
                }
                if expiry.is_finite() {
                    self.filter_expiry.insert((ord_key(expiry), f, r, a));
                }
                // A replaced filter may hold back less, or for less long, than the one the
                // agent was parked on.
                self.enqueue(a);
            }
        }
        self.gc_framework(f);
    }

    // ----- the cycle -----

    /// Run one allocation cycle at time `now` (seconds, any epoch) and return the offers to make.
    pub fn allocate(&mut self, now: f64) -> Vec<Allocation> {
        self.purge_filters(now);
        while let Some(&(k, a)) = self.parked.first() {
            if from_ord(k) > now {
                break;
            }
            self.enqueue(a);
        }
        if self.stale {
            self.rebuild_sorters();
        }
        let mut order = std::mem::take(&mut self.queue);
        order.retain(|&a| match self.agents[a as usize].as_mut() {
            Some(agent) if agent.queued => {
                agent.queued = false;
                true
            }
            _ => false,
        });
        self.queued = 0;
        if self.config.shuffle_agents {
            SplitMix::new(self.config.seed ^ self.cycle.wrapping_mul(0xa076_1d64_78bd_642f))
                .shuffle(&mut order);
        } else {
            let agents = &self.agents;
            let id = |a: &u32| agents[*a as usize].as_ref().map(|x| x.id.clone());
            order.sort_by_cached_key(id);
        }
        self.cycle += 1;
        let mut out = Vec::new();
        for a in order {
            self.visit(a, now, &mut out);
        }
        out
    }

    /// Whether a cycle at `now` could offer anything: an agent changed, or a filter that held
    /// one back has expired. Cheap.
    pub fn has_work(&self, now: f64) -> bool {
        self.queued > 0
            || self
                .parked
                .first()
                .is_some_and(|&(k, _)| from_ord(k) <= now)
    }

    /// The earliest time at which an offer filter that holds back an offer expires, so the
    /// master knows when a cycle may find work again without any other event.
    pub fn next_filter_expiry(&self) -> Option<f64> {
        self.parked
            .first()
            .map(|&(k, _)| from_ord(k))
            .filter(|t| t.is_finite())
    }

    // ----- read-only views -----

    /// (role, weight, dominant share) for each role with frameworks, allocations or a weight,
    /// by name. The share is not divided by the weight.
    pub fn role_shares(&self) -> Vec<(String, f64, f64)> {
        let mut v: Vec<(String, f64, f64)> = self
            .roles
            .iter()
            .filter(|r| r.subscribers > 0 || !r.qty.is_zero() || r.weight_set)
            .map(|r| (r.name.to_string(), r.weight, r.qty.share(&self.total)))
            .collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    }

    /// What a framework holds over all agents and roles (scalars summed; port ranges united).
    pub fn framework_allocated(&self, framework_id: &str) -> Resources {
        let mut out = Resources::new();
        let Some(fw) = self
            .framework_ids
            .get(framework_id)
            .and_then(|&f| self.fw(f).map(|fw| (f, fw)))
        else {
            return out;
        };
        let (f, fw) = fw;
        let mut agents: Vec<u32> = fw.agents.iter().copied().collect();
        agents.sort_unstable();
        for a in agents {
            let Some(agent) = self.agents[a as usize].as_ref() else {
                continue;
            };
            for rec in agent.allocs.iter().filter(|x| x.fw == f) {
                out.add_all(&slots_to_resources(&rec.slots));
            }
        }
        out
    }

    /// What an agent has not allocated.
    pub fn agent_available(&self, agent_id: &str) -> Option<Resources> {
        let &a = self.agent_ids.get(agent_id)?;
        self.agents[a as usize]
            .as_ref()
            .map(|agent| slots_to_resources(&agent.avail))
    }

    // ----- internals -----

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

    fn ensure_framework(&mut self, id: &str) -> u32 {
        if let Some(&f) = self.framework_ids.get(id) {
            return f;
        }
        let id: Arc<str> = Arc::from(id);
        let fw = Framework {
            id: id.clone(),
            registered: false,
            active: false,
            roles: Vec::new(),
            agents: FxSet::default(),
        };
        let f = match self.free_frameworks.pop() {
            Some(f) => {
                self.frameworks[f as usize] = Some(fw);
                f
            }
            None => {
                self.frameworks.push(Some(fw));
                (self.frameworks.len() - 1) as u32
            }
        };
        self.framework_ids.insert(id, f);
        f
    }

    /// Drop a placeholder framework that holds nothing any more.
    fn gc_framework(&mut self, f: u32) {
        let Some(fw) = self.fw(f) else { return };
        if fw.registered || !fw.agents.is_empty() {
            return;
        }
        let id = fw.id.clone();
        let roles: Vec<u32> = fw
            .roles
            .iter()
            .filter(|fr| fr.subscribed)
            .map(|fr| fr.role)
            .collect();
        for r in roles {
            self.roles[r as usize].subscribers -= 1;
        }
        self.framework_ids.remove(&id);
        self.frameworks[f as usize] = None;
        self.free_frameworks.push(f);
    }

    fn set_subscription(&mut self, f: u32, roles: &[String], suppressed: &[String]) {
        let mut want: Vec<u32> = roles.iter().map(|r| self.intern(r)).collect();
        want.sort_unstable();
        want.dedup();
        let supp: Vec<u32> = suppressed
            .iter()
            .filter_map(|r| self.role_ids.get(r.as_str()).copied())
            .collect();
        let Some(fw) = self.frameworks.get_mut(f as usize).and_then(Option::as_mut) else {
            return;
        };
        for fr in &mut fw.roles {
            let sub = want.binary_search(&fr.role).is_ok();
            if fr.subscribed != sub {
                let role = &mut self.roles[fr.role as usize];
                if sub {
                    role.subscribers += 1;
                } else {
                    role.subscribers -= 1;
                    clear_filters(&mut self.agents, f, fr);
                }
            }
            fr.subscribed = sub;
            fr.suppressed = sub && supp.contains(&fr.role);
        }
        for r in want {
            if !fw.roles.iter().any(|fr| fr.role == r) {
                let mut fr = FwRole::new(r);
                fr.subscribed = true;
                fr.suppressed = supp.contains(&r);
                fw.roles.push(fr);
                self.roles[r as usize].subscribers += 1;
            }
        }
        let mut woke = false;
        for i in 0..self.fw_role_count(f) {
            woke |= self.sync_candidate(f, i);
        }
        if let Some(fw) = self.fw_mut(f) {
            fw.roles.retain(|fr| fr.subscribed || !fr.qty.is_zero());
        }
        if woke {
            self.wake_all();
        }
    }

    /// Put the framework's `i`th role entry in or out of the role's candidates as its state
    /// says; true if it became a candidate.
    fn sync_candidate(&mut self, f: u32, i: usize) -> bool {
        let Some(fw) = self.frameworks.get_mut(f as usize).and_then(Option::as_mut) else {
            return false;
        };
        let eligible = fw.registered && fw.active;
        let fr = &mut fw.roles[i];
        let want = eligible && fr.subscribed && !fr.suppressed;
        let r = fr.role;
        let role = &mut self.roles[r as usize];
        match (want, fr.key) {
            (true, None) => {
                let k = ord_key(fr.qty.share(&self.total));
                fr.key = Some(k);
                role.candidates.insert((k, fw.id.clone(), f));
                if role.key.is_none() {
                    let rk = ord_key(role.qty.share(&self.total) / role.weight);
                    role.key = Some(rk);
                    self.active_roles.insert((rk, role.name.clone(), r));
                }
                true
            }
            (false, Some(k)) => {
                fr.key = None;
                role.candidates.remove(&(k, fw.id.clone(), f));
                if role.candidates.is_empty() {
                    if let Some(rk) = role.key.take() {
                        self.active_roles.remove(&(rk, role.name.clone(), r));
                    }
                }
                false
            }
            _ => false,
        }
    }

    fn rekey_role(&mut self, r: u32) {
        let role = &mut self.roles[r as usize];
        let Some(old) = role.key else { return };
        let k = ord_key(role.qty.share(&self.total) / role.weight);
        if k != old {
            self.active_roles.remove(&(old, role.name.clone(), r));
            self.active_roles.insert((k, role.name.clone(), r));
            role.key = Some(k);
        }
    }

    /// Add (or take away) `q` to what framework `f` holds in role `r`, and re-sort.
    fn change_qty(&mut self, f: u32, r: u32, q: &Qty, add: bool) {
        if let Some(fw) = self.frameworks.get_mut(f as usize).and_then(Option::as_mut) {
            let i = match fw.roles.iter().position(|fr| fr.role == r) {
                Some(i) => Some(i),
                None if add => {
                    fw.roles.push(FwRole::new(r));
                    Some(fw.roles.len() - 1)
                }
                None => None,
            };
            if let Some(i) = i {
                let fr = &mut fw.roles[i];
                if add {
                    fr.qty.add(q);
                } else {
                    fr.qty.sub(q);
                }
                if let Some(old) = fr.key {
                    let k = ord_key(fr.qty.share(&self.total));
                    if k != old {
                        let cands = &mut self.roles[r as usize].candidates;
                        cands.remove(&(old, fw.id.clone(), f));
                        cands.insert((k, fw.id.clone(), f));
                        fr.key = Some(k);
                    }
                }
                if !fr.subscribed && fr.qty.is_zero() {
                    fw.roles.swap_remove(i);
                }
            }
        }
        let role = &mut self.roles[r as usize];
        if add {
            role.qty.add(q);
        } else {
            role.qty.sub(q);
        }
        self.rekey_role(r);
    }

    /// Recompute every sort key against the current cluster total.
    fn rebuild_sorters(&mut self) {
        self.active_roles.clear();
        for (r, role) in self.roles.iter_mut().enumerate() {
            if role.candidates.is_empty() {
                role.key = None;
                continue;
            }
            let old = std::mem::take(&mut role.candidates);
            role.candidates = old
                .into_iter()
                .map(|(_, name, f)| {
                    let fr = self.frameworks[f as usize]
                        .as_mut()
                        .and_then(|fw| fw.roles.iter_mut().find(|fr| fr.role == r as u32));
                    let k = fr.map_or(0, |fr| {
                        let k = ord_key(fr.qty.share(&self.total));
                        fr.key = Some(k);
                        k
                    });
                    (k, name, f)
                })
                .collect();
            let k = ord_key(role.qty.share(&self.total) / role.weight);
            role.key = Some(k);
            self.active_roles.insert((k, role.name.clone(), r as u32));
        }
        self.stale = false;
    }

    fn purge_filters(&mut self, now: f64) {
        while let Some(&(k, f, r, a)) = self.filter_expiry.first() {
            if from_ord(k) > now {
                break;
            }
            self.filter_expiry.pop_first();
            let Some(agent) = self.agents[a as usize].as_mut() else {
                continue;
            };
            if agent
                .filters
                .get(&(f, r))
                .is_some_and(|flt| flt.expiry <= now)
            {
                agent.filters.remove(&(f, r));
                if let Some(fr) = self.fw_role_mut(f, r) {
                    fr.filtered.remove(&a);
                }
            }
        }
    }

    fn enqueue(&mut self, a: u32) {
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        if let Some(k) = agent.parked.take() {
            self.parked.remove(&(k, a));
        }
        if !agent.queued {
            agent.queued = true;
            self.queued += 1;
            self.queue.push(a);
        }
    }

    /// Something that may make a framework want any agent happened: revisit every parked agent.
    fn wake_all(&mut self) {
        for (_, a) in std::mem::take(&mut self.parked) {
            if let Some(agent) = self.agents[a as usize].as_mut() {
                agent.parked = None;
                if !agent.queued {
                    agent.queued = true;
                    self.queued += 1;
                    self.queue.push(a);
                }
            }
        }
    }

    /// Take resources named in `res` out of the agent's available into framework `f`'s
    /// holding for role `r`.
    fn take_into_record(&mut self, a: u32, f: u32, r: u32, res: &Resources) {
        let want = self.slots_of(res);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let taken = take_slots(&mut agent.avail, &want);
        if taken.is_empty() {
            return;
        }
        let q = Qty::of(&taken);
        self.record_add(a, f, r, taken);
        self.change_qty(f, r, &q, true);
    }

    fn record_add(&mut self, a: u32, f: u32, r: u32, slots: Vec<Slot>) {
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        match agent.allocs.iter_mut().find(|x| x.fw == f && x.role == r) {
            Some(rec) => {
                for s in slots {
                    pool_add(&mut rec.slots, s);
                }
            }
            None => agent.allocs.push(Rec {
                fw: f,
                role: r,
                slots,
            }),
        }
        if let Some(fw) = self.fw_mut(f) {
            fw.agents.insert(a);
        }
    }

    /// The first candidate of role `r`, in DRF order, not filtered from an offer of
    /// `star + own` on `agent`. Filters that hold one back lower `wake` to their expiry.
    fn find_framework(
        &self,
        agent: &Agent,
        r: u32,
        star: Option<&Slot>,
        own: Option<&Slot>,
        now: f64,
        wake: &mut f64,
    ) -> Option<u32> {
        if !allocatable(star, own, self.min) {
            return None;
        }
        for &(_, _, f) in &self.roles[r as usize].candidates {
            if !agent.filters.is_empty() {
                if let Some(flt) = agent.filters.get(&(f, r)) {
                    if now < flt.expiry && flt.refused.covers(star, own) {
                        *wake = wake.min(flt.expiry);
                        continue;
                    }
                }
            }
            return Some(f);
        }
        None
    }

    /// Offer agent `a`: the unreserved part goes with the first role in DRF order that has a
    /// willing framework (together with that role's reservations there); each role reserved on
    /// the agent then gets its own reservations. Afterwards the agent is idle or parked.
    fn visit(&mut self, a: u32, now: f64, out: &mut Vec<Allocation>) {
        let mut wake = f64::INFINITY;
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let star = find(&agent.avail, STAR);
        let mut skip_reserved = false;
        if star.is_some_and(|s| allocatable(Some(s), None, self.min)) {
            let mut taker = None;
            for (_, _, r) in &self.active_roles {
                let own = find(&agent.avail, *r);
                if let Some(f) = self.find_framework(agent, *r, star, own, now, &mut wake) {
                    taker = Some((*r, f));
                    break;
                }
            }
            match taker {
                Some((r, f)) => self.give(a, r, f, out),
                // Every role was tried with its reservations: nobody wants any of it.
                None => skip_reserved = true,
            }
        }
        if !skip_reserved {
            let Some(agent) = self.agents[a as usize].as_ref() else {
                return;
            };
            let mut reserved: Vec<(u64, Arc<str>, u32)> = agent
                .avail
                .iter()
                .filter(|s| s.role != STAR)
                .filter_map(|s| {
                    let role = &self.roles[s.role as usize];
                    role.key.map(|k| (k, role.name.clone(), s.role))
                })
                .collect();
            reserved.sort_unstable();
            for (_, _, r) in reserved {
                let taker = {
                    let Some(agent) = self.agents[a as usize].as_ref() else {
                        return;
                    };
                    let own = find(&agent.avail, r);
                    if own.is_none() {
                        continue;
                    }
                    self.find_framework(agent, r, find(&agent.avail, STAR), own, now, &mut wake)
                };
                if let Some(f) = taker {
                    self.give(a, r, f, out);
                }
            }
        }
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let star = find(&agent.avail, STAR);
        let offerable = agent.avail.iter().any(|s| {
            if s.role == STAR {
                allocatable(Some(s), None, self.min)
            } else {
                allocatable(star, Some(s), self.min)
            }
        });
        if offerable {
            let k = ord_key(wake);
            if let Some(agent) = self.agents[a as usize].as_mut() {
                agent.parked = Some(k);
            }
            self.parked.insert((k, a));
        }
    }

    /// Allocate everything on agent `a` usable by role `r` to framework `f`.
    fn give(&mut self, a: u32, r: u32, f: u32, out: &mut Vec<Allocation>) {
        let framework_id = self
            .fw(f)
            .map(|fw| String::from(&*fw.id))
            .unwrap_or_default();
        let role = String::from(&*self.roles[r as usize].name);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let mut taken = Vec::with_capacity(2);
        if let Some(i) = agent.avail.iter().position(|s| s.role == STAR) {
            taken.push(agent.avail.swap_remove(i));
        }
        if let Some(i) = agent.avail.iter().position(|s| s.role == r) {
            taken.push(agent.avail.swap_remove(i));
        }
        let q = Qty::of(&taken);
        // Nothing allocated on the agent means available == total; all of it is being given.
        let whole = agent.allocs.is_empty() && agent.avail.is_empty();
        out.push(Allocation {
            framework_id,
            agent_id: String::from(&*agent.id),
            role,
            resources: if whole {
                agent.total_res.clone()
            } else {
                slots_to_resources(&taken)
            },
        });
        self.record_add(a, f, r, taken);
        self.change_qty(f, r, &q, true);
    }
}

#[cfg(test)]
mod tests;
