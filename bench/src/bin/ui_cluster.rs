//! A cluster of 10,000 tasks and 1,000 apps in one process, for the web UI's performance
//! figures (`bench/ui/measure.py` drives a browser against it; `scripts/bench-ui.sh` runs both).
//!
//! - A fake master: `POST /api/v1` with a SUBSCRIBE answers, as Drover's master does, RecordIO
//!   framed JSON: one SUBSCRIBED whose `get_state` holds the agents, the Marathon framework and
//!   every task (as they stand now), then HEARTBEATs, and `TASK_UPDATED` events at `--rate` a
//!   second, each flipping a task between TASK_RUNNING and TASK_KILLING. A share of them
//!   (`--hot-share`) goes round the `--hot` tasks that sort first by name (the rows of the tasks
//!   page's first page), the rest to tasks picked at random. Each update sent is logged to
//!   `--log` (`<task id> <state> <ms since the epoch>`), so the browser's side can join what it
//!   saw with when it was sent. `GET /bench/mix?rate=R&hot_share=F` changes the mix while it runs.
//! - A fake Marathon: the apps (10 instances each, in folders, one in three health-checked)
//!   under `/v2/apps?embed=…` and `/v2/apps/<id>`, `/v2/deployments` `[]`, `/v2/queue` empty,
//!   and an event stream (`/v2/events`) that stays quiet — or, with `--marathon-events`, says
//!   `status_update_event` for each update, as Marathon does for its tasks (the UI then reads
//!   the apps they name again).
//! - The UI itself (`drover_ui::start` following both), served with axum.
//!
//! It prints `master: URL`, `marathon: URL`, `ui: URL`, then `ready: …` once the UI's model
//! holds every task and app, and serves until killed.

use anyhow::{bail, Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use drover_api::operator::Task;
use drover_api::{AgentID, FrameworkID, Range, Resource, TaskID};
use drover_api::{TaskState, TaskStatus};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Marathon apps (the tasks are spread evenly over them).
    #[arg(long, default_value_t = 1_000)]
    apps: usize,
    /// Folders the apps are in (`/group-NN/app-NNNNN`).
    #[arg(long, default_value_t = 50)]
    folders: usize,
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// TASK_UPDATED events a second (changeable at run time with /bench/mix).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How many tasks, first by the tasks page's default order (name, then id), are "hot".
    #[arg(long, default_value_t = 200)]
    hot: usize,
    /// The share of updates going to the hot tasks (round robin); the rest go anywhere.
    #[arg(long, default_value_t = 0.5)]
    hot_share: f64,
    /// Where each update sent is logged.
    #[arg(long, default_value = "ui_cluster.log")]
    log: String,
    /// The UI's port (0: any).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The fake Marathon's event stream carries a `status_update_event` per update.
    #[arg(long)]
    marathon_events: bool,
    /// Seconds between the master's HEARTBEATs.
    #[arg(long, default_value_t = 15)]
    heartbeat: u64,
}

use drover_bench::fake::{agent_id, agent_ip, FRAMEWORK};
const OTHER: TaskState = TaskState::TASK_KILLING;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A task of the fake cluster, as Marathon would have named it.
struct Planned {
    id: String,
    app: String,
    name: String,
    agent: usize,
    port: u64,
}

/// An app: `/group-NN/app-NNNNN`.
fn app_id(a: usize, folders: usize) -> String {
    format!("/group-{:02}/app-{a:05}", a % folders.max(1))
}

fn plan(args: &Args) -> Vec<Planned> {
    let apps = args.apps.clamp(1, args.tasks.max(1));
    let agents = args.agents.max(1);
    (0..args.tasks)
        .map(|i| {
            let a = i % apps;
            let id = app_id(a, args.folders);
            let mut parts: Vec<&str> = id.trim_start_matches('/').split('/').collect();
            // Marathon's task name is the app's path reversed, dot-separated; its id the path
            // joined with `_`, a dot, and a UUID.
            let prefix = parts.join("_");
            parts.reverse();
            let agent = (i + i / apps) % agents;
            Planned {
                app: id.clone(),
                id: format!(
                    "{prefix}.{:08x}-{:04x}-11ee-8000-0242ac110002",
                    i.wrapping_mul(7919),
                    i % 65536
                ),
                name: parts.join("."),
                agent,
                port: 31000 + (i / agents) as u64 % 1000,
            }
        })
        .collect()
}

