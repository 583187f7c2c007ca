//! The master's stored form of a task, and the one place it turns into the wire `Task` and back.
//!
//! A master holds every running task of the cluster (and up to 1,000 completed ones per
//! framework), so the record is kept small: ids are shared `Arc<str>`s (a task's id is one
//! allocation shared by the maps that key on it, framework, agent, role and user strings are
//! interned), resources in the shape frameworks send are kept as name, value and role, and each
//! status keeps what differs from its task (its `container_status` of the usual
//! `{"container_id":{"value":…}}` shape as one shared id). Anything of another shape is kept in
//! its wire form, so `TaskRec::to_task` gives back exactly what was stored: the JSON the master
//! renders does not depend on the stored form.

use drover_api::operator::Task;
use drover_api::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A shared id or name.
pub type Id = Arc<str>;

/// Shared copies of strings many records repeat (framework and agent ids, roles, users,
/// resource names). Entries no record uses any more are dropped as the set grows.
#[derive(Default)]
pub struct Interner {
    set: HashSet<Id>,
    prune_at: usize,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Id {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        if self.set.len() >= self.prune_at {
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.prune_at = (self.set.len() * 2).max(256);
        }
        let a: Id = Arc::from(s);
        self.set.insert(a.clone());
        a
    }
}

/// `bytes` of a status: almost always a 16-byte UUID, kept inline.
#[derive(Clone, Debug, PartialEq)]
enum Bytes {
    Uuid([u8; 16]),
    Other(Box<[u8]>),
}

impl Bytes {
    fn new(v: Vec<u8>) -> Self {
        match <[u8; 16]>::try_from(v.as_slice()) {
            Ok(a) => Bytes::Uuid(a),
            Err(_) => Bytes::Other(v.into_boxed_slice()),
        }
    }
    fn from_slice(v: &[u8]) -> Self {
        match <[u8; 16]>::try_from(v) {
            Ok(a) => Bytes::Uuid(a),
            Err(_) => Bytes::Other(Box::from(v)),
        }
    }
    fn to_vec(&self) -> Vec<u8> {
        match self {
            Bytes::Uuid(a) => a.to_vec(),
            Bytes::Other(b) => b.to_vec(),
        }
    }
}

/// `allocation_info` of a resource.
#[derive(Clone, Debug, PartialEq)]
enum Allocation {
    Absent,
    NoRole,
    Role(Id),
}

#[derive(Clone, Debug, PartialEq)]
enum PlainValue {
    Scalar(f64),
    Ranges(Box<[Range]>),
}

/// One resource of a task.
#[derive(Clone, Debug, PartialEq)]
enum TaskResource {
    /// The shape frameworks send back from offers: a scalar or a range list, with at most the
    /// deprecated `role` (a static reservation) and `allocation_info`.
    Plain {
        name: Id,
        value: PlainValue,
        role: Option<Id>,
        allocation: Allocation,
    },
    /// Anything else (reservations, sets, disk, …), as received.
    Wire(Box<Resource>),
}

impl TaskResource {
    fn new(r: Resource, ids: &mut Interner) -> Self {
        // A pre-refinement dynamic reservation (`role` + `reservation`) is not plain: its
        // principal and labels are part of what the resource is.
        let plain = r.reservations.is_empty()
            && r.reservation.is_none()
            && r.disk.is_none()
            && r.revocable.is_none()
            && r.shared.is_none()
            && r.set.is_none();
        let value = match (r.kind, &r.scalar, &r.ranges) {
            (ValueType::SCALAR, Some(s), None) if plain => Some(PlainValue::Scalar(s.value)),
            (ValueType::RANGES, None, Some(rs)) if plain => {
                Some(PlainValue::Ranges(rs.range.clone().into_boxed_slice()))
            }
            _ => None,
        };
        let Some(value) = value else {
            return TaskResource::Wire(Box::new(r));
        };
        TaskResource::Plain {
            name: ids.get(&r.name),
            value,
            role: r.role.as_deref().map(|x| ids.get(x)),
            allocation: match r.allocation_info {
                None => Allocation::Absent,
                Some(AllocationInfo { role: None }) => Allocation::NoRole,
                Some(AllocationInfo { role: Some(x) }) => Allocation::Role(ids.get(&x)),
            },
        }
    }

    fn to_wire(&self) -> Resource {
        match self {
            TaskResource::Wire(r) => (**r).clone(),
            TaskResource::Plain {
                name,
                value,
                role,
                allocation,
            } => {
                let mut r = match value {
                    PlainValue::Scalar(v) => Resource::scalar(name, *v),
                    PlainValue::Ranges(rs) => Resource::ranges(name, rs.to_vec()),
                };
                r.role = role.as_deref().map(String::from);
                r.allocation_info = match allocation {
                    Allocation::Absent => None,
                    Allocation::NoRole => Some(AllocationInfo { role: None }),
                    Allocation::Role(x) => Some(AllocationInfo {
                        role: Some(x.to_string()),
                    }),
                };
                r
            }
        }
    }
}

