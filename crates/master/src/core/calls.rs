//! Scheduler calls other than SUBSCRIBE: the stream checks every call passes, then DECLINE,
//! REVIVE, SUPPRESS, KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE (explicit and implicit), MESSAGE,
//! UPDATE_FRAMEWORK and TEARDOWN. ACCEPT is handed to `accept.rs`.

use super::{call_name, validate_role, Master, RegistryOp, DEFAULT_REFUSE_SECS};
use crate::tasks::TaskRec;
use crate::{ApiError, InvalidCall};
use drover_api::agent_protocol::ToAgent;
use drover_api::scheduler::{self, Call, CallType, Event};
use drover_api::*;

impl Master {
    /// Every call but SUBSCRIBE: check the framework and stream id, then do it.
    pub fn scheduler_call(
        &mut self,
        call: Call,
        stream_id: Option<&str>,
        now: f64,
    ) -> Result<(), ApiError> {
        let fid = call
            .framework_id
            .clone()
            .ok_or(ApiError::MissingField("framework_id"))?;
        // Mesos: an unknown framework is a bad request (400); a known one that is not
        // subscribed right now (disconnected, or recovered and not yet back) is forbidden (403).
        let fw = self
            .frameworks
            .get(&fid)
            .ok_or_else(|| ApiError::UnknownFramework(fid.clone()))?;
        if !fw.connected() {
            return Err(ApiError::NotSubscribed(fid));
        }
        let sid = stream_id.ok_or(ApiError::MissingStreamId)?;
        if fw.stream_id != sid {
            return Err(ApiError::StreamIdMismatch {
                got: sid.to_string(),
                framework: fid,
            });
        }
        *self.counters.calls.entry(call_name(call.kind)).or_default() += 1;
        match call.kind {
            CallType::SUBSCRIBE => Err(ApiError::WrongEndpoint),
            // Mesos answers 501 Not Implemented to a call of type UNKNOWN.
            CallType::UNKNOWN => Err(ApiError::UnknownCall),
            CallType::TEARDOWN => {
                self.remove_framework(&fid, now);
                Ok(())
            }
            CallType::ACCEPT => {
                let accept = call.accept.ok_or(ApiError::MissingField("accept"))?;
                self.accept(&fid, accept, now);
                Ok(())
            }
            CallType::DECLINE => {
                let d = call.decline.ok_or(ApiError::MissingField("decline"))?;
                let refuse = d
                    .filters
                    .and_then(|f| f.refuse_seconds)
                    .unwrap_or(DEFAULT_REFUSE_SECS);
                for oid in d.offer_ids {
                    if let Some(o) = self.take_offer(&fid, &oid) {
                        self.counters.offers_declined += 1;
                        self.allocator.recover(
                            &o.offer.agent_id.value,
                            &fid.value,
                            &o.role,
                            &o.resources,
                            refuse,
                            now,
                        );
                    }
                }
                self.allocation_wanted = true;
                Ok(())
            }
            CallType::REVIVE => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    if roles.is_empty() {
                        fw.suppressed.clear();
                    } else {
                        fw.suppressed.retain(|r| !roles.contains(r));
                    }
                }
                self.allocator.revive(&fid.value, &roles);
                self.allocation_wanted = true;
                Ok(())
            }
            CallType::SUPPRESS => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    let add = if roles.is_empty() {
                        fw.roles.clone()
                    } else {
                        roles.clone()
                    };
                    for r in add {
                        if !fw.suppressed.contains(&r) {
                            fw.suppressed.push(r);
                        }
                    }
                }
                self.allocator.suppress(&fid.value, &roles);
                Ok(())
            }
            CallType::KILL => {
                let k = call.kill.ok_or(ApiError::MissingField("kill"))?;
                self.kill(&fid, k, now);
                Ok(())
            }
            CallType::SHUTDOWN => {
                let s = call.shutdown.ok_or(ApiError::MissingField("shutdown"))?;
                if let Some(a) = self.agents.get_mut(&s.agent_id) {
                    a.send(&ToAgent::ShutdownExecutor {
                        framework_id: fid,
                        executor_id: s.executor_id,
                    });
                }
                Ok(())
            }
            CallType::ACKNOWLEDGE => {
                let a = call
                    .acknowledge
                    .ok_or(ApiError::MissingField("acknowledge"))?;
                if a.uuid.len() != 16 {
                    return Err(InvalidCall::AcknowledgeUuid { len: a.uuid.len() }.into());
                }
                if let Some(agent) = self.agents.get_mut(&a.agent_id) {
                    agent.send(&ToAgent::Acknowledge {
                        framework_id: fid.clone(),
                        task_id: a.task_id.clone(),
                        uuid: Some(a.uuid),
                    });
                }
                if !self.draining.is_empty() {
                    self.drain_acknowledged(&a.agent_id, &fid, &a.task_id, now);
                }
                Ok(())
            }
            CallType::RECONCILE => {
                let r = call.reconcile.unwrap_or_default();
                self.reconcile(&fid, r.tasks, now);
                Ok(())
            }
            CallType::MESSAGE => {
                let m = call.message.ok_or(ApiError::MissingField("message"))?;
                let agent = self
                    .agents
                    .get_mut(&m.agent_id)
                    .ok_or_else(|| ApiError::UnknownAgent(m.agent_id.clone()))?;
                agent.send(&ToAgent::FrameworkMessage {
                    framework_id: fid,
                    executor_id: m.executor_id,
                    data: Some(m.data),
                });
                Ok(())
            }
            CallType::UPDATE_FRAMEWORK => {
                let u = call
                    .update_framework
                    .ok_or(ApiError::MissingField("update_framework"))?;
                if u.framework_info.id.as_ref() != Some(&fid) {
                    return Err(InvalidCall::UpdateFrameworkId.into());
                }
                let roles = u.framework_info.effective_roles();
                for r in &roles {
                    validate_role(r)?;
                }
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    fw.info = u.framework_info.clone();
                    fw.roles = roles.clone();
                    fw.suppressed = u.suppressed_roles.clone();
                }
                self.allocator
                    .update_framework(&fid.value, &roles, &u.suppressed_roles);
                self.allocator.set_revocable(
                    &fid.value,
                    u.framework_info.has_capability("REVOCABLE_RESOURCES"),
                );
                self.record(RegistryOp::PutFramework(u.framework_info.clone()));
                self.allocation_wanted = true;
                Ok(())
            }
            // Resource requests are advisory in Mesos too.
            CallType::REQUEST => Ok(()),
            CallType::ACCEPT_INVERSE_OFFERS | CallType::DECLINE_INVERSE_OFFERS => {
                let accept = call.kind == CallType::ACCEPT_INVERSE_OFFERS;
                let answer = if accept {
                    call.accept_inverse_offers
                        .ok_or(ApiError::MissingField("accept_inverse_offers"))?
                } else {
                    call.decline_inverse_offers
                        .ok_or(ApiError::MissingField("decline_inverse_offers"))?
                };
                self.answer_inverse_offers(
                    &fid,
                    &answer.inverse_offer_ids,
                    accept,
                    answer.filters.as_ref(),
                    now,
                );
                Ok(())
            }
            CallType::ACKNOWLEDGE_OPERATION_STATUS | CallType::RECONCILE_OPERATIONS => {
                Err(ApiError::OperationFeedbackUnsupported)
            }
        }
    }

    fn kill(&mut self, fid: &FrameworkID, k: scheduler::Kill, now: f64) {
        let found = self
            .frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(k.task_id.value.as_str()))
            .map(|t| AgentID::new(&*t.agent_id));
        match found {
            Some(agent_id) => {
                if let Some(agent) = self.agents.get_mut(&agent_id) {
                    agent.send(&ToAgent::KillTask {
                        framework_id: fid.clone(),
                        task_id: k.task_id,
                        kill_policy: k.kill_policy,
                    });
                }
            }
            // Mesos answers a kill of an unknown task with what reconciliation would say.
            None => self.reconcile(
                fid,
                vec![scheduler::ReconcileTask {
                    task_id: k.task_id,
                    agent_id: k.agent_id,
                }],
                now,
            ),
        }
    }

    pub(super) fn reconcile(
        &mut self,
        fid: &FrameworkID,
        tasks: Vec<scheduler::ReconcileTask>,
        now: f64,
    ) {
        let Some(fw) = self.frameworks.get(fid) else {
            return;
        };
        let pa = fw.partition_aware();
        let mut out = Vec::new();
        let latest = |rec: &TaskRec, master: &Master| {
            let mut s = rec
                .latest_status()
                .unwrap_or_else(|| TaskStatus::new(TaskID::new(&*rec.task_id), rec.state));
            s.state = rec.state;
            s.uuid = None;
            s.source = Some(StatusSource::SOURCE_MASTER);
            s.reason = Some(Reason::REASON_RECONCILIATION);
            s.agent_id = Some(AgentID::new(&*rec.agent_id));
            s.timestamp = Some(master.unix(now));
            s
        };
        if tasks.is_empty() {
            for t in fw.tasks.values().chain(fw.unreachable_tasks.values()) {
                out.push(latest(t, self));
            }
        } else {
            for rt in tasks {
                let tid = rt.task_id.value.as_str();
                if let Some(t) = fw.tasks.get(tid).or_else(|| fw.unreachable_tasks.get(tid)) {
                    out.push(latest(t, self));
                    continue;
                }
                if let Some(t) = fw.completed_tasks.iter().rev().find(|t| &*t.task_id == tid) {
                    out.push(latest(t, self));
                    continue;
                }
                // As Mesos: while admitted agents have yet to re-register after a failover, a
                // task that may be on one of them is not answered (the framework asks again).
                match &rt.agent_id {
                    Some(a) if self.recovered_agents.contains_key(a) => continue,
                    None if !self.recovered_agents.is_empty() => continue,
                    _ => {}
                }
                let agent = rt.agent_id.as_ref().and_then(|a| self.agents.get(a));
                let recovered_unreachable = rt
                    .agent_id
                    .as_ref()
                    .is_some_and(|a| self.unreachable_recovered.contains(a));
                let (state, msg) = match agent {
                    None if recovered_unreachable => (
                        if pa {
                            TaskState::TASK_UNREACHABLE
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(a) if a.unreachable => (
                        if pa {
                            TaskState::TASK_UNREACHABLE
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(_) => (
                        if pa {
                            TaskState::TASK_GONE
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    None => (
                        if pa {
                            TaskState::TASK_UNKNOWN
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unknown",
                    ),
                };
                let mut s = self.status(
                    &rt.task_id,
                    state,
                    Reason::REASON_RECONCILIATION,
                    msg.into(),
                    now,
                );
                s.agent_id = rt.agent_id.clone();
                out.push(s);
            }
        }
        for s in out {
            self.send_to_framework(fid, &Event::update(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use super::super::RegistryOp;
    use crate::ApiError;
    use axum::http::StatusCode;
    use drover_api::agent_protocol::ToAgent;
    use drover_api::scheduler::{self, Call, CallType};
    use drover_api::*;

    #[test]
    fn calls_are_checked_before_they_are_done() {
        type Case = (
            &'static str,
            Box<dyn Fn(&mut Call)>,
            fn(&ApiError) -> bool,
            &'static str,
        );
        let bad = |e: &ApiError| e.status() == StatusCode::BAD_REQUEST;
        let not_impl = |e: &ApiError| e.status() == StatusCode::NOT_IMPLEMENTED;
        let not_found = |e: &ApiError| e.status() == StatusCode::NOT_FOUND;
        let cases: Vec<Case> = vec![
            (
                "no framework id",
                Box::new(|c| c.framework_id = None),
                bad,
                "Expecting 'framework_id'",
            ),
            (
                "unknown framework",
                Box::new(|c| c.framework_id = Some(FrameworkID::new("nope"))),
                bad,
                "cannot be found",
            ),
            (
                "SUBSCRIBE here",
                Box::new(|c| c.kind = CallType::SUBSCRIBE),
                bad,
                "Unexpected call type",
            ),
            (
                "UNKNOWN",
                Box::new(|c| c.kind = CallType::UNKNOWN),
                not_impl,
                "'UNKNOWN'",
            ),
            (
                "ACCEPT without accept",
                Box::new(|c| c.kind = CallType::ACCEPT),
                bad,
                "'accept'",
            ),
            (
                "short uuid",
                Box::new(|c| {
                    c.kind = CallType::ACKNOWLEDGE;
                    c.acknowledge = Some(scheduler::Acknowledge {
                        agent_id: AgentID::new("a"),
                        task_id: TaskID::new("t"),
                        uuid: vec![1, 2, 3],
                    });
                }),
                bad,
                "not a valid UUID (3 bytes)",
            ),
            (
                "MESSAGE to an unknown agent",
                Box::new(|c| {
                    c.kind = CallType::MESSAGE;
                    c.message = Some(scheduler::Message {
                        agent_id: AgentID::new("gone"),
                        executor_id: ExecutorID::new("e"),
                        data: vec![],
                    });
                }),
                not_found,
                "Agent gone is not registered",
            ),
            (
                "UPDATE_FRAMEWORK of another id",
                Box::new(|c| {
                    c.kind = CallType::UPDATE_FRAMEWORK;
                    c.update_framework = Some(scheduler::UpdateFramework {
                        framework_info: mock_framework("web", &[]),
                        suppressed_roles: vec![],
                    });
                }),
                bad,
                "must equal 'framework_id'",
            ),
            (
                "RECONCILE_OPERATIONS",
                Box::new(|c| c.kind = CallType::RECONCILE_OPERATIONS),
                not_impl,
                "not supported yet",
            ),
        ];
        for (name, mutate, kind, want) in cases {
            let mut h = Harness::new();
            let fw = h.subscribe(mock_framework("web", &[]));
            let mut call = Call::new(CallType::REVIVE, Some(fw.id.clone()));
            mutate(&mut call);
            let err =
                h.m.scheduler_call(call, Some(&fw.stream_id), h.now)
                    .expect_err(name);
            assert!(kind(&err), "{name}: {err:?}");
            assert!(err.to_string().contains(want), "{name}: {err}");
        }
        // The stream id: missing or not the current one.
        let mut h = Harness::new();
        let fw = h.subscribe(mock_framework("web", &[]));
        for sid in [None, Some("stream-7")] {
            let call = Call::new(CallType::REVIVE, Some(fw.id.clone()));
            let err = h.m.scheduler_call(call, sid, h.now).expect_err("stream id");
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{sid:?}: {err:?}");
        }
    }

    #[test]
    fn decline_filters_the_agent_for_refuse_seconds() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        h.call(&fw, CallType::DECLINE, |c| {
            c.decline = Some(scheduler::Decline {
                offer_ids: vec![offer.id.clone()],
                filters: Some(Filters {
                    refuse_seconds: Some(30.0),
                }),
            })
        })
        .expect("decline");
        assert!(h.m.offers.is_empty());
        assert_eq!(h.m.counters.offers_declined, 1);
        // (seconds later, offered again)
        for (later, offered) in [(1.0, false), (29.0, false), (31.0, true)] {
            h.m.allocate(h.now + later);
            assert_eq!(
                !fw.offers().is_empty(),
                offered,
                "{later} s after the decline"
            );
        }
    }

    #[test]
    fn suppress_stops_offers_and_revive_brings_them_back() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        h.call(&fw, CallType::SUPPRESS, |_| {}).expect("suppress");
        assert!(h.offers(&mut fw).is_empty());
        assert_eq!(h.m.frameworks[&fw.id].suppressed, vec!["*".to_string()]);
        h.call(&fw, CallType::REVIVE, |_| {}).expect("revive");
        assert!(h.m.frameworks[&fw.id].suppressed.is_empty());
        assert_eq!(h.offers(&mut fw).len(), 1);
    }

    #[test]
    fn acknowledge_shutdown_and_message_go_to_the_agent() {
        let mut h = Harness::new();
        let (fw, mut ag) = h.running(&[], &["t1"]);
        let uuid = vec![7u8; 16];
        let aid = ag.id.clone();
        h.call(&fw, CallType::ACKNOWLEDGE, |c| {
            c.acknowledge = Some(scheduler::Acknowledge {
                agent_id: aid.clone(),
                task_id: TaskID::new("t1"),
                uuid: uuid.clone(),
            })
        })
        .expect("ack");
        h.call(&fw, CallType::SHUTDOWN, |c| {
            c.shutdown = Some(scheduler::Shutdown {
                executor_id: ExecutorID::new("e1"),
                agent_id: aid.clone(),
            })
        })
        .expect("shutdown");
        h.call(&fw, CallType::MESSAGE, |c| {
            c.message = Some(scheduler::Message {
                agent_id: aid.clone(),
                executor_id: ExecutorID::new("e1"),
                data: b"hi".to_vec(),
            })
        })
        .expect("message");
        assert_eq!(
            ag.messages(),
            vec![
                ToAgent::Acknowledge {
                    framework_id: fw.id.clone(),
                    task_id: TaskID::new("t1"),
                    uuid: Some(uuid),
                },
                ToAgent::ShutdownExecutor {
                    framework_id: fw.id.clone(),
                    executor_id: ExecutorID::new("e1"),
                },
                ToAgent::FrameworkMessage {
                    framework_id: fw.id.clone(),
                    executor_id: ExecutorID::new("e1"),
                    data: Some(b"hi".to_vec()),
                },
            ]
        );
    }

    #[test]
    fn kill_goes_to_the_tasks_agent_or_answers_as_reconciliation() {
        let mut h = Harness::new();
        let (mut fw, mut ag) = h.running(&[], &["t1"]);
        // (task, a KillTask expected, the update the framework gets instead)
        let cases = [
            ("t1", true, None),
            ("never-launched", false, Some(TaskState::TASK_LOST)),
        ];
        for (tid, to_agent, update) in cases {
            h.call(&fw, CallType::KILL, |c| {
                c.kill = Some(scheduler::Kill {
                    task_id: TaskID::new(tid),
                    agent_id: None,
                    kill_policy: None,
                })
            })
            .expect("kill");
            let msgs = ag.messages();
            assert_eq!(
                msgs.iter().any(
                    |m| matches!(m, ToAgent::KillTask { task_id, .. } if task_id.value == tid)
                ),
                to_agent,
                "{tid}: {msgs:?}"
            );
            let ups = fw.updates();
            assert_eq!(ups.first().map(|s| s.state), update, "{tid}: {ups:?}");
        }
    }

    #[test]
    fn explicit_reconciliation_answers_what_the_master_knows() {
        // (partition aware, task id asked, agent id given: known / unreachable / unknown / none,
        //  state answered, message contains)
        let cases = [
            (false, "t1", "none", TaskState::TASK_RUNNING, ""),
            (false, "t2-done", "none", TaskState::TASK_FINISHED, ""),
            (false, "x", "none", TaskState::TASK_LOST, "Task is unknown"),
            (
                true,
                "x",
                "none",
                TaskState::TASK_UNKNOWN,
                "Task is unknown",
            ),
            (
                false,
                "x",
                "unknown",
                TaskState::TASK_LOST,
                "Task is unknown",
            ),
            (
                false,
                "x",
                "known",
                TaskState::TASK_LOST,
                "unknown to the agent",
            ),
            (
                true,
                "x",
                "known",
                TaskState::TASK_GONE,
                "unknown to the agent",
            ),
            (
                false,
                "x",
                "unreachable",
                TaskState::TASK_LOST,
                "unreachable",
            ),
            (
                true,
                "x",
                "unreachable",
                TaskState::TASK_UNREACHABLE,
                "unreachable",
            ),
        ];
        for (pa, tid, agent, want, msg) in cases {
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let (mut fw, ag) = h.running(caps, &["t1", "t2-done"]);
            h.update(&ag, &fw.id, "t2-done", TaskState::TASK_FINISHED);
            // A second agent that goes silent, for the unreachable case.
            let silent = h.register(mock_agent(1.0, 512.0, (32000, 32000)));
            if agent == "unreachable" {
                h.m.agents.get_mut(&ag.id).expect("agent").last_seen = h.now + 1000.0;
                h.now += 100.0;
                h.m.tick(h.now, false);
            }
            fw.events();
            let agent_id = match agent {
                "known" => Some(ag.id.clone()),
                "unreachable" => Some(silent.id.clone()),
                "unknown" => Some(AgentID::new("who")),
                _ => None,
            };
            h.call(&fw, CallType::RECONCILE, |c| {
                c.reconcile = Some(scheduler::Reconcile {
                    tasks: vec![scheduler::ReconcileTask {
                        task_id: TaskID::new(tid),
                        agent_id,
                    }],
                })
            })
            .expect("reconcile");
            let ups = fw.updates();
            let case = format!("pa {pa}, {tid}, agent {agent}");
            let s = status_of(&ups, tid);
            assert_eq!(s.state, want, "{case}");
            assert_eq!(s.reason, Some(Reason::REASON_RECONCILIATION), "{case}");
            assert_eq!(s.source, Some(StatusSource::SOURCE_MASTER), "{case}");
            assert!(
                s.uuid.is_none(),
                "{case}: reconciliation updates are not acknowledged"
            );
            assert!(
                s.message.as_deref().unwrap_or("").contains(msg),
                "{case}: {:?}",
                s.message
            );
        }
    }

    #[test]
    fn implicit_reconciliation_answers_every_active_and_unreachable_task() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&["PARTITION_AWARE"], &["t1", "t2", "t3"]);
        h.update(&ag, &fw.id, "t3", TaskState::TASK_FAILED);
        let mut other = h.register(mock_agent(4.0, 4096.0, (31000, 31099)));
        let offers = h.offers(&mut fw);
        let offer = offers
            .iter()
            .find(|o| o.agent_id == other.id)
            .expect("an offer of the second agent");
        h.launch(&fw, offer, vec![task("t4", &other.id, 0.5, 128.0)]);
        other.messages();
        // t4's agent goes silent: t4 is unreachable, still answered.
        h.m.agents.get_mut(&ag.id).expect("agent").last_seen = h.now + 1000.0;
        h.now += 100.0;
        h.m.tick(h.now, false);
        fw.events();
        h.call(&fw, CallType::RECONCILE, |c| {
            c.reconcile = Some(scheduler::Reconcile { tasks: vec![] })
        })
        .expect("reconcile");
        let ups = fw.updates();
        let mut got: Vec<(String, TaskState)> = ups
            .iter()
            .map(|s| (s.task_id.value.clone(), s.state))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("t1".to_string(), TaskState::TASK_RUNNING),
                ("t2".to_string(), TaskState::TASK_RUNNING),
                ("t4".to_string(), TaskState::TASK_UNREACHABLE),
            ]
        );
        assert!(ups
            .iter()
            .all(|s| s.reason == Some(Reason::REASON_RECONCILIATION)));
    }

    /// After a failover (a master started from the registry), a task that may be on an
    /// admitted agent that has not re-registered yet is not answered, as in Mesos; once the
    /// agent is back it is answered with the truth, and an agent that never comes back within
    /// `agent_reregister_timeout` makes its tasks unreachable.
    #[test]
    fn after_a_failover_reconciliation_waits_for_admitted_agents() {
        let mut h = Harness::new();
        let (fw, ag) = h.running(&["PARTITION_AWARE"], &["t1"]);
        let (mut other_fw, other) = h.running(&["PARTITION_AWARE"], &["o1"]);
        use crate::core::{Master, Recovered};
        let recovered = Recovered {
            agents: vec![
                h.m.agents[&ag.id].info.clone(),
                h.m.agents[&other.id].info.clone(),
            ],
            frameworks: vec![
                h.m.frameworks[&fw.id].info.clone(),
                h.m.frameworks[&other_fw.id].info.clone(),
            ],
            ..Default::default()
        };
        let (cfg, info) = (h.m.cfg.clone(), h.m.info.clone());
        h.m = Master::new(cfg, info, recovered, Box::new(SeqIds(100)), START_UNIX);
        let mut fw = h.subscribe(h.m.frameworks[&fw.id].info.clone());
        other_fw = h.subscribe(h.m.frameworks[&other_fw.id].info.clone());
        let ask = |h: &mut Harness, fw: &mut Fw, task: &str, agent: Option<&AgentID>| {
            h.call(fw, CallType::RECONCILE, |c| {
                c.reconcile = Some(scheduler::Reconcile {
                    tasks: vec![scheduler::ReconcileTask {
                        task_id: TaskID::new(task),
                        agent_id: agent.cloned(),
                    }],
                })
            })
            .expect("reconcile");
            fw.updates()
                .into_iter()
                .map(|s| s.state)
                .collect::<Vec<TaskState>>()
        };
        h.m.tick(h.now, false);
        assert_eq!(
            ask(&mut h, &mut fw, "t1", Some(&ag.id)),
            vec![],
            "its agent may still come back"
        );
        assert_eq!(
            ask(&mut h, &mut fw, "t1", None),
            vec![],
            "any agent may have it"
        );
        // The agent re-registers with its task: the truth.
        h.reregister(&ag, &fw.id, &[("t1", TaskState::TASK_RUNNING)]);
        fw.updates();
        assert_eq!(
            ask(&mut h, &mut fw, "t1", Some(&ag.id)),
            vec![TaskState::TASK_RUNNING]
        );
        // The other agent never comes back: after the re-register timeout, unreachable.
        assert_eq!(ask(&mut h, &mut other_fw, "o1", Some(&other.id)), vec![]);
        h.now += 601.0;
        h.m.tick(h.now, false);
        assert_eq!(
            ask(&mut h, &mut other_fw, "o1", Some(&other.id)),
            vec![TaskState::TASK_UNREACHABLE]
        );
    }

    #[test]
    fn update_framework_changes_roles_and_is_recorded() {
        let mut h = Harness::new();
        let fw = h.subscribe(mock_framework("web", &[]));
        h.pending();
        let mut info = mock_framework("web", &[]);
        info.id = Some(fw.id.clone());
        info.role = Some("prod".into());
        let sent = info.clone();
        h.call(&fw, CallType::UPDATE_FRAMEWORK, |c| {
            c.update_framework = Some(scheduler::UpdateFramework {
                framework_info: sent,
                suppressed_roles: vec![],
            })
        })
        .expect("update");
        assert_eq!(h.m.frameworks[&fw.id].roles, vec!["prod".to_string()]);
        assert_eq!(h.pending(), vec![RegistryOp::PutFramework(info)]);
    }
}
