//! Launching, waiting for, killing and removing containers: the docker containerizer's side of
//! the [`Containerizer`] trait.

use super::logs::copy_logs;
use super::spec::build_spec;
use super::{
    container_name, is_connection_error, DockerContainerizer, Engine, LABEL_AGENT, LABEL_CONTAINER,
    LABEL_FRAMEWORK, LABEL_TASK, LABEL_WORK_DIR,
};
use crate::containerizer::{
    Containerizer, End, Exit, Known, Launch, LaunchError, Launching, Recovered, Started, Stop,
    Usage,
};
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerState, ContainerStateStatusEnum};
use bollard::query_parameters as qp;
use bollard::Docker;
use drover_api::AgentID;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long a finished container's remaining output may take to arrive.
const LOG_DRAIN: Duration = Duration::from_secs(5);

impl Engine {
    /// Make and start the task's container; once it runs, the launch is done.
    async fn launch(&self, l: Launch, launching: &dyn Launching) -> Result<Started, LaunchError> {
        let Some(t) = l.task else {
            return Err(LaunchError::NotACommandTask);
        };
        let cid = l.container_id;
        self.set_agent_id(Some(&l.agent_id.value));
        let labels = HashMap::from([
            (LABEL_AGENT.to_string(), l.agent_id.value.clone()),
            (LABEL_FRAMEWORK.to_string(), l.framework_id.value.clone()),
            (LABEL_TASK.to_string(), t.task_id.value.clone()),
            (LABEL_CONTAINER.to_string(), cid.clone()),
            (LABEL_WORK_DIR.to_string(), self.work_dir.clone()),
        ]);
        let work_dir = std::path::PathBuf::from(&self.work_dir);
        let spec = build_spec(
            &t,
            &l.env,
            &l.sandbox,
            &work_dir,
            labels,
            self.cfg.allow_privileged,
        )?;
        launching.starting();
        let started = Instant::now();
        let docker = self.client().await?;
        self.ensure_image(&docker, &spec.image, spec.force_pull)
            .await?;
        let t_image = started.elapsed();
        let slot = self.add_slot(&cid, &l.sandbox);
        let name = container_name(&cid);
        let create = || {
            let opts = qp::CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            };
            docker.create_container(Some(opts), spec.body.clone())
        };
        let mut created = create().await;
        if let Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) = &created
        {
            // The image went away since it was seen (a `docker rmi`): look it up, or pull it,
            // again.
            self.image_known(&spec.image, false);
            if let Err(e) = self.ensure_image(&docker, &spec.image, false).await {
                self.forget(&cid);
                return Err(e);
            }
            created = create().await;
        }
        if let Err(e) = created {
            self.forget(&cid);
            let why = match &e {
                DockerError::DockerResponseServerError { message, .. } => message.clone(),
                e if is_connection_error(e) => self.unreachable(e).to_string(),
                e => e.to_string(),
            };
            return Err(LaunchError::Create {
                image: spec.image,
                why,
            });
        }
        let t_create = started.elapsed();
        let remove = qp::RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if !launching.proceed() {
            let _ = docker.remove_container(&name, Some(remove)).await;
            self.forget(&cid);
            return Err(LaunchError::Killed);
        }
        if let Err(e) = docker
            .start_container(&name, None::<qp::StartContainerOptions>)
            .await
        {
            let _ = docker.remove_container(&name, Some(remove)).await;
            self.forget(&cid);
            let why = match &e {
                DockerError::DockerResponseServerError { message, .. } => message.clone(),
                e => e.to_string(),
            };
            return Err(LaunchError::Start {
                image: spec.image,
                why,
            });
        }
        slot.running.store(true, Ordering::SeqCst);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        tracing::info!(
            task_id = %t.task_id,
            container = %name,
            "container running {:.1} ms after TASK_STARTING (image ready at {:.1}, created at {:.1})",
            ms(started.elapsed()),
            ms(t_image),
            ms(t_create)
        );
        Ok(Started::default())
    }

    /// Follow a started container to its end: copy its output into the sandbox, wait for it to
    /// stop, say how it ended.
    async fn wait(&self, cid: &str) -> Exit {
        let Some(slot) = self.slot(cid) else {
            return Exit::of(End::Lost);
        };
        let docker = self.client_until_it_answers().await;
        let name = container_name(cid);
        let logs = tokio::spawn(copy_logs(
            docker.clone(),
            name.clone(),
            slot.sandbox.clone(),
            self.meta_dir.clone(),
            cid.to_string(),
        ));
        let state = wait_exit(&docker, &name).await;
        let abort = logs.abort_handle();
        if tokio::time::timeout(LOG_DRAIN, logs).await.is_err() {
            tracing::warn!(container = %name, "output still flowing {} s after the container stopped; not waiting", LOG_DRAIN.as_secs());
            abort.abort();
        }
        slot.running.store(false, Ordering::SeqCst);
        let Some(s) = state else {
            tracing::info!(container = %name, "the container is gone");
            return Exit::of(End::Vanished);
        };
        let code = s.exit_code.unwrap_or(-1);
        tracing::info!(container = %name, oom_killed = s.oom_killed == Some(true), "container exited with status {code}");
        Exit {
            end: End::Code(code),
            oom: s.oom_killed == Some(true),
            error: s.error.filter(|e| !e.is_empty()),
        }
    }

    /// The client; while the Engine is away, try again every 2 s.
    async fn client_until_it_answers(&self) -> Docker {
        let mut warned = false;
        loop {
            match self.client().await {
                Ok(c) => return c,
                Err(e) => {
                    if !warned {
                        tracing::warn!("waiting for the Docker Engine: {e}");
                        warned = true;
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    /// Its output is in the sandbox and its end is recorded: the container can go.
    async fn destroy(&self, cid: &str) {
        if self.slot(cid).is_none() {
            return;
        }
        let name = container_name(cid);
        let remove = qp::RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.client().await {
            Ok(docker) => {
                if let Err(e) = docker.remove_container(&name, Some(remove)).await {
                    tracing::warn!(container = %name, "could not remove the container: {e}");
                }
            }
            Err(e) => tracing::warn!(container = %name, "could not remove the container: {e}"),
        }
        self.forget(cid);
        crate::checkpoint::remove_docker_log_cursor(&self.meta_dir, cid);
    }
}

/// Wait until the container no longer runs; its final state, or `None` if it vanished. Rides out
/// an Engine that goes away for a while.
async fn wait_exit(docker: &Docker, name: &str) -> Option<ContainerState> {
    let mut backoff = Duration::from_millis(250);
    loop {
        let r = {
            let mut s = docker.wait_container(
                name,
                Some(qp::WaitContainerOptions {
                    condition: "not-running".into(),
                }),
            );
            s.next().await
        };
        match r {
            Some(Ok(_)) | Some(Err(DockerError::DockerContainerWaitError { .. })) => {}
            Some(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => return None,
            Some(Err(e)) => {
                tracing::warn!(container = %name, "waiting for the container: {e}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            None => tokio::time::sleep(backoff).await,
        }
        match docker
            .inspect_container(name, None::<qp::InspectContainerOptions>)
            .await
        {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                let live = s.running == Some(true)
                    || matches!(
                        s.status,
                        Some(
                            ContainerStateStatusEnum::RUNNING
                                | ContainerStateStatusEnum::RESTARTING
                                | ContainerStateStatusEnum::PAUSED
                        )
                    );
                if !live {
                    return Some(s);
                }
            }
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => return None,
            Err(e) => tracing::debug!(container = %name, "inspect: {e}"),
        }
    }
}

impl Containerizer for DockerContainerizer {
    fn launch<'a>(
        &'a self,
        launch: Launch,
        launching: &'a dyn Launching,
    ) -> BoxFuture<'a, Result<Started, LaunchError>> {
        Box::pin(self.engine.launch(launch, launching))
    }

    fn wait<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Exit> {
        Box::pin(self.engine.wait(container_id))
    }

    fn kill(&self, container_id: &str, stop: Stop) {
        if !self.engine.is_running(container_id) {
            return;
        }
        let engine = self.engine.clone();
        let cid = container_id.to_string();
        tokio::spawn(async move {
            match stop {
                Stop::Graceful(grace) => engine.stop(&cid, grace).await,
                Stop::Term | Stop::Kill => {
                    let Ok(docker) = engine.client().await else {
                        return;
                    };
                    let signal = if stop == Stop::Kill {
                        "SIGKILL"
                    } else {
                        "SIGTERM"
                    };
                    engine.signal(&docker, &container_name(&cid), signal).await
                }
            }
        });
    }

    fn usage<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Option<Usage>> {
        Box::pin(self.engine.usage(container_id))
    }

    fn recover<'a>(
        &'a self,
        agent_id: Option<&'a AgentID>,
        containers: Vec<Known>,
    ) -> BoxFuture<'a, Vec<Recovered>> {
        Box::pin(self.engine.recover(agent_id, containers))
    }

    fn destroy<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.engine.destroy(container_id))
    }

    fn shutdown(&self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.engine.remove_all(grace))
    }
}
