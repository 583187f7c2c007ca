//! The harness the core's unit tests share: small builders (`mock_agent`, `mock_framework`,
//! `task`), a master with a fixed time origin and numbered stream ids, and connections whose
//! queues drain into decoded events and agent messages. No HTTP, no clock, no store.

use super::{IdSource, Master, Recovered, RegistryOp};
use crate::{ApiError, MasterConfig};
use bytes::Bytes;
use drover_api::agent_protocol::{
    FromAgent, Register, ReportedTask, StatusUpdate, ToAgent, PROTOCOL_VERSION,
};
use drover_api::recordio::Decoder;
use drover_api::scheduler::{self, Call, CallType, Event, EventType};
use drover_api::*;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// Stream ids `stream-1`, `stream-2`, …
pub struct SeqIds(pub u64);

impl IdSource for SeqIds {
    fn stream_id(&mut self) -> String {
        self.0 += 1;
        format!("stream-{}", self.0)
    }
}

/// Unix time of `now == 0`.
pub const START_UNIX: f64 = 1_800_000_000.0;

/// An agent offering `cpus`, `mem` and the port range `ports`.
pub fn mock_agent(cpus: f64, mem: f64, ports: (u64, u64)) -> Register {
    Register {
        version: PROTOCOL_VERSION,
        agent_info: AgentInfo {
            hostname: "10.0.0.7".into(),
            port: Some(5051),
            resources: vec![
                Resource::scalar("cpus", cpus),
                Resource::scalar("mem", mem),
                Resource::ranges(
                    "ports",
                    vec![Range {
                        begin: ports.0,
                        end: ports.1,
                    }],
                ),
            ],
            attributes: vec![],
            id: None,
        },
        agent_id: None,
        tasks: vec![],
        frameworks: vec![],
        checkpointed_resources: vec![],
    }
}

/// A framework named `name` with these capabilities (e.g. `PARTITION_AWARE`), role `*`.
pub fn mock_framework(name: &str, caps: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: name.into(),
        capabilities: caps
            .iter()
            .map(|c| Capability {
                kind: c.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

pub fn subscribe_call(info: FrameworkInfo) -> Call {
    let mut call = Call::new(CallType::SUBSCRIBE, info.id.clone());
    call.subscribe = Some(scheduler::Subscribe {
        framework_info: info,
        suppressed_roles: vec![],
    });
    call
}

/// A command task (`sleep 100`) on `agent`.
pub fn task(id: &str, agent: &AgentID, cpus: f64, mem: f64) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: agent.clone(),
        resources: vec![Resource::scalar("cpus", cpus), Resource::scalar("mem", mem)],
        executor: None,
        command: Some(CommandInfo {
            value: Some("sleep 100".into()),
            ..Default::default()
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
    }
}

/// A custom executor with a little of its own resources.
pub fn executor(id: &str) -> ExecutorInfo {
    ExecutorInfo {
        kind: None,
        executor_id: ExecutorID::new(id),
        framework_id: None,
        command: Some(CommandInfo {
            value: Some("./executor".into()),
            ..Default::default()
        }),
        container: None,
        resources: vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)],
        name: None,
        source: None,
        data: None,
        shutdown_grace_period: None,
        labels: None,
    }
}

/// Decode every record queued on a connection.
pub fn drain<T: serde::de::DeserializeOwned>(rx: &mut UnboundedReceiver<Bytes>) -> Vec<T> {
    let mut dec = Decoder::new(64 << 20);
    while let Ok(b) = rx.try_recv() {
        dec.feed(&b);
    }
    let mut out = Vec::new();
    while let Ok(Some(rec)) = dec.next_record() {
        out.push(serde_json::from_slice(&rec).expect("a record the master framed decodes"));
    }
    out
}

/// A subscribed framework's end of its stream.
pub struct Fw {
    pub id: FrameworkID,
    pub stream_id: String,
    pub rx: UnboundedReceiver<Bytes>,
}

impl Fw {
    pub fn events(&mut self) -> Vec<Event> {
        drain(&mut self.rx)
    }
    /// The statuses of the UPDATE events queued (other events are dropped).
    pub fn updates(&mut self) -> Vec<TaskStatus> {
        self.events()
            .into_iter()
            .filter_map(|e| e.update.map(|u| u.status))
            .collect()
    }
    /// The offers of the OFFERS events queued (other events are dropped).
    pub fn offers(&mut self) -> Vec<Offer> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == EventType::OFFERS)
            .flat_map(|e| e.offers.map(|o| o.offers).unwrap_or_default())
            .collect()
    }
}

