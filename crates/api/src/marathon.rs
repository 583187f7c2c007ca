//! Marathon REST v2 wire types: the app definition as clients send it and as Marathon answers
//! it, tasks, deployments, queue entries and events. Field names are Marathon's (camelCase).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    #[serde(default)]
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

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    pub uri: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub executable: bool,
    #[serde(default = "default_true")]
    pub extract: bool,
    #[serde(default, skip_serializing_if = "is_false")]
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default = "default_hc_protocol")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Value>,
    #[serde(default = "default_grace")]
    pub grace_period_seconds: f64,
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    #[serde(default = "default_failures")]
    pub max_consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_http1xx: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
}

fn default_hc_protocol() -> String {
    "HTTP".into()
}
fn default_grace() -> f64 {
    300.0
}
fn default_interval() -> f64 {
    60.0
}
fn default_timeout() -> f64 {
    20.0
}
fn default_failures() -> u32 {
    3
}

/// An app definition. Unknown fields are kept in `extra` so nothing a client sent is lost.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct App {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, Value>,
    #[serde(default = "default_instances")]
    pub instances: i64,
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    #[serde(default = "default_mem")]
    pub mem: f64,
    #[serde(default)]
    pub disk: f64,
    #[serde(default)]
    pub gpus: f64,
    #[serde(default = "default_executor")]
    pub executor: String,
    #[serde(default)]
    pub constraints: Vec<Vec<Value>>,
    #[serde(default)]
    pub uris: Vec<String>,
    #[serde(default)]
    pub fetch: Vec<FetchUri>,
    #[serde(default)]
    pub store_urls: Vec<String>,
    #[serde(default)]
    pub backoff_seconds: f64,
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    #[serde(default = "default_max_launch_delay")]
    pub max_launch_delay_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    pub readiness_checks: Vec<Value>,
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub accepted_resource_roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub port_definitions: Option<Vec<PortDefinition>>,
    /// Legacy: a list of port numbers (0 = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<u32>>,
    #[serde(default)]
    pub require_ports: bool,
    #[serde(default = "default_kill_selection")]
    pub kill_selection: String,
    #[serde(default = "default_kill_grace")]
    pub task_kill_grace_period_seconds: Option<f64>,
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
fn default_backoff_factor() -> f64 {
    1.15
}
fn default_max_launch_delay() -> f64 {
    300.0
}
fn default_kill_selection() -> String {
    "YOUNGEST_FIRST".into()
}
fn default_kill_grace() -> Option<f64> {
    None
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
