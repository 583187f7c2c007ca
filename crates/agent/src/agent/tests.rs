//! The agent's task logic driven with recording fakes of its containerizers: no root, no
//! cgroups, no Engine, no master. A test sends what the master would, says how containers go
//! (the fakes), and reads the status updates the agent queued and the calls it made.

use super::{Agent, Containerizers, Parts};
use crate::containerizer::{End, Exit, Kind, LaunchError, Stop, Usage};
use crate::fake::{Call, Fake};
use crate::link::Link;
use crate::AgentConfig;
use drover_api::agent_protocol::{FromAgent, ToAgent};
use drover_api::*;
use std::sync::Arc;
use std::time::Duration;

mod metrics;
mod qos;

struct Harness {
    agent: Arc<Agent>,
    process: Arc<Fake>,
    docker: Option<Arc<Fake>>,
    link: Arc<Link>,
    dir: Arc<tempfile::TempDir>,
}

fn config(dir: &std::path::Path) -> AgentConfig {
    AgentConfig {
        master: "127.0.0.1:1".into(),
        work_dir: dir.to_path_buf(),
        advertise_ip: "127.0.0.1".into(),
        hostname: "test-host".into(),
        port: 5051,
        resources: Resources::parse("cpus:4;mem:4096").unwrap(),
        attributes: vec![],
        default_kill_grace_secs: 5.0,
        executor_shutdown_grace_secs: 5.0,
        executor_registration_timeout_secs: 60.0,
        fetch_max_bytes: 1 << 20,
        max_body_bytes: 1 << 20,
        cgroups: false,
        cgroups_enable_cfs: false,
        switch_user: false,
        docker: None,
        oversubscription: None,
    }
}

/// An agent over `dir` (a new one, or one an earlier agent ran in: a restart).
fn agent_in(dir: Arc<tempfile::TempDir>, with_docker: bool) -> Harness {
    let cfg = config(dir.path());
    std::fs::create_dir_all(cfg.meta_dir()).unwrap();
    let process = Arc::new(Fake::default());
    let docker = with_docker.then(|| Arc::new(Fake::default()));
    let link = Arc::new(Link::new(cfg.master.clone()));
    let parts = Parts {
        containerizers: Containerizers {
            process: process.clone(),
            docker: docker
                .clone()
                .map(|d| d as Arc<dyn crate::containerizer::Containerizer>),
        },
        isolation: "none (test)".into(),
        fetcher: crate::fetcher::Fetcher {
            cache_dir: dir.path().join("fetch-cache"),
            max_bytes: 1 << 20,
            http: drover_httpclient::builder().build().unwrap(),
        },
        journal: crate::checkpoint::TaskJournal::open(&cfg.meta_dir()).unwrap(),
        link: link.clone(),
        id: Some(AgentID::new("agent-1")),
        info: AgentInfo {
            hostname: "test-host".into(),
            port: Some(5051),
            resources: vec![],
            attributes: vec![],
            id: None,
        },
    };
    Harness {
        agent: Agent::new(cfg, parts),
        process,
        docker,
        link,
        dir,
    }
}

fn agent() -> Harness {
    agent_in(Arc::new(tempfile::tempdir().unwrap()), false)
}

fn fid() -> FrameworkID {
    FrameworkID::new("fw-1")
}

fn framework(capabilities: &[&str]) -> FrameworkInfo {
    FrameworkInfo {
        name: "test".into(),
        id: Some(fid()),
        capabilities: capabilities
            .iter()
            .map(|c| Capability {
                kind: c.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

fn task(id: &str, cmd: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: AgentID::new("agent-1"),
        resources: vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 64.0)],
        executor: None,
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        container: None,
        health_check: None,
        check: None,
        kill_policy: None,
        data: None,
        labels: None,
        discovery: None,
        max_completion_time: None,
    }
}

fn docker_task(id: &str) -> TaskInfo {
    TaskInfo {
        container: Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "busybox"}})),
        ..task(id, "echo hi")
    }
}

fn grace(secs: f64) -> KillPolicy {
    KillPolicy {
        grace_period: Some(DurationInfo {
            nanoseconds: (secs * 1e9) as u64,
        }),
    }
}

type Seen = (TaskState, Option<String>, Option<Reason>);

fn seen(state: TaskState, message: &str, reason: Option<Reason>) -> Seen {
    let message = (!message.is_empty()).then(|| message.to_string());
    (state, message, reason)
}

