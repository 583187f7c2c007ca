//! ACCEPT tests: launches and groups, invalid tasks and offers, unused resources given back
//! with the filter, and operations not supported yet.

use super::super::harness::*;
use drover_api::agent_protocol::ToAgent;
use drover_api::scheduler::EventType;
use drover_api::*;

type Change = Box<dyn Fn(&mut TaskInfo)>;

#[test]
fn launch_answers_each_invalid_task_with_task_error() {
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "empty id",
            Box::new(|t| t.task_id = TaskID::new("")),
            "Task ID must not be empty",
        ),
        (
            "id with a slash",
            Box::new(|t| t.task_id = TaskID::new("a/b")),
            "contains invalid characters",
        ),
        (
            "id '..'",
            Box::new(|t| t.task_id = TaskID::new("..")),
            "is disallowed",
        ),
        (
            "id of 256 bytes",
            Box::new(|t| t.task_id = TaskID::new("x".repeat(256))),
            "longer than 255 bytes",
        ),
        (
            "another agent",
            Box::new(|t| t.agent_id = AgentID::new("m1-S99")),
            "Task uses agent m1-S99 but the offers are for agent",
        ),
        (
            "no command, no executor",
            Box::new(|t| t.command = None),
            "at least one of",
        ),
        (
            "command and executor",
            Box::new(|t| t.executor = Some(executor("e1"))),
            "at most one of",
        ),
        (
            "empty shell command",
            Box::new(|t| t.command.as_mut().expect("cmd").value = Some(String::new())),
            "'command.value' must be set",
        ),
        (
            "non-shell command without arguments",
            Box::new(|t| {
                let c = t.command.as_mut().expect("cmd");
                c.shell = Some(false);
                c.value = None;
            }),
            "needs 'value' or 'arguments'",
        ),
        (
            "no resources",
            Box::new(|t| t.resources.clear()),
            "Task uses no resources",
        ),
        (
            "negative cpus",
            Box::new(|t| t.resources[0] = Resource::scalar("cpus", -1.0)),
            "has an invalid scalar value",
        ),
        (
            "revocable and non-revocable cpus",
            Box::new(|t| {
                let mut r = Resource::scalar("cpus", 0.1);
                r.revocable = Some(serde_json::json!({}));
                t.resources.push(r);
            }),
            "Task mixes revocable and non-revocable resources: Cannot use both revocable and non-revocable 'cpus' at the same time",
        ),
        (
            "more than offered",
            Box::new(|t| t.resources[1] = Resource::scalar("mem", 9000.0)),
            "Task uses more resources cpus:0.5; mem:9000 than available",
        ),
        (
            "invalid health check",
            Box::new(|t| t.health_check = Some(serde_json::json!({"type": "COMMAND"}))),
            "Task uses invalid health check",
        ),
    ];
    for (name, change, want) in cases {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let mut bad = task("bad", &ag.id, 0.5, 128.0);
        change(&mut bad);
        let bad_id = bad.task_id.value.clone();
        h.launch(&fw, &offer, vec![bad, task("good", &ag.id, 0.5, 128.0)]);
        let ups = fw.updates();
        let s = status_of(&ups, &bad_id);
        assert_eq!(s.state, TaskState::TASK_ERROR, "{name}");
        assert_eq!(s.reason, Some(Reason::REASON_TASK_INVALID), "{name}");
        assert_eq!(s.source, Some(StatusSource::SOURCE_MASTER), "{name}");
        let msg = s.message.clone().unwrap_or_default();
        assert!(msg.contains(want), "{name}: {msg}");
        // The valid task of the same ACCEPT still goes.
        assert_eq!(ups.len(), 1, "{name}: {ups:?}");
        let msgs = ag.messages();
        let launched: Vec<&str> = msgs
            .iter()
            .flat_map(|m| match m {
                ToAgent::RunTasks { tasks, .. } => {
                    tasks.iter().map(|t| t.task_id.value.as_str()).collect()
                }
                _ => vec![],
            })
            .collect();
        assert_eq!(launched, vec!["good"], "{name}");
    }
}

