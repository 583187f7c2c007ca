//! The shapes clients read, rendered from a [`Snapshot`] after the master's lock is released:
//! the v1 operator API responses (GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_EXECUTORS,
//! GET_TASKS) and the v0 JSON endpoints (`/master/state-summary`, `/slaves`, `/roles`, and the
//! parts around the tasks of `/master/state` and `/frameworks`, whose tasks `v0.rs` writes).
//! With `v0.rs`, the one place internal records turn into those shapes.

use crate::snapshot::{AgentView, FrameworkView, RoleView, Snapshot};
use drover_api::operator;
use drover_api::*;
use serde_json::{json, Map, Value};

pub fn v0_resources(list: &[Resource]) -> Value {
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

fn time(s: f64) -> TimeInfo {
    TimeInfo {
        nanoseconds: (s * 1e9) as i64,
    }
}

/// `/roles`, from the roles counted under the lock. Each role's `quota` is as Mesos 1.11
/// writes it: `role`, and singular `guarantee` and `limit` beside `consumed`, each a map of
/// name to value (empty for a role without quota); `allocated`, `offered` and `reserved` are
/// counted over the role's sub-tree, `resources` (deprecated) is the first two together.
pub fn v0_roles(roles: Vec<RoleView>) -> Value {
    let roles: Vec<Value> = roles
        .into_iter()
        .map(|v| {
            let r = v.role;
            json!({"name": &r.name, "weight": r.weight,
               "frameworks": r.frameworks.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
               "resources": v.resources, "allocated": v.allocated, "offered": v.offered,
               "reserved": v.reserved,
               "quota": {"role": &r.name, "guarantee": v.quota.guarantees, "limit": v.quota.limits,
                         "consumed": v.consumed}})
        })
        .collect();
    json!({ "roles": roles })
}

/// Reserved resources by the role of their last reservation (Mesos' `reservations()`).
fn reservations(total: &Resources) -> std::collections::BTreeMap<String, Resources> {
    let mut by_role: std::collections::BTreeMap<String, Resources> = Default::default();
    for r in total.iter() {
        let role = r.reservation_role();
        if role != "*" {
            by_role.entry(role.to_string()).or_default().add(r);
        }
    }
    by_role
}

/// A resource as Mesos' endpoints write it: `reservations`, and for a single reservation the
/// old `role` (with `reservation` when dynamic) beside it, so clients of either form read it.
fn endpoint_form(r: &Resource) -> Resource {
    match r.downgraded() {
        Some(mut old) if r.reservations.len() == 1 => {
            old.reservations = r.reservations.clone();
            old
        }
        _ => r.clone(),
    }
}

impl AgentView {
    pub fn v0(&self) -> Value {
        let unreserved = self.total.usable_by("*");
        let (mut reserved_v0, mut reserved_full) = (Map::new(), Map::new());
        for (role, rs) in reservations(&self.total) {
            reserved_v0.insert(role.clone(), Value::Object(rs.to_v0_map()));
            let full: Vec<Resource> = rs.iter().map(endpoint_form).collect();
            reserved_full.insert(role, json!(full));
        }
        let mut v = json!({
            "id": self.id.value,
            "pid": self.pid,
            "hostname": self.info.hostname,
            "port": self.info.port.unwrap_or(5051),
            "registered_time": self.registered_time,
            "reregistered_time": self.reregistered_time,
            "resources": Value::Object(self.total.to_v0_map()),
            "used_resources": Value::Object(self.used.to_v0_map()),
            "offered_resources": Value::Object(self.offered.to_v0_map()),
            "reserved_resources": reserved_v0,
            "unreserved_resources": Value::Object(unreserved.to_v0_map()),
            "attributes": v0_attributes(&self.info.attributes),
            "active": !self.unreachable,
            "connected": self.connected,
            "deactivated": self.deactivated,
            "version": MESOS_COMPAT_VERSION,
            "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
            "resources_full": self.total.to_vec(),
            "used_resources_full": self.used.to_vec(),
            "offered_resources_full": self.offered.to_vec(),
            "reserved_resources_full": reserved_full,
            "unreserved_resources_full": unreserved.to_vec(),
        });
        if let Some((info, started)) = &self.drain {
            v["drain_info"] = json!(info);
            v["estimated_drain_start_time"] = json!(started);
        }
        v
    }

    pub fn entry(&self) -> operator::AgentEntry {
        operator::AgentEntry {
            agent_info: self.info.clone(),
            active: !self.unreachable,
            deactivated: self.deactivated,
            drain_info: self.drain.as_ref().map(|(d, _)| d.clone()),
            estimated_drain_start_time: self.drain.as_ref().map(|(_, t)| time(*t)),
            version: MESOS_COMPAT_VERSION.into(),
            pid: Some(self.pid.clone()),
            registered_time: Some(time(self.registered_time)),
            reregistered_time: self.reregistered_time.map(time),
            total_resources: self.total.to_vec(),
            allocated_resources: self.used.to_vec(),
            offered_resources: self.offered.to_vec(),
        }
    }
}

impl FrameworkView {
    fn offered(&self) -> Resources {
        let mut offered = Resources::new();
        for (_, r) in &self.offers {
            offered.add_all(r);
        }
        offered
    }

    /// The role its completed tasks are shown with.
    pub fn v0_role(&self) -> String {
        self.info.role.clone().unwrap_or_else(|| "*".into())
    }

    /// The framework as the v0 endpoints show it, but for its three task lists (which `v0.rs`
    /// writes in: `tasks`, `unreachable_tasks`, `completed_tasks`).
    pub fn v0_base(&self) -> Map<String, Value> {
        let allocated = &self.allocated;
        let offered = self.offered();
        let offers: Vec<Value> = self
            .offers
            .iter()
            .map(|(o, r)| {
                json!({
                    "id": o.id.value, "framework_id": self.id.value, "slave_id": o.agent_id.value,
                    "resources": Value::Object(r.to_v0_map()),
                })
            })
            .collect();
        let mut used = allocated.clone();
        used.subtract_all(&offered);
        let executors: Vec<Value> = self
            .executors
            .iter()
            .map(|(aid, eid, e)| {
                json!({"executor_id": eid.value, "name": e.name, "framework_id": self.id.value, "slave_id": aid.value,
                       "resources": v0_resources(&e.resources)})
            })
            .collect();
        let info = &self.info;
        let role = self.v0_role();
        let v = json!({
            "id": self.id.value,
            "name": info.name,
            "pid": Value::Null,
            "user": info.user,
            "hostname": info.hostname.clone().unwrap_or_default(),
            "webui_url": info.webui_url.clone().unwrap_or_default(),
            "failover_timeout": info.failover_timeout.unwrap_or(0.0),
            "checkpoint": info.checkpoint.unwrap_or(false),
            "principal": info.principal,
            "role": role,
            "roles": self.roles,
            "capabilities": info.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
            "active": self.active,
            "connected": self.connected,
            "recovered": self.recovered,
            "registered_time": self.registered_time,
            "reregistered_time": self.reregistered_time,
            "unregistered_time": self.unregistered_time.unwrap_or(0.0),
            "resources": Value::Object(allocated.to_v0_map()),
            "allocated_resources": Value::Object(allocated.to_v0_map()),
            "used_resources": Value::Object(used.to_v0_map()),
            "offered_resources": Value::Object(offered.to_v0_map()),
            "offers": offers,
            "executors": executors,
            "labels": info.labels.as_ref().map(|l| l.labels.clone()).unwrap_or_default(),
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    pub fn entry(&self) -> operator::FrameworkEntry {
        operator::FrameworkEntry {
            framework_info: self.info.clone(),
            active: self.active,
            connected: self.connected,
            recovered: self.recovered,
            registered_time: Some(time(self.registered_time)),
            reregistered_time: self.reregistered_time.map(time),
            unregistered_time: self.unregistered_time.map(time),
            offers: self.offers.iter().map(|(o, _)| o.clone()).collect(),
            allocated_resources: self.allocated.to_vec(),
            offered_resources: self.offered().to_vec(),
        }
    }
}

impl Snapshot {
    /// Active agents, by id.
    fn active_agents(&self) -> Vec<&AgentView> {
        let mut agents: Vec<&AgentView> = self.agents.iter().filter(|a| !a.unreachable).collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        agents
    }

    pub fn v0_slaves(&self) -> Value {
        let agents = self.active_agents();
        json!({"slaves": agents.iter().map(|a| a.v0()).collect::<Vec<_>>(), "recovered_slaves": []})
    }

    /// `/master/state` but for `frameworks` and `completed_frameworks` (which `v0.rs` writes in).
    pub fn v0_state_base(&self, now: f64, flags: &Value) -> Map<String, Value> {
        let active = self.agents.iter().filter(|a| !a.unreachable).count();
        let v = json!({
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
            "orphan_tasks": [],
            "unregistered_frameworks": [],
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
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
        for f in &self.frameworks {
            let all = f
                .tasks
                .iter()
                .chain(f.unreachable_tasks.iter())
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
            .iter()
            .filter(|a| !a.unreachable)
            .map(|a| {
                let mut v = a.v0();
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
            .iter()
            .map(|f| {
                let mut base = f.v0_base();
                base.remove("offers");
                let mut v = Value::Object(base);
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

    // -------------------------------------------------------------------------------- v1

    pub fn get_agents(&self) -> operator::GetAgents {
        operator::GetAgents {
            agents: self.active_agents().iter().map(|a| a.entry()).collect(),
            recovered_agents: vec![],
        }
    }

    pub fn get_frameworks(&self) -> operator::GetFrameworks {
        operator::GetFrameworks {
            frameworks: self.frameworks.iter().map(FrameworkView::entry).collect(),
            completed_frameworks: self
                .completed_frameworks
                .iter()
                .map(FrameworkView::entry)
                .collect(),
        }
    }

    pub fn get_executors(&self) -> operator::GetExecutors {
        let mut executors = Vec::new();
        for a in &self.agents {
            for e in &a.executors {
                executors.push(operator::ExecutorEntry {
                    executor_info: e.clone(),
                    agent_id: a.id.clone(),
                });
            }
        }
        operator::GetExecutors { executors }
    }

    pub fn get_tasks(&self) -> operator::GetTasks {
        // Built on a render thread: yield the CPU now and then (see render.rs).
        let mut n = 0usize;
        let mut wire = |t: &crate::core::TaskRef| {
            n += 1;
            if n.is_multiple_of(64) {
                std::thread::yield_now();
            }
            t.to_task()
        };
        let mut g = operator::GetTasks::default();
        for f in self
            .frameworks
            .iter()
            .chain(self.completed_frameworks.iter())
        {
            g.tasks.extend(f.tasks.iter().map(&mut wire));
            g.unreachable_tasks
                .extend(f.unreachable_tasks.iter().map(&mut wire));
            g.completed_tasks
                .extend(f.completed_tasks.iter().map(&mut wire));
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