fn running() -> Vec<Seen> {
    vec![
        seen(TaskState::TASK_STARTING, "", None),
        seen(TaskState::TASK_RUNNING, "", None),
    ]
}

impl Harness {
    fn run(&self, fw: FrameworkInfo, tasks: Vec<TaskInfo>) {
        self.agent.on_master_message(ToAgent::RunTasks {
            framework: fw,
            executor: None,
            tasks,
        });
    }

    fn kill(&self, tid: &str, policy: Option<KillPolicy>) {
        self.agent.on_master_message(ToAgent::KillTask {
            framework_id: fid(),
            task_id: TaskID::new(tid),
            kill_policy: policy,
        });
    }

    fn cid(&self, tid: &str) -> String {
        self.agent.lock().tasks[&(fid(), TaskID::new(tid))]
            .container_id
            .clone()
    }

    /// The task's updates the agent queued, none acknowledged.
    fn updates(&self, tid: &str) -> Vec<Seen> {
        let st = self.agent.lock();
        st.updates
            .pending(&fid(), &TaskID::new(tid))
            .into_iter()
            .map(|u| (u.status.state, u.status.message.clone(), u.status.reason))
            .collect()
    }

    fn state(&self, tid: &str) -> Option<TaskState> {
        let st = self.agent.lock();
        st.tasks.get(&(fid(), TaskID::new(tid))).map(|t| t.state)
    }

    /// Acknowledge every update of the task, in order, as the framework would.
    fn acknowledge_all(&self, tid: &str) {
        loop {
            let uuid = {
                let st = self.agent.lock();
                let pending = st.updates.pending(&fid(), &TaskID::new(tid));
                match pending.first() {
                    Some(u) => u.status.uuid.clone(),
                    None => return,
                }
            };
            self.agent.on_master_message(ToAgent::Acknowledge {
                framework_id: fid(),
                task_id: TaskID::new(tid),
                uuid,
            });
        }
    }
}

/// Let the agent's spawned work run until `done` holds. The fakes do no I/O: every step is a
/// wakeup away, so this takes a bounded number of turns of the (single-threaded) runtime.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_command_task_starts_runs_and_its_exit_becomes_its_update() {
    let h = agent();
    h.run(
        framework(&[]),
        vec![task("ok", "echo hi"), task("bad", "exit 3")],
    );
    until("both running", || {
        h.updates("ok") == running() && h.updates("bad") == running()
    })
    .await;
    let launches = h.process.launches();
    let ok = launches
        .iter()
        .find(|l| l.container_id == h.cid("ok"))
        .expect("ok was launched");
    assert_eq!(ok.argv, ["/bin/sh", "-c", "echo hi"]);
    assert!(ok.env.contains(&("MESOS_TASK_ID".into(), "ok".into())));
    assert!(ok
        .sandbox
        .starts_with(h.dir.path().join("slaves/agent-1/frameworks/fw-1")));
    assert!(ok.sandbox.is_dir(), "the sandbox is made before the launch");
    let limits = ok.limits.expect("limits from the resources");
    assert_eq!((limits.cpus, limits.mem_mb), (0.5, 64.0));
    assert_eq!(
        ok.task.as_ref().map(|t| &t.task_id),
        Some(&TaskID::new("ok"))
    );
    let pid = h.agent.lock().tasks[&(fid(), TaskID::new("ok"))].pid;
    assert!(pid.is_some(), "the process is recorded (and checkpointed)");

    let (ok_cid, bad_cid) = (h.cid("ok"), h.cid("bad"));
    h.process.exit(&ok_cid, Exit::of(End::Code(0)));
    h.process.exit(&bad_cid, Exit::of(End::Code(3)));
    until("both ended", || {
        h.updates("ok").len() == 3 && h.updates("bad").len() == 3
    })
    .await;
    assert_eq!(
        h.updates("ok")[2],
        seen(
            TaskState::TASK_FINISHED,
            "Command exited with status 0",
            None
        )
    );
    assert_eq!(
        h.updates("bad")[2],
        seen(TaskState::TASK_FAILED, "Command exited with status 3", None)
    );
    until("the containers destroyed", || {
        let calls = h.process.calls();
        calls.contains(&Call::Destroy(ok_cid.clone()))
            && calls.contains(&Call::Destroy(bad_cid.clone()))
    })
    .await;
    // Acknowledged, a finished task leaves the live set for the completed one.
    h.acknowledge_all("ok");
    assert_eq!(h.state("ok"), None);
    let st = h.agent.lock();
    assert_eq!(st.completed.len(), 1);
    assert_eq!(st.completed[0].state, TaskState::TASK_FINISHED);
}

