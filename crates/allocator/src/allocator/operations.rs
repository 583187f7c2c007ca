//! Operations that change what resources are without changing how much there is — RESERVE,
//! UNRESERVE, CREATE and DESTROY — applied to what a framework holds on an agent (the resources
//! of an offer it accepted) or to what is unallocated there (an operator's call). The agent's
//! total changes shape, not size; each role's reservations and the unreserved total follow.

use super::Allocator;
use crate::pool::{pool_add, pool_contains, take_slots, Slot};
use crate::Error;
use drover_api::Resources;

/// One operation as the allocator sees it: `consumed` is replaced by `converted` (for RESERVE,
/// unreserved resources by the same resources reserved; for CREATE, reserved disk by a volume).
#[derive(Clone, Debug, PartialEq)]
pub struct Conversion {
    pub consumed: Resources,
    pub converted: Resources,
}

impl Allocator {
    /// Apply `conversions`, in order, to what framework `framework_id` holds for `role` on
    /// `agent_id`. All or nothing: an operation on resources it does not hold is refused and
    /// nothing is changed.
    pub fn update_allocation(
        &mut self,
        agent_id: &str,
        framework_id: &str,
        role: &str,
        conversions: &[Conversion],
    ) -> Result<(), Error> {
        let unknown = || Error::NotHeld {
            agent: agent_id.to_string(),
            framework: framework_id.to_string(),
            role: role.to_string(),
        };
        let (Some(&a), Some(&f), Some(&r)) = (
            self.agent_ids.get(agent_id),
            self.framework_ids.get(framework_id),
            self.role_ids.get(role),
        ) else {
            return Err(unknown());
        };
        let plan = self.plan(conversions);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return Err(unknown());
        };
        let Some(i) = agent.allocs.iter().position(|x| x.fw == f && x.role == r) else {
            return Err(unknown());
        };
        let slots = &mut agent.allocs[i].slots;
        apply(slots, &plan).ok_or_else(unknown)?;
        agent.total_res = None;
        for (from, to) in &plan {
            self.count_total(from, false);
            self.count_total(to, true);
            // Add before taking away, so that the holding is never empty in between.
            self.change_qty(f, r, to, true);
            self.change_qty(f, r, from, false);
        }
        Ok(())
    }

    /// Apply `conversions`, in order, to what is unallocated on `agent_id` (an operator's
    /// reservations and volumes). All or nothing.
    pub fn update_available(
        &mut self,
        agent_id: &str,
        conversions: &[Conversion],
    ) -> Result<(), Error> {
        let unknown = || Error::NotAvailable {
            agent: agent_id.to_string(),
        };
        let Some(&a) = self.agent_ids.get(agent_id) else {
            return Err(unknown());
        };
        let plan = self.plan(conversions);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return Err(unknown());
        };
        apply(&mut agent.avail, &plan).ok_or_else(unknown)?;
        agent.total_res = None;
        for (from, to) in &plan {
            self.count_total(from, false);
            self.count_total(to, true);
        }
        // New reservations are offered to their role; the unreserved part shrank or grew.
        self.quota_wake |= !self.quota_roles.is_empty();
        self.enqueue(a);
        Ok(())
    }

    fn plan(&mut self, conversions: &[Conversion]) -> Vec<(Vec<Slot>, Vec<Slot>)> {
        conversions
            .iter()
            .map(|c| (self.slots_of(&c.consumed), self.slots_of(&c.converted)))
            .collect()
    }
}

/// Replace each `from` by its `to` in `pool`, in order; `None` (and `pool` untouched) if some
/// `from` is not all there when its turn comes.
fn apply(pool: &mut Vec<Slot>, plan: &[(Vec<Slot>, Vec<Slot>)]) -> Option<()> {
    // One operation (the usual case) is checked in place; several on a copy, since a later one
    // may use what an earlier one made (RESERVE, then CREATE on the reserved disk).
    if let [(from, to)] = plan {
        if !pool_contains(pool, from) {
            return None;
        }
        convert(pool, from, to);
        return Some(());
    }
    let mut work = pool.clone();
    for (from, to) in plan {
        if !pool_contains(&work, from) {
            return None;
        }
        convert(&mut work, from, to);
    }
    *pool = work;
    Some(())
}

fn convert(pool: &mut Vec<Slot>, from: &[Slot], to: &[Slot]) {
    take_slots(pool, from);
    for s in to {
        pool_add(pool, s.clone());
    }
}
