//! Failover times of an HA cluster on this machine: a real ZooKeeper ensemble (3 servers), 3
//! `drover master --zk` processes with their default timeouts, N `drover agent` processes and a
//! v1 framework, all following the leader through `zk://`. Each round kills the leading master
//! with SIGKILL and measures, from the kill:
//! - **serving**: a standby answers scheduler calls itself (a malformed SUBSCRIBE gets its 400,
//!   not a redirect or a 503);
//! - **agents**: the new leader has every agent connected again;
//! - **framework**: the framework is subscribed again with its id.
//!
//! Then the killed master is started again (it joins as a standby) for the next round.
//! With `--marathon`, the same for two `drover marathon --zk`: the leader is killed and the time
//! until the other one answers `POST /v2/apps` itself is measured.
//!
//! `cargo build --release -p drover -p drover-bench && target/release/failover --agents 100`

use anyhow::{bail, Context, Result};
use clap::Parser;
use drover_api::scheduler::{CallType, EventType};
use drover_api::FrameworkInfo;
use drover_bench::client::SchedulerClient;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Agents (each a `drover agent` process).
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Masters.
    #[arg(long, default_value_t = 3)]
    masters: usize,
    /// Failovers to measure.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
    /// Measure Marathon's failover too.
    #[arg(long)]
    marathon: bool,
}

struct Proc {
    child: Child,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `drover <args>` and read the address it prints after `marker`.
fn spawn(drover: &str, args: &[&str], marker: &str, log: &std::path::Path) -> Result<Proc> {
    let mut child = Command::new(drover)
        .args(args)
        .env(
            "DROVER_LOG",
            "warn,drover_master::leadership=info,drover_marathon::leadership=info",
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("starting {drover}"))?;
    let out = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(out).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) if l.contains(marker) => {
                let addr = l
                    .split("http://")
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return Ok(Proc { child, addr });
            }
            Some(_) => {}
            None => break,
        }
    }
    bail!("drover {args:?} did not print {marker:?}")
}

fn http() -> reqwest::Client {
    drover_httpclient::builder()
        .timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Whether the master at `addr` processes scheduler calls itself.
async fn serves(c: &reqwest::Client, addr: &str) -> bool {
    let probe =
        serde_json::json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "x"}}});
    matches!(
        c.post(format!("http://{addr}/api/v1/scheduler")).json(&probe).send().await,
        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST
    )
}

