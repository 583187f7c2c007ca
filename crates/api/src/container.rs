//! Mesos' `ContainerInfo` (`mesos.proto`, v1 JSON mapping) as a typed value: Marathon builds
//! it for the tasks it launches, the agent reads it to run a `DOCKER` task. Every message keeps
//! the fields it does not name in `extra`, and every field is optional on the way in and left
//! out on the way out when unset, so a container info read and written again is what was
//! given. `TaskInfo.container` itself stays the JSON the framework sent (the master and agent
//! views show it as given); [`TaskInfo::container_info`](crate::TaskInfo::container_info) reads
//! it as this type.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields a message has that these types do not name (`mesos`, `linux_info`, `tty_info`, …).
pub type Extra = Map<String, Value>;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerType {
    DOCKER,
    MESOS,
}

impl ContainerType {
    /// The `type` of a container info as JSON, without reading the rest (a container info whose
    /// other fields do not parse still has a type).
    pub fn of(container: &Value) -> Option<ContainerType> {
        match container.get("type")?.as_str()? {
            "DOCKER" => Some(ContainerType::DOCKER),
            "MESOS" => Some(ContainerType::MESOS),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ContainerInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ContainerType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_infos: Option<Vec<NetworkInfo>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DockerInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// HOST (the default), BRIDGE, USER or NONE, as given (the agent accepts any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Vec<Parameter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PortMapping {
    pub host_port: u64,
    pub container_port: u64,
    /// `tcp` (the default), `udp`, `sctp`, or several joined by commas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `docker run` option, by its long name without dashes (`label`, `env`, …).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Parameter {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Volume {
    /// Relative paths are relative to the sandbox (the container's work dir).
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// RW or RO, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// An image or other source (not a host path): kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NetworkInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl From<ContainerInfo> for Value {
    fn from(c: ContainerInfo) -> Value {
        // Maps with string keys and values that are JSON already: this cannot fail.
        serde_json::to_value(c).unwrap_or(Value::Null)
    }
}

impl crate::TaskInfo {
    /// The task's container info as the typed value (None: the task has none).
    pub fn container_info(&self) -> Result<Option<ContainerInfo>, serde_json::Error> {
        self.container
            .as_ref()
            .map(|c| serde_json::from_value(c.clone()))
            .transpose()
    }

    /// The task's container type, whatever else its container info holds.
    pub fn container_type(&self) -> Option<ContainerType> {
        self.container.as_ref().and_then(ContainerType::of)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_a_framework_sends_is_read_and_written_as_given() {
        let given = json!({
            "type": "DOCKER",
            "docker": {"image": "nginx:1", "network": "BRIDGE",
                "port_mappings": [{"host_port": 31000, "container_port": 80, "protocol": "tcp", "name": "http"}],
                "privileged": false, "parameters": [{"key": "label", "value": "a=b"}],
                "force_pull_image": true, "volume_driver": "local"},
            "volumes": [{"container_path": "/data", "host_path": "/srv", "mode": "RO"},
                        {"container_path": "img", "mode": "RW", "image": {"type": "DOCKER", "docker": {"name": "x"}}}],
            "hostname": "web-1",
            "network_infos": [{"name": "overlay", "labels": {"labels": [{"key": "k"}]}}],
            "linux_info": {"share_pid_namespace": true},
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "y"}}},
        });
        let c: ContainerInfo = serde_json::from_value(given.clone()).unwrap();
        assert_eq!(c.kind, Some(ContainerType::DOCKER));
        let d = c.docker.as_ref().unwrap();
        assert_eq!(d.image.as_deref(), Some("nginx:1"));
        assert_eq!(d.port_mappings.as_ref().unwrap()[0].host_port, 31000);
        assert_eq!(d.parameters.as_ref().unwrap()[0].key, "label");
        assert_eq!(
            c.volumes.as_ref().unwrap()[0].host_path.as_deref(),
            Some("/srv")
        );
        assert_eq!(
            c.network_infos.as_ref().unwrap()[0].name.as_deref(),
            Some("overlay")
        );
        assert!(c.extra.contains_key("linux_info") && c.extra.contains_key("mesos"));
        assert_eq!(
            Value::from(c),
            given,
            "unknown fields and their places are kept"
        );

        let bare = json!({"type": "MESOS"});
        let c: ContainerInfo = serde_json::from_value(bare.clone()).unwrap();
        assert_eq!(Value::from(c), bare, "nothing is added");
    }

    #[test]
    fn the_type_is_read_even_when_the_rest_is_not() {
        let odd = json!({"type": "DOCKER", "docker": {"image": 3}});
        assert_eq!(ContainerType::of(&odd), Some(ContainerType::DOCKER));
        assert!(serde_json::from_value::<ContainerInfo>(odd).is_err());
        assert_eq!(
            ContainerType::of(&json!({"type": "MESOS"})),
            Some(ContainerType::MESOS)
        );
        assert_eq!(ContainerType::of(&json!({"docker": {}})), None);
        assert_eq!(ContainerType::of(&json!({"type": 1})), None);
    }
}
