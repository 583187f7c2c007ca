//! What the master says to the agent and what the agent tells it when it registers: the agent's
//! side of [`Registrant`], the one way the master connection (`link`) reaches the agent.

use super::{frame, Agent};
use crate::link::{Registrant, Registration};
use drover_api::agent_protocol::{ReportedTask, StatusUpdate, ToAgent};
use drover_api::executor as ex;
use drover_api::*;
use std::collections::HashSet;
use std::sync::Arc;

impl Agent {
    /// Keep the master's new set of reservations and volumes (making and removing volume
    /// directories). A set that cannot be written is logged and not taken: the master sends the
    /// whole set again with its next change, and the agent reports what it has at registration.
    fn checkpoint_resources(&self, resources: Vec<Resource>) {
        let mut st = self.lock();
        match crate::volumes::store(
            &self.cfg.work_dir,
            &self.cfg.meta_dir(),
            &st.checkpointed,
            &resources,
        ) {
            Ok(()) => st.checkpointed = resources,
            Err(e) => tracing::error!("checkpointing resources: {e}"),
        }
    }

    /// Handle one message from the master.
    pub(crate) fn on_master_message(&self, msg: ToAgent) {
        match msg {
            ToAgent::Registered { .. } | ToAgent::Ping => {}
            ToAgent::CheckpointResources { resources } => self.checkpoint_resources(resources),
            ToAgent::Shutdown { message } => self.shut_down(&message),
            ToAgent::RunTasks {
                framework,
                executor,
                tasks,
            } => self.run_tasks(framework, executor, tasks),
            ToAgent::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(&framework_id, &task_id, kill_policy),
            ToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledge(&framework_id, &task_id, uuid.as_deref().unwrap_or_default()),
            ToAgent::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => {
                let st = self.lock();
                if let Some(e) = st.executors.get(&(framework_id, executor_id)) {
                    if let Some(s) = &e.stream {
                        let mut ev = ex::Event::bare(ex::EventType::MESSAGE);
                        ev.message = Some(ex::MessageCall { data });
                        let _ = s.send(frame(&ev));
                    }
                }
            }
            ToAgent::ShutdownExecutor {
                framework_id,
                executor_id,
            } => self.shutdown_executor(&framework_id, &executor_id),
            ToAgent::ShutdownFramework { framework_id } => self.shutdown_framework(&framework_id),
            ToAgent::Reconcile { framework_id, .. } => {
                self.lock().updates.resend_all(Some(&framework_id));
                self.link.flush();
            }
        }
    }

    /// What the master needs to hear when we (re-)register.
    pub(crate) fn report(&self) -> (Vec<ReportedTask>, Vec<FrameworkInfo>) {
        let st = self.lock();
        let tasks = st
            .tasks
            .values()
            .map(|t| {
                let mut task = t.info.clone();
                if let Some(eid) = &t.executor_id {
                    task.executor = st
                        .executors
                        .get(&(t.framework_id.clone(), eid.clone()))
                        .map(|x| x.info.clone());
                }
                ReportedTask {
                    framework_id: t.framework_id.clone(),
                    task,
                    state: t.state,
                    executor_id: t.executor_id.clone(),
                }
            })
            .collect();
        let fids: HashSet<&FrameworkID> = st.tasks.values().map(|t| &t.framework_id).collect();
        let frameworks = st
            .frameworks
            .iter()
            .filter(|(k, _)| fids.contains(k))
            .map(|(_, v)| v.clone())
            .collect();
        (tasks, frameworks)
    }
}

impl Agent {
    /// The master shut this agent down (Mesos' ShutdownMessage): launch nothing more and let
    /// whoever runs the agent know, so it stops every task and ends.
    pub(crate) fn shut_down(&self, why: &str) {
        tracing::error!("the master shut this agent down: {why}");
        self.shutdown.send_replace(Some(why.to_string()));
    }

    /// Resolves with the reason once the master has shut this agent down.
    pub async fn shut_down_by_master(&self) -> String {
        let mut rx = self.shutdown.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Registrant for Agent {
    fn registration(&self) -> Registration {
        let (tasks, frameworks) = self.report();
        let st = self.lock();
        Registration {
            agent_info: st.info.clone(),
            agent_id: st.id.clone(),
            tasks,
            frameworks,
            checkpointed_resources: st.checkpointed.clone(),
        }
    }

    fn registered(&self, agent_id: AgentID, master: &str) {
        if let Err(e) = crate::checkpoint::write_agent_id(&self.cfg.meta_dir(), &agent_id) {
            tracing::error!("checkpointing agent id: {e}");
        }
        let mut st = self.lock();
        st.id = Some(agent_id);
        st.registered = true;
        st.master = Some(master.to_string());
        // A (new) master has heard no estimate from us yet.
        st.oversubscribed_sent = None;
        st.updates.resend_all(None);
    }

    fn unregistered(&self) {
        self.lock().registered = false;
    }

    fn on_master_message(&self, msg: ToAgent) {
        Agent::on_master_message(self, msg)
    }

    fn refused_for_good(&self, why: &str) {
        self.shut_down(why)
    }

    fn due_updates(&self, now: f64) -> Option<(AgentID, Vec<Arc<StatusUpdate>>)> {
        let mut st = self.lock();
        let id = st.id.clone().filter(|_| st.registered)?;
        Some((id, st.updates.due(now)))
    }
}
