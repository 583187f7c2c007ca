//! How long a task that turned RUNNING takes to be resolvable, during a large deploy: against a
//! `drover up` on this machine, this subscribes to the master's operator event stream, POSTs one
//! Marathon app of `--instances` instances, and for every task of it whose TASK_UPDATED says
//! TASK_RUNNING (timestamped as the event arrives here) asks the DNS over UDP for the task's
//! canonical A name (`<label>-<hash5(task id)>-<agent tail>.<framework>.mesos`, named as
//! crates/dns names it) every `--interval-ms` until it answers. Prints the lag's p50/p90/p99/max
//! and how many resolved, then deletes the app and stops `drover up` (SIGINT).
//!
//! `cargo build --release -p drover -p drover-bench && target/release/dns_lag`

use anyhow::{bail, Context, Result};
use clap::Parser;
use drover_api::recordio::Decoder;
use drover_dns::{hash5, LabelRule};
use futures_util::StreamExt;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

#[derive(Parser)]
struct Args {
    /// Instances of the app.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
    /// Agents `drover up` runs.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Each agent's resources.
    #[arg(
        long,
        default_value = "cpus:64;mem:65536;disk:10000;ports:[31000-32000]"
    )]
    resources: String,
    /// How often a pending name is asked for.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
    /// How long to wait for every instance to run and resolve.
    #[arg(long, default_value_t = 300)]
    deadline_s: u64,
    /// Give each instance one port (so it has SRV records too).
    #[arg(long)]
    port: bool,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
    /// `DROVER_LOG` for `drover up` (e.g. `warn,drover_dns=debug` shows each build's cost).
    #[arg(long, default_value = "warn")]
    log: String,
    /// Where `drover up`'s log goes (default: its work directory, removed at the end).
    #[arg(long)]
    log_file: Option<std::path::PathBuf>,
}

const APP: &str = "/lagapp";

/// `drover up`, stopped with SIGINT when dropped (SIGKILL if it has not ended in 120 s).
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A task seen turning RUNNING.
struct Running {
    name: String,
    at: Instant,
}

/// A name being asked for: its query (the DNS id is its index) and when it first answered.
struct Pending {
    query: Vec<u8>,
    at: Instant,
    resolved: Option<Instant>,
}

/// What the stream tells about the app's tasks: label, agent and framework per task id.
#[derive(Default)]
struct Seen {
    frameworks: HashMap<String, String>,
    tasks: HashMap<String, (String, String, String)>,
    running: std::collections::HashSet<String>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
}

impl Seen {
    fn framework(&mut self, f: &Value) {
        let info = &f["framework_info"];
        let id = str_at(info, &["id", "value"]);
        if !id.is_empty() {
            self.frameworks
                .insert(id.to_string(), str_at(info, &["name"]).to_string());
        }
    }

    fn task(&mut self, t: &Value) {
        let id = str_at(t, &["task_id", "value"]);
        if !id.starts_with("lagapp.") {
            return;
        }
        // The label as records.rs takes it: DiscoveryInfo's name, else the task's.
        let name = match str_at(t, &["discovery", "name"]) {
            "" => str_at(t, &["name"]),
            d => d,
        };
        self.tasks.insert(
            id.to_string(),
            (
                LabelRule::Rfc1123.label(name),
                str_at(t, &["agent_id", "value"]).to_string(),
                str_at(t, &["framework_id", "value"]).to_string(),
            ),
        );
    }

    /// The canonical A name of a task that just turned RUNNING (once per task).
    fn running(&mut self, ev: &Value) -> Option<String> {
        let status = &ev["status"];
        let id = str_at(status, &["task_id", "value"]);
        let state = match str_at(ev, &["state"]) {
            "" => str_at(status, &["state"]),
            s => s,
        };
        if state != "TASK_RUNNING" || !id.starts_with("lagapp.") || self.running.contains(id) {
            return None;
        }
        let (label, agent, fid) = self.tasks.get(id).cloned().unwrap_or_else(|| {
            (
                "lagapp".into(),
                String::new(),
                str_at(ev, &["framework_id", "value"]).into(),
            )
        });
        let agent = match str_at(status, &["agent_id", "value"]) {
            "" => agent,
            a => a.to_string(),
        };
        let tail = agent
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let fname = self.frameworks.get(&fid).map_or_else(
            || "marathon".to_string(),
            |n| LabelRule::Rfc1123.domain_frag(n),
        );
        self.running.insert(id.to_string());
        Some(format!("{label}-{}-{tail}.{fname}.mesos.", hash5(id)))
    }
}

