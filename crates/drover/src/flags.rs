//! The `drover` command line: its subcommands and their flags (the servers' own; the CLI
//! commands' come from drover-cli), and what the flags turn into before a part starts (HA
//! settings, containerizers).

use super::*;

#[derive(Parser, Debug)]
#[command(
    name = "drover",
    version,
    about = "Drover: a datacenter operating system (Mesos-compatible)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct MasterFlags {
    /// Seconds without a heartbeat before an agent is unreachable (Mesos: 5 × 15 s).
    #[arg(long, default_value_t = 75.0)]
    pub(crate) agent_timeout: f64,
    /// Seconds admitted agents have to re-register after a master starts or fails over before
    /// they are unreachable (Mesos: 10 minutes).
    #[arg(long, default_value_t = 600.0)]
    pub(crate) agent_reregister_timeout: f64,
    /// Seconds between batch allocations (events also trigger one).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) allocation_interval: f64,
    /// Largest request body accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub(crate) max_body_bytes: usize,
    /// High availability: contend for leadership and keep the registry in ZooKeeper, e.g.
    /// zk://z1:2181,z2:2181,z3:2181/mesos (default: lead alone, registry in the work dir).
    #[arg(long, value_name = "ZK_URL")]
    pub(crate) zk: Option<String>,
    /// With --zk: Mesos' replicated-log quorum, more than half the masters (3 masters: 2).
    #[arg(long)]
    pub(crate) quorum: Option<u32>,
    /// With --zk: seconds a master cut off from ZooKeeper keeps its session (and leadership);
    /// a killed leader is replaced this long after its death (Mesos' default: 10).
    #[arg(long, default_value_t = 6.0)]
    pub(crate) zk_session_timeout: f64,
}

/// The sessions of a framework's `--zk` group, with its `--zk-session-timeout`.
pub(crate) fn zk_group(zk: &str, session_timeout: f64) -> Result<drover_zk::Sessions> {
    let timeout = secs("--zk-session-timeout", session_timeout)?;
    Ok(drover_zk::Sessions::new(
        drover_zk::ZkUrl::parse(zk)?,
        timeout,
    )?)
}

/// The jobs scheduler's `--zk`.
pub(crate) fn jobs_ha(zk: &str, session_timeout: f64) -> Result<drover_jobs::Ha> {
    Ok(drover_jobs::Ha {
        sessions: zk_group(zk, session_timeout)?,
    })
}

/// Marathon's `--zk`.
pub(crate) fn marathon_ha(zk: &str, session_timeout: f64) -> Result<drover_marathon::Ha> {
    Ok(drover_marathon::Ha {
        sessions: zk_group(zk, session_timeout)?,
    })
}

/// A flag in seconds as a Duration: positive and not absurdly large (no panic on `1e30`).
pub(crate) fn secs(flag: &str, v: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag} must be a positive number of seconds, got {v}"))
}

/// `--master`: host:port, or a zk:// URL that must parse.
pub(crate) fn check_master_flag(flag: &str) -> Result<()> {
    if drover_zk::ZkUrl::is_zk(flag) {
        drover_zk::ZkUrl::parse(flag)?;
    }
    Ok(())
}

/// The HA part of the master's flags, checked as Mesos checks them.
pub(crate) fn ha_of(f: &MasterFlags) -> Result<Option<drover_master::Ha>> {
    let Some(zk) = &f.zk else {
        if f.quorum.is_some() {
            anyhow::bail!(
                "--quorum is for the replicated registry of an HA cluster: give --zk too"
            );
        }
        return Ok(None);
    };
    let url = drover_zk::ZkUrl::parse(zk)?;
    let quorum = f.quorum.ok_or_else(|| {
        anyhow::anyhow!("--quorum is required with --zk (more than half the masters: 2 of 3)")
    })?;
    if quorum == 0 {
        anyhow::bail!("--quorum must be at least 1");
    }
    let sessions =
        drover_zk::Sessions::new(url, secs("--zk-session-timeout", f.zk_session_timeout)?)?;
    Ok(Some(drover_master::Ha { sessions, quorum }))
}

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ContainerizerFlags {
    /// Containerizers, comma-separated: `process` (command tasks and executors) and `docker`
    /// (tasks with `container.type` DOCKER). Agent default: process; `drover up` adds docker
    /// when the Docker Engine answers.
    #[arg(long)]
    pub(crate) containerizers: Option<String>,
    /// The Docker Engine's unix socket (default: $DOCKER_HOST when unix://, else /var/run/docker.sock).
    #[arg(long)]
    pub(crate) docker_socket: Option<String>,
    /// Let tasks run privileged docker containers.
    #[arg(long)]
    pub(crate) docker_allow_privileged: bool,
    /// Cap process tasks' CPU time at their `cpus` (CFS quota), besides weighing it (shares),
    /// as docker tasks are: `true` (default) or `false` (shares only — Mesos' own default for its
    /// `--cgroups_enable_cfs`; each quota write makes the kernel check every cpu cgroup on the
    /// host, though the agent writes one only when a reused cgroup's quota changes).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub(crate) cgroups_enable_cfs: bool,
}

