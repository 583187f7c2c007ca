//! The master's state and every decision it takes: framework subscription and calls, offers,
//! task launch validation and the task state machine, agent registration, health and loss.
//! Plain synchronous code over plain data; the HTTP layer decodes requests into these calls and
//! the messages it produces go out through per-connection queues, so nothing here blocks.

use crate::registry::Registry;
use crate::tasks::{Id, Interner, TaskRec, TaskSet};
use crate::{ApiError, MasterConfig};
use bytes::Bytes;
use drover_allocator::Allocator;
use drover_api::agent_protocol::{FromAgent, Register, ReportedTask, StatusUpdate, ToAgent};
use drover_api::operator::Task;
use drover_api::scheduler::{self, Call, CallType, Event};
use drover_api::*;
use std::collections::{HashMap, HashSet, VecDeque};
use tokio::sync::mpsc::UnboundedSender;

/// Outbound queue of one connection (a framework's or an agent's stream); records are already
/// framed, so writing one is a single send.
pub type Outbox = UnboundedSender<Bytes>;

const COMPLETED_TASKS_PER_FRAMEWORK: usize = 1000;
const COMPLETED_FRAMEWORKS: usize = 50;
pub const HEARTBEAT_SECS: f64 = 15.0;
const DEFAULT_REFUSE_SECS: f64 = 5.0;

pub fn frame<T: serde::Serialize>(msg: &T) -> Bytes {
    let json = serde_json::to_vec(msg).unwrap_or_default();
    Bytes::from(recordio::encode(&json))
}

pub struct Framework {
    pub id: FrameworkID,
    pub info: FrameworkInfo,
    pub roles: Vec<String>,
    pub suppressed: Vec<String>,
    pub stream: Option<Outbox>,
    pub stream_id: String,
    pub active: bool,
    /// Known from an agent's report after a master restart, not yet re-subscribed.
    pub recovered: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    /// When a disconnected framework is torn down unless it re-subscribes.
    pub failover_deadline: Option<f64>,
    pub tasks: HashMap<Id, Box<TaskRec>>,
    pub unreachable_tasks: HashMap<Id, Box<TaskRec>>,
    /// Rendered with the framework's role, not the one each task's resources had.
    pub completed_tasks: VecDeque<Box<TaskRec>>,
    pub offers: HashSet<OfferID>,
    pub executors: HashSet<(AgentID, ExecutorID)>,
}

impl Framework {
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }
    pub fn partition_aware(&self) -> bool {
        self.info.has_capability("PARTITION_AWARE")
    }
    fn send(&mut self, event: &Event) {
        if let Some(s) = &self.stream {
            if s.send(frame(event)).is_err() {
                self.stream = None;
            }
        }
    }
}

pub struct AgentRec {
    pub id: AgentID,
    pub info: AgentInfo,
    pub pid: String,
    pub total: Resources,
    pub stream: Option<Outbox>,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub last_seen: f64,
    /// Set once the agent missed its heartbeats for too long: its tasks were reported unreachable.
    pub unreachable: bool,
    pub tasks: TaskSet,
    pub executors: HashMap<(FrameworkID, ExecutorID), (ExecutorInfo, String)>,
    /// Which registration stream is current (a disconnect of an older one is ignored).
    pub conn: u64,
}

impl AgentRec {
    fn send(&mut self, msg: &ToAgent) {
        if let Some(s) = &self.stream {
            if s.send(frame(msg)).is_err() {
                self.stream = None;
            }
        }
    }
    pub fn connected(&self) -> bool {
        self.stream.is_some()
    }
}

pub struct OfferRec {
    pub offer: Offer,
    pub resources: Resources,
    pub role: String,
}

#[derive(Default)]
pub struct Counters {
    pub tasks_by_state: HashMap<&'static str, u64>,
    pub offers_sent: u64,
    pub offers_declined: u64,
    pub offers_accepted: u64,
    pub offers_rescinded: u64,
    pub calls: HashMap<&'static str, u64>,
    pub invalid_calls: u64,
    pub updates_from_agents: u64,
    pub allocation_runs: u64,
    pub allocation_secs_last: f64,
    pub agent_removals: u64,
}

pub struct Master {
    pub cfg: MasterConfig,
    pub info: MasterInfo,
    pub frameworks: HashMap<FrameworkID, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub agents: HashMap<AgentID, AgentRec>,
    pub offers: HashMap<OfferID, OfferRec>,
    pub allocator: Allocator,
    pub weights: HashMap<String, f64>,
    pub registry: Registry,
    pub counters: Counters,
    pub operator_streams: Vec<Outbox>,
    pub start_unix: f64,
    next_id: u64,
    /// Set when something happened that may make an allocation worthwhile.
    pub allocation_wanted: bool,
    /// Frameworks torn down for good: they may not re-subscribe.
    pub removed: HashSet<FrameworkID>,
    /// Ids, roles and names task records share.
    pub ids: Interner,
}

fn time_info(secs: f64) -> TimeInfo {
    TimeInfo {
        nanoseconds: (secs * 1e9) as i64,
    }
}

impl Master {
    pub fn new(cfg: MasterConfig, info: MasterInfo, registry: Registry, start_unix: f64) -> Self {
        let mut allocator = Allocator::new(drover_allocator::Config::default());
        let weights = registry.weights();
        for (role, w) in &weights {
            if let Err(e) = allocator.set_weight(role, *w) {
                tracing::error!("ignoring stored weight of role {role}: {e}");
            }
        }
        let removed = registry
            .removed_frameworks()
            .into_iter()
            .map(FrameworkID::new)
            .collect();
        let recovered = registry.frameworks();
        let mut m = Master {
            cfg,
            info,
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            offers: HashMap::new(),
            allocator,
            weights,
            registry,
            counters: Counters::default(),
            operator_streams: Vec::new(),
            start_unix,
            next_id: 0,
            allocation_wanted: true,
            removed,
            ids: Interner::default(),
        };
        for info in recovered {
            m.recover_framework(info, 0.0);
        }
        m
    }

    /// A framework known from the registry or an agent's report, waiting to re-subscribe.
    fn recover_framework(&mut self, info: FrameworkInfo, now: f64) {
        let Some(fid) = info.id.clone() else { return };
        let roles = info.effective_roles();
        self.allocator.add_framework(&fid.value, &roles, &[], &[]);
        self.allocator.deactivate_framework(&fid.value);
        let registered_time = self.unix(now);
        self.frameworks.insert(
            fid.clone(),
            Framework {
                id: fid,
                info,
                roles,
                suppressed: vec![],
                stream: None,
                stream_id: String::new(),
                active: false,
                recovered: true,
                registered_time,
                reregistered_time: None,
                unregistered_time: None,
                failover_deadline: None,
                tasks: HashMap::new(),
                unreachable_tasks: HashMap::new(),
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashSet::new(),
            },
        );
    }

    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Unix time in seconds, for timestamps shown to users.
    pub fn unix(&self, now: f64) -> f64 {
        self.start_unix + now
    }

    // ----------------------------------------------------------------------------------------
    // Scheduler API