#[test]
fn a_duplicate_task_id_is_refused() {
    let mut h = Harness::new();
    let (mut fw, ag) = h.running(&[], &["t1"]);
    let offer = h.offer(&mut fw);
    h.launch(
        &fw,
        &offer,
        vec![
            task("t1", &ag.id, 0.1, 32.0),
            task("t2", &ag.id, 0.1, 32.0),
            task("t2", &ag.id, 0.1, 32.0),
        ],
    );
    let ups = fw.updates();
    let dups: Vec<&TaskStatus> = ups.iter().collect();
    assert_eq!(dups.len(), 2, "{ups:?}");
    for s in dups {
        assert_eq!(s.state, TaskState::TASK_ERROR);
        assert!(s
            .message
            .as_deref()
            .unwrap_or("")
            .contains("Task has duplicate ID"));
    }
    assert_eq!(
        h.task_state(&fw.id, "t2"),
        Some(("active", TaskState::TASK_STAGING))
    );
}

#[test]
fn tasks_on_invalid_offers_are_lost_or_dropped() {
    // (partition aware, what is wrong, state, message contains)
    let cases = [
        (false, "used", TaskState::TASK_LOST, "is no longer valid"),
        (true, "used", TaskState::TASK_DROPPED, "is no longer valid"),
        (false, "none", TaskState::TASK_LOST, "No offers specified"),
        (true, "twice", TaskState::TASK_DROPPED, "Duplicate offer"),
        (
            false,
            "two agents",
            TaskState::TASK_LOST,
            "must belong to the same agent",
        ),
    ];
    for (pa, wrong, state, want) in cases {
        let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", caps));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offers = h.offers(&mut fw);
        assert_eq!(offers.len(), 2);
        let mine = offers
            .iter()
            .find(|o| o.agent_id == ag.id)
            .expect("offer of the first agent");
        let ids: Vec<&Offer> = match wrong {
            "used" => {
                h.launch(&fw, mine, vec![task("first", &ag.id, 0.1, 32.0)]);
                fw.events();
                vec![mine]
            }
            "none" => vec![],
            "twice" => vec![mine, mine],
            _ => offers.iter().collect(),
        };
        ag.messages();
        let t = task("t1", &ag.id, 0.1, 32.0);
        h.accept_ops(&fw, &ids, vec![Operation::launch(vec![t])]);
        let ups = fw.updates();
        let case = format!("pa {pa}, {wrong}");
        let s = status_of(&ups, "t1");
        assert_eq!(s.state, state, "{case}");
        assert_eq!(s.reason, Some(Reason::REASON_INVALID_OFFERS), "{case}");
        assert!(
            s.message.as_deref().unwrap_or("").contains(want),
            "{case}: {:?}",
            s.message
        );
        assert!(
            !ag.messages()
                .iter()
                .any(|m| matches!(m, ToAgent::RunTasks { .. })),
            "{case}: nothing launched"
        );
        // The offers it named are used up; what they held goes back and is offered again.
        assert!(
            ids.iter().all(|o| !h.m.offers.contains_key(&o.id)),
            "{case}"
        );
        h.now += 1.0;
        h.m.allocate(h.now);
        assert_eq!(h.m.offers.len(), 2, "{case}");
    }
}

#[test]
fn a_valid_launch_is_staged_sent_and_the_rest_given_back() {
    let mut h = Harness::new();
    let mut fw = h.subscribe(mock_framework("web", &[]));
    let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
    let offer = h.offer(&mut fw);
    let t = task("t1", &ag.id, 0.5, 256.0);
    h.launch(&fw, &offer, vec![t.clone()]);
    assert!(fw.updates().is_empty(), "no update for a valid task");
    assert_eq!(
        h.task_state(&fw.id, "t1"),
        Some(("active", TaskState::TASK_STAGING))
    );
    assert!(h.m.agents[&ag.id].tasks.contains(&fw.id.value, "t1"));
    match &ag.messages()[..] {
        [ToAgent::RunTasks {
            framework,
            executor: None,
            tasks,
        }] => {
            assert_eq!(framework.id.as_ref(), Some(&fw.id));
            assert_eq!(tasks, &vec![t]);
        }
        other => panic!("one RUN_TASKS expected: {other:?}"),
    }
    assert_eq!(h.m.counters.offers_accepted, 1);
    let rest = h.offer(&mut fw);
    let r = Resources::from_list(&rest.resources);
    assert_eq!((r.scalar("cpus"), r.scalar("mem")), (1.5, 768.0));
}

