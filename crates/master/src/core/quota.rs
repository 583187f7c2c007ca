//! Quota: roles' guarantees and limits as operators set them (`UPDATE_QUOTA`, and the
//! deprecated `SET_QUOTA` / `REMOVE_QUOTA` and `/quota`), checked as Mesos 1.11's master checks
//! them (`quota_handler.cpp`, `quota.cpp`), kept here and in the allocator, recorded in the
//! registry; what counts against a role's quota; and `GET_QUOTA`'s status.
//!
//! Mesos 1.11 semantics, with these differences: quota can be set on cpus, mem, disk and gpus
//! only (the resources Drover's allocator enforces it on; Mesos takes any scalar), and a change
//! rescinds no offer — it wakes the allocator, whose next cycle holds the new guarantees and
//! limits (Mesos rescinds offers, best-effort, to make room).

use super::{Master, RegistryOp};
use crate::{ApiError, InvalidQuota, InvalidRoleName};
use drover_allocator::{Allocator, Quota};
use drover_api::operator::UpdateQuota;
use drover_api::quota::{QuotaConfig, QuotaInfo, QuotaRequest, QuotaStatus};
use drover_api::resources::{format_scalar, from_fixed, to_fixed};
use drover_api::{Resource, Resources, Scalar, ValueType};
use std::collections::{BTreeMap, HashMap};

#[cfg(test)]
mod tests;

/// The resources quota can be set on: those the allocator enforces it on.
pub const QUOTA_RESOURCES: [&str; 4] = ["cpus", "mem", "disk", "gpus"];

/// Quantities by resource name in fixed point (Mesos' `ResourceQuantities`); a name left out
/// has none.
type Quantities = BTreeMap<String, i64>;

fn fixed(m: &BTreeMap<String, f64>) -> Quantities {
    m.iter().map(|(k, &v)| (k.clone(), to_fixed(v))).collect()
}

fn of_scalars(m: &BTreeMap<String, Scalar>) -> BTreeMap<String, f64> {
    m.iter().map(|(k, s)| (k.clone(), s.value)).collect()
}

