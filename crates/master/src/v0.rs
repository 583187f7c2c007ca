//! The big v0 views — `/master/state`, `/master/frameworks` and `/master/tasks` — written
//! straight to bytes from a snapshot. Each task is serialized from its stored record (no wire
//! `Task`, no `serde_json::Value` tree: a state of 10,000 tasks is one buffer, not millions of
//! small allocations); the small parts around the tasks (frameworks, agents) are built as values
//! by `views.rs` and merged in. Keys come out in the order a `serde_json::Map` gives them, so
//! the bytes are those of the same object built as one value (tested below against that).
//!
//! A render allocates next to nothing per task (the v0 `resources` of a task are computed once
//! for each distinct resource list, and tasks of one app share theirs), so it does not compete
//! for the allocator with the master's runtime threads, which share its one malloc arena.

use crate::core::TaskRef;
use crate::snapshot::{FrameworkView, Snapshot};
use crate::tasks::{StatusBrief, TaskRec};
use drover_api::Resources;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The v0 `resources` of the tasks of one render, by distinct resource list (the most
/// recently used first).
#[derive(Default)]
struct ResourceMemo {
    recent: RefCell<Vec<(TaskRef, V0Resources)>>,
}

type V0Resources = Rc<Map<String, Value>>;

const MEMO_ENTRIES: usize = 16;

impl ResourceMemo {
    fn get(&self, t: &TaskRef) -> V0Resources {
        let mut recent = self.recent.borrow_mut();
        if let Some(i) = recent.iter().position(|(r, _)| r.same_resources(t)) {
            if i > 0 {
                let hit = recent.remove(i);
                recent.insert(0, hit);
            }
            return recent[0].1.clone();
        }
        let map = Rc::new(Resources::from_list(&t.resources()).to_v0_map());
        if recent.capacity() == 0 {
            recent.reserve_exact(MEMO_ENTRIES);
        }
        if recent.len() == MEMO_ENTRIES {
            recent.pop();
        }
        recent.insert(0, (t.clone(), map.clone()));
        map
    }
}

/// A task as the v0 endpoints show it, its resources allocated to `role`.
struct V0Task<'a> {
    rec: &'a TaskRef,
    role: &'a str,
    memo: &'a ResourceMemo,
}

impl Serialize for V0Task<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.rec;
        let mut m = s.serialize_map(None)?;
        // In key order.
        if let Some(c) = t.container() {
            m.serialize_entry("container", c)?;
        }
        if let Some(d) = t.discovery() {
            m.serialize_entry("discovery", d)?;
        }
        m.serialize_entry("executor_id", t.executor_id().unwrap_or(""))?;
        m.serialize_entry("framework_id", &*t.framework_id)?;
        m.serialize_entry("id", &*t.task_id)?;
        if let Some(l) = t.labels() {
            m.serialize_entry("labels", &l.labels)?;
        }
        m.serialize_entry("name", t.name())?;
        m.serialize_entry("resources", &*self.memo.get(self.rec))?;
        m.serialize_entry("role", self.role)?;
        m.serialize_entry("slave_id", &*t.agent_id)?;
        m.serialize_entry("state", &t.state)?;
        m.serialize_entry("statuses", &Statuses(t))?;
        if let Some(u) = t.user() {
            m.serialize_entry("user", u)?;
        }
        m.end()
    }
}

struct Statuses<'a>(&'a TaskRec);

impl Serialize for Statuses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for b in self.0.status_briefs() {
            seq.serialize_element(&Status(b))?;
        }
        seq.end()
    }
}

/// `{"state", "timestamp"}` and, when set, `healthy` and `container_status`.
struct Status<'a>(StatusBrief<'a>);

impl Serialize for Status<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = &self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(c) = &b.container_status {
            m.serialize_entry("container_status", c)?;
        }
        if let Some(h) = b.healthy {
            m.serialize_entry("healthy", &h)?;
        }
        m.serialize_entry("state", &b.state)?;
        // A value that is not a finite number is `null`, as in a `serde_json::Value`.
        m.serialize_entry("timestamp", &b.timestamp.unwrap_or(0.0))?;
        m.end()
    }
}

/// Tasks, each with its own role or all with one.
struct Tasks<'a> {
    tasks: &'a [TaskRef],
    role: Option<&'a str>,
    memo: &'a ResourceMemo,
}

