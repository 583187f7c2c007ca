//! Revocable resources are offered only to frameworks that take them (`REVOCABLE_RESOURCES`);
//! a deactivated agent is offered to no one.

use super::*;
use drover_api::Resource;

fn with_revocable_cpus() -> Resources {
    let mut r = res("cpus:2;mem:1024");
    let mut slack = Resource::scalar("cpus", 3.0);
    slack.revocable = Some(serde_json::json!({}));
    r.add(&slack);
    r
}

fn revocable_cpus(r: &Resources) -> f64 {
    r.iter()
        .filter(|x| x.name == "cpus" && x.revocable.is_some())
        .filter_map(|x| x.scalar.map(|s| s.value))
        .sum()
}

#[test]
fn revocable_resources_go_only_to_frameworks_that_take_them() {
    let mut alloc = by_id();
    alloc.add_framework("plain", &names(&["a"]), &[], &[]);
    alloc.add_agent("x", with_revocable_cpus(), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "plain")]);
    assert_eq!(o[0].resources, res("cpus:2;mem:1024"));
    assert_eq!(revocable_cpus(&alloc.agent_available("x").unwrap()), 3.0);
    // It gives everything back and leaves; a framework that takes revocable resources gets all.
    alloc.recover("x", "plain", "a", &o[0].resources, 0.0, 0.0);
    alloc.remove_framework("plain");
    alloc.add_framework("batch", &names(&["b"]), &[], &[]);
    alloc.set_revocable("batch", true);
    let o = alloc.allocate(1.0);
    assert_eq!(pairs(&o), [("x", "batch")]);
    assert_eq!(revocable_cpus(&o[0].resources), 3.0);
    assert_eq!(o[0].resources.scalar("cpus"), 5.0);
}

#[test]
fn a_deactivated_agent_is_offered_nothing_until_activated() {
    let mut alloc = by_id();
    alloc.add_framework("f", &names(&["a"]), &[], &[]);
    alloc.add_agent("x", res("cpus:2;mem:1024"), &[]);
    alloc.add_agent("y", res("cpus:2;mem:1024"), &[]);
    alloc.deactivate_agent("x");
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("y", "f")]);
    // Resources coming back to it do not make it offerable either.
    alloc.revive("f", &[]);
    assert!(alloc.allocate(1.0).is_empty());
    alloc.activate_agent("x");
    let o = alloc.allocate(2.0);
    assert_eq!(pairs(&o), [("x", "f")]);
}

fn revocable(text: &str) -> Resources {
    let mut out = Resources::new();
    for r in res(text).iter() {
        let mut r = r.clone();
        r.revocable = Some(serde_json::json!({}));
        out.add(&r);
    }
    out
}

#[test]
fn an_agent_with_only_revocable_resources_free_is_offered_to_frameworks_that_take_them() {
    let mut alloc = by_id();
    alloc.add_framework("plain", &names(&["a"]), &[], &[]);
    alloc.add_agent("x", res("cpus:2;mem:1024"), &[]);
    // The plain framework takes all the agent's regular resources and keeps them.
    let o = alloc.allocate(0.0);
    assert_eq!(pairs(&o), [("x", "plain")]);
    alloc.update_revocable("x", &revocable("cpus:1.5;mem:512"));
    // Nobody takes revocable resources: nothing is offered.
    assert!(alloc.allocate(1.0).is_empty());
    alloc.add_framework("batch", &names(&["b"]), &[], &[]);
    assert!(
        alloc.allocate(2.0).is_empty(),
        "batch does not take revocable"
    );
    alloc.set_revocable("batch", true);
    let o = alloc.allocate(3.0);
    assert_eq!(pairs(&o), [("x", "batch")]);
    assert_eq!(o[0].resources, revocable("cpus:1.5;mem:512"));
}

#[test]
fn a_new_estimate_replaces_the_old_and_what_is_held_stays_held() {
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["b"]), &[], &[]);
    alloc.set_revocable("batch", true);
    alloc.add_agent("x", res("cpus:1;mem:128"), &[]);
    alloc.update_revocable("x", &revocable("cpus:3"));
    // Table: (new estimate, revocable cpus available afterwards) with 2 cpus held by a task.
    let o = alloc.allocate(0.0);
    assert_eq!(revocable_cpus(&o[0].resources), 3.0);
    let mut back = o[0].resources.clone();
    back.subtract_all(&revocable("cpus:2"));
    alloc.recover("x", "batch", "b", &back, 1000.0, 0.0);
    for (estimate, available) in [
        ("cpus:1", 0.0),
        ("cpus:2", 0.0),
        ("cpus:5", 3.0),
        ("cpus:0.5", 0.0),
    ] {
        alloc.update_revocable("x", &revocable(estimate));
        let got = revocable_cpus(&alloc.agent_available("x").unwrap());
        assert_eq!(got, available, "estimate {estimate}");
    }
    // Regular resources are untouched by estimates; a plain resource given as estimate is not
    // taken as revocable.
    alloc.update_revocable("x", &res("cpus:8"));
    let avail = alloc.agent_available("x").unwrap();
    assert_eq!(revocable_cpus(&avail), 0.0);
    assert_eq!(avail.scalar("cpus"), 1.0);
}

#[test]
fn an_estimate_for_an_unknown_agent_is_ignored() {
    let mut alloc = by_id();
    alloc.update_revocable("nope", &revocable("cpus:1"));
    assert!(alloc.agent_available("nope").is_none());
}

#[test]
fn revocable_resources_coming_back_after_the_estimate_shrank_are_not_offered_beyond_it() {
    let mut alloc = by_id();
    alloc.add_framework("batch", &names(&["b"]), &[], &[]);
    alloc.set_revocable("batch", true);
    alloc.add_agent("x", res("cpus:1;mem:128"), &[]);
    alloc.update_revocable("x", &revocable("cpus:3"));
    let o = alloc.allocate(0.0);
    let mut back = o[0].resources.clone();
    back.subtract_all(&revocable("cpus:2"));
    alloc.recover("x", "batch", "b", &back, 1000.0, 0.0);
    // A task holds 2 revocable cpus; the estimate falls to 1; the task ends.
    alloc.update_revocable("x", &revocable("cpus:1"));
    alloc.recover("x", "batch", "b", &revocable("cpus:2"), 0.0, 0.0);
    let avail = alloc.agent_available("x").unwrap();
    assert_eq!(revocable_cpus(&avail), 1.0);
    assert_eq!(avail.scalar("cpus"), 2.0, "1 regular + 1 revocable");
}
