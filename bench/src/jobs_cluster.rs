//! What the jobs benchmarks (`jobs_scale`, `jobs_due`, `jobs_failover`) share: `drover`
//! processes started and stopped, their addresses, `/proc` readings, the master's task
//! statuses and times. Included by each of them (`#[path]`), not part of the library.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `drover` process: killed (SIGKILL) when dropped, unless stopped first.
pub struct Proc {
    pub child: Child,
    /// The lines it printed on stdout up to the marker.
    pub lines: Vec<String>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// The address printed after `http://` on the first line containing `label`.
    pub fn addr(&self, label: &str) -> Result<String> {
        let line = self
            .lines
            .iter()
            .find(|l| l.contains(label))
            .with_context(|| format!("no {label:?} line in {:?}", self.lines))?;
        Ok(line
            .split("http://")
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string())
    }
    /// SIGTERM, then wait (up to `within`; SIGKILL after that).
    pub fn stop(mut self, within: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `drover <args>` (stderr to `log`) and read its stdout until a line containing
/// `until`; the rest of its stdout is drained in the background.
pub fn spawn(drover: &str, args: &[&str], until: &str, log: &Path) -> Result<Proc> {
    let mut child = Command::new(drover)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .with_context(|| format!("starting {drover}"))?;
    let out = child.stdout.take().context("stdout")?;
    let mut it = BufReader::new(out).lines();
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match it.next() {
            Some(Ok(l)) => {
                let done = l.contains(until);
                lines.push(l);
                if done {
                    std::thread::spawn(move || for _ in it.by_ref() {});
                    return Ok(Proc { child, lines });
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    let _ = child.kill();
    bail!(
        "drover {args:?} did not print {until:?} (log: {})",
        log.display()
    )
}

/// The drover binary: `--drover`, or the one beside this binary.
pub fn drover_path(flag: &Option<String>) -> String {
    flag.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("drover").display().to_string()))
            .unwrap_or_else(|| "drover".into())
    })
}

pub fn http() -> reqwest::Client {
    drover_httpclient::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .unwrap_or_default()
}

pub async fn get_json(c: &reqwest::Client, url: &str) -> Option<Value> {
    let r = c.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// `POST /v1/jobs` of every body, `concurrency` at a time; fails on the first refusal.
pub async fn create_jobs(
    c: &reqwest::Client,
    jobs: &str,
    bodies: Vec<Value>,
    concurrency: usize,
) -> Result<()> {
    let url = format!("http://{jobs}/v1/jobs");
    let mut results = futures_util::stream::iter(bodies.into_iter().map(|b| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = c.post(&url).json(&b).send().await?;
            let status = r.status();
            if status != reqwest::StatusCode::CREATED {
                bail!("POST {url} {}: {status} {}", b["id"], r.text().await?);
            }
            Ok(())
        }
    }))
    .buffer_unordered(concurrency);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(&format!("{field}:")))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process used so far (clock ticks of 1/100 s).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state (field 3).
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Sleep until the Unix time `t`.
pub async fn sleep_until(t: f64) {
    let d = t - unix_now();
    if d > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(d)).await;
    }
}

/// Seconds since the epoch of `2026-12-04T13:14:21.123456Z` or `…T13:14:21.123+0000`.
pub fn rfc3339(t: &str) -> Option<f64> {
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi) = (num(11, 13)?, num(14, 16)?);
    let rest = t.get(17..)?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let s: f64 = rest[..end].parse().ok()?;
    let zone = &rest[end..];
    if !(zone == "Z" || zone == "+0000" || zone == "+00:00") {
        return None;
    }
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + h * 3600 + mi * 60) as f64 + s)
}

/// `yyyyMMddHHmmss` (UTC) of a Unix time: how a scheduled run's id starts.
pub fn stamp(t: f64) -> String {
    let secs = t.floor() as i64;
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// (hour, minute) in UTC of a Unix time.
pub fn hour_minute(t: f64) -> (i64, i64) {
    let sod = (t.floor() as i64).rem_euclid(86400);
    (sod / 3600, sod % 3600 / 60)
}

/// A task at the master: its name, and the time of each state it reported.
#[derive(Debug)]
pub struct TaskTimes {
    pub name: String,
    pub state: String,
    pub times: HashMap<String, f64>,
}

/// Every task the master knows (`/master/tasks?limit=-1`), by task id.
pub async fn master_tasks(c: &reqwest::Client, master: &str) -> HashMap<String, TaskTimes> {
    let v = get_json(c, &format!("http://{master}/master/tasks?limit=-1"))
        .await
        .unwrap_or_default();
    let mut out = HashMap::new();
    for t in v["tasks"].as_array().into_iter().flatten() {
        let mut times = HashMap::new();
        for s in t["statuses"].as_array().into_iter().flatten() {
            if let (Some(st), Some(ts)) = (s["state"].as_str(), s["timestamp"].as_f64()) {
                times.entry(st.to_string()).or_insert(ts);
            }
        }
        out.insert(
            t["id"].as_str().unwrap_or_default().to_string(),
            TaskTimes {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                state: t["state"].as_str().unwrap_or_default().to_string(),
                times,
            },
        );
    }
    out
}

/// The `p`-th percentile (0–100) of sorted values (nearest rank).
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// The first RFC 3339 time on a log line (tracing's, possibly inside colour codes).
pub fn log_time(line: &str) -> Option<f64> {
    let i = line.find("20")?;
    let word: String = line[i..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
        .collect();
    rfc3339(&word)
}
