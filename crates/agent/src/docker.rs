//! The `docker` containerizer: command tasks whose `container.type` is `DOCKER` run as Docker
//! Engine containers, driven through the Engine's HTTP API on its unix socket (bollard), never
//! through the `docker` CLI.
//!
//! The operations have the process containerizer's shape — launch, wait for the exit, kill with a
//! grace period, usage, recover after a restart, clean up — and plug into the agent at the same
//! points: [`run_task`] (launch + wait, from `start_command_task`), [`kill`] (from `kill_task`),
//! [`recover`] (after the agent's own recovery), [`statistics`] (`/monitor/statistics`) and
//! [`kill_everything`] (Ctrl-C).
//!
//! - A container is named `drover-<container id>` and labelled with the agent id, framework id,
//!   task id, container id and the agent's work dir ([`LABEL_AGENT`] …). Recovery finds its
//!   containers by these labels; containers labelled for this agent whose task it does not run
//!   (any more) are orphans and are removed.
//! - What runs: `TaskInfo.command` (`shell` → `/bin/sh -c value` as the image's command;
//!   `shell: false` → the image's entrypoint with `value` and `arguments`), the environment the
//!   agent gives command tasks (with `MESOS_SANDBOX=/mnt/mesos/sandbox`, where the sandbox is
//!   mounted, and the image's own `PATH`), cpu shares and CFS quota and a hard memory limit from
//!   the task's resources.
//! - stdout/stderr are copied from the Engine's log stream into the sandbox's `stdout`/`stderr`
//!   as they come; where the copy got to is checkpointed (`meta/docker/`) so a restarted agent
//!   carries on without repeating.
//! - The exit becomes `TASK_FINISHED`/`TASK_FAILED` with Mesos' docker executor's message
//!   (`Container exited with status N`), `TASK_KILLED` after a kill, and
//!   `REASON_CONTAINER_LIMITATION_MEMORY` when the Engine says the container was OOM-killed.
//! - Kill: SIGTERM, then SIGKILL once the task's kill grace period is over.

use crate::agent::Agent;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerState, ContainerStateStatusEnum, ContainerSummaryStateEnum,
    HostConfig, HostConfigLogConfig, PortBinding,
};
use bollard::query_parameters as qp;
use bollard::Docker;
use drover_api::*;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the task's sandbox appears inside its container (as in Mesos).
pub const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";
pub const LABEL_AGENT: &str = "drover.agent_id";
pub const LABEL_FRAMEWORK: &str = "drover.framework_id";
pub const LABEL_TASK: &str = "drover.task_id";
pub const LABEL_CONTAINER: &str = "drover.container_id";
pub const LABEL_WORK_DIR: &str = "drover.work_dir";

/// Docker's smallest memory limit.
const MIN_MEMORY_BYTES: i64 = 6 << 20;
/// How long a finished container's remaining output may take to arrive.
const LOG_DRAIN: Duration = Duration::from_secs(5);
/// How often the log cursor is checkpointed while output flows.
const CURSOR_EVERY: Duration = Duration::from_millis(250);

/// The `docker` containerizer's settings (`--containerizers docker,process`).
#[derive(Clone, Debug)]
pub struct DockerConfig {
    /// The Engine's unix socket.
    pub socket: String,
    /// Let tasks ask for `docker.privileged` (`--docker-allow-privileged`).
    pub allow_privileged: bool,
}

impl DockerConfig {
    /// `$DOCKER_HOST` when it is a `unix://` address, else `/var/run/docker.sock`.
    pub fn default_socket() -> String {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into())
    }
}

/// Whether a task asks for a Docker container.
pub fn takes(t: &TaskInfo) -> bool {
    t.container
        .as_ref()
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        == Some("DOCKER")
}

/// Ask the Engine at `socket` who it is (for `drover up`): its version, or why it did not answer.
pub async fn probe(socket: &str) -> Result<String, String> {
    let d = DockerContainerizer::new(DockerConfig {
        socket: socket.into(),
        allow_privileged: false,
    });
    let client = tokio::time::timeout(Duration::from_secs(3), d.client())
        .await
        .map_err(|_| format!("the Docker Engine at unix://{socket} did not answer within 3 s"))??;
    let v = client.version().await.map_err(|e| d.unreachable(&e))?;
    Ok(format!(
        "Docker Engine {} (API {})",
        v.version.unwrap_or_default(),
        v.api_version.unwrap_or_default()
    ))
}

/// One task's container as the containerizer tracks it. A kill and the launch (or recovery)
/// meet under `gate`: the launch starts the container only if no kill came first, and a kill
/// signals the container only once it runs.
#[derive(Default)]
struct Slot {
    gate: tokio::sync::Mutex<()>,
    running: AtomicBool,
}

pub struct DockerContainerizer {
    pub cfg: DockerConfig,
    /// Connected and version-negotiated client; made on first use, so an Engine that is down
    /// when the agent starts is picked up when it returns.
    client: tokio::sync::Mutex<Option<Docker>>,
    /// Containers of live tasks, by container id.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Images seen present on the Engine: a launch from one of them skips the inspect round
    /// trip. An image removed behind the agent's back shows as "No such image" at create, which
    /// forgets it and takes the normal path (inspect, pull) once more.
    images: Mutex<HashSet<String>>,
}

pub fn container_name(cid: &str) -> String {
    format!("drover-{cid}")
}

impl DockerContainerizer {
    pub fn new(cfg: DockerConfig) -> DockerContainerizer {
        DockerContainerizer {
            cfg,
            client: tokio::sync::Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            images: Mutex::new(HashSet::new()),
        }
    }

    fn unreachable(&self, e: &DockerError) -> String {
        format!(
            "the Docker Engine at unix://{} is unreachable: {e}",
            self.cfg.socket
        )
    }

    /// The client, connecting and negotiating the API version first if need be.
    async fn client(&self) -> Result<Docker, String> {
        let mut c = self.client.lock().await;
        if let Some(d) = c.as_ref() {
            return Ok(d.clone());
        }
        let d = Docker::connect_with_unix(&self.cfg.socket, 60, bollard::API_DEFAULT_VERSION)
            .map_err(|e| self.unreachable(&e))?;
        let d = d
            .negotiate_version()
            .await
            .map_err(|e| self.unreachable(&e))?;
        tracing::info!(socket = %self.cfg.socket, api = %d.client_version(), "connected to the Docker Engine");
        *c = Some(d.clone());
        Ok(d)
    }