async fn connected_agents(c: &reqwest::Client, addr: &str) -> usize {
    let Ok(r) = c.get(format!("http://{addr}/master/slaves")).send().await else {
        return 0;
    };
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    v["slaves"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["connected"] == true).count())
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let drover = a.drover.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("drover").display().to_string()))
            .unwrap_or_else(|| "drover".into())
    });
    if !drover_zk::testing::available() {
        bail!("ZooKeeper is not installed (apt-get install zookeeper default-jre-headless)");
    }
    let dir = std::env::temp_dir().join(format!("drover-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let zk = drover_zk::testing::Ensemble::start(3)?;
    let mesos = zk.url("/mesos");
    println!(
        "ZooKeeper ensemble of 3 ({}); {} masters, {} agents; drover {drover}",
        zk.servers(),
        a.masters,
        a.agents
    );
    let master_args = |i: usize| -> Vec<String> {
        let w = dir.join(format!("m{i}"));
        vec![
            "master".into(),
            "--zk".into(),
            mesos.clone(),
            "--quorum".into(),
            "2".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--work-dir".into(),
            w.display().to_string(),
        ]
    };
    let start_master = |i: usize| -> Result<Proc> {
        let args = master_args(i);
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        spawn(
            &drover,
            &args,
            "master: http://",
            &dir.join(format!("m{i}.log")),
        )
    };
    let mut masters: Vec<Option<Proc>> = Vec::new();
    for i in 0..a.masters {
        masters.push(Some(start_master(i)?));
    }
    let mut agents = Vec::new();
    for i in 0..a.agents {
        let w = dir.join(format!("a{i}"));
        let w = w.display().to_string();
        agents.push(spawn(
            &drover,
            &[
                "agent",
                "--master",
                &mesos,
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
                "--work-dir",
                &w,
                "--no-cgroups",
                "--resources",
                "cpus:1;mem:256;disk:100;ports:[31000-31010]",
            ],
            "agent: http://",
            &dir.join(format!("a{i}.log")),
        )?);
    }
    let c = http();
    let leader = |masters: &Vec<Option<Proc>>| {
        let c = c.clone();
        let addrs: Vec<(usize, String)> = masters
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.as_ref().map(|m| (i, m.addr.clone())))
            .collect();
        async move {
            for (i, addr) in addrs {
                if serves(&c, &addr).await {
                    return Some((i, addr));
                }
            }
            None
        }
    };
    // The framework: follows the leader through ZooKeeper, re-subscribes with its id.
    let resubscribed: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let subscribed_once = Arc::new(tokio::sync::Notify::new());
    {
        let (mesos, resubscribed, once) =
            (mesos.clone(), resubscribed.clone(), subscribed_once.clone());
        tokio::spawn(async move {
            let mut leader = match drover_zk::Leader::new(&mesos, Duration::from_secs(10)) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("framework: {e}");
                    return;
                }
            };
            let mut id = None;
            loop {
                let m = leader.get().await;
                let info = FrameworkInfo {
                    user: "bench".into(),
                    name: "failover-bench".into(),
                    id: id.clone(),
                    failover_timeout: Some(3600.0),
                    ..Default::default()
                };
                match SchedulerClient::subscribe(&m, info).await {
                    Ok(mut s) => {
                        id = Some(s.framework_id.clone());
                        *resubscribed.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(Instant::now());
                        once.notify_one();
                        loop {
                            tokio::select! {
                                e = s.next_event(Duration::from_secs(30)) => match e {
                                    Some(ev) if ev.kind == EventType::OFFERS => {
                                        let mut d = drover_api::scheduler::Call::new(CallType::DECLINE, None);
                                        d.decline = Some(drover_api::scheduler::Decline {
                                            offer_ids: ev.offers.map(|o| o.offers.into_iter().map(|x| x.id).collect()).unwrap_or_default(),
                                            filters: None,
                                        });
                                        let _ = s.call(d).await;
                                    }
                                    Some(_) => {}
                                    None => break,
                                },
                                _ = leader.changed() => break,
                            }
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(60), subscribed_once.notified())
        .await
        .context("the framework never subscribed")?;
    let (mut serving, mut agents_back, mut framework_back) = (vec![], vec![], vec![]);
    for round in 0..a.rounds {
        // Everything in place: one leader, every agent, the framework.
        let t_ready = Instant::now();
        let (li, laddr) = loop {
            if let Some((i, addr)) = leader(&masters).await {
                if connected_agents(&c, &addr).await == a.agents {
                    break (i, addr);
                }
            }
            if t_ready.elapsed() > Duration::from_secs(120) {
                bail!("round {round}: no leader with every agent within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        *resubscribed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let t0 = Instant::now();
        masters[li] = None; // SIGKILL
        let (ni, naddr) = loop {
            if let Some(x) = leader(&masters).await {
                break x;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("round {round}: no new leader within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let s = t0.elapsed().as_secs_f64();
        while connected_agents(&c, &naddr).await < a.agents {
            if t0.elapsed() > Duration::from_secs(180) {
                bail!("round {round}: agents not back within 180 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ag = t0.elapsed().as_secs_f64();
        let fw = loop {
            if let Some(t) = *resubscribed.lock().unwrap_or_else(|e| e.into_inner()) {
                break t.duration_since(t0).as_secs_f64();
            }
            if t0.elapsed() > Duration::from_secs(180) {
                bail!("round {round}: framework not back within 180 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "round {}: killed {laddr} (master {li}); master {ni} serving after {s:.2} s, all {} agents after {ag:.2} s, framework after {fw:.2} s",
            round + 1,
            a.agents
        );
        serving.push(s);
        agents_back.push(ag);
        framework_back.push(fw);
        masters[li] = Some(start_master(li)?);
    }
    println!(
        "median of {}: serving {:.2} s, all agents {:.2} s, framework {:.2} s",
        a.rounds,
        median(&mut serving),
        median(&mut agents_back),
        median(&mut framework_back)
    );
    if a.marathon {
        let mz = zk.url("/marathon");
        let start_marathon = |i: usize| -> Result<Proc> {
            let w = dir.join(format!("marathon{i}")).display().to_string();
            spawn(
                &drover,
                &[
                    "marathon",
                    "--master",
                    &mesos,
                    "--zk",
                    &mz,
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--work-dir",
                    &w,
                ],
                "marathon: http://",
                &dir.join(format!("marathon{i}.log")),
            )
        };
        let mut ms = [Some(start_marathon(0)?), Some(start_marathon(1)?)];
        let mut times = vec![];
        for round in 0..a.rounds {
            let t_ready = Instant::now();
            let li = loop {
                let mut found = None;
                for (i, m) in ms.iter().enumerate() {
                    let Some(m) = m else { continue };
                    if let Ok(r) = c.get(format!("http://{}/v2/leader", m.addr)).send().await {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if v["leader"] == m.addr.as_str() {
                            found = Some(i);
                        }
                    }
                }
                if let Some(i) = found {
                    break i;
                }
                if t_ready.elapsed() > Duration::from_secs(60) {
                    bail!("marathon round {round}: no leader");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            tokio::time::sleep(Duration::from_secs(2)).await;
            let other = ms[1 - li]
                .as_ref()
                .map(|m| m.addr.clone())
                .unwrap_or_default();
            let t0 = Instant::now();
            ms[li] = None;
            let app = serde_json::json!({"id": format!("/failover-{round}"), "cmd": "sleep 1", "cpus": 0.01, "mem": 8, "instances": 0});
            loop {
                if let Ok(r) = c
                    .post(format!("http://{other}/v2/apps"))
                    .json(&app)
                    .send()
                    .await
                {
                    let led_here = r
                        .headers()
                        .get("X-Marathon-Leader")
                        .and_then(|v| v.to_str().ok())
                        == Some(&format!("http://{other}"));
                    if r.status().is_success() && led_here {
                        break;
                    }
                }
                if t0.elapsed() > Duration::from_secs(120) {
                    bail!("marathon round {round}: the other Marathon never answered as leader");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let t = t0.elapsed().as_secs_f64();
            println!("marathon round {}: leader killed; the other answers POST /v2/apps as leader after {t:.2} s", round + 1);
            times.push(t);
            ms[li] = Some(start_marathon(li)?);
        }
        println!(
            "marathon median of {}: {:.2} s",
            a.rounds,
            median(&mut times)
        );
    }
    drop(agents);
    drop(masters);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