/// Follow the master's operator stream; send each of the app's tasks turning RUNNING. `ready`
/// fires once SUBSCRIBED was read.
async fn follow(
    http: reqwest::Client,
    master: String,
    tx: mpsc::UnboundedSender<Running>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<()> {
    let resp = http
        .post(format!("http://{master}/api/v1"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(r#"{"type":"SUBSCRIBE"}"#)
        .send()
        .await?
        .error_for_status()?;
    let mut body = resp.bytes_stream();
    let mut dec = Decoder::new(512 << 20);
    let mut seen = Seen::default();
    let mut ready = Some(ready);
    while let Some(chunk) = body.next().await {
        let at = Instant::now();
        dec.feed(&chunk?);
        while let Some(rec) = dec.next_record()? {
            let Ok(ev) = serde_json::from_slice::<Value>(&rec) else {
                continue;
            };
            match ev["type"].as_str().unwrap_or_default() {
                "SUBSCRIBED" => {
                    let st = &ev["subscribed"]["get_state"];
                    for f in st["get_frameworks"]["frameworks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        seen.framework(f);
                    }
                    for t in st["get_tasks"]["tasks"].as_array().into_iter().flatten() {
                        seen.task(t);
                    }
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                "FRAMEWORK_ADDED" | "FRAMEWORK_UPDATED" => {
                    let key = ev["type"].as_str().unwrap_or_default().to_ascii_lowercase();
                    seen.framework(&ev[key.as_str()]["framework"]);
                }
                "TASK_ADDED" => seen.task(&ev["task_added"]["task"]),
                "TASK_UPDATED" => {
                    if let Some(name) = seen.running(&ev["task_updated"]) {
                        if tx.send(Running { name, at }).is_err() {
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    bail!("the master's event stream ended")
}

/// Ask for every unresolved name every `every`.
async fn asker(
    sock: Arc<UdpSocket>,
    dns: SocketAddr,
    pending: Arc<Mutex<Vec<Pending>>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due: Vec<Vec<u8>> = match pending.lock() {
            Ok(p) => p
                .iter()
                .filter(|p| p.resolved.is_none())
                .map(|p| p.query.clone())
                .collect(),
            Err(_) => return,
        };
        for q in due {
            let _ = sock.send_to(&q, dns).await;
        }
    }
}

/// Mark names resolved as their answers (NOERROR with an A record) arrive.
async fn answers(sock: Arc<UdpSocket>, pending: Arc<Mutex<Vec<Pending>>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok(n) = sock.recv(&mut buf).await else {
            continue;
        };
        let now = Instant::now();
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let ok = m.metadata.response_code == ResponseCode::NoError
            && m.answers.iter().any(|r| r.record_type() == RecordType::A);
        if !ok {
            continue;
        }
        if let Ok(mut p) = pending.lock() {
            if let Some(p) = p.get_mut(usize::from(m.id)) {
                p.resolved.get_or_insert(now);
            }
        }
    }
}

fn query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    Ok(m.to_vec()?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The address after `http://` in a line.
fn url_addr(line: &str) -> Option<String> {
    Some(
        line.split("http://")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_string(),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.instances == 0 || args.instances > usize::from(u16::MAX) {
        bail!("--instances: 1 to 65535");
    }
    let drover = match args.drover {
        Some(d) => d,
        None => std::env::current_exe()?
            .with_file_name("drover")
            .to_string_lossy()
            .to_string(),
    };
    let dir = std::env::temp_dir().join(format!("drover-dns-lag-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut child = Command::new(&drover)
        .args(["up", "--work-dir", &dir.to_string_lossy()])
        .args([
            "--agents",
            &args.agents.to_string(),
            "--resources",
            &args.resources,
        ])
        .args(["--port", "0", "--agent-port", "0", "--marathon-port", "0"])
        .args([
            "--gateway-port",
            "0",
            "--dns-port",
            "0",
            "--dns-http-port",
            "0",
            "--jobs-port",
            "0",
        ])
        .env("DROVER_LOG", &args.log)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(
            args.log_file.clone().unwrap_or_else(|| dir.join("up.log")),
        )?)
        .spawn()
        .with_context(|| format!("starting {drover} up"))?;
    let out = child.stdout.take().context("stdout")?;
    let up = Up(child);
    let (mut master, mut marathon, mut dns) = (None, None, None);
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line?;
        let t = line.trim_start();
        if t.starts_with("master: ") {
            master = url_addr(t);
        } else if t.starts_with("marathon: ") {
            marathon = url_addr(t);
        } else if let Some(rest) = t.strip_prefix("dns: ") {
            dns = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.parse::<SocketAddr>().ok());
        }
        if master.is_some() && marathon.is_some() && dns.is_some() {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (Some(master), Some(marathon), Some(dns)) = (master, marathon, dns) else {
        bail!("drover up did not print its master, Marathon and DNS addresses");
    };
    println!(
        "drover up: master {master}, marathon {marathon}, dns {dns}; {} agents",
        args.agents
    );

    let http = drover_httpclient::client()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let follower = tokio::spawn(follow(http.clone(), master.clone(), tx, ready_tx));
    tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .context("no SUBSCRIBED from the master in 30 s")?
        .context("the event stream ended before SUBSCRIBED")?;

    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let pending: Arc<Mutex<Vec<Pending>>> = Arc::default();
    let every = Duration::from_millis(args.interval_ms.max(1));
    let ask = tokio::spawn(asker(sock.clone(), dns, pending.clone(), every));
    let recv = tokio::spawn(answers(sock, pending.clone()));

    let mut app = serde_json::json!({"id": APP, "cmd": "sleep 3600", "cpus": 0.01, "mem": 4,
        "instances": args.instances, "portDefinitions": []});
    if args.port {
        app["portDefinitions"] = serde_json::json!([{"port": 0, "protocol": "tcp"}]);
    }
    let posted = Instant::now();
    let r = http
        .post(format!("http://{marathon}/v2/apps"))
        .json(&app)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "POST /v2/apps: HTTP {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    println!(
        "POST {APP}: {} instances (cpus 0.01, mem 4, {} port)",
        args.instances,
        if args.port { "one" } else { "no" }
    );

    let deadline = posted + Duration::from_secs(args.deadline_s);
    let (mut first, mut last) = (None, None);
    let mut seen = 0usize;
    let mut progress = Instant::now();
    loop {
        let resolved = pending
            .lock()
            .map(|p| p.iter().filter(|p| p.resolved.is_some()).count())
            .unwrap_or(0);
        if seen == args.instances && resolved == seen {
            break;
        }
        if Instant::now() >= deadline {
            println!("deadline: {seen} RUNNING, {resolved} resolved");
            break;
        }
        if progress.elapsed() >= Duration::from_secs(10) {
            progress = Instant::now();
            println!(
                "  {:>5.1} s: {seen} RUNNING, {resolved} resolved",
                posted.elapsed().as_secs_f64()
            );
        }
        match tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            Ok(Some(run)) => {
                first.get_or_insert(run.at);
                last = Some(run.at);
                let id = u16::try_from(seen).context("too many tasks")?;
                let q = query(id, &run.name)?;
                if let Ok(mut p) = pending.lock() {
                    p.push(Pending {
                        query: q,
                        at: run.at,
                        resolved: None,
                    });
                }
                seen += 1;
            }
            Ok(None) => match follower.await {
                Ok(Err(e)) => bail!("following the master: {e}"),
                _ => bail!("following the master stopped"),
            },
            Err(_) => {}
        }
    }
    ask.abort();
    recv.abort();
    let mut lags: Vec<f64> = pending
        .lock()
        .map(|p| {
            p.iter()
                .filter_map(|p| Some(p.resolved?.duration_since(p.at).as_secs_f64() * 1e3))
                .collect()
        })
        .unwrap_or_default();
    lags.sort_by(|a, b| a.total_cmp(b));
    let secs = |t: Option<Instant>| t.map_or(f64::NAN, |t| t.duration_since(posted).as_secs_f64());
    println!(
        "RUNNING: {seen}/{} tasks, the first {:.1} s and the last {:.1} s after the POST",
        args.instances,
        secs(first),
        secs(last)
    );
    println!(
        "RUNNING -> resolvable (polled every {} ms): {} of {seen} resolved; p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        args.interval_ms,
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.9),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    let r = http
        .delete(format!("http://{marathon}/v2/apps{APP}?force=true"))
        .send()
        .await;
    match r {
        Ok(r) if r.status().is_success() => println!("DELETE {APP}: done; stopping drover up"),
        Ok(r) => println!("DELETE {APP}: HTTP {}; stopping drover up", r.status()),
        Err(e) => println!("DELETE {APP}: {e}; stopping drover up"),
    }
    follower.abort();
    let stop = Instant::now();
    drop(up);
    println!("drover up stopped in {:.1} s", stop.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
