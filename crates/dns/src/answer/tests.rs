//! Answers as tables: a query against a small cluster's records, the reply's code and records.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::records::{build, BuildConfig, Hosts, IpSource};
use crate::state::ClusterState;
use crate::testing::*;
use crate::LabelRule;
use hickory_proto::op::Query;
use serde_json::json;

fn records() -> RecordSet {
    let mut s = ClusterState::default();
    let web = with_ports(task("web.1", "web", "f1", "a1-S1"), &[(31000, 31000)]);
    let web2 = with_ports(task("web.2", "web", "f1", "a2-S2"), &[(31001, 31001)]);
    let mut v6 = task("v6.1", "v6", "f1", "a1-S1");
    v6["statuses"][0]["container_status"] =
        json!({"network_infos": [{"ip_addresses": [{"ip_address": "fd00::1"}]}]});
    let many: Vec<_> = (0..60)
        .map(|i| task(&format!("big.{i}"), "big", "f1", &format!("b{i}-S{i}")))
        .collect();
    let mut agents = vec![agent("a1-S1", "10.0.0.1"), agent("a2-S2", "10.0.0.2")];
    agents.extend((0..60).map(|i| agent(&format!("b{i}-S{i}"), &format!("10.1.0.{i}"))));
    let mut tasks = vec![web, web2, v6];
    tasks.extend(many);
    s.apply(&subscribed(
        tasks,
        vec![framework("f1", "marathon")],
        agents,
    ));
    s.set_masters(Some("10.0.0.10:5050".into()), vec!["10.0.0.10:5050".into()]);
    let cfg = BuildConfig {
        domain: "mesos".into(),
        rule: LabelRule::Rfc1123,
        ip_sources: vec![IpSource::Netinfo, IpSource::Host],
        ns_name: "ns1.mesos.".into(),
        ns_ips: vec!["10.0.0.53".parse().unwrap()],
        health_aware: false,
    };
    build(&s, &cfg, &Hosts::new(), 42)
}

fn zone_with(json: &str) -> Zone {
    Zone::new(&Config::from_json(json.as_bytes()).unwrap())
}

fn zone() -> Zone {
    zone_with(
        r#"{"resolvers": ["10.9.9.9"], "zoneResolvers": {"corp.example": ["10.8.8.8:5353"]}}"#,
    )
}

