//! Quota through the core: each refusal's status and message in Mesos' order, all or nothing,
//! `force`, what counts against a role's quota, the old API, and what the registry is told.

use super::super::harness::*;
use super::super::{Master, Recovered, RegistryOp};
use crate::ApiError;
use axum::http::StatusCode;
use drover_allocator::Quota;
use drover_api::operator::UpdateQuota;
use drover_api::quota::{QuotaConfig, QuotaRequest};
use drover_api::*;
use serde_json::json;
use std::collections::BTreeMap;

/// A config for `role` from `guarantees` and `limits` given as (name, value).
fn config(role: &str, guarantees: &[(&str, f64)], limits: &[(&str, f64)]) -> QuotaConfig {
    let m = |l: &[(&str, f64)]| {
        l.iter()
            .map(|&(k, value)| (k.to_string(), Scalar { value }))
            .collect()
    };
    QuotaConfig {
        role: role.into(),
        guarantees: m(guarantees),
        limits: m(limits),
    }
}

fn update(configs: Vec<QuotaConfig>, force: bool) -> UpdateQuota {
    UpdateQuota {
        force,
        quota_configs: configs,
    }
}

fn map(l: &[(&str, f64)]) -> BTreeMap<String, f64> {
    l.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

/// A master with one agent of 4 cpus and 4096 MiB.
fn cluster() -> Harness {
    let mut h = Harness::new();
    h.register(mock_agent(4.0, 4096.0, (31000, 31099)));
    h
}

/// A framework of role `web`, and an agent of 4 cpus, 4096 MiB and `cpus(web):1` running two
/// of its tasks of 0.5 cpus and 128 MiB; then an offer of the rest to it, outstanding.
fn web_running(h: &mut Harness) -> (Fw, Offer) {
    let mut info = mock_framework("web", &[]);
    info.role = Some("web".into());
    let mut fw = h.subscribe(info);
    let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
    let mut reserved = Resource::scalar("cpus", 1.0);
    reserved.role = Some("web".into());
    reg.agent_info.resources.push(reserved);
    let ag = h.register(reg);
    let offer = h.offer(&mut fw);
    let tasks = ["t1", "t2"]
        .iter()
        .map(|t| task(t, &ag.id, 0.5, 128.0))
        .collect();
    h.launch(&fw, &offer, tasks);
    for t in ["t1", "t2"] {
        h.update(&ag, &fw.id, t, TaskState::TASK_RUNNING);
    }
    let rest = h.offer(&mut fw);
    (fw, rest)
}

#[test]
fn update_quota_refusals_come_in_mesos_order_with_mesos_words() {
    let bad = |s: &str| format!("Invalid QuotaConfig: {s}");
    // (configs, force, status, message)
    let cases: Vec<(Vec<QuotaConfig>, bool, StatusCode, String)> = vec![
        // Nested before anything else about the role, as in Mesos.
        (vec![config("eng/web", &[], &[("cpus", 1.0)])], false, StatusCode::BAD_REQUEST,
            "Updating quota on nested role 'eng/web' is not supported yet".into()),
        (vec![config("/eng", &[], &[])], false, StatusCode::BAD_REQUEST,
            "Updating quota on nested role '/eng' is not supported yet".into()),
        (vec![config("", &[], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.role': Role names cannot be the empty string")),
        (vec![config("a b", &[], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.role': Role component 'a b' is invalid because it contains backspace or whitespace")),
        (vec![config("-web", &[], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.role': Role component '-web' is invalid because it starts with a dash")),
        (vec![config("..", &[], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.role': Role '..' cannot include '..' as a component")),
        // Too large, guarantees before limits, before any other value check.
        (vec![config("web", &[("cpus", -1.0), ("mem", 2e12)], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.guarantees': {'mem': 2000000000000} is invalid: values greater than 1 exabyte (1099511627776) are not supported")),
        (vec![config("web", &[], &[("cpus", 2e12)])], false, StatusCode::BAD_REQUEST,
            bad("Invalid 'QuotaConfig.limits': {'cpus': 2000000000000} is invalid: values greater than 1 trillion (1000000000000) are not supported")),
        (vec![config("web", &[("cpus", -1.0)], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid guarantee configuration {'cpus': -1}: Negative values not supported")),
        (vec![config("web", &[], &[("mem", 1e-310)])], false, StatusCode::BAD_REQUEST,
            bad("Invalid limit configuration {'mem': 0}: Subnormal values not supported")),
        // Names the allocator does not enforce quota on, after the values.
        (vec![config("web", &[("ports", 1.0)], &[("cpus", -2.0)])], false, StatusCode::BAD_REQUEST,
            bad("Invalid limit configuration {'cpus': -2}: Negative values not supported")),
        (vec![config("web", &[("ports", 1.0)], &[])], false, StatusCode::BAD_REQUEST,
            bad("Invalid guarantee configuration {'ports': 1}: quota is supported only on cpus, mem, disk and gpus")),
        (vec![config("web", &[], &[("foo", 3.0)])], true, StatusCode::BAD_REQUEST,
            bad("Invalid limit configuration {'foo': 3}: quota is supported only on cpus, mem, disk and gpus")),
        (vec![config("web", &[("cpus", 2.0), ("mem", 10.0)], &[("mem", 5.0)])], false, StatusCode::BAD_REQUEST,
            bad("'QuotaConfig.guarantees' { cpus: 2, mem: 10 } is not contained within the 'QuotaConfig.limits' { mem: 5 }")),
        // Guarantees of all roles against the cluster (4 cpus, 4096 MiB; ports are not scalars).
        (vec![config("web", &[("cpus", 3.0)], &[]), config("db", &[("cpus", 1.5)], &[])], false, StatusCode::BAD_REQUEST,
            bad("total quota guarantees 'cpus:4.5' exceed cluster capacity 'cpus:4; mem:4096' (use 'force' flag to bypass this check)")),
        (vec![config("web", &[("gpus", 1.0)], &[])], false, StatusCode::BAD_REQUEST,
            bad("total quota guarantees 'gpus:1' exceed cluster capacity 'cpus:4; mem:4096' (use 'force' flag to bypass this check)")),
        // A valid config does not carry an invalid one through.
        (vec![config("web", &[("cpus", 1.0)], &[]), config("db", &[], &[("cpus", -1.0)])], false, StatusCode::BAD_REQUEST,
            bad("Invalid limit configuration {'cpus': -1}: Negative values not supported")),
    ];
    for (configs, force, status, text) in cases {
        let mut h = cluster();
        h.pending();
        let e = h.m.update_quota(&update(configs, force)).expect_err(&text);
        assert_eq!(e.to_string(), text);
        assert_eq!(e.status(), status, "{text}");
        // All or nothing: nothing changed, nothing recorded.
        assert!(h.m.quotas.is_empty(), "{text}");
        assert_eq!(h.m.allocator.quota("web"), Quota::default(), "{text}");
        assert!(h.pending().is_empty(), "{text}");
    }
}

#[test]
fn an_update_sets_every_config_records_each_and_wakes_the_allocator() {
    let mut h = cluster();
    h.pending();
    h.m.allocation_wanted = false;
    let web = config("web", &[("cpus", 1.0)], &[("cpus", 2.0), ("mem", 1024.0)]);
    let db = config("db", &[], &[("mem", 512.0)]);
    h.m.update_quota(&update(vec![web.clone(), db.clone()], false))
        .expect("taken");
    assert!(h.m.allocation_wanted);
    assert_eq!(
        h.pending(),
        vec![RegistryOp::PutQuota(web.clone()), RegistryOp::PutQuota(db)]
    );
    let want = Quota {
        guarantees: map(&[("cpus", 1.0)]),
        limits: map(&[("cpus", 2.0), ("mem", 1024.0)]),
    };
    assert_eq!(h.m.allocator.quota("web"), want);
    assert_eq!(h.m.quotas["web"], want);
    // GET_QUOTA: the old form (guarantees as resources; a role with none has no list) and the
    // new, by role.
    let status = serde_json::to_value(h.m.quota_status()).expect("json");
    assert_eq!(
        status,
        json!({
            "infos": [
                {"role": "db"},
                {"role": "web", "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}]},
            ],
            "configs": [
                {"role": "db", "limits": {"mem": {"value": 512.0}}},
                {"role": "web", "guarantees": {"cpus": {"value": 1.0}}, "limits": {"cpus": {"value": 2.0}, "mem": {"value": 1024.0}}},
            ],
        })
    );
    // A default config removes a quota (twice is no error, as in Mesos).
    for _ in 0..2 {
        h.m.update_quota(&update(vec![config("db", &[], &[])], false))
            .expect("removed");
        assert_eq!(h.pending(), vec![RegistryOp::RemoveQuota("db".into())]);
    }
    assert_eq!(h.m.quotas.keys().collect::<Vec<_>>(), vec!["web"]);
    // Guarantees above the cluster with force; the role `*` can have quota, as in Mesos 1.11.
    h.m.update_quota(&update(
        vec![
            config("web", &[("cpus", 9.0)], &[]),
            config("*", &[], &[("mem", 64.0)]),
        ],
        true,
    ))
    .expect("forced");
    assert_eq!(h.m.allocator.quota("web").guarantees, map(&[("cpus", 9.0)]));
    assert_eq!(h.m.allocator.quota("*").limits, map(&[("mem", 64.0)]));
}

#[test]
fn consumption_is_what_tasks_hold_and_what_is_reserved_not_what_is_offered() {
    let mut h = Harness::new();
    let (_fw, rest) = web_running(&mut h);
    // The outstanding offer holds the rest of the agent, the reservation included.
    let offered = Resources::from_list(&rest.resources);
    assert_eq!(offered.scalar("cpus"), 4.0);
    let consumed = h.m.quota_consumption();
    // Two tasks' 1 cpu and 256 MiB, and the reserved cpu, offered or not.
    assert_eq!(consumed("web"), map(&[("cpus", 2.0), ("mem", 256.0)]));
    assert_eq!(consumed("db"), BTreeMap::new());
    drop(consumed);

    // A limit below that is refused unless forced; one at it is taken.
    let e =
        h.m.update_quota(&update(vec![config("web", &[], &[("cpus", 1.5)])], false))
            .expect_err("below consumption");
    assert_eq!(e.to_string(), "Invalid QuotaConfig: Role 'web' is already consuming 'cpus:2; mem:256'; this is more than the requested limits 'cpus:1.5' (use 'force' flag to bypass this check)");
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    // Consumption is checked before the cluster's capacity.
    let e =
        h.m.update_quota(&update(
            vec![
                config("web", &[("cpus", 0.5)], &[("cpus", 1.0)]),
                config("db", &[("mem", 1e6)], &[]),
            ],
            false,
        ))
        .expect_err("both");
    assert!(e.to_string().contains("already consuming"), "{e}");
    h.m.update_quota(&update(vec![config("web", &[], &[("cpus", 2.0)])], false))
        .expect("at consumption");
    h.m.update_quota(&update(vec![config("web", &[], &[("cpus", 1.5)])], true))
        .expect("forced");
    assert_eq!(h.m.quotas["web"].limits, map(&[("cpus", 1.5)]));
    // No offer was rescinded: an update only wakes the allocator.
    assert!(h.m.offers.contains_key(&rest.id));

    // `/roles`: the quota and its consumption, beside GET_ROLES' fields.
    let roles = crate::views::v0_roles(h.m.role_views());
    let web = roles["roles"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "web"))
        .cloned()
        .expect("web is listed");
    assert_eq!(
        web["quota"],
        json!({"role": "web", "guarantee": {}, "limit": {"cpus": 1.5}, "consumed": {"cpus": 2.0, "mem": 256.0}})
    );
}

#[test]
fn roles_with_quota_are_listed_without_frameworks_and_have_metrics() {
    let mut h = cluster();
    h.m.update_quota(&update(
        vec![config(
            "ads",
            &[("cpus", 1.0)],
            &[("cpus", 2.0), ("mem", 512.0)],
        )],
        false,
    ))
    .expect("taken");
    let names: Vec<String> = h.m.role_list().into_iter().map(|r| r.name).collect();
    assert_eq!(names, vec!["ads".to_string()]);
    let roles = crate::views::v0_roles(h.m.role_views());
    assert_eq!(
        roles["roles"][0]["quota"],
        json!({"role": "ads", "guarantee": {"cpus": 1.0}, "limit": {"cpus": 2.0, "mem": 512.0}, "consumed": {}})
    );
    assert_eq!(roles["roles"][0]["frameworks"], json!([]));
    let metrics: BTreeMap<String, f64> = h.m.metrics(h.now).into_iter().collect();
    let m = |k: &str| {
        metrics
            .get(&format!("allocator/mesos/quota/roles/ads/resources/{k}"))
            .copied()
    };
    assert_eq!(m("cpus/guarantee"), Some(1.0));
    assert_eq!(m("cpus/limit"), Some(2.0));
    assert_eq!(m("mem/limit"), Some(512.0));
    assert_eq!(m("mem/guarantee"), None);
}

#[test]
fn recovered_quotas_hold_from_the_first_offer() {
    let limit = config("web", &[], &[("cpus", 1.0)]);
    let recovered = Recovered {
        quotas: vec![limit.clone(), config("bad", &[], &[("foo", 1.0)])],
        ..Default::default()
    };
    let mut h = Harness::new();
    let (cfg, info) = (h.m.cfg.clone(), h.m.info.clone());
    h.m = Master::new(cfg, info, recovered, Box::new(SeqIds(0)), START_UNIX);
    // What the allocator refuses is left out.
    assert_eq!(h.m.quota_status().configs, vec![limit]);
    let mut info = mock_framework("web", &[]);
    info.role = Some("web".into());
    let mut fw = h.subscribe(info);
    h.register(mock_agent(4.0, 4096.0, (31000, 31099)));
    let offer = h.offer(&mut fw);
    assert_eq!(Resources::from_list(&offer.resources).scalar("cpus"), 1.0);
}

#[test]
fn the_old_api_sets_guarantees_as_limits_and_refuses_in_its_own_words() {
    let cpus = |v: f64| Resource::scalar("cpus", v);
    let req = |role: Option<&str>, guarantee: Vec<Resource>, force: bool| QuotaRequest {
        force,
        role: role.map(String::from),
        guarantee,
    };
    let bad = |s: &str| format!("Failed to validate set quota request: {s}");
    let mut reserved = cpus(1.0);
    reserved.role = Some("web".into());
    let mut disk = Resource::scalar("disk", 1.0);
    disk.disk = Some(json!({"persistence": {"id": "v"}}));
    let mut broken = cpus(1.0);
    broken.scalar = None;
    let cases: Vec<(QuotaRequest, StatusCode, String)> = vec![
        (req(Some("web"), vec![cpus(-1.0)], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo with invalid resource: Invalid scalar resource: value <= 0")),
        (req(Some("web"), vec![broken], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo with invalid resource: Invalid scalar resource")),
        (req(None, vec![cpus(1.0)], false), StatusCode::BAD_REQUEST, bad("QuotaInfo must specify a role")),
        (req(Some("a b"), vec![cpus(1.0)], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo with invalid role: Role component 'a b' is invalid because it contains backspace or whitespace")),
        (req(Some("/web"), vec![cpus(1.0)], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo with invalid role: Role '/web' cannot start with a slash")),
        (req(Some("web"), vec![], false), StatusCode::BAD_REQUEST, bad("QuotaInfo with empty 'guarantee'")),
        (req(Some("web"), vec![reserved], false), StatusCode::BAD_REQUEST, bad("QuotaInfo must not contain any ReservationInfo")),
        (req(Some("web"), vec![disk], false), StatusCode::BAD_REQUEST, bad("QuotaInfo must not contain DiskInfo")),
        (req(Some("web"), vec![Resource::ranges("ports", vec![Range { begin: 1, end: 2 }])], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo must not include non-scalar resources")),
        (req(Some("web"), vec![cpus(1.0), cpus(2.0)], false), StatusCode::BAD_REQUEST,
            bad("QuotaInfo contains duplicate resource name 'cpus'")),
        (req(Some("web"), vec![Resource::scalar("foo", 2.0)], false), StatusCode::BAD_REQUEST,
            bad("Invalid guarantee configuration {'foo': 2}: quota is supported only on cpus, mem, disk and gpus")),
        (req(Some("db"), vec![cpus(1.0)], false), StatusCode::BAD_REQUEST,
            bad("Cannot set quota for role 'db' which already has quota")),
        (req(Some("eng/web"), vec![cpus(1.0)], false), StatusCode::BAD_REQUEST,
            "Setting quota on nested role 'eng/web' is not supported yet".into()),
        (req(Some("web"), vec![cpus(3.5)], false), StatusCode::CONFLICT,
            "Quota guarantees overcommit the cluster (use 'force' to bypass this check): Total quota guarantees 'cpus:4.5' exceed cluster capacity 'cpus:4; mem:4096'".into()),
    ];
    for (r, status, text) in cases {
        let mut h = cluster();
        h.m.set_quota_request(&req(Some("db"), vec![cpus(1.0)], false))
            .expect("db's quota");
        h.pending();
        let e = h.m.set_quota_request(&r).expect_err(&text);
        assert_eq!(e.to_string(), text);
        assert_eq!(e.status(), status, "{text}");
        assert!(h.pending().is_empty(), "{text}");
        assert_eq!(h.m.quotas.len(), 1, "{text}");
    }
    // Taken: the guarantee is the limit too; force passes the cluster's capacity.
    let mut h = cluster();
    h.pending();
    h.m.set_quota_request(&req(Some("web"), vec![cpus(9.0)], true))
        .expect("forced");
    let want = Quota {
        guarantees: map(&[("cpus", 9.0)]),
        limits: map(&[("cpus", 9.0)]),
    };
    assert_eq!(h.m.allocator.quota("web"), want);
    assert_eq!(
        h.pending(),
        vec![RegistryOp::PutQuota(config(
            "web",
            &[("cpus", 9.0)],
            &[("cpus", 9.0)]
        ))]
    );
}

#[test]
fn the_old_removals_refuse_a_role_without_quota() {
    let mut h = cluster();
    let e = h.m.remove_quota("web").expect_err("none");
    assert_eq!(
        e.to_string(),
        "Failed to remove quota: Role 'web' has no quota set"
    );
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    let e = h.m.remove_quota_at("/master/quota/web").expect_err("none");
    assert_eq!(
        e.to_string(),
        "Failed to remove quota for path '/master/quota/web': Role 'web' has no quota set"
    );
    for (path, found) in [("/master/quota", 2), ("/master/quota/", 2), ("/master", 1)] {
        let e = h.m.remove_quota_at(path).expect_err(path);
        assert!(matches!(e, ApiError::QuotaPath { .. }), "{path}: {e}");
        assert_eq!(
            e.to_string(),
            format!("Failed to parse remove quota request for path '{path}': expected 3 tokens, found {found} tokens")
        );
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
    for by_path in [false, true] {
        h.m.update_quota(&update(vec![config("web", &[("cpus", 1.0)], &[])], false))
            .expect("set");
        h.pending();
        if by_path {
            h.m.remove_quota_at("/master/quota/web").expect("removed");
        } else {
            h.m.remove_quota("web").expect("removed");
        }
        assert_eq!(h.pending(), vec![RegistryOp::RemoveQuota("web".into())]);
        assert_eq!(h.m.allocator.quota("web"), Quota::default());
        assert!(h.m.quota_status().configs.is_empty());
    }
}