/// A status's `container_status`.
#[derive(Clone, Debug, PartialEq)]
enum Container {
    /// `{"container_id":{"value":…}}`, what Drover's agents send.
    Id(Id),
    Json(Box<serde_json::Value>),
}

impl Container {
    fn new(v: &serde_json::Value, prev: Option<&Container>) -> Self {
        let id = v
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.get("container_id"))
            .and_then(|c| c.as_object())
            .filter(|c| c.len() == 1)
            .and_then(|c| c.get("value"))
            .and_then(|x| x.as_str());
        match (id, prev) {
            (Some(id), Some(Container::Id(p))) if &**p == id => Container::Id(p.clone()),
            (Some(id), _) => Container::Id(Arc::from(id)),
            (None, _) => Container::Json(Box::new(v.clone())),
        }
    }
    fn to_json(&self) -> serde_json::Value {
        match self {
            Container::Id(id) => serde_json::json!({"container_id": {"value": &**id}}),
            Container::Json(v) => (**v).clone(),
        }
    }
}

/// Fields of a status that are rarely set, or rarely differ from the task's.
#[derive(Clone, Debug, PartialEq)]
struct RareStatusFields {
    /// Set when it is not the task's id.
    task_id: Option<TaskID>,
    data: Option<Vec<u8>>,
    labels: Option<Labels>,
}

/// One entry of a task's status history.
#[derive(Clone, Debug, PartialEq)]
struct StoredStatus {
    state: TaskState,
    source: Option<StatusSource>,
    reason: Option<Reason>,
    healthy: Option<bool>,
    timestamp: Option<f64>,
    uuid: Option<Bytes>,
    agent_id: Option<Id>,
    executor_id: Option<Id>,
    message: Option<Box<str>>,
    container: Option<Container>,
    unreachable_time: Option<i64>,
    rare: Option<Box<RareStatusFields>>,
}

/// The id `s` as a shared string: the first of `known` equal to it, else interned.
fn share(s: &str, known: &[Option<&Id>], ids: &mut Interner) -> Id {
    for k in known.iter().flatten() {
        if &***k == s {
            return (*k).clone();
        }
    }
    ids.get(s)
}

/// What a task is launched with beyond ids and resources: rare enough to box.
#[derive(Clone, Debug, PartialEq)]
struct TaskExtras {
    labels: Option<Labels>,
    discovery: Option<serde_json::Value>,
    container: Option<serde_json::Value>,
    health_check: Option<serde_json::Value>,
    kill_policy: Option<KillPolicy>,
}

/// A task as the master keeps it (shared behind an `Arc` by the master; cloned only when a
/// record a snapshot still holds changes).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRec {
    pub task_id: Id,
    pub framework_id: Id,
    pub agent_id: Id,
    /// The task's name, sharing `task_id`'s allocation when they are equal.
    name: Id,
    executor_id: Option<Id>,
    pub state: TaskState,
    pub status_update_state: Option<TaskState>,
    status_update_uuid: Option<Bytes>,
    /// The role its resources were allocated to.
    pub role: Id,
    user: Option<Id>,
    resources: Box<[TaskResource]>,
    statuses: Box<[StoredStatus]>,
    extras: Option<Box<TaskExtras>>,
}

impl TaskRec {
    /// The stored form of `task` (its statuses included), its resources allocated to `role`.
    pub fn new(task: Task, role: &str, ids: &mut Interner) -> TaskRec {
        let Task {
            name,
            task_id,
            framework_id,
            executor_id,
            agent_id,
            state,
            resources,
            statuses,
            status_update_state,
            status_update_uuid,
            labels,
            discovery,
            container,
            health_check,
            kill_policy,
            user,
        } = task;
        let task_id: Id = Arc::from(task_id.value);
        let name = if *name == *task_id {
            task_id.clone()
        } else {
            Arc::from(name)
        };
        let extras = if labels.is_none()
            && discovery.is_none()
            && container.is_none()
            && health_check.is_none()
            && kill_policy.is_none()
        {
            None
        } else {
            Some(Box::new(TaskExtras {
                labels,
                discovery,
                container,
                health_check,
                kill_policy,
            }))
        };
        let executor_id = executor_id.map(|e| share(&e.value, &[Some(&task_id)], ids));
        let mut rec = TaskRec {
            framework_id: ids.get(&framework_id.value),
            agent_id: ids.get(&agent_id.value),
            task_id,
            name,
            executor_id,
            state,
            status_update_state,
            status_update_uuid: status_update_uuid.map(Bytes::new),
            role: ids.get(role),
            user: user.map(|u| ids.get(&u)),
            resources: resources
                .into_iter()
                .map(|r| TaskResource::new(r, ids))
                .collect(),
            statuses: Box::new([]),
            extras,
        };
        let mut stored = Vec::with_capacity(statuses.len());
        for s in statuses {
            let st = rec.store(&s, stored.last(), ids);
            stored.push(st);
        }
        rec.statuses = stored.into_boxed_slice();
        rec
    }