/// Quantities as Mesos prints them: `cpus:1; mem:512`, or `{}`.
fn quantities_text(q: &Quantities) -> String {
    if q.is_empty() {
        return "{}".into();
    }
    q.iter()
        .map(|(k, &v)| format!("{k}:{}", format_scalar(from_fixed(v))))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A protobuf map of scalars as Mesos prints it: `{ cpus: 1, mem: 512 }` (`{  }` when empty).
fn map_text(m: &BTreeMap<String, f64>) -> String {
    let inner: Vec<String> = m
        .iter()
        .map(|(k, &v)| format!("{k}: {}", format_scalar(v)))
        .collect();
    format!("{{ {} }}", inner.join(", "))
}

/// Whether `have` holds at least `want` of every name (`ResourceQuantities::contains`).
fn contains(have: &Quantities, want: &Quantities) -> bool {
    want.iter()
        .all(|(k, &v)| v <= have.get(k).copied().unwrap_or(0))
}

/// Whether `q` stays within every limit (`ResourceLimits::contains`); a name without a limit
/// is unlimited.
fn within(limits: &Quantities, q: &Quantities) -> bool {
    limits
        .iter()
        .all(|(k, &limit)| q.get(k).copied().unwrap_or(0) <= limit)
}

fn add(to: &mut Quantities, q: &Quantities) {
    for (k, &v) in q {
        *to.entry(k.clone()).or_default() += v;
    }
}

/// Mesos' `roles::validate`.
pub fn role_problem(role: &str) -> Option<InvalidRoleName> {
    use InvalidRoleName as E;
    if role == "*" {
        return None;
    }
    let r = || role.to_string();
    if role.starts_with('/') {
        return Some(E::LeadingSlash(r()));
    }
    if role.ends_with('/') {
        return Some(E::TrailingSlash(r()));
    }
    if role.contains("//") {
        return Some(E::AdjacentSlashes(r()));
    }
    if role.is_empty() {
        return Some(E::Empty);
    }
    for c in role.split('/') {
        match c {
            "." => return Some(E::Dot(r())),
            ".." => return Some(E::DotDot(r())),
            "*" => return Some(E::Star(r())),
            _ if c.starts_with('-') => return Some(E::Dash(c.to_string())),
            _ if c.chars().any(|x| "\t\n\x0b\x0c\r \x7f".contains(x)) => {
                return Some(E::Whitespace(c.to_string()))
            }
            _ => {}
        }
    }
    None
}

/// Mesos' `quota::validate` of one config (role, maximum values, values, guarantees within
/// limits), with Drover's one addition: names other than cpus, mem, disk and gpus are refused
/// after the values are checked.
fn validate_config(c: &QuotaConfig) -> Result<(), InvalidQuota> {
    if let Some(e) = role_problem(&c.role) {
        return Err(InvalidQuota::ConfigRole(e));
    }
    const EXABYTE_MB: f64 = 1_099_511_627_776.0;
    const TRILLION: f64 = 1_000_000_000_000.0;
    for (field, m) in [("guarantees", &c.guarantees), ("limits", &c.limits)] {
        for (name, s) in m {
            let (max, limit) = if name == "mem" || name == "disk" {
                (EXABYTE_MB, "1 exabyte (1099511627776)")
            } else {
                (TRILLION, "1 trillion (1000000000000)")
            };
            if s.value > max {
                return Err(InvalidQuota::TooLarge {
                    field,
                    name: name.clone(),
                    value: format_scalar(s.value),
                    limit,
                });
            }
        }
    }
    for (kind, m) in [("guarantee", &c.guarantees), ("limit", &c.limits)] {
        for (name, s) in m {
            if let Some(problem) = value_problem(s.value) {
                return Err(InvalidQuota::Value {
                    kind,
                    name: name.clone(),
                    value: format_scalar(s.value),
                    problem,
                });
            }
        }
    }
    for (kind, m) in [("guarantee", &c.guarantees), ("limit", &c.limits)] {
        if let Some((name, s)) = m
            .iter()
            .find(|(n, _)| !QUOTA_RESOURCES.contains(&n.as_str()))
        {
            return Err(InvalidQuota::UnsupportedResource {
                kind,
                name: name.clone(),
                value: format_scalar(s.value),
            });
        }
    }
    let (guarantees, limits) = (of_scalars(&c.guarantees), of_scalars(&c.limits));
    if !within(&fixed(&limits), &fixed(&guarantees)) {
        return Err(InvalidQuota::GuaranteesAboveLimits {
            guarantees: map_text(&guarantees),
            limits: map_text(&limits),
        });
    }
    Ok(())
}

/// Mesos' `validateInputScalarValue`.
fn value_problem(v: f64) -> Option<&'static str> {
    if v.is_infinite() {
        Some("Infinite values not supported")
    } else if v.is_nan() {
        Some("NaN not supported")
    } else if v.is_subnormal() {
        Some("Subnormal values not supported")
    } else if v < 0.0 {
        Some("Negative values not supported")
    } else {
        None
    }
}

/// What Mesos' `Resources::validate` says of a resource the old API names as a guarantee
/// (the checks a resource of a quota request can fail).
fn resource_problem(r: &Resource) -> Option<&'static str> {
    if r.name.is_empty() {
        return Some("Empty resource name");
    }
    match r.kind {
        ValueType::SCALAR => {
            let Some(s) = r.scalar.filter(|_| r.ranges.is_none() && r.set.is_none()) else {
                return Some("Invalid scalar resource");
            };
            (s.value != 0.0 && to_fixed(s.value) <= 0)
                .then_some("Invalid scalar resource: value <= 0")
        }
        ValueType::RANGES => (r.scalar.is_some() || r.ranges.is_none() || r.set.is_some())
            .then_some("Invalid ranges resource"),
        ValueType::SET => (r.scalar.is_some() || r.ranges.is_some() || r.set.is_none())
            .then_some("Invalid set resource"),
        ValueType::TEXT => Some("Unsupported resource type"),
    }
}

