//! Drover's agent↔master protocol, version 1 (documented in `docs/agent-protocol.md`).
//!
//! The agent opens one long-lived `POST /internal/agent/v1/register` whose response is a RecordIO
//! stream of [`ToAgent`] messages (launches, kills, acknowledgements, framework messages, pings);
//! everything the agent says afterwards is a batched `POST /internal/agent/v1/call` of
//! [`FromAgent`]. No connection per task: a burst of launches is a burst of records on one stream,
//! a burst of status updates is one POST.

use crate::mesos::*;
use serde::{Deserialize, Serialize};

pub const PROTOCOL_VERSION: u32 = 1;
pub const REGISTER_PATH: &str = "/internal/agent/v1/register";
pub const CALL_PATH: &str = "/internal/agent/v1/call";

/// A task as the agent reports it when (re-)registering.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReportedTask {
    pub framework_id: FrameworkID,
    pub task: TaskInfo,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Register {
    pub version: u32,
    pub agent_info: AgentInfo,
    /// Set when the agent re-registers with the id it was given before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default)]
    pub tasks: Vec<ReportedTask>,
    #[serde(default)]
    pub frameworks: Vec<FrameworkInfo>,
    /// The dynamic reservations and persistent volumes the master made on this agent, as it
    /// last checkpointed them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpointed_resources: Vec<Resource>,
}

/// A status update with the framework it belongs to; `status.uuid` identifies it for the ack.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    pub framework_id: FrameworkID,
    pub status: TaskStatus,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FromAgent {
    /// Liveness: the master marks the agent unreachable when these stop.
    Heartbeat,
    Updates {
        updates: Vec<StatusUpdate>,
    },
    ExecutorMessage {
        framework_id: FrameworkID,
        executor_id: ExecutorID,
        #[serde(with = "crate::mesos::b64")]
        data: Option<Vec<u8>>,
    },
    /// An executor exited (custom executors), with its wait status.
    ExecutorExited {
        framework_id: FrameworkID,
        executor_id: ExecutorID,
        status: i32,
    },
    /// The agent's estimate of its oversubscribable resources (Mesos' `UpdateSlaveMessage` with
    /// `oversubscribed_resources`): allocated but unused, each resource `"revocable": {}`. It
    /// replaces the previous estimate; empty withdraws it.
    UpdateSlave {
        oversubscribed_resources: Vec<Resource>,
    },
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AgentCall {
    pub agent_id: AgentID,
    pub calls: Vec<FromAgent>,
}

/// An [`AgentCall`] as the agent writes it, borrowing what it sends: its queued calls, then its
/// due status updates (shared with its status update manager, not copied) as one `UPDATES`.
/// The same JSON as `AgentCall`.
#[derive(Serialize, Debug)]
pub struct AgentCallRef<'a> {
    pub agent_id: &'a AgentID,
    pub calls: Vec<CallRef<'a>>,
}

#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum CallRef<'a> {
    Call(&'a FromAgent),
    Updates(UpdatesRef<'a>),
}

/// `FromAgent::Updates`, borrowed.
#[derive(Debug)]
pub struct UpdatesRef<'a>(pub &'a [std::sync::Arc<StatusUpdate>]);

impl Serialize for UpdatesRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", "UPDATES")?;
        let updates: Vec<&StatusUpdate> = self.0.iter().map(|u| &**u).collect();
        m.serialize_entry("updates", &updates)?;
        m.end()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ToAgent {
    Registered {
        agent_id: AgentID,
        heartbeat_interval_seconds: f64,
        master_id: String,
    },
    /// The whole set of the agent's dynamic reservations and persistent volumes, after a
    /// change: the agent keeps it, makes new volumes' directories and removes destroyed ones'.
    CheckpointResources {
        resources: Vec<Resource>,
    },
    RunTasks {
        framework: FrameworkInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        executor: Option<ExecutorInfo>,
        tasks: Vec<TaskInfo>,
    },
    KillTask {
        framework_id: FrameworkID,
        task_id: TaskID,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kill_policy: Option<KillPolicy>,
    },
    Acknowledge {
        framework_id: FrameworkID,
        task_id: TaskID,
        #[serde(with = "crate::mesos::b64")]
        uuid: Option<Vec<u8>>,
    },
    FrameworkMessage {
        framework_id: FrameworkID,
        executor_id: ExecutorID,
        #[serde(with = "crate::mesos::b64")]
        data: Option<Vec<u8>>,
    },
    ShutdownExecutor {
        framework_id: FrameworkID,
        executor_id: ExecutorID,
    },
    ShutdownFramework {
        framework_id: FrameworkID,
    },
    /// Ask the agent to resend the latest state of these tasks (unknown ones get TASK_LOST... the
    /// agent answers what it knows).
    Reconcile {
        framework_id: FrameworkID,
        task_ids: Vec<TaskID>,
    },
    Ping,
    /// The agent was marked gone (`MARK_AGENT_GONE`): kill everything and stop.
    Shutdown {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_borrowed_agent_call_is_the_same_json_and_reads_back() {
        let update = |task: &str, state| StatusUpdate {
            framework_id: FrameworkID::new("fw"),
            status: TaskStatus::new(TaskID::new(task), state),
        };
        let queued = vec![FromAgent::ExecutorExited {
            framework_id: FrameworkID::new("fw"),
            executor_id: ExecutorID::new("e"),
            status: 9,
        }];
        let due = vec![
            Arc::new(update("a", TaskState::TASK_RUNNING)),
            Arc::new(update("b", TaskState::TASK_FINISHED)),
        ];
        let owned = AgentCall {
            agent_id: AgentID::new("agent"),
            calls: vec![
                queued[0].clone(),
                FromAgent::Updates {
                    updates: due.iter().map(|u| (**u).clone()).collect(),
                },
            ],
        };
        let mut calls: Vec<CallRef<'_>> = queued.iter().map(CallRef::Call).collect();
        calls.push(CallRef::Updates(UpdatesRef(&due)));
        let borrowed = AgentCallRef {
            agent_id: &owned.agent_id,
            calls,
        };
        let text = serde_json::to_string(&borrowed).unwrap();
        assert_eq!(text, serde_json::to_string(&owned).unwrap());
        assert_eq!(serde_json::from_str::<AgentCall>(&text).unwrap(), owned);
    }
}
