//! Marathon's link to the master: a framework named `marathon` on the public v1 scheduler API.
//! Subscribes (with its stored framework id after a restart), feeds events to the core, posts
//! the calls the core returns, and re-subscribes with backoff when the stream drops.

use crate::Shared;
use drover_api::recordio::Decoder;
use drover_api::scheduler::{Call, CallType, Event, EventType, Subscribe};
use drover_api::{Capability, FrameworkInfo};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

fn framework_info(s: &Shared) -> FrameworkInfo {
    let m = s.lock();
    FrameworkInfo {
        user: s.cfg.user.clone(),
        name: s.cfg.framework_name.clone(),
        id: m.framework_id.clone(),
        failover_timeout: Some(s.cfg.failover_timeout_secs),
        checkpoint: Some(true),
        role: None,
        roles: vec![m.role.clone()],
        hostname: Some(s.cfg.hostname.clone()),
        principal: None,
        webui_url: Some(format!("http://{}", s.cfg.advertise)),
        capabilities: ["MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE"]
            .iter()
            .map(|c| Capability {
                kind: c.to_string(),
            })
            .collect(),
        labels: None,
        offer_filters: None,
    }
}

/// Post calls; each carries the current framework and stream id. Acknowledgements, kills,
/// accepts and declines are independent of each other and go out concurrently (a burst of
/// thousands must not queue behind one HTTP round trip each); revive, suppress and reconcile
/// go out in order, after everything posted before them.
pub async fn run_poster(
    s: Arc<Shared>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Call>,
    http: reqwest::Client,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
    while let Some(mut call) = rx.recv().await {
        let (fid, sid) = {
            let m = s.lock();
            (
                m.framework_id.clone(),
                s.stream_id
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            )
        };
        let (Some(fid), Some(sid)) = (fid, sid) else {
            continue;
        };
        call.framework_id = Some(fid);
        let master = s
            .master_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let url = format!("http://{master}/api/v1/scheduler");
        if matches!(
            call.kind,
            CallType::ACKNOWLEDGE | CallType::KILL | CallType::ACCEPT | CallType::DECLINE
        ) {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                continue;
            };
            let http = http.clone();
            tokio::spawn(async move {
                post(&http, &url, &sid, &call).await;
                drop(permit);
            });
        } else {
            // A barrier: everything posted before (a DECLINE with a long filter, say) lands
            // before this REVIVE/SUPPRESS/RECONCILE, or a revive could be undone by a decline
            // that overtook it.
            let Ok(all) = in_flight.acquire_many(64).await else {
                continue;
            };
            post(&http, &url, &sid, &call).await;
            drop(all);
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, sid: &str, call: &Call) {
    match http
        .post(url)
        .header("Mesos-Stream-Id", sid)
        .json(call)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            let status = r.status();
            tracing::warn!(
                "master refused {:?} ({status}): {}",
                call.kind,
                r.text().await.unwrap_or_default()
            );
        }
        Err(e) => tracing::warn!("posting {:?} failed: {e}", call.kind),
    }
}

/// The ZooKeeper session timeout when following the leading master through `zk://`.
const ZK_SESSION: Duration = Duration::from_secs(10);

pub async fn run_link(s: Arc<Shared>, http: reqwest::Client) {
    let mut backoff = 0.2f64;
    let mut leader = match drover_zk::Leader::new(&s.cfg.master, ZK_SESSION) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot follow the master: {e}");
            return;
        }
    };
    loop {
        let master = leader.get().await;
        *s.master_addr.lock().unwrap_or_else(|e| e.into_inner()) = master.clone();
        let info = framework_info(&s);
        let mut call = Call::new(CallType::SUBSCRIBE, info.id.clone());
        call.subscribe = Some(Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
        });
        let url = format!("http://{master}/api/v1/scheduler");
        match http
            .post(&url)
            .header("Accept", "application/json")
            .json(&call)
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => {
                backoff = 0.2;
                let sid = resp
                    .headers()
                    .get("Mesos-Stream-Id")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                *s.stream_id.lock().unwrap_or_else(|e| e.into_inner()) = sid;
                let mut body = resp.bytes_stream();
                let mut dec = Decoder::new(256 << 20);
                'stream: loop {
                    let next = tokio::select! {
                        n = tokio::time::timeout(Duration::from_secs(60), body.next()) => n,
                        _ = leader.changed() => {
                            tracing::warn!("the leading master changed; re-subscribing");
                            break 'stream;
                        }
                    };
                    let chunk = match next {
                        Ok(Some(Ok(c))) => c,
                        Ok(Some(Err(e))) => {
                            tracing::warn!("lost the master: {e}");
                            break;
                        }
                        Ok(None) => break,
                        Err(_) => {
                            tracing::warn!("no heartbeat from the master for 60 s; re-subscribing");
                            break;
                        }
                    };
                    dec.feed(&chunk);
                    loop {
                        match dec.next_record() {
                            Ok(Some(rec)) => match serde_json::from_slice::<Event>(&rec) {
                                Ok(ev) => s.on_event(ev),
                                Err(e) => tracing::error!("undecodable event: {e}"),
                            },
                            Ok(None) => break,
                            Err(e) => {
                                tracing::error!("bad framing from master: {e}");
                                break 'stream;
                            }
                        }
                    }
                }
                s.lock().connected = false;
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                tracing::error!("master refused subscription ({status}): {text}");
                if status == reqwest::StatusCode::FORBIDDEN && text.contains("removed") {
                    // Torn down by an operator: start over as a new framework; our tasks are gone.
                    let mut m = s.lock();
                    m.framework_id = None;
                    m.forget_instances();
                    let _ = m.store.delete("marathon/framework_id");
                    if let Ok(rows) = m.store.scan("marathon/instances/") {
                        let ops = rows
                            .into_iter()
                            .map(|(k, _)| drover_store::Op::Delete(k))
                            .collect();
                        let _ = m.store.apply(ops);
                    }
                }
            }
            Err(e) => tracing::warn!("cannot reach master {master}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
        backoff = (backoff * 2.0).min(5.0);
    }
}

impl Shared {
    fn on_event(&self, ev: Event) {
        let now = crate::driver::unix_now();
        let calls = {
            let mut m = self.lock();
            match ev.kind {
                EventType::SUBSCRIBED => {
                    let Some(sub) = ev.subscribed else { return };
                    tracing::info!(framework_id = %sub.framework_id, "marathon subscribed");
                    m.set_framework_id(sub.framework_id);
                    m.connected = true;
                    m.suppressed = false;
                    let mut calls = m.reconcile_after_subscribing(now);
                    calls.push(Call::new(CallType::REVIVE, None));
                    calls.extend(m.reconcile_plans(now));
                    calls
                }
                EventType::OFFERS => m.offers(ev.offers.map(|o| o.offers).unwrap_or_default(), now),
                EventType::UPDATE => match ev.update {
                    Some(u) => m.update(&u.status, now),
                    None => vec![],
                },
                EventType::ERROR => {
                    tracing::error!(
                        "master says: {}",
                        ev.error.map(|e| e.message).unwrap_or_default()
                    );
                    vec![]
                }
                _ => vec![],
            }
        };
        self.send(calls);
    }

    pub fn send(&self, calls: Vec<Call>) {
        for c in calls {
            let _ = self.calls.lock().unwrap_or_else(|e| e.into_inner()).send(c);
        }
    }
}
