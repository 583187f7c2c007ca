//! The web UI, served by the gateway at `/` and under `/ui/`: server-rendered pages of the
//! cluster (readable without JavaScript, a link for every view and filter), kept live in the
//! browser by one event stream per tab that the server feeds from the master's operator
//! stream and Marathon's events. The pages read the model the followers keep; actions go to
//! Marathon, the master, Cosmos and the jobs scheduler as their own clients would send them.

pub mod fmt;
pub mod history;
pub mod hub;
pub mod live;
pub mod model;
pub mod pages;
pub mod schema_form;
pub mod spec;
pub mod sse;
pub mod table;
#[cfg(test)]
pub mod testing;

use live::{Live, MarathonClient};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where the UI reads the cluster from.
#[derive(Clone)]
pub struct Config {
    /// The leading master (fixed or followed through ZooKeeper).
    pub leader: drover_zk::Leader,
    /// Marathon's base URLs (`http://host:port`), tried in order.
    pub marathon: Vec<String>,
    /// The gateway's own base URL (Cosmos' package API, agents' sandboxes through it).
    pub gateway: String,
    /// The jobs scheduler's base URL (Metronome's API); none: the `webui_url` of the framework
    /// `metronome` the master lists, when there is one.
    pub jobs: Option<String>,
}

/// The UI's state, shared by its handlers.
pub struct Ui {
    pub live: Arc<Live>,
    pub cfg: Config,
    pub http: reqwest::Client,
    pub marathon: MarathonClient,
    stop: watch::Sender<bool>,
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("the jobs scheduler's URL {0:?}: give http://host:port")]
    JobsUrl(String),
}

/// Start following the cluster (on the current tokio runtime) and give the UI to serve.
pub fn start(cfg: Config) -> Result<Arc<Ui>, Error> {
    if let Some(u) = cfg.jobs.as_ref().filter(|u| !pages::jobs::usable_url(u)) {
        return Err(Error::JobsUrl(u.clone()));
    }
    let epoch = format!("{:x}", (live::now() * 1000.0) as u64);
    let live = Arc::new(Live::new(epoch));
    // No overall timeout: the event streams are long-lived; reads time out per call.
    let stream_client = drover_httpclient::builder()
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    let http = drover_httpclient::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    let (stop, stop_rx) = watch::channel(false);
    let l = live.clone();
    tokio::spawn(drover_follow::follow(
        cfg.leader.clone(),
        stream_client.clone(),
        drover_follow::Options::new("ui"),
        stop_rx.clone(),
        move |from: &str, ev| l.master_event(from, ev),
    ));
    tokio::spawn(live.clone().clock(stop_rx.clone()));
    if drover_zk::ZkUrl::is_zk(cfg.leader.flag()) {
        // The standbys for the dashboard: the group's members. A bad URL was refused when the
        // leader was made from it; say so and go on without standbys if not.
        match drover_zk::ZkUrl::parse(cfg.leader.flag())
            .and_then(|u| drover_zk::Sessions::new(u, Duration::from_secs(10)))
        {
            Ok(sessions) => {
                tokio::spawn(live.clone().masters_loop(
                    sessions,
                    cfg.leader.clone(),
                    stop_rx.clone(),
                ));
            }
            Err(e) => tracing::warn!("ui: cannot list the masters: {e}"),
        }
    }
    let marathon = MarathonClient {
        urls: cfg
            .marathon
            .iter()
            .map(|u| u.trim_end_matches('/').to_string())
            .collect(),
        http: http.clone(),
    };
    if !marathon.urls.is_empty() {
        let streaming = MarathonClient {
            urls: marathon.urls.clone(),
            http: stream_client,
        };
        tokio::spawn(live.clone().follow_marathon(streaming, stop_rx.clone()));
        tokio::spawn(live.clone().marathon_refresh(marathon.clone(), stop_rx));
    }
    Ok(Arc::new(Ui {
        live,
        cfg,
        http,
        marathon,
        stop,
    }))
}

impl Ui {
    /// A UI over `live` that follows nothing (tests and benchmarks fill `live` themselves);
    /// Marathon and the gateway at the URLs given (unreachable ones are fine for pages that
    /// read only the model).
    pub fn detached(
        live: Arc<Live>,
        marathon: Vec<String>,
        gateway: String,
    ) -> Result<Arc<Ui>, Error> {
        let http = drover_httpclient::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let leader = drover_zk::Leader::new("127.0.0.1:9", Duration::from_secs(1))
            .map_err(|e| Error::Client(e.to_string()))?;
        let (stop, _) = watch::channel(false);
        Ok(Arc::new(Ui {
            live,
            cfg: Config {
                leader,
                marathon: marathon.clone(),
                gateway,
                jobs: None,
            },
            http: http.clone(),
            marathon: MarathonClient {
                urls: marathon,
                http,
            },
            stop,
        }))
    }
}

/// The UI's routes, to merge into the gateway's.
pub fn router(ui: Arc<Ui>) -> axum::Router {
    pages::router(ui)
}
