//! A jobs scheduler's failover (target: the new leader's first catch-up run starts within 2 s
//! of its election). A real ZooKeeper, a `drover master`, a `drover agent` and two
//! `drover jobs --zk zk://…/jobs`; a job whose cron falls due every minute
//! (`startingDeadlineSeconds` 120). Each round SIGKILLs the leading scheduler `--kill-before`
//! seconds before a minute boundary, so that the occurrence falls due while nobody leads, and
//! measures:
//! - **elected**: the survivor's `/leader` names itself (polled every 10 ms; it does so from
//!   the moment it holds the latch, while it loads its state), and the time on its log line
//!   "jobs: elected leader" (state loaded, deciding starts);
//! - **running**: the catch-up run's task (`<job>_<due yyyyMMddHHmmss>…`) reports TASK_RUNNING
//!   (the agent's timestamp, from the master's `/master/tasks`).
//!
//! The killed scheduler is started again (it follows) before the next round. With
//! `--extra-jobs 10000` the new leader loads that many more scheduled jobs from ZooKeeper.
//!
//! `cargo build --release -p drover -p drover-bench && target/release/jobs_failover --rounds 5`

#[path = "../jobs_cluster.rs"]
mod jobs_cluster;

use anyhow::{bail, Context, Result};
use clap::Parser;
use jobs_cluster::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Failovers to measure (one a minute).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Kill the leader this many seconds before the minute boundary (less than the session
    /// timeout, so that nobody leads when the occurrence falls due).
    #[arg(long, default_value_t = 3.0)]
    kill_before: f64,
    /// Other scheduled jobs the new leader loads with it (daily, none due during the run).
    #[arg(long, default_value_t = 0)]
    extra_jobs: usize,
    /// The schedulers' ZooKeeper session timeout (`--zk-session-timeout`).
    #[arg(long, default_value_t = 6.0)]
    zk_session_timeout: f64,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
}

struct Sched {
    proc: Option<Proc>,
    addr: String,
    log: PathBuf,
}

async fn leader_of(c: &reqwest::Client, addr: &str) -> Option<String> {
    get_json(c, &format!("http://{addr}/leader")).await?["leader"]
        .as_str()
        .map(String::from)
}

