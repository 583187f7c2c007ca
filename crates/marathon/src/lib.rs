//! Marathon for Drover: long-running apps with rolling deploys, health checks and an event bus,
//! speaking Marathon's REST v2 API, scheduling through the master's public v1 scheduler API
//! like any other framework (no back door), durable in the storage trait. `metrics` serves
//! what it counts to Prometheus.
#![forbid(unsafe_code)]

mod callbacks;
pub mod constraints;
mod core;
mod driver;
mod framework;
mod health;
mod http;
mod leadership;
mod metrics;
pub mod planner;
pub mod resident;
pub mod unreachable;
pub mod validate;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::core::Marathon;
pub use crate::leadership::{Ha, Standing};

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
    /// The framework's name at the master (`marathon`; a Marathon run as a package by another
    /// is named for its service, e.g. `marathon-user`, and reached at `/service/<name>/`).
    pub framework_name: String,
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
    #[error("You cannot use scale and wipe at the same time.")]
    ScaleAndWipe,
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
    /// Leading, suspended or following (always leading without `--zk`).
    standing: std::sync::RwLock<Standing>,
    /// How this Marathon takes part in an HA group, if it does.
    ha: Option<Ha>,
    contender: std::sync::OnceLock<drover_zk::Contender>,
    /// The deciding loops, while this Marathon leads (their link to the master takes the calls
    /// to post).
    deciding: Mutex<Option<Deciding>>,
    /// Proxies API calls to the leader (redirects are passed back, not followed).
    proxy_http: reqwest::Client,
    /// Durable writes that failed: a change whose write failed is not answered as done.
    pub write_failures: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// A turn with the core: when it ends, its durable writes are applied and its events
    /// published (`driver::Turn`).
    pub fn lock(&self) -> driver::Turn<'_> {
        driver::Turn::new(
            self.m.lock().unwrap_or_else(|e| e.into_inner()),
            &self.write_failures,
        )
    }
}

/// A running Marathon: its state and the loops that drive it.
pub struct MarathonHandle {
    pub shared: Arc<Shared>,
    /// The election, with `--zk`.
    election: Option<tokio::task::AbortHandle>,
    /// Held while pending store ops are taken and written, so writes land in order.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl MarathonHandle {
    /// Stop deciding and launching: leave the master (no offer is taken and no call posted
    /// after this returns; an accept already on the wire still lands, which is why `drover up`
    /// stops its agents' launches next), then write what is pending to the store, so nothing
    /// accepted is lost. The REST API keeps answering until the process ends.
    pub async fn stop(&self) {
        if let Some(e) = &self.election {
            e.abort();
        }
        self.shared.stop_deciding();
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

/// The loops that talk to the master and decide (the link, health checks, plans), run while
/// this Marathon leads.
pub struct Deciding {
    link: drover_framework::Link,
    handles: Vec<tokio::task::AbortHandle>,
}

impl Deciding {
    fn stop(self) {
        self.link.stop();
        for h in self.handles {
            h.abort();
        }
    }
}

impl Shared {
    /// Post calls to the master through the link, while deciding (dropped otherwise, and until
    /// the link has subscribed).
    pub fn send(&self, calls: Vec<drover_api::scheduler::Call>) {
        if calls.is_empty() {
            return;
        }
        if let Some(d) = self
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            d.link.send(calls);
        }
    }

    /// Start deciding (again): a fresh link to the master, health checks, event callbacks and
    /// the plan ticker.
    fn start_deciding(self: &Arc<Self>, http: &reqwest::Client) {
        let old = self
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(d) = old {
            d.stop();
        }
        let link = drover_framework::Link::start(
            &self.cfg.master,
            Arc::new(framework::Framework(self.clone())),
            http.clone(),
        );
        let ticker = self.clone();
        let handles = vec![
            tokio::spawn(health::run(self.clone(), http.clone())).abort_handle(),
            tokio::spawn(callbacks::run(self.clone(), http.clone())).abort_handle(),
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let calls = {
                        let mut m = ticker.lock();
                        m.mark_all_dirty();
                        m.reconcile_plans(crate::driver::unix_now())
                    };
                    ticker.send(calls);
                }
            })
            .abort_handle(),
        ];
        let old = self
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Deciding { link, handles });
        if let Some(d) = old {
            d.stop();
        }
    }

    /// Stop deciding: no offer is taken and no call posted after this.
    fn stop_deciding(&self) {
        let d = self
            .deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(d) = d {
            d.stop();
        }
        self.lock().connected = false;
    }

    fn deciding(&self) -> bool {
        self.deciding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// Start Marathon: open its store, serve the REST API on `listener`, connect to the master.
/// With `ha`, join the group's election instead: lead (state in ZooKeeper) when elected, and
/// proxy to the leader until then.
pub fn start(
    cfg: MarathonConfig,
    listener: tokio::net::TcpListener,
    ha: Option<Ha>,
) -> Result<MarathonHandle, MarathonError> {
    let store: Arc<dyn drover_store::Store> = match &cfg.work_dir {
        _ if ha.is_some() => Arc::new(drover_store::MemoryStore::default()),
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
    marathon.framework_template = framework::framework_template(&cfg);
    let http = drover_httpclient::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| MarathonError::HttpClient(e.to_string()))?;
    let proxy_http = drover_httpclient::builder()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| MarathonError::HttpClient(e.to_string()))?;
    let standing = match &ha {
        Some(_) => Standing::Following { leader: None },
        None => Standing::Leading,
    };
    let shared = Arc::new(Shared {
        cfg,
        m: Mutex::new(marathon),
        standing: std::sync::RwLock::new(standing),
        ha: ha.clone(),
        contender: std::sync::OnceLock::new(),
        deciding: Mutex::new(None),
        proxy_http,
        write_failures: std::sync::atomic::AtomicU64::new(0),
    });
    let app = http::router(shared.clone());
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("marathon HTTP server stopped: {e}");
        }
    });
    let election = match ha {
        Some(ha) => Some(tokio::spawn(leadership::run(shared.clone(), ha, http)).abort_handle()),
        None => {
            shared.start_deciding(&http);
            None
        }
    };
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
                // Instances' writes too: the state is reloaded from the store (HA).
                flusher
                    .write_failures
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    Ok(MarathonHandle {
        shared,
        election,
        writing,
    })
}
