//! Bad input to the Mesos v1 scheduler and operator APIs, over real HTTP against `drover up`:
//! every malformed or invalid call gets the status Mesos gives with a message naming what was
//! wrong (or a TASK_ERROR / TASK_LOST / TASK_DROPPED update naming it), nothing panics, and a task
//! already running is left alone. Also: TEARDOWN then re-SUBSCRIBE, calls from frameworks that are
//! unknown or not subscribed, decline filters, and the shapes of the operator API responses and
//! the v0 JSON endpoints that Mesos clients read.
//!
//! Status codes and messages follow Apache Mesos' `src/master/http.cpp` and
//! `src/master/validation.cpp`.

mod common;
use common::*;
use drover_api::scheduler::{Acknowledge, Call, CallType, Event, EventType};
use drover_api::{
    AgentID, Capability, FrameworkID, FrameworkInfo, Offer, Reason, StatusSource, TaskState,
    TaskStatus,
};
use drover_bench::client::SchedulerClient;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Every agent gets exactly this, so offers are predictable.
const RES: &str = "cpus:4;mem:2048;disk:4096;ports:[31000-31099]";
const EVENT_WAIT: Duration = Duration::from_secs(60);

fn start(agents: usize, extra: &[&str]) -> Cluster {
    let mut args = vec!["--resources", RES];
    args.extend_from_slice(extra);
    Cluster(Up::start(agents, &args))
}

/// `drover up`, stopped the way a user does (SIGINT: it kills its tasks) when the test ends,
/// passed or failed, so no task outlives it.
struct Cluster(Up);

