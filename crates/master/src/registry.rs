//! The master's registry: what must survive a master restart (admitted agents, frameworks,
//! role weights and quotas), kept in the storage trait. The core decides what to write ([`RegistryOp`]);
//! the [`Writer`] applies those writes in the order they were decided, outside the master's
//! lock. A failed write is logged, never fatal: the cluster rebuilds task state from
//! re-registering agents anyway.

use crate::core::{Recovered, RegistryOp};
use drover_api::{AgentInfo, FrameworkInfo};
use drover_store::{Op, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
}

fn encode<T: serde::Serialize>(key: String, v: &T) -> Option<Op> {
    match serde_json::to_vec(v) {
        Ok(bytes) => Some(Op::Put(key, bytes)),
        Err(e) => {
            tracing::error!("registry encode of {key} failed: {e}");
            None
        }
    }
}

fn agent_key(info: &AgentInfo) -> Option<String> {
    info.id
        .as_ref()
        .map(|id| format!("master/agents/{}", id.value))
}

fn framework_key(info: &FrameworkInfo) -> Option<String> {
    info.id
        .as_ref()
        .map(|id| format!("master/frameworks/{}", id.value))
}

/// One record per role with quota (Mesos keeps one list; a record each keeps a change small).
fn quota_key(role: &str) -> String {
    format!("master/quota/{role}")
}

/// The store operations of one registry write.
fn store_ops(op: &RegistryOp) -> Vec<Op> {
    match op {
        RegistryOp::PutAgent(info) => agent_key(info)
            .and_then(|k| encode(k, info))
            .into_iter()
            .collect(),
        RegistryOp::PutFramework(info) => framework_key(info)
            .and_then(|k| encode(k, info))
            .into_iter()
            .collect(),
        RegistryOp::RemoveFramework(id) => {
            let mut ops = vec![Op::Delete(format!("master/frameworks/{}", id.value))];
            ops.extend(encode(
                format!("master/removed_frameworks/{}", id.value),
                &id.value,
            ));
            ops
        }
        RegistryOp::PutWeights(w) => encode("master/weights".into(), w).into_iter().collect(),
        RegistryOp::PutQuota(c) => encode(quota_key(&c.role), c).into_iter().collect(),
        RegistryOp::RemoveQuota(role) => vec![Op::Delete(quota_key(role))],
        RegistryOp::DeactivateAgent(id) => {
            encode(format!("master/deactivated_agents/{}", id.value), &id.value)
                .into_iter()
                .collect()
        }
        RegistryOp::ReactivateAgent(id) => vec![Op::Delete(format!(
            "master/deactivated_agents/{}",
            id.value
        ))],
        RegistryOp::MarkAgentGone(id) => {
            let mut ops = vec![Op::Delete(format!("master/agents/{}", id.value))];
            ops.extend(encode(
                format!("master/gone_agents/{}", id.value),
                &id.value,
            ));
            ops
        }
        RegistryOp::RemoveAgent(id) => vec![Op::Delete(format!("master/agents/{}", id.value))],
        RegistryOp::PutMaintenance(m) => {
            encode("master/maintenance".into(), m).into_iter().collect()
        }
        RegistryOp::PutDrain(id, info) => encode(
            format!("master/draining_agents/{}", id.value),
            &DrainRecord {
                agent_id: id.clone(),
                info: info.clone(),
            },
        )
        .into_iter()
        .collect(),
        RegistryOp::RemoveDrain(id) => {
            vec![Op::Delete(format!("master/draining_agents/{}", id.value))]
        }
    }
}