impl Serialize for Tasks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.tasks.len()))?;
        for t in self.tasks {
            seq.serialize_element(&V0Task {
                rec: t,
                role: self.role.unwrap_or(&t.role),
                memo: self.memo,
            })?;
        }
        seq.end()
    }
}

/// A framework with its tasks.
struct V0Framework<'a> {
    base: Map<String, Value>,
    view: &'a FrameworkView,
    memo: &'a ResourceMemo,
}

impl Serialize for V0Framework<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let role = self.view.v0_role();
        let v = self.view;
        let memo = self.memo;
        Merged {
            base: &self.base,
            extra: vec![
                (
                    "completed_tasks",
                    Part::Tasks(Tasks {
                        tasks: &v.completed_tasks,
                        role: Some(&role),
                        memo,
                    }),
                ),
                (
                    "tasks",
                    Part::Tasks(Tasks {
                        tasks: &v.tasks,
                        role: None,
                        memo,
                    }),
                ),
                (
                    "unreachable_tasks",
                    Part::Tasks(Tasks {
                        tasks: &v.unreachable_tasks,
                        role: None,
                        memo,
                    }),
                ),
            ],
        }
        .serialize(s)
    }
}

enum Part<'a> {
    Tasks(Tasks<'a>),
    Frameworks(Vec<V0Framework<'a>>),
    Page(Vec<V0Task<'a>>),
}

impl Serialize for Part<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Part::Tasks(t) => t.serialize(s),
            Part::Frameworks(f) => f.serialize(s),
            Part::Page(p) => p.serialize(s),
        }
    }
}

/// An object: `base`'s entries and `extra`'s (sorted by key, none in `base`), in key order.
struct Merged<'a> {
    base: &'a Map<String, Value>,
    extra: Vec<(&'static str, Part<'a>)>,
}

impl Serialize for Merged<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.base.len() + self.extra.len()))?;
        let mut extra = self.extra.iter().peekable();
        for (k, v) in self.base {
            while let Some((ek, part)) = extra.next_if(|(ek, _)| *ek < k.as_str()) {
                m.serialize_entry(ek, part)?;
            }
            m.serialize_entry(k, v)?;
        }
        for (ek, part) in extra {
            m.serialize_entry(ek, part)?;
        }
        m.end()
    }
}

fn frameworks<'a>(list: &'a [FrameworkView], id: Option<&str>, memo: &'a ResourceMemo) -> Part<'a> {
    Part::Frameworks(
        list.iter()
            .filter(|f| id.is_none_or(|id| f.id.value == id))
            .map(|view| V0Framework {
                base: view.v0_base(),
                view,
                memo,
            })
            .collect(),
    )
}

/// Size of the last state rendered: the next one's buffer is made that big at once.
static LAST_STATE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// `v` written to a buffer of about `hint` bytes.
fn to_bytes(v: &impl Serialize, hint: usize) -> serde_json::Result<Vec<u8>> {
    crate::render::to_json(v, hint + hint / 8)
}

impl Snapshot {
    /// `/master/state`.
    pub fn v0_state_json(&self, now: f64, flags: &Value) -> serde_json::Result<Vec<u8>> {
        let base = self.v0_state_base(now, flags);
        let memo = ResourceMemo::default();
        let out = to_bytes(
            &Merged {
                base: &base,
                extra: vec![
                    (
                        "completed_frameworks",
                        frameworks(&self.completed_frameworks, None, &memo),
                    ),
                    ("frameworks", frameworks(&self.frameworks, None, &memo)),
                ],
            },
            LAST_STATE_BYTES.load(Ordering::Relaxed),
        )?;
        LAST_STATE_BYTES.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }

    /// `/master/frameworks`, or only the one with `id`.
    pub fn v0_frameworks_json(&self, id: Option<&str>) -> serde_json::Result<Vec<u8>> {
        let mut base = Map::new();
        base.insert("unregistered_frameworks".into(), Value::Array(vec![]));
        let memo = ResourceMemo::default();
        to_bytes(
            &Merged {
                base: &base,
                extra: vec![
                    (
                        "completed_frameworks",
                        frameworks(&self.completed_frameworks, id, &memo),
                    ),
                    ("frameworks", frameworks(&self.frameworks, id, &memo)),
                ],
            },
            LAST_STATE_BYTES.load(Ordering::Relaxed),
        )
    }

