//! Roles, reservations and maintenance as the Resources page shows them, read from the master's
//! JSON endpoints as Mesos writes them: `/master/roles` (weight, frameworks, allocated, reserved,
//! quota with guarantee, limit and consumed), `/master/slaves` (`reserved_resources_full` by
//! role, persistent volumes, `deactivated`, `drain_info`), `/master/maintenance/schedule` and
//! `/master/maintenance/status`. Pure: JSON in, values out, read leniently (a field missing is
//! empty, not an error), so a Mesos master's answers read as well as Drover's.

use serde_json::Value;
use std::collections::BTreeMap;

/// Amounts by resource name (`cpus`, `mem` in MiB, `disk` in MiB, `gpus`, `ports` counted).
pub type Amounts = BTreeMap<String, f64>;

/// A map of name to number (`{"cpus": 1}`), or of name to `{"value": n}` (protobuf's
/// `Value.Scalar`, as `GET_QUOTA` writes them); anything else is left out.
pub fn amounts(v: &Value) -> Amounts {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, x)| Some((k.clone(), x.as_f64().or_else(|| x["value"].as_f64())?)))
        .collect()
}

/// One role of `/master/roles`.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    /// Its path (`eng/web`).
    pub name: String,
    pub weight: f64,
    pub frameworks: Vec<String>,
    /// What its tasks and executors use (its sub-tree's).
    pub allocated: Amounts,
    pub offered: Amounts,
    pub reserved: Amounts,
    pub guarantee: Amounts,
    pub limit: Amounts,
    /// What counts against its quota.
    pub consumed: Amounts,
}

impl Role {
    /// How deep it is: 0 for `eng`, 1 for `eng/web`.
    pub fn depth(&self) -> usize {
        self.name.matches('/').count()
    }

    pub fn has_quota(&self) -> bool {
        !self.guarantee.is_empty() || !self.limit.is_empty()
    }

    /// The roles of `/master/roles`, parents before their children (`eng`, `eng/web`, `eng-x`).
    pub fn list(v: &Value) -> Vec<Role> {
        let mut roles: Vec<Role> = v["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let name = r["name"].as_str()?.to_string();
                let q = &r["quota"];
                Some(Role {
                    name,
                    weight: r["weight"].as_f64().unwrap_or(1.0),
                    frameworks: r["frameworks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f.as_str().or(f["value"].as_str()).map(str::to_string))
                        .collect(),
                    allocated: amounts(&r["allocated"]),
                    offered: amounts(&r["offered"]),
                    reserved: amounts(&r["reserved"]),
                    // Mesos 1.11 writes `guarantee`/`limit`; GET_QUOTA's configs the plurals.
                    guarantee: amounts(if q["guarantee"].is_null() {
                        &q["guarantees"]
                    } else {
                        &q["guarantee"]
                    }),
                    limit: amounts(if q["limit"].is_null() {
                        &q["limits"]
                    } else {
                        &q["limit"]
                    }),
                    consumed: amounts(&q["consumed"]),
                })
            })
            .collect();
        roles.sort_by(|a, b| a.name.split('/').cmp(b.name.split('/')));
        roles
    }
}

/// How a reservation was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// By the agent's `--resources` (`cpus(ads):2`).
    Static,
    /// By an operator or a framework (`RESERVE`, `RESERVE_RESOURCES`).
    Dynamic,
}

/// A persistent volume on reserved disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub id: String,
    /// MiB.
    pub size: f64,
    pub container_path: String,
    pub mode: String,
    pub principal: Option<String>,
}

/// What one agent has reserved to one role.
#[derive(Clone, Debug, PartialEq)]
pub struct Reservation {
    pub agent_id: String,
    pub hostname: String,
    pub role: String,
    /// Scalars summed, ranges and sets counted.
    pub amounts: Amounts,
    /// Port ranges as written (`31000-31009`).
    pub ports: Vec<String>,
    pub kinds: Vec<Kind>,
    /// The principals of its dynamic reservations.
    pub principals: Vec<String>,
    pub volumes: Vec<Volume>,
}

/// A resource's scalar value, or its range and set items counted.
fn quantity(r: &Value) -> f64 {
    if let Some(v) = r["scalar"]["value"].as_f64() {
        return v;
    }
    let ranges: f64 = r["ranges"]["range"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            let (b, e) = (x["begin"].as_f64().unwrap_or(0.0), x["end"].as_f64());
            e.map_or(0.0, |e| (e - b + 1.0).max(0.0))
        })
        .sum();
    if ranges > 0.0 {
        return ranges;
    }
    r["set"]["item"].as_array().map_or(0.0, |s| s.len() as f64)
}

