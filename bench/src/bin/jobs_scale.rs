//! The jobs scheduler with 10,000 scheduled jobs: its memory and its CPU.
//!
//! 1. **The core alone**, in this process: a core over an in-memory store with `--jobs` jobs
//!    made as the API makes them (`job_from_spec`, `create_job`, writes applied), then a second
//!    core opened over that store as a new leader opens it. VmRSS before, after the first core
//!    (core + store + what building left), after the second (core alone).
//! 2. **A real `drover jobs` process** beside a `drover master` (no agents: runs wait), its
//!    embedded store on disk: VmRSS before and `--settle-secs` after making the jobs through
//!    `POST /v1/jobs` (past the process' 10 s `malloc_trim`); the process' CPU over
//!    `--idle-secs` with nothing due; and over the 5 s around a minute at which `--due` of the
//!    jobs fall due at once (`M H * * *`; the other jobs' crons are daily at least an hour away).
//!
//! `cargo build --release -p drover -p drover-bench && target/release/jobs_scale`

#[path = "../jobs_cluster.rs"]
mod jobs_cluster;

use anyhow::{bail, Result};
use clap::Parser;
use drover_jobs::core::{Entropy, Jobs};
use drover_jobs::http::validate::job_from_spec;
use drover_store::{MemoryStore, Store};
use jobs_cluster::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Of them, falling due in the same minute.
    #[arg(long, default_value_t = 1000)]
    due: usize,
    #[arg(long, default_value_t = 12)]
    settle_secs: u64,
    #[arg(long, default_value_t = 20)]
    idle_secs: u64,
    /// Concurrent `POST /v1/jobs`.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Only the core alone (no processes).
    #[arg(long)]
    core_only: bool,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
}

struct Seq(u64);
impl Entropy for Seq {
    fn suffix(&mut self) -> String {
        self.0 += 1;
        format!("{:05}", self.0 % 100_000)
    }
}

/// Job `i`'s `POST /v1/jobs` body, its cron daily at `h:m` UTC.
fn body(prefix: &str, i: usize, h: i64, m: i64) -> Value {
    json!({
        "id": format!("{prefix}-{i:05}"),
        "description": "a benchmark job",
        "labels": {"owner": "bench"},
        "run": {"cpus": 0.01, "mem": 32, "disk": 0, "cmd": "sleep 5",
                "env": {"MODE": "bench"}},
        "schedules": [{"id": "daily", "cron": format!("{m} {h} * * *"),
                       "timezone": "UTC", "startingDeadlineSeconds": 60}],
    })
}

/// Daily times spread over the day but at least an hour away from `avoid` (Unix time).
fn spread(i: usize, avoid: f64) -> (i64, i64) {
    let (ah, _) = hour_minute(avoid);
    let mut h = (i % 24) as i64;
    if (h - ah).rem_euclid(24) <= 1 || (ah - h).rem_euclid(24) <= 1 {
        h = (ah + 12) % 24;
    }
    (h, ((i / 24) % 60) as i64)
}

fn rss_mib() -> f64 {
    status_kib(std::process::id(), "VmRSS").unwrap_or(0) as f64 / 1024.0
}

