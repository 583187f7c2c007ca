//! Utilisation study of oversubscription: one agent, a latency-critical (LC) task whose load
//! varies (an open-loop request loop, each request a fixed piece of CPU work, alternating
//! low and high phases) and a batch framework that fills whatever it is offered with CPU
//! burners, in three runs: the LC task alone; LC + batch without oversubscription (batch gets
//! only the unallocated cpus); LC + batch with `--oversubscription` (batch also gets the
//! revocable slack, and is evicted when the LC task is starved). For each run: the share of the
//! agent's cpus allocated and used (sampled every second from `/monitor/statistics`), batch
//! tasks launched and evicted, and the LC requests' p50/p99 latency.
//!
//! `cargo build -p drover -p drover-bench && target/debug/oversubscription`
//! (`--secs 60` per run; the LC script needs `python3`).

#[path = "../jobs_cluster.rs"]
mod jobs_cluster;

use anyhow::{bail, Context, Result};
use clap::Parser;
use drover_api::scheduler::{Accept, Call, CallType, EventType};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use jobs_cluster::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Seconds each run lasts (the LC task's life).
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// The agent's resources.
    #[arg(long, default_value = "cpus:2;mem:2048;disk:1000;ports:[31000-31100]")]
    resources: String,
    /// The LC task's cpus.
    #[arg(long, default_value_t = 1.5)]
    lc_cpus: f64,
    /// Requests per second in the LC task's low and high phases (10 s each, alternating).
    #[arg(long, default_value_t = 20.0)]
    low_rate: f64,
    #[arg(long, default_value_t = 120.0)]
    high_rate: f64,
    /// CPU milliseconds of one request.
    #[arg(long, default_value_t = 4.0)]
    work_ms: f64,
    /// cpus of one batch burner.
    #[arg(long, default_value_t = 0.5)]
    batch_cpus: f64,
    /// `--oversubscribed-resources-interval` of the agent.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
}

const LC_SCRIPT: &str = r#"
import sys, time
out, secs, low, high, work_ms = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def spin(n):
    s = 0
    for i in range(n):
        s += i
    return s
t = time.perf_counter(); spin(200000); per = (time.perf_counter() - t) / 200000
n = max(1, int(work_ms / 1000.0 / per))
start = time.perf_counter(); arrival = start; lat = []
while arrival - start < secs:
    rate = high if int((arrival - start) / 10) % 2 else low
    now = time.perf_counter()
    if now < arrival:
        time.sleep(arrival - now)
    spin(n)
    lat.append((time.perf_counter() - arrival) * 1000.0)
    arrival += 1.0 / rate
with open(out, "w") as f:
    f.write("\n".join("%.3f" % x for x in lat))
"#;

struct Run {
    name: &'static str,
    allocated: f64,
    used: f64,
    launched: usize,
    evicted: usize,
    p50: f64,
    p99: f64,
    requests: usize,
}

fn revocable_cpus(o: &Offer) -> f64 {
    o.resources
        .iter()
        .filter(|r| r.name == "cpus" && r.revocable.is_some())
        .filter_map(|r| r.scalar.map(|s| s.value))
        .sum()
}

fn regular(o: &Offer, name: &str) -> f64 {
    o.resources
        .iter()
        .filter(|r| r.name == name && r.revocable.is_none() && r.reservations.is_empty())
        .filter_map(|r| r.scalar.map(|s| s.value))
        .sum()
}

fn task(id: &str, agent: &AgentID, cmd: &str, resources: Vec<Resource>) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: agent.clone(),
        resources,
        executor: None,
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
    }
}

fn framework(name: &str, revocable: bool) -> FrameworkInfo {
    let mut caps = vec![];
    if revocable {
        caps.push(Capability {
            kind: "REVOCABLE_RESOURCES".into(),
        });
    }
    FrameworkInfo {
        user: String::new(),
        name: name.into(),
        failover_timeout: Some(0.0),
        capabilities: caps,
        ..Default::default()
    }
}

fn accept(offer: &OfferID, tasks: Vec<TaskInfo>, refuse: f64) -> Call {
    let mut call = Call::new(CallType::ACCEPT, None);
    call.accept = Some(Accept {
        offer_ids: vec![offer.clone()],
        operations: if tasks.is_empty() {
            vec![]
        } else {
            vec![Operation::launch(tasks)]
        },
        filters: Some(Filters {
            refuse_seconds: Some(refuse),
        }),
    });
    call
}

