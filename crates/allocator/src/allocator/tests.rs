//! Allocator tests: DRF tables, weights, filters, suppression, reservations, minimum sizes,
//! failover bookkeeping, determinism, and proptest invariants against a plain model.
#![allow(clippy::unwrap_used)]

use super::*;
use drover_api::resources::{ranges_contain, to_fixed};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn res(text: &str) -> Resources {
    Resources::parse(text).expect("resources")
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Agents visited by id, so tables can name which agent goes where.
fn by_id() -> Allocator {
    Allocator::new(Config {
        shuffle_agents: false,
        ..Config::default()
    })
}

fn pairs(offers: &[Allocation]) -> Vec<(&str, &str)> {
    offers
        .iter()
        .map(|o| (o.agent_id.as_str(), o.framework_id.as_str()))
        .collect()
}

/// Frameworks that launch one task per offer when it fits and give back the rest, declining
/// (with a long filter) offers too small; returns who launched, in order.
fn launch_until_full(alloc: &mut Allocator, demand: &BTreeMap<&str, (f64, f64)>) -> Vec<String> {
    let mut launched = Vec::new();
    let mut now = 0.0;
    for _ in 0..100 {
        let offers = alloc.allocate(now);
        if offers.is_empty() {
            break;
        }
        for o in offers {
            let (cpus, mem) = demand[o.framework_id.as_str()];
            let task = res(&format!("cpus:{cpus};mem:{mem}"));
            if o.resources.contains(&task) {
                let mut rest = o.resources.clone();
                rest.subtract_all(&task);
                alloc.recover(&o.agent_id, &o.framework_id, &o.role, &rest, 0.0, now);
                launched.push(o.framework_id.clone());
            } else {
                alloc.recover(
                    &o.agent_id,
                    &o.framework_id,
                    &o.role,
                    &o.resources,
                    1000.0,
                    now,
                );
            }
        }
        now += 1.0;
    }
    launched
}

#[test]
fn drf_task_tables() {
    struct Case {
        name: &'static str,
        agent: &'static str,
        weights: &'static [(&'static str, f64)],
        /// (framework, role, task cpus, task mem)
        frameworks: &'static [(&'static str, &'static str, f64, f64)],
        expect: &'static [&'static str],
    }
    // The DRF paper's example (9 CPUs, 18 GB; A's tasks <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>):
    // A runs three tasks, B two, both end with a dominant share of 2/3.
    let cases = [
        Case {
            name: "paper example, one role",
            agent: "cpus:9;mem:18432",
            weights: &[],
            frameworks: &[("a", "r", 1.0, 4096.0), ("b", "r", 3.0, 1024.0)],
            expect: &["a", "b", "a", "b", "a"],
        },
        Case {
            name: "paper example, two roles",
            agent: "cpus:9;mem:18432",
            weights: &[],
            frameworks: &[("a", "ra", 1.0, 4096.0), ("b", "rb", 3.0, 1024.0)],
            expect: &["a", "b", "a", "b", "a"],
        },
        Case {
            name: "weight 2 gets twice the tasks",
            agent: "cpus:12;mem:12288",
            weights: &[("ra", 2.0)],
            frameworks: &[("a", "ra", 1.0, 1024.0), ("b", "rb", 1.0, 1024.0)],
            expect: &["a", "b", "a", "a", "b", "a", "a", "b", "a", "a", "b", "a"],
        },
        Case {
            name: "weights do not apply between frameworks of one role",
            agent: "cpus:4;mem:4096",
            weights: &[("r", 3.0)],
            frameworks: &[("a", "r", 1.0, 1024.0), ("b", "r", 1.0, 1024.0)],
            expect: &["a", "b", "a", "b"],
        },
    ];
    for c in cases {
        let mut alloc = by_id();
        for (role, w) in c.weights {
            alloc.set_weight(role, *w).unwrap();
        }
        let mut demand = BTreeMap::new();
        for (fw, role, cpus, mem) in c.frameworks {
            alloc.add_framework(fw, &names(&[role]), &[], &[]);
            demand.insert(*fw, (*cpus, *mem));
        }
        alloc.add_agent("agent", res(c.agent), &[]);
        let launched = launch_until_full(&mut alloc, &demand);
        assert_eq!(launched, c.expect, "{}", c.name);
    }
}

