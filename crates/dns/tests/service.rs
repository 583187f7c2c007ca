//! The service end to end: a fake master streaming operator events (RecordIO), real UDP, TCP and
//! HTTP sockets on ephemeral ports. Waits are for conditions, with deadlines.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use drover_dns::{start, Config, Options};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

type Tx = mpsc::UnboundedSender<Result<Vec<u8>, std::io::Error>>;

/// The fake master: every SUBSCRIBE opens a stream the test writes events into.
#[derive(Clone, Default)]
struct Master {
    streams: Arc<Mutex<Vec<Tx>>>,
}

impl Master {
    fn subscriptions(&self) -> usize {
        self.streams.lock().unwrap().len()
    }
    fn send(&self, ev: Value) {
        let rec = drover_api::recordio::encode(ev.to_string().as_bytes());
        let s = self.streams.lock().unwrap();
        s.last().unwrap().send(Ok(rec)).unwrap();
    }
    /// End the current stream (the master went away).
    fn drop_stream(&self) {
        let mut s = self.streams.lock().unwrap();
        let (tx, _) = mpsc::unbounded_channel();
        if let Some(last) = s.last_mut() {
            *last = tx;
        }
    }
}

async fn subscribe(State(m): State<Master>, body: String) -> axum::response::Response {
    assert!(body.contains("SUBSCRIBE"), "{body}");
    let (tx, mut rx) = mpsc::unbounded_channel();
    m.streams.lock().unwrap().push(tx);
    let stream = async_stream(move |out: Tx| async move {
        while let Some(x) = rx.recv().await {
            if out.send(x).is_err() {
                return;
            }
        }
    });
    axum::response::Response::builder()
        .header("content-type", "application/json")
        .body(stream)
        .unwrap()
}

/// A body fed by a task.
fn async_stream<F, Fut>(f: F) -> Body
where
    F: FnOnce(Tx) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(f(tx));
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }))
}

async fn fake_master() -> (Master, SocketAddr) {
    let m = Master::default();
    let app = Router::new()
        .route("/api/v1", post(subscribe))
        .with_state(m.clone());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (m, addr)
}

fn query(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.to_vec().unwrap()
}

async fn ask_udp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&query(name, t), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.recv(&mut buf))
        .await
        .expect("a reply within 5 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn ask_tcp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let mut c = TcpStream::connect(server).await.unwrap();
    let q = query(name, t);
    c.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
    c.write_all(&q).await.unwrap();
    let n = c.read_u16().await.unwrap() as usize;
    let mut b = vec![0u8; n];
    c.read_exact(&mut b).await.unwrap();
    Message::from_vec(&b).unwrap()
}

