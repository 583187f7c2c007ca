//! `drover`: parse flags (`flags.rs`), set up logging, build the parts from one config, run them, stop on a
//! signal. `drover up` runs a master and agents in one process; `drover master` and `drover
//! agent` run one part each; the rest are CLI commands.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use drover_api::Resources;
use std::net::SocketAddr;
use std::path::PathBuf;

mod flags;
mod front;
mod oversub;
mod up;

use flags::*;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The address others should use for us: an explicit one, the bind ip, or the host's own.
fn advertise(ip: &str, explicit: Option<String>) -> String {
    if let Some(a) = explicit {
        return a;
    }
    if ip != "0.0.0.0" {
        return ip.to_string();
    }
    // The address of the interface that routes outwards; loopback if there is none.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:1")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

async fn bind(ip: &str, port: u16) -> Result<tokio::net::TcpListener> {
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .with_context(|| format!("bad address {ip}:{port}"))?;
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (is another drover running? pick another port)")
    })
}

fn master_config(
    f: &MasterFlags,
    advertise_ip: String,
    hostname: String,
    work_dir: PathBuf,
) -> drover_master::MasterConfig {
    drover_master::MasterConfig {
        advertise_ip,
        hostname,
        work_dir: Some(work_dir),
        agent_timeout_secs: f.agent_timeout,
        agent_heartbeat_secs: (f.agent_timeout / 5.0).clamp(0.2, 5.0),
        agent_reregister_timeout_secs: f.agent_reregister_timeout,
        allocation_interval_secs: f.allocation_interval,
        max_body_bytes: f.max_body_bytes,
    }
}

#[allow(clippy::too_many_arguments)]
fn agent_config(
    master: String,
    work_dir: PathBuf,
    advertise_ip: String,
    hostname: String,
    port: u16,
    resources: Resources,
    attributes: &str,
    cgroups: bool,
) -> Result<drover_agent::AgentConfig> {
    Ok(drover_agent::AgentConfig {
        master,
        work_dir,
        advertise_ip,
        hostname,
        port,
        resources,
        attributes: drover_agent::parse_attributes(attributes)?,
        default_kill_grace_secs: 3.0,
        executor_shutdown_grace_secs: 5.0,
        executor_registration_timeout_secs: 60.0,
        fetch_max_bytes: 1 << 30,
        max_body_bytes: 16 << 20,
        cgroups,
        cgroups_enable_cfs: true,
        switch_user: true,
        docker: None,
        oversubscription: None,
    })
}

fn marathon_config(
    master: String,
    advertise: String,
    work_dir: PathBuf,
    role: String,
) -> drover_marathon::MarathonConfig {
    drover_marathon::MarathonConfig {
        master,
        advertise,
        hostname: this_host(),
        work_dir: Some(work_dir),
        role,
        user: std::env::var("USER").unwrap_or_default(),
        failover_timeout_secs: 7.0 * 24.0 * 3600.0,
        max_body_bytes: 8 << 20,
        service_ports: (10000, 20000),
        framework_name: "marathon".into(),
    }
}

fn jobs_config(
    master: String,
    advertise: String,
    work_dir: PathBuf,
    role: String,
) -> drover_jobs::JobsConfig {
    let mut cfg = drover_jobs::JobsConfig::new(master, advertise);
    cfg.hostname = this_host();
    cfg.work_dir = Some(work_dir);
    cfg.role = role;
    cfg.user = std::env::var("USER").unwrap_or_default();
    cfg
}

fn parse_resources(
    text: Option<&str>,
    work_dir: &std::path::Path,
    share: f64,
) -> Result<Resources> {
    match text {
        Some(t) => Resources::parse(t).map_err(|e| anyhow::anyhow!("--resources: {e}")),
        None => Ok(drover_agent::default_resources(work_dir, share)),
    }
}

enum Stop {
    Interrupt,
    Terminate,
}

