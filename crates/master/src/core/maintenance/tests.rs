//! Maintenance and draining, driven through the core as the HTTP layer drives it.

use super::super::harness::*;
use super::*;
use crate::core::RegistryOp;
use drover_api::agent_protocol::ToAgent;
use drover_api::maintenance::{DrainConfig, DrainState, Duration, Time, Window};
use drover_api::scheduler::{self, CallType, EventType};

fn host(h: &str) -> MachineID {
    MachineID {
        hostname: Some(h.into()),
        ip: None,
    }
}

fn ip(i: &str) -> MachineID {
    MachineID {
        hostname: None,
        ip: Some(i.into()),
    }
}

fn window(ids: Vec<MachineID>, start_secs: i64, duration_secs: Option<i64>) -> Window {
    Window {
        machine_ids: ids,
        unavailability: Unavailability {
            start: Time {
                nanoseconds: start_secs * 1_000_000_000,
            },
            duration: duration_secs.map(|d| Duration {
                nanoseconds: d * 1_000_000_000,
            }),
        },
    }
}

fn schedule(windows: Vec<Window>) -> Schedule {
    Schedule { windows }
}

/// The harness' agents register from 10.0.0.7 with that as their hostname.
fn agent_machine() -> MachineID {
    ip("10.0.0.7")
}

