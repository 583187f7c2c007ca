//! The subscription: follow the leading master, SUBSCRIBE, decode the RecordIO event stream and
//! hand each event to the scheduler, queueing the calls it returns; re-subscribe with backoff
//! (0.2 s doubling to 5 s) when the stream ends, no heartbeat comes for 60 s, the framing is
//! bad or the leading master changes.

use crate::{lock, Scheduler, Sender, SharedSession};
use drover_api::recordio::Decoder;
use drover_api::scheduler::{Call, CallType, Event, EventType, Subscribe};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The ZooKeeper session timeout when following the leading master through `zk://`.
const ZK_SESSION: Duration = Duration::from_secs(10);
/// The master heartbeats every 15 s; a stream silent this long is taken for lost.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest event accepted (a big OFFERS event from a large cluster fits).
const MAX_RECORD: usize = 256 << 20;
const BACKOFF_MIN: f64 = 0.2;
const BACKOFF_MAX: f64 = 5.0;

pub(crate) async fn run(
    master: String,
    scheduler: Arc<dyn Scheduler>,
    session: SharedSession,
    calls: Sender,
    http: reqwest::Client,
) {
    let mut backoff = BACKOFF_MIN;
    let mut named = false;
    let mut leader = match drover_zk::Leader::new(&master, ZK_SESSION) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot follow the master: {e}");
            return;
        }
    };
    loop {
        let master = leader.get().await;
        lock(&session).master = Some(master.clone());
        let info = scheduler.framework_info();
        if !named {
            // Once: a field recorded again is appended again by tracing's formatter.
            tracing::Span::current().record("name", info.name.as_str());
            named = true;
        }
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
                backoff = BACKOFF_MIN;
                let sid = resp
                    .headers()
                    .get("Mesos-Stream-Id")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                lock(&session).stream_id = sid;
                let mut body = resp.bytes_stream();
                let mut dec = Decoder::new(MAX_RECORD);
                'stream: loop {
                    let next = tokio::select! {
                        n = tokio::time::timeout(HEARTBEAT_TIMEOUT, body.next()) => n,
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
                                Ok(ev) => deliver(&*scheduler, &session, &calls, ev),
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
                scheduler.on_disconnected();
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                tracing::error!("master refused subscription ({status}): {text}");
                if status == reqwest::StatusCode::FORBIDDEN && text.contains("removed") {
                    // Torn down by an operator: nothing is posted for the old framework.
                    lock(&session).framework_id = None;
                    scheduler.on_removed();
                }
            }
            Err(e) => tracing::warn!("cannot reach master {master}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
        backoff = (backoff * 2.0).min(BACKOFF_MAX);
    }
}

/// One event to the scheduler (a SUBSCRIBED's framework id remembered first, for the calls it
/// answers with), and its calls to the poster.
fn deliver(scheduler: &dyn Scheduler, session: &SharedSession, calls: &Sender, ev: Event) {
    if ev.kind == EventType::SUBSCRIBED {
        if let Some(sub) = &ev.subscribed {
            lock(session).framework_id = Some(sub.framework_id.clone());
        }
    }
    calls.send(scheduler.on_event(ev));
}