/// The master's state as a SUBSCRIBED event, each task in the state it has now.
fn subscribed(planned: &[Planned], states: &[TaskState], agents: usize) -> Value {
    let fid = FrameworkID::new(FRAMEWORK);
    let tasks = planned
        .iter()
        .zip(states)
        .map(|(p, state)| {
            let mut status = TaskStatus::new(TaskID::new(&p.id), *state);
            status.agent_id = Some(AgentID::new(agent_id(p.agent)));
            status.timestamp = Some(now_secs());
            Task {
                name: p.name.clone(),
                task_id: TaskID::new(&p.id),
                framework_id: fid.clone(),
                executor_id: None,
                agent_id: AgentID::new(agent_id(p.agent)),
                state: *state,
                resources: vec![
                    Resource::scalar("cpus", 0.1),
                    Resource::scalar("mem", 32.0),
                    Resource::ranges(
                        "ports",
                        vec![Range {
                            begin: p.port,
                            end: p.port,
                        }],
                    ),
                ],
                statuses: vec![status],
                status_update_state: None,
                status_update_uuid: None,
                labels: None,
                discovery: None,
                container: None,
                health_check: None,
                kill_policy: None,
                user: None,
            }
        })
        .collect();
    let resources = [
        Resource::scalar("cpus", 16.0),
        Resource::scalar("mem", 65536.0),
        Resource::scalar("disk", 100_000.0),
        Resource::ranges(
            "ports",
            vec![Range {
                begin: 31000,
                end: 32000,
            }],
        ),
    ];
    drover_bench::fake::subscribed(tasks, agents, &resources)
}

/// The fake master's state: the tasks, their current states, what the updates do.
struct Master {
    planned: Vec<Planned>,
    states: Mutex<Vec<TaskState>>,
    agents: usize,
    heartbeat: Duration,
    /// Updates a second, as f64 bits.
    rate: AtomicU64,
    hot_share: AtomicU64,
    /// Indices of the hot tasks, in the page's order.
    hot: Vec<usize>,
    /// Framed TASK_UPDATED records for every subscriber.
    tx: broadcast::Sender<Bytes>,
    /// Marathon's `status_update_event`s, when it sends them.
    marathon_tx: Option<broadcast::Sender<String>>,
}

fn framed(v: &Value) -> Bytes {
    Bytes::from(drover_api::recordio::encode(v.to_string().as_bytes()))
}

async fn api_v1(State(m): State<Arc<Master>>, body: String) -> Response {
    if !body.contains("\"SUBSCRIBE\"") {
        return (StatusCode::BAD_REQUEST, "only SUBSCRIBE here").into_response();
    }
    // Subscribed to updates before the state is taken: none falls between.
    let rx = m.tx.subscribe();
    let first = {
        let states = m.states.lock().unwrap_or_else(|p| p.into_inner());
        framed(&subscribed(&m.planned, &states, m.agents))
    };
    eprintln!("ui_cluster: a subscriber ({} bytes of state)", first.len());
    let beat = framed(&json!({"type": "HEARTBEAT"}));
    let heartbeat = m.heartbeat;
    let rest = stream::unfold(
        (
            rx,
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat),
        ),
        move |(mut rx, mut tick)| {
            let beat = beat.clone();
            async move {
                let out = tokio::select! {
                    r = rx.recv() => match r {
                        Ok(b) => b,
                        // A subscriber that falls behind is cut off; it subscribes again and
                        // gets the state as it is.
                        Err(_) => return None,
                    },
                    _ = tick.tick() => beat,
                };
                Some((Ok::<_, std::convert::Infallible>(out), (rx, tick)))
            }
        },
    );
    let all = stream::iter([Ok(first)]).chain(rest);
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(all),
    )
        .into_response()
}

