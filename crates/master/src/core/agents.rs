//! Agents: registration and re-registration (the task state rebuilt from the agent's report),
//! a closed agent stream, and the calls agents post (heartbeats, status updates, executor
//! messages and exits).

use super::{push_bounded, AgentRec, Master, Outbox, RegistryOp, COMPLETED_TASKS_PER_FRAMEWORK};
use crate::tasks::{Id, TaskRec, TaskSet};
use crate::ApiError;
use drover_api::agent_protocol::{FromAgent, Register, ReportedTask, ToAgent};
use drover_api::operator::Task;
use drover_api::scheduler::{self, Event};
use drover_api::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl Master {
    pub fn register_agent(
        &mut self,
        reg: Register,
        remote_ip: String,
        stream: Outbox,
        now: f64,
    ) -> Result<(AgentID, u64), ApiError> {
        if reg.version != drover_api::agent_protocol::PROTOCOL_VERSION {
            return Err(ApiError::UnsupportedProtocol {
                got: reg.version,
                want: drover_api::agent_protocol::PROTOCOL_VERSION,
            });
        }
        if let Some(id) = reg
            .agent_id
            .as_ref()
            .filter(|id| self.gone_agents.contains(*id))
        {
            tracing::warn!(agent_id = %id, "refusing an agent marked gone; it is told to shut down");
            return Err(ApiError::AgentGone(id.clone()));
        }
        if self.machine_down(&reg.agent_info.hostname, &remote_ip) {
            tracing::warn!(hostname = %reg.agent_info.hostname, ip = %remote_ip, "refusing an agent on a machine that is DOWN");
            return Err(ApiError::MachineDown);
        }
        let port = reg.agent_info.port.unwrap_or(5051);
        // Its resources as given, with the reservations and volumes made on it since: this
        // master's view when it knows the agent (an operator's reservation made while the agent
        // was away is in it, and the agent is sent it), else what the agent checkpointed.
        let known = reg
            .agent_id
            .as_ref()
            .and_then(|id| self.agents.get(id))
            .map(|a| super::operations::checkpointed_of(&a.total));
        let resend = known
            .as_ref()
            .filter(|k| {
                Resources::from_list(k) != Resources::from_list(&reg.checkpointed_resources)
            })
            .cloned();
        let total = super::operations::total_with(
            &Resources::from_list(&reg.agent_info.resources),
            known.as_deref().unwrap_or(&reg.checkpointed_resources),
        );
        let id = match reg.agent_id.clone() {
            Some(id) => id,
            None => {
                let n = self.next();
                AgentID::new(format!("{}-S{n}", self.info.id))
            }
        };
        let mut info = reg.agent_info.clone();
        info.id = Some(id.clone());
        let reregister = reg.agent_id.is_some();
        self.recovered_agents.remove(&id);
        self.unreachable_recovered.remove(&id);
        // What the agent reports, keyed for the lookups below: one pass over its tasks, not one
        // per task the master knew (that was tasks × tasks under the master's lock).
        let reported_ids: HashSet<(String, String)> = reg
            .tasks
            .iter()
            .map(|t| (t.framework_id.value.clone(), t.task.task_id.value.clone()))
            .collect();
        if let Some(old) = self.agents.remove(&id) {
            // Re-registration of a known agent: forget what it had, rebuild from its report.
            for oid in self
                .offers
                .iter()
                .filter(|(_, o)| o.offer.agent_id == id)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
            {
                self.rescind_offer(&oid, now);
            }
            self.allocator.remove_agent(&id.value);
            for (fid, tid) in old.tasks.to_vec() {
                if let Some(fw) = self.frameworks.get_mut(&FrameworkID::new(&*fid)) {
                    if let Some(rec) = fw
                        .tasks
                        .remove(&tid)
                        .or_else(|| fw.unreachable_tasks.remove(&tid))
                    {
                        // Tasks the agent no longer reports ended there, as Mesos' agent answers
                        // the master's reconciliation of them: DROPPED to partition-aware
                        // frameworks (LOST to others), "unknown to the agent". A launch sent on
                        // the stream the agent had just dropped ends so: it never reached it.
                        if !reported_ids.contains(&(fid.to_string(), tid.to_string())) {
                            let mut t = rec;
                            Arc::make_mut(&mut t).state = if fw.partition_aware() {
                                TaskState::TASK_DROPPED
                            } else {
                                TaskState::TASK_LOST
                            };
                            let mut s = TaskStatus::new(TaskID::new(&*tid), t.state);
                            s.source = Some(StatusSource::SOURCE_MASTER);
                            s.reason = Some(Reason::REASON_RECONCILIATION);
                            s.message = Some("Reconciliation: task unknown to the agent".into());
                            s.agent_id = Some(id.clone());
                            fw.send(&Event::update(s));
                            push_bounded(&mut fw.completed_tasks, t, COMPLETED_TASKS_PER_FRAMEWORK);
                        } else {
                            fw.tasks.insert(tid, rec);
                        }
                    }
                }
            }
        }
        // Frameworks the agent knows but we do not (master restart): recovered, awaiting re-subscribe.
        for finfo in &reg.frameworks {
            let Some(fid) = finfo.id.clone() else {
                continue;
            };
            if self.frameworks.contains_key(&fid) {
                continue;
            }
            if self.removed.contains(&fid) {
                continue;
            }
            self.recover_framework(finfo.clone(), now);
        }
        let mut agent = AgentRec {
            id: id.clone(),
            info: info.clone(),
            pid: format!("slave(1)@{remote_ip}:{port}"),
            total: total.clone(),
            stream: Some(stream),
            registered_time: self.unix(now),
            reregistered_time: if reregister {
                Some(self.unix(now))
            } else {
                None
            },
            last_seen: now,
            unreachable: false,
            tasks: TaskSet::default(),
            executors: HashMap::new(),
            conn: 0,
        };
        agent.conn = self.next();
        let conn = agent.conn;
        let mut used: Vec<(String, String, Resources)> = Vec::new();
        let mut kill: Vec<(FrameworkID, TaskID)> = Vec::new();
        let mut updates: Vec<(FrameworkID, TaskStatus)> = Vec::new();
        // Tasks new to this master, told to operator subscribers if there are any.
        let announce = !self.operator_streams.is_empty();
        let mut added: Vec<(FrameworkID, TaskID)> = Vec::new();
        for ReportedTask {
            framework_id,
            task,
            state,
            executor_id,
        } in reg.tasks
        {
            let Some(fw) = self.frameworks.get_mut(&framework_id) else {
                // A framework that was torn down: its leftovers must go.
                kill.push((framework_id, task.task_id));
                continue;
            };
            if state.is_terminal() {
                // Ended while out of reach: its terminal update follows; until then it is not
                // unreachable any more.
                if let Some(mut rec) = fw.unreachable_tasks.remove(task.task_id.value.as_str()) {
                    Arc::make_mut(&mut rec).state = state;
                    push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
                }
                continue;
            }
            // Mesos: a non-partition-aware framework was told this task is LOST when its agent
            // became unreachable, so the task must not come back; kill it.
            let reported_lost = !fw.tasks.contains_key(task.task_id.value.as_str())
                && fw.completed_tasks.iter().any(|t| {
                    *t.task_id == *task.task_id.value
                        && *t.agent_id == *id.value
                        && t.state == TaskState::TASK_LOST
                });
            if reported_lost {
                kill.push((framework_id, task.task_id));
                continue;
            }
            let role = fw.roles.first().cloned().unwrap_or_else(|| "*".into());
            let was_unreachable = fw.unreachable_tasks.remove(task.task_id.value.as_str());
            if !fw.tasks.contains_key(task.task_id.value.as_str()) {
                let t = Task {
                    name: task.name.clone(),
                    task_id: task.task_id.clone(),
                    framework_id: framework_id.clone(),
                    executor_id: executor_id.clone(),
                    agent_id: id.clone(),
                    state,
                    resources: task.resources.clone(),
                    statuses: vec![],
                    status_update_state: None,
                    status_update_uuid: None,
                    labels: task.labels.clone(),
                    discovery: task.discovery.clone(),
                    container: task.container.clone(),
                    health_check: task.health_check.clone(),
                    kill_policy: task.kill_policy.clone(),
                    user: None,
                };
                let rec = Arc::new(TaskRec::new(t, &role, &mut self.ids));
                fw.tasks.insert(rec.task_id.clone(), rec);
                // New to this master (after its failover): told to operator subscribers as
                // Mesos' Framework::addTask does, or they never learn of it.
                if announce && was_unreachable.is_none() {
                    added.push((framework_id.clone(), task.task_id.clone()));
                }
            }
            let Some(rec) = fw.tasks.get_mut(task.task_id.value.as_str()) else {
                continue;
            };
            if let Some(mut prev) = was_unreachable {
                let rec = Arc::make_mut(rec);
                rec.role = prev.role.clone();
                rec.take_statuses(Arc::make_mut(&mut prev));
                rec.state = state;
                let mut s = TaskStatus::new(task.task_id.clone(), state);
                s.source = Some(StatusSource::SOURCE_MASTER);
                s.reason = Some(Reason::REASON_AGENT_REREGISTERED);
                s.message = Some("Agent re-registered".into());
                s.agent_id = Some(id.clone());
                updates.push((framework_id.clone(), s));
            }
            let mut res = Resources::from_list(&task.resources);
            if let Some(e) = executor_id.clone() {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    agent.executors.entry((framework_id.clone(), e.clone()))
                {
                    let einfo = task.executor.clone().unwrap_or(ExecutorInfo {
                        kind: None,
                        executor_id: e.clone(),
                        framework_id: Some(framework_id.clone()),
                        command: None,
                        container: None,
                        resources: vec![],
                        name: None,
                        source: None,
                        data: None,
                        shutdown_grace_period: None,
                        labels: None,
                    });
                    res.add_all(&Resources::from_list(&einfo.resources));
                    v.insert((einfo, rec.role.to_string()));
                    fw.executors.insert((id.clone(), e));
                }
            }
            used.push((framework_id.value.clone(), rec.role.to_string(), res));
            let task_key = rec.task_id.clone();
            agent
                .tasks
                .insert(self.ids.get(&framework_id.value), task_key);
        }
        for (fid, tid) in kill {
            agent.send(&ToAgent::KillTask {
                framework_id: fid,
                task_id: tid,
                kill_policy: None,
            });
        }
        // Unreachable tasks of this agent that it no longer has at all: gone.
        for fw in self.frameworks.values_mut() {
            let gone: Vec<Id> = fw
                .unreachable_tasks
                .iter()
                .filter(|(tid, r)| {
                    *r.agent_id == *id.value && !agent.tasks.contains(&fw.id.value, tid)
                })
                .map(|(tid, _)| tid.clone())
                .collect();
            for tid in gone {
                let reported = reported_ids.contains(&(fw.id.value.clone(), tid.to_string()));
                let Some(mut rec) = fw.unreachable_tasks.remove(&tid) else {
                    continue;
                };
                if reported {
                    push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
                    continue;
                }
                Arc::make_mut(&mut rec).state = TaskState::TASK_GONE;
                let mut s = TaskStatus::new(TaskID::new(&*tid), TaskState::TASK_GONE);
                s.source = Some(StatusSource::SOURCE_MASTER);
                s.reason = Some(Reason::REASON_AGENT_RESTARTED);
                s.message = Some("Task is no longer on its re-registered agent".into());
                s.agent_id = Some(id.clone());
                fw.send(&Event::update(s));
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        agent.send(&ToAgent::Registered {
            agent_id: id.clone(),
            heartbeat_interval_seconds: self.cfg.agent_heartbeat_secs,
            master_id: self.info.id.clone(),
        });
        if let Some(resources) = resend {
            agent.send(&ToAgent::CheckpointResources { resources });
        }
        self.allocator.add_agent(&id.value, total, &used);
        if self.deactivated.contains(&id) {
            self.allocator.deactivate_agent(&id.value);
        }
        self.agents.insert(id.clone(), agent);
        if self.draining.contains_key(&id) {
            // Mesos' master sends a re-registering draining agent its drain again.
            self.send_drain_kills(&id);
        }
        for (fid, s) in updates {
            self.send_to_framework(&fid, &Event::update(s));
        }
        self.record(RegistryOp::PutAgent(info.clone()));
        self.operator_event(
            "AGENT_ADDED",
            serde_json::json!({"agent": self.agent_entry_json(&id)}),
        );
        for (fid, tid) in &added {
            let v = serde_json::json!({"task": self.task_json(fid, tid)});
            self.operator_event("TASK_ADDED", v);
        }
        tracing::info!(agent_id = %id, hostname = %info.hostname, reregister, "agent registered");
        self.allocation_wanted = true;
        Ok((id, conn))
    }

    pub fn agent_disconnected(&mut self, id: &AgentID, conn: u64) {
        if let Some(a) = self.agents.get_mut(id) {
            if a.conn == conn {
                a.stream = None;
                tracing::warn!(agent_id = %id, "agent disconnected");
            }
        }
    }

    pub fn agent_calls(
        &mut self,
        id: &AgentID,
        calls: Vec<FromAgent>,
        now: f64,
    ) -> Result<(), ApiError> {
        let Some(agent) = self.agents.get_mut(id) else {
            return Err(ApiError::AgentNotRegistered(id.clone()));
        };
        if agent.unreachable {
            return Err(ApiError::AgentUnreachable(id.clone()));
        }
        agent.last_seen = now;
        for call in calls {
            match call {
                FromAgent::Heartbeat => {}
                FromAgent::UpdateSlave {
                    oversubscribed_resources,
                } => self.update_oversubscribed(id, oversubscribed_resources, now),
                FromAgent::Updates { updates } => {
                    for u in updates {
                        self.status_update(id, u, now);
                    }
                }
                FromAgent::ExecutorMessage {
                    framework_id,
                    executor_id,
                    data,
                } => {
                    let ev = Event::message(scheduler::Message {
                        agent_id: id.clone(),
                        executor_id,
                        data: data.unwrap_or_default(),
                    });
                    self.send_to_framework(&framework_id, &ev);
                }
                FromAgent::ExecutorExited {
                    framework_id,
                    executor_id,
                    status,
                } => {
                    if let Some(agent) = self.agents.get_mut(id) {
                        if let Some((e, role)) = agent
                            .executors
                            .remove(&(framework_id.clone(), executor_id.clone()))
                        {
                            let res = Resources::from_list(&e.resources);
                            self.allocator.recover(
                                &id.value,
                                &framework_id.value,
                                &role,
                                &res,
                                0.0,
                                now,
                            );
                            self.allocation_wanted = true;
                        }
                    }
                    if let Some(fw) = self.frameworks.get_mut(&framework_id) {
                        fw.executors.remove(&(id.clone(), executor_id.clone()));
                        fw.send(&Event::failure(scheduler::Failure {
                            agent_id: Some(id.clone()),
                            executor_id: Some(executor_id),
                            status: Some(status),
                        }));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::super::RegistryOp;
    use axum::http::StatusCode;
    use drover_api::agent_protocol::{FromAgent, ToAgent};
    use drover_api::scheduler::EventType;
    use drover_api::*;

    #[test]
    fn registration_gives_an_id_and_is_recorded() {
        let mut h = Harness::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reg = mock_agent(2.0, 1024.0, (31000, 31009));
        let (id, _) =
            h.m.register_agent(reg.clone(), "10.0.0.7".into(), tx, h.now)
                .expect("registers");
        assert_eq!(id, AgentID::new("m1-S1"));
        let msgs: Vec<ToAgent> = drain(&mut rx);
        assert_eq!(
            msgs,
            vec![ToAgent::Registered {
                agent_id: id.clone(),
                heartbeat_interval_seconds: 5.0,
                master_id: "m1".into(),
            }]
        );
        let mut info = reg.agent_info;
        info.id = Some(id.clone());
        assert_eq!(h.pending(), vec![RegistryOp::PutAgent(info)]);
        assert_eq!(h.m.agents[&id].pid, "slave(1)@10.0.0.7:5051");
        // Another protocol version is refused.
        let mut old = mock_agent(2.0, 1024.0, (31000, 31009));
        old.version += 1;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let err =
            h.m.register_agent(old, "10.0.0.8".into(), tx, h.now)
                .expect_err("refused");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{err:?}");
        assert!(err.to_string().contains("protocol version"), "{err}");
    }

    #[test]
    fn reregistration_keeps_reported_tasks_and_ends_the_rest() {
        // (partition aware, state of a task the agent no longer reports)
        for (pa, gone) in [
            (false, TaskState::TASK_LOST),
            (true, TaskState::TASK_DROPPED),
        ] {
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let (mut fw, ag) = h.running(caps, &["kept", "lost"]);
            let offer = h.offer(&mut fw);
            h.pending();
            let again = h.reregister(&ag, &fw.id, &[("kept", TaskState::TASK_RUNNING)]);
            assert_eq!(again.id, ag.id);
            let case = format!("pa {pa}");
            assert_eq!(
                h.task_state(&fw.id, "kept"),
                Some(("active", TaskState::TASK_RUNNING)),
                "{case}"
            );
            assert_eq!(
                h.task_state(&fw.id, "lost"),
                Some(("completed", gone)),
                "{case}"
            );
            let events = fw.events();
            // The offer of the old registration is rescinded; the missing task reported.
            assert!(events.iter().any(|e| e.kind == EventType::RESCIND
                && e.rescind.as_ref().map(|r| &r.offer_id) == Some(&offer.id)));
            let ups: Vec<&TaskStatus> = events
                .iter()
                .filter_map(|e| e.update.as_ref().map(|u| &u.status))
                .collect();
            assert_eq!(ups.len(), 1, "{case}: {ups:?}");
            assert_eq!(ups[0].task_id.value, "lost");
            assert_eq!(ups[0].state, gone);
            assert_eq!(ups[0].reason, Some(Reason::REASON_RECONCILIATION));
            assert_eq!(
                ups[0].message.as_deref(),
                Some("Reconciliation: task unknown to the agent")
            );
            assert_eq!(
                again.first.len(),
                1,
                "{case}: REGISTERED only, nothing to kill"
            );
            assert!(h.m.agents[&ag.id].reregistered_time.is_some());
            assert_eq!(h.pending().len(), 1, "{case}: the agent is stored again");
            // What the kept task uses is not offered again.
            let r = Resources::from_list(&h.offer(&mut fw).resources);
            assert_eq!(r.scalar("cpus"), 3.5, "{case}");
        }
    }

    #[test]
    fn an_agent_coming_back_from_unreachable() {
        // (partition aware, reported state, where the task ends up, update sent, killed)
        use TaskState::*;
        let cases = [
            (
                true,
                TASK_RUNNING,
                ("active", TASK_RUNNING),
                Some(Reason::REASON_AGENT_REREGISTERED),
                false,
            ),
            (
                true,
                TASK_FINISHED,
                ("completed", TASK_FINISHED),
                None,
                false,
            ),
            (false, TASK_RUNNING, ("completed", TASK_LOST), None, true),
        ];
        for (pa, reported, place, reason, killed) in cases {
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let (mut fw, ag) = h.running(caps, &["t1"]);
            h.now += 100.0;
            h.m.tick(h.now, false);
            let first = fw.updates();
            let want = if pa { TASK_UNREACHABLE } else { TASK_LOST };
            assert_eq!(status_of(&first, "t1").state, want);
            let again = h.reregister(&ag, &fw.id, &[("t1", reported)]);
            let case = format!("pa {pa}, reported {reported:?}");
            assert_eq!(h.task_state(&fw.id, "t1"), Some(place), "{case}");
            let ups = fw.updates();
            assert_eq!(
                ups.first().and_then(|s| s.reason),
                reason,
                "{case}: {ups:?}"
            );
            let kills = again
                .first
                .iter()
                .filter(|m| matches!(m, ToAgent::KillTask { .. }))
                .count();
            assert_eq!(kills == 1, killed, "{case}");
        }
    }

    #[test]
    fn an_unreachable_task_its_agent_no_longer_has_is_gone() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&["PARTITION_AWARE"], &["t1"]);
        h.now += 100.0;
        h.m.tick(h.now, false);
        fw.events();
        h.reregister(&ag, &fw.id, &[]);
        let ups = fw.updates();
        let s = status_of(&ups, "t1");
        assert_eq!(s.state, TaskState::TASK_GONE);
        assert_eq!(s.reason, Some(Reason::REASON_AGENT_RESTARTED));
        assert_eq!(
            h.task_state(&fw.id, "t1"),
            Some(("completed", TaskState::TASK_GONE))
        );
    }

    #[test]
    fn after_a_master_restart_frameworks_are_known_from_their_agents() {
        let mut h = Harness::new();
        let fid = FrameworkID::new("old-master-0001");
        let mut info = mock_framework("web", &[]);
        info.id = Some(fid.clone());
        let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
        reg.agent_id = Some(AgentID::new("old-master-S1"));
        reg.frameworks = vec![info.clone()];
        reg.tasks = vec![drover_api::agent_protocol::ReportedTask {
            framework_id: fid.clone(),
            task: task("t1", &AgentID::new("old-master-S1"), 1.0, 512.0),
            state: TaskState::TASK_RUNNING,
            executor_id: None,
        }];
        // And a task of a framework that was torn down: killed.
        h.m.removed.insert(FrameworkID::new("gone-0001"));
        reg.tasks.push(drover_api::agent_protocol::ReportedTask {
            framework_id: FrameworkID::new("gone-0001"),
            task: task("z", &AgentID::new("old-master-S1"), 0.1, 32.0),
            state: TaskState::TASK_RUNNING,
            executor_id: None,
        });
        // An operator subscriber (the DNS, the UI) following this master since it started.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        h.m.operator_streams.push(tx);
        let ag = h.register(reg);
        let f = &h.m.frameworks[&fid];
        assert!(f.recovered && !f.active && !f.connected());
        // It learns of the task the agent brought back (Mesos' TASK_ADDED from addTask).
        let events: Vec<serde_json::Value> = drain(&mut rx);
        let added: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["type"] == "TASK_ADDED")
            .collect();
        assert_eq!(added.len(), 1, "{events:?}");
        assert_eq!(added[0]["task_added"]["task"]["task_id"]["value"], "t1");
        assert_eq!(added[0]["task_added"]["task"]["state"], "TASK_RUNNING");
        assert_eq!(
            h.task_state(&fid, "t1"),
            Some(("active", TaskState::TASK_RUNNING))
        );
        assert!(!h.m.frameworks.contains_key(&FrameworkID::new("gone-0001")));
        assert_eq!(
            ag.first[0],
            ToAgent::KillTask {
                framework_id: FrameworkID::new("gone-0001"),
                task_id: TaskID::new("z"),
                kill_policy: None,
            }
        );
        // It comes back with its id and finds its task.
        let mut fw = h.subscribe(info);
        assert_eq!(fw.id, fid);
        assert!(!h.m.frameworks[&fid].recovered);
        assert!(fw.events().is_empty());
        let offer = h.offer(&mut fw);
        assert_eq!(Resources::from_list(&offer.resources).scalar("cpus"), 3.0);
    }

    #[test]
    fn calls_of_agents_the_master_does_not_take() {
        let mut h = Harness::new();
        let (_fw, ag) = h.running(&[], &["t1"]);
        let err =
            h.m.agent_calls(&AgentID::new("nope"), vec![FromAgent::Heartbeat], h.now)
                .expect_err("unknown");
        assert_eq!(err.status(), StatusCode::NOT_FOUND, "{err:?}");
        h.now += 100.0;
        h.m.tick(h.now, false);
        let err =
            h.m.agent_calls(&ag.id, vec![FromAgent::Heartbeat], h.now)
                .expect_err("unreachable");
        assert_eq!(err.status(), StatusCode::CONFLICT, "{err:?}");
    }

    #[test]
    fn only_the_current_streams_disconnect_counts() {
        let mut h = Harness::new();
        let (fw, ag) = h.running(&[], &["t1"]);
        let again = h.reregister(&ag, &fw.id, &[("t1", TaskState::TASK_RUNNING)]);
        assert_ne!(again.conn, ag.conn);
        h.m.agent_disconnected(&ag.id, ag.conn);
        assert!(h.m.agents[&ag.id].connected(), "an older stream ended");
        h.m.agent_disconnected(&ag.id, again.conn);
        assert!(!h.m.agents[&ag.id].connected());
        // Disconnected is not unreachable: its tasks stay until the heartbeats stop.
        assert_eq!(
            h.task_state(&fw.id, "t1"),
            Some(("active", TaskState::TASK_RUNNING))
        );
    }

    #[test]
    fn a_heartbeat_keeps_the_agent_reachable() {
        let mut h = Harness::new();
        let (_fw, ag) = h.running(&[], &["t1"]);
        for _ in 0..10 {
            h.now += 30.0;
            h.m.agent_calls(&ag.id, vec![FromAgent::Heartbeat], h.now)
                .expect("heartbeat");
            h.m.tick(h.now, false);
        }
        assert!(!h.m.agents[&ag.id].unreachable);
    }

    #[test]
    fn executor_messages_and_exits_reach_the_framework() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let mut t = task("t1", &ag.id, 0.5, 128.0);
        t.command = None;
        t.executor = Some(executor("e1"));
        h.launch(&fw, &offer, vec![t]);
        ag.messages();
        h.m.agent_calls(
            &ag.id,
            vec![
                FromAgent::ExecutorMessage {
                    framework_id: fw.id.clone(),
                    executor_id: ExecutorID::new("e1"),
                    data: Some(b"hello".to_vec()),
                },
                FromAgent::ExecutorExited {
                    framework_id: fw.id.clone(),
                    executor_id: ExecutorID::new("e1"),
                    status: 256,
                },
            ],
            h.now,
        )
        .expect("taken");
        let events = fw.events();
        let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::MESSAGE, EventType::FAILURE]);
        assert_eq!(
            events[0].message.as_ref().map(|m| m.data.clone()),
            Some(b"hello".to_vec())
        );
        assert_eq!(events[1].failure.as_ref().and_then(|f| f.status), Some(256));
        assert!(h.m.frameworks[&fw.id].executors.is_empty());
        assert!(h.m.agents[&ag.id].executors.is_empty());
    }
}
