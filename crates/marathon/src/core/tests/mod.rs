//! The core's harness: small builders (`mock_app`, `mock_offer`, task statuses) and [`Sim`],
//! which drives one core with a clock the test moves and ids from [`SeqIds`], so every run is
//! the same. The tables of cases are beside: `launching.rs` (offers → which tasks launch
//! where, what each task carries), `lifecycle.rs` (status updates, health, rolling steps, the
//! kill governor), `commands.rs` (the typed commands and dry runs) and `counters.rs` (what
//! `/metrics/prometheus` reads).
#![allow(clippy::unwrap_used)]

mod commands;
mod counters;
mod fidelity;
mod launching;
mod lifecycle;
mod maintenance;
mod resident;
mod roles;
mod unreachable;

use super::ids::SeqIds;
use super::*;
use crate::validate::validate_app;
use crate::MarathonError;
use drover_api::scheduler::CallType;
use drover_api::{
    AgentID, Offer, OfferID, Range, Resource, Resources, TaskID, TaskInfo, TaskStatus,
};
use serde_json::json;

/// An app as the API would store it: `{"id", "cmd": "sleep 1000", "cpus": 0.5, "mem": 64,
/// "instances": 1}` with `extra`'s fields laid over, validated.
pub fn mock_app(id: &str, extra: Value) -> App {
    let mut v = json!({"id": id, "cmd": "sleep 1000", "cpus": 0.5, "mem": 64, "instances": 1});
    if let (Some(o), Some(x)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    let app: App = serde_json::from_value(v).expect("an app");
    validate_app(app, "/").expect("a valid app")
}

/// An offer of `cpus`, `mem` and `ports` (inclusive ranges) on agent `agent` (host
/// `<agent>.example`).
pub fn mock_offer(agent: &str, cpus: f64, mem: f64, ports: &[(u64, u64)]) -> Offer {
    let mut resources = vec![Resource::scalar("cpus", cpus), Resource::scalar("mem", mem)];
    if !ports.is_empty() {
        resources.push(Resource::ranges(
            "ports",
            ports
                .iter()
                .map(|&(begin, end)| Range { begin, end })
                .collect(),
        ));
    }
    Offer {
        id: OfferID::new(format!("offer-{agent}")),
        framework_id: FrameworkID::new("fw"),
        agent_id: AgentID::new(agent),
        hostname: format!("{agent}.example"),
        url: None,
        resources,
        attributes: vec![],
        executor_ids: vec![],
        allocation_info: None,
        unavailability: None,
    }
}

/// A big offer: room for many tasks of `mock_app`.
pub fn big_offer(agent: &str) -> Offer {
    mock_offer(agent, 16.0, 4096.0, &[(31000, 31999)])
}

/// A status update of `task` from its agent, with a uuid (so it is acknowledged).
pub fn status(task: &str, agent: &str, state: TaskState) -> TaskStatus {
    let mut s = TaskStatus::new(TaskID::new(task), state);
    s.agent_id = Some(AgentID::new(agent));
    s.uuid = Some(task.as_bytes().to_vec());
    s
}

/// The tasks the ACCEPT calls among `calls` launch, as (agent, task).
pub fn launched(calls: &Calls) -> Vec<(String, TaskInfo)> {
    calls
        .iter()
        .filter(|c| c.kind == CallType::ACCEPT)
        .flat_map(|c| c.accept.iter())
        .flat_map(|a| a.operations.iter())
        .flat_map(|o| o.launch.iter())
        .flat_map(|l| l.task_infos.iter())
        .map(|t| (t.agent_id.value.clone(), t.clone()))
        .collect()
}

/// The task ids the KILL calls among `calls` kill.
pub fn killed(calls: &Calls) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| c.kill.as_ref())
        .map(|k| k.task_id.value.clone())
        .collect()
}

/// The kinds of `calls`, in order.
pub fn kinds(calls: &Calls) -> Vec<CallType> {
    calls.iter().map(|c| c.kind).collect()
}

/// One core, subscribed, at a clock the test moves.
pub struct Sim {
    pub m: Marathon,
    pub now: f64,
}

impl Sim {
    pub fn new() -> Self {
        Sim::with_role("*")
    }