/// A draining agent's record.
#[derive(serde::Serialize, serde::Deserialize)]
struct DrainRecord {
    agent_id: drover_api::AgentID,
    info: drover_api::maintenance::DrainInfo,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Registry { store }
    }

    /// A registry that keeps nothing beyond the process: for a master that does not lead.
    pub fn detached() -> Self {
        Registry::new(Arc::new(drover_store::MemoryStore::default()))
    }

    /// The records under `prefix`; one that does not decode is logged and left out, a store
    /// that cannot be read is an error.
    fn scan<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        Ok(self
            .store
            .scan(prefix)?
            .into_iter()
            .filter_map(|(k, v)| match serde_json::from_slice(&v) {
                Ok(x) => Some(x),
                Err(e) => {
                    tracing::error!("registry record {k} unreadable: {e}");
                    None
                }
            })
            .collect())
    }

    fn maintenance(&self) -> Result<crate::core::StoredMaintenance, StoreError> {
        Ok(match self.store.get("master/maintenance")? {
            Some(v) => serde_json::from_slice(&v).unwrap_or_else(|e| {
                tracing::error!("registry record master/maintenance unreadable: {e}");
                Default::default()
            }),
            None => Default::default(),
        })
    }

    fn weights(&self) -> Result<HashMap<String, f64>, StoreError> {
        Ok(match self.store.get("master/weights")? {
            Some(v) => serde_json::from_slice(&v).unwrap_or_else(|e| {
                tracing::error!("registry record master/weights unreadable: {e}");
                HashMap::new()
            }),
            None => HashMap::new(),
        })
    }

    /// What a starting master takes over. A store that cannot be read fails the start rather
    /// than starting from nothing (which would forget every framework it holds).
    pub fn recover(&self) -> Result<Recovered, StoreError> {
        Ok(Recovered {
            agents: self.scan("master/agents/")?,
            gone_agents: self.scan("master/gone_agents/")?,
            deactivated_agents: self.scan("master/deactivated_agents/")?,
            frameworks: self.scan("master/frameworks/")?,
            removed_frameworks: self.scan("master/removed_frameworks/")?,
            weights: self.weights()?,
            quotas: self.scan("master/quota/")?,
            maintenance: self.maintenance()?,
            draining: self
                .scan::<DrainRecord>("master/draining_agents/")?
                .into_iter()
                .map(|r| (r.agent_id, r.info))
                .collect(),
        })
    }

    /// Write `ops` in one transaction; false (and logged) if the store refused it.
    pub fn apply(&self, ops: &[RegistryOp]) -> bool {
        let ops: Vec<Op> = ops.iter().flat_map(store_ops).collect();
        if ops.is_empty() {
            return true;
        }
        match self.store.apply(ops) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("registry write failed: {e}");
                false
            }
        }
    }
}

/// Applies registry writes in decision order without holding the master's lock: writes are
/// queued while the lock is held (so the queue is in the order decisions were taken), then
/// written after it is released by whichever caller gets to the queue first.
pub struct Writer {
    /// Replaced at each term of an HA master.
    registry: Mutex<Registry>,
    /// The number of the last batch queued, and the writes not yet taken for writing.
    queue: Mutex<(u64, Vec<RegistryOp>)>,
    /// Held while writing: the number of the last batch written.
    written: Mutex<u64>,
    /// Batches the store refused (unreachable, or this master deposed and fenced off).
    pub failures: std::sync::atomic::AtomicU64,
}

