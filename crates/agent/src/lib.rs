//! The Drover agent: registers its machine's resources with the master, runs tasks in
//! containers (`process`: a session and cgroups; `docker`: a Docker Engine container; both
//! behind one `Containerizer` trait) as the built-in command executor, or custom executors over
//! the v1 executor API, fetches their artifacts, delivers status updates reliably, checkpoints
//! what it runs and re-adopts it after a restart.
//!
//! Modules: `agent` (the state and what the agent does with it), `containerizer` (the trait),
//! `process` and `docker` (its two implementations; `fake` for tests), `health` (health checks),
//! `link` (the master connection), `http` (the agent's HTTP API), `metrics` (its `/metrics`
//! for Prometheus), `status` (the status update manager), `checkpoint`, `fetcher`, `sandbox`, `spawner`, `dirfd`, and `sys`, the only module
//! with raw FFI.
#![deny(unsafe_code)] // the one exception is `sys`, every raw call of the agent, each block audited

mod agent;
mod checkpoint;
mod containerizer;
mod dirfd;
#[cfg(test)]
mod fake;
mod fetcher;
mod health;
mod http;
mod link;
mod metrics;
pub mod oversubscription;
mod process;
mod sandbox;
mod spawner;
mod status;
#[allow(unsafe_code)]
mod sys;
pub mod volumes;

/// Public only for what the binary reaches by path (`docker::probe`, `docker::DockerConfig`);
/// the rest of it is the crate's.
pub mod docker;

pub use agent::Agent;
pub use docker::{DockerConfig, EngineError};

use drover_api::{AgentInfo, Attribute, Resources, Text, ValueType};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `host:port` of the master.
    pub master: String,
    pub work_dir: PathBuf,
    /// Address the master and executors use to reach this agent.
    pub advertise_ip: String,
    pub hostname: String,
    pub port: u16,
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    pub default_kill_grace_secs: f64,
    pub executor_shutdown_grace_secs: f64,
    pub executor_registration_timeout_secs: f64,
    pub fetch_max_bytes: u64,
    pub max_body_bytes: usize,
    /// Apply cgroup limits when the host allows it.
    pub cgroups: bool,
    /// Hard CPU caps (CFS quota) for process tasks, besides shares.
    pub cgroups_enable_cfs: bool,
    pub switch_user: bool,
    /// The `docker` containerizer (tasks with `container.type = DOCKER`); `None`: process only.
    pub docker: Option<DockerConfig>,
    /// Estimate slack and offer it as revocable resources, evicting revocable tasks when a
    /// regular task is starved (`--oversubscription`); `None`: off, as in Mesos by default.
    pub oversubscription: Option<oversubscription::OversubscriptionConfig>,
}

impl AgentConfig {
    pub fn meta_dir(&self) -> PathBuf {
        self.work_dir.join("meta")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("creating work dir {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    #[error("attribute '{0}' is not of the form name:value")]
    BadAttribute(String),
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error("starting the thread tasks are spawned from: {0}")]
    Spawner(std::io::Error),
}

/// Parse Mesos' `--attributes` text form: `rack:r1;zone:a;level:3`.
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, AgentError> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once(':')
            .ok_or_else(|| AgentError::BadAttribute(part.to_string()))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(AgentError::BadAttribute(part.to_string()));
        }
        let attr = match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Attribute {
                name: k.into(),
                kind: ValueType::SCALAR,
                scalar: Some(drover_api::Scalar { value: n }),
                ranges: None,
                set: None,
                text: None,
            },
            _ => Attribute {
                name: k.into(),
                kind: ValueType::TEXT,
                scalar: None,
                ranges: None,
                set: None,
                text: Some(Text { value: v.into() }),
            },
        };
        out.push(attr);
    }
    Ok(out)
}

/// What this machine has, as Mesos' defaults compute it: all cpus, memory less 1 GiB (or half
/// when small), the work dir's free disk less 5 GiB (or half), ports 31000-32000.
pub fn default_resources(work_dir: &std::path::Path, share: f64) -> Resources {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    let mem_mb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(1024.0);
    let mem = if mem_mb > 2048.0 {
        mem_mb - 1024.0
    } else {
        mem_mb / 2.0
    };
    let disk_mb = nix::sys::statvfs::statvfs(work_dir)
        .map(|s| s.blocks_available() as f64 * s.fragment_size() as f64 / 1048576.0)
        .unwrap_or(10240.0);
    let disk = if disk_mb > 10240.0 {
        disk_mb - 5120.0
    } else {
        disk_mb / 2.0
    };
    let text = format!(
        "cpus:{};mem:{};disk:{};ports:[31000-32000]",
        (cpus * share * 1000.0).floor() / 1000.0,
        (mem * share).floor(),
        (disk * share).floor()
    );
    Resources::parse(&text).unwrap_or_default()
}

