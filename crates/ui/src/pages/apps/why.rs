//! Why an app is not running, from Marathon's launch queue (`GET /v2/queue?embed=
//! lastUnusedOffers`): how many instances wait, whether the app is delayed after failures, the
//! reasons offers were refused with their counts, and per agent the reasons of its last offers
//! the app did not use, with what each agent offered. Pure: the queue's JSON in, the view out.

use crate::fmt::{mib, num};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the queue says of one app.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Why {
    /// Instances waiting to be launched.
    pub waiting: u64,
    pub delayed: bool,
    pub delay_left: i64,
    /// Since when the app has waited (Marathon's timestamp).
    pub since: String,
    pub processed: u64,
    pub unused: u64,
    /// (reason, offers refused for it, what it means), most refused first.
    pub reasons: Vec<Reason>,
    /// The agents whose recent offers were refused, by hostname.
    pub agents: Vec<AgentWhy>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reason {
    pub code: String,
    pub count: u64,
    pub meaning: &'static str,
}

/// One agent's refused offers, among the last the queue keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentWhy {
    pub hostname: String,
    pub agent_id: String,
    pub offers: u64,
    pub reasons: Vec<Reason>,
    /// What its latest refused offer held: `4 CPUs, 3.8 GiB, 1000 MiB disk, 1001 ports`.
    pub offered: String,
    pub attributes: String,
    pub last: String,
}