#[tokio::test]
async fn an_oom_kill_is_a_memory_limitation_and_a_failed_launch_fails_the_task() {
    let h = agent();
    h.process.fail_next_launch(LaunchError::Spawn(
        crate::process::error::SpawnError::NoSuchUser("nobody-here".into()),
    ));
    h.run(framework(&[]), vec![task("a", "true")]);
    until("a failed", || h.updates("a").len() == 2).await;
    assert_eq!(
        h.updates("a"),
        vec![
            seen(TaskState::TASK_STARTING, "", None),
            seen(
                TaskState::TASK_FAILED,
                "Failed to launch container: user 'nobody-here' does not exist on this agent",
                Some(Reason::REASON_CONTAINER_LAUNCH_FAILED)
            ),
        ]
    );
    let cid = h.cid("a");
    assert_eq!(
        h.process.calls(),
        [Call::Launch(cid.clone()), Call::Destroy(cid)],
        "what a failed launch holds goes; nothing is waited for"
    );

    h.run(framework(&[]), vec![task("hog", "eat memory")]);
    until("hog running", || h.updates("hog") == running()).await;
    h.process.exit(
        &h.cid("hog"),
        Exit {
            end: End::Signal(9),
            oom: true,
            error: None,
        },
    );
    until("hog ended", || h.updates("hog").len() == 3).await;
    assert_eq!(
        h.updates("hog")[2],
        seen(
            TaskState::TASK_FAILED,
            "Memory limit exceeded: the task was OOM-killed",
            Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY)
        )
    );
}

#[tokio::test]
async fn a_kill_stops_a_running_task_with_its_grace_period() {
    let h = agent();
    h.run(
        framework(&["TASK_KILLING_STATE"]),
        vec![task("a", "sleep 100"), task("b", "sleep 100")],
    );
    until("running", || {
        h.updates("a") == running() && h.updates("b") == running()
    })
    .await;
    let (a, b) = (h.cid("a"), h.cid("b"));
    h.kill("a", Some(grace(3.0)));
    // Without a policy in the kill: the agent's default grace period.
    h.kill("b", None);
    let calls = h.process.calls();
    assert!(
        calls.contains(&Call::Kill(
            a.clone(),
            Stop::Graceful(Duration::from_secs(3))
        )),
        "{calls:?}"
    );
    assert!(
        calls.contains(&Call::Kill(
            b.clone(),
            Stop::Graceful(Duration::from_secs(5))
        )),
        "{calls:?}"
    );
    assert_eq!(
        h.updates("a")[2],
        seen(TaskState::TASK_KILLING, "Killing the task", None),
        "a framework that takes TASK_KILLING hears it"
    );
    h.process.exit(&a, Exit::of(End::Signal(15)));
    h.process.exit(&b, Exit::of(End::Code(0)));
    until("ended", || {
        h.updates("a").len() == 4 && h.updates("b").len() == 4
    })
    .await;
    assert_eq!(
        h.updates("a")[3],
        seen(
            TaskState::TASK_KILLED,
            "Command terminated with signal Terminated",
            None
        )
    );
    assert_eq!(
        h.updates("b")[3],
        seen(TaskState::TASK_KILLED, "Command exited with status 0", None),
        "a task that ends on its own after a kill was killed"
    );

    // A framework without TASK_KILLING_STATE does not hear it; a second kill is no news.
    let fw = FrameworkInfo {
        id: Some(fid()),
        ..framework(&[])
    };
    h.run(fw, vec![task("c", "sleep 100")]);
    until("c running", || h.updates("c") == running()).await;
    h.kill("c", None);
    assert_eq!(h.updates("c"), running());
    h.process.exit(&h.cid("c"), Exit::of(End::Signal(9)));
    until("c ended", || h.updates("c").len() == 3).await;
    assert_eq!(
        h.updates("c")[2],
        seen(
            TaskState::TASK_KILLED,
            "Command terminated with signal Killed",
            None
        )
    );
    h.kill("c", None);
    assert_eq!(h.updates("c").len(), 3, "an ended task is not killed again");
}

