//! A fake master's cluster for the benchmarks that follow the operator stream (the DNS', the
//! web UI's): agents numbered 0.., one framework (Marathon), and the `SUBSCRIBED` event that
//! carries them with the given tasks, as Drover's master sends it.

use drover_api::operator::{
    AgentEntry, FrameworkEntry, GetAgents, GetExecutors, GetFrameworks, GetState, GetTasks, Task,
};
use drover_api::{AgentID, AgentInfo, FrameworkID, FrameworkInfo, Resource};

/// The fake framework's id.
pub const FRAMEWORK: &str = "7d1e9a40-3b7c-4f0e-8d2a-5c6b9e1f3a20-0000";

/// Agent `i`'s id.
pub fn agent_id(i: usize) -> String {
    format!("5f0c3b5e-1d2a-4c8e-9b7a-2f4d6e8a0c1b-S{i}")
}

/// Agent `i`'s address (250 a /24).
pub fn agent_ip(i: usize) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 1)
}

/// The framework tasks are launched for.
pub fn framework_id() -> FrameworkID {
    FrameworkID::new(FRAMEWORK)
}

/// The `SUBSCRIBED` event of a cluster of `agents` agents (each with `resources`) running
/// `tasks` for Marathon.
pub fn subscribed(tasks: Vec<Task>, agents: usize, resources: &[Resource]) -> serde_json::Value {
    let state = GetState {
        get_tasks: GetTasks {
            tasks,
            ..Default::default()
        },
        get_executors: GetExecutors::default(),
        get_frameworks: GetFrameworks {
            frameworks: vec![FrameworkEntry {
                framework_info: FrameworkInfo {
                    user: "root".into(),
                    name: "marathon".into(),
                    id: Some(framework_id()),
                    hostname: Some("127.0.0.1".into()),
                    ..Default::default()
                },
                active: true,
                connected: true,
                recovered: false,
                registered_time: None,
                reregistered_time: None,
                unregistered_time: None,
                offers: vec![],
                allocated_resources: vec![],
                offered_resources: vec![],
            }],
            completed_frameworks: vec![],
        },
        get_agents: GetAgents {
            agents: (0..agents)
                .map(|i| AgentEntry {
                    agent_info: AgentInfo {
                        hostname: agent_ip(i),
                        port: Some(5051),
                        id: Some(AgentID::new(agent_id(i))),
                        resources: resources.to_vec(),
                        ..Default::default()
                    },
                    active: true,
                    deactivated: false,
                    drain_info: None,
                    estimated_drain_start_time: None,
                    version: "1.11.0".into(),
                    pid: Some(format!("slave(1)@{}:5051", agent_ip(i))),
                    registered_time: None,
                    reregistered_time: None,
                    total_resources: vec![],
                    allocated_resources: vec![],
                    offered_resources: vec![],
                })
                .collect(),
            recovered_agents: vec![],
        },
    };
    serde_json::json!({"type": "SUBSCRIBED", "subscribed": {
        "get_state": state, "heartbeat_interval_seconds": 15.0}})
}
