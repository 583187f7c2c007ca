//! The typed commands: conflicts (409), not found (404), invalid (422), scaleBy, group
//! replacement, restart, delete, kills, rollback; and dry runs.

use super::*;
use axum::response::IntoResponse;

/// `/web` (2 instances), `/g/a` and `/g/b` (1 each), all running and deployed; `/slow`,
/// whose deployment never ends (its instance never passes its check).
fn world() -> Sim {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"instances": 2})));
    s.create(mock_app("/g/a", json!({})));
    s.create(mock_app("/g/b", json!({})));
    s.create(mock_app(
        "/slow",
        json!({"healthChecks": [{"protocol": "HTTP"}]}),
    ));
    s.offer(vec![big_offer("a1")]);
    for app in ["/web", "/g/a", "/g/b", "/slow"] {
        s.start_all(app);
    }
    assert_eq!(s.m.deployments.len(), 1, "only /slow deploys");
    assert!(s
        .m
        .instances
        .contains_key("web.00000000-0000-0008-0000-000000000008"));
    s.now += 60.0;
    s.m.take_events();
    let ops = s.m.take_pending();
    s.m.store.apply(ops).unwrap();
    s
}

fn status_of(e: MarathonError) -> (u16, String) {
    let text = match &e {
        MarathonError::DeploymentInProgress(ids) => format!("locked by {ids:?}"),
        MarathonError::Invalid(d) => format!("{d:?}"),
        other => other.to_string(),
    };
    (e.into_response().status().as_u16(), text)
}

#[allow(clippy::large_enum_variant)]
enum Cmd {
    App(AppCommand),
    Group(GroupCommand),
    Kill(KillCommand),
}

