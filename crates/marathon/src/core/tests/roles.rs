//! Roles (`MULTI_ROLE`): which role an app may have and Marathon's 422 otherwise, the roles
//! Marathon is subscribed with following its apps' (an UPDATE_FRAMEWORK when they change),
//! and an app launched only on what is allocated to its role.

use super::*;
use drover_api::AllocationInfo;

/// The role an app got, or the (path, message) of each problem.
type Outcome = Result<String, Vec<(String, String)>>;

/// `/v2/apps`-style create of `app` on a core of Marathon role `role`: the role the app got,
/// or the (path, message) of each problem.
fn create_as(role: &str, id: &str, extra: Value) -> Outcome {
    let mut s = Sim::with_role(role);
    let cmd = AppCommand::Create {
        app: mock_app(id, extra),
        force: false,
    };
    match s.run(cmd) {
        Ok(_) => Ok(s.m.apps[id].role.clone().unwrap_or_default()),
        Err(MarathonError::Invalid(d)) => Err(d
            .into_iter()
            .flat_map(|v| v.errors.into_iter().map(move |e| (v.path.clone(), e)))
            .collect()),
        Err(e) => panic!("{e}"),
    }
}

/// Marathon's `RoleSettings.forService`: at the root only Marathon's role; below it also the
/// top-level group's (never a deeper group's); `acceptedResourceRoles` only `*` and the
/// app's role.
#[test]
fn the_roles_an_app_may_have_are_marathons_and_its_top_level_groups() {
    let err = |path: &str, msg: &str| Err(vec![(path.to_string(), msg.to_string())]);
    // (Marathon's role, app id, fields, the role it gets or the errors)
    let cases: Vec<(&str, &str, Value, Outcome)> = vec![
        ("*", "/web", json!({}), Ok("*".into())),
        ("*", "/web", json!({"role": "*"}), Ok("*".into())),
        (
            "*",
            "/web",
            json!({"role": "dev"}),
            err("/role", "got dev, expected one of: [*]"),
        ),
        ("marathon", "/web", json!({}), Ok("marathon".into())),
        (
            "marathon",
            "/web",
            json!({"role": "*"}),
            err("/role", "got *, expected one of: [marathon]"),
        ),
        ("*", "/dev/web", json!({}), Ok("*".into())),
        ("*", "/dev/web", json!({"role": "dev"}), Ok("dev".into())),
        (
            "*",
            "/dev/a/b/web",
            json!({"role": "dev"}),
            Ok("dev".into()),
        ),
        (
            "*",
            "/dev/sub/web",
            json!({"role": "sub"}),
            err("/role", "got sub, expected one of: [*, dev]"),
        ),
        (
            "marathon",
            "/dev/web",
            json!({"role": "prod"}),
            err("/role", "got prod, expected one of: [marathon, dev]"),
        ),
        (
            "*",
            "/dev/web",
            json!({"role": "dev", "acceptedResourceRoles": ["dev"]}),
            Ok("dev".into()),
        ),
        (
            "*",
            "/dev/web",
            json!({"role": "dev", "acceptedResourceRoles": ["*", "dev"]}),
            Ok("dev".into()),
        ),
        (
            "*",
            "/dev/web",
            json!({"role": "dev", "acceptedResourceRoles": ["prod"]}),
            err(
                "/acceptedResourceRoles",
                "acceptedResourceRoles can only contain * and dev",
            ),
        ),
        (
            "*",
            "/web",
            json!({"acceptedResourceRoles": ["slave_public"]}),
            err(
                "/acceptedResourceRoles",
                "acceptedResourceRoles can only contain *",
            ),
        ),
        (
            "*",
            "/dev/web",
            json!({"acceptedResourceRoles": ["dev"]}),
            err(
                "/acceptedResourceRoles",
                "acceptedResourceRoles can only contain *",
            ),
        ),
    ];
    for (role, id, extra, want) in cases {
        let got = create_as(role, id, extra.clone());
        assert_eq!(got, want, "{role} {id} {extra}");
    }
}

