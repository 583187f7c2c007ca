//! The `docker` containerizer: command tasks whose `container.type` is `DOCKER` run as Docker
//! Engine containers, driven through the Engine's HTTP API on its unix socket (bollard), never
//! through the `docker` CLI. This module holds the connection, the containers it tracks and the
//! images it has seen; `spec` builds a container from a task (pure), `error` says why a launch
//! failed (the Engine not answering, a container info that is not valid), `run` launches, waits
//! for and kills containers (the [`Containerizer`](crate::containerizer::Containerizer)
//! implementation), `logs` copies their output into the sandbox, `recover` takes them back
//! after a restart and sweeps up at the end, `stats` reads their usage.
//!
//! - A container is named `drover-<container id>` and labelled with the agent id, framework id,
//!   task id, container id and the agent's work dir ([`LABEL_AGENT`] …). Recovery finds its
//!   containers by these labels; containers labelled for this agent whose task it does not run
//!   (any more) are orphans and are removed.
//! - What runs: `TaskInfo.command` (`shell` → `/bin/sh -c value` as the image's command;
//!   `shell: false` → the image's entrypoint with `value` and `arguments`), the environment the
//!   agent gives command tasks (with `MESOS_SANDBOX=/mnt/mesos/sandbox`, where the sandbox is
//!   mounted, and the image's own `PATH`), cpu shares and CFS quota and a hard memory limit from
//!   the task's resources.
//! - stdout/stderr are copied from the Engine's log stream into the sandbox's `stdout`/`stderr`
//!   as they come; where the copy got to is checkpointed (`meta/docker/`) so a restarted agent
//!   carries on without repeating.
//! - The exit's status, the Engine's OOM verdict and its error become the task's terminal
//!   update (the agent words it as Mesos' docker executor does: `Container exited with status N`).
//! - Kill: SIGTERM, then SIGKILL once the task's kill grace period is over.

pub(crate) mod error;
mod logs;
mod recover;
mod run;
mod spec;
mod stats;

pub use error::EngineError;

use crate::containerizer::LaunchError;
use bollard::errors::Error as DockerError;
use bollard::query_parameters as qp;
use bollard::Docker;
use futures_util::StreamExt;
use spec::split_image;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the task's sandbox appears inside its container (as in Mesos).
pub(crate) const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";
pub(crate) const LABEL_AGENT: &str = "drover.agent_id";
pub(crate) const LABEL_FRAMEWORK: &str = "drover.framework_id";
pub(crate) const LABEL_TASK: &str = "drover.task_id";
pub(crate) const LABEL_CONTAINER: &str = "drover.container_id";
pub(crate) const LABEL_WORK_DIR: &str = "drover.work_dir";

/// The `docker` containerizer's settings (`--containerizers docker,process`).
#[derive(Clone, Debug)]
pub struct DockerConfig {
    /// The Engine's unix socket.
    pub socket: String,
    /// Let tasks ask for `docker.privileged` (`--docker-allow-privileged`).
    pub allow_privileged: bool,
}

impl DockerConfig {
    /// `$DOCKER_HOST` when it is a `unix://` address, else `/var/run/docker.sock`.
    pub fn default_socket() -> String {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into())
    }
}

/// Ask the Engine at `socket` who it is (for `drover up`): its version, or why it did not answer.
pub async fn probe(socket: &str) -> Result<String, EngineError> {
    let d = Engine::new(
        DockerConfig {
            socket: socket.into(),
            allow_privileged: false,
        },
        Path::new(""),
    );
    let client = tokio::time::timeout(Duration::from_secs(3), d.client())
        .await
        .map_err(|_| EngineError::Silent {
            socket: socket.into(),
        })??;
    let v = client.version().await.map_err(|e| d.unreachable(&e))?;
    Ok(format!(
        "Docker Engine {} (API {})",
        v.version.unwrap_or_default(),
        v.api_version.unwrap_or_default()
    ))
}

/// One task's container as the containerizer tracks it, from its launch (or recovery) until it
/// is destroyed.
struct Slot {
    /// The task's sandbox on this machine, where its output goes.
    sandbox: PathBuf,
    /// Started (or found running after a restart): kills and usage reach it.
    running: AtomicBool,
}

/// The `docker` containerizer. Cheap to clone: its state is shared with the tasks it spawns
/// (a kill's grace period, output copying).
#[derive(Clone)]
pub(crate) struct DockerContainerizer {
    engine: Arc<Engine>,
}

impl DockerContainerizer {
    /// Containers are labelled with `work_dir`; their log cursors go under `work_dir/meta`.
    pub(crate) fn new(cfg: DockerConfig, work_dir: &Path) -> DockerContainerizer {
        DockerContainerizer {
            engine: Arc::new(Engine::new(cfg, work_dir)),
        }
    }
}

struct Engine {
    cfg: DockerConfig,
    /// The agent's work dir, as the containers' label gives it.
    work_dir: String,
    /// Where log cursors are checkpointed.
    meta_dir: PathBuf,
    /// The agent's id, once known (a label of its containers).
    agent_id: Mutex<Option<String>>,
    /// Connected and version-negotiated client; made on first use, so an Engine that is down
    /// when the agent starts is picked up when it returns.
    client: tokio::sync::Mutex<Option<Docker>>,
    /// Containers of live tasks, by container id.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Images seen present on the Engine: a launch from one of them skips the inspect round
    /// trip. An image removed behind the agent's back shows as "No such image" at create, which
    /// forgets it and takes the normal path (inspect, pull) once more.
    images: Mutex<HashSet<String>>,
}

pub(crate) fn container_name(cid: &str) -> String {
    format!("drover-{cid}")
}

