//! Quota: guarantees met before fair sharing, headroom held back for guarantees not yet met,
//! limits never exceeded (reservations count), and agents held back by a limit offered again
//! when the role gives something back.

use super::*;

fn quota(guarantees: &[(&str, f64)], limits: &[(&str, f64)]) -> Quota {
    let m = |v: &[(&str, f64)]| v.iter().map(|(n, x)| (n.to_string(), *x)).collect();
    Quota {
        guarantees: m(guarantees),
        limits: m(limits),
    }
}

/// Offered cpus of each framework over `offers`.
fn cpus_by_framework(offers: &[Allocation]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for o in offers {
        *m.entry(o.framework_id.clone()).or_insert(0.0) += o.resources.scalar("cpus");
    }
    m
}

#[test]
fn quota_is_only_on_the_fixed_scalars_and_reads_back() {
    let mut alloc = by_id();
    let err = alloc.set_quota("q", &quota(&[("bw", 1.0)], &[]));
    assert_eq!(
        err,
        Err(crate::Error::QuotaResource {
            role: "q".into(),
            name: "bw".into()
        })
    );
    assert!(matches!(
        alloc.set_quota("q", &quota(&[("cpus", -1.0)], &[])),
        Err(crate::Error::QuotaValue { .. })
    ));
    assert!(matches!(
        alloc.set_quota("q", &quota(&[("mem", 2.0)], &[("mem", 1.0)])),
        Err(crate::Error::GuaranteeAboveLimit { .. })
    ));
    let q = quota(&[("cpus", 2.0), ("mem", 512.0)], &[("cpus", 4.0)]);
    alloc.set_quota("q", &q).unwrap();
    assert_eq!(alloc.quota("q"), q);
    alloc.set_quota("q", &Quota::default()).unwrap();
    assert!(alloc.quota("q").is_default());
    assert!(alloc.quota("never").is_default());
}

#[test]
fn a_guarantee_is_held_back_from_other_roles_until_its_role_comes() {
    let mut alloc = by_id();
    alloc
        .set_quota("q", &quota(&[("cpus", 4.0), ("mem", 4096.0)], &[]))
        .unwrap();
    alloc.add_framework("a", &names(&["a"]), &[], &[]);
    for id in ["x", "y"] {
        alloc.add_agent(id, res("cpus:4;mem:4096"), &[]);
    }
    // Role a alone wants everything; one agent's worth is headroom for q's guarantee.
    let o = alloc.allocate(0.0);
    assert_eq!(cpus_by_framework(&o), BTreeMap::from([("a".into(), 4.0)]));
    assert!(alloc.allocate(1.0).is_empty());
    // q's framework arrives: the held-back agent goes to it whole.
    alloc.add_framework("q", &names(&["q"]), &[], &[]);
    let o = alloc.allocate(2.0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].framework_id, "q");
    assert_eq!(o[0].resources, res("cpus:4;mem:4096"));
    assert_eq!(
        alloc.quota_consumed("q"),
        BTreeMap::from([("cpus".into(), 4.0), ("mem".into(), 4096.0)])
    );
}

#[test]
fn guarantees_come_before_fair_shares() {
    // Role a holds nothing and sorts first, but q's guarantee is served in stage 1.
    let mut alloc = by_id();
    alloc
        .set_quota("q", &quota(&[("cpus", 2.0)], &[("cpus", 2.0)]))
        .unwrap();
    alloc.add_framework("a", &names(&["a"]), &[], &[]);
    alloc.add_framework("q", &names(&["q"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "q"), ("x", "a")]);
    // q is cut to its guarantee (= limit) in cpus; mem, with no guarantee or limit, all of it.
    assert_eq!(o[0].resources, res("cpus:2;mem:4096"));
    assert_eq!(o[1].resources, res("cpus:2"));
}

