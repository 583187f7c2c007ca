//! Read-only views of the allocator's state for the master's endpoints.

use super::Allocator;
use crate::pool::slots_to_resources;
use drover_api::Resources;

impl Allocator {
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

    /// What a framework holds, by the role it holds it in (scalars summed; port ranges united).
    pub fn framework_allocated_by_role(&self, framework_id: &str) -> Vec<(String, Resources)> {
        let mut by: std::collections::BTreeMap<u32, Resources> = Default::default();
        let Some(&f) = self.framework_ids.get(framework_id) else {
            return Vec::new();
        };
        let Some(fw) = self.fw(f) else {
            return Vec::new();
        };
        for &a in &fw.agents {
            let Some(agent) = self.agents[a as usize].as_ref() else {
                continue;
            };
            for rec in agent.allocs.iter().filter(|x| x.fw == f) {
                by.entry(rec.role)
                    .or_default()
                    .add_all(&slots_to_resources(&rec.slots));
            }
        }
        by.into_iter()
            .map(|(r, res)| (self.roles[r as usize].name.to_string(), res))
            .collect()
    }

    /// What an agent has not allocated.
    /// Agent `agent_id`'s revocable resources: its last oversubscription estimate.
    pub fn agent_revocable(&self, agent_id: &str) -> Option<Resources> {
        let &a = self.agent_ids.get(agent_id)?;
        self.agents[a as usize]
            .as_ref()
            .map(|agent| agent.revocable.clone())
    }

    pub fn agent_available(&self, agent_id: &str) -> Option<Resources> {
        let &a = self.agent_ids.get(agent_id)?;
        self.agents[a as usize]
            .as_ref()
            .map(|agent| slots_to_resources(&agent.avail))
    }
}
