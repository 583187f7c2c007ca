//! `/metrics/snapshot`: an agent's counters and gauges under Mesos' names (`slave/…`),
//! counted under the state's lock from what it holds. `/metrics` serves the same values for
//! Prometheus (`crate::metrics`).

use super::{unix_now, Agent};
use drover_api::*;
use std::collections::HashSet;

/// The non-terminal states Mesos has a `slave/tasks_<state>` gauge of.
const LIVE: [TaskState; 4] = [
    TaskState::TASK_STAGING,
    TaskState::TASK_STARTING,
    TaskState::TASK_RUNNING,
    TaskState::TASK_KILLING,
];

/// The terminal states counted in `slave/tasks_<state>` (counters).
pub(crate) const ENDED: [TaskState; 7] = [
    TaskState::TASK_FINISHED,
    TaskState::TASK_FAILED,
    TaskState::TASK_KILLED,
    TaskState::TASK_LOST,
    TaskState::TASK_GONE,
    TaskState::TASK_ERROR,
    TaskState::TASK_DROPPED,
];

/// `TASK_RUNNING` → `slave/tasks_running`.
fn tasks_metric(s: TaskState) -> String {
    format!(
        "slave/{}",
        s.as_str().to_ascii_lowercase().replace("task_", "tasks_")
    )
}

/// Whether a snapshot name is a counter (Mesos documents these as counters).
pub(crate) fn is_counter(name: &str) -> bool {
    ENDED.iter().any(|s| tasks_metric(*s) == name)
        || name == "slave/qos_samples"
        || name == "slave/qos_evictions"
}

impl Agent {
    /// `/metrics/snapshot`, sorted by name.
    pub(crate) fn metrics(&self) -> Vec<(String, f64)> {
        let st = self.lock();
        let mut m: Vec<(String, f64)> = Vec::new();
        let live = st.tasks.values().filter(|t| !t.state.is_terminal());
        let mut by_state = std::collections::HashMap::<TaskState, f64>::new();
        let mut used = Resources::new();
        let mut revocable_used = Resources::new();
        let mut frameworks: HashSet<&FrameworkID> = HashSet::new();
        for t in live {
            *by_state.entry(t.state).or_default() += 1.0;
            // Revocable resources count apart, as Mesos' `slave/<r>_revocable_used`.
            for r in &t.info.resources {
                if r.revocable.is_some() {
                    revocable_used.add(r);
                } else {
                    used.add(r);
                }
            }
            frameworks.insert(&t.framework_id);
        }
        // Tasks an executor has not been given yet are staging, as `/state` shows them.
        let queued: usize = st.executors.values().map(|x| x.queued.len()).sum();
        *by_state.entry(TaskState::TASK_STAGING).or_default() += queued as f64;
        for x in st.executors.values() {
            used.add_all(&Resources::from_list(&x.info.resources));
            frameworks.insert(&x.framework_id);
        }
        for s in LIVE {
            m.push((tasks_metric(s), by_state.get(&s).copied().unwrap_or(0.0)));
        }
        for s in ENDED {
            let n = st.ended.get(s.as_str()).copied().unwrap_or(0);
            m.push((tasks_metric(s), n as f64));
        }
        // Executors: custom ones, plus one per live command task (Mesos' command executor).
        let command = st
            .tasks
            .values()
            .filter(|t| t.executor_id.is_none() && !t.state.is_terminal())
            .count();
        m.push((
            "slave/executors_running".into(),
            (st.executors.len() + command) as f64,
        ));
        m.push(("slave/frameworks_active".into(), frameworks.len() as f64));
        m.push((
            "slave/registered".into(),
            if st.registered { 1.0 } else { 0.0 },
        ));
        m.push((
            "slave/uptime_secs".into(),
            (unix_now() - self.start_unix).max(0.0),
        ));
        for r in ["cpus", "mem", "disk", "gpus"] {
            let (t, u) = (self.cfg.resources.scalar(r), used.scalar(r));
            m.push((format!("slave/{r}_total"), t));
            m.push((format!("slave/{r}_used"), u));
            m.push((
                format!("slave/{r}_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            ));
        }
        let estimate = Resources::from_list(st.oversubscribed_sent.as_deref().unwrap_or(&[]));
        for r in ["cpus", "mem", "disk", "gpus"] {
            let (t, u) = (estimate.scalar(r), revocable_used.scalar(r));
            m.push((format!("slave/{r}_revocable_total"), t));
            m.push((format!("slave/{r}_revocable_used"), u));
            m.push((
                format!("slave/{r}_revocable_percent"),
                if t > 0.0 { u / t } else { 0.0 },
            ));
        }
        m.push(("slave/qos_samples".into(), st.qos_samples as f64));
        m.push(("slave/qos_evictions".into(), st.qos_evictions as f64));
        m.sort_by(|a, b| a.0.cmp(&b.0));
        m
    }
}
