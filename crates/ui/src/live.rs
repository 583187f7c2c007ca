//! Keeping the UI's view current, and telling the open tabs: the master's operator stream
//! applied to the cluster model, Marathon's event stream turned into re-reads of what it
//! names (coalesced), and a clock that publishes the dashboard's numbers and samples its
//! history. Every change becomes one small event on the hub; no tab ever polls.

use crate::fmt;
use crate::history::{History, EVERY};
use crate::hub::Hub;
use crate::model::cluster::{Change, Cluster, Task};
use crate::model::marathon::Marathon;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

/// The largest Marathon event read.
const MAX_SSE_EVENT: usize = 16 << 20;

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What the followers keep and the pages read.
pub struct Live {
    pub cluster: RwLock<Cluster>,
    pub marathon: RwLock<Marathon>,
    pub history: Mutex<History>,
    pub hub: Hub,
    /// Every master in the ZooKeeper group (HA), leader included; empty with a fixed master.
    pub masters: Mutex<Vec<String>>,
    stats_dirty: AtomicBool,
    /// Agents and frameworks whose tasks changed: their rows are told at the next tick.
    uses_dirty: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
    marathon_dirty: Mutex<Dirty>,
    marathon_wake: Notify,
}

/// What Marathon's events said changed, to read again.
#[derive(Default)]
struct Dirty {
    apps: BTreeSet<String>,
    all: bool,
    deployments: bool,
    queue: bool,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|p| p.into_inner())
}

/// An agent as the tabs are told of it: what its row shows.
pub fn agent_json(a: &crate::model::cluster::Agent) -> Value {
    json!({
        "id": a.id, "hostname": a.hostname, "active": a.active, "tasks": a.tasks,
        "cpus": format!("{} / {}", fmt::num(&a.used.cpus), fmt::num(&a.total.cpus)),
        "mem": format!("{} / {}", fmt::mib(&a.used.mem), fmt::mib(&a.total.mem)),
        "disk": format!("{} / {}", fmt::mib(&a.used.disk), fmt::mib(&a.total.disk)),
        "cpus_used": a.used.cpus, "cpus_total": a.total.cpus,
        "mem_used": a.used.mem, "mem_total": a.total.mem,
        "disk_used": a.used.disk, "disk_total": a.total.disk,
    })
}

/// A framework as the tabs are told of it: what its row shows.
pub fn framework_json(f: &crate::model::cluster::Framework) -> Value {
    json!({
        "id": f.id, "name": f.name, "tasks": f.tasks,
        "cpus": fmt::num(&f.used.cpus), "mem": fmt::mib(&f.used.mem), "disk": fmt::mib(&f.used.disk),
    })
}

/// A task as the tabs are told of it. `ended` (terminal) and `added` (new to the master) let a
/// page whose rows this task is not among tell whether it changes which rows it has.
pub fn task_json(c: &Cluster, t: &Task, added: bool) -> Value {
    let host = c
        .agents
        .get(&t.agent_id)
        .map(|a| a.hostname.as_str())
        .unwrap_or("");
    json!({
        "id": t.id, "name": t.name, "state": t.state.as_str(), "framework_id": t.framework_id,
        "agent_id": t.agent_id, "host": host,
        "health": match t.healthy { Some(true) => "healthy", Some(false) => "unhealthy", None => "—" },
        "cpus": t.res.cpus, "mem": t.res.mem,
        "ended": t.state.is_terminal(), "added": added,
    })
}

impl Live {
    pub fn new(epoch: String) -> Live {
        Live {
            cluster: RwLock::default(),
            marathon: RwLock::default(),
            history: Mutex::default(),
            masters: Mutex::default(),
            hub: Hub::new(epoch),
            stats_dirty: AtomicBool::new(true),
            uses_dirty: Mutex::default(),
            marathon_dirty: Mutex::default(),
            marathon_wake: Notify::new(),
        }
    }

