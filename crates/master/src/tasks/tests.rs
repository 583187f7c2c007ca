//! Tests of the stored task record: the round trip to the wire `Task` and back, pushed
//! statuses, the string interner and the per-framework task set.

use super::*;
use serde_json::json;

fn task(id: &str) -> Task {
    Task {
        name: id.into(),
        task_id: TaskID::new(id),
        framework_id: FrameworkID::new("m1-0001"),
        executor_id: None,
        agent_id: AgentID::new("m1-S1"),
        state: TaskState::TASK_STAGING,
        resources: vec![Resource::scalar("cpus", 0.01), Resource::scalar("mem", 1.0)],
        statuses: vec![],
        status_update_state: None,
        status_update_uuid: None,
        labels: None,
        discovery: None,
        container: None,
        health_check: None,
        kill_policy: None,
        user: Some("root".into()),
    }
}

/// A status as Drover's agent sends it.
fn agent_status(id: &str, state: TaskState, uuid: u8) -> TaskStatus {
    let mut s = TaskStatus::new(TaskID::new(id), state);
    s.source = Some(StatusSource::SOURCE_EXECUTOR);
    s.agent_id = Some(AgentID::new("m1-S1"));
    s.executor_id = Some(ExecutorID::new(id));
    s.timestamp = Some(1_790_000_000.123456);
    s.uuid = Some(vec![uuid; 16]);
    s.container_status = Some(json!({"container_id": {"value": "3f1c-uuid"}}));
    s
}

fn assert_round_trip(t: Task) {
    let mut ids = Interner::default();
    let rec = TaskRec::new(t.clone(), "web", &mut ids);
    let back = rec.to_task();
    assert_eq!(back, t);
    assert_eq!(
        serde_json::to_string(&back).expect("serializes"),
        serde_json::to_string(&t).expect("serializes")
    );
}

#[test]
fn the_usual_task_round_trips() {
    let mut t = task("lg-1-0");
    t.state = TaskState::TASK_RUNNING;
    t.status_update_state = Some(TaskState::TASK_RUNNING);
    t.status_update_uuid = Some(vec![2; 16]);
    t.statuses = vec![
        agent_status("lg-1-0", TaskState::TASK_STARTING, 1),
        agent_status("lg-1-0", TaskState::TASK_RUNNING, 2),
    ];
    assert_round_trip(t);
}

#[test]
fn offered_resources_round_trip() {
    let mut t = task("web.1");
    let mut cpus = Resource::scalar("cpus", 0.5);
    cpus.role = Some("*".into());
    cpus.allocation_info = Some(AllocationInfo {
        role: Some("web".into()),
    });
    let mut ports = Resource::ranges(
        "ports",
        vec![
            Range {
                begin: 31000,
                end: 31000,
            },
            Range {
                begin: 31005,
                end: 31007,
            },
        ],
    );
    ports.allocation_info = Some(AllocationInfo { role: None });
    t.resources = vec![cpus, ports];
    assert_round_trip(t);
}

