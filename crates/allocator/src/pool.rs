//! The allocator's working form of `drover_api::Resources`: compact slots, quantities for the
//! DRF shares, and the summary an offer filter keeps.
//!
//! Resources are grouped into [`Slot`]s, one per reservation (`*`, or a role with the details
//! of its reservation: type, principal, labels, refinements), so a role may have several. In a slot,
//! cpus, mem, disk and gpus are fixed-point integers (Mesos' three decimals) and ports a coalesced
//! range list, so the allocation loop moves slots and adds integers. Anything else (other names,
//! sets, resources carrying disk, revocable or shared info) rides along untouched in `extra`, a
//! `Resources`. A slot converts back to `Resources` exactly.

use drover_api::resources::{coalesce, from_fixed, ranges_contain, subtract_ranges, to_fixed};
use drover_api::{
    Range, Ranges, ReservationInfo, Resource, Resources, Scalar, ValueSet, ValueType,
};

/// The slot role of unreserved resources.
pub(crate) const STAR: u32 = u32::MAX;
/// The scalars kept as fixed-point integers, in this order.
pub(crate) const KINDS: [&str; 4] = ["cpus", "mem", "disk", "gpus"];
pub(crate) const CPUS: usize = 0;
pub(crate) const MEM: usize = 1;
const PORTS: &str = "ports";

enum Class {
    Fixed(usize),
    Ports,
    Extra,
}

fn classify(r: &Resource) -> Class {
    if r.disk.is_some() || r.revocable.is_some() || r.shared.is_some() {
        return Class::Extra;
    }
    match r.kind {
        ValueType::SCALAR => KINDS
            .iter()
            .position(|k| *k == r.name)
            .map_or(Class::Extra, Class::Fixed),
        ValueType::RANGES if r.name == PORTS => Class::Ports,
        _ => Class::Extra,
    }
}

fn fixed_value(r: &Resource) -> i64 {
    r.scalar.map(|s| to_fixed(s.value)).unwrap_or(0).max(0)
}

/// Numbers in both coalesced lists.
pub(crate) fn intersect(a: &[Range], b: &[Range]) -> Vec<Range> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].begin.max(b[j].begin);
        let hi = a[i].end.min(b[j].end);
        if lo <= hi {
            out.push(Range { begin: lo, end: hi });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn union(a: &[Range], b: &[Range]) -> Vec<Range> {
    if a.is_empty() {
        return b.to_vec();
    }
    if b.is_empty() {
        return a.to_vec();
    }
    coalesce(a.iter().chain(b).copied().collect())
}

/// How reserved cpus/mem/disk/gpus/ports of a slot are written back out.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    role: Option<String>,
    reservations: Vec<ReservationInfo>,
}

/// The resources of one reservation role on one agent (or in one allocation).
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub(crate) role: u32,
    pub(crate) fixed: [i64; 4],
    pub(crate) ports: Vec<Range>,
    extra: Option<Box<Resources>>,
    template: Option<Box<Template>>,
}