    pub fn cluster(&self) -> std::sync::RwLockReadGuard<'_, Cluster> {
        read(&self.cluster)
    }

    pub fn marathon(&self) -> std::sync::RwLockReadGuard<'_, Marathon> {
        read(&self.marathon)
    }

    pub fn history(&self) -> History {
        lock(&self.history).clone()
    }

    /// One event from the master's stream.
    pub fn master_event(&self, from: &str, ev: Value) -> bool {
        let added = ev["type"] == "TASK_ADDED";
        // A whole state (thousands of tasks) is parsed before the lock is taken: the pages
        // keep reading the old one meanwhile.
        let state = (ev["type"] == "SUBSCRIBED").then(|| {
            <drover_api::operator::GetState as serde::Deserialize>::deserialize(
                &ev["subscribed"]["get_state"],
            )
        });
        let (changes, events) = {
            let mut c = write(&self.cluster);

            let changes = match state {
                Some(Ok(st)) => {
                    c.load(st, from);
                    vec![Change::Reset]
                }
                Some(Err(e)) => {
                    tracing::warn!("ui: a SUBSCRIBED whose state does not parse ({e}); ignored");
                    Vec::new()
                }
                None => c.apply(&ev, from),
            };
            let events: Vec<(&'static str, String)> = changes
                .iter()
                .filter_map(|ch| match ch {
                    Change::Reset => Some(("reset", "{}".to_string())),
                    Change::Task(id) => c
                        .task(id)
                        .map(|t| ("task", task_json(&c, t, added).to_string())),
                    Change::Agent(id) => c
                        .agents
                        .get(id)
                        .map(|a| ("agent", agent_json(a).to_string())),
                    Change::AgentGone(id) => Some(("agent_gone", json!({"id": id}).to_string())),
                    Change::Framework(id) => c
                        .frameworks
                        .get(id)
                        .map(|f| ("framework", framework_json(f).to_string())),
                    Change::FrameworkGone(id) => {
                        Some(("framework_gone", json!({"id": id}).to_string()))
                    }
                })
                .collect();
            // The agents and frameworks those tasks ran on and for (finished ones are still
            // found among the kept ones): their use changed.
            let mut uses = lock(&self.uses_dirty);
            for ch in &changes {
                if let Some(t) = match ch {
                    Change::Task(id) => c.task(id),
                    _ => None,
                } {
                    uses.0.insert(t.agent_id.clone());
                    uses.1.insert(t.framework_id.clone());
                }
            }
            drop(uses);
            (changes, events)
        };
        for (topic, data) in events {
            self.hub.publish(topic, data);
        }
        if !changes.is_empty() {
            self.stats_dirty.store(true, Ordering::Release);
        }
        changes.contains(&Change::Reset)
    }

    /// The dashboard's numbers now.
    pub fn stats(&self) -> Value {
        let c = self.cluster();
        let (used, total) = c.totals();
        let m = self.marathon();
        let (mut healthy, mut unhealthy, mut idle, mut na) = (0, 0, 0, 0);
        for a in m.apps.values() {
            if a.instances == 0 && a.running == 0 {
                idle += 1;
            } else if !a.health_checked {
                na += 1;
            } else if a.unhealthy > 0 {
                unhealthy += 1;
            } else {
                healthy += 1;
            }
        }
        let standbys = {
            let all = lock(&self.masters).clone();
            let others: Vec<String> = all
                .into_iter()
                .filter(|m| Some(m) != c.leader.as_ref())
                .collect();
            if others.is_empty() {
                "none".to_string()
            } else {
                others.join(", ")
            }
        };
        let mut out = json!({
            "agents-active": c.agents.values().filter(|a| a.active).count(),
            "agents-total": c.agents.len(),
            "frameworks": c.frameworks.len(),
            "tasks-running": c.running(),
            "tasks-active": c.tasks.len(),
            "services-healthy": healthy, "services-unhealthy": unhealthy,
            "services-idle": idle, "services-na": na,
            "apps": m.apps.len(),
            "deployments": m.deployments.len(),
            "leader": c.leader.clone().unwrap_or_else(|| "—".into()),
            "standbys": standbys,
            "cpus-used": fmt::num(&used.cpus), "cpus-total": fmt::num(&total.cpus),
            "cpus-pct": fmt::pct(&used.cpus, &total.cpus),
            "mem-used": fmt::mib(&used.mem), "mem-total": fmt::mib(&total.mem),
            "mem-pct": fmt::pct(&used.mem, &total.mem),
            "disk-used": fmt::mib(&used.disk), "disk-total": fmt::mib(&total.disk),
            "disk-pct": fmt::pct(&used.disk, &total.disk),
        });
        for (state, n) in c.states() {
            out[format!("state-{state}")] = json!(n);
        }
        out
    }

    /// Keep the list of masters from ZooKeeper's group (`zk://` only), every 10 s and when
    /// the leader changes.
    pub async fn masters_loop(
        self: Arc<Self>,
        sessions: drover_zk::Sessions,
        mut leader: drover_zk::Leader,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            match drover_zk::members(&sessions, drover_zk::Layout::Mesos).await {
                Ok(m) => {
                    let list: Vec<String> = m
                        .iter()
                        .filter_map(|(_, d)| drover_zk::master_address(d))
                        .collect();
                    let mut cur = lock(&self.masters);
                    if *cur != list {
                        *cur = list;
                        self.stats_dirty.store(true, Ordering::Release);
                    }
                }
                Err(e) => tracing::debug!("ui: listing the masters in ZooKeeper: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = leader.changed() => {}
                _ = stop.changed() => return,
            }
        }
    }

    fn sample(&self) {
        let (used, total, ended) = {
            let c = self.cluster();
            let (u, t) = c.totals();
            (u, t, c.ended)
        };
        let s = lock(&self.history).record(now(), used, total, ended);
        self.hub.publish("sample", json!(s).to_string());
    }

    /// Publish the dashboard's numbers when they changed (at most every 250 ms), and a history
    /// sample every 2 s.
    pub async fn clock(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_sample = (EVERY / 0.25) as u32;
        let mut n = 0u32;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if n == 0 {
                self.sample();
            }
            n = (n + 1) % per_sample;
            if self.stats_dirty.swap(false, Ordering::AcqRel) {
                self.hub.publish("stats", self.stats().to_string());
            }
            self.publish_uses();
        }
    }

    /// Tell the tabs what the agents and frameworks whose tasks changed now use: one event
    /// each per tick, however many of their tasks changed.
    fn publish_uses(&self) {
        let (agents, frameworks) = std::mem::take(&mut *lock(&self.uses_dirty));
        if agents.is_empty() && frameworks.is_empty() {
            return;
        }
        let events: Vec<(&'static str, String)> = {
            let c = self.cluster();
            let a = agents
                .iter()
                .filter_map(|id| c.agents.get(id))
                .map(|a| ("agent", agent_json(a).to_string()));
            let f = frameworks
                .iter()
                .filter_map(|id| c.frameworks.get(id))
                .map(|f| ("framework", framework_json(f).to_string()));
            a.chain(f).collect()
        };
        for (topic, data) in events {
            self.hub.publish(topic, data);
        }
    }

    /// Mark what a Marathon event names as to be read again.
    fn marathon_event(&self, kind: &str, data: &Value) {
        let mut d = lock(&self.marathon_dirty);
        let mut app = |v: &Value| {
            if let Some(id) = v.as_str().filter(|s| s.starts_with('/')) {
                d.apps.insert(id.to_string());
            }
        };
        app(&data["appId"]);
        app(&data["appDefinition"]["id"]);
        if let Some(steps) = data["plan"]["steps"].as_array() {
            for s in steps {
                for a in s["actions"].as_array().into_iter().flatten() {
                    app(&a["app"]);
                }
            }
        }
        for a in data["currentStep"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            app(&a["app"]);
        }
        match kind {
            k if k.starts_with("deployment") => {
                d.deployments = true;
                d.queue = true;
            }
            "group_change_success" | "api_post_event" | "app_terminated_event" => {
                d.queue = true;
                if data["appDefinition"].is_null() && data["appId"].is_null() {
                    d.all = true;
                }
            }
            "status_update_event"
            | "instance_changed_event"
            | "health_status_changed_event"
            | "failed_health_check_event"
            | "unhealthy_instance_kill_event"
            | "instance_health_changed_event" => {
                d.queue = true;
            }
            _ => {}
        }
        drop(d);
        self.marathon_wake.notify_one();
    }
}