/// An app keeps the role it has, even one it could not be given now (Marathon's role changed
/// since): the message lists it with the others.
#[test]
fn an_app_keeps_the_role_it_has() {
    let mut s = Sim::with_role("ops");
    s.create(mock_app("/dev/web", json!({})));
    assert_eq!(s.m.apps["/dev/web"].role.as_deref(), Some("ops"));
    let store = s.m.store.clone();
    store.apply(s.m.take_pending()).unwrap();
    let mut m = Marathon::open(store, "*".into(), Box::new(SeqIds::default())).unwrap();
    assert_eq!(m.valid_roles("/dev/web"), vec!["*", "dev", "ops"]);
    let update = |role: &str| AppCommand::Update {
        id: "/dev/web".into(),
        patch: json!({"role": role, "instances": 2}),
        partial: true,
        force: true,
    };
    match m.execute(update("qa"), s.now) {
        Err(MarathonError::Invalid(d)) => {
            assert_eq!(d[0].path, "/role");
            assert_eq!(d[0].errors, vec!["got qa, expected one of: [*, dev, ops]"]);
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    if let Err(e) = m.execute(update("ops"), s.now) {
        panic!("{e}");
    }
}

/// The UPDATE_FRAMEWORK calls among `calls`: the roles of each and its suppressed roles.
fn role_updates(calls: &Calls) -> Vec<(Vec<String>, Vec<String>)> {
    calls
        .iter()
        .filter(|c| c.kind == CallType::UPDATE_FRAMEWORK)
        .filter_map(|c| c.update_framework.as_ref())
        .map(|u| (u.framework_info.roles.clone(), u.suppressed_roles.clone()))
        .collect()
}

/// Marathon subscribes with its role and its apps'; an app of a new role, and the last app of
/// a role gone, change them with an UPDATE_FRAMEWORK carrying the whole FrameworkInfo.
#[test]
fn the_roles_subscribed_with_follow_the_apps() {
    let mut s = Sim::new();
    s.m.framework_template = drover_api::FrameworkInfo {
        name: "marathon".into(),
        user: "root".into(),
        ..Default::default()
    };
    s.m.reconcile_plans(s.now);
    assert!(s.m.suppressed);
    let dev = |id: &str| AppCommand::Create {
        app: mock_app(id, json!({"role": "dev"})),
        force: false,
    };
    let (_, calls) = s.m.execute(dev("/dev/web"), s.now).unwrap();
    // Suppressed until then: it stays so for every role, and the REVIVE after revives them.
    assert_eq!(
        role_updates(&calls),
        vec![(
            vec!["*".into(), "dev".into()],
            vec!["*".into(), "dev".into()]
        )]
    );
    assert_eq!(
        kinds(&calls),
        vec![CallType::UPDATE_FRAMEWORK, CallType::REVIVE]
    );
    let info = &calls[0].update_framework.as_ref().unwrap().framework_info;
    assert_eq!(info.id, Some(FrameworkID::new("fw")));
    assert_eq!(
        (info.name.as_str(), info.user.as_str()),
        ("marathon", "root")
    );
    assert_eq!(info.role, None);
    // A resubscription says the same.
    assert_eq!(s.m.framework_info().roles, vec!["*", "dev"]);
    // Another app of the role: nothing to update.
    let (_, calls) = s.m.execute(dev("/dev/api"), s.now).unwrap();
    assert!(role_updates(&calls).is_empty(), "{calls:?}");
    // (Forced: their deployments are under way.)
    let delete = |id: &str| AppCommand::Delete {
        id: id.into(),
        force: true,
    };
    let (_, calls) = s.m.execute(delete("/dev/web"), s.now).unwrap();
    assert!(role_updates(&calls).is_empty(), "{calls:?}");
    let (_, calls) = s.m.execute(delete("/dev/api"), s.now).unwrap();
    let mut calls = calls;
    calls.extend(s.m.reconcile_plans(s.now));
    assert_eq!(role_updates(&calls), vec![(vec!["*".into()], vec![])]);
    // Not while disconnected: the next SUBSCRIBE carries the roles.
    s.m.connected = false;
    s.m.execute(dev("/dev/web"), s.now).unwrap();
    assert!(role_updates(&s.m.reconcile_plans(s.now)).is_empty());
    assert_eq!(s.m.framework_info().roles, vec!["*", "dev"]);
}

/// `big_offer` allocated to `role`.
fn offer_for(agent: &str, role: &str) -> Offer {
    let mut o = big_offer(agent);
    o.allocation_info = Some(AllocationInfo {
        role: Some(role.into()),
    });
    o
}

/// An app of role `dev` launches only on offers allocated to `dev`,
/// its task's resources carrying that allocation; an offer of another role is Marathon's
/// `UnfulfilledRole` in `/v2/queue`.
#[test]
fn an_app_launches_only_on_what_is_allocated_to_its_role() {
    let mut s = Sim::new();
    s.create(mock_app("/dev/web", json!({"role": "dev"})));
    let calls = s.offer(vec![offer_for("a1", "*")]);
    assert!(launched(&calls).is_empty());
    assert_eq!(kinds(&calls), vec![CallType::DECLINE]);
    assert_eq!(s.m.offer_stats["/dev/web"].reasons["UnfulfilledRole"], 1);
    let tasks = launched(&s.offer(vec![offer_for("a2", "dev")]));
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].0, "a2");
    for r in &tasks[0].1.resources {
        let role = r.allocation_info.as_ref().and_then(|a| a.role.as_deref());
        assert_eq!(role, Some("dev"), "{r:?}");
    }
    // An app of Marathon's role is not launched on an offer of `dev`.
    s.create(mock_app("/web", json!({})));
    assert!(launched(&s.offer(vec![offer_for("a3", "dev")])).is_empty());
    assert_eq!(s.m.offer_stats["/web"].reasons["UnfulfilledRole"], 1);
    assert_eq!(launched(&s.offer(vec![offer_for("a3", "*")])).len(), 1);

    // An offer that says its allocation only on its resources is of that role.
    let mut s = Sim::new();
    s.create(mock_app("/dev/web", json!({"role": "dev"})));
    let mut o = big_offer("a1");
    for r in &mut o.resources {
        r.allocation_info = Some(AllocationInfo {
            role: Some("dev".into()),
        });
    }
    assert_eq!(launched(&s.offer(vec![o])).len(), 1);
}

