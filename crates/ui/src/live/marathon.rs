//! Marathon's side of the live view: its event stream (`/v2/events`) turned into what to read
//! again (coalesced every 250 ms, failures retried), the reads, and the `app` and `deployments`
//! events the tabs are told when what they show changed.

use super::{lock, write, Live};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The largest Marathon event read.
const MAX_SSE_EVENT: usize = 16 << 20;

impl Live {
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

    /// Read again what the events named, coalesced: at most every 250 ms (Marathon sends an
    /// event per task update; a round reads each app named once, however many events named it).
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
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
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
}
