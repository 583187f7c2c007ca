//! Unreachable instances under each `unreachableStrategy`: counted while unreachable, replaced
//! once inactive, expunged (killed) after `expungeAfterSeconds`, never replaced when disabled;
//! a task that comes back makes a surplus the planner kills by the kill selection.

use super::*;

/// What the one instance of `/web` is at some time after its TASK_UNREACHABLE.
#[derive(Debug, PartialEq)]
enum Seen {
    /// Kept and counted: nothing launched in its place.
    Counted,
    /// Kept, not counted: a replacement is wanted.
    Replaced,
    /// Forgotten (its KILL sent at that moment), a replacement wanted.
    Expunged,
}

/// Launch one running instance of an app with `strategy`; make it unreachable.
fn unreachable_app(strategy: Value, kill_selection: &str) -> (Sim, String, Calls) {
    let mut s = Sim::new();
    s.create(mock_app(
        "/web",
        json!({"unreachableStrategy": strategy, "killSelection": kill_selection}),
    ));
    let ids = s.launch_and_start("/web");
    let tid = ids[0].clone();
    s.now += 1.0;
    let calls = s.update(&tid, TaskState::TASK_UNREACHABLE);
    (s, tid, calls)
}

/// The periodic pass at the sim's clock.
fn tick(s: &mut Sim) -> Calls {
    s.m.mark_all_dirty();
    s.m.reconcile_plans(s.now)
}

#[test]
fn the_strategy_decides_what_an_unreachable_instance_is() {
    use Seen::*;
    // (strategy, [(seconds after TASK_UNREACHABLE, what the instance is then)])
    let cases: Vec<(Value, Vec<(f64, Seen)>)> = vec![
        (json!({}), vec![(0.0, Expunged)]),
        (
            json!({"inactiveAfterSeconds": 10, "expungeAfterSeconds": 60}),
            vec![
                (0.0, Counted),
                (9.0, Counted),
                (10.0, Replaced),
                (59.0, Replaced),
                (60.0, Expunged),
            ],
        ),
        (
            json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 30}),
            vec![(0.0, Replaced), (29.0, Replaced), (30.0, Expunged)],
        ),
        (
            json!({"inactiveAfterSeconds": 5, "expungeAfterSeconds": 5}),
            vec![(0.0, Counted), (5.0, Expunged)],
        ),
        (
            json!("disabled"),
            vec![(0.0, Counted), (3600.0, Counted), (1e7, Counted)],
        ),
    ];
    for (strategy, steps) in cases {
        let (mut s, tid, first) = unreachable_app(strategy.clone(), "YOUNGEST_FIRST");
        let start = s.now;
        for (after, want) in steps {
            s.now = start + after;
            let calls = if after == 0.0 {
                first.clone()
            } else {
                tick(&mut s)
            };
            let kept = s.m.instances.get(&tid);
            let seen = match kept {
                None => Expunged,
                Some(i) if i.unreachable_inactive => Replaced,
                Some(_) => Counted,
            };
            assert_eq!(seen, want, "{strategy} after {after}s");
            let wanted = s.m.queue().get("/web").copied().unwrap_or(0);
            assert_eq!(
                wanted,
                usize::from(want != Counted),
                "{strategy} after {after}s: queue"
            );
            if want == Expunged {
                assert_eq!(
                    killed(&calls),
                    vec![tid.clone()],
                    "{strategy}: killed when expunged"
                );
                break;
            }
            assert!(
                killed(&calls).is_empty(),
                "{strategy} after {after}s: no kill"
            );
        }
    }
}

/// A task that comes back (TASK_RUNNING) counts again: one instance too many, and the planner
/// kills one by the app's kill selection — the replacement (youngest) or the returned one.
#[test]
fn a_task_that_comes_back_makes_a_surplus_killed_by_the_kill_selection() {
    for (selection, kills_returned) in [("YOUNGEST_FIRST", false), ("OLDEST_FIRST", true)] {
        let strategy = json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 600});
        let (mut s, old, _) = unreachable_app(strategy, selection);
        s.now += 1.0;
        let calls = s.offer(vec![big_offer("a2")]);
        let new = launched(&calls)
            .pop()
            .expect("a replacement")
            .1
            .task_id
            .value;
        s.start_all("/web");
        s.now += 1.0;
        let calls = s.update(&old, TaskState::TASK_RUNNING);
        let i = &s.m.instances[&old];
        assert!(i.unreachable_since.is_none() && !i.unreachable_inactive);
        let want = if kills_returned { &old } else { &new };
        assert_eq!(killed(&calls), vec![want.clone()], "{selection}");
        assert!(
            s.m.queue().is_empty(),
            "{selection}: nothing more to launch"
        );
    }
}

/// An unreachable instance is expunged, not waited for, when its app goes; and one being
/// killed that becomes unreachable is expunged too.
#[test]
fn unreachable_instances_are_expunged_when_killed() {
    let (mut s, tid, _) = unreachable_app(json!("disabled"), "YOUNGEST_FIRST");
    let del = AppCommand::Delete {
        id: "/web".into(),
        force: false,
    };
    let (_, calls) = s.m.execute(del, s.now).unwrap();
    let mut calls = calls;
    calls.extend(tick(&mut s));
    assert_eq!(killed(&calls), vec![tid.clone()]);
    assert!(s.m.instances.is_empty(), "expunged");
    assert!(s.m.deployments.is_empty(), "the deletion is done");

    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"unreachableStrategy": "disabled"})));
    let tid = s.launch_and_start("/web")[0].clone();
    let kill = KillCommand::AppTask {
        app: "/web".into(),
        task: tid.clone(),
        scale: false,
        force: false,
    };
    s.run(kill).unwrap();
    s.update(&tid, TaskState::TASK_UNREACHABLE);
    assert!(
        !s.m.instances.contains_key(&tid),
        "expunged while being killed"
    );
}

/// The state survives a restart of the core: the instance is still unreachable (inactive)
/// and the strategy goes on from the time stored.
#[test]
fn unreachable_state_is_kept_across_a_reopen() {
    let strategy = json!({"inactiveAfterSeconds": 0, "expungeAfterSeconds": 60});
    let (mut s, tid, _) = unreachable_app(strategy, "YOUNGEST_FIRST");
    let ops = s.m.take_pending();
    s.m.store.apply(ops).unwrap();
    let store = s.m.store.clone();
    let mut m = Marathon::open(store, "*".into(), Box::new(SeqIds::default())).unwrap();
    assert!(m.instances[&tid].unreachable_inactive);
    m.mark_all_dirty();
    let calls = m.reconcile_plans(s.now + 60.0);
    assert_eq!(killed(&calls), vec![tid.clone()]);
    assert!(m.instances.is_empty());
}
