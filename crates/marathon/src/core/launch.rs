//! Launching: offers matched against the launch queue (apps waiting for their deployment
//! step or in backoff skip them, and so do apps of another role than the offer's), one ACCEPT per offer with every task that fits, a DECLINE
//! for the others, and the statistics `/v2/queue` shows of offers not used and why.

use super::deploy::config_version;
use super::{iso, Calls, Instance, Marathon, NoFit};
use crate::constraints::AgentFacts;
use drover_api::scheduler::{Accept, Call, CallType, Decline};
use drover_api::{Filters, Offer, Resources, TaskInfo, TaskState};
use drover_store::Op;
use serde_json::json;

impl Marathon {
    /// Match offers against the launch queue; accept what fits, decline the rest.
    pub fn offers(&mut self, offers: Vec<Offer>, now: f64) -> Calls {
        let mut calls = self.replan(now);
        let mut queue = self.queue();
        let queued_apps: Vec<String> = queue.keys().cloned().collect();
        for offer in offers {
            let facts = AgentFacts {
                agent_id: offer.agent_id.value.clone(),
                hostname: offer.hostname.clone(),
                attributes: offer
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.value_string()))
                    .collect(),
            };
            self.agents
                .insert(offer.agent_id.value.clone(), facts.clone());
            self.note_unavailability(&offer);
            let maintenance = self.under_maintenance(&offer.agent_id.value);
            let offer_role = self.offer_role(&offer);
            let mut remaining = Resources::from_list(&offer.resources);
            // Resident apps' reservations: out of what other apps may use; those to release
            // are released (DESTROY, UNRESERVE) first, then new ones made (RESERVE, CREATE).
            let (mut held, mut pre_ops) = self.take_reserved(&mut remaining);
            let mut tasks: Vec<TaskInfo> = Vec::new();
            for app_id in &queued_apps {
                let Some(app) = self.apps.get(app_id).cloned() else {
                    continue;
                };
                let stats = self.offer_stats.entry(app_id.clone()).or_default();
                stats.processed += 1;
                let reason = if maintenance {
                    // Nothing new on an agent whose instances are being moved off.
                    Some("AgentUnderMaintenance".to_string())
                } else if app.role.as_deref().unwrap_or(&self.role) != offer_role {
                    // Offered to another of Marathon's roles than the app's.
                    Some(NoFit::UnfulfilledRole.to_string())
                } else if !self.launch_allowed(app_id) {
                    Some("DeploymentWaitingForDependencies".to_string())
                } else if self
                    .backoff
                    .get(app_id)
                    .map(|b| b.until > now)
                    .unwrap_or(false)
                {
                    Some("AppDelayed".to_string())
                } else {
                    None
                };
                if let Some(r) = reason {
                    self.note_unused(app_id, &offer, &r, now);
                    continue;
                }
                loop {
                    let want = queue.get(app_id).copied().unwrap_or(0);
                    if want == 0 {
                        break;
                    }
                    let built = if crate::resident::volumes(&app).is_empty() {
                        self.build_task(&app, &offer, &facts, &remaining, &tasks)
                            .map(|(t, u, p)| (t, u, p, None))
                    } else {
                        self.resident_task(
                            &app, want, &offer, &facts, &remaining, &mut held, &tasks,
                        )
                        .map(|l| {
                            pre_ops.extend(l.ops);
                            (l.task, l.used, l.ports, Some(l.reservation))
                        })
                    };
                    match built {
                        Ok((task, used, ports, reservation)) => {
                            remaining.subtract_all(&used);
                            let inst = Instance {
                                task_id: task.task_id.value.clone(),
                                app_id: app.id.clone(),
                                version: app.version.clone().unwrap_or_default(),
                                config_version: config_version(&app).to_string(),
                                agent_id: offer.agent_id.value.clone(),
                                host: offer.hostname.clone(),
                                ports,
                                state: TaskState::TASK_STAGING,
                                staged_at: now,
                                started_at: None,
                                killing: false,
                                healthy: None,
                                consecutive_failures: 0,
                                last_success: None,
                                last_failure: None,
                                last_failure_cause: None,
                                last_message: None,
                                ready: false,
                                last_readiness: None,
                                unreachable_since: None,
                                unreachable_inactive: false,
                                reservation,
                            };
                            self.add_instance(inst);
                            *self
                                .counters
                                .transitions
                                .entry(TaskState::TASK_STAGING.as_str())
                                .or_default() += 1;
                            tasks.push(task);
                            queue.insert(app_id.clone(), want - 1);
                        }
                        Err(reason) => {
                            self.note_unused(app_id, &offer, &reason.to_string(), now);
                            break;
                        }
                    }
                }
            }
            if tasks.is_empty() && pre_ops.is_empty() {
                let mut c = Call::new(CallType::DECLINE, self.framework_id.clone());
                let refuse = if queue.values().any(|n| *n > 0) || self.releases_pending() {
                    5.0
                } else {
                    120.0
                };
                c.decline = Some(Decline {
                    offer_ids: vec![offer.id.clone()],
                    filters: Some(Filters {
                        refuse_seconds: Some(refuse),
                    }),
                });
                calls.push(c);
                continue;
            }
            let ops: Vec<Op> = tasks
                .iter()
                .filter_map(|t| self.instances.get(&t.task_id.value))
                .map(|i| self.persist_instance(i))
                .collect();
            self.write(ops);
            let mut c = Call::new(CallType::ACCEPT, self.framework_id.clone());
            if !tasks.is_empty() {
                pre_ops.push(drover_api::Operation::launch(tasks));
            }
            c.accept = Some(Accept {
                offer_ids: vec![offer.id.clone()],
                operations: pre_ops,
                filters: Some(Filters {
                    refuse_seconds: Some(1.0),
                }),
            });
            calls.push(c);
        }
        calls
    }

    fn note_unused(&mut self, app_id: &str, offer: &Offer, reason: &str, now: f64) {
        let s = self.offer_stats.entry(app_id.to_string()).or_default();
        s.unused += 1;
        *s.reasons.entry(reason.to_string()).or_default() += 1;
        if s.last_unused.len() >= 20 {
            s.last_unused.pop_front();
        }
        s.last_unused.push_back(json!({
            "offer": {"id": offer.id.value, "agentId": offer.agent_id.value, "hostname": offer.hostname,
                      "resources": offer.resources.iter().map(|r| {
                          let mut v = json!({"name": r.name, "role": r.reservation_role()});
                          if let Some(x) = &r.scalar { v["scalar"] = json!(x.value); }
                          if let Some(x) = &r.ranges { v["ranges"] = json!(x.range.iter().map(|g| json!({"begin": g.begin, "end": g.end})).collect::<Vec<_>>()); }
                          if let Some(x) = &r.set { v["set"] = json!(x.item); }
                          v
                      }).collect::<Vec<_>>(),
                      "attributes": offer.attributes.iter().map(|a| json!({"name": a.name, "value": a.value_string()})).collect::<Vec<_>>()},
            "timestamp": iso(now), "reason": [reason],
        }));
    }
}
