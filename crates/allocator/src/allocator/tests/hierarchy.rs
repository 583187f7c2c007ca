//! Hierarchical roles: fair share delegated down the role tree, reservations to a role offered
//! to the roles under it (never up), and a top-level quota counting everything under it.

use super::*;

fn cpus_of(offers: &[Allocation]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for o in offers {
        *m.entry(o.framework_id.clone()).or_insert(0.0) += o.resources.scalar("cpus");
    }
    m
}

/// One cycle over four one-cpu agents for frameworks fa (eng/a), fb (eng/b) and fo (ops), eng
/// weighted `eng_weight`: the cpus each is offered.
fn eng_and_ops(eng_weight: f64) -> BTreeMap<String, f64> {
    let mut alloc = by_id();
    alloc.set_weight("eng", eng_weight).unwrap();
    for (f, role) in [("fa", "eng/a"), ("fb", "eng/b"), ("fo", "ops")] {
        alloc.add_framework(f, &names(&[role]), &[], &[]);
    }
    for id in ["x1", "x2", "x3", "x4"] {
        alloc.add_agent(id, res("cpus:1;mem:128"), &[]);
    }
    cpus_of(&alloc.allocate(0.0))
}

#[test]
fn fair_share_is_delegated_down_the_tree() {
    // eng and ops share the cluster half and half; eng's half is split between eng/a and
    // eng/b. Flat DRF over the three roles would give eng/a two agents and ops one.
    assert_eq!(
        eng_and_ops(1.0),
        BTreeMap::from([("fa".into(), 1.0), ("fb".into(), 1.0), ("fo".into(), 2.0)])
    );
    // A weight of 3 on eng triples its subtree's entitlement.
    assert_eq!(
        eng_and_ops(3.0),
        BTreeMap::from([("fa".into(), 2.0), ("fb".into(), 1.0), ("fo".into(), 1.0)])
    );
}

#[test]
fn a_role_with_frameworks_of_its_own_and_children_shares_with_them() {
    // eng's own framework is one more item beside eng/a under eng.
    let mut alloc = by_id();
    alloc.add_framework("fe", &names(&["eng"]), &[], &[]);
    alloc.add_framework("fa", &names(&["eng/a"]), &[], &[]);
    for id in ["x1", "x2", "x3", "x4"] {
        alloc.add_agent(id, res("cpus:1;mem:128"), &[]);
    }
    let o = alloc.allocate(0.0);
    assert_eq!(
        cpus_of(&o),
        BTreeMap::from([("fa".into(), 2.0), ("fe".into(), 2.0)])
    );
}

#[test]
fn reservations_go_down_the_tree_and_never_up() {
    // Reserved to eng: offered to a framework in eng/a (with the role of the offer eng/a).
    let mut alloc = by_id();
    alloc.add_framework("fa", &names(&["eng/a"]), &[], &[]);
    alloc.add_framework("fo", &names(&["ops"]), &[], &[]);
    alloc.add_agent("x", res("cpus(eng):2;mem(eng):256"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "fa")]);
    assert_eq!(o[0].role, "eng/a");
    assert_eq!(o[0].resources, res("cpus(eng):2;mem(eng):256"));
    // Reserved to eng/a: never offered to eng itself.
    let mut alloc = by_id();
    alloc.add_framework("fe", &names(&["eng"]), &[], &[]);
    alloc.add_agent("x", res("cpus(eng/a):2;mem(eng/a):256"), &[]);
    assert!(alloc.allocate(0.0).is_empty());
    // ... and offered with the unreserved part to eng/a.
    let mut alloc = by_id();
    alloc.add_framework("fa", &names(&["eng/a"]), &[], &[]);
    alloc.add_agent("x", res("cpus:1;cpus(eng):1;cpus(eng/a):1;mem:64"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].resources.scalar("cpus"), 3.0);
}

#[test]
fn a_top_level_quota_counts_the_roles_under_it_and_nested_quota_is_refused() {
    let limit = Quota {
        guarantees: BTreeMap::new(),
        limits: BTreeMap::from([("cpus".to_string(), 1.0)]),
    };
    let mut alloc = by_id();
    assert_eq!(
        alloc.set_quota("eng/a", &limit),
        Err(crate::Error::NestedQuota {
            role: "eng/a".into()
        })
    );
    alloc.set_quota("eng", &limit).unwrap();
    alloc.add_framework("fa", &names(&["eng/a"]), &[], &[]);
    alloc.add_framework("fb", &names(&["eng/b"]), &[], &[]);
    for id in ["x1", "x2", "x3"] {
        alloc.add_agent(id, res("cpus:1;mem:128"), &[]);
    }
    let mut total = 0.0;
    for t in 0..3 {
        total += cpus_of(&alloc.allocate(f64::from(t))).values().sum::<f64>();
    }
    assert_eq!(total, 1.0);
    assert_eq!(alloc.quota_consumed("eng").get("cpus"), Some(&1.0));
}