async fn mix(State(m): State<Arc<Master>>, Query(q): Query<HashMap<String, f64>>) -> Json<Value> {
    if let Some(r) = q.get("rate") {
        m.rate.store(r.max(0.0).to_bits(), Ordering::Relaxed);
    }
    if let Some(s) = q.get("hot_share") {
        m.hot_share
            .store(s.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }
    Json(json!({
        "rate": f64::from_bits(m.rate.load(Ordering::Relaxed)),
        "hot_share": f64::from_bits(m.hot_share.load(Ordering::Relaxed)),
        "hot": m.hot.len(),
    }))
}

/// Send updates at the rate asked, logging each, while someone is subscribed.
async fn updates(m: Arc<Master>, log: String) -> Result<()> {
    let f = std::fs::File::create(&log).with_context(|| format!("creating {log}"))?;
    let mut w = std::io::BufWriter::new(f);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut start, mut sent) = (Instant::now(), 0u64);
    let mut rate = f64::from_bits(m.rate.load(Ordering::Relaxed));
    let mut next_hot = 0usize;
    let fid = json!({"value": FRAMEWORK});
    loop {
        tick.tick().await;
        let r = f64::from_bits(m.rate.load(Ordering::Relaxed));
        if r != rate || m.tx.receiver_count() == 0 {
            // A new rate (or nobody listening): count from now.
            rate = r;
            start = Instant::now();
            sent = 0;
            continue;
        }
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        let share = f64::from_bits(m.hot_share.load(Ordering::Relaxed));
        while sent < due {
            sent += 1;
            let i = if !m.hot.is_empty() && rng.f64() < share {
                next_hot = (next_hot + 1) % m.hot.len();
                m.hot[next_hot]
            } else {
                rng.usize(..m.planned.len())
            };
            let state = {
                let mut states = m.states.lock().unwrap_or_else(|p| p.into_inner());
                states[i] = if states[i] == TaskState::TASK_RUNNING {
                    OTHER
                } else {
                    TaskState::TASK_RUNNING
                };
                states[i]
            };
            let p = &m.planned[i];
            let t = now_secs();
            let mut status = TaskStatus::new(TaskID::new(&p.id), state);
            status.agent_id = Some(AgentID::new(agent_id(p.agent)));
            status.timestamp = Some(t);
            let ev = json!({"type": "TASK_UPDATED", "task_updated": {
                "framework_id": fid, "status": status, "state": state}});
            let _ = m.tx.send(framed(&ev));
            if let Some(mtx) = &m.marathon_tx {
                let me = json!({"eventType": "status_update_event", "timestamp": "2026-12-04T10:00:00.000Z",
                    "slaveId": agent_id(p.agent), "taskId": p.id, "taskStatus": state.as_str(),
                    "message": "", "appId": p.app, "host": agent_ip(p.agent), "ports": [p.port],
                    "ipAddresses": [{"ipAddress": agent_ip(p.agent), "protocol": "IPv4"}],
                    "version": "2026-12-04T08:00:00.000Z"});
                let _ = mtx.send(me.to_string());
            }
            writeln!(w, "{} {} {:.3}", p.id, state.as_str(), t * 1000.0)?;
        }
        w.flush()?;
    }
}

// ---- the fake Marathon ----

struct Marathon {
    events: Option<broadcast::Sender<String>>,
    /// By id, in order.
    apps: Vec<(String, Value)>,
    index: HashMap<String, usize>,
}

fn app_json(id: &str, a: usize, per_app: u64) -> Value {
    let checked = a.is_multiple_of(3);
    let health_checks = if checked {
        json!([{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
            "gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
            "maxConsecutiveFailures": 3, "ignoreHttp1xx": false, "delaySeconds": 15}])
    } else {
        json!([])
    };
    json!({
        "id": id, "cmd": "python3 -m http.server $PORT0", "args": null, "user": null,
        "env": {"LOG_LEVEL": "info"}, "instances": per_app, "cpus": 0.1, "mem": 32.0,
        "disk": 0.0, "gpus": 0, "executor": "", "constraints": [], "uris": [], "fetch": [],
        "storeUrls": [], "backoffSeconds": 1, "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 3600, "container": null, "healthChecks": health_checks,
        "readinessChecks": [], "dependencies": [],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
        "labels": {"team": format!("team-{}", a % 7)}, "ipAddress": null,
        "version": "2026-12-04T08:00:00.000Z", "residency": null, "secrets": {},
        "taskKillGracePeriodSeconds": null,
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
        "killSelection": "YOUNGEST_FIRST",
        "versionInfo": {"lastScalingAt": "2026-12-04T08:00:00.000Z",
            "lastConfigChangeAt": "2026-12-04T08:00:00.000Z"},
        "portDefinitions": [{"port": 10000 + a, "protocol": "tcp", "name": "http", "labels": {}}],
        "requirePorts": false, "networks": [{"mode": "host"}],
        "tasksStaged": 0, "tasksRunning": per_app,
        "tasksHealthy": if checked { per_app } else { 0 }, "tasksUnhealthy": 0,
        "deployments": [],
    })
}

impl Marathon {
    fn new(args: &Args, events: Option<broadcast::Sender<String>>) -> Marathon {
        let apps = args.apps.clamp(1, args.tasks.max(1));
        let per_app = (args.tasks / apps) as u64;
        let mut list: Vec<(String, Value)> = (0..apps)
            .map(|a| {
                let id = app_id(a, args.folders);
                let v = app_json(&id, a, per_app);
                (id, v)
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let index = list
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        Marathon {
            events,
            apps: list,
            index,
        }
    }
}

async fn apps(State(m): State<Arc<Marathon>>) -> Json<Value> {
    Json(json!({"apps": m.apps.iter().map(|(_, v)| v).collect::<Vec<_>>()}))
}

/// `/v2/apps/<id>`, and its `/tasks` and `/versions`.
async fn app(State(m): State<Arc<Marathon>>, Path(rest): Path<String>) -> Response {
    let path = format!("/{}", rest.trim_end_matches('/'));
    let (id, what) = if let Some(id) = path.strip_suffix("/tasks") {
        (id, "tasks")
    } else if let Some(id) = path.strip_suffix("/versions") {
        (id, "versions")
    } else {
        (path.as_str(), "app")
    };
    let Some(v) = m.index.get(id).map(|i| &m.apps[*i].1) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("App '{id}' does not exist")})),
        )
            .into_response();
    };
    match what {
        "tasks" => Json(json!({"tasks": []})).into_response(),
        "versions" => Json(json!({"versions": [v["version"]]})).into_response(),
        _ => Json(json!({"app": v})).into_response(),
    }
}

