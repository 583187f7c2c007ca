//! DRF ordering: task tables, dominant shares across resource kinds, interleaving within a
//! cycle, and role weights.

use super::*;
use crate::Error;

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