/// The docker containerizer's config (or none) and a line that says which containerizers are
/// on and why. `auto`: turn docker on when the Engine answers, unless `--containerizers` says.
pub(crate) async fn containerizers(
    f: &ContainerizerFlags,
    auto: bool,
) -> Result<(Option<drover_agent::DockerConfig>, String)> {
    let socket = f
        .docker_socket
        .clone()
        .unwrap_or_else(drover_agent::DockerConfig::default_socket);
    let cfg = drover_agent::DockerConfig {
        socket: socket.clone(),
        allow_privileged: f.docker_allow_privileged,
    };
    let wanted = match &f.containerizers {
        Some(list) => {
            let names: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if let Some(bad) = names
                .iter()
                .find(|n| !matches!(**n, "process" | "docker" | "mesos"))
            {
                bail!("--containerizers: unknown containerizer '{bad}' (process, docker)");
            }
            if !names.iter().any(|n| matches!(*n, "process" | "mesos")) {
                bail!("--containerizers must include 'process': command tasks and executors run there");
            }
            Some(names.contains(&"docker"))
        }
        None if auto => None,
        None => Some(false),
    };
    if wanted == Some(false) {
        return Ok((None, "process".into()));
    }
    Ok(match (wanted, drover_agent::docker::probe(&socket).await) {
        (_, Ok(v)) => (
            Some(cfg),
            format!("docker,process ({v} on unix://{socket})"),
        ),
        (_, Err(e)) if wanted == Some(true) => (
            Some(cfg),
            format!("docker,process (docker: {e}; DOCKER tasks fail until it answers)"),
        ),
        (_, Err(e)) => (None, format!("process (docker off: {e})")),
    })
}