/// Parse the complete events (`event:` and `data:` lines, blank-line separated) in `buf`,
/// leaving a partial one.
fn sse_events(buf: &mut String) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n").or_else(|| buf.find("\r\n\r\n")) {
        let block: String = buf.drain(..end).collect();
        let sep = if buf.starts_with("\r\n\r\n") { 4 } else { 2 };
        buf.drain(..sep);
        let (mut kind, mut data) = (String::from("message"), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            out.push((kind, data));
        }
    }
    out
}

/// What the UI reads Marathon with.
#[derive(Clone)]
pub struct MarathonClient {
    pub urls: Vec<String>,
    pub http: reqwest::Client,
}

impl MarathonClient {
    /// GET a path from the first Marathon that answers; `Ok(None)` for 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let mut last = String::from("no Marathon configured");
        for u in &self.urls {
            match self.http.get(format!("{u}{path}")).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
                Ok(r) if r.status().is_success() => {
                    return r.json().await.map(Some).map_err(|e| e.to_string())
                }
                Ok(r) => last = format!("{u}: HTTP {}", r.status()),
                Err(e) => last = format!("{u}: {e}"),
            }
        }
        Err(last)
    }

    /// Send a request (`body` as JSON) to the first Marathon that can be reached, and give its
    /// status and JSON body (`Null` when it had none).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(reqwest::StatusCode, Value), String> {
        let mut last = String::from("no Marathon configured");
        for u in &self.urls {
            let mut rq = self.http.request(method.clone(), format!("{u}{path}"));
            if let Some(b) = body {
                rq = rq.json(b);
            }
            match rq.send().await {
                Ok(r) => {
                    let status = r.status();
                    let bytes = r.bytes().await.map_err(|e| e.to_string())?;
                    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    return Ok((status, v));
                }
                Err(e) => last = format!("{u}: {e}"),
            }
        }
        Err(last)
    }
}

