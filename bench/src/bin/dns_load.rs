//! Load for the DNS' queries-per-second figure (`scripts/bench-dns.sh` drives it with dnsperf).
//!
//! - `dns_load master`: a fake Mesos master on 127.0.0.1:0 whose operator `SUBSCRIBE` answers one
//!   SUBSCRIBED event holding N RUNNING Marathon tasks (Drover's own v1 types, serialized as its
//!   master does: ports resources, Marathon's DiscoveryInfo, a TASK_RUNNING status) over some
//!   agents, then keeps the stream open with HEARTBEATs. It writes a dnsperf query file over those
//!   tasks (A on `<app>.marathon.mesos`, SRV on `_<app>._tcp.marathon.mesos`, canonical
//!   `<app>-<hash5>-<agent tail>.marathon.mesos`, a few NXDOMAIN names), prints
//!   `master: http://ADDR` and one canonical name to ask for (`probe: NAME`), and serves until
//!   killed.
//! - `dns_load echo`: the floor — a trivial UDP responder (the query sent back as a reply with no
//!   answers), to measure what dnsperf and the loopback do on this machine.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use drover_api::operator::Task;
use drover_api::{AgentID, Range, Resource, TaskID};
use drover_api::{TaskState, TaskStatus};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the fake master and write the query file.
    Master {
        /// Running tasks in the state.
        #[arg(long, default_value_t = 10_000)]
        tasks: usize,
        /// Marathon apps they belong to (tasks / apps instances each; 5 keeps SRV replies
        /// under 512 bytes).
        #[arg(long, default_value_t = 2_000)]
        apps: usize,
        #[arg(long, default_value_t = 100)]
        agents: usize,
        /// Where the dnsperf query file goes.
        #[arg(long, default_value = "queries.txt")]
        queries: String,
        /// Lines in the query file (dnsperf loops over it).
        #[arg(long, default_value_t = 200_000)]
        lines: usize,
        /// Seconds between HEARTBEATs.
        #[arg(long, default_value_t = 15)]
        heartbeat: u64,
    },
    /// A trivial UDP responder: each datagram sent back with QR set (the machine's floor).
    Echo {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

/// A task of the fake cluster and the names it answers to.
struct Planned {
    app: String,
    canonical: String,
}

use drover_bench::fake::{agent_id, agent_ip};

/// The SUBSCRIBED event and the tasks in it.
fn cluster(tasks: usize, apps: usize, agents: usize) -> (serde_json::Value, Vec<Planned>) {
    let fid = drover_bench::fake::framework_id();
    let apps = apps.clamp(1, tasks.max(1));
    let agents = agents.max(1);
    let mut out = Vec::with_capacity(tasks);
    let mut list = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let app = format!("app-{:05}", i % apps);
        // Instances of one app on different agents (one A record each).
        let agent = (i + i / apps) % agents;
        let id = format!(
            "{app}.{:08x}-{:04x}-11ee-8000-0242ac110002",
            i * 7919,
            i % 65536
        );
        let port = 31000 + (i / agents) as u64 % 1000;
        let mut status = TaskStatus::new(TaskID::new(&id), TaskState::TASK_RUNNING);
        status.agent_id = Some(AgentID::new(agent_id(agent)));
        status.timestamp = Some(1_700_000_000.0 + i as f64 / 1000.0);
        status.container_status = Some(serde_json::json!({
            "network_infos": [{"ip_addresses": [{"ip_address": agent_ip(agent)}]}]
        }));
        list.push(Task {
            name: app.clone(),
            task_id: TaskID::new(&id),
            framework_id: fid.clone(),
            executor_id: None,
            agent_id: AgentID::new(agent_id(agent)),
            state: TaskState::TASK_RUNNING,
            resources: vec![
                Resource::scalar("cpus", 0.1),
                Resource::scalar("mem", 32.0),
                Resource::ranges(
                    "ports",
                    vec![Range {
                        begin: port,
                        end: port,
                    }],
                ),
            ],
            statuses: vec![status],
            status_update_state: None,
            status_update_uuid: None,
            labels: None,
            discovery: Some(serde_json::json!({
                "visibility": "FRAMEWORK", "name": app,
                "ports": {"ports": [{"number": port, "protocol": "tcp"}]}
            })),
            container: None,
            health_check: None,
            kill_policy: None,
            user: None,
        });
        let tail = agent_id(agent)
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        out.push(Planned {
            canonical: format!("{app}-{}-{tail}", drover_dns::hash5(&id)),
            app,
        });
    }
    let ev = drover_bench::fake::subscribed(list, agents, &[]);
    (ev, out)
}

