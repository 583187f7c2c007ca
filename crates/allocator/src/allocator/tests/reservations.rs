//! Reserved resources go only to their role; offers below the minimum allocatable are not made.

use super::*;
use crate::Conversion;
use drover_api::Resource;

#[test]
fn reserved_resources_go_only_to_their_role() {
    let agent = "cpus:4;mem:4096;cpus(web):2;mem(web):1024";
    // Only the batch role: it gets the unreserved part, the reservation stays.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    alloc.add_agent("x", res(agent), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "batch")]);
    assert_eq!(o[0].resources, res("cpus:4;mem:4096"));
    assert_eq!(
        alloc.agent_available("x"),
        Some(res("cpus(web):2;mem(web):1024"))
    );
    assert!(!alloc.has_work(0.0));
    // A web framework arrives: it gets the reservation alone.
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    assert!(alloc.has_work(0.0));
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    assert_eq!(o[0].resources, res("cpus(web):2;mem(web):1024"));
    assert_eq!(o[0].resources.usable_by("*").scalar("cpus"), 0.0);

    // Web first (lower share by name order): unreserved and reserved together.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["zbatch"]), &[], &[]);
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    alloc.add_agent("x", res(agent), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    assert_eq!(o[0].resources, res(agent));

    // A reservation of one role is never offered to another.
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    alloc.add_agent("x", res("cpus(web):2;mem(web):1024"), &[]);
    assert!(alloc.allocate(0.0).is_empty());
}

#[test]
fn minimum_allocatable_resources() {
    struct Case {
        agent: &'static str,
        config: Config,
        offered: bool,
    }
    let default = Config {
        shuffle_agents: false,
        ..Config::default()
    };
    let cases = [
        Case {
            agent: "cpus:0.005;mem:16;disk:100",
            config: default.clone(),
            offered: false,
        },
        Case {
            agent: "cpus:0.01",
            config: default.clone(),
            offered: true,
        },
        Case {
            agent: "mem:32",
            config: default.clone(),
            offered: true,
        },
        Case {
            agent: "disk:1000;ports:[1-100]",
            config: default.clone(),
            offered: false,
        },
        Case {
            agent: "cpus:1;mem:100",
            config: Config {
                min_cpus: 2.0,
                min_mem: 200.0,
                ..default.clone()
            },
            offered: false,
        },
        Case {
            agent: "cpus:2;mem:100",
            config: Config {
                min_cpus: 2.0,
                min_mem: 200.0,
                ..default.clone()
            },
            offered: true,
        },
    ];
    for c in cases {
        let mut alloc = Allocator::new(c.config);
        alloc.add_framework("a", &names(&["r"]), &[], &[]);
        alloc.add_agent("x", res(c.agent), &[]);
        assert_eq!(!alloc.allocate(0.0).is_empty(), c.offered, "{}", c.agent);
        assert!(!alloc.has_work(0.0), "{}", c.agent);
    }
    // What is left after a task is not offered when too small.
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:1;mem:64"), &[]);
    let _ = alloc.allocate(0.0);
    alloc.recover("x", "a", "r", &res("cpus:0.005;mem:16"), 0.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
}

/// Two reservations of one role that differ in their labels stay two resources through an
/// offer, a partial recover and the next offer; a reservation in the pre-refinement format is
/// the same reservation as in the refinement format.
#[test]
fn reservations_that_differ_in_labels_stay_apart() {
    let labelled = |value: &str, cpus: f64| -> Resource {
        serde_json::from_value(serde_json::json!({"name": "cpus", "type": "SCALAR",
            "scalar": {"value": cpus}, "reservations": [{"type": "DYNAMIC", "role": "web",
            "principal": "ops", "labels": {"labels": [{"key": "k", "value": value}]}}]}))
        .unwrap()
    };
    let mut total = res("cpus:1;mem:512");
    total.add(&labelled("a", 2.0));
    total.add(&labelled("b", 3.0));
    let mut alloc = by_id();
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    alloc.add_agent("x", total.clone(), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].resources, total);
    assert_eq!(
        o[0].resources.iter().filter(|r| r.name == "cpus").count(),
        3
    );
    // Give back one cpu of the "b" reservation, in the old format.
    let old: Resource = serde_json::from_value(serde_json::json!({"name": "cpus",
        "type": "SCALAR", "scalar": {"value": 1}, "role": "web",
        "reservation": {"principal": "ops", "labels": {"labels": [{"key": "k", "value": "b"}]}}}))
    .unwrap();
    alloc.recover("x", "web", "web", &Resources::from_list(&[old]), 0.0, 1.0);
    let back = alloc.agent_available("x").unwrap();
    assert_eq!(back, Resources::from_list(&[labelled("b", 1.0)]));
    let o = alloc.allocate(1.0);
    assert_eq!(o[0].resources, Resources::from_list(&[labelled("b", 1.0)]));
}

fn dynamic(role: &str, text: &str) -> Resources {
    let mut out = Resources::new();
    for r in res(text).iter() {
        let mut r = r.clone();
        r.reservations = vec![drover_api::ReservationInfo {
            kind: Some(drover_api::ReservationType::DYNAMIC),
            role: Some(role.to_string()),
            principal: Some("ops".into()),
            labels: None,
        }];
        out.add(&r);
    }
    out
}

fn conversion(consumed: Resources, converted: Resources) -> Conversion {
    Conversion {
        consumed,
        converted,
    }
}

#[test]
fn a_framework_reserves_what_it_was_offered_and_unreserves_it() {
    let mut alloc = by_id();
    alloc.add_framework("web", &names(&["web"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:1024"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    let reserve = conversion(res("cpus:2;mem:512"), dynamic("web", "cpus:2;mem:512"));
    alloc
        .update_allocation("x", "web", "web", std::slice::from_ref(&reserve))
        .unwrap();
    let mut held = res("cpus:2;mem:512");
    held.add_all(&dynamic("web", "cpus:2;mem:512"));
    assert_eq!(alloc.framework_allocated("web"), held);
    // Reserving more than it holds unreserved changes nothing.
    let more = conversion(res("cpus:3"), dynamic("web", "cpus:3"));
    let err = alloc.update_allocation("x", "web", "web", &[more]);
    assert!(matches!(err, Err(crate::Error::NotHeld { .. })), "{err:?}");
    assert_eq!(alloc.framework_allocated("web"), held);
    // Everything back: another role is offered only the unreserved half.
    alloc.recover("x", "web", "web", &held, 3600.0, 1.0);
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    let o = alloc.allocate(1.0);
    assert_eq!(pairs(&o), [("x", "batch")]);
    assert_eq!(o[0].resources, res("cpus:2;mem:512"));
    // The reservation counts for web's quota consumption.
    assert_eq!(alloc.quota_consumed("web").get("cpus"), Some(&2.0));
    // web unreserves it (from a new offer of it) and it is unreserved again.
    alloc.revive("web", &[]);
    let o = alloc.allocate(2.0);
    assert_eq!(pairs(&o), [("x", "web")]);
    assert_eq!(o[0].resources, dynamic("web", "cpus:2;mem:512"));
    let unreserve = conversion(dynamic("web", "cpus:2;mem:512"), res("cpus:2;mem:512"));
    alloc
        .update_allocation("x", "web", "web", &[unreserve])
        .unwrap();
    assert_eq!(alloc.framework_allocated("web"), res("cpus:2;mem:512"));
    assert!(alloc.quota_consumed("web").get("cpus") == Some(&2.0));
    alloc.recover("x", "web", "web", &res("cpus:2;mem:512"), 0.0, 3.0);
    assert!(alloc.quota_consumed("web").is_empty());
}

#[test]
fn an_operator_reserves_unallocated_resources_for_a_role_and_all_or_nothing() {
    let mut alloc = by_id();
    alloc.add_agent("x", res("cpus:4;mem:1024;disk:100"), &[]);
    alloc.add_framework("batch", &names(&["batch"]), &[], &[]);
    let o = alloc.allocate(0.0);
    alloc.recover("x", "batch", "batch", &res("cpus:1;mem:256"), 0.0, 0.0);
    let _ = o;
    // Only cpus:1;mem:256 is unallocated: asking for more refuses the whole call.
    let two = [
        conversion(res("cpus:1"), dynamic("ads", "cpus:1")),
        conversion(res("mem:512"), dynamic("ads", "mem:512")),
    ];
    let err = alloc.update_available("x", &two);
    assert!(
        matches!(err, Err(crate::Error::NotAvailable { .. })),
        "{err:?}"
    );
    assert_eq!(alloc.agent_available("x"), Some(res("cpus:1;mem:256")));
    // Two operations in order: reserve, then the reserved disk... here cpus then mem.
    let ok = [
        conversion(res("cpus:1"), dynamic("ads", "cpus:1")),
        conversion(res("mem:256"), dynamic("ads", "mem:256")),
    ];
    alloc.update_available("x", &ok).unwrap();
    assert_eq!(
        alloc.agent_available("x"),
        Some(dynamic("ads", "cpus:1;mem:256"))
    );
    assert!(alloc.allocate(1.0).is_empty(), "not batch's");
    alloc.add_framework("ads", &names(&["ads"]), &[], &[]);
    let o = alloc.allocate(2.0);
    assert_eq!(pairs(&o), [("x", "ads")]);
    assert_eq!(o[0].resources, dynamic("ads", "cpus:1;mem:256"));
}
