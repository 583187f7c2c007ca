//! `loadgen`: end-to-end load for a Drover cluster, measured from a real v1 scheduler.
//!
//! * `throughput` — launch N short command tasks (`true`) as fast as offers allow, acknowledge
//!   every update, report wall time and tasks/s until the last TASK_FINISHED.
//! * `latency` — launch N long tasks (`sleep 30`), optionally paced, and report the
//!   ACCEPT-sent → TASK_RUNNING-received latency per task (p50/p90/p99/max). With
//!   `--state-poller`, a client on a thread of its own fetches the master's `/master/state`
//!   back to back while the run lasts (do reads stall the launches?).
//! * `hold` — launch N long tasks (`sleep 600`), wait until all run, report the master's resident
//!   memory per 1,000 running tasks (`--master-pid`), keep them for `--hold-secs`.
//! * `hollow` — register many fake agents over the agent protocol, heartbeat them, report the
//!   master's resident memory per 1,000 agents.
//! * `forkrate` — this machine's own fork/exec rate of `true`: the floor for any task launcher.

use clap::{Args, Parser, Subcommand};
use drover_api::agent_protocol::{
    AgentCall, FromAgent, Register, ToAgent, CALL_PATH, PROTOCOL_VERSION, REGISTER_PATH,
};
use drover_api::recordio::Decoder;
use drover_api::scheduler::{Accept, Acknowledge, Call, CallType, Decline, EventType};
use drover_api::{
    AgentID, AgentInfo, CommandInfo, Filters, FrameworkInfo, Offer, Operation, Resource, Resources,
    TaskID, TaskInfo, TaskState,
};
use drover_bench::client::SchedulerClient;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "End-to-end load generator and meter for Drover"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Clone, Debug)]
struct LaunchOpts {
    /// Master host:port.
    #[arg(long, env = "DROVER_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// Number of tasks.
    #[arg(long, short)]
    n: Option<usize>,
    /// Shell command each task runs (default depends on the mode).
    #[arg(long)]
    cmd: Option<String>,
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    #[arg(long, default_value_t = 1.0)]
    mem: f64,
    /// Launch at most this many tasks per second (0: as fast as offers allow).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// At most this many tasks in one ACCEPT (0: as many as fit in the offer).
    #[arg(long, default_value_t = 0)]
    batch: usize,
    /// At most this many launched-but-not-terminal tasks at once (0: no limit).
    #[arg(long, default_value_t = 0)]
    max_inflight: usize,
    /// Pid of the master process: report its VmRSS before and after.
    #[arg(long)]
    master_pid: Option<u32>,
    /// Pids whose CPU time (user+sys, own and waited-for children) to report per task, e.g. the
    /// master's and the agents'.
    #[arg(long, value_delimiter = ',')]
    watch_pids: Vec<u32>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600.0)]
    timeout: f64,
    /// Concurrent HTTP calls (ACCEPT/ACKNOWLEDGE) in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// While the run lasts, fetch `--state-path` from the master in a loop (one request after
    /// another, each body read to its end) from a thread and HTTP client of its own.
    #[arg(long)]
    state_poller: bool,
    /// What the poller fetches.
    #[arg(long, default_value = "/master/state")]
    state_path: String,
}

