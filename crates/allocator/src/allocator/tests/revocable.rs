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