/// The last reservation of a resource: its kind and principal. The refined form
/// (`reservations: [...]`) or the old one (`role` with `reservation` for a dynamic one).
fn last_reservation(r: &Value) -> (Kind, Option<String>) {
    if let Some(last) = r["reservations"].as_array().and_then(|a| a.last()) {
        let kind = if last["type"] == "STATIC" {
            Kind::Static
        } else {
            Kind::Dynamic
        };
        return (kind, last["principal"].as_str().map(str::to_string));
    }
    if r["reservation"].is_object() {
        (
            Kind::Dynamic,
            r["reservation"]["principal"].as_str().map(str::to_string),
        )
    } else {
        (Kind::Static, None)
    }
}

impl Reservation {
    /// Each agent's reservations by role, from `/master/slaves` (`reserved_resources_full`),
    /// by hostname, then role.
    pub fn list(slaves: &Value) -> Vec<Reservation> {
        let mut out = Vec::new();
        for a in slaves["slaves"].as_array().into_iter().flatten() {
            let agent_id = a["id"].as_str().unwrap_or("").to_string();
            let hostname = a["hostname"].as_str().unwrap_or("").to_string();
            for (role, rs) in a["reserved_resources_full"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let mut r = Reservation {
                    agent_id: agent_id.clone(),
                    hostname: hostname.clone(),
                    role: role.clone(),
                    amounts: Amounts::new(),
                    ports: Vec::new(),
                    kinds: Vec::new(),
                    principals: Vec::new(),
                    volumes: Vec::new(),
                };
                for x in rs.as_array().into_iter().flatten() {
                    let name = x["name"].as_str().unwrap_or("").to_string();
                    *r.amounts.entry(name.clone()).or_default() += quantity(x);
                    if name == "ports" {
                        r.ports
                            .extend(x["ranges"]["range"].as_array().into_iter().flatten().map(
                                |p| match (p["begin"].as_u64(), p["end"].as_u64()) {
                                    (Some(b), Some(e)) if b == e => b.to_string(),
                                    (Some(b), Some(e)) => format!("{b}-{e}"),
                                    _ => "?".into(),
                                },
                            ));
                    }
                    let (kind, principal) = last_reservation(x);
                    if !r.kinds.contains(&kind) {
                        r.kinds.push(kind);
                    }
                    if let Some(p) = principal.filter(|p| !r.principals.contains(p)) {
                        r.principals.push(p);
                    }
                    let disk = &x["disk"];
                    if let Some(id) = disk["persistence"]["id"].as_str() {
                        r.volumes.push(Volume {
                            id: id.to_string(),
                            size: quantity(x),
                            container_path: disk["volume"]["container_path"]
                                .as_str()
                                .unwrap_or("")
                                .to_string(),
                            mode: disk["volume"]["mode"].as_str().unwrap_or("").to_string(),
                            principal: disk["persistence"]["principal"]
                                .as_str()
                                .map(str::to_string),
                        });
                    }
                }
                r.kinds.sort();
                out.push(r);
            }
        }
        out.sort_by(|a, b| {
            (&a.hostname, &a.agent_id)
                .cmp(&(&b.hostname, &b.agent_id))
                .then_with(|| a.role.split('/').cmp(b.role.split('/')))
        });
        out
    }
}

/// An agent's draining or deactivation, from `/master/slaves`.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentState {
    pub agent_id: String,
    pub hostname: String,
    pub deactivated: bool,
    /// `DRAINING` or `DRAINED` (none: not drained).
    pub drain: Option<String>,
    /// Seconds.
    pub max_grace_period: Option<f64>,
    pub mark_gone: bool,
    /// When the drain started, seconds since the epoch.
    pub drain_started: Option<f64>,
}

impl AgentState {
    /// The agents draining, drained or deactivated, by hostname.
    pub fn list(slaves: &Value) -> Vec<AgentState> {
        let mut out: Vec<AgentState> = slaves["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let d = &a["drain_info"];
                AgentState {
                    agent_id: a["id"].as_str().unwrap_or("").to_string(),
                    hostname: a["hostname"].as_str().unwrap_or("").to_string(),
                    deactivated: a["deactivated"].as_bool().unwrap_or(false),
                    drain: d["state"]
                        .as_str()
                        .filter(|s| *s == "DRAINING" || *s == "DRAINED")
                        .map(str::to_string),
                    max_grace_period: nanos(&d["config"]["max_grace_period"]["nanoseconds"]),
                    mark_gone: d["config"]["mark_gone"].as_bool().unwrap_or(false),
                    drain_started: a["estimated_drain_start_time"]
                        .as_f64()
                        .or_else(|| nanos(&a["estimated_drain_start_time"]["nanoseconds"])),
                }
            })
            .filter(|s| s.deactivated || s.drain.is_some())
            .collect();
        out.sort_by(|a, b| (&a.hostname, &a.agent_id).cmp(&(&b.hostname, &b.agent_id)));
        out
    }

    /// The state in words.
    pub fn words(&self) -> &'static str {
        match self.drain.as_deref() {
            Some("DRAINING") => "Draining",
            Some("DRAINED") => "Drained",
            _ => "Deactivated",
        }
    }
}