/// A running agent.
pub struct AgentHandle {
    pub agent: Arc<Agent>,
}

impl AgentHandle {
    /// Stop every task and executor (Ctrl-C) and launch nothing more; returns once every
    /// process is reaped, nothing left behind. `waiting` hears what is still running each time
    /// `asked` says someone wants to know (a second Ctrl-C), and every 5 s.
    pub async fn stop_everything(
        &self,
        waiting: impl FnMut(&[String]),
        asked: impl FnMut() -> bool,
    ) {
        let grace = self.agent.cfg.default_kill_grace_secs.min(3.0);
        self.agent.stop_everything(grace, waiting, asked).await
    }
}

/// Start the agent on `listener`: recover checkpointed state, then serve the HTTP API and connect
/// to the master (connections that come meanwhile wait in the listener's backlog). Returns at
/// once; the work continues on the runtime.
pub fn start(
    cfg: AgentConfig,
    listener: tokio::net::TcpListener,
) -> Result<AgentHandle, AgentError> {
    std::fs::create_dir_all(cfg.meta_dir()).map_err(|source| AgentError::WorkDir {
        path: cfg.work_dir.display().to_string(),
        source,
    })?;
    let cgroups = if cfg.cgroups {
        process::Cgroups::detect(
            std::path::Path::new("/sys/fs/cgroup"),
            cfg.cgroups_enable_cfs,
        )
    } else {
        process::Cgroups::None("disabled by flag".into())
    };
    match &cgroups {
        process::Cgroups::None(why) => tracing::warn!("tasks run without cpu/memory limits: {why}"),
        c => tracing::info!("isolation: {}", c.describe()),
    }
    let client = drover_httpclient::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(None)
        .build()
        .map_err(AgentError::Client)?;
    // Registration follows a standby's redirect itself (link::run_link).
    let link_client = drover_httpclient::builder()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(AgentError::Client)?;
    let info = AgentInfo {
        hostname: cfg.hostname.clone(),
        port: Some(cfg.port as i32),
        resources: cfg.resources.to_vec(),
        attributes: cfg.attributes.clone(),
        id: None,
    };
    let id = checkpoint::read_agent_id(&cfg.meta_dir());
    let journal =
        checkpoint::TaskJournal::open(&cfg.meta_dir()).map_err(|source| AgentError::WorkDir {
            path: cfg.meta_dir().display().to_string(),
            source,
        })?;
    let process = process::ProcessContainerizer::new(
        cgroups.clone(),
        cfg.switch_user,
        spawner::Spawner::start().map_err(AgentError::Spawner)?,
    );
    let docker = cfg.docker.clone().map(|c| {
        Arc::new(docker::DockerContainerizer::new(c, &cfg.work_dir))
            as Arc<dyn containerizer::Containerizer>
    });
    let link = Arc::new(link::Link::new(cfg.master.clone()));
    let fetcher = fetcher::Fetcher {
        cache_dir: cfg.work_dir.join("fetch-cache"),
        max_bytes: cfg.fetch_max_bytes,
        http: client.clone(),
    };
    let agent = Agent::new(
        cfg,
        agent::Parts {
            containerizers: agent::Containerizers {
                process: Arc::new(process),
                docker,
            },
            isolation: cgroups.describe(),
            fetcher,
            journal,
            link: link.clone(),
            id,
            info,
        },
    );
    let app = http::router(agent.clone());
    let a = agent.clone();
    tokio::spawn(async move {
        // Executors that reconnect find what they belong to; the first registration reports
        // what really runs.
        a.recover().await;
        tokio::spawn(async move {
            // Executor event streams: small records back to back, see the master's serve.
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
                }
            });
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("agent HTTP server stopped: {e}");
            }
        });
        if let Some(o) = a.cfg.oversubscription.clone() {
            tokio::spawn(a.clone().run_oversubscription(o));
        }
        let registrant: Arc<dyn link::Registrant> = a;
        tokio::spawn(link::run_link(
            link.clone(),
            registrant.clone(),
            link_client,
        ));
        tokio::spawn(link::run_sender(link, registrant, client));
    });
    Ok(AgentHandle { agent })
}
