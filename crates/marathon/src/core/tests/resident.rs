//! Resident apps: a new instance reserves, creates its volume and launches in one ACCEPT; a
//! task that ends leaves its reservation, and the instance launches again only on an offer
//! carrying it (same agent, same volume); scale-down keeps reservations and scale-up uses them;
//! deleting the app destroys the volumes and unreserves; unknown reservations are released.

use super::*;
use drover_api::{AllocationInfo, OperationType};

const VOLUME: &str =
    r#"{"containerPath": "data", "mode": "RW", "persistent": {"type": "root", "size": 100}}"#;

fn resident_app(instances: i64) -> App {
    let vol: Value = serde_json::from_str(VOLUME).unwrap();
    mock_app(
        "/db",
        json!({"instances": instances, "role": "marathon", "container": {"type": "MESOS", "volumes": [vol]}}),
    )
}

/// An offer on `agent` allocated to role `marathon`, with `extra` resources (reserved ones).
fn offer_with(agent: &str, extra: &[Resource]) -> Offer {
    let mut o = mock_offer(agent, 4.0, 1024.0, &[(31000, 31099)]);
    o.resources.push(Resource::scalar("disk", 1000.0));
    o.resources.extend(extra.iter().cloned());
    o.allocation_info = Some(AllocationInfo {
        role: Some("marathon".into()),
    });
    o
}

/// The operations of the ACCEPTs among `calls`, by kind.
fn op_kinds(calls: &Calls) -> Vec<OperationType> {
    calls
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| a.operations.iter().map(|o| o.kind))
        .collect()
}

fn op_list(calls: &Calls, kind: OperationType, field: &str) -> Vec<Resource> {
    calls
        .iter()
        .filter_map(|c| c.accept.as_ref())
        .flat_map(|a| a.operations.iter())
        .filter(|o| o.kind == kind)
        .filter_map(|o| {
            let body = match kind {
                OperationType::RESERVE => o.reserve.as_ref(),
                OperationType::UNRESERVE => o.unreserve.as_ref(),
                OperationType::CREATE => o.create.as_ref(),
                _ => o.destroy.as_ref(),
            }?;
            serde_json::from_value::<Vec<Resource>>(body.get(field)?.clone()).ok()
        })
        .flatten()
        .collect()
}

/// What the agent offers once the RESERVE and CREATE among `calls` are done: the reserved
/// resources, the volumes' disks now volumes.
fn reserved_after(calls: &Calls) -> Vec<Resource> {
    let created = op_list(calls, OperationType::CREATE, "volumes");
    let mut out: Vec<Resource> = Vec::new();
    let mut volume_disks: Vec<Resource> = created.iter().map(crate::resident::plain).collect();
    for r in op_list(calls, OperationType::RESERVE, "resources") {
        if let Some(k) = volume_disks.iter().position(|v| *v == r) {
            volume_disks.remove(k);
            continue;
        }
        out.push(r);
    }
    out.extend(created);
    out
}

/// Launch the first instance of `/db` on a1: (task id, the reserved resources a1 offers later).
/// A partial update of `/db` with `fields`.
fn patch(fields: Value) -> AppCommand {
    AppCommand::Update {
        id: "/db".into(),
        patch: fields,
        partial: true,
        force: false,
    }
}

/// Scale `/db` to `n` instances.
fn scale(s: &mut Sim, n: i64) {
    s.run(patch(json!({"instances": n}))).unwrap();
}

fn first_launch(s: &mut Sim) -> (String, Vec<Resource>) {
    let calls = s.offer(vec![offer_with("a1", &[])]);
    assert_eq!(
        op_kinds(&calls),
        vec![
            OperationType::RESERVE,
            OperationType::CREATE,
            OperationType::LAUNCH
        ]
    );
    let (_, task) = launched(&calls).pop().unwrap();
    let tid = task.task_id.value.clone();
    s.update(&tid, TaskState::TASK_RUNNING);
    (tid, reserved_after(&calls))
}

#[test]
fn a_new_instance_reserves_creates_and_launches_in_one_accept() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let calls = s.offer(vec![offer_with("a1", &[])]);
    let reserve = op_list(&calls, OperationType::RESERVE, "resources");
    let create = op_list(&calls, OperationType::CREATE, "volumes");
    let (_, task) = launched(&calls).pop().unwrap();
    let rid = s.m.instances[&task.task_id.value]
        .reservation
        .clone()
        .unwrap();
    for r in reserve.iter().chain(&create) {
        assert_eq!(
            crate::resident::owner(r),
            Some(("fw".to_string(), rid.clone())),
            "labelled"
        );
        assert_eq!(r.reservation_role(), "marathon");
    }
    assert_eq!(create.len(), 1);
    assert_eq!(create[0].volume_container_path(), Some("data"));
    // The task uses the reserved cpus and mem, and the volume.
    let vols: Vec<&Resource> = task
        .resources
        .iter()
        .filter(|r| r.persistence_id().is_some())
        .collect();
    assert_eq!(vols.len(), 1);
    assert_eq!(vols[0].persistence_id(), create[0].persistence_id());
    for r in task.resources.iter().filter(|r| r.name != "ports") {
        assert_eq!(r.reservation_role(), "marathon", "{r:?}");
    }
    assert_eq!(s.m.reservations.len(), 1);
}

