//! The operator's reservations and volumes on the harness: what is applied, what is refused
//! and with which error, and what frameworks are offered after.

use super::super::harness::*;
use crate::ApiError;
use crate::OperationInvalid as Why;
use drover_api::agent_protocol::ToAgent;
use drover_api::*;
use serde_json::{json, Value};

fn reserved(name: &str, v: f64, role: &str) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": v},
           "reservations": [{"type": "DYNAMIC", "role": role, "principal": "ops"}]})
}

fn volume(v: f64, role: &str, id: &str) -> Value {
    let mut r = reserved("disk", v, role);
    r["disk"] = json!({"persistence": {"id": id, "principal": "ops"},
                       "volume": {"container_path": "data", "mode": "RW"}});
    r
}

fn op(kind: OperationType, list: Vec<Value>) -> Operation {
    super::operation(kind, list)
}

/// An agent with 4 cpus, 1024 mem and 1000 disk, nobody subscribed.
fn agent(h: &mut Harness) -> Ag {
    let mut reg = mock_agent(4.0, 1024.0, (31000, 31009));
    reg.agent_info
        .resources
        .push(Resource::scalar("disk", 1000.0));
    h.register(reg)
}

fn framework(h: &mut Harness, role: &str) -> Fw {
    let mut info = mock_framework(role, &["RESERVATION_REFINEMENT"]);
    info.role = Some(role.into());
    h.subscribe(info)
}

fn checkpoints(ag: &mut Ag) -> Vec<Resources> {
    ag.messages()
        .into_iter()
        .filter_map(|m| match m {
            ToAgent::CheckpointResources { resources } => Some(Resources::from_list(&resources)),
            _ => None,
        })
        .collect()
}

/// The cpus reserved for `role` in `offers`.
fn reserved_cpus(offers: &[Offer], role: &str) -> f64 {
    offers
        .iter()
        .flat_map(|o| o.resources.iter())
        .filter(|r| r.name == "cpus" && r.reservation_role() == role)
        .map(|r| r.scalar.map(|s| s.value).unwrap_or(0.0))
        .sum()
}

#[test]
fn an_operator_reserves_for_a_role_whose_framework_alone_is_offered_them() {
    let mut h = Harness::new();
    let mut ag = agent(&mut h);
    let reserve = op(OperationType::RESERVE, vec![reserved("cpus", 2.0, "ads")]);
    h.m.operator_operation(&ag.id, &reserve, h.now)
        .expect("reserved");
    let cps = checkpoints(&mut ag);
    assert_eq!(cps.len(), 1, "{cps:?}");
    assert_eq!(cps[0].scalar("cpus"), 2.0);
    let total = &h.m.agents[&ag.id].total;
    assert_eq!(total.usable_by("*").scalar("cpus"), 2.0);
    assert_eq!(total.scalar("cpus"), 4.0);

    let mut web = framework(&mut h, "web");
    let mut ads = framework(&mut h, "ads");
    h.m.allocate(h.now);
    assert_eq!(reserved_cpus(&ads.offers(), "ads"), 2.0);
    assert_eq!(reserved_cpus(&web.offers(), "ads"), 0.0);
}

#[test]
fn offered_resources_are_rescinded_for_the_operator_and_the_rest_is_a_conflict() {
    let mut h = Harness::new();
    let mut ag = agent(&mut h);
    let mut web = framework(&mut h, "web");
    let offer = h.offer(&mut web);
    // Everything is offered: the offer is rescinded and the reservation made.
    let reserve = op(OperationType::RESERVE, vec![reserved("cpus", 1.0, "ads")]);
    h.m.operator_operation(&ag.id, &reserve, h.now)
        .expect("reserved after the rescind");
    let events = web.events();
    assert!(
        events
            .iter()
            .any(|e| e.kind == scheduler::EventType::RESCIND
                && e.rescind.as_ref().map(|r| &r.offer_id) == Some(&offer.id)),
        "{events:?}"
    );
    assert_eq!(checkpoints(&mut ag).len(), 1);
    assert!(h.m.offers.is_empty());

    // More than the agent has: 409, nothing changed.
    let before = h.m.agents[&ag.id].total.clone();
    let reserve = op(OperationType::RESERVE, vec![reserved("cpus", 8.0, "ads")]);
    let e =
        h.m.operator_operation(&ag.id, &reserve, h.now)
            .expect_err("not enough cpus");
    assert!(matches!(e, ApiError::ResourcesUnavailable { .. }), "{e:?}");
    assert_eq!(e.status(), axum::http::StatusCode::CONFLICT);
    assert!(
        e.to_string()
            .contains("The resources cpus:8 are not available"),
        "{e}"
    );
    assert_eq!(h.m.agents[&ag.id].total, before);
    assert!(checkpoints(&mut ag).is_empty());
}

