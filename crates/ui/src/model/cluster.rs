//! The master's side of the cluster as the UI shows it, kept from the operator event stream:
//! agents (with what their tasks use), frameworks, active tasks, and the most recent finished
//! ones (bounded). `apply` returns what changed, so the live layer tells the open tabs only
//! that.

use super::resources::{ports, Res};
use drover_api::maintenance::DrainState;
use drover_api::operator::{AgentEntry, FrameworkEntry, GetState, Task as WireTask};
use drover_api::{TaskState, TaskStatus};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How many finished tasks are kept to show.
pub const COMPLETED_KEPT: usize = 1000;

#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub id: String,
    pub hostname: String,
    pub port: i32,
    pub active: bool,
    /// Offered nothing (`drover node deactivate`, or while drained).
    pub deactivated: bool,
    /// `Draining` or `Drained` when the agent is drained (`DRAIN_AGENT`). As the agent was
    /// last added: the master sends no event when this changes (the Resources page reads it
    /// live).
    pub drain: Option<&'static str>,
    pub total: Res,
    pub used: Res,
    pub attributes: Vec<(String, String)>,
    pub tasks: usize,
    /// When it registered, seconds since the epoch.
    pub registered: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Framework {
    pub id: String,
    pub name: String,
    pub role: String,
    pub active: bool,
    pub connected: bool,
    pub webui_url: Option<String>,
    pub hostname: Option<String>,
    pub used: Res,
    pub tasks: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Task {
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub agent_id: String,
    pub executor_id: Option<String>,
    pub state: TaskState,
    pub res: Res,
    pub ports: Vec<u64>,
    pub healthy: Option<bool>,
    /// The latest status' message and reason, as the master reported them.
    pub message: Option<String>,
    pub reason: Option<String>,
    /// When the task last changed, seconds since the epoch.
    pub updated: f64,
    /// The container's image, for Docker tasks.
    pub image: Option<String>,
}

/// What an event changed.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A new state altogether (SUBSCRIBED).
    Reset,
    Task(String),
    Agent(String),
    AgentGone(String),
    Framework(String),
    FrameworkGone(String),
}

/// Counts since the start, for the failure rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ended {
    pub failed: u64,
    pub terminal: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    pub agents: BTreeMap<String, Agent>,
    pub frameworks: BTreeMap<String, Framework>,
    /// Active (not terminal) tasks by id.
    pub tasks: HashMap<String, Task>,
    /// The latest finished tasks, newest last.
    pub completed: VecDeque<Task>,
    pub ended: Ended,
    /// The master this state came from.
    pub leader: Option<String>,
}

/// Seconds since the epoch of a status.
fn status_time(s: &TaskStatus) -> f64 {
    s.timestamp.unwrap_or(0.0)
}

fn failed(state: TaskState) -> bool {
    use TaskState::*;
    matches!(
        state,
        TASK_FAILED | TASK_ERROR | TASK_LOST | TASK_DROPPED | TASK_GONE
    )
}

impl Task {
    fn from_wire(t: &WireTask) -> Task {
        let last = t.statuses.last();
        let image = t
            .container
            .as_ref()
            .and_then(|c| {
                c["docker"]["image"]
                    .as_str()
                    .or(c["mesos"]["image"]["docker"]["name"].as_str())
            })
            .map(str::to_string);
        Task {
            id: t.task_id.value.clone(),
            name: t.name.clone(),
            framework_id: t.framework_id.value.clone(),
            agent_id: t.agent_id.value.clone(),
            executor_id: t.executor_id.as_ref().map(|e| e.value.clone()),
            state: t.state,
            res: Res::of(&t.resources),
            ports: ports(&t.resources),
            healthy: t.statuses.iter().rev().find_map(|s| s.healthy),
            message: last.and_then(|s| s.message.clone()),
            reason: last.and_then(|s| s.reason.map(|r| format!("{r:?}"))),
            updated: last.map_or(0.0, status_time),
            image,
        }
    }
}

