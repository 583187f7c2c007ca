//! Read-only views of the master's state, in the shapes clients read: the v1 operator API
//! responses and the v0 JSON endpoints (`/master/state`, `/slaves`, `/tasks`, …,
//! `/metrics/snapshot`). The one place internal records turn into those shapes.

use crate::core::{AgentRec, Framework, Master};
use crate::tasks::TaskRec;
use drover_api::operator::{self, Task};
use drover_api::*;
use serde_json::{json, Map, Value};

fn v0_resources(list: &[Resource]) -> Value {
    Value::Object(Resources::from_list(list).to_v0_map())
}

fn v0_attributes(attrs: &[Attribute]) -> Value {
    let mut m = Map::new();
    for a in attrs {
        let v = match (&a.scalar, &a.text) {
            (Some(s), _) => json!(s.value),
            (_, Some(t)) => json!(t.value),
            _ => json!(a.value_string()),
        };
        m.insert(a.name.clone(), v);
    }
    Value::Object(m)
}

/// A task as the v0 endpoints show it, from its wire form.
pub fn v0_task(rec: &TaskRec, role: &str) -> Value {
    v0_task_json(&rec.to_task(), role)
}

fn v0_task_json(t: &Task, role: &str) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut v = json!({"state": s.state, "timestamp": s.timestamp.unwrap_or(0.0)});
            if let Some(h) = s.healthy {
                v["healthy"] = json!(h);
            }
            if let Some(c) = &s.container_status {
                v["container_status"] = c.clone();
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": t.agent_id.value,
        "state": t.state,
        "resources": v0_resources(&t.resources),
        "role": role,
        "statuses": statuses,
    });
    if let Some(l) = &t.labels {
        v["labels"] = json!(l.labels);
    }
    if let Some(d) = &t.discovery {
        v["discovery"] = d.clone();
    }
    if let Some(c) = &t.container {
        v["container"] = c.clone();
    }
    if let Some(u) = &t.user {
        v["user"] = json!(u);
    }
    v
}

impl Master {
    fn agent_used(&self, a: &AgentRec) -> Resources {
        let avail = self
            .allocator
            .agent_available(&a.id.value)
            .unwrap_or_default();
        let offered = self.agent_offered(a);
        let mut used = a.total.clone();
        used.subtract_all(&avail);
        used.subtract_all(&offered);
        used
    }

    fn agent_offered(&self, a: &AgentRec) -> Resources {
        let mut r = Resources::new();
        for o in self.offers.values().filter(|o| o.offer.agent_id == a.id) {
            r.add_all(&o.resources);
        }
        r
    }

    pub fn v0_agent(&self, a: &AgentRec) -> Value {
        let used = self.agent_used(a);
        let offered = self.agent_offered(a);
        let mut unreserved = a.total.usable_by("*");
        unreserved.subtract_all(&Resources::new());
        json!({
            "id": a.id.value,
            "pid": a.pid,
            "hostname": a.info.hostname,
            "port": a.info.port.unwrap_or(5051),
            "registered_time": a.registered_time,
            "reregistered_time": a.reregistered_time,
            "resources": Value::Object(a.total.to_v0_map()),
            "used_resources": Value::Object(used.to_v0_map()),
            "offered_resources": Value::Object(offered.to_v0_map()),
            "reserved_resources": {},
            "unreserved_resources": Value::Object(unreserved.to_v0_map()),
            "attributes": v0_attributes(&a.info.attributes),
            "active": !a.unreachable,
            "connected": a.connected(),
            "deactivated": false,
            "version": MESOS_COMPAT_VERSION,
            "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
            "resources_full": a.total.to_vec(),
            "used_resources_full": used.to_vec(),
            "offered_resources_full": offered.to_vec(),
            "reserved_resources_full": {},
            "unreserved_resources_full": unreserved.to_vec(),
        })
    }

