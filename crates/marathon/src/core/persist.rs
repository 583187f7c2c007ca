//! Persistence: opening the core from the store (the only time it reads it), the writes it
//! queues for the driver (instance state group-committed; app definitions, deployments and
//! the framework id durable before the API answers), and reading old app versions, which the
//! driver does for `GET /v2/apps/{id}/versions` and for a rollback's previous definitions.

use super::{Deployment, IdSource, Instance, Marathon};
use crate::MarathonError;
use drover_api::marathon::App;
use drover_api::FrameworkID;
use drover_store::{Op, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl Marathon {
    /// Open the core over `store`: load apps, instances, deployments and the framework id.
    pub fn open(
        store: Arc<dyn Store>,
        role: String,
        ids: Box<dyn IdSource>,
    ) -> Result<Self, MarathonError> {
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let mut m = Marathon {
            store,
            apps: BTreeMap::new(),
            instances: BTreeMap::new(),
            backoff: HashMap::new(),
            last_failure: HashMap::new(),
            deployments: BTreeMap::new(),
            offer_stats: HashMap::new(),
            framework_id: None,
            connected: false,
            next_reconcile: None,
            suppressed: false,
            agents: HashMap::new(),
            events,
            role,
            framework_template: Default::default(),
            subscribed_roles: Vec::new(),
            service_port_range: (10000, 20000),
            root_version: None,
            subscriptions: Default::default(),
            governed: Default::default(),
            queued_since: HashMap::new(),
            kills_sent: HashMap::new(),
            rendered: HashMap::new(),
            counters: Default::default(),
            ids,
            pending: Vec::new(),
            durable: false,
            outbox: Vec::new(),
            by_app: HashMap::new(),
            dirty: Default::default(),
            wanted: BTreeMap::new(),
            unreachable: Default::default(),
            reservations: BTreeMap::new(),
            draining_agents: HashMap::new(),
        };
        m.load()?;
        Ok(m)
    }

    fn load(&mut self) -> Result<(), MarathonError> {
        for (_, v) in self.store.scan("marathon/apps/")? {
            if let Ok(app) = serde_json::from_slice::<App>(&v) {
                self.apps.insert(app.id.clone(), app);
            }
        }
        for (_, v) in self.store.scan("marathon/instances/")? {
            if let Ok(i) = serde_json::from_slice::<Instance>(&v) {
                // Kills a previous Marathon was making are due at once.
                if i.killing && !i.state.is_terminal() {
                    self.kills_sent.insert(i.task_id.clone(), f64::NEG_INFINITY);
                }
                self.add_instance(i);
            }
        }
        for (_, v) in self.store.scan(super::resident::PREFIX)? {
            if let Ok(r) = serde_json::from_slice::<super::Reservation>(&v) {
                self.reservations.insert(r.id.clone(), r);
            }
        }
        for (_, v) in self.store.scan("marathon/deployments/")? {
            if let Ok(d) = serde_json::from_slice::<Deployment>(&v) {
                self.deployments.insert(d.id.clone(), d);
            }
        }
        if let Some(v) = self.store.get(super::subscriptions::KEY)? {
            if let Ok(urls) = serde_json::from_slice::<Vec<String>>(&v) {
                self.subscriptions.extend(urls);
            }
        }
        if let Some(v) = self.store.get("marathon/framework_id")? {
            self.framework_id = Some(FrameworkID::new(String::from_utf8_lossy(&v).to_string()));
        }
        Ok(())
    }

    pub(super) fn persist_instance(&self, i: &Instance) -> Op {
        Op::Put(
            format!("marathon/instances/{}", i.task_id),
            serde_json::to_vec(i).unwrap_or_default(),
        )
    }

    /// Queue writes of instance state; the flusher commits them together every few
    /// milliseconds (one fsync for many updates). Losing the last few on a crash is safe: on
    /// restart, reconciliation finds tasks Marathon forgot and kills them (no orphan), and the
    /// planner launches what is missing (no duplicate).
    pub(super) fn write(&mut self, ops: Vec<Op>) {
        self.pending.extend(ops);
    }

    /// Queue writes that must be durable, with everything queued before them, before the
    /// caller answers (app definitions, deployments): the driver commits them at the end of
    /// the turn ([`Marathon::wants_commit`]).
    pub(super) fn write_durable(&mut self, ops: Vec<Op>) {
        self.pending.extend(ops);
        self.durable = true;
    }

    /// The writes queued since the last call, in order.
    pub fn take_pending(&mut self) -> Vec<Op> {
        self.durable = false;
        std::mem::take(&mut self.pending)
    }

    /// Whether the queued writes include some that must be durable before the caller answers.
    pub fn wants_commit(&self) -> bool {
        self.durable
    }

    pub fn set_framework_id(&mut self, id: FrameworkID) {
        self.write_durable(vec![Op::Put(
            "marathon/framework_id".into(),
            id.value.clone().into_bytes(),
        )]);
        self.framework_id = Some(id);
    }
}

/// The stored versions of an app, oldest first.
pub fn versions(store: &dyn Store, app_id: &str) -> Vec<String> {
    store
        .scan(&format!("marathon/versions/{app_id}/"))
        .map(|rows| {
            rows.into_iter()
                .map(|(k, _)| k.rsplit('/').next().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One stored version of an app's definition.
pub fn app_version(store: &dyn Store, app_id: &str, version: &str) -> Option<App> {
    store
        .get(&format!("marathon/versions/{app_id}/{version}"))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// What each app of a deployment was before it: the newest stored version older than the
/// deployment's. Apps with none (new in it) are absent: rolling back removes them.
pub fn previous_definitions(store: &dyn Store, d: &Deployment) -> HashMap<String, App> {
    d.affected_apps
        .iter()
        .filter_map(|app_id| {
            let previous = versions(store, app_id)
                .into_iter()
                .rev()
                .find(|v| *v < d.version)?;
            Some((app_id.clone(), app_version(store, app_id, &previous)?))
        })
        .collect()
}