enum Expect {
    /// The deployment's steps: (action, app) per step.
    Steps(Vec<Vec<(&'static str, &'static str)>>),
    /// Tasks killed, and the steps of the deployment that scales them down (if any).
    Kills(usize, Vec<Vec<(&'static str, &'static str)>>),
    /// The status and a piece of the message.
    Fails(u16, &'static str),
}

fn update(id: &str, patch: Value, force: bool) -> Cmd {
    Cmd::App(AppCommand::Update {
        id: id.into(),
        patch,
        partial: true,
        force,
    })
}

#[test]
fn commands_table() {
    use Expect::*;
    let s_ = "ScaleApplication";
    let r_ = "RestartApplication";
    let st = "StartApplication";
    let sp = "StopApplication";
    let cases: Vec<(&str, Cmd, Expect)> = vec![
        (
            "create a new app",
            Cmd::App(AppCommand::Create {
                app: mock_app("/new", json!({})),
                force: false,
            }),
            Steps(vec![vec![(st, "/new")]]),
        ),
        (
            "create an app that exists",
            Cmd::App(AppCommand::Create {
                app: mock_app("/web", json!({})),
                force: false,
            }),
            Fails(409, "An app with id [/web] already exists."),
        ),
        (
            "create an app where a group is",
            Cmd::App(AppCommand::Create {
                app: mock_app("/g", json!({})),
                force: false,
            }),
            Fails(409, "A group with id [/g] already exists."),
        ),
        (
            "change only instances: a scale",
            update("/web", json!({"instances": 5}), false),
            Steps(vec![vec![(s_, "/web")]]),
        ),
        (
            "change the command: a restart",
            update("/web", json!({"cmd": "sleep 5"}), false),
            Steps(vec![vec![(r_, "/web")]]),
        ),
        (
            "update an app that does not exist: a start",
            update("/new", json!({"cmd": "x"}), false),
            Steps(vec![vec![(st, "/new")]]),
        ),
        (
            "update during a deployment",
            update("/slow", json!({"instances": 2}), false),
            Fails(409, "locked by"),
        ),
        (
            "update during a deployment, forced",
            update("/slow", json!({"cmd": "x"}), true),
            Steps(vec![vec![(r_, "/slow")]]),
        ),
        (
            "a patch that is not an object",
            update("/web", json!([1]), false),
            Fails(422, "expected a JSON object"),
        ),
        (
            "a patch that makes the app invalid",
            update("/web", json!({"instances": -1}), false),
            Fails(422, "/instances"),
        ),
        (
            "several apps, one without an id",
            Cmd::App(AppCommand::UpdateMany {
                patches: vec![
                    json!({"id": "/web", "instances": 3}),
                    json!({"instances": 3}),
                ],
                force: false,
            }),
            Fails(422, "(1)/id"),
        ),
        (
            "several apps: one step",
            Cmd::App(AppCommand::UpdateMany {
                patches: vec![
                    json!({"id": "/web", "instances": 3}),
                    json!({"id": "g/a", "cmd": "y"}),
                ],
                force: false,
            }),
            Steps(vec![vec![(s_, "/web"), (r_, "/g/a")]]),
        ),
        (
            "restart, unchanged",
            Cmd::App(AppCommand::Restart {
                id: "/web".into(),
                force: false,
            }),
            Steps(vec![vec![(r_, "/web")]]),
        ),
        (
            "restart an app that does not exist",
            Cmd::App(AppCommand::Restart {
                id: "/nope".into(),
                force: false,
            }),
            Fails(404, "App '/nope' does not exist"),
        ),
        (
            "delete",
            Cmd::App(AppCommand::Delete {
                id: "/web".into(),
                force: false,
            }),
            Steps(vec![vec![(sp, "/web")]]),
        ),
        (
            "delete an app that does not exist",
            Cmd::App(AppCommand::Delete {
                id: "/nope".into(),
                force: false,
            }),
            Fails(404, "App '/nope' does not exist"),
        ),
        (
            "delete during a deployment",
            Cmd::App(AppCommand::Delete {
                id: "/slow".into(),
                force: false,
            }),
            Fails(409, "locked by"),
        ),
        (
            "scale a group by 2",
            Cmd::Group(GroupCommand::Scale {
                id: "/g".into(),
                by: 2.0,
                force: false,
            }),
            Steps(vec![vec![(s_, "/g/a"), (s_, "/g/b")]]),
        ),
        (
            "replace a group: apps not in it stop first",
            Cmd::Group(GroupCommand::Update {
                id: "/g".into(),
                apps: vec![mock_app("/g/a", json!({"cmd": "z"}))],
                replace: true,
                force: false,
            }),
            Steps(vec![vec![(sp, "/g/b")], vec![(r_, "/g/a")]]),
        ),
        (
            "add to a group: the others stay",
            Cmd::Group(GroupCommand::Update {
                id: "/g".into(),
                apps: vec![mock_app("/g/c", json!({}))],
                replace: false,
                force: false,
            }),
            Steps(vec![vec![(st, "/g/c")]]),
        ),
        (
            "a group with dependencies: steps in their order",
            Cmd::Group(GroupCommand::Update {
                id: "/h".into(),
                apps: vec![
                    mock_app("/h/web", json!({"dependencies": ["/h/db"]})),
                    mock_app("/h/db", json!({})),
                ],
                replace: false,
                force: false,
            }),
            Steps(vec![vec![(st, "/h/db")], vec![(st, "/h/web")]]),
        ),
        (
            "a group that touches an app being deployed",
            Cmd::Group(GroupCommand::Update {
                id: "/".into(),
                apps: vec![mock_app("/slow", json!({"cmd": "q"}))],
                replace: false,
                force: false,
            }),
            Fails(409, "locked by"),
        ),
        (
            "delete a group",
            Cmd::Group(GroupCommand::Delete {
                id: "/g".into(),
                force: false,
            }),
            Steps(vec![vec![(sp, "/g/a"), (sp, "/g/b")]]),
        ),
        (
            "delete a group that does not exist",
            Cmd::Group(GroupCommand::Delete {
                id: "/nope".into(),
                force: false,
            }),
            Fails(404, "Group '/nope' does not exist"),
        ),
        (
            "kill an app's tasks on a host, scaling",
            Cmd::Kill(KillCommand::AppTasks {
                app: "/web".into(),
                host: Some("a1.example".into()),
                scale: true,
                force: false,
            }),
            Kills(2, vec![vec![(s_, "/web")]]),
        ),
        (
            "kill an app's tasks on another host",
            Cmd::Kill(KillCommand::AppTasks {
                app: "/web".into(),
                host: Some("a9.example".into()),
                scale: false,
                force: false,
            }),
            Kills(0, vec![]),
        ),
        (
            "kill a task of another app",
            Cmd::Kill(KillCommand::AppTask {
                app: "/g/a".into(),
                task: "web.00000000-0000-0008-0000-000000000008".into(),
                scale: false,
                force: false,
            }),
            Fails(404, "of app '/g/a' does not exist"),
        ),
        (
            "kill tasks by id: unknown ids are skipped",
            Cmd::Kill(KillCommand::Tasks {
                ids: vec!["nope.1".into()],
                scale: false,
                force: false,
            }),
            Kills(0, vec![]),
        ),
        (
            "kill the tasks of an app that does not exist",
            Cmd::Kill(KillCommand::AppTasks {
                app: "/nope".into(),
                host: None,
                scale: false,
                force: false,
            }),
            Fails(404, "App '/nope' does not exist"),
        ),
    ];
    assert!(cases.len() >= 25);
    for (name, cmd, expect) in cases {
        let mut s = world();
        let before: Vec<String> = s.m.deployments.keys().cloned().collect();
        let result = match cmd {
            Cmd::App(c) => {
                s.m.execute(c, s.now)
                    .map(|(d, calls)| (Some(d.deployment), 0, calls))
            }
            Cmd::Group(c) => {
                s.m.execute(c, s.now)
                    .map(|(d, calls)| (Some(d.deployment), 0, calls))
            }
            Cmd::Kill(c) => {
                s.m.execute(c, s.now)
                    .map(|(k, calls)| (k.deployment, k.tasks.len(), calls))
            }
        };
        match (expect, result) {
            (Steps(want), Ok((Some(d), _, _))) => {
                assert_eq!(steps(&d), want, "{name}");
                assert!(
                    s.m.wants_commit(),
                    "{name}: the deployment is written before the answer"
                );
            }
            (Kills(n, want), Ok((d, k, calls))) => {
                assert_eq!(k, n, "{name}");
                assert_eq!(killed(&calls).len(), n, "{name}");
                assert_eq!(d.as_ref().map(steps).unwrap_or_default(), want, "{name}");
            }
            (Fails(status, text), Err(e)) => {
                let (got, msg) = status_of(e);
                assert_eq!(got, status, "{name}: {msg}");
                assert!(msg.contains(text), "{name}: {msg}");
                let after: Vec<String> = s.m.deployments.keys().cloned().collect();
                assert_eq!(after, before, "{name}: a refused command changes nothing");
                assert!(!s.m.wants_commit(), "{name}");
            }
            (_, Ok(_)) => panic!("{name}: succeeded"),
            (_, Err(e)) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn a_forced_deployment_supersedes_the_one_in_progress() {
    let mut s = world();
    let old: Vec<String> = s.m.deployments.keys().cloned().collect();
    let (d, _) =
        s.m.execute(
            AppCommand::Update {
                id: "/slow".into(),
                patch: json!({"cmd": "x"}),
                partial: true,
                force: true,
            },
            s.now,
        )
        .unwrap();
    assert_eq!(
        s.m.deployments.keys().cloned().collect::<Vec<_>>(),
        vec![d.deployment.id]
    );
    assert!(!s.m.deployments.contains_key(&old[0]));
    assert_eq!(
        s.events()[..3],
        [
            "deployment_failed",
            "group_change_success",
            "deployment_info"
        ]
    );
}

#[test]
fn scaling_keeps_the_configuration_version_and_a_change_renews_it() {
    let mut s = world();
    let config = |s: &Sim| s.m.apps["/web"].extra["lastConfigChangeAt"].clone();
    let first = config(&s);
    s.run(AppCommand::Update {
        id: "/web".into(),
        patch: json!({"instances": 3}),
        partial: true,
        force: false,
    })
    .unwrap();
    assert_eq!(config(&s), first);
    assert_eq!(s.m.apps["/web"].instances, 3);
    s.now += 1.0;
    s.run(AppCommand::Update {
        id: "/web".into(),
        patch: json!({"env": {"A": "1"}}),
        partial: true,
        force: true,
    })
    .unwrap();
    assert_ne!(config(&s), first);
    assert_eq!(
        s.m.apps["/web"].instances, 3,
        "a partial update keeps the rest"
    );
    s.now += 1.0;
    let whole = AppCommand::Update {
        id: "/web".into(),
        patch: json!({"cmd": "sleep 1"}),
        partial: false,
        force: true,
    };
    let done = s.run(whole).unwrap();
    assert!(!done.created);
    assert!(
        s.m.apps["/web"].env.is_empty(),
        "partialUpdate=false replaces the definition"
    );
    assert_eq!(s.m.apps["/web"].instances, 1);
}

#[test]
fn scale_by_rounds_up() {
    let mut s = world();
    s.run(GroupCommand::Update {
        id: "/g".into(),
        apps: vec![mock_app("/g/b", json!({"instances": 3}))],
        replace: false,
        force: false,
    })
    .unwrap();
    s.run(GroupCommand::Scale {
        id: "/g".into(),
        by: 1.5,
        force: true,
    })
    .unwrap();
    assert_eq!(
        (s.m.apps["/g/a"].instances, s.m.apps["/g/b"].instances),
        (2, 5)
    );
    assert_eq!(s.m.apps["/web"].instances, 2, "outside the group");
}

#[test]
fn creating_writes_durably_and_announces() {
    let mut s = world();
    s.m.take_pending();
    s.create(mock_app("/new", json!({})));
    assert!(s.m.wants_commit());
    let keys: Vec<String> =
        s.m.take_pending()
            .into_iter()
            .filter_map(|op| match op {
                drover_store::Op::Put(k, _) => Some(k),
                drover_store::Op::Delete(_) => None,
            })
            .collect();
    assert!(keys.iter().any(|k| k == "marathon/apps//new"), "{keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("marathon/versions//new/")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("marathon/deployments/")),
        "{keys:?}"
    );
    assert_eq!(
        s.events(),
        vec!["group_change_success", "deployment_info", "api_post_event"]
    );
    // Launching is group-committed, not durable before anything answers.
    s.offer(vec![big_offer("a1")]);
    assert!(!s.m.wants_commit());
    assert!(!s.m.take_pending().is_empty());
}

#[test]
fn kills_without_scale_are_replaced() {
    let mut s = world();
    let tasks = s.task_ids("/web", |_| true);
    let cmd = KillCommand::Tasks {
        ids: tasks.clone(),
        scale: false,
        force: false,
    };
    let (k, calls) = s.m.execute(cmd, s.now).unwrap();
    assert!(k.deployment.is_none());
    assert_eq!(killed(&calls), tasks);
    assert_eq!(
        kinds(&calls).last(),
        Some(&CallType::REVIVE),
        "kills first, then the revive"
    );
    assert_eq!(s.m.queue().get("/web"), Some(&2));
    assert!(k.tasks.iter().all(|t| !t.killing), "the tasks as they were");
}

#[test]
fn rollback_restores_the_previous_definitions() {
    let mut s = world();
    let store = s.m.store.clone();
    store.apply(s.m.take_pending()).unwrap();
    let old_cmd = s.m.apps["/web"].cmd.clone();
    let (d, _) =
        s.m.execute(
            AppCommand::Update {
                id: "/web".into(),
                patch: json!({"cmd": "sleep 7"}),
                partial: true,
                force: false,
            },
            s.now,
        )
        .unwrap();
    store.apply(s.m.take_pending()).unwrap();
    let previous = previous_definitions(&*store, &d.deployment);
    assert_eq!(previous["/web"].cmd, old_cmd);
    s.now += 1.0;
    let cancel = DeploymentCommand::Cancel {
        id: d.deployment.id.clone(),
        force: false,
        previous,
    };
    let back = s.run(cancel).unwrap().expect("a rollback deployment");
    assert_eq!(steps(&back), vec![vec![("RestartApplication", "/web")]]);
    assert_eq!(s.m.apps["/web"].cmd, old_cmd);
    assert!(!s.m.deployments.contains_key(&d.deployment.id));
    // A new app rolled back is removed; forced, a deployment just stops.
    let new = s.create(mock_app("/new", json!({})));
    let cancel = DeploymentCommand::Cancel {
        id: new.id.clone(),
        force: false,
        previous: HashMap::new(),
    };
    let gone = s.run(cancel).unwrap().unwrap();
    assert_eq!(steps(&gone), vec![vec![("StopApplication", "/new")]]);
    assert!(!s.m.apps.contains_key("/new"));
    assert!(
        !s.m.deployments.contains_key(&gone.id),
        "nothing ran: stopped at once"
    );
    // The rollback of /web is still under way (its instances restart): forced, it stops
    // where it is, and nothing else changes.
    assert!(s.m.deployments.contains_key(&back.id));
    let cancel = DeploymentCommand::Cancel {
        id: back.id.clone(),
        force: true,
        previous: HashMap::new(),
    };
    assert!(s.run(cancel).unwrap().is_none());
    assert!(!s.m.deployments.contains_key(&back.id));
    assert_eq!(s.m.apps["/web"].cmd, old_cmd);
    let missing = DeploymentCommand::Cancel {
        id: "nope".into(),
        force: true,
        previous: HashMap::new(),
    };
    assert_eq!(status_of(s.run(missing).unwrap_err()).0, 404);
}

#[test]
fn reset_delay_needs_the_app() {
    let mut s = world();
    s.m.backoff.insert(
        "/web".into(),
        Backoff {
            failures: 3,
            until: s.now + 100.0,
        },
    );
    s.m.reset_delay("/web").unwrap();
    assert!(!s.m.backoff.contains_key("/web"));
    assert_eq!(status_of(s.m.reset_delay("/nope").unwrap_err()).0, 404);
}

/// Everything a dry run could change, to compare before and after.
fn snapshot(m: &mut Marathon) -> String {
    let pending = m.take_pending().len();
    let events = m.take_events().len();
    format!(
        "{} {:?} {} {:?} {:?} {pending} {events}",
        serde_json::to_string(&m.apps).unwrap(),
        m.deployments.keys().collect::<Vec<_>>(),
        serde_json::to_string(&m.instances).unwrap(),
        m.queue(),
        m.backoff.keys().collect::<Vec<_>>(),
    )
}

/// A dry run plans what the command would start, with the same code, and changes nothing.
#[test]
fn dry_runs_plan_what_would_run_and_change_nothing() {
    let cases: Vec<(&str, AppCommand, &[(&str, Option<i64>, i64, usize, usize)])> = vec![
        (
            "add an app",
            AppCommand::Create {
                app: mock_app("/new", json!({"instances": 3})),
                force: false,
            },
            &[("StartApplication", None, 3, 3, 0)],
        ),
        (
            "scale up",
            AppCommand::Update {
                id: "/web".into(),
                patch: json!({"instances": 5}),
                partial: true,
                force: false,
            },
            &[("ScaleApplication", Some(2), 5, 3, 0)],
        ),
        (
            "scale down",
            AppCommand::Update {
                id: "/web".into(),
                patch: json!({"instances": 1}),
                partial: true,
                force: false,
            },
            &[("ScaleApplication", Some(2), 1, 0, 1)],
        ),
        (
            "a restart with room for one more",
            AppCommand::Update {
                id: "/web".into(),
                patch: json!({"cmd": "sleep 9", "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.5}}),
                partial: true,
                force: false,
            },
            &[("RestartApplication", Some(2), 2, 1, 0)],
        ),
        (
            "delete",
            AppCommand::Delete {
                id: "/web".into(),
                force: false,
            },
            &[("StopApplication", Some(2), 0, 0, 2)],
        ),
        (
            "forced over a deployment",
            AppCommand::Update {
                id: "/slow".into(),
                patch: json!({"instances": 0}),
                partial: true,
                force: true,
            },
            &[("ScaleApplication", Some(1), 0, 0, 1)],
        ),
    ];
    for (name, cmd, want) in cases {
        let mut s = world();
        let before = snapshot(&mut s.m);
        let dry = s.m.dry_run(cmd.clone(), s.now).unwrap();
        assert_eq!(snapshot(&mut s.m), before, "{name}: nothing changes");
        let got: Vec<(&str, Option<i64>, i64, usize, usize)> = dry
            .apps
            .iter()
            .map(|c| {
                (
                    c.action.as_str(),
                    c.instances_before,
                    c.instances_after,
                    c.launch,
                    c.kill.len(),
                )
            })
            .collect();
        assert_eq!(got, want.to_vec(), "{name}");
        // The real run starts the same deployment and does what the dry run said.
        let (done, calls) = s.m.execute(cmd, s.now).unwrap();
        let (real, planned) = (&done.deployment, &dry.plan.deployment);
        assert_eq!(
            (&real.version, &real.affected_apps, &real.steps),
            (&planned.version, &planned.affected_apps, &planned.steps),
            "{name}"
        );
        let mut kills = killed(&calls);
        kills.sort();
        let mut said: Vec<String> = dry.apps.iter().flat_map(|c| c.kill.clone()).collect();
        said.sort();
        assert_eq!(kills, said, "{name}");
        let queued: usize = s.m.queue().values().sum();
        assert_eq!(
            queued,
            dry.apps.iter().map(|c| c.launch).sum::<usize>(),
            "{name}"
        );
    }
}

#[test]
fn a_dry_run_fails_as_the_command_would() {
    let s = world();
    let busy = AppCommand::Update {
        id: "/slow".into(),
        patch: json!({"cmd": "x"}),
        partial: true,
        force: false,
    };
    assert_eq!(status_of(s.m.dry_run(busy, s.now).unwrap_err()).0, 409);
    let exists = AppCommand::Create {
        app: mock_app("/web", json!({})),
        force: false,
    };
    assert_eq!(status_of(s.m.dry_run(exists, s.now).unwrap_err()).0, 409);
}

#[test]
fn a_dry_run_renders_as_a_deployment() {
    let s = world();
    let cmd = GroupCommand::Update {
        id: "/g".into(),
        apps: vec![mock_app("/g/a", json!({"cmd": "z"}))],
        replace: true,
        force: false,
    };
    let dry = s.m.dry_run(cmd, s.now).unwrap();
    let v = s.m.dry_run_json(&dry);
    assert_eq!(v["dryRun"], true);
    assert_eq!(v["totalSteps"], 2);
    assert_eq!(
        v["steps"][0]["actions"][0],
        json!({"action": "StopApplication", "app": "/g/b"})
    );
    assert_eq!(
        v["steps"][1]["actions"][0],
        json!({"action": "RestartApplication", "app": "/g/a"})
    );
    assert_eq!(v["affectedApps"], json!(["/g/a", "/g/b"]));
    assert_eq!(v["apps"][0]["instances"], json!({"from": 1, "to": 0}));
    assert_eq!(v["apps"][0]["step"], 1);
    assert_eq!(v["apps"][1]["step"], 2);
    assert_eq!(v["supersedes"], json!([]));
}
