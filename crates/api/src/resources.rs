//! Resource arithmetic as Mesos does it: scalars in fixed point (three decimal places), ranges
//! coalesced, sets as sets; resources of the same name, type and reservation role combine.
//! Also the text forms of values: the `--resources` form
//! (`cpus:4;mem:8192;ports:[31000-32000];cpus(web):1`), scalars and ranges as Mesos prints them,
//! and an [`Attribute`]'s value as the v0 endpoints print it ([`Attribute::value_string`]).

use crate::mesos::{Attribute, Range, Ranges, Resource, ValueSet, ValueType};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Mesos compares and adds scalars in fixed point with three decimal digits.
pub fn to_fixed(v: f64) -> i64 {
    (v * 1000.0).round() as i64
}
pub fn from_fixed(v: i64) -> f64 {
    v as f64 / 1000.0
}

/// Print a scalar the way Mesos does (`1`, `0.5`, `0.001`).
pub fn format_scalar(v: f64) -> String {
    let f = from_fixed(to_fixed(v));
    if f.fract() == 0.0 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

pub fn format_ranges(r: &[Range]) -> String {
    let mut s = String::from("[");
    for (i, x) in r.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}-{}", x.begin, x.end);
    }
    s.push(']');
    s
}

impl Attribute {
    /// The attribute's value as the v0 endpoints print it.
    pub fn value_string(&self) -> String {
        if let Some(t) = &self.text {
            return t.value.clone();
        }
        if let Some(s) = &self.scalar {
            return format_scalar(s.value);
        }
        if let Some(r) = &self.ranges {
            return format_ranges(&r.range);
        }
        if let Some(s) = &self.set {
            return format!("{{{}}}", s.item.join(","));
        }
        String::new()
    }
}

/// Sort and merge overlapping or adjacent ranges.
pub fn coalesce(mut r: Vec<Range>) -> Vec<Range> {
    r.retain(|x| x.begin <= x.end);
    r.sort();
    let mut out: Vec<Range> = Vec::with_capacity(r.len());
    for x in r {
        match out.last_mut() {
            Some(last) if x.begin <= last.end.saturating_add(1) => last.end = last.end.max(x.end),
            _ => out.push(x),
        }
    }
    out
}

/// `a - b` for coalesced range lists.
pub fn subtract_ranges(a: &[Range], b: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    for x in a {
        let mut pieces = vec![*x];
        for y in b {
            let mut next = Vec::new();
            for p in pieces {
                if y.end < p.begin || y.begin > p.end {
                    next.push(p);
                    continue;
                }
                if y.begin > p.begin {
                    next.push(Range {
                        begin: p.begin,
                        end: y.begin - 1,
                    });
                }
                if y.end < p.end {
                    next.push(Range {
                        begin: y.end + 1,
                        end: p.end,
                    });
                }
            }
            pieces = next;
        }
        out.extend(pieces);
    }
    coalesce(out)
}

/// Whether every number of `b` is in `a` (both coalesced).
pub fn ranges_contain(a: &[Range], b: &[Range]) -> bool {
    b.iter()
        .all(|y| a.iter().any(|x| x.begin <= y.begin && y.end <= x.end))
}

/// Whether `p` (a volume's `container_path`) is a relative path that stays inside the sandbox:
/// not empty, not absolute, no `.` or `..`.
pub fn inside_sandbox(p: &str) -> bool {
    let path = std::path::Path::new(p);
    !p.is_empty()
        && path.is_relative()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

pub fn ranges_len(r: &[Range]) -> u64 {
    r.iter().map(|x| x.end - x.begin + 1).sum()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("resource '{0}' is not of the form name:value or name(role):value")]
    Malformed(String),
    #[error(
        "resource '{name}': '{value}' is not a number, a range list [a-b,...] or a set {{a,b}}"
    )]
    BadValue { name: String, value: String },
    #[error("resource '{0}' is negative")]
    Negative(String),
}