    pub fn v0_framework(&self, f: &Framework) -> Value {
        let allocated = self.allocator.framework_allocated(&f.id.value);
        let mut offered = Resources::new();
        let mut offers = Vec::new();
        for oid in &f.offers {
            if let Some(o) = self.offers.get(oid) {
                offered.add_all(&o.resources);
                offers.push(json!({
                    "id": o.offer.id.value, "framework_id": f.id.value, "slave_id": o.offer.agent_id.value,
                    "resources": Value::Object(o.resources.to_v0_map()),
                }));
            }
        }
        let mut used = allocated.clone();
        used.subtract_all(&offered);
        let executors: Vec<Value> = f
            .executors
            .iter()
            .filter_map(|(aid, eid)| {
                self.agents.get(aid).and_then(|a| a.executors.get(&(f.id.clone(), eid.clone()))).map(|(e, _)| {
                    json!({"executor_id": eid.value, "name": e.name, "framework_id": f.id.value, "slave_id": aid.value,
                           "resources": v0_resources(&e.resources)})
                })
            })
            .collect();
        let role = f.info.role.clone().unwrap_or_else(|| "*".into());
        json!({
            "id": f.id.value,
            "name": f.info.name,
            "pid": Value::Null,
            "user": f.info.user,
            "hostname": f.info.hostname.clone().unwrap_or_default(),
            "webui_url": f.info.webui_url.clone().unwrap_or_default(),
            "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
            "checkpoint": f.info.checkpoint.unwrap_or(false),
            "principal": f.info.principal,
            "role": role,
            "roles": f.roles,
            "capabilities": f.info.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
            "active": f.active,
            "connected": f.connected(),
            "recovered": f.recovered,
            "registered_time": f.registered_time,
            "reregistered_time": f.reregistered_time,
            "unregistered_time": f.unregistered_time.unwrap_or(0.0),
            "resources": Value::Object(allocated.to_v0_map()),
            "allocated_resources": Value::Object(allocated.to_v0_map()),
            "used_resources": Value::Object(used.to_v0_map()),
            "offered_resources": Value::Object(offered.to_v0_map()),
            "tasks": f.tasks.values().map(|t| v0_task(t, &t.role)).collect::<Vec<_>>(),
            "unreachable_tasks": f.unreachable_tasks.values().map(|t| v0_task(t, &t.role)).collect::<Vec<_>>(),
            "completed_tasks": f.completed_tasks.iter().map(|t| v0_task(t, &role)).collect::<Vec<_>>(),
            "offers": offers,
            "executors": executors,
            "labels": f.info.labels.as_ref().map(|l| l.labels.clone()).unwrap_or_default(),
        })
    }

    pub fn v0_frameworks(&self) -> Value {
        json!({
            "frameworks": self.frameworks.values().map(|f| self.v0_framework(f)).collect::<Vec<_>>(),
            "completed_frameworks": self.completed_frameworks.iter().map(|f| self.v0_framework(f)).collect::<Vec<_>>(),
            "unregistered_frameworks": [],
        })
    }

    pub fn v0_slaves(&self) -> Value {
        let mut agents: Vec<&AgentRec> = self.agents.values().filter(|a| !a.unreachable).collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        json!({"slaves": agents.iter().map(|a| self.v0_agent(a)).collect::<Vec<_>>(), "recovered_slaves": []})
    }

    /// `/tasks`: active then completed tasks of every framework, with Mesos' paging parameters.
    pub fn v0_tasks(
        &self,
        limit: Option<i64>,
        offset: usize,
        order_desc: bool,
        framework: Option<&str>,
        task: Option<&str>,
    ) -> Value {
        let mut all: Vec<Value> = Vec::new();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
        {
            if framework.map(|x| x != f.id.value).unwrap_or(false) {
                continue;
            }
            let role = f.info.role.clone().unwrap_or_else(|| "*".into());
            for t in f.tasks.values().chain(f.unreachable_tasks.values()) {
                all.push(v0_task(t, &t.role));
            }
            for t in &f.completed_tasks {
                all.push(v0_task(t, &role));
            }
        }
        if let Some(id) = task {
            all.retain(|t| t["id"] == id);
        }
        all.sort_by(|a, b| {
            let ta = a["statuses"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["timestamp"].as_f64())
                .unwrap_or(0.0);
            let tb = b["statuses"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["timestamp"].as_f64())
                .unwrap_or(0.0);
            ta.partial_cmp(&tb).unwrap_or(std::cmp::Ordering::Equal)
        });
        if order_desc {
            all.reverse();
        }
        let limit = match limit {
            Some(l) if l >= 0 => l as usize,
            _ => usize::MAX,
        };
        let tasks: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
        json!({ "tasks": tasks })
    }

    pub fn v0_state(&self, now: f64, flags: &Value) -> Value {
        let frameworks = self.v0_frameworks();
        let active = self.agents.values().filter(|a| !a.unreachable).count();
        json!({
            "version": MESOS_COMPAT_VERSION,
            "drover_version": env!("CARGO_PKG_VERSION"),
            "build_date": "",
            "build_user": "drover",
            "start_time": self.start_unix,
            "elected_time": self.start_unix,
            "id": self.info.id,
            "pid": self.info.pid,
            "hostname": self.info.hostname,
            "leader": self.info.pid,
            "leader_info": self.info,
            "activated_slaves": active,
            "deactivated_slaves": 0,
            "unreachable_slaves": self.agents.len() - active,
            "flags": flags,
            "uptime_secs": now,
            "slaves": self.v0_slaves()["slaves"],
            "frameworks": frameworks["frameworks"],
            "completed_frameworks": frameworks["completed_frameworks"],
            "orphan_tasks": [],
            "unregistered_frameworks": [],
        })
    }

