//! Maintenance: agents whose machine is scheduled for maintenance, learnt from the master's
//! inverse offers (and from offers carrying an `unavailability`). Their instances are moved
//! before the window as a rolling replacement — the planner sees them as instances of an old
//! version, so replacements start elsewhere first and the old ones are killed only as
//! `minimumHealthCapacity` and `maximumOverCapacity` allow — nothing new is launched on them,
//! and once none of this framework's instances is left there the inverse offer is accepted.

use super::{Calls, Marathon};
use drover_api::maintenance::InverseOffer;
use drover_api::scheduler::{Call, CallType, InverseOfferIds};
use drover_api::{Offer, OfferID};

/// The version the planner is shown for an instance on an agent under maintenance: never an
/// app's, so the instance is replaced.
pub(super) const MAINTENANCE_VERSION: &str = "(agent under maintenance)";

/// An agent under maintenance, and the inverse offer to answer once it is empty.
#[derive(Clone, Debug, Default)]
pub struct Draining {
    pub inverse_offer: Option<OfferID>,
    pub answered: bool,
}

impl Marathon {
    /// Whether agent `agent_id` is under maintenance.
    pub(super) fn under_maintenance(&self, agent_id: &str) -> bool {
        self.draining_agents.contains_key(agent_id)
    }

    /// Apps with an instance on `agent_id` are planned again.
    fn touch_apps_on(&mut self, agent_id: &str) {
        let apps: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.agent_id == agent_id)
            .map(|i| i.app_id.clone())
            .collect();
        for a in apps {
            self.touch(a);
        }
    }

    /// INVERSE_OFFERS: the agents are under maintenance; move what runs there.
    pub fn inverse_offers(&mut self, offers: Vec<InverseOffer>, now: f64) -> Calls {
        for o in offers {
            let Some(agent) = o.agent_id else {
                continue;
            };
            tracing::info!(agent_id = %agent, "agent scheduled for maintenance: moving its instances off");
            self.draining_agents.insert(
                agent.value.clone(),
                Draining {
                    inverse_offer: Some(o.id),
                    answered: false,
                },
            );
            self.touch_apps_on(&agent.value);
        }
        let mut calls = self.reconcile_plans(now);
        calls.extend(self.answer_inverse_offers());
        calls
    }

    /// RESCIND_INVERSE_OFFER: the window changed or is gone; a new inverse offer comes if the
    /// agent is still scheduled.
    pub fn rescind_inverse_offer(&mut self, id: &OfferID, now: f64) -> Calls {
        let agents: Vec<String> = self
            .draining_agents
            .iter()
            .filter(|(_, d)| d.inverse_offer.as_ref() == Some(id))
            .map(|(a, _)| a.clone())
            .collect();
        for a in agents {
            self.draining_agents.remove(&a);
            self.touch_apps_on(&a);
        }
        self.reconcile_plans(now)
    }

    /// An offer that carries an unavailability is from an agent under maintenance (after a
    /// failover, before the inverse offer comes again); an offer without one ends what only an
    /// offer said (an inverse offer's agent stays until the master rescinds it).
    pub(super) fn note_unavailability(&mut self, offer: &Offer) {
        let agent = &offer.agent_id.value;
        let known = self.draining_agents.get(agent);
        match (offer.unavailability.is_some(), known) {
            (true, None) => {
                self.draining_agents
                    .insert(agent.clone(), Draining::default());
                self.touch_apps_on(agent);
            }
            (false, Some(d)) if d.inverse_offer.is_none() => {
                self.draining_agents.remove(agent);
                self.touch_apps_on(agent);
            }
            _ => {}
        }
    }

    /// Accept the inverse offer of every agent under maintenance with none of this
    /// framework's instances left.
    pub(super) fn answer_inverse_offers(&mut self) -> Calls {
        // Runs on every event while an agent is under maintenance: look at the instances only
        // while an inverse offer waits for its answer.
        let waiting = self
            .draining_agents
            .values()
            .any(|d| !d.answered && d.inverse_offer.is_some());
        if !waiting {
            return vec![];
        }
        let busy: std::collections::HashSet<&str> = self
            .instances
            .values()
            .map(|i| i.agent_id.as_str())
            .collect();
        let mut ids = Vec::new();
        for (agent, d) in self.draining_agents.iter_mut() {
            if d.answered || busy.contains(agent.as_str()) {
                continue;
            }
            if let Some(id) = &d.inverse_offer {
                ids.push(id.clone());
                d.answered = true;
            }
        }
        if ids.is_empty() {
            return vec![];
        }
        let mut c = Call::new(CallType::ACCEPT_INVERSE_OFFERS, self.framework_id.clone());
        c.accept_inverse_offers = Some(InverseOfferIds {
            inverse_offer_ids: ids,
            filters: None,
        });
        vec![c]
    }
}
