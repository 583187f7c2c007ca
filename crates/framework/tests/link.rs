//! The link against a tiny fake master: `POST /api/v1/scheduler` answers a SUBSCRIBE with a
//! RecordIO stream (SUBSCRIBED first, `Mesos-Stream-Id` header) the test can push events into
//! and close, and records every other call with the stream id it came with.
#![allow(clippy::unwrap_used)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use drover_api::recordio;
use drover_api::scheduler::{Call, CallType, Event, EventType, Subscribed};
use drover_api::{FrameworkID, FrameworkInfo, TaskID};
use drover_framework::{Link, Scheduler};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

type Chunks = mpsc::UnboundedSender<Result<Bytes, Infallible>>;

#[derive(Default)]
struct Master {
    /// SUBSCRIBE calls, in order.
    subscribes: Vec<Call>,
    /// Other calls, with the `Mesos-Stream-Id` they came with, in the order they were answered.
    calls: Vec<(Option<String>, Call)>,
    /// The open streams' senders (dropping one ends its stream).
    streams: Vec<Chunks>,
    /// Refuse the next subscription as removed.
    removed: bool,
}

#[derive(Clone)]
struct Fake {
    st: Arc<Mutex<Master>>,
    /// Subscriptions are answered only once this is open.
    gate: Arc<Notify>,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, Master> {
        self.st.lock().unwrap()
    }
    fn push(&self, ev: &Event) {
        let rec = recordio::encode(&serde_json::to_vec(ev).unwrap());
        let st = self.lock();
        st.streams
            .last()
            .unwrap()
            .send(Ok(Bytes::from(rec)))
            .unwrap();
    }
    fn drop_streams(&self) {
        self.lock().streams.clear();
    }
    fn calls(&self) -> Vec<(Option<String>, Call)> {
        self.lock().calls.clone()
    }
    fn open_gate(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
        self.gate.notify_waiters();
    }
}