impl std::ops::Deref for Cluster {
    type Target = Up;
    fn deref(&self) -> &Up {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Up {
        &mut self.0
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.0.proc.signal(2);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.proc.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn assert_no_panic(up: &Up) {
    let log = up.log();
    assert!(!log.contains("panicked"), "drover panicked:\n{log}");
}

fn framework(name: &str, capabilities: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        user: String::new(),
        name: name.into(),
        capabilities: capabilities
            .iter()
            .map(|c| Capability {
                kind: c.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

fn http() -> reqwest::Client {
    drover_httpclient::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// POST `body` to `path` with the given headers; returns status and body text.
async fn post(
    master: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut req = http().post(format!("http://{master}{path}")).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Headers, body, expected status, and a piece of the expected message.
type BadCall = (
    &'static [(&'static str, &'static str)],
    String,
    u16,
    &'static str,
);

async fn get(master: &str, path: &str) -> (u16, Value) {
    let resp = http()
        .get(format!("http://{master}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn operator(master: &str, call: Value) -> Value {
    let (status, body) = post(
        master,
        "/api/v1",
        &[JSON, ("Accept", "application/json")],
        call.to_string(),
    )
    .await;
    assert_eq!(status, 200, "operator call {call}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("operator call {call}: not JSON ({e}): {body}"))
}

fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}})
}

fn task(id: &str, agent: &AgentID, resources: Vec<Value>, cmd: &str) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": {"value": agent.value},
        "resources": resources,
        "command": {"value": cmd, "shell": true},
    })
}

fn small_task(id: &str, agent: &AgentID) -> Value {
    // Bounded, in case `drover up` dies without stopping its tasks.
    task(
        id,
        agent,
        vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        "sleep 300",
    )
}

fn offer_cpus(o: &Offer) -> f64 {
    o.resources
        .iter()
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.map(|s| s.value))
        .sum()
}

/// A subscribed framework, every event it has seen, and those no `wait` has taken yet.
struct Fw {
    c: SchedulerClient,
    seen: Vec<Event>,
    pending: Vec<Event>,
}

impl Fw {
    async fn subscribe(master: &str, info: FrameworkInfo) -> Fw {
        let c = SchedulerClient::subscribe(master, info)
            .await
            .unwrap_or_else(|e| panic!("SUBSCRIBE: {e}"));
        Fw {
            c,
            seen: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn id(&self) -> &FrameworkID {
        &self.c.framework_id
    }

    /// POST a call (JSON) with this framework's stream id.
    async fn post(&self, call: Value) -> (u16, String) {
        post(
            &self.c.master,
            "/api/v1/scheduler",
            &[JSON, ("Mesos-Stream-Id", &self.c.stream_id)],
            call.to_string(),
        )
        .await
    }

    /// The first event `f` accepts that no earlier `wait` took (acknowledging updates on the
    /// way); panics at the deadline.
    async fn wait(&mut self, what: &str, mut f: impl FnMut(&Event) -> bool) -> Event {
        if let Some(i) = self.pending.iter().position(&mut f) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(ev) = self.c.next_event(left).await else {
                panic!(
                    "no {what} within {EVENT_WAIT:?} (or the stream ended); seen: {:#?}",
                    self.seen
                );
            };
            if let Some(u) = &ev.update {
                self.ack(&u.status).await;
            }
            self.seen.push(ev.clone());
            if f(&ev) {
                return ev;
            }
            if ev.kind != EventType::HEARTBEAT {
                self.pending.push(ev);
            }
        }
    }

    async fn ack(&self, s: &TaskStatus) {
        let (Some(uuid), Some(agent_id)) = (s.uuid.clone(), s.agent_id.clone()) else {
            return;
        };
        let mut call = Call::new(CallType::ACKNOWLEDGE, None);
        call.acknowledge = Some(Acknowledge {
            agent_id,
            task_id: s.task_id.clone(),
            uuid,
        });
        let (status, body) = self.c.call(call).await.expect("ACKNOWLEDGE");
        assert_eq!(status.as_u16(), 202, "ACKNOWLEDGE: {body}");
    }

    async fn offers(&mut self) -> Vec<Offer> {
        let ev = self.wait("OFFERS", |e| e.kind == EventType::OFFERS).await;
        ev.offers.map(|o| o.offers).unwrap_or_default()
    }

    /// The next status update of `task_id`.
    async fn update(&mut self, task_id: &str) -> TaskStatus {
        let ev = self
            .wait(&format!("update of {task_id}"), |e| {
                e.update
                    .as_ref()
                    .map(|u| u.status.task_id.value == task_id)
                    .unwrap_or(false)
            })
            .await;
        ev.update.map(|u| u.status).expect("update")
    }

    /// ACCEPT `offers` launching `tasks`; refuse_seconds 0 so what is left comes straight back.
    async fn launch(&self, offers: &[&str], tasks: Vec<Value>) {
        let ids: Vec<Value> = offers.iter().map(|o| json!({"value": o})).collect();
        let call = json!({
            "type": "ACCEPT",
            "framework_id": {"value": self.id().value},
            "accept": {
                "offer_ids": ids,
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                "filters": {"refuse_seconds": 0.0},
            },
        });
        let (status, body) = self.post(call).await;
        assert_eq!(status, 202, "ACCEPT: {body}");
    }

    async fn decline(&self, offer: &str, refuse_seconds: f64) {
        let call = json!({
            "type": "DECLINE",
            "framework_id": {"value": self.id().value},
            "decline": {"offer_ids": [{"value": offer}], "filters": {"refuse_seconds": refuse_seconds}},
        });
        let (status, body) = self.post(call).await;
        assert_eq!(status, 202, "DECLINE: {body}");
    }
}

/// Launch a long-running task and wait until it is TASK_RUNNING; returns the offer it used.
async fn launch_running(fw: &mut Fw, task_id: &str) -> (Offer, TaskStatus) {
    let offer = fw.offers().await.into_iter().next().expect("an offer");
    fw.launch(
        &[&offer.id.value],
        vec![small_task(task_id, &offer.agent_id)],
    )
    .await;
    loop {
        let s = fw.update(task_id).await;
        match s.state {
            TaskState::TASK_STAGING | TaskState::TASK_STARTING => continue,
            TaskState::TASK_RUNNING => return (offer, s),
            other => panic!("{task_id} went {other:?} instead of running: {s:?}"),
        }
    }
}

/// A SUBSCRIBE whose connection the test owns: dropping the response closes the stream.
async fn raw_subscribe(
    master: &str,
    info: &FrameworkInfo,
) -> (reqwest::Response, String, FrameworkID) {
    let call = json!({"type": "SUBSCRIBE", "framework_id": info.id, "subscribe": {"framework_info": info}});
    let mut resp = http()
        .post(format!("http://{master}/api/v1/scheduler"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .timeout(Duration::from_secs(3600))
        .body(call.to_string())
        .send()
        .await
        .expect("SUBSCRIBE");
    assert_eq!(resp.status().as_u16(), 200, "SUBSCRIBE");
    let sid = resp
        .headers()
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .expect("Mesos-Stream-Id")
        .to_string();
    let mut dec = drover_api::recordio::Decoder::new(1 << 20);
    loop {
        let chunk = tokio::time::timeout(EVENT_WAIT, resp.chunk())
            .await
            .expect("SUBSCRIBED in time")
            .expect("read")
            .expect("stream open");
        dec.feed(&chunk);
        if let Ok(Some(rec)) = dec.next_record() {
            let ev: Event = serde_json::from_slice(&rec).expect("event JSON");
            let fid = ev
                .subscribed
                .expect("first event is SUBSCRIBED")
                .framework_id;
            return (resp, sid, fid);
        }
    }
}

fn task_in(list: &Value, id: &str) -> Option<Value> {
    list.as_array()?.iter().find(|t| t["id"] == id).cloned()
}

// ------------------------------------------------------------------------------------------------

/// Every kind of bad scheduler call: the right status and message, or the right task update; the
/// task launched first keeps running through all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scheduler_calls_are_refused_and_running_tasks_are_untouched() {
    let mut up = start(1, &["--max-body-bytes", "65536"]);
    let m = up.master.clone();
    let mut fw = Fw::subscribe(&m, framework("bad-input", &[])).await;
    let fid = fw.id().value.clone();
    let (keeper_offer, running) = launch_running(&mut fw, "keeper").await;
    let agent = keeper_offer.agent_id.clone();
    let sid = fw.c.stream_id.clone();
    let sched = "/api/v1/scheduler";

    // Malformed JSON.
    let (s, b) = post(
        &m,
        sched,
        &[JSON, ("Mesos-Stream-Id", &sid)],
        "{\"type\": \"DECLINE\", ",
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("Failed to parse body"), "{b}");

    // A call type that does not exist; and the explicit UNKNOWN type (Mesos: 501).
    let (s, b) = fw
        .post(json!({"type": "FLY_TO_THE_MOON", "framework_id": {"value": fid}}))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("FLY_TO_THE_MOON"), "{b}");
    let (s, b) = fw
        .post(json!({"type": "UNKNOWN", "framework_id": {"value": fid}}))
        .await;
    assert_eq!(s, 501, "{b}");
    assert!(b.contains("UNKNOWN"), "{b}");

    // Missing required fields.
    let (s, b) = fw
        .post(json!({"type": "DECLINE", "decline": {"offer_ids": []}}))
        .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Expecting 'framework_id' to be present")
    );
    let (s, b) = fw
        .post(json!({"type": "ACCEPT", "framework_id": {"value": fid}}))
        .await;
    assert_eq!((s, b.as_str()), (400, "Expecting 'accept' to be present"));
    let (s, b) = fw
        .post(json!({"type": "KILL", "framework_id": {"value": fid}}))
        .await;
    assert_eq!((s, b.as_str()), (400, "Expecting 'kill' to be present"));
    let (s, b) = fw
        .post(json!({"type": "KILL", "framework_id": {"value": fid}, "kill": {}}))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("task_id"), "{b}");
    let (s, b) = post(&m, sched, &[JSON], json!({"type": "SUBSCRIBE"}).to_string()).await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Expecting 'subscribe' to be present")
    );
    let (s, b) = post(
        &m,
        sched,
        &[JSON],
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": ""}}}).to_string(),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("name"), "{b}");
    let (s, b) = fw.post(json!({"type": "ACKNOWLEDGE", "framework_id": {"value": fid},
        "acknowledge": {"agent_id": {"value": agent.value}, "task_id": {"value": "keeper"}, "uuid": "AAAA"}})).await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("uuid"), "{b}");

    // Mesos-Stream-Id: missing, wrong, and present on a SUBSCRIBE.
    let decline_nothing =
        json!({"type": "DECLINE", "framework_id": {"value": fid}, "decline": {"offer_ids": []}})
            .to_string();
    let (s, b) = post(&m, sched, &[JSON], decline_nothing.clone()).await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
        )
    );
    let (s, b) = post(
        &m,
        sched,
        &[JSON, ("Mesos-Stream-Id", "not-my-stream")],
        decline_nothing.clone(),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("'not-my-stream'") && b.contains("didn't match") && b.contains(&fid),
        "{b}"
    );
    let sub =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "", "name": "x"}}})
            .to_string();
    let (s, b) = post(&m, sched, &[JSON, ("Mesos-Stream-Id", &sid)], sub).await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "Subscribe calls should not include the 'Mesos-Stream-Id' header"
        )
    );

    // A framework id the master never heard of (Mesos: 400 "Framework cannot be found").
    let ghost =
        json!({"type": "REVIVE", "framework_id": {"value": "no-such-framework"}}).to_string();
    let (s, b) = post(&m, sched, &[JSON, ("Mesos-Stream-Id", &sid)], ghost).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("no-such-framework") && b.contains("cannot be found"),
        "{b}"
    );

    // Content-Type: missing (Mesos: 400), unsupported (415); an Accept the master cannot meet (406).
    let (s, b) = post(
        &m,
        sched,
        &[("Mesos-Stream-Id", &sid)],
        decline_nothing.clone(),
    )
    .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Expecting 'Content-Type' to be present")
    );
    let (s, b) = post(
        &m,
        sched,
        &[("Content-Type", "text/plain"), ("Mesos-Stream-Id", &sid)],
        decline_nothing.clone(),
    )
    .await;
    assert_eq!(s, 415, "{b}");
    assert!(
        b.contains("Content-Type") && b.contains("application/json"),
        "{b}"
    );
    let (s, b) = post(
        &m,
        sched,
        &[JSON, ("Accept", "text/html")],
        json!({"type": "SUBSCRIBE"}).to_string(),
    )
    .await;
    assert_eq!(s, 406, "{b}");
    assert!(b.contains("Accept"), "{b}");

    // An oversized body (the limit is 64 KiB here), with and without a Content-Length.
    let big = format!(
        "{{\"type\": \"DECLINE\", \"padding\": \"{}\"}}",
        "x".repeat(200_000)
    );
    let (s, b) = post(&m, sched, &[JSON, ("Mesos-Stream-Id", &sid)], big.clone()).await;
    assert_eq!(s, 413, "{b}");
    assert!(b.contains("larger than the limit of 65536 bytes"), "{b}");
    let chunked =
        reqwest::Body::wrap_stream(futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
            big.into_bytes(),
        )]));
    let (s, b) = post(&m, sched, &[JSON, ("Mesos-Stream-Id", &sid)], chunked).await;
    assert_eq!(s, 413, "{b}");
    assert!(b.contains("limit"), "{b}");

    // A stale offer id (the one `keeper` used): TASK_LOST for a framework that is not
    // partition-aware, from the master, REASON_INVALID_OFFERS, naming the offer.
    fw.launch(
        &[&keeper_offer.id.value],
        vec![small_task("on-stale-offer", &agent)],
    )
    .await;
    let s = fw.update("on-stale-offer").await;
    assert_eq!(s.state, TaskState::TASK_LOST, "{s:?}");
    assert_eq!(s.reason, Some(Reason::REASON_INVALID_OFFERS), "{s:?}");
    assert_eq!(s.source, Some(StatusSource::SOURCE_MASTER), "{s:?}");
    let msg = s.message.clone().unwrap_or_default();
    assert!(
        msg.contains(&format!(
            "Offer {} is no longer valid",
            keeper_offer.id.value
        )),
        "{msg}"
    );

    // One offer, four invalid tasks: more resources than offered, a duplicate of the running
    // task's id, no resources at all, an id that would name the sandbox's parent directory.
    // Each gets TASK_ERROR naming its problem.
    let offer = fw.offers().await.into_iter().next().expect("an offer");
    let too_many = offer_cpus(&offer) + 1.0;
    fw.launch(
        &[&offer.id.value],
        vec![
            task(
                "too-big",
                &agent,
                vec![scalar("cpus", too_many), scalar("mem", 32.0)],
                "true",
            ),
            small_task("keeper", &agent),
            task("no-resources", &agent, vec![], "true"),
            small_task("..", &agent),
        ],
    )
    .await;
    for (id, needle) in [
        ("too-big", "more resources"),
        ("keeper", "Task has duplicate ID: keeper"),
        ("no-resources", "Task uses no resources"),
        ("..", "Task ID '..' is disallowed"),
    ] {
        let s = fw.update(id).await;
        assert_eq!(s.state, TaskState::TASK_ERROR, "{id}: {s:?}");
        assert_eq!(s.reason, Some(Reason::REASON_TASK_INVALID), "{id}: {s:?}");
        let msg = s.message.clone().unwrap_or_default();
        assert!(msg.contains(needle), "{id}: {msg}");
    }

    // What was running is untouched: besides the updates of its launch, `keeper` only ever saw
    // the TASK_ERROR of the refused duplicate (Mesos sends that under the duplicate's id too);
    // the master and its task lists still say TASK_RUNNING, and everything still answers.
    let launch_states = [
        TaskState::TASK_STAGING,
        TaskState::TASK_STARTING,
        TaskState::TASK_RUNNING,
    ];
    let keeper_other: Vec<TaskStatus> = fw
        .seen
        .iter()
        .filter_map(|e| e.update.as_ref())
        .filter(|u| u.status.task_id.value == "keeper" && !launch_states.contains(&u.status.state))
        .map(|u| u.status.clone())
        .collect();
    assert_eq!(keeper_other.len(), 1, "{keeper_other:#?}");
    assert_eq!(keeper_other[0].state, TaskState::TASK_ERROR);
    assert!(
        keeper_other[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("duplicate ID"),
        "{keeper_other:#?}"
    );
    assert_eq!(running.state, TaskState::TASK_RUNNING);
    let (s, tasks) = get(&m, "/master/tasks").await;
    assert_eq!(s, 200);
    let keeper =
        task_in(&tasks["tasks"], "keeper").unwrap_or_else(|| panic!("keeper missing: {tasks:#}"));
    assert_eq!(keeper["state"], "TASK_RUNNING", "{tasks:#}");
    for id in ["too-big", "no-resources", "on-stale-offer", ".."] {
        assert!(
            task_in(&tasks["tasks"], id).is_none(),
            "{id} must not be recorded as a task: {tasks:#}"
        );
    }
    let (s, metrics) = get(&m, "/metrics/snapshot").await;
    assert_eq!(s, 200);
    assert_eq!(metrics["master/tasks_running"], 1.0, "{metrics:#}");
    assert_eq!(metrics["master/tasks_error"], 4.0, "{metrics:#}");
    assert_eq!(metrics["master/tasks_lost"], 1.0, "{metrics:#}");
    let health = http()
        .get(format!("http://{m}/health"))
        .send()
        .await
        .expect("/health");
    assert_eq!(health.status().as_u16(), 200);
    // The framework is still subscribed on the same stream.
    let (s, b) = fw.post(json!({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": {"tasks": []}})).await;
    assert_eq!(s, 202, "{b}");
    let s = fw.update("keeper").await;
    assert_eq!(s.state, TaskState::TASK_RUNNING, "{s:?}");
    assert_eq!(s.reason, Some(Reason::REASON_RECONCILIATION), "{s:?}");
    assert!(
        up.proc.child.try_wait().expect("try_wait").is_none(),
        "drover exited:\n{}",
        up.log()
    );
    assert_no_panic(&up);
}

/// A partition-aware framework is told TASK_DROPPED, not TASK_LOST, for a launch on a stale offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_offer_gives_task_dropped_to_partition_aware_frameworks() {
    let up = start(1, &[]);
    let mut fw = Fw::subscribe(
        &up.master,
        framework("partition-aware", &["PARTITION_AWARE"]),
    )
    .await;
    let offer = fw.offers().await.into_iter().next().expect("an offer");
    fw.decline(&offer.id.value, 0.0).await;
    fw.launch(
        &[&offer.id.value],
        vec![small_task("late", &offer.agent_id)],
    )
    .await;
    let s = fw.update("late").await;
    assert_eq!(s.state, TaskState::TASK_DROPPED, "{s:?}");
    assert_eq!(s.reason, Some(Reason::REASON_INVALID_OFFERS), "{s:?}");
    assert_eq!(s.source, Some(StatusSource::SOURCE_MASTER), "{s:?}");
    assert!(
        s.message
            .clone()
            .unwrap_or_default()
            .contains(&offer.id.value),
        "{s:?}"
    );
    // An ACCEPT naming no offers at all is invalid the same way.
    fw.launch(&[], vec![small_task("no-offer", &offer.agent_id)])
        .await;
    let s = fw.update("no-offer").await;
    assert_eq!(
        (s.state, s.reason),
        (TaskState::TASK_DROPPED, Some(Reason::REASON_INVALID_OFFERS)),
        "{s:?}"
    );
    assert!(
        s.message
            .clone()
            .unwrap_or_default()
            .contains("No offers specified"),
        "{s:?}"
    );
    let (_, metrics) = get(&up.master, "/metrics/snapshot").await;
    assert_eq!(metrics["master/tasks_dropped"], 2.0, "{metrics:#}");
    assert_no_panic(&up);
}

/// Failover, TEARDOWN and re-SUBSCRIBE; calls from frameworks that are gone or not subscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_is_final_and_only_subscribed_frameworks_may_call() {
    let up = start(1, &[]);
    let m = up.master.clone();

    // Failover: a second SUBSCRIBE with the same id takes over; the old stream gets an ERROR.
    let mut info = framework("failing-over", &[]);
    info.failover_timeout = Some(300.0);
    let mut first = Fw::subscribe(&m, info.clone()).await;
    let fid = first.id().clone();
    info.id = Some(fid.clone());
    let second = Fw::subscribe(&m, info.clone()).await;
    assert_eq!(second.id(), &fid);
    let err = first.wait("ERROR", |e| e.kind == EventType::ERROR).await;
    assert!(err
        .error
        .map(|e| e.message)
        .unwrap_or_default()
        .contains("failed over"));
    // The old stream id is no longer this framework's.
    let (s, b) = first
        .post(json!({"type": "REVIVE", "framework_id": {"value": fid.value}}))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("didn't match"), "{b}");

    // TEARDOWN: accepted, the stream ends, and the framework id is dead for good.
    let (s, b) = second
        .post(json!({"type": "TEARDOWN", "framework_id": {"value": fid.value}}))
        .await;
    assert_eq!(s, 202, "{b}");
    let mut second = second;
    let deadline = Instant::now() + EVENT_WAIT;
    // Events already on the wire before TEARDOWN (offers, heartbeats) may still be read; what
    // matters is that the stream ends, and that the master holds no offer for it afterwards.
    while second
        .c
        .next_event(deadline.saturating_duration_since(Instant::now()))
        .await
        .is_some()
    {}
    assert!(
        Instant::now() < deadline,
        "the stream did not end after TEARDOWN"
    );
    match SchedulerClient::subscribe(&m, info.clone()).await {
        Err(drover_bench::client::ClientError::Status { status, body }) => {
            assert_eq!(status.as_u16(), 403, "{body}");
            assert!(
                body.contains(&fid.value) && body.contains("has been removed"),
                "{body}"
            );
        }
        Err(e) => panic!("re-SUBSCRIBE after TEARDOWN: {e}"),
        Ok(_) => panic!("re-SUBSCRIBE after TEARDOWN was accepted"),
    }
    let (s, b) = second
        .post(json!({"type": "REVIVE", "framework_id": {"value": fid.value}}))
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("cannot be found"), "{b}");
    let (_, fws) = get(&m, "/master/frameworks").await;
    let gone = task_in(&fws["completed_frameworks"], &fid.value)
        .unwrap_or_else(|| panic!("not completed: {fws:#}"));
    assert_eq!(gone["active"], false);
    assert_eq!(
        gone["offers"],
        json!([]),
        "no offer outlives TEARDOWN: {gone:#}"
    );
    assert!(task_in(&fws["frameworks"], &fid.value).is_none(), "{fws:#}");

    // A framework whose connection dropped (within its failover timeout) is known but not
    // subscribed: its calls are forbidden (403) until it subscribes again.
    let mut info = framework("disconnecting", &[]);
    info.failover_timeout = Some(300.0);
    let (resp, old_sid, fid) = raw_subscribe(&m, &info).await;
    drop(resp);
    wait_for(Duration::from_secs(60), || {
        get_json(&format!("http://{m}/master/frameworks"))
            .and_then(|v| task_in(&v["frameworks"], &fid.value))
            .map(|f| f["connected"] == false)
            .unwrap_or(false)
    });
    let call = json!({"type": "REVIVE", "framework_id": {"value": fid.value}}).to_string();
    let (s, b) = post(
        &m,
        "/api/v1/scheduler",
        &[JSON, ("Mesos-Stream-Id", &old_sid)],
        call,
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b.contains(&fid.value) && b.contains("not subscribed"),
        "{b}"
    );
    info.id = Some(fid.clone());
    let back = Fw::subscribe(&m, info).await;
    assert_eq!(back.id(), &fid);
    let (s, b) = back
        .post(json!({"type": "REVIVE", "framework_id": {"value": fid.value}}))
        .await;
    assert_eq!(s, 202, "{b}");
    assert_no_panic(&up);
}

