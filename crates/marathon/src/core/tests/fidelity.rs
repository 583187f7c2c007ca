//! Marathon fidelity in the core: service ports (assigned, kept, refused when taken, the
//! range running out), what kind of change a new definition is (nothing, no restart,
//! restart), and deployment events carrying their group trees.

use super::*;
use crate::core::AppCommand;

fn put(s: &mut Sim, id: &str, patch: Value) -> Result<Deployment, MarathonError> {
    s.now += 1.0;
    s.run(AppCommand::Update {
        id: id.into(),
        patch,
        partial: true,
        force: true,
    })
    .map(|d| d.deployment)
}

#[test]
fn port_zero_gets_a_unique_service_port_kept_across_updates() {
    let mut s = Sim::new();
    s.create(mock_app("/a", json!({})));
    s.create(mock_app(
        "/b",
        json!({"portDefinitions": [{"port": 0}, {"port": 0, "name": "admin"}]}),
    ));
    assert_eq!(s.m.apps["/a"].service_ports(), vec![10000]);
    assert_eq!(s.m.apps["/b"].service_ports(), vec![10001, 10002]);
    assert_eq!(
        s.m.apps["/a"].ports,
        Some(vec![10000]),
        "shown in `ports` too"
    );
    assert_eq!(
        s.m.apps["/a"].port_definitions.as_ref().unwrap()[0]
            .name
            .as_deref(),
        Some("default"),
        "Marathon's default port is named"
    );
    // A PUT of port 0 again, and a change of something else, keep them.
    put(
        &mut s,
        "/b",
        json!({"portDefinitions": [{"port": 0}, {"port": 0, "name": "admin"}], "cmd": "sleep 5"}),
    )
    .unwrap();
    assert_eq!(s.m.apps["/b"].service_ports(), vec![10001, 10002]);
    put(&mut s, "/a", json!({"mem": 65})).unwrap();
    assert_eq!(s.m.apps["/a"].service_ports(), vec![10000]);
    // Removing an app frees its ports for the next.
    s.run(AppCommand::Delete {
        id: "/a".into(),
        force: true,
    })
    .unwrap();
    s.create(mock_app("/c", json!({})));
    assert_eq!(s.m.apps["/c"].service_ports(), vec![10000]);
}

#[test]
fn a_fixed_service_port_another_app_holds_is_refused_naming_both() {
    let mut s = Sim::new();
    s.create(mock_app(
        "/a",
        json!({"portDefinitions": [{"port": 12000}]}),
    ));
    let e = s
        .run(AppCommand::Create {
            app: mock_app(
                "/b",
                json!({"portDefinitions": [{"port": 80}, {"port": 12000}]}),
            ),
            force: false,
        })
        .unwrap_err();
    match e {
        MarathonError::Invalid(d) => {
            assert_eq!(d[0].path, "/portDefinitions(1)");
            assert!(
                d[0].errors[0].contains("12000")
                    && d[0].errors[0].contains("/a")
                    && d[0].errors[0].contains("/b"),
                "{d:?}"
            );
        }
        e => panic!("{e}"),
    }
    assert!(!s.m.apps.contains_key("/b"));
    // The app itself may keep its own port.
    put(
        &mut s,
        "/a",
        json!({"portDefinitions": [{"port": 12000}], "mem": 65}),
    )
    .unwrap();
}

#[test]
fn require_ports_launches_on_the_service_ports() {
    let mut s = Sim::new();
    s.m.service_port_range = (31005, 31010);
    s.create(mock_app("/a", json!({"requirePorts": true})));
    assert_eq!(s.m.apps["/a"].service_ports(), vec![31005]);
    let calls = s.offer(vec![big_offer("a1")]);
    let (_, t) = launched(&calls).pop().expect("launched");
    let r = Resources::from_list(&t.resources);
    assert_eq!(
        r.ranges("ports"),
        vec![Range {
            begin: 31005,
            end: 31005
        }]
    );
    let env = &t
        .command
        .as_ref()
        .unwrap()
        .environment
        .as_ref()
        .unwrap()
        .variables;
    let get = |k: &str| env.iter().find(|v| v.name == k).map(|v| v.value.clone());
    assert_eq!(
        get("PORT_31005").as_deref(),
        Some("31005"),
        "PORT_<service port>"
    );
    assert_eq!(get("PORT_DEFAULT").as_deref(), Some("31005"));
}

#[test]
fn the_range_running_out_is_marathons_error() {
    let mut s = Sim::new();
    s.m.service_port_range = (10000, 10001);
    s.create(mock_app(
        "/a",
        json!({"portDefinitions": [{"port": 0}, {"port": 0}]}),
    ));
    let e = s
        .run(AppCommand::Create {
            app: mock_app("/b", json!({})),
            force: false,
        })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "All ports in the range [10000-10001) are already in use"
    );
}

#[test]
fn an_unchanged_put_is_no_deployment_and_no_new_version() {
    let mut s = Sim::new();
    s.create(mock_app("/a", json!({"instances": 2})));
    let version = s.m.apps["/a"].version.clone();
    // What GET shows, sent back whole (as `dcos marathon app update` or a UI does).
    let shown = crate::core::json::definition(&s.m.apps["/a"]);
    s.m.deployments.clear();
    s.events();
    let d = put(&mut s, "/a", shown).unwrap();
    assert!(d.steps.is_empty(), "{:?}", d.steps);
    assert_eq!(
        d.version,
        version.clone().unwrap(),
        "answers the version in place"
    );
    assert_eq!(s.m.apps["/a"].version, version);
    assert!(s.m.deployments.is_empty());
    // Marathon announces every PUT (api_post_event), and a plan of no steps as done.
    assert_eq!(s.events(), ["deployment_success", "api_post_event"]);
}

