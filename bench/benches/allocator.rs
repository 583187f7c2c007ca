//! Allocator benchmarks: one full allocation cycle over 1,000 to 50,000 agents, a small
//! incremental cycle on a busy cluster, a cycle where every framework has declined every agent,
//! and adding 10,000 agents.
//!
//! `cargo bench -p drover-bench --bench allocator`
//!
//! Agents are `cpus:32;mem:256000;disk:1000000;ports:[31000-32000]`. Frameworks are spread over
//! 10 to 50 roles of weights 1 to 4; a third of them are in a second role, one in ten is
//! suppressed in its first role, and one in ten holds an hour-long refuse filter on each agent
//! it was offered in a first cycle. Setup runs outside the timed part (`iter_batched` over a
//! clone of the prepared allocator).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use drover_allocator::{Allocator, Config};
use drover_api::Resources;
use std::time::Duration;

const AGENT: &str = "cpus:32;mem:256000;disk:1000000;ports:[31000-32000]";

fn agent_resources() -> Resources {
    Resources::parse(AGENT).expect("agent resources")
}

fn role(i: usize) -> String {
    format!("role-{i:02}")
}

fn with_frameworks(frameworks: usize, roles: usize) -> Allocator {
    let mut a = Allocator::new(Config {
        seed: 42,
        ..Config::default()
    });
    for r in 0..roles {
        a.set_weight(&role(r), 1.0 + (r % 4) as f64)
            .expect("weight");
    }
    for i in 0..frameworks {
        let mut rs = vec![role(i % roles)];
        if i % 3 == 0 {
            rs.push(role((i / 3 + 1) % roles));
        }
        let suppressed = if i % 10 == 3 {
            vec![rs[0].clone()]
        } else {
            Vec::new()
        };
        a.add_framework(&format!("fw-{i:05}"), &rs, &suppressed, &[]);
    }
    a
}

/// Every agent fully available; the frameworks whose id ends in 5 have declined, for an hour,
/// the agents they were offered in a first cycle.
fn prepared(agents: usize, frameworks: usize, roles: usize) -> Allocator {
    let mut a = with_frameworks(frameworks, roles);
    let res = agent_resources();
    for j in 0..agents {
        a.add_agent(&format!("agent-{j:05}"), res.clone(), &[]);
    }
    let offers = a.allocate(0.0);
    assert_eq!(offers.len(), agents);
    for o in &offers {
        let refuse = if o.framework_id.ends_with('5') {
            3600.0
        } else {
            0.0
        };
        a.recover(
            &o.agent_id,
            &o.framework_id,
            &o.role,
            &o.resources,
            refuse,
            1.0,
        );
    }
    a
}

fn full_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator/full_cycle");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (agents, frameworks, roles) in [(1_000, 100, 10), (10_000, 1_000, 25), (50_000, 6_000, 50)]
    {
        let base = prepared(agents, frameworks, roles);
        g.bench_function(format!("{agents}_agents_x_{frameworks}_frameworks"), |b| {
            b.iter_batched(
                || base.clone(),
                |mut a| {
                    let offers = a.allocate(2.0);
                    // Dropped outside the timed part.
                    (a, offers)
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// A busy cluster (everything offered or used) where 100 agents got resources back.
fn incremental_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator/incremental_cycle");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (agents, frameworks, roles) in [(10_000, 1_000, 25), (50_000, 6_000, 50)] {
        let mut busy = prepared(agents, frameworks, roles);
        let offers = busy.allocate(2.0);
        let back: Vec<_> = offers.into_iter().step_by(agents / 100).take(100).collect();
        g.bench_function(
            format!("{agents}_agents_x_{frameworks}_frameworks_100_recovered"),
            |b| {
                b.iter_batched(
                    || {
                        let mut a = busy.clone();
                        for o in &back {
                            a.recover(
                                &o.agent_id,
                                &o.framework_id,
                                &o.role,
                                &o.resources,
                                0.0,
                                3.0,
                            );
                        }
                        a
                    },
                    |mut a| {
                        let offers = a.allocate(3.0);
                        (a, offers)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

/// The worst case for one agent: every framework has declined it, so a visit walks all
/// candidates before parking the agent (later cycles skip it until a filter expires).
fn all_declined(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator/all_declined_cycle");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let (agents, frameworks, roles) = (1_000, 100, 10);
    let mut base = with_frameworks(frameworks, roles);
    let res = agent_resources();
    for j in 0..agents {
        base.add_agent(&format!("agent-{j:05}"), res.clone(), &[]);
    }
    for j in 0..agents {
        for i in 0..frameworks {
            let fw = format!("fw-{i:05}");
            let r = role(i % roles);
            base.recover(&format!("agent-{j:05}"), &fw, &r, &res, 3600.0, 0.0);
            if i % 3 == 0 {
                let r2 = role((i / 3 + 1) % roles);
                base.recover(&format!("agent-{j:05}"), &fw, &r2, &res, 3600.0, 0.0);
            }
        }
    }
    g.bench_function(format!("{agents}_agents_x_{frameworks}_frameworks"), |b| {
        b.iter_batched(
            || base.clone(),
            |mut a| {
                let offers = a.allocate(1.0);
                assert!(offers.is_empty());
                (a, offers)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn add_agents(c: &mut Criterion) {
    let mut g = c.benchmark_group("allocator/add_agents");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let base = with_frameworks(1_000, 25);
    let ids: Vec<String> = (0..10_000).map(|j| format!("agent-{j:05}")).collect();
    let res = agent_resources();
    g.bench_function("add_10000_agents", |b| {
        b.iter_batched(
            || (base.clone(), vec![res.clone(); ids.len()]),
            |(mut a, totals)| {
                for (id, total) in ids.iter().zip(totals) {
                    a.add_agent(id, total, &[]);
                }
                a
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("add_10000_agents_then_first_cycle", |b| {
        b.iter_batched(
            || (base.clone(), vec![res.clone(); ids.len()]),
            |(mut a, totals)| {
                for (id, total) in ids.iter().zip(totals) {
                    a.add_agent(id, total, &[]);
                }
                let offers = a.allocate(0.0);
                (a, offers)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    full_cycle,
    incremental_cycle,
    all_declined,
    add_agents
);
criterion_main!(benches);