#[derive(Subcommand)]
enum Mode {
    /// N short tasks (`true`): wall time and tasks/s.
    Throughput(LaunchOpts),
    /// N long tasks (`sleep 30`): ACCEPT → TASK_RUNNING latency percentiles.
    Latency(LaunchOpts),
    /// N long tasks (`sleep 600`) kept running: master RSS per 1,000 tasks.
    Hold {
        #[command(flatten)]
        opts: LaunchOpts,
        /// Seconds to keep the tasks running after they all run (they are killed on exit).
        #[arg(long, default_value_t = 0.0)]
        hold_secs: f64,
        /// Seconds to wait after the last TASK_RUNNING before reading RSS.
        #[arg(long, default_value_t = 3.0)]
        settle_secs: f64,
    },
    /// Register fake agents and heartbeat them: master RSS per 1,000 agents.
    Hollow {
        #[arg(long, env = "DROVER_MASTER", default_value = "127.0.0.1:5050")]
        master: String,
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        #[arg(
            long,
            default_value = "cpus:8;mem:16384;disk:100000;ports:[31000-32000]"
        )]
        resources: String,
        #[arg(long)]
        master_pid: Option<u32>,
        /// Registrations in flight at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long, default_value_t = 5.0)]
        settle_secs: f64,
        #[arg(long, default_value_t = 0.0)]
        hold_secs: f64,
    },
    /// This machine's fork/exec rate of `true`, sequential and with parallel spawners.
    Forkrate {
        #[arg(long, short, default_value_t = 2000)]
        n: usize,
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        parallel: Vec<usize>,
    },
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds of a process: user + system, its own and its reaped children's.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = (11..=14)
        .map(|i| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        .sum();
    Some(ticks / 100.0)
}

/// This process's own CPU seconds.
fn self_cpu() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// What posts calls for the framework; cheap to clone into spawned tasks.
#[derive(Clone)]
struct Poster {
    http: reqwest::Client,
    url: String,
    stream_id: String,
    fid: drover_api::FrameworkID,
    sem: Arc<tokio::sync::Semaphore>,
    errors: Arc<AtomicUsize>,
}

impl Poster {
    fn spawn(&self, mut call: Call) {
        call.framework_id = Some(self.fid.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = me.sem.acquire().await else {
                return;
            };
            let r = me
                .http
                .post(&me.url)
                .header("Mesos-Stream-Id", &me.stream_id)
                .json(&call)
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => {}
                Ok(resp) => {
                    let st = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    if me.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("call {:?} answered {st}: {body}", call.kind);
                    }
                }
                Err(e) => {
                    if me.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("call {:?} failed: {e}", call.kind);
                    }
                }
            }
        });
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Until {
    /// Every task reached a terminal state.
    Terminal,
    /// Every task reached TASK_RUNNING (or a terminal state).
    Running,
}

struct RunReport {
    n: usize,
    launched: usize,
    running: usize,
    finished: usize,
    failed: usize,
    /// First ACCEPT sent → the moment the goal was reached.
    wall: Duration,
    /// ACCEPT sent → TASK_RUNNING received, seconds.
    to_running: Vec<f64>,
    /// ACCEPT sent → TASK_STARTING received, seconds.
    to_starting: Vec<f64>,
    /// ACCEPT sent → terminal update received, seconds.
    to_terminal: Vec<f64>,
    rss_before: Option<u64>,
    rss_after: Option<u64>,
    call_errors: usize,
    failures: Vec<String>,
    /// (pid, CPU seconds used during the run) of the watched processes, then loadgen's own.
    cpu: Vec<(u32, f64)>,
    loadgen_cpu: f64,
    poller: Option<PollReport>,
}

/// What the state poller saw.
struct PollReport {
    path: String,
    /// Seconds per fetch (request sent → last byte of the body read).
    fetches: Vec<f64>,
    bytes_last: usize,
    errors: usize,
}

