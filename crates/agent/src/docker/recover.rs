//! After an agent restart: the containers of the docker tasks it recovered, found by label and
//! taken under control again (or reported gone), and orphans — containers labelled for this
//! agent whose task it does not run — removed. At the end (Ctrl-C): every container of this
//! agent stopped and removed.

use super::{container_name, Engine, LABEL_CONTAINER};
use crate::containerizer::{Known, Recovered};
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters as qp;
use drover_api::AgentID;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Engine {
    /// Waits for the Engine as long as it takes; one answer per container, in order.
    pub(super) async fn recover(
        &self,
        agent_id: Option<&AgentID>,
        known: Vec<Known>,
    ) -> Vec<Recovered> {
        self.set_agent_id(agent_id.map(|a| a.value.as_str()));
        for k in &known {
            self.add_slot(&k.container_id, &k.sandbox);
        }
        let mut warned = false;
        let (docker, ours) = loop {
            let r = match self.client().await {
                Ok(c) => self
                    .list_ours(&c)
                    .await
                    .map(|l| (c, l))
                    .map_err(|e| self.unreachable(&e)),
                Err(e) => Err(e),
            };
            match r {
                Ok(x) => break x,
                Err(e) => {
                    if !warned {
                        tracing::warn!("docker recovery waits for the Engine: {e}");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        let by_cid: HashMap<String, &ContainerSummary> = ours
            .iter()
            .filter_map(|c| {
                c.labels
                    .as_ref()?
                    .get(LABEL_CONTAINER)
                    .map(|cid| (cid.clone(), c))
            })
            .collect();
        let mut answers = Vec::with_capacity(known.len());
        for k in known {
            let cid = k.container_id;
            let found = by_cid.get(&cid).map(|c| c.state);
            match found {
                Some(Some(ContainerSummaryStateEnum::CREATED)) | None => {
                    let why = if found.is_some() {
                        "had not started"
                    } else {
                        "was gone"
                    };
                    if found.is_some() {
                        let _ = docker
                            .remove_container(
                                &container_name(&cid),
                                Some(qp::RemoveContainerOptions {
                                    force: true,
                                    ..Default::default()
                                }),
                            )
                            .await;
                    }
                    self.forget(&cid);
                    answers.push(Recovered::Gone(format!(
                        "Container {} {why} when the agent recovered",
                        container_name(&cid)
                    )));
                }
                Some(_) => {
                    tracing::info!(container = %container_name(&cid), "re-adopting container");
                    if let Some(slot) = self.slot(&cid) {
                        slot.running.store(true, Ordering::SeqCst);
                    }
                    answers.push(Recovered::Running);
                }
            }
        }
        // Orphans: ours by label, but no live task of this agent runs in them — neither one
        // recovered nor one launched while the Engine was being waited for.
        for c in &ours {
            let Some(cid) = c.labels.as_ref().and_then(|l| l.get(LABEL_CONTAINER)) else {
                continue;
            };
            if self.slot(cid).is_some() {
                continue;
            }
            let name = c
                .names
                .iter()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_else(|| container_name(cid));
            tracing::warn!(container = %name.trim_start_matches('/'), "removing orphan container (labelled for this agent, no task of it runs there)");
            let id = c.id.clone().unwrap_or_else(|| container_name(cid));
            if let Err(e) = docker
                .remove_container(
                    &id,
                    Some(qp::RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await
            {
                tracing::warn!(container = %name, "could not remove orphan: {e}");
            }
        }
        answers
    }

    /// Ctrl-C: stop this agent's containers (SIGTERM, `grace`, then removal, which kills).
    pub(super) async fn remove_all(&self, grace: Duration) {
        let Ok(Ok(docker)) = tokio::time::timeout(Duration::from_secs(3), self.client()).await
        else {
            return;
        };
        let Ok(ours) = self.list_ours(&docker).await else {
            return;
        };
        let names: Vec<String> = ours.iter().filter_map(|c| c.id.clone()).collect();
        for n in &names {
            let _ = docker
                .kill_container(
                    n,
                    Some(qp::KillContainerOptions {
                        signal: "SIGTERM".into(),
                    }),
                )
                .await;
        }
        let all_stopped = futures_util::future::join_all(
            names.iter().map(|n| super::wait_not_running(&docker, n)),
        );
        let _ = tokio::time::timeout(grace, all_stopped).await;
        for n in &names {
            let _ = docker
                .remove_container(
                    n,
                    Some(qp::RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}
