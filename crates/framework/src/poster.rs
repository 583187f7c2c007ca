//! The poster: calls to the master, each with the current framework id and stream id.
//! Acknowledgements, kills, accepts and declines are independent of each other and go out
//! concurrently (a burst of thousands must not queue behind one HTTP round trip each); every
//! other call (revive, suppress, reconcile, …) is a barrier: it goes out alone, after everything
//! posted before it was answered.

use crate::{lock, SharedSession};
use drover_api::scheduler::{Call, CallType};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

/// Concurrent posts at most.
const IN_FLIGHT: u32 = 64;

pub(crate) async fn run(
    session: SharedSession,
    mut rx: mpsc::UnboundedReceiver<Call>,
    http: reqwest::Client,
) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    while let Some(mut call) = rx.recv().await {
        let (fid, sid, master) = {
            let s = lock(&session);
            (
                s.framework_id.clone(),
                s.stream_id.clone(),
                s.master.clone(),
            )
        };
        // Not subscribed (yet, or any more after a removal): dropped.
        let (Some(fid), Some(sid), Some(master)) = (fid, sid, master) else {
            continue;
        };
        call.framework_id = Some(fid);
        let url = format!("http://{master}/api/v1/scheduler");
        if matches!(
            call.kind,
            CallType::ACKNOWLEDGE | CallType::KILL | CallType::ACCEPT | CallType::DECLINE
        ) {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                continue;
            };
            let http = http.clone();
            tokio::spawn(
                async move {
                    post(&http, &url, &sid, &call).await;
                    drop(permit);
                }
                .instrument(tracing::Span::current()),
            );
        } else {
            // A barrier: everything posted before (a DECLINE with a long filter, say) lands
            // before this REVIVE/SUPPRESS/RECONCILE, or a revive could be undone by a decline
            // that overtook it.
            let Ok(all) = in_flight.acquire_many(IN_FLIGHT).await else {
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