impl Writer {
    pub fn new(registry: Registry) -> Self {
        Writer {
            registry: Mutex::new(registry),
            queue: Mutex::new((0, Vec::new())),
            written: Mutex::new(0),
            failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Queue a decision's writes; call it with the master's lock held. Returns the batch's
    /// number for [`Writer::flush`], or `None` when there is nothing to write.
    pub fn enqueue(&self, ops: Vec<RegistryOp>) -> Option<u64> {
        if ops.is_empty() {
            return None;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.0 += 1;
        q.1.extend(ops);
        Some(q.0)
    }

    /// Return once batch `upto` and every batch before it are written.
    pub fn flush(&self, upto: u64) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written >= upto {
            return;
        }
        let (last, ops) = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            (q.0, std::mem::take(&mut q.1))
        };
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if !registry.apply(&ops) {
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        *written = last;
    }

    /// Write to `registry` from now on; writes queued for the one before are dropped (they
    /// were decided by a master state that is gone).
    pub fn replace(&self, registry: Registry) {
        let _written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
        *self.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::quota::QuotaConfig;
    use drover_api::{FrameworkID, Scalar};
    use drover_store::MemoryStore;
    use std::collections::BTreeMap;

    fn framework(id: &str) -> FrameworkInfo {
        FrameworkInfo {
            name: format!("fw {id}"),
            id: Some(FrameworkID::new(id)),
            ..Default::default()
        }
    }

    #[test]
    fn writes_are_recovered_in_the_order_they_were_decided() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let w = Writer::new(Registry::new(store.clone()));
        let a = w.enqueue(vec![
            RegistryOp::PutFramework(framework("f1")),
            RegistryOp::PutFramework(framework("f2")),
        ]);
        let b = w.enqueue(vec![RegistryOp::RemoveFramework(FrameworkID::new("f1"))]);
        assert_eq!(w.enqueue(vec![]), None);
        // The later batch's flush writes the earlier one too, in order.
        w.flush(b.expect("a batch"));
        w.flush(a.expect("a batch"));
        w.enqueue(vec![RegistryOp::PutWeights(HashMap::from([(
            "web".to_string(),
            2.0,
        )]))]);
        let c = w.enqueue(vec![RegistryOp::PutAgent(AgentInfo {
            hostname: "h1".into(),
            id: Some(drover_api::AgentID::new("a1")),
            ..Default::default()
        })]);
        w.flush(c.expect("a batch"));
        let r = Registry::new(store.clone()).recover().expect("recovered");
        assert!(r.quotas.is_empty());
        assert_eq!(r.frameworks, vec![framework("f2")]);
        assert_eq!(r.removed_frameworks, vec!["f1".to_string()]);
        assert_eq!(r.weights.get("web"), Some(&2.0));
        assert!(store.get("master/agents/a1").expect("readable").is_some());
    }

    fn quota(role: &str, cpus: f64) -> QuotaConfig {
        QuotaConfig {
            role: role.into(),
            guarantees: BTreeMap::from([("cpus".to_string(), Scalar { value: cpus })]),
            limits: BTreeMap::from([("mem".to_string(), Scalar { value: 64.0 })]),
        }
    }

    #[test]
    fn quotas_are_recovered_as_last_written() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let w = Writer::new(Registry::new(store.clone()));
        // One batch (one UPDATE_QUOTA): set, changed, removed; then another.
        let a = w.enqueue(vec![
            RegistryOp::PutQuota(quota("web", 1.0)),
            RegistryOp::PutQuota(quota("db", 1.0)),
            RegistryOp::PutQuota(quota("*", 0.5)),
            RegistryOp::PutQuota(quota("web", 2.0)),
            RegistryOp::RemoveQuota("db".into()),
        ]);
        w.flush(a.expect("a batch"));
        let r = Registry::new(store.clone()).recover().expect("recovered");
        assert_eq!(r.quotas, vec![quota("*", 0.5), quota("web", 2.0)]);
        let b = w.enqueue(vec![RegistryOp::RemoveQuota("web".into())]);
        w.flush(b.expect("a batch"));
        let r = Registry::new(store).recover().expect("recovered");
        assert_eq!(r.quotas, vec![quota("*", 0.5)]);
    }

    #[test]
    fn maintenance_and_drains_are_recovered_as_last_written() {
        use drover_api::maintenance::*;
        use drover_api::AgentID;
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let w = Writer::new(Registry::new(store.clone()));
        let machine = MachineID {
            hostname: Some("node-7".into()),
            ip: None,
        };
        let stored = crate::core::StoredMaintenance {
            schedule: Schedule {
                windows: vec![Window {
                    machine_ids: vec![machine.clone()],
                    unavailability: Unavailability::default(),
                }],
            },
            down: vec![machine],
        };
        let draining = |state| DrainInfo {
            state,
            config: DrainConfig {
                max_grace_period: None,
                mark_gone: true,
            },
        };
        let a = w.enqueue(vec![
            RegistryOp::PutMaintenance(stored.clone()),
            RegistryOp::PutDrain(AgentID::new("a1"), draining(DrainState::DRAINING)),
            RegistryOp::PutDrain(AgentID::new("a2"), draining(DrainState::DRAINING)),
            RegistryOp::PutDrain(AgentID::new("a1"), draining(DrainState::DRAINED)),
            RegistryOp::RemoveDrain(AgentID::new("a2")),
            RegistryOp::PutAgent(AgentInfo {
                hostname: "h3".into(),
                id: Some(AgentID::new("a3")),
                ..Default::default()
            }),
            RegistryOp::RemoveAgent(AgentID::new("a3")),
        ]);
        w.flush(a.expect("a batch"));
        let r = Registry::new(store).recover().expect("recovered");
        assert_eq!(r.maintenance, stored);
        assert_eq!(
            r.draining,
            vec![(AgentID::new("a1"), draining(DrainState::DRAINED))]
        );
        assert!(r.agents.is_empty());
    }
}
