//! Housekeeping: the periodic tick (agents that went silent become unreachable, frameworks past
//! their failover timeout are removed, heartbeats on every stream), role weights, and the
//! operator API's event streams.

use super::{
    frame, push_bounded, time_info, validate_role, Counters, Framework, Master, RegistryOp,
    COMPLETED_TASKS_PER_FRAMEWORK,
};
use crate::tasks::{Interner, TaskRec};
use crate::ApiError;
use drover_api::agent_protocol::ToAgent;
use drover_api::scheduler::Event;
use drover_api::*;
use std::sync::Arc;

/// A task's new state, decided by the master (its agent is unreachable, or gone): record the
/// status on the task, send it to the framework, count it.
fn report(
    fw: &mut Framework,
    ids: &mut Interner,
    counters: &mut Counters,
    rec: &mut Arc<TaskRec>,
    s: TaskStatus,
) {
    let state = s.state;
    let r = Arc::make_mut(rec);
    r.state = state;
    r.push_status(&s, None, ids);
    fw.send(&Event::update(s));
    counters.entered(state, 1);
}

impl Master {
    /// Periodic housekeeping: agents that went silent, frameworks past their failover timeout,
    /// heartbeats on every stream.
    pub fn tick(&mut self, now: f64, send_heartbeats: bool) {
        let timeout = self.cfg.agent_timeout_secs;
        let silent: Vec<AgentID> = self
            .agents
            .values()
            .filter(|a| !a.unreachable && now - a.last_seen > timeout)
            .map(|a| a.id.clone())
            .collect();
        for id in silent {
            self.mark_unreachable(&id, now);
        }
        // Admitted agents that never came back after a master failover (Mesos marks them
        // unreachable in its registry): their tasks reconcile as unreachable from now on.
        let since = *self.first_tick.get_or_insert(now);
        if !self.recovered_agents.is_empty()
            && now - since >= self.cfg.agent_reregister_timeout_secs
        {
            for (id, info) in std::mem::take(&mut self.recovered_agents) {
                tracing::warn!(agent_id = %id, hostname = %info.hostname, "agent did not re-register within the agent re-register timeout; unreachable");
                self.unreachable_recovered.insert(id);
            }
        }
        let expired: Vec<FrameworkID> = self
            .frameworks
            .values()
            .filter(|f| !f.connected() && f.failover_deadline.map(|d| now >= d).unwrap_or(false))
            .map(|f| f.id.clone())
            .collect();
        for fid in expired {
            tracing::info!(framework_id = %fid, "framework failover timeout expired");
            self.remove_framework(&fid, now);
        }
        self.send_inverse_offers(now);
        self.check_all_drained(now);
        if send_heartbeats {
            let hb = frame(&Event::heartbeat());
            for fw in self.frameworks.values_mut() {
                if let Some(s) = &fw.stream {
                    if s.send(hb.clone()).is_err() {
                        fw.stream = None;
                    }
                }
            }
            let ping = frame(&ToAgent::Ping);
            for a in self.agents.values_mut() {
                if let Some(s) = &a.stream {
                    let _ = s.send(ping.clone());
                }
            }
            let ohb = frame(&serde_json::json!({"type": "HEARTBEAT"}));
            self.operator_streams
                .retain(|s| s.send(ohb.clone()).is_ok());
        }
    }

    /// Rescind every outstanding offer of agent `id`.
    pub(super) fn rescind_offers_of(&mut self, id: &AgentID, now: f64) {
        let offers: Vec<OfferID> = self
            .offers
            .iter()
            .filter(|(_, o)| &o.offer.agent_id == id)
            .map(|(k, _)| k.clone())
            .collect();
        for oid in offers {
            self.rescind_offer(&oid, now);
        }
    }

    /// Whether agent `id` is one the master knows: registered, or admitted by the registry and
    /// not back yet (the agents operator calls may name).
    pub(super) fn knows_agent(&self, id: &AgentID) -> bool {
        self.agents.contains_key(id)
            || self.recovered_agents.contains_key(id)
            || self.unreachable_recovered.contains(id)
    }