#[test]
fn paper_example_ends_with_equal_dominant_shares() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["ra"]), &[], &[]);
    alloc.add_framework("b", &names(&["rb"]), &[], &[]);
    alloc.add_agent("agent", res("cpus:9;mem:18432"), &[]);
    let demand = BTreeMap::from([("a", (1.0, 4096.0)), ("b", (3.0, 1024.0))]);
    launch_until_full(&mut alloc, &demand);
    let shares = alloc.role_shares();
    assert_eq!(shares.len(), 2);
    for (role, weight, share) in shares {
        assert_eq!(weight, 1.0, "{role}");
        assert!((share - 2.0 / 3.0).abs() < 1e-9, "{role}: {share}");
    }
    assert_eq!(alloc.framework_allocated("a").scalar("mem"), 12288.0);
    assert_eq!(alloc.framework_allocated("b").scalar("cpus"), 6.0);
}

#[test]
fn dominant_share_picks_across_resource_kinds() {
    // Cluster: 20 cpus, 20480 mem. a holds cpus (dominant share 0.4), b holds mem (0.3): b gets
    // the rest of a0 (then 0.45), so a gets a1.
    for roles in [["r", "r"], ["ra", "rb"]] {
        let mut alloc = by_id();
        alloc.add_framework("a", &names(&[roles[0]]), &[], &[]);
        alloc.add_framework("b", &names(&[roles[1]]), &[], &[]);
        let used = vec![
            (
                "a".to_string(),
                roles[0].to_string(),
                res("cpus:8;mem:1024"),
            ),
            (
                "b".to_string(),
                roles[1].to_string(),
                res("cpus:1;mem:6144"),
            ),
        ];
        alloc.add_agent("a0", res("cpus:10;mem:10240"), &used);
        alloc.add_agent("a1", res("cpus:10;mem:10240"), &[]);
        let offers = alloc.allocate(0.0);
        assert_eq!(pairs(&offers), [("a0", "b"), ("a1", "a")], "{roles:?}");
        assert_eq!(offers[0].resources, res("cpus:1;mem:3072"));
    }
}

