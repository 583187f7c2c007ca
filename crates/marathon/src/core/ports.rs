//! Service ports: the cluster-wide port number each port of an app is known by (what a load
//! balancer such as marathon-lb binds), as Marathon assigns them. A port 0 gets the lowest
//! free port of the service-port range (`--local-port-min`..`--local-port-max`, 10000-20000),
//! an app being updated gets its old service ports back first (so a `PUT` of port 0 keeps
//! them), and a fixed service port another app holds is refused, naming both apps.

use super::Marathon;
use crate::MarathonError;
use drover_api::marathon::{App, ValidationDetail};
use std::collections::{BTreeMap, BTreeSet};

impl Marathon {
    /// Assign service ports to `apps` (new definitions about to be deployed together, removing
    /// `removed`), in place.
    pub(super) fn assign_service_ports(
        &self,
        apps: &mut [App],
        removed: &[String],
    ) -> Result<(), MarathonError> {
        let (min, max) = self.service_port_range;
        let changing: BTreeSet<&str> = apps
            .iter()
            .map(|a| a.id.as_str())
            .chain(removed.iter().map(String::as_str))
            .collect();
        // Who holds each port: apps this change leaves alone, then the fixed ports asked for.
        let mut holder: BTreeMap<u32, String> = BTreeMap::new();
        for a in self.apps.values() {
            if !changing.contains(a.id.as_str()) {
                for p in a.service_ports().into_iter().filter(|&p| p != 0) {
                    holder.entry(p).or_insert_with(|| a.id.clone());
                }
            }
        }
        let mut conflicts = Vec::new();
        for a in apps.iter() {
            for (i, p) in a.service_ports().into_iter().enumerate() {
                if p == 0 {
                    continue;
                }
                match holder.get(&p) {
                    Some(other) if other != &a.id => conflicts.push(ValidationDetail {
                        path: format!("{}({i})", ports_path(a)),
                        errors: vec![format!(
                            "Requested service port {p} of app {} conflicts with a service port in app {other}",
                            a.id
                        )],
                    }),
                    _ => {
                        holder.insert(p, a.id.clone());
                    }
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(MarathonError::Invalid(conflicts));
        }
        let mut next = min;
        for a in apps.iter_mut() {
            let mut ports = a.service_ports();
            if !ports.contains(&0) {
                a.set_service_ports(&ports);
                continue;
            }
            // The app's own earlier service ports first, those it does not now name itself.
            let mut again: Vec<u32> = self
                .apps
                .get(&a.id)
                .map(|prev| prev.service_ports())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| (min..=max).contains(p) && !ports.contains(p))
                .collect();
            again.reverse();
            for slot in ports.iter_mut().filter(|p| **p == 0) {
                let pick = loop {
                    match again.pop() {
                        Some(p) if !holder.contains_key(&p) => break Some(p),
                        Some(_) => continue,
                        None => break None,
                    }
                };
                let pick = match pick {
                    Some(p) => p,
                    None => {
                        while next <= max && holder.contains_key(&next) {
                            next += 1;
                        }
                        if next > max {
                            return Err(MarathonError::ServicePortsExhausted { min, max });
                        }
                        next
                    }
                };
                holder.insert(pick, a.id.clone());
                *slot = pick;
            }
            a.set_service_ports(&ports);
        }
        Ok(())
    }
}

/// Where an app's service ports are, as a validation path.
fn ports_path(a: &App) -> &'static str {
    if a.uses_port_mappings() {
        "/container/portMappings"
    } else {
        "/portDefinitions"
    }
}
