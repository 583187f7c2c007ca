//! High availability on a real ZooKeeper ensemble: three `drover master --zk` processes elect
//! one leader; the others redirect; Mesos-aware clients (kazoo, pymesos) find the leader through
//! the `json.info_` nodes; agents follow it through `zk://`; and when the leader is killed with
//! SIGKILL a standby takes over, the agents re-register with their running tasks, and the
//! pymesos scheduler re-subscribes with its id and keeps working.

mod common;
use common::ha::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn members(c: &HaCluster) -> Value {
    let py = pyclients();
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/zk_members.py"))
        .arg(c.zk.servers())
        .arg("/mesos")
        .output()
        .expect("run kazoo");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kazoo said ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `curl` without following redirects: (status, Location).
fn head(url: &str, method: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-X", method, "--max-time", "10"])
        .args(["-w", "%{http_code} %header{location}", url])
        .output()
        .expect("curl");
    let s = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, loc) = s.split_once(' ').unwrap_or((&s, ""));
    (code.parse().unwrap_or(0), loc.trim().to_string())
}

#[test]
fn three_masters_elect_one_leader_that_clients_find_through_zookeeper() {
    if !zookeeper_or_skip() {
        return;
    }
    let c = HaCluster::start(3, 3, 1);
    let l = c.wait_leader(Duration::from_secs(30));
    let leader = c.addr(l);
    c.wait_agents(1, Duration::from_secs(30));
    // The znodes, as kazoo (pymesos' and the Mesos CLI's client) reads them.
    let m = members(&c);
    let names: Vec<&str> = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    let json_info: Vec<&&str> = names
        .iter()
        .filter(|n| n.starts_with("json.info_"))
        .collect();
    assert_eq!(json_info.len(), 3, "one member per master: {m:#}");
    for n in &names {
        assert!(
            (n.starts_with("json.info_") && n.len() == 20) || *n == "log_replicas",
            "nothing else under the path: {m:#}"
        );
    }
    let choice = m["pymesos_choice"].as_str().unwrap();
    let info = m["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == choice)
        .unwrap()["data"]
        .clone();
    let (ip, port) = leader.split_once(':').unwrap();
    assert_eq!(info["address"]["ip"], ip, "{info:#}");
    assert_eq!(info["address"]["port"].to_string(), port, "{info:#}");
    assert_eq!(info["pid"], format!("master@{leader}"));
    assert!(info["id"].is_string() && info["hostname"].is_string() && info["version"].is_string());
    // `ip`: the IPv4 address packed in network byte order, read as a uint32 (127.0.0.1 -> 16777343).
    assert_eq!(info["ip"], 16777343, "{info:#}");
    assert_eq!(info["capabilities"][0]["type"], "AGENT_UPDATE");
    // Followers redirect API calls to the leader and answer health themselves.
    for i in (0..3).filter(|&i| i != l) {
        let f = c.addr(i);
        assert_eq!(
            head(&format!("http://{f}/master/state?x=1"), "GET"),
            (307, format!("//{leader}/master/state?x=1"))
        );
        assert_eq!(
            head(&format!("http://{f}/api/v1/scheduler"), "POST"),
            (307, format!("//{leader}/api/v1/scheduler"))
        );
        assert_eq!(
            head(&format!("http://{f}/master/redirect"), "GET"),
            (307, format!("//{leader}"))
        );
        assert_eq!(head(&format!("http://{f}/health"), "GET").0, 200);
    }
    // The leader says it leads.
    let state = get_json(&format!("http://{leader}/master/state")).unwrap();
    assert_eq!(state["leader"], format!("master@{leader}"));
    assert_eq!(state["leader_info"]["address"]["ip"], ip);
    assert_eq!(
        state["flags"]["zk"].as_str().map(|z| z.ends_with("/mesos")),
        Some(true)
    );
    // Drover's CLI given zk:// asks the leader.
    let agents = get_json(&format!("http://{leader}/master/slaves")).unwrap();
    let agent_id = agents["slaves"][0]["id"].as_str().unwrap().to_string();
    let out = std::process::Command::new(drover_bin())
        .args(["node", "list", "--json"])
        .env("DROVER_MASTER", c.mesos_url())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&agent_id),
        "drover node list: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `drover master list` shows every master, the leader first.
    let out = std::process::Command::new(drover_bin())
        .args(["master", "list", "--json", "--master", &c.mesos_url()])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0]["address"], leader.as_str());
    assert_eq!(list[0]["leading"], true);
    assert!(list[1..].iter().all(|m| m["leading"] == false));
    let out = std::process::Command::new(drover_bin())
        .args(["master", "list", "--master", &c.mesos_url()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("standby").count(), 2, "{text}");
    assert!(text.contains("leading") && text.contains(&leader), "{text}");
    // The Apache Mesos CLI with [master.zookeeper].
    let py = pyclients();
    let cfg = c.dir.path().join("mesos-cli.toml");
    let addresses: Vec<String> =
        c.zk.servers()
            .split(',')
            .map(|s| format!("\"{s}\""))
            .collect();
    std::fs::write(
        &cfg,
        format!(
            "[master.zookeeper]\naddresses = [{}]\npath = \"/mesos\"\n",
            addresses.join(", ")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(py.join("mesoscli/bin/mesos"))
        .args(["agent", "list"])
        .env("MESOS_CLI_CONFIG", &cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&agent_id),
        "mesos agent list: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_killed_leader_is_replaced_and_agents_tasks_and_pymesos_carry_on() {
    if !zookeeper_or_skip() {
        return;
    }
    let py = pyclients();
    let mut c = HaCluster::start(1, 3, 2);
    let l = c.wait_leader(Duration::from_secs(30));
    c.wait_agents(2, Duration::from_secs(30));
    let signal = c.dir.path().join("leader-killed");
    let mut sched = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/pymesos_failover.py"))
        .arg(c.mesos_url())
        .arg(&signal)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(c.dir.path().join("pymesos.log")).unwrap())
        .spawn()
        .expect("pymesos");
    let mut out = std::io::BufReader::new(sched.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead;
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "RUNNING",
        "the long task runs first\n{}",
        c.logs()
    );
    let killed_at = std::time::Instant::now();
    c.kill_master(l);
    std::fs::write(&signal, "").unwrap();
    let next = c.wait_leader(Duration::from_secs(30));
    assert_ne!(next, l);
    eprintln!("new leader serving after {:?}", killed_at.elapsed());
    c.wait_agents(2, Duration::from_secs(30));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let _ = sched.wait();
    let r: Value = serde_json::from_str(rest.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("pymesos output not JSON ({e}): {rest}\n{}", c.logs()));
    assert_eq!(r["completed"], true, "{r:#}\n{}", c.logs());
    // Re-registered (not registered anew) with the new leader, which reconciled the long task
    // as running: it kept running through the failover.
    let masters = r["masters"].as_array().unwrap();
    assert_eq!(masters[0][0], "registered");
    assert!(masters.iter().any(|m| m[0] == "reregistered"), "{r:#}");
    assert!(
        r["reconciled"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x[0] == "long" && x[1] == "TASK_RUNNING"),
        "{r:#}"
    );
    assert_eq!(
        r["updates"]["after"].as_array().unwrap().last().unwrap(),
        "TASK_FINISHED",
        "{r:#}"
    );
    assert_eq!(
        r["updates"]["long"].as_array().unwrap().last().unwrap(),
        "TASK_KILLED",
        "{r:#}"
    );
    let long_states = r["updates"]["long"].as_array().unwrap();
    assert!(
        !long_states
            .iter()
            .any(|s| s == "TASK_LOST" || s == "TASK_FAILED"),
        "the long task was never lost: {r:#}"
    );
}

/// Losing ZooKeeper: the leading master suspends itself (reads served, calls that need the
/// leader refused with 503 and the reason), never exits, kills nothing, and leads again when
/// ZooKeeper is back; its framework and agent come back to it with their task still running.
#[test]
fn losing_zookeeper_suspends_the_leader_and_kills_nothing() {
    if !zookeeper_or_skip() {
        return;
    }
    let py = pyclients();
    let mut c = HaCluster::start(1, 1, 1);
    c.wait_leader(Duration::from_secs(30));
    c.wait_agents(1, Duration::from_secs(30));
    let master = c.addr(0);
    let mut holder = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/pymesos_hold.py"))
        .args([&c.mesos_url(), "1", "held", "3600"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(c.dir.path().join("holder.log")).unwrap())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    loop {
        let l = lines
            .next()
            .and_then(|l| l.ok())
            .unwrap_or_else(|| panic!("holder ended\n{}", c.logs()));
        if l.contains("RUNNING 1") {
            break;
        }
    }
    let task_running = |addr: &str| {
        get_json(&format!("http://{addr}/master/tasks"))
            .map(|v| {
                v["tasks"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .any(|t| t["id"] == "held-0" && t["state"] == "TASK_RUNNING")
                    })
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    };
    assert!(task_running(&master));
    let subscribe = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "probe"}}});
    c.zk.kill(0);
    // Suspended: reads answered, scheduler calls refused with the reason.
    wait_for(Duration::from_secs(30), || {
        call(
            "POST",
            &format!("http://{master}/api/v1/scheduler"),
            Some(&subscribe),
        )
        .0 == 503
    });
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            &subscribe.to_string(),
        ])
        .arg(format!("http://{master}/api/v1/scheduler"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ZooKeeper"),
        "the 503 says why"
    );
    assert!(
        task_running(&master),
        "a suspended master still serves what it knows"
    );
    // Long enough for the session to be gone.
    std::thread::sleep(Duration::from_secs(4));
    c.zk.restart(0).unwrap();
    c.zk.wait_serving(Duration::from_secs(60)).unwrap();
    let m = c.masters[0].as_mut().unwrap();
    assert!(
        m.0.child.try_wait().unwrap().is_none(),
        "the master never exits"
    );
    c.wait_leader(Duration::from_secs(60));
    // The agent and the framework came back; the task ran through it all.
    wait_for(Duration::from_secs(60), || task_running(&master));
    let agent_tasks = get_json(&format!("http://127.0.0.1:{}/state", c.agents[0].1)).unwrap();
    let on_agent = agent_tasks.to_string();
    assert!(on_agent.contains("held-0"), "{on_agent}");
    assert!(
        !on_agent.contains("TASK_KILLED") && !on_agent.contains("TASK_LOST"),
        "{on_agent}"
    );
    drop(holder.stdin.take());
    let _ = holder.wait();
}