const APPS: &str = "/v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure";

/// An app with what its pages show: counts, deployments, the last task failure (and, as
/// Marathon always gives with one app, its tasks).
pub fn app_path(id: &str) -> String {
    format!("/v2/apps{id}?embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure")
}

impl Live {
    /// An app as the tabs are told of it (`gone` when Marathon no longer has it).
    fn app_event(&self, id: &str) -> Value {
        let m = self.marathon();
        match m.apps.get(id) {
            Some(a) => {
                let status = a.status(m.queue.get(id));
                json!({"id": a.id, "running": a.running, "instances": a.instances,
                    "staged": a.staged, "healthy": a.healthy, "unhealthy": a.unhealthy,
                    "status": status.as_str(), "cpus": a.cpus, "mem": a.mem,
                    "deployments": a.deployments.len(),
                    // The apps pages' health bar: its third segment and what it is a share of.
                    "unknown": a.unknown(), "of": a.bar_of()})
            }
            None => json!({"id": id, "gone": true}),
        }
    }

    fn publish_app(&self, id: &str) {
        self.hub.publish("app", self.app_event(id).to_string());
    }

    /// Tell the tabs of the apps in `ids` whose event differs from what it was (`before`; an
    /// app not in it is new). Marathon says `status_update_event` for every task's change, and
    /// the UI reads the app it names again; most leave its counts and status as they were, and
    /// an app event makes an app's page fetch itself again.
    fn publish_changed_apps<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String>,
        before: &HashMap<String, Value>,
    ) {
        for id in ids {
            let now = self.app_event(id);
            if before.get(id) != Some(&now) {
                self.hub.publish("app", now.to_string());
            }
        }
    }

    /// Read an app (when given), the deployments and the queue again now, and tell the tabs:
    /// after an action the UI sent, so the page it redirects to shows the change even when
    /// Marathon's event has not arrived yet (and without JavaScript).
    pub async fn reread(&self, c: &MarathonClient, app: Option<&str>) {
        if let Some(id) = app {
            match c.get(&app_path(id)).await {
                Ok(v) => write(&self.marathon).set_app(id, v.as_ref()),
                Err(e) => tracing::debug!("ui: reading app {id}: {e}"),
            }
        }
        if let Ok(Some(q)) = c.get("/v2/queue").await {
            write(&self.marathon).load_queue(&q);
        }
        if let Ok(Some(v)) = c.get("/v2/deployments").await {
            write(&self.marathon).load_deployments(&v);
            self.hub.publish("deployments", "{}".into());
        }
        if let Some(id) = app {
            self.publish_app(id);
        }
        self.stats_dirty.store(true, Ordering::Release);
    }

    /// Read everything Marathon has (at the start, and after its stream broke).
    async fn marathon_reload(&self, c: &MarathonClient) -> Result<(), String> {
        let apps = c.get(APPS).await?.unwrap_or(Value::Null);
        let deps = c.get("/v2/deployments").await?.unwrap_or(Value::Null);
        let queue = c.get("/v2/queue").await?.unwrap_or(Value::Null);
        let known: Vec<String> = self.marathon().apps.keys().cloned().collect();
        let before: HashMap<String, Value> = known
            .into_iter()
            .map(|id| {
                let e = self.app_event(&id);
                (id, e)
            })
            .collect();
        let ids = {
            let mut m = write(&self.marathon);
            m.load_deployments(&deps);
            m.load_queue(&queue);
            m.load_apps(&apps)
        };
        self.publish_changed_apps(&ids, &before);
        self.hub.publish("deployments", "{}".into());
        self.stats_dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Read again what the events named, coalesced: at most every 100 ms.
    pub async fn marathon_refresh(
        self: Arc<Self>,
        c: MarathonClient,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = self.marathon_wake.notified() => {}
                _ = stop.changed() => return,
            }
            let d = std::mem::take(&mut *lock(&self.marathon_dirty));
            let mut failed = false;
            if d.all || d.apps.len() > 32 {
                if let Err(e) = self.marathon_reload(&c).await {
                    tracing::debug!("ui: reading Marathon: {e}");
                    failed = true;
                }
            } else {
                // What the tabs were last told, taken before anything is read: an app whose
                // status only the queue changed is told too.
                let mut touched: BTreeSet<String> = d.apps.clone();
                if d.queue {
                    let m = self.marathon();
                    touched.extend(m.queue.keys().filter(|k| m.apps.contains_key(*k)).cloned());
                }
                let before: HashMap<String, Value> = touched
                    .iter()
                    .filter(|id| self.marathon().apps.contains_key(*id))
                    .map(|id| (id.clone(), self.app_event(id)))
                    .collect();
                if d.queue {
                    match c.get("/v2/queue").await {
                        Ok(Some(q)) => {
                            let mut m = write(&self.marathon);
                            m.load_queue(&q);
                            let queued: Vec<String> = m
                                .queue
                                .keys()
                                .filter(|k| m.apps.contains_key(*k))
                                .cloned()
                                .collect();
                            touched.extend(queued);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!("ui: reading the queue: {e}");
                            lock(&self.marathon_dirty).queue = true;
                            failed = true;
                        }
                    }
                }
                if d.deployments {
                    match c.get("/v2/deployments").await {
                        Ok(Some(v)) => {
                            write(&self.marathon).load_deployments(&v);
                            self.hub.publish("deployments", "{}".into());
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!("ui: reading the deployments: {e}");
                            lock(&self.marathon_dirty).deployments = true;
                            failed = true;
                        }
                    }
                }
                let client = &c;
                let reads = futures_util::future::join_all(
                    d.apps
                        .iter()
                        .map(|id| async move { (id, client.get(&app_path(id)).await) }),
                )
                .await;
                for (id, r) in reads {
                    match r {
                        Ok(v) => write(&self.marathon).set_app(id, v.as_ref()),
                        Err(e) => {
                            // Read again on the next round, not forgotten.
                            tracing::debug!("ui: reading app {id}: {e}");
                            lock(&self.marathon_dirty).apps.insert(id.clone());
                            failed = true;
                        }
                    }
                }
                self.publish_changed_apps(touched.iter(), &before);
                self.stats_dirty.store(true, Ordering::Release);
            }
            if failed {
                // Marathon did not answer: try again after a pause (the stream's reconnection
                // reloads everything if it is gone for good).
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                self.marathon_wake.notify_one();
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Follow Marathon's event stream: read everything, then what each event names.
    pub async fn follow_marathon(
        self: Arc<Self>,
        c: MarathonClient,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(200);
        loop {
            if let Err(e) = self.stream_marathon(&c).await {
                tracing::debug!("ui: Marathon's event stream: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn stream_marathon(&self, c: &MarathonClient) -> Result<(), String> {
        let mut resp = None;
        for u in &c.urls {
            match c
                .http
                .get(format!("{u}/v2/events"))
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    resp = Some(r);
                    break;
                }
                Ok(r) => tracing::debug!("ui: {u}/v2/events: HTTP {}", r.status()),
                Err(e) => tracing::debug!("ui: {u}/v2/events: {e}"),
            }
        }
        let resp = resp.ok_or("no Marathon answered /v2/events")?;
        // Subscribed first, then read: nothing between the read and the stream is missed.
        self.marathon_reload(c).await?;
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if buf.len() > MAX_SSE_EVENT {
                return Err("an event larger than the limit".into());
            }
            for (kind, data) in sse_events(&mut buf) {
                let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                let kind = v["eventType"].as_str().unwrap_or(&kind).to_string();
                self.marathon_event(&kind, &v);
            }
        }
        Err("the stream ended".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_parse_and_a_partial_one_waits() {
        let mut b = String::from("event: status_update_event\ndata: {\"a\":1}\n\nevent: x\ndata: 1\ndata: 2\n\nevent: part");
        let ev = sse_events(&mut b);
        assert_eq!(
            ev,
            vec![
                ("status_update_event".into(), "{\"a\":1}".into()),
                ("x".into(), "1\n2".into())
            ]
        );
        assert_eq!(b, "event: part");
    }

    #[test]
    fn task_events_say_whether_they_add_or_end_a_task() {
        use crate::testing::*;
        let live = Live::new("e".into());
        live.master_event(
            "m",
            subscribed(
                vec![agent("S0", "a", 4.0, 1024.0)],
                vec![framework("F1", "marathon")],
                vec![],
            ),
        );
        let (_, mut rx) = live.hub.subscribe(None);
        let t = task("t1", "web", "F1", "S0", "TASK_STAGING");
        live.master_event(
            "m",
            json!({"type": "TASK_ADDED", "task_added": {"task": t}}),
        );
        live.master_event("m", task_updated("t1", "F1", "TASK_RUNNING"));
        live.master_event("m", task_updated("t1", "F1", "TASK_FINISHED"));
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            let v: Value = serde_json::from_str(&e.data).expect("JSON");
            seen.push((v["state"].clone(), v["added"].clone(), v["ended"].clone()));
        }
        assert_eq!(
            seen,
            [
                (json!("TASK_STAGING"), json!(true), json!(false)),
                (json!("TASK_RUNNING"), json!(false), json!(false)),
                (json!("TASK_FINISHED"), json!(false), json!(true)),
            ]
        );
    }

    #[test]
    fn only_apps_that_changed_are_told_to_the_tabs() {
        let live = Live::new("e".into());
        let app = |running: u64| json!({"id": "/web", "instances": 2, "tasksRunning": running});
        write(&live.marathon).load_apps(&json!({"apps": [app(2), {"id": "/db", "instances": 1}]}));
        let ids: Vec<String> = vec!["/web".into(), "/db".into(), "/new".into()];
        let before: HashMap<String, Value> = ["/web", "/db"]
            .iter()
            .map(|id| (id.to_string(), live.app_event(id)))
            .collect();
        let (_, mut rx) = live.hub.subscribe(None);
        // Read again: /web the same, /db now gone, /new new.
        write(&live.marathon).set_app("/web", Some(&json!({"app": app(2)})));
        write(&live.marathon).set_app("/db", None);
        write(&live.marathon).set_app("/new", Some(&json!({"app": {"id": "/new"}})));
        live.publish_changed_apps(&ids, &before);
        let told: Vec<Value> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| serde_json::from_str(&e.data).expect("JSON"))
            .collect();
        assert_eq!(told.len(), 2, "{told:?}");
        assert_eq!(told[0]["gone"], true);
        assert_eq!(told[1]["id"], "/new");
        // /web's count changes: told.
        let before = HashMap::from([("/web".to_string(), live.app_event("/web"))]);
        write(&live.marathon).set_app("/web", Some(&json!({"app": app(1)})));
        live.publish_changed_apps(&ids[..1], &before);
        let e = rx.try_recv().expect("an app event");
        assert!(e.data.contains(r#""running":1"#), "{}", e.data);
    }

    #[test]
    fn marathon_events_name_the_apps_to_read_again() {
        let live = Live::new("e".into());
        live.marathon_event(
            "status_update_event",
            &json!({"appId": "/web", "taskStatus": "TASK_RUNNING"}),
        );
        live.marathon_event("deployment_info", &json!({"plan": {"steps": [{"actions": [{"action": "ScaleApplication", "app": "/db"}]}]}}));
        let d = lock(&live.marathon_dirty);
        assert_eq!(
            d.apps.iter().map(String::as_str).collect::<Vec<_>>(),
            ["/db", "/web"]
        );
        assert!(d.deployments && d.queue && !d.all);
    }

    #[test]
    fn a_task_that_ends_tells_its_agent_and_framework_rows_once_per_tick() {
        use crate::testing::*;
        let live = Live::new("e".into());
        live.master_event(
            "m",
            subscribed(
                vec![agent("S0", "node-a", 4.0, 1024.0)],
                vec![framework("F1", "marathon")],
                vec![
                    task("t1", "web", "F1", "S0", "TASK_RUNNING"),
                    task("t2", "web", "F1", "S0", "TASK_RUNNING"),
                ],
            ),
        );
        let (_, mut rx) = live.hub.subscribe(None);
        live.master_event("m", task_updated("t1", "F1", "TASK_FINISHED"));
        live.master_event("m", task_updated("t2", "F1", "TASK_KILLED"));
        live.publish_uses();
        let mut seen = Vec::new();
        while let Ok(e) = rx.try_recv() {
            seen.push((e.topic, e.data.clone()));
        }
        let agents: Vec<&String> = seen
            .iter()
            .filter(|(t, _)| *t == "agent")
            .map(|(_, d)| d)
            .collect();
        assert_eq!(agents.len(), 1, "{seen:?}");
        let a: Value = serde_json::from_str(agents[0]).unwrap();
        assert_eq!(a["tasks"], 0);
        assert_eq!(a["cpus"], "0 / 4");
        assert_eq!(seen.iter().filter(|(t, _)| *t == "framework").count(), 1);
        live.publish_uses();
        assert!(rx.try_recv().is_err(), "nothing changed since");
    }
}