#[tokio::test]
async fn a_kill_while_the_process_is_being_started_is_delivered_once_it_runs() {
    let h = agent();
    h.process.hold_launches();
    h.run(
        framework(&["TASK_KILLING_STATE"]),
        vec![task("a", "sleep 100")],
    );
    until("launch under way", || h.updates("a").len() == 1).await;
    let cid = h.cid("a");
    h.kill("a", Some(grace(2.0)));
    assert!(
        !h.process
            .calls()
            .iter()
            .any(|c| matches!(c, Call::Kill(..))),
        "nothing to signal yet"
    );
    h.process.release(&cid);
    until("the kill delivered", || {
        h.process.calls().contains(&Call::Kill(
            cid.clone(),
            Stop::Graceful(Duration::from_secs(2)),
        ))
    })
    .await;
    assert_eq!(
        h.updates("a"),
        vec![
            seen(TaskState::TASK_STARTING, "", None),
            seen(TaskState::TASK_KILLING, "Killing the task", None),
        ],
        "no TASK_RUNNING for a task being killed"
    );
    h.process.exit(&cid, Exit::of(End::Signal(15)));
    until("killed", || h.updates("a").len() == 3).await;
    assert_eq!(h.updates("a")[2].0, TaskState::TASK_KILLED);
}

#[tokio::test]
async fn a_kill_before_the_launch_stops_it_from_starting() {
    let h = agent();
    // The kill comes before the launch's first step runs (this runtime has one thread).
    h.run(framework(&[]), vec![task("a", "sleep 100")]);
    h.kill("a", None);
    until("killed", || h.updates("a").len() == 1).await;
    assert_eq!(
        h.updates("a"),
        vec![seen(
            TaskState::TASK_KILLED,
            "Task killed before it was launched",
            Some(Reason::REASON_TASK_KILLED_DURING_LAUNCH)
        )]
    );
    assert_eq!(h.process.calls(), [], "nothing was launched");
}

#[tokio::test]
async fn a_kill_during_a_docker_launch_removes_the_container_before_it_starts() {
    let h = agent_in(Arc::new(tempfile::tempdir().unwrap()), true);
    let docker = h.docker.clone().unwrap();
    docker.hold_launches();
    docker.ask_proceed();
    h.run(framework(&["TASK_KILLING_STATE"]), vec![docker_task("web")]);
    until("launch under way", || h.updates("web").len() == 1).await;
    let cid = h.cid("web");
    h.kill("web", None);
    docker.release(&cid);
    until("killed", || h.updates("web").len() == 2).await;
    assert_eq!(
        h.updates("web")[1],
        seen(
            TaskState::TASK_KILLED,
            "Task killed before it was launched",
            Some(Reason::REASON_TASK_KILLED_DURING_LAUNCH)
        )
    );
    assert_eq!(
        docker.calls(),
        [Call::Launch(cid.clone()), Call::Destroy(cid)],
        "no signal: the container never ran"
    );
    assert_eq!(
        h.process.calls(),
        [],
        "a DOCKER task never goes to the process containerizer"
    );
}

#[tokio::test]
async fn each_task_keeps_the_containerizer_its_container_type_picked() {
    let h = agent_in(Arc::new(tempfile::tempdir().unwrap()), true);
    let docker = h.docker.clone().unwrap();
    let mesos = TaskInfo {
        container: Some(serde_json::json!({"type": "MESOS"})),
        ..task("m", "true")
    };
    h.run(
        framework(&[]),
        vec![docker_task("d"), task("p", "true"), mesos],
    );
    until("all running", || {
        ["d", "p", "m"].iter().all(|t| h.updates(t) == running())
    })
    .await;
    let kind = |t: &str| h.agent.lock().tasks[&(fid(), TaskID::new(t))].kind;
    assert_eq!(
        (kind("d"), kind("p"), kind("m")),
        (Kind::Docker, Kind::Process, Kind::Process)
    );
    assert_eq!(docker.launches().len(), 1);
    assert_eq!(h.process.launches().len(), 2);
    h.kill("d", None);
    assert!(docker.calls().contains(&Call::Kill(
        h.cid("d"),
        Stop::Graceful(Duration::from_secs(5))
    )));
    docker.exit(
        &h.cid("d"),
        Exit {
            end: End::Code(137),
            oom: false,
            error: None,
        },
    );
    until("d ended", || h.updates("d").len() == 3).await;
    assert_eq!(
        h.updates("d")[2],
        seen(
            TaskState::TASK_KILLED,
            "Container exited with status 137",
            None
        ),
        "in the docker executor's words"
    );

    // An agent without the docker containerizer fails DOCKER tasks and launches nothing.
    let plain = agent();
    plain.run(framework(&[]), vec![docker_task("d")]);
    until("d failed", || plain.updates("d").len() == 1).await;
    let (state, message, reason) = plain.updates("d").remove(0);
    assert_eq!(state, TaskState::TASK_FAILED);
    assert!(message.unwrap().contains("--containerizers docker,process"));
    assert_eq!(reason, Some(Reason::REASON_CONTAINER_LAUNCH_FAILED));
    assert_eq!(plain.process.calls(), []);
}