#[test]
fn changes_tasks_do_not_carry_restart_nothing_and_the_plan_says_so() {
    let mut s = Sim::new();
    s.create(mock_app(
        "/a",
        json!({"instances": 2, "healthChecks": [{"protocol": "HTTP"}],
        "constraints": [["hostname", "MAX_PER", "5"]]}),
    ));
    let ids = s.launch_and_start("/a");
    s.m.deployments.clear();
    for (patch, what) in [
        (json!({"labels": {"HAPROXY_GROUP": "external"}}), "labels"),
        (
            json!({"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}}),
            "upgradeStrategy",
        ),
        (
            json!({"backoffSeconds": 5, "backoffFactor": 2, "maxLaunchDelaySeconds": 60}),
            "backoffSeconds",
        ),
        (
            json!({"healthChecks": [{"protocol": "HTTP", "intervalSeconds": 5, "maxConsecutiveFailures": 5}]}),
            "healthChecks",
        ),
        (
            json!({"constraints": [["hostname", "MAX_PER", "2"]]}),
            "constraints",
        ),
        (json!({"instances": 3}), "instances"),
    ] {
        let dry =
            s.m.dry_run(
                AppCommand::Update {
                    id: "/a".into(),
                    patch: patch.clone(),
                    partial: true,
                    force: false,
                },
                s.now,
            )
            .unwrap();
        let (_, change) = &dry.plan.changes[0];
        assert!(
            !change.restart && change.fields.contains(&what.to_string()),
            "{what}: {change:?}"
        );
        let d = put(&mut s, "/a", patch).unwrap();
        assert_eq!(steps(&d), [[("ScaleApplication", "/a")]], "{what}");
        s.m.deployments.clear();
        let calls = s.m.reconcile_plans(s.now);
        assert!(killed(&calls).is_empty(), "{what}: nothing is killed");
        for t in &ids {
            assert!(
                s.m.instances[t].running() && !s.m.instances[t].killing,
                "{what}: {t} keeps running"
            );
        }
    }
    // A constraint the running tasks break, and a new command, restart.
    for patch in [
        json!({"constraints": [["hostname", "UNIQUE"]]}),
        json!({"cmd": "sleep 2000"}),
    ] {
        let d = put(&mut s, "/a", patch.clone()).unwrap();
        assert_eq!(steps(&d), [[("RestartApplication", "/a")]], "{patch}");
        s.m.deployments.clear();
    }
}

#[test]
fn deployment_events_carry_the_trees_before_and_after() {
    let mut s = Sim::new();
    s.create(mock_app("/prod/web", json!({})));
    s.events();
    s.m.deployments.clear();
    put(&mut s, "/prod/web", json!({"cmd": "sleep 5"})).unwrap();
    let events = s.m.take_events();
    let (_, info) = events.iter().find(|(k, _)| k == "deployment_info").unwrap();
    let plan = &info["plan"];
    let keys: Vec<&String> = plan.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "original", "steps", "target", "version"]);
    let web = |tree: &Value| tree["groups"][0]["apps"][0].clone();
    assert_eq!(plan["original"]["id"], "/");
    assert_eq!(plan["original"]["groups"][0]["id"], "/prod");
    assert_eq!(web(&plan["original"])["cmd"], "sleep 1000");
    assert_eq!(web(&plan["target"])["cmd"], "sleep 5");
    for tree in [&plan["original"], &plan["target"]] {
        let keys: Vec<&String> = tree.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["apps", "dependencies", "groups", "id", "pods", "version"]
        );
        assert!(web(tree).get("lastScalingAt").is_none() && web(tree)["versionInfo"].is_object());
    }
}

#[test]
fn subscriptions_are_durable_and_announced() {
    let mut s = Sim::new();
    let sub = s.m.subscribe("http://lb:9090/events", "10.0.0.5", s.now);
    assert_eq!(sub["eventType"], "subscribe_event");
    assert_eq!(sub["callbackUrl"], "http://lb:9090/events");
    assert!(s.m.wants_commit(), "stored before the answer goes out");
    s.m.subscribe("http://other/cb", "10.0.0.6", s.now);
    s.m.unsubscribe("http://other/cb", "10.0.0.6", s.now);
    assert_eq!(
        s.events(),
        ["subscribe_event", "subscribe_event", "unsubscribe_event"]
    );
    let ops = s.m.take_pending();
    s.m.store.apply(ops).unwrap();
    // A restarted Marathon over the same store has them.
    let again = Marathon::open(s.m.store.clone(), "*".into(), Box::new(SeqIds::default())).unwrap();
    assert_eq!(
        again.subscriptions.iter().collect::<Vec<_>>(),
        ["http://lb:9090/events"]
    );
}

/// Not a check: a measurement (docs/performance.md, "Marathon: a deployment among 5,000 apps"):
/// `cargo test -p drover-marathon --release measure_ -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_a_deployment_among_5000_apps() {
    let mut s = Sim::new();
    for i in 0..5000 {
        let app = mock_app(
            &format!("/g{}/app{i}", i % 50),
            json!({"instances": 0, "labels": {"a": "b"}, "healthChecks": [{"protocol": "HTTP"}]}),
        );
        s.m.apps.insert(app.id.clone(), app);
    }
    let t = std::time::Instant::now();
    put(&mut s, "/g1/app1", json!({"cmd": "x"})).unwrap();
    eprintln!("deploy with 5000 apps: {:?}", t.elapsed());
}
