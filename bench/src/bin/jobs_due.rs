//! 1,000 runs falling due in the same second (target: all started within 2 s). Starts
//! `drover up` (master, agents and the jobs scheduler in one process, no Marathon), creates
//! `--jobs` jobs through `POST /v1/jobs` whose cron (`M H * * *`, UTC) names the same minute —
//! the next minute boundary at least `--lead-secs` ahead once they are made — and then times,
//! for every run, its due time → its task's TASK_RUNNING (the agent's timestamp on the status,
//! from the master's `/master/tasks`; task ids `<job>_<runId>.<n>`, names the job ids). Also:
//! due → the run created (the scheduler's `createdAt`), due → TASK_STARTING, and the CPU the
//! `drover up` process used around the due time.
//!
//! `cargo build --release -p drover -p drover-bench && target/release/jobs_due`
//! (`--perf-secs 8` records the process with `perf record --call-graph dwarf` from 2 s before the
//! due time, into `--perf-out`.)

#[path = "../jobs_cluster.rs"]
mod jobs_cluster;

use anyhow::{bail, Result};
use clap::Parser;
use jobs_cluster::*;
use serde_json::json;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Jobs falling due at once.
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Agents of `drover up`.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Each agent's resources (1,000 tasks of cpus 0.01 and mem 32 need 10 cpus, 32,000 mem).
    #[arg(
        long,
        default_value = "cpus:8;mem:16384;disk:10000;ports:[31000-32000]"
    )]
    resources: String,
    /// Each run's command.
    #[arg(long, default_value = "sleep 30")]
    cmd: String,
    /// The due time is at least this far ahead once the jobs are made.
    #[arg(long, default_value_t = 20.0)]
    lead_secs: f64,
    /// Rounds (each a minute of its own; the jobs are made anew for each).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// `perf record --call-graph dwarf` the process from 2 s before the due time for this long (seconds),
    /// into `--perf-out`.
    #[arg(long)]
    perf_secs: Option<f64>,
    #[arg(long, default_value = "perf.data")]
    perf_out: String,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let drover = drover_path(&a.drover);
    let dir = std::env::temp_dir().join(format!("drover-jobs-due-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let work = dir.join("up").display().to_string();
    let agents = a.agents.to_string();
    let up = spawn(
        &drover,
        &[
            "up",
            "--agents",
            &agents,
            "--resources",
            &a.resources,
            "--work-dir",
            &work,
            "--port",
            "0",
            "--agent-port",
            "0",
            "--jobs-port",
            "0",
            "--gateway-port",
            "0",
            "--dns-port",
            "0",
            "--dns-http-port",
            "0",
            "--no-marathon",
            "--containerizers",
            "process",
        ],
        "state:",
        &dir.join("up.log"),
    )?;
    let master = up.addr("master:")?;
    let jobs = up.addr("jobs:")?;
    let pid = up.pid();
    println!(
        "drover up (pid {pid}): master {master}, jobs {jobs}, {} agents of {}; {} jobs of `{}`",
        a.agents, a.resources, a.jobs, a.cmd
    );
    let c = http();
    // The jobs scheduler subscribed, every agent there.
    let t = std::time::Instant::now();
    loop {
        let fw = get_json(&c, &format!("http://{master}/master/frameworks"))
            .await
            .unwrap_or_default();
        let subscribed = fw["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f["name"] == "metronome" && f["active"] == true);
        let ag = get_json(&c, &format!("http://{master}/master/slaves"))
            .await
            .unwrap_or_default();
        let n = ag["slaves"].as_array().map(|s| s.len()).unwrap_or(0);
        if subscribed && n == a.agents {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("the jobs scheduler or the agents are not there after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut all_running = Vec::new();
    for round in 0..a.rounds {
        // The due minute: far enough ahead for making the jobs (measured in round 0 at
        // ~1,000 jobs/s; 10 s are allowed for them).
        let due = ((unix_now() + a.lead_secs + 10.0) / 60.0).ceil() * 60.0;
        let (h, m) = hour_minute(due);
        let bodies: Vec<_> = (0..a.jobs)
            .map(|i| {
                json!({
                    "id": format!("due-{round}-{i:04}"),
                    "run": {"cpus": 0.01, "mem": 32, "disk": 0, "cmd": a.cmd},
                    "schedules": [{"id": "once-a-day", "cron": format!("{m} {h} * * *"),
                                   "timezone": "UTC", "startingDeadlineSeconds": 60}],
                })
            })
            .collect();
        let t0 = unix_now();
        create_jobs(&c, &jobs, bodies, 8).await?;
        let made = unix_now();
        println!(
            "round {}: {} jobs made in {:.2} s ({:.0}/s); due at {} ({:.1} s ahead)",
            round + 1,
            a.jobs,
            made - t0,
            a.jobs as f64 / (made - t0),
            stamp(due),
            due - made
        );
        if due - made < 5.0 {
            bail!("the jobs were made too late for their due time");
        }
        sleep_until(due - 2.0).await;
        let perf = match a.perf_secs {
            Some(s) if round == 0 => Some(
                std::process::Command::new("perf")
                    .args([
                        "record",
                        "-F",
                        "250",
                        "--call-graph",
                        "dwarf,16384",
                        "-o",
                        &a.perf_out,
                        "-p",
                        &pid.to_string(),
                        "--",
                        "sleep",
                        &format!("{s}"),
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()?,
            ),
            _ => None,
        };
        let cpu0 = cpu_secs(pid).unwrap_or(0.0);
        // Wait for every task to run (or 60 s), reading the master once a second.
        let prefix = format!("due-{round}-");
        let want_run = stamp(due);
        let mut tasks;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tasks = master_tasks(&c, &master).await;
            let running = tasks
                .iter()
                .filter(|(id, t)| {
                    t.name.starts_with(&prefix)
                        && id.contains(&format!("_{want_run}"))
                        && t.times.contains_key("TASK_RUNNING")
                })
                .count();
            if running >= a.jobs || unix_now() > due + 60.0 {
                break;
            }
        }
        let cpu1 = cpu_secs(pid).unwrap_or(0.0);
        let waited = unix_now() - (due - 2.0);
        if let Some(mut p) = perf {
            let _ = p.wait();
        }
        // The scheduler's side: when each run was created.
        let listed = get_json(&c, &format!("http://{jobs}/v1/jobs?embed=activeRuns"))
            .await
            .unwrap_or_default();
        let mut created = Vec::new();
        for j in listed.as_array().into_iter().flatten() {
            if !j["id"].as_str().unwrap_or_default().starts_with(&prefix) {
                continue;
            }
            for r in j["activeRuns"].as_array().into_iter().flatten() {
                if let Some(t) = r["createdAt"].as_str().and_then(rfc3339) {
                    created.push(t - due);
                }
            }
        }
        let mine: Vec<&TaskTimes> = tasks
            .iter()
            .filter(|(id, t)| t.name.starts_with(&prefix) && id.contains(&format!("_{want_run}")))
            .map(|(_, t)| t)
            .collect();
        let running = sorted(
            mine.iter()
                .filter_map(|t| t.times.get("TASK_RUNNING").map(|x| x - due))
                .collect(),
        );
        let starting = sorted(
            mine.iter()
                .filter_map(|t| t.times.get("TASK_STARTING").map(|x| x - due))
                .collect(),
        );
        let created = sorted(created);
        let within2 = running.iter().filter(|x| **x <= 2.0).count();
        let show = |name: &str, v: &[f64]| {
            println!(
                "  due → {name}: n {}, min {:.3}, p50 {:.3}, p90 {:.3}, p99 {:.3}, max {:.3} s",
                v.len(),
                v.first().copied().unwrap_or(f64::NAN),
                pct(v, 50.0),
                pct(v, 90.0),
                pct(v, 99.0),
                v.last().copied().unwrap_or(f64::NAN)
            )
        };
        show("run created", &created);
        show("TASK_STARTING", &starting);
        show("TASK_RUNNING", &running);
        println!(
            "  started within 2 s: {within2} of {} ({} tasks seen, {} running); drover up used {:.2} s of CPU in the {:.1} s from 2 s before the due time",
            a.jobs,
            mine.len(),
            running.len(),
            cpu1 - cpu0,
            waited
        );
        all_running.extend(running);
        // Every task of this round gone before the next (their jobs removed with their runs).
        if round + 1 < a.rounds {
            for i in 0..a.jobs {
                let _ = c
                    .delete(format!(
                        "http://{jobs}/v1/jobs/{prefix}{i:04}?stopCurrentJobRuns=true"
                    ))
                    .send()
                    .await;
            }
        }
    }
    if a.rounds > 1 {
        let v = sorted(all_running);
        println!(
            "all rounds: due → TASK_RUNNING p50 {:.3}, p99 {:.3}, max {:.3} s; within 2 s: {} of {}",
            pct(&v, 50.0),
            pct(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN),
            v.iter().filter(|x| **x <= 2.0).count(),
            v.len()
        );
    }
    up.stop(Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
