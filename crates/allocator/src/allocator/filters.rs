//! Resources coming back (`recover`), the refuse filters a decline leaves, and suppression.

use super::{clear_filters, from_ord, ord_key, Allocator, Filter};
use crate::pool::{pool_add, take_slots, Refused};
use drover_api::Resources;

impl Allocator {
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
            for s in &back {
                pool_add(&mut agent.avail, s.clone());
            }
            self.change_qty(f, r, &back, false);
            // Revocable resources coming back after the estimate shrank: only what the
            // current estimate leaves is available.
            if resources.iter().any(|x| x.revocable.is_some()) {
                self.clamp_revocable(a);
            }
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

    pub(super) fn purge_filters(&mut self, now: f64) {
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
}
