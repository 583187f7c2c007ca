//! Jobs for Drover: cron and one-off batch work, serving Metronome's REST API (`/v1/jobs`…) and
//! Chronos' (`/v1/scheduler/…`, `/scheduler/…`) on one port, scheduling through the master's
//! public v1 scheduler API as the framework `metronome` (like Marathon: no back door). Every
//! due run exactly once: a run is written, keyed by (job, schedule, due time), before any task
//! of it is launched, and its task id comes from that key (see `core`).
#![forbid(unsafe_code)]

pub mod core;
mod driver;
pub mod http;
mod leadership;
pub mod schedule;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::core::Jobs;
pub use crate::driver::Shared;
pub use crate::leadership::{Ha, Standing};

#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// The master: host:port, or zk://…/mesos to follow the leading master.
    pub master: String,
    /// host:port others reach this scheduler at (`webui_url`, `/leader`).
    pub advertise: String,
    pub hostname: String,
    pub work_dir: Option<PathBuf>,
    pub role: String,
    pub user: String,
    pub failover_timeout_secs: f64,
    pub max_body_bytes: usize,
    /// The framework's name at the master (`metronome`: the gateway serves it at
    /// `/service/metronome/`, and `/service/chronos/` too).
    pub framework_name: String,
}

impl JobsConfig {
    /// Defaults for a scheduler of `master` reachable at `advertise`.
    pub fn new(master: String, advertise: String) -> JobsConfig {
        let hostname = advertise
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| advertise.clone());
        JobsConfig {
            master,
            advertise,
            hostname,
            work_dir: None,
            role: "*".into(),
            user: "root".into(),
            failover_timeout_secs: 7.0 * 24.0 * 3600.0,
            max_body_bytes: 1 << 20,
            framework_name: "metronome".into(),
        }
    }
}

/// What went wrong, by what it is; `http` maps each to Metronome's or Chronos' status and body.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("Job not found")]
    JobNotFound(String),
    #[error("Job with this id already exists")]
    JobExists(String),
    #[error("Schedule not found")]
    ScheduleNotFound(String),
    #[error("A schedule with id {0} already exists")]
    ScheduleExists(String),
    #[error("Only one schedule supported at the moment")]
    OneSchedule,
    #[error("Job Run not found")]
    RunNotFound { job: String, run: String },
    #[error("There are active job runs. Override with stopCurrentJobRuns=true")]
    ActiveRuns,
    #[error("Job {job} can not be deleted, because job {child} depends on it")]
    HasDependents { job: String, child: String },
    #[error("parent job '{0}' does not exist")]
    ParentNotFound(String),
    #[error("a dependency cycle: job '{0}' would depend on itself")]
    DependencyCycle(String),
    /// Metronome's 422: each path with its errors.
    #[error("Object is not valid")]
    Invalid(Vec<drover_api::metronome::ErrorDetail>),
    #[error("storage: {0}")]
    Store(#[from] drover_store::StoreError),
    /// A write did not land (the store is unreachable, or this scheduler no longer leads).
    #[error("The change could not be stored (the store is unreachable, or this scheduler no longer leads); retry")]
    NotStored,
    #[error("creating the work dir {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    #[error("building the HTTP client: {0}")]
    HttpClient(String),
}

/// A running jobs scheduler.
pub struct JobsHandle {
    pub shared: Arc<Shared>,
    /// The election, with `--zk`.
    election: Option<tokio::task::AbortHandle>,
}

impl JobsHandle {
    /// Stop launching: leave the master. Everything accepted is already in the store (writes
    /// land before answers), so nothing is lost. The REST API answers until the process ends.
    pub async fn stop(&self) {
        if let Some(e) = &self.election {
            e.abort();
        }
        self.shared.stop_deciding();
    }
}

/// Start the scheduler: open its store, serve the REST APIs on `listener`, connect to the
/// master and tick.
pub fn start(
    cfg: JobsConfig,
    listener: tokio::net::TcpListener,
    ha: Option<Ha>,
) -> Result<JobsHandle, JobsError> {
    let store: Arc<dyn drover_store::Store> = match &cfg.work_dir {
        // With `--zk` the state is in ZooKeeper, loaded when elected.
        _ if ha.is_some() => Arc::new(drover_store::MemoryStore::default()),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| JobsError::WorkDir {
                path: dir.display().to_string(),
                source: e,
            })?;
            Arc::new(drover_store::EmbeddedStore::open(&dir.join("jobs.redb"))?)
        }
        None => Arc::new(drover_store::MemoryStore::default()),
    };
    let jobs = Jobs::open(
        store,
        cfg.role.clone(),
        Box::new(driver::RandomSuffix::default()),
    )?;
    let http = drover_httpclient::builder()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| JobsError::HttpClient(e.to_string()))?;
    let shared = Arc::new(Shared::new(cfg, jobs, http));
    let mut app = http::router(shared.clone());
    if ha.is_some() {
        shared.set_standing(Standing::Following { leader: None });
        app = app.layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            leadership::gate,
        ));
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("jobs HTTP server stopped: {e}");
        }
    });
    let election = match ha {
        Some(ha) => Some(tokio::spawn(leadership::run(shared.clone(), ha)).abort_handle()),
        None => {
            shared.start_deciding();
            None
        }
    };
    Ok(JobsHandle { shared, election })
}

/// A lock that survives a panicking holder.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
