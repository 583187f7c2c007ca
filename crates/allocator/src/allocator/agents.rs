//! Agents joining and leaving, and the holdings (`Rec`) frameworks keep on them.

use super::{Agent, Allocator, Rec};
use crate::hash::FxMap;
use crate::pool::{pool_add, take_slots, Qty, Slot, STAR};
use drover_api::Resources;
use std::sync::Arc;

impl Allocator {
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
        let revocable = super::revocable::revocable_of(&total);
        let qty = Qty::of(&avail);
        self.count_total(&avail, true);
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
            total_res: Some(total),
            avail,
            allocs: Vec::new(),
            filters: FxMap::default(),
            queued: false,
            parked: None,
            inactive: false,
            revocable,
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
        self.count_total(&agent.avail, false);
        for rec in &agent.allocs {
            self.count_total(&rec.slots, false);
        }
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
            self.change_qty(rec.fw, rec.role, &rec.slots, false);
            touched.push(rec.fw);
        }
        for f in touched {
            self.gc_framework(f);
        }
    }

    /// Offer nothing on an agent until it is activated again; what runs there keeps running
    /// (Mesos' `deactivateSlave`).
    pub fn deactivate_agent(&mut self, agent_id: &str) {
        let Some(&a) = self.agent_ids.get(agent_id) else {
            return;
        };
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        agent.inactive = true;
        if let Some(k) = agent.parked.take() {
            self.parked.remove(&(k, a));
        }
        if std::mem::take(&mut agent.queued) {
            self.queued -= 1;
        }
    }

    /// Offer an agent's resources again.
    pub fn activate_agent(&mut self, agent_id: &str) {
        let Some(&a) = self.agent_ids.get(agent_id) else {
            return;
        };
        if let Some(agent) = self.agents[a as usize].as_mut() {
            agent.inactive = false;
        }
        self.enqueue(a);
    }

    /// Take resources named in `res` out of the agent's available into framework `f`'s
    /// holding for role `r`.
    pub(super) fn take_into_record(&mut self, a: u32, f: u32, r: u32, res: &Resources) {
        let want = self.slots_of(res);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        let taken = take_slots(&mut agent.avail, &want);
        if taken.is_empty() {
            return;
        }
        self.change_qty(f, r, &taken, true);
        self.record_add(a, f, r, taken);
    }

    /// Count an agent's resources in (or out of) the cluster's unreserved total and the
    /// reservations of each role.
    pub(super) fn count_total(&mut self, slots: &[Slot], add: bool) {
        let sign = if add { 1 } else { -1 };
        for s in slots {
            if s.role == STAR {
                for (t, v) in self.star_total.iter_mut().zip(s.fixed) {
                    *t += sign * v;
                }
                continue;
            }
            // Reserved to a role counts for it and for every role above it.
            let mut n = Some(s.role);
            while let Some(x) = n {
                let role = &mut self.roles[x as usize];
                for (t, v) in role.reserved.iter_mut().zip(s.fixed) {
                    *t += sign * v;
                }
                n = role.parent;
            }
        }
    }

    pub(super) fn record_add(&mut self, a: u32, f: u32, r: u32, slots: Vec<Slot>) {
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
}