/// A normalised bag of resources, kept in the reservation-refinement format: at most one entry
/// per kind of resource, where resources of one kind add up (Mesos' "addable": same name and
/// type, same reservations — roles, principals and labels — same disk info, both revocable or
/// neither, both shared or neither).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    items: Vec<Resource>,
}

fn same_slot(a: &Resource, b: &Resource) -> bool {
    a.name == b.name
        && a.kind == b.kind
        && a.reservations == b.reservations
        && a.disk == b.disk
        && a.revocable.is_some() == b.revocable.is_some()
        && a.shared.is_some() == b.shared.is_some()
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_list(list: &[Resource]) -> Self {
        let mut r = Resources::new();
        for x in list {
            r.add(x);
        }
        r
    }

    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.items.iter()
    }

    pub fn to_vec(&self) -> Vec<Resource> {
        self.items.clone()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn strip(r: &Resource) -> Resource {
        let mut r = r.clone().upgraded();
        r.allocation_info = None;
        if r.kind == ValueType::RANGES {
            r.ranges = Some(Ranges {
                range: coalesce(r.ranges.map(|x| x.range).unwrap_or_default()),
            });
        }
        r
    }

    fn is_zero(r: &Resource) -> bool {
        match r.kind {
            ValueType::SCALAR => r.scalar.map(|s| to_fixed(s.value) <= 0).unwrap_or(true),
            ValueType::RANGES => r
                .ranges
                .as_ref()
                .map(|x| x.range.is_empty())
                .unwrap_or(true),
            ValueType::SET => r.set.as_ref().map(|x| x.item.is_empty()).unwrap_or(true),
            ValueType::TEXT => true,
        }
    }

    pub fn add(&mut self, r: &Resource) {
        let r = Self::strip(r);
        if Self::is_zero(&r) {
            return;
        }
        if let Some(slot) = self.items.iter_mut().find(|x| same_slot(x, &r)) {
            match r.kind {
                ValueType::SCALAR => {
                    let a = slot.scalar.map(|s| to_fixed(s.value)).unwrap_or(0);
                    let b = r.scalar.map(|s| to_fixed(s.value)).unwrap_or(0);
                    if let Some(s) = slot.scalar.as_mut() {
                        s.value = from_fixed(a + b);
                    }
                }
                ValueType::RANGES => {
                    let mut all = slot.ranges.take().map(|x| x.range).unwrap_or_default();
                    all.extend(r.ranges.map(|x| x.range).unwrap_or_default());
                    slot.ranges = Some(Ranges {
                        range: coalesce(all),
                    });
                }
                ValueType::SET => {
                    let mut all: BTreeSet<String> = slot
                        .set
                        .take()
                        .map(|x| x.item.into_iter().collect())
                        .unwrap_or_default();
                    all.extend(r.set.map(|x| x.item).unwrap_or_default());
                    slot.set = Some(ValueSet {
                        item: all.into_iter().collect(),
                    });
                }
                ValueType::TEXT => {}
            }
        } else {
            self.items.push(r);
        }
    }

    pub fn add_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.add(r);
        }
    }

    /// Subtract what is there of `r`; what is not there is ignored (callers check `contains`).
    pub fn subtract(&mut self, r: &Resource) {
        let r = Self::strip(r);
        let Some(idx) = self.items.iter().position(|x| same_slot(x, &r)) else {
            return;
        };
        let slot = &mut self.items[idx];
        match r.kind {
            ValueType::SCALAR => {
                let a = slot.scalar.map(|s| to_fixed(s.value)).unwrap_or(0);
                let b = r.scalar.map(|s| to_fixed(s.value)).unwrap_or(0);
                if let Some(s) = slot.scalar.as_mut() {
                    s.value = from_fixed((a - b).max(0));
                }
            }
            ValueType::RANGES => {
                let a = slot.ranges.take().map(|x| x.range).unwrap_or_default();
                let b = r.ranges.map(|x| x.range).unwrap_or_default();
                slot.ranges = Some(Ranges {
                    range: subtract_ranges(&a, &b),
                });
            }
            ValueType::SET => {
                let remove: BTreeSet<String> = r
                    .set
                    .map(|x| x.item.into_iter().collect())
                    .unwrap_or_default();
                if let Some(s) = slot.set.as_mut() {
                    s.item.retain(|i| !remove.contains(i));
                }
            }
            ValueType::TEXT => {}
        }
        if Self::is_zero(&self.items[idx]) {
            self.items.remove(idx);
        }
    }

    pub fn subtract_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.subtract(r);
        }
    }

    pub fn contains_one(&self, r: &Resource) -> bool {
        let r = Self::strip(r);
        if Self::is_zero(&r) {
            return true;
        }
        let Some(slot) = self.items.iter().find(|x| same_slot(x, &r)) else {
            return false;
        };
        match r.kind {
            ValueType::SCALAR => {
                slot.scalar.map(|s| to_fixed(s.value)).unwrap_or(0)
                    >= r.scalar.map(|s| to_fixed(s.value)).unwrap_or(0)
            }
            ValueType::RANGES => ranges_contain(
                &slot
                    .ranges
                    .as_ref()
                    .map(|x| x.range.clone())
                    .unwrap_or_default(),
                &r.ranges
                    .as_ref()
                    .map(|x| x.range.clone())
                    .unwrap_or_default(),
            ),
            ValueType::SET => {
                let have: BTreeSet<&String> = slot.set.iter().flat_map(|s| s.item.iter()).collect();
                r.set
                    .iter()
                    .flat_map(|s| s.item.iter())
                    .all(|i| have.contains(i))
            }
            ValueType::TEXT => true,
        }
    }

    /// Whether `other` fits entirely within these resources.
    pub fn contains(&self, other: &Resources) -> bool {
        other.items.iter().all(|r| self.contains_one(r))
    }

    /// Sum of a scalar over all reservation roles.
    pub fn scalar(&self, name: &str) -> f64 {
        from_fixed(
            self.items
                .iter()
                .filter(|r| r.name == name && r.kind == ValueType::SCALAR)
                .map(|r| r.scalar.map(|s| to_fixed(s.value)).unwrap_or(0))
                .sum(),
        )
    }

    /// Union of a ranges resource over all reservation roles.
    pub fn ranges(&self, name: &str) -> Vec<Range> {
        coalesce(
            self.items
                .iter()
                .filter(|r| r.name == name && r.kind == ValueType::RANGES)
                .flat_map(|r| r.ranges.iter().flat_map(|x| x.range.iter().copied()))
                .collect(),
        )
    }

    /// The resources with `allocation_info.role` set, as offers carry them.
    pub fn allocated_to(&self, role: &str) -> Vec<Resource> {
        self.items
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.allocation_info = Some(crate::mesos::AllocationInfo {
                    role: Some(role.to_string()),
                });
                if r.role.is_none() && r.reservations.is_empty() {
                    r.role = Some("*".to_string());
                }
                r
            })
            .collect()
    }

    /// The part usable by `role`: unreserved plus what is reserved to that role or to a role
    /// above it (`eng` reservations are usable by `eng/web`, as in Mesos).
    pub fn usable_by(&self, role: &str) -> Resources {
        Resources {
            items: self
                .items
                .iter()
                .filter(|r| {
                    let rr = r.reservation_role();
                    rr == "*"
                        || rr == role
                        || role
                            .strip_prefix(rr)
                            .is_some_and(|rest| rest.starts_with('/'))
                })
                .cloned()
                .collect(),
        }
    }

    /// Names of the scalars, ranges and sets, for the v0 endpoints' flat map (`{"cpus": 4.0,
    /// "ports": "[31000-32000]"}`).
    pub fn to_v0_map(&self) -> serde_json::Map<String, serde_json::Value> {
        // Mesos' `model(Resources)`: scalars count what is not revocable; revocable cpus, gpus,
        // mem and disk are `<name>_revocable`, when there are any.
        let fixed = |name: &str| -> f64 {
            self.items
                .iter()
                .filter(|r| r.name == name && r.revocable.is_none())
                .map(|r| r.scalar.map(|s| s.value).unwrap_or(0.0))
                .sum()
        };
        let mut m = serde_json::Map::new();
        for name in ["cpus", "gpus", "mem", "disk"] {
            m.insert(name.to_string(), serde_json::json!(fixed(name)));
            let revocable: Vec<&Resource> = self
                .items
                .iter()
                .filter(|r| r.name == name && r.revocable.is_some())
                .collect();
            if !revocable.is_empty() {
                let sum: f64 = revocable
                    .iter()
                    .map(|r| r.scalar.map(|s| s.value).unwrap_or(0.0))
                    .sum();
                m.insert(format!("{name}_revocable"), serde_json::json!(sum));
            }
        }
        let mut names: Vec<&str> = self.items.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let kinds: Vec<&Resource> = self.items.iter().filter(|r| r.name == name).collect();
            match kinds[0].kind {
                ValueType::SCALAR => {
                    m.insert(name.to_string(), serde_json::json!(fixed(name)));
                }
                ValueType::RANGES => {
                    m.insert(
                        name.to_string(),
                        serde_json::json!(format_ranges(&self.ranges(name))),
                    );
                }
                ValueType::SET => {
                    let items: Vec<String> = kinds
                        .iter()
                        .flat_map(|r| r.set.iter().flat_map(|s| s.item.iter().cloned()))
                        .collect();
                    m.insert(
                        name.to_string(),
                        serde_json::json!(format!("{{{}}}", items.join(","))),
                    );
                }
                ValueType::TEXT => {}
            }
        }
        m
    }

    /// Parse Mesos' `--resources` text form: `name(role):value;...`.
    pub fn parse(text: &str) -> Result<Resources, ParseError> {
        let mut out = Resources::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once(':')
                .ok_or_else(|| ParseError::Malformed(part.to_string()))?;
            let (name, role) = match key.split_once('(') {
                Some((n, rest)) => {
                    let role = rest
                        .strip_suffix(')')
                        .ok_or_else(|| ParseError::Malformed(part.to_string()))?;
                    (n.trim(), Some(role.trim().to_string()))
                }
                None => (key.trim(), None),
            };
            if name.is_empty() {
                return Err(ParseError::Malformed(part.to_string()));
            }
            let value = value.trim();
            let bad = || ParseError::BadValue {
                name: name.to_string(),
                value: value.to_string(),
            };
            let mut r = if let Some(inner) =
                value.strip_prefix('[').and_then(|v| v.strip_suffix(']'))
            {
                let mut ranges = Vec::new();
                for piece in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (a, b) = piece.split_once('-').ok_or_else(bad)?;
                    let begin: u64 = a.trim().parse().map_err(|_| bad())?;
                    let end: u64 = b.trim().parse().map_err(|_| bad())?;
                    if begin > end {
                        return Err(bad());
                    }
                    ranges.push(Range { begin, end });
                }
                Resource::ranges(name, coalesce(ranges))
            } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Resource::set(
                    name,
                    inner
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            } else {
                let v: f64 = value.parse().map_err(|_| bad())?;
                if !v.is_finite() {
                    return Err(bad());
                }
                if v < 0.0 {
                    return Err(ParseError::Negative(part.to_string()));
                }
                Resource::scalar(name, v)
            };
            if let Some(role) = role.filter(|r| r != "*") {
                r.reservations = vec![crate::mesos::ReservationInfo {
                    kind: Some(crate::mesos::ReservationType::STATIC),
                    role: Some(role),
                    principal: None,
                    labels: None,
                }];
            }
            out.add(&r);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn revocable_scalars_are_counted_apart_in_the_v0_form() {
        let mut r = Resources::parse("cpus:4;mem:1024").unwrap();
        let mut slack = Resource::scalar("cpus", 1.5);
        slack.revocable = Some(serde_json::json!({}));
        r.add(&slack);
        let m = r.to_v0_map();
        assert_eq!(m["cpus"], serde_json::json!(4.0));
        assert_eq!(m["cpus_revocable"], serde_json::json!(1.5));
        assert_eq!(m["mem"], serde_json::json!(1024.0));
        assert!(!m.contains_key("mem_revocable"));
    }

    #[test]
    fn parses_mesos_resource_text() {
        let r = Resources::parse("cpus:4;mem:8192;disk:10000;ports:[31000-32000];cpus(web):1.5")
            .unwrap();
        assert_eq!(r.scalar("cpus"), 5.5);
        assert_eq!(r.usable_by("*").scalar("cpus"), 4.0);
        assert_eq!(r.usable_by("web").scalar("cpus"), 5.5);
        assert_eq!(
            r.ranges("ports"),
            vec![Range {
                begin: 31000,
                end: 32000
            }]
        );
        assert!(matches!(
            Resources::parse("cpus:x"),
            Err(ParseError::BadValue { .. })
        ));
        assert!(matches!(
            Resources::parse("cpus"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            Resources::parse("mem:-1"),
            Err(ParseError::Negative(_))
        ));
    }

    #[test]
    fn scalars_round_to_three_decimals() {
        let mut r = Resources::new();
        for _ in 0..10 {
            r.add(&Resource::scalar("cpus", 0.1));
        }
        assert_eq!(r.scalar("cpus"), 1.0);
        r.subtract(&Resource::scalar("cpus", 0.3));
        assert_eq!(r.scalar("cpus"), 0.7);
        assert_eq!(format_scalar(0.1 + 0.2), "0.3");
    }

    #[test]
    fn port_ranges_split_and_merge() {
        let mut r =
            Resources::from_list(&[Resource::ranges("ports", vec![Range { begin: 1, end: 10 }])]);
        r.subtract(&Resource::ranges("ports", vec![Range { begin: 4, end: 5 }]));
        assert_eq!(
            r.ranges("ports"),
            vec![Range { begin: 1, end: 3 }, Range { begin: 6, end: 10 }]
        );
        assert!(!r.contains_one(&Resource::ranges("ports", vec![Range { begin: 3, end: 6 }])));
        r.add(&Resource::ranges("ports", vec![Range { begin: 4, end: 5 }]));
        assert_eq!(r.ranges("ports"), vec![Range { begin: 1, end: 10 }]);
    }

    #[test]
    fn json_mapping_matches_mesos() {
        let r = Resource::scalar("cpus", 1.0);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"name":"cpus","type":"SCALAR","scalar":{"value":1.0}}"#
        );
        let r: Resource =
            serde_json::from_str(r#"{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":"31000","end":31005}]},"role":"*"}"#)
                .unwrap();
        assert_eq!(
            r.ranges.unwrap().range,
            vec![Range {
                begin: 31000,
                end: 31005
            }]
        );
    }

    fn arb_resources() -> impl Strategy<Value = Resources> {
        (
            0u32..16_000,
            0u32..100_000,
            proptest::collection::vec((0u64..200, 0u64..20), 0..5),
        )
            .prop_map(|(c, m, rs)| {
                let mut r = Resources::new();
                r.add(&Resource::scalar("cpus", c as f64 / 1000.0));
                r.add(&Resource::scalar("mem", m as f64));
                r.add(&Resource::ranges(
                    "ports",
                    rs.into_iter()
                        .map(|(b, l)| Range {
                            begin: b,
                            end: b + l,
                        })
                        .collect(),
                ));
                r
            })
    }

    proptest! {
        #[test]
        fn add_then_subtract_is_identity(a in arb_resources(), b in arb_resources()) {
            let mut x = a.clone();
            // Ranges that overlap are not additive, so only check disjoint sums.
            let overlap = !subtract_ranges(&a.ranges("ports"), &b.ranges("ports")).eq(&a.ranges("ports"));
            x.add_all(&b);
            prop_assert!(x.contains(&a));
            prop_assert!(x.contains(&b));
            if !overlap {
                x.subtract_all(&b);
                prop_assert_eq!(x.scalar("cpus"), a.scalar("cpus"));
                prop_assert_eq!(x.scalar("mem"), a.scalar("mem"));
                prop_assert_eq!(x.ranges("ports"), a.ranges("ports"));
            }
        }

        #[test]
        fn subtract_never_goes_negative_and_stays_contained(a in arb_resources(), b in arb_resources()) {
            let mut x = a.clone();
            x.subtract_all(&b);
            prop_assert!(a.contains(&x));
            prop_assert!(x.scalar("cpus") >= 0.0);
        }

        #[test]
        fn coalesced_ranges_are_sorted_and_disjoint(v in proptest::collection::vec((0u64..1000, 0u64..50), 0..20)) {
            let c = coalesce(v.iter().map(|&(b, l)| Range { begin: b, end: b + l }).collect());
            for w in c.windows(2) {
                prop_assert!(w[0].end + 1 < w[1].begin);
            }
            let n: u64 = ranges_len(&c);
            let mut all = std::collections::BTreeSet::new();
            for (b, l) in v { for p in b..=b + l { all.insert(p); } }
            prop_assert_eq!(n, all.len() as u64);
        }
    }

    fn reserved(json: serde_json::Value) -> Resource {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn both_reservation_formats_are_one_resource_and_labels_keep_reservations_apart() {
        let old = reserved(serde_json::json!({"name": "cpus", "type": "SCALAR",
            "scalar": {"value": 1}, "role": "ads",
            "reservation": {"principal": "ops", "labels": {"labels": [{"key": "k", "value": "a"}]}}}));
        let new = reserved(serde_json::json!({"name": "cpus", "type": "SCALAR",
            "scalar": {"value": 2}, "reservations": [{"type": "DYNAMIC", "role": "ads",
            "principal": "ops", "labels": {"labels": [{"key": "k", "value": "a"}]}}]}));
        let other = reserved(serde_json::json!({"name": "cpus", "type": "SCALAR",
            "scalar": {"value": 4}, "reservations": [{"type": "DYNAMIC", "role": "ads",
            "principal": "ops", "labels": {"labels": [{"key": "k", "value": "b"}]}}]}));
        let stat = reserved(serde_json::json!({"name": "cpus", "type": "SCALAR",
            "scalar": {"value": 8}, "role": "ads"}));
        let r = Resources::from_list(&[old.clone(), new.clone(), other.clone(), stat.clone()]);
        // Old and new forms of one reservation add up; other labels and the static one do not.
        assert_eq!(r.iter().count(), 3, "{r:?}");
        assert_eq!(r.scalar("cpus"), 15.0);
        assert_eq!(r.usable_by("ads").scalar("cpus"), 15.0);
        assert_eq!(r.usable_by("*").scalar("cpus"), 0.0);
        assert!(r.contains(&Resources::from_list(std::slice::from_ref(&new))));
        let mut three = new.clone();
        three.scalar = Some(crate::Scalar { value: 3.0 });
        assert!(r.contains(&Resources::from_list(&[three.clone()])));
        three.scalar = Some(crate::Scalar { value: 3.5 });
        assert!(
            !r.contains(&Resources::from_list(&[three])),
            "not from the other labels"
        );
        assert_eq!(
            Resources::parse("cpus(ads):8").unwrap(),
            Resources::from_list(&[stat])
        );

        // Back to the old form for a framework without RESERVATION_REFINEMENT, and up again.
        let down = new.clone().upgraded().downgraded().unwrap();
        assert_eq!(down.role.as_deref(), Some("ads"));
        assert!(down.reservations.is_empty());
        assert_eq!(
            down.reservation
                .as_ref()
                .and_then(|x| x.principal.as_deref()),
            Some("ops")
        );
        assert_eq!(down.upgraded(), new.clone().upgraded());
        let plain = Resource::scalar("mem", 1.0).downgraded().unwrap();
        assert_eq!(plain.role.as_deref(), Some("*"));
        let mut refined = new.upgraded();
        refined.reservations.push(crate::mesos::ReservationInfo {
            kind: Some(crate::mesos::ReservationType::DYNAMIC),
            role: Some("ads/web".into()),
            principal: None,
            labels: None,
        });
        assert_eq!(refined.reservation_role(), "ads/web");
        assert!(refined.downgraded().is_none());
    }
}