#[test]
fn an_ended_task_relaunches_only_on_its_reservation() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    s.now += 1.0;
    let calls = s.update(&tid, TaskState::TASK_FAILED);
    assert!(kinds(&calls).contains(&CallType::REVIVE));
    assert_eq!(s.m.reservations.len(), 1, "kept");
    s.m.reset_delay("/db").unwrap();
    // Another agent, plenty of room: nothing launched, no new reservation.
    let calls = s.offer(vec![offer_with("a2", &[])]);
    assert!(launched(&calls).is_empty());
    assert_eq!(kinds(&calls), vec![CallType::DECLINE]);
    assert_eq!(
        s.m.offer_stats["/db"]
            .reasons
            .get("NoCorrespondingReservationFound"),
        Some(&1)
    );
    // Its agent, carrying the reservation: launched on it, with the same volume, nothing
    // reserved or created.
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(op_kinds(&calls), vec![OperationType::LAUNCH]);
    let (agent, task) = launched(&calls).pop().unwrap();
    assert_eq!(agent, "a1");
    let vol = reserved
        .iter()
        .find(|r| r.persistence_id().is_some())
        .unwrap();
    assert!(task
        .resources
        .iter()
        .any(|r| r.persistence_id() == vol.persistence_id()));
    assert_eq!(s.m.reservations.len(), 1);
}

#[test]
fn scale_down_keeps_reservations_and_scale_up_uses_them() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    scale(&mut s, 0);
    s.finish_kills("/db");
    assert!(!s.m.instances.contains_key(&tid));
    assert_eq!(s.m.reservations.len(), 1, "kept across scale-down");
    scale(&mut s, 2);
    // One on the kept reservation (a1), one new (RESERVE, CREATE).
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(
        op_kinds(&calls),
        vec![
            OperationType::RESERVE,
            OperationType::CREATE,
            OperationType::LAUNCH
        ]
    );
    assert_eq!(launched(&calls).len(), 2);
    assert_eq!(s.m.reservations.len(), 2);
}

#[test]
fn deleting_the_app_destroys_its_volumes_and_unreserves() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    let del = AppCommand::Delete {
        id: "/db".into(),
        force: false,
    };
    let (_, calls) = s.m.execute(del, s.now).unwrap();
    assert_eq!(killed(&calls), vec![tid.clone()]);
    // Its task is still there: nothing released yet.
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert!(op_kinds(&calls).is_empty());
    s.update(&tid, TaskState::TASK_KILLED);
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(
        op_kinds(&calls),
        vec![OperationType::DESTROY, OperationType::UNRESERVE]
    );
    let destroyed = op_list(&calls, OperationType::DESTROY, "volumes");
    assert_eq!(destroyed.len(), 1);
    let unreserved = op_list(&calls, OperationType::UNRESERVE, "resources");
    assert!(unreserved.iter().all(|r| r.persistence_id().is_none()));
    let total: f64 = unreserved
        .iter()
        .filter(|r| r.name == "disk")
        .map(|r| r.scalar.unwrap().value)
        .sum();
    assert_eq!(total, 100.0, "the volume's disk");
    assert!(s.m.reservations.is_empty());
    // Nothing more to do: offers are suppressed.
    let calls = tick(&mut s);
    assert_eq!(kinds(&calls), vec![CallType::SUPPRESS]);
}

#[test]
fn reservations_nobody_knows_are_released_and_never_used() {
    let mut s = Sim::with_role("marathon");
    s.create(mock_app("/web", json!({"cpus": 4.0})));
    let stray = crate::resident::reservation(&resident_app(1), "fw", "db.lost", "marathon");
    let mut held = stray.reserve.clone();
    held.pop();
    held.extend(stray.create.clone());
    let mut o = offer_with("a1", &held);
    // Only the reserved cpus would fit /web's 4 cpus beside the 4 unreserved... take them away.
    o.resources
        .retain(|r| r.name != "cpus" || r.reservation_role() != "*");
    let calls = s.offer(vec![o]);
    assert_eq!(
        op_kinds(&calls),
        vec![OperationType::DESTROY, OperationType::UNRESERVE],
        "released, and /web did not take the reserved cpus"
    );
}

