//! Marathon's side as the UI shows it: apps with their counts and status, deployments, and
//! the launch queue (delays, and why offers were refused). Read from Marathon's REST JSON; the
//! app's own JSON is kept as Marathon gave it, so an editor can send back exactly that.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// An app's status, as Marathon's UI names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Running,
    Deploying,
    Suspended,
    Waiting,
    Delayed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "Running",
            Status::Deploying => "Deploying",
            Status::Suspended => "Suspended",
            Status::Waiting => "Waiting",
            Status::Delayed => "Delayed",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct App {
    pub id: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub instances: u64,
    pub running: u64,
    pub staged: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    pub deployments: Vec<String>,
    pub version: String,
    /// Whether the app declares health checks (a health bar without them says so).
    pub health_checked: bool,
    /// The app as Marathon returned it.
    #[serde(skip)]
    pub raw: Value,
}

/// What the launch queue says of an app.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Queued {
    pub count: u64,
    pub delayed: bool,
    pub delay_left: i64,
    /// (reason, offers declined for it)
    pub reasons: Vec<(String, u64)>,
    pub processed: u64,
    pub raw: Value,
}

#[derive(Clone, Debug, Default)]
pub struct Marathon {
    pub apps: BTreeMap<String, App>,
    pub deployments: BTreeMap<String, Value>,
    pub queue: BTreeMap<String, Queued>,
    /// Whether Marathon has been read at least once.
    pub loaded: bool,
}

fn n(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

impl App {
    /// An app from Marathon's JSON (with `embed=apps.counts`/`app.counts`).
    pub fn from_json(v: &Value) -> Option<App> {
        Some(App {
            id: v["id"].as_str()?.to_string(),
            cpus: v["cpus"].as_f64().unwrap_or(0.0),
            mem: v["mem"].as_f64().unwrap_or(0.0),
            disk: v["disk"].as_f64().unwrap_or(0.0),
            instances: n(&v["instances"]),
            running: n(&v["tasksRunning"]),
            staged: n(&v["tasksStaged"]),
            healthy: n(&v["tasksHealthy"]),
            unhealthy: n(&v["tasksUnhealthy"]),
            deployments: v["deployments"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|x| x["id"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            version: v["version"].as_str().unwrap_or("").to_string(),
            health_checked: v["healthChecks"].as_array().is_some_and(|h| !h.is_empty()),
            raw: v.clone(),
        })
    }

    /// Marathon UI's status: the launch queue's word first (an app that cannot be placed is
    /// Waiting, or Delayed after failures, even while its deployment runs), then a deployment,
    /// then suspended.
    pub fn status(&self, queued: Option<&Queued>) -> Status {
        if let Some(q) = queued.filter(|q| q.count > 0) {
            return if q.delayed {
                Status::Delayed
            } else {
                Status::Waiting
            };
        }
        if !self.deployments.is_empty() {
            return Status::Deploying;
        }
        if self.instances == 0 && self.running == 0 {
            return Status::Suspended;
        }
        Status::Running
    }

    /// Running instances without a health result to show: all of them when the app has no
    /// health checks, else those neither healthy nor unhealthy yet.
    pub fn unknown(&self) -> u64 {
        if self.health_checked {
            self.running.saturating_sub(self.healthy + self.unhealthy)
        } else {
            self.running
        }
    }

    /// What the health bar is a share of: the instances wanted, or more while a deployment
    /// runs old and new side by side.
    pub fn bar_of(&self) -> u64 {
        self.instances.max(self.running)
    }

    /// The folder an app is in: `/a/b/c` → `/a/b`.
    pub fn folder(&self) -> &str {
        match self.id.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &self.id[..i],
        }
    }
}

impl Queued {
    pub fn from_json(v: &Value) -> Queued {
        let s = &v["processedOffersSummary"];
        Queued {
            count: n(&v["count"]),
            delayed: !v["delay"]["overdue"].as_bool().unwrap_or(true),
            delay_left: v["delay"]["timeLeftSeconds"].as_i64().unwrap_or(0),
            reasons: s["rejectSummaryLastOffers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|r| n(&r["declined"]) > 0)
                        .map(|r| {
                            (
                                r["reason"].as_str().unwrap_or("").to_string(),
                                n(&r["declined"]),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            processed: n(&s["processedOffersCount"]),
            raw: v.clone(),
        }
    }
}

impl Marathon {
    /// Replace the apps with `GET /v2/apps` (`{"apps": [...]}`).
    pub fn load_apps(&mut self, v: &Value) -> Vec<String> {
        self.loaded = true;
        let list = v["apps"].as_array().cloned().unwrap_or_default();
        let apps: BTreeMap<String, App> = list
            .iter()
            .filter_map(App::from_json)
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut changed: Vec<String> = self
            .apps
            .keys()
            .filter(|k| !apps.contains_key(*k))
            .cloned()
            .collect();
        changed.extend(apps.keys().cloned());
        self.apps = apps;
        changed
    }

    /// One app re-read (`GET /v2/apps/<id>`, `{"app": {...}}`), or gone (`None`).
    pub fn set_app(&mut self, id: &str, v: Option<&Value>) {
        match v.and_then(|v| App::from_json(&v["app"])) {
            Some(a) => {
                self.apps.insert(a.id.clone(), a);
            }
            None => {
                self.apps.remove(id);
            }
        }
    }

    /// Replace the deployments with `GET /v2/deployments` (a list).
    pub fn load_deployments(&mut self, v: &Value) {
        self.deployments = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| Some((d["id"].as_str()?.to_string(), d.clone())))
                    .collect()
            })
            .unwrap_or_default();
    }

    /// Replace the queue with `GET /v2/queue` (`{"queue": [...]}`).
    pub fn load_queue(&mut self, v: &Value) {
        self.queue = v["queue"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|q| {
                        let id = q["app"]["id"].as_str().or(q["pod"]["id"].as_str())?;
                        Some((id.to_string(), Queued::from_json(q)))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }

    pub fn status(&self, id: &str) -> Option<Status> {
        let a = self.apps.get(id)?;
        Some(a.status(self.queue.get(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_follows_marathons_ui() {
        let app = |instances: u64, running: u64, deployments: Value| {
            App::from_json(
                &json!({"id": "/a/b", "instances": instances, "tasksRunning": running,
                "deployments": deployments}),
            )
            .unwrap()
        };
        let waiting = Queued {
            count: 1,
            ..Queued::default()
        };
        let delayed = Queued {
            count: 1,
            delayed: true,
            ..Queued::default()
        };
        assert_eq!(app(2, 2, json!([])).status(None), Status::Running);
        assert_eq!(
            app(2, 1, json!([{"id": "d1"}])).status(None),
            Status::Deploying
        );
        assert_eq!(app(0, 0, json!([])).status(None), Status::Suspended);
        assert_eq!(app(2, 1, json!([])).status(Some(&waiting)), Status::Waiting);
        assert_eq!(app(2, 1, json!([])).status(Some(&delayed)), Status::Delayed);
        // Waiting for offers during a deployment is Waiting, as Marathon's UI says.
        assert_eq!(
            app(2, 1, json!([{"id": "d1"}])).status(Some(&waiting)),
            Status::Waiting
        );
        assert_eq!(app(2, 1, json!([])).folder(), "/a");
        assert_eq!(App::from_json(&json!({"id": "/x"})).unwrap().folder(), "/");
    }
}
