//! Offers → which tasks launch where (or why an offer is not used), and what each task
//! carries.

use super::*;
use drover_api::Filters;

struct OfferCase {
    name: &'static str,
    app: Value,
    offers: Vec<Offer>,
    /// Tasks launched per agent, in offer order.
    launches: Vec<(&'static str, usize)>,
    /// Why the app did not use an offer (Marathon's reason), if it did not use one.
    unused: Option<&'static str>,
}

#[test]
fn offers_launch_what_fits() {
    let cases = vec![
        OfferCase {
            name: "two instances fit one offer: one ACCEPT",
            app: json!({"instances": 2}),
            offers: vec![big_offer("a1")],
            launches: vec![("a1", 2)],
            unused: None,
        },
        OfferCase {
            name: "each offer takes what fits, the next offer the rest",
            app: json!({"instances": 3, "cpus": 1.0}),
            offers: vec![
                mock_offer("a1", 2.0, 1024.0, &[(31000, 31010)]),
                big_offer("a2"),
            ],
            launches: vec![("a1", 2), ("a2", 1)],
            unused: Some("InsufficientCpus"),
        },
        OfferCase {
            name: "too few cpus",
            app: json!({"cpus": 1.0}),
            offers: vec![mock_offer("a1", 0.5, 1024.0, &[(31000, 31010)])],
            launches: vec![],
            unused: Some("InsufficientCpus"),
        },
        OfferCase {
            name: "too little memory",
            app: json!({"mem": 512}),
            offers: vec![mock_offer("a1", 4.0, 256.0, &[(31000, 31010)])],
            launches: vec![],
            unused: Some("InsufficientMemory"),
        },
        OfferCase {
            name: "too few ports",
            app: json!({"portDefinitions": [{"port": 0}, {"port": 0}]}),
            offers: vec![mock_offer("a1", 4.0, 1024.0, &[(31000, 31000)])],
            launches: vec![],
            unused: Some("InsufficientPorts"),
        },
        OfferCase {
            name: "a required port that is not offered",
            app: json!({"portDefinitions": [{"port": 8080}], "requirePorts": true}),
            offers: vec![big_offer("a1")],
            launches: vec![],
            unused: Some("InsufficientPorts"),
        },
        OfferCase {
            name: "UNIQUE hostname: one per agent",
            app: json!({"instances": 3, "constraints": [["hostname", "UNIQUE"]]}),
            offers: vec![big_offer("a1"), big_offer("a2")],
            launches: vec![("a1", 1), ("a2", 1)],
            unused: Some("UnfulfilledConstraint"),
        },
        OfferCase {
            name: "no instances wanted: the offer is declined",
            app: json!({"instances": 0}),
            offers: vec![big_offer("a1")],
            launches: vec![],
            unused: None,
        },
    ];
    for c in cases {
        let mut s = Sim::new();
        s.create(mock_app("/web", c.app.clone()));
        let calls = s.offer(c.offers.clone());
        let mut per_agent: Vec<(String, usize)> = Vec::new();
        for (agent, _) in launched(&calls) {
            match per_agent.last_mut() {
                Some((a, n)) if *a == agent => *n += 1,
                _ => per_agent.push((agent, 1)),
            }
        }
        let want: Vec<(String, usize)> = c
            .launches
            .iter()
            .map(|(a, n)| (a.to_string(), *n))
            .collect();
        assert_eq!(per_agent, want, "{}", c.name);
        let accepts = kinds(&calls)
            .iter()
            .filter(|k| **k == CallType::ACCEPT)
            .count();
        assert_eq!(accepts, want.len(), "{}: one ACCEPT per offer used", c.name);
        let declines = kinds(&calls)
            .iter()
            .filter(|k| **k == CallType::DECLINE)
            .count();
        assert_eq!(declines, c.offers.len() - want.len(), "{}", c.name);
        let total: usize = want.iter().map(|(_, n)| n).sum();
        assert_eq!(s.m.app_instances("/web").len(), total, "{}", c.name);
        let reasons =
            s.m.offer_stats
                .get("/web")
                .map(|st| st.reasons.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
        match c.unused {
            Some(r) => assert!(
                reasons.iter().any(|x| x.starts_with(r)),
                "{}: {reasons:?}",
                c.name
            ),
            None => assert!(reasons.is_empty(), "{}: {reasons:?}", c.name),
        }
    }
}

/// A declined offer is filtered for 5 s while something waits to launch, 120 s otherwise.
#[test]
fn declines_are_filtered_by_whether_anything_waits() {
    let refuse = |calls: &Calls| -> Vec<f64> {
        calls
            .iter()
            .filter_map(|c| c.decline.as_ref())
            .filter_map(|d| d.filters.as_ref().and_then(|f: &Filters| f.refuse_seconds))
            .collect()
    };
    let mut s = Sim::new();
    assert_eq!(refuse(&s.offer(vec![big_offer("a1")])), vec![120.0]);
    s.create(mock_app("/web", json!({"cpus": 8.0})));
    assert_eq!(
        refuse(&s.offer(vec![mock_offer("a1", 1.0, 1024.0, &[(31000, 31010)])])),
        vec![5.0]
    );
}

/// A task that failed delays the next launch by the app's backoff (AppDelayed), then launches.
#[test]
fn backoff_delays_relaunch() {
    let mut s = Sim::new();
    s.create(mock_app(
        "/web",
        json!({"backoffSeconds": 10, "backoffFactor": 2}),
    ));
    let first = s.launch_and_start("/web");
    s.update(&first[0], TaskState::TASK_FAILED);
    assert_eq!(s.m.backoff["/web"].failures, 1);
    s.now += 1.0;
    assert!(launched(&s.offer(vec![big_offer("a1")])).is_empty());
    assert_eq!(s.m.offer_stats["/web"].reasons.get("AppDelayed"), Some(&1));
    s.now += 10.0;
    let again = s.launch_and_start("/web");
    assert_eq!(again.len(), 1);
    // Running again resets the count; the next failure waits backoffSeconds again.
    assert_eq!(s.m.backoff["/web"].failures, 0);
    s.update(&again[0], TaskState::TASK_FAILED);
    assert_eq!(s.m.backoff["/web"].until, s.now + 10.0);
}

/// An app waits for the step of its deployment: a dependency is launched, running and
/// healthy first.
#[test]
fn dependencies_launch_in_steps() {
    let mut s = Sim::new();
    let db = mock_app("/g/db", json!({}));
    let web = mock_app("/g/web", json!({"dependencies": ["/g/db"]}));
    let cmd = GroupCommand::Update {
        id: "/g".into(),
        apps: vec![web, db],
        replace: false,
        force: false,
    };
    s.run(cmd).unwrap();
    let calls = s.offer(vec![big_offer("a1")]);
    let apps: Vec<String> = s.m.instances.values().map(|i| i.app_id.clone()).collect();
    assert_eq!(apps, vec!["/g/db"], "{:?}", launched(&calls).len());
    assert_eq!(
        s.m.offer_stats["/g/web"]
            .reasons
            .get("DeploymentWaitingForDependencies"),
        Some(&1)
    );
    s.start_all("/g/db");
    s.offer(vec![big_offer("a1")]);
    assert_eq!(s.m.app_instances("/g/web").len(), 1);
}

/// Task ids and dynamic ports come from the id source: the same ids, the same tasks.
#[test]
fn task_ids_and_ports_come_from_the_id_source() {
    let run = || {
        let mut s = Sim::new();
        s.create(mock_app("/web", json!({"instances": 2})));
        launched(&s.offer(vec![big_offer("a1")]))
            .into_iter()
            .map(|(_, t)| (t.task_id.value, t.resources))
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a.len(), 2);
    // Deployment id 1, then tasks 2 and 3.
    assert_eq!(a[0].0, "web.00000000-0000-0002-0000-000000000002");
    assert_ne!(a[0].1, a[1].1, "two tasks on one agent get different ports");
    assert_eq!(a, run());
}

type Check = fn(&TaskInfo, &Instance);

fn env(t: &TaskInfo, name: &str) -> Option<String> {
    t.command
        .as_ref()?
        .environment
        .as_ref()?
        .variables
        .iter()
        .find(|v| v.name == name)
        .map(|v| v.value.clone())
}

/// What a task carries, from the app and the offer.
#[test]
fn tasks_carry_marathons_environment_and_settings() {
    let cases: Vec<(&str, Value, Check)> = vec![
        ("ports and ids in the environment", json!({}), |t, i| {
            let port = i.ports[0].to_string();
            assert_eq!(env(t, "PORT0"), Some(port.clone()));
            assert_eq!(env(t, "PORT"), Some(port.clone()));
            assert_eq!(env(t, "PORTS"), Some(port));
            assert_eq!(env(t, "HOST").as_deref(), Some("a1.example"));
            assert_eq!(env(t, "MARATHON_APP_ID").as_deref(), Some("/web"));
            assert_eq!(env(t, "MESOS_TASK_ID"), Some(t.task_id.value.clone()));
            assert_eq!(env(t, "MARATHON_APP_VERSION"), Some(i.version.clone()));
            assert!((31000..=31999).contains(&i.ports[0]));
        }),
        (
            "named ports and labels",
            json!({"portDefinitions": [{"port": 0, "name": "http-api"}], "labels": {"tier": "front"}}),
            |t, i| {
                assert_eq!(env(t, "PORT_HTTP_API"), Some(i.ports[0].to_string()));
                assert_eq!(env(t, "MARATHON_APP_LABELS").as_deref(), Some("TIER"));
                assert_eq!(env(t, "MARATHON_APP_LABEL_TIER").as_deref(), Some("front"));
                let labels = t.labels.as_ref().unwrap();
                assert_eq!(labels.labels[0].key, "tier");
            },
        ),
        ("cmd runs in a shell", json!({"cmd": "echo hi"}), |t, _| {
            let c = t.command.as_ref().unwrap();
            assert_eq!((c.shell, c.value.as_deref()), (Some(true), Some("echo hi")));
        }),
        (
            "args run without a shell",
            json!({"cmd": null, "args": ["/bin/echo", "hi"]}),
            |t, _| {
                let c = t.command.as_ref().unwrap();
                assert_eq!(c.shell, Some(false));
                assert_eq!(c.arguments, vec!["/bin/echo", "hi"]);
            },
        ),
        (
            "the kill grace period",
            json!({"taskKillGracePeriodSeconds": 3}),
            |t, _| {
                let g = t
                    .kill_policy
                    .as_ref()
                    .unwrap()
                    .grace_period
                    .as_ref()
                    .unwrap();
                assert_eq!(g.nanoseconds, 3_000_000_000);
            },
        ),
        (
            "a MESOS_HTTP check runs on the agent, on the task's port",
            json!({"healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0}]}),
            |t, i| {
                let hc = t.health_check.as_ref().unwrap();
                assert_eq!(hc["type"], "HTTP");
                assert_eq!(hc["http"]["port"], i.ports[0]);
                assert_eq!(hc["http"]["path"], "/health");
            },
        ),
        (
            "an HTTP check is Marathon's: none on the task",
            json!({"healthChecks": [{"protocol": "HTTP"}]}),
            |t, _| assert!(t.health_check.is_none()),
        ),
        (
            "a BRIDGE Docker container maps its port onto the offered one",
            json!({"cmd": null, "container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE",
                   "portMappings": [{"containerPort": 80, "hostPort": 0}]}}}),
            |t, i| {
                let c = t.container.as_ref().unwrap();
                assert_eq!(c["type"], "DOCKER");
                assert_eq!(c["docker"]["image"], "nginx");
                let m = &c["docker"]["port_mappings"][0];
                assert_eq!(
                    (m["host_port"].as_u64(), m["container_port"].as_u64()),
                    (Some(i.ports[0] as u64), Some(80))
                );
            },
        ),
        (
            "resources: cpus, mem and the picked port, for the offer's role",
            json!({"cpus": 0.25, "mem": 32}),
            |t, i| {
                let r = Resources::from_list(&t.resources);
                assert_eq!(r.scalar("cpus"), 0.25);
                assert_eq!(r.scalar("mem"), 32.0);
                let p = i.ports[0] as u64;
                assert_eq!(r.ranges("ports"), vec![Range { begin: p, end: p }]);
                assert!(t.resources.iter().all(|x| x
                    .allocation_info
                    .as_ref()
                    .and_then(|a| a.role.as_deref())
                    == Some("*")));
            },
        ),
        (
            "fetch URIs",
            json!({"fetch": [{"uri": "https://example.com/a.tgz"}]}),
            |t, _| {
                let uris = &t.command.as_ref().unwrap().uris;
                assert_eq!(uris[0].value, "https://example.com/a.tgz");
            },
        ),
    ];
    for (name, extra, check) in cases {
        let mut s = Sim::new();
        s.create(mock_app("/web", extra));
        let tasks = launched(&s.offer(vec![big_offer("a1")]));
        assert_eq!(tasks.len(), 1, "{name}");
        let t = &tasks[0].1;
        let i = s.m.instances[&t.task_id.value].clone();
        assert_eq!(i.state, TaskState::TASK_STAGING, "{name}");
        check(t, &i);
    }
}

/// `acceptedResourceRoles` picks resources by their reservation: reserved to the role only,
/// unreserved only (`*`), or (by default) reserved ones first, then unreserved.
#[test]
fn accepted_resource_roles_choose_reserved_or_unreserved_resources() {
    // An app of role `ads` (its top-level group's), on offers allocated to `ads`.
    let offer = |agent: &str| {
        let mut o = mock_offer(agent, 4.0, 1024.0, &[(31000, 31009)]);
        o.allocation_info = Some(drover_api::AllocationInfo {
            role: Some("ads".into()),
        });
        let reserved = Resources::parse("cpus(ads):1;mem(ads):256;ports(ads):[32000-32000]")
            .expect("resources");
        o.resources.extend(reserved.iter().cloned());
        o
    };
    // (acceptedResourceRoles, cpus asked, launched?, reserved cpus used, unreserved cpus used)
    let cases: Vec<(Value, f64, bool, f64, f64)> = vec![
        (json!(["ads"]), 0.5, true, 0.5, 0.0),
        (json!(["ads"]), 2.0, false, 0.0, 0.0),
        (json!(["*"]), 2.0, true, 0.0, 2.0),
        (json!(["*", "ads"]), 2.0, true, 1.0, 1.0),
        (Value::Null, 2.0, true, 1.0, 1.0),
    ];
    for (roles, cpus, launches, reserved, unreserved) in cases {
        let mut app =
            json!({"cpus": cpus, "mem": 64, "portDefinitions": [{"port": 0}], "role": "ads"});
        if !roles.is_null() {
            app["acceptedResourceRoles"] = roles.clone();
        }
        let mut s = Sim::new();
        s.create(mock_app("/ads/web", app));
        let tasks = launched(&s.offer(vec![offer("a1")]));
        assert_eq!(tasks.len(), usize::from(launches), "{roles}");
        let Some((_, t)) = tasks.first() else {
            continue;
        };
        let res = Resources::from_list(&t.resources);
        assert_eq!(
            res.usable_by("ads").scalar("cpus") - res.usable_by("*").scalar("cpus"),
            reserved,
            "{roles}"
        );
        assert_eq!(res.usable_by("*").scalar("cpus"), unreserved, "{roles}");
        // The port comes only from what is accepted.
        let port = res.ranges("ports")[0].begin;
        if roles == json!(["ads"]) {
            assert_eq!(port, 32000);
        }
        if roles == json!(["*"]) {
            assert!((31000..=31009).contains(&port), "{port}");
        }
    }
}

/// An offer of 4 cpus and 1,024 MiB, plus revocable slack of 2 cpus and 512 MiB.
fn offer_with_slack(agent: &str) -> Offer {
    let mut o = mock_offer(agent, 4.0, 1024.0, &[(31000, 31010)]);
    for (name, v) in [("cpus", 2.0), ("mem", 512.0)] {
        let mut r = Resource::scalar(name, v);
        r.revocable = Some(json!({}));
        o.resources.push(r);
    }
    o
}

#[test]
fn only_apps_labelled_revocable_run_on_revocable_cpus_and_mem() {
    // (app, launched, revocable cpus and mem of each task, the reason when nothing fits)
    let cases = [
        (json!({"cpus": 1.0, "mem": 128}), 1, (0.0, 0.0), None),
        (
            json!({"cpus": 1.0, "mem": 128, "labels": {"DROVER_REVOCABLE": "true"}}),
            1,
            (1.0, 128.0),
            None,
        ),
        // Revocable cpus only: the 4 regular ones are not taken instead.
        (
            json!({"cpus": 3.0, "mem": 128, "labels": {"DROVER_REVOCABLE": "true"}}),
            0,
            (0.0, 0.0),
            Some("InsufficientCpus"),
        ),
        // And the others never take the slack: 4 regular cpus, not 6.
        (
            json!({"cpus": 5.0, "mem": 128}),
            0,
            (0.0, 0.0),
            Some("InsufficientCpus"),
        ),
    ];
    for (app, n, (rcpus, rmem), reason) in cases {
        let case = app.to_string();
        let mut s = Sim::new();
        s.create(mock_app("/batch", app));
        let calls = s.offer(vec![offer_with_slack("a1")]);
        let tasks = launched(&calls);
        assert_eq!(tasks.len(), n, "{case}");
        for (_, t) in &tasks {
            let revocable = |name: &str| -> f64 {
                t.resources
                    .iter()
                    .filter(|r| r.name == name && r.revocable.is_some())
                    .map(|r| r.scalar.map(|s| s.value).unwrap_or(0.0))
                    .sum()
            };
            assert_eq!(
                (revocable("cpus"), revocable("mem")),
                (rcpus, rmem),
                "{case}"
            );
            assert!(
                t.resources
                    .iter()
                    .filter(|r| r.name == "ports")
                    .all(|r| r.revocable.is_none()),
                "{case}"
            );
        }
        if let Some(r) = reason {
            assert!(s.m.offer_stats["/batch"].reasons.contains_key(r), "{case}");
        }
    }
}
