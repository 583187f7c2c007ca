//! Oversubscription: an agent's estimate of its allocated-but-unused resources (`UPDATE_SLAVE`
//! with `oversubscribed_resources`, Mesos' `UpdateSlaveMessage`) becomes its revocable resources
//! in the allocator, replacing the previous estimate. As Mesos does, outstanding offers with
//! revocable resources on that agent are rescinded first, so nothing offered exceeds the new
//! estimate; revocable resources go only to frameworks with `REVOCABLE_RESOURCES`.

use super::Master;
use drover_api::*;

impl Master {
    pub(super) fn update_oversubscribed(
        &mut self,
        id: &AgentID,
        resources: Vec<Resource>,
        now: f64,
    ) {
        // Only revocable resources are an estimate (Mesos' agents send nothing else).
        let estimate: Vec<Resource> = resources
            .into_iter()
            .filter(|r| r.revocable.is_some())
            .collect();
        let estimate = Resources::from_list(&estimate);
        let mut rescind: Vec<OfferID> = self
            .offers
            .iter()
            .filter(|(_, o)| {
                o.offer.agent_id == *id && o.resources.iter().any(|r| r.revocable.is_some())
            })
            .map(|(oid, _)| oid.clone())
            .collect();
        rescind.sort_by(|a, b| a.value.cmp(&b.value));
        for oid in &rescind {
            self.rescind_offer(oid, now);
        }
        tracing::info!(
            agent_id = %id,
            cpus = estimate.scalar("cpus"),
            mem = estimate.scalar("mem"),
            rescinded = rescind.len(),
            "oversubscribed resources updated"
        );
        self.allocator.update_revocable(&id.value, &estimate);
        self.allocation_wanted = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::harness::*;
    use super::super::operations::{conversion, Asker, OperationInvalid};
    use drover_api::agent_protocol::FromAgent;
    use drover_api::scheduler::EventType;
    use drover_api::*;

    fn revocable(name: &str, v: f64) -> Resource {
        let mut r = Resource::scalar(name, v);
        r.revocable = Some(serde_json::json!({}));
        r
    }

    fn revocable_cpus(o: &Offer) -> f64 {
        o.resources
            .iter()
            .filter(|r| r.name == "cpus" && r.revocable.is_some())
            .filter_map(|r| r.scalar.map(|s| s.value))
            .sum()
    }

    fn estimate(h: &mut Harness, ag: &Ag, cpus: f64) {
        let call = FromAgent::UpdateSlave {
            oversubscribed_resources: vec![revocable("cpus", cpus)],
        };
        h.m.agent_calls(&ag.id, vec![call], h.now).unwrap();
    }

    #[test]
    fn revocable_resources_are_offered_only_to_frameworks_that_take_them() {
        let mut h = Harness::new();
        let ag = h.register(mock_agent(4.0, 1024.0, (31000, 31009)));
        estimate(&mut h, &ag, 2.0);
        let mut plain = h.subscribe(mock_framework("plain", &[]));
        let offer = h.offer(&mut plain);
        assert_eq!(revocable_cpus(&offer), 0.0);
        let mut batch = h.subscribe(mock_framework("batch", &["REVOCABLE_RESOURCES"]));
        let offer = h.offer(&mut batch);
        assert_eq!(revocable_cpus(&offer), 2.0, "{offer:?}");
    }

    #[test]
    fn a_new_estimate_rescinds_outstanding_revocable_offers_and_replaces_the_old() {
        let mut h = Harness::new();
        let ag = h.register(mock_agent(4.0, 1024.0, (31000, 31009)));
        estimate(&mut h, &ag, 3.0);
        let mut batch = h.subscribe(mock_framework("batch", &["REVOCABLE_RESOURCES"]));
        let offer = h.offer(&mut batch);
        assert_eq!(revocable_cpus(&offer), 3.0);
        // (estimate, revocable cpus offered afterwards)
        for (cpus, offered) in [(1.0, 1.0), (2.5, 2.5), (0.0, 0.0)] {
            estimate(&mut h, &ag, cpus);
            let ev = batch.events();
            assert!(
                ev.iter().any(|e| e.kind == EventType::RESCIND),
                "estimate {cpus}: {ev:?}"
            );
            let offers = h.offers(&mut batch);
            assert_eq!(offers.len(), 1, "estimate {cpus}: {offers:?} {ev:?}");
            assert_eq!(revocable_cpus(&offers[0]), offered, "estimate {cpus}");
        }
        // Resources that are not revocable in an estimate are ignored: no offer held regular
        // resources only is rescinded, nothing more is offered.
        let call = FromAgent::UpdateSlave {
            oversubscribed_resources: vec![Resource::scalar("cpus", 8.0)],
        };
        h.m.agent_calls(&ag.id, vec![call], h.now).unwrap();
        assert!(h.offers(&mut batch).is_empty());
        assert!(batch.events().is_empty());
    }

    #[test]
    fn revocable_resources_cannot_be_reserved() {
        let op: Operation = serde_json::from_value(serde_json::json!({
            "type": "RESERVE", "reserve": {"resources": [{
                "name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "revocable": {},
                "reservations": [{"type": "DYNAMIC", "role": "web"}]}]}
        }))
        .unwrap();
        let who = Asker {
            role: "web",
            principal: None,
        };
        let err = conversion(&op, &who);
        assert!(
            matches!(err, Err(OperationInvalid::RevocableReservation(_))),
            "{err:?}"
        );
    }
}