/// Nanoseconds (a number, or protobuf's string of digits) as seconds.
fn nanos(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str()?.parse::<f64>().ok())
        .map(|n| n / 1e9)
}

/// A machine: its hostname, its IP, or both, as people read it.
pub fn machine(m: &Value) -> String {
    match (m["hostname"].as_str(), m["ip"].as_str()) {
        (Some(h), Some(ip)) if !h.is_empty() && !ip.is_empty() => format!("{h} ({ip})"),
        (Some(h), _) if !h.is_empty() => h.to_string(),
        (_, Some(ip)) => ip.to_string(),
        _ => "?".into(),
    }
}

/// A framework's answer to an inverse offer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub framework_id: String,
    /// `ACCEPT`, `DECLINE` or `UNKNOWN` (not answered yet).
    pub status: String,
    /// Seconds since the epoch.
    pub at: Option<f64>,
}

/// A machine of the maintenance schedule (or DOWN outside it), with its mode and window.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// As people read it (`node-7 (10.0.0.7)`).
    pub name: String,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    /// `DRAINING`, `DOWN`, or `UP` (scheduled, not in maintenance: the master lists only the
    /// modes but UP).
    pub mode: &'static str,
    /// Seconds since the epoch.
    pub start: Option<f64>,
    /// Seconds; none: indefinitely.
    pub duration: Option<f64>,
    pub answers: Vec<Answer>,
}