/// DECLINE with `filters.refuse_seconds` keeps that agent away from the framework for that long,
/// and only that agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_filter_holds_the_agent_back_for_refuse_seconds() {
    const REFUSE: f64 = 4.0;
    let up = start(2, &[]);
    let mut fw = Fw::subscribe(&up.master, framework("decliner", &[])).await;
    let mut offers: Vec<Offer> = Vec::new();
    while offers
        .iter()
        .map(|o| &o.agent_id)
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 2
    {
        offers.extend(fw.offers().await);
    }
    let filtered = offers[0].clone();
    let other = offers
        .iter()
        .find(|o| o.agent_id != filtered.agent_id)
        .cloned()
        .expect("offer of the other agent");
    let declined_at = Instant::now();
    fw.decline(&filtered.id.value, REFUSE).await;
    fw.decline(&other.id.value, 0.0).await;
    // The other agent comes back (no filter) no later than the filtered one; the filtered one
    // only once its filter expired.
    let mut other_back = false;
    loop {
        let batch = fw.offers().await;
        other_back |= batch.iter().any(|o| o.agent_id == other.agent_id);
        if batch.iter().any(|o| o.agent_id == filtered.agent_id) {
            let after = declined_at.elapsed().as_secs_f64();
            assert!(
                after >= REFUSE,
                "agent re-offered {after:.2}s after a {REFUSE}s refusal"
            );
            break;
        }
    }
    assert!(
        other_back,
        "the agent declined without a filter was not re-offered first"
    );
    let (_, metrics) = get(&up.master, "/metrics/snapshot").await;
    assert!(
        metrics["master/messages_decline_offers"]
            .as_f64()
            .unwrap_or(0.0)
            >= 2.0,
        "{metrics:#}"
    );
    assert_no_panic(&up);
}

