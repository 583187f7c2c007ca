//! Oversubscription: an agent's revocable resources (its estimate of what is allocated but
//! unused) replaced with each new estimate, as Mesos' `updateSlave` with oversubscribed
//! resources does.

use super::Allocator;
use crate::pool::{pool_add, slots_to_resources};
use drover_api::Resources;

/// The revocable resources in `r`.
pub(super) fn revocable_of(r: &Resources) -> Resources {
    Resources::from_list(
        &r.iter()
            .filter(|x| x.revocable.is_some())
            .cloned()
            .collect::<Vec<_>>(),
    )
}

impl Allocator {
    /// Replace agent `agent_id`'s revocable resources with `estimate` (only its revocable
    /// resources are taken; empty withdraws them). What frameworks hold of the previous estimate
    /// stays theirs: the agent offers the new estimate less that (nothing, when they hold more;
    /// the master rescinds outstanding revocable offers before it calls this).
    pub fn update_revocable(&mut self, agent_id: &str, estimate: &Resources) {
        let Some(&a) = self.agent_ids.get(agent_id) else {
            return;
        };
        let estimate = revocable_of(estimate);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        if let Some(total) = agent.total_res.as_mut() {
            let old = revocable_of(total);
            total.subtract_all(&old);
            total.add_all(&estimate);
        }
        agent.revocable = estimate;
        self.clamp_revocable(a);
        self.enqueue(a);
    }

    /// Make agent `a`'s available revocable resources its estimate (the revocable part of its
    /// total) less what frameworks hold of them (Mesos: available = total - allocated).
    pub(super) fn clamp_revocable(&mut self, a: u32) {
        let Some(agent) = self.agents[a as usize].as_ref() else {
            return;
        };
        let mut free = agent.revocable.clone();
        for rec in &agent.allocs {
            free.subtract_all(&revocable_of(&slots_to_resources(&rec.slots)));
        }
        let free = self.slots_of(&free);
        let Some(agent) = self.agents[a as usize].as_mut() else {
            return;
        };
        for s in agent.avail.iter_mut() {
            s.take_revocable();
        }
        agent.avail.retain(|s| !s.is_empty());
        for s in free {
            pool_add(&mut agent.avail, s);
        }
    }
}