impl Engine {
    fn new(cfg: DockerConfig, work_dir: &Path) -> Engine {
        Engine {
            cfg,
            work_dir: work_dir.display().to_string(),
            meta_dir: work_dir.join("meta"),
            agent_id: Mutex::new(None),
            client: tokio::sync::Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            images: Mutex::new(HashSet::new()),
        }
    }

    fn unreachable(&self, e: &DockerError) -> EngineError {
        EngineError::Unreachable {
            socket: self.cfg.socket.clone(),
            why: e.to_string(),
        }
    }

    fn set_agent_id(&self, id: Option<&str>) {
        if let Some(id) = id.filter(|i| !i.is_empty()) {
            *self.agent_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.to_string());
        }
    }

    /// The client, connecting and negotiating the API version first if need be.
    async fn client(&self) -> Result<Docker, EngineError> {
        let mut c = self.client.lock().await;
        if let Some(d) = c.as_ref() {
            return Ok(d.clone());
        }
        let d = Docker::connect_with_unix(&self.cfg.socket, 60, bollard::API_DEFAULT_VERSION)
            .map_err(|e| self.unreachable(&e))?;
        let d = d
            .negotiate_version()
            .await
            .map_err(|e| self.unreachable(&e))?;
        tracing::info!(socket = %self.cfg.socket, api = %d.client_version(), "connected to the Docker Engine");
        *c = Some(d.clone());
        Ok(d)
    }

    fn slot(&self, cid: &str) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(cid)
            .cloned()
    }

    fn add_slot(&self, cid: &str, sandbox: &Path) -> Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(cid.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    sandbox: sandbox.to_path_buf(),
                    running: AtomicBool::new(false),
                })
            })
            .clone()
    }

    fn forget(&self, cid: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cid);
    }

    fn is_running(&self, cid: &str) -> bool {
        self.slot(cid)
            .map(|s| s.running.load(Ordering::SeqCst))
            .unwrap_or(false)
    }

    fn image_known(&self, image: &str, known: bool) {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if known {
            images.insert(image.to_string());
        } else {
            images.remove(image);
        }
    }

    /// Use the local image, or pull it (always, with `force_pull`).
    async fn ensure_image(
        &self,
        docker: &Docker,
        image: &str,
        force_pull: bool,
    ) -> Result<(), LaunchError> {
        if !force_pull {
            let known = self
                .images
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(image);
            if known {
                return Ok(());
            }
            match docker.inspect_image(image).await {
                Ok(_) => {
                    self.image_known(image, true);
                    return Ok(());
                }
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    let why = if is_connection_error(&e) {
                        self.unreachable(&e).to_string()
                    } else {
                        e.to_string()
                    };
                    return Err(LaunchError::LookUpImage {
                        image: image.into(),
                        why,
                    });
                }
            }
        }
        let (repo, tag) = split_image(image);
        let opts = qp::CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        let started = Instant::now();
        let mut pull = docker.create_image(Some(opts), None, None);
        while let Some(item) = pull.next().await {
            if let Err(e) = item {
                let why = match &e {
                    DockerError::DockerResponseServerError { message, .. } => message.clone(),
                    DockerError::DockerStreamError { error } => error.clone(),
                    e if is_connection_error(e) => self.unreachable(e).to_string(),
                    e => e.to_string(),
                };
                return Err(LaunchError::PullImage {
                    image: image.into(),
                    why,
                });
            }
        }
        tracing::info!(
            image,
            "pulled image in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        self.image_known(image, true);
        Ok(())
    }

    /// SIGTERM, then SIGKILL if the container still runs after `grace`.
    async fn stop(&self, cid: &str, grace: Duration) {
        let Ok(docker) = self.client().await else {
            return;
        };
        let name = container_name(cid);
        let term = qp::KillContainerOptions {
            signal: "SIGTERM".into(),
        };
        if let Err(e) = docker.kill_container(&name, Some(term)).await {
            tracing::debug!(container = %name, "SIGTERM: {e}");
        }
        let exited = tokio::time::timeout(grace, wait_not_running(&docker, &name))
            .await
            .is_ok();
        if exited {
            return;
        }
        self.signal(&docker, &name, "SIGKILL").await;
    }

    /// Send `signal` to the container, retrying for a minute while the Engine fails (not when
    /// the container is gone or stopped).
    async fn signal(&self, docker: &Docker, name: &str, signal: &str) {
        for _ in 0..60 {
            match docker
                .kill_container(
                    name,
                    Some(qp::KillContainerOptions {
                        signal: signal.into(),
                    }),
                )
                .await
            {
                Ok(()) => return,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404 | 409,
                    ..
                }) => return,
                Err(e) => {
                    tracing::warn!(container = %name, "{signal} failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Containers this agent launched: labelled with its id or its work dir.
    async fn list_ours(
        &self,
        docker: &Docker,
    ) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        let agent_id = self
            .agent_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let work_dir = &self.work_dir;
        let filters = HashMap::from([("label".to_string(), vec![LABEL_CONTAINER.to_string()])]);
        let all = docker
            .list_containers(Some(qp::ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        Ok(all
            .into_iter()
            .filter(|c| {
                let labels = c.labels.clone().unwrap_or_default();
                labels.get(LABEL_WORK_DIR) == Some(work_dir)
                    || (agent_id.is_some() && labels.get(LABEL_AGENT) == agent_id.as_ref())
            })
            .collect())
    }
}

fn is_connection_error(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::HyperLegacyError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
            | DockerError::RequestTimeoutError
            | DockerError::HyperResponseError { .. }
    )
}

async fn wait_not_running(docker: &Docker, name: &str) {
    let mut s = docker.wait_container(
        name,
        Some(qp::WaitContainerOptions {
            condition: "not-running".into(),
        }),
    );
    let _ = s.next().await;
}