/// Mesos' `quota::validation::quotaInfo` of the old API's request, and Drover's resource names.
fn validate_request(r: &QuotaRequest) -> Result<String, InvalidQuota> {
    if let Some(p) = r.guarantee.iter().find_map(resource_problem) {
        return Err(InvalidQuota::InvalidResource(p));
    }
    let role = r.role.clone().ok_or(InvalidQuota::NoRole)?;
    if let Some(e) = role_problem(&role) {
        return Err(InvalidQuota::InfoRole(e));
    }
    if r.guarantee.is_empty() {
        return Err(InvalidQuota::EmptyGuarantee);
    }
    let mut names = std::collections::HashSet::new();
    for g in &r.guarantee {
        let g = g.clone().upgraded();
        if !g.reservations.is_empty() || g.reservation.is_some() {
            return Err(InvalidQuota::Reserved);
        }
        if g.disk.is_some() {
            return Err(InvalidQuota::DiskInfo);
        }
        if g.revocable.is_some() {
            return Err(InvalidQuota::Revocable);
        }
        if g.kind != ValueType::SCALAR {
            return Err(InvalidQuota::NonScalar);
        }
        if !names.insert(g.name.clone()) {
            return Err(InvalidQuota::Duplicate(g.name));
        }
    }
    if let Some(g) = r
        .guarantee
        .iter()
        .find(|g| !QUOTA_RESOURCES.contains(&g.name.as_str()))
    {
        return Err(InvalidQuota::UnsupportedResource {
            kind: "guarantee",
            name: g.name.clone(),
            value: format_scalar(g.scalar.map_or(0.0, |s| s.value)),
        });
    }
    Ok(role)
}

fn quota_of(c: &QuotaConfig) -> Quota {
    Quota {
        guarantees: of_scalars(&c.guarantees),
        limits: of_scalars(&c.limits),
    }
}

fn scalars(m: &BTreeMap<String, f64>) -> BTreeMap<String, Scalar> {
    m.iter()
        .map(|(k, &value)| (k.clone(), Scalar { value }))
        .collect()
}

fn config_of(role: &str, q: &Quota) -> QuotaConfig {
    QuotaConfig {
        role: role.to_string(),
        guarantees: scalars(&q.guarantees),
        limits: scalars(&q.limits),
    }
}

/// The quotas a starting master recovered, handed to the allocator (a stored config it
/// refuses is logged and left out).
pub(super) fn recover(
    allocator: &mut Allocator,
    stored: Vec<QuotaConfig>,
) -> BTreeMap<String, Quota> {
    let mut quotas = BTreeMap::new();
    for c in stored {
        let q = quota_of(&c);
        match allocator.set_quota(&c.role, &q) {
            Ok(()) if !q.is_default() => {
                quotas.insert(c.role, q);
            }
            Ok(()) => {}
            Err(e) => tracing::error!("ignoring stored quota of role {}: {e}", c.role),
        }
    }
    quotas
}