#[test]
fn invalid_operator_operations_are_refused_with_the_reason() {
    let mut h = Harness::new();
    let ag = agent(&mut h);
    let mut allocated = reserved("cpus", 1.0, "ads");
    allocated["allocation_info"] = json!({"role": "ads"});
    let mut unreserved_volume = volume(1.0, "ads", "v");
    unreserved_volume["reservations"] = json!([]);
    let cases: Vec<(Operation, &str)> = vec![
        (
            op(OperationType::RESERVE, vec![reserved("cpus", 1.0, "a b")]),
            "Invalid RESERVE operation on agent",
        ),
        (
            op(OperationType::RESERVE, vec![reserved("cpus", 1.0, "*")]),
            "role '*' cannot be reserved",
        ),
        (
            op(OperationType::RESERVE, vec![allocated]),
            "the operator API only allows reservations to be made to unallocated resources",
        ),
        (
            op(
                OperationType::RESERVE,
                vec![json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}})],
            ),
            "has no reservation",
        ),
        (
            op(OperationType::RESERVE, vec![json!({"name": 3})]),
            "is not a list of resources",
        ),
        (
            op(OperationType::CREATE, vec![unreserved_volume]),
            "persistent volumes must be on reserved disk",
        ),
        (
            op(OperationType::DESTROY, vec![volume(1.0, "ads", "nope")]),
            "Persistent volumes not found",
        ),
    ];
    for (o, text) in cases {
        let e = h.m.operator_operation(&ag.id, &o, h.now).expect_err(text);
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{e}");
        assert!(e.to_string().contains(text), "{e} should say {text}");
    }
    let e =
        h.m.operator_operation(
            &AgentID::new("nope"),
            &op(OperationType::UNRESERVE, vec![]),
            h.now,
        )
        .expect_err("no such agent");
    assert_eq!(e.to_string(), "No agent found with specified ID");
    // A bad role's own reason is given.
    let e =
        h.m.operator_operation(
            &ag.id,
            &op(OperationType::RESERVE, vec![reserved("cpus", 1.0, "-x")]),
            h.now,
        )
        .expect_err("bad role");
    assert!(
        matches!(
            &e,
            ApiError::InvalidOperation {
                why: Why::BadRole(_),
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn reserve_create_destroy_unreserve_round_trip() {
    let mut h = Harness::new();
    let mut ag = agent(&mut h);
    let ops = [
        op(
            OperationType::RESERVE,
            vec![reserved("cpus", 2.0, "ads"), reserved("disk", 500.0, "ads")],
        ),
        op(OperationType::CREATE, vec![volume(100.0, "ads", "v1")]),
    ];
    for o in &ops {
        h.m.operator_operation(&ag.id, o, h.now).expect("applied");
    }
    let cps = checkpoints(&mut ag);
    assert_eq!(cps.len(), 2, "{cps:?}");
    let last = &cps[1];
    assert_eq!(last.scalar("disk"), 500.0);
    assert_eq!(
        last.iter().filter(|r| r.disk.is_some()).count(),
        1,
        "{last:?}"
    );

    // The same persistence id again (on the rest of the reserved disk) is refused.
    let e =
        h.m.operator_operation(
            &ag.id,
            &op(OperationType::CREATE, vec![volume(100.0, "ads", "v1")]),
            h.now,
        )
        .expect_err("duplicate id");
    assert!(
        matches!(
            &e,
            ApiError::InvalidOperation {
                why: Why::DuplicateVolume { .. },
                ..
            }
        ),
        "{e:?}"
    );
    // A volume cannot be unreserved before it is destroyed.
    let e =
        h.m.operator_operation(
            &ag.id,
            &op(OperationType::UNRESERVE, vec![volume(100.0, "ads", "v1")]),
            h.now,
        )
        .expect_err("a volume");
    assert!(
        matches!(
            &e,
            ApiError::InvalidOperation {
                why: Why::VolumeUnreserved(_),
                ..
            }
        ),
        "{e:?}"
    );

    let back = [
        op(OperationType::DESTROY, vec![volume(100.0, "ads", "v1")]),
        op(
            OperationType::UNRESERVE,
            vec![reserved("cpus", 2.0, "ads"), reserved("disk", 500.0, "ads")],
        ),
    ];
    for o in &back {
        h.m.operator_operation(&ag.id, o, h.now).expect("applied");
    }
    let cps = checkpoints(&mut ag);
    assert_eq!(cps.len(), 2, "{cps:?}");
    assert!(cps[1].is_empty(), "nothing reserved is left: {cps:?}");
    let total = &h.m.agents[&ag.id].total;
    assert_eq!(total.usable_by("*").scalar("cpus"), 4.0);
    assert_eq!(total.usable_by("*").scalar("disk"), 1000.0);
}

/// RESERVE with a `source` (Mesos 1.11): reserved resources move to another role in one step;
/// mixed reservations and different quantities are refused with Mesos' words.
#[test]
fn an_operator_moves_a_reservation_to_another_role_with_a_source() {
    let mut h = Harness::new();
    let mut ag = agent(&mut h);
    h.m.operator_operation(
        &ag.id,
        &op(OperationType::RESERVE, vec![reserved("cpus", 2.0, "ads")]),
        h.now,
    )
    .expect("reserved");
    checkpoints(&mut ag);
    let with_source = |target: Vec<Value>, source: Vec<Value>| {
        let mut o = op(OperationType::RESERVE, target);
        if let Some(r) = o.reserve.as_mut() {
            r["source"] = json!(source);
        }
        o
    };
    // (target, source, the refusal)
    let cases = [
        (
            vec![reserved("cpus", 1.0, "eng")],
            vec![reserved("cpus", 2.0, "ads")],
            "Source and target resources should refer to identical resource quantities: cpus:2 vs. cpus:1",
        ),
        (
            vec![reserved("cpus", 1.0, "eng"), reserved("cpus", 1.0, "web")],
            vec![reserved("cpus", 2.0, "ads")],
            "Invalid resources: Mixed reservations are not supported: cpus(eng):1; cpus(web):1",
        ),
    ];
    for (target, source, want) in cases {
        let e =
            h.m.operator_operation(&ag.id, &with_source(target, source), h.now)
                .expect_err("refused");
        assert!(e.to_string().ends_with(want), "{e} / {want}");
        assert_eq!(e.status().as_u16(), 400);
    }
    // Resources the agent does not hold reserved for the source's role: 409.
    let e =
        h.m.operator_operation(
            &ag.id,
            &with_source(
                vec![reserved("cpus", 3.0, "eng")],
                vec![reserved("cpus", 3.0, "ads")],
            ),
            h.now,
        )
        .expect_err("not held");
    assert_eq!(e.status().as_u16(), 409, "{e}");
    h.m.operator_operation(
        &ag.id,
        &with_source(
            vec![reserved("cpus", 2.0, "eng")],
            vec![reserved("cpus", 2.0, "ads")],
        ),
        h.now,
    )
    .expect("moved");
    let total = &h.m.agents[&ag.id].total;
    assert_eq!(total.usable_by("eng").scalar("cpus"), 4.0);
    assert_eq!(total.usable_by("ads").scalar("cpus"), 2.0);
    assert_eq!(total.scalar("cpus"), 4.0);
    let cps = checkpoints(&mut ag);
    assert_eq!(cps.len(), 1);
    assert!(
        cps[0].iter().all(|r| r.reservation_role() == "eng"),
        "{cps:?}"
    );
    let mut eng = framework(&mut h, "eng");
    h.m.allocate(h.now);
    assert_eq!(reserved_cpus(&eng.offers(), "eng"), 2.0);
}
