//! Frameworks coming and going: SUBSCRIBE (new, or failing over to a new connection), a
//! framework known only from the registry or an agent's report, a closed stream and its
//! failover timeout, and removal (TEARDOWN, or the timeout expiring).

use super::{
    frame, push_bounded, validate_role, Framework, Master, Outbox, RegistryOp,
    COMPLETED_FRAMEWORKS, COMPLETED_TASKS_PER_FRAMEWORK, HEARTBEAT_SECS,
};
use crate::{ApiError, InvalidFrameworkInfo};
use drover_api::agent_protocol::ToAgent;
use drover_api::scheduler::{self, Call, Event};
use drover_api::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

impl Master {
    /// A framework known from the registry or an agent's report, waiting to re-subscribe.
    pub(super) fn recover_framework(&mut self, info: FrameworkInfo, now: f64) {
        let Some(fid) = info.id.clone() else { return };
        let roles = info.effective_roles();
        self.allocator.add_framework(&fid.value, &roles, &[], &[]);
        self.allocator
            .set_revocable(&fid.value, info.has_capability("REVOCABLE_RESOURCES"));
        self.allocator.deactivate_framework(&fid.value);
        let registered_time = self.unix(now);
        self.frameworks.insert(
            fid.clone(),
            Framework {
                id: fid,
                info,
                roles,
                suppressed: vec![],
                stream: None,
                stream_id: String::new(),
                active: false,
                recovered: true,
                registered_time,
                reregistered_time: None,
                unregistered_time: None,
                failover_deadline: None,
                tasks: HashMap::new(),
                unreachable_tasks: HashMap::new(),
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashSet::new(),
            },
        );
    }

    /// SUBSCRIBE: a new framework, or a known one failing over to a new connection.
    pub fn subscribe(
        &mut self,
        call: &Call,
        stream: Outbox,
        now: f64,
    ) -> Result<(FrameworkID, String), ApiError> {
        let sub = call
            .subscribe
            .as_ref()
            .ok_or(ApiError::MissingField("subscribe"))?;
        let mut info = sub.framework_info.clone();
        if info.name.is_empty() {
            return Err(InvalidFrameworkInfo::MissingName.into());
        }
        match (&call.framework_id, &info.id) {
            (Some(a), Some(b)) if a != b => return Err(InvalidFrameworkInfo::IdMismatch.into()),
            (None, Some(_)) => return Err(InvalidFrameworkInfo::IdWithoutFrameworkId.into()),
            _ => {}
        }
        let roles = info.effective_roles();
        if roles.is_empty() {
            return Err(InvalidFrameworkInfo::NoRoles.into());
        }
        for r in &roles {
            validate_role(r)?;
        }
        if info.has_capability("MULTI_ROLE") && info.role.is_some() {
            return Err(InvalidFrameworkInfo::RoleWithMultiRole.into());
        }
        let id = match &info.id {
            Some(id) => {
                if self.removed.contains(id) {
                    return Err(ApiError::FrameworkRemoved(id.clone()));
                }
                id.clone()
            }
            None => {
                let n = self.next();
                FrameworkID::new(format!("{}-{:04}", self.info.id, n))
            }
        };
        let stream_id = self.id_source.stream_id();
        info.id = Some(id.clone());
        let subscribed = Event::subscribed(scheduler::Subscribed {
            framework_id: id.clone(),
            heartbeat_interval_seconds: Some(HEARTBEAT_SECS),
            master_info: Some(self.info.clone()),
        });
        let suppressed = sub.suppressed_roles.clone();
        let unix_now = self.unix(now);
        if let Some(fw) = self.frameworks.get_mut(&id) {
            // Failover: the old connection is closed with an error event, the new one takes over.
            if let Some(old) = fw.stream.take() {
                let _ = old.send(frame(&Event::error("Framework failed over")));
            }
            fw.info = info;
            fw.roles = roles.clone();
            fw.suppressed = suppressed.clone();
            fw.stream = Some(stream);
            fw.stream_id = stream_id.clone();
            fw.active = true;
            fw.recovered = false;
            fw.failover_deadline = None;
            fw.reregistered_time = Some(unix_now);
            fw.send(&subscribed);
            self.allocator
                .update_framework(&id.value, &roles, &suppressed);
            self.allocator
                .set_revocable(&id.value, fw.info.has_capability("REVOCABLE_RESOURCES"));
            self.allocator.activate_framework(&id.value);
            // Rescind outstanding offers: the new scheduler knows nothing of them.
            let offer_ids: Vec<OfferID> = fw.offers.iter().cloned().collect();
            for oid in offer_ids {
                self.rescind_offer(&oid, now);
            }
            // Its unanswered inverse offers are made again: the new scheduler knows nothing
            // of them either.
            self.maintenance
                .inverse
                .retain(|(_, f), inv| f != &id || inv.outstanding.is_none());
            // Ask agents to resend what this framework has not acknowledged yet.
            let fid = id.clone();
            for agent in self.agents.values_mut() {
                if agent.tasks.has_framework(&fid.value) {
                    agent.send(&ToAgent::Reconcile {
                        framework_id: fid.clone(),
                        task_ids: vec![],
                    });
                }
            }
            tracing::info!(framework_id = %id, "framework re-subscribed");
        } else {
            let info_for_registry = info.clone();
            let mut fw = Framework {
                id: id.clone(),
                info,
                roles: roles.clone(),
                suppressed: suppressed.clone(),
                stream: Some(stream),
                stream_id: stream_id.clone(),
                active: true,
                recovered: false,
                registered_time: self.unix(now),
                reregistered_time: None,
                unregistered_time: None,
                failover_deadline: None,
                tasks: HashMap::new(),
                unreachable_tasks: HashMap::new(),
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashSet::new(),
            };
            fw.send(&subscribed);
            self.frameworks.insert(id.clone(), fw);
            self.allocator
                .add_framework(&id.value, &roles, &suppressed, &[]);
            self.allocator.set_revocable(
                &id.value,
                info_for_registry.has_capability("REVOCABLE_RESOURCES"),
            );
            self.record(RegistryOp::PutFramework(info_for_registry));
            self.operator_event(
                "FRAMEWORK_ADDED",
                serde_json::json!({"framework": self.framework_entry_json(&id)}),
            );
            tracing::info!(framework_id = %id, "framework subscribed");
        }
        self.allocation_wanted = true;
        Ok((id, stream_id))
    }

