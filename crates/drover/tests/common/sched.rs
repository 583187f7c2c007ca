//! Scheduler-side helpers for tests: a framework driven by the Rust v1 client.
#![allow(dead_code)]

use drover_api::scheduler::{Accept, Call, CallType, Event, EventType};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use std::path::Path;
use std::time::Duration;

pub fn framework(name: &str, failover: f64, partition_aware: bool) -> FrameworkInfo {
    let mut caps = vec![];
    if partition_aware {
        caps.push(Capability {
            kind: "PARTITION_AWARE".into(),
        });
    }
    FrameworkInfo {
        user: String::new(),
        name: name.into(),
        failover_timeout: Some(failover),
        capabilities: caps,
        ..Default::default()
    }
}

pub fn scalar(name: &str, v: f64) -> Resource {
    Resource::scalar(name, v)
}

pub fn command_task(id: &str, agent: &AgentID, cmd: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: agent.clone(),
        resources: vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        executor: None,
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
    }
}

/// Wait for offers and launch one task per (id, cmd) on the first offer's agent.
pub async fn launch(s: &mut SchedulerClient, tasks: &[(&str, &str)]) -> AgentID {
    launch_infos(s, |agent| {
        tasks
            .iter()
            .map(|(id, cmd)| command_task(id, agent, cmd))
            .collect()
    })
    .await
}

/// ACCEPT of one offer with a LAUNCH of `tasks`, refusing the rest of it for an hour.
pub fn accept_call(offer: &OfferID, tasks: Vec<TaskInfo>) -> Call {
    let mut call = Call::new(CallType::ACCEPT, None);
    call.accept = Some(Accept {
        offer_ids: vec![offer.clone()],
        operations: vec![Operation::launch(tasks)],
        filters: Some(Filters {
            refuse_seconds: Some(3600.0),
        }),
    });
    call
}

/// Wait for offers and launch the tasks `make` builds for the first offer's agent.
pub async fn launch_infos(
    s: &mut SchedulerClient,
    make: impl Fn(&AgentID) -> Vec<TaskInfo>,
) -> AgentID {
    loop {
        let ev = s.next_event(Duration::from_secs(30)).await.expect("offers");
        if let Some(o) = ev.offers {
            let offer = &o.offers[0];
            let call = accept_call(&offer.id, make(&offer.agent_id));
            let (st, body) = s.call(call).await.unwrap();
            assert_eq!(st.as_u16(), 202, "{body}");
            // Decline the rest for a long time so the test sees only what it launched.
            let rest: Vec<OfferID> = o.offers[1..].iter().map(|o| o.id.clone()).collect();
            if !rest.is_empty() {
                let mut d = Call::new(CallType::DECLINE, None);
                d.decline = Some(drover_api::scheduler::Decline {
                    offer_ids: rest,
                    filters: Some(Filters {
                        refuse_seconds: Some(3600.0),
                    }),
                });
                s.call(d).await.unwrap();
            }
            return offer.agent_id.clone();
        }
    }
}

pub async fn ack(s: &SchedulerClient, st: &TaskStatus) {
    if let (Some(uuid), Some(agent)) = (&st.uuid, &st.agent_id) {
        let mut c = Call::new(CallType::ACKNOWLEDGE, None);
        c.acknowledge = Some(drover_api::scheduler::Acknowledge {
            agent_id: agent.clone(),
            task_id: st.task_id.clone(),
            uuid: uuid.clone(),
        });
        let (code, body) = s.call(c).await.unwrap();
        assert_eq!(code.as_u16(), 202, "{body}");
    }
}

/// Read events until `pred` matches an update; acknowledges updates unless told not to.
pub async fn wait_update(
    s: &mut SchedulerClient,
    timeout: Duration,
    acknowledge: bool,
    mut pred: impl FnMut(&TaskStatus) -> bool,
) -> TaskStatus {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let ev: Event = s
            .next_event(left)
            .await
            .unwrap_or_else(|| panic!("no matching update within {timeout:?}"));
        if ev.kind == EventType::UPDATE {
            let st = ev.update.unwrap().status;
            if acknowledge {
                ack(s, &st).await;
            }
            if pred(&st) {
                return st;
            }
        }
    }
}

/// The pid of the task's shell: a process whose cwd is its sandbox under this cluster's work
/// dir. Waits up to 10 s: the shell enters its sandbox just after it starts, which may be after
/// TASK_RUNNING was sent.
pub fn pid_of_task(sandbox_root: &Path, task: &str) -> Option<u32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = find_task_pid(sandbox_root, task) {
            return Some(pid);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The same, once, without waiting.
pub fn find_task_pid(sandbox_root: &Path, task: &str) -> Option<u32> {
    let marker = format!("/executors/{task}/");
    super::processes_under(sandbox_root)
        .into_iter()
        .find(|(_, cwd)| cwd.to_string_lossy().contains(&marker))
        .map(|(pid, _)| pid as u32)
}