impl Slot {
    fn empty(role: u32) -> Self {
        Slot {
            role,
            fixed: [0; 4],
            ports: Vec::new(),
            extra: None,
            template: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fixed.iter().all(|&v| v == 0) && self.ports.is_empty() && self.extra.is_none()
    }

    fn tidy(&mut self) {
        if self.extra.as_ref().is_some_and(|e| e.is_empty()) {
            self.extra = None;
        }
    }

    fn add_resource(&mut self, r: &Resource) {
        match classify(r) {
            Class::Fixed(k) => self.fixed[k] += fixed_value(r),
            Class::Ports => {
                let more = r
                    .ranges
                    .as_ref()
                    .map(|x| coalesce(x.range.clone()))
                    .unwrap_or_default();
                self.ports = union(&self.ports, &more);
            }
            Class::Extra => {
                self.extra.get_or_insert_with(Default::default).add(r);
                self.tidy();
            }
        }
    }

    /// Move this slot's revocable resources out, into a slot of the same reservation.
    pub(crate) fn take_revocable(&mut self) -> Option<Slot> {
        let extra = self.extra.as_mut()?;
        let revocable: Vec<Resource> = extra
            .iter()
            .filter(|r| r.revocable.is_some())
            .cloned()
            .collect();
        if revocable.is_empty() {
            return None;
        }
        let mut out = Slot::empty(self.role);
        out.template.clone_from(&self.template);
        for r in &revocable {
            extra.subtract(r);
            out.add_resource(r);
        }
        self.tidy();
        Some(out)
    }

    /// Revocable cpus and mem in this slot, fixed point.
    pub(crate) fn revocable_cpus_mem(&self) -> [i64; 2] {
        let mut out = [0; 2];
        for r in self.extra.iter().flat_map(|e| e.iter()) {
            if r.revocable.is_none() {
                continue;
            }
            match r.name.as_str() {
                "cpus" => out[0] += fixed_value(r),
                "mem" => out[1] += fixed_value(r),
                _ => {}
            }
        }
        out
    }

    /// Whether this slot holds all of `w` (same reservation).
    fn contains(&self, w: &Slot) -> bool {
        (0..4).all(|k| self.fixed[k] >= w.fixed[k])
            && ranges_contain(&self.ports, &w.ports)
            && match (&self.extra, &w.extra) {
                (_, None) => true,
                (Some(e), Some(we)) => e.contains(we),
                (None, Some(_)) => false,
            }
    }

    /// Add `other` (same role) into this slot.
    pub(crate) fn merge(&mut self, other: Slot) {
        for k in 0..4 {
            self.fixed[k] += other.fixed[k];
        }
        self.ports = union(&self.ports, &other.ports);
        if let Some(e) = other.extra {
            self.extra.get_or_insert_with(Default::default).add_all(&e);
        }
        if self.template.is_none() {
            self.template = other.template;
        }
    }

    /// A scalar or ports resource of this slot's reservation, as `Resources` would hold it.
    fn shaped(&self, mut r: Resource) -> Resource {
        if let Some(t) = &self.template {
            r.role.clone_from(&t.role);
            r.reservations.clone_from(&t.reservations);
        }
        r
    }

    /// Take out what there is of `r` in `extra`, into `got`; returns what was taken.
    fn take_extra(&mut self, r: &Resource, got: &mut Slot) -> Option<Resource> {
        let have = self.extra.as_mut()?;
        let part = clamp(have, r)?;
        have.subtract(&part);
        got.extra.get_or_insert_with(Default::default).add(&part);
        self.tidy();
        Some(part)
    }

    /// Move what there is of `want` (clamped to what this slot holds) out into a new slot.
    pub(crate) fn take(&mut self, want: &Slot) -> Slot {
        let mut got = Slot::empty(self.role);
        got.template.clone_from(&self.template);
        for (k, name) in KINDS.iter().enumerate() {
            let t = want.fixed[k].min(self.fixed[k]).max(0);
            self.fixed[k] -= t;
            got.fixed[k] += t;
            let rest = want.fixed[k] - t;
            if rest > 0 && self.extra.is_some() {
                // `Resources` merges a plain scalar with one carrying metadata: look there too.
                let r = self.shaped(Resource::scalar(name, from_fixed(rest)));
                self.take_extra(&r, &mut got);
            }
        }
        if !want.ports.is_empty() {
            let inter = intersect(&self.ports, &want.ports);
            if !inter.is_empty() {
                self.ports = subtract_ranges(&self.ports, &inter);
            }
            let rest = subtract_ranges(&want.ports, &inter);
            got.ports = inter;
            if !rest.is_empty() && self.extra.is_some() {
                let r = self.shaped(Resource::ranges(PORTS, rest));
                self.take_extra(&r, &mut got);
            }
        }
        if let Some(we) = &want.extra {
            for r in we.iter() {
                let part = self.take_extra(r, &mut got);
                // The remainder of a cpus/mem/disk/gpus/ports resource may sit in the fast part.
                match (r.kind, KINDS.iter().position(|k| *k == r.name)) {
                    (ValueType::SCALAR, Some(k)) => {
                        let rest = fixed_value(r) - part.as_ref().map(fixed_value).unwrap_or(0);
                        let t = rest.min(self.fixed[k]).max(0);
                        self.fixed[k] -= t;
                        got.fixed[k] += t;
                    }
                    (ValueType::RANGES, _) if r.name == PORTS => {
                        let asked = coalesce(
                            r.ranges
                                .as_ref()
                                .map(|x| x.range.clone())
                                .unwrap_or_default(),
                        );
                        let taken = part
                            .and_then(|p| p.ranges)
                            .map(|x| x.range)
                            .unwrap_or_default();
                        let inter = intersect(&self.ports, &subtract_ranges(&asked, &taken));
                        if !inter.is_empty() {
                            self.ports = subtract_ranges(&self.ports, &inter);
                            got.ports = union(&got.ports, &inter);
                        }
                    }
                    _ => {}
                }
            }
        }
        self.tidy();
        got.tidy();
        got
    }

    /// Move out a slot with at most `cap` of cpus, mem, disk and gpus each, and all of this
    /// slot's ports and other resources (quota and headroom cut scalars only, as in Mesos).
    pub(crate) fn split(&mut self, cap: &[i64; 4]) -> Slot {
        let mut got = Slot::empty(self.role);
        got.template.clone_from(&self.template);
        for (k, c) in cap.iter().enumerate() {
            let t = (*c).clamp(0, self.fixed[k]);
            self.fixed[k] -= t;
            got.fixed[k] = t;
        }
        got.ports = std::mem::take(&mut self.ports);
        got.extra = self.extra.take();
        got
    }

    /// A copy cut as [`Slot::split`] would cut it, for deciding before moving anything.
    pub(crate) fn cut(&self, cap: &[i64; 4]) -> Slot {
        let mut c = self.clone();
        for (k, v) in c.fixed.iter_mut().enumerate() {
            *v = cap[k].clamp(0, self.fixed[k]);
        }
        c
    }

    fn push_resources(&self, out: &mut Vec<Resource>) {
        for (k, &v) in self.fixed.iter().enumerate() {
            if v > 0 {
                out.push(self.shaped(Resource::scalar(KINDS[k], from_fixed(v))));
            }
        }
        if !self.ports.is_empty() {
            out.push(self.shaped(Resource::ranges(PORTS, self.ports.clone())));
        }
        if let Some(e) = &self.extra {
            out.extend(e.iter().cloned());
        }
    }

    fn add_qty(&self, q: &mut Qty) {
        for k in 0..4 {
            q.fixed[k] += self.fixed[k];
        }
        if let Some(e) = &self.extra {
            for r in e.iter().filter(|r| r.kind == ValueType::SCALAR) {
                q.add_extra(&r.name, fixed_value(r));
            }
        }
    }
}

/// The part of `r` that `have` holds (same name, type and reservation role), if any.
fn clamp(have: &Resources, r: &Resource) -> Option<Resource> {
    let slot = have.iter().find(|x| {
        x.name == r.name && x.kind == r.kind && x.reservation_role() == r.reservation_role()
    })?;
    let mut part = slot.clone();
    match r.kind {
        ValueType::SCALAR => {
            let v = fixed_value(r).min(fixed_value(slot));
            if v <= 0 {
                return None;
            }
            part.scalar = Some(Scalar {
                value: from_fixed(v),
            });
        }
        ValueType::RANGES => {
            let asked = coalesce(
                r.ranges
                    .as_ref()
                    .map(|x| x.range.clone())
                    .unwrap_or_default(),
            );
            let held = slot
                .ranges
                .as_ref()
                .map(|x| x.range.clone())
                .unwrap_or_default();
            let inter = intersect(&held, &asked);
            if inter.is_empty() {
                return None;
            }
            part.ranges = Some(Ranges { range: inter });
        }
        ValueType::SET => {
            let asked: Vec<&String> = r.set.iter().flat_map(|s| s.item.iter()).collect();
            let items: Vec<String> = slot
                .set
                .iter()
                .flat_map(|s| s.item.iter())
                .filter(|i| asked.contains(i))
                .cloned()
                .collect();
            if items.is_empty() {
                return None;
            }
            part.set = Some(ValueSet { item: items });
        }
        ValueType::TEXT => return None,
    }
    Some(part)
}

/// Split `res` into slots, interning reservation roles with `intern`.
pub(crate) fn slots_from(res: &Resources, mut intern: impl FnMut(&str) -> u32) -> Vec<Slot> {
    let mut out: Vec<Slot> = Vec::new();
    for r in res.iter() {
        let rr = r.reservation_role();
        let (role, template) = if rr == "*" {
            (STAR, None)
        } else {
            let t = Template {
                role: r.role.clone(),
                reservations: r.reservations.clone(),
            };
            (intern(rr), Some(t))
        };
        let i = match out
            .iter()
            .position(|s| s.role == role && s.template.as_deref() == template.as_ref())
        {
            Some(i) => i,
            None => {
                let mut s = Slot::empty(role);
                s.template = template.map(Box::new);
                out.push(s);
                out.len() - 1
            }
        };
        out[i].add_resource(r);
    }
    out.retain(|s| !s.is_empty());
    out
}

pub(crate) fn slots_to_resources(slots: &[Slot]) -> Resources {
    let mut list = Vec::with_capacity(6);
    for s in slots {
        s.push_resources(&mut list);
    }
    Resources::from_list(&list)
}

/// The first slot of `role` in `pool`: the only one for `STAR`.
pub(crate) fn find(pool: &[Slot], role: u32) -> Option<&Slot> {
    pool.iter().find(|s| s.role == role)
}

/// Whether `pool` holds all of `want`, reservation by reservation.
pub(crate) fn pool_contains(pool: &[Slot], want: &[Slot]) -> bool {
    want.iter().all(|w| {
        w.is_empty()
            || pool
                .iter()
                .find(|s| same_reservation(s, w))
                .is_some_and(|s| s.contains(w))
    })
}

fn same_reservation(a: &Slot, b: &Slot) -> bool {
    a.role == b.role && a.template == b.template
}

/// Add a slot into a pool, merging with the slot of the same reservation.
pub(crate) fn pool_add(pool: &mut Vec<Slot>, s: Slot) {
    if s.is_empty() {
        return;
    }
    match pool.iter_mut().find(|x| same_reservation(x, &s)) {
        Some(x) => x.merge(s),
        None => pool.push(s),
    }
}

/// Move what there is of `want` out of `from`, clamped to what `from` holds.
pub(crate) fn take_slots(from: &mut Vec<Slot>, want: &[Slot]) -> Vec<Slot> {
    let mut out = Vec::new();
    for w in want {
        if let Some(i) = from.iter().position(|s| same_reservation(s, w)) {
            let got = from[i].take(w);
            if from[i].is_empty() {
                from.swap_remove(i);
            }
            pool_add(&mut out, got);
        }
    }
    out
}

/// Whether `a + b` is worth offering: not empty and at least the minimum cpus or mem (Mesos'
/// `--min_allocatable_resources`, `cpus:0.01|mem:32` by default). `min` is `[cpus, mem]` fixed.
pub(crate) fn allocatable(a: Option<&Slot>, b: Option<&Slot>, min: [i64; 2]) -> bool {
    let (mut cpus, mut mem, mut any) = (0, 0, false);
    for s in a.into_iter().chain(b) {
        cpus += s.fixed[CPUS];
        mem += s.fixed[MEM];
        any |= !s.is_empty();
    }
    any && (cpus >= min[0] || mem >= min[1])
}

/// Whether `a + b` is worth offering to a framework that takes revocable resources: as
/// [`allocatable`], with revocable cpus and mem counted (an agent whose only free resources are
/// revocable is offered to such frameworks).
pub(crate) fn allocatable_revocable(a: Option<&Slot>, b: Option<&Slot>, min: [i64; 2]) -> bool {
    let (mut cpus, mut mem, mut any) = (0, 0, false);
    for s in a.into_iter().chain(b) {
        let [rc, rm] = s.revocable_cpus_mem();
        cpus += s.fixed[CPUS] + rc;
        mem += s.fixed[MEM] + rm;
        any |= !s.is_empty();
    }
    any && (cpus >= min[0] || mem >= min[1])
}

/// Scalar quantities summed over reservations, for dominant shares.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Qty {
    pub(crate) fixed: [i64; 4],
    /// Other scalars by name, sorted.
    extra: Vec<(String, i64)>,
}