#[tokio::test]
async fn a_duplicate_launch_is_ignored() {
    let h = agent();
    h.run(framework(&[]), vec![task("a", "sleep 1")]);
    h.run(framework(&[]), vec![task("a", "sleep 1")]);
    until("running", || h.updates("a") == running()).await;
    assert_eq!(h.process.launches().len(), 1);
}

#[tokio::test]
async fn launches_are_refused_while_the_agent_stops_and_the_stop_waits_for_every_task() {
    let h = agent();
    h.run(framework(&[]), vec![task("a", "sleep 100")]);
    until("running", || h.updates("a") == running()).await;
    let cid = h.cid("a");
    h.process.exit_on_kill();
    let mut told = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        h.agent
            .stop_everything(0.0, |w| told.extend(w.to_vec()), || false),
    )
    .await
    .expect("the stop ends once its task has");
    let calls = h.process.calls();
    assert!(
        calls.contains(&Call::Kill(cid.clone(), Stop::Graceful(Duration::ZERO))),
        "{calls:?}"
    );
    assert!(calls.contains(&Call::Destroy(cid)), "{calls:?}");
    assert_eq!(calls.last(), Some(&Call::Shutdown), "{calls:?}");
    assert_eq!(h.updates("a")[2].0, TaskState::TASK_KILLED);
    // Stopped: what the master sends now is not launched.
    h.run(framework(&[]), vec![task("late", "true")]);
    assert_eq!(h.state("late"), None);
    assert_eq!(h.process.launches().len(), 1);
}

#[tokio::test]
async fn a_restarted_agent_follows_what_still_runs_and_reports_what_ended() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let before = agent_in(dir.clone(), false);
    before.run(
        framework(&[]),
        vec![task("alive", "sleep 100"), task("gone", "sleep 100")],
    );
    until("running", || {
        before.updates("alive") == running() && before.updates("gone") == running()
    })
    .await;
    let (alive, gone) = (before.cid("alive"), before.cid("gone"));
    drop(before);

    let after = agent_in(dir, false);
    after.process.runs(&alive);
    after.agent.recover().await;
    let recovered = after.process.calls();
    let Some(Call::Recover(asked)) = recovered.first() else {
        panic!("{recovered:?}");
    };
    assert!(asked.contains(&alive) && asked.contains(&gone), "{asked:?}");
    // Unacknowledged updates are queued again, then what became of each task.
    assert_eq!(after.updates("alive"), running());
    assert_eq!(
        after.updates("gone")[2],
        seen(
            TaskState::TASK_FAILED,
            &format!("{gone} was gone"),
            Some(Reason::REASON_AGENT_RESTARTED)
        )
    );
    // The re-adopted one is under control again: a kill reaches it, its end is reported.
    after.kill("alive", Some(grace(1.0)));
    assert!(after.process.calls().contains(&Call::Kill(
        alive.clone(),
        Stop::Graceful(Duration::from_secs(1))
    )));
    after.process.exit(&alive, Exit::of(End::Unobserved));
    until("ended", || after.updates("alive").len() == 3).await;
    assert_eq!(
        after.updates("alive")[2],
        seen(
            TaskState::TASK_KILLED,
            "Command terminated after a kill request",
            None
        )
    );
}

