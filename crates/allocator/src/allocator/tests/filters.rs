//! Refuse filters (expiry, replacement, what they hold back), suppression, revival and
//! deactivation.

use super::*;

#[test]
fn refuse_filters_expire_at_now() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    alloc.recover("x", "a", "r", &o.resources, 5.0, 0.0);
    assert!(alloc.has_work(1.0));
    assert!(alloc.allocate(1.0).is_empty());
    assert!(!alloc.has_work(1.0));
    assert_eq!(alloc.next_filter_expiry(), Some(5.0));
    assert!(!alloc.has_work(4.999));
    assert!(alloc.allocate(4.999).is_empty());
    assert!(alloc.has_work(5.0));
    assert_eq!(pairs(&alloc.allocate(5.0)), [("x", "a")]);
    assert_eq!(alloc.next_filter_expiry(), None);
}

#[test]
fn a_replaced_filter_takes_effect_at_once() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    alloc.recover("x", "a", "r", &o.resources, 100.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    assert_eq!(alloc.next_filter_expiry(), Some(100.0));
    // A later filter replaces the first: it refused less, so the agent is offered again.
    alloc.recover("x", "a", "r", &res("cpus:1"), 1.0, 1.0);
    assert_eq!(pairs(&alloc.allocate(1.0)), [("x", "a")]);
}

#[test]
fn filtered_framework_is_skipped_for_the_next() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_framework("b", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0).remove(0);
    assert_eq!(o.framework_id, "a");
    alloc.recover("x", "a", "r", &o.resources, 10.0, 0.0);
    assert_eq!(pairs(&alloc.allocate(1.0)), [("x", "b")]);
}

#[test]
fn filter_holds_back_only_offers_no_larger_than_refused() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    let used = vec![("b".to_string(), "s".to_string(), res("cpus:2;mem:1024"))];
    alloc.add_framework("b", &names(&["s"]), &names(&["s"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &used);
    let o = alloc.allocate(0.0).remove(0);
    assert_eq!(o.resources, res("cpus:2;mem:3072"));
    alloc.recover("x", "a", "r", &o.resources, 100.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    // b's task ends: the agent now has more than a refused, so the filter no longer applies.
    alloc.recover("x", "b", "s", &res("cpus:2;mem:1024"), 0.0, 2.0);
    let again = alloc.allocate(2.0);
    assert_eq!(pairs(&again), [("x", "a")]);
    assert_eq!(again[0].resources, res("cpus:4;mem:4096"));
}

#[test]
fn suppress_and_revive() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r1", "r2"]), &names(&["r1"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    let o = alloc.allocate(0.0);
    assert_eq!(o[0].role, "r2");
    alloc.recover("x", "a", "r2", &o[0].resources, 1000.0, 0.0);
    alloc.suppress("a", &[]);
    assert!(alloc.allocate(1.0).is_empty());
    alloc.revive("a", &names(&["r1"]));
    let o = alloc.allocate(1.0);
    assert_eq!(
        (o[0].framework_id.as_str(), o[0].role.as_str()),
        ("a", "r1")
    );
    alloc.recover("x", "a", "r1", &o[0].resources, 1000.0, 1.0);
    assert!(alloc.allocate(2.0).is_empty());
    // Revive drops the filters too.
    alloc.revive("a", &[]);
    assert!(alloc.has_work(2.0));
    assert_eq!(alloc.allocate(2.0).len(), 1);

    // Suppressed at subscription, unsuppressed by an update.
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &names(&["r"]), &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    assert!(alloc.allocate(0.0).is_empty());
    alloc.update_framework("a", &names(&["r"]), &[]);
    assert_eq!(alloc.allocate(0.0).len(), 1);
}

#[test]
fn deactivated_framework_keeps_its_resources_but_gets_no_offers() {
    let mut alloc = by_id();
    alloc.add_framework("a", &names(&["r"]), &[], &[]);
    alloc.add_agent("x", res("cpus:4;mem:4096"), &[]);
    alloc.add_agent("y", res("cpus:4;mem:4096"), &[]);
    let _ = alloc.allocate(0.0);
    alloc.deactivate_framework("a");
    alloc.recover("y", "a", "r", &res("cpus:4;mem:4096"), 0.0, 0.0);
    assert!(alloc.allocate(1.0).is_empty());
    assert_eq!(alloc.framework_allocated("a"), res("cpus:4;mem:4096"));
    alloc.activate_framework("a");
    assert_eq!(pairs(&alloc.allocate(1.0)), [("y", "a")]);
}
