//! The jobs scheduler's pure core (`drover_jobs::core::Jobs`) with 10,000 scheduled jobs, driven
//! directly as `crates/jobs/src/core/tests.rs` drives it, over an in-memory store:
//! - a tick with nothing due (what the ticker does at least once a second);
//! - a tick when 1,000 of the 10,000 fall due at once (1,000 runs and 1,000 cursors queued as
//!   writes), alone and with the writes applied to the embedded store (redb, one transaction);
//! - matching 1,000 waiting runs against 4 offers (the ACCEPTs of the launch);
//! - a new leader opening the core from a store holding the 10,000 jobs.
//!
//! `cargo bench -p drover-bench --bench jobs`
//!
//! Job `i` is the job `POST /v1/jobs` makes of `{"id": "bench-0000i", "run": {"cpus": 0.01,
//! "mem": 32, "cmd": "sleep 5"}, "schedules": [{"cron": "<m>,<m+10>,… * * * *"}]}` with
//! `m = i % 10`: every minute, exactly 1,000 of the 10,000 fall due.

use criterion::{criterion_group, criterion_main, Criterion};
use drover_api::{AgentID, FrameworkID, Offer, OfferID, Resource, TaskID, TaskState, TaskStatus};
use drover_jobs::core::{plus, Entropy, Jobs};
use drover_jobs::http::validate::job_from_spec;
use drover_store::{EmbeddedStore, MemoryStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const JOBS: usize = 10_000;

/// Run ids of manual runs (none are made here).
struct Seq(u64);
impl Entropy for Seq {
    fn suffix(&mut self) -> String {
        self.0 += 1;
        format!("{:05}", self.0 % 100_000)
    }
}

/// The body of `POST /v1/jobs` for job `i`.
fn job_json(i: usize) -> serde_json::Value {
    let m = i % 10;
    let minutes: Vec<String> = (0..6).map(|k| (m + 10 * k).to_string()).collect();
    serde_json::json!({
        "id": format!("bench-{i:05}"),
        "description": "a benchmark job",
        "run": {"cpus": 0.01, "mem": 32, "disk": 0, "cmd": "sleep 5"},
        "schedules": [{"id": "default", "cron": format!("{} * * * *", minutes.join(",")),
                       "timezone": "UTC", "startingDeadlineSeconds": 60}],
    })
}

/// A timestamp `secs` after 2026-12-07T00:00:00Z (a Monday).
macro_rules! at {
    ($secs:expr) => {
        plus("2026-12-07T00:00:00Z".parse().expect("a timestamp"), $secs)
    };
}

fn open(store: Arc<dyn Store>) -> Jobs {
    let mut j = Jobs::open(store, "*".into(), Box::new(Seq(0))).expect("opens");
    j.framework_id = Some(FrameworkID::new("fw"));
    j.connected = true;
    // An idle scheduler has suppressed its offers; a tick with something due revives.
    j.suppressed = true;
    j
}

/// A core over `store` with the 10,000 jobs made through the same path as the API, written.
fn with_jobs(store: Arc<dyn Store>) -> Jobs {
    let mut j = open(store);
    let now = at!(30);
    for i in 0..JOBS {
        let spec = serde_json::from_value(job_json(i)).expect("a job spec");
        let job = job_from_spec(spec, now).expect("a valid job");
        j.create_job(job, now).expect("made");
        if i % 1000 == 999 {
            let ops = j.take_pending();
            j.store.apply(ops).expect("written");
        }
    }
    let ops = j.take_pending();
    j.store.apply(ops).expect("written");
    j.take_events();
    j
}

fn offer(n: usize) -> Offer {
    Offer {
        id: OfferID::new(format!("o{n}")),
        framework_id: FrameworkID::new("fw"),
        agent_id: AgentID::new(format!("a{}", n % 4)),
        hostname: format!("host{}", n % 4),
        url: None,
        resources: vec![
            Resource::scalar("cpus", 8.0),
            Resource::scalar("mem", 16384.0),
            Resource::scalar("disk", 10000.0),
        ],
        attributes: vec![],
        executor_ids: vec![],
        allocation_info: None,
        unavailability: None,
    }
}

/// Tasks launched by a decision's ACCEPTs.
fn launched(calls: &[drover_api::scheduler::Call]) -> Vec<String> {
    calls
        .iter()
        .flat_map(|c| c.accept.iter().flat_map(|a| a.operations.iter()))
        .flat_map(|o| o.launch.iter().flat_map(|l| l.task_infos.iter()))
        .map(|t| t.task_id.value.clone())
        .collect()
}

fn finished(task: &str) -> TaskStatus {
    let mut s = TaskStatus::new(TaskID::new(task), TaskState::TASK_FINISHED);
    s.agent_id = Some(AgentID::new("a0"));
    s
}

fn jobs(c: &mut Criterion) {
    let mut g = c.benchmark_group("jobs");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));

    let mut j = with_jobs(Arc::new(MemoryStore::default()));
    // Everything due at 00:00 handled; the next 1,000 fall due at 00:01.
    let quiet = at!(45);
    j.tick(quiet);
    j.take_pending();
    j.runs.clear();
    g.bench_function("tick, 10,000 jobs, nothing due", |b| {
        b.iter(|| {
            let mut calls = j.tick(quiet);
            calls.extend(j.reconcile_due(quiet));
            assert!(calls.is_empty() && j.take_pending().is_empty());
        })
    });

    // Each iteration is the next minute: 1,000 occurrences become runs. Between iterations
    // (not timed) the queued writes are dropped and the runs forgotten, so every tick starts
    // from 10,000 jobs and no active runs.
    let mut minute = 1;
    g.bench_function("tick, 10,000 jobs, 1,000 due", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let now = at!(60 * minute + 1);
                minute += 1;
                let t = Instant::now();
                let calls = j.tick(now);
                total += t.elapsed();
                assert_eq!(calls.len(), 1, "a REVIVE");
                assert_eq!(j.take_pending().len(), 2000);
                j.take_events();
                j.runs.clear();
                j.suppressed = true;
            }
            total
        })
    });

    // The launch: 1,000 runs waiting, the 4 agents' offers (512 tasks fit each).
    g.bench_function("offers, 1,000 runs waiting, 4 offers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let now = at!(60 * minute + 1);
                minute += 1;
                j.tick(now);
                j.take_pending();
                let offers: Vec<Offer> = (0..4).map(offer).collect();
                let t = Instant::now();
                let calls = j.offers(offers, plus(now, 1));
                total += t.elapsed();
                let tasks = launched(&calls);
                assert_eq!(tasks.len(), 1000);
                // Not timed: every task finishes, so the next iteration starts clean.
                for id in &tasks {
                    j.update(&finished(id), plus(now, 2));
                }
                assert!(j.runs.is_empty());
                j.take_pending();
                j.take_events();
                j.suppressed = true;
            }
            total
        })
    });

    // The same tick with its writes made durable in the embedded store, as the driver does.
    let dir = std::env::temp_dir().join(format!("drover-jobs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let redb: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(&dir.join("jobs.redb")).expect("redb opens"));
    let mut jr = with_jobs(redb);
    let mut minute = 1;
    g.bench_function("tick + redb commit, 10,000 jobs, 1,000 due", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let now = at!(60 * minute + 1);
                minute += 1;
                let t = Instant::now();
                jr.tick(now);
                let ops = jr.take_pending();
                jr.store.apply(ops).expect("written");
                total += t.elapsed();
                jr.take_events();
                // Not timed: the runs written are deleted again (as their retirement would).
                let gone: Vec<drover_store::Op> = jr
                    .runs
                    .values()
                    .flat_map(|m| m.values())
                    .map(|r| {
                        drover_store::Op::Delete(drover_jobs::core::keys::run(&r.job_id, &r.id))
                    })
                    .collect();
                jr.store.apply(gone).expect("deleted");
                jr.runs.clear();
                jr.suppressed = true;
            }
            total
        })
    });
    drop(jr);
    let _ = std::fs::remove_dir_all(&dir);

    // A new leader loads everything: 10,000 jobs and their cursors.
    let store = j.store.clone();
    g.sample_size(10);
    g.bench_function("open, 10,000 jobs", |b| {
        b.iter(|| {
            let j = Jobs::open(store.clone(), "*".into(), Box::new(Seq(0))).expect("opens");
            assert_eq!(j.jobs.len(), JOBS);
            j
        })
    });
    g.finish();
}

criterion_group!(benches, jobs);
criterion_main!(benches);
