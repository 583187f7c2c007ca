//! Keeping the UI's view current, and telling the open tabs: the master's operator stream
//! applied to the cluster model, Marathon's event stream turned into re-reads of what it
//! names (coalesced), and a clock that publishes the dashboard's numbers and samples its
//! history. Every change becomes one small event on the hub; no tab ever polls. Marathon's side
//! is in `marathon.rs`.

mod marathon;

pub use marathon::{app_path, MarathonClient};

use crate::fmt;
use crate::history::{History, EVERY};
use crate::hub::Hub;
use crate::model::cluster::{Change, Cluster, Task};
use crate::model::marathon::Marathon;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the followers keep and the pages read.
pub struct Live {
    pub cluster: RwLock<Cluster>,
    pub marathon: RwLock<Marathon>,
    pub history: Mutex<History>,
    pub hub: Hub,
    /// Every master in the ZooKeeper group (HA), leader included; empty with a fixed master.
    pub masters: Mutex<Vec<String>>,
    stats_dirty: AtomicBool,
    /// Agents and frameworks whose tasks changed: their rows are told at the next tick.
    uses_dirty: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
    marathon_dirty: Mutex<Dirty>,
    marathon_wake: Notify,
}

/// What Marathon's events said changed, to read again.
#[derive(Default)]
struct Dirty {
    apps: BTreeSet<String>,
    all: bool,
    deployments: bool,
    queue: bool,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// An agent as the tabs are told of it: what its row shows.
pub fn agent_json(a: &crate::model::cluster::Agent) -> Value {
    json!({
        "id": a.id, "hostname": a.hostname, "active": a.active, "tasks": a.tasks,
        "cpus": format!("{} / {}", fmt::num(&a.used.cpus), fmt::num(&a.total.cpus)),
        "mem": format!("{} / {}", fmt::mib(&a.used.mem), fmt::mib(&a.total.mem)),
        "disk": format!("{} / {}", fmt::mib(&a.used.disk), fmt::mib(&a.total.disk)),
        "cpus_used": a.used.cpus, "cpus_total": a.total.cpus,
        "mem_used": a.used.mem, "mem_total": a.total.mem,
        "disk_used": a.used.disk, "disk_total": a.total.disk,
    })
}

/// A framework as the tabs are told of it: what its row shows.
pub fn framework_json(f: &crate::model::cluster::Framework) -> Value {
    json!({
        "id": f.id, "name": f.name, "tasks": f.tasks,
        "cpus": fmt::num(&f.used.cpus), "mem": fmt::mib(&f.used.mem), "disk": fmt::mib(&f.used.disk),
    })
}

/// A task as the tabs are told of it. `ended` (terminal) and `added` (new to the master) let a
/// page whose rows this task is not among tell whether it changes which rows it has.
pub fn task_json(c: &Cluster, t: &Task, added: bool) -> Value {
    let host = c
        .agents
        .get(&t.agent_id)
        .map(|a| a.hostname.as_str())
        .unwrap_or("");
    json!({
        "id": t.id, "name": t.name, "state": t.state.as_str(), "framework_id": t.framework_id,
        "agent_id": t.agent_id, "host": host,
        "health": match t.healthy { Some(true) => "healthy", Some(false) => "unhealthy", None => "—" },
        "cpus": t.res.cpus, "mem": t.res.mem,
        "ended": t.state.is_terminal(), "added": added,
    })
}

impl Live {
    pub fn new(epoch: String) -> Live {
        Live {
            cluster: RwLock::default(),
            marathon: RwLock::default(),
            history: Mutex::default(),
            masters: Mutex::default(),
            hub: Hub::new(epoch),
            stats_dirty: AtomicBool::new(true),
            uses_dirty: Mutex::default(),
            marathon_dirty: Mutex::default(),
            marathon_wake: Notify::new(),
        }
    }

    pub fn cluster(&self) -> std::sync::RwLockReadGuard<'_, Cluster> {
        read(&self.cluster)
    }

