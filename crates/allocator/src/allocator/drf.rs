//! Hierarchical DRF ordering: role weights, the role tree (each role's children and itself in
//! share order, a role's share being that of everything under it over its weight), the
//! candidate sets sorted by dominant share, and re-keying them when an allocation or the
//! cluster total changes.

use super::{ord_key, Allocator, FwRole, Role, SortKey};
use crate::pool::{find, Qty, Slot, STAR};
use crate::Error;
use std::collections::BTreeSet;

impl Allocator {
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

    /// Put the framework's `i`th role entry in or out of the role's candidates as its state
    /// says; true if it became a candidate.
    pub(super) fn sync_candidate(&mut self, f: u32, i: usize) -> bool {
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
                if role.candidates.len() == 1 {
                    self.add_leaf(r);
                }
                true
            }
            (false, Some(k)) => {
                fr.key = None;
                role.candidates.remove(&(k, fw.id.clone(), f));
                if role.candidates.is_empty() {
                    self.remove_leaf(r);
                }
                false
            }
            _ => false,
        }
    }

    /// The set role `r` sits in: its parent's items, or the top-level set.
    fn siblings(&mut self, r: u32) -> &mut BTreeSet<SortKey> {
        match self.roles[r as usize].parent {
            Some(p) => &mut self.roles[p as usize].items,
            None => &mut self.active_roles,
        }
    }

    fn node_key(&self, r: u32) -> u64 {
        let role = &self.roles[r as usize];
        ord_key(role.tree_qty.share(&self.total) / role.weight)
    }

    /// Role `r` got its first candidate: it enters its own items, and the tree if it was not
    /// there.
    fn add_leaf(&mut self, r: u32) {
        let k = ord_key(self.roles[r as usize].qty.share(&self.total));
        let role = &mut self.roles[r as usize];
        role.leaf_key = Some(k);
        role.items.insert((k, role.name.clone(), r));
        if role.items.len() == 1 {
            self.activate(r);
        }
    }

    fn remove_leaf(&mut self, r: u32) {
        let role = &mut self.roles[r as usize];
        if let Some(k) = role.leaf_key.take() {
            role.items.remove(&(k, role.name.clone(), r));
        }
        if role.items.is_empty() {
            self.deactivate(r);
        }
    }

    /// Role `r` has items now: it enters its parent's (activating the parent if need be).
    fn activate(&mut self, r: u32) {
        let k = self.node_key(r);
        let role = &mut self.roles[r as usize];
        role.key = Some(k);
        let (name, parent, capped) = (role.name.clone(), role.parent, role.capped);
        if capped {
            return;
        }
        if let Some(p) = parent {
            // Its parent's own leaf was alone until now: its key may be stale.
            self.rekey_leaf(p);
        }
        let set = self.siblings(r);
        set.insert((k, name, r));
        if let Some(p) = parent.filter(|_| set.len() == 1) {
            self.activate(p);
        }
    }

    /// Role `r` has no items left: it leaves its parent's (deactivating the parent if that
    /// was its last).
    fn deactivate(&mut self, r: u32) {
        let role = &mut self.roles[r as usize];
        let Some(k) = role.key.take() else { return };
        let (name, parent) = (role.name.clone(), role.parent);
        let set = self.siblings(r);
        set.remove(&(k, name, r));
        if let Some(p) = parent.filter(|_| set.is_empty()) {
            self.deactivate(p);
        }
    }

    /// Re-sort role `r` after its allocation changed: its own leaf, then it and each ancestor
    /// among their siblings.
    pub(super) fn rekey_role(&mut self, r: u32) {
        // A role's own leaf is ordered only against its children: alone, it needs no key
        // (refreshed when a child arrives).
        if self.roles[r as usize].items.len() > 1 {
            self.rekey_leaf(r);
        }
        let mut n = Some(r);
        while let Some(x) = n {
            let k = self.node_key(x);
            let role = &mut self.roles[x as usize];
            n = role.parent;
            let Some(old) = role.key.filter(|&old| old != k) else {
                continue;
            };
            role.key = Some(k);
            if role.capped {
                continue;
            }
            let name = role.name.clone();
            let set = self.siblings(x);
            set.remove(&(old, name.clone(), x));
            set.insert((k, name, x));
        }
    }

    fn rekey_leaf(&mut self, r: u32) {
        let k = ord_key(self.roles[r as usize].qty.share(&self.total));
        let role = &mut self.roles[r as usize];
        if let Some(old) = role.leaf_key.filter(|&old| old != k) {
            let name = role.name.clone();
            role.items.remove(&(old, name.clone(), r));
            role.items.insert((k, name, r));
            role.leaf_key = Some(k);
        }
    }

    /// The first role, in hierarchical DRF order, under `owner` (the whole tree when `None`)
    /// for which `f` holds: at each level the children and the role itself by share, depth
    /// first, as Mesos' hierarchical sorter orders its clients.
    pub(super) fn first_role(
        &self,
        owner: Option<u32>,
        f: &mut impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let items = match owner {
            Some(o) => &self.roles[o as usize].items,
            None => &self.active_roles,
        };
        for &(_, _, x) in items {
            if Some(x) == owner {
                if f(x) {
                    return Some(x);
                }
            } else if let Some(y) = self.first_role(Some(x), f) {
                return Some(y);
            }
        }
        None
    }

    /// The top-level role `r` is under (itself at the top).
    pub(super) fn top_of(&self, mut r: u32) -> u32 {
        while let Some(p) = self.roles[r as usize].parent {
            r = p;
        }
        r
    }

    /// Count `slots` in (or out of) what role `r` holds, and re-sort it.
    pub(super) fn role_change(&mut self, r: u32, slots: &[Slot], q: &Qty, add: bool) {
        let star = find(slots, STAR).map_or([0; 4], |s| s.fixed);
        let sign = if add { 1 } else { -1 };
        for (k, v) in star.into_iter().enumerate() {
            self.star_alloc[k] += sign * v;
        }
        if add {
            self.roles[r as usize].qty.add(q);
        } else {
            self.roles[r as usize].qty.sub(q);
            // Agents parked by a limit or by the headroom may be offerable now: when the role
            // (its top-level role) has a quota, its room grew; when guarantees are unmet,
            // unreserved resources coming back grow the headroom's surplus. Otherwise nothing
            // parked for quota's sake changed (the agent given back to is queued anyway).
            let headroom = self.required_headroom.iter().any(|&h| h > 0) && star != [0; 4];
            self.quota_wake |= headroom || self.roles[self.top_of(r) as usize].quota.is_some();
        }
        let mut n = Some(r);
        while let Some(x) = n {
            let role = &mut self.roles[x as usize];
            for (k, v) in star.into_iter().enumerate() {
                role.star_alloc[k] += sign * v;
            }
            if add {
                role.tree_qty.add(q);
            } else {
                role.tree_qty.sub(q);
            }
            n = role.parent;
        }
        self.rekey_role(r);
    }

    /// Add (or take away) `slots` to what framework `f` holds in role `r`, and re-sort.
    pub(super) fn change_qty(&mut self, f: u32, r: u32, slots: &[Slot], add: bool) {
        let q = &Qty::of(slots);
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
        self.role_change(r, slots, q, add);
    }

    /// Recompute every sort key against the current cluster total.
    pub(super) fn rebuild_sorters(&mut self) {
        self.active_roles.clear();
        for role in self.roles.iter_mut() {
            role.items.clear();
            role.key = None;
            role.leaf_key = None;
        }
        for r in 0..self.roles.len() {
            let role = &mut self.roles[r];
            if role.candidates.is_empty() {
                continue;
            }
            let old = std::mem::take(&mut role.candidates);
            let fresh = old
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
            self.roles[r].candidates = fresh;
            self.add_leaf(r as u32);
        }
        self.stale = false;
    }
}

/// Whether role `x` is `r` or above it (its reservations are usable by `r`).
pub(super) fn is_self_or_ancestor(roles: &[Role], x: u32, r: u32) -> bool {
    let mut n = Some(r);
    while let Some(m) = n {
        if m == x {
            return true;
        }
        n = roles[m as usize].parent;
    }
    false
}
