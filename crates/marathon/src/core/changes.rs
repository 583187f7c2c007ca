//! What kind of change a new definition of an app is: none at all, or one the running tasks
//! can take without a restart (a scale; labels, the upgrade strategy, backoff, kill selection,
//! the unreachable strategy, dependencies, the kill grace period; the thresholds of the health
//! checks Marathon runs itself; constraints the running tasks already meet), or one that needs
//! new tasks. Marathon restarts every task on all but a scale (its users' pain: marathon
//! #3945, #2348); Drover restarts only what needs it, and the plan says which it is.

use super::Marathon;
use crate::constraints::{self, AgentFacts};
use drover_api::marathon::App;
use serde_json::Value;

/// The fields a running task does not carry: changing them needs no new task.
const LIVE_FIELDS: &[&str] = &[
    "instances",
    "labels",
    "upgradeStrategy",
    "backoffSeconds",
    "backoffFactor",
    "maxLaunchDelaySeconds",
    "killSelection",
    "unreachableStrategy",
    "dependencies",
    "taskKillGracePeriodSeconds",
];

/// Fields that say which version a definition is, not what it is.
const VERSION_FIELDS: &[&str] = &[
    "version",
    "versionInfo",
    "lastScalingAt",
    "lastConfigChangeAt",
];

/// Health-check fields Marathon reads at each check (for the checks it runs itself).
const LIVE_CHECK_FIELDS: &[&str] = &[
    "gracePeriodSeconds",
    "intervalSeconds",
    "timeoutSeconds",
    "maxConsecutiveFailures",
];

/// How a new definition differs from the one in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The top-level fields that differ, in order.
    pub fields: Vec<String>,
    /// Whether the running tasks must be replaced.
    pub restart: bool,
}

impl Change {
    pub fn is_none(&self) -> bool {
        self.fields.is_empty()
    }
}

impl Marathon {
    /// How `next` differs from `prev` (the definition in place for the same id).
    pub fn change_of(&self, prev: &App, next: &App) -> Change {
        let (a, b) = (fields(prev), fields(next));
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let mut changed = Vec::new();
        let mut restart = false;
        for k in keys {
            if VERSION_FIELDS.contains(&k.as_str()) || a.get(k) == b.get(k) {
                continue;
            }
            changed.push(k.clone());
            let live = LIVE_FIELDS.contains(&k.as_str())
                || (k == "healthChecks" && only_live_check_fields(prev, next))
                || (k == "constraints" && self.instances_meet(next))
                // `ports` is written from the port definitions / mappings, compared there.
                || k == "ports";
            restart |= !live;
        }
        Change {
            fields: changed,
            restart,
        }
    }

    /// Whether every live instance of `app` meets `app`'s constraints where it runs.
    fn instances_meet(&self, app: &App) -> bool {
        let placed = self.placed(&app.id);
        (0..placed.len()).all(|k| {
            let others: Vec<&AgentFacts> = placed
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, f)| f)
                .collect();
            constraints::check(&app.constraints, &placed[k], &others).is_ok()
        })
    }
}

/// An app's fields as its JSON has them.
fn fields(app: &App) -> serde_json::Map<String, Value> {
    match serde_json::to_value(app) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Whether two apps' health checks differ only in what Marathon reads at each check, and
/// only in checks Marathon runs (the agent runs the others from the task's definition).
fn only_live_check_fields(a: &App, b: &App) -> bool {
    if a.health_checks.len() != b.health_checks.len() {
        return false;
    }
    a.health_checks.iter().zip(&b.health_checks).all(|(x, y)| {
        let marathon_runs = matches!(x.protocol.as_str(), "HTTP" | "HTTPS" | "TCP");
        let strip = |h: &drover_api::marathon::HealthCheck| {
            let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                for f in LIVE_CHECK_FIELDS {
                    o.remove(*f);
                }
            }
            v
        };
        x == y || (marathon_runs && strip(x) == strip(y))
    })
}