#[test]
fn other_shapes_are_kept_as_received() {
    let mut t = task("odd");
    t.name = "a name unlike its id".into();
    t.executor_id = Some(ExecutorID::new("exec-1"));
    t.user = None;
    let mut reserved = Resource::scalar("disk", 100.0);
    reserved.reservations = vec![ReservationInfo {
        kind: Some(ReservationType::DYNAMIC),
        role: Some("web".into()),
        principal: Some("ops".into()),
        labels: None,
    }];
    reserved.disk = Some(json!({"persistence": {"id": "v1"}}));
    let set = Resource::set("gpus_ids", vec!["a".into(), "b".into()]);
    let mut bad_scalar = Resource::scalar("mem", 1.0);
    bad_scalar.ranges = Some(Ranges { range: vec![] });
    t.resources = vec![reserved, set, bad_scalar];
    t.labels = Some(Labels {
        labels: vec![Label {
            key: "k".into(),
            value: Some("v".into()),
        }],
    });
    t.discovery = Some(json!({"visibility": "FRAMEWORK", "name": "odd"}));
    t.container = Some(json!({"type": "DOCKER", "docker": {"image": "x"}}));
    t.health_check = Some(json!({"type": "COMMAND"}));
    t.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo { nanoseconds: 5 }),
    });
    t.status_update_uuid = Some(vec![1, 2, 3]);
    let mut odd = agent_status("someone-else", TaskState::TASK_RUNNING, 9);
    odd.uuid = Some(vec![7; 3]);
    odd.data = Some(b"payload".to_vec());
    odd.labels = t.labels.clone();
    odd.message = Some("hello".into());
    odd.reason = Some(Reason::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
    odd.healthy = Some(true);
    odd.agent_id = Some(AgentID::new("another-agent"));
    odd.executor_id = Some(ExecutorID::new("exec-1"));
    odd.container_status = Some(json!({
        "container_id": {"value": "c1", "parent": {"value": "c0"}},
        "network_infos": [{"ip_addresses": [{"ip_address": "10.0.0.2"}]}]
    }));
    let mut master = TaskStatus::new(TaskID::new("odd"), TaskState::TASK_UNREACHABLE);
    master.source = Some(StatusSource::SOURCE_MASTER);
    master.unreachable_time = Some(TimeInfo {
        nanoseconds: 1_790_000_000_123_456_789,
    });
    t.statuses = vec![odd, master];
    assert_round_trip(t);
}

#[test]
fn pushed_statuses_match_the_wire_history_and_share_ids() {
    let mut ids = Interner::default();
    let mut rec = TaskRec::new(task("t"), "*", &mut ids);
    let mut wire = task("t");
    for (i, state) in [
        TaskState::TASK_STARTING,
        TaskState::TASK_RUNNING,
        TaskState::TASK_RUNNING,
        TaskState::TASK_KILLING,
        TaskState::TASK_KILLED,
    ]
    .into_iter()
    .enumerate()
    {
        let s = agent_status("t", state, i as u8);
        rec.state = state;
        rec.set_status_update(state, s.uuid.as_deref());
        rec.push_status(&s, Some(4), &mut ids);
        wire.state = state;
        wire.status_update_state = Some(state);
        wire.status_update_uuid = s.uuid.clone();
        if wire.statuses.len() >= 4 {
            wire.statuses.remove(0);
        }
        wire.statuses.push(s);
    }
    assert_eq!(rec.to_task(), wire);
    assert_eq!(rec.latest_status().as_ref(), wire.statuses.last());
    let [a, b, ..] = &rec.statuses[..] else {
        panic!("four statuses expected");
    };
    match (&a.container, &b.container) {
        (Some(Container::Id(x)), Some(Container::Id(y))) => assert!(Arc::ptr_eq(x, y)),
        other => panic!("container ids expected, got {other:?}"),
    }
    let (Some(x), Some(y)) = (&a.executor_id, &a.agent_id) else {
        panic!("ids expected");
    };
    assert!(Arc::ptr_eq(x, &rec.task_id));
    assert!(Arc::ptr_eq(y, &rec.agent_id));
    assert!(Arc::ptr_eq(&rec.name, &rec.task_id));

    rec.push_status(&agent_status("t", TaskState::TASK_LOST, 9), None, &mut ids);
    assert_eq!(rec.to_task().statuses.len(), 5);
}

#[test]
fn interner_shares_and_forgets_unused_strings() {
    let mut ids = Interner::default();
    let a = ids.get("role-a");
    assert!(Arc::ptr_eq(&a, &ids.get("role-a")));
    for i in 0..1000 {
        ids.get(&format!("gone-{i}"));
    }
    assert!(ids.set.len() < 600, "unused entries are pruned");
    assert!(Arc::ptr_eq(&a, &ids.get("role-a")), "used entries stay");
}

#[test]
fn task_set_by_framework() {
    let mut s = TaskSet::default();
    s.insert("f1".into(), "t1".into());
    s.insert("f1".into(), "t2".into());
    s.insert("f2".into(), "t1".into());
    assert!(s.contains("f1", "t2") && !s.contains("f2", "t2"));
    s.remove("f2", "t1");
    assert!(!s.has_framework("f2"));
    s.remove_framework("f1");
    assert!(s.to_vec().is_empty());
}
