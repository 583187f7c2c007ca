//! What `/roles` counts for each role, as Mesos 1.11's `knownRoles` and `RoleResourceBreakdown`
//! do: the roles listed (those with frameworks, a weight, a quota or a reservation, and every
//! role above one of them) and, over each role's sub-tree (`eng` counts `eng/web`), what tasks
//! and executors use (`allocated`), what outstanding offers carry (`offered`) and what agents
//! have reserved to it (`reserved`). Counted under the master's lock in one pass over the
//! frameworks, offers and agents, each amount added to its role and the roles above it.

use crate::core::Master;
use drover_api::{Resource, Resources, ValueType};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Quantities by resource name, in thousandths (Mesos' fixed point): scalars by value, ranges
/// and sets by how many items they hold (Mesos' `ResourceQuantities::fromResources`).
type Qty = BTreeMap<String, i64>;

/// A role's sub-tree amounts.
#[derive(Default)]
pub(crate) struct Breakdown {
    pub allocated: Qty,
    pub offered: Qty,
    pub reserved: Qty,
}

impl Breakdown {
    /// Each amount as `/roles` writes it: name to value, names with nothing left out.
    pub(crate) fn maps(&self) -> [BTreeMap<String, f64>; 4] {
        let mut both = self.allocated.clone();
        add(&mut both, &self.offered, 1);
        [
            to_map(&self.allocated),
            to_map(&self.offered),
            to_map(&self.reserved),
            to_map(&both),
        ]
    }
}

/// `role`, then each role above it (`a/b/c`, `a/b`, `a`).
pub(crate) fn self_and_ancestors(role: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(role), |r| r.rsplit_once('/').map(|(p, _)| p))
}

fn quantities(rs: &Resources) -> Qty {
    let mut q = Qty::new();
    for r in rs.iter() {
        let n = quantity(r);
        if n != 0 {
            *q.entry(r.name.clone()).or_default() += n;
        }
    }
    q
}

fn quantity(r: &Resource) -> i64 {
    match r.kind {
        ValueType::SCALAR => r.scalar.map_or(0, |s| (s.value * 1000.0).round() as i64),
        ValueType::RANGES => r.ranges.as_ref().map_or(0, |rs| {
            rs.range
                .iter()
                .map(|x| (x.end.saturating_sub(x.begin) as i64 + 1) * 1000)
                .sum()
        }),
        ValueType::SET => r.set.as_ref().map_or(0, |s| s.item.len() as i64 * 1000),
        _ => 0,
    }
}

fn add(into: &mut Qty, q: &Qty, sign: i64) {
    for (name, v) in q {
        *into.entry(name.clone()).or_default() += sign * v;
    }
}

fn to_map(q: &Qty) -> BTreeMap<String, f64> {
    q.iter()
        .filter(|(_, &v)| v > 0)
        .map(|(n, &v)| (n.clone(), v as f64 / 1000.0))
        .collect()
}

impl Master {
    /// The roles `/roles` and GET_ROLES list, by name: those with frameworks, a weight, a
    /// quota or a reservation on a reachable agent, and the roles above each of them.
    pub(crate) fn known_roles(&self) -> BTreeSet<String> {
        let mut direct: BTreeSet<&str> = self.weights.keys().map(String::as_str).collect();
        direct.extend(self.quotas.keys().map(String::as_str));
        for f in self.frameworks.values() {
            direct.extend(f.roles.iter().map(String::as_str));
        }
        for a in self.agents.values().filter(|a| !a.unreachable) {
            direct.extend(
                a.total
                    .iter()
                    .map(Resource::reservation_role)
                    .filter(|r| *r != "*"),
            );
        }
        let mut names = BTreeSet::new();
        for r in direct {
            for x in self_and_ancestors(r) {
                if !names.insert(x.to_string()) {
                    break;
                }
            }
        }
        names
    }

