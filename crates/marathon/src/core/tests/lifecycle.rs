//! Status updates → instance state, backoff and replacements; health → replacement and the
//! kill governor; rolling steps within minimumHealthCapacity/maximumOverCapacity; deployment
//! steps and their events; revive and suppress.

use super::*;

struct UpdateCase {
    name: &'static str,
    /// States the one instance goes through after STAGING.
    states: Vec<TaskState>,
    /// Kill it (as the API would) before the last state.
    kill_before_last: bool,
    /// Still believed in afterwards.
    kept: bool,
    /// Backoff failures afterwards.
    failures: u32,
    /// A `lastTaskFailure` recorded.
    failure_recorded: bool,
    /// Calls of the last update, by kind.
    calls: Vec<CallType>,
}

#[test]
fn status_updates_follow_each_instance() {
    use CallType::*;
    use TaskState::*;
    let cases = vec![
        UpdateCase {
            name: "running: kept, started, nothing left to launch (suppress)",
            states: vec![TASK_RUNNING],
            kill_before_last: false,
            kept: true,
            failures: 0,
            failure_recorded: false,
            calls: vec![ACKNOWLEDGE, SUPPRESS],
        },
        UpdateCase {
            name: "failed: forgotten, backoff counted, replacement wanted (revive)",
            states: vec![TASK_RUNNING, TASK_FAILED],
            kill_before_last: false,
            kept: false,
            failures: 1,
            failure_recorded: true,
            calls: vec![ACKNOWLEDGE, REVIVE],
        },
        UpdateCase {
            name: "finished without a kill: a long-running task ended, counted",
            states: vec![TASK_RUNNING, TASK_FINISHED],
            kill_before_last: false,
            kept: false,
            failures: 1,
            failure_recorded: true,
            calls: vec![ACKNOWLEDGE, REVIVE],
        },
        UpdateCase {
            name: "killed after a kill: no backoff, no failure (the replacement was queued at the kill)",
            states: vec![TASK_RUNNING, TASK_KILLED],
            kill_before_last: true,
            kept: false,
            failures: 0,
            failure_recorded: false,
            calls: vec![ACKNOWLEDGE],
        },
        UpdateCase {
            name: "lost: a failure",
            states: vec![TASK_RUNNING, TASK_LOST],
            kill_before_last: false,
            kept: false,
            failures: 1,
            failure_recorded: true,
            calls: vec![ACKNOWLEDGE, REVIVE],
        },
        UpdateCase {
            name: "unreachable: killed if it comes back, replaced now",
            states: vec![TASK_RUNNING, TASK_UNREACHABLE],
            kill_before_last: false,
            kept: false,
            failures: 0,
            failure_recorded: false,
            calls: vec![ACKNOWLEDGE, KILL, REVIVE],
        },
    ];
    for c in cases {
        let mut s = Sim::new();
        s.create(mock_app("/web", json!({})));
        let calls = s.offer(vec![big_offer("a1")]);
        let (_, task) = launched(&calls).pop().expect("launched");
        let tid = task.task_id.value;
        let mut last = Vec::new();
        for (k, st) in c.states.iter().enumerate() {
            s.now += 1.0;
            if c.kill_before_last && k + 1 == c.states.len() {
                let kill = KillCommand::AppTask {
                    app: "/web".into(),
                    task: tid.clone(),
                    scale: false,
                    force: false,
                };
                s.run(kill).unwrap();
            }
            last = s.update(&tid, *st);
        }
        assert_eq!(s.m.instances.contains_key(&tid), c.kept, "{}", c.name);
        let failures = s.m.backoff.get("/web").map(|b| b.failures).unwrap_or(0);
        assert_eq!(failures, c.failures, "{}", c.name);
        assert_eq!(
            s.m.last_failure.contains_key("/web"),
            c.failure_recorded,
            "{}",
            c.name
        );
        assert_eq!(kinds(&last), c.calls, "{}", c.name);
        if c.kept {
            let i = &s.m.instances[&tid];
            assert_eq!(i.started_at, Some(s.now), "{}", c.name);
        }
    }
}

/// An update of a task Marathon does not know is acknowledged, and the task killed unless it
/// ended.
#[test]
fn unknown_tasks_are_killed() {
    use CallType::*;
    let mut s = Sim::new();
    let running =
        s.m.update(&status("stray.1", "a1", TaskState::TASK_RUNNING), s.now);
    assert_eq!(kinds(&running), vec![ACKNOWLEDGE, KILL]);
    assert_eq!(killed(&running), vec!["stray.1"]);
    let ended =
        s.m.update(&status("stray.2", "a1", TaskState::TASK_FINISHED), s.now);
    assert_eq!(kinds(&ended), vec![ACKNOWLEDGE]);
}

/// The events an instance's life emits.
#[test]
fn updates_emit_marathons_events() {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({})));
    s.events();
    s.launch_and_start("/web");
    assert_eq!(
        s.events(),
        vec![
            "status_update_event",
            "instance_changed_event",
            "deployment_step_success",
            "deployment_success"
        ]
    );
    assert!(s.m.deployments.is_empty());
}

