//! The front door, as DC/OS' Admin Router is: one address (port 8000) that routes `/mesos/` to
//! the leading master, `/slave/<id>/` to that agent, `/service/marathon/` to Marathon,
//! `/service/<framework>/` to a framework's web UI, `/mesos_dns/` to the DNS, and answers the
//! cluster's metadata itself. Cosmos (the package API) and the web UI (at `/` and `/ui/`) are
//! mounted beside these routes by the binary.

pub mod http;
pub mod metadata;
pub mod metrics;
pub mod proxy;
pub mod routes;
pub mod upstreams;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cluster id: {0}")]
    ClusterId(String),
    #[error("--master {flag}: {source}")]
    Master {
        flag: String,
        source: drover_zk::ZkError,
    },
    #[error("--marathon {0:?}: give http://host:port")]
    MarathonUrl(String),
    #[error("--dns-http {0:?}: give http://host:port")]
    DnsUrl(String),
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// What a gateway needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// The master: `host:port`, or `zk://…/mesos` to follow the leader.
    pub master: String,
    /// Marathon's base URLs (`http://host:port`); with several (an HA set), the next is tried
    /// when one is down.
    pub marathon: Vec<String>,
    /// The DNS' HTTP API (`http://host:8123`), for `/mesos_dns/`.
    pub dns_http: Option<String>,
    /// The address clients reach this machine at (`PUBLIC_IPV4` in `/metadata`).
    pub advertise_ip: String,
    /// Where the cluster id is kept.
    pub work_dir: PathBuf,
    pub limits: proxy::Limits,
    pub zk_session_timeout: Duration,
}

/// The gateway's state, shared by its handlers.
pub struct Gateway {
    pub cfg: Config,
    pub cluster_id: String,
    /// The port the gateway listens on.
    pub port: u16,
    leader: drover_zk::Leader,
    proxy: proxy::Proxy,
    directory: upstreams::Cache,
    client: reqwest::Client,
}

fn check_url(u: &str) -> bool {
    u.strip_prefix("http://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

impl Gateway {
    /// Build the gateway; with a zk:// master this starts following the leader (on the current
    /// tokio runtime).
    pub fn new(cfg: Config, port: u16) -> Result<Arc<Gateway>, Error> {
        if let Some(bad) = cfg.marathon.iter().find(|u| !check_url(u)) {
            return Err(Error::MarathonUrl(bad.clone()));
        }
        if let Some(bad) = cfg.dns_http.as_ref().filter(|u| !check_url(u)) {
            return Err(Error::DnsUrl(bad.clone()));
        }
        let cluster_id = metadata::cluster_id(&cfg.work_dir)?;
        let leader =
            drover_zk::Leader::new(&cfg.master, cfg.zk_session_timeout).map_err(|source| {
                Error::Master {
                    flag: cfg.master.clone(),
                    source,
                }
            })?;
        let client = drover_httpclient::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Arc::new(Gateway {
            proxy: proxy::Proxy::new(cfg.limits.clone()),
            cfg,
            cluster_id,
            port,
            leader,
            directory: upstreams::Cache::default(),
            client,
        }))
    }

    /// The leading master's base URL, if one is known.
    pub fn master_url(&self) -> Option<String> {
        self.leader.current().map(|a| format!("http://{a}"))
    }

    /// The leading master as the gateway follows it (for others in the process to follow too).
    pub fn leader(&self) -> drover_zk::Leader {
        self.leader.clone()
    }

    /// Marathon's base URL (the first configured).
    pub fn marathon_url(&self) -> Option<String> {
        self.cfg
            .marathon
            .first()
            .map(|u| u.trim_end_matches('/').to_string())
    }

    /// Read the agents and frameworks from the leading master, and the services from
    /// Marathon's apps.
    async fn read_directory(&self) -> Option<upstreams::Directory> {
        let mut d = self.read_master_summary().await?;
        if let Some(m) = self.marathon_url() {
            match self
                .client
                .get(format!("{m}/v2/apps?embed=apps.tasks"))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    if let Ok(v) = r.json::<serde_json::Value>().await {
                        d.services = upstreams::services_from_apps(&v);
                    }
                }
                Ok(r) => tracing::warn!("gateway: Marathon's apps: HTTP {}", r.status()),
                Err(e) => tracing::warn!("gateway: cannot read Marathon's apps: {e}"),
            }
        }
        Some(d)
    }

    async fn read_master_summary(&self) -> Option<upstreams::Directory> {
        let base = self.master_url()?;
        let r = self
            .client
            .get(format!("{base}/master/state-summary"))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => Some(upstreams::Directory::from_summary(&v)),
                Err(e) => {
                    tracing::warn!("gateway: the master's state summary did not parse: {e}");
                    None
                }
            },
            Ok(r) => {
                tracing::warn!("gateway: the master's state summary: HTTP {}", r.status());
                None
            }
            Err(e) => {
                tracing::warn!("gateway: cannot read the master's state summary: {e}");
                None
            }
        }
    }
}

/// Serve `app` (the gateway's router, merged with whatever the binary mounts beside it) until
/// `stop` resolves, with `/metrics` over all of it ([`metrics::instrument`]).
pub async fn serve(
    app: axum::Router,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = metrics::instrument(app);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}