async fn ack(s: &SchedulerClient, st: &TaskStatus) {
    if let (Some(uuid), Some(agent)) = (&st.uuid, &st.agent_id) {
        let mut c = Call::new(CallType::ACKNOWLEDGE, None);
        c.acknowledge = Some(drover_api::scheduler::Acknowledge {
            agent_id: agent.clone(),
            task_id: st.task_id.clone(),
            uuid: uuid.clone(),
        });
        let _ = s.call(c).await;
    }
}

/// The batch framework: fill every offer with burners (revocable cpus first), until `stop`.
async fn batch(
    master: String,
    cpus_each: f64,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(usize, usize)> {
    let mut s = SchedulerClient::subscribe(&master, framework("batch", true)).await?;
    let (mut launched, mut evicted, mut n) = (0, 0, 0);
    while !*stop.borrow() {
        let Some(ev) = s.next_event(Duration::from_millis(500)).await else {
            continue;
        };
        match ev.kind {
            EventType::OFFERS => {
                for o in ev.offers.map(|o| o.offers).unwrap_or_default() {
                    let mut rev = revocable_cpus(&o);
                    let mut reg = regular(&o, "cpus");
                    let mut mem = regular(&o, "mem");
                    let mut tasks = Vec::new();
                    while mem >= 32.0 && (rev >= cpus_each || reg >= cpus_each) {
                        n += 1;
                        let cpus = if rev >= cpus_each {
                            rev -= cpus_each;
                            let mut r = Resource::scalar("cpus", cpus_each);
                            r.revocable = Some(serde_json::json!({}));
                            r
                        } else {
                            reg -= cpus_each;
                            Resource::scalar("cpus", cpus_each)
                        };
                        mem -= 32.0;
                        tasks.push(task(
                            &format!("burn-{n}"),
                            &o.agent_id,
                            "while :; do :; done",
                            vec![cpus, Resource::scalar("mem", 32.0)],
                        ));
                    }
                    launched += tasks.len();
                    let _ = s.call(accept(&o.id, tasks, 1.0)).await;
                }
            }
            EventType::UPDATE => {
                if let Some(u) = ev.update {
                    if u.status.reason == Some(Reason::REASON_CONTAINER_PREEMPTED) {
                        evicted += 1;
                    }
                    ack(&s, &u.status).await;
                }
            }
            _ => {}
        }
    }
    // Kill what runs: TEARDOWN.
    let _ = s.call(Call::new(CallType::TEARDOWN, None)).await;
    Ok((launched, evicted))
}

/// One run: a fresh master and agent, the LC task, and the batch framework if `with_batch`.
async fn run(
    a: &Args,
    drover: &str,
    name: &'static str,
    with_batch: bool,
    oversubscription: bool,
) -> Result<Run> {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = std::env::temp_dir().join(format!("drover-oversub-{}-{slug}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("lc.py");
    std::fs::write(&script, LC_SCRIPT)?;
    let lat_file = dir.join("latencies.txt");
    let mw = dir.join("master");
    let master = spawn(
        drover,
        &[
            "master",
            "--work-dir",
            mw.to_str().unwrap_or_default(),
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--allocation-interval",
            "0.5",
        ],
        "master: http://",
        &dir.join("master.log"),
    )?;
    let master_addr = master.addr("master: http://")?;
    let aw = dir.join("agent");
    let interval = a.interval.to_string();
    let mut agent_args = vec![
        "agent",
        "--master",
        &master_addr,
        "--work-dir",
        aw.to_str().unwrap_or_default(),
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--resources",
        &a.resources,
    ];
    if oversubscription {
        agent_args.extend([
            "--oversubscription",
            "--oversubscribed-resources-interval",
            &interval,
        ]);
    }
    let agent = spawn(
        drover,
        &agent_args,
        "agent: http://",
        &dir.join("agent.log"),
    )?;
    let agent_addr = agent.addr("agent: http://")?;
    let http = http();

    // The LC task, from the LC framework's first offer.
    let mut lc = SchedulerClient::subscribe(&master_addr, framework("lc", false)).await?;
    let cmd = format!(
        "exec python3 {} {} {} {} {} {}",
        script.display(),
        lat_file.display(),
        a.secs,
        a.low_rate,
        a.high_rate,
        a.work_ms
    );
    loop {
        let ev = lc
            .next_event(Duration::from_secs(30))
            .await
            .context("no offer for the LC task")?;
        if let Some(o) = ev.offers.and_then(|o| o.offers.into_iter().next()) {
            let t = task(
                "lc",
                &o.agent_id,
                &cmd,
                vec![
                    Resource::scalar("cpus", a.lc_cpus),
                    Resource::scalar("mem", 256.0),
                ],
            );
            lc.call(accept(&o.id, vec![t], 3600.0)).await?;
            break;
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let batch_task =
        with_batch.then(|| tokio::spawn(batch(master_addr.clone(), a.batch_cpus, stop_rx.clone())));

    // Sample until the LC task ends.
    let agent_cpus = Resources::parse(&a.resources)
        .map(|r| r.scalar("cpus"))
        .unwrap_or(1.0);
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut last_at = Instant::now();
    let (mut alloc_sum, mut used_sum, mut samples) = (0.0, 0.0, 0usize);
    let started = Instant::now();
    let mut lc_done = false;
    while !lc_done {
        if started.elapsed().as_secs_f64() > a.secs + 120.0 {
            bail!("{name}: the LC task did not finish");
        }
        if let Some(ev) = lc.next_event(Duration::from_secs(1)).await {
            if let Some(u) = ev.update {
                ack(&lc, &u.status).await;
                if u.status.state.is_terminal() {
                    lc_done = true;
                    if u.status.state != TaskState::TASK_FINISHED {
                        bail!("{name}: the LC task ended {:?}", u.status);
                    }
                }
            }
        }
        let Some(stats) = get_json(&http, &format!("http://{agent_addr}/monitor/statistics")).await
        else {
            continue;
        };
        let now = Instant::now();
        let wall = now.duration_since(last_at).as_secs_f64();
        let (mut alloc, mut used) = (0.0, 0.0);
        let mut seen = HashSet::new();
        for e in stats.as_array().into_iter().flatten() {
            let id = e["executor_id"].as_str().unwrap_or_default().to_string();
            let st = &e["statistics"];
            let cpu = st["cpus_user_time_secs"].as_f64().unwrap_or(0.0)
                + st["cpus_system_time_secs"].as_f64().unwrap_or(0.0);
            alloc += st["cpus_limit"].as_f64().unwrap_or(0.0);
            if let Some(prev) = last.get(&id) {
                used += (cpu - prev).max(0.0) / wall.max(1e-3);
            }
            last.insert(id.clone(), cpu);
            seen.insert(id);
        }
        last.retain(|k, _| seen.contains(k));
        last_at = now;
        if samples > 0 || wall > 0.0 {
            alloc_sum += alloc.min(agent_cpus * 4.0);
            used_sum += used;
            samples += 1;
        }
    }
    let _ = stop_tx.send(true);
    let (launched, evicted) = match batch_task {
        Some(t) => t.await??,
        None => (0, 0),
    };
    let mut lat: Vec<f64> = std::fs::read_to_string(&lat_file)
        .with_context(|| format!("{name}: reading {}", lat_file.display()))?
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    lat.sort_by(|x, y| x.total_cmp(y));
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    interrupt(agent, Duration::from_secs(20));
    master.stop(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    let n = samples.max(1) as f64;
    Ok(Run {
        name,
        allocated: alloc_sum / n / agent_cpus,
        used: used_sum / n / agent_cpus,
        launched,
        evicted,
        p50: pct(0.5),
        p99: pct(0.99),
        requests: lat.len(),
    })
}

/// Ctrl-C (SIGINT): an agent stops every task before it exits (SIGTERM would leave them).
fn interrupt(mut p: Proc, within: Duration) {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &p.pid().to_string()])
        .status();
    let t = Instant::now();
    while t.elapsed() < within {
        if let Ok(Some(_)) = p.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let drover = drover_path(&a.drover);
    let mut runs = Vec::new();
    for (name, with_batch, over) in [
        ("LC alone", false, false),
        ("LC + batch, no oversubscription", true, false),
        ("LC + batch, oversubscription", true, true),
    ] {
        eprintln!("running: {name} ({} s)", a.secs);
        runs.push(run(&a, &drover, name, with_batch, over).await?);
    }
    println!(
        "{:<34} {:>9} {:>6} {:>8} {:>7} {:>8} {:>8} {:>8}",
        "run", "allocated", "used", "launched", "evicted", "LC p50", "LC p99", "requests"
    );
    for r in &runs {
        println!(
            "{:<34} {:>8.0}% {:>5.0}% {:>8} {:>7} {:>6.1}ms {:>6.1}ms {:>8}",
            r.name,
            r.allocated * 100.0,
            r.used * 100.0,
            r.launched,
            r.evicted,
            r.p50,
            r.p99,
            r.requests
        );
    }
    Ok(())
}