    /// `DEACTIVATE_AGENT`: nothing on the agent is offered (its outstanding offers are
    /// rescinded); what runs there keeps running. Kept in the registry.
    pub fn deactivate_agent(&mut self, id: &AgentID, now: f64) -> Result<(), ApiError> {
        if !self.knows_agent(id) {
            return Err(ApiError::UnknownAgentToDeactivate);
        }
        if self.deactivated.insert(id.clone()) {
            self.record(RegistryOp::DeactivateAgent(id.clone()));
        }
        self.allocator.deactivate_agent(&id.value);
        self.rescind_offers_of(id, now);
        Ok(())
    }

    /// `REACTIVATE_AGENT`: offers again (400 unless it was deactivated).
    pub fn reactivate_agent(&mut self, id: &AgentID) -> Result<(), ApiError> {
        if !self.deactivated.contains(id) {
            return Err(ApiError::AgentNotDeactivated);
        }
        self.end_drain_for_reactivation(id)?;
        self.deactivated.remove(id);
        self.record(RegistryOp::ReactivateAgent(id.clone()));
        self.allocator.activate_agent(&id.value);
        self.allocation_wanted = true;
        Ok(())
    }

    /// `MARK_AGENT_GONE`: the agent is gone for good. Its tasks end as TASK_GONE_BY_OPERATOR
    /// (TASK_LOST for frameworks that are not partition-aware), a connected agent is told to
    /// shut down, and it is never admitted again (the registry remembers).
    pub fn mark_agent_gone(&mut self, id: &AgentID, now: f64) -> Result<(), ApiError> {
        if self.gone_agents.contains(id) {
            return Ok(());
        }
        if !self.knows_agent(id) {
            return Err(ApiError::AgentNotFound(id.clone()));
        }
        tracing::warn!(agent_id = %id, "agent marked gone by an operator");
        let why = format!("Agent {id} has been marked gone");
        self.remove_agent_by_operator(id, "Agent has been marked gone", &why, now);
        self.gone_agents.insert(id.clone());
        self.record(RegistryOp::MarkAgentGone(id.clone()));
        Ok(())
    }

    /// An operator removed agent `id` (marked gone, or its machine went DOWN): a connected agent
    /// is told to shut down, its tasks end as TASK_GONE_BY_OPERATOR (TASK_LOST for frameworks
    /// that are not partition-aware) with `why`.
    pub(super) fn remove_agent_by_operator(
        &mut self,
        id: &AgentID,
        shutdown: &str,
        why: &str,
        now: f64,
    ) {
        self.counters.agent_removals += 1;
        self.rescind_offers_of(id, now);
        let unix = self.unix(now);
        let mut ended: Vec<(FrameworkID, String)> = Vec::new();
        if let Some(mut agent) = self.agents.remove(id) {
            agent.send(&ToAgent::Shutdown {
                message: shutdown.to_string(),
            });
            if !agent.unreachable {
                self.allocator.remove_agent(&id.value);
            }
            ended.extend(
                agent
                    .tasks
                    .to_vec()
                    .into_iter()
                    .map(|(f, t)| (FrameworkID::new(&*f), t.to_string())),
            );
        }
        self.recovered_agents.remove(id);
        self.unreachable_recovered.remove(id);
        // Tasks of partition-aware frameworks already reported unreachable.
        for fw in self.frameworks.values() {
            for (tid, rec) in &fw.unreachable_tasks {
                if &*rec.agent_id == id.value.as_str() {
                    ended.push((fw.id.clone(), tid.to_string()));
                }
            }
        }
        for (fid, tid) in ended {
            let Some(fw) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let pa = fw.partition_aware();
            let Some(mut rec) = fw
                .tasks
                .remove(tid.as_str())
                .or_else(|| fw.unreachable_tasks.remove(tid.as_str()))
            else {
                continue;
            };
            let state = if pa {
                TaskState::TASK_GONE_BY_OPERATOR
            } else {
                TaskState::TASK_LOST
            };
            let mut s = TaskStatus::new(TaskID::new(tid.as_str()), state);
            s.source = Some(StatusSource::SOURCE_MASTER);
            s.reason = Some(Reason::REASON_AGENT_REMOVED_BY_OPERATOR);
            s.message = Some(why.to_string());
            s.agent_id = Some(id.clone());
            s.timestamp = Some(unix);
            report(fw, &mut self.ids, &mut self.counters, &mut rec, s);
            push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
        }
        self.rescind_inverse_offers_of(id);
        if self.draining.remove(id).is_some() {
            self.record(RegistryOp::RemoveDrain(id.clone()));
        }
        self.operator_event("AGENT_REMOVED", serde_json::json!({"agent_id": id}));
        self.allocation_wanted = true;
    }

