//! `drover up`: a whole cluster in one process on one machine — a master, agents, Marathon,
//! the DNS and the gateway — started in order, printed, and stopped in order on Ctrl-C.

use crate::{
    agent_config, bind, containerizers, front, further_interrupts, ha_of, marathon_config,
    marathon_ha, master_config, parse_resources, say, shorten, tell, ContainerizerFlags,
    MasterFlags, Signals,
};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// `drover up`'s flags.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[arg(long, default_value = "./.drover")]
    pub work_dir: PathBuf,
    /// Number of agents, each with its own work dir, port and share of the machine.
    #[arg(long, default_value_t = 1)]
    pub agents: usize,
    /// Master port (0 picks a free one).
    #[arg(long, default_value_t = 5050)]
    pub port: u16,
    /// First agent port; agent i listens on this + i (0 picks free ones).
    #[arg(long, default_value_t = 5051)]
    pub agent_port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    /// Resources of each agent (default: its share of this machine).
    #[arg(long)]
    pub resources: Option<String>,
    /// Marathon's port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub marathon_port: u16,
    /// Run only the kernel (master and agents), no Marathon.
    #[arg(long)]
    pub no_marathon: bool,
    /// The jobs scheduler's port: Metronome's and Chronos' APIs (0 picks a free one).
    #[arg(long, default_value_t = 9000)]
    pub jobs_port: u16,
    /// Run no jobs scheduler.
    #[arg(long)]
    pub no_jobs: bool,
    /// The gateway's port: the DC/OS front door (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub gateway_port: u16,
    /// The DNS' port, UDP and TCP (0 picks a free one).
    #[arg(long, default_value_t = 8053)]
    pub dns_port: u16,
    /// The DNS' HTTP API port (0 picks a free one).
    #[arg(long, default_value_t = 8123)]
    pub dns_http_port: u16,
    #[command(flatten)]
    pub master: MasterFlags,
    #[command(flatten)]
    pub containers: ContainerizerFlags,
}