#[test]
fn one_cycle_interleaves_frameworks_across_agents() {
    let mut alloc = by_id();
    for fw in ["a", "b", "c"] {
        alloc.add_framework(fw, &names(&["r"]), &[], &[]);
    }
    for i in 0..6 {
        alloc.add_agent(&format!("agent{i}"), res("cpus:4;mem:4096"), &[]);
    }
    let offers = alloc.allocate(0.0);
    let who: Vec<&str> = offers.iter().map(|o| o.framework_id.as_str()).collect();
    assert_eq!(who, ["a", "b", "c", "a", "b", "c"]);

    // Shuffled, the agents differ but the fair split does not.
    let mut alloc = Allocator::new(Config {
        seed: 9,
        ..Config::default()
    });
    for fw in ["a", "b", "c"] {
        alloc.add_framework(fw, &names(&["r"]), &[], &[]);
    }
    for i in 0..6 {
        alloc.add_agent(&format!("agent{i}"), res("cpus:4;mem:4096"), &[]);
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for o in alloc.allocate(0.0) {
        *count.entry(o.framework_id).or_default() += 1;
    }
    assert_eq!(count.values().copied().collect::<Vec<_>>(), [2, 2, 2]);
}

#[test]
fn weighted_roles_over_many_agents() {
    let mut alloc = Allocator::new(Config {
        seed: 3,
        ..Config::default()
    });
    alloc.set_weight("heavy", 2.0).unwrap();
    alloc.add_framework("h", &names(&["heavy"]), &[], &[]);
    alloc.add_framework("l", &names(&["light"]), &[], &[]);
    for i in 0..30 {
        alloc.add_agent(&format!("agent{i:02}"), res("cpus:4;mem:4096"), &[]);
    }
    let offers = alloc.allocate(0.0);
    let h = offers.iter().filter(|o| o.framework_id == "h").count();
    assert_eq!((h, offers.len() - h), (20, 10));
    let shares = alloc.role_shares();
    assert_eq!(shares[0].0, "heavy");
    assert_eq!(shares[0].1, 2.0);
    assert!((shares[0].2 - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn refuse_filters_expire_at_now() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    alloc.recover("x", "a", "r", &o.resources, 5.0, 0.0);
    assert!(alloc.has_work(1.0));
    assert!(alloc.allocate(1.0).is_empty());
    assert!(!alloc.has_work(1.0));
    assert_eq!(alloc.next_filter_expiry(), Some(5.0));
    assert!(!alloc.has_work(4.999));
    assert!(alloc.allocate(4.999).is_empty());
    assert!(alloc.has_work(5.0));
    assert_eq!(pairs(&alloc.allocate(5.0)), [("x", "a")]);
    assert_eq!(alloc.next_filter_expiry(), None);
}

#[test]
fn a_replaced_filter_takes_effect_at_once() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    alloc.recover("x", "a", "r", &o.resources, 100.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    assert_eq!(alloc.next_filter_expiry(), Some(100.0));
    // A later filter replaces the first: it refused less, so the agent is offered again.
    alloc.recover("x", "a", "r", &res("cpus:1"), 1.0, 1.0);
    assert_eq!(pairs(&alloc.allocate(1.0)), [("x", "a")]);
}

#[test]
fn filtered_framework_is_skipped_for_the_next() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_framework("b", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    assert_eq!(o.framework_id, "a");
    alloc.recover("x", "a", "r", &o.resources, 10.0, 0.0);
    assert_eq!(pairs(&alloc.allocate(1.0)), [("x", "b")]);
}

#[test]
fn filter_holds_back_only_offers_no_larger_than_refused() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    let used = vec![("b".to_string(), "s".to_string(), res("cpus:2;mem:1024"))];
    alloc.add_framework("b", &names(&["s"]), &names(&["s"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &used);
    let o = alloc.allocate(0.0).remove(0);
    assert_eq!(o.resources, res("cpus:2;mem:3072"));
    alloc.recover("x", "a", "r", &o.resources, 100.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    // b's task ends: the agent now has more than a refused, so the filter no longer applies.
    alloc.recover("x", "b", "s", &res("cpus:2;mem:1024"), 0.0, 2.0);
    let again = alloc.allocate(2.0);
    assert_eq!(pairs(&again), [("x", "a")]);
    assert_eq!(again[0].resources, res("cpus:4;mem:4096"));
}

#[test]
fn suppress_and_revive() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r1", "r2"]), &names(&["r1"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(o[0].role, "r2");
    alloc.recover("x", "a", "r2", &o[0].resources, 1000.0, 0.0);
    alloc.suppress("a", &[]);
    assert!(alloc.allocate(1.0).is_empty());
    alloc.revive("a", &names(&["r1"]));
    let o = alloc.allocate(1.0);
    assert_eq!(
        (o[0].framework_id.as_str(), o[0].role.as_str()),
        ("a", "r1")
    );
    alloc.recover("x", "a", "r1", &o[0].resources, 1000.0, 1.0);
    assert!(alloc.allocate(2.0).is_empty());
    // Revive drops the filters too.
    alloc.revive("a", &[]);
    assert!(alloc.has_work(2.0));
    assert_eq!(alloc.allocate(2.0).len(), 1);

    // Suppressed at subscription, unsuppressed by an update.
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &names(&["r"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    assert!(alloc.allocate(0.0).is_empty());
    alloc.update_framework("a", &names(&["r"]), &[]);
    assert_eq!(alloc.allocate(0.0).len(), 1);
}

#[test]
fn deactivated_framework_keeps_its_resources_but_gets_no_offers() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    alloc.add_agent("y", res("cpus:4;mem:4096"), &[]);
    let _ = alloc.allocate(0.0);
    alloc.deactivate_framework("a");
    alloc.recover("y", "a", "r", &res("cpus:4;mem:4096"), 0.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    assert_eq!(alloc.framework_allocated("a"), res("cpus:4;mem:4096"));
    alloc.activate_framework("a");
    assert_eq!(pairs(&alloc.allocate(1.0)), [("y", "a")]);
}

#[test]
fn reserved_resources_go_only_to_their_role() {
    let agent = "cpus:4;mem:4096;cpus(web):2;mem(web):1024";
    // Only the batch role: it gets the unreserved part, the reservation stays.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    alloc.add_agent("x", res(agent), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "batch")]);
    assert_eq!(o[0].resources, res("cpus:4;mem:4096"));
    assert_eq!(
        alloc.agent_available("x"),
        Some(res("cpus(web):2;mem(web):1024"))
    );
    assert!(!alloc.has_work(0.0));
    // A web framework arrives: it gets the reservation alone.
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    assert!(alloc.has_work(0.0));
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    assert_eq!(o[0].resources, res("cpus(web):2;mem(web):1024"));
    assert_eq!(o[0].resources.usable_by("*").scalar("cpus"), 0.0);

    // Web first (lower share by name order): unreserved and reserved together.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["zbatch"]), &[], &[]);
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    alloc.add_agent("x", res(agent), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    assert_eq!(o[0].resources, res(agent));

    // A reservation of one role is never offered to another.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    alloc.add_agent("x", res("cpus(web):2;mem(web):1024"), &[]);
    assert!(alloc.allocate(0.0).is_empty());
}

#[test]
fn minimum_allocatable_resources() {
    struct Case {
        agent: &'static str,
        config: Config,
        offered: bool,
    }
    let default = Config {
        shuffle_agents: false,
        ..Config::default()
    };
    let cases = [
        Case {
            agent: "cpus:0.005;mem:16;disk:100",
            config: default.clone(),
            offered: false,
        },
        Case {
            agent: "cpus:0.01",
            config: default.clone(),
            offered: true,
        },
        Case {
            agent: "mem:32",
            config: default.clone(),
            offered: true,
        },
        Case {
            agent: "disk:1000;ports:[1-100]",
            config: default.clone(),
            offered: false,
        },
        Case {
            agent: "cpus:1;mem:100",
            config: Config {
                min_cpus: 2.0,
                min_mem: 200.0,
                ..default.clone()
            },
            offered: false,
        },
        Case {
            agent: "cpus:2;mem:100",
            config: Config {
                min_cpus: 2.0,
                min_mem: 200.0,
                ..default.clone()
            },
            offered: true,
        },
    ];
    for c in cases {
        let mut alloc = Allocator::new(c.config);
        alloc.add_framework("a", &names(&["r"]), &[], &[]);
        alloc.add_agent("x", res(c.agent), &[]);
        assert_eq!(!alloc.allocate(0.0).is_empty(), c.offered, "{}", c.agent);
        assert!(!alloc.has_work(0.0), "{}", c.agent);
    }
    // What is left after a task is not offered when too small.
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:1;mem:64"), &[]);
    let _ = alloc.allocate(0.0);
    alloc.recover("x", "a", "r", &res("cpus:0.005;mem:16"), 0.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
}

#[test]
fn remove_framework_returns_its_resources() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_framework("b", &names(&["s"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096;ports:[31000-32000]"), &[]);
    assert_eq!(pairs(&alloc.allocate(0.0)), [("x", "a")]);
    assert_eq!(alloc.agent_available("x"), Some(Resources::new()));
    alloc.remove_framework("a");
    assert_eq!(
        alloc.agent_available("x"),
        Some(res("cpus:4;mem:4096;ports:[31000-32000]"))
    );
    assert_eq!(alloc.framework_allocated("a"), Resources::new());
    assert_eq!(pairs(&alloc.allocate(1.0)), [("x", "b")]);
    let shares = alloc.role_shares();
    assert_eq!(
        shares.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["s"]
    );
}

#[test]
fn agent_reports_before_framework_is_added_are_counted_once() {
    let mut alloc = by_id();
    let used = vec![("a".to_string(), "r".to_string(), res("cpus:2;mem:2048"))];
    alloc.add_agent("x", res("cpus:4;mem:4096"), &used);
    assert_eq!(alloc.framework_allocated("a"), res("cpus:2;mem:2048"));
    assert_eq!(alloc.role_shares(), [("r".to_string(), 1.0, 0.5)]);
    // Not registered yet: no offers for it.
    assert!(alloc.allocate(0.0).is_empty());
    let fw_used = vec![("x".to_string(), "r".to_string(), res("cpus:2;mem:2048"))];
    alloc.add_framework("a", &names(&["r"]), &[], &fw_used);
    assert_eq!(alloc.framework_allocated("a"), res("cpus:2;mem:2048"));
    let o = alloc.allocate(0.0);
    assert_eq!(o[0].resources, res("cpus:2;mem:2048"));
    // An agent that leaves takes the allocations with it.
    alloc.remove_agent("x");
    assert_eq!(alloc.framework_allocated("a"), Resources::new());
    assert_eq!(alloc.role_shares(), [("r".to_string(), 1.0, 0.0)]);

    // The other way round: framework first, then the agent re-registers.
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &names_used("x", "r", "cpus:1"));
    alloc.add_agent(
        "x",
        res("cpus:4;mem:4096"),
        &[("a".to_string(), "r".to_string(), res("cpus:1"))],
    );
    assert_eq!(alloc.framework_allocated("a"), res("cpus:1"));
    // A placeholder for a framework the master never re-adds goes when it holds nothing.
    alloc.add_agent(
        "y",
        res("cpus:4;mem:4096"),
        &[("ghost".to_string(), "g".to_string(), res("cpus:1"))],
    );
    alloc.remove_agent("y");
    assert!(!alloc.framework_ids.contains_key("ghost"));
}

fn names_used(agent: &str, role: &str, r: &str) -> Vec<(String, String, Resources)> {
    vec![(agent.to_string(), role.to_string(), res(r))]
}

#[test]
fn re_adding_an_agent_replaces_it() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let _ = alloc.allocate(0.0);
    alloc.add_agent("x", res("cpus:8;mem:4096"), &[]);
    assert_eq!(alloc.framework_allocated("a"), Resources::new());
    let o = alloc.allocate(1.0);
    assert_eq!(o[0].resources, res("cpus:8;mem:4096"));
    // A recover naming the old agent's resources only returns what is held.
    alloc.recover("x", "a", "r", &res("cpus:100;mem:4096"), 0.0, 1.0);
    assert_eq!(alloc.agent_available("x"), Some(res("cpus:8;mem:4096")));
}

#[test]
fn cycles_cost_what_changed() {
    let mut alloc = Allocator::new(Config::default());
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_framework("b", &names(&["r"]), &[], &[]);
    for i in 0..1000 {
        alloc.add_agent(&format!("agent{i}"), res("cpus:4;mem:4096"), &[]);
    }
    let offers = alloc.allocate(0.0);
    assert_eq!(offers.len(), 1000);
    assert!(!alloc.has_work(0.0));
    assert!(alloc.allocate(0.0).is_empty());
    for o in &offers[..2] {
        alloc.recover(
            &o.agent_id,
            &o.framework_id,
            &o.role,
            &res("cpus:1;mem:1024"),
            0.0,
            1.0,
        );
    }
    assert_eq!(alloc.queued, 2);
    let o = alloc.allocate(1.0);
    assert_eq!(o.len(), 2);
    assert!(alloc.queue.is_empty() && alloc.queued == 0);
}

#[test]
fn invalid_weight_is_refused() {
    let mut alloc = by_id();
    for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            alloc.set_weight("r", w),
            Err(Error::InvalidWeight { .. })
        ));
    }
    assert!(alloc.role_shares().is_empty());
}

fn scripted(seed: u64) -> Vec<Allocation> {
    let mut alloc = Allocator::new(Config {
        seed,
        ..Config::default()
    });
    alloc.set_weight("r1", 1.5).unwrap();
    for f in 0..7 {
        alloc.add_framework(
            &format!("fw{f}"),
            &names(&[["r0", "r1", "r2"][f % 3]]),
            &[],
            &[],
        );
    }
    for i in 0..40 {
        alloc.add_agent(
            &format!("agent{i}"),
            res(&format!("cpus:{};mem:{}", 1 + i % 5, 1024 * (1 + i % 3))),
            &[],
        );
    }
    let mut all = Vec::new();
    for t in 0..5 {
        let now = f64::from(t);
        let offers = alloc.allocate(now);
        for (k, o) in offers.iter().enumerate() {
            let refuse = if k % 3 == 0 { 2.0 } else { 0.0 };
            alloc.recover(
                &o.agent_id,
                &o.framework_id,
                &o.role,
                &o.resources,
                refuse,
                now,
            );
        }
        all.extend(offers);
    }
    all
}

#[test]
fn same_inputs_same_allocations() {
    assert_eq!(scripted(1), scripted(1));
    assert_eq!(scripted(2), scripted(2));
    assert!(!scripted(1).is_empty());
}

// ----- proptest: the allocator against a plain model -----

#[derive(Clone, Debug)]
enum Op {
    AddAgent {
        id: u8,
        cpus: u8,
        mem: u16,
        reserve: Option<(u8, u8)>,
        port_lo: u16,
        port_len: u8,
    },
    RemoveAgent(u8),
    AddFramework {
        id: u8,
        roles: Vec<u8>,
        suppressed: Vec<u8>,
    },
    RemoveFramework(u8),
    Activate(u8),
    Deactivate(u8),
    Suppress(u8, Vec<u8>),
    Revive(u8, Vec<u8>),
    SetWeight(u8, u8),
    Recover {
        pick: usize,
        partial: bool,
        refuse: u8,
    },
    Allocate {
        dt: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let roles = || proptest::collection::vec(0u8..3, 0..3);
    prop_oneof![
        3 => (0u8..6, 0u8..40, 0u16..4096, proptest::option::of((0u8..3, 1u8..8)), 0u16..50, 0u8..20).prop_map(
            |(id, cpus, mem, reserve, port_lo, port_len)| Op::AddAgent { id, cpus, mem, reserve, port_lo, port_len }
        ),
        1 => (0u8..6).prop_map(Op::RemoveAgent),
        3 => (0u8..5, roles(), roles()).prop_map(|(id, roles, suppressed)| Op::AddFramework { id, roles, suppressed }),
        1 => (0u8..5).prop_map(Op::RemoveFramework),
        1 => (0u8..5).prop_map(Op::Activate),
        1 => (0u8..5).prop_map(Op::Deactivate),
        1 => (0u8..5, roles()).prop_map(|(f, r)| Op::Suppress(f, r)),
        1 => (0u8..5, roles()).prop_map(|(f, r)| Op::Revive(f, r)),
        1 => (0u8..3, 1u8..4).prop_map(|(r, w)| Op::SetWeight(r, w)),
        5 => (any::<usize>(), any::<bool>(), prop_oneof![0u8..1, 1u8..6]).prop_map(|(pick, partial, refuse)| Op::Recover { pick, partial, refuse }),
        4 => (0u8..3).prop_map(|dt| Op::Allocate { dt }),
    ]
}

#[derive(Clone, Debug, Default)]
struct MFramework {
    roles: BTreeSet<String>,
    suppressed: BTreeSet<String>,
    active: bool,
}

#[derive(Default)]
struct Model {
    agents: BTreeMap<String, Resources>,
    frameworks: BTreeMap<String, MFramework>,
    /// (agent, framework, role, resources) outstanding.
    held: Vec<(String, String, String, Resources)>,
    /// (framework, role, agent) -> (expiry, refused)
    filters: BTreeMap<(String, String, String), (f64, Resources)>,
    now: f64,
}

fn role_names(v: &[u8]) -> Vec<String> {
    v.iter().map(|r| format!("r{r}")).collect()
}

fn covers(refused: &Resources, offer: &Resources) -> bool {
    ["cpus", "mem", "disk", "gpus"]
        .iter()
        .all(|k| to_fixed(offer.scalar(k)) <= to_fixed(refused.scalar(k)))
        && ranges_contain(&refused.ranges("ports"), &offer.ranges("ports"))
}

fn worth_offering(r: &Resources) -> bool {
    !r.is_empty()
        && (to_fixed(r.scalar("cpus")) >= to_fixed(0.01)
            || to_fixed(r.scalar("mem")) >= to_fixed(32.0))
}

impl Model {
    fn filtered(&self, fw: &str, role: &str, agent: &str, offer: &Resources) -> bool {
        self.filters
            .get(&(fw.to_string(), role.to_string(), agent.to_string()))
            .is_some_and(|(expiry, refused)| self.now < *expiry && covers(refused, offer))
    }

    fn drop_filters(&mut self, pred: impl Fn(&(String, String, String)) -> bool) {
        self.filters.retain(|k, _| !pred(k));
    }

    fn matching(&self, fw: &str, roles: &[String]) -> Vec<String> {
        let Some(m) = self.frameworks.get(fw) else {
            return Vec::new();
        };
        m.roles
            .iter()
            .filter(|r| roles.is_empty() || roles.contains(r))
            .cloned()
            .collect()
    }
}

/// Apply `ops` to a fresh allocator and the model, checking invariants; returns all offers.
fn run(ops: &[Op], seed: u64) -> Result<Vec<Allocation>, TestCaseError> {
    let mut alloc = Allocator::new(Config {
        seed,
        ..Config::default()
    });
    let mut m = Model::default();
    let mut log = Vec::new();
    for op in ops {
        match op {
            Op::AddAgent {
                id,
                cpus,
                mem,
                reserve,
                port_lo,
                port_len,
            } => {
                let agent = format!("agent{id}");
                let mut text = format!(
                    "cpus:{};mem:{mem};disk:10;ports:[{}-{}]",
                    f64::from(*cpus) / 4.0,
                    port_lo,
                    port_lo + u16::from(*port_len)
                );
                if let Some((r, c)) = reserve {
                    text.push_str(&format!(";cpus(r{r}):{c};mem(r{r}):256"));
                }
                let total = res(&text);
                m.held.retain(|h| h.0 != agent);
                m.drop_filters(|k| k.2 == agent);
                m.agents.insert(agent.clone(), total.clone());
                alloc.add_agent(&agent, total, &[]);
            }
            Op::RemoveAgent(id) => {
                let agent = format!("agent{id}");
                m.agents.remove(&agent);
                m.held.retain(|h| h.0 != agent);
                m.drop_filters(|k| k.2 == agent);
                alloc.remove_agent(&agent);
            }
            Op::AddFramework {
                id,
                roles,
                suppressed,
            } => {
                let fw = format!("fw{id}");
                let roles = role_names(roles);
                let suppressed = role_names(suppressed);
                let entry = m.frameworks.entry(fw.clone()).or_default();
                let gone: Vec<String> = entry
                    .roles
                    .iter()
                    .filter(|r| !roles.contains(r))
                    .cloned()
                    .collect();
                entry.roles = roles.iter().cloned().collect();
                entry.suppressed = suppressed
                    .iter()
                    .filter(|r| roles.contains(r))
                    .cloned()
                    .collect();
                entry.active = true;
                m.drop_filters(|k| k.0 == fw && gone.contains(&k.1));
                alloc.add_framework(&fw, &roles, &suppressed, &[]);
            }
            Op::RemoveFramework(id) => {
                let fw = format!("fw{id}");
                m.frameworks.remove(&fw);
                m.held.retain(|h| h.1 != fw);
                m.drop_filters(|k| k.0 == fw);
                alloc.remove_framework(&fw);
            }
            Op::Activate(id) => {
                let fw = format!("fw{id}");
                if let Some(f) = m.frameworks.get_mut(&fw) {
                    f.active = true;
                }
                alloc.activate_framework(&fw);
            }
            Op::Deactivate(id) => {
                let fw = format!("fw{id}");
                if let Some(f) = m.frameworks.get_mut(&fw) {
                    f.active = false;
                }
                m.drop_filters(|k| k.0 == fw);
                alloc.deactivate_framework(&fw);
            }
            Op::Suppress(id, roles) => {
                let fw = format!("fw{id}");
                let roles = role_names(roles);
                for r in m.matching(&fw, &roles) {
                    m.frameworks.get_mut(&fw).unwrap().suppressed.insert(r);
                }
                alloc.suppress(&fw, &roles);
            }
            Op::Revive(id, roles) => {
                let fw = format!("fw{id}");
                let roles = role_names(roles);
                for r in m.matching(&fw, &roles) {
                    m.frameworks.get_mut(&fw).unwrap().suppressed.remove(&r);
                    m.drop_filters(|k| k.0 == fw && k.1 == r);
                }
                alloc.revive(&fw, &roles);
            }
            Op::SetWeight(r, w) => {
                alloc.set_weight(&format!("r{r}"), f64::from(*w)).unwrap();
            }
            Op::Recover {
                pick,
                partial,
                refuse,
            } => {
                if m.held.is_empty() {
                    continue;
                }
                let i = pick % m.held.len();
                let (agent, fw, role, held) = m.held[i].clone();
                let (back, kept): (Vec<_>, Vec<_>) = held
                    .iter()
                    .cloned()
                    .partition(|r| !*partial || r.name != "cpus");
                let back = Resources::from_list(&back);
                let kept = Resources::from_list(&kept);
                alloc.recover(&agent, &fw, &role, &back, f64::from(*refuse), m.now);
                if kept.is_empty() {
                    m.held.remove(i);
                } else {
                    m.held[i].3 = kept;
                }
                if *refuse > 0
                    && m.frameworks
                        .get(&fw)
                        .is_some_and(|f| f.roles.contains(&role))
                {
                    m.filters
                        .insert((fw, role, agent), (m.now + f64::from(*refuse), back));
                }
            }
            Op::Allocate { dt } => {
                m.now += f64::from(*dt);
                let offers = alloc.allocate(m.now);
                for o in &offers {
                    let f = m.frameworks.get(&o.framework_id);
                    prop_assert!(
                        f.is_some_and(|f| f.active),
                        "offer to inactive or unknown framework: {o:?}"
                    );
                    let f = f.unwrap();
                    prop_assert!(
                        f.roles.contains(&o.role) && !f.suppressed.contains(&o.role),
                        "{o:?} {f:?}"
                    );
                    for r in o.resources.iter() {
                        let rr = r.reservation_role();
                        prop_assert!(
                            rr == "*" || rr == o.role,
                            "reserved to {rr} offered to {}",
                            o.role
                        );
                    }
                    prop_assert!(worth_offering(&o.resources), "{o:?}");
                    prop_assert!(
                        !m.filtered(&o.framework_id, &o.role, &o.agent_id, &o.resources),
                        "{o:?}"
                    );
                }
                for o in &offers {
                    m.held.push((
                        o.agent_id.clone(),
                        o.framework_id.clone(),
                        o.role.clone(),
                        o.resources.clone(),
                    ));
                }
                prop_assert!(!alloc.has_work(m.now));
                // Maximal: whatever is left is unwanted by every eligible framework.
                for agent in m.agents.keys() {
                    let avail = alloc.agent_available(agent).unwrap();
                    for (fw, f) in m.frameworks.iter().filter(|(_, f)| f.active) {
                        for role in f.roles.iter().filter(|r| !f.suppressed.contains(*r)) {
                            let usable = avail.usable_by(role);
                            prop_assert!(
                                !worth_offering(&usable) || m.filtered(fw, role, agent, &usable),
                                "{agent} left {usable:?} that {fw} ({role}) would take"
                            );
                        }
                    }
                }
                log.extend(offers);
            }
        }
        // Conservation: available plus what is held is the total, with no resource twice.
        for (agent, total) in &m.agents {
            let mut sum = alloc.agent_available(agent).unwrap();
            for h in m.held.iter().filter(|h| &h.0 == agent) {
                let overlap = crate::pool::intersect(&sum.ranges("ports"), &h.3.ranges("ports"));
                prop_assert!(overlap.is_empty(), "ports {overlap:?} twice on {agent}");
                sum.add_all(&h.3);
            }
            prop_assert!(
                sum.contains(total) && total.contains(&sum),
                "{agent}: {sum:?} != {total:?}"
            );
        }
        for (fw, _) in m.frameworks.iter() {
            let mut want = Resources::new();
            for h in m.held.iter().filter(|h| &h.1 == fw) {
                want.add_all(&h.3);
            }
            let got = alloc.framework_allocated(fw);
            for k in ["cpus", "mem", "disk"] {
                prop_assert_eq!(
                    to_fixed(got.scalar(k)),
                    to_fixed(want.scalar(k)),
                    "{} {}",
                    fw,
                    k
                );
            }
        }
    }
    Ok(log)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_against_the_model(ops in proptest::collection::vec(op(), 1..60), seed in 0u64..4) {
        let first = run(&ops, seed)?;
        let second = run(&ops, seed)?;
        prop_assert_eq!(first, second);
    }
}
