//! Marathon REST v2 wire types: the app definition as clients send it and as Marathon answers
//! it, tasks, deployments, queue entries and events. Field names are Marathon's (camelCase).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

fn none_or_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().map(|v| v.is_empty()).unwrap_or(true)
}

/// Marathon's integer fields (RAML `integer`): written as integers, read from an integer or
/// from a number with no fraction (`300.0`, as older clients and Drover's own earlier
/// records wrote them); a fraction is refused, naming the value.
pub mod int {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use std::fmt;

    struct Int;

    impl Visitor<'_> for Int {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<i64, E> {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Ok(v as i64)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    /// `v` as a `T`, or the error of a value out of its range.
    fn fit<T: TryFrom<i64>, E: Error>(v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &"an integer in range"))
    }

    /// An integer of any width that fits.
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64>,
    {
        fit(d.deserialize_any(Int)?)
    }

    /// An optional integer (`null` is none).
    pub mod option {
        use serde::de::{Deserialize, Deserializer};

        pub fn deserialize<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
        where
            D: Deserializer<'de>,
            T: TryFrom<i64>,
        {
            #[derive(serde::Deserialize)]
            struct Int(#[serde(deserialize_with = "super::deserialize")] i64);
            Option::<Int>::deserialize(d)?
                .map(|Int(v)| super::fit(v))
                .transpose()
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// The service port (0 in a request: Marathon assigns one).
    #[serde(default, deserialize_with = "int::deserialize")]
    pub port: u32,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn default_protocol() -> String {
    "tcp".into()
}

impl PortDefinition {
    /// Port 0 (any), tcp, no name, no labels.
    pub fn default_tcp() -> Self {
        PortDefinition {
            port: 0,
            protocol: default_protocol(),
            name: None,
            labels: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    pub uri: String,
    #[serde(default)]
    pub executable: bool,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

fn default_true() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default = "one")]
    pub minimum_health_capacity: f64,
    #[serde(default = "one")]
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// A Marathon health check (`AppHealthCheck`): every integer field is an integer, every field
/// Marathon always renders is always written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default = "default_hc_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "int::option::deserialize"
    )]
    pub port_index: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "int::option::deserialize"
    )]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
    #[serde(default = "default_grace", deserialize_with = "int::deserialize")]
    pub grace_period_seconds: u32,
    #[serde(default = "default_interval", deserialize_with = "int::deserialize")]
    pub interval_seconds: u32,
    #[serde(default = "default_timeout", deserialize_with = "int::deserialize")]
    pub timeout_seconds: u32,
    #[serde(default = "default_failures", deserialize_with = "int::deserialize")]
    pub max_consecutive_failures: u32,
    /// HTTP and HTTPS checks only (written there, `false` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_http1xx: Option<bool>,
    /// The delay before the first check of a check the agent runs (`MESOS_*`, `COMMAND`).
    #[serde(default = "default_delay", deserialize_with = "int::deserialize")]
    pub delay_seconds: u32,
    #[serde(default = "default_ip_protocol")]
    pub ip_protocol: String,
}

fn default_hc_protocol() -> String {
    "HTTP".into()
}
fn default_grace() -> u32 {
    300
}
fn default_interval() -> u32 {
    60
}
fn default_timeout() -> u32 {
    20
}
fn default_delay() -> u32 {
    15
}
fn default_ip_protocol() -> String {
    "IPv4".into()
}
fn default_failures() -> u32 {
    3
}

/// An app definition, read as clients send it and written as Marathon renders it (Marathon
/// 1.5+: integer fields as integers; defaults always written; `args`, `env`, `constraints`,
/// `fetch`, `healthChecks`, `readinessChecks`, `dependencies` left out when empty; the legacy
/// `uris` and `storeUrls` read, never written). `ports` is written as the app's service ports.
/// Unknown fields are kept in `extra` so nothing a client sent is lost. The normalisation
/// Marathon applies on the way in (defaults for ports, networks, strategies) is
/// `drover_marathon::validate`'s.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct App {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Value>,
    #[serde(default = "default_instances", deserialize_with = "int::deserialize")]
    pub instances: i64,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    #[serde(default = "default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default, deserialize_with = "int::deserialize")]
    pub gpus: u32,
    #[serde(default = "default_executor")]
    pub executor: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Vec<Value>>,
    /// Legacy: read, turned into `fetch` by validation, never written.
    #[serde(default, skip_serializing)]
    pub uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fetch: Vec<FetchUri>,
    /// Legacy: read and dropped (Marathon 1.5+ neither keeps nor writes it).
    #[serde(default, skip_serializing)]
    pub store_urls: Vec<String>,
    #[serde(default = "default_backoff", deserialize_with = "int::deserialize")]
    pub backoff_seconds: u32,
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    #[serde(
        default = "default_max_launch_delay",
        deserialize_with = "int::deserialize"
    )]
    pub max_launch_delay_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readiness_checks: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub accepted_resource_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Host networking: the ports, each with its service port (written even when empty);
    /// none for container networks (their ports are the container's port mappings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    /// Legacy on the way in (a list of service ports, 0 = any: validation turns it into
    /// `portDefinitions`); on the way out, the app's service ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u32>>,
    #[serde(default)]
    pub require_ports: bool,
    #[serde(default = "default_kill_selection")]
    pub kill_selection: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "int::option::deserialize"
    )]
    pub task_kill_grace_period_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_strategy: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_instances() -> i64 {
    1
}
fn default_cpus() -> f64 {
    1.0
}
fn default_mem() -> f64 {
    128.0
}
fn default_executor() -> String {
    String::new()
}
fn default_backoff() -> u32 {
    1
}
fn default_backoff_factor() -> f64 {
    1.15
}
fn default_max_launch_delay() -> u32 {
    300
}
fn default_kill_selection() -> String {
    "YOUNGEST_FIRST".into()
}