async fn scheduler_api(State(f): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let call: Call = serde_json::from_slice(&body).unwrap();
    if call.kind != CallType::SUBSCRIBE {
        if call.kind == CallType::DECLINE {
            // Slow: a barrier after it must wait for it.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let sid = headers
            .get("Mesos-Stream-Id")
            .map(|v| v.to_str().unwrap().to_string());
        f.lock().calls.push((sid, call));
        return StatusCode::ACCEPTED.into_response();
    }
    while !f.open.load(std::sync::atomic::Ordering::SeqCst) {
        let wait = f.gate.notified();
        if f.open.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        wait.await;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let n = {
        let mut st = f.lock();
        st.subscribes.push(call);
        if std::mem::take(&mut st.removed) {
            return (StatusCode::FORBIDDEN, "Framework has been removed").into_response();
        }
        st.streams.push(tx.clone());
        st.subscribes.len()
    };
    let ev = Event::subscribed(Subscribed {
        framework_id: FrameworkID::new("fw-1"),
        heartbeat_interval_seconds: Some(15.0),
        master_info: None,
    });
    let rec = recordio::encode(&serde_json::to_vec(&ev).unwrap());
    tx.send(Ok(Bytes::from(rec))).unwrap();
    drop(tx);
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Response::builder()
        .header("Mesos-Stream-Id", format!("stream-{n}"))
        .header("Content-Type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn fake_master(gate_open: bool) -> (Fake, String) {
    let f = Fake {
        st: Arc::default(),
        gate: Arc::new(Notify::new()),
        open: Arc::new(std::sync::atomic::AtomicBool::new(gate_open)),
    };
    let app = axum::Router::new()
        .route("/api/v1/scheduler", axum::routing::post(scheduler_api))
        .with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (f, addr)
}

/// Records what the link tells it; answers SUBSCRIBED with a REVIVE and a MESSAGE with a KILL.
#[derive(Default)]
struct Recorder {
    id: Mutex<Option<FrameworkID>>,
    events: Mutex<Vec<EventType>>,
    disconnects: std::sync::atomic::AtomicUsize,
    removals: std::sync::atomic::AtomicUsize,
}

impl Scheduler for Recorder {
    fn framework_info(&self) -> FrameworkInfo {
        FrameworkInfo {
            name: "test".into(),
            id: self.id.lock().unwrap().clone(),
            ..Default::default()
        }
    }
    fn on_event(&self, ev: Event) -> Vec<Call> {
        self.events.lock().unwrap().push(ev.kind);
        match ev.kind {
            EventType::SUBSCRIBED => {
                *self.id.lock().unwrap() = ev.subscribed.map(|s| s.framework_id);
                vec![Call::new(CallType::REVIVE, None)]
            }
            EventType::MESSAGE => vec![kill("from-event")],
            _ => vec![],
        }
    }
    fn on_disconnected(&self) {
        self.disconnects
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    fn on_removed(&self) {
        self.removals
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.id.lock().unwrap() = None;
    }
}

fn kill(task: &str) -> Call {
    let mut c = Call::new(CallType::KILL, None);
    c.kill = Some(drover_api::scheduler::Kill {
        task_id: TaskID::new(task),
        agent_id: None,
        kill_policy: None,
    });
    c
}

fn killed(c: &Call) -> Option<&str> {
    c.kill.as_ref().map(|k| k.task_id.value.as_str())
}

async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn http() -> reqwest::Client {
    drover_httpclient::builder().build().unwrap()
}

#[tokio::test]
async fn subscribes_delivers_posts_and_resubscribes() {
    let (master, addr) = fake_master(false).await;
    let sched = Arc::new(Recorder::default());
    let link = Link::start(&addr, sched.clone(), http());

    // Not subscribed yet (the master holds the SUBSCRIBE): dropped, not posted later.
    eventually("the master to be known", || link.master().is_some()).await;
    assert_eq!(link.master().as_deref(), Some(addr.as_str()));
    link.send(vec![kill("too-early")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    master.open_gate();

    // SUBSCRIBED delivered; its REVIVE posted with the framework and stream id.
    eventually("SUBSCRIBED's REVIVE", || !master.calls().is_empty()).await;
    assert_eq!(sched.events.lock().unwrap()[0], EventType::SUBSCRIBED);
    let calls = master.calls();
    assert_eq!(calls[0].1.kind, CallType::REVIVE);
    assert_eq!(calls[0].0.as_deref(), Some("stream-1"));
    assert_eq!(calls[0].1.framework_id, Some(FrameworkID::new("fw-1")));
    let first = master.lock().subscribes[0].clone();
    assert_eq!(first.framework_id, None);
    assert_eq!(
        first.subscribe.as_ref().unwrap().framework_info.name,
        "test"
    );

    // An event delivered; the call it answers with posted.
    master.push(&Event::message(drover_api::scheduler::Message {
        agent_id: drover_api::AgentID::new("a1"),
        executor_id: drover_api::ExecutorID::new("e1"),
        data: vec![],
    }));
    eventually("the MESSAGE's KILL", || master.calls().len() == 2).await;
    assert_eq!(killed(&master.calls()[1].1), Some("from-event"));

    // Calls sent by the link and through a sender.
    link.send(vec![kill("sent")]);
    link.sender().send(vec![kill("by-sender")]);
    eventually("both kills", || master.calls().len() == 4).await;
    for (sid, c) in &master.calls()[2..] {
        assert_eq!(sid.as_deref(), Some("stream-1"));
        assert_eq!(c.framework_id, Some(FrameworkID::new("fw-1")));
    }
    assert!(master
        .calls()
        .iter()
        .all(|(_, c)| killed(c) != Some("too-early")));

    // The stream drops: the scheduler hears of it, the link subscribes again with the id it
    // got, and calls carry the new stream id.
    master.drop_streams();
    eventually("a second subscription", || {
        master.lock().subscribes.len() == 2
    })
    .await;
    assert_eq!(
        sched.disconnects.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let again = master.lock().subscribes[1].clone();
    assert_eq!(again.framework_id, Some(FrameworkID::new("fw-1")));
    assert_eq!(
        again.subscribe.unwrap().framework_info.id,
        Some(FrameworkID::new("fw-1"))
    );
    eventually("the second REVIVE", || master.calls().len() == 5).await;
    assert_eq!(master.calls()[4].0.as_deref(), Some("stream-2"));
    link.send(vec![kill("after")]);
    eventually("the kill after", || master.calls().len() == 6).await;
    assert_eq!(master.calls()[5].0.as_deref(), Some("stream-2"));

    // Stopped: nothing more is posted.
    link.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    link.send(vec![kill("stopped")]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(master.calls().len(), 6);
}

#[tokio::test]
async fn a_barrier_waits_for_the_calls_before_it() {
    let (master, addr) = fake_master(true).await;
    let link = Link::start(&addr, Arc::new(Recorder::default()), http());
    eventually("SUBSCRIBED's REVIVE", || master.calls().len() == 1).await;
    let decline = |n: &str| {
        let mut c = Call::new(CallType::DECLINE, None);
        c.decline = Some(drover_api::scheduler::Decline {
            offer_ids: vec![drover_api::OfferID::new(n)],
            filters: None,
        });
        c
    };
    link.send(vec![
        decline("o1"),
        decline("o2"),
        Call::new(CallType::SUPPRESS, None),
    ]);
    eventually("three calls", || master.calls().len() == 4).await;
    let kinds: Vec<_> = master.calls().iter().map(|(_, c)| c.kind).collect();
    assert_eq!(
        kinds,
        [
            CallType::REVIVE,
            CallType::DECLINE,
            CallType::DECLINE,
            CallType::SUPPRESS
        ]
    );
}

#[tokio::test]
async fn a_removed_framework_posts_nothing_until_it_subscribes_again() {
    let (master, addr) = fake_master(true).await;
    let sched = Arc::new(Recorder::default());
    let link = Link::start(&addr, sched.clone(), http());
    eventually("SUBSCRIBED's REVIVE", || master.calls().len() == 1).await;

    // Torn down: the next subscription is refused as removed.
    {
        let mut st = master.lock();
        st.removed = true;
        st.streams.clear();
    }
    eventually("the removal", || {
        sched.removals.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    link.send(vec![kill("removed")]);
    // Subscribed again, as a new framework (no id).
    eventually("a third subscription", || {
        master.lock().subscribes.len() == 3
    })
    .await;
    assert_eq!(master.lock().subscribes[2].framework_id, None);
    eventually("the new REVIVE", || master.calls().len() == 2).await;
    assert_eq!(master.calls()[1].1.kind, CallType::REVIVE);
    assert!(master
        .calls()
        .iter()
        .all(|(_, c)| killed(c) != Some("removed")));
}