/// Ask until `ok` holds, for at most `within`.
async fn wait_for(
    server: SocketAddr,
    name: &str,
    within: Duration,
    ok: impl Fn(&Message) -> bool,
) -> Message {
    let deadline = Instant::now() + within;
    loop {
        let m = ask_udp(server, name, RecordType::A).await;
        if ok(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{name}: still {m:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(http: SocketAddr, path: &str) -> Value {
    let r = reqwest::get(format!("http://{http}{path}")).await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

fn task(id: &str, name: &str, state: &str) -> Value {
    json!({"task_id": {"value": id}, "name": name, "framework_id": {"value": "f1"},
           "agent_id": {"value": "a1-S1"}, "state": state,
           "resources": [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31000}]}}],
           "statuses": []})
}

fn updated(id: &str, state: &str) -> Value {
    json!({"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": "f1"}, "state": state,
        "status": {"task_id": {"value": id}, "state": state, "timestamp": 1.0, "agent_id": {"value": "a1-S1"}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_resolve_while_running_and_records_outlive_the_stream() {
    let (master, maddr) = fake_master().await;
    let config = Config::from_json(br#"{"externalon": false, "domain": "mesos"}"#).unwrap();
    let h = start(
        Options {
            master: maddr.to_string(),
            config,
            health_aware: false,
        },
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let (dns, tcp, http) = (h.dns_udp_addr(), h.dns_tcp_addr(), h.http_addr());

    // Before the first state: SERVFAIL for names in the domain; REFUSED outside (no resolvers).
    let m = ask_udp(dns, "web.marathon.mesos.", RecordType::A).await;
    assert_eq!(m.response_code, ResponseCode::ServFail);
    let m = ask_udp(dns, "example.org.", RecordType::A).await;
    assert_eq!(m.response_code, ResponseCode::Refused);

    // The master streams its state, then a task starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while master.subscriptions() == 0 {
        assert!(Instant::now() < deadline, "no SUBSCRIBE");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    master.send(json!({"type": "SUBSCRIBED", "subscribed": {"get_state": {
        "get_tasks": {"tasks": []}, "get_executors": {"executors": []},
        "get_frameworks": {"frameworks": [{"framework_info": {"name": "marathon", "id": {"value": "f1"}, "user": "root"},
            "active": true, "connected": true, "recovered": false}]},
        "get_agents": {"agents": [{"agent_info": {"hostname": "agent1", "id": {"value": "a1-S1"}},
            "active": true, "version": "1.11.0", "pid": "slave(1)@10.0.0.1:5051"}]}
    }}}));
    wait_for(dns, "leader.mesos.", Duration::from_secs(5), |m| {
        m.response_code == ResponseCode::NoError
    })
    .await;
    let m = ask_udp(dns, "web.marathon.mesos.", RecordType::A).await;
    assert_eq!(m.response_code, ResponseCode::NXDomain);

    master.send(
        json!({"type": "TASK_ADDED", "task_added": {"task": task("web.1", "web", "TASK_STAGING")}}),
    );
    master.send(updated("web.1", "TASK_RUNNING"));
    let t0 = Instant::now();
    let m = wait_for(dns, "web.marathon.mesos.", Duration::from_secs(5), |m| {
        !m.answers.is_empty()
    })
    .await;
    eprintln!("the task resolved {:?} after RUNNING", t0.elapsed());
    assert_eq!(m.answers[0].data.to_string(), "10.0.0.1");
    let m = ask_tcp(tcp, "_web._tcp.marathon.mesos.", RecordType::SRV).await;
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.additionals.len(), 1);

    // The HTTP API, with mesos-dns' shapes.
    let v = get(http, "/v1/version").await;
    assert_eq!(v["Service"], "Mesos-DNS");
    let v = get(http, "/v1/config").await;
    assert_eq!(v["Domain"], "mesos");
    assert_eq!(v["HttpPort"], 8123);
    let v = get(http, "/v1/hosts/web.marathon.mesos").await;
    assert_eq!(
        v,
        json!([{"host": "web.marathon.mesos.", "ip": "10.0.0.1"}])
    );
    let v = get(http, "/v1/hosts/nope.marathon.mesos").await;
    assert_eq!(v, json!([{"host": "", "ip": ""}]));
    let v = get(http, "/v1/services/_web._tcp.marathon.mesos.").await;
    let h5 = drover_dns::hash5("web.1");
    assert_eq!(
        v,
        json!([{"service": "_web._tcp.marathon.mesos.", "host": format!("web-{h5}-s1.marathon.slave.mesos."),
                "ip": "10.0.0.1", "port": "31000"}])
    );
    let v = get(http, "/v1/enumerate").await;
    assert_eq!(v["frameworks"][0]["name"], "marathon");
    assert_eq!(v["frameworks"][0]["tasks"][0]["id"], "web.1");
    assert_eq!(
        v["frameworks"][0]["tasks"][0]["records"][0],
        json!({"name": "web.marathon.mesos.", "host": "10.0.0.1", "rtype": "A"})
    );
    let v = get(http, "/v1/axfr").await;
    assert_eq!(v["Domain"], "mesos");
    assert_eq!(
        v["Records"]["As"]["web.marathon.mesos."],
        json!(["10.0.0.1"])
    );
    assert!(v["Records"]["SRVs"]["_web._tcp.marathon.mesos."].is_array());
    assert!(v["Records"]["AAAAs"].is_object());

    // /metrics on the HTTP API's listener: the replies so far, the records, the requests.
    let r = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap();
    assert!(r.status().is_success());
    let text = r.text().await.unwrap();
    let n = |sample: &str| drover_metrics::testing::value(&text, sample).unwrap_or(0.0);
    let answers = |t: &str, rcode: &str| {
        n(&format!(
            "drover_dns_answers_total{{transport=\"{t}\",rcode=\"{rcode}\"}}"
        ))
    };
    assert_eq!(answers("udp", "REFUSED"), 1.0, "{text}");
    assert_eq!(answers("tcp", "NOERROR"), 1.0, "{text}");
    assert!(answers("udp", "SERVFAIL") >= 1.0, "{text}");
    assert!(answers("udp", "NOERROR") >= 1.0, "{text}");
    assert!(n("drover_dns_records{type=\"SRV\"}") >= 1.0, "{text}");
    assert!(n("drover_dns_records{type=\"A\"}") >= 1.0, "{text}");
    assert!(
        n("drover_dns_rebuild_duration_seconds_count") >= 1.0,
        "{text}"
    );
    let hosts =
        "drover_dns_http_requests_total{route=\"/v1/hosts/{host}\",method=\"GET\",status=\"2xx\"}";
    assert_eq!(n(hosts), 2.0, "{text}");

    // Killed: gone at once.
    master.send(updated("web.1", "TASK_KILLED"));
    wait_for(dns, "web.marathon.mesos.", Duration::from_secs(5), |m| {
        m.response_code == ResponseCode::NXDomain
    })
    .await;

    // Another task; then the master's stream drops: its records are still served, and the
    // service subscribes again.
    master.send(
        json!({"type": "TASK_ADDED", "task_added": {"task": task("db.1", "db", "TASK_RUNNING")}}),
    );
    wait_for(dns, "db.marathon.mesos.", Duration::from_secs(5), |m| {
        !m.answers.is_empty()
    })
    .await;
    master.drop_stream();
    let deadline = Instant::now() + Duration::from_secs(10);
    while master.subscriptions() < 2 {
        assert!(
            Instant::now() < deadline,
            "no new SUBSCRIBE after the stream ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let m = ask_udp(dns, "db.marathon.mesos.", RecordType::A).await;
    assert_eq!(m.answers.len(), 1, "records kept while the master is away");
    h.stop().await;
}

async fn start_with(config: &str) -> drover_dns::Handle {
    let (_master, maddr) = fake_master().await;
    start(
        Options {
            master: maddr.to_string(),
            config: Config::from_json(config.as_bytes()).unwrap(),
            health_aware: false,
        },
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap()
}

/// Whether anything answers DNS over UDP at `addr`: a reply, or a refusal (the port closed).
async fn udp_answers(addr: SocketAddr) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.connect(addr).await.unwrap();
    s.send(&query("leader.mesos.", RecordType::A))
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(5), s.recv(&mut buf)).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
            false
        }
        Err(_) => panic!("neither a reply nor a refusal within 5 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnson_and_httpon_false_leave_dns_and_http_unserved() {
    let h = start_with(r#"{"externalon": false, "dnson": false}"#).await;
    assert!(!udp_answers(h.dns_udp_addr()).await);
    assert!(TcpStream::connect(h.dns_tcp_addr()).await.is_err());
    assert_eq!(
        get(h.http_addr(), "/v1/version").await["Service"],
        "Mesos-DNS"
    );
    h.stop().await;

    let h = start_with(r#"{"externalon": false, "httpon": false}"#).await;
    assert!(udp_answers(h.dns_udp_addr()).await);
    assert!(TcpStream::connect(h.http_addr()).await.is_err());
    h.stop().await;
}
