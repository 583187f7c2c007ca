//! Where the parts are: the leading master (fixed or followed through ZooKeeper), Marathon, the
//! DNS' HTTP API, and the agents and frameworks the master knows (read from its
//! `/master/state-summary` when a route names one the gateway has not seen, or saw too long ago).

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A directory entry is trusted this long; after that a request re-reads the master's summary
/// (an agent that re-registered may listen elsewhere now).
const FRESH: Duration = Duration::from_secs(10);
/// Never re-read the summary more often than this, however many unknown ids are asked for.
const MIN_REFRESH: Duration = Duration::from_secs(1);

/// Agents by id and frameworks by name, as the master's state summary lists them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Directory {
    /// Agent id → `http://ip:port`.
    pub agents: HashMap<String, String>,
    /// Framework name → its `webui_url` (only frameworks that have one, and are active).
    pub frameworks: HashMap<String, String>,
    /// Service name → `http://host:port` of a running task of the Marathon app labelled
    /// `DCOS_SERVICE_NAME` (the port at `DCOS_SERVICE_PORT_INDEX`, default 0), as Admin Router
    /// routes `/service/<name>/` to apps that are not frameworks.
    pub services: HashMap<String, String>,
}

/// `slave(1)@10.0.0.1:5051` → `http://10.0.0.1:5051`.
pub fn pid_url(pid: &str) -> Option<String> {
    let (_, addr) = pid.rsplit_once('@')?;
    let (host, port) = addr.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    Some(format!("http://{host}:{port}"))
}

impl Directory {
    /// Read a `/master/state-summary` (or `/master/state`) body.
    pub fn from_summary(v: &Value) -> Directory {
        let mut d = Directory::default();
        for a in v["slaves"].as_array().into_iter().flatten() {
            if let (Some(id), Some(url)) = (a["id"].as_str(), a["pid"].as_str().and_then(pid_url)) {
                d.agents.insert(id.to_string(), url);
            }
        }
        for f in v["frameworks"].as_array().into_iter().flatten() {
            let active = f["active"].as_bool().unwrap_or(true);
            if let (true, Some(name), Some(url)) =
                (active, f["name"].as_str(), f["webui_url"].as_str())
            {
                if !url.is_empty() {
                    d.frameworks.insert(name.to_string(), url.to_string());
                }
            }
        }
        d
    }
}

/// Marathon's `GET /v2/apps?embed=apps.tasks` → service name → `http://host:port`.
pub fn services_from_apps(v: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for app in v["apps"].as_array().into_iter().flatten() {
        let labels = &app["labels"];
        let Some(name) = labels["DCOS_SERVICE_NAME"]
            .as_str()
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        // Only plain http can be proxied here.
        if labels["DCOS_SERVICE_SCHEME"]
            .as_str()
            .is_some_and(|s| s != "http")
        {
            continue;
        }
        let index: usize = labels["DCOS_SERVICE_PORT_INDEX"]
            .as_str()
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        let task = app["tasks"].as_array().into_iter().flatten().find(|t| {
            t["state"] == "TASK_RUNNING" && t["ports"].get(index).is_some_and(Value::is_u64)
        });
        if let Some(t) = task {
            if let (Some(host), Some(port)) = (t["host"].as_str(), t["ports"][index].as_u64()) {
                out.entry(name.to_string())
                    .or_insert_with(|| format!("http://{host}:{port}"));
            }
        }
    }
    out
}

/// The directory and when it was read.
pub struct Cache {
    inner: Mutex<(Directory, Option<Instant>)>,
    /// One refresh at a time; others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            inner: Mutex::new((Directory::default(), None)),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Directory, Option<Instant>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Look something up; when it is missing or the directory is stale, `fetch` a new one first
    /// (at most once per MIN_REFRESH, one fetch at a time).
    pub async fn find<F, Fut>(
        &self,
        pick: impl Fn(&Directory) -> Option<String>,
        fetch: F,
    ) -> Option<String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<Directory>>,
    {
        let now = Instant::now();
        {
            let g = self.lock();
            let fresh = g.1.is_some_and(|t| now.duration_since(t) < FRESH);
            if let (true, Some(hit)) = (fresh, pick(&g.0)) {
                return Some(hit);
            }
        }
        let _one = self.refreshing.lock().await;
        {
            // Another request may have refreshed while this one waited.
            let g = self.lock();
            if g.1
                .is_some_and(|t| t >= now || Instant::now().duration_since(t) < MIN_REFRESH)
            {
                return pick(&g.0);
            }
        }
        if let Some(d) = fetch().await {
            *self.lock() = (d, Some(Instant::now()));
        }
        pick(&self.lock().0)
    }