/// What a refusal reason means, in words (Marathon's names; constraint reasons carry the
/// constraint after a colon).
pub fn meaning(code: &str) -> &'static str {
    match code.split(':').next().unwrap_or(code).trim() {
        "InsufficientCpus" => "the offer has fewer CPUs than one instance needs",
        "InsufficientMemory" => "the offer has less memory than one instance needs",
        "InsufficientDisk" => "the offer has less disk than one instance needs",
        "InsufficientGpus" => "the offer has fewer GPUs than one instance needs",
        "InsufficientPorts" => "the offer lacks the ports the app asks for",
        "InsufficientResources" => "the offer lacks resources the app asks for",
        "UnfulfilledRole" => "the offer's resources belong to a role the app cannot use",
        "UnfulfilledConstraint" => "the agent does not meet one of the app's constraints",
        "AppDelayed" => "the app is delayed after failed launches and waits before the next",
        "DeploymentWaitingForDependencies" => {
            "the deployment waits for the apps this one depends on"
        }
        "NoCorrespondingReservationFound" => "no reservation of the app's resident volumes",
        _ => "",
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn reasons(counts: BTreeMap<String, u64>) -> Vec<Reason> {
    let mut out: Vec<Reason> = counts
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .map(|(code, count)| Reason {
            meaning: meaning(&code),
            code,
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    out
}

/// An offer's resources in words.
fn offered(offer: &Value) -> String {
    let (mut cpus, mut mem, mut disk, mut gpus, mut ports) = (0.0, 0.0, 0.0, 0.0, 0u64);
    for r in offer["resources"].as_array().into_iter().flatten() {
        let x = r["scalar"].as_f64().or(r["scalar"]["value"].as_f64());
        match r["name"].as_str().unwrap_or("") {
            "cpus" => cpus += x.unwrap_or(0.0),
            "mem" => mem += x.unwrap_or(0.0),
            "disk" => disk += x.unwrap_or(0.0),
            "gpus" => gpus += x.unwrap_or(0.0),
            "ports" => {
                let ranges = r["ranges"].as_array().or(r["ranges"]["range"].as_array());
                for g in ranges.into_iter().flatten() {
                    ports += n(&g["end"]).saturating_sub(n(&g["begin"])) + 1;
                }
            }
            _ => {}
        }
    }
    let mut parts = vec![
        format!("{} CPUs", num(&cpus)),
        mib(&mem),
        format!("{} disk", mib(&disk)),
    ];
    if gpus > 0.0 {
        parts.push(format!("{} GPUs", num(&gpus)));
    }
    parts.push(format!("{ports} ports"));
    parts.join(", ")
}

impl Why {
    /// The entry of `app` in a `/v2/queue` answer; `None` when nothing of it is queued.
    pub fn from_queue(queue: &Value, app: &str) -> Option<Why> {
        let e = queue["queue"]
            .as_array()?
            .iter()
            .find(|q| q["app"]["id"].as_str().or(q["pod"]["id"].as_str()) == Some(app))?;
        let s = &e["processedOffersSummary"];
        let mut totals = BTreeMap::new();
        for r in s["rejectSummaryLastOffers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let code = r["reason"].as_str().unwrap_or("").to_string();
            *totals.entry(code).or_insert(0) += n(&r["declined"]);
        }
        // Per agent, from the last unused offers (Marathon keeps a few per app).
        struct Acc {
            hostname: String,
            offers: u64,
            reasons: BTreeMap<String, u64>,
            offered: String,
            attributes: String,
            last: String,
        }
        let mut by_agent: BTreeMap<String, Acc> = BTreeMap::new();
        for u in e["lastUnusedOffers"].as_array().into_iter().flatten() {
            let o = &u["offer"];
            let agent = o["agentId"]
                .as_str()
                .or(o["agentId"]["value"].as_str())
                .unwrap_or("")
                .to_string();
            let acc = by_agent.entry(agent).or_insert_with(|| Acc {
                hostname: o["hostname"].as_str().unwrap_or("").to_string(),
                offers: 0,
                reasons: BTreeMap::new(),
                offered: String::new(),
                attributes: String::new(),
                last: String::new(),
            });
            acc.offers += 1;
            for r in u["reason"].as_array().into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    *acc.reasons.entry(r.to_string()).or_insert(0) += 1;
                }
            }
            // The newest offer (they come oldest first) says what the agent has now.
            acc.offered = offered(o);
            acc.attributes = o["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    format!(
                        "{}:{}",
                        a["name"].as_str().unwrap_or(""),
                        a["value"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| a["value"].to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            acc.last = u["timestamp"].as_str().unwrap_or("").to_string();
        }
        let mut agents: Vec<AgentWhy> = by_agent
            .into_iter()
            .map(|(agent_id, a)| AgentWhy {
                hostname: a.hostname,
                agent_id,
                offers: a.offers,
                reasons: reasons(a.reasons),
                offered: a.offered,
                attributes: a.attributes,
                last: a.last,
            })
            .collect();
        agents.sort_by(|a, b| {
            a.hostname
                .cmp(&b.hostname)
                .then(a.agent_id.cmp(&b.agent_id))
        });
        Some(Why {
            waiting: n(&e["count"]),
            delayed: !e["delay"]["overdue"].as_bool().unwrap_or(true),
            delay_left: e["delay"]["timeLeftSeconds"].as_i64().unwrap_or(0),
            since: e["since"].as_str().unwrap_or("").to_string(),
            processed: n(&s["processedOffersCount"]),
            unused: n(&s["unusedOffersCount"]),
            reasons: reasons(totals),
            agents,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn offer(agent: &str, host: &str, cpus: f64, reason: &str, t: &str) -> Value {
        json!({"offer": {"id": "o", "agentId": agent, "hostname": host,
            "resources": [{"name": "cpus", "role": "*", "scalar": cpus},
                {"name": "mem", "role": "*", "scalar": 1024.0},
                {"name": "ports", "role": "*", "ranges": [{"begin": 31000, "end": 31009}]}],
            "attributes": [{"name": "rack", "value": "r1"}]},
            "timestamp": t, "reason": [reason]})
    }

    #[test]
    fn reasons_are_counted_overall_and_per_agent() {
        let q = json!({"queue": [
            {"app": {"id": "/other"}, "count": 1},
            {"app": {"id": "/big"}, "count": 2, "since": "2026-12-04T09:00:00.000Z",
             "delay": {"timeLeftSeconds": 0, "overdue": true},
             "processedOffersSummary": {"processedOffersCount": 9, "unusedOffersCount": 9,
                "rejectSummaryLastOffers": [
                    {"reason": "InsufficientCpus", "declined": 6},
                    {"reason": "UnfulfilledRole", "declined": 0},
                    {"reason": "UnfulfilledConstraint: hostname, CLUSTER, nope", "declined": 3}]},
             "lastUnusedOffers": [
                offer("S1", "node-b", 2.0, "InsufficientCpus", "t1"),
                offer("S0", "node-a", 4.0, "InsufficientCpus", "t2"),
                offer("S0", "node-a", 3.5, "InsufficientCpus", "t3"),
                offer("S0", "node-a", 3.5, "UnfulfilledConstraint: hostname, CLUSTER, nope", "t4")]}]});
        let w = Why::from_queue(&q, "/big").expect("queued");
        assert_eq!((w.waiting, w.delayed, w.processed), (2, false, 9));
        assert_eq!(
            w.reasons
                .iter()
                .map(|r| (r.code.as_str(), r.count))
                .collect::<Vec<_>>(),
            [
                ("InsufficientCpus", 6),
                ("UnfulfilledConstraint: hostname, CLUSTER, nope", 3)
            ],
            "most refused first, none of 0"
        );
        assert_eq!(
            w.reasons[1].meaning,
            "the agent does not meet one of the app's constraints"
        );
        let a = &w.agents[0];
        assert_eq!(
            (a.hostname.as_str(), a.agent_id.as_str(), a.offers),
            ("node-a", "S0", 3)
        );
        assert_eq!(
            (a.reasons[0].code.as_str(), a.reasons[0].count),
            ("InsufficientCpus", 2)
        );
        assert_eq!(a.offered, "3.5 CPUs, 1 GiB, 0 MiB disk, 10 ports");
        assert_eq!((a.attributes.as_str(), a.last.as_str()), ("rack:r1", "t4"));
        assert_eq!(w.agents[1].hostname, "node-b");
        assert!(Why::from_queue(&q, "/absent").is_none());
    }

    #[test]
    fn a_delayed_app_says_how_long() {
        let q = json!({"queue": [{"app": {"id": "/crashy"}, "count": 1,
            "delay": {"timeLeftSeconds": 42, "overdue": false}}]});
        let w = Why::from_queue(&q, "/crashy").expect("queued");
        assert!(w.delayed);
        assert_eq!(w.delay_left, 42);
        assert!(w.reasons.is_empty() && w.agents.is_empty());
    }
}