impl Cluster {
    /// Apply one event of the operator stream.
    pub fn apply(&mut self, ev: &Value, from: &str) -> Vec<Change> {
        match ev["type"].as_str().unwrap_or("") {
            "SUBSCRIBED" => {
                let Ok(state) = GetState::deserialize_from(&ev["subscribed"]["get_state"]) else {
                    tracing::warn!("ui: a SUBSCRIBED whose state does not parse; ignored");
                    return Vec::new();
                };
                self.load(state, from);
                vec![Change::Reset]
            }
            "TASK_ADDED" => {
                match serde_json::from_value::<WireTask>(ev["task_added"]["task"].clone()) {
                    Ok(t) => self.add_task(Task::from_wire(&t)),
                    Err(_) => Vec::new(),
                }
            }
            "TASK_UPDATED" => {
                let u = &ev["task_updated"];
                let Ok(status) = serde_json::from_value::<TaskStatus>(u["status"].clone()) else {
                    return Vec::new();
                };
                let state =
                    serde_json::from_value::<TaskState>(u["state"].clone()).unwrap_or(status.state);
                self.update_task(&status, state)
            }
            "AGENT_ADDED" => {
                match serde_json::from_value::<AgentEntry>(ev["agent_added"]["agent"].clone()) {
                    Ok(a) => {
                        let id = self.add_agent(&a);
                        vec![Change::Agent(id)]
                    }
                    Err(_) => Vec::new(),
                }
            }
            "AGENT_REMOVED" => {
                let id = ev["agent_removed"]["agent_id"]["value"]
                    .as_str()
                    .unwrap_or("");
                if self.agents.remove(id).is_some() {
                    vec![Change::AgentGone(id.to_string())]
                } else {
                    Vec::new()
                }
            }
            "FRAMEWORK_ADDED" | "FRAMEWORK_UPDATED" => {
                let key = if ev["type"] == "FRAMEWORK_ADDED" {
                    "framework_added"
                } else {
                    "framework_updated"
                };
                match serde_json::from_value::<FrameworkEntry>(ev[key]["framework"].clone()) {
                    Ok(f) => self
                        .add_framework(&f)
                        .map(Change::Framework)
                        .into_iter()
                        .collect(),
                    Err(_) => Vec::new(),
                }
            }
            "FRAMEWORK_REMOVED" => {
                let id = ev["framework_removed"]["framework_info"]["id"]["value"]
                    .as_str()
                    .unwrap_or("");
                if self.frameworks.remove(id).is_some() {
                    vec![Change::FrameworkGone(id.to_string())]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }

    /// Replace everything with a master's whole state (parsed by the caller, off any lock).
    pub fn load(&mut self, s: GetState, from: &str) {
        *self = Cluster {
            leader: Some(from.to_string()),
            ended: self.ended,
            ..Cluster::default()
        };
        for a in &s.get_agents.agents {
            self.add_agent(a);
        }
        for f in &s.get_frameworks.frameworks {
            self.add_framework(f);
        }
        let t = &s.get_tasks;
        for w in t
            .pending_tasks
            .iter()
            .chain(&t.tasks)
            .chain(&t.unreachable_tasks)
        {
            self.add_task(Task::from_wire(w));
        }
        let mut done: Vec<Task> = t.completed_tasks.iter().map(Task::from_wire).collect();
        done.sort_by(|a, b| a.updated.total_cmp(&b.updated));
        for d in done {
            self.push_completed(d);
        }
    }

    fn add_agent(&mut self, a: &AgentEntry) -> String {
        let id = a
            .agent_info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let attributes = a
            .agent_info
            .attributes
            .iter()
            .map(|x| {
                let v = if let Some(t) = &x.text {
                    t.value.clone()
                } else if let Some(s) = &x.scalar {
                    s.value.to_string()
                } else if let Some(s) = &x.set {
                    s.item.join(",")
                } else if let Some(r) = &x.ranges {
                    r.range
                        .iter()
                        .map(|r| format!("[{}-{}]", r.begin, r.end))
                        .collect::<Vec<_>>()
                        .join(",")
                } else {
                    String::new()
                };
                (x.name.clone(), v)
            })
            .collect();
        let total = if a.total_resources.is_empty() {
            &a.agent_info.resources
        } else {
            &a.total_resources
        };
        // What tasks already known use stays counted (an agent re-added after tasks).
        let (used, tasks) = self.tasks.values().filter(|t| t.agent_id == id).fold(
            (Res::default(), 0),
            |(mut r, n), t| {
                r.add(&t.res);
                (r, n + 1)
            },
        );
        self.agents.insert(
            id.clone(),
            Agent {
                id: id.clone(),
                hostname: a.agent_info.hostname.clone(),
                port: a.agent_info.port.unwrap_or(5051),
                active: a.active && !a.deactivated,
                deactivated: a.deactivated,
                drain: a.drain_info.as_ref().and_then(|d| match d.state {
                    DrainState::DRAINING => Some("Draining"),
                    DrainState::DRAINED => Some("Drained"),
                    DrainState::UNKNOWN => None,
                }),
                total: Res::of(total),
                used,
                attributes,
                tasks,
                registered: a
                    .registered_time
                    .as_ref()
                    .map(|t| t.nanoseconds as f64 / 1e9),
            },
        );
        id
    }

    fn add_framework(&mut self, f: &FrameworkEntry) -> Option<String> {
        let info = &f.framework_info;
        let id = info.id.as_ref()?.value.clone();
        let role = info
            .roles
            .first()
            .cloned()
            .or_else(|| info.role.clone())
            .unwrap_or_else(|| "*".into());
        let (used, tasks) = self.tasks.values().filter(|t| t.framework_id == id).fold(
            (Res::default(), 0),
            |(mut r, n), t| {
                r.add(&t.res);
                (r, n + 1)
            },
        );
        self.frameworks.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                name: info.name.clone(),
                role,
                active: f.active,
                connected: f.connected,
                webui_url: info.webui_url.clone().filter(|u| !u.is_empty()),
                hostname: info.hostname.clone(),
                used,
                tasks,
            },
        );
        Some(id)
    }

    /// Count a task's use on its agent and framework (`sign` +1 when it starts, -1 when it
    /// ends).
    fn account(&mut self, t: &Task, start: bool) {
        if let Some(a) = self.agents.get_mut(&t.agent_id) {
            if start {
                a.used.add(&t.res);
                a.tasks += 1;
            } else {
                a.used.sub(&t.res);
                a.tasks = a.tasks.saturating_sub(1);
            }
        }
        if let Some(f) = self.frameworks.get_mut(&t.framework_id) {
            if start {
                f.used.add(&t.res);
                f.tasks += 1;
            } else {
                f.used.sub(&t.res);
                f.tasks = f.tasks.saturating_sub(1);
            }
        }
    }

    fn add_task(&mut self, t: Task) -> Vec<Change> {
        let id = t.id.clone();
        if t.state.is_terminal() {
            self.push_completed(t);
            return vec![Change::Task(id)];
        }
        if let Some(old) = self.tasks.remove(&id) {
            self.account(&old, false);
        }
        self.account(&t, true);
        self.tasks.insert(id.clone(), t);
        vec![Change::Task(id)]
    }

    fn update_task(&mut self, s: &TaskStatus, state: TaskState) -> Vec<Change> {
        let id = s.task_id.value.clone();
        let Some(mut t) = self.tasks.remove(&id) else {
            return Vec::new();
        };
        t.state = state;
        if s.healthy.is_some() {
            t.healthy = s.healthy;
        }
        t.message = s.message.clone().or(t.message);
        t.reason = s.reason.map(|r| format!("{r:?}"));
        t.updated = status_time(s).max(t.updated);
        if state.is_terminal() {
            self.account(&t, false);
            self.ended.terminal += 1;
            if failed(state) {
                self.ended.failed += 1;
            }
            self.push_completed(t);
        } else {
            self.tasks.insert(id.clone(), t);
        }
        vec![Change::Task(id)]
    }

    fn push_completed(&mut self, t: Task) {
        if self.completed.len() >= COMPLETED_KEPT {
            self.completed.pop_front();
        }
        self.completed.push_back(t);
    }

    /// A task by id: active, else among the finished ones kept.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks
            .get(id)
            .or_else(|| self.completed.iter().rev().find(|t| t.id == id))
    }

