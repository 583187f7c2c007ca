//! Quota: each role's guarantees and limits, its consumption (allocated, offers included, plus
//! reserved), the headroom held back for guarantees not yet met, and the first stage of a cycle,
//! which offers roles with unmet guarantees what moves them towards those guarantees.
//!
//! As in Mesos 1.11 (`HierarchicalAllocatorProcess::__generateOffers`): stage 1 visits the agents
//! and, on each, the quota roles with unmet guarantees in share order; a role is offered its
//! reservations there, the unreserved scalars it is guaranteed (up to what is unmet, never cut by
//! the headroom), and the rest of the unreserved scalars cut to its limits and to the surplus
//! headroom; ports and other resources go whole. Stage 2 (`cycle.rs`) cuts every role's
//! unreserved scalars the same way. Required headroom is Σ (guarantee − consumed) over quota roles,
//! computed once a cycle and lowered as guarantees are offered.

use super::{Allocation, Allocator};
use crate::pool::{find, KINDS, STAR};
use crate::Error;
use drover_api::resources::{from_fixed, to_fixed};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A role's quota: guarantees (resources set aside for it) and limits (never exceeded), by
/// resource name. A name without a limit is unlimited.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quota {
    pub guarantees: BTreeMap<String, f64>,
    pub limits: BTreeMap<String, f64>,
}

impl Quota {
    /// No guarantees and no limits: what a role without quota has.
    pub fn is_default(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }
}

/// A quota in fixed point: `limit` is `i64::MAX` where there is none.
#[derive(Clone, Debug)]
pub(super) struct RoleQuota {
    pub(super) guarantee: [i64; 4],
    pub(super) limit: [i64; 4],
}

const NO_LIMIT: i64 = i64::MAX;

fn fixed_of(role: &str, m: &BTreeMap<String, f64>, none: i64) -> Result<[i64; 4], Error> {
    let mut out = [none; 4];
    for (name, &value) in m {
        let Some(k) = KINDS.iter().position(|n| n == name) else {
            return Err(Error::QuotaResource {
                role: role.to_string(),
                name: name.clone(),
            });
        };
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::QuotaValue {
                role: role.to_string(),
                name: name.clone(),
                value,
            });
        }
        out[k] = to_fixed(value);
    }
    Ok(out)
}

fn map_of(v: &[i64; 4], skip: impl Fn(i64) -> bool) -> BTreeMap<String, f64> {
    KINDS
        .iter()
        .zip(v)
        .filter(|(_, &x)| !skip(x))
        .map(|(n, &x)| (n.to_string(), from_fixed(x)))
        .collect()
}

impl Allocator {
    /// Set a role's quota; the default quota (no guarantees, no limits) removes it. Only
    /// cpus, mem, disk and gpus can have quota.
    pub fn set_quota(&mut self, role: &str, quota: &Quota) -> Result<(), Error> {
        if role.contains('/') && !quota.is_default() {
            return Err(Error::NestedQuota {
                role: role.to_string(),
            });
        }
        let guarantee = fixed_of(role, &quota.guarantees, 0)?;
        let limit = fixed_of(role, &quota.limits, NO_LIMIT)?;
        if let Some(k) = (0..4).find(|&k| guarantee[k] > limit[k]) {
            return Err(Error::GuaranteeAboveLimit {
                role: role.to_string(),
                name: KINDS[k].to_string(),
            });
        }
        let r = self.intern(role);
        let had = self.roles[r as usize].quota.is_some();
        if quota.is_default() {
            self.roles[r as usize].quota = None;
            self.quota_roles.retain(|&x| x != r);
        } else {
            self.roles[r as usize].quota = Some(Box::new(RoleQuota { guarantee, limit }));
            if !had {
                self.quota_roles.push(r);
            }
        }
        self.quota_wake = true;
        Ok(())
    }

    /// A role's quota (the default one for a role without).
    pub fn quota(&self, role: &str) -> Quota {
        let Some(q) = self
            .role_ids
            .get(role)
            .and_then(|&r| self.roles[r as usize].quota.as_ref())
        else {
            return Quota::default();
        };
        Quota {
            guarantees: map_of(&q.guarantee, |x| x == 0),
            limits: map_of(&q.limit, |x| x == NO_LIMIT),
        }
    }

