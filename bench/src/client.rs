//! A minimal v1 scheduler client: SUBSCRIBE, read the RecordIO event stream in the background,
//! post calls with the stream id. Enough to drive the master the way any framework does.

use drover_api::recordio::Decoder;
use drover_api::scheduler::{Call, CallType, Event, Subscribe};
use drover_api::{FrameworkID, FrameworkInfo};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("master answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("subscription stream ended before SUBSCRIBED")]
    NoSubscribed,
}

pub struct SchedulerClient {
    pub http: reqwest::Client,
    pub master: String,
    pub stream_id: String,
    pub framework_id: FrameworkID,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl SchedulerClient {
    /// Subscribe `info` to the master at `host:port` and wait for SUBSCRIBED.
    pub async fn subscribe(master: &str, info: FrameworkInfo) -> Result<Self, ClientError> {
        let http = drover_httpclient::builder().tcp_nodelay(true).build()?;
        let mut call = Call::new(CallType::SUBSCRIBE, info.id.clone());
        call.subscribe = Some(Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
        });
        let resp = http
            .post(format!("http://{master}/api/v1/scheduler"))
            .header("Accept", "application/json")
            .json(&call)
            .send()
            .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(ClientError::Status {
                status,
                body: resp.text().await.unwrap_or_default(),
            });
        }
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut body = resp.bytes_stream();
            let mut dec = Decoder::new(256 << 20);
            while let Some(Ok(chunk)) = body.next().await {
                dec.feed(&chunk);
                while let Ok(Some(rec)) = dec.next_record() {
                    if let Ok(ev) = serde_json::from_slice::<Event>(&rec) {
                        if tx.send(ev).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .ok()
            .flatten();
        let framework_id = match first {
            Some(Event {
                subscribed: Some(s),
                ..
            }) => s.framework_id,
            _ => return Err(ClientError::NoSubscribed),
        };
        Ok(SchedulerClient {
            http,
            master: master.to_string(),
            stream_id,
            framework_id,
            events: rx,
        })
    }

    /// Post a call; returns the HTTP status and body.
    pub async fn call(&self, mut call: Call) -> Result<(reqwest::StatusCode, String), ClientError> {
        if call.framework_id.is_none() {
            call.framework_id = Some(self.framework_id.clone());
        }
        let resp = self
            .http
            .post(format!("http://{}/api/v1/scheduler", self.master))
            .header("Mesos-Stream-Id", &self.stream_id)
            .json(&call)
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    /// The next event, or None after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        tokio::time::timeout(timeout, self.events.recv())
            .await
            .ok()
            .flatten()
    }
}
