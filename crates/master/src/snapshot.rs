//! What readers render from. A [`Snapshot`] is the master's state as the full views need it,
//! taken under the master's lock in one pass that copies pointers, not records (task records
//! are shared `Arc`s), so the JSON of `/master/state`, `GET_STATE` and the other full views is
//! built after the lock is released and never holds up offers, accepts or status updates.
//! Also here: the small views that need the allocator or are counted under the lock (metrics,
//! roles, one framework or agent for an operator event).

use crate::core::{AgentRec, Framework, Master, TaskRef};
use drover_api::operator;
use drover_api::*;
use serde_json::{json, Value};
use std::collections::HashMap;

mod roles;

/// A framework as the views show it.
pub struct FrameworkView {
    pub id: FrameworkID,
    pub info: FrameworkInfo,
    pub roles: Vec<String>,
    pub active: bool,
    pub connected: bool,
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    /// What the allocator says it holds (offered or used).
    pub allocated: Resources,
    /// Its outstanding offers, each with the resources it carries.
    pub offers: Vec<(Offer, Resources)>,
    /// Its executors that run on an agent the master knows.
    pub executors: Vec<(AgentID, ExecutorID, ExecutorInfo)>,
    pub tasks: Vec<TaskRef>,
    pub unreachable_tasks: Vec<TaskRef>,
    pub completed_tasks: Vec<TaskRef>,
}

/// An agent as the views show it.
pub struct AgentView {
    pub id: AgentID,
    pub info: AgentInfo,
    pub pid: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub total: Resources,
    /// Allocated to frameworks and not offered: held by tasks and executors.
    pub used: Resources,
    pub offered: Resources,
    pub unreachable: bool,
    pub connected: bool,
    pub executors: Vec<ExecutorInfo>,
    pub deactivated: bool,
    /// Its drain, and when it started (Unix seconds).
    pub drain: Option<(drover_api::maintenance::DrainInfo, f64)>,
}

/// A role as `/roles` shows it: its GET_ROLES entry, its quota (the default one when it has
/// none) and what counts against it.
pub struct RoleView {
    pub role: operator::Role,
    pub quota: drover_allocator::Quota,
    pub consumed: std::collections::BTreeMap<String, f64>,
    /// Over the role's sub-tree: what tasks and executors use, what outstanding offers carry,
    /// what agents have reserved to it, and the first two together (the deprecated
    /// `resources`).
    pub allocated: std::collections::BTreeMap<String, f64>,
    pub offered: std::collections::BTreeMap<String, f64>,
    pub reserved: std::collections::BTreeMap<String, f64>,
    pub resources: std::collections::BTreeMap<String, f64>,
}

/// The state the full views render.
pub struct Snapshot {
    pub info: MasterInfo,
    pub start_unix: f64,
    pub frameworks: Vec<FrameworkView>,
    pub completed_frameworks: Vec<FrameworkView>,
    pub agents: Vec<AgentView>,
}

impl Master {
    /// The state the full views render, copied in one pass (task records shared, not copied).
    pub fn snapshot(&self) -> Snapshot {
        let offered = self.offered_by_agent();
        Snapshot {
            info: self.info.clone(),
            start_unix: self.start_unix,
            frameworks: self
                .frameworks
                .values()
                .map(|f| self.framework_view(f))
                .collect(),
            completed_frameworks: self
                .completed_frameworks
                .iter()
                .map(|f| self.framework_view(f))
                .collect(),
            agents: self
                .agents
                .values()
                .map(|a| self.agent_view(a, offered.get(&a.id)))
                .collect(),
        }
    }

    /// What the outstanding offers carry, by agent.
    fn offered_by_agent(&self) -> HashMap<&AgentID, Resources> {
        let mut by: HashMap<&AgentID, Resources> = HashMap::new();
        for o in self.offers.values() {
            by.entry(&o.offer.agent_id)
                .or_default()
                .add_all(&o.resources);
        }
        by
    }

    fn agent_used(&self, a: &AgentRec, offered: &Resources) -> Resources {
        let avail = self
            .allocator
            .agent_available(&a.id.value)
            .unwrap_or_default();
        let mut used = self.agent_total(a);
        used.subtract_all(&avail);
        used.subtract_all(offered);
        used
    }

    /// What agent `a` has: its resources and, with oversubscription, its revocable estimate.
    fn agent_total(&self, a: &AgentRec) -> Resources {
        let mut t = a.total.clone();
        if let Some(r) = self.allocator.agent_revocable(&a.id.value) {
            t.add_all(&r);
        }
        t
    }