    /// `/master/tasks`: active then completed tasks of every framework (or one), by the time
    /// of their first status, newest first unless `order_desc` is false, then paged as Mesos
    /// pages them (`limit` < 0: no limit).
    pub fn v0_tasks_json(
        &self,
        limit: Option<i64>,
        offset: usize,
        order_desc: bool,
        framework: Option<&str>,
        task: Option<&str>,
    ) -> serde_json::Result<Vec<u8>> {
        let chosen: Vec<(&FrameworkView, String)> = self
            .frameworks
            .iter()
            .chain(self.completed_frameworks.iter())
            .filter(|f| framework.is_none_or(|x| x == f.id.value))
            .map(|f| (f, f.v0_role()))
            .collect();
        let memo = ResourceMemo::default();
        let mut all: Vec<(f64, V0Task<'_>)> = Vec::new();
        for (f, role) in &chosen {
            for t in f.tasks.iter().chain(f.unreachable_tasks.iter()) {
                let task = V0Task {
                    rec: t,
                    role: &t.role,
                    memo: &memo,
                };
                all.push((first_time(t), task));
            }
            for t in &f.completed_tasks {
                let task = V0Task {
                    rec: t,
                    role,
                    memo: &memo,
                };
                all.push((first_time(t), task));
            }
        }
        if let Some(id) = task {
            all.retain(|(_, t)| &*t.rec.task_id == id);
        }
        // Stable, as the sort of rendered tasks was.
        all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        if order_desc {
            all.reverse();
        }
        let limit = match limit {
            Some(l) if l >= 0 => l as usize,
            _ => usize::MAX,
        };
        let page: Vec<V0Task<'_>> = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, t)| t)
            .collect();
        let base = Map::new();
        to_bytes(
            &Merged {
                base: &base,
                extra: vec![("tasks", Part::Page(page))],
            },
            0,
        )
    }
}

/// The time of a task's first status as its v0 form shows it (0 when none, or not a number).
fn first_time(t: &TaskRec) -> f64 {
    t.status_briefs()
        .next()
        .and_then(|s| s.timestamp)
        .filter(|x| x.is_finite())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use crate::core::harness::*;
    use crate::snapshot::{FrameworkView, Snapshot};
    use crate::tasks::TaskRec;
    use drover_api::agent_protocol::{FromAgent, StatusUpdate};
    use drover_api::operator::Task;
    use drover_api::scheduler::CallType;
    use drover_api::*;
    use serde_json::{json, Map, Value};

    // The v0 task as it was rendered before (through its wire form and a `Value`): the
    // reference the bytes written above must equal.
    fn v0_task(rec: &TaskRec, role: &str) -> Value {
        let t: Task = rec.to_task();
        let statuses: Vec<Value> = t
            .statuses
            .iter()
            .map(|s| {
                let mut v = json!({"state": s.state, "timestamp": s.timestamp.unwrap_or(0.0)});
                if let Some(h) = s.healthy {
                    v["healthy"] = json!(h);
                }
                if let Some(c) = &s.container_status {
                    v["container_status"] = c.clone();
                }
                v
            })
            .collect();
        let mut v = json!({
            "id": t.task_id.value,
            "name": t.name,
            "framework_id": t.framework_id.value,
            "executor_id": t.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
            "slave_id": t.agent_id.value,
            "state": t.state,
            "resources": crate::views::v0_resources(&t.resources),
            "role": role,
            "statuses": statuses,
        });
        if let Some(l) = &t.labels {
            v["labels"] = json!(l.labels);
        }
        if let Some(d) = &t.discovery {
            v["discovery"] = d.clone();
        }
        if let Some(c) = &t.container {
            v["container"] = c.clone();
        }
        if let Some(u) = &t.user {
            v["user"] = json!(u);
        }
        v
    }

    fn framework(f: &FrameworkView) -> Value {
        let role = f.v0_role();
        let mut m = f.v0_base();
        m.insert(
            "tasks".into(),
            f.tasks.iter().map(|t| v0_task(t, &t.role)).collect(),
        );
        m.insert(
            "unreachable_tasks".into(),
            f.unreachable_tasks
                .iter()
                .map(|t| v0_task(t, &t.role))
                .collect(),
        );
        m.insert(
            "completed_tasks".into(),
            f.completed_tasks
                .iter()
                .map(|t| v0_task(t, &role))
                .collect(),
        );
        Value::Object(m)
    }

    fn frameworks(s: &Snapshot, id: Option<&str>) -> (Value, Value) {
        let pick = |l: &[FrameworkView]| -> Value {
            l.iter()
                .filter(|f| id.is_none_or(|id| f.id.value == id))
                .map(framework)
                .collect()
        };
        (pick(&s.frameworks), pick(&s.completed_frameworks))
    }

    fn tasks(
        s: &Snapshot,
        limit: Option<i64>,
        offset: usize,
        desc: bool,
        fw: Option<&str>,
        task: Option<&str>,
    ) -> Value {
        let mut all: Vec<Value> = Vec::new();
        for f in s.frameworks.iter().chain(s.completed_frameworks.iter()) {
            if fw.map(|x| x != f.id.value).unwrap_or(false) {
                continue;
            }
            let role = f.v0_role();
            for t in f.tasks.iter().chain(f.unreachable_tasks.iter()) {
                all.push(v0_task(t, &t.role));
            }
            for t in &f.completed_tasks {
                all.push(v0_task(t, &role));
            }
        }
        if let Some(id) = task {
            all.retain(|t| t["id"] == id);
        }
        let first = |v: &Value| {
            v["statuses"]
                .as_array()
                .and_then(|s| s.first())
                .and_then(|s| s["timestamp"].as_f64())
                .unwrap_or(0.0)
        };
        all.sort_by(|a, b| {
            first(a)
                .partial_cmp(&first(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if desc {
            all.reverse();
        }
        let limit = match limit {
            Some(l) if l >= 0 => l as usize,
            _ => usize::MAX,
        };
        json!({"tasks": all.into_iter().skip(offset).take(limit).collect::<Vec<_>>()})
    }

    fn status(task: &str, state: TaskState, at: f64) -> TaskStatus {
        let mut s = TaskStatus::new(TaskID::new(task), state);
        s.source = Some(StatusSource::SOURCE_EXECUTOR);
        s.uuid = Some(vec![3; 16]);
        s.timestamp = Some(START_UNIX + at);
        s.executor_id = Some(ExecutorID::new(task));
        s.container_status = Some(json!({"container_id": {"value": format!("c-{task}")}}));
        s
    }

    /// Two frameworks (one torn down), tasks of every kind in every list, offers.
    fn busy_cluster() -> Harness {
        let mut h = Harness::new();
        let mut info = mock_framework("web", &["PARTITION_AWARE"]);
        info.role = Some("web".into());
        info.labels = Some(Labels {
            labels: vec![Label {
                key: "team".into(),
                value: Some("a".into()),
            }],
        });
        let mut fw = h.subscribe(info);
        let ag = h.register(mock_agent(8.0, 8192.0, (31000, 31099)));
        let far = h.register(mock_agent(2.0, 1024.0, (32000, 32009)));
        let offers = h.offers(&mut fw);
        let on = |a: &AgentID| offers.iter().find(|o| &o.agent_id == a).expect("offer");
        let mut odd = task("odd", &ag.id, 0.25, 64.0);
        odd.name = "a name of its own".into();
        odd.labels = Some(Labels {
            labels: vec![
                Label {
                    key: "k".into(),
                    value: None,
                },
                Label {
                    key: "a".into(),
                    value: Some("b".into()),
                },
            ],
        });
        odd.discovery = Some(
            json!({"visibility": "FRAMEWORK", "name": "odd", "ports": {"ports": [{"number": 80, "protocol": "tcp"}]}}),
        );
        odd.container = Some(json!({"type": "MESOS", "volumes": []}));
        odd.command.as_mut().expect("cmd").user = Some("nobody".into());
        odd.resources.push(Resource::ranges(
            "ports",
            vec![Range {
                begin: 31005,
                end: 31007,
            }],
        ));
        let mut with_exec = task("with-exec", &ag.id, 0.5, 128.0);
        with_exec.command = None;
        with_exec.executor = Some(executor("exec-1"));
        h.launch(
            &fw,
            on(&ag.id),
            vec![
                task("plain", &ag.id, 0.5, 128.0),
                odd,
                with_exec,
                task("done", &ag.id, 0.1, 32.0),
            ],
        );
        h.launch(&fw, on(&far.id), vec![task("far", &far.id, 0.5, 128.0)]);
        let mut ups = vec![];
        for (i, t) in ["plain", "odd", "with-exec", "done", "far"]
            .iter()
            .enumerate()
        {
            ups.push(status(t, TaskState::TASK_STARTING, 2.0 + i as f64));
            ups.push(status(t, TaskState::TASK_RUNNING, 3.0 + i as f64));
        }
        let mut healthy = status("odd", TaskState::TASK_RUNNING, 9.5);
        healthy.healthy = Some(true);
        healthy.reason = Some(Reason::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
        healthy.container_status = Some(
            json!({"container_id": {"value": "c-odd"}, "network_infos": [{"ip_addresses": [{"ip_address": "10.0.0.9"}]}]}),
        );
        ups.push(healthy);
        ups.push(status("done", TaskState::TASK_FINISHED, 10.0));
        let mut nan = status("plain", TaskState::TASK_RUNNING, 0.0);
        nan.timestamp = None;
        ups.push(nan);
        for (who, is_far) in [(&ag, false), (&far, true)] {
            let updates = ups
                .iter()
                .filter(|s| (s.task_id.value == "far") == is_far)
                .map(|s| StatusUpdate {
                    framework_id: fw.id.clone(),
                    status: s.clone(),
                })
                .collect();
            h.m.agent_calls(&who.id, vec![FromAgent::Updates { updates }], h.now)
                .expect("taken");
        }
        // `far` goes silent: its task is unreachable.
        h.m.agents.get_mut(&ag.id).expect("agent").last_seen = h.now + 1000.0;
        h.now += 100.0;
        h.m.tick(h.now, false);
        // A second framework, torn down with a task: a completed framework.
        let mut other = h.subscribe(mock_framework("batch", &[]));
        let o = h.offer(&mut other);
        h.launch(&other, &o, vec![task("b1", &ag.id, 0.1, 32.0)]);
        h.call(&other, CallType::TEARDOWN, |_| {})
            .expect("teardown");
        h.offers(&mut fw);
        h
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("serializes")
    }

    #[test]
    fn the_state_is_the_json_it_was() {
        let h = busy_cluster();
        let s = h.m.snapshot();
        let flags = json!({"port": "5050"});
        let (active, completed) = frameworks(&s, None);
        let mut want: Map<String, Value> = s.v0_state_base(7.0, &flags);
        want.insert("frameworks".into(), active);
        want.insert("completed_frameworks".into(), completed);
        let want = Value::Object(want);
        let got = s.v0_state_json(7.0, &flags).expect("renders");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&bytes(&want))
        );
        // Every kind of task is in there.
        let f = &want["frameworks"][0];
        assert_eq!(f["tasks"].as_array().map(|t| t.len()), Some(3));
        assert_eq!(f["unreachable_tasks"].as_array().map(|t| t.len()), Some(1));
        assert_eq!(f["completed_tasks"].as_array().map(|t| t.len()), Some(1));
        assert_eq!(
            want["completed_frameworks"][0]["completed_tasks"][0]["state"],
            "TASK_KILLED"
        );
        assert!(!f["offers"].as_array().expect("offers").is_empty());
    }

    #[test]
    fn frameworks_and_tasks_are_the_json_they_were() {
        let h = busy_cluster();
        let s = h.m.snapshot();
        let web = s.frameworks[0].id.value.clone();
        let batch = s.completed_frameworks[0].id.value.clone();
        for id in [None, Some(web.as_str()), Some(batch.as_str()), Some("nope")] {
            let (active, completed) = frameworks(&s, id);
            let want = json!({"frameworks": active, "completed_frameworks": completed, "unregistered_frameworks": []});
            let got = s.v0_frameworks_json(id).expect("renders");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&bytes(&want)),
                "{id:?}"
            );
        }
        // (limit, offset, newest first, framework, task)
        type Page<'a> = (Option<i64>, usize, bool, Option<&'a str>, Option<&'a str>);
        let cases: [Page<'_>; 8] = [
            (Some(100), 0, true, None, None),
            (Some(100), 0, false, None, None),
            (Some(2), 1, true, None, None),
            (Some(-1), 0, true, None, None),
            (None, 3, false, None, None),
            (Some(100), 0, true, Some(web.as_str()), None),
            (Some(100), 0, true, Some(batch.as_str()), None),
            (Some(100), 0, true, None, Some("odd")),
        ];
        for (limit, offset, desc, fw, task) in cases {
            let want = tasks(&s, limit, offset, desc, fw, task);
            let got = s
                .v0_tasks_json(limit, offset, desc, fw, task)
                .expect("renders");
            let case = format!("{limit:?} {offset} {desc} {fw:?} {task:?}");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&bytes(&want)),
                "{case}"
            );
        }
        let all = tasks(&s, Some(-1), 0, true, None, None);
        assert_eq!(all["tasks"].as_array().map(|t| t.len()), Some(6));
    }
}