    /// The wire form, exactly what `new` was given plus the changes made since.
    pub fn to_task(&self) -> Task {
        let extras = self.extras.as_deref();
        Task {
            name: self.name.to_string(),
            task_id: TaskID::new(&*self.task_id),
            framework_id: FrameworkID::new(&*self.framework_id),
            executor_id: self.executor_id.as_deref().map(ExecutorID::new),
            agent_id: AgentID::new(&*self.agent_id),
            state: self.state,
            resources: self.resources(),
            statuses: self
                .statuses
                .iter()
                .map(|s| self.status_to_wire(s))
                .collect(),
            status_update_state: self.status_update_state,
            status_update_uuid: self.status_update_uuid.as_ref().map(Bytes::to_vec),
            labels: extras.and_then(|e| e.labels.clone()),
            discovery: extras.and_then(|e| e.discovery.clone()),
            container: extras.and_then(|e| e.container.clone()),
            health_check: extras.and_then(|e| e.health_check.clone()),
            kill_policy: extras.and_then(|e| e.kill_policy.clone()),
            user: self.user.as_deref().map(String::from),
        }
    }

    pub fn resources(&self) -> Vec<Resource> {
        self.resources.iter().map(TaskResource::to_wire).collect()
    }

    /// The kill policy it was launched with.
    pub fn kill_policy(&self) -> Option<&KillPolicy> {
        self.extras.as_ref().and_then(|e| e.kill_policy.as_ref())
    }

    // Borrowed parts, for views that render a task without building its wire form.

    /// Whether `other` has the same resources, as stored (so the same wire resources).
    pub fn same_resources(&self, other: &TaskRec) -> bool {
        self.resources == other.resources
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn executor_id(&self) -> Option<&str> {
        self.executor_id.as_deref()
    }
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    pub fn labels(&self) -> Option<&Labels> {
        self.extras.as_deref().and_then(|e| e.labels.as_ref())
    }
    pub fn discovery(&self) -> Option<&serde_json::Value> {
        self.extras.as_deref().and_then(|e| e.discovery.as_ref())
    }
    pub fn container(&self) -> Option<&serde_json::Value> {
        self.extras.as_deref().and_then(|e| e.container.as_ref())
    }

    /// State, time, health and container of each stored status, oldest first.
    pub fn status_briefs(&self) -> impl Iterator<Item = StatusBrief<'_>> {
        self.statuses.iter().map(|s| StatusBrief {
            state: s.state,
            timestamp: s.timestamp,
            healthy: s.healthy,
            container_status: s.container.as_ref().map(|c| match c {
                Container::Id(id) => ContainerStatus::Id(id),
                Container::Json(v) => ContainerStatus::Json(v),
            }),
        })
    }

    /// The last status stored, if any.
    pub fn latest_status(&self) -> Option<TaskStatus> {
        self.statuses.last().map(|s| self.status_to_wire(s))
    }

    /// Remember the state and uuid of the latest status update from the agent.
    pub fn set_status_update(&mut self, state: TaskState, uuid: Option<&[u8]>) {
        self.status_update_state = Some(state);
        self.status_update_uuid = uuid.map(|u| Bytes::new(u.to_vec()));
    }

    /// Append `s` to the status history, dropping the oldest first when `keep` are stored.
    pub fn push_status(&mut self, s: &TaskStatus, keep: Option<usize>, ids: &mut Interner) {
        let st = self.store(s, self.statuses.last(), ids);
        let mut v = std::mem::take(&mut self.statuses).into_vec();
        if keep.is_some_and(|k| v.len() >= k) && !v.is_empty() {
            v.remove(0);
        }
        v.push(st);
        self.statuses = v.into_boxed_slice();
    }

    /// Take over the status history of an earlier record of the same task.
    pub fn take_statuses(&mut self, from: &mut TaskRec) {
        self.statuses = std::mem::take(&mut from.statuses);
    }

