//! The front door on an HA cluster: a gateway and a DNS given `--master zk://…/mesos` find the
//! leading master among three, publish every master (`master.mesos`, `masterN.mesos`) and the
//! leader (`leader.mesos`, `_leader._tcp.mesos`), and follow the next leader when it is killed.

mod common;
use common::ha::*;
use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn srv_ports(dns: &str, name: &str) -> Vec<String> {
    let (ip, port) = dns.rsplit_once(':').expect("ip:port");
    let out = Command::new(pyclients().join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/dns_query.py"))
        .args([ip, port, &format!("{name}:SRV")])
        .output()
        .expect("dnspython");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["answer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r[3].as_str()?.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

fn a_records(dns: &str, name: &str) -> (String, usize) {
    let (ip, port) = dns.rsplit_once(':').expect("ip:port");
    let out = Command::new(pyclients().join("mesos/bin/python"))
        .arg(repo_root().join("tests/clients/dns_query.py"))
        .args([ip, port, &format!("{name}:A")])
        .output()
        .expect("dnspython");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    (
        v["rcode"].as_str().unwrap_or("").to_string(),
        v["answer"].as_array().map(Vec::len).unwrap_or(0),
    )
}

#[test]
fn the_gateway_and_the_dns_follow_the_leading_master_through_zookeeper() {
    if !zookeeper_or_skip() {
        return;
    }
    let mut c = HaCluster::start(1, 3, 1);
    let l = c.wait_leader(Duration::from_secs(30));
    c.wait_agents(1, Duration::from_secs(30));
    let zk = c.mesos_url();
    let dir = c.dir.path().to_path_buf();
    let dns_proc = Proc::spawn(
        &[
            "dns",
            "--master",
            &zk,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--http-port",
            "0",
        ],
        &dir.join("dns.log"),
    );
    let line = dns_proc.wait_line("dns: ", Duration::from_secs(30));
    let dns = word_after(&line, "dns: ");
    let dns_http = word_after(&line, "API ");
    let gw_proc = Proc::spawn(
        &[
            "gateway",
            "--master",
            &zk,
            "--dns-http",
            &dns_http,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--zk-session-timeout",
            ZK_SESSION_SECS,
            "--work-dir",
            dir.join("gw").to_str().expect("utf-8"),
        ],
        &dir.join("gw.log"),
    );
    let line = gw_proc.wait_line("gateway: http://", Duration::from_secs(30));
    let g = line.trim().trim_start_matches("gateway: ").to_string();
    let mut procs = [dns_proc, gw_proc];

    let port_of = |addr: &str| addr.rsplit_once(':').expect("port").1.to_string();
    let served_by = |g: &str| -> Option<String> {
        let (s, state) = call("GET", &format!("{g}/mesos/master/state"), None);
        (s == 200).then(|| state["pid"].as_str().unwrap_or("").to_string())
    };
    let leader = c.addr(l);
    wait_for(Duration::from_secs(30), || {
        served_by(&g).is_some_and(|pid| pid.ends_with(&leader))
    });
    // Every master is published, and the leader.
    wait_for(Duration::from_secs(30), || {
        srv_ports(&dns, "_leader._tcp.mesos") == vec![port_of(&leader)]
    });
    assert_eq!(a_records(&dns, "leader.mesos"), ("NOERROR".into(), 1));
    assert_eq!(a_records(&dns, "master.mesos").0, "NOERROR");
    for n in 0..3 {
        assert_eq!(
            a_records(&dns, &format!("master{n}.mesos")),
            ("NOERROR".into(), 1),
            "master{n}.mesos"
        );
    }
    let (s, masters) = call("GET", &format!("{g}/mesos_dns/v1/hosts/master.mesos"), None);
    assert_eq!(s, 200);
    assert_eq!(masters[0]["ip"], "127.0.0.1", "{masters}");

    // The leader dies: both follow the next one.
    c.kill_master(l);
    let next = c.wait_leader(Duration::from_secs(30));
    let next_addr = c.addr(next);
    wait_for(Duration::from_secs(30), || {
        served_by(&g).is_some_and(|pid| pid.ends_with(&next_addr))
    });
    wait_for(Duration::from_secs(30), || {
        srv_ports(&dns, "_leader._tcp.mesos") == vec![port_of(&next_addr)]
    });
    for p in &mut procs {
        p.stop();
    }
}