#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Run a whole cluster on this machine: a master, agents, Marathon, the DNS and the gateway,
    /// state under --work-dir.
    Up {
        #[command(flatten)]
        args: up::UpArgs,
    },
    /// Run Marathon (long-running apps, REST v2) as a framework of a master.
    Marathon {
        /// The master: host:port, or zk://host:2181,…/mesos to follow the leading master.
        #[arg(long, env = "DROVER_MASTER")]
        master: String,
        /// High availability: several Marathons given the same zk://host:2181,…/marathon elect
        /// one leader (the others proxy to it) and keep their state there.
        #[arg(long, value_name = "ZK_URL")]
        zk: Option<String>,
        /// With --zk: seconds a Marathon cut off from ZooKeeper keeps its session (and leadership);
        /// a killed leader is replaced this long after its death (Marathon's default: 10).
        #[arg(long, default_value_t = 6.0)]
        zk_session_timeout: f64,
        #[arg(long, default_value = "./.drover/marathon")]
        work_dir: PathBuf,
        #[arg(long, default_value = "0.0.0.0")]
        ip: String,
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long)]
        advertise_ip: Option<String>,
        /// Mesos role Marathon's tasks run under.
        #[arg(long, default_value = "*")]
        role: String,
        /// The lowest service port Marathon assigns to an app's port 0.
        #[arg(long, default_value_t = 10000)]
        local_port_min: u32,
        /// The highest service port Marathon assigns.
        #[arg(long, default_value_t = 20000)]
        local_port_max: u32,
        /// Its framework name at the master (another Marathon beside the first: marathon-user).
        #[arg(long, default_value = "marathon")]
        framework_name: String,
    },
    /// Run the jobs scheduler (Metronome's and Chronos' REST APIs) as a framework of a master.
    Jobs {
        /// The master: host:port, or zk://host:2181,…/mesos to follow the leading master.
        #[arg(long, env = "DROVER_MASTER")]
        master: String,
        /// High availability: several schedulers given the same zk://host:2181,…/jobs elect one
        /// leader (the others redirect to it) and keep their state there.
        #[arg(long, value_name = "ZK_URL")]
        zk: Option<String>,
        /// With --zk: seconds a scheduler cut off from ZooKeeper keeps its session (and
        /// leadership); a killed leader is replaced this long after its death.
        #[arg(long, default_value_t = 6.0)]
        zk_session_timeout: f64,
        #[arg(long, default_value = "./.drover/jobs")]
        work_dir: PathBuf,
        #[arg(long, default_value = "0.0.0.0")]
        ip: String,
        #[arg(long, default_value_t = 9000)]
        port: u16,
        #[arg(long)]
        advertise_ip: Option<String>,
        /// Mesos role the runs' tasks run under.
        #[arg(long, default_value = "*")]
        role: String,
    },
    /// Run a master; `drover master list` lists the masters and which one leads.
    Master {
        #[command(subcommand)]
        list: Option<drover_cli::MasterCmd>,
        #[arg(long, default_value = "./.drover/master")]
        work_dir: PathBuf,
        #[arg(long, default_value = "0.0.0.0")]
        ip: String,
        #[arg(long, default_value_t = 5050)]
        port: u16,
        /// Address agents and frameworks reach this master at (default: --ip, or this host's).
        #[arg(long)]
        advertise_ip: Option<String>,
        #[arg(long)]
        hostname: Option<String>,
        #[command(flatten)]
        master: MasterFlags,
    },
    /// Run the DNS (mesos-dns' names and API); `drover dns lookup|list` ask it.
    Dns {
        #[command(subcommand)]
        cmd: Option<drover_cli::DnsCmd>,
        #[command(flatten)]
        cli: drover_cli::DnsArgs,
        #[command(flatten)]
        server: front::DnsServerArgs,
    },
    /// Run the front door: DC/OS' routes to the masters, agents, Marathon and DNS, and Cosmos.
    Gateway {
        #[command(flatten)]
        args: front::GatewayArgs,
    },
    /// Run an agent.
    Agent {
        /// The master: host:port, or zk://host:2181,…/mesos to follow the leading master.
        #[arg(long, env = "DROVER_MASTER")]
        master: String,
        #[arg(long, default_value = "./.drover/agent")]
        work_dir: PathBuf,
        #[arg(long, default_value = "0.0.0.0")]
        ip: String,
        #[arg(long, default_value_t = 5051)]
        port: u16,
        #[arg(long)]
        advertise_ip: Option<String>,
        #[arg(long)]
        hostname: Option<String>,
        /// e.g. 'cpus:4;mem:8192;disk:10000;ports:[31000-32000]' (default: what the machine has).
        #[arg(long)]
        resources: Option<String>,
        /// e.g. 'rack:r1;zone:a'.
        #[arg(long, default_value = "")]
        attributes: String,
        /// Do not apply cgroup cpu/memory limits.
        #[arg(long)]
        no_cgroups: bool,
        #[command(flatten)]
        containers: ContainerizerFlags,
        #[command(flatten)]
        oversubscription: oversub::OversubscriptionFlags,
    },
    /// Agents of the cluster.
    Node {
        #[command(subcommand)]
        cmd: drover_cli::NodeCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Frameworks registered with the master.
    Framework {
        #[command(subcommand)]
        cmd: drover_cli::FrameworkCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Services (frameworks, as DC/OS calls them): list, shutdown.
    Service {
        #[command(subcommand)]
        cmd: drover_cli::FrameworkCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Roles' quotas: list, set, remove.
    Quota {
        #[command(subcommand)]
        cmd: drover_cli::QuotaCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Roles: list (weights, allocated, offered, reserved, quota), weight.
    Role {
        #[command(subcommand)]
        cmd: drover_cli::RoleCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Operators' dynamic reservations: list, reserve, unreserve.
    Reservation {
        #[command(subcommand)]
        cmd: drover_cli::ReservationCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Tasks and their logs.
    Task {
        #[command(subcommand)]
        cmd: drover_cli::TaskCmd,
        #[command(flatten)]
        common: drover_cli::Common,
    },
    /// Marathon apps: list, show, add, update, scale, restart, remove, versions, why.
    App {
        #[command(subcommand)]
        cmd: drover_cli::AppCmd,
        #[command(flatten)]
        common: drover_cli::MarathonArgs,
    },
    /// Jobs (the jobs scheduler's Metronome API): list, show, add, run, history, kill, remove,
    /// schedule.
    Job {
        #[command(subcommand)]
        cmd: drover_cli::JobCmd,
        #[command(flatten)]
        common: drover_cli::JobsArgs,
    },
    /// Packages from the catalogue (Cosmos, through the gateway): search, describe, install, list,
    /// uninstall, and the repositories they come from.
    Package {
        #[command(subcommand)]
        cmd: drover_cli::PackageCmd,
        #[command(flatten)]
        common: drover_cli::PackageArgs,
    },
    /// Marathon deployments: list, watch, roll back.
    Deployment {
        #[command(subcommand)]
        cmd: drover_cli::DeploymentCmd,
        #[command(flatten)]
        common: drover_cli::MarathonArgs,
    },
}