/// The operator API: each GET_* call answers its own type with sensible content; bad calls get 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_api_answers_in_mesos_shapes() {
    let up = start(1, &[]);
    let m = up.master.clone();
    let mut fw = Fw::subscribe(&m, framework("operated", &[])).await;
    let fid = fw.id().value.clone();
    let (offer, _) = launch_running(&mut fw, "op-task").await;
    let aid = offer.agent_id.value.clone();

    let r = operator(&m, json!({"type": "GET_HEALTH"})).await;
    assert_eq!(r["type"], "GET_HEALTH");
    assert_eq!(r["get_health"]["healthy"], true);

    let r = operator(&m, json!({"type": "GET_VERSION"})).await;
    assert_eq!(r["type"], "GET_VERSION");
    assert!(
        r["get_version"]["version_info"]["version"]
            .as_str()
            .unwrap_or_default()
            .starts_with("1."),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_FLAGS"})).await;
    assert_eq!(r["type"], "GET_FLAGS");
    let flags = r["get_flags"]["flags"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let port = m.rsplit(':').next().unwrap_or_default();
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == "port" && f["value"] == port),
        "{r:#}"
    );
    assert!(
        flags
            .iter()
            .all(|f| f["name"].is_string() && f["value"].is_string()),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_METRICS", "get_metrics": {}})).await;
    assert_eq!(r["type"], "GET_METRICS");
    let metric = |name: &str| {
        r["get_metrics"]["metrics"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
            .map(|x| x["value"].clone())
    };
    assert_eq!(metric("master/tasks_running"), Some(json!(1.0)), "{r:#}");
    assert_eq!(metric("master/slaves_active"), Some(json!(1.0)), "{r:#}");
    assert_eq!(
        metric("master/frameworks_active"),
        Some(json!(1.0)),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_AGENTS"})).await;
    assert_eq!(r["type"], "GET_AGENTS");
    let agents = r["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(agents.len(), 1, "{r:#}");
    assert_eq!(
        agents[0]["agent_info"]["id"]["value"],
        aid.as_str(),
        "{r:#}"
    );
    assert!(
        agents[0]["pid"]
            .as_str()
            .unwrap_or_default()
            .starts_with("slave(1)@"),
        "{r:#}"
    );
    assert_eq!(agents[0]["active"], true);
    let cpus = agents[0]["total_resources"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "cpus"))
        .map(|x| x["scalar"]["value"].clone());
    assert_eq!(cpus, Some(json!(4.0)), "{r:#}");

    let r = operator(&m, json!({"type": "GET_FRAMEWORKS"})).await;
    assert_eq!(r["type"], "GET_FRAMEWORKS");
    let f = &r["get_frameworks"]["frameworks"][0];
    assert_eq!(f["framework_info"]["id"]["value"], fid.as_str(), "{r:#}");
    assert_eq!(f["framework_info"]["name"], "operated", "{r:#}");
    assert_eq!(
        (f["active"].clone(), f["connected"].clone()),
        (json!(true), json!(true)),
        "{r:#}"
    );
    assert!(
        r["get_frameworks"]["completed_frameworks"].is_array()
            || r["get_frameworks"]["completed_frameworks"].is_null(),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_TASKS"})).await;
    assert_eq!(r["type"], "GET_TASKS");
    let t = &r["get_tasks"]["tasks"][0];
    assert_eq!(t["task_id"]["value"], "op-task", "{r:#}");
    assert_eq!(t["state"], "TASK_RUNNING", "{r:#}");
    assert_eq!(t["framework_id"]["value"], fid.as_str(), "{r:#}");
    assert_eq!(t["agent_id"]["value"], aid.as_str(), "{r:#}");

    let r = operator(&m, json!({"type": "GET_EXECUTORS"})).await;
    assert_eq!(r["type"], "GET_EXECUTORS");
    assert!(
        r["get_executors"]["executors"].is_array() || r["get_executors"].is_object(),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_ROLES"})).await;
    assert_eq!(r["type"], "GET_ROLES");
    let star = r["get_roles"]["roles"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "*"))
        .cloned()
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(star["weight"], 1.0);
    assert!(
        star["frameworks"]
            .as_array()
            .map(|a| a.iter().any(|f| f["value"] == fid.as_str()))
            .unwrap_or(false),
        "{r:#}"
    );

    let r = operator(&m, json!({"type": "GET_STATE"})).await;
    assert_eq!(r["type"], "GET_STATE");
    let st = &r["get_state"];
    assert_eq!(
        st["get_tasks"]["tasks"][0]["task_id"]["value"], "op-task",
        "{r:#}"
    );
    assert_eq!(
        st["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        fid.as_str(),
        "{r:#}"
    );
    assert_eq!(
        st["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        aid.as_str(),
        "{r:#}"
    );
    assert!(st["get_executors"].is_object(), "{r:#}");

    // Malformed operator calls.
    let bad: [BadCall; 6] = [
        (
            &[JSON],
            "{\"type\": ".to_string(),
            400,
            "Failed to parse body",
        ),
        (
            &[JSON],
            json!({"type": "GET_EVERYTHING"}).to_string(),
            400,
            "GET_EVERYTHING",
        ),
        (&[JSON], json!({"get_health": {}}).to_string(), 400, "type"),
        (
            &[JSON],
            json!({"type": "UPDATE_WEIGHTS"}).to_string(),
            400,
            "update_weights",
        ),
        (
            &[],
            json!({"type": "GET_HEALTH"}).to_string(),
            400,
            "Content-Type",
        ),
        (
            &[("Content-Type", "text/plain")],
            json!({"type": "GET_HEALTH"}).to_string(),
            415,
            "Content-Type",
        ),
    ];
    for (headers, body, status, needle) in bad {
        let (s, b) = post(&m, "/api/v1", headers, body.clone()).await;
        assert_eq!(s, status, "{body}: {b}");
        assert!(b.contains(needle), "{body}: {b}");
    }
    // Still healthy after all that.
    let r = operator(&m, json!({"type": "GET_HEALTH"})).await;
    assert_eq!(r["get_health"]["healthy"], true);
    assert_no_panic(&up);
}

/// The v0 JSON endpoints, in the shapes Mesos clients and UIs read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_endpoints_answer_in_mesos_shapes() {
    let up = start(1, &[]);
    let m = up.master.clone();
    let mut fw = Fw::subscribe(&m, framework("observed", &[])).await;
    let fid = fw.id().value.clone();
    let (offer, _) = launch_running(&mut fw, "seen-task").await;
    let aid = offer.agent_id.value.clone();
    let agent_port = up.agents[0]
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();

    let check_agent = |a: &Value| {
        assert_eq!(a["id"], aid.as_str(), "{a:#}");
        assert_eq!(
            a["pid"],
            format!("slave(1)@127.0.0.1:{agent_port}"),
            "{a:#}"
        );
        assert!(a["hostname"].is_string(), "{a:#}");
        assert_eq!(a["resources"]["cpus"], 4.0, "{a:#}");
        assert_eq!(a["resources"]["mem"], 2048.0, "{a:#}");
        assert_eq!(a["resources"]["ports"], "[31000-31099]", "{a:#}");
        for k in [
            "used_resources",
            "offered_resources",
            "reserved_resources",
            "unreserved_resources",
            "attributes",
        ] {
            assert!(a[k].is_object(), "{k}: {a:#}");
        }
        assert_eq!(a["active"], true, "{a:#}");
    };
    let check_task = |t: &Value| {
        assert_eq!(t["id"], "seen-task", "{t:#}");
        assert_eq!(t["state"], "TASK_RUNNING", "{t:#}");
        assert_eq!(t["framework_id"], fid.as_str(), "{t:#}");
        assert_eq!(t["slave_id"], aid.as_str(), "{t:#}");
        assert_eq!(t["resources"]["cpus"], 0.1, "{t:#}");
        assert!(t["statuses"].is_array(), "{t:#}");
    };
    let check_framework = |f: &Value| {
        assert_eq!(f["id"], fid.as_str(), "{f:#}");
        assert_eq!(f["name"], "observed", "{f:#}");
        assert_eq!(f["active"], true, "{f:#}");
        let tasks = f["tasks"].as_array().cloned().unwrap_or_default();
        assert_eq!(tasks.len(), 1, "{f:#}");
        check_task(&tasks[0]);
        assert!(
            f["completed_tasks"].is_array() && f["unreachable_tasks"].is_array(),
            "{f:#}"
        );
        assert!(
            f["used_resources"]["cpus"].as_f64().unwrap_or(0.0) >= 0.1,
            "{f:#}"
        );
    };

    for path in [
        "/master/state",
        "/state.json",
        "/master/state.json",
        "/state",
    ] {
        let (s, st) = get(&m, path).await;
        assert_eq!(s, 200, "{path}");
        for k in [
            "version",
            "id",
            "pid",
            "hostname",
            "leader",
            "flags",
            "start_time",
        ] {
            assert!(!st[k].is_null(), "{path}: no {k}: {st:#}");
        }
        assert_eq!(st["activated_slaves"], 1, "{path}");
        let slaves = st["slaves"].as_array().cloned().unwrap_or_default();
        assert_eq!(slaves.len(), 1, "{path}: {st:#}");
        check_agent(&slaves[0]);
        let fws = st["frameworks"].as_array().cloned().unwrap_or_default();
        assert_eq!(fws.len(), 1, "{path}: {st:#}");
        check_framework(&fws[0]);
        assert!(st["completed_frameworks"].is_array(), "{path}");
    }

    let (s, sum) = get(&m, "/master/state-summary").await;
    assert_eq!(s, 200);
    assert!(sum["hostname"].is_string(), "{sum:#}");
    assert_eq!(sum["slaves"][0]["id"], aid.as_str(), "{sum:#}");
    assert_eq!(sum["slaves"][0]["TASK_RUNNING"], 1, "{sum:#}");
    assert_eq!(sum["frameworks"][0]["id"], fid.as_str(), "{sum:#}");
    assert_eq!(sum["frameworks"][0]["TASK_RUNNING"], 1, "{sum:#}");
    assert_eq!(sum["frameworks"][0]["slave_ids"], json!([aid]), "{sum:#}");

    let (s, fws) = get(&m, "/master/frameworks").await;
    assert_eq!(s, 200);
    check_framework(&fws["frameworks"][0]);
    assert!(
        fws["completed_frameworks"].is_array() && fws["unregistered_frameworks"].is_array(),
        "{fws:#}"
    );

    for path in ["/slaves", "/master/slaves"] {
        let (s, sl) = get(&m, path).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(
            sl["slaves"].as_array().map(|a| a.len()),
            Some(1),
            "{path}: {sl:#}"
        );
        check_agent(&sl["slaves"][0]);
    }

    let (s, tasks) = get(&m, "/master/tasks").await;
    assert_eq!(s, 200);
    check_task(&task_in(&tasks["tasks"], "seen-task").unwrap_or_else(|| panic!("{tasks:#}")));

    let (s, roles) = get(&m, "/master/roles").await;
    assert_eq!(s, 200);
    let star = roles["roles"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "*"))
        .cloned();
    let star = star.unwrap_or_else(|| panic!("{roles:#}"));
    assert_eq!(star["weight"], 1.0, "{roles:#}");
    assert_eq!(star["frameworks"], json!([fid]), "{roles:#}");
    assert!(
        star["resources"]["cpus"].as_f64().unwrap_or(0.0) >= 0.1,
        "{roles:#}"
    );

    let (s, metrics) = get(&m, "/metrics/snapshot").await;
    assert_eq!(s, 200);
    for (name, want) in [
        ("master/slaves_active", 1.0),
        ("master/slaves_connected", 1.0),
        ("master/tasks_running", 1.0),
        ("master/frameworks_active", 1.0),
        ("master/frameworks_connected", 1.0),
        ("master/elected", 1.0),
        ("master/cpus_total", 4.0),
        ("master/mem_total", 2048.0),
    ] {
        assert_eq!(metrics[name].as_f64(), Some(want), "{name}: {metrics:#}");
    }
    assert!(
        metrics["master/cpus_used"].as_f64().unwrap_or(0.0) >= 0.1,
        "{metrics:#}"
    );
    assert!(
        metrics["master/uptime_secs"].as_f64().unwrap_or(0.0) > 0.0,
        "{metrics:#}"
    );

    let health = http()
        .get(format!("http://{m}/health"))
        .send()
        .await
        .expect("/health");
    assert_eq!(health.status().as_u16(), 200);
    let (s, v) = get(&m, "/version").await;
    assert_eq!(s, 200);
    assert!(
        v["version"].as_str().unwrap_or_default().starts_with("1."),
        "{v:#}"
    );
    for k in ["build_date", "build_user"] {
        assert!(v[k].is_string(), "{k}: {v:#}");
    }
    let no_follow = drover_httpclient::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_follow
        .get(format!("http://{m}/master/redirect"))
        .send()
        .await
        .expect("/master/redirect");
    assert_eq!(r.status().as_u16(), 307);
    let loc = r
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(loc, format!("//{m}"), "Location of /master/redirect");
    assert_no_panic(&up);
}
