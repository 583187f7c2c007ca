//! Several Marathons on a real ZooKeeper: one leads (a Curator-compatible latch at
//! `/marathon/leader-curator`), the others proxy API calls to it and redirect `/v2/events`;
//! `/v2/leader` names it and `DELETE /v2/leader` makes it step down. When the leader is killed
//! in the middle of a deployment, the next one resumes the deployment from ZooKeeper, keeps every
//! app version, and touches no running task; marathon-python given every URL carries on.

mod common;
use common::cluster::start_agent;
use common::ha::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// curl: (status, headers, body).
fn req(method: &str, url: &str, headers: &[&str], body: Option<&Value>) -> (u16, String, Value) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-D", "-", "-X", method, "--max-time", "20", url]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        head.to_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn leader_of(addr: &str) -> Option<String> {
    get_json(&format!("http://{addr}/v2/leader"))?["leader"]
        .as_str()
        .map(String::from)
}

#[test]
fn marathons_elect_a_leader_proxy_to_it_and_survive_its_death_mid_deployment() {
    if !zookeeper_or_skip() {
        return;
    }
    let py = pyclients();
    let mut c = HaCluster::start(1, 2, 2);
    c.wait_leader(Duration::from_secs(30));
    c.wait_agents(2, Duration::from_secs(30));
    let mut ms = vec![Some(c.start_marathon(0)), Some(c.start_marathon(1))];
    let addrs: Vec<String> = ms.iter().map(|m| m.as_ref().unwrap().1.clone()).collect();
    let mut leader = String::new();
    wait_for(Duration::from_secs(30), || {
        let ls: Vec<Option<String>> = addrs.iter().map(|a| leader_of(a)).collect();
        match (&ls[0], &ls[1]) {
            (Some(a), Some(b)) if a == b => {
                leader = a.clone();
                true
            }
            _ => false,
        }
    });
    let li = addrs
        .iter()
        .position(|a| *a == leader)
        .expect("the leader is one of them");
    let follower = addrs[1 - li].clone();
    // The latch: Curator's layout, the leader's host:port as data (read with kazoo).
    let out = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/zk_members.py"))
        .arg(c.zk.servers())
        .arg("/marathon/leader-curator")
        .output()
        .unwrap();
    let latch: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members = latch["children"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{latch:#}");
    assert!(
        members.iter().all(|m| {
            let m = m.as_str().unwrap();
            m.starts_with("_c_") && m.contains("-latch-")
        }),
        "{latch:#}"
    );
    // A follower proxies a write to the leader; the answer carries the leader's header.
    let (code, head, body) = req(
        "POST",
        &format!("http://{follower}/v2/apps"),
        &[],
        Some(
            &json!({"id": "/proxied", "cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 0}),
        ),
    );
    assert_eq!(code, 201, "{head}\n{body:#}");
    assert!(
        head.contains(&format!("x-marathon-leader: http://{leader}")),
        "{head}"
    );
    let app = get_json(&format!("http://{leader}/v2/apps/proxied")).unwrap();
    assert_eq!(app["app"]["id"], "/proxied");
    // A request that already went through this follower is a loop.
    let (code, _, body) = req(
        "GET",
        &format!("http://{follower}/v2/apps"),
        &[&format!("X-Marathon-Via: 1.1 {follower}")],
        None,
    );
    assert_eq!(
        (code, body["message"].as_str()),
        (502, Some("Detected proxying loop."))
    );
    // Events are redirected, not proxied.
    let (code, head, _) = req(
        "GET",
        &format!("http://{follower}/v2/events"),
        &["Accept: text/event-stream"],
        None,
    );
    assert_eq!(code, 307);
    assert!(
        head.contains(&format!("location: http://{leader}/v2/events")),
        "{head}"
    );
    let info = get_json(&format!("http://{follower}/v2/info")).unwrap();
    assert_eq!(info["elected"], true, "proxied to the leader: {info:#}");
    assert_eq!(info["leader"], leader.as_str());

    // marathon-python, given both URLs, through the leader's death mid-deployment.
    let signal = c.dir.path().join("marathon-killed");
    let mut script = std::process::Command::new(py.join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/marathon_failover.py"))
        .arg(addrs.join(","))
        .arg(&signal)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(c.dir.path().join("marathon-python.log")).unwrap())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(script.stdout.take().unwrap()).lines();
    let mut next_line = || lines.next().and_then(|l| l.ok()).unwrap_or_default();
    let l = next_line();
    assert_eq!(l, "DEPLOYING", "{l}\n{}", c.logs());
    let (mut p, _) = ms[li].take().unwrap();
    p.kill9();
    std::fs::write(&signal, "").unwrap();
    let l = next_line();
    assert_eq!(l, "RESUMED", "{l}\n{}", c.logs());
    assert_eq!(
        leader_of(&follower).as_deref(),
        Some(follower.as_str()),
        "the other Marathon leads"
    );
    // Room for the fifth instance.
    let (agent, _) = start_agent(c.dir.path(), &c.mesos_url(), 2, 0);
    c.agents.push((agent, 0));
    let last = next_line();
    let _ = script.wait();
    let r: Value =
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}\n{}", c.logs()));
    assert!(r["failed"].is_null(), "{r:#}\n{}", c.logs());
    assert_eq!(
        r["deployment_after"], r["deployment_before"],
        "the deployment was resumed: {r:#}"
    );
    assert_eq!(
        r["versions_after"], r["versions_before"],
        "no version lost: {r:#}"
    );
    let first: Vec<&str> = r["first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let fin: Vec<&str> = r["final"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(fin.len(), 5, "{r:#}");
    for t in &first {
        assert!(
            fin.contains(t),
            "a leader change never kills or restarts a task: {t} gone\n{r:#}"
        );
    }
    assert_eq!(
        r["running_after_failover"].as_array().unwrap().len(),
        4,
        "{r:#}"
    );
    // Abdication: the leader steps down; with a single Marathon left, it leads again.
    let (code, _, body) = req("DELETE", &format!("http://{follower}/v2/leader"), &[], None);
    assert_eq!(code, 202, "{body:#}");
    wait_for(Duration::from_secs(30), || {
        leader_of(&follower).as_deref() == Some(follower.as_str())
    });
    drop(ms);
}
