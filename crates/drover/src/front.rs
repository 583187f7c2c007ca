//! The front door's parts as the binary runs them: the gateway (with Cosmos mounted beside its
//! routes) and the DNS, alone (`drover gateway`, `drover dns`) or inside `drover up`.

use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// The jobs scheduler's URL (Metronome's API) for the web UI's Jobs pages (default: the
    /// `webui_url` of the framework `metronome` the master lists).
    #[arg(long)]
    pub jobs: Option<String>,
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

/// The proxy's limits from the flags.
pub fn limits(
    max_body_bytes: usize,
    upstream_timeout: f64,
) -> Result<drover_gateway::proxy::Limits> {
    let header_timeout = crate::secs("--upstream-timeout", upstream_timeout)?;
    Ok(drover_gateway::proxy::Limits {
        max_request_bytes: max_body_bytes,
        header_timeout,
        ..Default::default()
    })
}

/// The gateway's config from its parts.
pub fn gateway_config(
    master: String,
    marathon: Vec<String>,
    dns_http: Option<String>,
    advertise_ip: String,
    work_dir: PathBuf,
    limits: drover_gateway::proxy::Limits,
    zk_session_timeout: f64,
) -> Result<drover_gateway::Config> {
    let zk_session_timeout = crate::secs("--zk-session-timeout", zk_session_timeout)?;
    Ok(drover_gateway::Config {
        master,
        marathon,
        dns_http,
        advertise_ip,
        work_dir,
        limits,
        zk_session_timeout,
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
    fn mesos_master(&self) -> Option<String> {
        Some(self.0.cfg.master.clone())
    }
    /// Agents fetch a package's assets from the gateway at its advertised address, whatever
    /// address the installing client used.
    fn asset_origin(&self) -> Option<String> {
        Some(format!(
            "http://{}:{}",
            self.0.cfg.advertise_ip, self.0.port
        ))
    }
}

/// Start a gateway, with Cosmos and the web UI mounted beside its routes, on `listener`; it
/// serves until the process ends. `jobs`: the jobs scheduler's URL for the UI, if known.
pub fn start_gateway(
    cfg: drover_gateway::Config,
    jobs: Option<String>,
    listener: tokio::net::TcpListener,
) -> Result<Arc<drover_gateway::Gateway>> {
    let port = listener.local_addr()?.port();
    let cosmos_dir = cfg.work_dir.join("cosmos");
    let g = drover_gateway::Gateway::new(cfg, port)?;
    let cosmos = drover_cosmos::Cosmos::new(cosmos_dir, Arc::new(Upstreams(g.clone())))?;
    let ui = drover_ui::start(drover_ui::Config {
        leader: g.leader(),
        marathon: g.cfg.marathon.clone(),
        gateway: format!("http://127.0.0.1:{port}"),
        jobs,
    })?;
    let app = drover_gateway::http::router(g.clone())
        .merge(drover_cosmos::router(Arc::new(cosmos)))
        .merge(drover_ui::router(ui));
    tokio::spawn(async move {
        if let Err(e) = drover_gateway::serve(app, listener, std::future::pending()).await {
            tracing::error!("gateway: {e}");
        }
    });
    Ok(g)
}

/// `drover dns`'s flags (the server; `drover dns lookup|list` are the CLI's).
#[derive(clap::Args, Debug, Clone)]
pub struct DnsServerArgs {
    /// The master: host:port, or zk://host:2181,…/mesos (default: the config's `zk`, else its
    /// first `masters` entry).
    #[arg(long, env = "DROVER_MASTER")]
    pub master: Option<String>,
    /// A mesos-dns config.json, read as is (keys in any case).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on for DNS and HTTP (default: the config's `listener`, 0.0.0.0).
    #[arg(long)]
    pub ip: Option<String>,
    /// DNS port, UDP and TCP (default: the config's `port`, else 8053).
    #[arg(long)]
    pub port: Option<u16>,
    /// HTTP API port (default: the config's `httpport`, else 8123).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// The domain served (default: the config's, else `mesos`).
    #[arg(long)]
    pub domain: Option<String>,
    /// Leave out tasks whose health check fails.
    #[arg(long)]
    pub health_aware: bool,
}

/// The DNS config: a mesos-dns config.json if given, then the flags over it.
pub fn dns_config(args: &DnsServerArgs) -> Result<(drover_dns::Config, String)> {
    let mut cfg = match &args.config {
        Some(p) => {
            let bytes =
                std::fs::read(p).map_err(|e| anyhow::anyhow!("--config {}: {e}", p.display()))?;
            drover_dns::Config::from_json(&bytes)
                .map_err(|e| anyhow::anyhow!("--config {}: {e}", p.display()))?
        }
        None => drover_dns::Config::default(),
    };
    if let Some(ip) = &args.ip {
        cfg.listener = ip.clone();
        cfg.http_listener = ip.clone();
    }
    if let Some(p) = args.port {
        cfg.port = p;
    }
    if let Some(p) = args.http_port {
        cfg.http_port = p;
    }
    if let Some(d) = &args.domain {
        cfg.domain = d.clone();
    }
    let master = match (&args.master, cfg.zk.is_empty(), cfg.masters.first()) {
        (Some(m), _, _) => m.clone(),
        (None, false, _) => cfg.zk.clone(),
        (None, true, Some(m)) => m.clone(),
        (None, true, None) => {
            anyhow::bail!(
                "no master: give --master host:port (or zk://…/mesos), or zk/masters in --config"
            )
        }
    };
    Ok((cfg.normalized()?, master))
}

/// Bind the DNS' sockets: UDP and TCP on the same port (with port 0, a free port both have),
/// and the HTTP API.
pub async fn bind_dns(
    ip: &str,
    port: u16,
    http_ip: &str,
    http_port: u16,
) -> Result<(
    tokio::net::UdpSocket,
    tokio::net::TcpListener,
    tokio::net::TcpListener,
)> {
    let mut tries = 0;
    let (udp, tcp) = loop {
        let udp = tokio::net::UdpSocket::bind((ip, port))
            .await
            .map_err(|e| anyhow::anyhow!("DNS: cannot listen on {ip}:{port}/udp ({e})"))?;
        let p = udp.local_addr()?.port();
        match tokio::net::TcpListener::bind((ip, p)).await {
            Ok(tcp) => break (udp, tcp),
            // Port 0 picked a UDP port whose TCP twin is taken: pick again.
            Err(_) if port == 0 && tries < 20 => tries += 1,
            Err(e) => anyhow::bail!("DNS: cannot listen on {ip}:{p}/tcp ({e})"),
        }
    };
    let http = tokio::net::TcpListener::bind((http_ip, http_port))
        .await
        .map_err(|e| anyhow::anyhow!("DNS: cannot listen on {http_ip}:{http_port} ({e})"))?;
    Ok((udp, tcp, http))
}

/// Start the DNS on bound sockets.
pub async fn start_dns(
    master: String,
    config: drover_dns::Config,
    health_aware: bool,
    sockets: (
        tokio::net::UdpSocket,
        tokio::net::TcpListener,
        tokio::net::TcpListener,
    ),
) -> Result<drover_dns::Handle> {
    let (udp, tcp, http) = sockets;
    Ok(drover_dns::start(
        drover_dns::Options {
            master,
            config,
            health_aware,
        },
        udp,
        tcp,
        http,
    )
    .await?)
}
