//! Marathon benchmarks against a running Drover (`drover up`): time for one app of N instances
//! to be running (and healthy), the REST API under thousands of apps in nested groups (POST rate,
//! GET /v2/apps latency), and a rolling update of N instances with the healthy count sampled
//! throughout.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Marathon benchmarks against a running Drover")]
struct Cli {
    /// Marathon, host:port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    marathon: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One app of N `sleep` instances: seconds until all run (and are healthy, with --tcp-check).
    Scale {
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        /// Give the app a TCP health check on a `nc -lk` listener, so "healthy" means checked.
        #[arg(long)]
        tcp_check: bool,
        /// Run the instances as Docker containers of this (local) image instead of processes.
        #[arg(long)]
        docker_image: Option<String>,
    },
    /// N apps (instances 0) spread over nested groups: POST rate, then GET /v2/apps latency.
    Api {
        #[arg(long, default_value_t = 5000)]
        apps: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 200)]
        gets: usize,
    },
    /// Roll an app of N instances to a new version with minimumHealthCapacity 0.5.
    Roll {
        #[arg(long, default_value_t = 1000)]
        instances: usize,
    },
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct M {
    http: reqwest::Client,
    base: String,
}

impl M {
    async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().await.with_context(|| format!("request {path}"))?;
        let code = resp.status().as_u16();
        let v = resp.json().await.unwrap_or(Value::Null);
        Ok((code, v))
    }
    async fn app(&self, id: &str) -> Result<Value> {
        Ok(self
            .req(reqwest::Method::GET, &format!("/v2/apps{id}"), None)
            .await?
            .1["app"]
            .clone())
    }
    async fn deployments(&self) -> Result<usize> {
        Ok(self
            .req(reqwest::Method::GET, "/v2/deployments", None)
            .await?
            .1
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0))
    }
}

