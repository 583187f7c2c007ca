//! Status updates from agents: the task state machine (active, unreachable, completed), the
//! resources a task that ended gives back, and the update passed on to its framework.

use super::{push_bounded, Master, COMPLETED_TASKS_PER_FRAMEWORK};
use drover_api::agent_protocol::{StatusUpdate, ToAgent};
use drover_api::scheduler::Event;
use drover_api::*;
use std::sync::Arc;

impl Master {
    pub(super) fn status_update(&mut self, agent_id: &AgentID, u: StatusUpdate, now: f64) {
        self.counters.updates_from_agents += 1;
        let StatusUpdate {
            framework_id: fid,
            mut status,
        } = u;
        status.agent_id = Some(agent_id.clone());
        if !self.draining.is_empty() {
            self.drain_decorate(agent_id, &fid, &mut status);
        }
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            // Nobody will ever acknowledge this: do it for the framework, and clean up.
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.send(&ToAgent::Acknowledge {
                    framework_id: fid.clone(),
                    task_id: status.task_id.clone(),
                    uuid: status.uuid.clone(),
                });
                if self.removed.contains(&fid) {
                    a.send(&ToAgent::ShutdownFramework { framework_id: fid });
                }
            }
            return;
        };
        let state = status.state;
        let mut recovered: Option<(String, Resources)> = None;
        let mut completed = false;
        // Whether a task the master knows moved to another state (a transition).
        let mut changed = false;
        let tid = status.task_id.value.as_str();
        if let Some(rec) = fw.tasks.get_mut(tid) {
            let rec = Arc::make_mut(rec);
            let was_terminal = rec.state.is_terminal();
            changed = rec.state != state;
            rec.state = state;
            rec.set_status_update(state, status.uuid.as_deref());
            // Kept without its data (as Mesos' master does); the framework gets it whole.
            let data = status.data.take();
            rec.push_status(&status, Some(4), &mut self.ids);
            status.data = data;
            if state.is_terminal() && !was_terminal {
                recovered = Some((rec.role.to_string(), Resources::from_list(&rec.resources())));
                completed = true;
            }
        }
        if completed {
            if let Some(rec) = fw.tasks.remove(tid) {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        // A task reported unreachable that its agent now reports on: it ended while out of
        // reach (completed), or it is running again (active).
        if let Some(mut rec) = fw.unreachable_tasks.remove(tid) {
            let r = Arc::make_mut(&mut rec);
            changed |= r.state != state;
            r.state = state;
            let data = status.data.take();
            r.push_status(&status, None, &mut self.ids);
            status.data = data;
            if state.is_terminal() {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            } else {
                let key = rec.task_id.clone();
                fw.tasks.insert(key.clone(), rec);
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.tasks.insert(self.ids.get(&fid.value), key);
                }
            }
        }
        *self
            .counters
            .tasks_by_state
            .entry(state.as_str())
            .or_default() += 1;
        if changed {
            *self.counters.transitions.entry(state.as_str()).or_default() += 1;
        }
        if let Some((role, res)) = recovered {
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.tasks.remove(&fid.value, &status.task_id.value);
            }
            self.allocator
                .recover(&agent_id.value, &fid.value, &role, &res, 0.0, now);
            self.allocation_wanted = true;
        }
        if !self.operator_streams.is_empty() {
            self.operator_event(
                "TASK_UPDATED",
                serde_json::json!({"framework_id": fid, "status": status, "state": state}),
            );
        }
        if let Some(fw) = self.frameworks.get_mut(&fid) {
            fw.send(&Event::update(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use drover_api::agent_protocol::{FromAgent, StatusUpdate, ToAgent};
    use drover_api::scheduler::{self, CallType};
    use drover_api::*;

    #[test]
    fn updates_move_a_task_through_its_states() {
        use TaskState::*;
        // (states the agent reports in order, where the task ends up, its resources back)
        let cases = [
            (vec![TASK_STARTING], "active", TASK_STARTING, false),
            (
                vec![TASK_STARTING, TASK_RUNNING],
                "active",
                TASK_RUNNING,
                false,
            ),
            (
                vec![TASK_RUNNING, TASK_FINISHED],
                "completed",
                TASK_FINISHED,
                true,
            ),
            (
                vec![TASK_RUNNING, TASK_FAILED],
                "completed",
                TASK_FAILED,
                true,
            ),
            (
                vec![TASK_KILLING, TASK_KILLED],
                "completed",
                TASK_KILLED,
                true,
            ),
            (vec![TASK_ERROR], "completed", TASK_ERROR, true),
        ];
        for (states, place, last, freed) in cases {
            let mut h = Harness::new();
            let mut fw = h.subscribe(mock_framework("web", &[]));
            let ag = h.register(mock_agent(1.0, 1024.0, (31000, 31009)));
            let offer = h.offer(&mut fw);
            h.launch(&fw, &offer, vec![task("t1", &ag.id, 1.0, 1024.0)]);
            let mut uuids = Vec::new();
            for s in &states {
                uuids.push(h.update(&ag, &fw.id, "t1", *s));
            }
            let case = format!("{states:?}");
            assert_eq!(h.task_state(&fw.id, "t1"), Some((place, last)), "{case}");
            // Every update reaches the framework as the agent sent it, with its uuid to ack.
            let ups = fw.updates();
            let got: Vec<(TaskState, Option<Vec<u8>>)> =
                ups.iter().map(|s| (s.state, s.uuid.clone())).collect();
            let want: Vec<(TaskState, Option<Vec<u8>>)> = states
                .iter()
                .zip(uuids)
                .map(|(s, u)| (*s, Some(u)))
                .collect();
            assert_eq!(got, want, "{case}");
            assert!(
                ups.iter().all(|s| s.agent_id.as_ref() == Some(&ag.id)),
                "{case}"
            );
            // A task that ended gives its resources back; the agent is offered again.
            assert_eq!(!h.offers(&mut fw).is_empty(), freed, "{case}");
            assert_eq!(
                h.m.agents[&ag.id].tasks.contains(&fw.id.value, "t1"),
                !freed,
                "{case}"
            );
        }
    }

    #[test]
    fn a_terminal_task_is_counted_once_and_keeps_its_history() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&[], &["t1"]);
        h.update(&ag, &fw.id, "t1", TaskState::TASK_FINISHED);
        // A retried terminal update: passed on again, nothing given back twice.
        h.update(&ag, &fw.id, "t1", TaskState::TASK_FINISHED);
        assert_eq!(fw.updates().len(), 2);
        let done = &h.m.frameworks[&fw.id].completed_tasks;
        assert_eq!(done.len(), 1);
        let t = done[0].to_task();
        let states: Vec<TaskState> = t.statuses.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            vec![TaskState::TASK_RUNNING, TaskState::TASK_FINISHED]
        );
        assert_eq!(t.status_update_state, Some(TaskState::TASK_FINISHED));
        assert_eq!(
            h.m.counters.tasks_by_state.get("TASK_FINISHED").copied(),
            Some(2)
        );
        // One task finished once: a retried update is no transition.
        let entered = |s: &str| h.m.counters.transitions.get(s).copied();
        assert_eq!(
            (
                entered("TASK_STAGING"),
                entered("TASK_RUNNING"),
                entered("TASK_FINISHED")
            ),
            (Some(1), Some(1), Some(1))
        );
    }

    #[test]
    fn data_is_passed_on_but_not_kept() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&[], &["t1"]);
        let mut status = TaskStatus::new(TaskID::new("t1"), TaskState::TASK_RUNNING);
        status.uuid = Some(vec![9; 16]);
        status.data = Some(b"payload".to_vec());
        h.m.agent_calls(
            &ag.id,
            vec![FromAgent::Updates {
                updates: vec![StatusUpdate {
                    framework_id: fw.id.clone(),
                    status,
                }],
            }],
            h.now,
        )
        .expect("taken");
        assert_eq!(fw.updates()[0].data.as_deref(), Some(&b"payload"[..]));
        let kept = h.m.frameworks[&fw.id].tasks["t1"].to_task();
        assert!(kept.statuses.iter().all(|s| s.data.is_none()));
    }

    #[test]
    fn acknowledgements_reach_the_agent_with_the_updates_uuid() {
        let mut h = Harness::new();
        let (fw, mut ag) = h.running(&[], &["t1"]);
        let uuid = h.update(&ag, &fw.id, "t1", TaskState::TASK_FINISHED);
        let aid = ag.id.clone();
        let u = uuid.clone();
        h.call(&fw, CallType::ACKNOWLEDGE, |c| {
            c.acknowledge = Some(scheduler::Acknowledge {
                agent_id: aid,
                task_id: TaskID::new("t1"),
                uuid: u,
            })
        })
        .expect("ack");
        assert_eq!(
            ag.messages(),
            vec![ToAgent::Acknowledge {
                framework_id: fw.id.clone(),
                task_id: TaskID::new("t1"),
                uuid: Some(uuid),
            }]
        );
    }

    #[test]
    fn an_update_nobody_will_acknowledge_is_acknowledged_by_the_master() {
        // (framework: torn down, or never known; ShutdownFramework follows the ack)
        for (removed, shutdown) in [(true, true), (false, false)] {
            let mut h = Harness::new();
            let (fw, mut ag) = h.running(&[], &["t1"]);
            let fid = if removed {
                h.call(&fw, CallType::TEARDOWN, |_| {}).expect("teardown");
                ag.messages();
                fw.id.clone()
            } else {
                FrameworkID::new("stranger")
            };
            let uuid = h.update(&ag, &fid, "t1", TaskState::TASK_KILLED);
            let mut want = vec![ToAgent::Acknowledge {
                framework_id: fid.clone(),
                task_id: TaskID::new("t1"),
                uuid: Some(uuid),
            }];
            if shutdown {
                want.push(ToAgent::ShutdownFramework { framework_id: fid });
            }
            assert_eq!(ag.messages(), want, "removed {removed}");
        }
    }
}
