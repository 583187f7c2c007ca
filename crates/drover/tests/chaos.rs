//! The chaos test of the HA cluster, on the multi-host Docker cluster: 3 ZooKeeper servers,
//! 3 masters, 2 Marathons and 4 agents, each a container on a private network.
//!
//! For `CHAOS_SECS` (default 240) a workload creates, scales and updates apps through either
//! Marathon while a fault injector — seeded (`CHAOS_SEED`, printed), every fault logged — kills
//! and restarts random masters, Marathons, agents and ZooKeeper servers (SIGKILL of the
//! container), cuts up to half of the nodes off the network one by one (`docker network
//! disconnect`), and splits the cluster into two random halves that still talk among themselves
//! but not to each other (iptables in each container's network namespace, through nsenter).
//! Then the faults stop, the
//! cluster heals, and the checker verifies:
//! - every app converges to its instance count, with no deployment left;
//! - no task runs that Marathon does not know, and Marathon believes in no task that no agent
//!   runs (every status update an agent sent reached it);
//! - every app and every app version that was answered with a 2xx is there;
//! - at no time did two masters, or two Marathons, act as leader (their terms, from their logs,
//!   never overlap).
//!
//! It prints the seed, the faults injected per kind, the changes made and the violations,
//! which must be none. Repeat a failing run with its seed: `CHAOS_SEED=<seed> cargo nextest run
//! -p drover --test chaos`.

mod common;
use common::hadocker::*;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// xorshift64*: the fault schedule and the workload, repeatable from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.below(1_000_000) as f64 / 1_000_000.0)
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the workload was told: per app, the instance count of its last acknowledged change,
/// every acknowledged version, and whether a change's outcome is unknown.
#[derive(Default)]
struct Ledger {
    apps: BTreeMap<String, AppLedger>,
    acknowledged: u64,
    refused: u64,
    unknown: u64,
}

#[derive(Default, Clone)]
struct AppLedger {
    instances: u64,
    versions: Vec<String>,
}

/// One HTTP call with a JSON body: (status, body); status 0 when no answer came in 10 s.
fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    call_within(method, url, body, 10)
}

fn workload(marathons: Vec<String>, seed: u64, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut next_app = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let m = &marathons[rng.below(marathons.len() as u64) as usize];
        let apps: Vec<String> = ledger.lock().unwrap().apps.keys().cloned().collect();
        let (id, req, instances) = if apps.len() < 6 || rng.below(10) == 0 && apps.len() < 10 {
            let id = format!("/chaos/a{next_app}");
            let k = 1 + rng.below(2);
            let body = json!({"id": id, "cmd": "sleep 3600", "cpus": 0.1, "mem": 16, "instances": k,
                              "backoffSeconds": 1, "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}});
            (id, ("POST", format!("http://{m}/v2/apps"), body), Some(k))
        } else {
            let id = apps[rng.below(apps.len() as u64) as usize].clone();
            if rng.below(2) == 0 {
                let k = 1 + rng.below(3);
                (
                    id.clone(),
                    (
                        "PUT",
                        format!("http://{m}/v2/apps{id}?force=true"),
                        json!({"instances": k}),
                    ),
                    Some(k),
                )
            } else {
                let body = json!({"env": {"CHANGE": n.to_string()}});
                (
                    id.clone(),
                    ("PUT", format!("http://{m}/v2/apps{id}?force=true"), body),
                    None,
                )
            }
        };
        let (code, body) = http(req.0, &req.1, Some(&req.2));
        let mut l = ledger.lock().unwrap();
        if (200..300).contains(&code) {
            if req.0 == "POST" {
                next_app += 1;
            }
            l.acknowledged += 1;
            let e = l.apps.entry(id).or_default();
            if let Some(k) = instances {
                e.instances = k;
            }
            if let Some(v) = body["version"].as_str() {
                e.versions.push(v.to_string());
            }
        } else if (400..500).contains(&code) {
            if req.0 == "POST" && code == 409 {
                next_app += 1; // created by an earlier attempt whose answer was lost
            }
            l.refused += 1;
        } else {
            // No answer, or a 5xx: it may or may not have happened.
            l.unknown += 1;
            if req.0 == "POST" {
                next_app += 1;
            }
        }
        drop(l);
        std::thread::sleep(Duration::from_millis(200 + rng.below(500)));
    }
}

/// Seconds since the epoch of a log line that starts with an RFC 3339 UTC timestamp.
fn line_time(line: &str) -> Option<f64> {
    let t = line.get(..26)?;
    let num = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi) = (num(11, 13)?, num(14, 16)?);
    let s: f64 = t.get(17..26)?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86400 + h * 3600 + mi * 60) as f64 + s)
}

