//! The front door's parts as the binary runs them: the gateway (with Cosmos mounted beside its
//! routes) and the DNS, alone (`drover gateway`, `drover dns`) or inside `drover up`.

use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `drover gateway`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct GatewayArgs {
    /// The master: host:port, or zk://host:2181,…/mesos to follow the leading master.
    #[arg(long, env = "DROVER_MASTER")]
    pub master: String,
    /// Marathon's URL; several (comma-separated) for an HA set: the next is tried when one is down.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub marathon: Vec<String>,
    /// The DNS' HTTP API, routed at /mesos_dns/ (the dcos CLI's `node` needs it).
    #[arg(long, default_value = "http://127.0.0.1:8123")]
    pub dns_http: String,
    #[arg(long, default_value = "./.drover/gateway")]
    pub work_dir: PathBuf,
    #[arg(long, default_value = "0.0.0.0")]
    pub ip: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The address clients reach this gateway at (PUBLIC_IPV4 in /metadata).
    #[arg(long)]
    pub advertise_ip: Option<String>,
    /// With a zk:// master: the ZooKeeper session timeout, in seconds.
    #[arg(long, default_value_t = 6.0)]
    pub zk_session_timeout: f64,
    /// Largest request body passed on, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Seconds an upstream may take to start its answer before the gateway answers 504.
    #[arg(long, default_value_t = 60.0)]
    pub upstream_timeout: f64,
}

/// The gateway's config from its parts.
pub fn gateway_config(
    master: String,
    marathon: Vec<String>,
    dns_http: Option<String>,
    advertise_ip: String,
    work_dir: PathBuf,
    max_body_bytes: usize,
    zk_session_timeout: f64,
    upstream_timeout: f64,
) -> Result<drover_gateway::Config> {
    if !(zk_session_timeout.is_finite() && zk_session_timeout > 0.0) {
        anyhow::bail!("--zk-session-timeout must be a positive number of seconds");
    }
    if !(upstream_timeout.is_finite() && upstream_timeout > 0.0) {
        anyhow::bail!("--upstream-timeout must be a positive number of seconds");
    }
    Ok(drover_gateway::Config {
        master,
        marathon,
        dns_http,
        advertise_ip,
        work_dir,
        limits: drover_gateway::proxy::Limits {
            max_request_bytes: max_body_bytes,
            header_timeout: Duration::from_secs_f64(upstream_timeout),
            ..Default::default()
        },
        zk_session_timeout: Duration::from_secs_f64(zk_session_timeout),
    })
}

/// Cosmos finds Marathon and the leading master where the gateway does.
struct Upstreams(Arc<drover_gateway::Gateway>);

impl drover_cosmos::Upstreams for Upstreams {
    fn marathon(&self) -> Option<String> {
        self.0.marathon_url()
    }
    fn master(&self) -> Option<String> {
        self.0.master_url()
    }
}

/// Start a gateway, with Cosmos mounted beside its routes, on `listener`; it serves until the
/// process ends.
pub fn start_gateway(
    cfg: drover_gateway::Config,
    listener: tokio::net::TcpListener,
) -> Result<Arc<drover_gateway::Gateway>> {
    let port = listener.local_addr()?.port();
    let cosmos_dir = cfg.work_dir.join("cosmos");
    let g = drover_gateway::Gateway::new(cfg, port)?;
    let cosmos = drover_cosmos::Cosmos::new(cosmos_dir, Arc::new(Upstreams(g.clone())))?;
    let app =
        drover_gateway::http::router(g.clone()).merge(drover_cosmos::router(Arc::new(cosmos)));
    tokio::spawn(async move {
        if let Err(e) = drover_gateway::serve(app, listener, std::future::pending()).await {
            tracing::error!("gateway: {e}");
        }
    });
    Ok(g)
}