    fn slot(&self, cid: &str) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cid)
            .cloned()
    }

    fn add_slot(&self, cid: &str) -> Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(cid.to_string())
            .or_default()
            .clone()
    }

    fn forget(&self, cid: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cid);
    }

    fn is_running(&self, cid: &str) -> bool {
        self.slot(cid)
            .map(|s| s.running.load(Ordering::SeqCst))
            .unwrap_or(false)
    }

    fn image_known(&self, image: &str, known: bool) {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if known {
            images.insert(image.to_string());
        } else {
            images.remove(image);
        }
    }

    /// Use the local image, or pull it (always, with `force_pull`).
    async fn ensure_image(
        &self,
        docker: &Docker,
        image: &str,
        force_pull: bool,
    ) -> Result<(), String> {
        if !force_pull {
            let known = self
                .images
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(image);
            if known {
                return Ok(());
            }
            match docker.inspect_image(image).await {
                Ok(_) => {
                    self.image_known(image, true);
                    return Ok(());
                }
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) if is_connection_error(&e) => {
                    return Err(format!(
                        "Failed to look up image '{image}': {}",
                        self.unreachable(&e)
                    ))
                }
                Err(e) => return Err(format!("Failed to look up image '{image}': {e}")),
            }
        }
        let (repo, tag) = split_image(image);
        let opts = qp::CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        let started = Instant::now();
        let mut pull = docker.create_image(Some(opts), None, None);
        while let Some(item) = pull.next().await {
            if let Err(e) = item {
                let why = match &e {
                    DockerError::DockerResponseServerError { message, .. } => message.clone(),
                    DockerError::DockerStreamError { error } => error.clone(),
                    e if is_connection_error(e) => self.unreachable(e),
                    e => e.to_string(),
                };
                return Err(format!("Failed to pull image '{image}': {why}"));
            }
        }
        tracing::info!(
            image,
            "pulled image in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        self.image_known(image, true);
        Ok(())
    }

    /// SIGTERM, then SIGKILL if the container still runs after `grace` seconds.
    async fn stop(&self, cid: &str, grace: f64) {
        let Ok(docker) = self.client().await else {
            return;
        };
        let name = container_name(cid);
        let term = qp::KillContainerOptions {
            signal: "SIGTERM".into(),
        };
        if let Err(e) = docker.kill_container(&name, Some(term)).await {
            tracing::debug!(container = %name, "SIGTERM: {e}");
        }
        let exited = tokio::time::timeout(
            Duration::from_secs_f64(grace.max(0.0)),
            wait_not_running(&docker, &name),
        )
        .await
        .is_ok();
        if exited {
            return;
        }
        for _ in 0..60 {
            match docker
                .kill_container(
                    &name,
                    Some(qp::KillContainerOptions {
                        signal: "SIGKILL".into(),
                    }),
                )
                .await
            {
                Ok(()) => return,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => return,
                Err(e) => {
                    tracing::warn!(container = %name, "SIGKILL failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Containers this agent launched: labelled with its id or its work dir.
    async fn list_ours(
        &self,
        docker: &Docker,
        agent: &Agent,
    ) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        let agent_id = agent.agent_id().map(|a| a.value);
        let work_dir = agent.cfg.work_dir.display().to_string();
        let filters = HashMap::from([("label".to_string(), vec![LABEL_CONTAINER.to_string()])]);
        let all = docker
            .list_containers(Some(qp::ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        Ok(all
            .into_iter()
            .filter(|c| {
                let labels = c.labels.clone().unwrap_or_default();
                labels.get(LABEL_WORK_DIR) == Some(&work_dir)
                    || (agent_id.is_some() && labels.get(LABEL_AGENT) == agent_id.as_ref())
            })
            .collect())
    }
}

fn is_connection_error(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::HyperLegacyError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
            | DockerError::RequestTimeoutError
            | DockerError::HyperResponseError { .. }
    )
}

/// `busybox` → (`busybox`, `latest`); `reg:5000/a/b:1` → (`reg:5000/a/b`, `1`); digests stay whole.
fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (
            image[..image.len() - tag.len() - 1].to_string(),
            tag.to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

async fn wait_not_running(docker: &Docker, name: &str) {
    let mut s = docker.wait_container(
        name,
        Some(qp::WaitContainerOptions {
            condition: "not-running".into(),
        }),
    );
    let _ = s.next().await;
}

// ---------------------------------------------------------------------------------------------
// What to create: TaskInfo + ContainerInfo → the Engine's container config (pure).

#[derive(Deserialize, Default)]
struct ContainerJson {
    #[serde(default)]
    docker: Option<DockerJson>,
    #[serde(default)]
    volumes: Vec<VolumeJson>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    network_infos: Vec<NetworkInfoJson>,
}

#[derive(Deserialize, Default)]
struct DockerJson {
    #[serde(default)]
    image: String,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    port_mappings: Vec<PortMappingJson>,
    #[serde(default)]
    privileged: Option<bool>,
    #[serde(default)]
    parameters: Vec<ParameterJson>,
    #[serde(default)]
    force_pull_image: Option<bool>,
}

#[derive(Deserialize)]
struct PortMappingJson {
    host_port: u64,
    container_port: u64,
    #[serde(default)]
    protocol: Option<String>,
}

#[derive(Deserialize)]
struct ParameterJson {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct VolumeJson {
    container_path: String,
    #[serde(default)]
    host_path: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    image: Option<Value>,
}

#[derive(Deserialize)]
struct NetworkInfoJson {
    #[serde(default)]
    name: Option<String>,
}

/// Where a container comes from and how it is made.
#[derive(Debug)]
pub(crate) struct Spec {
    pub image: String,
    pub force_pull: bool,
    pub body: ContainerCreateBody,
}

const PARAMETERS: &str = "label, env, hostname, user, workdir, entrypoint, add-host, cap-add, cap-drop, dns, init, read-only, privileged";

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v.trim() {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!(
            "docker parameter '{key}' takes true or false, not '{other}'"
        )),
    }
}

/// Build the container for task `t` in `sandbox` (its host path). `env` is what the agent gives
/// command tasks; `labels` identify the container.
pub(crate) fn build_spec(
    t: &TaskInfo,
    env: &[(String, String)],
    sandbox: &Path,
    labels: HashMap<String, String>,
    allow_privileged: bool,
) -> Result<Spec, String> {
    let c: ContainerJson = serde_json::from_value(t.container.clone().unwrap_or(Value::Null))
        .map_err(|e| format!("unreadable container info: {e}"))?;
    let d = c
        .docker
        .ok_or("container.docker is missing (a DOCKER container needs at least docker.image)")?;
    let image = d.image.trim().to_string();
    if image.is_empty() {
        return Err("container.docker.image is empty".into());
    }
    let mut labels = labels;
    let mut env_extra: Vec<(String, String)> = Vec::new();
    let mut hostname = c.hostname.clone().filter(|h| !h.is_empty());
    let mut user = None;
    let mut workdir = None;
    let mut entrypoint = None;
    let mut host = HostConfig::default();
    let mut privileged = d.privileged.unwrap_or(false);
    let push =
        |v: &mut Option<Vec<String>>, s: &str| v.get_or_insert_with(Vec::new).push(s.to_string());
    for p in &d.parameters {
        let key = p.key.trim().trim_start_matches('-');
        let value = p.value.as_str();
        match key {
            "label" | "l" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                if k.starts_with("drover.") {
                    return Err(format!("label '{k}' is reserved for the agent"));
                }
                labels.insert(k.to_string(), v.to_string());
            }
            "env" | "e" => {
                let (k, v) = value.split_once('=').ok_or_else(|| {
                    format!("docker parameter env must be NAME=value, not '{value}'")
                })?;
                env_extra.push((k.to_string(), v.to_string()));
            }
            "hostname" | "h" => hostname = Some(value.to_string()),
            "user" | "u" => user = Some(value.to_string()),
            "workdir" | "w" => workdir = Some(value.to_string()),
            "entrypoint" => {
                entrypoint = Some(if value.is_empty() {
                    vec![]
                } else {
                    vec![value.to_string()]
                })
            }
            "add-host" => push(&mut host.extra_hosts, value),
            "cap-add" => push(&mut host.cap_add, value),
            "cap-drop" => push(&mut host.cap_drop, value),
            "dns" => push(&mut host.dns, value),
            "init" => host.init = Some(parse_bool(key, value)?),
            "read-only" => host.readonly_rootfs = Some(parse_bool(key, value)?),
            "privileged" => privileged = parse_bool(key, value)?,
            other => {
                return Err(format!(
                    "unsupported docker parameter '{other}' (supported: {PARAMETERS})"
                ))
            }
        }
    }
    if privileged && !allow_privileged {
        return Err("privileged containers are not allowed on this agent (it runs without --docker-allow-privileged)".into());
    }
    if privileged {
        host.privileged = Some(true);
    }

    // Network and ports.
    let network = d.network.as_deref().unwrap_or("HOST").to_ascii_uppercase();
    host.network_mode = Some(match network.as_str() {
        "HOST" => "host".to_string(),
        "BRIDGE" => "bridge".to_string(),
        "NONE" => "none".to_string(),
        "USER" => c
            .network_infos
            .iter()
            .find_map(|n| n.name.clone().filter(|n| !n.is_empty()))
            .ok_or("network USER needs the network's name in container.network_infos[0].name")?,
        other => {
            return Err(format!(
                "unknown docker network '{other}' (HOST, BRIDGE, USER or NONE)"
            ))
        }
    });
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    if !d.port_mappings.is_empty() && matches!(network.as_str(), "HOST" | "NONE") {
        return Err(format!(
            "port mappings need network BRIDGE or USER, not {network}"
        ));
    }
    let ports = Resources::from_list(&t.resources).ranges("ports");
    for m in &d.port_mappings {
        let protocols = m
            .protocol
            .clone()
            .unwrap_or_else(|| "tcp".into())
            .to_ascii_lowercase();
        if !ports
            .iter()
            .any(|r| r.begin <= m.host_port && m.host_port <= r.end)
        {
            let have = if ports.is_empty() {
                "none".to_string()
            } else {
                drover_api::resources::format_ranges(&ports)
            };
            return Err(format!(
                "port mapping {}:{}/{protocols}: host port {} is not among the task's port resources ({have})",
                m.host_port, m.container_port, m.host_port
            ));
        }
        if m.container_port == 0 || m.container_port > 65535 {
            return Err(format!(
                "port mapping {}:{}: container port out of range",
                m.host_port, m.container_port
            ));
        }
        for proto in protocols.split(',').map(str::trim) {
            if !matches!(proto, "tcp" | "udp" | "sctp") {
                return Err(format!(
                    "port mapping {}:{}: unknown protocol '{proto}' (tcp, udp or sctp)",
                    m.host_port, m.container_port
                ));
            }
            let key = format!("{}/{proto}", m.container_port);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: None,
                    host_port: Some(m.host_port.to_string()),
                });
        }
    }
    if !bindings.is_empty() {
        host.port_bindings = Some(bindings);
    }

    // Volumes: the sandbox, then the task's.
    let in_container = |p: &str| {
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{SANDBOX_IN_CONTAINER}/{p}")
        }
    };
    let mut binds = vec![format!("{}:{SANDBOX_IN_CONTAINER}:rw", sandbox.display())];
    let mut anonymous = Vec::new();
    for v in &c.volumes {
        if v.source.is_some() || v.image.is_some() {
            return Err(format!(
                "volume {}: only host_path volumes are supported",
                v.container_path
            ));
        }
        if v.container_path.is_empty() {
            return Err("a volume needs a container_path".into());
        }
        let mode = match v.mode.as_deref().unwrap_or("RW") {
            "RW" => "rw",
            "RO" => "ro",
            m => {
                return Err(format!(
                    "volume {}: mode must be RW or RO, not '{m}'",
                    v.container_path
                ))
            }
        };
        let target = in_container(&v.container_path);
        match v.host_path.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => {
                let src = if h.starts_with('/') {
                    PathBuf::from(h)
                } else {
                    sandbox.join(h)
                };
                if src.display().to_string().contains(':') || target.contains(':') {
                    return Err(format!(
                        "volume {}: paths must not contain ':'",
                        v.container_path
                    ));
                }
                binds.push(format!("{}:{target}:{mode}", src.display()));
            }
            None => anonymous.push(target),
        }
    }
    host.binds = Some(binds);

    // Limits from the task's resources.
    let r = Resources::from_list(&t.resources);
    let cpus = r.scalar("cpus");
    if cpus > 0.0 {
        host.cpu_shares = Some(((cpus * 1024.0) as i64).max(2));
        host.cpu_period = Some(100_000);
        host.cpu_quota = Some(((cpus * 100_000.0) as i64).max(1000));
    }
    let mem = r.scalar("mem");
    if mem > 0.0 {
        let bytes = ((mem * 1048576.0) as i64).max(MIN_MEMORY_BYTES);
        host.memory = Some(bytes);
        host.memory_swap = Some(bytes); // no swap on top
    }
    // The agent copies the output from the Engine's json-file log.
    host.log_config = Some(HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "64m".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    });

    // Environment: the agent's, as seen from inside (the image keeps its PATH and HOME).
    let own: HashSet<&str> = t
        .command
        .iter()
        .filter_map(|c| c.environment.as_ref())
        .flat_map(|e| &e.variables)
        .map(|v| v.name.as_str())
        .collect();
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| {
            own.contains(k.as_str())
                || !matches!(k.as_str(), "PATH" | "HOME" | "LANG" | "LC_ALL" | "TZ")
        })
        .map(|(k, v)| match k.as_str() {
            "MESOS_SANDBOX" | "MESOS_DIRECTORY" if !own.contains(k.as_str()) => {
                (k.clone(), SANDBOX_IN_CONTAINER.to_string())
            }
            _ => (k.clone(), v.clone()),
        })
        .collect();
    for (k, v) in env_extra {
        vars.retain(|(x, _)| x != &k);
        vars.push((k, v));
    }

    // The command.
    let cmd = t.command.clone().unwrap_or_default();
    let command = if cmd.shell.unwrap_or(true) {
        cmd.value
            .filter(|v| !v.trim().is_empty())
            .map(|v| vec!["/bin/sh".to_string(), "-c".to_string(), v])
    } else {
        let mut a: Vec<String> = cmd.value.into_iter().filter(|v| !v.is_empty()).collect();
        a.extend(cmd.arguments);
        Some(a).filter(|a| !a.is_empty())
    };

    let body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: command,
        entrypoint,
        env: Some(vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        hostname,
        user,
        working_dir: Some(workdir.unwrap_or_else(|| SANDBOX_IN_CONTAINER.to_string())),
        exposed_ports: Some(exposed).filter(|e| !e.is_empty()),
        volumes: Some(anonymous).filter(|a| !a.is_empty()),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(host),
        ..Default::default()
    };
    Ok(Spec {
        image,
        force_pull: d.force_pull_image.unwrap_or(false),
        body,
    })
}