    /// A core whose Marathon runs under `role` (`--mesos_role`), subscribed with it.
    pub fn with_role(role: &str) -> Self {
        let store: Arc<dyn Store> = Arc::new(drover_store::MemoryStore::default());
        let mut m = Marathon::open(store, role.into(), Box::new(SeqIds::default())).unwrap();
        m.set_framework_id(FrameworkID::new("fw"));
        m.connected = true;
        m.framework_info();
        let ops = m.take_pending();
        m.store.apply(ops).unwrap();
        Sim {
            m,
            now: 1_700_000_000.0,
        }
    }

    /// Run a command now; its calls are dropped (use `Marathon::execute` to see them).
    pub fn run<C: Command>(&mut self, cmd: C) -> Result<C::Output, MarathonError> {
        self.m.execute(cmd, self.now).map(|(out, _)| out)
    }

    /// Create `app` (it must not exist).
    pub fn create(&mut self, app: App) -> Deployment {
        let cmd = AppCommand::Create { app, force: false };
        self.run(cmd).expect("created").deployment
    }

    pub fn offer(&mut self, offers: Vec<Offer>) -> Calls {
        self.m.offers(offers, self.now)
    }

    pub fn update(&mut self, task: &str, state: TaskState) -> Calls {
        let agent = self.m.instances.get(task).map(|i| i.agent_id.clone());
        let s = status(task, &agent.unwrap_or_else(|| "a1".into()), state);
        self.m.update(&s, self.now)
    }

    /// Every instance of `app` in `from`, moved to `to`.
    pub fn move_all(&mut self, app: &str, from: TaskState, to: TaskState) -> Calls {
        let ids = self.task_ids(app, |i| i.state == from);
        ids.iter().flat_map(|t| self.update(t, to)).collect()
    }

    /// Every staging instance of `app` running.
    pub fn start_all(&mut self, app: &str) -> Calls {
        self.move_all(app, TaskState::TASK_STAGING, TaskState::TASK_RUNNING)
    }

    /// Every instance of `app` being killed ends (TASK_KILLED).
    pub fn finish_kills(&mut self, app: &str) -> Calls {
        let ids = self.task_ids(app, |i| i.killing);
        ids.iter()
            .flat_map(|t| self.update(t, TaskState::TASK_KILLED))
            .collect()
    }

    /// A Marathon-run health result for `task` (3 failures make it unhealthy).
    pub fn health(&mut self, task: &str, ok: bool) -> Calls {
        let cause = (!ok).then(|| "HTTP 500".to_string());
        self.m.health_result(task, ok, cause, 3, self.now)
    }

    /// Instances of `app` that match `f`, by task id.
    pub fn task_ids(&self, app: &str, f: impl Fn(&Instance) -> bool) -> Vec<String> {
        self.m
            .app_instances(app)
            .into_iter()
            .filter(|i| f(i))
            .map(|i| i.task_id.clone())
            .collect()
    }

    /// Launch what `app` wants from one big offer and start it: its instances running.
    pub fn launch_and_start(&mut self, app: &str) -> Vec<String> {
        let calls = self.offer(vec![big_offer("a1")]);
        let ids: Vec<String> = launched(&calls)
            .into_iter()
            .map(|(_, t)| t.task_id.value)
            .collect();
        self.start_all(app);
        ids
    }

    /// The event types emitted since the last call.
    pub fn events(&mut self) -> Vec<String> {
        self.m.take_events().into_iter().map(|(k, _)| k).collect()
    }
}

/// An app's deployment steps as (action, app) per step.
pub fn steps(d: &Deployment) -> Vec<Vec<(&str, &str)>> {
    d.steps
        .iter()
        .map(|s| s.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
        .collect()
}

#[test]
fn iso_timestamps() {
    assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso(1795597660.5), "2026-11-25T09:07:40.500Z");
}

/// The core decides from its inputs alone: the same script gives the same calls, ids, store
/// writes and events, byte for byte.
#[test]
fn the_same_inputs_give_the_same_decisions() {
    let script = || {
        let mut s = Sim::new();
        let mut out = Vec::new();
        s.create(mock_app("/web", json!({"instances": 3})));
        out.push(serde_json::to_string(&s.offer(vec![big_offer("a1"), big_offer("a2")])).unwrap());
        out.push(serde_json::to_string(&s.start_all("/web")).unwrap());
        s.now += 5.0;
        let patch = json!({"cmd": "sleep 2000"});
        let cmd = AppCommand::Update {
            id: "/web".into(),
            patch,
            partial: true,
            force: false,
        };
        out.push(serde_json::to_string(&s.m.execute(cmd, s.now).unwrap().1).unwrap());
        out.push(serde_json::to_string(&s.offer(vec![big_offer("a1")])).unwrap());
        let writes: Vec<String> =
            s.m.take_pending()
                .into_iter()
                .map(|op| match op {
                    drover_store::Op::Put(k, v) => format!("{k}={}", String::from_utf8_lossy(&v)),
                    drover_store::Op::Delete(k) => format!("-{k}"),
                })
                .collect();
        out.extend(writes);
        out.extend(s.m.take_events().into_iter().map(|(_, e)| e.to_string()));
        out
    };
    let a = script();
    assert!(a.len() > 10, "{a:?}");
    assert_eq!(a, script());
}