impl Machine {
    /// The machines of `/maintenance/schedule` with their mode from `/maintenance/status`
    /// (either may be `Null`: what it would say is left out), soonest window first.
    pub fn list(schedule: &Value, status: &Value) -> Vec<Machine> {
        let key = |m: &Value| {
            (
                m["hostname"].as_str().unwrap_or("").to_lowercase(),
                m["ip"].as_str().unwrap_or("").to_string(),
            )
        };
        let draining: Vec<(&Value, &Value)> = status["draining_machines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (&d["id"], &d["statuses"]))
            .collect();
        let down: Vec<&Value> = status["down_machines"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let mode_of = |m: &Value| -> (&'static str, Vec<Answer>) {
            if down.iter().any(|d| key(d) == key(m)) {
                return ("DOWN", Vec::new());
            }
            match draining.iter().find(|(id, _)| key(id) == key(m)) {
                Some((_, statuses)) => ("DRAINING", answers(statuses)),
                None => ("UP", Vec::new()),
            }
        };
        let mut out = Vec::new();
        for w in schedule["windows"].as_array().into_iter().flatten() {
            let u = &w["unavailability"];
            let start = nanos(&u["start"]["nanoseconds"]);
            let duration = nanos(&u["duration"]["nanoseconds"]);
            for m in w["machine_ids"].as_array().into_iter().flatten() {
                let (mode, answers) = mode_of(m);
                out.push(Machine {
                    name: machine(m),
                    hostname: m["hostname"].as_str().map(str::to_string),
                    ip: m["ip"].as_str().map(str::to_string),
                    mode,
                    start,
                    duration,
                    answers,
                });
            }
        }
        // DOWN or DRAINING machines the schedule does not list (it changed since): shown too.
        let listed: Vec<(String, String)> = out
            .iter()
            .map(|m| {
                (
                    m.hostname.clone().unwrap_or_default().to_lowercase(),
                    m.ip.clone().unwrap_or_default(),
                )
            })
            .collect();
        let others = down
            .iter()
            .map(|m| (*m, "DOWN", Vec::new()))
            .chain(draining.iter().map(|(m, s)| (*m, "DRAINING", answers(s))))
            .filter(|(m, _, _)| !listed.contains(&key(m)))
            .map(|(m, mode, answers)| Machine {
                name: machine(m),
                hostname: m["hostname"].as_str().map(str::to_string),
                ip: m["ip"].as_str().map(str::to_string),
                mode,
                start: None,
                duration: None,
                answers,
            })
            .collect::<Vec<_>>();
        out.extend(others);
        out.sort_by(|a, b| {
            a.start
                .unwrap_or(f64::MAX)
                .total_cmp(&b.start.unwrap_or(f64::MAX))
                .then_with(|| a.name.cmp(&b.name))
        });
        out
    }
}

fn answers(statuses: &Value) -> Vec<Answer> {
    statuses
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Answer {
            framework_id: s["framework_id"]["value"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            status: s["status"].as_str().unwrap_or("UNKNOWN").to_string(),
            at: nanos(&s["timestamp"]["nanoseconds"]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_parents_first_with_their_quota_read_either_way() {
        let v = json!({"roles": [
            {"name": "eng-x", "weight": 1.0},
            {"name": "eng/web", "weight": 2.5, "frameworks": ["F1"],
             "allocated": {"cpus": 0.5, "mem": 128.0},
             "quota": {"guarantee": {"cpus": {"value": 1.0}}, "limit": {}, "consumed": {"cpus": 0.5}}},
            {"name": "eng", "quota": {"guarantees": {"mem": 512.0}}},
            {"weight": 3.0},
        ]});
        let roles = Role::list(&v);
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["eng", "eng/web", "eng-x"]);
        assert_eq!(roles[1].depth(), 1);
        assert_eq!(roles[1].guarantee["cpus"], 1.0);
        assert_eq!(roles[1].frameworks, ["F1"]);
        assert_eq!(roles[0].guarantee["mem"], 512.0);
        assert_eq!(roles[0].weight, 1.0);
        assert!(!roles[2].has_quota());
    }

    #[test]
    fn reservations_sum_by_agent_and_role_and_find_volumes_in_either_form() {
        let v = json!({"slaves": [{"id": "S0", "hostname": "node-a", "reserved_resources_full": {
        "ads": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0}, "role": "ads",
             "reservation": {"principal": "ops"}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 100.0},
             "reservations": [{"type": "DYNAMIC", "role": "ads", "principal": "ops"}],
             "disk": {"persistence": {"id": "v1", "principal": "ops"},
                      "volume": {"container_path": "data", "mode": "RW"}}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31009}]},
             "reservations": [{"type": "STATIC", "role": "ads"}]},
        ]}}]});
        let r = Reservation::list(&v);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].amounts["cpus"], 2.0);
        assert_eq!(r[0].amounts["ports"], 10.0);
        assert_eq!(r[0].ports, ["31000-31009"]);
        assert_eq!(r[0].kinds, [Kind::Static, Kind::Dynamic]);
        assert_eq!(r[0].principals, ["ops"]);
        assert_eq!(r[0].volumes[0].id, "v1");
        assert_eq!(r[0].volumes[0].size, 100.0);
        assert!(Reservation::list(&json!({"slaves": 3})).is_empty());
    }

    #[test]
    fn machines_have_their_mode_and_answers_and_down_ones_off_the_schedule_are_kept() {
        let schedule = json!({"windows": [{"machine_ids": [{"hostname": "Node-7", "ip": "10.0.0.7"}, {"hostname": "node-8"}],
            "unavailability": {"start": {"nanoseconds": 1_796_376_612_000_000_000i64}, "duration": {"nanoseconds": "3600000000000"}}}]});
        let status = json!({"draining_machines": [{"id": {"hostname": "node-7", "ip": "10.0.0.7"},
            "statuses": [{"framework_id": {"value": "F1"}, "status": "DECLINE", "timestamp": {"nanoseconds": 1_796_376_700_000_000_000i64}}]}],
            "down_machines": [{"ip": "10.0.0.9"}]});
        let m = Machine::list(&schedule, &status);
        let modes: Vec<(&str, &str)> = m.iter().map(|m| (m.name.as_str(), m.mode)).collect();
        assert_eq!(
            modes,
            [
                ("Node-7 (10.0.0.7)", "DRAINING"),
                ("node-8", "UP"),
                ("10.0.0.9", "DOWN")
            ]
        );
        assert_eq!(m[0].duration, Some(3600.0));
        assert_eq!(m[0].answers[0].status, "DECLINE");
        assert!(Machine::list(&Value::Null, &Value::Null).is_empty());
    }

    #[test]
    fn only_agents_drained_or_deactivated_are_listed() {
        let v = json!({"slaves": [
            {"id": "S0", "hostname": "a"},
            {"id": "S1", "hostname": "b", "deactivated": true, "drain_info": {"state": "DRAINING",
             "config": {"max_grace_period": {"nanoseconds": 30_000_000_000i64}, "mark_gone": true}},
             "estimated_drain_start_time": {"nanoseconds": 1_796_376_612_000_000_000i64}},
            {"id": "S2", "hostname": "c", "deactivated": true},
        ]});
        let s = AgentState::list(&v);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].words(), s[0].max_grace_period),
            ("Draining", Some(30.0))
        );
        assert_eq!(s[0].drain_started, Some(1_796_376_612.0));
        assert_eq!(s[1].words(), "Deactivated");
    }
}