/// The terminal update for a container that stopped (`None`: it vanished).
pub(crate) fn exit_update(
    state: Option<&ContainerState>,
    killed: bool,
) -> (TaskState, String, Option<Reason>) {
    let Some(s) = state else {
        return if killed {
            (
                TaskState::TASK_KILLED,
                "Container was removed after a kill request".into(),
                None,
            )
        } else {
            (
                TaskState::TASK_FAILED,
                "Container was removed outside the agent".into(),
                Some(Reason::REASON_EXECUTOR_TERMINATED),
            )
        };
    };
    let code = s.exit_code.unwrap_or(-1);
    if s.oom_killed == Some(true) {
        return (
            TaskState::TASK_FAILED,
            format!("Memory limit exceeded: the container was OOM-killed (Container exited with status {code})"),
            Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
        );
    }
    let mut msg = format!("Container exited with status {code}");
    if let Some(e) = s.error.as_deref().filter(|e| !e.is_empty()) {
        msg.push_str(&format!(": {e}"));
    }
    if killed {
        (TaskState::TASK_KILLED, msg, None)
    } else if code == 0 {
        (TaskState::TASK_FINISHED, msg, None)
    } else {
        (TaskState::TASK_FAILED, msg, None)
    }
}

// ---------------------------------------------------------------------------------------------
// Launch, watch, kill.