/// An offer made by a leader that then died cannot be accepted through the next leader: the
/// task is dropped as `Offer … is no longer valid` and never runs.
#[test]
fn an_offer_of_a_dead_leader_cannot_be_accepted_by_the_next() {
    use common::sched::*;
    use drover_api::scheduler::EventType;
    use drover_bench::client::SchedulerClient;
    if !zookeeper_or_skip() {
        return;
    }
    let mut c = HaCluster::start(1, 2, 1);
    let l = c.wait_leader(Duration::from_secs(30));
    c.wait_agents(1, Duration::from_secs(30));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (offer, agent, fid) = rt.block_on(async {
        let mut s = SchedulerClient::subscribe(&c.addr(l), framework("stale", 3600.0, true))
            .await
            .unwrap();
        loop {
            let ev = s
                .next_event(Duration::from_secs(30))
                .await
                .expect("an offer");
            if ev.kind == EventType::OFFERS {
                let o = ev.offers.unwrap().offers.remove(0);
                return (o.id, o.agent_id, s.framework_id.clone());
            }
        }
    });
    c.kill_master(l);
    let next = c.wait_leader(Duration::from_secs(30));
    c.wait_agents(1, Duration::from_secs(30));
    let st = rt.block_on(async {
        let mut info = framework("stale", 3600.0, true);
        info.id = Some(fid);
        let mut s = SchedulerClient::subscribe(&c.addr(next), info)
            .await
            .unwrap();
        let task = command_task("stale", &agent, "sleep 600");
        let (code, body) = s.call(accept_call(&offer, vec![task])).await.unwrap();
        assert_eq!(code.as_u16(), 202, "{body}");
        wait_update(&mut s, Duration::from_secs(30), true, |st| {
            st.task_id.value == "stale"
        })
        .await
    });
    assert_eq!(st.state, drover_api::TaskState::TASK_DROPPED, "{st:?}");
    assert_eq!(st.reason, Some(drover_api::Reason::REASON_INVALID_OFFERS));
    let on_agent = get_json(&format!("http://127.0.0.1:{}/state", c.agents[0].1)).unwrap();
    assert!(
        !on_agent.to_string().contains("\"stale\""),
        "it never ran: {on_agent}"
    );
}
