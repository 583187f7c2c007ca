//! Oversubscription on the agent: sample the running command tasks, send the resource
//! estimate to the master when it changes (and after each registration), and evict revocable
//! tasks when the interference guard says a regular task is starved. The decisions are the pure
//! ones of [`crate::oversubscription`]; this loop reads the clock and the containers.

use super::Agent;
use crate::containerizer::Kind;
use crate::oversubscription::{
    Estimator, Guard, Interference, OversubscriptionConfig, RevocableTask, Slack, UsageSample,
};
use drover_api::agent_protocol::FromAgent;
use drover_api::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The message a preempted task's terminal update carries (Mesos' QoS controller's).
pub(crate) const PREEMPTED_MESSAGE: &str = "Container preempted by QoS correction";

/// Whether a task's resources are revocable (any of them).
pub(crate) fn is_revocable(task: &TaskInfo) -> bool {
    task.resources.iter().any(|r| r.revocable.is_some())
}

/// One running command task, as the loop sees it.
struct Seen {
    key: (FrameworkID, TaskID),
    kind: Kind,
    container_id: String,
    revocable: bool,
    cpus: f64,
    mem: f64,
}

/// The previous sample of a container, for deltas.
struct Last {
    at: Instant,
    cpu: f64,
    stall: f64,
    throttled: Option<f64>,
}

