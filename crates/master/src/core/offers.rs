//! Offers: run the allocator and send what it hands out (one OFFERS event per framework), take
//! an offer a framework answers, and rescind one (failover, agent gone).

use super::{Master, OfferRec};
use drover_api::scheduler::Event;
use drover_api::*;
use std::collections::HashMap;

impl Master {
    /// Run the allocator and send the offers it makes, one OFFERS event per framework; returns
    /// how many offers it made. (The driver times it: the core reads no clock.)
    pub fn allocate(&mut self, now: f64) -> usize {
        self.allocation_wanted = false;
        let allocations = self.allocator.allocate(now);
        self.counters.allocation_runs += 1;
        let mut by_fw: HashMap<FrameworkID, Vec<Offer>> = HashMap::new();
        let n = allocations.len();
        for a in allocations {
            let fid = FrameworkID::new(a.framework_id);
            let aid = AgentID::new(a.agent_id);
            if !self.agents.contains_key(&aid) || !self.frameworks.contains_key(&fid) {
                // The allocator raced a removal; give it back.
                self.allocator
                    .recover(&aid.value, &fid.value, &a.role, &a.resources, 0.0, now);
                continue;
            }
            let n = self.next();
            let Some(agent) = self.agents.get(&aid) else {
                continue;
            };
            let offer = Offer {
                id: OfferID::new(format!("{}-O{n}", self.info.id)),
                framework_id: fid.clone(),
                agent_id: aid.clone(),
                hostname: agent.info.hostname.clone(),
                url: Some(URL {
                    scheme: "http".into(),
                    address: Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(agent.info.hostname.clone()),
                        port: agent.info.port.unwrap_or(5051),
                    },
                    path: Some("/slave(1)".into()),
                }),
                resources: {
                    let mut rs = a.resources.allocated_to(&a.role);
                    // Frameworks without RESERVATION_REFINEMENT get the pre-refinement form
                    // (`role`, `reservation`), as Mesos' master gives them.
                    let refinement = self
                        .frameworks
                        .get(&fid)
                        .is_some_and(|f| f.info.has_capability("RESERVATION_REFINEMENT"));
                    if !refinement {
                        rs = rs.iter().filter_map(Resource::downgraded).collect();
                    }
                    rs
                },
                attributes: agent.info.attributes.clone(),
                executor_ids: agent
                    .executors
                    .keys()
                    .filter(|(f, _)| f == &fid)
                    .map(|(_, e)| e.clone())
                    .collect(),
                allocation_info: Some(AllocationInfo {
                    role: Some(a.role.clone()),
                }),
                unavailability: self.unavailability_of(&aid),
            };
            self.offers.insert(
                offer.id.clone(),
                OfferRec {
                    offer: offer.clone(),
                    resources: a.resources,
                    role: a.role,
                },
            );
            if let Some(fw) = self.frameworks.get_mut(&fid) {
                fw.offers.insert(offer.id.clone());
            }
            by_fw.entry(fid).or_default().push(offer);
        }
        self.counters.offers_sent += n as u64;
        for (fid, offers) in by_fw {
            self.send_to_framework(&fid, &Event::offers(offers));
        }
        n
    }

    pub(super) fn take_offer(&mut self, fid: &FrameworkID, oid: &OfferID) -> Option<OfferRec> {
        match self.offers.get(oid) {
            Some(o) if &o.offer.framework_id == fid => {}
            _ => return None,
        }
        let o = self.offers.remove(oid)?;
        if let Some(fw) = self.frameworks.get_mut(fid) {
            fw.offers.remove(oid);
        }
        Some(o)
    }

    pub(super) fn rescind_offer(&mut self, oid: &OfferID, now: f64) {
        let Some(o) = self.offers.remove(oid) else {
            return;
        };
        self.counters.offers_rescinded += 1;
        if let Some(fw) = self.frameworks.get_mut(&o.offer.framework_id) {
            fw.offers.remove(oid);
            fw.send(&Event::rescind(oid.clone()));
        }
        self.allocator.recover(
            &o.offer.agent_id.value,
            &o.offer.framework_id.value,
            &o.role,
            &o.resources,
            0.0,
            now,
        );
        self.allocation_wanted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use drover_api::scheduler::EventType;
    use drover_api::*;

    #[test]
    fn an_offer_describes_its_agent() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let o = h.offer(&mut fw);
        assert_eq!(o.id, OfferID::new("m1-O4"));
        assert_eq!(
            (o.framework_id.clone(), o.agent_id.clone()),
            (fw.id.clone(), ag.id.clone())
        );
        assert_eq!(o.hostname, "10.0.0.7");
        let url = o.url.as_ref().expect("url");
        assert_eq!(url.address.port, 5051);
        assert_eq!(url.path.as_deref(), Some("/slave(1)"));
        assert_eq!(
            o.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            Some("*")
        );
        let r = Resources::from_list(&o.resources);
        assert_eq!((r.scalar("cpus"), r.scalar("mem")), (2.0, 1024.0));
        assert!(o.resources.iter().any(|x| x.name == "ports"));
        assert_eq!(h.m.counters.offers_sent, 1);
        assert!(h.m.frameworks[&fw.id].offers.contains(&o.id));
    }

    #[test]
    fn every_offer_of_a_cycle_goes_in_one_event_per_framework() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        for _ in 0..3 {
            h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        }
        assert_eq!(h.m.allocate(h.now), 3);
        let events = fw.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventType::OFFERS);
        assert_eq!(events[0].offers.as_ref().map(|o| o.offers.len()), Some(3));
        // Nothing more to offer until something comes back.
        assert_eq!(h.m.allocate(h.now), 0);
        assert!(!h.m.allocation_wanted);
    }

    #[test]
    fn two_frameworks_share_by_drf() {
        let mut h = Harness::new();
        let mut a = h.subscribe(mock_framework("a", &[]));
        let mut b = h.subscribe(mock_framework("b", &[]));
        for _ in 0..4 {
            h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        }
        h.m.allocate(h.now);
        assert_eq!((a.offers().len(), b.offers().len()), (2, 2));
    }
}