/// `tokenize(path, "/", 3)`: the tokens between slashes, the third the rest of the path.
fn tokens3(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    loop {
        rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            break;
        }
        if out.len() == 2 {
            out.push(rest);
            break;
        }
        let end = rest.find('/').unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

impl Master {
    /// `GET_QUOTA` and `GET /quota`: every role's quota, by role, old form and new.
    pub fn quota_status(&self) -> QuotaStatus {
        let mut status = QuotaStatus::default();
        for (role, q) in &self.quotas {
            status.infos.push(QuotaInfo {
                role: Some(role.clone()),
                principal: None,
                guarantee: q
                    .guarantees
                    .iter()
                    .map(|(name, &v)| Resource::scalar(name, v))
                    .collect(),
            });
            status.configs.push(config_of(role, q));
        }
        status
    }

    /// `UPDATE_QUOTA`: every config checked as Mesos checks them (each config's role and
    /// values, then each role's consumption against its new limits unless `force`, then all
    /// guarantees against the cluster unless `force`), then all applied, or none.
    pub fn update_quota(&mut self, u: &UpdateQuota) -> Result<(), ApiError> {
        for c in &u.quota_configs {
            if c.role.contains('/') {
                return Err(ApiError::NestedQuotaUpdate(c.role.clone()));
            }
            validate_config(c).map_err(ApiError::InvalidQuotaConfig)?;
        }
        if !u.force {
            let consumption = self.quota_consumption();
            for c in &u.quota_configs {
                let limits = fixed(&of_scalars(&c.limits));
                let consumed = fixed(&consumption(&c.role));
                if !within(&limits, &consumed) {
                    return Err(ApiError::InvalidQuotaConfig(
                        InvalidQuota::ConsumedAboveLimits {
                            role: c.role.clone(),
                            consumed: quantities_text(&consumed),
                            limits: quantities_text(&limits),
                        },
                    ));
                }
            }
        }
        let changes: Vec<(String, Quota)> = u
            .quota_configs
            .iter()
            .map(|c| (c.role.clone(), quota_of(c)))
            .collect();
        if !u.force {
            if let Some((total, capacity)) = self.overcommitted(&changes) {
                return Err(ApiError::InvalidQuotaConfig(InvalidQuota::Overcommit {
                    total,
                    capacity,
                }));
            }
        }
        self.apply_quotas(changes)
    }

    /// The deprecated `SET_QUOTA` and `POST /quota`: a role without quota gets the request's
    /// guarantee as its guarantees and its limits (as Mesos 1.11 sets the old API's quota);
    /// `force` skips only the check against the cluster's capacity (a 409).
    pub fn set_quota_request(&mut self, r: &QuotaRequest) -> Result<(), ApiError> {
        let role = validate_request(r).map_err(ApiError::InvalidQuotaRequest)?;
        if self.quotas.contains_key(&role) {
            return Err(ApiError::InvalidQuotaRequest(InvalidQuota::AlreadySet(
                role,
            )));
        }
        if role.contains('/') {
            return Err(ApiError::NestedQuotaSet(role));
        }
        let mut guarantees = BTreeMap::new();
        for g in &r.guarantee {
            guarantees.insert(g.name.clone(), g.scalar.map_or(0.0, |s| s.value));
        }
        let q = Quota {
            limits: guarantees.clone(),
            guarantees,
        };
        let changes = vec![(role, q)];
        if !r.force {
            if let Some((total, capacity)) = self.overcommitted(&changes) {
                return Err(ApiError::QuotaOvercommit { total, capacity });
            }
        }
        self.apply_quotas(changes)
    }

    /// The deprecated `REMOVE_QUOTA`.
    pub fn remove_quota(&mut self, role: &str) -> Result<(), ApiError> {
        if !self.quotas.contains_key(role) {
            return Err(ApiError::NoQuota(role.to_string()));
        }
        self.apply_quotas(vec![(role.to_string(), Quota::default())])
    }

    /// The deprecated `DELETE /quota/<role>`; `path` as Mesos sees it, `/master/quota/<role>`
    /// (the role may hold slashes).
    pub fn remove_quota_at(&mut self, path: &str) -> Result<(), ApiError> {
        let tokens = tokens3(path);
        let [_, _, role] = tokens[..] else {
            return Err(ApiError::QuotaPath {
                path: path.to_string(),
                found: tokens.len(),
            });
        };
        if !self.quotas.contains_key(role) {
            return Err(ApiError::NoQuotaAtPath {
                path: path.to_string(),
                role: role.to_string(),
            });
        }
        self.apply_quotas(vec![(role.to_string(), Quota::default())])
    }

    /// The guarantees of every role once `changes` are made, and the cluster's capacity, as
    /// Mesos prints them, when the first exceeds the second.
    fn overcommitted(&self, changes: &[(String, Quota)]) -> Option<(String, String)> {
        let mut after: BTreeMap<&str, &Quota> =
            self.quotas.iter().map(|(r, q)| (r.as_str(), q)).collect();
        for (role, q) in changes {
            after.insert(role, q);
        }
        let mut total = Quantities::new();
        for q in after.values() {
            add(&mut total, &fixed(&q.guarantees));
        }
        total.retain(|_, v| *v != 0);
        let capacity = self.capacity();
        (!contains(&capacity, &total))
            .then(|| (quantities_text(&total), quantities_text(&capacity)))
    }

    /// The non-revocable scalars of every agent the master holds (disconnected ones too, not
    /// the unreachable ones), as Mesos counts the capacity guarantees must fit in.
    fn capacity(&self) -> Quantities {
        let mut c = Quantities::new();
        for a in self.agents.values().filter(|a| !a.unreachable) {
            for r in a.total.iter() {
                if r.kind == ValueType::SCALAR && r.revocable.is_none() {
                    *c.entry(r.name.clone()).or_default() +=
                        to_fixed(r.scalar.map_or(0.0, |s| s.value));
                }
            }
        }
        c.retain(|_, v| *v != 0);
        c
    }

    /// Set these quotas in the allocator, all or none (one it refuses puts back those set
    /// before it), then here and in the registry; the allocator's next cycle follows them.
    fn apply_quotas(&mut self, changes: Vec<(String, Quota)>) -> Result<(), ApiError> {
        let mut before: Vec<(&str, Quota)> = Vec::new();
        for (role, q) in &changes {
            let old = self.allocator.quota(role);
            if let Err(e) = self.allocator.set_quota(role, q) {
                for (role, old) in before.into_iter().rev() {
                    if let Err(e) = self.allocator.set_quota(role, &old) {
                        tracing::error!("putting back the quota of role {role}: {e}");
                    }
                }
                return Err(ApiError::Allocator(e));
            }
            before.push((role, old));
        }
        for (role, q) in changes {
            tracing::info!(role = %role, guarantees = ?q.guarantees, limits = ?q.limits, "quota set");
            if q.is_default() {
                self.quotas.remove(&role);
                self.record(RegistryOp::RemoveQuota(role));
            } else {
                self.record(RegistryOp::PutQuota(config_of(&role, &q)));
                self.quotas.insert(role, q);
            }
        }
        self.allocation_wanted = true;
        Ok(())
    }

    /// What counts against a role's quota, as Mesos 1.11's master counts it
    /// (`RoleResourceBreakdown::consumedQuota`): what the tasks and executors of the role and
    /// of the roles under it hold, plus everything reserved to them, held or not; outstanding
    /// offers do not count. Computed from the allocator's count, which includes offers
    /// (`Allocator::quota_consumed`: unreserved allocated plus reserved), less the unreserved
    /// part of the outstanding offers made to the role or to a role under it (an offer's
    /// reserved part is counted as reserved either way). Only cpus, mem, disk and gpus (the
    /// allocator's); a name with nothing is left out. The offers are summed once, so the
    /// returned function answers for any number of roles.
    pub(crate) fn quota_consumption(&self) -> impl Fn(&str) -> BTreeMap<String, f64> + '_ {
        let mut offered: HashMap<&str, [i64; 4]> = HashMap::new();
        for o in self.offers.values() {
            let amounts = unreserved(&o.resources);
            // The offer's role and each role above it.
            let mut role = o.role.as_str();
            loop {
                let sum = offered.entry(role).or_default();
                for (s, a) in sum.iter_mut().zip(amounts) {
                    *s += a;
                }
                match role.rsplit_once('/') {
                    Some((parent, _)) => role = parent,
                    None => break,
                }
            }
        }
        move |role| {
            let held = fixed(&self.allocator.quota_consumed(role));
            let off = offered.get(role).copied().unwrap_or_default();
            QUOTA_RESOURCES
                .iter()
                .zip(off)
                .filter_map(|(name, o)| {
                    let v = held.get(*name).copied().unwrap_or(0) - o;
                    (v > 0).then(|| (name.to_string(), from_fixed(v)))
                })
                .collect()
        }
    }
}

/// The unreserved cpus, mem, disk and gpus of `r`, in fixed point.
fn unreserved(r: &Resources) -> [i64; 4] {
    let mut out = [0; 4];
    for x in r
        .iter()
        .filter(|x| x.kind == ValueType::SCALAR && x.reservation_role() == "*")
    {
        if let Some(k) = QUOTA_RESOURCES.iter().position(|n| *n == x.name) {
            out[k] += to_fixed(x.scalar.map_or(0.0, |s| s.value));
        }
    }
    out
}
