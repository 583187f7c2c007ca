//! Record generation, as tables: the names each kind of task, agent, framework and master gets.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::state::ClusterState;
use crate::testing::*;
use serde_json::json;

fn cfg() -> BuildConfig {
    BuildConfig {
        domain: "mesos".into(),
        rule: LabelRule::Rfc1123,
        ip_sources: vec![IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
        ns_name: "ns1.mesos.".into(),
        ns_ips: vec!["10.0.0.53".parse().unwrap()],
        health_aware: false,
    }
}

fn state_of(tasks: Vec<serde_json::Value>) -> ClusterState {
    let mut s = ClusterState::default();
    s.apply(&subscribed(
        tasks,
        vec![framework("f1", "marathon")],
        vec![agent("a1-S1", "10.0.0.1")],
    ));
    s
}

fn ips(rs: &RecordSet, name: &str) -> Vec<String> {
    rs.addrs(name).iter().map(|i| i.to_string()).collect()
}

fn srvs(rs: &RecordSet, name: &str) -> Vec<String> {
    rs.srvs(name)
        .iter()
        .map(|s| format!("{}:{}", s.target.text, s.port))
        .collect()
}

#[test]
fn a_task_without_discovery_info_gets_mesos_dns_names() {
    let t = with_ports(task("web.1", "web", "f1", "a1-S1"), &[(31000, 31000)]);
    let rs = build(&state_of(vec![t]), &cfg(), &Hosts::new(), 1);
    let h = hash5("web.1");
    let canon = format!("web-{h}-s1.marathon.mesos.");
    let canon_slave = format!("web-{h}-s1.marathon.slave.mesos.");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("web.marathon.mesos.", vec!["10.0.0.1".into()]),
        (&canon, vec!["10.0.0.1".into()]),
        ("web.marathon.slave.mesos.", vec!["10.0.0.1".into()]),
        (&canon_slave, vec!["10.0.0.1".into()]),
        ("slave.mesos.", vec!["10.0.0.1".into()]),
        ("ns1.mesos.", vec!["10.0.0.53".into()]),
    ];
    for (name, want) in cases {
        assert_eq!(ips(&rs, name), want, "{name}");
    }
    let target = format!("{canon_slave}:31000");
    for name in [
        "_web._tcp.marathon.mesos.",
        "_web._udp.marathon.mesos.",
        "_web._tcp.marathon.slave.mesos.",
        "_web._udp.marathon.slave.mesos.",
    ] {
        assert_eq!(srvs(&rs, name), vec![target.clone()], "{name}");
    }
    assert_eq!(srvs(&rs, "_slave._tcp.mesos."), vec!["slave.mesos.:5051"]);
    assert!(rs.exists("marathon.mesos.") && rs.exists("marathon.slave.mesos."));
    assert!(!rs.exists("other.mesos."));
    let e = &rs.enumeration().frameworks[0];
    assert_eq!(e.name, "marathon");
    assert_eq!(e.tasks[0].id, "web.1");
    assert_eq!(e.tasks[0].records.len(), 8);
}

#[test]
fn discovery_info_names_and_named_ports_as_the_docs_example() {
    // docs/docs/http.md: nginx with a DiscoveryInfo port 7564 named "nginx" over tcp.
    let id = "nginx.48dccce7-90bc-11e6-ae70-70b3d5800001";
    let mut t = with_ports(task(id, "nginx", "f1", "a1-S1"), &[(7564, 7564)]);
    t["discovery"] = json!({"visibility": "FRAMEWORK", "name": "nginx",
        "ports": {"ports": [{"number": 7564, "name": "nginx", "protocol": "tcp"}]}});
    let rs = build(&state_of(vec![t]), &cfg(), &Hosts::new(), 1);
    let recs: Vec<(String, String, &str)> = rs.enumeration().frameworks[0].tasks[0]
        .records
        .iter()
        .map(|r| (r.name.clone(), r.host.clone(), r.rtype))
        .collect();
    let want = [
        ("nginx.marathon.mesos.", "10.0.0.1", "A"),
        ("nginx-jhy6r-s1.marathon.mesos.", "10.0.0.1", "A"),
        ("nginx.marathon.slave.mesos.", "10.0.0.1", "A"),
        ("nginx-jhy6r-s1.marathon.slave.mesos.", "10.0.0.1", "A"),
        (
            "_nginx._tcp.marathon.slave.mesos.",
            "nginx-jhy6r-s1.marathon.slave.mesos.:7564",
            "SRV",
        ),
        (
            "_nginx._udp.marathon.slave.mesos.",
            "nginx-jhy6r-s1.marathon.slave.mesos.:7564",
            "SRV",
        ),
        (
            "_nginx._tcp.marathon.mesos.",
            "nginx-jhy6r-s1.marathon.mesos.:7564",
            "SRV",
        ),
        (
            "_nginx._nginx._tcp.marathon.mesos.",
            "nginx-jhy6r-s1.marathon.mesos.:7564",
            "SRV",
        ),
    ];
    let want: Vec<(String, String, &str)> = want
        .iter()
        .map(|(n, h, t)| (n.to_string(), h.to_string(), *t))
        .collect();
    assert_eq!(recs, want);
    // No port-range SRV outside `.slave` with DiscoveryInfo; no udp for a tcp discovery port.
    assert!(rs.srvs("_nginx._udp.marathon.mesos.").is_empty());
}

