//! `drover app why <id>`: why an app's instances are not launched — its launch queue entry,
//! the offers Marathon refused per agent and for what, and the launch delay after failures.

use super::app_call;
use crate::args::MarathonArgs;
use crate::client::Client;
use crate::error::Error;
use crate::render::{num, opt_num, outln, print_json, table};
use crate::views::{AppEnvelope, OfferResources, Queue, QueueItem};
use comfy_table::Table;
use reqwest::Method;
use std::collections::{BTreeMap, HashMap};

/// An offer's resources as `cpus 4, mem 1024, disk 500` (gpus only when there are some).
fn offered(res: &OfferResources) -> String {
    let have: HashMap<&str, Option<f64>> = match res {
        OfferResources::List(l) => l.iter().map(|r| (r.name.as_str(), r.scalar)).collect(),
        OfferResources::Map(m) => m.iter().map(|(k, v)| (k.as_str(), v.as_f64())).collect(),
    };
    ["cpus", "mem", "disk", "gpus"]
        .iter()
        .filter_map(|name| {
            have.get(*name)
                .filter(|v| v.unwrap_or(0.0) > 0.0 || *name != "gpus")
                .map(|v| format!("{name} {}", opt_num(*v)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn why(api: &Client, c: &MarathonArgs, id: &str) -> Result<(), Error> {
    let q: Queue = api
        .call(
            Method::GET,
            "/v2/queue",
            &[("embed", "lastUnusedOffers")],
            None,
        )
        .await?;
    let Some(item) = q.queue.into_iter().find(|i| i.app.def.id == id) else {
        // Not queued: say so, or that the app does not exist.
        let a: AppEnvelope = app_call(api, id, Method::GET, "", &[], None).await?;
        if c.json {
            print_json(&());
            return Ok(());
        }
        outln!(
            "{id} is not waiting for offers: {}/{} running, nothing to launch.",
            a.app.tasks_running,
            a.app.def.instances
        );
        return Ok(());
    };
    if c.json {
        print_json(&item);
        return Ok(());
    }
    let app = &item.app.def;
    outln!(
        "{id} is waiting to launch {} instance(s); each needs cpus {}, mem {} MiB, disk {} MiB, {} port(s).",
        item.count,
        num(app.cpus),
        num(app.mem),
        num(app.disk),
        app.port_definitions.as_ref().map(|p| p.len()).unwrap_or(0)
    );
    let delay = item.delay.time_left_seconds;
    if delay > 0 {
        outln!("launches are delayed {delay} s more (backoff after failed tasks; `drover app show {id}` has the last failure).");
    }
    match refusals_table(&item) {
        Some(t) => outln!("{t}"),
        None => outln!("no offer has been refused for it yet (is an agent with free resources registered? offers come every few seconds)."),
    }
    let summary = &item.processed_offers_summary;
    let totals: Vec<String> = summary
        .reject_summary_last_offers
        .iter()
        .filter(|r| r.declined > 0)
        .map(|r| format!("{} {}", r.reason, r.declined))
        .collect();
    outln!(
        "offers processed: {}, unused: {}{}",
        summary.processed_offers_count,
        summary.unused_offers_count,
        if totals.is_empty() {
            String::new()
        } else {
            format!("; refused for: {}", totals.join(", "))
        }
    );
    Ok(())
}

/// Per agent: how many of its recent offers were refused and for what, and its last offer.
fn refusals_table(item: &QueueItem) -> Option<Table> {
    let mut per_agent: BTreeMap<&str, (&str, BTreeMap<&str, u64>, String)> = BTreeMap::new();
    for u in &item.last_unused_offers {
        let o = &u.offer;
        let e = per_agent
            .entry(o.agent_id.as_str())
            .or_insert_with(|| (o.hostname.as_str(), BTreeMap::new(), String::new()));
        for r in &u.reason {
            *e.1.entry(r.as_str()).or_default() += 1;
        }
        e.2 = offered(&o.resources);
    }
    if per_agent.is_empty() {
        return None;
    }
    let mut t = table(&["AGENT", "HOST", "REASONS", "LAST OFFER"]);
    for (agent, (host, reasons, last)) in &per_agent {
        let r: Vec<String> = reasons.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        t.add_row(vec![
            agent.to_string(),
            host.to_string(),
            r.join(", "),
            last.clone(),
        ]);
    }
    Some(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::cells;
    use serde_json::json;

    #[test]
    fn refused_offers_are_counted_per_agent_with_the_last_offer() {
        let item: QueueItem = serde_json::from_value(json!({
            "app": {"id": "/big", "cpus": 1000, "mem": 32}, "count": 1,
            "lastUnusedOffers": [
                {"offer": {"agentId": "a1", "hostname": "h1", "resources": [
                    {"name": "cpus", "scalar": 2}, {"name": "mem", "scalar": 512}, {"name": "disk", "scalar": 0},
                    {"name": "gpus", "scalar": 0}, {"name": "ports", "ranges": [{"begin": 1, "end": 2}]}]},
                 "reason": ["InsufficientCpus"]},
                {"offer": {"agentId": "a1", "hostname": "h1", "resources": [{"name": "cpus", "scalar": 1.5}]},
                 "reason": ["InsufficientCpus", "InsufficientMemory"]}
            ]
        }))
        .unwrap();
        let t = refusals_table(&item).unwrap();
        assert_eq!(
            cells(&t),
            [[
                "a1",
                "h1",
                "InsufficientCpus ×2, InsufficientMemory ×1",
                "cpus 1.50"
            ]]
        );
        assert!(t.to_string().contains("LAST OFFER"));
        let first = &item.last_unused_offers[0].offer.resources;
        assert_eq!(offered(first), "cpus 2, mem 512, disk 0");
        let map: OfferResources =
            serde_json::from_value(json!({"cpus": 4, "mem": 1024, "gpus": 1})).unwrap();
        assert_eq!(offered(&map), "cpus 4, mem 1024, gpus 1");
    }
}
