//! The master's registry: what must survive a master restart (admitted agents, frameworks,
//! role weights), kept in the storage trait. A failed write is logged, never fatal: the cluster
//! rebuilds task state from re-registering agents anyway.

use drover_api::{AgentInfo, FrameworkID, FrameworkInfo};
use drover_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Registry { store }
    }

    fn put<T: serde::Serialize>(&self, key: String, v: &T) {
        match serde_json::to_vec(v) {
            Ok(bytes) => {
                if let Err(e) = self.store.put(&key, bytes) {
                    tracing::error!("registry write of {key} failed: {e}");
                }
            }
            Err(e) => tracing::error!("registry encode of {key} failed: {e}"),
        }
    }

    fn scan<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Vec<T> {
        match self.store.scan(prefix) {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|(k, v)| match serde_json::from_slice(&v) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        tracing::error!("registry record {k} unreadable: {e}");
                        None
                    }
                })
                .collect(),
            Err(e) => {
                tracing::error!("registry scan of {prefix} failed: {e}");
                vec![]
            }
        }
    }

    pub fn put_agent(&self, info: &AgentInfo) {
        if let Some(id) = &info.id {
            self.put(format!("master/agents/{}", id.value), info);
        }
    }
    pub fn agents(&self) -> Vec<AgentInfo> {
        self.scan("master/agents/")
    }
    pub fn put_framework(&self, info: &FrameworkInfo) {
        if let Some(id) = &info.id {
            self.put(format!("master/frameworks/{}", id.value), info);
        }
    }
    pub fn remove_framework(&self, id: &FrameworkID) {
        if let Err(e) = self
            .store
            .delete(&format!("master/frameworks/{}", id.value))
        {
            tracing::error!("registry delete failed: {e}");
        }
        self.put(format!("master/removed_frameworks/{}", id.value), &id.value);
    }
    pub fn frameworks(&self) -> Vec<FrameworkInfo> {
        self.scan("master/frameworks/")
    }
    pub fn removed_frameworks(&self) -> Vec<String> {
        self.scan("master/removed_frameworks/")
    }
    pub fn put_weights(&self, w: &HashMap<String, f64>) {
        self.put("master/weights".into(), w);
    }
    pub fn weights(&self) -> HashMap<String, f64> {
        match self.store.get("master/weights") {
            Ok(Some(v)) => serde_json::from_slice(&v).unwrap_or_default(),
            _ => HashMap::new(),
        }
    }
}