fn query(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 777;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

fn edns_query(name: &str, t: RecordType, payload: u16) -> Vec<u8> {
    let mut m = Message::from_vec(&query(name, t)).unwrap();
    let mut e = Edns::new();
    e.set_max_payload(payload);
    m.edns = Some(e);
    m.to_vec().unwrap()
}

fn ask(q: &[u8], rs: Option<&RecordSet>, t: Transport) -> Message {
    match answer(q, rs, &zone(), t, 1) {
        Outcome::Reply(b) => Message::from_vec(&b).unwrap(),
        other => panic!("no reply: {other:?}"),
    }
}

fn texts(rs: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = rs
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect();
    v.sort();
    v
}

#[test]
fn answers_by_type() {
    let rs = records();
    let h1 = crate::hash5("web.1");
    let cases: Vec<(&str, RecordType, ResponseCode, Vec<String>)> = vec![
        (
            "web.marathon.mesos.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["A 10.0.0.1".into(), "A 10.0.0.2".into()],
        ),
        (
            "WEB.Marathon.MESOS.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["A 10.0.0.1".into(), "A 10.0.0.2".into()],
        ),
        (
            "v6.marathon.mesos.",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec!["AAAA fd00::1".into()],
        ),
        (
            "v6.marathon.mesos.",
            RecordType::A,
            ResponseCode::NoError,
            vec![],
        ),
        (
            "web.marathon.mesos.",
            RecordType::AAAA,
            ResponseCode::NoError,
            vec![],
        ),
        (
            "web.marathon.mesos.",
            RecordType::TXT,
            ResponseCode::NoError,
            vec![],
        ),
        (
            "marathon.mesos.",
            RecordType::A,
            ResponseCode::NoError,
            vec![],
        ),
        (
            "nope.marathon.mesos.",
            RecordType::A,
            ResponseCode::NXDomain,
            vec![],
        ),
        (
            "nope.marathon.mesos.",
            RecordType::SRV,
            ResponseCode::NXDomain,
            vec![],
        ),
        (
            "leader.mesos.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["A 10.0.0.10".into()],
        ),
        (
            "master0.mesos.",
            RecordType::A,
            ResponseCode::NoError,
            vec!["A 10.0.0.10".into()],
        ),
        ("mesos.", RecordType::A, ResponseCode::NoError, vec![]),
        (
            "_web._tcp.marathon.mesos.",
            RecordType::SRV,
            ResponseCode::NoError,
            vec![
                format!("SRV 0 1 31000 web-{h1}-s1.marathon.slave.mesos."),
                format!(
                    "SRV 0 1 31001 web-{}-s2.marathon.slave.mesos.",
                    crate::hash5("web.2")
                ),
            ],
        ),
        (
            "web.marathon.mesos.",
            RecordType::ANY,
            ResponseCode::NoError,
            vec!["A 10.0.0.1".into(), "A 10.0.0.2".into()],
        ),
    ];
    for (name, t, code, want) in cases {
        let m = ask(&query(name, t), Some(&rs), Transport::Udp);
        let what = format!("{name} {t}");
        assert_eq!(m.response_code, code, "{what}");
        assert_eq!(texts(&m.answers), want, "{what}");
        assert!(m.authoritative, "{what}");
        assert!(m.recursion_desired && m.recursion_available, "{what}");
        assert_eq!(m.id, 777, "{what}");
        assert_eq!(
            m.queries[0].name().to_ascii(),
            name,
            "{what}: the question as asked"
        );
        if want.is_empty() {
            assert_eq!(m.authorities.len(), 1, "{what}");
            assert_eq!(m.authorities[0].record_type(), RecordType::SOA, "{what}");
        } else {
            assert!(m.authorities.is_empty(), "{what}");
        }
    }
}

#[test]
fn srv_replies_carry_their_targets_addresses() {
    let rs = records();
    let m = ask(
        &query("_web._tcp.marathon.mesos.", RecordType::SRV),
        Some(&rs),
        Transport::Udp,
    );
    let mut extra: Vec<String> = m
        .additionals
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect();
    extra.sort();
    assert_eq!(
        extra,
        vec![
            format!(
                "web-{}-s1.marathon.slave.mesos. 10.0.0.1",
                crate::hash5("web.1")
            ),
            format!(
                "web-{}-s2.marathon.slave.mesos. 10.0.0.2",
                crate::hash5("web.2")
            ),
        ]
    );
}

#[test]
fn soa_and_ns_at_the_apex() {
    let rs = records();
    let m = ask(&query("mesos.", RecordType::SOA), Some(&rs), Transport::Udp);
    assert_eq!(
        texts(&m.answers),
        vec!["SOA ns1.mesos. root.ns1.mesos. 42 60 600 86400 60"]
    );
    let m = ask(&query("Mesos.", RecordType::NS), Some(&rs), Transport::Udp);
    assert_eq!(texts(&m.answers), vec!["NS ns1.mesos."]);
    assert_eq!(texts(&m.additionals), vec!["A 10.0.0.53"]);
    let m = ask(&query("mesos.", RecordType::ANY), Some(&rs), Transport::Udp);
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn answers_are_shuffled_by_the_seed() {
    let rs = records();
    let q = query("big.marathon.mesos.", RecordType::A);
    let order = |seed| match answer(&q, Some(&rs), &zone(), Transport::Tcp, seed) {
        Outcome::Reply(b) => Message::from_vec(&b)
            .unwrap()
            .answers
            .iter()
            .map(|r| r.data.to_string())
            .collect::<Vec<_>>(),
        o => panic!("{o:?}"),
    };
    assert_eq!(order(1).len(), 60);
    assert_eq!(order(7), order(7));
    assert_ne!(order(1), order(2));
}

#[test]
fn udp_replies_are_cut_to_512_or_the_edns_size_with_tc() {
    let rs = records();
    let q = query("big.marathon.mesos.", RecordType::A);
    let z = zone();
    let udp = answer(&q, Some(&rs), &z, Transport::Udp, 1);
    let Outcome::Reply(b) = udp else { panic!() };
    assert!(b.len() <= 512, "{}", b.len());
    let m = Message::from_vec(&b).unwrap();
    assert!(m.truncation && !m.answers.is_empty() && m.answers.len() < 60);
    // TCP: everything.
    let m = ask(&q, Some(&rs), Transport::Tcp);
    assert!(!m.truncation);
    assert_eq!(m.answers.len(), 60);
    // EDNS with room: everything over UDP, and an OPT back.
    let m = ask(
        &edns_query("big.marathon.mesos.", RecordType::A, 4096),
        Some(&rs),
        Transport::Udp,
    );
    assert!(!m.truncation && m.answers.len() == 60 && m.edns.is_some());
    // SetTruncateBit off: cut, but no TC.
    let z = zone_with(r#"{"SetTruncateBit": false}"#);
    let Outcome::Reply(b) = answer(&q, Some(&rs), &z, Transport::Udp, 1) else {
        panic!()
    };
    let m = Message::from_vec(&b).unwrap();
    assert!(!m.truncation && b.len() <= 512 && m.answers.len() < 60);
}

#[test]
fn before_the_first_load_names_in_the_domain_fail_and_others_are_forwarded() {
    let m = ask(
        &query("web.marathon.mesos.", RecordType::A),
        None,
        Transport::Udp,
    );
    assert_eq!(m.response_code, ResponseCode::ServFail);
    let z = zone();
    let q = query("www.example.org.", RecordType::A);
    assert_eq!(
        answer(&q, None, &z, Transport::Udp, 1),
        Outcome::Forward(&["10.9.9.9:53".parse().unwrap()][..])
    );
    let q = query("db.Corp.Example.", RecordType::A);
    assert_eq!(
        answer(&q, None, &z, Transport::Udp, 1),
        Outcome::Forward(&["10.8.8.8:5353".parse().unwrap()][..])
    );
    // "notmesos." is not in the domain.
    let q = query("notmesos.", RecordType::A);
    assert!(matches!(
        answer(&q, None, &z, Transport::Udp, 1),
        Outcome::Forward(_)
    ));
}

#[test]
fn no_resolvers_means_refused() {
    let rs = records();
    for cfg in [r#"{"resolvers": []}"#, r#"{"externalon": false}"#] {
        let z = zone_with(cfg);
        let Outcome::Reply(b) = answer(
            &query("example.org.", RecordType::A),
            Some(&rs),
            &z,
            Transport::Udp,
            1,
        ) else {
            panic!("{cfg}")
        };
        assert_eq!(
            Message::from_vec(&b).unwrap().response_code,
            ResponseCode::Refused,
            "{cfg}"
        );
    }
    let b = error_reply(
        &query("example.org.", RecordType::A),
        ResponseCode::ServFail,
    )
    .unwrap();
    let m = Message::from_vec(&b).unwrap();
    assert_eq!((m.id, m.response_code), (777, ResponseCode::ServFail));
}

#[test]
fn garbage_gets_formerr_or_nothing_and_never_panics() {
    let rs = records();
    let z = zone();
    // Too short for a header: nothing to answer to.
    assert_eq!(
        answer(b"\x01\x02\x03", Some(&rs), &z, Transport::Udp, 1),
        Outcome::Drop
    );
    // A header then garbage: FORMERR with the id.
    let mut bad = vec![0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    bad.extend_from_slice(&[0xff; 20]);
    let Outcome::Reply(b) = answer(&bad, Some(&rs), &z, Transport::Udp, 1) else {
        panic!()
    };
    assert_eq!(&b[..2], &[0x12, 0x34]);
    assert_eq!(b[3] & 0x0f, 1);
    // Too long.
    let mut long = query("web.marathon.mesos.", RecordType::A);
    long.resize(MAX_QUERY + 1, 0);
    let Outcome::Reply(b) = answer(&long, Some(&rs), &z, Transport::Tcp, 1) else {
        panic!()
    };
    assert_eq!(b[3] & 0x0f, 1);
    // Two questions: FORMERR; a response: dropped; another opcode: NOTIMP.
    let mut two = Message::from_vec(&query("a.mesos.", RecordType::A)).unwrap();
    two.add_query(Query::query(
        Name::from_ascii("b.mesos.").unwrap(),
        RecordType::A,
    ));
    assert_eq!(
        ask(&two.to_vec().unwrap(), Some(&rs), Transport::Udp).response_code,
        ResponseCode::FormErr
    );
    let mut resp = Message::from_vec(&query("a.mesos.", RecordType::A)).unwrap();
    resp.metadata.message_type = MessageType::Response;
    assert_eq!(
        answer(&resp.to_vec().unwrap(), Some(&rs), &z, Transport::Udp, 1),
        Outcome::Drop
    );
    let mut notify = Message::from_vec(&query("a.mesos.", RecordType::A)).unwrap();
    notify.metadata.op_code = OpCode::Notify;
    assert_eq!(
        ask(&notify.to_vec().unwrap(), Some(&rs), Transport::Udp).response_code,
        ResponseCode::NotImp
    );
    // Random bytes of every length: never a panic, never an oversized UDP reply.
    let mut rng = fastrand::Rng::with_seed(5);
    for len in 0..600 {
        for _ in 0..20 {
            let mut junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if len > 2 {
                junk[2] &= 0x7f;
            }
            if let Outcome::Reply(b) = answer(&junk, Some(&rs), &z, Transport::Udp, 1) {
                assert!(b.len() <= 512);
            }
        }
    }
}

#[test]
fn a_wildcard_label_is_cleaned_as_mesos_dns_does() {
    let rs = records();
    let m = ask(
        &query("web.*.marathon.mesos.", RecordType::A),
        Some(&rs),
        Transport::Udp,
    );
    assert_eq!(m.answers.len(), 2);
}

#[test]
fn queries_per_second_on_one_core() {
    let rs = records();
    let z = zone();
    let q = query("web.marathon.mesos.", RecordType::A);
    let n = 20_000;
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let _ = std::hint::black_box(answer(&q, Some(&rs), &z, Transport::Udp, i));
    }
    let per = t0.elapsed() / n as u32;
    eprintln!(
        "answer: {per:?} per query ({:.0}/s)",
        1.0 / per.as_secs_f64()
    );
}

/// A query for a name given as raw labels (any bytes, dots inside labels too), as on the wire.
fn raw_query(labels: &[&[u8]], t: RecordType) -> Vec<u8> {
    let mut q = vec![0x03, 0x09, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    for l in labels {
        q.push(l.len() as u8);
        q.extend_from_slice(l);
    }
    q.push(0);
    q.extend_from_slice(&u16::from(t).to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

#[test]
fn odd_names_outside_the_domain_are_forwarded_and_in_it_are_formerr() {
    let rs = records();
    let z = zone();
    let default = Outcome::Forward(&["10.9.9.9:53".parse().unwrap()][..]);
    let corp = Outcome::Forward(&["10.8.8.8:5353".parse().unwrap()][..]);
    let outside: [(&[&[u8]], &Outcome); 5] = [
        (&[b"caf\xc3\xa9", b"example", b"org"], &default),
        (&[b"a.b", b"example", b"org"], &default),
        (&[b"x\x01y", b"org"], &default),
        (&[b"caf\xc3\xa9", b"CORP", b"example"], &corp),
        // An escaped dot is one label: "corp.example" here is not the zone corp.example.
        (&[b"db", b"corp.example"], &default),
    ];
    for (labels, want) in outside {
        let got = answer(
            &raw_query(labels, RecordType::A),
            Some(&rs),
            &z,
            Transport::Udp,
            1,
        );
        assert_eq!(&got, want, "{labels:?}");
    }
    // Nor is "marathon.mesos" one label under the root the domain "mesos.".
    let got = answer(
        &raw_query(&[b"web", b"marathon.mesos"], RecordType::A),
        Some(&rs),
        &z,
        Transport::Udp,
        1,
    );
    assert_eq!(got, default);
    for labels in [
        &[b"caf\xc3\xa9" as &[u8], b"marathon", b"mesos"][..],
        &[b"web.x", b"marathon", b"MESOS"],
    ] {
        let m = ask(&raw_query(labels, RecordType::A), Some(&rs), Transport::Udp);
        assert_eq!(m.response_code, ResponseCode::FormErr, "{labels:?}");
    }
}

/// `_big._tcp.marathon.mesos.` with `n` SRV targets, each with an address.
fn many_srvs(n: usize) -> RecordSet {
    let mut rs = RecordSet::default();
    let mut srvs = Vec::with_capacity(n);
    for i in 0..n {
        let text = format!("big-{i}.marathon.slave.mesos.");
        let ip = IpAddr::from([10, 2, (i >> 8) as u8, i as u8]);
        rs.addrs.insert(text.as_str().into(), vec![ip]);
        let target = crate::records::Target {
            name: Name::from_ascii(&text).unwrap(),
            text: text.into(),
        };
        srvs.push(crate::records::Srv {
            target: std::sync::Arc::new(target),
            port: 31000,
        });
    }
    rs.srvs.insert("_big._tcp.marathon.mesos.".into(), srvs);
    rs
}

#[test]
fn a_service_of_ten_thousand_instances_is_cut_to_what_fits_and_shuffled() {
    let rs = many_srvs(10_000);
    let z = zone();
    let q = query("_big._tcp.marathon.mesos.", RecordType::SRV);
    // The best of a few: the machine is shared.
    let took = (0..5)
        .map(|i| {
            let t0 = std::time::Instant::now();
            let r = std::hint::black_box(answer(&q, Some(&rs), &z, Transport::Udp, i));
            let took = t0.elapsed();
            let Outcome::Reply(b) = r else { panic!() };
            assert!(b.len() <= 512, "{}", b.len());
            took
        })
        .min()
        .unwrap();
    // Timed for the log only (tests assert no timings): bench/ measures the DNS.
    eprintln!("a UDP SRV answer of 10,000 targets: {took:?}");
    // Cut, and says so; over TCP as many as 64 KiB hold (SRV targets are not compressed),
    // still cut.
    let m = ask(&q, Some(&rs), Transport::Udp);
    assert!(m.truncation && !m.answers.is_empty() && m.additionals.is_empty());
    let Outcome::Reply(b) = answer(&q, Some(&rs), &z, Transport::Tcp, 1) else {
        panic!()
    };
    let m = Message::from_vec(&b).unwrap();
    assert!(m.truncation && m.answers.len() > 500 && m.answers.len() < 10_000);
    // Shuffled: different seeds, different targets first.
    let first = |seed| match answer(&q, Some(&rs), &z, Transport::Udp, seed) {
        Outcome::Reply(b) => Message::from_vec(&b).unwrap().answers[0].data.to_string(),
        o => panic!("{o:?}"),
    };
    assert_ne!(
        (1..6).map(first).collect::<Vec<_>>(),
        (11..16).map(first).collect::<Vec<_>>()
    );
}

#[test]
fn srv_additionals_hold_each_target_once() {
    let mut rs = many_srvs(3);
    // Two ports on the same target.
    let v = rs.srvs.get_mut("_big._tcp.marathon.mesos.").unwrap();
    let mut again = v[0].clone();
    again.port = 31001;
    v.push(again);
    let m = ask(
        &query("_big._tcp.marathon.mesos.", RecordType::SRV),
        Some(&rs),
        Transport::Udp,
    );
    assert_eq!(m.answers.len(), 4);
    assert!(!m.truncation);
    assert_eq!(
        texts(&m.additionals),
        vec!["A 10.2.0.0", "A 10.2.0.1", "A 10.2.0.2"]
    );
}