#[tokio::test]
async fn an_executors_end_fails_its_tasks_and_tells_the_master() {
    let h = agent();
    let executor = ExecutorInfo {
        kind: None,
        executor_id: ExecutorID::new("exec-1"),
        framework_id: Some(fid()),
        command: Some(CommandInfo {
            value: Some("./my-executor".into()),
            ..Default::default()
        }),
        container: None,
        resources: vec![],
        name: None,
        source: None,
        data: None,
        shutdown_grace_period: None,
        labels: None,
    };
    h.agent.on_master_message(ToAgent::RunTasks {
        framework: framework(&[]),
        executor: Some(executor),
        tasks: vec![task("t1", ""), task("t2", "")],
    });
    until("the executor launched", || h.process.launches().len() == 1).await;
    let l = h.process.launches().remove(0);
    assert_eq!(l.argv, ["/bin/sh", "-c", "./my-executor"]);
    assert!(
        l.task.is_none() && l.limits.is_none(),
        "an executor, without limits"
    );
    assert!(l.env.contains(&(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".into(),
        "5secs".into()
    )));
    assert_eq!(
        h.agent
            .lock()
            .executors
            .values()
            .next()
            .unwrap()
            .queued
            .len(),
        2
    );
    assert_eq!(h.updates("t1"), [], "the executor speaks for its tasks");

    h.process.exit(&l.container_id, Exit::of(End::Code(3)));
    until("tasks failed", || {
        h.updates("t1").len() == 1 && h.updates("t2").len() == 1
    })
    .await;
    assert_eq!(
        h.updates("t2"),
        vec![seen(
            TaskState::TASK_FAILED,
            "Executor terminated with status 3",
            Some(Reason::REASON_EXECUTOR_TERMINATED)
        )]
    );
    until("the master told", || {
        h.link.queued_calls().contains(&FromAgent::ExecutorExited {
            framework_id: fid(),
            executor_id: ExecutorID::new("exec-1"),
            status: 3,
        })
    })
    .await;
    assert!(h.process.calls().contains(&Call::Destroy(l.container_id)));
    assert!(h.agent.lock().executors.is_empty());
}

#[tokio::test]
async fn statistics_show_running_tasks_usage_with_their_limits() {
    let h = agent();
    h.process.set_usage(Usage {
        cpus_user_time_secs: 1.5,
        mem_rss_bytes: 4096,
        ..Default::default()
    });
    h.run(framework(&[]), vec![task("a", "sleep 100")]);
    until("running", || h.updates("a") == running()).await;
    let stats = h.agent.statistics().await;
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0]["executor_id"], "a");
    assert_eq!(stats[0]["executor_name"], "Command Executor (Task: a)");
    let s = &stats[0]["statistics"];
    assert_eq!(s["cpus_limit"], 0.5);
    assert_eq!(s["mem_limit_bytes"], 64 << 20);
    assert_eq!(s["mem_rss_bytes"], 4096);
    assert_eq!(s["cpus_user_time_secs"], 1.5);
    assert!(s.get("mem_cache_bytes").is_none(), "{s}");
}

/// The master's reservations and volumes are kept across an agent restart, reported when it
/// registers, and a process task using a volume finds it in its sandbox.
#[tokio::test]
async fn checkpointed_resources_survive_a_restart_and_volumes_reach_tasks() {
    use crate::link::Registrant;
    let volume: Resource = serde_json::from_value(serde_json::json!({"name": "disk",
        "type": "SCALAR", "scalar": {"value": 64},
        "reservations": [{"type": "DYNAMIC", "role": "db", "principal": "ops"}],
        "disk": {"persistence": {"id": "v1"}, "volume": {"container_path": "data", "mode": "RW"}}}))
    .unwrap();
    let h = agent();
    h.agent.on_master_message(ToAgent::CheckpointResources {
        resources: vec![volume.clone()],
    });
    assert_eq!(
        h.agent.registration().checkpointed_resources,
        vec![volume.clone()]
    );
    let dir = h.dir.clone();
    let v1 = crate::volumes::volume_path(dir.path(), "db", "v1");
    assert!(v1.is_dir());
    std::fs::write(v1.join("kept"), "yes").unwrap();
    drop(h);
    let h = agent_in(dir.clone(), false);
    assert_eq!(
        h.agent.registration().checkpointed_resources,
        vec![volume.clone()]
    );
    assert_eq!(std::fs::read_to_string(v1.join("kept")).unwrap(), "yes");
    // A task using the volume: launched by the (fake) process containerizer with the volume
    // linked into its sandbox.
    let mut t = task("t1", "cat data/kept");
    t.resources.push(volume.clone());
    h.agent.on_master_message(ToAgent::RunTasks {
        framework: framework(&[]),
        executor: None,
        tasks: vec![t],
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let sandbox = loop {
        let sb = h
            .agent
            .lock()
            .tasks
            .values()
            .next()
            .map(|e| e.sandbox.clone());
        if let Some(sb) = sb.filter(|s| s.join("data").exists()) {
            break sb;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no volume in the sandbox"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(
        std::fs::read_to_string(sandbox.join("data/kept")).unwrap(),
        "yes"
    );
    // Destroyed: the master's next set has no volume; its data goes.
    h.agent
        .on_master_message(ToAgent::CheckpointResources { resources: vec![] });
    assert!(!v1.exists());
}