    /// Forget what was read (an agent did not answer where it was said to be).
    pub fn invalidate(&self) {
        self.lock().1 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_agents_and_frameworks_from_a_summary() {
        let v = json!({
            "slaves": [
                {"id": "a-S0", "pid": "slave(1)@10.0.0.5:5051"},
                {"id": "a-S1", "pid": "garbage"},
            ],
            "frameworks": [
                {"name": "marathon", "webui_url": "http://10.0.0.1:8080", "active": true},
                {"name": "jobs", "webui_url": "http://10.0.0.2:9000/ui"},
                {"name": "nowebui", "webui_url": ""},
                {"name": "gone", "webui_url": "http://x:1", "active": false},
            ]
        });
        let d = Directory::from_summary(&v);
        assert_eq!(d.agents.len(), 1);
        assert_eq!(d.agents["a-S0"], "http://10.0.0.5:5051");
        assert_eq!(d.frameworks.len(), 2);
        assert_eq!(d.frameworks["jobs"], "http://10.0.0.2:9000/ui");
    }

    #[test]
    fn apps_labelled_as_services_route_to_a_running_task() {
        let v = json!({"apps": [
            {"id": "/site", "labels": {"DCOS_SERVICE_NAME": "site"},
             "tasks": [{"state": "TASK_STAGING", "host": "h0", "ports": [1]},
                       {"state": "TASK_RUNNING", "host": "h1", "ports": [31001, 31002]}]},
            {"id": "/two", "labels": {"DCOS_SERVICE_NAME": "two", "DCOS_SERVICE_PORT_INDEX": "1"},
             "tasks": [{"state": "TASK_RUNNING", "host": "h2", "ports": [1, 31005]}]},
            {"id": "/tls", "labels": {"DCOS_SERVICE_NAME": "tls", "DCOS_SERVICE_SCHEME": "https"},
             "tasks": [{"state": "TASK_RUNNING", "host": "h3", "ports": [443]}]},
            {"id": "/none", "labels": {"DCOS_SERVICE_NAME": "none"}, "tasks": []},
            {"id": "/plain", "labels": {}, "tasks": [{"state": "TASK_RUNNING", "host": "h", "ports": [1]}]},
        ]});
        let s = services_from_apps(&v);
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s["site"], "http://h1:31001");
        assert_eq!(s["two"], "http://h2:31005");
    }

    #[test]
    fn pids_become_urls() {
        assert_eq!(
            pid_url("slave(1)@127.0.0.1:5051").as_deref(),
            Some("http://127.0.0.1:5051")
        );
        assert_eq!(pid_url("slave(1)@127.0.0.1"), None);
        assert_eq!(pid_url("127.0.0.1:5051"), None);
        assert_eq!(pid_url("x@:1"), None);
    }

    #[tokio::test]
    async fn an_unknown_id_refreshes_once_then_is_answered_from_the_cache() {
        let c = Cache::default();
        let fetches = std::sync::atomic::AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut d = Directory::default();
            d.agents.insert("a".into(), "http://h:1".into());
            Some(d)
        };
        let pick = |d: &Directory| d.agents.get("a").cloned();
        assert_eq!(c.find(pick, fetch).await.as_deref(), Some("http://h:1"));
        assert_eq!(c.find(pick, fetch).await.as_deref(), Some("http://h:1"));
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        // An id nobody has: one more read at most per MIN_REFRESH.
        let none = |d: &Directory| d.agents.get("zzz").cloned();
        assert_eq!(c.find(none, fetch).await, None);
        assert_eq!(c.find(none, fetch).await, None);
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        c.invalidate();
        assert_eq!(c.find(pick, fetch).await.as_deref(), Some("http://h:1"));
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