    fn agent_view(&self, a: &AgentRec, offered: Option<&Resources>) -> AgentView {
        let offered = offered.cloned().unwrap_or_default();
        AgentView {
            id: a.id.clone(),
            info: a.info.clone(),
            pid: a.pid.clone(),
            registered_time: a.registered_time,
            reregistered_time: a.reregistered_time,
            total: self.agent_total(a),
            used: self.agent_used(a, &offered),
            offered,
            unreachable: a.unreachable,
            connected: a.connected(),
            executors: a.executors.values().map(|(e, _)| e.clone()).collect(),
            deactivated: self.deactivated.contains(&a.id),
            drain: self
                .draining
                .get(&a.id)
                .map(|d| (d.info.clone(), d.started)),
        }
    }

    fn framework_view(&self, f: &Framework) -> FrameworkView {
        let offers = f
            .offers
            .iter()
            .filter_map(|oid| self.offers.get(oid))
            .map(|o| (o.offer.clone(), o.resources.clone()))
            .collect();
        let executors = f
            .executors
            .iter()
            .filter_map(|(aid, eid)| {
                self.agents
                    .get(aid)
                    .and_then(|a| a.executors.get(&(f.id.clone(), eid.clone())))
                    .map(|(e, _)| (aid.clone(), eid.clone(), e.clone()))
            })
            .collect();
        FrameworkView {
            id: f.id.clone(),
            info: f.info.clone(),
            roles: f.roles.clone(),
            active: f.active,
            connected: f.connected(),
            recovered: f.recovered,
            registered_time: f.registered_time,
            reregistered_time: f.reregistered_time,
            unregistered_time: f.unregistered_time,
            allocated: self.allocator.framework_allocated(&f.id.value),
            offers,
            executors,
            tasks: f.tasks.values().cloned().collect(),
            unreachable_tasks: f.unreachable_tasks.values().cloned().collect(),
            completed_tasks: f.completed_tasks.iter().cloned().collect(),
        }
    }