/// Health from the agent's checks (MESOS_*) arrives in updates.
#[test]
fn agent_health_counts_failures() {
    let mut s = Sim::new();
    s.create(mock_app(
        "/web",
        json!({"healthChecks": [{"protocol": "MESOS_TCP"}]}),
    ));
    let ids = s.launch_and_start("/web");
    assert_eq!(s.m.deployments.len(), 1, "not healthy yet");
    let mut st = status(&ids[0], "a1", TaskState::TASK_RUNNING);
    st.healthy = Some(true);
    s.m.update(&st, s.now);
    assert!(s.m.deployments.is_empty(), "healthy: deployed");
    st.healthy = Some(false);
    st.message = Some("connection refused".into());
    s.m.update(&st, s.now);
    s.m.update(&st, s.now);
    let i = &s.m.instances[&ids[0]];
    assert_eq!((i.healthy, i.consecutive_failures), (Some(false), 2));
    assert_eq!(i.last_failure_cause.as_deref(), Some("connection refused"));
}

/// The kill governor: does it let an unhealthy instance be killed, by how many run and how
/// many fail their checks?
#[test]
fn kill_governor_table() {
    let cases = [
        // (running, failing, allows)
        (1, 1, true),
        (2, 2, true),
        (3, 1, true),
        (3, 2, false),
        (4, 2, true),
        (4, 3, false),
        (10, 5, true),
        (10, 6, false),
    ];
    for (running, failing, allows) in cases {
        let mut s = Sim::new();
        s.create(mock_app(
            "/web",
            json!({"instances": running, "healthChecks": [{"protocol": "HTTP"}]}),
        ));
        let ids = s.launch_and_start("/web");
        for t in ids.iter().take(failing) {
            let i = s.m.instances.get_mut(t).unwrap();
            i.consecutive_failures = 1;
        }
        assert_eq!(
            s.m.kill_governor_allows("/web"),
            allows,
            "{running} running, {failing} failing"
        );
    }
}

/// Health results Marathon runs itself: three failures replace an instance, unless most fail
/// at once (the governor engages, says so, and lets go when checks recover).
#[test]
fn unhealthy_instances_are_replaced_unless_most_fail() {
    let mut s = Sim::new();
    s.create(mock_app(
        "/web",
        json!({"instances": 4, "healthChecks": [{"protocol": "HTTP"}]}),
    ));
    let ids = s.launch_and_start("/web");
    for t in &ids {
        s.health(t, true);
    }
    assert!(s.m.deployments.is_empty());
    s.events();
    // One fails three times: replaced (killed, and a replacement queued).
    s.health(&ids[0], false);
    s.health(&ids[0], false);
    let calls = s.health(&ids[0], false);
    assert_eq!(killed(&calls), vec![ids[0].clone()]);
    assert_eq!(s.m.queue().get("/web"), Some(&1));
    s.finish_kills("/web");
    let new = s.launch_and_start("/web");
    s.health(&new[0], true);
    // Three of four fail at once: none is killed; the governor says so.
    s.events();
    let mut kills = Vec::new();
    for _ in 0..3 {
        for t in &ids[1..] {
            kills.extend(killed(&s.health(t, false)));
        }
    }
    assert!(kills.is_empty(), "{kills:?}");
    assert!(s.m.governed.contains("/web"));
    assert!(s.events().contains(&"kill_governor_event".to_string()));
    // Checks recover: the governor lets go.
    for t in &ids[1..] {
        s.health(t, true);
    }
    assert!(!s.m.governed.contains("/web"));
    let events = s.m.take_events();
    let released = events
        .iter()
        .find(|(k, _)| k == "kill_governor_event")
        .expect("released");
    assert_eq!(released.1["engaged"], false);
}

struct RollingCase {
    instances: i64,
    min_health: f64,
    max_over: f64,
    /// Launches and kills of the first round after the update.
    first: (usize, usize),
}