/// Opening a core from a store that an earlier core wrote gives back its apps, instances,
/// deployments and framework id: the only store reads are there.
#[test]
fn a_core_opens_from_what_an_earlier_one_wrote() {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"instances": 2})));
    s.offer(vec![big_offer("a1")]);
    let store = s.m.store.clone();
    store.apply(s.m.take_pending()).unwrap();
    let m = Marathon::open(store, "*".into(), Box::new(SeqIds::default())).unwrap();
    assert_eq!(m.apps.keys().collect::<Vec<_>>(), vec!["/web"]);
    assert_eq!(m.app_instances("/web").len(), 2);
    assert_eq!(m.deployments.len(), 1);
    assert_eq!(m.framework_id, Some(FrameworkID::new("fw")));
}

/// A KILL can be lost (with the master it went to, or with the leader that sent it): it is sent
/// again every 5 s until the task ends, and a new leader sends the kills of the old one at once.
#[test]
fn kills_are_sent_again_until_the_task_ends_also_by_the_next_leader() {
    let mut s = Sim::new();
    s.create(mock_app("/web", json!({"instances": 2})));
    let ids = s.launch_and_start("/web");
    s.m.reconcile_plans(s.now);
    let cmd = AppCommand::Update {
        id: "/web".into(),
        patch: json!({"instances": 1}),
        partial: true,
        force: false,
    };
    let (_, mut first) = s.m.execute(cmd, s.now).expect("scaled");
    first.extend(s.m.reconcile_plans(s.now));
    let victim = killed(&first);
    assert_eq!(victim.len(), 1, "{first:?}");
    // Not again right away, and nothing for a running instance that is not being killed.
    s.now += 1.0;
    assert!(killed(&s.m.reconcile_plans(s.now)).is_empty());
    s.now += 5.0;
    assert_eq!(killed(&s.m.reconcile_plans(s.now)), victim, "sent again");
    // The next leader opens the same store: the instance is still being killed, and its KILL
    // goes out on its first turn.
    let store = s.m.store.clone();
    store.apply(s.m.take_pending()).unwrap();
    let mut next = Marathon::open(store, "*".into(), Box::new(SeqIds::default())).unwrap();
    next.connected = true;
    assert_eq!(killed(&next.reconcile_plans(s.now)), victim);
    // Once the task has ended, no more kills.
    s.update(&victim[0], TaskState::TASK_KILLED);
    s.now += 10.0;
    assert!(killed(&s.m.reconcile_plans(s.now)).is_empty());
    assert!(ids.contains(&victim[0]));
}

/// After subscribing Marathon reconciles at once, 15 s and 60 s later (tasks of agents that
/// re-register with a new master reach it only so), then every 10 minutes; a task it does not
/// know is killed.
#[test]
fn reconciliation_is_repeated_after_subscribing_and_unknown_tasks_are_killed() {
    let mut s = Sim::new();
    let reconciles = |calls: &Calls| {
        kinds(calls)
            .iter()
            .filter(|k| **k == CallType::RECONCILE)
            .count()
    };
    let t0 = s.now;
    assert_eq!(
        reconciles(&s.m.reconcile_after_subscribing(t0)),
        2,
        "explicit and implicit"
    );
    let mut at = Vec::new();
    for dt in 1..=700 {
        if reconciles(&s.m.reconcile_plans(t0 + dt as f64)) > 0 {
            at.push(dt);
        }
    }
    assert_eq!(at, vec![15, 60, 660]);
    let calls =
        s.m.update(&status("stray", "a9", TaskState::TASK_RUNNING), t0);
    assert_eq!(killed(&calls), vec!["stray".to_string()]);
}