async fn scale(m: &M, n: usize, tcp: bool, image: Option<String>) -> Result<()> {
    let mut app =
        json!({"id": "/bench/scale", "cmd": "sleep 3600", "instances": n, "cpus": 0.001, "mem": 1});
    if let Some(image) = &image {
        app["container"] = json!({"type": "DOCKER", "docker": {"image": image}});
        app["networks"] = json!([{"mode": "host"}]);
        app["mem"] = json!(8);
    }
    if tcp {
        app["cmd"] = json!("exec busybox nc -lk -p $PORT0 -e true 2>/dev/null || exec python3 -c 'import socket,os,time;s=socket.socket();s.bind((\"\",int(os.environ[\"PORT0\"])));s.listen();time.sleep(3600)'");
        app["healthChecks"] = json!([{"protocol": "TCP", "intervalSeconds": 1, "gracePeriodSeconds": 60, "timeoutSeconds": 5}]);
    }
    let t0 = Instant::now();
    let (code, body) = m.req(reqwest::Method::POST, "/v2/apps", Some(&app)).await?;
    if code != 201 {
        bail!("create failed {code}: {body}");
    }
    let mut last = 0;
    loop {
        let a = m.app("/bench/scale").await?;
        let running = a["tasksRunning"].as_u64().unwrap_or(0) as usize;
        let healthy = a["tasksHealthy"].as_u64().unwrap_or(0) as usize;
        let done = if tcp { healthy == n } else { running == n };
        if running / 100 != last / 100 {
            eprintln!(
                "{:6.2}s  running {running}  healthy {healthy}",
                t0.elapsed().as_secs_f64()
            );
            last = running;
        }
        if done && m.deployments().await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("not done after 600 s: running {running} healthy {healthy}");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let what = if image.is_some() {
        "Docker containers"
    } else {
        "instances"
    };
    println!(
        "scale: {n} {what} {} in {secs:.2} s ({:.0}/s)",
        if tcp {
            "running and TCP-healthy"
        } else {
            "running"
        },
        n as f64 / secs
    );
    m.req(
        reqwest::Method::DELETE,
        "/v2/apps/bench/scale?force=true",
        None,
    )
    .await?;
    Ok(())
}

async fn api(m: &M, n: usize, conc: usize, gets: usize) -> Result<()> {
    // Nested groups: /bench/g<a>/h<b>/app<i>, 10 × 10 groups.
    let t0 = Instant::now();
    let mut lat = Vec::with_capacity(n);
    let ids: Vec<String> = (0..n)
        .map(|i| format!("/api/g{}/h{}/app{i}", i % 10, (i / 10) % 10))
        .collect();
    for chunk in ids.chunks(conc) {
        let futs = chunk.iter().map(|id| async move {
            let app = json!({"id": id, "cmd": "sleep 3600", "instances": 0, "cpus": 0.01, "mem": 1, "labels": {"bench": "api"}});
            let t = Instant::now();
            let r = m.req(reqwest::Method::POST, "/v2/apps", Some(&app)).await;
            (t.elapsed().as_secs_f64() * 1000.0, r)
        });
        for (ms, r) in futures_util::future::join_all(futs).await {
            let (code, body) = r?;
            if code != 201 {
                bail!("POST failed {code}: {body}");
            }
            lat.push(ms);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    println!(
        "api: POST /v2/apps x{n} (concurrency {conc}) in {secs:.2} s = {:.0} apps/s; latency p50 {:.1} ms p99 {:.1} ms",
        n as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    // Wait for the (empty) deployments to settle, then measure reads.
    while m.deployments().await? > 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (label, path) in [
        ("GET /v2/apps", "/v2/apps"),
        (
            "GET /v2/apps?embed=apps.tasks",
            "/v2/apps?embed=apps.tasks&embed=apps.counts",
        ),
        ("GET /v2/groups", "/v2/groups"),
    ] {
        let mut lat = Vec::with_capacity(gets);
        let mut bytes = 0;
        for _ in 0..gets {
            let t = Instant::now();
            let resp = m.http.get(format!("{}{path}", m.base)).send().await?;
            let b = resp.bytes().await?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            bytes = b.len();
        }
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        println!(
            "api: {label} with {n} apps ({:.1} MiB): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms over {gets} requests",
            bytes as f64 / 1048576.0,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(0.0)
        );
    }
    m.req(reqwest::Method::DELETE, "/v2/groups/api?force=true", None)
        .await?;
    Ok(())
}

async fn roll(m: &M, n: usize) -> Result<()> {
    let app = json!({"id": "/bench/roll", "cmd": "sleep 3600", "instances": n, "cpus": 0.001, "mem": 1,
                     "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2}});
    let (code, body) = m.req(reqwest::Method::POST, "/v2/apps", Some(&app)).await?;
    if code != 201 {
        bail!("create failed {code}: {body}");
    }
    loop {
        let a = m.app("/bench/roll").await?;
        if a["tasksRunning"].as_u64().unwrap_or(0) as usize == n && m.deployments().await? == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t0 = Instant::now();
    let (code, body) = m
        .req(
            reqwest::Method::PUT,
            "/v2/apps/bench/roll",
            Some(&json!({"env": {"ROUND": "2"}})),
        )
        .await?;
    if code != 200 {
        bail!("update failed {code}: {body}");
    }
    let version = body["version"].as_str().unwrap_or_default().to_string();
    let mut min_healthy = usize::MAX;
    let mut samples = 0;
    loop {
        let (_, t) = m
            .req(reqwest::Method::GET, "/v2/apps/bench/roll/tasks", None)
            .await?;
        let tasks = t["tasks"].as_array().cloned().unwrap_or_default();
        let running = tasks
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count();
        min_healthy = min_healthy.min(running);
        samples += 1;
        let new = tasks
            .iter()
            .filter(|t| t["state"] == "TASK_RUNNING" && t["version"] == version.as_str())
            .count();
        if new == n && tasks.len() == n && m.deployments().await? == 0 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("rolling update not done after 600 s ({new}/{n} new)");
        }
    }
    println!(
        "roll: {n} instances replaced in {:.2} s; minimum running (healthy) sampled {min_healthy} over {samples} samples (floor {})",
        t0.elapsed().as_secs_f64(),
        (n as f64 * 0.5).ceil()
    );
    m.req(
        reqwest::Method::DELETE,
        "/v2/apps/bench/roll?force=true",
        None,
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let m = M {
        http: drover_httpclient::builder()
            .pool_max_idle_per_host(64)
            .build()?,
        base: format!("http://{}", cli.marathon),
    };
    match cli.cmd {
        Cmd::Scale {
            instances,
            tcp_check,
            docker_image,
        } => scale(&m, instances, tcp_check, docker_image).await,
        Cmd::Api {
            apps,
            concurrency,
            gets,
        } => api(&m, apps, concurrency, gets).await,
        Cmd::Roll { instances } => roll(&m, instances).await,
    }
}