#[test]
fn a_schedule_is_checked_as_mesos_checks_it() {
    let down: BTreeMap<MachineID, Machine> = [(
        host("down"),
        Machine {
            mode: Mode::Down,
            unavailability: Unavailability::default(),
        },
    )]
    .into();
    let keep_down = window(vec![host("down")], 0, None);
    // (schedule, machines as they are, the refusal)
    let cases = [
        (
            schedule(vec![window(vec![], 0, None)]),
            BTreeMap::new(),
            Some(MaintenanceError::EmptyWindow),
        ),
        (
            schedule(vec![window(vec![host("a")], 0, Some(-1))]),
            BTreeMap::new(),
            Some(MaintenanceError::NegativeDuration),
        ),
        (
            schedule(vec![window(vec![MachineID::default()], 0, None)]),
            BTreeMap::new(),
            Some(MaintenanceError::EmptyMachine),
        ),
        (
            schedule(vec![window(vec![ip("10.0.0.300")], 0, None)]),
            BTreeMap::new(),
            Some(MaintenanceError::BadIp("10.0.0.300".into())),
        ),
        (
            schedule(vec![
                window(vec![host("a")], 0, None),
                window(vec![host("a")], 10, None),
            ]),
            BTreeMap::new(),
            Some(MaintenanceError::Duplicate(r#"{"hostname":"a"}"#.into())),
        ),
        (
            schedule(vec![window(vec![host("a")], 0, None)]),
            down.clone(),
            Some(MaintenanceError::DownRemoved(
                r#"{"hostname":"down"}"#.into(),
            )),
        ),
        (
            schedule(vec![keep_down.clone(), window(vec![host("a")], 0, Some(0))]),
            down.clone(),
            None,
        ),
        (Schedule::default(), BTreeMap::new(), None),
    ];
    for (s, machines, want) in cases {
        assert_eq!(check_schedule(&s, &machines).err(), want, "{s:?}");
    }
    assert_eq!(check_machines(&[]), Err(MaintenanceError::NoMachines));
    assert_eq!(
        check_machines(&[host("a"), host("a")]),
        Err(MaintenanceError::Duplicate(r#"{"hostname":"a"}"#.into()))
    );
}

#[test]
fn a_scheduled_agent_is_offered_with_its_unavailability_and_its_frameworks_are_asked_back() {
    let mut h = Harness::new();
    let (mut fw, _ag) = h.running(&[], &["t1"]);
    let w = window(vec![agent_machine()], 1_000, Some(3_600));
    h.m.update_maintenance_schedule(schedule(vec![w.clone()]), h.now)
        .expect("scheduled");
    assert!(h.pending().iter().any(
        |op| matches!(op, RegistryOp::PutMaintenance(m) if m.schedule.windows == vec![w.clone()])
    ));
    // The framework that runs t1 there gets an inverse offer, once.
    let events = fw.events();
    let inverse: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventType::INVERSE_OFFERS)
        .flat_map(|e| e.inverse_offers.clone().unwrap_or_default().inverse_offers)
        .collect();
    assert_eq!(inverse.len(), 1, "{events:?}");
    assert_eq!(inverse[0].unavailability, w.unavailability);
    h.m.send_inverse_offers(h.now + 1.0);
    assert!(
        fw.events().is_empty(),
        "no second inverse offer while one is outstanding"
    );
    // Offers of the agent carry the unavailability.
    let offers = h.offers(&mut fw);
    assert!(!offers.is_empty());
    assert!(offers
        .iter()
        .all(|o| o.unavailability == Some(w.unavailability)));
    // Status: DRAINING with the framework's answer (unknown until it answers).
    let st = h.m.maintenance_status();
    assert_eq!(st.draining_machines.len(), 1);
    assert_eq!(
        st.draining_machines[0].statuses[0].status,
        InverseOfferStatusKind::UNKNOWN
    );
    // DECLINE with a 30 s filter: kept; made again only after the filter.
    let ioid = inverse[0].id.clone();
    h.call(&fw, CallType::DECLINE_INVERSE_OFFERS, |c| {
        c.decline_inverse_offers = Some(scheduler::InverseOfferIds {
            inverse_offer_ids: vec![ioid],
            filters: Some(Filters {
                refuse_seconds: Some(30.0),
            }),
        })
    })
    .expect("declined");
    assert_eq!(
        h.m.maintenance_status().draining_machines[0].statuses[0].status,
        InverseOfferStatusKind::DECLINE
    );
    h.m.send_inverse_offers(h.now + 10.0);
    assert!(fw.events().is_empty());
    h.m.send_inverse_offers(h.now + 31.0);
    let again: Vec<_> = fw
        .events()
        .into_iter()
        .filter(|e| e.kind == EventType::INVERSE_OFFERS)
        .collect();
    assert_eq!(again.len(), 1);
    let ioid = again[0]
        .inverse_offers
        .clone()
        .expect("inverse offers")
        .inverse_offers[0]
        .id
        .clone();
    h.call(&fw, CallType::ACCEPT_INVERSE_OFFERS, |c| {
        c.accept_inverse_offers = Some(scheduler::InverseOfferIds {
            inverse_offer_ids: vec![ioid],
            filters: None,
        })
    })
    .expect("accepted");
    assert_eq!(
        h.m.maintenance_status().draining_machines[0].statuses[0].status,
        InverseOfferStatusKind::ACCEPT
    );
    h.m.send_inverse_offers(h.now + 100.0);
    assert!(
        fw.events().is_empty(),
        "an accepted inverse offer is not made again"
    );
    // Leaving the schedule: offers without unavailability, the inverse offer state forgotten.
    h.m.update_maintenance_schedule(Schedule::default(), h.now)
        .expect("cleared");
    assert!(h.m.maintenance_status().draining_machines.is_empty());
    assert!(h.offers(&mut fw).iter().all(|o| o.unavailability.is_none()));
}

#[test]
fn a_machine_goes_down_only_from_draining_and_up_only_from_down() {
    let mut h = Harness::new();
    let (mut fw, mut ag) = h.running(&["PARTITION_AWARE"], &["t1"]);
    let m = agent_machine();
    assert_eq!(
        h.m.start_maintenance(std::slice::from_ref(&m), h.now)
            .err()
            .map(|e| e.to_string()),
        Some(r#"Machine '{"ip":"10.0.0.7"}' is not part of a maintenance schedule"#.into())
    );
    h.m.update_maintenance_schedule(schedule(vec![window(vec![m.clone()], 0, None)]), h.now)
        .expect("scheduled");
    assert_eq!(
        h.m.stop_maintenance(std::slice::from_ref(&m))
            .err()
            .map(|e| e.to_string()),
        Some(r#"Machine '{"ip":"10.0.0.7"}' is not in DOWN mode and cannot be brought up"#.into())
    );
    fw.events();
    h.pending();
    h.m.start_maintenance(std::slice::from_ref(&m), h.now)
        .expect("down");
    // The agent is told to shut down and removed; its task is gone by the operator.
    assert!(ag
        .messages()
        .iter()
        .any(|msg| matches!(msg, ToAgent::Shutdown { message } if message == "Operator initiated 'Machine DOWN'")));
    assert!(!h.m.agents.contains_key(&ag.id));
    let ups = fw.updates();
    let s = status_of(&ups, "t1");
    assert_eq!(s.state, TaskState::TASK_GONE_BY_OPERATOR);
    assert_eq!(s.reason, Some(Reason::REASON_AGENT_REMOVED_BY_OPERATOR));
    let ops = h.pending();
    assert!(ops
        .iter()
        .any(|op| matches!(op, RegistryOp::RemoveAgent(id) if *id == ag.id)));
    assert!(ops
        .iter()
        .any(|op| matches!(op, RegistryOp::PutMaintenance(s) if s.down == vec![m.clone()])));
    assert_eq!(h.m.maintenance_status().down_machines, vec![m.clone()]);
    // Down: it may not register, nor leave the schedule; bringing it down again is refused.
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let refused =
        h.m.register_agent(mock_agent(1.0, 1.0, (1, 2)), "10.0.0.7".into(), tx, h.now);
    assert!(matches!(refused, Err(crate::ApiError::MachineDown)));
    assert_eq!(
        h.m.update_maintenance_schedule(Schedule::default(), h.now)
            .err()
            .map(|e| e.to_string()),
        Some(
            r#"Machine '{"ip":"10.0.0.7"}' is deactivated and cannot be removed from the schedule"#
                .into()
        )
    );
    assert!(h
        .m
        .start_maintenance(std::slice::from_ref(&m), h.now)
        .is_err());
    // Up: out of the schedule, and the agent registers again.
    h.m.stop_maintenance(std::slice::from_ref(&m)).expect("up");
    assert!(h.m.maintenance.schedule.windows.is_empty());
    assert_eq!(h.m.maintenance_status(), ClusterStatus::default());
    h.register(mock_agent(1.0, 1.0, (1, 2)));
}

#[test]
fn the_schedule_and_down_machines_survive_a_restart() {
    let stored = StoredMaintenance {
        schedule: schedule(vec![window(vec![host("a"), host("b")], 5, None)]),
        down: vec![host("b")],
    };
    let m = Maintenance::recover(stored.clone());
    assert_eq!(m.machines[&host("a")].mode, Mode::Draining);
    assert_eq!(m.machines[&host("b")].mode, Mode::Down);
    assert_eq!(m.stored(), stored);
}

fn drain_config(grace_secs: Option<i64>, mark_gone: bool) -> DrainConfig {
    DrainConfig {
        max_grace_period: grace_secs.map(|s| Duration {
            nanoseconds: s * 1_000_000_000,
        }),
        mark_gone,
    }
}

fn ack(h: &mut Harness, fw: &Fw, ag: &Ag, task: &str, uuid: Vec<u8>) {
    let (aid, tid) = (ag.id.clone(), TaskID::new(task));
    h.call(fw, CallType::ACKNOWLEDGE, |c| {
        c.acknowledge = Some(scheduler::Acknowledge {
            agent_id: aid,
            task_id: tid,
            uuid,
        })
    })
    .expect("ack");
}

#[test]
fn a_drained_agent_kills_its_tasks_and_is_drained_once_their_ends_are_acknowledged() {
    let mut h = Harness::new();
    let (mut fw, mut ag) = h.running(&[], &["t1", "t2"]);
    assert!(matches!(
        h.m.drain_agent(&AgentID::new("nope"), drain_config(None, false), h.now),
        Err(crate::ApiError::UnknownAgentToDeactivate)
    ));
    h.m.drain_agent(&ag.id, drain_config(Some(5), false), h.now)
        .expect("draining");
    // Both tasks are killed, their grace period capped at 5 s; the agent is deactivated.
    let kills: Vec<(String, Option<KillPolicy>)> = ag
        .messages()
        .into_iter()
        .filter_map(|m| match m {
            ToAgent::KillTask {
                task_id,
                kill_policy,
                ..
            } => Some((task_id.value, kill_policy)),
            _ => None,
        })
        .collect();
    assert_eq!(kills.len(), 2, "{kills:?}");
    assert!(kills.iter().all(|(_, p)| p
        .as_ref()
        .and_then(|p| p.grace_period.as_ref())
        .map(|g| g.nanoseconds)
        == Some(5_000_000_000)));
    assert!(h.m.deactivated.contains(&ag.id));
    assert_eq!(h.m.draining[&ag.id].info.state, DrainState::DRAINING);
    assert!(matches!(
        h.m.reactivate_agent(&ag.id),
        Err(crate::ApiError::Drain(
            crate::core::DrainError::StillDraining
        ))
    ));
    // The kills' updates say why.
    let u1 = h.update(&ag, &fw.id, "t1", TaskState::TASK_KILLED);
    let u2 = h.update(&ag, &fw.id, "t2", TaskState::TASK_KILLED);
    let ups = fw.updates();
    for t in ["t1", "t2"] {
        let s = status_of(&ups, t);
        assert_eq!(
            (s.state, s.reason),
            (TaskState::TASK_KILLED, Some(Reason::REASON_AGENT_DRAINING))
        );
    }
    // Drained only once both ends are acknowledged.
    h.m.tick(h.now, false);
    assert_eq!(h.m.draining[&ag.id].info.state, DrainState::DRAINING);
    ack(&mut h, &fw, &ag, "t1", u1);
    assert_eq!(h.m.draining[&ag.id].info.state, DrainState::DRAINING);
    ack(&mut h, &fw, &ag, "t2", u2);
    assert_eq!(h.m.draining[&ag.id].info.state, DrainState::DRAINED);
    assert!(h.pending().iter().any(|op| matches!(op,
        RegistryOp::PutDrain(id, info) if *id == ag.id && info.state == DrainState::DRAINED)));
    // Nothing offered until reactivated; then the drain is forgotten.
    assert!(h.offers(&mut fw).is_empty());
    h.m.reactivate_agent(&ag.id).expect("reactivated");
    assert!(!h.m.draining.contains_key(&ag.id));
    assert!(h
        .pending()
        .iter()
        .any(|op| matches!(op, RegistryOp::RemoveDrain(id) if *id == ag.id)));
    assert_eq!(h.offers(&mut fw).len(), 1);
}

#[test]
fn a_drain_that_marks_gone_ends_tasks_as_gone_by_operator_and_the_agent_gone() {
    for partition_aware in [true, false] {
        let caps: &[&str] = if partition_aware {
            &["PARTITION_AWARE"]
        } else {
            &[]
        };
        let mut h = Harness::new();
        let (mut fw, mut ag) = h.running(caps, &["t1"]);
        h.m.drain_agent(&ag.id, drain_config(None, true), h.now)
            .expect("draining");
        // No cap: the task is killed with its own policy.
        assert!(ag.messages().iter().any(|m| matches!(
            m,
            ToAgent::KillTask {
                kill_policy: None,
                ..
            }
        )));
        let uuid = h.update(&ag, &fw.id, "t1", TaskState::TASK_KILLED);
        let ups = fw.updates();
        let want = if partition_aware {
            TaskState::TASK_GONE_BY_OPERATOR
        } else {
            TaskState::TASK_KILLED
        };
        assert_eq!(status_of(&ups, "t1").state, want, "pa {partition_aware}");
        ack(&mut h, &fw, &ag, "t1", uuid);
        assert!(h.m.gone_agents.contains(&ag.id), "pa {partition_aware}");
        assert!(!h.m.draining.contains_key(&ag.id));
    }
}

/// `ag` re-registers reporting `task` of `fw` running (and its framework); what the master
/// sent it as it did, REGISTERED first.
fn reregister_running(h: &mut Harness, ag: &Ag, fw: &FrameworkID, task_id: &str) -> Vec<ToAgent> {
    let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
    reg.agent_id = Some(ag.id.clone());
    reg.frameworks =
        h.m.frameworks
            .get(fw)
            .map(|f| f.info.clone())
            .into_iter()
            .collect();
    reg.tasks = vec![drover_api::agent_protocol::ReportedTask {
        framework_id: fw.clone(),
        task: task(task_id, &ag.id, 0.5, 128.0),
        state: TaskState::TASK_RUNNING,
        executor_id: None,
    }];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    h.m.register_agent(reg, "10.0.0.7".into(), tx, h.now)
        .expect("re-registered");
    drain(&mut rx)
}

#[test]
fn a_draining_agent_that_re_registers_is_sent_its_kills_again() {
    let mut h = Harness::new();
    let (fw, ag) = h.running(&[], &["t1"]);
    h.m.drain_agent(&ag.id, drain_config(None, false), h.now)
        .expect("draining");
    let sent = reregister_running(&mut h, &ag, &fw.id, "t1");
    assert!(
        matches!(sent.first(), Some(ToAgent::Registered { .. })),
        "{sent:?}"
    );
    assert!(sent.iter().any(|m| matches!(m,
        ToAgent::KillTask { task_id, .. } if task_id.value == "t1")));
}

#[test]
fn an_agent_in_the_maintenance_schedule_is_not_drained() {
    let mut h = Harness::new();
    let (_fw, ag) = h.running(&[], &["t1"]);
    h.m.update_maintenance_schedule(
        schedule(vec![window(vec![agent_machine()], 0, None)]),
        h.now,
    )
    .expect("scheduled");
    let e =
        h.m.drain_agent(&ag.id, drain_config(None, false), h.now)
            .expect_err("refused");
    assert_eq!(
        e.to_string(),
        format!(
            r#"Agent {} is part of a maintenance schedule under Machine {{"ip":"10.0.0.7"}}"#,
            ag.id
        )
    );
}

/// After a master restart (or failover) from its registry: the schedule still puts its
/// machines' offers under maintenance, and a draining agent that re-registers is deactivated
/// and sent its kills again.
#[test]
fn maintenance_and_drains_hold_after_a_restart() {
    let mut h = Harness::new();
    let (fw, ag) = h.running(&[], &["t1"]);
    let w = window(vec![host("elsewhere")], 100, None);
    let recovered = crate::core::Recovered {
        agents: vec![h.m.agents[&ag.id].info.clone()],
        frameworks: vec![h.m.frameworks[&fw.id].info.clone()],
        deactivated_agents: vec![ag.id.value.clone()],
        maintenance: StoredMaintenance {
            schedule: schedule(vec![w.clone()]),
            down: vec![],
        },
        draining: vec![(
            ag.id.clone(),
            drover_api::maintenance::DrainInfo {
                state: DrainState::DRAINING,
                config: drain_config(Some(1), false),
            },
        )],
        ..Default::default()
    };
    let (cfg, info) = (h.m.cfg.clone(), h.m.info.clone());
    h.m = crate::core::Master::new(cfg, info, recovered, Box::new(SeqIds(100)), START_UNIX);
    assert_eq!(h.m.maintenance.schedule, schedule(vec![w]));
    assert_eq!(
        h.m.maintenance_status().draining_machines[0].id,
        host("elsewhere")
    );
    let sent = reregister_running(&mut h, &ag, &fw.id, "t1");
    assert!(
        sent.iter().any(|m| matches!(m,
        ToAgent::KillTask { task_id, kill_policy: Some(_), .. } if task_id.value == "t1")),
        "{sent:?}"
    );
    assert!(h.m.deactivated.contains(&ag.id));
    let mut fw2 = h.subscribe(h.m.frameworks[&fw.id].info.clone());
    assert!(
        h.offers(&mut fw2).is_empty(),
        "a draining agent is offered nothing"
    );
}