/// The terms a process' log shows: (start, end) in Unix seconds. A term starts at `elected`
/// and ends at `ended` lines, at the next start of the process, or at a recorded kill.
fn terms(
    log: &str,
    elected: &str,
    ended: &[&str],
    started: &str,
    kills: &[f64],
    end: f64,
) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut open: Option<f64> = None;
    let mut kills: Vec<f64> = kills.to_vec();
    kills.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for line in log.lines() {
        let Some(t) = line_time(line) else { continue };
        if let Some(s) = open {
            if let Some(k) = kills.iter().find(|k| **k >= s && **k <= t) {
                out.push((s, *k));
                open = None;
            }
        }
        if line.contains(elected) {
            if open.is_none() {
                open = Some(t);
            }
        } else if ended.iter().any(|e| line.contains(e)) || line.contains(started) {
            if let Some(s) = open.take() {
                out.push((s, t));
            }
        }
    }
    if let Some(s) = open {
        let k = kills.iter().find(|k| **k >= s).copied().unwrap_or(end);
        out.push((s, k));
    }
    out
}

/// What ends a fault.
enum Undo {
    Restart(Node),
    Reconnect(Node),
    Unblock(Node),
}

impl Undo {
    fn node(&self) -> &Node {
        match self {
            Undo::Restart(n) | Undo::Reconnect(n) | Undo::Unblock(n) => n,
        }
    }

    /// Undo it; says what was done.
    fn apply(&self, c: &HaDocker) -> String {
        match self {
            Undo::Restart(n) => {
                c.start_again(n);
                format!("restart {}", n.container)
            }
            Undo::Reconnect(n) => {
                c.connect(n);
                format!("reconnect {}", n.container)
            }
            Undo::Unblock(n) => {
                c.unblock(n);
                format!("heal {}", n.container)
            }
        }
    }
}