    /// An operator's teardown (`/master/teardown`, the operator API's TEARDOWN): what the
    /// framework's own TEARDOWN does, for a framework the master knows.
    pub fn teardown(&mut self, fid: &FrameworkID, now: f64) -> Result<(), ApiError> {
        if !self.frameworks.contains_key(fid) {
            return Err(ApiError::NoSuchFramework(fid.clone()));
        }
        tracing::warn!(framework_id = %fid, "framework torn down by an operator");
        self.remove_framework(fid, now);
        Ok(())
    }

    /// TEARDOWN, or failover timeout: kill its tasks, return its resources, forget it.
    pub fn remove_framework(&mut self, fid: &FrameworkID, now: f64) {
        let Some(mut fw) = self.frameworks.remove(fid) else {
            return;
        };
        tracing::info!(framework_id = %fid, "removing framework");
        for oid in fw.offers.drain() {
            if let Some(o) = self.offers.remove(&oid) {
                self.allocator.recover(
                    &o.offer.agent_id.value,
                    &fid.value,
                    &o.role,
                    &o.resources,
                    0.0,
                    now,
                );
            }
        }
        for agent in self.agents.values_mut() {
            if agent.tasks.has_framework(&fid.value)
                || agent.executors.keys().any(|(f, _)| f == fid)
            {
                agent.send(&ToAgent::ShutdownFramework {
                    framework_id: fid.clone(),
                });
            }
            agent.tasks.remove_framework(&fid.value);
            agent.executors.retain(|(f, _), _| f != fid);
        }
        for (_, mut t) in fw.tasks.drain().chain(fw.unreachable_tasks.drain()) {
            Arc::make_mut(&mut t).state = TaskState::TASK_KILLED;
            self.counters.entered(TaskState::TASK_KILLED, 1);
            push_bounded(&mut fw.completed_tasks, t, COMPLETED_TASKS_PER_FRAMEWORK);
        }
        self.allocator.remove_framework(&fid.value);
        if let Some(s) = fw.stream.take() {
            drop(s);
        }
        fw.active = false;
        fw.unregistered_time = Some(self.unix(now));
        self.record(RegistryOp::RemoveFramework(fid.clone()));
        self.removed.insert(fid.clone());
        self.operator_event(
            "FRAMEWORK_REMOVED",
            serde_json::json!({"framework_info": fw.info}),
        );
        push_bounded(&mut self.completed_frameworks, fw, COMPLETED_FRAMEWORKS);
        self.allocation_wanted = true;
    }