/// A registered agent's end of its stream.
pub struct Ag {
    pub id: AgentID,
    pub conn: u64,
    pub rx: UnboundedReceiver<Bytes>,
    /// What the master sent as it registered the agent, REGISTERED last.
    pub first: Vec<ToAgent>,
}

impl Ag {
    pub fn messages(&mut self) -> Vec<ToAgent> {
        drain(&mut self.rx)
    }
}

/// A master (id `m1`) and the time.
pub struct Harness {
    pub m: Master,
    pub now: f64,
}

impl Harness {
    pub fn new() -> Self {
        let info = MasterInfo {
            id: "m1".into(),
            ip: 0,
            port: 5050,
            pid: Some("master@127.0.0.1:5050".into()),
            hostname: Some("localhost".into()),
            version: None,
            address: None,
            capabilities: Vec::new(),
        };
        Harness {
            m: Master::new(
                MasterConfig::default(),
                info,
                Recovered::default(),
                Box::new(SeqIds(0)),
                START_UNIX,
            ),
            now: 1.0,
        }
    }

    pub fn try_subscribe(&mut self, call: &Call) -> Result<Fw, ApiError> {
        let (tx, rx) = unbounded_channel();
        let (id, stream_id) = self.m.subscribe(call, tx, self.now)?;
        Ok(Fw { id, stream_id, rx })
    }

    /// Subscribe `info`; the SUBSCRIBED event is taken off the stream.
    pub fn subscribe(&mut self, info: FrameworkInfo) -> Fw {
        let mut fw = self
            .try_subscribe(&subscribe_call(info))
            .expect("subscribes");
        let first = fw.events();
        assert_eq!(first[0].kind, EventType::SUBSCRIBED, "{first:?}");
        fw
    }

    /// Register `reg`; what the master sent as it did is taken off the stream into `first`.
    pub fn register(&mut self, reg: Register) -> Ag {
        let (tx, mut rx) = unbounded_channel();
        let (id, conn) = self
            .m
            .register_agent(reg, "10.0.0.7".into(), tx, self.now)
            .expect("registers");
        let first: Vec<ToAgent> = drain(&mut rx);
        assert!(
            matches!(first.last(), Some(ToAgent::Registered { .. })),
            "{first:?}"
        );
        Ag {
            id,
            conn,
            rx,
            first,
        }
    }

    /// Post a call of `kind` as `fw`, filled in by `fill`.
    pub fn call(
        &mut self,
        fw: &Fw,
        kind: CallType,
        fill: impl FnOnce(&mut Call),
    ) -> Result<(), ApiError> {
        let mut call = Call::new(kind, Some(fw.id.clone()));
        fill(&mut call);
        self.m.scheduler_call(call, Some(&fw.stream_id), self.now)
    }

    /// Run an allocation and return the offers `fw` got.
    pub fn offers(&mut self, fw: &mut Fw) -> Vec<Offer> {
        self.m.allocate(self.now);
        fw.offers()
    }

    /// Run an allocation and return the one offer `fw` got.
    pub fn offer(&mut self, fw: &mut Fw) -> Offer {
        let mut offers = self.offers(fw);
        assert_eq!(offers.len(), 1, "one offer expected: {offers:?}");
        offers.remove(0)
    }

