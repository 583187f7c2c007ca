//! Health and readiness checks Marathon runs itself (HTTP and TCP; MESOS_* and COMMAND checks
//! run on the agents): after the grace period, every interval, with a timeout; results go to
//! the core, which replaces instances that fail `maxConsecutiveFailures` times in a row.

use crate::driver::unix_now;
use crate::Shared;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

struct Due {
    task_id: String,
    url: Option<String>,
    addr: String,
    timeout: f64,
    max_failures: u32,
}

pub async fn run(s: Arc<Shared>, http: reqwest::Client) {
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut last_ready: HashMap<String, f64> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = unix_now();
        let due: Vec<Due> = {
            let m = s.lock();
            let mut out = Vec::new();
            for i in m.instances.values().filter(|i| i.running() && !i.killing) {
                let Some(app) = m.apps.get(&i.app_id) else {
                    continue;
                };
                // One check per instance (the first); Marathon combines several the same way
                // when they agree, and apps rarely have more than one.
                let Some(hc) = app.health_checks.first() else {
                    continue;
                };
                // MESOS_* and COMMAND checks run on the agent; their results arrive as updates.
                if !matches!(hc.protocol.as_str(), "HTTP" | "HTTPS" | "TCP") {
                    continue;
                }
                let started = i.started_at.unwrap_or(now);
                // Marathon's own checks start with the task (the grace period covers its
                // start); `delaySeconds` is for the checks the agent runs.
                let prev = last.get(&i.task_id).copied();
                if prev
                    .map(|p| now - p < f64::from(hc.interval_seconds))
                    .unwrap_or(false)
                {
                    continue;
                }
                // During the grace period failures do not count; wait for the first success.
                let in_grace =
                    now - started < f64::from(hc.grace_period_seconds) && i.last_success.is_none();
                let port = match (hc.port, hc.port_index) {
                    (Some(p), _) => p,
                    (None, Some(ix)) => i.ports.get(ix as usize).copied().unwrap_or(0),
                    (None, None) => i.ports.first().copied().unwrap_or(0),
                };
                if port == 0 {
                    continue;
                }
                let addr = format!("{}:{port}", i.host);
                let url = matches!(hc.protocol.as_str(), "HTTP" | "MESOS_HTTP").then(|| {
                    format!(
                        "http://{addr}{}",
                        hc.path.clone().unwrap_or_else(|| "/".into())
                    )
                });
                out.push((
                    Due {
                        task_id: i.task_id.clone(),
                        url,
                        addr,
                        timeout: f64::from(hc.timeout_seconds),
                        max_failures: if in_grace {
                            u32::MAX
                        } else {
                            hc.max_consecutive_failures
                        },
                    },
                    in_grace,
                ));
            }
            out.into_iter().map(|(d, _)| d).collect()
        };
        for d in due {
            last.insert(d.task_id.clone(), now);
            let s2 = s.clone();
            let http = http.clone();
            tokio::spawn(async move {
                let timeout = Duration::from_secs_f64(d.timeout.max(0.01));
                // What failed, as Marathon's `lastFailureCause` says it; none when healthy.
                let failure: Option<String> = match &d.url {
                    Some(url) => match http.get(url).timeout(timeout).send().await {
                        Ok(r) if r.status().as_u16() >= 200 && r.status().as_u16() < 400 => None,
                        Ok(r) => Some(format!("HTTP {}", r.status())),
                        Err(e) => Some(e.to_string()),
                    },
                    None => {
                        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&d.addr))
                            .await
                        {
                            Ok(Ok(_)) => None,
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(_) => Some("timed out".into()),
                        }
                    }
                };
                let now = unix_now();
                let calls = {
                    let mut m = s2.lock();
                    // In the grace period a failure is not counted against the instance.
                    if failure.is_some() && d.max_failures == u32::MAX {
                        vec![]
                    } else {
                        m.health_result(&d.task_id, failure.is_none(), failure, d.max_failures, now)
                    }
                };
                s2.send(calls);
            });
        }
        readiness(&s, &http, &mut last_ready, now);
        let m = s.lock();
        last.retain(|k, _| m.instances.contains_key(k));
        last_ready.retain(|k, _| m.instances.contains_key(k));
    }
}

/// Readiness checks (`readinessChecks`): HTTP GETs until one answers a "ready" status; only
/// then does the instance count for its deployment. Marathon runs them itself, as upstream.
fn readiness(s: &Arc<Shared>, http: &reqwest::Client, last: &mut HashMap<String, f64>, now: f64) {
    let due: Vec<(String, String, f64, Vec<u16>, String)> = {
        let m = s.lock();
        let mut out = Vec::new();
        for i in m
            .instances
            .values()
            .filter(|i| i.running() && !i.killing && !i.ready)
        {
            let Some(app) = m.apps.get(&i.app_id) else {
                continue;
            };
            let Some(rc) = app.readiness_checks.first() else {
                continue;
            };
            let interval = rc
                .get("intervalSeconds")
                .and_then(|v| v.as_f64())
                .unwrap_or(30.0);
            if last
                .get(&i.task_id)
                .map(|p| now - p < interval)
                .unwrap_or(false)
            {
                continue;
            }
            let port_name = rc
                .get("portName")
                .and_then(|v| v.as_str())
                .unwrap_or("http-api");
            let defs = app.host_ports();
            let idx = defs
                .iter()
                .position(|d| d.name.as_deref() == Some(port_name))
                .unwrap_or(0);
            let Some(port) = i.ports.get(idx) else {
                continue;
            };
            let path = rc.get("path").and_then(|v| v.as_str()).unwrap_or("/");
            let timeout = rc
                .get("timeoutSeconds")
                .and_then(|v| v.as_f64())
                .unwrap_or(10.0);
            let codes: Vec<u16> = rc
                .get("httpStatusCodesForReady")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_u64().map(|c| c as u16))
                        .collect()
                })
                .unwrap_or_else(|| vec![200]);
            let name = rc
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("readinessCheck")
                .to_string();
            out.push((
                i.task_id.clone(),
                format!("http://{}:{port}{path}", i.host),
                timeout,
                codes,
                name,
            ));
        }
        out
    };
    for (task_id, url, timeout, codes, name) in due {
        last.insert(task_id.clone(), now);
        let s2 = s.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let r = http
                .get(&url)
                .timeout(Duration::from_secs_f64(timeout.max(0.01)))
                .send()
                .await;
            let (ready, status) = match r {
                Ok(r) => (codes.contains(&r.status().as_u16()), r.status().as_u16()),
                Err(_) => (false, 0),
            };
            let result = serde_json::json!({"name": name, "taskId": task_id, "ready": ready,
                "lastResponse": {"status": status}});
            let calls = s2
                .lock()
                .readiness_result(&task_id, ready, result, unix_now());
            s2.send(calls);
        });
    }
}
