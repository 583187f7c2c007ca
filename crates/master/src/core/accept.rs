//! ACCEPT: check the offers (still valid, one agent, one role), check each task of LAUNCH and
//! LAUNCH_GROUP against what is left of them, answer invalid ones (TASK_ERROR, or TASK_LOST /
//! TASK_DROPPED for stale offers), record the rest as TASK_STAGING and send them to the agent,
//! and give back what was not used with the accept's filter.

use super::operations::{conversion, Asker, OperationInvalid};
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
    /// Mesos' `validateRevocableAndNonRevocableResources`: a resource name is either.
    #[error("Task mixes revocable and non-revocable resources: Cannot use both revocable and non-revocable '{0}' at the same time")]
    MixesRevocable(String),
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
                OperationType::RESERVE
                | OperationType::UNRESERVE
                | OperationType::CREATE
                | OperationType::DESTROY => {
                    let kind = op.kind;
                    if let Err(why) =
                        self.offer_operation(fid, &agent_id, &role, &op, &mut remaining)
                    {
                        // Mesos drops an invalid operation (no feedback without an operation
                        // id); the rest of the ACCEPT goes on.
                        tracing::warn!(framework_id = %fid, agent_id = %agent_id, "dropping {kind:?} operation: {why}");
                    }
                }
                other => {
                    self.send_to_framework(
                        fid,
                        &Event::error(format!("Operation {other:?} is not supported yet")),
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

    /// One RESERVE, UNRESERVE, CREATE or DESTROY on the offered resources: checked, applied to
    /// the agent, and to what is left of the offers for the operations after it.
    fn offer_operation(
        &mut self,
        fid: &FrameworkID,
        agent_id: &AgentID,
        role: &str,
        op: &Operation,
        remaining: &mut Resources,
    ) -> Result<(), OperationInvalid> {
        let principal = self
            .frameworks
            .get(fid)
            .and_then(|f| f.info.principal.clone());
        let who = Asker {
            role,
            principal: principal.as_deref(),
        };
        let conv = conversion(op, &who)?;
        if !remaining.contains(&conv.consumed) {
            return Err(OperationInvalid::NotOffered(resources_text(&conv.consumed)));
        }
        self.apply_operation(agent_id, Some((fid, role)), &conv)?;
        remaining.subtract_all(&conv.consumed);
        remaining.add_all(&conv.converted);
        Ok(())
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
        for r in t.resources.iter().filter(|r| r.revocable.is_some()) {
            if t.resources
                .iter()
                .any(|o| o.name == r.name && o.revocable.is_none())
            {
                return Err(TaskInvalid::MixesRevocable(r.name.clone()));
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
        self.counters
            .entered(TaskState::TASK_STAGING, tasks.len() as u64);
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
mod tests;