/// Fetch `http://master{path}` back to back until `stop`, on a thread of its own (its own
/// runtime and HTTP client, so the launches' event loop is not the one reading the bodies).
fn start_poller(
    master: &str,
    path: &str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<PollReport> {
    let url = format!("http://{master}{path}");
    let path = path.to_string();
    std::thread::spawn(move || {
        let mut rep = PollReport {
            path,
            fetches: Vec::new(),
            bytes_last: 0,
            errors: 0,
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("state poller: no runtime: {e}");
                rep.errors += 1;
                return rep;
            }
        };
        rt.block_on(async {
            let http = match drover_httpclient::builder().tcp_nodelay(true).build() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("state poller: no HTTP client: {e}");
                    rep.errors += 1;
                    return;
                }
            };
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let body = match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await,
                    Ok(r) => {
                        if rep.errors < 5 {
                            eprintln!("state poller: {url} answered {}", r.status());
                        }
                        rep.errors += 1;
                        continue;
                    }
                    Err(e) => Err(e),
                };
                match body {
                    Ok(b) => {
                        rep.fetches.push(t.elapsed().as_secs_f64());
                        rep.bytes_last = b.len();
                    }
                    Err(e) => {
                        if rep.errors < 5 {
                            eprintln!("state poller: {url}: {e}");
                        }
                        rep.errors += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        rep
    })
}

fn offer_scalar(o: &Offer, name: &str) -> f64 {
    Resources::from_list(&o.resources).scalar(name)
}

async fn run_tasks(
    opts: &LaunchOpts,
    default_n: usize,
    default_cmd: &str,
    until: Until,
    settle: Duration,
) -> anyhow::Result<(RunReport, SchedulerClient, Poster)> {
    let n = opts.n.unwrap_or(default_n);
    let cmd = opts.cmd.clone().unwrap_or_else(|| default_cmd.to_string());
    let info = FrameworkInfo {
        user: String::new(),
        name: "drover-loadgen".into(),
        failover_timeout: Some(0.0),
        roles: vec![],
        ..Default::default()
    };
    let rss_before = opts.master_pid.and_then(rss_kib);
    let cpu_before: Vec<f64> = opts
        .watch_pids
        .iter()
        .map(|p| cpu_secs(*p).unwrap_or(0.0))
        .collect();
    let self_before = self_cpu();
    let mut client = SchedulerClient::subscribe(&opts.master, info).await?;
    let poster = Poster {
        http: client.http.clone(),
        url: format!("http://{}/api/v1/scheduler", opts.master),
        stream_id: client.stream_id.clone(),
        fid: client.framework_id.clone(),
        sem: Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1))),
        errors: Arc::new(AtomicUsize::new(0)),
    };
    let run = uuid_like();
    let mut held: Vec<Offer> = Vec::new();
    let mut accepted_at: HashMap<TaskID, Instant> = HashMap::with_capacity(n);
    let mut report = RunReport {
        n,
        launched: 0,
        running: 0,
        finished: 0,
        failed: 0,
        wall: Duration::ZERO,
        to_running: Vec::with_capacity(n),
        to_starting: Vec::with_capacity(n),
        to_terminal: Vec::with_capacity(n),
        rss_before,
        rss_after: None,
        call_errors: 0,
        failures: vec![],
        cpu: vec![],
        loadgen_cpu: 0.0,
        poller: None,
    };
    let stop_poller = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = opts
        .state_poller
        .then(|| start_poller(&opts.master, &opts.state_path, stop_poller.clone()));
    let mut terminal = 0usize;
    let mut first_accept: Option<Instant> = None;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(opts.timeout);
    let mut budget = 0.0f64;
    let mut last_tick = Instant::now();
    let mut last_progress = Instant::now();
    let mut suppressed = false;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let goal = |r: &RunReport, terminal: usize| match until {
        Until::Terminal => terminal >= n,
        Until::Running => r.running + r.failed >= n,
    };
    loop {
        if goal(&report, terminal) {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("timeout after {:?}", started.elapsed());
            break;
        }
        let ev = tokio::select! {
            ev = client.events.recv() => match ev {
                Some(ev) => Some(ev),
                None => anyhow::bail!("subscription stream closed"),
            },
            _ = ticker.tick() => None,
        };
        if let Some(ev) = ev {
            match ev.kind {
                EventType::OFFERS => held.extend(ev.offers.map(|o| o.offers).unwrap_or_default()),
                EventType::RESCIND => {
                    if let Some(r) = ev.rescind {
                        held.retain(|o| o.id != r.offer_id);
                    }
                }
                EventType::UPDATE => {
                    let Some(u) = ev.update else { continue };
                    let st = u.status;
                    if let (Some(uuid), Some(agent_id)) = (st.uuid.clone(), st.agent_id.clone()) {
                        let mut c = Call::new(CallType::ACKNOWLEDGE, None);
                        c.acknowledge = Some(Acknowledge {
                            agent_id,
                            task_id: st.task_id.clone(),
                            uuid,
                        });
                        poster.spawn(c);
                    }
                    let now = Instant::now();
                    let at = accepted_at.get(&st.task_id).copied();
                    if st.state == TaskState::TASK_STARTING {
                        if let Some(t) = at {
                            report.to_starting.push((now - t).as_secs_f64());
                        }
                    } else if st.state == TaskState::TASK_RUNNING {
                        report.running += 1;
                        if let Some(t) = at {
                            report.to_running.push((now - t).as_secs_f64());
                        }
                    } else if st.state.is_terminal() {
                        terminal += 1;
                        if let Some(t) = at {
                            report.to_terminal.push((now - t).as_secs_f64());
                        }
                        if st.state == TaskState::TASK_FINISHED {
                            report.finished += 1;
                        } else {
                            report.failed += 1;
                            if report.failures.len() < 5 {
                                report.failures.push(format!(
                                    "{} {:?}: {}",
                                    st.task_id,
                                    st.state,
                                    st.message.clone().unwrap_or_default()
                                ));
                            }
                        }
                    }
                }
                EventType::ERROR => anyhow::bail!("master sent ERROR: {:?}", ev.error),
                _ => {}
            }
        }
        // Launch what the pacing, the in-flight limit and the held offers allow.
        let now = Instant::now();
        if opts.rate > 0.0 {
            budget = (budget + opts.rate * (now - last_tick).as_secs_f64()).min(opts.rate.max(1.0));
        }
        last_tick = now;
        while report.launched < n && !held.is_empty() {
            let mut room = n - report.launched;
            if opts.rate > 0.0 {
                room = room.min(budget as usize);
            }
            if opts.max_inflight > 0 {
                let inflight = report.launched - terminal;
                room = room.min(opts.max_inflight.saturating_sub(inflight));
            }
            if opts.batch > 0 {
                room = room.min(opts.batch);
            }
            if room == 0 {
                break;
            }
            let offer = held.remove(0);
            let fit = ((offer_scalar(&offer, "cpus") + 1e-9) / opts.cpus)
                .floor()
                .min((offer_scalar(&offer, "mem") + 1e-9) / opts.mem)
                as usize;
            let k = fit.min(room);
            if k == 0 {
                let mut c = Call::new(CallType::DECLINE, None);
                c.decline = Some(Decline {
                    offer_ids: vec![offer.id.clone()],
                    filters: Some(Filters {
                        refuse_seconds: Some(0.0),
                    }),
                });
                poster.spawn(c);
                continue;
            }
            let mut tasks = Vec::with_capacity(k);
            let t0 = Instant::now();
            first_accept.get_or_insert(t0);
            for _ in 0..k {
                let id = TaskID::new(format!("lg-{run}-{}", report.launched));
                report.launched += 1;
                accepted_at.insert(id.clone(), t0);
                tasks.push(TaskInfo {
                    name: id.value.clone(),
                    task_id: id,
                    agent_id: offer.agent_id.clone(),
                    resources: vec![
                        Resource::scalar("cpus", opts.cpus),
                        Resource::scalar("mem", opts.mem),
                    ],
                    executor: None,
                    command: Some(CommandInfo {
                        value: Some(cmd.clone()),
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
                });
            }
            budget -= k as f64;
            let mut c = Call::new(CallType::ACCEPT, None);
            c.accept = Some(Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::launch(tasks)],
                filters: Some(Filters {
                    refuse_seconds: Some(0.0),
                }),
            });
            poster.spawn(c);
        }
        if report.launched >= n && !held.is_empty() {
            let ids = held.drain(..).map(|o| o.id).collect();
            let mut c = Call::new(CallType::DECLINE, None);
            c.decline = Some(Decline {
                offer_ids: ids,
                filters: Some(Filters {
                    refuse_seconds: Some(3600.0),
                }),
            });
            poster.spawn(c);
            if !suppressed {
                suppressed = true;
                poster.spawn(Call::new(CallType::SUPPRESS, None));
            }
        }
        if last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            eprintln!(
                "[{:6.1}s] launched {} running {} finished {} failed {} held offers {}",
                started.elapsed().as_secs_f64(),
                report.launched,
                report.running,
                report.finished,
                report.failed,
                held.len()
            );
        }
    }
    report.wall = first_accept.map(|t| t.elapsed()).unwrap_or_default();
    stop_poller.store(true, Ordering::Relaxed);
    if let Some(p) = poller {
        match p.join() {
            Ok(rep) => report.poller = Some(rep),
            Err(_) => eprintln!("state poller panicked"),
        }
    }
    report.cpu = opts
        .watch_pids
        .iter()
        .zip(cpu_before)
        .map(|(p, b)| (*p, cpu_secs(*p).unwrap_or(b) - b))
        .collect();
    report.loadgen_cpu = self_cpu() - self_before;
    if report.rss_before.is_some() {
        tokio::time::sleep(settle).await;
        report.rss_after = opts.master_pid.and_then(rss_kib);
    }
    report.call_errors = poster.errors.load(Ordering::Relaxed);
    Ok((report, client, poster))
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{:x}", t & 0xffff_ffff)
}

