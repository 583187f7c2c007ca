//! `/monitor/statistics`: one entry per running command task (its containerizer's usage) and
//! per custom executor, with the limits from their resources, as Mesos shows them.

use super::Agent;
use crate::containerizer::{Kind, Usage};
use drover_api::*;
use serde_json::{json, Value};

/// What an entry is about.
struct Entry {
    kind: Kind,
    container_id: String,
    executor_id: String,
    executor_name: String,
    framework_id: String,
    source: String,
    resources: Resources,
    /// Listed even without usage (zeros): executors.
    always: bool,
}

impl Agent {
    pub(crate) async fn statistics(&self) -> Vec<Value> {
        let entries: Vec<Entry> = {
            let st = self.lock();
            let tasks = st
                .tasks
                .values()
                .filter(|t| t.executor_id.is_none() && t.launched && !t.state.is_terminal())
                .map(|t| Entry {
                    kind: t.kind,
                    container_id: t.container_id.clone(),
                    executor_id: t.info.task_id.value.clone(),
                    executor_name: format!("Command Executor (Task: {})", t.info.task_id.value),
                    framework_id: t.framework_id.value.clone(),
                    source: t.info.task_id.value.clone(),
                    resources: Resources::from_list(&t.info.resources),
                    always: false,
                });
            let executors = st.executors.values().map(|x| Entry {
                kind: Kind::Process,
                container_id: x.container_id.clone(),
                executor_id: x.info.executor_id.value.clone(),
                executor_name: x.info.name.clone().unwrap_or_default(),
                framework_id: x.framework_id.value.clone(),
                source: x.info.source.clone().unwrap_or_default(),
                resources: Resources::from_list(&x.info.resources),
                always: true,
            });
            tasks.chain(executors).collect()
        };
        let one = |e: Entry| async move {
            let usage = match self.containerizer(e.kind) {
                Some(c) => c.usage(&e.container_id).await,
                None => None,
            };
            let usage = match usage {
                Some(u) => u,
                None if e.always => Usage::default(),
                None => return None,
            };
            let mut statistics = serde_json::to_value(&usage).ok()?;
            let mem_limit = usage
                .mem_limit_bytes
                .unwrap_or((e.resources.scalar("mem") * 1048576.0) as u64);
            statistics["timestamp"] = json!(super::unix_now());
            statistics["cpus_limit"] = json!(e.resources.scalar("cpus"));
            statistics["mem_limit_bytes"] = json!(mem_limit);
            Some(json!({
                "executor_id": e.executor_id, "executor_name": e.executor_name,
                "framework_id": e.framework_id, "source": e.source,
                "statistics": statistics,
            }))
        };
        futures_util::future::join_all(entries.into_iter().map(one))
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}