    /// Each role's sub-tree amounts, for the roles that have any.
    pub(crate) fn role_breakdowns(&self) -> HashMap<String, Breakdown> {
        let mut by: HashMap<String, Breakdown> = HashMap::new();
        let mut credit = |role: &str, q: &Qty, pick: fn(&mut Breakdown) -> &mut Qty, sign| {
            for r in self_and_ancestors(role) {
                add(pick(by.entry(r.to_string()).or_default()), q, sign);
            }
        };
        // What the allocator says frameworks hold includes their offers: those are taken
        // back out, leaving what tasks and executors use.
        for f in self.frameworks.values() {
            for (role, res) in self.allocator.framework_allocated_by_role(&f.id.value) {
                credit(&role, &quantities(&res), |b| &mut b.allocated, 1);
            }
        }
        for o in self.offers.values() {
            let q = quantities(&o.resources);
            credit(&o.role, &q, |b| &mut b.offered, 1);
            credit(&o.role, &q, |b| &mut b.allocated, -1);
        }
        for a in self.agents.values().filter(|a| !a.unreachable) {
            let mut reserved: HashMap<&str, Resources> = HashMap::new();
            for r in a.total.iter().filter(|r| r.reservation_role() != "*") {
                reserved.entry(r.reservation_role()).or_default().add(r);
            }
            for (role, res) in reserved {
                credit(role, &quantities(&res), |b| &mut b.reserved, 1);
            }
        }
        by
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::harness::*;
    use drover_api::TaskState;
    use serde_json::json;

    /// A framework of role `eng/web` running two tasks of 0.5 cpus and 128 MiB on an agent of
    /// 4 cpus, 4096 MiB, ports 31000-31099, `cpus(eng/web):1` and `mem(ops/db):512`; the rest
    /// offered to it again, outstanding.
    fn eng_web_running(h: &mut Harness) {
        let mut info = mock_framework("web", &[]);
        info.role = Some("eng/web".into());
        let mut fw = h.subscribe(info);
        let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
        for (name, v, role) in [("cpus", 1.0, "eng/web"), ("mem", 512.0, "ops/db")] {
            let mut r = Resource::scalar(name, v);
            r.role = Some(role.into());
            reg.agent_info.resources.push(r);
        }
        let ag = h.register(reg);
        let offer = h.offer(&mut fw);
        let tasks = ["t1", "t2"]
            .iter()
            .map(|t| task(t, &ag.id, 0.5, 128.0))
            .collect();
        h.launch(&fw, &offer, tasks);
        for t in ["t1", "t2"] {
            h.update(&ag, &fw.id, t, TaskState::TASK_RUNNING);
        }
        h.offer(&mut fw);
    }

    #[test]
    fn roles_count_their_sub_tree_and_list_the_roles_above() {
        let mut h = Harness::new();
        eng_web_running(&mut h);
        let roles = crate::views::v0_roles(h.m.role_views());
        let names: Vec<&str> = roles["roles"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, vec!["eng", "eng/web", "ops", "ops/db"]);
        let fw = h.m.frameworks.keys().next().map(|f| f.value.clone());
        // `eng` has no framework of its own but counts what `eng/web` has.
        for (i, frameworks) in [(0, json!([])), (1, json!([fw]))] {
            let r = &roles["roles"][i];
            assert_eq!(r["frameworks"], frameworks, "{r}");
            assert_eq!(r["allocated"], json!({"cpus": 1.0, "mem": 256.0}), "{r}");
            assert_eq!(
                r["offered"],
                json!({"cpus": 4.0, "mem": 3840.0, "ports": 100.0}),
                "{r}"
            );
            assert_eq!(r["reserved"], json!({"cpus": 1.0}), "{r}");
            assert_eq!(
                r["resources"],
                json!({"cpus": 5.0, "mem": 4096.0, "ports": 100.0}),
                "{r}"
            );
            assert_eq!(r["weight"], json!(1.0));
        }
        // A reservation alone lists its role and those above it, with nothing allocated.
        for i in [2, 3] {
            let r = &roles["roles"][i];
            assert_eq!(r["reserved"], json!({"mem": 512.0}), "{r}");
            assert_eq!(r["allocated"], json!({}), "{r}");
            assert_eq!(r["offered"], json!({}), "{r}");
            assert_eq!(r["frameworks"], json!([]), "{r}");
        }
        // GET_ROLES lists the same roles.
        let listed: Vec<String> = h.m.role_list().into_iter().map(|r| r.name).collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn ancestors_run_from_the_role_up() {
        let v: Vec<&str> = self_and_ancestors("a/b/c").collect();
        assert_eq!(v, vec!["a/b/c", "a/b", "a"]);
        assert_eq!(self_and_ancestors("a").collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn quantities_count_ranges_and_sets_by_items() {
        let mut rs = Resources::new();
        rs.add(&Resource::scalar("cpus", 1.5));
        rs.add(&Resource::ranges(
            "ports",
            vec![drover_api::Range {
                begin: 31000,
                end: 31009,
            }],
        ));
        let q = to_map(&quantities(&rs));
        assert_eq!(q["cpus"], 1.5);
        assert_eq!(q["ports"], 10.0);
    }
}
