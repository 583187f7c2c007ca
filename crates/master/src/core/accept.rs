//! ACCEPT: check the offers (still valid, one agent, one role), check each task of LAUNCH and
//! LAUNCH_GROUP against what is left of them, answer invalid ones (TASK_ERROR, or TASK_LOST /
//! TASK_DROPPED for stale offers), record the rest as TASK_STAGING and send them to the agent,
//! and give back what was not used with the accept's filter.

use super::{resources_text, validate_id, InvalidId, Master, OfferRec, DEFAULT_REFUSE_SECS};
use crate::tasks::{Id, TaskRec};
use drover_api::agent_protocol::ToAgent;
use drover_api::health_check::HealthCheckError;
use drover_api::operator::Task;
use drover_api::scheduler::{self, Event};
use drover_api::*;
use std::collections::HashSet;
use std::sync::Arc;

/// Why the offers of an ACCEPT cannot be used; its tasks are answered TASK_LOST (or
/// TASK_DROPPED) "Task launched with invalid offers: ..." with this text.
#[derive(Debug, thiserror::Error)]
enum InvalidOffers {
    #[error("No offers specified")]
    NoOffers,
    #[error("Duplicate offer {0} in accept")]
    Duplicate(OfferID),
    #[error("Aggregated offers must belong to the same agent")]
    DifferentAgents,
    #[error("Aggregated offers must be allocated to the same role")]
    DifferentRoles,
    #[error("Offer {0} is no longer valid")]
    Gone(OfferID),
}

/// Why a task of LAUNCH or LAUNCH_GROUP is refused; the text is the TASK_ERROR's message.
#[derive(Debug, thiserror::Error)]
enum TaskInvalid {
    /// Removed while its ACCEPT was being handled.
    #[error("framework is gone")]
    FrameworkGone,
    #[error(transparent)]
    Id(#[from] InvalidId),
    #[error("Task has duplicate ID: {0}")]
    DuplicateId(TaskID),
    #[error("Task uses agent {task} but the offers are for agent {offers}")]
    WrongAgent { task: AgentID, offers: AgentID },
    #[error("Task should have at most one of CommandInfo or ExecutorInfo present")]
    CommandAndExecutor,
    #[error("Task should have at least one of CommandInfo or ExecutorInfo present")]
    NoCommandOrExecutor,
    #[error("Task's 'command.value' must be set for a shell command")]
    EmptyShellCommand,
    #[error("Task's 'command' needs 'value' or 'arguments' when 'shell' is false")]
    EmptyCommand,
    #[error("Task uses invalid health check: {0}")]
    HealthCheck(#[source] HealthCheckError),
    #[error("Task uses no resources")]
    NoResources,
    #[error("Resource '{0}' has an invalid scalar value")]
    InvalidScalar(String),
    #[error(
        "Task uses more resources {} than available {}",
        resources_text(.used),
        resources_text(.available)
    )]
    InsufficientResources {
        used: Resources,
        available: Resources,
    },
    #[error("Task {0} in a task group must not set 'executor'")]
    ExecutorInGroup(TaskID),
}

/// Why a LAUNCH_GROUP is refused (every task of it gets this as its TASK_ERROR's message):
/// empty, or the reasons of each invalid task, joined.
#[derive(Debug)]
struct TaskGroupInvalid(Vec<TaskInvalid>);

impl std::fmt::Display for TaskGroupInvalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("Task group is empty");
        }
        for (i, why) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{why}")?;
        }
        Ok(())
    }
}

