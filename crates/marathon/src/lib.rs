//! Marathon for Drover: long-running apps with rolling deploys, health checks and an event bus,
//! speaking Marathon's REST v2 API, scheduling through the master's public v1 scheduler API
//! like any other framework (no back door), durable in the storage trait.
#![forbid(unsafe_code)]

mod callbacks;
pub mod constraints;
mod core;
mod driver;
mod framework;
mod health;
mod http;
pub mod planner;
pub mod validate;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::core::Marathon;

#[derive(Clone, Debug)]
pub struct MarathonConfig {
    /// The master: host:port, or zk://…/mesos to follow the leading master.
    pub master: String,
    /// host:port others reach this Marathon at (`/v2/leader`, webui_url).
    pub advertise: String,
    pub hostname: String,
    pub work_dir: Option<PathBuf>,
    pub role: String,
    pub user: String,
    pub failover_timeout_secs: f64,
    pub max_body_bytes: usize,
    /// The range service ports are assigned from (`--local-port-min`, `--local-port-max`).
    pub service_ports: (u32, u32),
}

/// What went wrong, by what it is; `http` maps each to Marathon's status and body in one place.
/// The messages are Marathon's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum MarathonError {
    #[error("invalid: {0:?}")]
    Invalid(Vec<drover_api::marathon::ValidationDetail>),
    #[error("App '{0}' does not exist")]
    AppNotFound(String),
    #[error("App '{id}' has no version {version}")]
    VersionNotFound { id: String, version: String },
    #[error("Group '{0}' does not exist")]
    GroupNotFound(String),
    #[error("Task '{task}' of app '{app}' does not exist")]
    TaskNotFound { app: String, task: String },
    #[error("DeploymentPlan {0} does not exist")]
    DeploymentNotFound(String),
    /// A path under the API that names no resource (or not with this method); what to use.
    #[error("{0}")]
    NoSuchResource(String),
    #[error("An app with id [{0}] already exists.")]
    AppExists(String),
    #[error("A group with id [{0}] already exists.")]
    GroupExists(String),
    #[error("locked by deployments {0:?}")]
    DeploymentInProgress(Vec<String>),
    #[error("query parameter '{name}' must be true or false, got '{value}'")]
    NotABoolean { name: String, value: String },
    #[error("storage: {0}")]
    Store(#[from] drover_store::StoreError),
    #[error("creating the work dir {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    /// Every service port of the range is taken (Marathon answers 500).
    #[error("All ports in the range [{min}-{max}) are already in use")]
    ServicePortsExhausted { min: u32, max: u32 },
    #[error("building the HTTP client: {0}")]
    HttpClient(String),
}

pub struct Shared {
    pub cfg: MarathonConfig,
    pub m: Mutex<Marathon>,
    pub calls: tokio::sync::mpsc::UnboundedSender<drover_api::scheduler::Call>,
    pub stream_id: Mutex<Option<String>>,
    /// The master subscribed to now (`host:port`; `--master` may be `zk://…`).
    pub master_addr: Mutex<String>,
}

impl Shared {
    /// A turn with the core: when it ends, its durable writes are applied and its events
    /// published (`driver::Turn`).
    pub fn lock(&self) -> driver::Turn<'_> {
        driver::Turn::new(self.m.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A running Marathon: its state and the loops that drive it.
pub struct MarathonHandle {
    pub shared: Arc<Shared>,
    /// The loops that talk to the master and decide (link, poster, health checks, plans).
    deciding: Vec<tokio::task::AbortHandle>,
    /// Held while pending store ops are taken and written, so writes land in order.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl MarathonHandle {
    /// Stop deciding and launching: leave the master (no offer is taken and no call posted
    /// after this returns; an accept already on the wire still lands, which is why `drover up`
    /// stops its agents' launches next), then write what is pending to the store, so nothing
    /// accepted is lost. The REST API keeps answering until the process ends.
    pub async fn stop(&self) {
        for h in &self.deciding {
            h.abort();
        }
        // After the flusher's write in flight, if any.
        let _writing = self.writing.lock().await;
        let (ops, store) = {
            let mut m = self.shared.lock();
            (m.take_pending(), m.store.clone())
        };
        if !ops.is_empty() {
            match tokio::task::spawn_blocking(move || store.apply(ops)).await {
                Ok(Err(e)) => tracing::error!("marathon store write failed: {e}"),
                Err(e) => tracing::error!("marathon store write did not finish: {e}"),
                Ok(Ok(())) => {}
            }
        }
    }
}

/// Start Marathon: open its store, serve the REST API on `listener`, connect to the master.
pub fn start(
    cfg: MarathonConfig,
    listener: tokio::net::TcpListener,
) -> Result<MarathonHandle, MarathonError> {
    let store: Arc<dyn drover_store::Store> = match &cfg.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| MarathonError::WorkDir {
                path: dir.display().to_string(),
                source: e,
            })?;
            Arc::new(drover_store::EmbeddedStore::open(
                &dir.join("marathon.redb"),
            )?)
        }
        None => Arc::new(drover_store::MemoryStore::default()),
    };
    let mut marathon = Marathon::new(store, cfg.role.clone())?;
    marathon.service_port_range = cfg.service_ports;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        cfg,
        m: Mutex::new(marathon),
        calls: tx,
        stream_id: Mutex::new(None),
        master_addr: Mutex::new(String::new()),
    });
    let http = drover_httpclient::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| MarathonError::HttpClient(e.to_string()))?;
    let app = http::router(shared.clone());
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("marathon HTTP server stopped: {e}");
        }
    });
    let mut deciding = vec![
        tokio::spawn(framework::run_poster(shared.clone(), rx, http.clone())).abort_handle(),
        tokio::spawn(framework::run_link(shared.clone(), http.clone())).abort_handle(),
        tokio::spawn(health::run(shared.clone(), http.clone())).abort_handle(),
        tokio::spawn(callbacks::run(shared.clone(), http)).abort_handle(),
    ];
    let flusher = shared.clone();
    let writing = Arc::new(tokio::sync::Mutex::new(()));
    let flush_lock = writing.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let _writing = flush_lock.lock().await;
            let (ops, store) = {
                let mut m = flusher.lock();
                (m.take_pending(), m.store.clone())
            };
            if ops.is_empty() {
                continue;
            }
            let r = tokio::task::spawn_blocking(move || store.apply(ops)).await;
            if let Ok(Err(e)) = r {
                tracing::error!("marathon store write failed: {e}");
            }
        }
    });
    let ticker = shared.clone();
    let ticking = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let calls = {
                let mut m = ticker.lock();
                m.mark_all_dirty();
                m.reconcile_plans(crate::driver::unix_now())
            };
            ticker.send(calls);
        }
    });
    deciding.push(ticking.abort_handle());
    Ok(MarathonHandle {
        shared,
        deciding,
        writing,
    })
}