    pub fn v0_state_summary(&self) -> Value {
        // Mesos counts every task the master knows (active, unreachable, completed) per agent
        // and per framework, and lists which frameworks have tasks where.
        const STATES: [&str; 10] = [
            "TASK_STAGING",
            "TASK_STARTING",
            "TASK_RUNNING",
            "TASK_KILLING",
            "TASK_FINISHED",
            "TASK_KILLED",
            "TASK_FAILED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_UNREACHABLE",
        ];
        use std::collections::{BTreeSet, HashMap};
        let mut by_agent: HashMap<&str, HashMap<&'static str, u64>> = HashMap::new();
        let mut by_framework: HashMap<&str, HashMap<&'static str, u64>> = HashMap::new();
        let mut agent_frameworks: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        let mut framework_agents: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for f in self.frameworks.values() {
            let all = f
                .tasks
                .values()
                .chain(f.unreachable_tasks.values())
                .chain(f.completed_tasks.iter());
            for t in all {
                let (a, fw) = (&*t.agent_id, f.id.value.as_str());
                *by_agent
                    .entry(a)
                    .or_default()
                    .entry(t.state.as_str())
                    .or_default() += 1;
                *by_framework
                    .entry(fw)
                    .or_default()
                    .entry(t.state.as_str())
                    .or_default() += 1;
                agent_frameworks.entry(a).or_default().insert(fw);
                framework_agents.entry(fw).or_default().insert(a);
            }
        }
        let counts = |v: &mut Value, c: Option<&HashMap<&'static str, u64>>| {
            for s in STATES {
                v[s] = json!(c.and_then(|c| c.get(s)).copied().unwrap_or(0));
            }
        };
        let slaves: Vec<Value> = self
            .agents
            .values()
            .filter(|a| !a.unreachable)
            .map(|a| {
                let mut v = self.v0_agent(a);
                counts(&mut v, by_agent.get(a.id.value.as_str()));
                v["framework_ids"] = json!(agent_frameworks
                    .get(a.id.value.as_str())
                    .cloned()
                    .unwrap_or_default());
                v
            })
            .collect();
        let frameworks: Vec<Value> = self
            .frameworks
            .values()
            .map(|f| {
                let mut v = self.v0_framework(f);
                if let Some(m) = v.as_object_mut() {
                    m.remove("tasks");
                    m.remove("completed_tasks");
                    m.remove("unreachable_tasks");
                    m.remove("offers");
                }
                counts(&mut v, by_framework.get(f.id.value.as_str()));
                v["slave_ids"] = json!(framework_agents
                    .get(f.id.value.as_str())
                    .cloned()
                    .unwrap_or_default());
                v
            })
            .collect();
        json!({"hostname": self.info.hostname, "cluster": self.info.hostname, "slaves": slaves, "frameworks": frameworks})
    }

    pub fn v0_roles(&self) -> Value {
        let roles: Vec<Value> = self
            .role_list()
            .into_iter()
            .map(|r| {
                json!({"name": r.name, "weight": r.weight,
                   "frameworks": r.frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
                   "resources": Value::Object(Resources::from_list(&r.resources).to_v0_map())})
            })
            .collect();
        json!({ "roles": roles })
    }

    pub fn role_list(&self) -> Vec<operator::Role> {
        let mut names: std::collections::BTreeSet<String> = self.weights.keys().cloned().collect();
        for f in self.frameworks.values() {
            names.extend(f.roles.iter().cloned());
        }
        names
            .into_iter()
            .map(|name| {
                let frameworks: Vec<FrameworkID> = self
                    .frameworks
                    .values()
                    .filter(|f| f.roles.contains(&name))
                    .map(|f| f.id.clone())
                    .collect();
                let mut res = Resources::new();
                for f in &frameworks {
                    res.add_all(&self.allocator.framework_allocated(&f.value));
                }
                operator::Role {
                    weight: self.weights.get(&name).copied().unwrap_or(1.0),
                    name,
                    frameworks,
                    resources: res.to_vec(),
                }
            })
            .collect()
    }

    pub fn metrics(&self, now: f64) -> Vec<(String, f64)> {
        let mut m: Vec<(String, f64)> = Vec::new();
        let mut total = Resources::new();
        let mut used = Resources::new();
        let mut offered = Resources::new();
        let active_agents = self.agents.values().filter(|a| !a.unreachable).count();
        for a in self.agents.values().filter(|a| !a.unreachable) {
            total.add_all(&a.total);
            used.add_all(&self.agent_used(a));
            offered.add_all(&self.agent_offered(a));
        }
        for r in ["cpus", "mem", "disk", "gpus"] {
            let t = total.scalar(r);
            let u = used.scalar(r);
            m.push((format!("master/{r}_total"), t));
            m.push((format!("master/{r}_used"), u));
            m.push((
                format!("master/{r}_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            ));
            m.push((format!("master/{r}_revocable_total"), 0.0));
            m.push((format!("master/{r}_revocable_used"), 0.0));
        }
        let mut by_state: std::collections::HashMap<TaskState, f64> = Default::default();
        for f in self.frameworks.values() {
            for t in f.tasks.values() {
                *by_state.entry(t.state).or_default() += 1.0;
            }
            for t in f.unreachable_tasks.values() {
                *by_state.entry(t.state).or_default() += 1.0;
            }
        }
        for s in [
            TaskState::TASK_STAGING,
            TaskState::TASK_STARTING,
            TaskState::TASK_RUNNING,
            TaskState::TASK_KILLING,
            TaskState::TASK_UNREACHABLE,
        ] {
            m.push((
                format!("master/{}", s.as_str().to_ascii_lowercase()).replace("task_", "tasks_"),
                by_state.get(&s).copied().unwrap_or(0.0),
            ));
        }
        for s in [
            "TASK_FINISHED",
            "TASK_FAILED",
            "TASK_KILLED",
            "TASK_LOST",
            "TASK_ERROR",
            "TASK_DROPPED",
            "TASK_GONE",
        ] {
            let c = self.counters.tasks_by_state.get(s).copied().unwrap_or(0);
            m.push((
                format!(
                    "master/{}",
                    s.to_ascii_lowercase().replace("task_", "tasks_")
                ),
                c as f64,
            ));
        }
        let connected = self.frameworks.values().filter(|f| f.connected()).count() as f64;
        m.push((
            "master/frameworks_active".into(),
            self.frameworks.values().filter(|f| f.active).count() as f64,
        ));
        m.push((
            "master/frameworks_inactive".into(),
            self.frameworks.values().filter(|f| !f.active).count() as f64,
        ));
        m.push(("master/frameworks_connected".into(), connected));
        m.push((
            "master/frameworks_disconnected".into(),
            self.frameworks.len() as f64 - connected,
        ));
        m.push(("master/slaves_active".into(), active_agents as f64));
        m.push(("master/slaves_inactive".into(), 0.0));
        m.push((
            "master/slaves_connected".into(),
            self.agents.values().filter(|a| a.connected()).count() as f64,
        ));
        m.push((
            "master/slaves_disconnected".into(),
            self.agents.values().filter(|a| !a.connected()).count() as f64,
        ));
        m.push((
            "master/slaves_unreachable".into(),
            (self.agents.len() - active_agents) as f64,
        ));
        m.push((
            "master/slave_removals".into(),
            self.counters.agent_removals as f64,
        ));
        m.push(("master/outstanding_offers".into(), self.offers.len() as f64));
        m.push(("master/elected".into(), 1.0));
        m.push(("master/uptime_secs".into(), now));
        m.push((
            "master/messages_status_update".into(),
            self.counters.updates_from_agents as f64,
        ));
        m.push(("master/invalid_status_updates".into(), 0.0));
        m.push((
            "master/messages_decline_offers".into(),
            self.counters.offers_declined as f64,
        ));
        m.push((
            "master/messages_launch_tasks".into(),
            self.counters.offers_accepted as f64,
        ));
        m.push(("master/event_queue_messages".into(), 0.0));
        for (name, c) in &self.counters.calls {
            m.push((format!("master/messages_{name}"), *c as f64));
        }
        m.push((
            "allocator/mesos/allocation_runs".into(),
            self.counters.allocation_runs as f64,
        ));
        m.push((
            "allocator/mesos/allocation_run_ms".into(),
            self.counters.allocation_secs_last * 1000.0,
        ));
        m.push((
            "allocator/mesos/resources/cpus/offered_or_allocated".into(),
            self.agents
                .values()
                .map(|a| {
                    a.total.scalar("cpus")
                        - self
                            .allocator
                            .agent_available(&a.id.value)
                            .map(|r| r.scalar("cpus"))
                            .unwrap_or(0.0)
                })
                .sum(),
        ));
        m.push((
            "drover/offers_sent".into(),
            self.counters.offers_sent as f64,
        ));
        m.push((
            "drover/offers_rescinded".into(),
            self.counters.offers_rescinded as f64,
        ));
        m.sort_by(|a, b| a.0.cmp(&b.0));
        m
    }

    // -------------------------------------------------------------------------------- v1

    pub fn v1_task(&self, t: &Task) -> Task {
        t.clone()
    }

    pub fn task_json(&self, fid: &FrameworkID, tid: &TaskID) -> Value {
        self.frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(tid.value.as_str()))
            .map(|t| json!(t.to_task()))
            .unwrap_or(Value::Null)
    }

    pub fn framework_entry(&self, f: &Framework) -> operator::FrameworkEntry {
        let allocated = self.allocator.framework_allocated(&f.id.value);
        let mut offered = Resources::new();
        let mut offers = Vec::new();
        for oid in &f.offers {
            if let Some(o) = self.offers.get(oid) {
                offered.add_all(&o.resources);
                offers.push(o.offer.clone());
            }
        }
        let t = |s: f64| TimeInfo {
            nanoseconds: (s * 1e9) as i64,
        };
        operator::FrameworkEntry {
            framework_info: f.info.clone(),
            active: f.active,
            connected: f.connected(),
            recovered: f.recovered,
            registered_time: Some(t(f.registered_time)),
            reregistered_time: f.reregistered_time.map(t),
            unregistered_time: f.unregistered_time.map(t),
            offers,
            allocated_resources: allocated.to_vec(),
            offered_resources: offered.to_vec(),
        }
    }

    pub fn framework_entry_json(&self, fid: &FrameworkID) -> Value {
        self.frameworks
            .get(fid)
            .map(|f| json!(self.framework_entry(f)))
            .unwrap_or(Value::Null)
    }

    pub fn agent_entry(&self, a: &AgentRec) -> operator::AgentEntry {
        let t = |s: f64| TimeInfo {
            nanoseconds: (s * 1e9) as i64,
        };
        operator::AgentEntry {
            agent_info: a.info.clone(),
            active: !a.unreachable,
            deactivated: false,
            version: MESOS_COMPAT_VERSION.into(),
            pid: Some(a.pid.clone()),
            registered_time: Some(t(a.registered_time)),
            reregistered_time: a.reregistered_time.map(t),
            total_resources: a.total.to_vec(),
            allocated_resources: self.agent_used(a).to_vec(),
            offered_resources: self.agent_offered(a).to_vec(),
        }
    }

    pub fn agent_entry_json(&self, id: &AgentID) -> Value {
        self.agents
            .get(id)
            .map(|a| json!(self.agent_entry(a)))
            .unwrap_or(Value::Null)
    }

    pub fn get_agents(&self) -> operator::GetAgents {
        let mut agents: Vec<&AgentRec> = self.agents.values().filter(|a| !a.unreachable).collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        operator::GetAgents {
            agents: agents.iter().map(|a| self.agent_entry(a)).collect(),
            recovered_agents: vec![],
        }
    }

    pub fn get_frameworks(&self) -> operator::GetFrameworks {
        operator::GetFrameworks {
            frameworks: self
                .frameworks
                .values()
                .map(|f| self.framework_entry(f))
                .collect(),
            completed_frameworks: self
                .completed_frameworks
                .iter()
                .map(|f| self.framework_entry(f))
                .collect(),
        }
    }

    pub fn get_executors(&self) -> operator::GetExecutors {
        let mut executors = Vec::new();
        for a in self.agents.values() {
            for (e, _) in a.executors.values() {
                executors.push(operator::ExecutorEntry {
                    executor_info: e.clone(),
                    agent_id: a.id.clone(),
                });
            }
        }
        operator::GetExecutors { executors }
    }

    pub fn get_tasks(&self) -> operator::GetTasks {
        let mut g = operator::GetTasks::default();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
        {
            g.tasks.extend(f.tasks.values().map(|t| t.to_task()));
            g.unreachable_tasks
                .extend(f.unreachable_tasks.values().map(|t| t.to_task()));
            g.completed_tasks
                .extend(f.completed_tasks.iter().map(|t| t.to_task()));
        }
        g
    }

    pub fn get_state(&self) -> operator::GetState {
        operator::GetState {
            get_tasks: self.get_tasks(),
            get_executors: self.get_executors(),
            get_frameworks: self.get_frameworks(),
            get_agents: self.get_agents(),
        }
    }
}
