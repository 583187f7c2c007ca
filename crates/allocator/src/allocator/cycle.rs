//! The allocation cycle: the queue of agents to visit, parking, and what one visit offers.

use super::{from_ord, ord_key, Agent, Allocation, Allocator};
use crate::hash::SplitMix;
use crate::pool::{allocatable, find, slots_to_resources, Qty, Slot, STAR};
use std::sync::Arc;

impl Allocator {
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

    pub(super) fn enqueue(&mut self, a: u32) {
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
    pub(super) fn wake_all(&mut self) {
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