    /// What counts against a role's quota: unreserved resources allocated to it (outstanding
    /// offers included) plus everything reserved to it. Names with nothing are left out.
    pub fn quota_consumed(&self, role: &str) -> BTreeMap<String, f64> {
        match self.role_ids.get(role) {
            Some(&r) => map_of(&self.consumed(r), |x| x == 0),
            None => BTreeMap::new(),
        }
    }

    /// The cluster's unreserved cpus/mem/disk/gpus plus everything reserved, by name: what
    /// guarantees can at most be met from.
    pub fn capacity(&self) -> BTreeMap<String, f64> {
        map_of(&self.total.fixed, |x| x == 0)
    }

    pub(super) fn consumed(&self, r: u32) -> [i64; 4] {
        let role = &self.roles[r as usize];
        std::array::from_fn(|k| role.star_alloc[k] + role.reserved[k])
    }

    /// How much more of each scalar a role may be guaranteed right now (0 without quota).
    fn unmet(&self, r: u32) -> [i64; 4] {
        let Some(q) = self.roles[r as usize].quota.as_ref() else {
            return [0; 4];
        };
        let c = self.consumed(r);
        std::array::from_fn(|k| (q.guarantee[k] - c[k]).max(0))
    }

    /// Unreserved resources the cycle may give beyond guarantees without eating into the
    /// headroom unmet guarantees need; unlimited when no guarantee is unmet.
    fn surplus(&self) -> [i64; 4] {
        std::array::from_fn(|k| {
            if self.required_headroom[k] == 0 {
                NO_LIMIT
            } else {
                (self.star_total[k] - self.star_alloc[k] - self.required_headroom[k]).max(0)
            }
        })
    }

    /// How much more of each scalar role `r` may consume under its limits (those of the
    /// top-level role it is under: only top-level roles have quota, and theirs counts
    /// everything under them).
    fn limit_room(&self, r: u32) -> [i64; 4] {
        let r = self.top_of(r);
        let Some(q) = self.roles[r as usize].quota.as_ref() else {
            return [NO_LIMIT; 4];
        };
        let c = self.consumed(r);
        std::array::from_fn(|k| {
            if q.limit[k] == NO_LIMIT {
                NO_LIMIT
            } else {
                (q.limit[k] - c[k]).max(0)
            }
        })
    }

    /// At most how much unreserved cpus/mem/disk/gpus role `r` may be offered in stage 2: its
    /// room under its limits and the surplus headroom. `None` when nothing is cut.
    pub(super) fn star_cap(&self, r: u32) -> Option<[i64; 4]> {
        if self.quota_roles.is_empty() {
            return None;
        }
        let (room, surplus) = (self.limit_room(r), self.surplus());
        let cap: [i64; 4] = std::array::from_fn(|k| room[k].min(surplus[k]));
        cap.iter().any(|&x| x != NO_LIMIT).then_some(cap)
    }

    /// Whether a cap leaves too little cpus and mem for any offer of unreserved resources.
    pub(super) fn too_small(&self, cap: &[i64; 4]) -> bool {
        cap[0] < self.min[0] && cap[1] < self.min[1]
    }

    /// Start a cycle's quota bookkeeping: the headroom unmet guarantees need.
    pub(super) fn begin_quota(&mut self) {
        self.required_headroom = [0; 4];
        for i in 0..self.quota_roles.len() {
            let u = self.unmet(self.quota_roles[i]);
            for (h, x) in self.required_headroom.iter_mut().zip(u) {
                *h += x;
            }
        }
    }

    /// Take roles that can have nothing unreserved out of the share order for the rest of the
    /// cycle (consumption only grows within a cycle), so that stage 2 does not walk them on
    /// every agent.
    pub(super) fn cap_roles(&mut self) {
        for i in 0..self.quota_roles.len() {
            self.cap_if_full(self.quota_roles[i]);
        }
    }

