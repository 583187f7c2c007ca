//! A multi-host cluster in Docker: a master, Marathon and three agents, each its own container
//! with its own address on a private network (see common/dockercluster.rs). Placement over
//! hostnames and attributes, a network partition of an agent, an agent killed and restarted
//! (alone, and with its whole machine), and a rolling reboot of every agent under an app.
//!
//! They need a Docker Engine on this machine and fail, loudly, without one.

mod common;
use common::dockercluster::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn ids(ts: &[Value]) -> BTreeSet<String> {
    ts.iter()
        .filter_map(|t| t["id"].as_str().map(String::from))
        .collect()
}

fn terminal(state: Option<&str>) -> bool {
    matches!(
        state,
        Some(
            "TASK_FINISHED"
                | "TASK_FAILED"
                | "TASK_KILLED"
                | "TASK_LOST"
                | "TASK_ERROR"
                | "TASK_DROPPED"
                | "TASK_GONE"
                | "TASK_GONE_BY_OPERATOR"
        )
    )
}

/// Exactly `n` instances run, and the master believes in exactly those (no duplicate, no orphan).
fn settled(c: &DockerCluster, app: &str, n: usize) -> bool {
    let run = c.running_tasks(app);
    run.len() == n
        && c.app_tasks(app).map(|t| t.len()) == Some(n)
        && c.deployments() == 0
        && c.master_live_tasks() == ids(&run)
}