    pub fn marathon(&self) -> std::sync::RwLockReadGuard<'_, Marathon> {
        read(&self.marathon)
    }

    pub fn history(&self) -> History {
        lock(&self.history).clone()
    }

    /// One event from the master's stream.
    pub fn master_event(&self, from: &str, ev: Value) -> bool {
        let added = ev["type"] == "TASK_ADDED";
        // A whole state (thousands of tasks) is parsed before the lock is taken: the pages
        // keep reading the old one meanwhile.
        let state = (ev["type"] == "SUBSCRIBED").then(|| {
            <drover_api::operator::GetState as serde::Deserialize>::deserialize(
                &ev["subscribed"]["get_state"],
            )
        });
        let (changes, events) = {
            let mut c = write(&self.cluster);

            let changes = match state {
                Some(Ok(st)) => {
                    c.load(st, from);
                    vec![Change::Reset]
                }
                Some(Err(e)) => {
                    tracing::warn!("ui: a SUBSCRIBED whose state does not parse ({e}); ignored");
                    Vec::new()
                }
                None => c.apply(&ev, from),
            };
            let events: Vec<(&'static str, String)> = changes
                .iter()
                .filter_map(|ch| match ch {
                    Change::Reset => Some(("reset", "{}".to_string())),
                    Change::Task(id) => c
                        .task(id)
                        .map(|t| ("task", task_json(&c, t, added).to_string())),
                    Change::Agent(id) => c
                        .agents
                        .get(id)
                        .map(|a| ("agent", agent_json(a).to_string())),
                    Change::AgentGone(id) => Some(("agent_gone", json!({"id": id}).to_string())),
                    Change::Framework(id) => c
                        .frameworks
                        .get(id)
                        .map(|f| ("framework", framework_json(f).to_string())),
                    Change::FrameworkGone(id) => {
                        Some(("framework_gone", json!({"id": id}).to_string()))
                    }
                })
                .collect();
            // The agents and frameworks those tasks ran on and for (finished ones are still
            // found among the kept ones): their use changed.
            let mut uses = lock(&self.uses_dirty);
            for ch in &changes {
                if let Some(t) = match ch {
                    Change::Task(id) => c.task(id),
                    _ => None,
                } {
                    uses.0.insert(t.agent_id.clone());
                    uses.1.insert(t.framework_id.clone());
                }
            }
            drop(uses);
            (changes, events)
        };
        for (topic, data) in events {
            self.hub.publish(topic, data);
        }
        if !changes.is_empty() {
            self.stats_dirty.store(true, Ordering::Release);
        }
        changes.contains(&Change::Reset)
    }

    /// The dashboard's numbers now.
    pub fn stats(&self) -> Value {
        let c = self.cluster();
        let (used, total) = c.totals();
        let m = self.marathon();
        let (mut healthy, mut unhealthy, mut idle, mut na) = (0, 0, 0, 0);
        for a in m.apps.values() {
            if a.instances == 0 && a.running == 0 {
                idle += 1;
            } else if !a.health_checked {
                na += 1;
            } else if a.unhealthy > 0 {
                unhealthy += 1;
            } else {
                healthy += 1;
            }
        }
        let standbys = {
            let all = lock(&self.masters).clone();
            let others: Vec<String> = all
                .into_iter()
                .filter(|m| Some(m) != c.leader.as_ref())
                .collect();
            if others.is_empty() {
                "none".to_string()
            } else {
                others.join(", ")
            }
        };
        let mut out = json!({
            "agents-active": c.agents.values().filter(|a| a.active).count(),
            "agents-total": c.agents.len(),
            "frameworks": c.frameworks.len(),
            "tasks-running": c.running(),
            "tasks-active": c.tasks.len(),
            "services-healthy": healthy, "services-unhealthy": unhealthy,
            "services-idle": idle, "services-na": na,
            "apps": m.apps.len(),
            "deployments": m.deployments.len(),
            "leader": c.leader.clone().unwrap_or_else(|| "—".into()),
            "standbys": standbys,
            "cpus-used": fmt::num(&used.cpus), "cpus-total": fmt::num(&total.cpus),
            "cpus-pct": fmt::pct(&used.cpus, &total.cpus),
            "mem-used": fmt::mib(&used.mem), "mem-total": fmt::mib(&total.mem),
            "mem-pct": fmt::pct(&used.mem, &total.mem),
            "disk-used": fmt::mib(&used.disk), "disk-total": fmt::mib(&total.disk),
            "disk-pct": fmt::pct(&used.disk, &total.disk),
        });
        for (state, n) in c.states() {
            out[format!("state-{state}")] = json!(n);
        }
        out
    }

    /// Keep the list of masters from ZooKeeper's group (`zk://` only), every 10 s and when
    /// the leader changes.
    pub async fn masters_loop(
        self: Arc<Self>,
        sessions: drover_zk::Sessions,
        mut leader: drover_zk::Leader,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            match drover_zk::members(&sessions, drover_zk::Layout::Mesos).await {
                Ok(m) => {
                    let list: Vec<String> = m
                        .iter()
                        .filter_map(|(_, d)| drover_zk::master_address(d))
                        .collect();
                    let mut cur = lock(&self.masters);
                    if *cur != list {
                        *cur = list;
                        self.stats_dirty.store(true, Ordering::Release);
                    }
                }
                Err(e) => tracing::debug!("ui: listing the masters in ZooKeeper: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = leader.changed() => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn sample(&self) {
        let (used, total, ended) = {
            let c = self.cluster();
            let (u, t) = c.totals();
            (u, t, c.ended)
        };
        let s = lock(&self.history).record(now(), used, total, ended);
        self.hub.publish("sample", json!(s).to_string());
    }

    /// Publish the dashboard's numbers when they changed (at most every 250 ms), and a history
    /// sample every 2 s.
    pub async fn clock(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_sample = (EVERY / 0.25) as u32;
        let mut n = 0u32;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if n == 0 {
                self.sample();
            }
            n = (n + 1) % per_sample;
            if self.stats_dirty.swap(false, Ordering::AcqRel) {
                self.hub.publish("stats", self.stats().to_string());
            }
            self.publish_uses();
        }
    }

    /// Tell the tabs what the agents and frameworks whose tasks changed now use: one event
    /// each per tick, however many of their tasks changed.
    fn publish_uses(&self) {
        let (agents, frameworks) = std::mem::take(&mut *lock(&self.uses_dirty));
        if agents.is_empty() && frameworks.is_empty() {
            return;
        }
        let events: Vec<(&'static str, String)> = {
            let c = self.cluster();
            let a = agents
                .iter()
                .filter_map(|id| c.agents.get(id))
                .map(|a| ("agent", agent_json(a).to_string()));
            let f = frameworks
                .iter()
                .filter_map(|id| c.frameworks.get(id))
                .map(|f| ("framework", framework_json(f).to_string()));
            a.chain(f).collect()
        };
        for (topic, data) in events {
            self.hub.publish(topic, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_events_say_whether_they_add_or_end_a_task() {
        use crate::testing::*;
        let live = Live::new("e".into());
        live.master_event(
            "m",
            subscribed(
                vec![agent("S0", "a", 4.0, 1024.0)],
                vec![framework("F1", "marathon")],
                vec![],
            ),
        );
        let (_, mut rx) = live.hub.subscribe(None);
        let t = task("t1", "web", "F1", "S0", "TASK_STAGING");
        live.master_event(
            "m",
            json!({"type": "TASK_ADDED", "task_added": {"task": t}}),
        );
        live.master_event("m", task_updated("t1", "F1", "TASK_RUNNING"));
        live.master_event("m", task_updated("t1", "F1", "TASK_FINISHED"));
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            let v: Value = serde_json::from_str(&e.data).expect("JSON");
            seen.push((v["state"].clone(), v["added"].clone(), v["ended"].clone()));
        }
        assert_eq!(
            seen,
            [
                (json!("TASK_STAGING"), json!(true), json!(false)),
                (json!("TASK_RUNNING"), json!(false), json!(false)),
                (json!("TASK_FINISHED"), json!(false), json!(true)),
            ]
        );
    }

    #[test]
    fn a_task_that_ends_tells_its_agent_and_framework_rows_once_per_tick() {
        use crate::testing::*;
        let live = Live::new("e".into());
        live.master_event(
            "m",
            subscribed(
                vec![agent("S0", "node-a", 4.0, 1024.0)],
                vec![framework("F1", "marathon")],
                vec![
                    task("t1", "web", "F1", "S0", "TASK_RUNNING"),
                    task("t2", "web", "F1", "S0", "TASK_RUNNING"),
                ],
            ),
        );
        let (_, mut rx) = live.hub.subscribe(None);
        live.master_event("m", task_updated("t1", "F1", "TASK_FINISHED"));
        live.master_event("m", task_updated("t2", "F1", "TASK_KILLED"));
        live.publish_uses();
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            seen.push((e.topic, e.data.clone()));
        }
        let agents: Vec<&String> = seen
            .iter()
            .filter(|(t, _)| *t == "agent")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(agents.len(), 1, "{seen:?}");
        let a: Value = serde_json::from_str(agents[0]).unwrap();
        assert_eq!(a["tasks"], 0);
        assert_eq!(a["cpus"], "0 / 4");
        assert_eq!(seen.iter().filter(|(t, _)| *t == "framework").count(), 1);
        live.publish_uses();
        assert!(rx.try_recv().is_err(), "nothing changed since");
    }
}