/// Rolling restarts: every round (offer, start, kills end) stays within the upgrade strategy,
/// and the deployment completes with only new instances.
#[test]
fn rolling_restarts_stay_within_the_upgrade_strategy() {
    let cases = [
        RollingCase {
            instances: 4,
            min_health: 1.0,
            max_over: 0.0,
            first: (0, 1),
        },
        RollingCase {
            instances: 4,
            min_health: 0.5,
            max_over: 0.0,
            first: (0, 2),
        },
        RollingCase {
            instances: 4,
            min_health: 1.0,
            max_over: 0.5,
            first: (2, 0),
        },
        RollingCase {
            instances: 4,
            min_health: 0.5,
            max_over: 0.5,
            first: (2, 2),
        },
        RollingCase {
            instances: 4,
            min_health: 0.0,
            max_over: 0.0,
            first: (0, 4),
        },
        RollingCase {
            instances: 3,
            min_health: 1.0,
            max_over: 1.0,
            first: (3, 0),
        },
        RollingCase {
            instances: 1,
            min_health: 1.0,
            max_over: 0.0,
            first: (0, 1),
        },
    ];
    for c in cases {
        let name = format!("{} at {}/{}", c.instances, c.min_health, c.max_over);
        let mut s = Sim::new();
        let strategy =
            json!({"minimumHealthCapacity": c.min_health, "maximumOverCapacity": c.max_over});
        s.create(mock_app(
            "/web",
            json!({"instances": c.instances, "upgradeStrategy": strategy}),
        ));
        let old = s.launch_and_start("/web");
        assert_eq!(old.len() as i64, c.instances, "{name}");
        assert!(s.m.deployments.is_empty(), "{name}");
        s.now += 10.0;
        let restart = AppCommand::Restart {
            id: "/web".into(),
            force: false,
        };
        let (d, calls) = s.m.execute(restart, s.now).unwrap();
        assert_eq!(
            steps(&d.deployment),
            vec![vec![("RestartApplication", "/web")]],
            "{name}"
        );
        let first = (
            s.m.queue().get("/web").copied().unwrap_or(0),
            killed(&calls).len(),
        );
        assert_eq!(first, c.first, "{name}: first round");
        let n = c.instances as usize;
        let ceiling = (n as f64 * (1.0 + c.max_over)).floor() as usize;
        let mut floor = (n as f64 * c.min_health).ceil() as usize;
        if floor == n && ceiling == n {
            // No headroom either way: Marathon replaces one at a time.
            floor = n - 1;
        }
        let mut rounds = 0;
        while !s.m.deployments.is_empty() {
            rounds += 1;
            assert!(rounds < 20, "{name}: converges");
            s.now += 1.0;
            s.launch_and_start("/web");
            let alive = s.m.app_instances("/web").len();
            assert!(alive <= ceiling, "{name}: {alive} alive, at most {ceiling}");
            let healthy = s.task_ids("/web", |i| i.running() && !i.killing).len();
            assert!(
                healthy >= floor,
                "{name}: {healthy} healthy, at least {floor}"
            );
            s.finish_kills("/web");
        }
        let left = s.task_ids("/web", |_| true);
        assert_eq!(left.len(), n, "{name}");
        assert!(
            left.iter().all(|t| !old.contains(t)),
            "{name}: only new instances"
        );
    }
}

/// A scale keeps the configuration version: the running instances stay.
#[test]
fn scaling_keeps_running_instances() {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"instances": 2})));
    let old = s.launch_and_start("/web");
    s.now += 10.0;
    let up = AppCommand::Update {
        id: "/web".into(),
        patch: json!({"instances": 4}),
        partial: true,
        force: false,
    };
    let (d, calls) = s.m.execute(up, s.now).unwrap();
    assert_eq!(
        steps(&d.deployment),
        vec![vec![("ScaleApplication", "/web")]]
    );
    assert!(killed(&calls).is_empty());
    assert_eq!(s.m.queue().get("/web"), Some(&2));
    s.launch_and_start("/web");
    assert!(s.m.deployments.is_empty());
    let now_running = s.task_ids("/web", |i| i.running());
    assert_eq!(now_running.len(), 4);
    assert!(old.iter().all(|t| now_running.contains(t)));
    // Scaling down kills the youngest.
    let down = AppCommand::Update {
        id: "/web".into(),
        patch: json!({"instances": 1}),
        partial: true,
        force: false,
    };
    let (_, calls) = s.m.execute(down, s.now).unwrap();
    let k = killed(&calls);
    let new: Vec<String> = now_running
        .into_iter()
        .filter(|t| !old.contains(t))
        .collect();
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(
        new.iter().all(|t| k.contains(t)),
        "the youngest go first: {k:?}"
    );
}

/// With readiness checks, an instance counts for its deployment only once ready.
#[test]
fn readiness_holds_the_deployment() {
    let mut s = Sim::new();
    let rc = json!([{"name": "ready", "path": "/ready", "portName": "http"}]);
    s.create(mock_app(
        "/web",
        json!({"readinessChecks": rc, "portDefinitions": [{"port": 0, "name": "http"}]}),
    ));
    let ids = s.launch_and_start("/web");
    assert_eq!(s.m.deployments.len(), 1);
    s.m.readiness_result(&ids[0], false, json!({"ready": false}), s.now);
    assert_eq!(s.m.deployments.len(), 1);
    s.m.readiness_result(&ids[0], true, json!({"ready": true}), s.now);
    assert!(s.m.deployments.is_empty());
}

/// Offers are revived while something waits to launch and suppressed once nothing does.
#[test]
fn revive_and_suppress_follow_the_queue() {
    use CallType::*;
    let mut s = Sim::new();
    assert_eq!(kinds(&s.m.reconcile_plans(s.now)), vec![SUPPRESS]);
    assert!(s.m.suppressed);
    let cmd = AppCommand::Create {
        app: mock_app("/web", json!({})),
        force: false,
    };
    let (_, calls) = s.m.execute(cmd, s.now).unwrap();
    assert_eq!(kinds(&calls), vec![REVIVE]);
    s.offer(vec![big_offer("a1")]);
    let calls = s.start_all("/web");
    assert_eq!(kinds(&calls), vec![ACKNOWLEDGE, SUPPRESS]);
}
