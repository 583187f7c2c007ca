//! Following the leading master's operator event stream: `SUBSCRIBE` on `/api/v1` (JSON in
//! RecordIO), each event handed to the caller as it arrives; a new subscription when the leader
//! changes, the stream ends, or it stays silent too long (a master that accepts and never
//! answers included). What the events mean is the caller's: the DNS keeps records from them,
//! the web UI its view of the cluster.

use drover_api::recordio::Decoder;
use drover_zk::Leader;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use std::time::Duration;
use tokio::sync::watch;

/// A stream silent this long (three of the master's 15 s heartbeats) is dead; a SUBSCRIBE not
/// answered (its response headers) within it too.
pub const SILENCE: Duration = Duration::from_secs(45);
/// The largest event read.
const MAX_EVENT: usize = 256 << 20;

/// How a follower behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Who follows, for the logs (`dns`, `ui`).
    pub name: &'static str,
    /// How long a stream (or an unanswered SUBSCRIBE) may stay silent.
    pub silence: Duration,
}

impl Options {
    pub fn new(name: &'static str) -> Options {
        Options {
            name,
            silence: SILENCE,
        }
    }
}

/// What a follower is told.
pub trait Sink: Send {
    /// One event from the master at `addr`. Returns true when it loaded the master's whole
    /// state (an applied `SUBSCRIBED`): the subscription is healthy, retries start small again.
    fn event(&mut self, addr: &str, event: serde_json::Value) -> bool;
}

impl<F: FnMut(&str, serde_json::Value) -> bool + Send> Sink for F {
    fn event(&mut self, addr: &str, event: serde_json::Value) -> bool {
        self(addr, event)
    }
}

/// `host:port` → `http://host:port`; URLs as given.
pub fn base_url(addr: &str) -> String {
    let a = addr.trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_string()
    } else {
        format!("http://{a}")
    }
}

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the master answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the stream ended")]
    Ended,
    #[error("nothing arrived for {0:?}")]
    Silent(Duration),
    #[error("no answer to SUBSCRIBE within {0:?}")]
    NoAnswer(Duration),
    #[error("bad RecordIO: {0}")]
    Framing(#[from] drover_api::recordio::DecodeError),
}

/// Follow the leading master until `stop`, handing every event to `sink`.
pub async fn follow(
    mut leader: Leader,
    http: reqwest::Client,
    opts: Options,
    mut stop: watch::Receiver<bool>,
    mut sink: impl Sink,
) {
    let name = opts.name;
    let mut backoff = Duration::from_millis(100);
    loop {
        let addr = tokio::select! {
            a = leader.get() => a,
            _ = stop.changed() => return,
        };
        let mut got_state = false;
        let ended = tokio::select! {
            r = subscribe(&http, &addr, &mut sink, &mut got_state, opts.silence) => r,
            _ = leader.changed() => {
                tracing::info!("{name}: the leading master changed; subscribing again");
                backoff = Duration::from_millis(100);
                continue;
            }
            _ = stop.changed() => return,
        };
        if got_state {
            backoff = Duration::from_millis(100);
        }
        tracing::warn!(
            "{name}: the event stream of the master at {addr} ended ({ended}); subscribing again \
             in {backoff:?}"
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = leader.changed() => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(
    http: &reqwest::Client,
    addr: &str,
    sink: &mut impl Sink,
    got_state: &mut bool,
    silence: Duration,
) -> StreamEnd {
    let send = http
        .post(format!("{}/api/v1", base_url(addr)))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(r#"{"type":"SUBSCRIBE"}"#)
        .send();
    // The client has only a connect timeout: a master that accepts and never answers would
    // otherwise hold the subscription (and freeze what follows it) forever.
    let resp = match tokio::time::timeout(silence, send).await {
        Err(_) => return StreamEnd::NoAnswer(silence),
        Ok(Err(e)) => return e.into(),
        Ok(Ok(r)) => r,
    };
    if !resp.status().is_success() {
        return StreamEnd::Status(resp.status());
    }
    let mut body = resp.bytes_stream();
    let mut dec = Decoder::new(MAX_EVENT);
    loop {
        let chunk = match tokio::time::timeout(silence, body.next()).await {
            Err(_) => return StreamEnd::Silent(silence),
            Ok(None) => return StreamEnd::Ended,
            Ok(Some(Err(e))) => return e.into(),
            Ok(Some(Ok(c))) => c,
        };
        dec.feed(&chunk);
        loop {
            let rec = match dec.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return e.into(),
            };
            let Ok(ev) = serde_json::from_slice::<serde_json::Value>(&rec) else {
                tracing::debug!("an event that is not JSON, skipped");
                continue;
            };
            if sink.event(addr, ev) {
                *got_state = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_master_that_never_answers_subscribe_is_given_up_on() {
        // Accepts, reads nothing, says nothing; counts the connections.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = l.accept().await {
                held.push(c);
                let _ = accepted_tx.send(());
            }
        });
        let leader = Leader::new(&addr.to_string(), Duration::from_secs(10)).unwrap();
        let client = drover_httpclient::builder().build().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let opts = Options {
            name: "test",
            silence: Duration::from_millis(200),
        };
        let sink = |_: &str, _: serde_json::Value| false;
        let task = tokio::spawn(follow(leader, client, opts, stop_rx, sink));
        for n in 1..=2 {
            tokio::time::timeout(Duration::from_secs(10), accepted.recv())
                .await
                .unwrap_or_else(|_| panic!("no SUBSCRIBE number {n}"))
                .unwrap();
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the follower stops")
            .unwrap();
    }
}