    /// A status as kept: what differs from the task and the status before it (copied from the
    /// wire status, which goes on to the framework).
    fn store(
        &self,
        s: &TaskStatus,
        prev: Option<&StoredStatus>,
        ids: &mut Interner,
    ) -> StoredStatus {
        let TaskStatus {
            task_id,
            state,
            message,
            source,
            reason,
            data,
            agent_id,
            executor_id,
            timestamp,
            uuid,
            healthy,
            labels,
            container_status,
            unreachable_time,
        } = s;
        let prev_exec = prev.and_then(|p| p.executor_id.as_ref());
        let prev_agent = prev.and_then(|p| p.agent_id.as_ref());
        let rare = RareStatusFields {
            task_id: (*task_id.value != *self.task_id).then(|| task_id.clone()),
            data: data.clone(),
            labels: labels.clone(),
        };
        StoredStatus {
            state: *state,
            source: *source,
            reason: *reason,
            healthy: *healthy,
            timestamp: *timestamp,
            uuid: uuid.as_deref().map(Bytes::from_slice),
            agent_id: agent_id
                .as_ref()
                .map(|a| share(&a.value, &[Some(&self.agent_id), prev_agent], ids)),
            executor_id: executor_id.as_ref().map(|e| {
                share(
                    &e.value,
                    &[Some(&self.task_id), self.executor_id.as_ref(), prev_exec],
                    ids,
                )
            }),
            message: message.as_deref().map(Box::from),
            container: container_status
                .as_ref()
                .map(|c| Container::new(c, prev.and_then(|p| p.container.as_ref()))),
            unreachable_time: unreachable_time.as_ref().map(|t| t.nanoseconds),
            rare: if rare.task_id.is_none() && rare.data.is_none() && rare.labels.is_none() {
                None
            } else {
                Some(Box::new(rare))
            },
        }
    }

    fn status_to_wire(&self, s: &StoredStatus) -> TaskStatus {
        let rare = s.rare.as_deref();
        TaskStatus {
            task_id: rare
                .and_then(|r| r.task_id.clone())
                .unwrap_or_else(|| TaskID::new(&*self.task_id)),
            state: s.state,
            message: s.message.as_deref().map(String::from),
            source: s.source,
            reason: s.reason,
            data: rare.and_then(|r| r.data.clone()),
            agent_id: s.agent_id.as_deref().map(AgentID::new),
            executor_id: s.executor_id.as_deref().map(ExecutorID::new),
            timestamp: s.timestamp,
            uuid: s.uuid.as_ref().map(Bytes::to_vec),
            healthy: s.healthy,
            labels: rare.and_then(|r| r.labels.clone()),
            container_status: s.container.as_ref().map(Container::to_json),
            unreachable_time: s
                .unreachable_time
                .map(|nanoseconds| TimeInfo { nanoseconds }),
        }
    }
}

/// Part of a stored status, borrowed (see [`TaskRec::status_briefs`]).
pub struct StatusBrief<'a> {
    pub state: TaskState,
    pub timestamp: Option<f64>,
    pub healthy: Option<bool>,
    pub container_status: Option<ContainerStatus<'a>>,
}

/// A status's `container_status`, borrowed; serializes as its wire JSON.
pub enum ContainerStatus<'a> {
    /// `{"container_id":{"value":…}}`
    Id(&'a str),
    Json(&'a serde_json::Value),
}

impl serde::Serialize for ContainerStatus<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ContainerStatus::Json(v) => v.serialize(s),
            ContainerStatus::Id(id) => {
                struct Value<'a>(&'a str);
                impl serde::Serialize for Value<'_> {
                    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry("value", self.0)?;
                        m.end()
                    }
                }
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("container_id", &Value(id))?;
                m.end()
            }
        }
    }
}

/// The tasks an agent runs, by framework.
#[derive(Default)]
pub struct TaskSet {
    by_framework: HashMap<Id, HashSet<Id>>,
}

impl TaskSet {
    pub fn insert(&mut self, framework_id: Id, task_id: Id) {
        self.by_framework
            .entry(framework_id)
            .or_default()
            .insert(task_id);
    }
    pub fn remove(&mut self, framework_id: &str, task_id: &str) {
        if let Some(set) = self.by_framework.get_mut(framework_id) {
            set.remove(task_id);
            if set.is_empty() {
                self.by_framework.remove(framework_id);
            }
        }
    }
    pub fn contains(&self, framework_id: &str, task_id: &str) -> bool {
        self.by_framework
            .get(framework_id)
            .is_some_and(|s| s.contains(task_id))
    }
    pub fn has_framework(&self, framework_id: &str) -> bool {
        self.by_framework.contains_key(framework_id)
    }
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.by_framework.remove(framework_id);
    }
    pub fn clear(&mut self) {
        self.by_framework.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.by_framework.is_empty()
    }
    /// Every (framework id, task id).
    pub fn to_vec(&self) -> Vec<(Id, Id)> {
        self.by_framework
            .iter()
            .flat_map(|(f, ts)| ts.iter().map(move |t| (f.clone(), t.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests;