async fn events(
    State(m): State<Arc<Marathon>>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let attached = SseEvent::default()
        .event("event_stream_attached")
        .data(r#"{"remoteAddress":"127.0.0.1","eventType":"event_stream_attached"}"#);
    let updates = match &m.events {
        Some(tx) => stream::unfold(tx.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(data) => {
                        let e = SseEvent::default().event("status_update_event").data(data);
                        return Some((Ok(e), rx));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed(),
        None => stream::pending().boxed(),
    };
    Sse::new(stream::iter([Ok(attached)]).chain(updates))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn marathon_router(m: Arc<Marathon>) -> Router {
    Router::new()
        .route("/v2/apps", get(apps))
        .route("/v2/apps/{*rest}", get(app))
        .route("/v2/deployments", get(|| async { Json(json!([])) }))
        .route("/v2/queue", get(|| async { Json(json!({"queue": []})) }))
        .route("/v2/events", get(events))
        .with_state(m)
}

async fn serve(router: Router, l: TcpListener) {
    if let Err(e) = axum::serve(l, router).await {
        eprintln!("ui_cluster: serving: {e}");
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    let planned = plan(&args);
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&planned[*a], &planned[*b]);
        a.name.cmp(&b.name).then(a.id.cmp(&b.id))
    });
    order.truncate(args.hot);
    let (tx, _) = broadcast::channel(8192);
    let marathon_tx = args
        .marathon_events
        .then(|| broadcast::channel::<String>(8192).0);
    let master = Arc::new(Master {
        states: Mutex::new(vec![TaskState::TASK_RUNNING; planned.len()]),
        planned,
        agents: args.agents.max(1),
        heartbeat: Duration::from_secs(args.heartbeat.max(1)),
        rate: AtomicU64::new(args.rate.max(0.0).to_bits()),
        hot_share: AtomicU64::new(args.hot_share.clamp(0.0, 1.0).to_bits()),
        hot: order,
        tx,
        marathon_tx: marathon_tx.clone(),
    });

    let ml = TcpListener::bind("127.0.0.1:0").await?;
    let master_addr = ml.local_addr()?;
    tokio::spawn(serve(
        Router::new()
            .route("/api/v1", post(api_v1))
            .route("/bench/mix", get(mix))
            .with_state(master.clone()),
        ml,
    ));
    let marathon = Arc::new(Marathon::new(&args, marathon_tx));
    let n_apps = marathon.apps.len();
    let kl = TcpListener::bind("127.0.0.1:0").await?;
    let marathon_url = format!("http://{}", kl.local_addr()?);
    tokio::spawn(serve(marathon_router(marathon), kl));
    let log = args.log.clone();
    let gen = master.clone();
    tokio::spawn(async move {
        if let Err(e) = updates(gen, log).await {
            eprintln!("ui_cluster: the updates stopped: {e:#}");
            std::process::exit(1);
        }
    });

    let ui = drover_ui::start(drover_ui::Config {
        leader: drover_zk::Leader::new(&master_addr.to_string(), Duration::from_secs(10))?,
        marathon: vec![marathon_url.clone()],
        gateway: "http://127.0.0.1:9".into(),
        jobs: None,
    })?;
    let ul = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let ui_url = format!("http://{}", ul.local_addr()?);
    tokio::spawn(serve(drover_ui::router(ui.clone()), ul));
    println!("master: http://{master_addr}");
    println!("marathon: {marathon_url}");
    println!("ui: {ui_url}");
    std::io::stdout().flush()?;

    let t0 = Instant::now();
    loop {
        let tasks = ui.live.cluster().tasks.len();
        let apps = ui.live.marathon().apps.len();
        if tasks >= master.planned.len() && apps >= n_apps {
            println!(
                "ready: {tasks} tasks, {apps} apps, {} agents in the UI's model after {} ms; \
                 {} updates/s, {:.0}% of them on the {} hot tasks; Marathon's events {}",
                master.agents,
                t0.elapsed().as_millis(),
                args.rate,
                args.hot_share * 100.0,
                master.hot.len(),
                if args.marathon_events { "on" } else { "quiet" }
            );
            std::io::stdout().flush()?;
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("the UI's model holds {tasks} tasks and {apps} apps after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::future::pending::<()>().await;
    Ok(())
}
