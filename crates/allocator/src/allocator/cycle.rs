//! The allocation cycle: the queue of agents to visit, parking, and what one visit offers.

use super::drf::is_self_or_ancestor;
use super::{from_ord, ord_key, Agent, Allocation, Allocator};
use crate::hash::SplitMix;
use crate::pool::{
    allocatable, allocatable_revocable, find, pool_add, slots_to_resources, Slot, STAR,
};
use std::borrow::Cow;
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
        // A quota changed or some role's room under one grew: an agent parked because of a
        // limit or the headroom may be offerable now.
        if std::mem::take(&mut self.quota_wake) {
            self.wake_all();
        }
        let quota = !self.quota_roles.is_empty();
        if quota {
            self.begin_quota();
        } else {
            self.required_headroom = [0; 4];
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
        let mut wake = vec![f64::INFINITY; order.len()];
        if quota {
            self.guarantee_stage(&order, now, &mut wake, &mut out);
            self.cap_roles();
        }
        for (i, a) in order.into_iter().enumerate() {
            self.visit(a, now, wake[i], &mut out);
        }
        if quota {
            self.uncap_roles();
        }
        out
    }

    /// Whether a cycle at `now` could offer anything: an agent changed, or a filter that held
    /// one back has expired. Cheap.
    pub fn has_work(&self, now: f64) -> bool {
        self.queued > 0
            || self.quota_wake
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

    /// What of an agent's unreserved `star` role `r` may be offered (cut to its limits and the
    /// headroom), with the cap when one applies; `None` when it may have none.
    fn star_for<'s>(
        &self,
        r: u32,
        star: Option<&'s Slot>,
    ) -> Option<(Cow<'s, Slot>, Option<[i64; 4]>)> {
        let star = star?;
        if self.quota_roles.is_empty() {
            return Some((Cow::Borrowed(star), None));
        }
        match self.star_cap(r) {
            None => Some((Cow::Borrowed(star), None)),
            Some(cap) if (0..4).all(|k| cap[k] >= star.fixed[k]) => {
                Some((Cow::Borrowed(star), None))
            }
            Some(cap) if self.too_small(&cap) => None,
            Some(cap) => Some((Cow::Owned(star.cut(&cap)), Some(cap))),
        }
    }

    /// Everything on an agent reserved to role `r` or a role above it, as one slot for
    /// deciding; borrowed when there is one such reservation.
    pub(super) fn own_for<'s>(&self, avail: &'s [Slot], r: u32) -> Option<Cow<'s, Slot>> {
        let mut it = avail
            .iter()
            .filter(|s| s.role != STAR && is_self_or_ancestor(&self.roles, s.role, r));
        let first = it.next()?;
        let Some(second) = it.next() else {
            return Some(Cow::Borrowed(first));
        };
        let mut sum = first.clone();
        for s in std::iter::once(second).chain(it) {
            sum.merge(s.clone());
        }
        Some(Cow::Owned(sum))
    }

    pub(super) fn enqueue(&mut self, a: u32) {
        let Some(agent) = self.agents[a as usize].as_mut().filter(|x| !x.inactive) else {
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
            if let Some(agent) = self.agents[a as usize].as_mut().filter(|x| !x.inactive) {
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
    pub(super) fn find_framework(
        &self,
        agent: &Agent,
        r: u32,
        star: Option<&Slot>,
        own: Option<&Slot>,
        now: f64,
        wake: &mut f64,
    ) -> Option<u32> {
        // Only revocable resources worth offering: only to frameworks that take them.
        let plain = allocatable(star, own, self.min);
        if !plain && !allocatable_revocable(star, own, self.min) {
            return None;
        }
        for &(_, _, f) in &self.roles[r as usize].candidates {
            if !plain && !self.fw(f).is_some_and(|fw| fw.revocable) {
                continue;
            }
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
    /// willing framework (together with that role's reservations there), cut to the role's
    /// quota limits and the headroom; each role reserved on the agent then gets its own
    /// reservations the same way. Afterwards the agent is idle or parked (until `wake` at the
    /// latest).
    fn visit(&mut self, a: u32, now: f64, mut wake: f64, out: &mut Vec<Allocation>) {
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let star = find(&agent.avail, STAR);
        let mut skip_reserved = false;
        if star.is_some_and(|s| allocatable_revocable(Some(s), None, self.min)) {
            let mut taker = None;
            let mut cut_any = false;
            self.first_role(None, &mut |r| {
                let Some((offer, cap)) = self.star_for(r, star) else {
                    cut_any = true;
                    return false;
                };
                let own = self.own_for(&agent.avail, r);
                cut_any |= cap.is_some();
                let f = self.find_framework(agent, r, Some(&offer), own.as_deref(), now, &mut wake);
                taker = f.map(|f| (r, f, cap));
                taker.is_some()
            });
            match taker {
                Some((r, f, cap)) => {
                    self.give(a, r, f, cap.as_ref(), out);
                    self.cap_if_full(self.top_of(r));
                }
                // Every role was tried with all of it and its reservations: nobody wants any.
                None => skip_reserved = !cut_any,
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
            reserved.dedup();
            // Reservations to a role go to it or to a role under it.
            for (_, _, x) in reserved {
                let Some(agent) = self.agents[a as usize].as_ref() else {
                    return;
                };
                let mut taker = None;
                self.first_role(Some(x), &mut |r| {
                    let Some(own) = self.own_for(&agent.avail, r) else {
                        return false;
                    };
                    // Its reservations with the unreserved resources cut to its quota (perhaps
                    // to none of the scalars: ports and the like go whole, as in Mesos).
                    let cap = self.star_cap(r);
                    let offer = match (find(&agent.avail, STAR), &cap) {
                        (Some(s), Some(c)) => Some(Cow::Owned(s.cut(c))),
                        (Some(s), None) => Some(Cow::Borrowed(s)),
                        (None, _) => None,
                    };
                    let f =
                        self.find_framework(agent, r, offer.as_deref(), Some(&own), now, &mut wake);
                    taker = f.map(|f| (r, f, cap));
                    taker.is_some()
                });
                if let Some((r, f, cap)) = taker {
                    self.give(a, r, f, cap.as_ref(), out);
                    self.cap_if_full(self.top_of(r));
                }
            }
        }
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let star = find(&agent.avail, STAR);
        let offerable = agent.avail.iter().any(|s| {
            if s.role == STAR {
                allocatable_revocable(Some(s), None, self.min)
            } else {
                allocatable_revocable(star, Some(s), self.min)
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

    /// Allocate to framework `f` everything on agent `a` reserved to role `r` and the
    /// unreserved resources there, cut to `cap` if given.
    pub(super) fn give(
        &mut self,
        a: u32,
        r: u32,
        f: u32,
        cap: Option<&[i64; 4]>,
        out: &mut Vec<Allocation>,
    ) {
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
            match cap {
                Some(cap) if (0..4).any(|k| cap[k] < agent.avail[i].fixed[k]) => {
                    let part = agent.avail[i].split(cap);
                    if agent.avail[i].is_empty() {
                        agent.avail.swap_remove(i);
                    }
                    if !part.is_empty() {
                        taken.push(part);
                    }
                }
                _ => taken.push(agent.avail.swap_remove(i)),
            }
        }
        let mut i = 0;
        while i < agent.avail.len() {
            let x = agent.avail[i].role;
            if x != STAR && is_self_or_ancestor(&self.roles, x, r) {
                taken.push(agent.avail.swap_remove(i));
            } else {
                i += 1;
            }
        }
        // Revocable resources only to frameworks that take them: back to the agent otherwise.
        let revocable = self
            .frameworks
            .get(f as usize)
            .and_then(Option::as_ref)
            .is_some_and(|fw| fw.revocable);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        if !revocable {
            for s in &mut taken {
                if let Some(back) = s.take_revocable() {
                    pool_add(&mut agent.avail, back);
                }
            }
            taken.retain(|s| !s.is_empty());
        }
        // Nothing allocated on the agent means available == total; all of it is being given.
        let whole = agent.allocs.is_empty() && agent.avail.is_empty();
        let resources = match &agent.total_res {
            Some(total) if whole => total.clone(),
            _ => slots_to_resources(&taken),
        };
        out.push(Allocation {
            framework_id,
            agent_id: String::from(&*agent.id),
            role,
            resources,
        });
        self.change_qty(f, r, &taken, true);
        self.record_add(a, f, r, taken);
    }
}