impl Master {
    pub(super) fn accept(&mut self, fid: &FrameworkID, accept: scheduler::Accept, now: f64) {
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
        let mut invalid: Option<InvalidOffers> = None;
        if accept.offer_ids.is_empty() {
            invalid = Some(InvalidOffers::NoOffers);
        }
        let mut seen = HashSet::new();
        for oid in &accept.offer_ids {
            if !seen.insert(oid.clone()) {
                invalid.get_or_insert(InvalidOffers::Duplicate(oid.clone()));
                continue;
            }
            match self.take_offer(fid, oid) {
                Some(o) => {
                    if let Some(first) = taken.first() {
                        if first.offer.agent_id != o.offer.agent_id {
                            invalid.get_or_insert(InvalidOffers::DifferentAgents);
                        }
                        if first.role != o.role {
                            invalid.get_or_insert(InvalidOffers::DifferentRoles);
                        }
                    }
                    taken.push(o);
                }
                None => {
                    invalid.get_or_insert(InvalidOffers::Gone(oid.clone()));
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
                            Err(why) => self.task_error(fid, &t.task_id, why, now),
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
                    let mut errors = Vec::new();
                    let mut used_all = Resources::new();
                    let mut trial = remaining.clone();
                    let mut accepted: Vec<TaskInfo> = Vec::new();
                    for t in &g.task_group.tasks {
                        if t.executor.is_some() {
                            ok = false;
                            errors.push(TaskInvalid::ExecutorInGroup(t.task_id.clone()));
                            continue;
                        }
                        match self.validate_task(fid, &agent_id, t, Some(&exec), &trial, &accepted)
                        {
                            Ok(used) => {
                                trial.subtract_all(&used);
                                used_all.add_all(&used);
                                accepted.push(t.clone());
                            }
                            Err(why) => {
                                ok = false;
                                errors.push(why);
                            }
                        }
                    }
                    if !ok || g.task_group.tasks.is_empty() {
                        let msg = TaskGroupInvalid(errors).to_string();
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
    ) -> Result<Resources, TaskInvalid> {
        let fw = self.frameworks.get(fid).ok_or(TaskInvalid::FrameworkGone)?;
        validate_id("Task", &t.task_id.value)?;
        if fw.tasks.contains_key(t.task_id.value.as_str())
            || fw.unreachable_tasks.contains_key(t.task_id.value.as_str())
            || batch.iter().any(|b| b.task_id == t.task_id)
        {
            return Err(TaskInvalid::DuplicateId(t.task_id.clone()));
        }
        if &t.agent_id != agent_id {
            return Err(TaskInvalid::WrongAgent {
                task: t.agent_id.clone(),
                offers: agent_id.clone(),
            });
        }
        let exec = t.executor.as_ref().or(group_executor);
        match (exec.is_some(), t.command.is_some()) {
            (true, true) if group_executor.is_none() => {
                return Err(TaskInvalid::CommandAndExecutor)
            }
            (false, false) => return Err(TaskInvalid::NoCommandOrExecutor),
            _ => {}
        }
        if let Some(c) = &t.command {
            let shell = c.shell.unwrap_or(true);
            if shell && c.value.as_deref().unwrap_or("").is_empty() {
                return Err(TaskInvalid::EmptyShellCommand);
            }
            if !shell && c.value.is_none() && c.arguments.is_empty() {
                return Err(TaskInvalid::EmptyCommand);
            }
        }
        if let Some(hc) = &t.health_check {
            drover_api::health_check::HealthCheck::from_json(hc)
                .map_err(TaskInvalid::HealthCheck)?;
        }
        let task_res = Resources::from_list(&t.resources);
        if task_res.is_empty() {
            return Err(TaskInvalid::NoResources);
        }
        for r in &t.resources {
            if r.kind == ValueType::SCALAR
                && r.scalar
                    .map(|s| !s.value.is_finite() || s.value < 0.0)
                    .unwrap_or(true)
            {
                return Err(TaskInvalid::InvalidScalar(r.name.clone()));
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
            return Err(TaskInvalid::InsufficientResources {
                used,
                available: remaining.clone(),
            });
        }
        Ok(used)
    }

    fn task_error(&mut self, fid: &FrameworkID, task_id: &TaskID, why: TaskInvalid, now: f64) {
        tracing::info!(framework_id = %fid, task_id = %task_id, "invalid task: {why}");
        let s = self.status(
            task_id,
            TaskState::TASK_ERROR,
            Reason::REASON_TASK_INVALID,
            why.to_string(),
            now,
        );
        self.count_state(TaskState::TASK_ERROR);
        self.send_to_framework(fid, &Event::update(s));
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
            let rec = Arc::new(TaskRec::new(task, role, &mut self.ids));
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
}

#[cfg(test)]
mod tests {
    use super::super::harness::*;
    use drover_api::agent_protocol::ToAgent;
    use drover_api::scheduler::EventType;
    use drover_api::*;

    type Change = Box<dyn Fn(&mut TaskInfo)>;

    #[test]
    fn launch_answers_each_invalid_task_with_task_error() {
        let cases: Vec<(&str, Change, &str)> = vec![
            (
                "empty id",
                Box::new(|t| t.task_id = TaskID::new("")),
                "Task ID must not be empty",
            ),
            (
                "id with a slash",
                Box::new(|t| t.task_id = TaskID::new("a/b")),
                "contains invalid characters",
            ),
            (
                "id '..'",
                Box::new(|t| t.task_id = TaskID::new("..")),
                "is disallowed",
            ),
            (
                "id of 256 bytes",
                Box::new(|t| t.task_id = TaskID::new("x".repeat(256))),
                "longer than 255 bytes",
            ),
            (
                "another agent",
                Box::new(|t| t.agent_id = AgentID::new("m1-S99")),
                "Task uses agent m1-S99 but the offers are for agent",
            ),
            (
                "no command, no executor",
                Box::new(|t| t.command = None),
                "at least one of",
            ),
            (
                "command and executor",
                Box::new(|t| t.executor = Some(executor("e1"))),
                "at most one of",
            ),
            (
                "empty shell command",
                Box::new(|t| t.command.as_mut().expect("cmd").value = Some(String::new())),
                "'command.value' must be set",
            ),
            (
                "non-shell command without arguments",
                Box::new(|t| {
                    let c = t.command.as_mut().expect("cmd");
                    c.shell = Some(false);
                    c.value = None;
                }),
                "needs 'value' or 'arguments'",
            ),
            (
                "no resources",
                Box::new(|t| t.resources.clear()),
                "Task uses no resources",
            ),
            (
                "negative cpus",
                Box::new(|t| t.resources[0] = Resource::scalar("cpus", -1.0)),
                "has an invalid scalar value",
            ),
            (
                "more than offered",
                Box::new(|t| t.resources[1] = Resource::scalar("mem", 9000.0)),
                "Task uses more resources cpus:0.5; mem:9000 than available",
            ),
            (
                "invalid health check",
                Box::new(|t| t.health_check = Some(serde_json::json!({"type": "COMMAND"}))),
                "Task uses invalid health check",
            ),
        ];
        for (name, change, want) in cases {
            let mut h = Harness::new();
            let mut fw = h.subscribe(mock_framework("web", &[]));
            let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
            let offer = h.offer(&mut fw);
            let mut bad = task("bad", &ag.id, 0.5, 128.0);
            change(&mut bad);
            let bad_id = bad.task_id.value.clone();
            h.launch(&fw, &offer, vec![bad, task("good", &ag.id, 0.5, 128.0)]);
            let ups = fw.updates();
            let s = status_of(&ups, &bad_id);
            assert_eq!(s.state, TaskState::TASK_ERROR, "{name}");
            assert_eq!(s.reason, Some(Reason::REASON_TASK_INVALID), "{name}");
            assert_eq!(s.source, Some(StatusSource::SOURCE_MASTER), "{name}");
            let msg = s.message.clone().unwrap_or_default();
            assert!(msg.contains(want), "{name}: {msg}");
            // The valid task of the same ACCEPT still goes.
            assert_eq!(ups.len(), 1, "{name}: {ups:?}");
            let msgs = ag.messages();
            let launched: Vec<&str> = msgs
                .iter()
                .flat_map(|m| match m {
                    ToAgent::RunTasks { tasks, .. } => {
                        tasks.iter().map(|t| t.task_id.value.as_str()).collect()
                    }
                    _ => vec![],
                })
                .collect();
            assert_eq!(launched, vec!["good"], "{name}");
        }
    }

    #[test]
    fn a_duplicate_task_id_is_refused() {
        let mut h = Harness::new();
        let (mut fw, ag) = h.running(&[], &["t1"]);
        let offer = h.offer(&mut fw);
        h.launch(
            &fw,
            &offer,
            vec![
                task("t1", &ag.id, 0.1, 32.0),
                task("t2", &ag.id, 0.1, 32.0),
                task("t2", &ag.id, 0.1, 32.0),
            ],
        );
        let ups = fw.updates();
        let dups: Vec<&TaskStatus> = ups.iter().collect();
        assert_eq!(dups.len(), 2, "{ups:?}");
        for s in dups {
            assert_eq!(s.state, TaskState::TASK_ERROR);
            assert!(s
                .message
                .as_deref()
                .unwrap_or("")
                .contains("Task has duplicate ID"));
        }
        assert_eq!(
            h.task_state(&fw.id, "t2"),
            Some(("active", TaskState::TASK_STAGING))
        );
    }

    #[test]
    fn tasks_on_invalid_offers_are_lost_or_dropped() {
        // (partition aware, what is wrong, state, message contains)
        let cases = [
            (false, "used", TaskState::TASK_LOST, "is no longer valid"),
            (true, "used", TaskState::TASK_DROPPED, "is no longer valid"),
            (false, "none", TaskState::TASK_LOST, "No offers specified"),
            (true, "twice", TaskState::TASK_DROPPED, "Duplicate offer"),
            (
                false,
                "two agents",
                TaskState::TASK_LOST,
                "must belong to the same agent",
            ),
        ];
        for (pa, wrong, state, want) in cases {
            let caps: &[&str] = if pa { &["PARTITION_AWARE"] } else { &[] };
            let mut h = Harness::new();
            let mut fw = h.subscribe(mock_framework("web", caps));
            let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
            h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
            let offers = h.offers(&mut fw);
            assert_eq!(offers.len(), 2);
            let mine = offers
                .iter()
                .find(|o| o.agent_id == ag.id)
                .expect("offer of the first agent");
            let ids: Vec<&Offer> = match wrong {
                "used" => {
                    h.launch(&fw, mine, vec![task("first", &ag.id, 0.1, 32.0)]);
                    fw.events();
                    vec![mine]
                }
                "none" => vec![],
                "twice" => vec![mine, mine],
                _ => offers.iter().collect(),
            };
            ag.messages();
            let t = task("t1", &ag.id, 0.1, 32.0);
            h.accept_ops(&fw, &ids, vec![Operation::launch(vec![t])]);
            let ups = fw.updates();
            let case = format!("pa {pa}, {wrong}");
            let s = status_of(&ups, "t1");
            assert_eq!(s.state, state, "{case}");
            assert_eq!(s.reason, Some(Reason::REASON_INVALID_OFFERS), "{case}");
            assert!(
                s.message.as_deref().unwrap_or("").contains(want),
                "{case}: {:?}",
                s.message
            );
            assert!(
                !ag.messages()
                    .iter()
                    .any(|m| matches!(m, ToAgent::RunTasks { .. })),
                "{case}: nothing launched"
            );
            // The offers it named are used up; what they held goes back and is offered again.
            assert!(
                ids.iter().all(|o| !h.m.offers.contains_key(&o.id)),
                "{case}"
            );
            h.now += 1.0;
            h.m.allocate(h.now);
            assert_eq!(h.m.offers.len(), 2, "{case}");
        }
    }

    #[test]
    fn a_valid_launch_is_staged_sent_and_the_rest_given_back() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let t = task("t1", &ag.id, 0.5, 256.0);
        h.launch(&fw, &offer, vec![t.clone()]);
        assert!(fw.updates().is_empty(), "no update for a valid task");
        assert_eq!(
            h.task_state(&fw.id, "t1"),
            Some(("active", TaskState::TASK_STAGING))
        );
        assert!(h.m.agents[&ag.id].tasks.contains(&fw.id.value, "t1"));
        match &ag.messages()[..] {
            [ToAgent::RunTasks {
                framework,
                executor: None,
                tasks,
            }] => {
                assert_eq!(framework.id.as_ref(), Some(&fw.id));
                assert_eq!(tasks, &vec![t]);
            }
            other => panic!("one RUN_TASKS expected: {other:?}"),
        }
        assert_eq!(h.m.counters.offers_accepted, 1);
        let rest = h.offer(&mut fw);
        let r = Resources::from_list(&rest.resources);
        assert_eq!((r.scalar("cpus"), r.scalar("mem")), (1.5, 768.0));
    }

    #[test]
    fn tasks_of_one_executor_go_in_one_batch_with_its_resources_counted_once() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let with_exec = |id: &str, e: &str| {
            let mut t = task(id, &ag.id, 0.5, 128.0);
            t.command = None;
            t.executor = Some(executor(e));
            t
        };
        h.launch(
            &fw,
            &offer,
            vec![
                with_exec("a1", "ea"),
                with_exec("b1", "eb"),
                with_exec("a2", "ea"),
            ],
        );
        assert!(fw.updates().is_empty());
        let mut batches: Vec<(String, Vec<String>)> = ag
            .messages()
            .into_iter()
            .filter_map(|m| match m {
                ToAgent::RunTasks {
                    executor: Some(e),
                    tasks,
                    ..
                } => {
                    assert!(tasks.iter().all(|t| t.executor.is_none()));
                    Some((
                        e.executor_id.value,
                        tasks.into_iter().map(|t| t.task_id.value).collect(),
                    ))
                }
                _ => None,
            })
            .collect();
        batches.sort();
        assert_eq!(
            batches,
            vec![
                ("ea".into(), vec!["a1".into(), "a2".into()]),
                ("eb".into(), vec!["b1".into()]),
            ]
        );
        // 3 × 0.5 cpus for the tasks, 2 × 0.1 for the executors.
        let rest = h.offer(&mut fw);
        let cpus = Resources::from_list(&rest.resources).scalar("cpus");
        assert!((cpus - 0.3).abs() < 1e-9, "{cpus}");
        assert_eq!(rest.executor_ids.len(), 2);
    }

    #[test]
    fn launch_group_goes_whole_or_not_at_all() {
        // (second task's change, all launched, message of the TASK_ERRORs)
        let cases: Vec<(&str, Change, bool, &str)> = vec![
            ("valid", Box::new(|_| {}), true, ""),
            (
                "one too big",
                Box::new(|t| t.resources[0] = Resource::scalar("cpus", 5.0)),
                false,
                "Task uses more resources",
            ),
            (
                "one with an executor",
                Box::new(|t| t.executor = Some(executor("x"))),
                false,
                "must not set 'executor'",
            ),
        ];
        for (name, change, ok, want) in cases {
            let mut h = Harness::new();
            let mut fw = h.subscribe(mock_framework("web", &[]));
            let mut ag = h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
            let offer = h.offer(&mut fw);
            let first = task("g1", &ag.id, 0.5, 128.0);
            let mut second = task("g2", &ag.id, 0.5, 128.0);
            change(&mut second);
            let op = Operation {
                kind: OperationType::LAUNCH_GROUP,
                id: None,
                launch: None,
                launch_group: Some(LaunchGroup {
                    executor: executor("grp"),
                    task_group: TaskGroupInfo {
                        tasks: vec![first, second],
                    },
                }),
                reserve: None,
                unreserve: None,
                create: None,
                destroy: None,
            };
            h.accept_ops(&fw, &[&offer], vec![op]);
            let ups = fw.updates();
            let run = ag
                .messages()
                .into_iter()
                .any(|m| matches!(m, ToAgent::RunTasks { executor: Some(_), tasks, .. } if tasks.len() == 2));
            assert_eq!(run, ok, "{name}");
            if ok {
                assert!(ups.is_empty(), "{name}: {ups:?}");
            } else {
                assert_eq!(ups.len(), 2, "{name}: every task of the group fails");
                for s in &ups {
                    assert_eq!(s.state, TaskState::TASK_ERROR, "{name}");
                    assert_eq!(s.reason, Some(Reason::REASON_TASK_GROUP_INVALID), "{name}");
                    assert!(s.message.as_deref().unwrap_or("").contains(want), "{name}");
                }
            }
        }
    }

    #[test]
    fn an_unsupported_operation_is_an_error_event() {
        let mut h = Harness::new();
        let mut fw = h.subscribe(mock_framework("web", &[]));
        h.register(mock_agent(2.0, 1024.0, (31000, 31009)));
        let offer = h.offer(&mut fw);
        let mut op = Operation::launch(vec![]);
        op.kind = OperationType::RESERVE;
        op.launch = None;
        h.accept_ops(&fw, &[&offer], vec![op]);
        let events = fw.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventType::ERROR);
        let msg = &events[0].error.as_ref().expect("error").message;
        assert!(msg.contains("RESERVE is not supported yet"), "{msg}");
    }
}