    /// The framework's stream closed.
    pub fn framework_disconnected(&mut self, fid: &FrameworkID, stream_id: &str, now: f64) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        if fw.stream_id != stream_id {
            return; // an older connection of a framework that already failed over
        }
        fw.stream = None;
        fw.active = false;
        let timeout = fw.info.failover_timeout.unwrap_or(0.0).max(0.0);
        fw.failover_deadline = Some(now + timeout);
        tracing::info!(framework_id = %fid, "framework disconnected; failover timeout {timeout}s");
        let offers: Vec<OfferID> = fw.offers.iter().cloned().collect();
        self.allocator.deactivate_framework(&fid.value);
        for oid in offers {
            self.rescind_offer(&oid, now);
        }
        if timeout == 0.0 {
            self.remove_framework(fid, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::super::RegistryOp;
    use axum::http::StatusCode;
    use drover_api::agent_protocol::ToAgent;
    use drover_api::scheduler::{Call, CallType, EventType};
    use drover_api::*;

    #[test]
    fn subscribe_refuses_what_mesos_refuses() {
        let with_id = |c: &mut Call| {
            c.subscribe.as_mut().expect("subscribe").framework_info.id =
                Some(FrameworkID::new("m1-9999"));
        };
        type Case = (&'static str, Box<dyn Fn(&mut Call)>, &'static str);
        let cases: Vec<Case> = vec![
            (
                "no subscribe",
                Box::new(|c| c.subscribe = None),
                "Expecting 'subscribe'",
            ),
            (
                "no name",
                Box::new(|c| c.subscribe.as_mut().expect("s").framework_info.name.clear()),
                "'framework_info.name' must be set",
            ),
            (
                "ids differ",
                Box::new(move |c| {
                    with_id(c);
                    c.framework_id = Some(FrameworkID::new("other"));
                }),
                "differs from",
            ),
            (
                "info id without framework_id",
                Box::new(move |c| {
                    with_id(c);
                    c.framework_id = None;
                }),
                "must be set when",
            ),
            (
                "MULTI_ROLE without roles",
                Box::new(|c| {
                    let info = &mut c.subscribe.as_mut().expect("s").framework_info;
                    info.capabilities.push(Capability {
                        kind: "MULTI_ROLE".into(),
                    });
                }),
                "MULTI_ROLE framework subscribed with no 'roles'",
            ),
            (
                "MULTI_ROLE with role",
                Box::new(|c| {
                    let info = &mut c.subscribe.as_mut().expect("s").framework_info;
                    info.capabilities.push(Capability {
                        kind: "MULTI_ROLE".into(),
                    });
                    info.roles = vec!["web".into()];
                    info.role = Some("web".into());
                }),
                "must not be set for a MULTI_ROLE framework",
            ),
            (
                "invalid role",
                Box::new(|c| {
                    c.subscribe.as_mut().expect("s").framework_info.role = Some("a b".into())
                }),
                "Role 'a b' is invalid",
            ),
        ];
        for (name, mutate, want) in cases {
            let mut h = Harness::new();
            let mut call = subscribe_call(mock_framework("web", &[]));
            mutate(&mut call);
            match h.try_subscribe(&call) {
                Err(e) if e.status() == StatusCode::BAD_REQUEST => {
                    let msg = e.to_string();
                    assert!(msg.contains(want), "{name}: {msg}")
                }
                Err(e) => panic!("{name}: bad request expected, got {e:?}"),
                Ok(_) => panic!("{name}: subscribed"),
            }
            assert!(h.m.frameworks.is_empty(), "{name}");
            assert!(h.pending().is_empty(), "{name}: nothing to store");
        }
    }

    #[test]
    fn a_new_framework_gets_subscribed_and_is_recorded() {
        let mut h = Harness::new();
        let info = mock_framework("web", &[]);
        let mut fw = h.try_subscribe(&subscribe_call(info.clone())).expect("ok");
        assert_eq!(fw.id, FrameworkID::new("m1-0001"));
        assert_eq!(fw.stream_id, "stream-1");
        let events = fw.events();
        assert_eq!(events.len(), 1);
        let s = events[0].subscribed.as_ref().expect("SUBSCRIBED");
        assert_eq!(s.framework_id, fw.id);
        assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
        let mut stored = info;
        stored.id = Some(fw.id.clone());
        assert_eq!(h.pending(), vec![RegistryOp::PutFramework(stored)]);
        assert!(h.m.allocation_wanted);
    }

    #[test]
    fn failover_moves_the_framework_to_its_new_stream() {
        let mut h = Harness::new();
        let (mut old, mut ag) = h.running(&[], &["t1"]);
        let offer = h.offer(&mut old);
        h.pending();
        let mut info = mock_framework("web", &[]);
        info.id = Some(old.id.clone());
        let mut new = h.try_subscribe(&subscribe_call(info)).expect("fails over");
        assert_eq!(new.id, old.id);
        assert_eq!(new.stream_id, "stream-2");
        let gone = old.events();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].kind, EventType::ERROR);
        let events = new.events();
        let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventType::SUBSCRIBED, EventType::RESCIND]);
        assert_eq!(
            events[1].rescind.as_ref().map(|r| r.offer_id.clone()),
            Some(offer.id)
        );
        assert_eq!(
            ag.messages(),
            vec![ToAgent::Reconcile {
                framework_id: new.id.clone(),
                task_ids: vec![],
            }]
        );
        // A re-subscription keeps what the registry has.
        assert!(h.pending().is_empty());
        // The old stream id no longer works; the new one does.
        let stale = Fw {
            id: new.id.clone(),
            stream_id: old.stream_id.clone(),
            rx: tokio::sync::mpsc::unbounded_channel().1,
        };
        assert!(matches!(
            h.call(&stale, CallType::REVIVE, |_| {}),
            Err(e) if e.status() == StatusCode::BAD_REQUEST
        ));
        h.call(&new, CallType::REVIVE, |_| {})
            .expect("current stream");
        // A disconnect of the old stream is ignored.
        h.m.framework_disconnected(&old.id, &old.stream_id, h.now);
        assert!(h.m.frameworks[&new.id].connected());
    }

    #[test]
    fn an_operators_teardown_is_the_frameworks_own_and_names_an_unknown_id() {
        let mut h = Harness::new();
        let (fw, mut ag) = h.running(&[], &["t1"]);
        h.pending();
        let now = h.now;
        let unknown = FrameworkID::new("nope");
        let e = h.m.teardown(&unknown, now).expect_err("unknown");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.to_string(), "No framework found with specified ID 'nope'");
        h.m.teardown(&fw.id, now).expect("torn down");
        assert_eq!(
            ag.messages(),
            vec![ToAgent::ShutdownFramework {
                framework_id: fw.id.clone()
            }]
        );
        assert_eq!(
            h.pending(),
            vec![RegistryOp::RemoveFramework(fw.id.clone())]
        );
        assert!(!h.m.frameworks.contains_key(&fw.id));
    }

    #[test]
    fn teardown_kills_its_tasks_and_it_may_not_come_back() {
        let mut h = Harness::new();
        let (fw, mut ag) = h.running(&[], &["t1", "t2"]);
        h.pending();
        h.call(&fw, CallType::TEARDOWN, |_| {}).expect("teardown");
        assert_eq!(
            ag.messages(),
            vec![ToAgent::ShutdownFramework {
                framework_id: fw.id.clone()
            }]
        );
        assert_eq!(
            h.pending(),
            vec![RegistryOp::RemoveFramework(fw.id.clone())]
        );
        assert!(!h.m.frameworks.contains_key(&fw.id));
        let done = h.m.completed_frameworks.back().expect("completed");
        assert_eq!(done.completed_tasks.len(), 2);
        assert!(done
            .completed_tasks
            .iter()
            .all(|t| t.state == TaskState::TASK_KILLED));
        assert!(h.m.agents[&ag.id].tasks.to_vec().is_empty());
        let mut info = mock_framework("web", &[]);
        info.id = Some(fw.id.clone());
        match h.try_subscribe(&subscribe_call(info)) {
            Err(e) if e.status() == StatusCode::FORBIDDEN => {
                let msg = e.to_string();
                assert!(msg.contains("has been removed"), "{msg}")
            }
            other => panic!("forbidden expected, got {:?}", other.map(|f| f.id)),
        }
    }

    #[test]
    fn a_disconnected_framework_is_removed_after_its_failover_timeout() {
        // (failover_timeout, seconds after the disconnect the tick runs, removed by then)
        let cases = [
            (0.0, 0.0, true),
            (10.0, 0.0, false),
            (10.0, 9.5, false),
            (10.0, 10.0, true),
            (-5.0, 0.0, true),
        ];
        for (timeout, after, removed) in cases {
            let mut h = Harness::new();
            let mut info = mock_framework("web", &[]);
            info.failover_timeout = Some(timeout);
            let mut fw = h.subscribe(info);
            h.register(mock_agent(1.0, 1024.0, (31000, 31000)));
            let offer = h.offer(&mut fw);
            h.pending();
            h.m.framework_disconnected(&fw.id, &fw.stream_id, h.now);
            // Its offers are rescinded at once.
            assert!(!h.m.offers.contains_key(&offer.id));
            h.now += after;
            h.m.tick(h.now, false);
            let case = format!("timeout {timeout}, tick {after} s later");
            assert_eq!(!h.m.frameworks.contains_key(&fw.id), removed, "{case}");
            if removed {
                assert_eq!(
                    h.pending(),
                    vec![RegistryOp::RemoveFramework(fw.id.clone())],
                    "{case}"
                );
            } else {
                let f = &h.m.frameworks[&fw.id];
                assert!(!f.active && !f.connected(), "{case}");
                match h.call(&fw, CallType::REVIVE, |_| {}) {
                    Err(e) if e.status() == StatusCode::FORBIDDEN => {}
                    other => panic!("{case}: forbidden expected, got {other:?}"),
                }
            }
        }
    }
}
