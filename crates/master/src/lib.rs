//! The Drover master: pools agents' resources, offers them to frameworks by DRF, runs the task
//! state machine, and serves the Mesos v1 scheduler and operator APIs, the v0 JSON endpoints and
//! Drover's agent protocol. `serve` is the whole thing on one listener.
//!
//! `core` decides (pure: given `now` and an id source, no clock, no I/O); `snapshot`, `views`
//! and `v0` render what readers see (`metrics`: `/metrics` for Prometheus); `http` and [`Shared`] drive the core: they decode
//! requests, call it under one lock, write the registry ops it records, and render views from a
//! snapshot outside the lock on low-priority threads (`render`).
#![forbid(unsafe_code)]

mod core;
mod http;
mod leadership;
mod metrics;
mod registry;
mod render;
mod snapshot;
mod tasks;
mod v0;
mod views;

use axum::http::StatusCode;
use drover_api::{AgentID, FrameworkID, MasterInfo};
use drover_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use crate::core::{Master, OperationInvalid};
pub use crate::leadership::{address_of, Ha, Standing};

#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// Address agents and frameworks use to reach this master (what `pid` and `MasterInfo` say).
    pub advertise_ip: String,
    pub hostname: String,
    pub work_dir: Option<PathBuf>,
    /// An agent silent for this long is unreachable (Mesos: agent_ping_timeout × max_agent_ping_timeouts).
    pub agent_timeout_secs: f64,
    /// How often agents heartbeat.
    pub agent_heartbeat_secs: f64,
    /// How long after a start (or failover) admitted agents have to re-register before they
    /// are unreachable (Mesos' `--agent_reregister_timeout`, 10 minutes).
    pub agent_reregister_timeout_secs: f64,
    /// Batch allocation interval (Mesos' `--allocation_interval`); events also trigger a cycle.
    pub allocation_interval_secs: f64,
    /// Largest request body accepted on any endpoint.
    pub max_body_bytes: usize,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            advertise_ip: "127.0.0.1".into(),
            hostname: "localhost".into(),
            work_dir: None,
            agent_timeout_secs: 75.0,
            agent_heartbeat_secs: 5.0,
            agent_reregister_timeout_secs: 600.0,
            allocation_interval_secs: 1.0,
            max_body_bytes: 16 << 20,
        }
    }
}