impl Agent {
    /// Run the estimator and the QoS controller until the agent stops.
    pub(crate) async fn run_oversubscription(self: Arc<Self>, cfg: OversubscriptionConfig) {
        let period = Duration::from_secs_f64(cfg.interval_secs.clamp(0.1, 5.0));
        let send_every = Duration::from_secs_f64(cfg.interval_secs.max(0.1));
        let mut estimator = Estimator::new(cfg.estimator.clone());
        let mut guard = Guard::new(cfg.qos.clone());
        let mut last: HashMap<String, Last> = HashMap::new();
        let mut order: HashMap<(FrameworkID, TaskID), u64> = HashMap::new();
        let mut next_order = 0u64;
        let mut last_send: Option<Instant> = None;
        let mut backed_off = false;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopping() {
                return;
            }
            let seen = self.running_command_tasks();
            order.retain(|k, _| seen.iter().any(|s| &s.key == k));
            let mut sample = UsageSample::default();
            let mut regular = Vec::new();
            let mut revocable = Vec::new();
            let mut live = HashMap::new();
            for s in &seen {
                let launched = *order.entry(s.key.clone()).or_insert_with(|| {
                    next_order += 1;
                    next_order
                });
                if s.revocable {
                    revocable.push(RevocableTask {
                        key: s.key.clone(),
                        launched,
                    });
                } else {
                    sample.allocated_cpus += s.cpus;
                    sample.allocated_mem_mb += s.mem;
                }
                let Some(c) = self.containerizer(s.kind) else {
                    continue;
                };
                let Some(u) = c.usage(&s.container_id).await else {
                    continue;
                };
                let now = Instant::now();
                let cpu = u.cpus_user_time_secs + u.cpus_system_time_secs;
                let stall = u.cpus_run_delay_secs.unwrap_or(0.0);
                let this = Last {
                    at: now,
                    cpu,
                    stall,
                    throttled: u.cpus_throttled_time_secs,
                };
                if let Some(prev) = last.get(&s.container_id) {
                    let wall = now.duration_since(prev.at).as_secs_f64();
                    if wall > 0.0 && !s.revocable {
                        let cpu_secs = (cpu - prev.cpu).max(0.0);
                        sample.used_cpus += cpu_secs / wall;
                        regular.push(Interference {
                            task: s.key.1.value.clone(),
                            wall_secs: wall,
                            stall_secs: (stall - prev.stall).max(0.0),
                            cpu_secs,
                            throttled_secs: match (this.throttled, prev.throttled) {
                                (Some(t), Some(p)) => Some((t - p).max(0.0)),
                                _ => None,
                            },
                        });
                    }
                } else if !s.revocable {
                    // No delta yet: count the task as using all it was given.
                    sample.used_cpus += s.cpus;
                }
                if !s.revocable {
                    sample.used_mem_mb += u.mem_rss_bytes as f64 / 1048576.0;
                }
                live.insert(s.container_id.clone(), this);
            }
            last = live;
            let estimate = estimator.observe(sample);
            let due = backed_off || last_send.is_none_or(|t| t.elapsed() >= send_every);
            backed_off = false;
            if due {
                last_send = Some(Instant::now());
                self.send_estimate(estimate);
            }
            let evict = guard.decide(&regular, &revocable);
            {
                let mut st = self.lock();
                st.qos_samples += 1;
                st.qos_evictions += evict.len() as u64;
            }
            if !evict.is_empty() {
                // No cpus estimated for a window, sent at the next sample.
                estimator.back_off();
                backed_off = true;
            }
            for key in evict {
                self.preempt(&key);
            }
        }
    }

    /// Send the estimate when it differs from what the master last heard (or it has heard
    /// nothing since the agent registered).
    fn send_estimate(&self, slack: Slack) {
        let resources = slack.to_resources();
        {
            let mut st = self.lock();
            if !st.registered || st.oversubscribed_sent.as_ref() == Some(&resources) {
                return;
            }
            st.oversubscribed_sent = Some(resources.clone());
        }
        tracing::info!(
            cpus = slack.cpus,
            mem = slack.mem_mb,
            "sending oversubscribed resources to the master"
        );
        self.link.send_call(FromAgent::UpdateSlave {
            oversubscribed_resources: resources,
        });
    }

    fn running_command_tasks(&self) -> Vec<Seen> {
        let st = self.lock();
        st.tasks
            .iter()
            .filter(|(_, t)| t.executor_id.is_none() && t.launched && !t.state.is_terminal())
            .map(|(k, t)| {
                let res = Resources::from_list(&t.info.resources);
                Seen {
                    key: k.clone(),
                    kind: t.kind,
                    container_id: t.container_id.clone(),
                    revocable: is_revocable(&t.info),
                    cpus: res.scalar("cpus"),
                    mem: res.scalar("mem"),
                }
            })
            .collect()
    }

    /// Evict a revocable task: kill it; its terminal update says it was preempted.
    pub(super) fn preempt(&self, key: &(FrameworkID, TaskID)) {
        tracing::warn!(
            framework_id = %key.0, task_id = %key.1,
            "QoS correction: evicting a revocable task, a regular task is starved of CPU"
        );
        self.lock().preempted.insert(key.clone());
        self.kill_task(&key.0, &key.1, None);
    }
}

/// The terminal update of a preempted task, as Mesos sends it: `TASK_GONE` to
/// partition-aware frameworks, `TASK_LOST` to others, reason `REASON_CONTAINER_PREEMPTED`.
pub(crate) fn preempted_status(s: &mut TaskStatus, partition_aware: bool) {
    s.state = if partition_aware {
        TaskState::TASK_GONE
    } else {
        TaskState::TASK_LOST
    };
    s.reason = Some(Reason::REASON_CONTAINER_PREEMPTED);
    s.message = Some(PREEMPTED_MESSAGE.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preempted_task_ends_gone_or_lost_with_mesos_reason_and_message() {
        for (aware, state) in [(true, TaskState::TASK_GONE), (false, TaskState::TASK_LOST)] {
            let mut s = TaskStatus::new(TaskID::new("t"), TaskState::TASK_KILLED);
            preempted_status(&mut s, aware);
            assert_eq!(s.state, state);
            assert_eq!(s.reason, Some(Reason::REASON_CONTAINER_PREEMPTED));
            assert_eq!(s.message.as_deref(), Some(PREEMPTED_MESSAGE));
        }
    }
}