#[test]
fn chaos_no_accepted_change_lost_no_task_unknown_no_two_leaders() {
    if !common::ha::zookeeper_or_skip() {
        return;
    }
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| (unix_now() * 1e6) as u64 | 1);
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(240);
    eprintln!("chaos: seed {seed} ({secs} s of faults); repeat with CHAOS_SEED={seed}");
    let c = HaDocker::start(4);
    let marathons: Vec<String> = c.of(Kind::Marathon).iter().map(|n| n.addr()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let w = {
        let (stop, ledger, marathons) = (stop.clone(), ledger.clone(), marathons.clone());
        std::thread::spawn(move || workload(marathons, seed, stop, ledger))
    };

    // ----- faults -----
    let mut rng = Rng(seed);
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    let mut kills: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // (due, what to undo)
    let mut pending: Vec<(Instant, Vec<Undo>)> = Vec::new();
    let t0 = Instant::now();
    let mut next_fault = t0 + Duration::from_secs(5);
    while t0.elapsed() < Duration::from_secs(secs) {
        let now = Instant::now();
        pending.retain(|(due, undo)| {
            if *due > now {
                return true;
            }
            for u in undo {
                eprintln!(
                    "chaos: [{:>5.1}s] {}",
                    t0.elapsed().as_secs_f64(),
                    u.apply(&c)
                );
            }
            false
        });
        if now >= next_fault {
            let busy: BTreeSet<String> = pending
                .iter()
                .flat_map(|(_, u)| u.iter().map(|u| u.node().container.clone()))
                .collect();
            let kinds = [Kind::Master, Kind::Marathon, Kind::Agent, Kind::Zk];
            let back = Duration::from_secs_f64(rng.between(3.0, 9.0));
            let partitioned = pending.iter().any(|(_, u)| {
                u.iter()
                    .any(|u| matches!(u, Undo::Unblock(_) | Undo::Reconnect(_)))
            });
            let dice = rng.below(4);
            if dice == 0 && !partitioned {
                // Split the cluster into two random halves that no longer reach each other
                // (each node drops the other half's traffic in its own firewall).
                let mut a = Vec::new();
                let mut b = Vec::new();
                // Nodes being restarted stay out of it (they have no network namespace now).
                for n in c.nodes.iter().filter(|n| !busy.contains(&n.container)) {
                    if rng.below(2) == 0 {
                        a.push(n);
                    } else {
                        b.push(n);
                    }
                }
                if !a.is_empty() && !b.is_empty() {
                    let names = |v: &[&Node]| {
                        v.iter()
                            .map(|n| format!("{:?}-{}", n.kind, n.index).to_lowercase())
                            .collect::<Vec<_>>()
                    };
                    eprintln!(
                        "chaos: [{:>5.1}s] partition into halves {:?} | {:?} for {back:.1?}",
                        t0.elapsed().as_secs_f64(),
                        names(&a),
                        names(&b)
                    );
                    let ok = a.iter().all(|n| c.block(n, &b)) && b.iter().all(|n| c.block(n, &a));
                    assert!(ok, "chaos: iptables through nsenter failed (root, iptables and nsenter are needed)");
                    *faults.entry("partition into halves").or_default() += 1;
                    pending.push((
                        now + back,
                        a.iter()
                            .chain(&b)
                            .map(|n| Undo::Unblock((*n).clone()))
                            .collect(),
                    ));
                }
            } else if dice == 1 && !partitioned {
                // Cut a random half of the nodes off, each on its own.
                let free: Vec<Node> = c
                    .nodes
                    .iter()
                    .filter(|n| !busy.contains(&n.container))
                    .cloned()
                    .collect();
                let mut cut = Vec::new();
                for n in free {
                    if rng.below(2) == 0 && cut.len() < c.nodes.len() / 2 {
                        cut.push(n);
                    }
                }
                if !cut.is_empty() {
                    let names: Vec<&str> = cut.iter().map(|n| n.container.as_str()).collect();
                    eprintln!(
                        "chaos: [{:>5.1}s] partition: cut off {names:?} for {back:.1?}",
                        t0.elapsed().as_secs_f64()
                    );
                    for n in &cut {
                        c.disconnect(n);
                    }
                    *faults.entry("partition: nodes cut off").or_default() += 1;
                    pending.push((now + back, cut.into_iter().map(Undo::Reconnect).collect()));
                }
            } else {
                let kind = kinds[rng.below(kinds.len() as u64) as usize];
                let zk_down = pending.iter().any(|(_, u)| {
                    u.iter()
                        .any(|u| matches!(u, Undo::Restart(n) if n.kind == Kind::Zk))
                });
                let candidates: Vec<Node> = c
                    .of(kind)
                    .into_iter()
                    .filter(|n| !busy.contains(&n.container))
                    .cloned()
                    .collect();
                // At most one ZooKeeper server down by kill at a time (partitions may take more).
                if !candidates.is_empty() && (kind != Kind::Zk || !zk_down) {
                    let n = candidates[rng.below(candidates.len() as u64) as usize].clone();
                    eprintln!(
                        "chaos: [{:>5.1}s] kill -9 {} for {back:.1?}",
                        t0.elapsed().as_secs_f64(),
                        n.container
                    );
                    kills
                        .entry(n.container.clone())
                        .or_default()
                        .push(unix_now());
                    c.kill(&n);
                    *faults
                        .entry(match kind {
                            Kind::Zk => "kill zookeeper",
                            Kind::Master => "kill master",
                            Kind::Marathon => "kill marathon",
                            Kind::Agent => "kill agent",
                            Kind::Jobs => "kill jobs scheduler",
                        })
                        .or_default() += 1;
                    pending.push((now + back, vec![Undo::Restart(n)]));
                }
            }
            next_fault = now + Duration::from_secs_f64(rng.between(3.0, 8.0));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // ----- heal -----
    stop.store(true, Ordering::SeqCst);
    w.join().unwrap();
    for (_, undo) in pending.drain(..) {
        for u in undo {
            u.apply(&c);
        }
    }
    let faults_end = unix_now();
    eprintln!("chaos: faults stopped after {:.0?}; healing", t0.elapsed());
    c.wait(
        Duration::from_secs(180),
        "a leading master with 4 agents and a Marathon leader",
        |c| {
            c.leading_master()
                .is_some_and(|m| c.connected_agents(&m) == 4)
                && c.marathon_leader().is_some()
        },
    );
    let marathon = c.marathon_leader().unwrap();
    let mut violations: Vec<String> = Vec::new();
    let l = ledger.lock().unwrap();
    let expected: BTreeMap<String, AppLedger> = l.apps.clone();
    let (acknowledged, refused, unknown) = (l.acknowledged, l.refused, l.unknown);
    drop(l);
    // Every acknowledged app and version is there.
    for (id, a) in &expected {
        let (code, v) = http(
            "GET",
            &format!("http://{marathon}/v2/apps{id}/versions"),
            None,
        );
        if code != 200 {
            violations.push(format!("app {id} was created (2xx) but is gone ({code})"));
            continue;
        }
        let have: BTreeSet<&str> = v["versions"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        for ver in &a.versions {
            if !have.contains(ver.as_str()) {
                violations.push(format!(
                    "app {id}: version {ver} was acknowledged but is gone"
                ));
            }
        }
    }
    // Settle outcomes that were unknown: one last acknowledged change per app.
    for (id, a) in &expected {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, body) = http(
                "PUT",
                &format!("http://{marathon}/v2/apps{id}?force=true"),
                Some(&json!({"instances": a.instances})),
            );
            if (200..300).contains(&code) {
                break;
            }
            if Instant::now() > deadline {
                violations.push(format!(
                    "app {id}: a forced PUT of instances {} was not accepted for 60 s after healing (last: {code} {body})",
                    a.instances
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    // Converge: every app at its count, no deployment.
    let converged = |_: &HaDocker| {
        let Some(apps) = get_json(&format!("http://{marathon}/v2/apps")) else {
            return false;
        };
        let deps = get_json(&format!("http://{marathon}/v2/deployments"))
            .and_then(|d| d.as_array().map(|a| a.len()))
            .unwrap_or(1);
        deps == 0
            && expected.iter().all(|(id, a)| {
                apps["apps"].as_array().is_some_and(|list| {
                    list.iter().any(|x| {
                        x["id"] == id.as_str()
                            && x["tasksRunning"] == a.instances
                            && x["instances"] == a.instances
                    })
                })
            })
    };
    let t_conv = Instant::now();
    while t_conv.elapsed() < Duration::from_secs(240) && !converged(&c) {
        std::thread::sleep(Duration::from_millis(500));
    }
    if !converged(&c) {
        let apps = get_json(&format!("http://{marathon}/v2/apps")).unwrap_or_default();
        for (id, a) in &expected {
            let got = apps["apps"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["id"] == id.as_str()).cloned())
                .unwrap_or_default();
            if got["tasksRunning"] != a.instances {
                violations.push(format!(
                    "app {id} did not converge: want {}, runs {} (instances {}, version {}, asked {marathon})",
                    a.instances, got["tasksRunning"], got["instances"], got["version"]
                ));
            }
        }
        let deps = get_json(&format!("http://{marathon}/v2/deployments")).unwrap_or_default();
        if deps.as_array().is_none_or(|a| !a.is_empty()) {
            violations.push(format!("deployments left: {deps}"));
        }
    }
    // Marathon's running tasks and the agents' are the same set (checked until they agree, or
    // for two minutes: updates in flight settle, and a task Marathon lost track of — launched
    // by a leader that died before storing it — is found by its reconciliation 15 s and 60 s
    // after it subscribed, and killed).
    let fw = get_json(&format!("http://{marathon}/v2/info")).unwrap_or_default()["frameworkId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut diff = (BTreeSet::new(), BTreeSet::new());
    let t_cmp = Instant::now();
    while t_cmp.elapsed() < Duration::from_secs(120) {
        let known: BTreeSet<String> = get_json(&format!("http://{marathon}/v2/tasks"))
            .and_then(|v| {
                v["tasks"].as_array().map(|a| {
                    a.iter()
                        .filter(|t| t["state"] == "TASK_RUNNING")
                        .filter_map(|t| t["id"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default();
        let mut on_agents = BTreeSet::new();
        for a in c.of(Kind::Agent) {
            let st = get_json(&format!("http://{}/state", a.addr())).unwrap_or_default();
            for f in st["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["id"] == fw.as_str())
            {
                for e in f["executors"].as_array().into_iter().flatten() {
                    for t in e["tasks"].as_array().into_iter().flatten() {
                        if t["state"] == "TASK_RUNNING" {
                            on_agents.insert(t["id"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        }
        diff = (
            on_agents.difference(&known).cloned().collect(),
            known.difference(&on_agents).cloned().collect(),
        );
        if diff.0.is_empty() && diff.1.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for t in &diff.0 {
        violations.push(format!(
            "task {t} runs on an agent but Marathon does not know it"
        ));
    }
    for t in &diff.1 {
        violations.push(format!(
            "Marathon believes task {t} runs, but no agent runs it (an update was lost)"
        ));
    }
    // No two leaders at once.
    let end = unix_now();
    for (kind, elected, ended, started) in [
        (
            Kind::Master,
            "elected leading master",
            &["suspended (no offers", "no longer the leading master"][..],
            "master listening on",
        ),
        (
            Kind::Marathon,
            "marathon: elected leader",
            &[
                "not deciding until it is back",
                "marathon: no longer the leader",
            ][..],
            "marathon: http://",
        ),
    ] {
        let mut all: Vec<(f64, f64, String)> = Vec::new();
        for n in c.of(kind) {
            let log = c.log_of(n);
            let k = kills.get(&n.container).cloned().unwrap_or_default();
            for (s, e) in terms(&log, elected, ended, started, &k, end) {
                all.push((s, e, n.container.clone()));
            }
        }
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        for w in all.windows(2) {
            if w[1].0 < w[0].1 && w[0].2 != w[1].2 {
                violations.push(format!(
                    "two {kind:?} leaders at once: {} led {:.3}..{:.3}, {} from {:.3}",
                    w[0].2, w[0].0, w[0].1, w[1].2, w[1].0
                ));
            }
        }
        eprintln!("chaos: {} {kind:?} terms", all.len());
    }
    eprintln!("chaos: seed {seed}");
    eprintln!("chaos: faults: {faults:?}");
    eprintln!(
        "chaos: changes acknowledged {acknowledged}, refused {refused}, unknown outcome {unknown}; {} apps; converged {:.1?} after the faults stopped",
        expected.len(),
        Duration::from_secs_f64(unix_now() - faults_end)
    );
    eprintln!("chaos: violations: {}", violations.len());
    for v in &violations {
        eprintln!("chaos: VIOLATION {v}");
    }
    if !violations.is_empty() {
        // The logs first, so the reason is the last thing said (a long run's output is often
        // read from its end).
        eprintln!("{}", c.logs(200));
    }
    assert!(
        violations.is_empty(),
        "{} invariant violations (seed {seed}): {violations:#?}",
        violations.len(),
    );
    assert!(
        acknowledged > 10,
        "the workload made progress: {acknowledged} changes acknowledged"
    );
    assert!(
        faults.values().sum::<u32>() > 5,
        "faults were injected: {faults:?}"
    );
}