fn print_latencies(what: &str, v: &mut [f64]) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        println!("{what}: no samples");
        return;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{what} (n={}): p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  mean {:.1} ms",
        v.len(),
        percentile(v, 50.0) * 1e3,
        percentile(v, 90.0) * 1e3,
        percentile(v, 99.0) * 1e3,
        v[v.len() - 1] * 1e3,
        mean * 1e3
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn print_common(r: &RunReport) {
    println!("host load average at the end (1/5/15 min): {}", loadavg());
    println!(
        "tasks {}  launched {}  running-seen {}  finished {}  failed/other-terminal {}  call errors {}",
        r.n, r.launched, r.running, r.finished, r.failed, r.call_errors
    );
    for f in &r.failures {
        println!("  failure: {f}");
    }
    let per = r.launched.max(1) as f64;
    for (pid, c) in &r.cpu {
        println!(
            "cpu pid {pid}: {c:.2} s  => {:.3} ms per task",
            c / per * 1e3
        );
    }
    println!(
        "cpu loadgen: {:.2} s  => {:.3} ms per task",
        r.loadgen_cpu,
        r.loadgen_cpu / per * 1e3
    );
    if let Some(p) = &r.poller {
        let mut f = p.fetches.clone();
        println!(
            "state poller: {} fetches of {} ({:.1} MiB the last), {} errors",
            f.len(),
            p.path,
            p.bytes_last as f64 / (1 << 20) as f64,
            p.errors
        );
        print_latencies("state poller fetch", &mut f);
    }
}

