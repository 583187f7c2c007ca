//! Quota benchmark: Mesos' `BENCHMARK_HierarchicalAllocator_WithQuotaParam.LargeAndSmallQuota`
//! at its largest size. 3,000 agents of `cpus:2;mem:2048;disk:2048`, 2,500 roles with a quota
//! of half an agent and 500 with two agents' worth (guarantees = limits), one framework each;
//! one allocation cycle offers every guarantee (3,500 offers) and the next offers nothing.
//! Mesos 1.9 took 15.4 s for the first cycle.
//!
//! `cargo bench -p drover-bench --bench allocator_quota`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use drover_allocator::{Allocator, Config, Quota};
use drover_api::Resources;
use std::collections::BTreeMap;
use std::time::Duration;

fn quota(cpus: f64, mem: f64, disk: f64) -> Quota {
    let m: BTreeMap<String, f64> = [("cpus", cpus), ("mem", mem), ("disk", disk)]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    Quota {
        guarantees: m.clone(),
        limits: m,
    }
}

/// The cluster and its quotas, before the first cycle. Roles are named as in Mesos' benchmark
/// (the large ones sort first by name while all shares are 0).
fn prepared(small: usize, large: usize) -> Allocator {
    let mut a = Allocator::new(Config {
        seed: 42,
        ..Config::default()
    });
    let (sq, lq) = (quota(1.0, 1024.0, 1024.0), quota(4.0, 4096.0, 4096.0));
    let roles = (0..small)
        .map(|i| (format!("smallQuotaRole{i}"), &sq))
        .chain((0..large).map(|i| (format!("largeQuotaRole{i}"), &lq)));
    for (i, (role, q)) in roles.enumerate() {
        a.add_framework(
            &format!("framework-{i}"),
            std::slice::from_ref(&role),
            &[],
            &[],
        );
        a.set_quota(&role, q).expect("quota");
    }
    let res = Resources::parse("cpus:2;mem:2048;disk:2048").expect("agent resources");
    for j in 0..small / 5 + large * 5 {
        a.add_agent(&format!("agent-{j}"), res.clone(), &[]);
    }
    a
}

fn large_and_small_quota(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator/quota");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (small, large) in [(250, 50), (2_500, 500)] {
        let agents = small / 5 + large * 5;
        let base = prepared(small, large);
        let mut check = base.clone();
        let offers = check.allocate(0.0);
        assert_eq!(offers.len(), small + 2 * large, "every guarantee, once");
        assert!(check.allocate(1.0).is_empty(), "nothing beyond the limits");
        let roles = small + large;
        g.bench_function(
            format!("{agents}_agents_x_{roles}_roles_x_{roles}_frameworks"),
            |b| {
                b.iter_batched(
                    || base.clone(),
                    |mut a| {
                        let offers = a.allocate(0.0);
                        (a, offers)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
        g.bench_function(format!("{agents}_agents_second_cycle"), |b| {
            b.iter_batched(
                || check.clone(),
                |mut a| {
                    let offers = a.allocate(2.0);
                    (a, offers)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, large_and_small_quota);
criterion_main!(benches);