impl Qty {
    pub(crate) fn of(slots: &[Slot]) -> Qty {
        let mut q = Qty::default();
        for s in slots {
            s.add_qty(&mut q);
        }
        q
    }

    fn add_extra(&mut self, name: &str, v: i64) {
        match self.extra.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => {
                self.extra[i].1 += v;
                if self.extra[i].1 == 0 {
                    self.extra.remove(i);
                }
            }
            Err(i) if v != 0 => self.extra.insert(i, (name.to_string(), v)),
            Err(_) => {}
        }
    }

    pub(crate) fn add(&mut self, o: &Qty) {
        for k in 0..4 {
            self.fixed[k] += o.fixed[k];
        }
        for (n, v) in &o.extra {
            self.add_extra(n, *v);
        }
    }

    pub(crate) fn sub(&mut self, o: &Qty) {
        for k in 0..4 {
            self.fixed[k] -= o.fixed[k];
        }
        for (n, v) in &o.extra {
            self.add_extra(n, -*v);
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.fixed.iter().all(|&v| v == 0) && self.extra.is_empty()
    }

    /// Dominant share: the largest fraction of the cluster total held of any scalar.
    pub(crate) fn share(&self, total: &Qty) -> f64 {
        let mut s: f64 = 0.0;
        for k in 0..4 {
            if total.fixed[k] > 0 && self.fixed[k] > 0 {
                s = s.max(self.fixed[k] as f64 / total.fixed[k] as f64);
            }
        }
        for (n, v) in &self.extra {
            if let Ok(i) = total.extra.binary_search_by(|(m, _)| m.as_str().cmp(n)) {
                let t = total.extra[i].1;
                if t > 0 && *v > 0 {
                    s = s.max(*v as f64 / t as f64);
                }
            }
        }
        s
    }
}

