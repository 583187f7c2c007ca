//! DRF ordering: role weights, the candidate sets sorted by dominant share, and re-keying them
//! when an allocation or the cluster total changes.

use super::{ord_key, Allocator, FwRole};
use crate::pool::{find, Qty, Slot, STAR};
use crate::Error;

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
                if role.key.is_none() {
                    let rk = ord_key(role.qty.share(&self.total) / role.weight);
                    role.key = Some(rk);
                    if !role.capped {
                        self.active_roles.insert((rk, role.name.clone(), r));
                    }
                }
                true
            }
            (false, Some(k)) => {
                fr.key = None;
                role.candidates.remove(&(k, fw.id.clone(), f));
                if role.candidates.is_empty() {
                    if let Some(rk) = role.key.take() {
                        self.active_roles.remove(&(rk, role.name.clone(), r));
                    }
                }
                false
            }
            _ => false,
        }
    }

    pub(super) fn rekey_role(&mut self, r: u32) {
        let role = &mut self.roles[r as usize];
        let Some(old) = role.key else { return };
        let k = ord_key(role.qty.share(&self.total) / role.weight);
        if k != old {
            if !role.capped {
                self.active_roles.remove(&(old, role.name.clone(), r));
                self.active_roles.insert((k, role.name.clone(), r));
            }
            role.key = Some(k);
        }
    }

    /// Count `slots` in (or out of) what role `r` holds, and re-sort it.
    pub(super) fn role_change(&mut self, r: u32, slots: &[Slot], q: &Qty, add: bool) {
        let star = find(slots, STAR).map_or([0; 4], |s| s.fixed);
        let role = &mut self.roles[r as usize];
        let sign = if add { 1 } else { -1 };
        for (k, v) in star.into_iter().enumerate() {
            role.star_alloc[k] += sign * v;
            self.star_alloc[k] += sign * v;
        }
        if add {
            role.qty.add(q);
        } else {
            role.qty.sub(q);
            // Room under a limit, or headroom, grew: agents parked for it may be offerable.
            self.quota_wake |= !self.quota_roles.is_empty();
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
        for (r, role) in self.roles.iter_mut().enumerate() {
            if role.candidates.is_empty() {
                role.key = None;
                continue;
            }
            let old = std::mem::take(&mut role.candidates);
            role.candidates = old
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
            let k = ord_key(role.qty.share(&self.total) / role.weight);
            role.key = Some(k);
            if !role.capped {
                self.active_roles.insert((k, role.name.clone(), r as u32));
            }
        }
        self.stale = false;
    }
}