/// The leader every live scheduler names, if they agree and it is one of them.
async fn agreed(c: &reqwest::Client, scheds: &[Sched]) -> Option<String> {
    let live: Vec<&str> = scheds
        .iter()
        .filter(|s| s.proc.is_some())
        .map(|s| s.addr.as_str())
        .collect();
    let mut named = Vec::new();
    for s in &live {
        named.push(leader_of(c, s).await);
    }
    match named.first() {
        Some(Some(l))
            if named.iter().all(|n| n.as_ref() == Some(l)) && live.contains(&l.as_str()) =>
        {
            Some(l.clone())
        }
        _ => None,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let drover = drover_path(&a.drover);
    if !drover_zk::testing::available() {
        bail!("ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)");
    }
    let dir = std::env::temp_dir().join(format!("drover-jobs-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let zk = drover_zk::testing::Ensemble::start(1)?;
    let jobs_zk = zk.url("/jobs");
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
    let _agent = spawn(
        &drover,
        &[
            "agent",
            "--master",
            &maddr,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work-dir",
            &w("agent"),
            "--no-cgroups",
            "--resources",
            "cpus:4;mem:4096;disk:1000;ports:[31000-31010]",
        ],
        "agent: http://",
        &dir.join("agent.log"),
    )?;
    let session = a.zk_session_timeout.to_string();
    let start = |n: usize| -> Result<Sched> {
        let log = dir.join(format!("jobs{n}.log"));
        // Each start gets a log of its own (the killed one's is kept).
        let log = if log.exists() {
            dir.join(format!("jobs{n}-{}.log", unix_now() as u64))
        } else {
            log
        };
        let p = spawn(
            &drover,
            &[
                "jobs",
                "--master",
                &maddr,
                "--zk",
                &jobs_zk,
                "--zk-session-timeout",
                &session,
                "--work-dir",
                &w(&format!("jobs{n}")),
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
            ],
            "jobs: http://",
            &log,
        )?;
        Ok(Sched {
            addr: p.addr("jobs:")?,
            proc: Some(p),
            log,
        })
    };
    let mut scheds = vec![start(0)?, start(1)?];
    println!(
        "ZooKeeper {}; master {maddr}; 1 agent; 2 jobs schedulers ({} and {}), session timeout {} s",
        zk.servers(),
        scheds[0].addr,
        scheds[1].addr,
        a.zk_session_timeout
    );
    let c = http();
    let mut leader = None;
    for _ in 0..300 {
        if let Some(l) = agreed(&c, &scheds).await {
            leader = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let leader = leader.context("the schedulers did not agree on a leader in 30 s")?;
    let job = json!({
        "id": "failover",
        "run": {"cpus": 0.01, "mem": 32, "disk": 0, "cmd": "sleep 5"},
        "schedules": [{"id": "every-minute", "cron": "* * * * *", "timezone": "UTC",
                       "startingDeadlineSeconds": 120}],
    });
    create_jobs(&c, &leader, vec![job], 1).await?;
    if a.extra_jobs > 0 {
        // Daily, at hours at least two away from now (the run lasts minutes).
        let (now_h, _) = hour_minute(unix_now());
        let bodies = (0..a.extra_jobs)
            .map(|i| {
                let h = (now_h + 3 + (i % 18) as i64) % 24;
                json!({
                    "id": format!("extra-{i:05}"),
                    "run": {"cpus": 0.01, "mem": 32, "disk": 0, "cmd": "sleep 5"},
                    "schedules": [{"id": "daily", "cron": format!("{} {h} * * *", (i / 18) % 60),
                                   "timezone": "UTC", "startingDeadlineSeconds": 60}],
                })
            })
            .collect();
        let t = unix_now();
        create_jobs(&c, &leader, bodies, 8).await?;
        println!(
            "{} more jobs made through POST /v1/jobs in {:.1} s",
            a.extra_jobs,
            unix_now() - t
        );
    }
    let (mut from_poll, mut from_log, mut from_due, mut from_kill) =
        (vec![], vec![], vec![], vec![]);
    for round in 0..a.rounds {
        // Everyone agrees on a leader; the next boundary far enough ahead.
        let mut leader = None;
        for _ in 0..600 {
            if let Some(l) = agreed(&c, &scheds).await {
                leader = Some(l);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let leader = leader.context("no agreed leader")?;
        let li = scheds
            .iter()
            .position(|s| s.addr == leader)
            .context("the leader is not one of ours")?;
        let mut due = (unix_now() / 60.0).ceil() * 60.0;
        if due - unix_now() < a.kill_before + 2.0 {
            due += 60.0;
        }
        sleep_until(due - a.kill_before).await;
        let killed = unix_now();
        scheds[li].proc = None; // SIGKILL
        let survivor = scheds
            .iter()
            .find(|s| s.proc.is_some())
            .context("a survivor")?;
        let (saddr, slog) = (survivor.addr.clone(), survivor.log.clone());
        let log_len = std::fs::metadata(&slog).map(|m| m.len()).unwrap_or(0) as usize;
        let elected = loop {
            if leader_of(&c, &saddr).await.as_deref() == Some(saddr.as_str()) {
                break unix_now();
            }
            if unix_now() - killed > 60.0 {
                bail!("round {}: {saddr} not elected within 60 s", round + 1);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        // The catch-up run's task running.
        let want = format!("failover_{}", stamp(due));
        let running = loop {
            let tasks = master_tasks(&c, &maddr).await;
            if let Some(t) = tasks
                .iter()
                .find(|(id, _)| id.starts_with(&want))
                .and_then(|(_, t)| t.times.get("TASK_RUNNING").copied())
            {
                break t;
            }
            if unix_now() - due > 90.0 {
                bail!(
                    "round {}: no run of {} running within 90 s",
                    round + 1,
                    stamp(due)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let text = std::fs::read_to_string(&slog).unwrap_or_default();
        let log_elected = text
            .get(log_len..)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("jobs: elected leader"))
            .and_then(log_time);
        println!(
            "round {}: killed {leader} {:.2} s before {}; {saddr} elected {:.2} s after the kill ({:.2} s after the due time); catch-up run RUNNING {:.3} s after the election (log line \"elected leader\": {}), {:.2} s after its due time",
            round + 1,
            due - killed,
            stamp(due),
            elected - killed,
            elected - due,
            running - elected,
            log_elected
                .map(|t| format!("{:.3} s after it", running - t))
                .unwrap_or_else(|| "not found".into()),
            running - due
        );
        from_poll.push(running - elected);
        if let Some(t) = log_elected {
            from_log.push(running - t);
        }
        from_due.push(running - due);
        from_kill.push(elected - killed);
        scheds[li] = start(li)?;
    }
    let show = |v: &[f64]| {
        let v = sorted(v.to_vec());
        format!(
            "median {:.3}, max {:.3} s (n {})",
            pct(&v, 50.0),
            v.last().copied().unwrap_or(f64::NAN),
            v.len()
        )
    };
    println!("election → catch-up RUNNING: {}", show(&from_poll));
    println!(
        "\"elected leader\" log line → catch-up RUNNING: {}",
        show(&from_log)
    );
    println!("kill → election: {}", show(&from_kill));
    println!("due → catch-up RUNNING: {}", show(&from_due));
    drop(scheds);
    drop(master);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
