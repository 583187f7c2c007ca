//! The DNS of `drover up` and of `drover dns` over real sockets, asked by dnspython and dig:
//! mesos-dns' record families, NXDOMAIN and NODATA with the SOA, SRV with its additionals, UDP
//! and TCP; names that follow tasks as they start and stop (events, not a poll); the HTTP API
//! directly and through the gateway; records kept while the master restarts.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Ask the DNS at `addr` (ip:port) with dnspython; one JSON object per query.
fn ask(addr: &str, queries: &[&str], tcp: bool) -> Vec<Value> {
    let (ip, port) = addr.rsplit_once(':').expect("ip:port");
    let mut cmd = Command::new(pyclients().join("mesos/bin/python"));
    cmd.arg(repo_root().join("tests/clients/dns_query.py"))
        .args([ip, port]);
    if tcp {
        cmd.arg("--tcp");
    }
    let out = cmd.args(queries).output().expect("dnspython");
    assert!(
        out.status.success(),
        "dns_query.py {queries:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn one(addr: &str, query: &str) -> Value {
    ask(addr, &[query], false).remove(0)
}

/// The record data of the answer section (the addresses of an A answer, "0 1 port target" of SRV).
fn data(v: &Value, section: &str) -> Vec<String> {
    v[section]
        .as_array()
        .expect("a section")
        .iter()
        .map(|r| r[3].as_str().expect("rdata").to_string())
        .collect()
}

fn running_tasks(marathon: &str, app: &str) -> Vec<Value> {
    call(
        "GET",
        &format!("http://{marathon}/v2/apps{app}/tasks"),
        None,
    )
    .1["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect()
}

#[test]
fn names_follow_tasks_and_every_record_family_answers() {
    let up = Up::start_with_marathon(1, &[]);
    let dns = up.dns.clone();
    let master_port = up.master.rsplit_once(':').expect("port").1.to_string();

    // Masters.
    let leader = one(&dns, "leader.mesos:A");
    assert_eq!(leader["rcode"], "NOERROR", "{leader}");
    assert!(
        leader["aa"].as_bool().unwrap_or(false),
        "authoritative: {leader}"
    );
    assert_eq!(data(&leader, "answer"), vec!["127.0.0.1"]);
    assert_eq!(
        data(&one(&dns, "master.mesos:A"), "answer"),
        vec!["127.0.0.1"]
    );
    let srv = one(&dns, "_leader._tcp.mesos:SRV");
    assert_eq!(
        data(&srv, "answer"),
        vec![format!("0 1 {master_port} leader.mesos.")],
        "{srv}"
    );
    assert_eq!(data(&srv, "additional"), vec!["127.0.0.1"], "{srv}");

    // A name nobody has: NXDOMAIN with the zone's SOA.
    let none = one(&dns, "nobody.marathon.mesos:A");
    assert_eq!(none["rcode"], "NXDOMAIN", "{none}");
    assert_eq!(none["authority"][0][1], "SOA", "{none}");

    // A Marathon app in a group: `/web/site` is `site-web.marathon.mesos`.
    let app = json!({"id": "/web/site", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
        "instances": 2, "portDefinitions": [{"port": 0, "protocol": "tcp"}]});
    let (s, _) = call(
        "POST",
        &format!("http://{}/v2/apps", up.marathon),
        Some(&app),
    );
    assert_eq!(s, 201);
    wait_for(Duration::from_secs(60), || {
        running_tasks(&up.marathon, "/web/site").len() == 2
    });
    let running_seen = Instant::now();
    // Both instances: two SRV records (one host port each). Their A records are the same
    // address (one agent), which the answer holds once, as mesos-dns' record sets do.
    wait_for(Duration::from_secs(10), || {
        data(&one(&dns, "_site-web._tcp.marathon.mesos:SRV"), "answer").len() == 2
    });
    assert_eq!(
        data(&one(&dns, "site-web.marathon.mesos:A"), "answer"),
        vec!["127.0.0.1"]
    );
    eprintln!(
        "site-web.marathon.mesos resolved {:?} after Marathon reported both tasks RUNNING",
        running_seen.elapsed()
    );
    let ports: Vec<u64> = running_tasks(&up.marathon, "/web/site")
        .iter()
        .map(|t| t["ports"][0].as_u64().expect("a host port"))
        .collect();
    // Marathon gives its tasks DiscoveryInfo (their ports, tcp): SRV under the framework's
    // name points at the canonical name; under `.slave` at the canonical `.slave` name, for
    // tcp and udp alike.
    for (query, suffix, tcp) in [
        (
            "_site-web._tcp.marathon.mesos:SRV",
            ".marathon.mesos.",
            false,
        ),
        (
            "_site-web._tcp.marathon.mesos:SRV",
            ".marathon.mesos.",
            true,
        ),
        (
            "_site-web._tcp.marathon.slave.mesos:SRV",
            ".marathon.slave.mesos.",
            false,
        ),
        (
            "_site-web._udp.marathon.slave.mesos:SRV",
            ".marathon.slave.mesos.",
            false,
        ),
    ] {
        let r = ask(&dns, &[query], tcp).remove(0);
        let answers = data(&r, "answer");
        assert_eq!(answers.len(), 2, "{r}");
        let mut got: Vec<u64> = answers
            .iter()
            .map(|a| {
                a.split_whitespace()
                    .nth(2)
                    .expect("port")
                    .parse()
                    .expect("a port")
            })
            .collect();
        got.sort();
        let mut want = ports.clone();
        want.sort();
        assert_eq!(got, want, "SRV ports are the tasks' host ports: {r}");
        // Each target is a canonical name (`site-web-<hash>-<agent>`) whose address comes along.
        for a in &answers {
            let target = a.split_whitespace().nth(3).expect("target");
            let canonical = target.strip_suffix(suffix).unwrap_or("");
            assert!(
                canonical.starts_with("site-web-") && !canonical.contains('.'),
                "{target}"
            );
            assert!(
                r["additional"]
                    .as_array()
                    .expect("additional")
                    .iter()
                    .any(|x| x[0] == target && x[3] == "127.0.0.1"),
                "{r}"
            );
            assert_eq!(
                data(&one(&dns, &format!("{target}:A")), "answer"),
                vec!["127.0.0.1"]
            );
        }
    }
    // The name exists, but has no AAAA: NODATA (NOERROR, no answer, the SOA).
    let nodata = one(&dns, "site-web.marathon.mesos:AAAA");
    assert_eq!(nodata["rcode"], "NOERROR", "{nodata}");
    assert!(data(&nodata, "answer").is_empty());
    assert_eq!(nodata["authority"][0][1], "SOA", "{nodata}");
    // Agents and the framework.
    assert_eq!(
        data(&one(&dns, "slave.mesos:A"), "answer"),
        vec!["127.0.0.1"]
    );
    assert_eq!(one(&dns, "SITE-WEB.Marathon.MESOS:A")["rcode"], "NOERROR");

    // dig, as people ask.
    let (ip, port) = dns.rsplit_once(':').expect("ip:port");
    let dig = Command::new("dig")
        .args([
            &format!("@{ip}"),
            "-p",
            port,
            "site-web.marathon.mesos",
            "+short",
        ])
        .output()
        .expect("dig (bind9-dnsutils)");
    let lines: Vec<String> = String::from_utf8_lossy(&dig.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines, vec!["127.0.0.1"]);

    // The HTTP API, directly and through the gateway (the dcos CLI's `node` reads it there).
    let (s, v) = call("GET", &format!("http://{}/v1/version", up.dns_http), None);
    assert_eq!(s, 200);
    assert_eq!(v["Service"], "Mesos-DNS");
    let (s, hosts) = call(
        "GET",
        &format!(
            "http://{}/mesos_dns/v1/hosts/site-web.marathon.mesos",
            up.gateway
        ),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts}");
    assert_eq!(hosts[0]["ip"], "127.0.0.1");
    assert_eq!(hosts[0]["host"], "site-web.marathon.mesos.");
    let (_, services) = call(
        "GET",
        &format!(
            "http://{}/mesos_dns/v1/services/_site-web._tcp.marathon.mesos",
            up.gateway
        ),
        None,
    );
    assert!(
        services[0]["port"].is_string(),
        "ports are strings: {services}"
    );
    let lookup = Command::new(drover_bin())
        .args([
            "dns",
            "lookup",
            "site-web.marathon.mesos",
            "--dns-http",
            &up.dns_http,
        ])
        .output()
        .expect("drover dns lookup");
    assert!(lookup.status.success());
    assert!(String::from_utf8_lossy(&lookup.stdout).contains("127.0.0.1"));
    let missing = Command::new(drover_bin())
        .args([
            "dns",
            "lookup",
            "nobody.marathon.mesos",
            "--dns-http",
            &up.dns_http,
        ])
        .output()
        .expect("drover dns lookup");
    assert_eq!(missing.status.code(), Some(3), "not found");

    // Destroyed: the name goes as soon as the tasks are killed.
    let (s, _) = call(
        "DELETE",
        &format!("http://{}/v2/apps/web/site", up.marathon),
        None,
    );
    assert_eq!(s, 200);
    wait_for(Duration::from_secs(30), || {
        one(&dns, "site-web.marathon.mesos:A")["rcode"] == "NXDOMAIN"
    });
}

/// `drover master`, `drover agent`, `drover marathon` and `drover dns`, each its own process.
struct Parts {
    master: Proc,
    agent: Proc,
    marathon: Proc,
    dns: Proc,
}

impl Drop for Parts {
    fn drop(&mut self) {
        self.dns.stop();
        self.marathon.stop();
        self.agent.stop();
        self.master.stop();
    }
}

fn addr_after(p: &Proc, marker: &str) -> String {
    word_after(&p.wait_line(marker, Duration::from_secs(30)), marker)
}

#[test]
fn records_stay_while_the_master_restarts_and_follow_it_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = |x: &str| dir.path().join(x).to_str().expect("utf-8").to_string();
    let master_args = |port: &str| {
        vec![
            "master".to_string(),
            "--work-dir".into(),
            d("master"),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
        ]
    };
    let spawn = |args: &[String], log: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        Proc::spawn(&a, &dir.path().join(log))
    };
    let master = spawn(&master_args("0"), "master.log");
    let m = addr_after(&master, "master: http://");
    let agent = spawn(
        &[
            "agent".into(),
            "--master".into(),
            m.clone(),
            "--work-dir".into(),
            d("agent"),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--resources".into(),
            "cpus:2;mem:2048;disk:1000;ports:[31000-31100]".into(),
        ],
        "agent.log",
    );
    let marathon = spawn(
        &[
            "marathon".into(),
            "--master".into(),
            m.clone(),
            "--work-dir".into(),
            d("marathon"),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ],
        "marathon.log",
    );
    let mara = addr_after(&marathon, "marathon: http://");
    let dns_proc = spawn(
        &[
            "dns".into(),
            "--master".into(),
            m.clone(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--http-port".into(),
            "0".into(),
        ],
        "dns.log",
    );
    let dns = addr_after(&dns_proc, "dns: ");
    let mut parts = Parts {
        master,
        agent,
        marathon,
        dns: dns_proc,
    };

    let app = json!({"id": "/keep", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1});
    assert_eq!(
        call("POST", &format!("http://{mara}/v2/apps"), Some(&app)).0,
        201
    );
    wait_for(Duration::from_secs(60), || {
        data(&one(&dns, "keep.marathon.mesos:A"), "answer") == vec!["127.0.0.1"]
    });

    // The master dies: the DNS keeps answering what it knew.
    parts.master.kill9();
    for _ in 0..10 {
        let r = one(&dns, "keep.marathon.mesos:A");
        assert_eq!(
            data(&r, "answer"),
            vec!["127.0.0.1"],
            "while the master is away: {r}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // It comes back on the same address with the same work dir; the DNS follows it again.
    let port = m.rsplit_once(':').expect("port").1.to_string();
    parts.master = spawn(&master_args(&port), "master2.log");
    addr_after(&parts.master, "master: http://");
    let again =
        json!({"id": "/after", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1});
    wait_for(Duration::from_secs(60), || {
        call("POST", &format!("http://{mara}/v2/apps"), Some(&again)).0 == 201
            || call("GET", &format!("http://{mara}/v2/apps/after"), None).0 == 200
    });
    wait_for(Duration::from_secs(90), || {
        data(&one(&dns, "after.marathon.mesos:A"), "answer") == vec!["127.0.0.1"]
    });
    assert_eq!(
        data(&one(&dns, "keep.marathon.mesos:A"), "answer"),
        vec!["127.0.0.1"],
        "the task that ran through the restart still resolves"
    );
}