fn print_rss(r: &RunReport, per: usize, unit: &str) {
    if let (Some(b), Some(a)) = (r.rss_before, r.rss_after) {
        let delta = a.saturating_sub(b);
        println!(
            "master VmRSS before {:.1} MiB  after {:.1} MiB  delta {:.1} MiB  => {:.3} MiB per 1,000 {unit}",
            mib(b),
            mib(a),
            mib(delta),
            mib(delta) / per as f64 * 1000.0
        );
    }
}

async fn hollow(
    master: String,
    agents: usize,
    resources: String,
    master_pid: Option<u32>,
    concurrency: usize,
    settle: f64,
    hold: f64,
) -> anyhow::Result<()> {
    let res = Resources::parse(&resources)
        .map_err(|e| anyhow::anyhow!("--resources: {e}"))?
        .to_vec();
    let before = master_pid.and_then(rss_kib);
    let stream_http = drover_httpclient::builder().tcp_nodelay(true).build()?;
    let call_http = drover_httpclient::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(64)
        .build()?;
    let registered = Arc::new(AtomicUsize::new(0));
    let heartbeats = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    for i in 0..agents {
        let (master, res, stream_http, call_http) = (
            master.clone(),
            res.clone(),
            stream_http.clone(),
            call_http.clone(),
        );
        let (registered, heartbeats, failed, sem) = (
            registered.clone(),
            heartbeats.clone(),
            failed.clone(),
            sem.clone(),
        );
        tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let reg = Register {
                version: PROTOCOL_VERSION,
                agent_info: AgentInfo {
                    hostname: format!("hollow-{i}"),
                    port: Some(10000 + (i % 50000) as i32),
                    resources: res,
                    attributes: vec![],
                    id: None,
                },
                agent_id: None,
                tasks: vec![],
                frameworks: vec![],
                checkpointed_resources: vec![],
            };
            let resp = match stream_http
                .post(format!("http://{master}{REGISTER_PATH}"))
                .json(&reg)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("hollow-{i}: register answered {}", r.status());
                    }
                    return;
                }
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("hollow-{i}: register failed: {e}");
                    }
                    return;
                }
            };
            let mut body = resp.bytes_stream();
            let mut dec = Decoder::new(64 << 20);
            let mut id: Option<(AgentID, f64)> = None;
            let mut permit = Some(permit);
            let mut next_hb = Instant::now();
            loop {
                let wait = next_hb.saturating_duration_since(Instant::now());
                tokio::select! {
                    chunk = body.next() => {
                        let Some(Ok(chunk)) = chunk else { break };
                        dec.feed(&chunk);
                        while let Ok(Some(rec)) = dec.next_record() {
                            if let Ok(ToAgent::Registered { agent_id, heartbeat_interval_seconds, .. }) = serde_json::from_slice::<ToAgent>(&rec) {
                                if id.is_none() {
                                    registered.fetch_add(1, Ordering::Relaxed);
                                    permit.take();
                                    // Spread heartbeats over the interval.
                                    next_hb = Instant::now() + Duration::from_secs_f64(heartbeat_interval_seconds * (i % 97) as f64 / 97.0);
                                }
                                id = Some((agent_id, heartbeat_interval_seconds));
                            }
                        }
                    }
                    _ = tokio::time::sleep(wait), if id.is_some() => {
                        let Some((aid, hb)) = id.clone() else { continue };
                        next_hb = Instant::now() + Duration::from_secs_f64(hb);
                        let call = AgentCall { agent_id: aid, calls: vec![FromAgent::Heartbeat] };
                        match call_http.post(format!("http://{master}{CALL_PATH}")).json(&call).send().await {
                            Ok(r) if r.status().is_success() => { heartbeats.fetch_add(1, Ordering::Relaxed); }
                            Ok(r) => eprintln!("hollow-{i}: heartbeat answered {}", r.status()),
                            Err(e) => eprintln!("hollow-{i}: heartbeat failed: {e}"),
                        }
                    }
                }
            }
            if id.is_some() {
                eprintln!("hollow-{i}: stream closed");
            }
        });
    }
    let mut last = Instant::now();
    while registered.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < agents {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last.elapsed() > Duration::from_secs(2) {
            last = Instant::now();
            eprintln!(
                "[{:6.1}s] registered {}",
                started.elapsed().as_secs_f64(),
                registered.load(Ordering::Relaxed)
            );
        }
    }
    let reg_time = started.elapsed();
    let n = registered.load(Ordering::Relaxed);
    println!(
        "hollow agents registered {n} of {agents} in {:.2} s ({:.0} registrations/s), failed {}",
        reg_time.as_secs_f64(),
        n as f64 / reg_time.as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let after = master_pid.and_then(rss_kib);
    println!(
        "heartbeats sent so far {}",
        heartbeats.load(Ordering::Relaxed)
    );
    if let (Some(b), Some(a)) = (before, after) {
        let delta = a.saturating_sub(b);
        println!(
            "master VmRSS before {:.1} MiB  after {:.1} MiB  delta {:.1} MiB  => {:.3} MiB per 1,000 agents",
            mib(b),
            mib(a),
            mib(delta),
            mib(delta) / n.max(1) as f64 * 1000.0
        );
    }
    if hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
        if let Some(a) = master_pid.and_then(rss_kib) {
            println!(
                "master VmRSS after holding {hold:.0} s: {:.1} MiB; heartbeats {}",
                mib(a),
                heartbeats.load(Ordering::Relaxed)
            );
        }
    }
    Ok(())
}