/// What a framework declined, as a refuse filter keeps it: the filter holds back later offers
/// that are no larger (Mesos' `RefusedOfferFilter`, compared by quantity and ports).
#[derive(Clone, Debug)]
pub(crate) struct Refused {
    fixed: [i64; 4],
    ports: Vec<Range>,
}

impl Refused {
    pub(crate) fn of(slots: &[Slot]) -> Refused {
        let mut r = Refused {
            fixed: [0; 4],
            ports: Vec::new(),
        };
        for s in slots {
            for k in 0..4 {
                r.fixed[k] += s.fixed[k];
            }
            r.ports = union(&r.ports, &s.ports);
        }
        r
    }

    /// Whether an offer of `a + b` is within what was refused.
    pub(crate) fn covers(&self, a: Option<&Slot>, b: Option<&Slot>) -> bool {
        let mut sum = [0i64; 4];
        for s in a.into_iter().chain(b) {
            if !ranges_contain(&self.ports, &s.ports) {
                return false;
            }
            for (acc, v) in sum.iter_mut().zip(s.fixed) {
                *acc += v;
            }
        }
        (0..4).all(|k| sum[k] <= self.fixed[k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(text: &str) -> Vec<Slot> {
        let r = Resources::parse(text).expect("resources");
        slots_from(&r, |n| if n == "web" { 1 } else { 2 })
    }

    #[test]
    fn round_trips_through_slots() {
        let text =
            "cpus:4;mem:1024;disk:10;ports:[1-10,20-30];cpus(web):1.5;gpus:1;bw:100;zones:{a,b}";
        let r = Resources::parse(text).expect("resources");
        let back = slots_to_resources(&slots(text));
        assert!(back.contains(&r) && r.contains(&back), "{back:?}");
        assert_eq!(back.usable_by("*").scalar("cpus"), 4.0);
        assert_eq!(back.usable_by("web").scalar("cpus"), 5.5);
    }

    #[test]
    fn take_is_clamped_and_conserves() {
        let mut have = slots("cpus:4;mem:1024;ports:[1-10];bw:5");
        let want = slots("cpus:6;mem:24;ports:[5-20];bw:7;cpus(web):1");
        let got = take_slots(&mut have, &want);
        let got_r = slots_to_resources(&got);
        let left = slots_to_resources(&have);
        assert_eq!(got_r.scalar("cpus"), 4.0);
        assert_eq!(got_r.scalar("mem"), 24.0);
        assert_eq!(got_r.scalar("bw"), 5.0);
        assert_eq!(got_r.ranges("ports"), vec![Range { begin: 5, end: 10 }]);
        assert_eq!(left.scalar("cpus"), 0.0);
        assert_eq!(left.scalar("mem"), 1000.0);
        assert_eq!(left.ranges("ports"), vec![Range { begin: 1, end: 4 }]);
        assert_eq!(left.scalar("bw"), 0.0);
    }

    #[test]
    fn metadata_resources_stay_apart_but_recover_through_merges() {
        let mut vol = Resource::scalar("disk", 100.0);
        vol.disk = Some(serde_json::json!({"persistence": {"id": "v1"}}));
        let mut res = Resources::parse("disk:50").expect("resources");
        res.add(&vol);
        // `Resources` merges the two disks: 150 under the plain one's shape.
        assert_eq!(res.scalar("disk"), 150.0);
        // Two offers' worth merged in one holding: the plain disk and the volume stay apart.
        let mut have = slots_from(&Resources::parse("disk:50").expect("resources"), |_| 0);
        for s in slots_from(&Resources::from_list(&[vol]), |_| 0) {
            pool_add(&mut have, s);
        }
        assert_eq!(have.len(), 1);
        assert!(have[0].extra.is_some() && have[0].fixed[2] == 50_000);
        let got = take_slots(&mut have, &slots_from(&res, |_| 0));
        assert_eq!(Qty::of(&got).fixed[2], 50_000);
        assert!(got[0].extra.is_some());
        assert!(have.is_empty(), "{have:?}");
        assert_eq!(slots_to_resources(&got).scalar("disk"), 150.0);
    }

    #[test]
    fn refused_covers_smaller_offers_only() {
        let refused = Refused::of(&slots("cpus:4;mem:1024;ports:[1-10]"));
        let same = slots("cpus:4;mem:1024;ports:[2-3]");
        assert!(refused.covers(find(&same, STAR), None));
        let more = slots("cpus:5;mem:1024");
        assert!(!refused.covers(find(&more, STAR), None));
        let other_ports = slots("cpus:1;ports:[11-11]");
        assert!(!refused.covers(find(&other_ports, STAR), None));
    }

    #[test]
    fn minimum_allocatable() {
        let min = [to_fixed(0.01), to_fixed(32.0)];
        let tiny = slots("cpus:0.005;mem:16;disk:100");
        assert!(!allocatable(find(&tiny, STAR), None, min));
        assert!(allocatable(find(&slots("cpus:0.01"), STAR), None, min));
        assert!(allocatable(find(&slots("mem:32"), STAR), None, min));
        assert!(!allocatable(None, None, min));
    }
}
