//! Frameworks: adding, removing, (de)activating, their role subscriptions, and placeholders
//! for frameworks known only from an agent's report.

use super::{clear_filters, Allocator, Framework, FwRole};
use crate::hash::FxSet;
use crate::pool::{pool_add, Qty};
use drover_api::Resources;
use std::sync::Arc;

impl Allocator {
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
                    for s in &rec.slots {
                        pool_add(&mut agent.avail, s.clone());
                    }
                    changed.push((rec.role, rec.slots));
                } else {
                    i += 1;
                }
            }
            for (r, slots) in changed {
                self.role_change(r, &slots, &Qty::of(&slots), false);
            }
            self.enqueue(a);
        }
    }

    /// Whether the framework takes revocable resources (`REVOCABLE_RESOURCES`); without it,
    /// none are ever offered to it.
    pub fn set_revocable(&mut self, framework_id: &str, revocable: bool) {
        if let Some(&f) = self.framework_ids.get(framework_id) {
            if let Some(fw) = self.fw_mut(f) {
                let newly = revocable && !fw.revocable;
                fw.revocable = revocable;
                // Agents parked with only revocable resources free may now have a taker.
                if newly {
                    self.wake_all();
                }
            }
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

    pub(super) fn ensure_framework(&mut self, id: &str) -> u32 {
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
            revocable: false,
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
    pub(super) fn gc_framework(&mut self, f: u32) {
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
}