/// Ctrl-C (SIGINT) and SIGTERM, listened for from the start, before any part starts: a signal
/// that arrives while the parts start is kept for [`Signals::next`] rather than lost, and a
/// listener that cannot be set up is said out loud instead of a silent wait forever.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let one = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tell(&format!("error: cannot listen for {name}: {e}"));
                None
            }
        };
        Signals {
            int: one(SignalKind::interrupt(), "Ctrl-C (SIGINT)"),
            term: one(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// The next signal.
    async fn next(&mut self) -> Stop {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.int) => Stop::Interrupt,
            _ = recv(&mut self.term) => Stop::Terminate,
        }
    }
}

/// A line for the user on stdout. A closed stdout (`drover up | tee log`, whose `tee` the
/// terminal's Ctrl-C ends first) must not end what is being done, so errors are dropped.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The same on stderr.
fn tell(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Counts the Ctrl-Cs after the first: each asks the stop in progress what it waits for.
fn further_interrupts() -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use tokio::signal::unix::{signal, SignalKind};
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = n.clone();
    if let Ok(mut int) = signal(SignalKind::interrupt()) {
        tokio::spawn(async move {
            while int.recv().await.is_some() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    n
}

/// The first few of a list, for a status line.
fn shorten(items: &[String]) -> String {
    let mut s = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 5 {
        s.push_str(&format!(" and {} more", items.len() - 5));
    }
    s
}

/// Every 10 s, hand memory that was freed back to the system. glibc keeps freed heap in its
/// per-thread arenas for reuse and returns only the top of the main heap by itself; after a burst
/// (thousands of launches and their updates) the daemons would keep that peak resident for good —
/// 15.6 MB held for 3.1 MB in use in a master with 5,000 running tasks.
async fn return_freed_memory() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // Walks the arenas' free lists and madvises whole free pages away: ~1 ms for a heap of
        // tens of MB, off the runtime's threads.
        let _ = tokio::task::spawn_blocking(malloc_trim).await;
    }
}

#[allow(unsafe_code)]
fn malloc_trim() {
    // SAFETY: malloc_trim(3) takes a byte count and only touches the allocator's own state,
    // under its locks; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("master") {
        single_malloc_arena();
    }
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => match e.downcast::<drover_cli::Error>() {
            // A CLI command failed: a line or two for a person, and the exit code of the failure.
            Ok(e) => drover_cli::report(&e),
            // As `main` returning the error would print it.
            Err(e) => {
                eprintln!("Error: {e:?}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

/// One malloc arena for all threads (glibc gives each thread that meets contention its own, up
/// to 8 per core). A dedicated master allocates little and often from its two runtime threads;
/// with one arena the memory freed after a burst is in one place for `malloc_trim`: 1.76–1.80
/// MiB per 1,000 running tasks instead of 1.93–2.10. Before any thread exists.
#[allow(unsafe_code)]
fn single_malloc_arena() {
    // SAFETY: mallopt(3) sets an allocator parameter; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[tokio::main]
async fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        // A CLI command's error reaches `main` as a drover_cli::Error, which reports it.
        Cmd::Node { cmd, common } => return Ok(drover_cli::node(cmd, common).await?),
        Cmd::Master {
            list: Some(cmd), ..
        } => return Ok(drover_cli::master(cmd).await?),
        Cmd::Framework { cmd, common } | Cmd::Service { cmd, common } => {
            return Ok(drover_cli::framework(cmd, common).await?)
        }
        Cmd::Task { cmd, common } => return Ok(drover_cli::task(cmd, common).await?),
        Cmd::Quota { cmd, common } => return Ok(drover_cli::quota(cmd, common).await?),
        Cmd::Role { cmd, common } => return Ok(drover_cli::role(cmd, common).await?),
        Cmd::Reservation { cmd, common } => return Ok(drover_cli::reservation(cmd, common).await?),
        Cmd::App { cmd, common } => return Ok(drover_cli::app(cmd, common).await?),
        Cmd::Job { cmd, common } => return Ok(drover_cli::job(cmd, common).await?),
        Cmd::Deployment { cmd, common } => return Ok(drover_cli::deployment(cmd, common).await?),
        Cmd::Package { cmd, common } => return Ok(drover_cli::package(cmd, common).await?),
        Cmd::Dns {
            cmd: Some(cmd),
            cli,
            ..
        } => return Ok(drover_cli::dns(cmd, cli).await?),
        _ => {}
    }
    init_logging();
    let mut signals = Signals::listen();
    tokio::spawn(return_freed_memory());
    match cli.cmd {
        Cmd::Up { args } => up::up(args, &mut signals).await,
        Cmd::Master {
            list: _,
            work_dir,
            ip,
            port,
            advertise_ip,
            hostname,
            master,
        } => {
            let listener = bind(&ip, port).await?;
            let port = listener.local_addr()?.port();
            let adv = advertise(&ip, advertise_ip);
            let ha = ha_of(&master)?;
            let shared = drover_master::build(
                master_config(
                    &master,
                    adv.clone(),
                    hostname.unwrap_or_else(this_host),
                    work_dir,
                ),
                port,
                ha,
            )?;
            tracing::info!("master listening on {ip}:{port}, advertised as {adv}:{port}");
            say(&format!("master: http://{adv}:{port}"));
            drover_master::serve(shared, listener, async move {
                signals.next().await;
            })
            .await?;
            Ok(())
        }
        Cmd::Marathon {
            master,
            zk,
            zk_session_timeout,
            work_dir,
            ip,
            port,
            advertise_ip,
            role,
            local_port_min,
            local_port_max,
            framework_name,
        } => {
            check_master_flag(&master)?;
            if local_port_min > local_port_max || local_port_max > 65535 {
                anyhow::bail!("--local-port-min ({local_port_min}) must be at most --local-port-max ({local_port_max}), which must be at most 65535");
            }
            let listener = bind(&ip, port).await?;
            let port = listener.local_addr()?.port();
            let adv = advertise(&ip, advertise_ip);
            let mut cfg = marathon_config(master, format!("{adv}:{port}"), work_dir, role);
            cfg.service_ports = (local_port_min, local_port_max);
            cfg.framework_name = framework_name;
            let ha = zk
                .as_deref()
                .map(|z| marathon_ha(z, zk_session_timeout))
                .transpose()?;
            let m = drover_marathon::start(cfg, listener, ha)?;
            say(&format!("marathon: http://{adv}:{port}"));
            signals.next().await;
            // Its tasks keep running: this Marathon (or the next) finds them again.
            m.stop().await;
            Ok(())
        }
        Cmd::Jobs {
            master,
            zk,
            zk_session_timeout,
            work_dir,
            ip,
            port,
            advertise_ip,
            role,
        } => {
            check_master_flag(&master)?;
            let listener = bind(&ip, port).await?;
            let port = listener.local_addr()?.port();
            let adv = advertise(&ip, advertise_ip);
            let cfg = jobs_config(master, format!("{adv}:{port}"), work_dir, role);
            let ha = zk
                .as_deref()
                .map(|z| jobs_ha(z, zk_session_timeout))
                .transpose()?;
            let j = drover_jobs::start(cfg, listener, ha)?;
            say(&format!("jobs: http://{adv}:{port}"));
            signals.next().await;
            // Runs in flight keep running: this scheduler (or the next) finds them again.
            j.stop().await;
            Ok(())
        }
        Cmd::Agent {
            master,
            work_dir,
            ip,
            port,
            advertise_ip,
            hostname,
            resources,
            attributes,
            no_cgroups,
            containers,
            oversubscription,
        } => {
            check_master_flag(&master)?;
            std::fs::create_dir_all(&work_dir)
                .with_context(|| format!("creating {}", work_dir.display()))?;
            let work_dir = std::fs::canonicalize(&work_dir)?;
            let listener = bind(&ip, port).await?;
            let port = listener.local_addr()?.port();
            let adv = advertise(&ip, advertise_ip);
            let res = parse_resources(resources.as_deref(), &work_dir, 1.0)?;
            let host = hostname.unwrap_or_else(|| adv.clone());
            let mut cfg = agent_config(
                master,
                work_dir,
                adv,
                host,
                port,
                res,
                &attributes,
                !no_cgroups,
            )?;
            let (docker, containerizers_line) = containerizers(&containers, false).await?;
            cfg.docker = docker;
            cfg.cgroups_enable_cfs = containers.cgroups_enable_cfs;
            cfg.oversubscription = oversubscription.config()?;
            let h = drover_agent::start(cfg, listener)?;
            tracing::info!("agent listening on {ip}:{port}; containerizers: {containerizers_line}");
            say(&format!(
                "agent: http://{}:{port}",
                h.agent.cfg.advertise_ip
            ));
            say(&format!("containerizers: {containerizers_line}"));
            let stop = tokio::select! {
                s = signals.next() => Ok(s),
                why = h.agent.shut_down_by_master() => Err(why),
            };
            let gone = stop.as_ref().err().cloned();
            match stop.unwrap_or(Stop::Interrupt) {
                // Ctrl-C (or the master shut us down): stop everything. SIGTERM: leave tasks
                // running for the next agent to re-adopt.
                Stop::Interrupt => {
                    let asks = further_interrupts();
                    let mut seen = 0;
                    tell("stopping: no more launches; killing every task...");
                    h.stop_everything(
                        |what| {
                            tell(&format!(
                                "stopping: waiting for {} to end: {}",
                                what.len(),
                                shorten(what)
                            ))
                        },
                        move || {
                            let n = asks.load(std::sync::atomic::Ordering::SeqCst);
                            std::mem::replace(&mut seen, n) != n
                        },
                    )
                    .await;
                    tell("stopped: every task has ended.");
                }
                Stop::Terminate => tracing::info!("SIGTERM: leaving tasks running for recovery"),
            }
            if let Some(why) = gone {
                anyhow::bail!("the master shut this agent down: {why}");
            }
            Ok(())
        }
        Cmd::Dns { server, .. } => {
            let (cfg, master) = front::dns_config(&server)?;
            check_master_flag(&master)?;
            let sockets =
                front::bind_dns(&cfg.listener, cfg.port, &cfg.http_listener, cfg.http_port).await?;
            let h = front::start_dns(master, cfg, server.health_aware, sockets).await?;
            say(&format!(
                "dns: {} udp/tcp, API http://{}",
                h.dns_udp_addr(),
                h.http_addr()
            ));
            signals.next().await;
            h.stop().await;
            Ok(())
        }
        Cmd::Gateway { args } => {
            let listener = bind(&args.ip, args.port).await?;
            let port = listener.local_addr()?.port();
            let adv = advertise(&args.ip, args.advertise_ip.clone());
            check_master_flag(&args.master)?;
            front::start_gateway(
                front::gateway_config(
                    args.master,
                    args.marathon,
                    Some(args.dns_http),
                    adv.clone(),
                    args.work_dir,
                    front::limits(args.max_body_bytes, args.upstream_timeout)?,
                    args.zk_session_timeout,
                )?,
                args.jobs,
                listener,
            )?;
            say(&format!("gateway: http://{adv}:{port}"));
            signals.next().await;
            Ok(())
        }
        Cmd::Node { .. }
        | Cmd::Framework { .. }
        | Cmd::Service { .. }
        | Cmd::Quota { .. }
        | Cmd::Role { .. }
        | Cmd::Reservation { .. }
        | Cmd::Task { .. }
        | Cmd::App { .. }
        | Cmd::Job { .. }
        | Cmd::Package { .. }
        | Cmd::Deployment { .. } => Ok(()),
    }
}