fn kill_requested(agent: &Agent, fid: &FrameworkID, tid: &TaskID) -> bool {
    agent
        .lock()
        .tasks
        .get(&(fid.clone(), tid.clone()))
        .map(|e| e.kill_requested)
        .unwrap_or(true)
}

/// Run command task `t` in a container and report its states until it ends. Called by
/// `start_command_task` once the sandbox exists and its URIs are fetched, with the environment
/// it would give the process.
pub(crate) async fn run_task(
    agent: Arc<Agent>,
    fid: FrameworkID,
    t: TaskInfo,
    sandbox: PathBuf,
    cid: String,
    env: Vec<(String, String)>,
) {
    let tid = t.task_id.clone();
    let fail = |msg: String| {
        tracing::warn!(task_id = %tid, "docker launch failed: {msg}");
        agent.task_update(
            &fid,
            &tid,
            TaskState::TASK_FAILED,
            msg,
            Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
        );
    };
    let Some(d) = agent.docker.clone() else {
        fail("The task asks for a DOCKER container, but this agent runs without the docker containerizer (start it with --containerizers docker,process)".into());
        return;
    };
    let agent_id = agent.agent_id().map(|a| a.value).unwrap_or_default();
    let labels = HashMap::from([
        (LABEL_AGENT.to_string(), agent_id),
        (LABEL_FRAMEWORK.to_string(), fid.value.clone()),
        (LABEL_TASK.to_string(), tid.value.clone()),
        (LABEL_CONTAINER.to_string(), cid.clone()),
        (
            LABEL_WORK_DIR.to_string(),
            agent.cfg.work_dir.display().to_string(),
        ),
    ]);
    let spec = match build_spec(&t, &env, &sandbox, labels, d.cfg.allow_privileged) {
        Ok(s) => s,
        Err(e) => return fail(format!("Invalid docker container: {e}")),
    };
    agent.task_update(&fid, &tid, TaskState::TASK_STARTING, String::new(), None);
    let started = Instant::now();
    let docker = match d.client().await {
        Ok(c) => c,
        Err(e) => return fail(format!("Failed to launch container: {e}")),
    };
    if let Err(e) = d.ensure_image(&docker, &spec.image, spec.force_pull).await {
        return fail(e);
    }
    let t_image = started.elapsed();
    let slot = d.add_slot(&cid);
    let name = container_name(&cid);
    let create = || {
        let opts = qp::CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        docker.create_container(Some(opts), spec.body.clone())
    };
    let mut created = create().await;
    if let Err(DockerError::DockerResponseServerError {
        status_code: 404, ..
    }) = &created
    {
        // The image went away since it was seen (a `docker rmi`): look it up, or pull it, again.
        d.image_known(&spec.image, false);
        if let Err(e) = d.ensure_image(&docker, &spec.image, false).await {
            d.forget(&cid);
            return fail(e);
        }
        created = create().await;
    }
    if let Err(e) = created {
        d.forget(&cid);
        let why = match &e {
            DockerError::DockerResponseServerError { message, .. } => message.clone(),
            e if is_connection_error(e) => d.unreachable(e),
            e => e.to_string(),
        };
        return fail(format!(
            "Failed to create container from image '{}': {why}",
            spec.image
        ));
    }
    let t_create = started.elapsed();
    let remove = qp::RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    {
        let _gate = slot.gate.lock().await;
        if kill_requested(&agent, &fid, &tid) {
            let _ = docker.remove_container(&name, Some(remove)).await;
            d.forget(&cid);
            agent.task_update(
                &fid,
                &tid,
                TaskState::TASK_KILLED,
                "Task killed before it was launched".into(),
                Some(Reason::REASON_TASK_KILLED_DURING_LAUNCH),
            );
            return;
        }
        if let Err(e) = docker
            .start_container(&name, None::<qp::StartContainerOptions>)
            .await
        {
            let _ = docker.remove_container(&name, Some(remove)).await;
            d.forget(&cid);
            let why = match &e {
                DockerError::DockerResponseServerError { message, .. } => message.clone(),
                e => e.to_string(),
            };
            return fail(format!(
                "Failed to start container from image '{}': {why}",
                spec.image
            ));
        }
        slot.running.store(true, Ordering::SeqCst);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let t_start = started.elapsed();
    tracing::info!(
        task_id = %tid,
        container = %name,
        "container running {:.1} ms after TASK_STARTING (image ready at {:.1}, created at {:.1})",
        ms(t_start),
        ms(t_image),
        ms(t_create)
    );
    agent.task_update(&fid, &tid, TaskState::TASK_RUNNING, String::new(), None);
    watch(agent, d, docker, fid, tid, cid, sandbox).await;
}

/// Follow a started container to its end: copy its output into the sandbox, wait for it to
/// stop, report how it ended, remove it.
async fn watch(
    agent: Arc<Agent>,
    d: Arc<DockerContainerizer>,
    docker: Docker,
    fid: FrameworkID,
    tid: TaskID,
    cid: String,
    sandbox: PathBuf,
) {
    let name = container_name(&cid);
    let meta = agent.cfg.meta_dir();
    let logs = tokio::spawn(copy_logs(
        docker.clone(),
        name.clone(),
        sandbox,
        meta.clone(),
        cid.clone(),
    ));
    let state = wait_exit(&docker, &name).await;
    let abort = logs.abort_handle();
    if tokio::time::timeout(LOG_DRAIN, logs).await.is_err() {
        tracing::warn!(container = %name, "output still flowing {} s after the container stopped; not waiting", LOG_DRAIN.as_secs());
        abort.abort();
    }
    let killed = agent
        .lock()
        .tasks
        .get(&(fid.clone(), tid.clone()))
        .map(|e| e.kill_requested)
        .unwrap_or(false);
    let (st, msg, reason) = exit_update(state.as_ref(), killed);
    tracing::info!(task_id = %tid, container = %name, "{msg}");
    agent.task_update(&fid, &tid, st, msg, reason);
    // Its output is in the sandbox and its end is recorded: the container can go.
    let remove = qp::RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    if let Err(e) = docker.remove_container(&name, Some(remove)).await {
        tracing::warn!(container = %name, "could not remove the container: {e}");
    }
    d.forget(&cid);
    crate::checkpoint::remove_docker_log_cursor(&meta, &cid);
}

/// Wait until the container no longer runs; its final state, or `None` if it vanished. Rides out
/// an Engine that goes away for a while.
async fn wait_exit(docker: &Docker, name: &str) -> Option<ContainerState> {
    let mut backoff = Duration::from_millis(250);
    loop {
        let r = {
            let mut s = docker.wait_container(
                name,
                Some(qp::WaitContainerOptions {
                    condition: "not-running".into(),
                }),
            );
            s.next().await
        };
        match r {
            Some(Ok(_)) | Some(Err(DockerError::DockerContainerWaitError { .. })) => {}
            Some(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => return None,
            Some(Err(e)) => {
                tracing::warn!(container = %name, "waiting for the container: {e}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            None => tokio::time::sleep(backoff).await,
        }
        match docker
            .inspect_container(name, None::<qp::InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                let live = s.running == Some(true)
                    || matches!(
                        s.status,
                        Some(
                            ContainerStateStatusEnum::RUNNING
                                | ContainerStateStatusEnum::RESTARTING
                                | ContainerStateStatusEnum::PAUSED
                        )
                    );
                if !live {
                    return Some(s);
                }
            }
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => return None,
            Err(e) => tracing::debug!(container = %name, "inspect: {e}"),
        }
    }
}

/// Nanoseconds since the epoch of an RFC 3339 UTC timestamp as the Engine writes them
/// (`2024-05-07T21:09:36.123456789Z`).
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + nanos)
}

/// Copy the container's stdout/stderr into the sandbox from where the last copy got to, until
/// the container stops (the Engine then ends the stream).
async fn copy_logs(docker: Docker, name: String, sandbox: PathBuf, meta: PathBuf, cid: String) {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.create(true).append(true);
    let (mut out, mut err) = match (
        options.open(sandbox.join("stdout")).await,
        options.open(sandbox.join("stderr")).await,
    ) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(container = %name, "cannot open the sandbox's stdout/stderr: {e}");
            return;
        }
    };
    let mut cursor = crate::checkpoint::read_docker_log_cursor(&meta, &cid);
    let mut saved = cursor;
    let mut last_save = Instant::now();
    loop {
        let since = cursor.map(|c| (c / 1_000_000_000) as i32).unwrap_or(0);
        let opts = qp::LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since,
            timestamps: true,
            ..Default::default()
        };
        let mut s = docker.logs(&name, Some(opts));
        let mut broken = false;
        while let Some(item) = s.next().await {
            let (file, message) = match item {
                Ok(LogOutput::StdOut { message }) => (&mut out, message),
                Ok(LogOutput::StdErr { message }) => (&mut err, message),
                Ok(_) => continue,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => break,
                Err(e) => {
                    tracing::warn!(container = %name, "log stream broke: {e}; resuming");
                    broken = true;
                    break;
                }
            };
            // "<timestamp> <output>": skip what an earlier copy already wrote.
            let split = message.iter().position(|&b| b == b' ');
            let ts = split
                .and_then(|i| std::str::from_utf8(&message[..i]).ok())
                .and_then(parse_timestamp);
            let payload = match (ts, split) {
                (Some(ts), Some(i)) => {
                    if cursor.is_some_and(|c| ts <= c) {
                        continue;
                    }
                    cursor = Some(ts);
                    &message[i + 1..]
                }
                _ => &message[..],
            };
            if let Err(e) = async {
                file.write_all(payload).await?;
                file.flush().await
            }
            .await
            {
                tracing::error!(container = %name, "writing the task's output: {e}");
            }
            if cursor != saved && last_save.elapsed() >= CURSOR_EVERY {
                if let Some(c) = cursor {
                    let _ = crate::checkpoint::write_docker_log_cursor(&meta, &cid, c);
                }
                saved = cursor;
                last_save = Instant::now();
            }
        }
        if let (Some(c), true) = (cursor, cursor != saved) {
            let _ = crate::checkpoint::write_docker_log_cursor(&meta, &cid, c);
            saved = cursor;
        }
        if !broken {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Kill a docker command task: SIGTERM now, SIGKILL after `grace` seconds. `kill_task` has set
/// its `kill_requested`, so a launch still under way stops before starting the container.
pub(crate) fn kill(agent: &Arc<Agent>, fid: &FrameworkID, tid: &TaskID, grace: f64) {
    let Some(d) = agent.docker.clone() else {
        return;
    };
    let (cid, wants_killing) = {
        let st = agent.lock();
        let Some(t) = st.tasks.get(&(fid.clone(), tid.clone())) else {
            return;
        };
        (
            t.container_id.clone(),
            st.frameworks
                .get(fid)
                .map(|f| f.has_capability("TASK_KILLING_STATE"))
                .unwrap_or(false),
        )
    };
    let me = agent.clone();
    let (fid, tid) = (fid.clone(), tid.clone());
    tokio::spawn(async move {
        let Some(slot) = d.slot(&cid) else { return }; // not created yet: the launch sees the kill
        {
            let _gate = slot.gate.lock().await;
            if !slot.running.load(Ordering::SeqCst) {
                return; // the launch (or recovery) sees kill_requested before starting it
            }
        }
        if wants_killing {
            me.task_update(
                &fid,
                &tid,
                TaskState::TASK_KILLING,
                "Killing the task".into(),
                None,
            );
        }
        d.stop(&cid, grace).await;
    });
}

fn default_grace(agent: &Agent, t: &TaskInfo) -> f64 {
    t.kill_policy
        .as_ref()
        .and_then(|p| p.grace_period.as_ref())
        .map(|g| g.nanoseconds as f64 / 1e9)
        .unwrap_or(agent.cfg.default_kill_grace_secs)
}

// ---------------------------------------------------------------------------------------------
// Recovery, Ctrl-C, statistics.

/// After the agent's own recovery: re-adopt the containers of the docker tasks it recovered
/// (keep copying their output, watch their end) or report what became of them, and remove
/// orphans — containers labelled for this agent whose task it does not run.
pub fn recover(agent: &Arc<Agent>) {
    let tasks: Vec<(FrameworkID, TaskInfo, TaskState, String, PathBuf)> = {
        let st = agent.lock();
        st.tasks
            .values()
            .filter(|t| t.executor_id.is_none() && takes(&t.info) && !t.state.is_terminal())
            .map(|t| {
                (
                    t.framework_id.clone(),
                    t.info.clone(),
                    t.state,
                    t.container_id.clone(),
                    t.sandbox.clone(),
                )
            })
            .collect()
    };
    let Some(d) = agent.docker.clone() else {
        for (fid, t, ..) in tasks {
            agent.task_update(
                &fid,
                &t.task_id,
                TaskState::TASK_FAILED,
                "The agent restarted without the docker containerizer; the task's container cannot be recovered".into(),
                Some(Reason::REASON_AGENT_RESTARTED),
            );
        }
        return;
    };
    for (_, _, _, cid, _) in &tasks {
        d.add_slot(cid);
    }
    let agent = agent.clone();
    tokio::spawn(async move {
        let mut warned = false;
        let (docker, ours) = loop {
            let r = match d.client().await {
                Ok(c) => d
                    .list_ours(&c, &agent)
                    .await
                    .map(|l| (c, l))
                    .map_err(|e| d.unreachable(&e)),
                Err(e) => Err(e),
            };
            match r {
                Ok(x) => break x,
                Err(e) => {
                    if !warned {
                        tracing::warn!("docker recovery waits for the Engine: {e}");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        let by_cid: HashMap<String, &bollard::models::ContainerSummary> = ours
            .iter()
            .filter_map(|c| {
                c.labels
                    .as_ref()?
                    .get(LABEL_CONTAINER)
                    .map(|cid| (cid.clone(), c))
            })
            .collect();
        for (fid, t, state, cid, sandbox) in tasks {
            let tid = t.task_id.clone();
            let found = by_cid.get(&cid).map(|c| c.state);
            match found {
                Some(Some(ContainerSummaryStateEnum::CREATED)) | None => {
                    let why = if found.is_some() {
                        "had not started"
                    } else {
                        "was gone"
                    };
                    if found.is_some() {
                        let _ = docker
                            .remove_container(
                                &container_name(&cid),
                                Some(qp::RemoveContainerOptions {
                                    force: true,
                                    ..Default::default()
                                }),
                            )
                            .await;
                    }
                    d.forget(&cid);
                    agent.task_update(
                        &fid,
                        &tid,
                        TaskState::TASK_FAILED,
                        format!(
                            "Container {} {why} when the agent recovered",
                            container_name(&cid)
                        ),
                        Some(Reason::REASON_AGENT_RESTARTED),
                    );
                }
                Some(_) => {
                    tracing::info!(task_id = %tid, container = %container_name(&cid), "re-adopting container");
                    let Some(slot) = d.slot(&cid) else { continue };
                    {
                        let _gate = slot.gate.lock().await;
                        slot.running.store(true, Ordering::SeqCst);
                    }
                    if kill_requested(&agent, &fid, &tid) {
                        let (d2, cid2, grace) = (d.clone(), cid.clone(), default_grace(&agent, &t));
                        tokio::spawn(async move { d2.stop(&cid2, grace).await });
                    }
                    if matches!(state, TaskState::TASK_STAGING | TaskState::TASK_STARTING) {
                        agent.task_update(&fid, &tid, TaskState::TASK_RUNNING, String::new(), None);
                    }
                    tokio::spawn(watch(
                        agent.clone(),
                        d.clone(),
                        docker.clone(),
                        fid,
                        tid,
                        cid,
                        sandbox,
                    ));
                }
            }
        }
        // Orphans: ours by label, but no live task of this agent runs in them.
        let live: HashSet<String> = agent
            .lock()
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.container_id.clone())
            .collect();
        for c in &ours {
            let Some(cid) = c.labels.as_ref().and_then(|l| l.get(LABEL_CONTAINER)) else {
                continue;
            };
            if live.contains(cid) {
                continue;
            }
            let name = c
                .names
                .iter()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_else(|| container_name(cid));
            tracing::warn!(container = %name.trim_start_matches('/'), "removing orphan container (labelled for this agent, no task of it runs there)");
            let id = c.id.clone().unwrap_or_else(|| container_name(cid));
            if let Err(e) = docker
                .remove_container(
                    &id,
                    Some(qp::RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                tracing::warn!(container = %name, "could not remove orphan: {e}");
            }
        }
    });
}

/// Ctrl-C: stop this agent's containers (SIGTERM, `grace`, then removal, which kills).
pub async fn kill_everything(agent: &Arc<Agent>, grace: f64) {
    let Some(d) = agent.docker.clone() else {
        return;
    };
    let Ok(Ok(docker)) = tokio::time::timeout(Duration::from_secs(3), d.client()).await else {
        return;
    };
    let Ok(ours) = d.list_ours(&docker, agent).await else {
        return;
    };
    let names: Vec<String> = ours.iter().filter_map(|c| c.id.clone()).collect();
    for n in &names {
        let _ = docker
            .kill_container(
                n,
                Some(qp::KillContainerOptions {
                    signal: "SIGTERM".into(),
                }),
            )
            .await;
    }
    let all_stopped =
        futures_util::future::join_all(names.iter().map(|n| wait_not_running(&docker, n)));
    let _ = tokio::time::timeout(Duration::from_secs_f64(grace.max(0.0)), all_stopped).await;
    for n in &names {
        let _ = docker
            .remove_container(
                n,
                Some(qp::RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
    }
}

/// `/monitor/statistics` entries of running docker tasks, from the Engine's stats.
pub async fn statistics(agent: &Arc<Agent>) -> Vec<Value> {
    let Some(d) = agent.docker.clone() else {
        return vec![];
    };
    let items: Vec<(FrameworkID, TaskInfo, String)> = {
        let st = agent.lock();
        st.tasks
            .values()
            .filter(|t| {
                t.executor_id.is_none()
                    && takes(&t.info)
                    && !t.state.is_terminal()
                    && d.is_running(&t.container_id)
            })
            .map(|t| {
                (
                    t.framework_id.clone(),
                    t.info.clone(),
                    t.container_id.clone(),
                )
            })
            .collect()
    };
    if items.is_empty() {
        return vec![];
    }
    let Ok(docker) = d.client().await else {
        return vec![];
    };
    let one = |fid: FrameworkID, t: TaskInfo, cid: String| {
        let docker = docker.clone();
        async move {
            let opts = qp::StatsOptions {
                stream: false,
                one_shot: true,
            };
            let stats = {
                let mut s = docker.stats(&container_name(&cid), Some(opts));
                tokio::time::timeout(Duration::from_secs(3), s.next())
                    .await
                    .ok()
                    .flatten()?
                    .ok()?
            };
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let r = Resources::from_list(&t.resources);
            let cpu = stats.cpu_stats.unwrap_or_default();
            let usage = cpu.cpu_usage.unwrap_or_default();
            let throttling = cpu.throttling_data.unwrap_or_default();
            let mem = stats.memory_stats.unwrap_or_default();
            let ms = mem.stats.unwrap_or_default();
            let rss = ms
                .get("rss")
                .or_else(|| ms.get("anon"))
                .copied()
                .unwrap_or(0);
            let cache = ms
                .get("cache")
                .or_else(|| ms.get("file"))
                .copied()
                .unwrap_or(0);
            Some(json!({
                "executor_id": t.task_id.value, "executor_name": format!("Command Executor (Task: {})", t.task_id.value),
                "framework_id": fid.value, "source": t.task_id.value,
                "statistics": {
                    "timestamp": ts,
                    "cpus_limit": r.scalar("cpus"),
                    "cpus_user_time_secs": usage.usage_in_usermode.unwrap_or(0) as f64 / 1e9,
                    "cpus_system_time_secs": usage.usage_in_kernelmode.unwrap_or(0) as f64 / 1e9,
                    "cpus_nr_periods": throttling.periods.unwrap_or(0),
                    "cpus_nr_throttled": throttling.throttled_periods.unwrap_or(0),
                    "cpus_throttled_time_secs": throttling.throttled_time.unwrap_or(0) as f64 / 1e9,
                    "mem_limit_bytes": mem.limit.unwrap_or((r.scalar("mem") * 1048576.0) as u64),
                    "mem_total_bytes": mem.usage.unwrap_or(0),
                    "mem_rss_bytes": rss,
                    "mem_cache_bytes": cache,
                }
            }))
        }
    };
    futures_util::future::join_all(items.into_iter().map(|(fid, t, cid)| one(fid, t, cid)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(container: Value, cmd: Option<CommandInfo>) -> TaskInfo {
        TaskInfo {
            name: "t".into(),
            task_id: TaskID::new("t1"),
            agent_id: AgentID::new("a"),
            resources: vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)]
                .into_iter()
                .chain(Resources::parse("ports:[31000-31001]").unwrap().to_vec())
                .collect(),
            executor: None,
            command: cmd,
            container: Some(container),
            health_check: None,
            check: None,
            kill_policy: None,
            data: None,
            labels: None,
            discovery: None,
            max_completion_time: None,
        }
    }

    fn build(t: &TaskInfo) -> Result<Spec, String> {
        let env = vec![
            ("PATH".to_string(), "/host/bin".to_string()),
            ("HOME".to_string(), "/host/sandbox".to_string()),
            ("MESOS_SANDBOX".to_string(), "/host/sandbox".to_string()),
            ("MESOS_TASK_ID".to_string(), "t1".to_string()),
        ];
        build_spec(
            t,
            &env,
            Path::new("/work/sb"),
            HashMap::from([(LABEL_TASK.to_string(), "t1".to_string())]),
            false,
        )
    }

    #[test]
    fn only_docker_containers_are_taken() {
        assert!(takes(&task(
            json!({"type": "DOCKER", "docker": {"image": "x"}}),
            None
        )));
        assert!(!takes(&task(json!({"type": "MESOS"}), None)));
    }

    #[test]
    fn a_shell_command_runs_under_sh_with_limits_sandbox_and_env() {
        let cmd = CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        };
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "busybox"}}),
            Some(cmd),
        ))
        .unwrap();
        assert_eq!(s.image, "busybox");
        let b = s.body;
        assert_eq!(b.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(b.entrypoint, None);
        let h = b.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.cpu_shares, Some(512));
        assert_eq!(h.cpu_quota, Some(50_000));
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.memory_swap, Some(64 << 20));
        assert_eq!(
            h.binds.unwrap(),
            vec![format!("/work/sb:{SANDBOX_IN_CONTAINER}:rw")]
        );
        let env = b.env.unwrap();
        assert!(env.contains(&format!("MESOS_SANDBOX={SANDBOX_IN_CONTAINER}")));
        assert!(env.contains(&"MESOS_TASK_ID=t1".to_string()));
        assert!(
            !env.iter()
                .any(|e| e.starts_with("PATH=") || e.starts_with("HOME=")),
            "{env:?}"
        );
        assert_eq!(b.working_dir.as_deref(), Some(SANDBOX_IN_CONTAINER));
    }

    #[test]
    fn without_shell_the_value_and_arguments_follow_the_entrypoint() {
        let cmd = CommandInfo {
            shell: Some(false),
            arguments: vec!["-c".into(), "3".into()],
            ..Default::default()
        };
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "x:1"}}),
            Some(cmd),
        ))
        .unwrap();
        assert_eq!(s.body.cmd.unwrap(), vec!["-c", "3"]);
        let s = build(&task(
            json!({"type": "DOCKER", "docker": {"image": "x:1"}}),
            None,
        ))
        .unwrap();
        assert_eq!(s.body.cmd, None, "no command: the image's default");
    }

    #[test]
    fn bridge_port_mappings_must_use_the_tasks_ports() {
        let ok = json!({"type": "DOCKER", "docker": {"image": "x", "network": "BRIDGE",
            "port_mappings": [{"host_port": 31001, "container_port": 80, "protocol": "tcp"}]}});
        let s = build(&task(ok, None)).unwrap();
        let h = s.body.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        let b = h.port_bindings.unwrap();
        assert_eq!(
            b["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("31001")
        );
        assert_eq!(s.body.exposed_ports.unwrap(), vec!["80/tcp"]);
        let bad = json!({"type": "DOCKER", "docker": {"image": "x", "network": "BRIDGE",
            "port_mappings": [{"host_port": 32000, "container_port": 80}]}});
        let e = build(&task(bad, None)).unwrap_err();
        assert!(
            e.contains("host port 32000") && e.contains("[31000-31001]"),
            "{e}"
        );
        let host = json!({"type": "DOCKER", "docker": {"image": "x", "network": "HOST",
            "port_mappings": [{"host_port": 31000, "container_port": 80}]}});
        assert!(build(&task(host, None))
            .unwrap_err()
            .contains("BRIDGE or USER"));
    }

    #[test]
    fn parameters_volumes_user_networks_and_privilege() {
        let c = json!({"type": "DOCKER", "network_infos": [{"name": "mynet"}], "volumes": [
                {"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
                {"container_path": "cache", "host_path": "c"},
                {"container_path": "/scratch"}],
            "docker": {"image": "x", "network": "USER", "parameters": [
                {"key": "label", "value": "team=a"}, {"key": "env", "value": "A=1"}, {"key": "user", "value": "nobody"},
                {"key": "hostname", "value": "h1"}, {"key": "workdir", "value": "/w"}, {"key": "entrypoint", "value": "/bin/env"}]}});
        let s = build(&task(c, None)).unwrap();
        let b = s.body;
        assert_eq!(b.labels.as_ref().unwrap()["team"], "a");
        assert!(b.env.unwrap().contains(&"A=1".to_string()));
        assert_eq!(b.user.as_deref(), Some("nobody"));
        assert_eq!(b.hostname.as_deref(), Some("h1"));
        assert_eq!(b.working_dir.as_deref(), Some("/w"));
        assert_eq!(b.entrypoint.unwrap(), vec!["/bin/env"]);
        assert_eq!(b.volumes.unwrap(), vec!["/scratch"]);
        let h = b.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("mynet"));
        let binds = h.binds.unwrap();
        assert!(
            binds.contains(&"/srv/data:/data:ro".to_string()),
            "{binds:?}"
        );
        assert!(
            binds.contains(&format!("/work/sb/c:{SANDBOX_IN_CONTAINER}/cache:rw")),
            "{binds:?}"
        );

        let unknown = json!({"type": "DOCKER", "docker": {"image": "x", "parameters": [{"key": "volumes-from", "value": "y"}]}});
        assert!(build(&task(unknown, None))
            .unwrap_err()
            .contains("unsupported docker parameter 'volumes-from'"));
        let spoof = json!({"type": "DOCKER", "docker": {"image": "x", "parameters": [{"key": "label", "value": "drover.task_id=z"}]}});
        assert!(build(&task(spoof, None)).unwrap_err().contains("reserved"));
        let privileged = json!({"type": "DOCKER", "docker": {"image": "x", "privileged": true}});
        assert!(build(&task(privileged.clone(), None))
            .unwrap_err()
            .contains("--docker-allow-privileged"));
        let s = build_spec(
            &task(privileged, None),
            &[],
            Path::new("/s"),
            HashMap::new(),
            true,
        )
        .unwrap();
        assert_eq!(s.body.host_config.unwrap().privileged, Some(true));
        let user_without_name =
            json!({"type": "DOCKER", "docker": {"image": "x", "network": "USER"}});
        assert!(build(&task(user_without_name, None))
            .unwrap_err()
            .contains("network_infos"));
    }

    #[test]
    fn exits_become_mesos_updates() {
        let st = |code: i64, oom: bool| ContainerState {
            exit_code: Some(code),
            oom_killed: Some(oom),
            ..Default::default()
        };
        assert_eq!(
            exit_update(Some(&st(0, false)), false),
            (
                TaskState::TASK_FINISHED,
                "Container exited with status 0".into(),
                None
            )
        );
        assert_eq!(
            exit_update(Some(&st(3, false)), false),
            (
                TaskState::TASK_FAILED,
                "Container exited with status 3".into(),
                None
            )
        );
        assert_eq!(
            exit_update(Some(&st(137, false)), true).0,
            TaskState::TASK_KILLED
        );
        let (s, m, r) = exit_update(Some(&st(137, true)), false);
        assert_eq!(
            (s, r),
            (
                TaskState::TASK_FAILED,
                Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY)
            )
        );
        assert!(m.contains("OOM"), "{m}");
        assert_eq!(exit_update(None, false).0, TaskState::TASK_FAILED);
    }

    #[test]
    fn image_references_get_a_tag() {
        assert_eq!(split_image("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(
            split_image("busybox:1.36"),
            ("busybox".into(), "1.36".into())
        );
        assert_eq!(
            split_image("reg:5000/a/b"),
            ("reg:5000/a/b".into(), "latest".into())
        );
        assert_eq!(
            split_image("reg:5000/a/b:2"),
            ("reg:5000/a/b".into(), "2".into())
        );
        assert_eq!(split_image("a@sha256:ff").1, "");
    }

    #[test]
    fn engine_timestamps_parse_to_nanoseconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T12:34:56.123456789Z"),
            Some(1_709_210_096_123_456_789)
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