#[test]
fn placement_unique_over_hostname_and_group_by_zone() {
    let t0 = Instant::now();
    let c = DockerCluster::start(Options::default());
    // Every agent is its own host: its container address, its hostname, its attributes.
    let slaves = c.slaves();
    for a in &c.agents {
        let s = slaves
            .iter()
            .find(|s| s["hostname"] == a.hostname.as_str())
            .unwrap_or_else(|| panic!("{} not registered: {slaves:?}", a.hostname));
        assert_eq!(
            s["pid"].as_str().unwrap(),
            format!("slave(1)@{}", a.addr()),
            "agent advertises its container address"
        );
        assert_eq!(s["attributes"]["rack"], a.rack.as_str());
        assert_eq!(s["attributes"]["zone"], a.zone.as_str());
    }
    let base = json!({"cmd": "sleep 3600", "cpus": 0.05, "mem": 16});
    let app = |id: &str, n: u32, constraints: Value| {
        let mut a = base.clone();
        a["id"] = json!(id);
        a["instances"] = json!(n);
        a["constraints"] = constraints;
        a
    };
    c.add_app(&app("/unique", 3, json!([["hostname", "UNIQUE"]])));
    c.add_app(&app("/zoned", 6, json!([["zone", "GROUP_BY", "2"]])));
    c.wait(Duration::from_secs(60), "3 + 6 running", |c| {
        c.running_tasks("/unique").len() == 3 && c.running_tasks("/zoned").len() == 6
    });
    let hosts: BTreeSet<String> = c
        .running_tasks("/unique")
        .iter()
        .map(|t| t["host"].as_str().unwrap().to_string())
        .collect();
    let all: BTreeSet<String> = c.agents.iter().map(|a| a.hostname.clone()).collect();
    assert_eq!(hosts, all, "one /unique instance on each host");
    let mut zones: BTreeMap<String, usize> = BTreeMap::new();
    for t in c.running_tasks("/zoned") {
        *zones
            .entry(c.agents[c.agent_of(&t)].zone.clone())
            .or_default() += 1;
    }
    assert_eq!(
        zones,
        BTreeMap::from([("z0".to_string(), 3), ("z1".to_string(), 3)]),
        "/zoned even over the zones (z0 has two agents, z1 one)"
    );
    // Marathon's idea of where a task runs is the master's.
    let by_id: BTreeMap<String, String> = c
        .slaves()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for t in c
        .running_tasks("/unique")
        .iter()
        .chain(c.running_tasks("/zoned").iter())
    {
        assert_eq!(
            by_id
                .get(t["slaveId"].as_str().unwrap())
                .map(String::as_str),
            t["host"].as_str(),
            "{t}"
        );
    }
    // Asked for 6 on 3 hosts, UNIQUE still holds: 3 run, 3 wait and /v2/queue says why.
    let (code, body) = call(
        "PUT",
        &format!("http://{}/v2/apps/unique", c.marathon),
        Some(&json!({"instances": 6})),
    );
    assert_eq!(code, 200, "{body}");
    c.wait(
        Duration::from_secs(30),
        "/unique queued for its constraint",
        |c| {
            let q = call("GET", &format!("http://{}/v2/queue", c.marathon), None).1;
            q["queue"].as_array().into_iter().flatten().any(|i| {
                i["app"]["id"] == "/unique"
                    && i["count"] == 3
                    && i["processedOffersSummary"]["rejectSummaryLastOffers"]
                        .to_string()
                        .contains("UnfulfilledConstraint")
            })
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let run = c.running_tasks("/unique");
    let hosts: BTreeSet<&str> = run.iter().map(|t| t["host"].as_str().unwrap()).collect();
    assert_eq!(
        (run.len(), hosts.len()),
        (3, 3),
        "still one per host: {run:?}"
    );
    eprintln!("multihost placement: {:.1?}", t0.elapsed());
}

#[test]
fn partitioned_agent_is_replaced_and_leaves_no_duplicate_when_it_returns() {
    let t0 = Instant::now();
    let c = DockerCluster::start(Options::default());
    const CMD: &str = "sleep 3601";
    // At most 3 per host: the partitioned agent holds some, the others have room for them.
    c.add_app(&json!({"id": "/part", "cmd": CMD, "instances": 6, "cpus": 0.05, "mem": 16, "constraints": [["hostname", "MAX_PER", "3"]]}));
    c.wait(Duration::from_secs(60), "6 running", |c| {
        settled(c, "/part", 6)
    });
    let before = c.running_tasks("/part");
    let victim = (0..c.agents.len())
        .max_by_key(|i| before.iter().filter(|t| c.agent_of(t) == *i).count())
        .unwrap();
    let cut: BTreeSet<String> = ids(&before
        .iter()
        .filter(|t| c.agent_of(t) == victim)
        .cloned()
        .collect::<Vec<_>>());
    let victim_id = c.agent_id(victim);
    assert_eq!(c.processes(victim, CMD), cut.len());
    eprintln!(
        "partition: cutting {} off with {} of 6 tasks",
        c.agents[victim].hostname,
        cut.len()
    );

    let t_cut = Instant::now();
    c.disconnect(victim);
    // Marathon is partition-aware: its tasks there become TASK_UNREACHABLE (LOST would do too).
    let budget = Duration::from_secs_f64(c.opts.agent_timeout + 10.0);
    c.wait(
        budget,
        "the partitioned agent's tasks reported unreachable",
        |c| {
            cut.iter().all(|t| {
                matches!(
                    c.master_task_state(t).as_deref(),
                    Some("TASK_UNREACHABLE" | "TASK_LOST")
                )
            })
        },
    );
    let unreachable_after = t_cut.elapsed();
    c.wait(
        Duration::from_secs(60),
        "replaced on the other agents",
        |c| {
            let run = c.running_tasks("/part");
            run.len() == 6
                && run
                    .iter()
                    .all(|t| c.agent_of(t) != victim && !cut.contains(t["id"].as_str().unwrap()))
        },
    );
    let replaced_after = t_cut.elapsed();
    // A partition, not a death: the cut-off tasks still run on their machine.
    assert_eq!(
        c.processes(victim, CMD),
        cut.len(),
        "tasks behind the partition keep running"
    );

    let t_join = Instant::now();
    c.connect(victim);
    c.wait(Duration::from_secs(60), "the agent back with its id", |c| {
        c.agent_record(victim) == Some((victim_id.clone(), true))
    });
    let back_after = t_join.elapsed();
    // Its old tasks came back and were killed: 6 run, per Marathon, per the master and per ps.
    c.wait(
        Duration::from_secs(60),
        "exactly 6 instances, no duplicate",
        |c| {
            settled(c, "/part", 6)
                && (0..c.agents.len())
                    .map(|i| c.processes(i, CMD))
                    .sum::<usize>()
                    == 6
                && cut
                    .iter()
                    .all(|t| terminal(c.master_task_state(t).as_deref()))
        },
    );
    let clean_after = t_join.elapsed();
    assert_eq!(c.processes(victim, CMD), 0);
    // And it stays that way.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        settled(&c, "/part", 6),
        "6 instances after the dust settled"
    );
    let states: Vec<String> = cut
        .iter()
        .map(|t| c.master_task_state(t).unwrap_or_default())
        .collect();
    eprintln!(
        "multihost partition: unreachable after {unreachable_after:.1?}, replaced after {replaced_after:.1?}; reconnected agent back after {back_after:.1?}, \
         duplicates gone after {clean_after:.1?} (old tasks: {states:?}); total {:.1?}",
        t0.elapsed()
    );
}

#[test]
fn restarted_agent_keeps_its_id_and_reports_what_ended_while_it_was_down() {
    let t0 = Instant::now();
    let c = DockerCluster::start(Options::default());
    // Two instances per agent, each running until its stop file appears.
    let cmd = "while [ ! -e /tmp/stop-$MESOS_TASK_ID ]; do sleep 0.2; done";
    let ps_args = format!("/bin/sh -c {cmd}");
    c.add_app(&json!({"id": "/keep", "cmd": cmd, "instances": 6, "cpus": 0.05, "mem": 16, "constraints": [["hostname", "MAX_PER", "2"]]}));
    c.wait(Duration::from_secs(60), "6 running", |c| {
        settled(c, "/keep", 6)
    });

    // A: kill -9 of the agent process alone. Its tasks live on; one ends while it is down.
    let id0 = c.agent_id(0);
    let on0: Vec<String> = c
        .running_tasks("/keep")
        .iter()
        .filter(|t| c.agent_of(t) == 0)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(on0.len(), 2, "MAX_PER 2 over 3 agents");
    let (done, kept) = (on0[0].clone(), on0[1].clone());
    let ta = Instant::now();
    c.hold(0, true);
    c.kill9_agent_process(0);
    c.wait(Duration::from_secs(10), "agent process gone", |c| {
        !c.agent_process_running(0)
    });
    let (code, out) = c.exec(0, &format!("touch /tmp/stop-{done}"));
    assert_eq!(code, 0, "{out}");
    c.wait(
        Duration::from_secs(10),
        "the task ended while its agent is down",
        |c| c.processes(0, &ps_args) == 1,
    );
    c.hold(0, false);
    let down_for = ta.elapsed();
    c.wait(
        Duration::from_secs(30),
        "agent 0 re-registered with its id",
        |c| c.agent_record(0) == Some((id0.clone(), true)),
    );
    let back_after = ta.elapsed();
    c.wait(
        Duration::from_secs(30),
        "the end of the task is reported",
        |c| terminal(c.master_task_state(&done).as_deref()),
    );
    let done_state = c.master_task_state(&done).unwrap();
    c.wait(Duration::from_secs(60), "it is replaced", |c| {
        settled(c, "/keep", 6) && !ids(&c.running_tasks("/keep")).contains(&done)
    });
    let replaced_after = ta.elapsed();
    // The other one was re-adopted: same task, still running, never replaced.
    assert!(
        ids(&c.running_tasks("/keep")).contains(&kept),
        "the surviving task {kept} is still Marathon's"
    );
    assert_eq!(c.master_task_state(&kept).as_deref(), Some("TASK_RUNNING"));
    assert_eq!(
        c.processes(0, &ps_args),
        2,
        "the re-adopted task and the replacement"
    );
    eprintln!(
        "multihost agent kill -9: down {down_for:.1?}, re-registered after {back_after:.1?}, ended task reported {done_state}, replaced after {replaced_after:.1?}"
    );

    // B: docker kill: the whole machine dies with its tasks; docker start boots it again.
    let id1 = c.agent_id(1);
    let on1: BTreeSet<String> = c
        .running_tasks("/keep")
        .iter()
        .filter(|t| c.agent_of(t) == 1)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(on1.len(), 2);
    let tb = Instant::now();
    c.kill(1);
    c.start_again(1);
    c.wait(
        Duration::from_secs(60),
        "agent 1 re-registered with its id",
        |c| c.agent_record(1) == Some((id1.clone(), true)),
    );
    let back1 = tb.elapsed();
    c.wait(Duration::from_secs(60), "its dead tasks reported", |c| {
        on1.iter()
            .all(|t| terminal(c.master_task_state(t).as_deref()))
    });
    let states: Vec<String> = on1
        .iter()
        .map(|t| c.master_task_state(t).unwrap_or_default())
        .collect();
    c.wait(
        Duration::from_secs(60),
        "6 running again, nothing stale",
        |c| {
            settled(c, "/keep", 6)
                && ids(&c.running_tasks("/keep")).is_disjoint(&on1)
                && (0..3).map(|i| c.processes(i, &ps_args)).sum::<usize>() == 6
        },
    );
    eprintln!(
        "multihost docker kill/start: re-registered after {back1:.1?}, dead tasks {states:?}, 6 running after {:.1?}; total {:.1?}",
        tb.elapsed(),
        t0.elapsed()
    );
}

#[test]
fn rolling_restart_of_every_agent_keeps_half_the_app_running() {
    let t0 = Instant::now();
    let c = DockerCluster::start(Options::default());
    const CMD: &str = "sleep 3602";
    c.add_app(&json!({
        "id": "/steady", "cmd": CMD, "instances": 6, "cpus": 0.05, "mem": 16,
        "constraints": [["hostname", "MAX_PER", "2"]],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0},
    }));
    c.wait(Duration::from_secs(60), "6 running", |c| {
        settled(c, "/steady", 6)
    });
    // Tasks on a stopped machine are dead from the moment it stops, whatever Marathon still
    // believes: the sampler never counts them.
    let dead: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let done = AtomicBool::new(false);
    let samples: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let mut rounds = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if let Some(ts) = c.app_tasks("/steady") {
                    let dead = dead.lock().unwrap().clone();
                    let n = ts
                        .iter()
                        .filter(|t| {
                            t["state"] == "TASK_RUNNING"
                                && !dead.contains(t["id"].as_str().unwrap_or_default())
                        })
                        .count();
                    samples.lock().unwrap().push(n);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for i in 0..c.agents.len() {
                let id = c.agent_id(i);
                let here: Vec<String> = c
                    .running_tasks("/steady")
                    .iter()
                    .filter(|t| c.agent_of(t) == i)
                    .map(|t| t["id"].as_str().unwrap().to_string())
                    .collect();
                dead.lock().unwrap().extend(here.iter().cloned());
                let t = Instant::now();
                c.stop(i, 2);
                let stopped = t.elapsed();
                // Down for longer than the agent timeout, as a real reboot: the master gives up
                // on it and its tasks are reported unreachable before it is back.
                let budget = Duration::from_secs_f64(c.opts.agent_timeout + 10.0);
                c.wait(budget, "its tasks reported unreachable", |c| {
                    here.iter().all(|t| {
                        matches!(
                            c.master_task_state(t).as_deref(),
                            Some("TASK_UNREACHABLE" | "TASK_LOST")
                        )
                    })
                });
                let unreachable = t.elapsed();
                c.start_again(i);
                c.wait(Duration::from_secs(60), "re-registered with its id", |c| {
                    c.agent_record(i) == Some((id.clone(), true))
                });
                let back = t.elapsed();
                let dead_now = dead.lock().unwrap().clone();
                c.wait(Duration::from_secs(60), "6 running again", |c| {
                    settled(c, "/steady", 6)
                        && ids(&c.running_tasks("/steady")).is_disjoint(&dead_now)
                });
                let states: BTreeSet<String> = here
                    .iter()
                    .map(|t| c.master_task_state(t).unwrap_or_default())
                    .collect();
                rounds.push(format!(
                    "{}: {} tasks, stopped in {stopped:.1?}, unreachable after {unreachable:.1?}, back after {back:.1?}, old tasks {states:?}, 6 running after {:.1?}",
                    c.agents[i].hostname,
                    here.len(),
                    t.elapsed()
                ));
            }
        }));
        done.store(true, Ordering::SeqCst);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    });
    let samples = samples.into_inner().unwrap();
    let min = samples.iter().copied().min().unwrap_or(0);
    assert!(
        samples.len() > 20,
        "sampled throughout ({} samples)",
        samples.len()
    );
    assert!(
        min >= 3,
        "running instances fell to {min} of 6 (< minimumHealthCapacity 0.5)"
    );
    assert_eq!(
        (0..3).map(|i| c.processes(i, CMD)).sum::<usize>(),
        6,
        "6 task processes in the machines"
    );
    eprintln!(
        "multihost rolling restart: {}; min running {min}/6 over {} samples; total {:.1?}",
        rounds.join("; "),
        samples.len(),
        t0.elapsed()
    );
    // The agents came back knowing their tasks died with the machine and said so: the master
    // must not keep them as unreachable (reconciliation would answer TASK_UNREACHABLE for a dead
    // task on a connected agent).
    let dead = dead.into_inner().unwrap();
    let stale = || {
        dead.iter()
            .filter(|t| !terminal(c.master_task_state(t).as_deref()))
            .map(|t| format!("{t}: {:?}", c.master_task_state(t)))
            .collect::<Vec<_>>()
    };
    let t_end = Instant::now();
    while !stale().is_empty() && t_end.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        stale().is_empty(),
        "tasks that died with their rebooted agent are not terminal on the master: {:?}",
        stale()
    );
}
