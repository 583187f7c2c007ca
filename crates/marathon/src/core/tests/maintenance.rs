//! Instances on an agent under maintenance move as a rolling replacement: replacements start
//! elsewhere first, old ones are killed as `minimumHealthCapacity` allows, nothing new lands on
//! the agent, and the inverse offer is accepted once the agent is empty.

use super::*;
use drover_api::maintenance::{InverseOffer, Time, Unavailability};

fn inverse(agent: &str, id: &str) -> InverseOffer {
    InverseOffer {
        id: OfferID::new(id),
        url: None,
        framework_id: FrameworkID::new("fw"),
        agent_id: Some(AgentID::new(agent)),
        unavailability: Unavailability {
            start: Time {
                nanoseconds: 1_800_000_000_000_000_000,
            },
            duration: None,
        },
        resources: vec![],
    }
}

fn accepted(calls: &Calls) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.kind == CallType::ACCEPT_INVERSE_OFFERS)
        .flat_map(|c| {
            c.accept_inverse_offers
                .clone()
                .unwrap_or_default()
                .inverse_offer_ids
        })
        .map(|id| id.value)
        .collect()
}

/// Running instances of `/web` not being killed.
fn serving(s: &Sim) -> usize {
    s.m.app_instances("/web")
        .iter()
        .filter(|i| i.state == TaskState::TASK_RUNNING && !i.killing)
        .count()
}

#[test]
fn instances_leave_an_agent_under_maintenance_keeping_the_minimum_healthy() {
    // (minimumHealthCapacity, maximumOverCapacity, killed before any replacement runs)
    let cases = [(1.0, 1.0, 0), (0.5, 0.0, 1), (0.5, 1.0, 1), (0.0, 0.0, 2)];
    for (min_health, over, first_kills) in cases {
        let case = format!("min {min_health} over {over}");
        let n = 2usize;
        let floor = ((n as f64) * min_health).ceil() as usize;
        let mut s = Sim::new();
        s.create(mock_app(
            "/web",
            json!({"instances": n, "upgradeStrategy":
                {"minimumHealthCapacity": min_health, "maximumOverCapacity": over}}),
        ));
        let old = s.launch_and_start("/web");
        assert_eq!(old.len(), n, "{case}");
        let mut all = s.m.inverse_offers(vec![inverse("a1", "io-1")], s.now);
        assert_eq!(killed(&all).len(), first_kills, "{case}");
        assert!(accepted(&all).is_empty(), "{case}: not empty yet");
        // Step by step: the agent under maintenance gets nothing new, another one gets the
        // replacements, and never fewer than the minimum serve.
        for step in 0..6 {
            let calls = s.offer(vec![big_offer("a1")]);
            assert!(launched(&calls).is_empty(), "{case} step {step}");
            all.extend(s.offer(vec![big_offer("a2")]));
            assert!(serving(&s) >= floor, "{case} step {step}");
            all.extend(s.start_all("/web"));
            all.extend(s.finish_kills("/web"));
            assert!(serving(&s) >= floor, "{case} step {step}");
            s.now += 1.0;
            s.m.mark_all_dirty();
            all.extend(s.m.reconcile_plans(s.now));
        }
        let agents: Vec<String> =
            s.m.app_instances("/web")
                .iter()
                .map(|i| i.agent_id.clone())
                .collect();
        assert_eq!(agents, vec!["a2", "a2"], "{case}");
        assert_eq!(
            accepted(&all),
            vec!["io-1"],
            "{case}: accepted once, when empty"
        );
        assert!(
            s.m.offer_stats["/web"]
                .reasons
                .contains_key("AgentUnderMaintenance"),
            "{case}"
        );
    }
}

#[test]
fn an_agent_whose_window_is_rescinded_is_used_again() {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"instances": 1})));
    s.launch_and_start("/web");
    s.m.inverse_offers(vec![inverse("a1", "io-1")], s.now);
    s.m.rescind_inverse_offer(&OfferID::new("io-1"), s.now);
    s.m.mark_all_dirty();
    let calls = s.m.reconcile_plans(s.now);
    assert!(killed(&calls).is_empty());
    assert!(launched(&s.offer(vec![big_offer("a2")])).is_empty());
    // An offer carrying an unavailability puts its agent under maintenance too.
    let mut o = big_offer("a1");
    o.unavailability = Some(Unavailability::default());
    s.offer(vec![o]);
    assert!(s.m.under_maintenance("a1"));
    let calls = s.offer(vec![big_offer("a2")]);
    assert_eq!(launched(&calls).len(), 1, "the replacement");
}
