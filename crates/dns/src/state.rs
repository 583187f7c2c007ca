//! The cluster as DNS needs to know it, kept from the master's operator event stream: tasks
//! (with their latest RUNNING status and latest health), agents, frameworks, and the masters.
//! Pure: events in, state changed; the views read only the fields mesos-dns reads, each
//! optional, so a Mesos master's events read as well as Drover's.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Id {
    pub value: String,
}

/// A port range; bounds as JSON numbers or (proto3 64-bit) strings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Range(pub u64, pub u64);

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = |k: &str| match &v[k] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        match (n("begin"), n("end")) {
            (Some(b), Some(e)) => Ok(Range(b, e)),
            _ => Err(serde::de::Error::custom("a range needs begin and end")),
        }
    }
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Ranges {
    pub range: Vec<Range>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Resource {
    pub name: String,
    pub ranges: Option<Ranges>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct IpAddress {
    pub ip_address: Option<String>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct NetworkInfo {
    pub ip_addresses: Vec<IpAddress>,
    /// Mesos 0.25's single address.
    pub ip_address: Option<String>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct ContainerStatus {
    pub network_infos: Vec<NetworkInfo>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Label {
    pub key: String,
    pub value: Option<String>,
}

/// Labels as v1 JSON nests them (`{"labels": [...]}`) or as `/master/state` lists them.
#[derive(Default, Clone, Debug, PartialEq)]
pub(crate) struct Labels(pub Vec<Label>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let list = match v {
            Value::Array(_) => v,
            Value::Object(mut o) => o.remove("labels").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Ok(Labels(serde_json::from_value(list).unwrap_or_default()))
    }
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Status {
    pub state: String,
    pub timestamp: f64,
    pub healthy: Option<bool>,
    pub labels: Labels,
    pub container_status: ContainerStatus,
    pub agent_id: Option<Id>,
    pub task_id: Id,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct DiscoveryPort {
    pub number: u32,
    pub name: String,
    pub protocol: String,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct DiscoveryPorts {
    pub ports: Vec<DiscoveryPort>,
}

#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct Discovery {
    pub name: String,
    pub ports: DiscoveryPorts,
}

/// A v1 `Task`, the fields DNS reads.
#[derive(Deserialize, Default, Clone, Debug, PartialEq)]
#[serde(default)]
pub(crate) struct TaskView {
    pub name: String,
    pub task_id: Id,
    pub framework_id: Id,
    pub agent_id: Id,
    pub state: String,
    pub resources: Vec<Resource>,
    pub statuses: Vec<Status>,
    pub discovery: Option<Discovery>,
}

/// The most ports a task's records are made of: the first given, in the order of its `ports`
/// resources and ranges. Each port gives up to four SRV records, so a task offered the whole
/// port space (`1-65535`) would otherwise add a quarter of a million records and stall every
/// build. mesos-dns has no such cap; no real task needs more.
pub(crate) const MAX_TASK_PORTS: usize = 1024;

/// A task as kept: what names it needs, its latest RUNNING status, its latest health.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) framework_id: String,
    pub(crate) agent_id: String,
    pub(crate) state: String,
    pub(crate) ports: Vec<u16>,
    pub(crate) discovery: Option<Discovery>,
    /// The RUNNING status with the latest timestamp (where task IPs come from).
    pub(crate) running: Option<Status>,
    /// `healthy` of the latest status (by arrival, then timestamp).
    pub(crate) healthy: Option<bool>,
    /// Changes whenever the task does (what its records are cached by).
    pub(crate) version: u64,
}

impl Task {
    fn from_view(v: TaskView) -> Task {
        let ports: Vec<u16> = v
            .resources
            .iter()
            .filter(|r| r.name == "ports")
            .flat_map(|r| r.ranges.iter().flat_map(|r| r.range.iter().copied()))
            .flat_map(|Range(b, e)| b..=e.min(u64::from(u16::MAX)))
            .filter_map(|p| u16::try_from(p).ok())
            .take(MAX_TASK_PORTS)
            .collect();
        let mut t = Task {
            id: v.task_id.value,
            name: v.name,
            framework_id: v.framework_id.value,
            agent_id: v.agent_id.value,
            state: v.state,
            ports,
            discovery: v.discovery.filter(|d| !d.name.is_empty()),
            running: None,
            healthy: None,
            version: 0,
        };
        let mut latest: Option<f64> = None;
        for s in v.statuses {
            if latest.is_none_or(|ts| s.timestamp >= ts) {
                latest = Some(s.timestamp);
                t.healthy = s.healthy;
            }
            t.observe_running(s);
        }
        t
    }

    fn observe_running(&mut self, s: Status) {
        if s.state == "TASK_RUNNING"
            && self
                .running
                .as_ref()
                .is_none_or(|r| s.timestamp >= r.timestamp)
        {
            self.running = Some(s);
        }
    }
}

/// An agent: the host its PID names (else its hostname).
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
}

/// A framework: its name and the host its scheduler runs on, when known.
#[derive(Clone, Debug, PartialEq)]
pub struct Framework {
    pub(crate) name: String,
    pub(crate) host: Option<String>,
}

/// What DNS knows of the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterState {
    /// By (framework id, task id).
    pub(crate) tasks: BTreeMap<(String, String), Task>,
    pub(crate) agents: HashMap<String, Agent>,
    pub(crate) frameworks: BTreeMap<String, Framework>,
    /// The leading master's `host:port`.
    pub(crate) leader: Option<String>,
    /// Every master's `host:port`, in a stable order (masterN follows it).
    pub(crate) masters: Vec<String>,
    /// The last task version given out.
    versions: u64,
}

/// Terminal task states: the task is forgotten.
const TERMINAL: [&str; 8] = [
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// What an event did to the state.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Applied {
    /// The records may have changed.
    Changed,
    /// Nothing DNS shows changed (a heartbeat, an unknown task's update).
    Unchanged,
    /// The event is not one of the operator API's (or is malformed).
    Ignored,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AgentInfo {
    hostname: String,
    port: Option<i64>,
    id: Option<Id>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AgentEntry {
    agent_info: AgentInfo,
    pid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FrameworkInfo {
    name: String,
    id: Option<Id>,
    hostname: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FrameworkEntry {
    framework_info: FrameworkInfo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GetState {
    get_tasks: GetTasks,
    get_frameworks: GetFrameworks,
    get_agents: GetAgents,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GetTasks {
    tasks: Vec<TaskView>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GetFrameworks {
    frameworks: Vec<FrameworkEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GetAgents {
    agents: Vec<AgentEntry>,
}

/// `slave(1)@10.0.0.1:5051` → (`10.0.0.1`, 5051).
fn pid_host(pid: &str) -> Option<(String, Option<u16>)> {
    let addr = pid.split_once('@')?.1;
    match addr.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok())),
        None => Some((addr.to_string(), None)),
    }
}

fn agent_of(e: AgentEntry) -> Option<(String, Agent)> {
    let id = e.agent_info.id?.value;
    let (host, port) = e
        .pid
        .as_deref()
        .and_then(pid_host)
        .unwrap_or((e.agent_info.hostname, None));
    let port = port.or_else(|| e.agent_info.port.and_then(|p| u16::try_from(p).ok()));
    Some((id, Agent { host, port }))
}

fn framework_of(f: FrameworkInfo) -> Option<(String, Framework)> {
    let id = f.id?.value;
    Some((
        id,
        Framework {
            name: f.name,
            host: f.hostname.filter(|h| !h.is_empty()),
        },
    ))
}

impl ClusterState {
    /// Apply one operator API event (`{"type": …, "<type lowercased>": {…}}`).
    pub fn apply(&mut self, event: &Value) -> Applied {
        let Some(kind) = event.get("type").and_then(Value::as_str) else {
            return Applied::Ignored;
        };
        let body = event
            .get(kind.to_ascii_lowercase())
            .cloned()
            .unwrap_or(Value::Null);
        match kind {
            "SUBSCRIBED" => {
                let Ok(s) = serde_json::from_value::<GetState>(
                    body.get("get_state").cloned().unwrap_or(Value::Null),
                ) else {
                    return Applied::Ignored;
                };
                self.tasks.clear();
                self.agents = s
                    .get_agents
                    .agents
                    .into_iter()
                    .filter_map(agent_of)
                    .collect();
                self.frameworks = s
                    .get_frameworks
                    .frameworks
                    .into_iter()
                    .filter_map(|f| framework_of(f.framework_info))
                    .collect();
                for v in s.get_tasks.tasks {
                    self.add_task(v);
                }
                Applied::Changed
            }
            "TASK_ADDED" => match serde_json::from_value::<TaskView>(body["task"].clone()) {
                Ok(v) => {
                    self.add_task(v);
                    Applied::Changed
                }
                Err(_) => Applied::Ignored,
            },
            "TASK_UPDATED" => {
                let Ok(status) = serde_json::from_value::<Status>(body["status"].clone()) else {
                    return Applied::Ignored;
                };
                let fid = body["framework_id"]["value"].as_str().unwrap_or_default();
                let state = body["state"].as_str().unwrap_or(&status.state).to_string();
                let key = (fid.to_string(), status.task_id.value.clone());
                if TERMINAL.contains(&state.as_str()) {
                    return match self.tasks.remove(&key) {
                        Some(_) => Applied::Changed,
                        None => Applied::Unchanged,
                    };
                }
                let Some(t) = self.tasks.get_mut(&key) else {
                    return Applied::Unchanged;
                };
                self.versions += 1;
                t.version = self.versions;
                t.state = state;
                if status.healthy.is_some() {
                    t.healthy = status.healthy;
                }
                if let Some(a) = &status.agent_id {
                    if !a.value.is_empty() {
                        t.agent_id = a.value.clone();
                    }
                }
                t.observe_running(status);
                Applied::Changed
            }
            "AGENT_ADDED" => match serde_json::from_value::<AgentEntry>(body["agent"].clone())
                .ok()
                .and_then(agent_of)
            {
                Some((id, a)) => {
                    self.agents.insert(id, a);
                    Applied::Changed
                }
                None => Applied::Ignored,
            },
            "AGENT_REMOVED" => match body["agent_id"]["value"].as_str() {
                Some(id) => {
                    self.agents.remove(id);
                    Applied::Changed
                }
                None => Applied::Ignored,
            },
            "FRAMEWORK_ADDED" | "FRAMEWORK_UPDATED" => {
                match serde_json::from_value::<FrameworkEntry>(body["framework"].clone())
                    .ok()
                    .and_then(|f| framework_of(f.framework_info))
                {
                    Some((id, f)) => {
                        self.frameworks.insert(id, f);
                        Applied::Changed
                    }
                    None => Applied::Ignored,
                }
            }
            "FRAMEWORK_REMOVED" => {
                match serde_json::from_value::<FrameworkInfo>(body["framework_info"].clone())
                    .ok()
                    .and_then(|f| f.id)
                {
                    Some(id) => {
                        self.frameworks.remove(&id.value);
                        self.tasks.retain(|(f, _), _| *f != id.value);
                        Applied::Changed
                    }
                    None => Applied::Ignored,
                }
            }
            "HEARTBEAT" => Applied::Unchanged,
            _ => Applied::Ignored,
        }
    }

    fn add_task(&mut self, v: TaskView) {
        if TERMINAL.contains(&v.state.as_str()) {
            return;
        }
        let mut t = Task::from_view(v);
        self.versions += 1;
        t.version = self.versions;
        self.tasks.insert((t.framework_id.clone(), t.id.clone()), t);
    }

    /// The masters: the leader (`host:port`) and all of them (stable order).
    pub fn set_masters(&mut self, leader: Option<String>, masters: Vec<String>) -> Applied {
        if self.leader == leader && self.masters == masters {
            return Applied::Unchanged;
        }
        self.leader = leader;
        self.masters = masters;
        Applied::Changed
    }

    /// How many tasks are known (any state).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::*;
    use serde_json::json;

    fn cluster() -> ClusterState {
        let mut s = ClusterState::default();
        let t = with_ports(task("web.1", "web", "f1", "a1-S1"), &[(31000, 31001)]);
        let ev = subscribed(
            vec![t],
            vec![framework("f1", "marathon")],
            vec![agent("a1-S1", "10.0.0.1")],
        );
        assert_eq!(s.apply(&ev), Applied::Changed);
        s
    }

    #[test]
    fn subscribed_loads_tasks_agents_and_frameworks() {
        let s = cluster();
        let t = &s.tasks[&("f1".to_string(), "web.1".to_string())];
        assert_eq!(t.ports, vec![31000, 31001]);
        assert_eq!(t.state, "TASK_RUNNING");
        assert!(t.running.is_some());
        assert_eq!(s.agents["a1-S1"].host, "10.0.0.1");
        assert_eq!(s.agents["a1-S1"].port, Some(5051));
        assert_eq!(s.frameworks["f1"].name, "marathon");
    }

    #[test]
    fn updates_move_tasks_and_terminal_states_forget_them() {
        let mut s = cluster();
        assert_eq!(
            s.apply(&task_updated("f1", "web.1", "TASK_RUNNING", Some(false))),
            Applied::Changed
        );
        let key = ("f1".to_string(), "web.1".to_string());
        assert_eq!(s.tasks[&key].healthy, Some(false));
        // A status without health keeps the last one known.
        s.apply(&task_updated("f1", "web.1", "TASK_RUNNING", None));
        assert_eq!(s.tasks[&key].healthy, Some(false));
        assert_eq!(
            s.apply(&task_updated("f1", "web.1", "TASK_KILLING", None)),
            Applied::Changed
        );
        assert_eq!(s.tasks[&key].state, "TASK_KILLING");
        assert_eq!(
            s.apply(&task_updated("f1", "web.1", "TASK_KILLED", None)),
            Applied::Changed
        );
        assert!(s.tasks.is_empty());
        assert_eq!(
            s.apply(&task_updated("f1", "nope", "TASK_RUNNING", None)),
            Applied::Unchanged
        );
    }

    #[test]
    fn added_and_removed_agents_frameworks_and_tasks() {
        let mut s = cluster();
        let added = json!({"type": "TASK_ADDED", "task_added": {"task": task("db.1", "db", "f1", "a1-S1")}});
        assert_eq!(s.apply(&added), Applied::Changed);
        assert_eq!(s.task_count(), 2);
        let a =
            json!({"type": "AGENT_ADDED", "agent_added": {"agent": agent("a2-S2", "10.0.0.2")}});
        assert_eq!(s.apply(&a), Applied::Changed);
        assert_eq!(s.agents.len(), 2);
        let r = json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "a2-S2"}}});
        assert_eq!(s.apply(&r), Applied::Changed);
        assert_eq!(s.agents.len(), 1);
        let fr = json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {"name": "marathon", "id": {"value": "f1"}}}});
        assert_eq!(s.apply(&fr), Applied::Changed);
        assert!(s.tasks.is_empty() && s.frameworks.is_empty());
        assert_eq!(s.apply(&json!({"type": "HEARTBEAT"})), Applied::Unchanged);
        assert_eq!(s.apply(&json!({"type": "SOMETHING_NEW"})), Applied::Ignored);
        assert_eq!(s.apply(&json!([1, 2])), Applied::Ignored);
        assert_eq!(
            s.apply(&json!({"type": "TASK_ADDED", "task_added": 5})),
            Applied::Ignored
        );
    }

    #[test]
    fn ranges_as_strings_and_huge_ranges_are_bounded() {
        let mut t = task("x.1", "x", "f1", "a1-S1");
        t["resources"] = json!([{"name": "ports", "ranges": {"range": [{"begin": "65530", "end": "99999999999"}]}}]);
        let mut s = ClusterState::default();
        s.apply(&subscribed(vec![t], vec![], vec![]));
        let t = s.tasks.values().next().unwrap();
        assert_eq!(t.ports, vec![65530, 65531, 65532, 65533, 65534, 65535]);
    }

    #[test]
    fn a_task_takes_at_most_max_task_ports_ports_the_first_given() {
        let t = with_ports(
            task("x.1", "x", "f1", "a1-S1"),
            &[(31000, 31001), (1, 65535), (40000, 40000)],
        );
        let mut s = ClusterState::default();
        s.apply(&subscribed(vec![t], vec![], vec![]));
        let t = s.tasks.values().next().unwrap();
        assert_eq!(t.ports.len(), MAX_TASK_PORTS);
        assert_eq!(&t.ports[..3], &[31000, 31001, 1]);
        assert_eq!(t.ports.last(), Some(&(MAX_TASK_PORTS as u16 - 2)));
    }
}
