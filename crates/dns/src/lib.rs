//! DNS discovery of tasks as mesos-dns names them: records built from the master's operator
//! event stream (not a poll), served over DNS (UDP and TCP) and mesos-dns' HTTP API.
//!
//! Inside: `names` (label rules, the canonical-name hash), `config` (mesos-dns' config.json),
//! `state` (the cluster, from operator events), `records` (the immutable record snapshot, a pure
//! build), `answer` (a DNS query against a snapshot, pure), `follow` (the master's stream,
//! coalesced rebuilds), `server` (the UDP/TCP loops and forwarding), `http` (the HTTP API),
//! `metrics` (what `/metrics` serves on the HTTP API's listener).
#![forbid(unsafe_code)]

mod answer;
mod config;
mod error;
mod follow;
mod http;
mod metrics;
mod names;
mod records;
mod server;
mod state;
#[cfg(test)]
mod testing;

pub use answer::{answer, error_reply, Outcome, Transport, Zone, MAX_QUERY};
pub use config::Config;
pub use error::Error;
pub use http::router;
pub use metrics::Metrics;
pub use names::{hash5, LabelRule};
pub use records::{build, BuildConfig, Builder, Hosts, IpSource, RecordSet, Srv};
pub use server::Published;
pub use state::{Applied, ClusterState};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

/// What `drover dns` runs with.
#[derive(Clone, Debug)]
pub struct Options {
    /// The master: `host:port` (or a URL), or `zk://host:2181,…/mesos` to follow the leader.
    pub master: String,
    pub config: Config,
    /// Leave out tasks whose latest status says `healthy: false`.
    pub health_aware: bool,
}

/// The running service: where it listens, and how to stop it.
pub struct Handle {
    dns_udp: SocketAddr,
    dns_tcp: SocketAddr,
    http: SocketAddr,
    published: Published,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Handle {
    pub fn dns_udp_addr(&self) -> SocketAddr {
        self.dns_udp
    }
    pub fn dns_tcp_addr(&self) -> SocketAddr {
        self.dns_tcp
    }
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }
    /// The records served (to mount [`router`] elsewhere, or to look at).
    pub fn published(&self) -> Published {
        self.published.clone()
    }
    /// Stop serving and following; waits (a few seconds at most) for the tasks to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// The address the server's own name (`SOAMname`) resolves to: the listener's, or for
/// `0.0.0.0` the address this host reaches others from (no packet is sent to find it).
fn own_addresses(listener: &str) -> Vec<IpAddr> {
    match listener.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => vec![ip],
        _ => std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| {
                s.connect("192.0.2.1:53")?;
                s.local_addr()
            })
            .map(|a| vec![a.ip()])
            .unwrap_or_default(),
    }
}

/// Start serving DNS on `udp` and `tcp` and the HTTP API on `http`, following the master.
/// Names in the domain answer SERVFAIL until the first state arrives.
///
/// The sockets come bound; the config's `dnson: false` (`httpon: false`) leaves DNS (the HTTP
/// API) unserved: no loop runs for those sockets and they are closed at once, so clients are
/// refused rather than left waiting. The [`Handle`] still tells the addresses they had.
pub async fn start(
    opts: Options,
    udp: UdpSocket,
    tcp: TcpListener,
    http: TcpListener,
) -> Result<Handle, Error> {
    let mut config = opts.config;
    if config.external_on && config.resolvers.is_empty() {
        let text = tokio::fs::read_to_string("/etc/resolv.conf")
            .await
            .unwrap_or_default();
        config.resolvers = config::resolv_conf_nameservers(&text);
    }
    let (dns_udp, dns_tcp, http_addr) = (
        udp.local_addr().map_err(Error::Socket)?,
        tcp.local_addr().map_err(Error::Socket)?,
        http.local_addr().map_err(Error::Socket)?,
    );
    let master_err = |source| Error::Master {
        master: opts.master.clone(),
        source,
    };
    let session_timeout = Duration::from_secs(10);
    let leader = drover_zk::Leader::new(&opts.master, session_timeout).map_err(master_err)?;
    let zk = if drover_zk::ZkUrl::is_zk(&opts.master) {
        let url = drover_zk::ZkUrl::parse(&opts.master).map_err(master_err)?;
        Some(drover_zk::Sessions::new(url, session_timeout).map_err(master_err)?)
    } else {
        None
    };
    // Keepalive finds a master gone without a word (reqwest's default too, said here so it
    // stays); a master that is there but silent is the follower's timeouts' business.
    let client = drover_httpclient::builder()
        .connect_timeout(Duration::from_secs(config.timeout.max(1)))
        .tcp_keepalive(Duration::from_secs(15))
        .tcp_keepalive_interval(Duration::from_secs(5))
        .tcp_keepalive_retries(3)
        .build()
        .map_err(Error::HttpClient)?;
    let (stop, stop_rx) = watch::channel(false);
    let published = Published::default();
    let metrics = Metrics::new(&published);
    let served = Arc::new(server::Served {
        zone: Zone::new(&config),
        records: published.clone(),
        timeout: Duration::from_secs(config.timeout.max(1)),
        forwards: Semaphore::new(1024),
        connections: Semaphore::new(1024),
        tcp: server::TcpLimits::default(),
        peers: Default::default(),
        metrics: metrics.dns.clone(),
    });
    let mut tasks = Vec::new();
    if config.dns_on {
        let udp = Arc::new(udp);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        for _ in 0..workers {
            tasks.push(tokio::spawn(server::udp_loop(
                udp.clone(),
                served.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(server::tcp_loop(
            tcp,
            served.clone(),
            stop_rx.clone(),
        )));
    } else {
        drop((udp, tcp));
    }
    if config.http_on {
        let app = router(published.clone(), config.clone(), &metrics);
        let mut http_stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let r = axum::serve(http, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.changed().await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!("dns: the HTTP API stopped: {e}");
            }
        }));
    } else {
        drop(http);
    }
    let shared = Arc::new(follow::Shared::new());
    let fixed = if zk.is_none() {
        config.masters.clone()
    } else {
        Vec::new()
    };
    let (masters_tx, masters_rx) = watch::channel(fixed);
    tasks.push(tokio::spawn(follow::masters_loop(
        zk,
        masters_tx,
        shared.clone(),
        leader.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(follow::follow(
        leader,
        client,
        shared.clone(),
        masters_rx,
        stop_rx.clone(),
        drover_follow::SILENCE,
    )));
    let bcfg =
        BuildConfig::from_config(&config, own_addresses(&config.listener), opts.health_aware);
    tasks.push(tokio::spawn(follow::rebuild_loop(
        shared,
        bcfg,
        published.clone(),
        metrics.dns.clone(),
        stop_rx,
    )));
    match (config.dns_on, config.http_on) {
        (true, true) => tracing::info!(
            "dns: serving DNS on {dns_udp} (udp), {dns_tcp} (tcp), the HTTP API on {http_addr}"
        ),
        (true, false) => tracing::info!(
            "dns: serving DNS on {dns_udp} (udp), {dns_tcp} (tcp); not the HTTP API (httpon false)"
        ),
        (false, true) => {
            tracing::info!("dns: serving the HTTP API on {http_addr}; not DNS (dnson false)")
        }
        (false, false) => tracing::warn!(
            "dns: dnson and httpon are both false: following the master, serving nothing"
        ),
    }
    Ok(Handle {
        dns_udp,
        dns_tcp,
        http: http_addr,
        published,
        stop,
        tasks,
    })
}