#[test]
fn a_discovery_port_without_protocol_gives_tcp_and_udp_and_the_discovery_name_wins() {
    let mut t = task("x.1", "ignored-task-name", "f1", "a1-S1");
    t["discovery"] = json!({"name": "My_Svc", "ports": {"ports": [{"number": 80}]}});
    let rs = build(&state_of(vec![t]), &cfg(), &Hosts::new(), 1);
    assert_eq!(ips(&rs, "my-svc.marathon.mesos."), vec!["10.0.0.1"]);
    assert!(rs.addrs("ignored-task-name.marathon.mesos.").is_empty());
    let h = hash5("x.1");
    for proto in ["tcp", "udp"] {
        assert_eq!(
            srvs(&rs, &format!("_my-svc._{proto}.marathon.mesos.")),
            vec![format!("my-svc-{h}-s1.marathon.mesos.:80")]
        );
    }
}

#[test]
fn ip_sources_pick_the_first_that_yields_an_address() {
    let mut t = task("c.1", "c", "f1", "a1-S1");
    t["statuses"] = json!([
        {"task_id": {"value": "c.1"}, "state": "TASK_RUNNING", "timestamp": 1.0,
         "labels": {"labels": [{"key": "MesosContainerizer.NetworkSettings.IPAddress", "value": "172.17.0.9"}]},
         "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "192.168.0.5"}, {"ip_address": "fd00::5"}]}]}},
        {"task_id": {"value": "c.1"}, "state": "TASK_STAGING", "timestamp": 0.5,
         "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "1.1.1.1"}]}]}}
    ]);
    let st = state_of(vec![t]);
    let table: Vec<(Vec<IpSource>, Vec<&str>)> = vec![
        (
            vec![IpSource::Netinfo, IpSource::Mesos, IpSource::Host],
            vec!["192.168.0.5", "fd00::5"],
        ),
        (vec![IpSource::Mesos, IpSource::Netinfo], vec!["172.17.0.9"]),
        (vec![IpSource::Docker, IpSource::Host], vec!["10.0.0.1"]),
        (vec![IpSource::Docker], vec![]),
    ];
    for (sources, want) in table {
        let c = BuildConfig {
            ip_sources: sources.clone(),
            ..cfg()
        };
        let rs = build(&st, &c, &Hosts::new(), 1);
        let mut got = ips(&rs, "c.marathon.mesos.");
        got.sort();
        assert_eq!(got, want, "{sources:?}");
        // `.slave` names are always the agent's.
        assert_eq!(ips(&rs, "c.marathon.slave.mesos."), vec!["10.0.0.1"]);
    }
}

#[test]
fn only_running_tasks_on_known_agents_of_known_frameworks_and_health_aware() {
    let mut staging = task("s.1", "staging", "f1", "a1-S1");
    staging["state"] = json!("TASK_STAGING");
    let unhealthy = task("u.1", "unhealthy", "f1", "a1-S1");
    let lost_agent = task("l.1", "lostagent", "f1", "a9-S9");
    let orphan = task("o.1", "orphan", "f9", "a1-S1");
    let mut st = state_of(vec![staging, unhealthy, lost_agent, orphan]);
    st.apply(&task_updated("f1", "u.1", "TASK_RUNNING", Some(false)));
    let rs = build(&st, &cfg(), &Hosts::new(), 1);
    assert!(!rs.exists("staging.marathon.mesos."));
    assert!(rs.exists("unhealthy.marathon.mesos."));
    assert!(!rs.exists("lostagent.marathon.mesos."));
    assert!(!rs.exists("orphan.marathon.mesos."));
    let aware = BuildConfig {
        health_aware: true,
        ..cfg()
    };
    let rs = build(&st, &aware, &Hosts::new(), 1);
    assert!(!rs.exists("unhealthy.marathon.mesos."));
    st.apply(&task_updated("f1", "u.1", "TASK_RUNNING", Some(true)));
    assert!(build(&st, &aware, &Hosts::new(), 1).exists("unhealthy.marathon.mesos."));
}

#[test]
fn marathon_group_apps_and_odd_names() {
    let tasks = vec![
        task("g.1", "app.group", "f1", "a1-S1"),
        task("w.1", "Weird Name!_x", "f1", "a1-S1"),
        task("e.1", "!!!", "f1", "a1-S1"),
        task("long.1", &"n".repeat(300), "f1", "a1-S1"),
    ];
    let rs = build(&state_of(tasks), &cfg(), &Hosts::new(), 1);
    assert!(rs.exists("app-group.marathon.mesos."));
    assert!(rs.exists("weirdname-x.marathon.mesos."));
    assert!(rs.exists(&format!("{}.marathon.mesos.", "n".repeat(63))));
    // A name with no label left gets no records.
    assert_eq!(rs.enumeration().frameworks[0].tasks.len(), 3);
}

#[test]
fn frameworks_agents_by_hostname_and_masters() {
    let mut st = state_of(vec![]);
    st.apply(&json!({"type": "FRAMEWORK_ADDED", "framework_added": {"framework":
        {"framework_info": {"name": "Chronos.Jobs", "id": {"value": "f2"}, "hostname": "sched.local"}}}}));
    st.apply(&json!({"type": "AGENT_ADDED", "agent_added": {"agent":
        {"agent_info": {"hostname": "agent2.local", "id": {"value": "a2-S2"}}}}}));
    st.set_masters(
        Some("10.0.0.11:5050".into()),
        vec![
            "10.0.0.10:5050".into(),
            "10.0.0.11:5050".into(),
            "m3.local:5050".into(),
        ],
    );
    let mut hosts = Hosts::new();
    hosts.insert("sched.local".into(), vec!["10.1.1.1".parse().unwrap()]);
    hosts.insert("agent2.local".into(), vec!["10.0.0.2".parse().unwrap()]);
    hosts.insert("m3.local".into(), vec!["10.0.0.12".parse().unwrap()]);
    let rs = build(&st, &cfg(), &hosts, 1);
    assert_eq!(ips(&rs, "chronos.jobs.mesos."), vec!["10.1.1.1"]);
    assert_eq!(ips(&rs, "slave.mesos."), vec!["10.0.0.1", "10.0.0.2"]);
    assert_eq!(ips(&rs, "leader.mesos."), vec!["10.0.0.11"]);
    assert_eq!(
        ips(&rs, "master.mesos."),
        vec!["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    );
    assert_eq!(ips(&rs, "master0.mesos."), vec!["10.0.0.10"]);
    assert_eq!(ips(&rs, "master1.mesos."), vec!["10.0.0.11"]);
    assert_eq!(ips(&rs, "master2.mesos."), vec!["10.0.0.12"]);
    assert!(rs.addrs("master3.mesos.").is_empty());
    assert_eq!(srvs(&rs, "_leader._tcp.mesos."), vec!["leader.mesos.:5050"]);
    assert_eq!(srvs(&rs, "_leader._udp.mesos."), vec!["leader.mesos.:5050"]);
    // A leader missing from the list is numbered after it.
    st.set_masters(Some("10.0.0.99:5050".into()), vec!["10.0.0.10:5050".into()]);
    let rs = build(&st, &cfg(), &hosts, 1);
    assert_eq!(ips(&rs, "master1.mesos."), vec!["10.0.0.99"]);
}

#[test]
fn ten_thousand_tasks_build_quickly_enough() {
    let tasks: Vec<_> = (0..10_000)
        .map(|i| {
            with_ports(
                task(
                    &format!("app{}.{i}", i % 100),
                    &format!("app{}", i % 100),
                    "f1",
                    "a1-S1",
                ),
                &[(31000, 31001)],
            )
        })
        .collect();
    let st = state_of(tasks);
    let mut b = Builder::new(cfg());
    let t0 = std::time::Instant::now();
    let rs = b.build(&st, &Hosts::new(), 1);
    let full = t0.elapsed();
    assert_eq!(rs.enumeration().frameworks[0].tasks.len(), 10_000);
    assert_eq!(rs.srvs("_app7._tcp.marathon.mesos.").len(), 200);
    // Again after 1,000 tasks changed: only they are rebuilt, and the result is a fresh build's.
    let mut st = st;
    for i in 0..1000 {
        st.apply(&task_updated(
            "f1",
            &format!("app{}.{i}", i % 100),
            "TASK_RUNNING",
            Some(true),
        ));
    }
    let t0 = std::time::Instant::now();
    let again = b.build(&st, &Hosts::new(), 2);
    let incremental = t0.elapsed();
    let fresh = build(&st, &cfg(), &Hosts::new(), 2);
    assert_eq!(again.addrs, fresh.addrs);
    assert_eq!(again.srvs, fresh.srvs);
    assert_eq!(again.interior, fresh.interior);
    eprintln!("{} names for 10,000 tasks: built in {full:?}, again after 1,000 changed in {incremental:?}", rs.len());
}

#[test]
fn a_task_with_thousands_of_ports_builds_each_record_once_in_order() {
    // Past the cap state.rs puts on ports: built straight from a Task.
    let st = state_of(vec![task("wide.1", "wide", "f1", "a1-S1")]);
    let mut t = st.tasks.values().next().unwrap().clone();
    t.ports = (10_000..14_000).chain(10_000..10_010).collect();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let t0 = std::time::Instant::now();
    let r = task_records(&cfg(), &t, "marathon", &[ip]).unwrap();
    let took = t0.elapsed();
    eprintln!("{} records of 4,000 ports in {took:?}", r.records.len());
    // 4 A records, 4 SRV names per port, the repeated ports once.
    assert_eq!(r.records.len(), 4 + 4 * 4000);
    let Rec::Srv(_, first) = &r.records[4] else {
        panic!("{:?}", r.records[4])
    };
    let Rec::Srv(_, last) = r.records.last().unwrap() else {
        panic!()
    };
    assert_eq!((first.port, last.port), (10_000, 13_999));
}