    pub(super) fn cap_if_full(&mut self, r: u32) {
        let role = &self.roles[r as usize];
        if role.capped || role.quota.is_none() {
            return;
        }
        let full = self
            .star_cap(r)
            .is_some_and(|cap| self.too_small(&cap) && !self.surplus_is_binding(&cap));
        if full {
            let role = &mut self.roles[r as usize];
            role.capped = true;
            if let Some(k) = role.key {
                self.active_roles.remove(&(k, role.name.clone(), r));
            }
        }
    }

    /// Whether `cap` comes from the headroom rather than the role's limits (the headroom can
    /// loosen within a cycle as guarantees are offered; limits cannot).
    fn surplus_is_binding(&self, cap: &[i64; 4]) -> bool {
        let surplus = self.surplus();
        (0..2).any(|k| surplus[k] != NO_LIMIT && cap[k] == surplus[k])
    }

    /// Put capped roles back in the share order at the end of a cycle.
    pub(super) fn uncap_roles(&mut self) {
        for i in 0..self.quota_roles.len() {
            let r = self.quota_roles[i];
            let role = &mut self.roles[r as usize];
            if std::mem::take(&mut role.capped) {
                if let Some(k) = role.key {
                    self.active_roles.insert((k, role.name.clone(), r));
                }
            }
        }
    }

    /// Stage 1: offer quota roles with unmet guarantees, on the agents of `order`, what moves
    /// them towards those guarantees. Filters that hold a framework back lower `wake[i]`.
    pub(super) fn guarantee_stage(
        &mut self,
        order: &[u32],
        now: f64,
        wake: &mut [f64],
        out: &mut Vec<Allocation>,
    ) {
        let mut roles: Vec<(u64, Arc<str>, u32)> = self
            .quota_roles
            .iter()
            .filter(|&&r| self.unmet(r).iter().any(|&x| x > 0))
            .filter_map(|&r| {
                let role = &self.roles[r as usize];
                role.key.map(|k| (k, role.name.clone(), r))
            })
            .collect();
        if roles.is_empty() {
            return;
        }
        roles.sort_unstable();
        // In share order; a role whose guarantees are met becomes `None`, and `first` skips
        // the met ones at the front (they are met mostly in order).
        let mut roles: Vec<Option<u32>> = roles.into_iter().map(|(_, _, r)| Some(r)).collect();
        let mut first = 0;
        for (i, &a) in order.iter().enumerate() {
            while first < roles.len() && roles[first].is_none() {
                first += 1;
            }
            if first == roles.len() {
                break;
            }
            for slot in roles[first..].iter_mut() {
                let Some(r) = *slot else { continue };
                let Some(agent) = self.agents[a as usize].as_ref() else {
                    break;
                };
                let Some(star) = find(&agent.avail, STAR) else {
                    break;
                };
                let unmet = self.unmet(r);
                if unmet.iter().all(|&x| x == 0) {
                    *slot = None;
                    continue;
                }
                let guaranteed: [i64; 4] = std::array::from_fn(|k| unmet[k].min(star.fixed[k]));
                if guaranteed.iter().all(|&x| x == 0) {
                    continue;
                }
                // Beyond what is guaranteed: up to the limits, and only from the surplus
                // headroom (available − required; offering guarantees lowers both alike).
                let (room, surplus) = (self.limit_room(r), self.surplus());
                let cap: [i64; 4] = std::array::from_fn(|k| {
                    let extra = room[k].saturating_sub(guaranteed[k]).max(0).min(surplus[k]);
                    guaranteed[k].saturating_add(extra)
                });
                let cut = star.cut(&cap);
                let own = self.own_for(&agent.avail, r);
                let taker =
                    self.find_framework(agent, r, Some(&cut), own.as_deref(), now, &mut wake[i]);
                if let Some(f) = taker {
                    self.give(a, r, f, Some(&cap), out);
                    for (h, g) in self.required_headroom.iter_mut().zip(guaranteed) {
                        *h = (*h - g).max(0);
                    }
                    if self.unmet(r).iter().all(|&x| x == 0) {
                        *slot = None;
                    }
                }
            }
        }
    }
}