/// Run `drover up` until Ctrl-C, then stop everything it started.
pub async fn up(args: UpArgs, signals: &mut Signals) -> Result<()> {
    let UpArgs {
        work_dir,
        agents,
        port,
        agent_port,
        ip,
        resources,
        marathon_port,
        no_marathon,
        jobs_port,
        no_jobs,
        gateway_port,
        dns_port,
        dns_http_port,
        master,
        containers,
    } = args;
    if agents == 0 {
        bail!("--agents must be at least 1");
    }
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let work_dir = std::fs::canonicalize(&work_dir)?;
    let listener = bind(&ip, port).await?;
    let mport = listener.local_addr()?.port();
    let shared = drover_master::build(
        // Its hostname is its address, as the agents' are (and as DC/OS runs masters: the dcos
        // CLI finds the leader among the DNS' masters by comparing the two).
        master_config(&master, ip.clone(), ip.clone(), work_dir.join("master")),
        mport,
        ha_of(&master)?,
    )?;
    tokio::spawn(drover_master::serve(
        shared,
        listener,
        std::future::pending(),
    ));
    let (docker, containerizers_line) = containerizers(&containers, true).await?;
    let mut handles = Vec::new();
    let mut agent_urls = Vec::new();
    for i in 0..agents {
        let p = if agent_port == 0 {
            0
        } else {
            u16::try_from(i)
                .ok()
                .and_then(|i| agent_port.checked_add(i))
                .with_context(|| {
                    format!("--agent-port {agent_port} + {agents} agents goes past port 65535")
                })?
        };
        let l = bind(&ip, p).await?;
        let aport = l.local_addr()?.port();
        let dir = work_dir.join(format!("agent-{i}"));
        std::fs::create_dir_all(&dir)?;
        let res = parse_resources(resources.as_deref(), &dir, 1.0 / agents as f64)?;
        let mut cfg = agent_config(
            format!("{ip}:{mport}"),
            dir,
            ip.clone(),
            ip.clone(),
            aport,
            res,
            "",
            true,
        )?;
        cfg.docker = docker.clone();
        cfg.cgroups_enable_cfs = containers.cgroups_enable_cfs;
        handles.push(drover_agent::start(cfg, l)?);
        agent_urls.push(format!("http://{ip}:{aport}"));
    }
    let marathon = if no_marathon {
        None
    } else {
        let ml = bind(&ip, marathon_port).await?;
        let mara_port = ml.local_addr()?.port();
        // With --zk, Marathon's election and state live beside the masters'.
        let mha = match &master.zk {
            Some(z) => {
                let url = drover_zk::ZkUrl::parse(z)?;
                let path = format!(
                    "{}/marathon",
                    url.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
                );
                Some(marathon_ha(
                    &url.with_path(&path).to_string_with_secret(),
                    master.zk_session_timeout,
                )?)
            }
            None => None,
        };
        let m = drover_marathon::start(
            marathon_config(
                format!("{ip}:{mport}"),
                format!("{ip}:{mara_port}"),
                work_dir.join("marathon"),
                "*".into(),
            ),
            ml,
            mha,
        )?;
        Some((m, format!("http://{ip}:{mara_port}")))
    };
    let master_flag = match &master.zk {
        Some(z) => z.clone(),
        None => format!("{ip}:{mport}"),
    };
    let jobs = if no_jobs {
        None
    } else {
        let jl = bind(&ip, jobs_port).await?;
        // With --zk, the jobs scheduler's election and state live beside the masters'.
        let jha = match &master.zk {
            Some(z) => {
                let url = drover_zk::ZkUrl::parse(z)?;
                let path = format!(
                    "{}/jobs",
                    url.path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
                );
                Some(crate::jobs_ha(
                    &url.with_path(&path).to_string_with_secret(),
                    master.zk_session_timeout,
                )?)
            }
            None => None,
        };
        let jobs_url = format!("http://{ip}:{}", jl.local_addr()?.port());
        let jobs = drover_jobs::start(
            crate::jobs_config(
                master_flag.clone(),
                format!("{ip}:{}", jl.local_addr()?.port()),
                work_dir.join("jobs"),
                "*".into(),
            ),
            jl,
            jha,
        )?;
        Some((jobs, jobs_url))
    };
    let dns_cfg = drover_dns::Config {
        listener: ip.clone(),
        http_listener: ip.clone(),
        ..Default::default()
    };
    let dns = front::start_dns(
        master_flag.clone(),
        dns_cfg.normalized()?,
        false,
        front::bind_dns(&ip, dns_port, &ip, dns_http_port).await?,
    )
    .await?;
    let dns_http = format!("http://{}", dns.http_addr());
    let gl = bind(&ip, gateway_port).await?;
    let gateway_url = format!("http://{ip}:{}", gl.local_addr()?.port());
    front::start_gateway(
        front::gateway_config(
            master_flag,
            marathon.iter().map(|(_, u)| u.clone()).collect(),
            Some(dns_http.clone()),
            ip.clone(),
            work_dir.join("gateway"),
            front::limits(master.max_body_bytes, 60.0)?,
            master.zk_session_timeout,
        )?,
        jobs.as_ref().map(|(_, u)| u.clone()),
        gl,
    )?;
    say("Drover is up.");
    say(&format!(
        "  master: http://{ip}:{mport}   (Mesos API: MESOS_MASTER={ip}:{mport})"
    ));
    if let Some((_, u)) = &marathon {
        say(&format!("  marathon: {u}"));
    }
    if let Some((_, u)) = &jobs {
        say(&format!(
            "  jobs: {u}   (Metronome /v1/jobs, Chronos /v1/scheduler)"
        ));
    }
    for (i, u) in agent_urls.iter().enumerate() {
        say(&format!("  agent {i}: {u}"));
    }
    say(&format!(
        "  gateway: {gateway_url}   (dcos cluster setup {gateway_url})"
    ));
    say(&format!("  web UI: {gateway_url}/"));
    say(&format!(
        "  dns: {} udp/tcp, API {dns_http}   (dig @{} -p {} leader.mesos)",
        dns.dns_udp_addr(),
        dns.dns_udp_addr().ip(),
        dns.dns_udp_addr().port()
    ));
    say(&format!("  containerizers: {containerizers_line}"));
    say(&format!("  state:  {}", work_dir.display()));
    say(&format!(
        "Try: DROVER_MASTER={ip}:{mport} drover node list    (Ctrl-C stops everything)"
    ));
    signals.next().await;
    let asks = further_interrupts();
    tell("stopping: no more launches; killing every task...");
    // Frameworks first, so nothing relaunches what the agents kill; the agents then
    // refuse launches that were already on their way.
    if let Some((m, _)) = &marathon {
        m.stop().await;
    }
    if let Some((j, _)) = &jobs {
        j.stop().await;
    }
    futures_util::future::join_all(handles.iter().enumerate().map(|(i, h)| {
        let asks = asks.clone();
        let mut seen = 0;
        h.stop_everything(
            move |what| {
                tell(&format!(
                    "stopping: agent {i} is waiting for {} to end: {}",
                    what.len(),
                    shorten(what)
                ))
            },
            move || {
                let n = asks.load(std::sync::atomic::Ordering::SeqCst);
                std::mem::replace(&mut seen, n) != n
            },
        )
    }))
    .await;
    tell("stopped: every task has ended.");
    Ok(())
}