/// The dnsperf query file: 45% A on the app name, 30% SRV, 20% canonical A, 5% NXDOMAIN.
fn write_queries(path: &str, planned: &[Planned], lines: usize) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    let mut w = std::io::BufWriter::new(f);
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..lines {
        let p = &planned[rng.usize(..planned.len())];
        match rng.u32(..100) {
            0..45 => writeln!(w, "{}.marathon.mesos A", p.app)?,
            45..75 => writeln!(w, "_{}._tcp.marathon.mesos SRV", p.app)?,
            75..95 => writeln!(w, "{}.marathon.mesos A", p.canonical)?,
            _ => writeln!(w, "nope-{}.marathon.mesos A", rng.u32(..1_000_000))?,
        }
    }
    w.flush()?;
    Ok(())
}

/// Read one HTTP/1.1 request (head and a Content-Length body); `None` at EOF or on garbage.
async fn read_request(c: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 << 10 {
            return None;
        }
        let n = c.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = c.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// One connection: `POST /api/v1` with a SUBSCRIBE gets the stream; anything else a 404.
async fn serve_conn(mut c: TcpStream, subscribed: Arc<Vec<u8>>, heartbeat: Duration) {
    let Some((head, body)) = read_request(&mut c).await else {
        return;
    };
    let is_subscribe = head.starts_with("POST /api/v1 ")
        && String::from_utf8_lossy(&body).contains("\"SUBSCRIBE\"");
    if !is_subscribe {
        let _ = c
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    eprintln!("dns_load: a subscriber");
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    if c.write_all(head).await.is_err() || c.write_all(&chunk(&subscribed)).await.is_err() {
        return;
    }
    let beat = chunk(&drover_api::recordio::encode(br#"{"type":"HEARTBEAT"}"#));
    loop {
        tokio::time::sleep(heartbeat).await;
        if c.write_all(&beat).await.is_err() {
            return;
        }
    }
}

async fn master(
    tasks: usize,
    apps: usize,
    agents: usize,
    queries: &str,
    lines: usize,
    heartbeat: u64,
) -> Result<()> {
    let (ev, planned) = cluster(tasks, apps, agents);
    let body = serde_json::to_vec(&ev)?;
    let framed = Arc::new(drover_api::recordio::encode(&body));
    write_queries(queries, &planned, lines)?;
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let probe = planned
        .first()
        .map(|p| format!("{}.marathon.mesos", p.canonical))
        .unwrap_or_default();
    println!("master: http://{}", l.local_addr()?);
    println!("probe: {probe}");
    println!(
        "state: {tasks} tasks, {} apps, {agents} agents, SUBSCRIBED {} bytes; {lines} queries in {queries}",
        apps.clamp(1, tasks.max(1)),
        framed.len()
    );
    std::io::stdout().flush()?;
    let heartbeat = Duration::from_secs(heartbeat.max(1));
    loop {
        let (c, _) = l.accept().await?;
        tokio::spawn(serve_conn(c, framed.clone(), heartbeat));
    }
}

fn echo(listen: &str) -> Result<()> {
    let s = std::net::UdpSocket::bind(listen)?;
    println!("echo: {}", s.local_addr()?);
    std::io::stdout().flush()?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, peer) = s.recv_from(&mut buf)?;
        if n >= 12 {
            buf[2] |= 0x80;
            let _ = s.send_to(&buf[..n], peer);
        }
    }
}

fn main() -> Result<()> {
    match Args::parse().cmd {
        Cmd::Master {
            tasks,
            apps,
            agents,
            queries,
            lines,
            heartbeat,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(master(tasks, apps, agents, &queries, lines, heartbeat)),
        Cmd::Echo { listen } => echo(&listen),
    }
}