fn core_alone(n: usize) -> Result<()> {
    let r0 = rss_mib();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let now = "2026-12-07T00:00:30Z".parse().map_err(anyhow::Error::msg)?;
    let t = std::time::Instant::now();
    let mut j = Jobs::open(store.clone(), "*".into(), Box::new(Seq(0)))?;
    for i in 0..n {
        let (h, m) = spread(i, 0.0);
        let spec = serde_json::from_value(body("core", i, h, m))?;
        let job = job_from_spec(spec, now)?;
        j.create_job(job, now)?;
        let ops = j.take_pending();
        j.store.apply(ops)?;
    }
    let made = t.elapsed().as_secs_f64();
    let r1 = rss_mib();
    let stored: usize = store
        .scan("jobs/")?
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    let t = std::time::Instant::now();
    let j2 = Jobs::open(store.clone(), "*".into(), Box::new(Seq(0)))?;
    let opened = t.elapsed().as_secs_f64();
    let r2 = rss_mib();
    if j2.jobs.len() != n || j2.next_due().is_none() {
        bail!("the second core has {} jobs", j2.jobs.len());
    }
    println!(
        "core alone, {n} jobs: made one by one in {made:.2} s; stored {:.2} MiB of keys and JSON values; VmRSS {r0:.1} → {r1:.1} MiB (core + store), → {r2:.1} MiB with a second core opened over the store in {opened:.3} s: the core alone {:.1} MiB, {:.2} KiB a job",
        stored as f64 / 1048576.0,
        r2 - r1,
        (r2 - r1) * 1024.0 / n as f64
    );
    drop(j);
    drop(j2);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    core_alone(a.jobs)?;
    if a.core_only {
        return Ok(());
    }
    let drover = drover_path(&a.drover);
    let dir = std::env::temp_dir().join(format!("drover-jobs-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let w = |n: &str| dir.join(n).display().to_string();
    let master = spawn(
        &drover,
        &[
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work-dir",
            &w("master"),
        ],
        "master: http://",
        &dir.join("master.log"),
    )?;
    let maddr = master.addr("master:")?;
    let jobs = spawn(
        &drover,
        &[
            "jobs",
            "--master",
            &maddr,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work-dir",
            &w("jobs"),
        ],
        "jobs: http://",
        &dir.join("jobs.log"),
    )?;
    let jaddr = jobs.addr("jobs:")?;
    let pid = jobs.pid();
    let c = http();
    tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
    let rss0 = status_kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;
    // The due minute: after the jobs are made (measured: well over 100 a second) and settled.
    let rest = a.jobs - a.due;
    let t0 = unix_now();
    let due_guess =
        ((t0 + a.jobs as f64 / 100.0 + a.settle_secs as f64 + a.idle_secs as f64 + 30.0) / 60.0)
            .ceil()
            * 60.0;
    let (dh, dm) = hour_minute(due_guess);
    let mut bodies: Vec<Value> = (0..rest)
        .map(|i| {
            let (h, m) = spread(i, due_guess);
            body("later", i, h, m)
        })
        .collect();
    bodies.extend((0..a.due).map(|i| body("due", i, dh, dm)));
    create_jobs(&c, &jaddr, bodies, a.concurrency).await?;
    let made = unix_now() - t0;
    println!(
        "drover jobs (pid {pid}): {} jobs made through POST /v1/jobs in {made:.1} s ({:.0}/s, concurrency {}); {} of them due at {}",
        a.jobs,
        a.jobs as f64 / made,
        a.concurrency,
        a.due,
        stamp(due_guess)
    );
    tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
    let rss1 = status_kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;
    let hwm = status_kib(pid, "VmHWM").unwrap_or(0) as f64 / 1024.0;
    println!(
        "  VmRSS {rss0:.1} MiB before, {rss1:.1} MiB {} s after (peak {hwm:.1}): {:.2} KiB a job",
        a.settle_secs,
        (rss1 - rss0) * 1024.0 / a.jobs as f64
    );
    let c0 = cpu_secs(pid).unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    let c1 = cpu_secs(pid).unwrap_or(0.0);
    println!(
        "  idle, nothing due: {:.2} ms of CPU a second over {} s (ticks every second)",
        (c1 - c0) * 1000.0 / a.idle_secs as f64,
        a.idle_secs
    );
    if unix_now() > due_guess - 3.0 {
        bail!("past the due time already; run with a smaller --idle-secs");
    }
    sleep_until(due_guess - 2.0).await;
    let c2 = cpu_secs(pid).unwrap_or(0.0);
    sleep_until(due_guess + 3.0).await;
    let c3 = cpu_secs(pid).unwrap_or(0.0);
    let q = get_json(&c, &format!("http://{jaddr}/v1/queue"))
        .await
        .unwrap_or_default();
    let waiting: usize = q
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| j["runs"].as_array().map(|r| r.len()).unwrap_or(0))
        .sum();
    let rss2 = status_kib(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;
    println!(
        "  {} due at once: {:.0} ms of CPU in the 5 s around it (idle: {:.0} ms); {waiting} runs waiting for offers after it; VmRSS {rss2:.1} MiB",
        a.due,
        (c3 - c2) * 1000.0,
        (c1 - c0) * 1000.0 * 5.0 / a.idle_secs as f64
    );
    drop(jobs);
    drop(master);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