/// The role `*` cannot reserve: a resident app under it is Marathon's 422; changing what its
/// reservations hold is too.
#[test]
fn resident_apps_keep_a_role_and_their_resources() {
    let mut s = Sim::new();
    let mut star = resident_app(1);
    star.role = None;
    let create = AppCommand::Create {
        app: star,
        force: false,
    };
    match s.run(create) {
        Err(MarathonError::Invalid(d)) => assert_eq!(d[0].path, "/role", "{d:?}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    match s.run(patch(json!({"mem": 128}))) {
        Err(MarathonError::Invalid(d)) => assert_eq!(d[0].path, "/mem", "{d:?}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn resident_apps_get_marathons_defaults() {
    let a = resident_app(1);
    assert_eq!(a.unreachable_strategy, Some(json!("disabled")));
    assert_eq!(a.upgrade_strategy.minimum_health_capacity, 0.5);
    assert_eq!(a.upgrade_strategy.maximum_over_capacity, 0.0);
}

fn tick(s: &mut Sim) -> Calls {
    s.m.mark_all_dirty();
    s.m.reconcile_plans(s.now)
}

/// A killed instance's replacement waits for its reservation even while the kill is under
/// way (no second reservation elsewhere).
#[test]
fn a_replacement_waits_for_the_reservation_of_the_instance_being_killed() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    let kill = KillCommand::AppTask {
        app: "/db".into(),
        task: tid.clone(),
        scale: false,
        force: false,
    };
    s.run(kill).unwrap();
    let calls = s.offer(vec![offer_with("a2", &[])]);
    assert!(op_kinds(&calls).is_empty(), "nothing reserved on a2");
    s.update(&tid, TaskState::TASK_KILLED);
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(op_kinds(&calls), vec![OperationType::LAUNCH]);
    assert_eq!(s.m.reservations.len(), 1);
}

/// A reservation whose ACCEPT failed (its task never ran) is forgotten with its task, so the
/// instance is not left waiting for resources that do not exist.
#[test]
fn a_reservation_never_seen_is_forgotten_when_its_task_fails() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let calls = s.offer(vec![offer_with("a1", &[])]);
    let (_, task) = launched(&calls).pop().unwrap();
    s.update(&task.task_id.value, TaskState::TASK_ERROR);
    assert!(s.m.reservations.is_empty());
    s.m.reset_delay("/db").unwrap();
    let calls = s.offer(vec![offer_with("a2", &[])]);
    assert_eq!(
        op_kinds(&calls),
        vec![
            OperationType::RESERVE,
            OperationType::CREATE,
            OperationType::LAUNCH
        ]
    );
}

/// An app scaled to 0 keeps its reservations; deleted then, they are released.
#[test]
fn deleting_an_app_scaled_to_zero_releases_its_reservations() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (_, reserved) = first_launch(&mut s);
    scale(&mut s, 0);
    s.finish_kills("/db");
    tick(&mut s);
    let del = AppCommand::Delete {
        id: "/db".into(),
        force: false,
    };
    s.run(del).unwrap();
    tick(&mut s);
    assert!(!s.m.suppressed, "offers wanted to release them");
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(
        op_kinds(&calls),
        vec![OperationType::DESTROY, OperationType::UNRESERVE]
    );
    assert!(s.m.reservations.is_empty());
}

/// `wipe=true`: the killed instance's reservation is released (DESTROY, UNRESERVE once its
/// task ended) and its replacement reserves anew, on any agent; not with `scale`.
#[test]
fn a_wiped_instance_releases_its_reservation_and_is_replaced_anywhere() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    let kill = |scale| {
        WipeCommand(KillCommand::AppTask {
            app: "/db".into(),
            task: tid.clone(),
            scale,
            force: false,
        })
    };
    assert!(matches!(
        s.run(kill(true)),
        Err(MarathonError::ScaleAndWipe)
    ));
    s.run(kill(false)).unwrap();
    s.update(&tid, TaskState::TASK_KILLED);
    let calls = s.offer(vec![offer_with("a2", &[])]);
    assert_eq!(
        op_kinds(&calls),
        vec![
            OperationType::RESERVE,
            OperationType::CREATE,
            OperationType::LAUNCH
        ],
        "replaced elsewhere"
    );
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(
        op_kinds(&calls),
        vec![OperationType::DESTROY, OperationType::UNRESERVE],
        "the old one released"
    );
    assert_eq!(s.m.reservations.len(), 1);
}

/// A new version of a resident app replaces each instance on its own reservation: the old
/// task is killed first (maximumOverCapacity 0) and the new one launches on the volume it
/// leaves, no new reservation.
#[test]
fn an_upgrade_relaunches_on_the_same_reservations() {
    let mut s = Sim::with_role("marathon");
    s.create(resident_app(1));
    let (tid, reserved) = first_launch(&mut s);
    s.now += 1.0;
    let (_, mut calls) =
        s.m.execute(patch(json!({"cmd": "sleep 2000"})), s.now)
            .unwrap();
    calls.extend(tick(&mut s));
    assert_eq!(killed(&calls), vec![tid.clone()], "the old one goes first");
    let calls = s.offer(vec![offer_with("a2", &[])]);
    assert!(op_kinds(&calls).is_empty(), "no new reservation");
    s.update(&tid, TaskState::TASK_KILLED);
    let calls = s.offer(vec![offer_with("a1", &reserved)]);
    assert_eq!(op_kinds(&calls), vec![OperationType::LAUNCH]);
    let (_, task) = launched(&calls).pop().unwrap();
    assert_eq!(
        task.command.and_then(|c| c.value).as_deref(),
        Some("sleep 2000")
    );
    assert_eq!(s.m.reservations.len(), 1);
}