    /// The resources of the active agents, and what their tasks use.
    pub fn totals(&self) -> (Res, Res) {
        let mut total = Res::default();
        let mut used = Res::default();
        for a in self.agents.values().filter(|a| a.active) {
            total.add(&a.total);
            used.add(&a.used);
        }
        (used, total)
    }

    /// How many tasks are in each state, active and kept finished ones.
    pub fn states(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for t in self.tasks.values().chain(self.completed.iter()) {
            *out.entry(t.state.as_str()).or_default() += 1;
        }
        out
    }

    pub fn running(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| t.state == TaskState::TASK_RUNNING)
            .count()
    }
}

/// Deserialize `GetState` from a borrowed value without cloning the whole (large) state twice.
trait FromValueRef: Sized {
    fn deserialize_from(v: &Value) -> Result<Self, serde_json::Error>;
}

impl FromValueRef for GetState {
    fn deserialize_from(v: &Value) -> Result<Self, serde_json::Error> {
        serde::Deserialize::deserialize(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use serde_json::json;

    fn loaded() -> Cluster {
        let mut c = Cluster::default();
        let ch = c.apply(
            &subscribed(
                vec![agent("S0", "node-a", 4.0, 1024.0)],
                vec![framework("F1", "marathon")],
                vec![task("t1", "web", "F1", "S0", "TASK_RUNNING")],
            ),
            "m:5050",
        );
        assert_eq!(ch, vec![Change::Reset]);
        c
    }

    #[test]
    fn tasks_are_counted_on_their_agent_and_framework_until_they_end() {
        let mut c = loaded();
        assert_eq!(c.agents["S0"].used.cpus, 0.5);
        let added = json!({"type": "TASK_ADDED", "task_added": {"task": task("t2", "web", "F1", "S0", "TASK_STAGING")}});
        assert_eq!(c.apply(&added, "m:5050"), vec![Change::Task("t2".into())]);
        assert_eq!((c.agents["S0"].tasks, c.frameworks["F1"].tasks), (2, 2));
        assert_eq!(
            c.apply(&task_updated("t2", "F1", "TASK_RUNNING"), "m"),
            vec![Change::Task("t2".into())]
        );
        assert_eq!(c.running(), 2);
        c.apply(&task_updated("t1", "F1", "TASK_FAILED"), "m");
        assert_eq!(c.agents["S0"].used.cpus, 0.5);
        assert_eq!(c.frameworks["F1"].used.mem, 64.0);
        assert_eq!(
            c.ended,
            Ended {
                failed: 1,
                terminal: 1
            }
        );
        assert_eq!(c.task("t1").map(|t| t.state), Some(TaskState::TASK_FAILED));
        // An update for a task not known changes nothing.
        assert!(c
            .apply(&task_updated("zz", "F1", "TASK_RUNNING"), "m")
            .is_empty());
    }

    #[test]
    fn agents_and_frameworks_come_and_go() {
        let mut c = loaded();
        let ch = c.apply(&json!({"type": "AGENT_ADDED", "agent_added": {"agent": agent("S1", "node-b", 2.0, 512.0)}}), "m");
        assert_eq!(ch, vec![Change::Agent("S1".into())]);
        assert_eq!(c.totals().1.cpus, 6.0);
        let ch = c.apply(
            &json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": "S1"}}}),
            "m",
        );
        assert_eq!(ch, vec![Change::AgentGone("S1".into())]);
        let ch = c.apply(&json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {"id": {"value": "F1"}}}}), "m");
        assert_eq!(ch, vec![Change::FrameworkGone("F1".into())]);
        // Garbage and unknown events change nothing and do not panic.
        assert!(c
            .apply(&json!({"type": "SUBSCRIBED", "subscribed": 3}), "m")
            .is_empty());
        assert!(c
            .apply(
                &json!({"type": "TASK_ADDED", "task_added": {"task": {"name": 1}}}),
                "m"
            )
            .is_empty());
        assert!(c.apply(&json!("nonsense"), "m").is_empty());
        assert_eq!(c.agents.len(), 1, "a bad SUBSCRIBED keeps the state");
    }

    #[test]
    fn finished_tasks_kept_are_bounded() {
        let mut c = loaded();
        for i in 0..(COMPLETED_KEPT + 50) {
            let t = task(&format!("d{i}"), "d", "F1", "S0", "TASK_FINISHED");
            c.apply(
                &json!({"type": "TASK_ADDED", "task_added": {"task": t}}),
                "m",
            );
        }
        assert_eq!(c.completed.len(), COMPLETED_KEPT);
        assert!(c.task("d0").is_none() && c.task(&format!("d{}", COMPLETED_KEPT + 49)).is_some());
    }
}