    /// ACCEPT `offers` with these operations; refused unused resources for 0 s.
    pub fn accept_ops(&mut self, fw: &Fw, offers: &[&Offer], operations: Vec<Operation>) {
        let offer_ids = offers.iter().map(|o| o.id.clone()).collect();
        self.call(fw, CallType::ACCEPT, |c| {
            c.accept = Some(scheduler::Accept {
                offer_ids,
                operations,
                filters: Some(Filters {
                    refuse_seconds: Some(0.0),
                }),
            })
        })
        .expect("ACCEPT is taken");
    }

    /// ACCEPT `offer` with one LAUNCH of `tasks`.
    pub fn launch(&mut self, fw: &Fw, offer: &Offer, tasks: Vec<TaskInfo>) {
        self.accept_ops(fw, &[offer], vec![Operation::launch(tasks)]);
    }

    /// The agent reports `state` for `task` of `fw`; returns the update's uuid.
    pub fn update(&mut self, ag: &Ag, fw: &FrameworkID, task: &str, state: TaskState) -> Vec<u8> {
        let uuid: Vec<u8> = (0..16u8).map(|i| i ^ state as u8).collect();
        let mut status = TaskStatus::new(TaskID::new(task), state);
        status.source = Some(StatusSource::SOURCE_EXECUTOR);
        status.uuid = Some(uuid.clone());
        status.timestamp = Some(START_UNIX + self.now);
        let calls = vec![FromAgent::Updates {
            updates: vec![StatusUpdate {
                framework_id: fw.clone(),
                status,
            }],
        }];
        self.m
            .agent_calls(&ag.id, calls, self.now)
            .expect("agent call taken");
        uuid
    }

    /// A framework (with these capabilities) and an agent with `ids` running on it; the
    /// streams are drained.
    pub fn running(&mut self, caps: &[&str], ids: &[&str]) -> (Fw, Ag) {
        let mut fw = self.subscribe(mock_framework("web", caps));
        let mut ag = self.register(mock_agent(4.0, 4096.0, (31000, 31099)));
        let offer = self.offer(&mut fw);
        let tasks = ids.iter().map(|t| task(t, &ag.id, 0.5, 128.0)).collect();
        self.launch(&fw, &offer, tasks);
        for t in ids {
            self.update(&ag, &fw.id, t, TaskState::TASK_RUNNING);
        }
        fw.events();
        ag.messages();
        (fw, ag)
    }

    /// Re-register `ag` (with its id) reporting these (task, state) of `fw`.
    pub fn reregister(&mut self, ag: &Ag, fw: &FrameworkID, report: &[(&str, TaskState)]) -> Ag {
        let mut reg = mock_agent(4.0, 4096.0, (31000, 31099));
        reg.agent_id = Some(ag.id.clone());
        reg.tasks = report
            .iter()
            .map(|(t, state)| ReportedTask {
                framework_id: fw.clone(),
                task: task(t, &ag.id, 0.5, 128.0),
                state: *state,
                executor_id: None,
            })
            .collect();
        self.register(reg)
    }

    /// Registry writes decided so far.
    pub fn pending(&mut self) -> Vec<RegistryOp> {
        self.m.take_pending()
    }

    /// The state of `task` of `fw` as the master keeps it, and where: "active",
    /// "unreachable" or "completed".
    pub fn task_state(&self, fw: &FrameworkID, task: &str) -> Option<(&'static str, TaskState)> {
        let f = self.m.frameworks.get(fw)?;
        if let Some(t) = f.tasks.get(task) {
            return Some(("active", t.state));
        }
        if let Some(t) = f.unreachable_tasks.get(task) {
            return Some(("unreachable", t.state));
        }
        f.completed_tasks
            .iter()
            .rev()
            .find(|t| &*t.task_id == task)
            .map(|t| ("completed", t.state))
    }
}

/// The one status in `v` for `task`.
pub fn status_of<'a>(v: &'a [TaskStatus], task: &str) -> &'a TaskStatus {
    let mut it = v.iter().filter(|s| s.task_id.value == task);
    let s = it
        .next()
        .unwrap_or_else(|| panic!("no status for {task} in {v:?}"));
    assert!(it.next().is_none(), "one status for {task} expected: {v:?}");
    s
}