    fn mark_unreachable(&mut self, id: &AgentID, now: f64) {
        tracing::warn!(agent_id = %id, "agent missed its heartbeats: marking it unreachable");
        self.counters.agent_removals += 1;
        self.rescind_offers_of(id, now);
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        agent.unreachable = true;
        agent.stream = None;
        let tasks = agent.tasks.to_vec();
        agent.executors.clear();
        self.allocator.remove_agent(&id.value);
        let unix = self.unix(now);
        for (fid, tid) in tasks {
            let Some(fw) = self.frameworks.get_mut(&FrameworkID::new(&*fid)) else {
                continue;
            };
            let pa = fw.partition_aware();
            let Some(mut rec) = fw.tasks.remove(&tid) else {
                continue;
            };
            let state = if pa {
                TaskState::TASK_UNREACHABLE
            } else {
                TaskState::TASK_LOST
            };
            let mut s = TaskStatus::new(TaskID::new(&*tid), state);
            s.source = Some(StatusSource::SOURCE_MASTER);
            s.reason = Some(Reason::REASON_AGENT_REMOVED);
            s.message = Some(format!("Agent {id} is unreachable"));
            s.agent_id = Some(id.clone());
            s.timestamp = Some(unix);
            if pa {
                s.unreachable_time = Some(time_info(unix));
            }
            report(fw, &mut self.ids, &mut self.counters, &mut rec, s);
            if pa {
                fw.unreachable_tasks.insert(tid, rec);
            } else {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        if let Some(agent) = self.agents.get_mut(id) {
            agent.tasks.clear();
        }
        self.operator_event("AGENT_REMOVED", serde_json::json!({"agent_id": id}));
    }

    /// Set the weights of `infos` (role, weight), all or nothing, with Mesos' checks (the role
    /// trimmed and valid, the weight positive); outstanding offers are rescinded when a role
    /// with frameworks changed, so the new shares apply at once (as Mesos does).
    pub fn update_weights(&mut self, infos: &[(String, f64)], now: f64) -> Result<(), ApiError> {
        let mut valid = Vec::with_capacity(infos.len());
        for (role, weight) in infos {
            let role = role.trim();
            if let Some(why) = super::quota::role_problem(role) {
                return Err(ApiError::WeightRole {
                    role: role.to_string(),
                    why,
                });
            }
            if !(*weight > 0.0 && weight.is_finite()) {
                return Err(ApiError::WeightNotPositive {
                    role: role.to_string(),
                    weight: *weight,
                });
            }
            valid.push((role.to_string(), *weight));
        }
        for (role, weight) in &valid {
            self.allocator.set_weight(role, *weight)?;
            self.weights.insert(role.clone(), *weight);
        }
        self.record(RegistryOp::PutWeights(self.weights.clone()));
        self.allocation_wanted = true;
        let active = valid.iter().any(|(role, _)| {
            self.frameworks
                .values()
                .any(|f| f.roles.iter().any(|r| r == role))
        });
        if active {
            let offers: Vec<OfferID> = self.offers.keys().cloned().collect();
            for oid in offers {
                self.rescind_offer(&oid, now);
            }
        }
        Ok(())
    }

    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), ApiError> {
        validate_role(role)?;
        if !(weight > 0.0 && weight.is_finite()) {
            return Err(ApiError::NonPositiveWeight {
                role: role.to_string(),
            });
        }
        self.allocator.set_weight(role, weight)?;
        self.weights.insert(role.to_string(), weight);
        self.record(RegistryOp::PutWeights(self.weights.clone()));
        self.allocation_wanted = true;
        Ok(())
    }

    pub fn operator_event(&mut self, kind: &str, body: serde_json::Value) {
        if self.operator_streams.is_empty() {
            return;
        }
        let mut v = serde_json::json!({"type": kind});
        let key = kind.to_ascii_lowercase();
        v[key] = body;
        let rec = frame(&v);
        self.operator_streams
            .retain(|s| s.send(rec.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::super::RegistryOp;
    use drover_api::agent_protocol::ToAgent;
    use drover_api::scheduler::EventType;
    use drover_api::*;
    use std::collections::HashMap;

    #[test]
    fn a_silent_agents_tasks_become_unreachable_or_lost() {
        // (partition aware, state, where the task goes)
        let cases = [
            (true, TaskState::TASK_UNREACHABLE, "unreachable"),
            (false, TaskState::TASK_LOST, "completed"),
        ];
        for (pa, state, place) in cases {
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let (mut fw, ag) = h.running(caps, &["t1", "t2"]);
            let offer = h.offer(&mut fw);
            // Not yet: 75 s of silence is the limit.
            h.now += 70.0;
            h.m.tick(h.now, false);
            assert!(fw.events().is_empty(), "pa {pa}: too early");
            h.now += 10.0;
            h.m.tick(h.now, false);
            let events = fw.events();
            assert!(events.iter().any(|e| e.kind == EventType::RESCIND
                && e.rescind.as_ref().map(|r| &r.offer_id) == Some(&offer.id)));
            let ups: Vec<TaskStatus> = events
                .into_iter()
                .filter_map(|e| e.update.map(|u| u.status))
                .collect();
            for t in ["t1", "t2"] {
                let s = status_of(&ups, t);
                let case = format!("pa {pa}, {t}");
                assert_eq!(s.state, state, "{case}");
                assert_eq!(s.reason, Some(Reason::REASON_AGENT_REMOVED), "{case}");
                assert_eq!(s.unreachable_time.is_some(), pa, "{case}");
                assert_eq!(s.timestamp, Some(START_UNIX + h.now), "{case}");
                assert_eq!(h.task_state(&fw.id, t), Some((place, state)), "{case}");
            }
            let a = &h.m.agents[&ag.id];
            assert!(a.unreachable && !a.connected());
            assert!(a.tasks.to_vec().is_empty());
            assert_eq!(h.m.counters.agent_removals, 1);
            // Nothing of it is offered any more.
            assert!(h.offers(&mut fw).is_empty());
        }
    }

    #[test]
    fn an_agent_marked_gone_ends_its_tasks_is_shut_down_and_never_admitted_again() {
        // (partition aware, the agent unreachable first, what its tasks end as)
        let cases = [
            (true, false, TaskState::TASK_GONE_BY_OPERATOR),
            (false, false, TaskState::TASK_LOST),
            (true, true, TaskState::TASK_GONE_BY_OPERATOR),
        ];
        for (pa, unreachable_first, state) in cases {
            let case = format!("pa {pa}, unreachable first {unreachable_first}");
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let (mut fw, mut ag) = h.running(caps, &["t1"]);
            if unreachable_first {
                h.now += 80.0;
                h.m.tick(h.now, false);
                fw.events();
            }
            h.pending();
            h.m.mark_agent_gone(&ag.id, h.now).expect(&case);
            let ups: Vec<TaskStatus> = fw
                .events()
                .into_iter()
                .filter_map(|e| e.update.map(|u| u.status))
                .collect();
            let s = status_of(&ups, "t1");
            assert_eq!(s.state, state, "{case}");
            assert_eq!(
                s.reason,
                Some(Reason::REASON_AGENT_REMOVED_BY_OPERATOR),
                "{case}"
            );
            assert_eq!(
                h.task_state(&fw.id, "t1"),
                Some(("completed", state)),
                "{case}"
            );
            assert!(!h.m.agents.contains_key(&ag.id), "{case}");
            if !unreachable_first {
                assert!(
                    ag.messages()
                        .iter()
                        .any(|m| matches!(m, ToAgent::Shutdown { .. })),
                    "{case}: a connected agent is told to shut down"
                );
            }
            assert_eq!(
                h.pending(),
                vec![RegistryOp::MarkAgentGone(ag.id.clone())],
                "{case}"
            );
            // Again: nothing more happens. Coming back: refused.
            h.m.mark_agent_gone(&ag.id, h.now).expect(&case);
            assert!(fw.events().is_empty(), "{case}");
            let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
            reg.agent_id = Some(ag.id.clone());
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let e =
                h.m.register_agent(reg, "10.0.0.7".into(), tx, h.now)
                    .expect_err(&case);
            assert_eq!(
                e.to_string(),
                format!(
                    "Agent {} has been marked gone; it may not register again",
                    ag.id
                )
            );
        }
        // An agent nobody knows.
        let mut h = Harness::new();
        let e =
            h.m.mark_agent_gone(&AgentID::new("nope"), h.now)
                .expect_err("unknown");
        assert_eq!(e.to_string(), "Agent 'nope' not found");
        assert_eq!(e.status(), axum::http::StatusCode::NOT_FOUND);
    }

    #[test]
    fn heartbeats_go_to_every_stream_when_asked() {
        let mut h = Harness::new();
        let (mut fw, mut ag) = h.running(&[], &["t1"]);
        h.m.tick(h.now, false);
        assert!(fw.events().is_empty() && ag.messages().is_empty());
        h.m.tick(h.now, true);
        let kinds: Vec<EventType> = fw.events().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::HEARTBEAT]);
        assert_eq!(ag.messages(), vec![ToAgent::Ping]);
    }

    #[test]
    fn weights_are_checked_and_recorded() {
        // (role, weight, accepted)
        let cases = [
            ("web", 2.5, true),
            ("web/prod", 1.0, true),
            ("web", 0.0, false),
            ("web", -1.0, false),
            ("web", f64::NAN, false),
            ("web", f64::INFINITY, false),
            ("a b", 1.0, false),
            ("", 1.0, false),
            ("-web", 1.0, false),
        ];
        for (role, weight, ok) in cases {
            let mut h = Harness::new();
            let r = h.m.set_weight(role, weight);
            assert_eq!(r.is_ok(), ok, "{role:?} {weight}: {r:?}");
            let pending = h.pending();
            if ok {
                let want = HashMap::from([(role.to_string(), weight)]);
                assert_eq!(pending, vec![RegistryOp::PutWeights(want)], "{role}");
                assert_eq!(h.m.role_list()[0].weight, weight);
            } else {
                assert!(pending.is_empty(), "{role:?} {weight}");
                assert!(h.m.weights.is_empty());
            }
        }
    }

    #[test]
    fn operator_streams_get_events_as_they_happen() {
        let mut h = Harness::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        h.m.operator_streams.push(tx);
        let (fw, ag) = h.running(&[], &["t1"]);
        h.now += 100.0;
        h.m.tick(h.now, true);
        let events: Vec<serde_json::Value> = drain(&mut rx);
        let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(
            kinds,
            vec![
                "FRAMEWORK_ADDED",
                "AGENT_ADDED",
                "TASK_ADDED",
                "TASK_UPDATED",
                "AGENT_REMOVED",
                "HEARTBEAT"
            ]
        );
        assert_eq!(
            events[0]["framework_added"]["framework"]["framework_info"]["id"]["value"],
            fw.id.value.as_str()
        );
        assert_eq!(
            events[1]["agent_added"]["agent"]["agent_info"]["id"]["value"],
            ag.id.value.as_str()
        );
        assert_eq!(events[2]["task_added"]["task"]["state"], "TASK_STAGING");
        assert_eq!(events[3]["task_updated"]["state"], "TASK_RUNNING");
        // A closed stream is dropped.
        drop(rx);
        h.m.tick(h.now, true);
        assert!(h.m.operator_streams.is_empty());
    }

    #[test]
    fn a_deactivated_agent_is_offered_nothing_until_reactivated_and_it_is_kept() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        assert_eq!(
            h.m.reactivate_agent(&ag.id)
                .expect_err("not deactivated")
                .to_string(),
            "Agent is not deactivated"
        );
        assert_eq!(
            h.m.deactivate_agent(&AgentID::new("nope"), h.now)
                .expect_err("unknown")
                .to_string(),
            "Unknown agent"
        );
        h.m.deactivate_agent(&ag.id, h.now).expect("deactivated");
        // Its outstanding offer is rescinded, and no new one comes.
        let events = fw.events();
        assert!(
            events.iter().any(|e| e.kind == EventType::RESCIND
                && e.rescind.as_ref().map(|r| &r.offer_id) == Some(&offer.id)),
            "{events:?}"
        );
        assert!(h.offers(&mut fw).is_empty());
        assert!(h
            .pending()
            .iter()
            .any(|op| matches!(op, RegistryOp::DeactivateAgent(id) if *id == ag.id)));
        // Re-registering does not make it offerable.
        let _ag = h.reregister(&ag, &fw.id, &[]);
        assert!(h.offers(&mut fw).is_empty());
        h.m.reactivate_agent(&ag.id).expect("reactivated");
        assert_eq!(h.offers(&mut fw).len(), 1);
    }
}