    /// One active task in its v1 form (for TASK_ADDED).
    pub fn task_json(&self, fid: &FrameworkID, tid: &TaskID) -> Value {
        self.frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(tid.value.as_str()))
            .map(|t| json!(t.to_task()))
            .unwrap_or(Value::Null)
    }

    /// One framework as GET_FRAMEWORKS shows it (for FRAMEWORK_ADDED).
    pub fn framework_entry_json(&self, fid: &FrameworkID) -> Value {
        self.frameworks
            .get(fid)
            .map(|f| json!(self.framework_view(f).entry()))
            .unwrap_or(Value::Null)
    }

    /// One agent as GET_AGENTS shows it (for AGENT_ADDED).
    pub fn agent_entry_json(&self, id: &AgentID) -> Value {
        let offered = self.offered_by_agent();
        self.agents
            .get(id)
            .map(|a| json!(self.agent_view(a, offered.get(id)).entry()))
            .unwrap_or(Value::Null)
    }

    /// GET_ROLES' roles: those with frameworks, a weight, a quota or a reservation, and the
    /// roles above them, by name.
    pub fn role_list(&self) -> Vec<operator::Role> {
        self.known_roles()
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

    /// `/roles`' roles: GET_ROLES' with each one's quota and what counts against it.
    pub fn role_views(&self) -> Vec<RoleView> {
        let consumed = self.quota_consumption();
        let breakdowns = self.role_breakdowns();
        self.role_list()
            .into_iter()
            .map(|role| {
                let [allocated, offered, reserved, resources] = breakdowns
                    .get(&role.name)
                    .map(roles::Breakdown::maps)
                    .unwrap_or_default();
                RoleView {
                    quota: self.quotas.get(&role.name).cloned().unwrap_or_default(),
                    consumed: consumed(&role.name),
                    allocated,
                    offered,
                    reserved,
                    resources,
                    role,
                }
            })
            .collect()
    }

    /// `/metrics/snapshot` and GET_METRICS: counters and gauges, counted under the lock (no
    /// record is copied or rendered).
    pub fn metrics(&self, now: f64) -> Vec<(String, f64)> {
        let mut m: Vec<(String, f64)> = Vec::new();
        let mut total = Resources::new();
        let mut used = Resources::new();
        let mut offered = Resources::new();
        let active_agents = self.agents.values().filter(|a| !a.unreachable).count();
        let offered_by = self.offered_by_agent();
        let none = Resources::new();
        for a in self.agents.values().filter(|a| !a.unreachable) {
            let o = offered_by.get(&a.id).unwrap_or(&none);
            total.add_all(&self.agent_total(a));
            used.add_all(&self.agent_used(a, o));
            offered.add_all(o);
        }
        // Mesos counts revocable resources apart: `<r>_total` and `<r>_used` are the others.
        let part = |rs: &Resources, name: &str, revocable: bool| -> f64 {
            rs.iter()
                .filter(|x| x.name == name && x.revocable.is_some() == revocable)
                .map(|x| x.scalar.map(|s| s.value).unwrap_or(0.0))
                .sum()
        };
        for r in ["cpus", "mem", "disk", "gpus"] {
            let t = part(&total, r, false);
            let u = part(&used, r, false);
            m.push((format!("master/{r}_total"), t));
            m.push((format!("master/{r}_used"), u));
            m.push((
                format!("master/{r}_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            ));
            let (rt, ru) = (part(&total, r, true), part(&used, r, true));
            m.push((format!("master/{r}_revocable_total"), rt));
            m.push((format!("master/{r}_revocable_used"), ru));
            m.push((
                format!("master/{r}_revocable_percent"),
                if rt > 0.0 { ru / rt } else { 0.0 },
            ));
        }
        let mut by_state: HashMap<TaskState, f64> = Default::default();
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
        for (role, q) in &self.quotas {
            for (kind, values) in [("guarantee", &q.guarantees), ("limit", &q.limits)] {
                for (name, v) in values {
                    m.push((
                        format!("allocator/mesos/quota/roles/{role}/resources/{name}/{kind}"),
                        *v,
                    ));
                }
            }
        }
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
}

#[cfg(test)]
mod tests {
    use crate::core::harness::*;
    use drover_api::*;
    use serde_json::{json, Value};

    fn state(s: &super::Snapshot, now: f64) -> Value {
        serde_json::from_slice(&s.v0_state_json(now, &json!({})).expect("renders")).expect("JSON")
    }

    #[test]
    fn a_snapshot_keeps_the_state_it_was_taken_from() {
        let mut h = Harness::new();
        let (fw, ag) = h.running(&["PARTITION_AWARE"], &["t1", "t2"]);
        let before = h.m.snapshot();
        let rendered = state(&before, 5.0);
        // The master moves on; the snapshot does not.
        h.update(&ag, &fw.id, "t1", TaskState::TASK_FINISHED);
        h.now += 100.0;
        h.m.tick(h.now, false);
        assert_eq!(state(&before, 5.0), rendered);
        let tasks = &rendered["frameworks"][0]["tasks"];
        let mut states: Vec<&str> = tasks
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["state"].as_str())
            .collect();
        states.sort();
        assert_eq!(states, vec!["TASK_RUNNING", "TASK_RUNNING"]);
        assert_eq!(rendered["activated_slaves"], 1);
        // And a new one shows the change: t1 finished, t2 unreachable, the agent inactive.
        let after = h.m.snapshot();
        let f = &after.frameworks[0];
        assert!(f.tasks.is_empty());
        assert_eq!(f.unreachable_tasks[0].state, TaskState::TASK_UNREACHABLE);
        assert_eq!(f.completed_tasks[0].state, TaskState::TASK_FINISHED);
        let v = state(&after, 6.0);
        assert_eq!(v["activated_slaves"], 0);
        assert_eq!(v["unreachable_slaves"], 1);
        // The task records the first snapshot held were copied when they changed, not shared.
        assert_eq!(before.frameworks[0].tasks.len(), 2);
    }

    #[test]
    fn the_views_agree_with_each_other() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&[], &["t1", "t2", "t3"]);
        h.update(&ag, &fw.id, "t3", TaskState::TASK_FAILED);
        let offer = h.offer(&mut fw);
        let s = h.m.snapshot();
        let state = s.get_state();
        assert_eq!(state.get_tasks.tasks.len(), 2);
        assert_eq!(state.get_tasks.completed_tasks.len(), 1);
        assert_eq!(state.get_agents.agents.len(), 1);
        let fe = &state.get_frameworks.frameworks[0];
        assert_eq!(fe.offers.len(), 1);
        assert_eq!(fe.offers[0].id, offer.id);
        let summary = s.v0_state_summary();
        assert_eq!(summary["slaves"][0]["TASK_RUNNING"], 2);
        assert_eq!(summary["slaves"][0]["TASK_FAILED"], 1);
        assert_eq!(summary["frameworks"][0]["TASK_RUNNING"], 2);
        assert!(summary["frameworks"][0].get("tasks").is_none());
        let slaves = s.v0_slaves();
        let used = &slaves["slaves"][0]["used_resources"];
        assert_eq!(used["cpus"], 1.0);
        assert_eq!(slaves["slaves"][0]["offered_resources"]["cpus"], 3.0);
        let tasks: Value = serde_json::from_slice(
            &s.v0_tasks_json(Some(2), 0, true, None, None)
                .expect("renders"),
        )
        .expect("JSON");
        assert_eq!(tasks["tasks"].as_array().map(|t| t.len()), Some(2));
        let one: Value = serde_json::from_slice(
            &s.v0_tasks_json(None, 0, true, None, Some("t2"))
                .expect("renders"),
        )
        .expect("JSON");
        assert_eq!(one["tasks"][0]["id"], "t2");
        assert_eq!(one["tasks"][0]["slave_id"], ag.id.value.as_str());
    }
}