#[test]
fn tasks_of_one_executor_go_in_one_batch_with_its_resources_counted_once() {
    let mut h = Harness::new();
    let mut fw = h.subscribe(mock_framework("web", &[]));
    let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
    let offer = h.offer(&mut fw);
    let with_exec = |id: &str, e: &str| {
        let mut t = task(id, &ag.id, 0.5, 128.0);
        t.command = None;
        t.executor = Some(executor(e));
        t
    };
    h.launch(
        &fw,
        &offer,
        vec![
            with_exec("a1", "ea"),
            with_exec("b1", "eb"),
            with_exec("a2", "ea"),
        ],
    );
    assert!(fw.updates().is_empty());
    let mut batches: Vec<(String, Vec<String>)> = ag
        .messages()
        .into_iter()
        .filter_map(|m| match m {
            ToAgent::RunTasks {
                executor: Some(e),
                tasks,
                ..
            } => {
                assert!(tasks.iter().all(|t| t.executor.is_none()));
                Some((
                    e.executor_id.value,
                    tasks.into_iter().map(|t| t.task_id.value).collect(),
                ))
            }
            _ => None,
        })
        .collect();
    batches.sort();
    assert_eq!(
        batches,
        vec![
            ("ea".into(), vec!["a1".into(), "a2".into()]),
            ("eb".into(), vec!["b1".into()]),
        ]
    );
    // 3 × 0.5 cpus for the tasks, 2 × 0.1 for the executors.
    let rest = h.offer(&mut fw);
    let cpus = Resources::from_list(&rest.resources).scalar("cpus");
    assert!((cpus - 0.3).abs() < 1e-9, "{cpus}");
    assert_eq!(rest.executor_ids.len(), 2);
}

#[test]
fn launch_group_goes_whole_or_not_at_all() {
    // (second task's change, all launched, message of the TASK_ERRORs)
    let cases: Vec<(&str, Change, bool, &str)> = vec![
        ("valid", Box::new(|_| {}), true, ""),
        (
            "one too big",
            Box::new(|t| t.resources[0] = Resource::scalar("cpus", 5.0)),
            false,
            "Task uses more resources",
        ),
        (
            "one with an executor",
            Box::new(|t| t.executor = Some(executor("x"))),
            false,
            "must not set 'executor'",
        ),
    ];
    for (name, change, ok, want) in cases {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let first = task("g1", &ag.id, 0.5, 128.0);
        let mut second = task("g2", &ag.id, 0.5, 128.0);
        change(&mut second);
        let op = Operation {
            kind: OperationType::LAUNCH_GROUP,
            id: None,
            launch: None,
            launch_group: Some(LaunchGroup {
                executor: executor("grp"),
                task_group: TaskGroupInfo {
                    tasks: vec![first, second],
                },
            }),
            reserve: None,
            unreserve: None,
            create: None,
            destroy: None,
        };
        h.accept_ops(&fw, &[&offer], vec![op]);
        let ups = fw.updates();
        let run = ag.messages().into_iter().any(
            |m| matches!(m, ToAgent::RunTasks { executor: Some(_), tasks, .. } if tasks.len() == 2),
        );
        assert_eq!(run, ok, "{name}");
        if ok {
            assert!(ups.is_empty(), "{name}: {ups:?}");
        } else {
            assert_eq!(ups.len(), 2, "{name}: every task of the group fails");
            for s in &ups {
                assert_eq!(s.state, TaskState::TASK_ERROR, "{name}");
                assert_eq!(s.reason, Some(Reason::REASON_TASK_GROUP_INVALID), "{name}");
                assert!(s.message.as_deref().unwrap_or("").contains(want), "{name}");
            }
        }
    }
}

#[test]
fn an_unsupported_operation_is_an_error_event() {
    let mut h = Harness::new();
    let mut fw = h.subscribe(mock_framework("web", &[]));
    h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
    let offer = h.offer(&mut fw);
    let mut op = Operation::launch(vec![]);
    op.kind = OperationType::GROW_VOLUME;
    op.launch = None;
    h.accept_ops(&fw, &[&offer], vec![op]);
    let events = fw.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::ERROR);
    let msg = &events[0].error.as_ref().expect("error").message;
    assert!(msg.contains("GROW_VOLUME is not supported yet"), "{msg}");
}