fn forkrate(n: usize, parallel: &[usize]) {
    let spawn = |argv: &[&str]| {
        let ok = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "{argv:?} failed");
    };
    for argv in [&["true"][..], &["/bin/sh", "-c", "true"][..]] {
        for &p in parallel {
            let p = p.max(1);
            let t = Instant::now();
            std::thread::scope(|s| {
                for k in 0..p {
                    let per = n / p + usize::from(k < n % p);
                    s.spawn(move || {
                        for _ in 0..per {
                            spawn(argv);
                        }
                    });
                }
            });
            let secs = t.elapsed().as_secs_f64();
            println!(
                "fork/exec {:<22} x{n} with {p} spawner(s): {:.2} s  => {:.0} /s",
                format!("{argv:?}"),
                secs,
                n as f64 / secs
            );
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.mode {
        Mode::Throughput(opts) => {
            let (r, _c, _p) = run_tasks(
                &opts,
                10_000,
                "true",
                Until::Terminal,
                Duration::from_secs(1),
            )
            .await?;
            print_common(&r);
            let secs = r.wall.as_secs_f64();
            // Only tasks that ran count: a launch that fails is quick.
            println!(
                "throughput: {} tasks finished in {:.2} s (first ACCEPT → last terminal update) => {:.0} tasks/s",
                r.finished,
                secs,
                r.finished as f64 / secs
            );
            let mut run = r.to_running.clone();
            let mut term = r.to_terminal.clone();
            print_latencies("ACCEPT → TASK_RUNNING", &mut run);
            print_latencies("ACCEPT → terminal", &mut term);
            print_rss(&r, r.n, "tasks (finished, kept as history)");
            if r.failed > 0 {
                anyhow::bail!(
                    "{} tasks did not finish (TASK_FAILED or another end)",
                    r.failed
                );
            }
        }
        Mode::Latency(opts) => {
            let (r, _c, _p) = run_tasks(
                &opts,
                2_000,
                "sleep 30",
                Until::Running,
                Duration::from_secs(1),
            )
            .await?;
            print_common(&r);
            println!(
                "all running {:.2} s after the first ACCEPT",
                r.wall.as_secs_f64()
            );
            let mut start = r.to_starting.clone();
            print_latencies("ACCEPT → TASK_STARTING", &mut start);
            let mut run = r.to_running.clone();
            print_latencies("ACCEPT → TASK_RUNNING", &mut run);
        }
        Mode::Hold {
            opts,
            hold_secs,
            settle_secs,
        } => {
            let (r, c, p) = run_tasks(
                &opts,
                5_000,
                "sleep 600",
                Until::Running,
                Duration::from_secs_f64(settle_secs),
            )
            .await?;
            print_common(&r);
            println!(
                "all running {:.2} s after the first ACCEPT",
                r.wall.as_secs_f64()
            );
            print_rss(&r, r.running, "running tasks");
            if hold_secs > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(hold_secs)).await;
            }
            // Tear down: the master kills the tasks.
            let mut call = Call::new(CallType::TEARDOWN, None);
            call.framework_id = Some(c.framework_id.clone());
            let _ = c.call(call).await;
            drop(p);
        }
        Mode::Hollow {
            master,
            agents,
            resources,
            master_pid,
            concurrency,
            settle_secs,
            hold_secs,
        } => {
            hollow(
                master,
                agents,
                resources,
                master_pid,
                concurrency,
                settle_secs,
                hold_secs,
            )
            .await?;
        }
        Mode::Forkrate { n, parallel } => forkrate(n, &parallel),
    }
    Ok(())
}