    /// SUBSCRIBE: a new framework, or a known one failing over to a new connection.
    pub fn subscribe(
        &mut self,
        call: &Call,
        stream: Outbox,
        now: f64,
    ) -> Result<(FrameworkID, String), ApiError> {
        let sub = call
            .subscribe
            .as_ref()
            .ok_or_else(|| ApiError::BadRequest("Expecting 'subscribe' to be present".into()))?;
        let mut info = sub.framework_info.clone();
        if info.name.is_empty() {
            return Err(ApiError::BadRequest(
                "'framework_info.name' must be set".into(),
            ));
        }
        match (&call.framework_id, &info.id) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::BadRequest(
                    "'framework_id' differs from 'subscribe.framework_info.id'".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ApiError::BadRequest(
                    "'framework_id' must be set when 'subscribe.framework_info.id' is set".into(),
                ))
            }
            _ => {}
        }
        let roles = info.effective_roles();
        if roles.is_empty() {
            return Err(ApiError::BadRequest(
                "MULTI_ROLE framework subscribed with no 'roles'".into(),
            ));
        }
        for r in &roles {
            validate_role(r)?;
        }
        if info.has_capability("MULTI_ROLE") && info.role.is_some() {
            return Err(ApiError::BadRequest(
                "'framework_info.role' must not be set for a MULTI_ROLE framework; use 'roles'"
                    .into(),
            ));
        }
        let stream_id = uuid::Uuid::new_v4().to_string();
        let id = match &info.id {
            Some(id) => {
                if self.removed.contains(id) {
                    return Err(ApiError::Forbidden(format!(
                        "Framework {id} has been removed"
                    )));
                }
                id.clone()
            }
            None => {
                let n = self.next();
                FrameworkID::new(format!("{}-{:04}", self.info.id, n))
            }
        };
        info.id = Some(id.clone());
        let subscribed = Event::subscribed(scheduler::Subscribed {
            framework_id: id.clone(),
            heartbeat_interval_seconds: Some(HEARTBEAT_SECS),
            master_info: Some(self.info.clone()),
        });
        let suppressed = sub.suppressed_roles.clone();
        let unix_now = self.unix(now);
        if let Some(fw) = self.frameworks.get_mut(&id) {
            // Failover: the old connection is closed with an error event, the new one takes over.
            if let Some(old) = fw.stream.take() {
                let _ = old.send(frame(&Event::error("Framework failed over")));
            }
            fw.info = info;
            fw.roles = roles.clone();
            fw.suppressed = suppressed.clone();
            fw.stream = Some(stream);
            fw.stream_id = stream_id.clone();
            fw.active = true;
            fw.recovered = false;
            fw.failover_deadline = None;
            fw.reregistered_time = Some(unix_now);
            fw.send(&subscribed);
            self.allocator
                .update_framework(&id.value, &roles, &suppressed);
            self.allocator.activate_framework(&id.value);
            // Rescind outstanding offers: the new scheduler knows nothing of them.
            let offer_ids: Vec<OfferID> = fw.offers.iter().cloned().collect();
            for oid in offer_ids {
                self.rescind_offer(&oid, now);
            }
            // Ask agents to resend what this framework has not acknowledged yet.
            let fid = id.clone();
            for agent in self.agents.values_mut() {
                if agent.tasks.has_framework(&fid.value) {
                    agent.send(&ToAgent::Reconcile {
                        framework_id: fid.clone(),
                        task_ids: vec![],
                    });
                }
            }
            tracing::info!(framework_id = %id, "framework re-subscribed");
        } else {
            let info_for_registry = info.clone();
            let mut fw = Framework {
                id: id.clone(),
                info,
                roles: roles.clone(),
                suppressed: suppressed.clone(),
                stream: Some(stream),
                stream_id: stream_id.clone(),
                active: true,
                recovered: false,
                registered_time: self.unix(now),
                reregistered_time: None,
                unregistered_time: None,
                failover_deadline: None,
                tasks: HashMap::new(),
                unreachable_tasks: HashMap::new(),
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashSet::new(),
            };
            fw.send(&subscribed);
            self.frameworks.insert(id.clone(), fw);
            self.allocator
                .add_framework(&id.value, &roles, &suppressed, &[]);
            self.registry.put_framework(&info_for_registry);
            self.operator_event(
                "FRAMEWORK_ADDED",
                serde_json::json!({"framework": self.framework_entry_json(&id)}),
            );
            tracing::info!(framework_id = %id, "framework subscribed");
        }
        self.allocation_wanted = true;
        Ok((id, stream_id))
    }

    /// Every call but SUBSCRIBE: check the framework and stream id, then do it.
    pub fn scheduler_call(
        &mut self,
        call: Call,
        stream_id: Option<&str>,
        now: f64,
    ) -> Result<(), ApiError> {
        let fid = call
            .framework_id
            .clone()
            .ok_or_else(|| ApiError::BadRequest("Expecting 'framework_id' to be present".into()))?;
        // Mesos: an unknown framework is a bad request (400); a known one that is not
        // subscribed right now (disconnected, or recovered and not yet back) is forbidden (403).
        let fw = self
            .frameworks
            .get(&fid)
            .ok_or_else(|| ApiError::BadRequest(format!("Framework {fid} cannot be found")))?;
        if !fw.connected() {
            return Err(ApiError::Forbidden(format!(
                "Framework {fid} is not subscribed"
            )));
        }
        let sid = stream_id.ok_or_else(|| {
            ApiError::BadRequest(
                "All non-subscribe calls should include the 'Mesos-Stream-Id' header".into(),
            )
        })?;
        if fw.stream_id != sid {
            return Err(ApiError::BadRequest(format!(
                "The stream ID '{sid}' included in this request didn't match the stream ID currently associated with framework ID {fid}"
            )));
        }
        *self.counters.calls.entry(call_name(call.kind)).or_default() += 1;
        match call.kind {
            CallType::SUBSCRIBE => Err(ApiError::BadRequest(
                "Unexpected call type for this endpoint".into(),
            )),
            // Mesos answers 501 Not Implemented to a call of type UNKNOWN.
            CallType::UNKNOWN => Err(ApiError::NotImplemented("Received 'UNKNOWN' call".into())),
            CallType::TEARDOWN => {
                self.remove_framework(&fid, now);
                Ok(())
            }
            CallType::ACCEPT => {
                let accept = call.accept.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'accept' to be present".into())
                })?;
                self.accept(&fid, accept, now);
                Ok(())
            }
            CallType::DECLINE => {
                let d = call.decline.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'decline' to be present".into())
                })?;
                let refuse = d
                    .filters
                    .and_then(|f| f.refuse_seconds)
                    .unwrap_or(DEFAULT_REFUSE_SECS);
                for oid in d.offer_ids {
                    if let Some(o) = self.take_offer(&fid, &oid) {
                        self.counters.offers_declined += 1;
                        self.allocator.recover(
                            &o.offer.agent_id.value,
                            &fid.value,
                            &o.role,
                            &o.resources,
                            refuse,
                            now,
                        );
                    }
                }
                self.allocation_wanted = true;
                Ok(())
            }
            CallType::REVIVE => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    if roles.is_empty() {
                        fw.suppressed.clear();
                    } else {
                        fw.suppressed.retain(|r| !roles.contains(r));
                    }
                }
                self.allocator.revive(&fid.value, &roles);
                self.allocation_wanted = true;
                Ok(())
            }
            CallType::SUPPRESS => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    let add = if roles.is_empty() {
                        fw.roles.clone()
                    } else {
                        roles.clone()
                    };
                    for r in add {
                        if !fw.suppressed.contains(&r) {
                            fw.suppressed.push(r);
                        }
                    }
                }
                self.allocator.suppress(&fid.value, &roles);
                Ok(())
            }
            CallType::KILL => {
                let k = call
                    .kill
                    .ok_or_else(|| ApiError::BadRequest("Expecting 'kill' to be present".into()))?;
                self.kill(&fid, k, now);
                Ok(())
            }
            CallType::SHUTDOWN => {
                let s = call.shutdown.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'shutdown' to be present".into())
                })?;
                if let Some(a) = self.agents.get_mut(&s.agent_id) {
                    a.send(&ToAgent::ShutdownExecutor {
                        framework_id: fid,
                        executor_id: s.executor_id,
                    });
                }
                Ok(())
            }
            CallType::ACKNOWLEDGE => {
                let a = call.acknowledge.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'acknowledge' to be present".into())
                })?;
                if a.uuid.len() != 16 {
                    return Err(ApiError::BadRequest(format!(
                        "Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID ({} bytes)",
                        a.uuid.len()
                    )));
                }
                if let Some(agent) = self.agents.get_mut(&a.agent_id) {
                    agent.send(&ToAgent::Acknowledge {
                        framework_id: fid,
                        task_id: a.task_id,
                        uuid: Some(a.uuid),
                    });
                }
                Ok(())
            }
            CallType::RECONCILE => {
                let r = call.reconcile.unwrap_or_default();
                self.reconcile(&fid, r.tasks, now);
                Ok(())
            }
            CallType::MESSAGE => {
                let m = call.message.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'message' to be present".into())
                })?;
                let agent = self.agents.get_mut(&m.agent_id).ok_or_else(|| {
                    ApiError::NotFound(format!("Agent {} is not registered", m.agent_id))
                })?;
                agent.send(&ToAgent::FrameworkMessage {
                    framework_id: fid,
                    executor_id: m.executor_id,
                    data: Some(m.data),
                });
                Ok(())
            }
            CallType::UPDATE_FRAMEWORK => {
                let u = call.update_framework.ok_or_else(|| {
                    ApiError::BadRequest("Expecting 'update_framework' to be present".into())
                })?;
                if u.framework_info.id.as_ref() != Some(&fid) {
                    return Err(ApiError::BadRequest(
                        "'update_framework.framework_info.id' must equal 'framework_id'".into(),
                    ));
                }
                let roles = u.framework_info.effective_roles();
                for r in &roles {
                    validate_role(r)?;
                }
                if let Some(fw) = self.frameworks.get_mut(&fid) {
                    fw.info = u.framework_info.clone();
                    fw.roles = roles.clone();
                    fw.suppressed = u.suppressed_roles.clone();
                }
                self.allocator
                    .update_framework(&fid.value, &roles, &u.suppressed_roles);
                self.registry.put_framework(&u.framework_info);
                self.allocation_wanted = true;
                Ok(())
            }
            // Resource requests are advisory in Mesos too; inverse offers need maintenance.
            CallType::REQUEST
            | CallType::ACCEPT_INVERSE_OFFERS
            | CallType::DECLINE_INVERSE_OFFERS => Ok(()),
            CallType::ACKNOWLEDGE_OPERATION_STATUS | CallType::RECONCILE_OPERATIONS => {
                Err(ApiError::NotImplemented(
                    "Operation feedback (reservations and volumes) is not supported yet".into(),
                ))
            }
        }
    }

    fn take_offer(&mut self, fid: &FrameworkID, oid: &OfferID) -> Option<OfferRec> {
        match self.offers.get(oid) {
            Some(o) if &o.offer.framework_id == fid => {}
            _ => return None,
        }
        let o = self.offers.remove(oid)?;
        if let Some(fw) = self.frameworks.get_mut(fid) {
            fw.offers.remove(oid);
        }
        Some(o)
    }

    fn rescind_offer(&mut self, oid: &OfferID, now: f64) {
        let Some(o) = self.offers.remove(oid) else {
            return;
        };
        self.counters.offers_rescinded += 1;
        if let Some(fw) = self.frameworks.get_mut(&o.offer.framework_id) {
            fw.offers.remove(oid);
            fw.send(&Event::rescind(oid.clone()));
        }
        self.allocator.recover(
            &o.offer.agent_id.value,
            &o.offer.framework_id.value,
            &o.role,
            &o.resources,
            0.0,
            now,
        );
        self.allocation_wanted = true;
    }

    fn status(
        &self,
        task_id: &TaskID,
        state: TaskState,
        reason: Reason,
        message: String,
        now: f64,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task_id.clone(), state);
        s.source = Some(StatusSource::SOURCE_MASTER);
        s.reason = Some(reason);
        s.message = Some(message);
        s.timestamp = Some(self.unix(now));
        s
    }

    fn send_to_framework(&mut self, fid: &FrameworkID, event: &Event) {
        if let Some(fw) = self.frameworks.get_mut(fid) {
            fw.send(event);
        }
    }

    fn accept(&mut self, fid: &FrameworkID, accept: scheduler::Accept, now: f64) {
        let refuse = accept
            .filters
            .as_ref()
            .and_then(|f| f.refuse_seconds)
            .unwrap_or(DEFAULT_REFUSE_SECS);
        let partition_aware = self
            .frameworks
            .get(fid)
            .map(|f| f.partition_aware())
            .unwrap_or(false);
        let mut taken: Vec<OfferRec> = Vec::new();
        let mut invalid: Option<String> = None;
        if accept.offer_ids.is_empty() {
            invalid = Some("No offers specified".into());
        }
        let mut seen = HashSet::new();
        for oid in &accept.offer_ids {
            if !seen.insert(oid.clone()) {
                invalid.get_or_insert(format!("Duplicate offer {oid} in accept"));
                continue;
            }
            match self.take_offer(fid, oid) {
                Some(o) => {
                    if let Some(first) = taken.first() {
                        if first.offer.agent_id != o.offer.agent_id {
                            invalid.get_or_insert(
                                "Aggregated offers must belong to the same agent".into(),
                            );
                        }
                        if first.role != o.role {
                            invalid.get_or_insert(
                                "Aggregated offers must be allocated to the same role".into(),
                            );
                        }
                    }
                    taken.push(o);
                }
                None => {
                    invalid.get_or_insert(format!("Offer {oid} is no longer valid"));
                }
            }
        }
        if let Some(why) = invalid {
            for o in &taken {
                self.allocator.recover(
                    &o.offer.agent_id.value,
                    &fid.value,
                    &o.role,
                    &o.resources,
                    0.0,
                    now,
                );
            }
            let state = if partition_aware {
                TaskState::TASK_DROPPED
            } else {
                TaskState::TASK_LOST
            };
            for op in &accept.operations {
                let tasks: Vec<&TaskInfo> = op
                    .launch
                    .iter()
                    .flat_map(|l| l.task_infos.iter())
                    .chain(
                        op.launch_group
                            .iter()
                            .flat_map(|g| g.task_group.tasks.iter()),
                    )
                    .collect();
                for t in tasks {
                    let s = self.status(
                        &t.task_id,
                        state,
                        Reason::REASON_INVALID_OFFERS,
                        format!("Task launched with invalid offers: {why}"),
                        now,
                    );
                    self.count_state(state);
                    self.send_to_framework(fid, &Event::update(s));
                }
            }
            self.allocation_wanted = true;
            return;
        }
        self.counters.offers_accepted += taken.len() as u64;
        let agent_id = taken[0].offer.agent_id.clone();
        let role = taken[0].role.clone();
        let mut remaining = Resources::new();
        for o in &taken {
            remaining.add_all(&o.resources);
        }
        for op in accept.operations {
            match op.kind {
                OperationType::LAUNCH => {
                    let tasks = op.launch.map(|l| l.task_infos).unwrap_or_default();
                    let mut launch: Vec<TaskInfo> = Vec::new();
                    for t in tasks {
                        match self.validate_task(fid, &agent_id, &t, None, &remaining, &launch) {
                            Ok(used) => {
                                remaining.subtract_all(&used);
                                launch.push(t);
                            }
                            Err(msg) => self.task_error(fid, &t.task_id, msg, now),
                        }
                    }
                    // Tasks with custom executors go in one batch per executor.
                    let mut by_exec: Vec<(Option<ExecutorInfo>, Vec<TaskInfo>)> = Vec::new();
                    for t in launch {
                        let e = t.executor.clone();
                        match by_exec.iter_mut().find(|(x, _)| {
                            x.as_ref().map(|x| &x.executor_id) == e.as_ref().map(|e| &e.executor_id)
                        }) {
                            Some((_, v)) => v.push(t),
                            None => by_exec.push((e, vec![t])),
                        }
                    }
                    for (exec, tasks) in by_exec {
                        let tasks = tasks
                            .into_iter()
                            .map(|mut t| {
                                t.executor = None;
                                t
                            })
                            .collect();
                        self.launch(fid, &agent_id, &role, exec, tasks, now);
                    }
                }
                OperationType::LAUNCH_GROUP => {
                    let Some(g) = op.launch_group else {
                        self.send_to_framework(
                            fid,
                            &Event::error("LAUNCH_GROUP operation without 'launch_group'"),
                        );
                        continue;
                    };
                    let exec = g.executor.clone();
                    let mut ok = true;
                    let mut msgs = Vec::new();
                    let mut used_all = Resources::new();
                    let mut trial = remaining.clone();
                    let mut accepted: Vec<TaskInfo> = Vec::new();
                    for t in &g.task_group.tasks {
                        if t.executor.is_some() {
                            ok = false;
                            msgs.push(format!(
                                "Task {} in a task group must not set 'executor'",
                                t.task_id
                            ));
                            continue;
                        }
                        match self.validate_task(fid, &agent_id, t, Some(&exec), &trial, &accepted)
                        {
                            Ok(used) => {
                                trial.subtract_all(&used);
                                used_all.add_all(&used);
                                accepted.push(t.clone());
                            }
                            Err(m) => {
                                ok = false;
                                msgs.push(m);
                            }
                        }
                    }
                    if !ok || g.task_group.tasks.is_empty() {
                        let msg = if msgs.is_empty() {
                            "Task group is empty".to_string()
                        } else {
                            msgs.join("; ")
                        };
                        for t in &g.task_group.tasks {
                            let s = self.status(
                                &t.task_id,
                                TaskState::TASK_ERROR,
                                Reason::REASON_TASK_GROUP_INVALID,
                                msg.clone(),
                                now,
                            );
                            self.count_state(TaskState::TASK_ERROR);
                            self.send_to_framework(fid, &Event::update(s));
                        }
                        continue;
                    }
                    remaining = trial;
                    self.launch(fid, &agent_id, &role, Some(exec), g.task_group.tasks, now);
                }
                other => {
                    self.send_to_framework(
                        fid,
                        &Event::error(format!(
                            "Operation {other:?} is not supported yet: reservations and volumes come with resource management"
                        )),
                    );
                }
            }
        }
        if !remaining.is_empty() {
            self.allocator
                .recover(&agent_id.value, &fid.value, &role, &remaining, refuse, now);
        }
        self.allocation_wanted = true;
    }

    /// Check one task against what is left of the offers; returns the resources it will use
    /// (its own plus its executor's if that executor is not running yet).
    fn validate_task(
        &self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        t: &TaskInfo,
        group_executor: Option<&ExecutorInfo>,
        remaining: &Resources,
        batch: &[TaskInfo],
    ) -> Result<Resources, String> {
        let fw = self.frameworks.get(fid).ok_or("framework is gone")?;
        validate_id("Task", &t.task_id.value)?;
        if fw.tasks.contains_key(t.task_id.value.as_str())
            || fw.unreachable_tasks.contains_key(t.task_id.value.as_str())
            || batch.iter().any(|b| b.task_id == t.task_id)
        {
            return Err(format!("Task has duplicate ID: {}", t.task_id));
        }
        if &t.agent_id != agent_id {
            return Err(format!(
                "Task uses agent {} but the offers are for agent {agent_id}",
                t.agent_id
            ));
        }
        let exec = t.executor.as_ref().or(group_executor);
        match (exec.is_some(), t.command.is_some()) {
            (true, true) if group_executor.is_none() => {
                return Err(
                    "Task should have at most one of CommandInfo or ExecutorInfo present".into(),
                )
            }
            (false, false) => {
                return Err(
                    "Task should have at least one of CommandInfo or ExecutorInfo present".into(),
                )
            }
            _ => {}
        }
        if let Some(c) = &t.command {
            let shell = c.shell.unwrap_or(true);
            if shell && c.value.as_deref().unwrap_or("").is_empty() {
                return Err("Task's 'command.value' must be set for a shell command".into());
            }
            if !shell && c.value.is_none() && c.arguments.is_empty() {
                return Err(
                    "Task's 'command' needs 'value' or 'arguments' when 'shell' is false".into(),
                );
            }
        }
        if let Some(hc) = &t.health_check {
            drover_api::health_check::HealthCheck::from_json(hc)
                .map_err(|e| format!("Task uses invalid health check: {e}"))?;
        }
        let task_res = Resources::from_list(&t.resources);
        if task_res.is_empty() {
            return Err("Task uses no resources".into());
        }
        for r in &t.resources {
            if r.kind == ValueType::SCALAR
                && r.scalar
                    .map(|s| !s.value.is_finite() || s.value < 0.0)
                    .unwrap_or(true)
            {
                return Err(format!("Resource '{}' has an invalid scalar value", r.name));
            }
        }
        let mut used = task_res;
        if let Some(e) = exec {
            validate_id("Executor", &e.executor_id.value)?;
            let running = self
                .agents
                .get(agent_id)
                .map(|a| {
                    a.executors
                        .contains_key(&(fid.clone(), e.executor_id.clone()))
                })
                .unwrap_or(false);
            let in_batch = batch
                .iter()
                .any(|b| b.executor.as_ref().map(|x| &x.executor_id) == Some(&e.executor_id));
            if !running && !in_batch {
                used.add_all(&Resources::from_list(&e.resources));
            }
        }
        if !remaining.contains(&used) {
            return Err(format!(
                "Task uses more resources {} than available {}",
                resources_text(&used),
                resources_text(remaining)
            ));
        }
        Ok(used)
    }

    fn task_error(&mut self, fid: &FrameworkID, task_id: &TaskID, msg: String, now: f64) {
        tracing::info!(framework_id = %fid, task_id = %task_id, "invalid task: {msg}");
        let s = self.status(
            task_id,
            TaskState::TASK_ERROR,
            Reason::REASON_TASK_INVALID,
            msg,
            now,
        );
        self.count_state(TaskState::TASK_ERROR);
        self.send_to_framework(fid, &Event::update(s));
    }

    fn count_state(&mut self, state: TaskState) {
        *self
            .counters
            .tasks_by_state
            .entry(state.as_str())
            .or_default() += 1;
    }

    fn launch(
        &mut self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        role: &str,
        exec: Option<ExecutorInfo>,
        tasks: Vec<TaskInfo>,
        now: f64,
    ) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        let framework_info = fw.info.clone();
        let user = framework_info.user.clone();
        let mut keys: Vec<Id> = Vec::with_capacity(tasks.len());
        for t in &tasks {
            let mut status = TaskStatus::new(t.task_id.clone(), TaskState::TASK_STAGING);
            status.timestamp = Some(self.start_unix + now);
            let task = Task {
                name: t.name.clone(),
                task_id: t.task_id.clone(),
                framework_id: fid.clone(),
                executor_id: exec.as_ref().map(|e| e.executor_id.clone()),
                agent_id: agent_id.clone(),
                state: TaskState::TASK_STAGING,
                resources: t.resources.clone(),
                statuses: vec![],
                status_update_state: None,
                status_update_uuid: None,
                labels: t.labels.clone(),
                discovery: t.discovery.clone(),
                container: t.container.clone(),
                health_check: t.health_check.clone(),
                kill_policy: t.kill_policy.clone(),
                user: t
                    .command
                    .as_ref()
                    .and_then(|c| c.user.clone())
                    .or_else(|| Some(user.clone())),
            };
            let rec = TaskRec::new(task, role, &mut self.ids);
            keys.push(rec.task_id.clone());
            fw.tasks.insert(rec.task_id.clone(), rec);
        }
        if let Some(e) = &exec {
            fw.executors
                .insert((agent_id.clone(), e.executor_id.clone()));
        }
        *self
            .counters
            .tasks_by_state
            .entry("TASK_STAGING")
            .or_default() += tasks.len() as u64;
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        let fw_key = self.ids.get(&fid.value);
        for key in keys {
            agent.tasks.insert(fw_key.clone(), key);
        }
        if let Some(e) = &exec {
            agent
                .executors
                .entry((fid.clone(), e.executor_id.clone()))
                .or_insert_with(|| (e.clone(), role.to_string()));
        }
        let added: Vec<TaskID> = if self.operator_streams.is_empty() {
            vec![]
        } else {
            tasks.iter().map(|t| t.task_id.clone()).collect()
        };
        agent.send(&ToAgent::RunTasks {
            framework: framework_info,
            executor: exec,
            tasks,
        });
        for tid in &added {
            let v = serde_json::json!({"task": self.task_json(fid, tid)});
            self.operator_event("TASK_ADDED", v);
        }
    }

    fn kill(&mut self, fid: &FrameworkID, k: scheduler::Kill, now: f64) {
        let found = self
            .frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(k.task_id.value.as_str()))
            .map(|t| AgentID::new(&*t.agent_id));
        match found {
            Some(agent_id) => {
                if let Some(agent) = self.agents.get_mut(&agent_id) {
                    agent.send(&ToAgent::KillTask {
                        framework_id: fid.clone(),
                        task_id: k.task_id,
                        kill_policy: k.kill_policy,
                    });
                }
            }
            // Mesos answers a kill of an unknown task with what reconciliation would say.
            None => self.reconcile(
                fid,
                vec![scheduler::ReconcileTask {
                    task_id: k.task_id,
                    agent_id: k.agent_id,
                }],
                now,
            ),
        }
    }

    fn reconcile(&mut self, fid: &FrameworkID, tasks: Vec<scheduler::ReconcileTask>, now: f64) {
        let Some(fw) = self.frameworks.get(fid) else {
            return;
        };
        let pa = fw.partition_aware();
        let mut out = Vec::new();
        let latest = |rec: &TaskRec, master: &Master| {
            let mut s = rec
                .latest_status()
                .unwrap_or_else(|| TaskStatus::new(TaskID::new(&*rec.task_id), rec.state));
            s.state = rec.state;
            s.uuid = None;
            s.source = Some(StatusSource::SOURCE_MASTER);
            s.reason = Some(Reason::REASON_RECONCILIATION);
            s.agent_id = Some(AgentID::new(&*rec.agent_id));
            s.timestamp = Some(master.unix(now));
            s
        };
        if tasks.is_empty() {
            for t in fw.tasks.values().chain(fw.unreachable_tasks.values()) {
                out.push(latest(t, self));
            }
        } else {
            for rt in tasks {
                let tid = rt.task_id.value.as_str();
                if let Some(t) = fw.tasks.get(tid).or_else(|| fw.unreachable_tasks.get(tid)) {
                    out.push(latest(t, self));
                    continue;
                }
                if let Some(t) = fw.completed_tasks.iter().rev().find(|t| &*t.task_id == tid) {
                    out.push(latest(t, self));
                    continue;
                }
                let agent = rt.agent_id.as_ref().and_then(|a| self.agents.get(a));
                let (state, msg) = match agent {
                    Some(a) if a.unreachable => (
                        if pa {
                            TaskState::TASK_UNREACHABLE
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unreachable",
                    ),
                    Some(_) => (
                        if pa {
                            TaskState::TASK_GONE
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unknown to the agent",
                    ),
                    None => (
                        if pa {
                            TaskState::TASK_UNKNOWN
                        } else {
                            TaskState::TASK_LOST
                        },
                        "Reconciliation: Task is unknown",
                    ),
                };
                let mut s = self.status(
                    &rt.task_id,
                    state,
                    Reason::REASON_RECONCILIATION,
                    msg.into(),
                    now,
                );
                s.agent_id = rt.agent_id.clone();
                out.push(s);
            }
        }
        for s in out {
            self.send_to_framework(fid, &Event::update(s));
        }
    }

    /// TEARDOWN, or failover timeout: kill its tasks, return its resources, forget it.
    pub fn remove_framework(&mut self, fid: &FrameworkID, now: f64) {
        let Some(mut fw) = self.frameworks.remove(fid) else {
            return;
        };
        tracing::info!(framework_id = %fid, "removing framework");
        for oid in fw.offers.drain() {
            if let Some(o) = self.offers.remove(&oid) {
                self.allocator.recover(
                    &o.offer.agent_id.value,
                    &fid.value,
                    &o.role,
                    &o.resources,
                    0.0,
                    now,
                );
            }
        }
        for agent in self.agents.values_mut() {
            if agent.tasks.has_framework(&fid.value)
                || agent.executors.keys().any(|(f, _)| f == fid)
            {
                agent.send(&ToAgent::ShutdownFramework {
                    framework_id: fid.clone(),
                });
            }
            agent.tasks.remove_framework(&fid.value);
            agent.executors.retain(|(f, _), _| f != fid);
        }
        for (_, mut t) in fw.tasks.drain().chain(fw.unreachable_tasks.drain()) {
            t.state = TaskState::TASK_KILLED;
            *self
                .counters
                .tasks_by_state
                .entry("TASK_KILLED")
                .or_default() += 1;
            push_bounded(&mut fw.completed_tasks, t, COMPLETED_TASKS_PER_FRAMEWORK);
        }
        self.allocator.remove_framework(&fid.value);
        if let Some(s) = fw.stream.take() {
            drop(s);
        }
        fw.active = false;
        fw.unregistered_time = Some(self.unix(now));
        self.registry.remove_framework(fid);
        self.removed.insert(fid.clone());
        self.operator_event(
            "FRAMEWORK_REMOVED",
            serde_json::json!({"framework_info": fw.info}),
        );
        push_bounded(&mut self.completed_frameworks, fw, COMPLETED_FRAMEWORKS);
        self.allocation_wanted = true;
    }

    /// The framework's stream closed.
    pub fn framework_disconnected(&mut self, fid: &FrameworkID, stream_id: &str, now: f64) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        if fw.stream_id != stream_id {
            return; // an older connection of a framework that already failed over
        }
        fw.stream = None;
        fw.active = false;
        let timeout = fw.info.failover_timeout.unwrap_or(0.0).max(0.0);
        fw.failover_deadline = Some(now + timeout);
        tracing::info!(framework_id = %fid, "framework disconnected; failover timeout {timeout}s");
        let offers: Vec<OfferID> = fw.offers.iter().cloned().collect();
        self.allocator.deactivate_framework(&fid.value);
        for oid in offers {
            self.rescind_offer(&oid, now);
        }
        if timeout == 0.0 {
            self.remove_framework(fid, now);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Allocation

    /// Run the allocator and send the offers it makes, one OFFERS event per framework.
    pub fn allocate(&mut self, now: f64) -> usize {
        self.allocation_wanted = false;
        let started = std::time::Instant::now();
        let allocations = self.allocator.allocate(now);
        self.counters.allocation_runs += 1;
        let mut by_fw: HashMap<FrameworkID, Vec<Offer>> = HashMap::new();
        let n = allocations.len();
        for a in allocations {
            let fid = FrameworkID::new(a.framework_id);
            let aid = AgentID::new(a.agent_id);
            if !self.agents.contains_key(&aid) || !self.frameworks.contains_key(&fid) {
                // The allocator raced a removal; give it back.
                self.allocator
                    .recover(&aid.value, &fid.value, &a.role, &a.resources, 0.0, now);
                continue;
            }
            let n = self.next();
            let Some(agent) = self.agents.get(&aid) else {
                continue;
            };
            let offer = Offer {
                id: OfferID::new(format!("{}-O{n}", self.info.id)),
                framework_id: fid.clone(),
                agent_id: aid.clone(),
                hostname: agent.info.hostname.clone(),
                url: Some(URL {
                    scheme: "http".into(),
                    address: Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(agent.info.hostname.clone()),
                        port: agent.info.port.unwrap_or(5051),
                    },
                    path: Some("/slave(1)".into()),
                }),
                resources: a.resources.allocated_to(&a.role),
                attributes: agent.info.attributes.clone(),
                executor_ids: agent
                    .executors
                    .keys()
                    .filter(|(f, _)| f == &fid)
                    .map(|(_, e)| e.clone())
                    .collect(),
                allocation_info: Some(AllocationInfo {
                    role: Some(a.role.clone()),
                }),
            };
            self.offers.insert(
                offer.id.clone(),
                OfferRec {
                    offer: offer.clone(),
                    resources: a.resources,
                    role: a.role,
                },
            );
            if let Some(fw) = self.frameworks.get_mut(&fid) {
                fw.offers.insert(offer.id.clone());
            }
            by_fw.entry(fid).or_default().push(offer);
        }
        self.counters.offers_sent += n as u64;
        for (fid, offers) in by_fw {
            self.send_to_framework(&fid, &Event::offers(offers));
        }
        self.counters.allocation_secs_last = started.elapsed().as_secs_f64();
        n
    }

    // ----------------------------------------------------------------------------------------
    // Agents

    pub fn register_agent(
        &mut self,
        reg: Register,
        remote_ip: String,
        stream: Outbox,
        now: f64,
    ) -> Result<(AgentID, u64), ApiError> {
        if reg.version != drover_api::agent_protocol::PROTOCOL_VERSION {
            return Err(ApiError::BadRequest(format!(
                "agent protocol version {} is not supported (this master speaks {})",
                reg.version,
                drover_api::agent_protocol::PROTOCOL_VERSION
            )));
        }
        let port = reg.agent_info.port.unwrap_or(5051);
        let total = Resources::from_list(&reg.agent_info.resources);
        let id = match reg.agent_id.clone() {
            Some(id) => id,
            None => {
                let n = self.next();
                AgentID::new(format!("{}-S{n}", self.info.id))
            }
        };
        let mut info = reg.agent_info.clone();
        info.id = Some(id.clone());
        let reregister = reg.agent_id.is_some();
        // What the agent reports, keyed for the lookups below: one pass over its tasks, not one
        // per task the master knew (that was tasks × tasks under the master's lock).
        let reported_ids: HashSet<(String, String)> = reg
            .tasks
            .iter()
            .map(|t| (t.framework_id.value.clone(), t.task.task_id.value.clone()))
            .collect();
        if let Some(old) = self.agents.remove(&id) {
            // Re-registration of a known agent: forget what it had, rebuild from its report.
            for oid in self
                .offers
                .iter()
                .filter(|(_, o)| o.offer.agent_id == id)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
            {
                self.rescind_offer(&oid, now);
            }
            self.allocator.remove_agent(&id.value);
            for (fid, tid) in old.tasks.to_vec() {
                if let Some(fw) = self.frameworks.get_mut(&FrameworkID::new(&*fid)) {
                    if let Some(rec) = fw
                        .tasks
                        .remove(&tid)
                        .or_else(|| fw.unreachable_tasks.remove(&tid))
                    {
                        // Tasks the agent no longer reports are gone; keep them as LOST history.
                        if !reported_ids.contains(&(fid.to_string(), tid.to_string())) {
                            let mut t = rec;
                            t.state = if fw.partition_aware() {
                                TaskState::TASK_GONE
                            } else {
                                TaskState::TASK_LOST
                            };
                            let mut s = TaskStatus::new(TaskID::new(&*tid), t.state);
                            s.source = Some(StatusSource::SOURCE_MASTER);
                            s.reason = Some(Reason::REASON_AGENT_RESTARTED);
                            s.message =
                                Some("Task was not reported by its re-registering agent".into());
                            s.agent_id = Some(id.clone());
                            fw.send(&Event::update(s));
                            push_bounded(&mut fw.completed_tasks, t, COMPLETED_TASKS_PER_FRAMEWORK);
                        } else {
                            fw.tasks.insert(tid, rec);
                        }
                    }
                }
            }
        }
        // Frameworks the agent knows but we do not (master restart): recovered, awaiting re-subscribe.
        for finfo in &reg.frameworks {
            let Some(fid) = finfo.id.clone() else {
                continue;
            };
            if self.frameworks.contains_key(&fid) {
                continue;
            }
            if self.removed.contains(&fid) {
                continue;
            }
            self.recover_framework(finfo.clone(), now);
        }
        let mut agent = AgentRec {
            id: id.clone(),
            info: info.clone(),
            pid: format!("slave(1)@{remote_ip}:{port}"),
            total: total.clone(),
            stream: Some(stream),
            registered_time: self.unix(now),
            reregistered_time: if reregister {
                Some(self.unix(now))
            } else {
                None
            },
            last_seen: now,
            unreachable: false,
            tasks: TaskSet::default(),
            executors: HashMap::new(),
            conn: 0,
        };
        agent.conn = self.next();
        let conn = agent.conn;
        let mut used: Vec<(String, String, Resources)> = Vec::new();
        let mut kill: Vec<(FrameworkID, TaskID)> = Vec::new();
        let mut updates: Vec<(FrameworkID, TaskStatus)> = Vec::new();
        for ReportedTask {
            framework_id,
            task,
            state,
            executor_id,
        } in reg.tasks
        {
            let Some(fw) = self.frameworks.get_mut(&framework_id) else {
                // A framework that was torn down: its leftovers must go.
                kill.push((framework_id, task.task_id));
                continue;
            };
            if state.is_terminal() {
                // Ended while out of reach: its terminal update follows; until then it is not
                // unreachable any more.
                if let Some(mut rec) = fw.unreachable_tasks.remove(task.task_id.value.as_str()) {
                    rec.state = state;
                    push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
                }
                continue;
            }
            // Mesos: a non-partition-aware framework was told this task is LOST when its agent
            // became unreachable, so the task must not come back; kill it.
            let reported_lost = !fw.tasks.contains_key(task.task_id.value.as_str())
                && fw.completed_tasks.iter().any(|t| {
                    *t.task_id == *task.task_id.value
                        && *t.agent_id == *id.value
                        && t.state == TaskState::TASK_LOST
                });
            if reported_lost {
                kill.push((framework_id, task.task_id));
                continue;
            }
            let role = fw.roles.first().cloned().unwrap_or_else(|| "*".into());
            let was_unreachable = fw.unreachable_tasks.remove(task.task_id.value.as_str());
            if !fw.tasks.contains_key(task.task_id.value.as_str()) {
                let t = Task {
                    name: task.name.clone(),
                    task_id: task.task_id.clone(),
                    framework_id: framework_id.clone(),
                    executor_id: executor_id.clone(),
                    agent_id: id.clone(),
                    state,
                    resources: task.resources.clone(),
                    statuses: vec![],
                    status_update_state: None,
                    status_update_uuid: None,
                    labels: task.labels.clone(),
                    discovery: task.discovery.clone(),
                    container: task.container.clone(),
                    health_check: task.health_check.clone(),
                    kill_policy: task.kill_policy.clone(),
                    user: None,
                };
                let rec = TaskRec::new(t, &role, &mut self.ids);
                fw.tasks.insert(rec.task_id.clone(), rec);
            }
            let Some(rec) = fw.tasks.get_mut(task.task_id.value.as_str()) else {
                continue;
            };
            if let Some(mut prev) = was_unreachable {
                rec.role = prev.role.clone();
                rec.take_statuses(&mut prev);
                rec.state = state;
                let mut s = TaskStatus::new(task.task_id.clone(), state);
                s.source = Some(StatusSource::SOURCE_MASTER);
                s.reason = Some(Reason::REASON_AGENT_REREGISTERED);
                s.message = Some("Agent re-registered".into());
                s.agent_id = Some(id.clone());
                updates.push((framework_id.clone(), s));
            }
            let mut res = Resources::from_list(&task.resources);
            if let Some(e) = executor_id.clone() {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    agent.executors.entry((framework_id.clone(), e.clone()))
                {
                    let einfo = task.executor.clone().unwrap_or(ExecutorInfo {
                        kind: None,
                        executor_id: e.clone(),
                        framework_id: Some(framework_id.clone()),
                        command: None,
                        container: None,
                        resources: vec![],
                        name: None,
                        source: None,
                        data: None,
                        shutdown_grace_period: None,
                        labels: None,
                    });
                    res.add_all(&Resources::from_list(&einfo.resources));
                    v.insert((einfo, rec.role.to_string()));
                    fw.executors.insert((id.clone(), e));
                }
            }
            used.push((framework_id.value.clone(), rec.role.to_string(), res));
            let task_key = rec.task_id.clone();
            agent
                .tasks
                .insert(self.ids.get(&framework_id.value), task_key);
        }
        for (fid, tid) in kill {
            agent.send(&ToAgent::KillTask {
                framework_id: fid,
                task_id: tid,
                kill_policy: None,
            });
        }
        // Unreachable tasks of this agent that it no longer has at all: gone.
        for fw in self.frameworks.values_mut() {
            let gone: Vec<Id> = fw
                .unreachable_tasks
                .iter()
                .filter(|(tid, r)| {
                    *r.agent_id == *id.value && !agent.tasks.contains(&fw.id.value, tid)
                })
                .map(|(tid, _)| tid.clone())
                .collect();
            for tid in gone {
                let reported = reported_ids.contains(&(fw.id.value.clone(), tid.to_string()));
                let Some(mut rec) = fw.unreachable_tasks.remove(&tid) else {
                    continue;
                };
                if reported {
                    push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
                    continue;
                }
                rec.state = TaskState::TASK_GONE;
                let mut s = TaskStatus::new(TaskID::new(&*tid), TaskState::TASK_GONE);
                s.source = Some(StatusSource::SOURCE_MASTER);
                s.reason = Some(Reason::REASON_AGENT_RESTARTED);
                s.message = Some("Task is no longer on its re-registered agent".into());
                s.agent_id = Some(id.clone());
                fw.send(&Event::update(s));
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        agent.send(&ToAgent::Registered {
            agent_id: id.clone(),
            heartbeat_interval_seconds: self.cfg.agent_heartbeat_secs,
            master_id: self.info.id.clone(),
        });
        self.allocator.add_agent(&id.value, total, &used);
        self.agents.insert(id.clone(), agent);
        for (fid, s) in updates {
            self.send_to_framework(&fid, &Event::update(s));
        }
        self.registry.put_agent(&info);
        self.operator_event(
            "AGENT_ADDED",
            serde_json::json!({"agent": self.agent_entry_json(&id)}),
        );
        tracing::info!(agent_id = %id, hostname = %info.hostname, reregister, "agent registered");
        self.allocation_wanted = true;
        Ok((id, conn))
    }

    pub fn agent_disconnected(&mut self, id: &AgentID, conn: u64) {
        if let Some(a) = self.agents.get_mut(id) {
            if a.conn == conn {
                a.stream = None;
                tracing::warn!(agent_id = %id, "agent disconnected");
            }
        }
    }

    pub fn agent_calls(
        &mut self,
        id: &AgentID,
        calls: Vec<FromAgent>,
        now: f64,
    ) -> Result<(), ApiError> {
        let Some(agent) = self.agents.get_mut(id) else {
            return Err(ApiError::NotFound(format!(
                "Agent {id} is not registered; re-register"
            )));
        };
        if agent.unreachable {
            return Err(ApiError::Conflict(format!(
                "Agent {id} was marked unreachable; re-register"
            )));
        }
        agent.last_seen = now;
        for call in calls {
            match call {
                FromAgent::Heartbeat => {}
                FromAgent::Updates { updates } => {
                    for u in updates {
                        self.status_update(id, u, now);
                    }
                }
                FromAgent::ExecutorMessage {
                    framework_id,
                    executor_id,
                    data,
                } => {
                    let ev = Event::message(scheduler::Message {
                        agent_id: id.clone(),
                        executor_id,
                        data: data.unwrap_or_default(),
                    });
                    self.send_to_framework(&framework_id, &ev);
                }
                FromAgent::ExecutorExited {
                    framework_id,
                    executor_id,
                    status,
                } => {
                    if let Some(agent) = self.agents.get_mut(id) {
                        if let Some((e, role)) = agent
                            .executors
                            .remove(&(framework_id.clone(), executor_id.clone()))
                        {
                            let res = Resources::from_list(&e.resources);
                            self.allocator.recover(
                                &id.value,
                                &framework_id.value,
                                &role,
                                &res,
                                0.0,
                                now,
                            );
                            self.allocation_wanted = true;
                        }
                    }
                    if let Some(fw) = self.frameworks.get_mut(&framework_id) {
                        fw.executors.remove(&(id.clone(), executor_id.clone()));
                        fw.send(&Event::failure(scheduler::Failure {
                            agent_id: Some(id.clone()),
                            executor_id: Some(executor_id),
                            status: Some(status),
                        }));
                    }
                }
            }
        }
        Ok(())
    }

    fn status_update(&mut self, agent_id: &AgentID, u: StatusUpdate, now: f64) {
        self.counters.updates_from_agents += 1;
        let StatusUpdate {
            framework_id: fid,
            mut status,
        } = u;
        status.agent_id = Some(agent_id.clone());
        let Some(fw) = self.frameworks.get_mut(&fid) else {
            // Nobody will ever acknowledge this: do it for the framework, and clean up.
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.send(&ToAgent::Acknowledge {
                    framework_id: fid.clone(),
                    task_id: status.task_id.clone(),
                    uuid: status.uuid.clone(),
                });
                if self.removed.contains(&fid) {
                    a.send(&ToAgent::ShutdownFramework { framework_id: fid });
                }
            }
            return;
        };
        let state = status.state;
        let mut recovered: Option<(String, Resources)> = None;
        let mut completed = false;
        let tid = status.task_id.value.as_str();
        if let Some(rec) = fw.tasks.get_mut(tid) {
            let was_terminal = rec.state.is_terminal();
            rec.state = state;
            rec.set_status_update(state, status.uuid.as_deref());
            // Kept without its data (as Mesos' master does); the framework gets it whole.
            let data = status.data.take();
            rec.push_status(&status, Some(4), &mut self.ids);
            status.data = data;
            if state.is_terminal() && !was_terminal {
                recovered = Some((rec.role.to_string(), Resources::from_list(&rec.resources())));
                completed = true;
            }
        }
        if completed {
            if let Some(rec) = fw.tasks.remove(tid) {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        // A task reported unreachable that its agent now reports on: it ended while out of
        // reach (completed), or it is running again (active).
        if let Some(mut rec) = fw.unreachable_tasks.remove(tid) {
            rec.state = state;
            let data = status.data.take();
            rec.push_status(&status, None, &mut self.ids);
            status.data = data;
            if state.is_terminal() {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            } else {
                let key = rec.task_id.clone();
                fw.tasks.insert(key.clone(), rec);
                if let Some(a) = self.agents.get_mut(agent_id) {
                    a.tasks.insert(self.ids.get(&fid.value), key);
                }
            }
        }
        *self
            .counters
            .tasks_by_state
            .entry(state.as_str())
            .or_default() += 1;
        if let Some((role, res)) = recovered {
            if let Some(a) = self.agents.get_mut(agent_id) {
                a.tasks.remove(&fid.value, &status.task_id.value);
            }
            self.allocator
                .recover(&agent_id.value, &fid.value, &role, &res, 0.0, now);
            self.allocation_wanted = true;
        }
        if !self.operator_streams.is_empty() {
            self.operator_event(
                "TASK_UPDATED",
                serde_json::json!({"framework_id": fid, "status": status, "state": state}),
            );
        }
        if let Some(fw) = self.frameworks.get_mut(&fid) {
            fw.send(&Event::update(status));
        }
    }

    /// Periodic housekeeping: agents that went silent, frameworks past their failover timeout,
    /// heartbeats on every stream.
    pub fn tick(&mut self, now: f64, send_heartbeats: bool) {
        let timeout = self.cfg.agent_timeout_secs;
        let silent: Vec<AgentID> = self
            .agents
            .values()
            .filter(|a| !a.unreachable && now - a.last_seen > timeout)
            .map(|a| a.id.clone())
            .collect();
        for id in silent {
            self.mark_unreachable(&id, now);
        }
        let expired: Vec<FrameworkID> = self
            .frameworks
            .values()
            .filter(|f| !f.connected() && f.failover_deadline.map(|d| now >= d).unwrap_or(false))
            .map(|f| f.id.clone())
            .collect();
        for fid in expired {
            tracing::info!(framework_id = %fid, "framework failover timeout expired");
            self.remove_framework(&fid, now);
        }
        if send_heartbeats {
            let hb = frame(&Event::heartbeat());
            for fw in self.frameworks.values_mut() {
                if let Some(s) = &fw.stream {
                    if s.send(hb.clone()).is_err() {
                        fw.stream = None;
                    }
                }
            }
            let ping = frame(&ToAgent::Ping);
            for a in self.agents.values_mut() {
                if let Some(s) = &a.stream {
                    let _ = s.send(ping.clone());
                }
            }
            let ohb = frame(&serde_json::json!({"type": "HEARTBEAT"}));
            self.operator_streams
                .retain(|s| s.send(ohb.clone()).is_ok());
        }
    }

    fn mark_unreachable(&mut self, id: &AgentID, now: f64) {
        tracing::warn!(agent_id = %id, "agent missed its heartbeats: marking it unreachable");
        self.counters.agent_removals += 1;
        let offers: Vec<OfferID> = self
            .offers
            .iter()
            .filter(|(_, o)| &o.offer.agent_id == id)
            .map(|(k, _)| k.clone())
            .collect();
        for oid in offers {
            self.rescind_offer(&oid, now);
        }
        let Some(agent) = self.agents.get_mut(id) else {
            return;
        };
        agent.unreachable = true;
        agent.stream = None;
        let tasks = agent.tasks.to_vec();
        agent.executors.clear();
        self.allocator.remove_agent(&id.value);
        let unix = self.unix(now);
        for (fid, tid) in tasks {
            let Some(fw) = self.frameworks.get_mut(&FrameworkID::new(&*fid)) else {
                continue;
            };
            let pa = fw.partition_aware();
            let Some(mut rec) = fw.tasks.remove(&tid) else {
                continue;
            };
            let state = if pa {
                TaskState::TASK_UNREACHABLE
            } else {
                TaskState::TASK_LOST
            };
            let mut s = TaskStatus::new(TaskID::new(&*tid), state);
            s.source = Some(StatusSource::SOURCE_MASTER);
            s.reason = Some(Reason::REASON_AGENT_REMOVED);
            s.message = Some(format!("Agent {id} is unreachable"));
            s.agent_id = Some(id.clone());
            s.timestamp = Some(unix);
            if pa {
                s.unreachable_time = Some(time_info(unix));
            }
            rec.state = state;
            rec.push_status(&s, None, &mut self.ids);
            fw.send(&Event::update(s));
            *self
                .counters
                .tasks_by_state
                .entry(state.as_str())
                .or_default() += 1;
            if pa {
                fw.unreachable_tasks.insert(tid, rec);
            } else {
                push_bounded(&mut fw.completed_tasks, rec, COMPLETED_TASKS_PER_FRAMEWORK);
            }
        }
        if let Some(agent) = self.agents.get_mut(id) {
            agent.tasks.clear();
        }
        self.operator_event("AGENT_REMOVED", serde_json::json!({"agent_id": id}));
    }

    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<(), ApiError> {
        validate_role(role)?;
        if !(weight > 0.0 && weight.is_finite()) {
            return Err(ApiError::BadRequest(format!(
                "Weight of role '{role}' must be positive"
            )));
        }
        self.allocator
            .set_weight(role, weight)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.weights.insert(role.to_string(), weight);
        self.registry.put_weights(&self.weights);
        self.allocation_wanted = true;
        Ok(())
    }

    pub fn operator_event(&mut self, kind: &str, body: serde_json::Value) {
        if self.operator_streams.is_empty() {
            return;
        }
        let mut v = serde_json::json!({"type": kind});
        let key = kind.to_ascii_lowercase();
        v[key] = body;
        let rec = frame(&v);
        self.operator_streams
            .retain(|s| s.send(rec.clone()).is_ok());
    }
}

pub fn push_bounded<T>(q: &mut VecDeque<T>, item: T, cap: usize) {
    if q.len() >= cap {
        q.pop_front();
    }
    q.push_back(item);
}

/// A task or executor id names a directory of the agent's sandbox tree (as in Mesos'
/// `validateID`): not empty, at most 255 bytes, not `.` or `..`, no `/`, backslash or control
/// characters.
fn validate_id(kind: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("{kind} ID must not be empty"));
    }
    if id.len() > 255 {
        return Err(format!("{kind} ID must not be longer than 255 bytes"));
    }
    if id == "." || id == ".." {
        return Err(format!("{kind} ID '{id}' is disallowed"));
    }
    if id.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err(format!("{kind} ID '{id}' contains invalid characters"));
    }
    Ok(())
}

fn validate_role(r: &str) -> Result<(), ApiError> {
    let bad = r.is_empty()
        || r == "."
        || r == ".."
        || r.starts_with('-')
        || r.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        || r.split('/').any(|p| p.is_empty() && r != "*");
    if bad && r != "*" {
        return Err(ApiError::BadRequest(format!("Role '{r}' is invalid")));
    }
    Ok(())
}

fn call_name(k: CallType) -> &'static str {
    match k {
        CallType::SUBSCRIBE => "subscribe",
        CallType::TEARDOWN => "teardown",
        CallType::ACCEPT => "accept",
        CallType::DECLINE => "decline",
        CallType::REVIVE => "revive",
        CallType::SUPPRESS => "suppress",
        CallType::KILL => "kill",
        CallType::SHUTDOWN => "shutdown",
        CallType::ACKNOWLEDGE => "acknowledge",
        CallType::RECONCILE => "reconcile",
        CallType::MESSAGE => "message",
        CallType::REQUEST => "request",
        CallType::UPDATE_FRAMEWORK => "update_framework",
        _ => "other",
    }
}

/// Mesos' text form of resources, for error messages.
pub fn resources_text(r: &Resources) -> String {
    let mut parts = Vec::new();
    for x in r.iter() {
        let role = x.reservation_role();
        let name = if role == "*" {
            x.name.clone()
        } else {
            format!("{}({role})", x.name)
        };
        let v = match x.kind {
            ValueType::SCALAR => resources::format_scalar(x.scalar.map(|s| s.value).unwrap_or(0.0)),
            ValueType::RANGES => resources::format_ranges(
                &x.ranges
                    .as_ref()
                    .map(|r| r.range.clone())
                    .unwrap_or_default(),
            ),
            ValueType::SET => format!(
                "{{{}}}",
                x.set.as_ref().map(|s| s.item.join(",")).unwrap_or_default()
            ),
            ValueType::TEXT => String::new(),
        };
        parts.push(format!("{name}:{v}"));
    }
    parts.join("; ")
}
