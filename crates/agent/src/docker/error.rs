//! Why the `docker` containerizer could not launch a container, as the errors it defines and
//! [`LaunchError`](crate::containerizer::LaunchError) carries: the Engine not answering
//! ([`EngineError`]) and a task's container info that cannot be made into a Docker container
//! ([`SpecError`]). A leaf: it uses nothing of the containerizer or the rest of `docker`.

use drover_api::Range;

/// The Engine did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("the Docker Engine at unix://{socket} is unreachable: {why}")]
    Unreachable { socket: String, why: String },
    #[error("the Docker Engine at unix://{socket} did not answer within 3 s")]
    Silent { socket: String },
}

const PARAMETERS: &str = "label, env, hostname, user, workdir, entrypoint, add-host, cap-add, cap-drop, dns, init, read-only, privileged";

/// Why a task's container info cannot be made into a Docker container. The text is what the
/// framework reads in the task's `TASK_FAILED` message (after "Invalid docker container: ").
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpecError {
    /// `container` is not Mesos' `ContainerInfo`.
    #[error("unreadable container info: {0}")]
    UnreadableContainerInfo(#[source] serde_json::Error),
    #[error("container.docker is missing (a DOCKER container needs at least docker.image)")]
    NoDocker,
    #[error("container.docker.image is empty")]
    NoImage,
    /// A `label` parameter names one of the labels the agent finds its containers by.
    #[error("label '{label}' is reserved for the agent")]
    ReservedLabel { label: String },
    #[error("docker parameter env must be NAME=value, not '{value}'")]
    BadEnv { value: String },
    /// A flag parameter (`init`, `read-only`, `privileged`) with a value that is not a boolean.
    #[error("docker parameter '{key}' takes true or false, not '{value}'")]
    NotABool { key: String, value: String },
    #[error("unsupported docker parameter '{key}' (supported: {})", PARAMETERS)]
    UnsupportedParameter { key: String },
    #[error("privileged containers are not allowed on this agent (it runs without --docker-allow-privileged)")]
    PrivilegedNotAllowed,
    #[error("network USER needs the network's name in container.network_infos[0].name")]
    UserNetworkWithoutName,
    #[error("unknown docker network '{network}' (HOST, BRIDGE, USER or NONE)")]
    UnknownNetwork { network: String },
    /// Port mappings on a network without ports of its own (HOST or NONE).
    #[error("port mappings need network BRIDGE or USER, not {network}")]
    PortMappingsNeedBridge { network: String },
    /// A mapping's host port is not among the ports the task was given (`offered`).
    #[error(
        "port mapping {host_port}:{container_port}/{protocol}: host port {host_port} is not among the task's port resources ({})",
        offered_ports(.offered)
    )]
    HostPortNotOffered {
        host_port: u64,
        container_port: u64,
        protocol: String,
        offered: Vec<Range>,
    },
    #[error("port mapping {host_port}:{container_port}: container port out of range")]
    ContainerPortOutOfRange { host_port: u64, container_port: u64 },
    #[error("port mapping {host_port}:{container_port}: unknown protocol '{protocol}' (tcp, udp or sctp)")]
    UnknownProtocol {
        host_port: u64,
        container_port: u64,
        protocol: String,
    },
    /// A volume from a source or an image, not a host path.
    /// A persistent volume whose container path leaves the sandbox.
    #[error("persistent volume {id}: container_path '{container_path}' must be a relative path inside the sandbox")]
    BadPersistentVolume { id: String, container_path: String },
    #[error("volume {container_path}: only host_path volumes are supported")]
    UnsupportedVolume { container_path: String },
    #[error("a volume needs a container_path")]
    VolumeWithoutPath,
    #[error("volume {container_path}: mode must be RW or RO, not '{mode}'")]
    BadVolumeMode {
        container_path: String,
        mode: String,
    },
    /// `:` separates the parts of the Engine's bind; a path holding one cannot be bound.
    #[error("volume {container_path}: paths must not contain ':'")]
    ColonInVolumePath { container_path: String },
}

/// The task's port ranges as a refusal names them: `[31000-31001]`, or `none`.
fn offered_ports(r: &[Range]) -> String {
    if r.is_empty() {
        "none".to_string()
    } else {
        drover_api::resources::format_ranges(r)
    }
}