/// Within its role, `acceptedResourceRoles` still picks reserved (`dev`) or unreserved (`*`)
/// resources of the offer.
#[test]
fn accepted_resource_roles_apply_within_the_role() {
    let offer = || {
        let mut o = offer_for("a1", "dev");
        o.resources =
            Resources::parse("cpus:4;mem:1024;ports:[31000-31009];cpus(dev):1;mem(dev):256")
                .expect("resources")
                .iter()
                .cloned()
                .collect();
        o
    };
    // (acceptedResourceRoles, cpus, launched?, cpus reserved for dev used)
    let cases = [
        (json!(["dev"]), 0.5, true, 0.5),
        (json!(["dev"]), 2.0, false, 0.0),
        (json!(["*"]), 0.5, true, 0.0),
        (json!(["*", "dev"]), 2.0, true, 1.0),
    ];
    for (roles, cpus, launches, reserved) in cases {
        let mut s = Sim::new();
        s.create(mock_app(
            "/dev/web",
            json!({"role": "dev", "cpus": cpus, "acceptedResourceRoles": roles, "portDefinitions": []}),
        ));
        let calls = s.offer(vec![offer()]);
        let tasks = launched(&calls);
        assert_eq!(tasks.len(), usize::from(launches), "{roles}");
        if !launches {
            assert!(
                s.m.offer_stats["/dev/web"]
                    .reasons
                    .contains_key("InsufficientCpus"),
                "{roles}"
            );
            continue;
        }
        let res = Resources::from_list(&tasks[0].1.resources);
        let dev_cpus: f64 = res
            .iter()
            .filter(|r| r.name == "cpus" && r.reservation_role() == "dev")
            .filter_map(|r| r.scalar.map(|s| s.value))
            .sum();
        assert_eq!(dev_cpus, reserved, "{roles}");
    }
}