/// Why a request was refused. Each variant names one kind of failure and carries what the
/// client needs to see; its text is Mesos' (clients and tests read it) and its HTTP status is
/// decided in one place, [`ApiError::status`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // ----- the request itself -----
    #[error("Expecting 'Content-Type' to be present")]
    MissingContentType,
    #[error(
        "Drover speaks the JSON form of the v1 API; 'application/x-protobuf' is not supported"
    )]
    ProtobufUnsupported,
    #[error("Expecting 'Content-Type' of application/json or application/x-protobuf, got '{0}'")]
    UnsupportedContentType(String),
    #[error("Expecting 'Accept' to allow application/json, got '{0}'")]
    NotAcceptable(String),
    #[error("Failed to parse body into {what}: {cause}")]
    UndecodableBody {
        what: &'static str,
        #[source]
        cause: serde_json::Error,
    },
    /// A field (or message of a call) the request must carry.
    #[error("Expecting '{0}' to be present")]
    MissingField(&'static str),

    // ----- who is calling: the framework and its stream -----
    #[error("Framework {0} cannot be found")]
    UnknownFramework(FrameworkID),
    /// An operator named a framework the master does not have (Mesos' words).
    #[error("No framework found with specified ID '{0}'")]
    NoSuchFramework(FrameworkID),
    /// Known, but not subscribed right now (disconnected, or recovered and not yet back).
    #[error("Framework {0} is not subscribed")]
    NotSubscribed(FrameworkID),
    /// Torn down (or removed after its failover timeout): its id may not subscribe again.
    #[error("Framework {0} has been removed")]
    FrameworkRemoved(FrameworkID),
    #[error("All non-subscribe calls should include the 'Mesos-Stream-Id' header")]
    MissingStreamId,
    #[error("The stream ID '{got}' included in this request didn't match the stream ID currently associated with framework ID {framework}")]
    StreamIdMismatch { got: String, framework: FrameworkID },
    #[error("Subscribe calls should not include the 'Mesos-Stream-Id' header")]
    StreamIdOnSubscribe,
    /// SUBSCRIBE sent as a call of an existing stream.
    #[error("Unexpected call type for this endpoint")]
    WrongEndpoint,

    // ----- what the call says -----
    #[error(transparent)]
    InvalidCall(#[from] InvalidCall),
    #[error(transparent)]
    InvalidFrameworkInfo(#[from] InvalidFrameworkInfo),
    #[error("Role '{0}' is invalid")]
    InvalidRole(String),
    /// DEACTIVATE_AGENT of an agent the master does not know (Mesos' words).
    #[error("Unknown agent")]
    UnknownAgentToDeactivate,
    #[error("Agent is not deactivated")]
    AgentNotDeactivated,
    #[error("Weight of role '{role}' must be positive")]
    NonPositiveWeight { role: String },
    /// A weights update naming an invalid role (Mesos' words for `/weights` and
    /// `UPDATE_WEIGHTS`).
    #[error("Failed to validate update weights request JSON: Invalid role '{role}': {why}")]
    WeightRole { role: String, why: InvalidRoleName },
    #[error("Failed to validate update weights request JSON for role '{role}': Invalid weight '{weight}': Weights must be positive")]
    WeightNotPositive { role: String, weight: f64 },
    #[error("Failed to parse update weights request JSON '{body}': {why}")]
    WeightsBody { body: String, why: String },
    /// A weight or quota the allocator refused.
    #[error(transparent)]
    Allocator(#[from] drover_allocator::Error),
    /// An entry of UPDATE_WEIGHTS' `weight_infos` whose field is not of the type it must be.
    #[error("'weight_infos[{index}].{field}' must be {expected}")]
    WeightInfoType {
        index: usize,
        field: &'static str,
        expected: &'static str,
    },

    // ----- quota -----
    /// UPDATE_QUOTA of a role under another one: Mesos 1.11 refuses it too.
    #[error("Updating quota on nested role '{0}' is not supported yet")]
    NestedQuotaUpdate(String),
    /// SET_QUOTA (or `POST /quota`) of a role under another one.
    #[error("Setting quota on nested role '{0}' is not supported yet")]
    NestedQuotaSet(String),
    /// An UPDATE_QUOTA config that fails validation.
    #[error("Invalid QuotaConfig: {0}")]
    InvalidQuotaConfig(InvalidQuota),
    /// A SET_QUOTA request (or `POST /quota` body) that fails validation.
    #[error("Failed to validate set quota request: {0}")]
    InvalidQuotaRequest(InvalidQuota),
    /// `POST /quota` whose body is not JSON.
    #[error("Failed to parse set quota request JSON '{body}': {cause}")]
    QuotaRequestJson {
        body: String,
        #[source]
        cause: serde_json::Error,
    },
    /// `POST /quota` whose JSON is not a quota request.
    #[error("Failed to validate set quota request JSON '{body}': {cause}")]
    QuotaRequestShape {
        body: String,
        #[source]
        cause: serde_json::Error,
    },
    /// The old API's guarantees do not fit in the cluster (a 409, where UPDATE_QUOTA's is a 400).
    #[error("Quota guarantees overcommit the cluster (use 'force' to bypass this check): Total quota guarantees '{total}' exceed cluster capacity '{capacity}'")]
    QuotaOvercommit { total: String, capacity: String },
    /// REMOVE_QUOTA of a role without quota.
    #[error("Failed to remove quota: Role '{0}' has no quota set")]
    NoQuota(String),
    /// `DELETE /quota/<role>` of a role without quota.
    #[error("Failed to remove quota for path '{path}': Role '{role}' has no quota set")]
    NoQuotaAtPath { path: String, role: String },
    /// `DELETE /quota` without a role.
    #[error("Failed to parse remove quota request for path '{path}': expected 3 tokens, found {found} tokens")]
    QuotaPath { path: String, found: usize },

    // ----- agents -----
    #[error("agent protocol version {got} is not supported (this master speaks {want})")]
    UnsupportedProtocol { got: u32, want: u32 },
    /// A scheduler call names an agent the master does not know.
    #[error("Agent {0} is not registered")]
    UnknownAgent(AgentID),
    /// An agent calls without being registered (the master restarted, or removed it).
    #[error("Agent {0} is not registered; re-register")]
    AgentNotRegistered(AgentID),
    #[error("Agent {0} was marked unreachable; re-register")]
    AgentUnreachable(AgentID),
    /// MARK_AGENT_GONE of an agent the master does not know.
    #[error("Agent '{0}' not found")]
    AgentNotFound(AgentID),
    /// An agent marked gone tries to register again.
    #[error("Agent {0} has been marked gone; it may not register again")]
    AgentGone(AgentID),
    /// An agent on a machine that is DOWN tries to register (Mesos' words).
    #[error("Machine is `DOWN`")]
    MachineDown,

    // ----- maintenance and draining -----
    #[error(transparent)]
    Maintenance(#[from] crate::core::MaintenanceError),
    #[error(transparent)]
    Drain(#[from] crate::core::DrainError),

    // ----- reservations and volumes (operator) -----
    /// The agent of an operator's reservation or volume call is not registered (Mesos' words).
    #[error("No agent found with specified ID")]
    NoAgentWithId,
    /// An operator's RESERVE, UNRESERVE, CREATE or DESTROY that fails validation.
    #[error("Invalid {kind:?} operation on agent {agent}: {why}")]
    InvalidOperation {
        kind: drover_api::OperationType,
        agent: AgentID,
        #[source]
        why: OperationInvalid,
    },
    /// What the operation consumes is neither unallocated nor in the agent's offers.
    #[error("The resources {wanted} are not available on agent {agent}: its unallocated resources {available} do not contain them")]
    ResourcesUnavailable {
        agent: AgentID,
        wanted: String,
        available: String,
    },
    /// An old endpoint's form body that is not a form.
    #[error("Unable to decode query string: {0}")]
    UndecodableForm(#[source] serde_urlencoded::de::Error),
    /// An old endpoint's form without one of its fields.
    #[error("Missing '{0}' query parameter in the request body")]
    MissingFormField(&'static str),
    /// An old endpoint's form field that is not a JSON array.
    #[error("Error in parsing '{field}' query parameter in the request body: {cause}")]
    FormFieldJson {
        field: &'static str,
        #[source]
        cause: serde_json::Error,
    },

    // ----- not implemented -----
    #[error("Received 'UNKNOWN' call")]
    UnknownCall,
    #[error("Operation feedback (reservations and volumes) is not supported yet")]
    OperationFeedbackUnsupported,
    #[error("Operator call {0:?} is not supported yet")]
    OperatorCallUnsupported(drover_api::operator::CallType),
}

/// A scheduler call whose contents fail validation.
#[derive(Debug, thiserror::Error)]
pub enum InvalidCall {
    #[error(
        "Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID ({len} bytes)"
    )]
    AcknowledgeUuid { len: usize },
    #[error("'update_framework.framework_info.id' must equal 'framework_id'")]
    UpdateFrameworkId,
}

/// A SUBSCRIBE whose `framework_info` (or framework id) fails validation.
#[derive(Debug, thiserror::Error)]
pub enum InvalidFrameworkInfo {
    #[error("'framework_info.name' must be set")]
    MissingName,
    #[error("'framework_id' differs from 'subscribe.framework_info.id'")]
    IdMismatch,
    #[error("'framework_id' must be set when 'subscribe.framework_info.id' is set")]
    IdWithoutFrameworkId,
    #[error("MULTI_ROLE framework subscribed with no 'roles'")]
    NoRoles,
    #[error("'framework_info.role' must not be set for a MULTI_ROLE framework; use 'roles'")]
    RoleWithMultiRole,
}

/// A quota that fails validation, in Mesos' words: what follows "Invalid QuotaConfig: "
/// (UPDATE_QUOTA) or "Failed to validate set quota request: " (the old API).
#[derive(Debug, thiserror::Error)]
pub enum InvalidQuota {
    #[error("Invalid 'QuotaConfig.role': {0}")]
    ConfigRole(InvalidRoleName),
    #[error("QuotaInfo must specify a role")]
    NoRole,
    #[error("QuotaInfo with invalid role: {0}")]
    InfoRole(InvalidRoleName),
    /// Above Mesos' maximum: `limit` is "1 exabyte (1099511627776)" for mem and disk, "1
    /// trillion (1000000000000)" for the rest.
    #[error("Invalid 'QuotaConfig.{field}': {{'{name}': {value}}} is invalid: values greater than {limit} are not supported")]
    TooLarge {
        field: &'static str,
        name: String,
        value: String,
        limit: &'static str,
    },
    /// A negative, infinite, NaN or subnormal value (`kind`: guarantee or limit).
    #[error("Invalid {kind} configuration {{'{name}': {value}}}: {problem}")]
    Value {
        kind: &'static str,
        name: String,
        value: String,
        problem: &'static str,
    },
    /// Mesos takes quota on any scalar; Drover's allocator enforces it on these four.
    #[error("Invalid {kind} configuration {{'{name}': {value}}}: quota is supported only on cpus, mem, disk and gpus")]
    UnsupportedResource {
        kind: &'static str,
        name: String,
        value: String,
    },
    #[error("'QuotaConfig.guarantees' {guarantees} is not contained within the 'QuotaConfig.limits' {limits}")]
    GuaranteesAboveLimits { guarantees: String, limits: String },
    #[error("Role '{role}' is already consuming '{consumed}'; this is more than the requested limits '{limits}' (use 'force' flag to bypass this check)")]
    ConsumedAboveLimits {
        role: String,
        consumed: String,
        limits: String,
    },
    #[error("total quota guarantees '{total}' exceed cluster capacity '{capacity}' (use 'force' flag to bypass this check)")]
    Overcommit { total: String, capacity: String },
    #[error("QuotaInfo with invalid resource: {0}")]
    InvalidResource(&'static str),
    #[error("QuotaInfo with empty 'guarantee'")]
    EmptyGuarantee,
    #[error("QuotaInfo must not contain any ReservationInfo")]
    Reserved,
    #[error("QuotaInfo must not contain DiskInfo")]
    DiskInfo,
    #[error("QuotaInfo must not contain RevocableInfo")]
    Revocable,
    #[error("QuotaInfo must not include non-scalar resources")]
    NonScalar,
    #[error("QuotaInfo contains duplicate resource name '{0}'")]
    Duplicate(String),
    #[error("Cannot set quota for role '{0}' which already has quota")]
    AlreadySet(String),
}

/// Why a role name is invalid (Mesos' `roles::validate`).
#[derive(Debug, thiserror::Error)]
pub enum InvalidRoleName {
    #[error("Role names cannot be the empty string")]
    Empty,
    #[error("Role '{0}' cannot start with a slash")]
    LeadingSlash(String),
    #[error("Role '{0}' cannot end with a slash")]
    TrailingSlash(String),
    #[error("Role '{0}' cannot contain two adjacent slashes")]
    AdjacentSlashes(String),
    #[error("Role '{0}' cannot include '.' as a component")]
    Dot(String),
    #[error("Role '{0}' cannot include '..' as a component")]
    DotDot(String),
    #[error("Role '{0}' cannot include '*' as a component")]
    Star(String),
    #[error("Role component '{0}' is invalid because it starts with a dash")]
    Dash(String),
    #[error("Role component '{0}' is invalid because it contains backspace or whitespace")]
    Whitespace(String),
}

impl ApiError {
    /// The HTTP status each failure is answered with (Mesos': an unknown framework is a bad
    /// request, a known one not subscribed is forbidden, an UNKNOWN call is not implemented).
    pub fn status(&self) -> StatusCode {
        use ApiError as E;
        match self {
            E::MissingContentType
            | E::UndecodableBody { .. }
            | E::MissingField(_)
            | E::UnknownFramework(_)
            | E::NoSuchFramework(_)
            | E::MissingStreamId
            | E::StreamIdMismatch { .. }
            | E::StreamIdOnSubscribe
            | E::WrongEndpoint
            | E::InvalidCall(_)
            | E::InvalidFrameworkInfo(_)
            | E::InvalidRole(_)
            | E::NonPositiveWeight { .. }
            | E::WeightRole { .. }
            | E::UnknownAgentToDeactivate
            | E::AgentNotDeactivated
            | E::Maintenance(_)
            | E::Drain(_)
            | E::WeightNotPositive { .. }
            | E::WeightsBody { .. }
            | E::Allocator(_)
            | E::WeightInfoType { .. }
            | E::NestedQuotaUpdate(_)
            | E::NestedQuotaSet(_)
            | E::InvalidQuotaConfig(_)
            | E::InvalidQuotaRequest(_)
            | E::QuotaRequestJson { .. }
            | E::QuotaRequestShape { .. }
            | E::NoQuota(_)
            | E::NoQuotaAtPath { .. }
            | E::QuotaPath { .. }
            | E::UnsupportedProtocol { .. }
            | E::NoAgentWithId
            | E::InvalidOperation { .. }
            | E::UndecodableForm(_)
            | E::MissingFormField(_)
            | E::FormFieldJson { .. } => StatusCode::BAD_REQUEST,
            E::ProtobufUnsupported | E::UnsupportedContentType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            E::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            E::NotSubscribed(_) | E::FrameworkRemoved(_) => StatusCode::FORBIDDEN,
            E::UnknownAgent(_) | E::AgentNotRegistered(_) | E::AgentNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            E::AgentGone(_) | E::MachineDown => StatusCode::FORBIDDEN,
            E::AgentUnreachable(_) | E::QuotaOvercommit { .. } | E::ResourcesUnavailable { .. } => {
                StatusCode::CONFLICT
            }
            E::UnknownCall | E::OperationFeedbackUnsupported | E::OperatorCallUnsupported(_) => {
                StatusCode::NOT_IMPLEMENTED
            }
        }
    }
}

/// Why the master could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("opening the registry: {0}")]
    OpenRegistry(#[source] drover_store::StoreError),
    #[error("recovering the registry: {0}")]
    RecoverRegistry(#[source] drover_store::StoreError),
    #[error("creating work dir {path}: {source}")]
    WorkDir {
        path: String,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

/// State shared by the HTTP handlers and the background loops.
pub struct Shared {
    pub master: Mutex<Master>,
    pub started: std::time::Instant,
    pub alloc_notify: tokio::sync::Notify,
    pub flags: serde_json::Value,
    registry: registry::Writer,
    /// Where full views are rendered (low CPU priority, no lock held).
    renderer: render::Renderer,
    /// Leading, suspended or following (always leading without `--zk`).
    standing: std::sync::RwLock<Standing>,
    /// How this master takes part in an HA cluster, if it does.
    ha: Option<Ha>,
    /// How long allocation cycles take, as the driver times them (`/metrics`).
    allocation_cycles: drover_metrics::Histogram,
}

impl Shared {
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Master> {
        // A panic while holding the lock is a bug; keep serving with the state as it was left.
        self.master.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run one decision of the core and carry out what it asks of the driver: wake the
    /// allocation loop if it wants a cycle, and write the registry ops it recorded. The writes
    /// are durable when this returns (so an answer sent after it never reports something the
    /// registry could lose), but they are made after the master's lock is released.
    pub fn decide<R>(&self, f: impl FnOnce(&mut Master) -> R) -> R {
        let (r, batch) = {
            let mut m = self.lock();
            let r = f(&mut m);
            if m.allocation_wanted {
                self.alloc_notify.notify_one();
            }
            (r, self.registry.enqueue(m.take_pending()))
        };
        if let Some(b) = batch {
            self.registry.flush(b);
        }
        r
    }

    /// `/metrics/snapshot` and GET_METRICS: the core's counters and gauges, with
    /// `master/elected` saying whether this master leads (a standby answers too).
    pub fn metrics(&self, now: f64) -> Vec<(String, f64)> {
        let mut m = self.lock().metrics(now);
        let elected = if matches!(self.standing(), Standing::Leading) {
            1.0
        } else {
            0.0
        };
        for (name, v) in m.iter_mut() {
            if name == "master/elected" {
                *v = elected;
            }
        }
        m
    }

    /// The state the full views render, taken under the lock; render it after, with `render`.
    pub fn snapshot(&self) -> snapshot::Snapshot {
        self.lock().snapshot()
    }

    /// Run `f` (the rendering of a view) on a render thread; `None` if it panicked.
    pub async fn render<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Option<R> {
        self.renderer.run(f).await
    }
}

fn ip_to_u32(ip: &str) -> u32 {
    ip.parse::<std::net::Ipv4Addr>()
        .map(|a| u32::from_le_bytes(a.octets()))
        .unwrap_or(0)
}

/// Build the master and its store; `serve` it on a listener. With `ha`, the master starts as a
/// follower and its state lives in ZooKeeper: it leads when elected.
pub fn build(cfg: MasterConfig, port: u16, ha: Option<Ha>) -> Result<Arc<Shared>, MasterError> {
    let store: Arc<dyn Store> = match &cfg.work_dir {
        _ if ha.is_some() => Arc::new(drover_store::MemoryStore::default()),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| MasterError::WorkDir {
                path: dir.display().to_string(),
                source,
            })?;
            Arc::new(
                drover_store::EmbeddedStore::open(&dir.join("registry.redb"))
                    .map_err(MasterError::OpenRegistry)?,
            )
        }
        None => Arc::new(drover_store::MemoryStore::default()),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let info = MasterInfo {
        id: id.clone(),
        ip: ip_to_u32(&cfg.advertise_ip),
        port: port as u32,
        pid: Some(format!("master@{}:{port}", cfg.advertise_ip)),
        hostname: Some(cfg.hostname.clone()),
        version: Some(drover_api::MESOS_COMPAT_VERSION.into()),
        address: Some(drover_api::Address {
            hostname: Some(cfg.hostname.clone()),
            ip: Some(cfg.advertise_ip.clone()),
            port: port as i32,
        }),
        capabilities: ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
            .into_iter()
            .map(|kind| drover_api::Capability { kind: kind.into() })
            .collect(),
    };
    let flags = serde_json::json!({
        "port": port.to_string(),
        "ip": cfg.advertise_ip,
        "hostname": cfg.hostname,
        "work_dir": cfg.work_dir.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        "allocation_interval": format!("{}secs", cfg.allocation_interval_secs),
        "agent_ping_timeout": format!("{}secs", cfg.agent_timeout_secs),
        "agent_reregister_timeout": format!("{}secs", cfg.agent_reregister_timeout_secs),
        "registry": if cfg.work_dir.is_some() || ha.is_some() { "replicated_log" } else { "in_memory" },
    });
    let mut flags = flags;
    if let Some(h) = &ha {
        flags["zk"] = serde_json::Value::String(h.sessions.url().to_string());
        flags["quorum"] = serde_json::Value::String(h.quorum.to_string());
    }
    let standing = match &ha {
        Some(_) => Standing::Following { leader: None },
        None => Standing::Leading,
    };
    let registry = registry::Registry::new(store);
    let recovered = registry.recover().map_err(MasterError::RecoverRegistry)?;
    let start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let master = Master::new(
        cfg,
        info,
        recovered,
        Box::new(crate::core::RandomIds),
        start_unix,
    );
    Ok(Arc::new(Shared {
        master: Mutex::new(master),
        started: std::time::Instant::now(),
        alloc_notify: tokio::sync::Notify::new(),
        flags,
        registry: registry::Writer::new(registry),
        renderer: render::Renderer::new(2),
        standing: std::sync::RwLock::new(standing),
        ha,
        allocation_cycles: metrics::allocation_histogram(),
    }))
}

/// Serve the master on `listener` until the future resolves; runs the allocation and
/// housekeeping loops alongside.
pub async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MasterError> {
    let loops = tokio::spawn(http::background(shared.clone()));
    let election = shared
        .ha
        .clone()
        .map(|ha| tokio::spawn(leadership::run(shared.clone(), ha)));
    let app = http::router(shared);
    // Streams (subscriptions, agent connections) carry small records one after another: without
    // TCP_NODELAY the second of two waits for the peer's delayed ACK, up to 40 ms.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
        }
    });
    // Subscription streams never end by themselves, so shutdown does not wait for them.
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    );
    let r = tokio::select! {
        r = server => r.map_err(MasterError::Serve),
        _ = shutdown => Ok(()),
    };
    loops.abort();
    if let Some(e) = election {
        e.abort();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal's text (Mesos', read by clients and tests) and status, byte for byte.
    #[test]
    fn api_errors_keep_mesos_texts_and_statuses() {
        let fid = || FrameworkID::new("f1");
        let aid = || AgentID::new("a1");
        let cause = serde_json::from_slice::<serde_json::Value>(b"{").expect_err("truncated");
        let cause_text = cause.to_string();
        use ApiError as E;
        use StatusCode as S;
        let cases: Vec<(ApiError, StatusCode, String)> = vec![
            (E::MissingContentType, S::BAD_REQUEST, "Expecting 'Content-Type' to be present".into()),
            (E::ProtobufUnsupported, S::UNSUPPORTED_MEDIA_TYPE, "Drover speaks the JSON form of the v1 API; 'application/x-protobuf' is not supported".into()),
            (E::UnsupportedContentType("text/plain".into()), S::UNSUPPORTED_MEDIA_TYPE, "Expecting 'Content-Type' of application/json or application/x-protobuf, got 'text/plain'".into()),
            (E::NotAcceptable("text/html".into()), S::NOT_ACCEPTABLE, "Expecting 'Accept' to allow application/json, got 'text/html'".into()),
            (E::UndecodableBody { what: "Call", cause }, S::BAD_REQUEST, format!("Failed to parse body into Call: {cause_text}")),
            (E::MissingField("framework_id"), S::BAD_REQUEST, "Expecting 'framework_id' to be present".into()),
            (E::UnknownFramework(fid()), S::BAD_REQUEST, "Framework f1 cannot be found".into()),
            (E::NotSubscribed(fid()), S::FORBIDDEN, "Framework f1 is not subscribed".into()),
            (E::FrameworkRemoved(fid()), S::FORBIDDEN, "Framework f1 has been removed".into()),
            (E::MissingStreamId, S::BAD_REQUEST, "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into()),
            (E::StreamIdMismatch { got: "s7".into(), framework: fid() }, S::BAD_REQUEST, "The stream ID 's7' included in this request didn't match the stream ID currently associated with framework ID f1".into()),
            (E::StreamIdOnSubscribe, S::BAD_REQUEST, "Subscribe calls should not include the 'Mesos-Stream-Id' header".into()),
            (E::WrongEndpoint, S::BAD_REQUEST, "Unexpected call type for this endpoint".into()),
            (InvalidCall::AcknowledgeUuid { len: 3 }.into(), S::BAD_REQUEST, "Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID (3 bytes)".into()),
            (InvalidCall::UpdateFrameworkId.into(), S::BAD_REQUEST, "'update_framework.framework_info.id' must equal 'framework_id'".into()),
            (InvalidFrameworkInfo::MissingName.into(), S::BAD_REQUEST, "'framework_info.name' must be set".into()),
            (InvalidFrameworkInfo::IdMismatch.into(), S::BAD_REQUEST, "'framework_id' differs from 'subscribe.framework_info.id'".into()),
            (InvalidFrameworkInfo::IdWithoutFrameworkId.into(), S::BAD_REQUEST, "'framework_id' must be set when 'subscribe.framework_info.id' is set".into()),
            (InvalidFrameworkInfo::NoRoles.into(), S::BAD_REQUEST, "MULTI_ROLE framework subscribed with no 'roles'".into()),
            (InvalidFrameworkInfo::RoleWithMultiRole.into(), S::BAD_REQUEST, "'framework_info.role' must not be set for a MULTI_ROLE framework; use 'roles'".into()),
            (E::InvalidRole("a b".into()), S::BAD_REQUEST, "Role 'a b' is invalid".into()),
            (E::NonPositiveWeight { role: "web".into() }, S::BAD_REQUEST, "Weight of role 'web' must be positive".into()),
            (E::UnknownAgentToDeactivate, S::BAD_REQUEST, "Unknown agent".into()),
            (E::AgentNotDeactivated, S::BAD_REQUEST, "Agent is not deactivated".into()),
            (E::MachineDown, S::FORBIDDEN, "Machine is `DOWN`".into()),
            (crate::core::DrainError::StillDraining.into(), S::BAD_REQUEST, "Agent is still in the DRAINING state".into()),
            (crate::core::DrainError::InSchedule { agent: aid(), machine: r#"{"hostname":"h1"}"#.into() }.into(), S::BAD_REQUEST, r#"Agent a1 is part of a maintenance schedule under Machine {"hostname":"h1"}"#.into()),
            (crate::core::MaintenanceError::EmptyWindow.into(), S::BAD_REQUEST, "List of machines in the maintenance window is empty".into()),
            (crate::core::MaintenanceError::NotDraining(r#"{"ip":"10.0.0.1"}"#.into()).into(), S::BAD_REQUEST, r#"Machine '{"ip":"10.0.0.1"}' is not in DRAINING mode and cannot be brought down"#.into()),
            (E::WeightRole { role: "a b".into(), why: InvalidRoleName::Whitespace("a b".into()) }, S::BAD_REQUEST, "Failed to validate update weights request JSON: Invalid role 'a b': Role component 'a b' is invalid because it contains backspace or whitespace".into()),
            (E::WeightNotPositive { role: "web".into(), weight: -1.0 }, S::BAD_REQUEST, "Failed to validate update weights request JSON for role 'web': Invalid weight '-1': Weights must be positive".into()),
            (drover_allocator::Error::InvalidWeight { role: "web".into(), weight: -1.0 }.into(), S::BAD_REQUEST, "role 'web': weight -1 is not a positive finite number".into()),
            (E::WeightInfoType { index: 2, field: "role", expected: "a string" }, S::BAD_REQUEST, "'weight_infos[2].role' must be a string".into()),
            (E::WeightInfoType { index: 0, field: "weight", expected: "a number" }, S::BAD_REQUEST, "'weight_infos[0].weight' must be a number".into()),
            (E::NestedQuotaUpdate("eng/web".into()), S::BAD_REQUEST, "Updating quota on nested role 'eng/web' is not supported yet".into()),
            (E::NestedQuotaSet("eng/web".into()), S::BAD_REQUEST, "Setting quota on nested role 'eng/web' is not supported yet".into()),
            (E::InvalidQuotaConfig(InvalidQuota::ConfigRole(InvalidRoleName::Empty)), S::BAD_REQUEST, "Invalid QuotaConfig: Invalid 'QuotaConfig.role': Role names cannot be the empty string".into()),
            (E::InvalidQuotaConfig(InvalidQuota::TooLarge { field: "limits", name: "mem".into(), value: "2000000000000".into(), limit: "1 exabyte (1099511627776)" }), S::BAD_REQUEST, "Invalid QuotaConfig: Invalid 'QuotaConfig.limits': {'mem': 2000000000000} is invalid: values greater than 1 exabyte (1099511627776) are not supported".into()),
            (E::InvalidQuotaConfig(InvalidQuota::Value { kind: "guarantee", name: "cpus".into(), value: "-1".into(), problem: "Negative values not supported" }), S::BAD_REQUEST, "Invalid QuotaConfig: Invalid guarantee configuration {'cpus': -1}: Negative values not supported".into()),
            (E::InvalidQuotaConfig(InvalidQuota::UnsupportedResource { kind: "limit", name: "ports".into(), value: "1".into() }), S::BAD_REQUEST, "Invalid QuotaConfig: Invalid limit configuration {'ports': 1}: quota is supported only on cpus, mem, disk and gpus".into()),
            (E::InvalidQuotaConfig(InvalidQuota::GuaranteesAboveLimits { guarantees: "{ cpus: 2 }".into(), limits: "{ cpus: 1 }".into() }), S::BAD_REQUEST, "Invalid QuotaConfig: 'QuotaConfig.guarantees' { cpus: 2 } is not contained within the 'QuotaConfig.limits' { cpus: 1 }".into()),
            (E::InvalidQuotaConfig(InvalidQuota::ConsumedAboveLimits { role: "web".into(), consumed: "cpus:2".into(), limits: "cpus:1".into() }), S::BAD_REQUEST, "Invalid QuotaConfig: Role 'web' is already consuming 'cpus:2'; this is more than the requested limits 'cpus:1' (use 'force' flag to bypass this check)".into()),
            (E::InvalidQuotaConfig(InvalidQuota::Overcommit { total: "cpus:9".into(), capacity: "cpus:4".into() }), S::BAD_REQUEST, "Invalid QuotaConfig: total quota guarantees 'cpus:9' exceed cluster capacity 'cpus:4' (use 'force' flag to bypass this check)".into()),
            (E::InvalidQuotaRequest(InvalidQuota::InfoRole(InvalidRoleName::Star("a/*".into()))), S::BAD_REQUEST, "Failed to validate set quota request: QuotaInfo with invalid role: Role 'a/*' cannot include '*' as a component".into()),
            (E::InvalidQuotaRequest(InvalidQuota::AlreadySet("web".into())), S::BAD_REQUEST, "Failed to validate set quota request: Cannot set quota for role 'web' which already has quota".into()),
            (E::QuotaRequestJson { body: "{".into(), cause: serde_json::from_slice::<serde_json::Value>(b"{").expect_err("truncated") }, S::BAD_REQUEST, format!("Failed to parse set quota request JSON '{{': {cause_text}")),
            (E::QuotaOvercommit { total: "cpus:9".into(), capacity: "cpus:4".into() }, S::CONFLICT, "Quota guarantees overcommit the cluster (use 'force' to bypass this check): Total quota guarantees 'cpus:9' exceed cluster capacity 'cpus:4'".into()),
            (E::NoQuota("web".into()), S::BAD_REQUEST, "Failed to remove quota: Role 'web' has no quota set".into()),
            (E::NoQuotaAtPath { path: "/master/quota/web".into(), role: "web".into() }, S::BAD_REQUEST, "Failed to remove quota for path '/master/quota/web': Role 'web' has no quota set".into()),
            (E::QuotaPath { path: "/master/quota".into(), found: 2 }, S::BAD_REQUEST, "Failed to parse remove quota request for path '/master/quota': expected 3 tokens, found 2 tokens".into()),
            (E::UnsupportedProtocol { got: 2, want: 1 }, S::BAD_REQUEST, "agent protocol version 2 is not supported (this master speaks 1)".into()),
            (E::UnknownAgent(aid()), S::NOT_FOUND, "Agent a1 is not registered".into()),
            (E::AgentNotRegistered(aid()), S::NOT_FOUND, "Agent a1 is not registered; re-register".into()),
            (E::AgentUnreachable(aid()), S::CONFLICT, "Agent a1 was marked unreachable; re-register".into()),
            (E::AgentNotFound(aid()), S::NOT_FOUND, "Agent 'a1' not found".into()),
            (E::AgentGone(aid()), S::FORBIDDEN, "Agent a1 has been marked gone; it may not register again".into()),
            (E::NoAgentWithId, S::BAD_REQUEST, "No agent found with specified ID".into()),
            (E::InvalidOperation { kind: drover_api::OperationType::RESERVE, agent: aid(), why: OperationInvalid::StarReservation }, S::BAD_REQUEST, "Invalid RESERVE operation on agent a1: Invalid reservation: role '*' cannot be reserved for".into()),
            (E::ResourcesUnavailable { agent: aid(), wanted: "cpus:8".into(), available: "cpus:4; mem:1024".into() }, S::CONFLICT, "The resources cpus:8 are not available on agent a1: its unallocated resources cpus:4; mem:1024 do not contain them".into()),
            (E::MissingFormField("slaveId"), S::BAD_REQUEST, "Missing 'slaveId' query parameter in the request body".into()),
            (E::FormFieldJson { field: "resources", cause: serde_json::from_slice::<serde_json::Value>(b"{").expect_err("truncated") }, S::BAD_REQUEST, format!("Error in parsing 'resources' query parameter in the request body: {cause_text}")),
            (E::UnknownCall, S::NOT_IMPLEMENTED, "Received 'UNKNOWN' call".into()),
            (E::OperationFeedbackUnsupported, S::NOT_IMPLEMENTED, "Operation feedback (reservations and volumes) is not supported yet".into()),
            (E::OperatorCallUnsupported(drover_api::operator::CallType::GET_WEIGHTS), S::NOT_IMPLEMENTED, "Operator call GET_WEIGHTS is not supported yet".into()),
        ];
        for (err, status, text) in cases {
            assert_eq!(err.to_string(), text, "{err:?}");
            assert_eq!(err.status(), status, "{text}");
        }
    }
}
