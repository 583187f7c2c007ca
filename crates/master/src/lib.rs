//! The Drover master: pools agents' resources, offers them to frameworks by DRF, runs the task
//! state machine, and serves the Mesos v1 scheduler and operator APIs, the v0 JSON endpoints and
//! Drover's agent protocol. `serve` is the whole thing on one listener.
//!
//! `core` decides (pure: given `now` and an id source, no clock, no I/O); `snapshot`, `views`
//! and `v0` render what readers see; `http` and [`Shared`] drive the core: they decode
//! requests, call it under one lock, write the registry ops it records, and render views from a
//! snapshot outside the lock on low-priority threads (`render`).
#![forbid(unsafe_code)]

mod core;
mod http;
mod registry;
mod render;
mod snapshot;
mod tasks;
mod v0;
mod views;

use drover_api::MasterInfo;
use drover_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::core::Master;

#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// Address agents and frameworks use to reach this master (what `pid` and `MasterInfo` say).
    pub advertise_ip: String,
    pub hostname: String,
    pub work_dir: Option<PathBuf>,
    /// An agent silent for this long is unreachable (Mesos: agent_ping_timeout × max_agent_ping_timeouts).
    pub agent_timeout_secs: f64,
    /// How often agents heartbeat.
    pub agent_heartbeat_secs: f64,
    /// Batch allocation interval (Mesos' `--allocation_interval`); events also trigger a cycle.
    pub allocation_interval_secs: f64,
    /// Largest request body accepted on any endpoint.
    pub max_body_bytes: usize,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            advertise_ip: "127.0.0.1".into(),
            hostname: "localhost".into(),
            work_dir: None,
            agent_timeout_secs: 75.0,
            agent_heartbeat_secs: 5.0,
            allocation_interval_secs: 1.0,
            max_body_bytes: 16 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("opening the registry: {0}")]
    Store(#[from] drover_store::StoreError),
    #[error("creating work dir {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// State shared by the HTTP handlers and the background loops.
pub struct Shared {
    pub master: Mutex<Master>,
    pub started: std::time::Instant,
    pub alloc_notify: tokio::sync::Notify,
    pub flags: serde_json::Value,
    registry: registry::Writer,
    /// Where full views are rendered (low CPU priority, no lock held).
    renderer: render::Renderer,
}

impl Shared {
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Master> {
        // A panic while holding the lock is a bug; keep serving with the state as it was left.
        self.master.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run one decision of the core and carry out what it asks of the driver: wake the
    /// allocation loop if it wants a cycle, and write the registry ops it recorded. The writes
    /// are durable when this returns (so an answer sent after it never reports something the
    /// registry could lose), but they are made after the master's lock is released.
    pub fn decide<R>(&self, f: impl FnOnce(&mut Master) -> R) -> R {
        let (r, batch) = {
            let mut m = self.lock();
            let r = f(&mut m);
            if m.allocation_wanted {
                self.alloc_notify.notify_one();
            }
            (r, self.registry.enqueue(m.take_pending()))
        };
        if let Some(b) = batch {
            self.registry.flush(b);
        }
        r
    }

    /// The state the full views render, taken under the lock; render it after, with `render`.
    pub fn snapshot(&self) -> snapshot::Snapshot {
        self.lock().snapshot()
    }

    /// Run `f` (the rendering of a view) on a render thread; `None` if it panicked.
    pub async fn render<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        self.renderer.run(f).await
    }
}

fn ip_to_u32(ip: &str) -> u32 {
    ip.parse::<std::net::Ipv4Addr>()
        .map(|a| u32::from_le_bytes(a.octets()))
        .unwrap_or(0)
}

/// Build the master and its store; `serve` it on a listener.
pub fn build(cfg: MasterConfig, port: u16) -> Result<Arc<Shared>, MasterError> {
    let store: Arc<dyn Store> = match &cfg.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| MasterError::WorkDir {
                path: dir.display().to_string(),
                source,
            })?;
            Arc::new(drover_store::EmbeddedStore::open(
                &dir.join("registry.redb"),
            )?)
        }
        None => Arc::new(drover_store::MemoryStore::default()),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let info = MasterInfo {
        id: id.clone(),
        ip: ip_to_u32(&cfg.advertise_ip),
        port: port as u32,
        pid: Some(format!("master@{}:{port}", cfg.advertise_ip)),
        hostname: Some(cfg.hostname.clone()),
        version: Some(drover_api::MESOS_COMPAT_VERSION.into()),
        address: Some(drover_api::Address {
            hostname: Some(cfg.hostname.clone()),
            ip: Some(cfg.advertise_ip.clone()),
            port: port as i32,
        }),
    };
    let flags = serde_json::json!({
        "port": port.to_string(),
        "ip": cfg.advertise_ip,
        "hostname": cfg.hostname,
        "work_dir": cfg.work_dir.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        "allocation_interval": format!("{}secs", cfg.allocation_interval_secs),
        "agent_ping_timeout": format!("{}secs", cfg.agent_timeout_secs),
        "registry": if cfg.work_dir.is_some() { "replicated_log" } else { "in_memory" },
    });
    let registry = registry::Registry::new(store);
    let recovered = registry.recover();
    let start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let master = Master::new(
        cfg,
        info,
        recovered,
        Box::new(crate::core::RandomIds),
        start_unix,
    );
    Ok(Arc::new(Shared {
        master: Mutex::new(master),
        started: std::time::Instant::now(),
        alloc_notify: tokio::sync::Notify::new(),
        flags,
        registry: registry::Writer::new(registry),
        renderer: render::Renderer::new(2),
    }))
}

/// Serve the master on `listener` until the future resolves; runs the allocation and
/// housekeeping loops alongside.
pub async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    let loops = tokio::spawn(http::background(shared.clone()));
    let app = http::router(shared);
    // Streams (subscriptions, agent connections) carry small records one after another: without
    // TCP_NODELAY the second of two waits for the peer's delayed ACK, up to 40 ms.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
        }
    });
    // Subscription streams never end by themselves, so shutdown does not wait for them.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    let r = tokio::select! {
        r = server => r.map_err(MasterError::Serve),
        _ = shutdown => Ok(()),
    };
    loops.abort();
    r
}