#[test]
fn limits_are_never_exceeded_and_reservations_count() {
    let mut alloc = by_id();
    alloc.set_quota("l", &quota(&[], &[("cpus", 3.0)])).unwrap();
    alloc.add_framework("l", &names(&["l"]), &[], &[]);
    for id in ["x", "y", "z"] {
        alloc.add_agent(id, res("cpus:2;mem:1024"), &[]);
    }
    // It keeps all it is offered: 3 cpus in all, over two agents.
    let mut total = 0.0;
    for t in 0..5 {
        total += alloc
            .allocate(t as f64)
            .iter()
            .map(|o| o.resources.scalar("cpus"))
            .sum::<f64>();
    }
    assert_eq!(total, 3.0);
    // Another role gets the rest.
    alloc.add_framework("b", &names(&["b"]), &[], &[]);
    let o = alloc.allocate(10.0);
    assert_eq!(cpus_by_framework(&o), BTreeMap::from([("b".into(), 3.0)]));

    // A reservation counts against the limit: with cpus(r):2 reserved and a limit of 2, r is
    // offered its reservation and no unreserved cpus (unlimited mem still comes along).
    let mut alloc = by_id();
    alloc.set_quota("r", &quota(&[], &[("cpus", 2.0)])).unwrap();
    alloc.add_framework("r", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:1024;cpus(r):2"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].resources.scalar("cpus"), 2.0);
    assert_eq!(o[0].resources.usable_by("*").scalar("cpus"), 0.0);
    assert_eq!(o[0].resources.scalar("mem"), 1024.0);
    assert_eq!(
        alloc.quota_consumed("r"),
        BTreeMap::from([("cpus".into(), 2.0), ("mem".into(), 1024.0)])
    );
}

#[test]
fn an_agent_held_back_by_a_limit_is_offered_when_the_role_gives_back() {
    let mut alloc = by_id();
    alloc.set_quota("l", &quota(&[], &[("cpus", 2.0)])).unwrap();
    alloc.add_framework("l", &names(&["l"]), &[], &[]);
    alloc.add_agent("x", res("cpus:2"), &[]);
    alloc.add_agent("y", res("cpus:2"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "l")]);
    assert!(alloc.allocate(1.0).is_empty());
    // It gives back one cpu of x and declines x for an hour: only y can take the room.
    alloc.recover("x", "l", "l", &res("cpus:1"), 3600.0, 2.0);
    let o = alloc.allocate(2.0);
    assert_eq!(pairs(&o), [("y", "l")]);
    assert_eq!(o[0].resources, res("cpus:1"));
}

#[test]
fn mesos_quota_benchmark_in_small_allocates_every_guarantee_and_nothing_more() {
    // Mesos' LargeAndSmallQuota at a tenth: 25 roles with a quota of half an agent, 5 with two
    // agents' worth; guarantees = limits. As there, the large roles sort first by name (all
    // shares are 0), so no agent is split between a small and a large role: one cycle makes
    // 25 + 5 × 2 offers; the next, none.
    let mut alloc = Allocator::new(Config {
        seed: 7,
        ..Config::default()
    });
    let small = quota(
        &[("cpus", 1.0), ("mem", 1024.0), ("disk", 1024.0)],
        &[("cpus", 1.0), ("mem", 1024.0), ("disk", 1024.0)],
    );
    let large = quota(
        &[("cpus", 4.0), ("mem", 4096.0), ("disk", 4096.0)],
        &[("cpus", 4.0), ("mem", 4096.0), ("disk", 4096.0)],
    );
    for i in 0..30 {
        let role = if i < 25 {
            format!("small-{i}")
        } else {
            format!("large-{i}")
        };
        let q = if i < 25 { &small } else { &large };
        alloc.set_quota(&role, q).unwrap();
        alloc.add_framework(&format!("fw-{i}"), &names(&[&role]), &[], &[]);
    }
    for j in 0..30 {
        alloc.add_agent(&format!("agent-{j}"), res("cpus:2;mem:2048;disk:2048"), &[]);
    }
    let o = alloc.allocate(0.0);
    assert_eq!(o.len(), 35);
    let got = cpus_by_framework(&o);
    for i in 0..30 {
        let want = if i < 25 { 1.0 } else { 4.0 };
        assert_eq!(got[&format!("fw-{i}")], want, "fw-{i}");
    }
    assert!(alloc.allocate(1.0).is_empty());
}
