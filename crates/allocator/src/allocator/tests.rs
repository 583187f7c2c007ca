//! Allocator tests: the shared builders here, and one module per seam of the allocator.
#![allow(clippy::unwrap_used)]

use super::*;
use std::collections::BTreeMap;

mod bookkeeping;
mod drf;
mod filters;
mod hierarchy;
mod model;
mod quota;
mod reservations;
mod revocable;

fn res(text: &str) -> Resources {
    Resources::parse(text).expect("resources")
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Agents visited by id, so tables can name which agent goes where.
fn by_id() -> Allocator {
    Allocator::new(Config {
        shuffle_agents: false,
        ..Config::default()
    })
}

fn pairs(offers: &[Allocation]) -> Vec<(&str, &str)> {
    offers
        .iter()
        .map(|o| (o.agent_id.as_str(), o.framework_id.as_str()))
        .collect()
}

/// Frameworks that launch one task per offer when it fits and give back the rest, declining
/// (with a long filter) offers too small; returns who launched, in order.
fn launch_until_full(alloc: &mut Allocator, demand: &BTreeMap<&str, (f64, f64)>) -> Vec<String> {
    let mut launched = Vec::new();
    let mut now = 0.0;
    for _ in 0..100 {
        let offers = alloc.allocate(now);
        if offers.is_empty() {
            break;
        }
        for o in offers {
            let (cpus, mem) = demand[o.framework_id.as_str()];
            let task = res(&format!("cpus:{cpus};mem:{mem}"));
            if o.resources.contains(&task) {
                let mut rest = o.resources.clone();
                rest.subtract_all(&task);
                alloc.recover(&o.agent_id, &o.framework_id, &o.role, &rest, 0.0, now);
                launched.push(o.framework_id.clone());
            } else {
                alloc.recover(
                    &o.agent_id,
                    &o.framework_id,
                    &o.role,
                    &o.resources,
                    1000.0,
                    now,
                );
            }
        }
        now += 1.0;
    }
    launched
}
