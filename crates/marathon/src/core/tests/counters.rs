//! The core's counters `/metrics/prometheus` reads: deployments started, succeeded, failed
//! (superseded by a forced change) and canceled (`DELETE /v2/deployments`), and the states
//! instances entered.

use super::*;

#[test]
fn deployments_and_transitions_are_counted_where_they_happen() {
    let mut sim = Sim::new();
    sim.create(mock_app("/web", json!({"instances": 2})));
    let started = |s: &Sim| s.m.counters.deployments_started;
    assert_eq!(started(&sim), 1);
    sim.launch_and_start("/web");
    sim.m.reconcile_plans(sim.now);
    let c = &sim.m.counters;
    assert_eq!((c.deployments_succeeded, c.deployments_failed), (1, 0));
    let entered = |s: &Sim, state: TaskState| s.m.counters.transitions.get(state.as_str()).copied();
    assert_eq!(entered(&sim, TaskState::TASK_STAGING), Some(2));
    assert_eq!(entered(&sim, TaskState::TASK_RUNNING), Some(2));
    // A repeated state is no transition.
    let id = sim.task_ids("/web", |_| true)[0].clone();
    sim.update(&id, TaskState::TASK_RUNNING);
    assert_eq!(entered(&sim, TaskState::TASK_RUNNING), Some(2));

    // A scale that cannot finish (no offers), superseded by a forced one: failed.
    let scale = |n: u32, force: bool| AppCommand::Update {
        id: "/web".into(),
        patch: json!({"instances": n}),
        force,
        partial: true,
    };
    sim.run(scale(5, false)).expect("scaled");
    sim.run(scale(6, true)).expect("forced");
    let c = &sim.m.counters;
    assert_eq!((c.deployments_started, c.deployments_failed), (3, 1));
    // Canceled by DELETE /v2/deployments (force: stopped where it is).
    let id = sim
        .m
        .deployments
        .keys()
        .next()
        .cloned()
        .expect("one running");
    sim.run(DeploymentCommand::Cancel {
        id,
        force: true,
        previous: Default::default(),
    })
    .expect("canceled");
    let c = &sim.m.counters;
    assert_eq!((c.deployments_canceled, sim.m.deployments.len()), (1, 0));
    let text = |m: &Marathon| {
        let s = crate::metrics::series(m);
        let mut r = drover_metrics::Registry::default();
        r.register_collector(Box::new(drover_metrics::Snapshot::new(move || s.clone())));
        drover_metrics::encode(&r).expect("encodes")
    };
    let t = text(&sim.m);
    for line in [
        "marathon_deployments_started_total 3\n",
        "marathon_deployments_succeeded_total 1\n",
        "marathon_deployments_failed_total 1\n",
        "marathon_deployments_canceled_total 1\n",
        "marathon_task_state_transitions_total{state=\"TASK_RUNNING\"} 2\n",
        "marathon_instances_running_gauge 2\n",
        "marathon_apps_active_gauge 1\n",
    ] {
        assert!(t.contains(line), "no {line:?} in\n{t}");
    }
}
