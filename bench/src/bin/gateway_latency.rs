//! The gateway's added latency: `GET /v2/apps` straight to Marathon and the same through the
//! gateway (`/service/marathon/v2/apps`), interleaved one by one over one kept-alive connection
//! each, against a `drover up` on this machine holding `--apps` apps. Prints p50/p99/mean of both
//! and the difference.
//!
//! `cargo build --release -p drover -p drover-bench && target/release/gateway_latency`

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Requests of each kind.
    #[arg(long, default_value_t = 5000)]
    requests: usize,
    /// Apps Marathon holds (0 instances each: the answer's size, not the cluster's load).
    #[arg(long, default_value_t = 20)]
    apps: usize,
    /// The drover binary (default: beside this one).
    #[arg(long)]
    drover: Option<String>,
}

struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        // SIGINT: `drover up` stops its parts.
        let _ = nix_kill(self.0.id());
        let _ = self.0.wait();
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    let s = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()?;
    if s.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let drover = match args.drover {
        Some(d) => d,
        None => std::env::current_exe()?
            .with_file_name("drover")
            .to_string_lossy()
            .to_string(),
    };
    let dir = std::env::temp_dir().join(format!("drover-gw-bench-{}", std::process::id()));
    let mut child = Command::new(&drover)
        .args(["up", "--work-dir", &dir.to_string_lossy()])
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
            "--agents",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {drover} up"))?;
    let out = child.stdout.take().context("stdout")?;
    let up = Up(child);
    let (mut marathon, mut gateway) = (None, None);
    for line in BufReader::new(out).lines() {
        let line = line?;
        let addr = || {
            line.split("http://")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .map(|s| s.to_string())
        };
        if line.contains("marathon: http://") {
            marathon = addr();
        } else if line.contains("gateway: http://") {
            gateway = addr();
        }
        if marathon.is_some() && gateway.is_some() {
            break;
        }
    }
    let (Some(marathon), Some(gateway)) = (marathon, gateway) else {
        bail!("drover up did not print its Marathon and gateway addresses");
    };
    let direct_client = drover_httpclient::client()?;
    let gateway_client = drover_httpclient::client()?;
    for i in 0..args.apps {
        let app = serde_json::json!({"id": format!("/bench/app-{i}"), "cmd": "sleep 1000",
            "cpus": 0.1, "mem": 16, "instances": 0});
        let r = direct_client
            .post(format!("http://{marathon}/v2/apps"))
            .json(&app)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating app {i}: HTTP {}", r.status());
        }
    }
    let direct_url = format!("http://{marathon}/v2/apps");
    let gateway_url = format!("http://{gateway}/service/marathon/v2/apps");
    let mut body_len = 0;
    // Warm both paths (connections, caches) before measuring.
    for _ in 0..200 {
        body_len = direct_client
            .get(&direct_url)
            .send()
            .await?
            .bytes()
            .await?
            .len();
        gateway_client
            .get(&gateway_url)
            .send()
            .await?
            .bytes()
            .await?;
    }
    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for _ in 0..args.requests {
        for (client, url, into) in [
            (&direct_client, &direct_url, &mut direct),
            (&gateway_client, &gateway_url, &mut via),
        ] {
            let t = Instant::now();
            let r = client.get(url.as_str()).send().await?;
            if !r.status().is_success() {
                bail!("GET {url}: HTTP {}", r.status());
            }
            r.bytes().await?;
            into.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    drop(up);
    let _ = std::fs::remove_dir_all(&dir);
    for v in [&mut direct, &mut via] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "GET /v2/apps ({} apps, {body_len} bytes), {} requests each, interleaved",
        args.apps, args.requests
    );
    println!("                      p50 ms   p99 ms   mean ms");
    for (name, v) in [("direct", &direct), ("through the gateway", &via)] {
        println!(
            "{name:<20} {:>8.3} {:>8.3} {:>9.3}",
            percentile(v, 0.5),
            percentile(v, 0.99),
            mean(v)
        );
    }
    println!(
        "added by the gateway {:>8.3} {:>8.3} {:>9.3}",
        percentile(&via, 0.5) - percentile(&direct, 0.5),
        percentile(&via, 0.99) - percentile(&direct, 0.99),
        mean(&via) - mean(&direct)
    );
    Ok(())
}