impl App {
    /// `DOCKER` when the app runs a Docker image.
    pub fn is_docker(&self) -> bool {
        self.container
            .as_ref()
            .map(|c| {
                c.get("type").and_then(|t| t.as_str()) == Some("DOCKER")
                    || c.get("docker").and_then(|d| d.get("image")).is_some()
            })
            .unwrap_or(false)
    }

    /// The Docker network mode: HOST, BRIDGE or USER, from `networks` (Marathon 1.5+) or the
    /// legacy `container.docker.network`.
    pub fn docker_network(&self) -> String {
        if let Some(mode) = self
            .networks
            .as_ref()
            .and_then(|n| n.get(0))
            .and_then(|n| n.get("mode"))
            .and_then(|m| m.as_str())
        {
            return match mode {
                "container/bridge" => "BRIDGE",
                "container" => "USER",
                _ => "HOST",
            }
            .into();
        }
        self.container
            .as_ref()
            .and_then(|c| c.get("docker"))
            .and_then(|d| d.get("network"))
            .and_then(|n| n.as_str())
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_else(|| "HOST".into())
    }

    /// Port mappings of a bridge/user-network container (`container.portMappings`, or the legacy
    /// `container.docker.portMappings`).
    pub fn port_mappings(&self) -> Vec<Value> {
        let c = match &self.container {
            Some(c) => c,
            None => return vec![],
        };
        c.get("portMappings")
            .or_else(|| c.get("docker").and_then(|d| d.get("portMappings")))
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default()
    }

    /// The ports an instance gets from its offer, in order: the container's port mappings for a
    /// bridge/user network (hostPort 0 = any), else the port definitions.
    pub fn host_ports(&self) -> Vec<PortDefinition> {
        if self.is_docker() && self.docker_network() != "HOST" {
            return self
                .port_mappings()
                .iter()
                .map(|m| PortDefinition {
                    port: m.get("hostPort").and_then(|p| p.as_u64()).unwrap_or(0) as u32,
                    protocol: m
                        .get("protocol")
                        .and_then(|p| p.as_str())
                        .unwrap_or("tcp")
                        .to_string(),
                    name: m.get("name").and_then(|n| n.as_str()).map(String::from),
                    labels: BTreeMap::new(),
                })
                .collect();
        }
        self.port_defs()
    }

    /// The effective port definitions: `portDefinitions`, else legacy `ports`, else one port 0
    /// (Marathon's default for apps without a container).
    pub fn port_defs(&self) -> Vec<PortDefinition> {
        if let Some(p) = &self.port_definitions {
            return p.clone();
        }
        if let Some(p) = &self.ports {
            return p
                .iter()
                .map(|&port| PortDefinition {
                    port,
                    protocol: "tcp".into(),
                    name: None,
                    labels: BTreeMap::new(),
                })
                .collect();
        }
        vec![PortDefinition {
            port: 0,
            protocol: "tcp".into(),
            name: None,
            labels: BTreeMap::new(),
        }]
    }

    /// Whether the app's ports are its container's port mappings (a Docker container on a
    /// bridge or user network) rather than its port definitions.
    pub fn uses_port_mappings(&self) -> bool {
        self.is_docker() && self.docker_network() != "HOST"
    }

    /// The app's service ports, in order (0 where none is assigned yet): the port
    /// definitions' ports, or the port mappings' `servicePort`s.
    pub fn service_ports(&self) -> Vec<u32> {
        if self.uses_port_mappings() {
            return self
                .port_mappings()
                .iter()
                .map(|m| m.get("servicePort").and_then(|p| p.as_u64()).unwrap_or(0) as u32)
                .collect();
        }
        // As `port_defs`, without copying the definitions (this is read for every task shown).
        match (&self.port_definitions, &self.ports) {
            (Some(defs), _) => defs.iter().map(|d| d.port).collect(),
            (None, Some(ports)) => ports.clone(),
            (None, None) => vec![0],
        }
    }

    /// Write service ports back where [`App::service_ports`] reads them, and into `ports`.
    pub fn set_service_ports(&mut self, ports: &[u32]) {
        if self.uses_port_mappings() {
            if let Some(c) = self.container.as_mut() {
                let at_top = c.get("portMappings").is_some();
                let mappings = if at_top {
                    c.get_mut("portMappings")
                } else {
                    c.get_mut("docker").and_then(|d| d.get_mut("portMappings"))
                };
                if let Some(serde_json::Value::Array(ms)) = mappings {
                    for (m, p) in ms.iter_mut().zip(ports) {
                        if let Some(o) = m.as_object_mut() {
                            o.insert("servicePort".into(), (*p).into());
                        }
                    }
                }
            }
        } else {
            let mut defs = self.port_defs();
            for (d, p) in defs.iter_mut().zip(ports) {
                d.port = *p;
            }
            self.port_definitions = Some(defs);
        }
        self.ports = Some(ports.to_vec());
    }
}

/// One entry of Marathon's 422 body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ValidationDetail {
    pub path: String,
    pub errors: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ValidationError {
    pub message: String,
    pub details: Vec<ValidationDetail>,
}
