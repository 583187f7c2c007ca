//! The `docker` containerizer against the machine's real Docker Engine: output into the sandbox,
//! exit codes, bridge networking with port mappings, OOM kills, missing images and other
//! refusals, kills with a grace period, `kill -9` + restart of the agent (re-adoption, orphan
//! removal), an Engine that is not there yet, `/monitor/statistics`, and launch latency.
//!
//! The image is built here from the machine's static busybox (`apt-get install busybox-static`;
//! `.ci/run` does) with the Engine's image import, tagged by the binary's content, so it is built
//! once. No registry is needed. Without a Docker Engine these tests fail, loudly: they never
//! skip. Every container they cause carries the agent's work dir as a label and is removed when
//! the test ends, pass or fail.

mod common;
use bollard::query_parameters as qp;
use bollard::Docker;
use common::cluster::*;
use common::dockerimage::*;
use common::sched::*;
use common::*;
use drover_api::scheduler::{Accept, Call, CallType};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Removes every container labelled with a work dir under `root` when dropped.
struct Cleanup {
    root: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let root = self.root.clone();
        // Drop may run inside the test's runtime: use a runtime of our own on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let d = engine().await;
                for c in containers_under(&d, &root).await {
                    remove(&d, c.id.as_deref().unwrap_or_default()).await;
                }
            })
        })
        .join();
    }
}

async fn remove(d: &Docker, id: &str) {
    let opts = qp::RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    let _ = d.remove_container(id, Some(opts)).await;
}

/// All containers (running or not) that carry label `key`.
async fn containers(d: &Docker, key: &str) -> Vec<bollard::models::ContainerSummary> {
    let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
    let opts = qp::ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    d.list_containers(Some(opts))
        .await
        .expect("list containers")
}

/// The containers of a test cluster: those whose `drover.work_dir` label is under `root`.
async fn containers_under(d: &Docker, root: &str) -> Vec<bollard::models::ContainerSummary> {
    containers(d, "drover.work_dir")
        .await
        .into_iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get("drover.work_dir"))
                .is_some_and(|w| w.starts_with(root))
        })
        .collect()
}

/// The container of task `task` (by its label), if any.
async fn container_of(d: &Docker, task: &str) -> Option<bollard::models::ContainerSummary> {
    containers(d, &format!("drover.task_id={task}"))
        .await
        .into_iter()
        .next()
}

fn docker_task(id: &str, agent: &AgentID, image: &str, cmd: &str) -> TaskInfo {
    let mut t = command_task(id, agent, cmd);
    t.resources = vec![scalar("cpus", 0.1), scalar("mem", 64.0)];
    t.container = Some(json!({"type": "DOCKER", "docker": {"image": image}}));
    t
}

/// Launch on the first offer; `make` sees the whole offer (its ports).
async fn launch_on_offer(
    s: &mut SchedulerClient,
    make: impl Fn(&Offer) -> Vec<TaskInfo>,
) -> AgentID {
    loop {
        let ev = s.next_event(Duration::from_secs(30)).await.expect("offers");
        let Some(o) = ev.offers else { continue };
        let offer = &o.offers[0];
        let call = accept_call(&offer.id, make(offer));
        let (st, body) = s.call(call).await.unwrap();
        assert_eq!(st.as_u16(), 202, "{body}");
        return offer.agent_id.clone();
    }
}

fn kill_call(task: &str, agent: &AgentID) -> Call {
    let mut k = Call::new(CallType::KILL, None);
    k.kill = Some(drover_api::scheduler::Kill {
        task_id: TaskID::new(task),
        agent_id: Some(agent.clone()),
        kill_policy: None,
    });
    k
}

/// The sandbox file `name` of `task` under `root`.
fn sandbox_file(root: &Path, task: &str, name: &str) -> Option<PathBuf> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == name)
                && p.to_string_lossy()
                    .contains(&format!("/executors/{task}/runs/"))
            {
                return Some(p);
            }
        }
    }
    None
}

fn read_sandbox(root: &Path, task: &str, name: &str) -> String {
    sandbox_file(root, task, name)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_finishes_with_its_output_in_the_sandbox_and_a_failure_reports_its_status() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let line = up
        .proc
        .wait_line("containerizers:", Duration::from_secs(10));
    assert!(
        line.contains("docker,process"),
        "drover up turns docker on when the Engine answers: {line}"
    );
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-echo", 60.0, false))
        .await
        .unwrap();
    let img = image.clone();
    launch_infos(&mut s, |agent| {
        vec![
            docker_task(
                "echo",
                agent,
                &img,
                "echo hello-from-docker; echo oops >&2; echo sandbox=$MESOS_SANDBOX pwd=$(pwd) task=$MESOS_TASK_ID",
            ),
            docker_task("fail", agent, &img, "echo failing; exit 3"),
        ]
    })
    .await;
    let mut seen: HashMap<String, Vec<TaskState>> = HashMap::new();
    let mut ends: HashMap<String, TaskStatus> = HashMap::new();
    while ends.len() < 2 {
        let st = wait_update(&mut s, Duration::from_secs(60), true, |_| true).await;
        seen.entry(st.task_id.value.clone())
            .or_default()
            .push(st.state);
        if st.state.is_terminal() {
            ends.insert(st.task_id.value.clone(), st);
        }
    }
    let echo = &ends["echo"];
    assert_eq!(
        echo.state,
        TaskState::TASK_FINISHED,
        "{echo:?}\n{}",
        up.log()
    );
    assert_eq!(
        echo.message.as_deref(),
        Some("Container exited with status 0")
    );
    assert_eq!(
        seen["echo"],
        vec![
            TaskState::TASK_STARTING,
            TaskState::TASK_RUNNING,
            TaskState::TASK_FINISHED
        ]
    );
    let fail = &ends["fail"];
    assert_eq!(fail.state, TaskState::TASK_FAILED, "{fail:?}");
    assert_eq!(
        fail.message.as_deref(),
        Some("Container exited with status 3")
    );

    let root = up.dir.path();
    let out = read_sandbox(root, "echo", "stdout");
    assert!(out.contains("hello-from-docker\n"), "stdout: {out:?}");
    assert!(
        out.contains("sandbox=/mnt/mesos/sandbox pwd=/mnt/mesos/sandbox task=echo"),
        "stdout: {out:?}"
    );
    assert_eq!(read_sandbox(root, "echo", "stderr"), "oops\n");
    assert_eq!(read_sandbox(root, "fail", "stdout"), "failing\n");
    // Finished containers are removed; their output stays in the sandbox.
    let left = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if container_of(&d, "echo").await.is_none() && container_of(&d, "fail").await.is_none()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(left.is_ok(), "the finished containers are removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_port_mapping_serves_on_the_host_port_with_limits_labels_and_statistics() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-web", 60.0, false))
        .await
        .unwrap();
    let port = std::sync::Mutex::new(0u64);
    let img = image.clone();
    let agent = launch_on_offer(&mut s, |offer| {
        // A port of the offer, varied so parallel clusters rarely pick the same one.
        let ranges = Resources::from_list(&offer.resources).ranges("ports");
        let p = ranges[0].begin + std::process::id() as u64 % (ranges[0].end - ranges[0].begin + 1);
        *port.lock().unwrap() = p;
        let mut t = docker_task(
            "web",
            &offer.agent_id,
            &img,
            "mkdir -p /tmp/www && echo hello-over-the-bridge > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www",
        );
        t.resources.extend(Resources::parse(&format!("ports:[{p}-{p}]")).unwrap().to_vec());
        t.container = Some(json!({"type": "DOCKER", "docker": {"image": img, "network": "BRIDGE",
            "port_mappings": [{"host_port": p, "container_port": 80, "protocol": "tcp"}],
            "parameters": [{"key": "label", "value": "team=web"}, {"key": "env", "value": "GREETING=hi"}]}}));
        vec![t]
    })
    .await;
    let port = *port.lock().unwrap();
    let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.state == TaskState::TASK_RUNNING || st.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_RUNNING, "{st:?}\n{}", up.log());

    let mut body = String::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(15) && !body.contains("hello-over-the-bridge") {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/index.html")).await {
            body = r.text().await.unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        body.contains("hello-over-the-bridge"),
        "served on host port {port}: {body:?}"
    );

    // The container: labelled for its agent, framework and task; limited by the resources.
    let c = container_of(&d, "web").await.expect("the task's container");
    let labels = c.labels.clone().unwrap_or_default();
    assert_eq!(labels["drover.agent_id"], agent.value);
    assert_eq!(labels["drover.framework_id"], s.framework_id.value);
    assert_eq!(labels["team"], "web");
    assert!(!labels["drover.container_id"].is_empty());
    let info = d
        .inspect_container(
            c.id.as_deref().unwrap(),
            None::<qp::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let host = info.host_config.unwrap();
    assert_eq!(host.memory, Some(64 << 20));
    assert_eq!(host.cpu_shares, Some(102));
    assert_eq!(host.cpu_quota, Some(10_000));
    assert_eq!(host.network_mode.as_deref(), Some("bridge"));
    let env = info.config.unwrap().env.unwrap_or_default();
    assert!(env.contains(&"GREETING=hi".to_string()), "{env:?}");
    assert!(env.contains(&"MESOS_TASK_ID=web".to_string()), "{env:?}");

    // Real usage from the Engine in /monitor/statistics.
    let stats = get_json(&format!("http://{}/monitor/statistics", up.agents[0])).unwrap();
    let web = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["executor_id"] == "web")
        .unwrap_or_else(|| panic!("no statistics for the docker task: {stats}"));
    let st = &web["statistics"];
    assert_eq!(st["mem_limit_bytes"], json!(64u64 << 20), "{web}");
    assert!(st["mem_rss_bytes"].as_u64().unwrap() > 0, "{web}");
    assert!(st["mem_total_bytes"].as_u64().unwrap() > 0, "{web}");
    assert!(st["cpus_user_time_secs"].as_f64().unwrap() >= 0.0, "{web}");
    assert!(
        (st["cpus_limit"].as_f64().unwrap() - 0.1).abs() < 1e-9,
        "{web}"
    );

    s.call(kill_call("web", &agent)).await.unwrap();
    let end = wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.state.is_terminal()
    })
    .await;
    assert_eq!(end.state, TaskState::TASK_KILLED, "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_is_oom_killed_with_the_memory_reason() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-oom", 60.0, false))
        .await
        .unwrap();
    launch_infos(&mut s, |agent| {
        let mut t = docker_task(
            "hog",
            agent,
            &image,
            "a=0123456789abcdef; while true; do a=\"$a$a\"; done",
        );
        t.resources = vec![scalar("cpus", 0.5), scalar("mem", 32.0)];
        vec![t]
    })
    .await;
    let end = wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.state.is_terminal()
    })
    .await;
    assert_eq!(end.state, TaskState::TASK_FAILED, "{end:?}\n{}", up.log());
    assert_eq!(
        end.reason,
        Some(Reason::REASON_CONTAINER_LIMITATION_MEMORY),
        "{end:?}"
    );
    assert!(
        end.message.as_deref().unwrap_or_default().contains("OOM"),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_containers_are_refused_clearly() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-bad", 60.0, false))
        .await
        .unwrap();
    let missing = format!("drover-test-missing-{}:latest", std::process::id());
    let t0 = Instant::now();
    launch_infos(&mut s, |agent| {
        let mut unowned_port = docker_task("port", agent, &image, "true");
        unowned_port.container = Some(
            json!({"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE",
            "port_mappings": [{"host_port": 1, "container_port": 80}]}}),
        );
        let mut privileged = docker_task("priv", agent, &image, "true");
        privileged.container =
            Some(json!({"type": "DOCKER", "docker": {"image": image, "privileged": true}}));
        let mut param = docker_task("param", agent, &image, "true");
        param.container = Some(json!({"type": "DOCKER", "docker": {"image": image,
            "parameters": [{"key": "volumes-from", "value": "x"}]}}));
        vec![
            docker_task("missing", agent, &missing, "true"),
            unowned_port,
            privileged,
            param,
        ]
    })
    .await;
    let mut ends: HashMap<String, TaskStatus> = HashMap::new();
    while ends.len() < 4 {
        let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
            st.state.is_terminal()
        })
        .await;
        ends.insert(st.task_id.value.clone(), st);
    }
    for (task, needle) in [
        ("missing", missing.as_str()),
        ("port", "host port 1 is not among the task's port resources"),
        ("priv", "--docker-allow-privileged"),
        ("param", "unsupported docker parameter 'volumes-from'"),
    ] {
        let st = &ends[task];
        assert_eq!(st.state, TaskState::TASK_FAILED, "{st:?}");
        assert_eq!(
            st.reason,
            Some(Reason::REASON_CONTAINER_LAUNCH_FAILED),
            "{st:?}"
        );
        let msg = st.message.clone().unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{task}: {msg:?} should say {needle:?}"
        );
    }
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "a missing image fails promptly ({:?})",
        t0.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_then_kills_after_the_grace_period() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut fw = framework("docker-kill", 60.0, false);
    fw.capabilities.push(Capability {
        kind: "TASK_KILLING_STATE".into(),
    });
    let mut s = SchedulerClient::subscribe(&up.master, fw).await.unwrap();
    let grace = |secs: u64| {
        Some(KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: secs * 1_000_000_000,
            }),
        })
    };
    let agent = launch_infos(&mut s, |agent| {
        // PID 1 ignores SIGTERM without a handler: only the SIGKILL after 2 s ends it.
        let mut stubborn = docker_task("stubborn", agent, &image, "sleep 1000");
        stubborn.kill_policy = grace(2);
        // This one handles SIGTERM and ends well within its 20 s.
        let mut polite = docker_task(
            "polite",
            agent,
            &image,
            "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done",
        );
        polite.kill_policy = grace(20);
        vec![stubborn, polite]
    })
    .await;
    let mut running = 0;
    while running < 2 {
        let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
            st.state == TaskState::TASK_RUNNING || st.state.is_terminal()
        })
        .await;
        assert_eq!(st.state, TaskState::TASK_RUNNING, "{st:?}\n{}", up.log());
        running += 1;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the trap is installed
    let t0 = Instant::now();
    s.call(kill_call("stubborn", &agent)).await.unwrap();
    s.call(kill_call("polite", &agent)).await.unwrap();
    let mut ends: HashMap<String, (TaskStatus, Duration)> = HashMap::new();
    let mut killing = 0;
    while ends.len() < 2 {
        let st = wait_update(&mut s, Duration::from_secs(30), true, |_| true).await;
        if st.state == TaskState::TASK_KILLING {
            killing += 1;
        }
        if st.state.is_terminal() {
            ends.insert(st.task_id.value.clone(), (st, t0.elapsed()));
        }
    }
    assert_eq!(killing, 2, "TASK_KILLING for a framework that can take it");
    let (st, took) = &ends["stubborn"];
    assert_eq!(st.state, TaskState::TASK_KILLED, "{st:?}");
    assert_eq!(
        st.message.as_deref(),
        Some("Container exited with status 137")
    );
    assert!(
        *took >= Duration::from_millis(1900),
        "SIGKILL waits the grace period: {took:?}"
    );
    assert!(
        *took < Duration::from_secs(10),
        "and not much longer: {took:?}"
    );
    let (st, took) = &ends["polite"];
    assert_eq!(st.state, TaskState::TASK_KILLED, "{st:?}");
    assert!(
        *took < Duration::from_secs(8),
        "SIGTERM ended it early: {took:?}"
    );
    assert!(read_sandbox(up.dir.path(), "polite", "stdout").contains("got-term"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_kill9_restart_readopts_the_container_and_removes_orphans() {
    let d = engine().await;
    let image = test_image(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let _clean = Cleanup {
        root: dir.path().display().to_string(),
    };
    let docker_flags = ["--containerizers", "docker,process"];
    let (_master, master) = start_master(dir.path(), 0, &[]);
    let (mut agent, port) = start_agent_with(dir.path(), &master, 0, 0, &docker_flags);
    let mut s = SchedulerClient::subscribe(&master, framework("docker-recover", 300.0, false))
        .await
        .unwrap();
    let agent_id = launch_infos(&mut s, |agent| {
        vec![docker_task(
            "ticker",
            agent,
            &image,
            "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done",
        )]
    })
    .await;
    wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    let before = container_of(&d, "ticker")
        .await
        .expect("the task's container");
    wait_for(Duration::from_secs(10), || {
        read_sandbox(dir.path(), "ticker", "stdout").contains("tick-5\n")
    });

    agent.kill9();
    // While the agent is down: an orphan (labelled for this agent, no task of it) and a
    // container of some other agent, which must be left alone.
    let orphan = start_container(
        &d,
        &image,
        &[
            ("drover.agent_id", &agent_id.value),
            ("drover.container_id", "orphan-1"),
            ("drover.task_id", "ghost"),
            (
                "drover.work_dir",
                &format!("{}/elsewhere", dir.path().display()),
            ),
        ],
    )
    .await;
    let foreign = start_container(
        &d,
        &image,
        &[
            ("drover.agent_id", "some-other-agent"),
            ("drover.container_id", "foreign-1"),
            (
                "drover.work_dir",
                &format!("{}/other-agent", dir.path().display()),
            ),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_agent, _) = start_agent_with(dir.path(), &master, 0, port, &docker_flags);
    wait_for(Duration::from_secs(30), || {
        get_json(&format!("http://{master}/master/slaves"))
            .map(|v| v["slaves"][0]["connected"] == true)
            .unwrap_or(false)
    });

    // The orphan goes, the foreign container stays, the task's container is the same one.
    let gone = tokio::time::timeout(Duration::from_secs(20), async {
        while d
            .inspect_container(&orphan, None::<qp::InspectContainerOptions>)
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "the orphan container is removed on agent start"
    );
    let f = d
        .inspect_container(&foreign, None::<qp::InspectContainerOptions>)
        .await;
    assert!(
        f.is_ok_and(|c| c.state.and_then(|s| s.running) == Some(true)),
        "another agent's container is left alone"
    );
    remove(&d, &foreign).await;
    let after = container_of(&d, "ticker")
        .await
        .expect("the task's container survives");
    assert_eq!(after.id, before.id, "re-adopted, not relaunched");
    let tasks = get_json(&format!("http://{master}/master/tasks")).unwrap();
    let ticker: Vec<&Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "ticker")
        .collect();
    assert_eq!(ticker.len(), 1);
    assert_eq!(ticker[0]["state"], "TASK_RUNNING");

    // Its output keeps coming into the sandbox: nothing lost (at most a line or two twice).
    let n = |out: &str| out.lines().filter(|l| l.starts_with("tick-")).count();
    let now = n(&read_sandbox(dir.path(), "ticker", "stdout"));
    wait_for(Duration::from_secs(10), || {
        n(&read_sandbox(dir.path(), "ticker", "stdout")) > now + 10
    });
    let out = read_sandbox(dir.path(), "ticker", "stdout");
    let ticks: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("tick-")?.parse().ok())
        .collect();
    let last = *ticks.iter().max().unwrap();
    for i in 0..=last {
        assert!(ticks.contains(&i), "tick-{i} lost across the restart");
    }
    assert!(
        ticks.len() as u64 <= last + 1 + 5,
        "only the last moments before the kill may repeat: {} lines for {} ticks",
        ticks.len(),
        last + 1
    );

    // Still under control: a kill reaches it and the container goes.
    s.call(kill_call("ticker", &agent_id)).await.unwrap();
    let end = wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.state.is_terminal()
    })
    .await;
    assert_eq!(end.state, TaskState::TASK_KILLED, "{end:?}");
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        while container_of(&d, "ticker").await.is_some() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "the killed task's container is removed");
}

/// Start `sleep 1000` in a container with these labels; its id.
async fn start_container(d: &Docker, image: &str, labels: &[(&str, &str)]) -> String {
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["sleep".into(), "1000".into()]),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    let id = d
        .create_container(None::<qp::CreateContainerOptions>, body)
        .await
        .unwrap()
        .id;
    d.start_container(&id, None::<qp::StartContainerOptions>)
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_of_drover_up_stops_and_removes_its_containers() {
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-ctrl-c", 60.0, false))
        .await
        .unwrap();
    launch_infos(&mut s, |agent| {
        vec![docker_task("svc", agent, &image, "sleep 1000")]
    })
    .await;
    wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    assert!(container_of(&d, "svc").await.is_some());
    up.proc.signal(2); // SIGINT
    let gone = tokio::time::timeout(Duration::from_secs(20), async {
        while container_of(&d, "svc").await.is_some() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "Ctrl-C leaves no container behind\n{}",
        up.log()
    );
}

/// A unix socket that forwards to the Engine once `start` is called: an Engine that "comes back".
struct LateEngine {
    path: PathBuf,
}

impl LateEngine {
    fn start(&self) {
        let listener = std::os::unix::net::UnixListener::bind(&self.path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let Ok(up) = std::os::unix::net::UnixStream::connect(SOCKET) else {
                    continue;
                };
                let (mut a, mut b) = (conn.try_clone().unwrap(), up.try_clone().unwrap());
                let (mut c, mut e) = (conn, up);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut e, &mut c);
                    let _ = c.shutdown(std::net::Shutdown::Write);
                });
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_engine_fails_launches_clearly_until_it_answers_and_no_docker_means_a_clear_failure(
) {
    let d = engine().await;
    let image = test_image(&d).await;
    let dir = tempfile::tempdir().unwrap();
    let _clean = Cleanup {
        root: dir.path().display().to_string(),
    };
    let late = LateEngine {
        path: dir.path().join("engine.sock"),
    };
    let sock = late.path.display().to_string();
    let (_master, master) = start_master(dir.path(), 0, &[]);
    let (with_docker, _) = start_agent_with(
        dir.path(),
        &master,
        0,
        0,
        &[
            "--containerizers",
            "docker,process",
            "--docker-socket",
            &sock,
        ],
    );
    let line = with_docker.wait_line("containerizers:", Duration::from_secs(10));
    assert!(
        line.contains("docker,process") && line.contains("unreachable"),
        "{line}"
    );
    let (_without, _) = start_agent_with(dir.path(), &master, 1, 0, &[]);
    let mut s = SchedulerClient::subscribe(&master, framework("docker-late", 60.0, false))
        .await
        .unwrap();

    // One task on each agent (offers of both come; launch on each).
    let mut agents: Vec<AgentID> = Vec::new();
    wait_for(Duration::from_secs(30), || {
        get_json(&format!("http://{master}/master/slaves"))
            .is_some_and(|v| v["slaves"].as_array().map(|a| a.len()) == Some(2))
    });
    let slaves = get_json(&format!("http://{master}/master/slaves")).unwrap();
    let docker_agent = slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attributes"]["rack"] == "r0")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    while agents.len() < 2 {
        let ev = s.next_event(Duration::from_secs(30)).await.expect("offers");
        let Some(o) = ev.offers else { continue };
        for offer in &o.offers {
            if agents.contains(&offer.agent_id) {
                continue;
            }
            let id = if offer.agent_id.value == docker_agent {
                "early"
            } else {
                "nodocker"
            };
            let mut call = Call::new(CallType::ACCEPT, None);
            call.accept = Some(Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![Operation::launch(vec![docker_task(
                    id,
                    &offer.agent_id,
                    &image,
                    "echo hi",
                )])],
                filters: Some(Filters {
                    refuse_seconds: Some(1.0),
                }),
            });
            s.call(call).await.unwrap();
            agents.push(offer.agent_id.clone());
        }
    }
    let mut ends: HashMap<String, TaskStatus> = HashMap::new();
    while ends.len() < 2 {
        let st = wait_update(&mut s, Duration::from_secs(30), true, |st| {
            st.state.is_terminal()
        })
        .await;
        ends.insert(st.task_id.value.clone(), st);
    }
    let early = &ends["early"];
    assert_eq!(early.state, TaskState::TASK_FAILED);
    assert_eq!(early.reason, Some(Reason::REASON_CONTAINER_LAUNCH_FAILED));
    let msg = early.message.clone().unwrap_or_default();
    assert!(msg.contains("unreachable") && msg.contains(&sock), "{msg}");
    let nodocker = &ends["nodocker"];
    assert_eq!(nodocker.state, TaskState::TASK_FAILED);
    assert!(
        nodocker
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("--containerizers docker,process"),
        "{nodocker:?}"
    );

    // The Engine answers now: the same agent (still running) launches containers again.
    late.start();
    let docker_agent = AgentID::new(docker_agent);
    loop {
        let ev = s.next_event(Duration::from_secs(30)).await.expect("offers");
        let Some(o) = ev.offers else { continue };
        let Some(offer) = o.offers.iter().find(|o| o.agent_id == docker_agent) else {
            continue;
        };
        let mut call = Call::new(CallType::ACCEPT, None);
        call.accept = Some(Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation::launch(vec![docker_task(
                "later",
                &docker_agent,
                &image,
                "echo back",
            )])],
            filters: None,
        });
        s.call(call).await.unwrap();
        break;
    }
    let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
        st.task_id.value == "later" && st.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_FINISHED, "{st:?}");
    assert_eq!(read_sandbox(dir.path(), "later", "stdout"), "back\n");
}

/// Offer accepted → TASK_RUNNING for docker tasks, next to the floor: create + start of the very
/// same container (its config and host config as the agent made them, read back from the
/// Engine: sandbox bind mount, cpu/memory limits, log config, env) straight through the Engine
/// API. Each launch starts on a quiet Engine: the previous container is gone first. Prints the
/// figures (run with --no-capture); `DROVER_LATENCY_SAMPLES` (default 5) launches of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_latency_next_to_a_raw_create_and_start() {
    let samples: usize = std::env::var("DROVER_LATENCY_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let d = engine().await;
    let image = test_image(&d).await;
    let up = Up::start(1, &[]);
    let root = up.dir.path().display().to_string();
    let _clean = Cleanup { root: root.clone() };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-latency", 60.0, false))
        .await
        .unwrap();
    // Interleaved — a drover launch, then the same container made directly, then a bare one —
    // so that all three meet the Engine in the same state (it slows as it ages, and the machine
    // is shared).
    let (mut drover, mut raw, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let mut template: Option<bollard::models::ContainerInspectResponse> = None;
    for i in 0..samples {
        let id = format!("lat-{i}");
        let t0 = std::sync::Mutex::new(Instant::now());
        let agent = launch_infos(&mut s, |agent| {
            *t0.lock().unwrap() = Instant::now();
            let mut t = docker_task(&id, agent, &image, "sleep 1000");
            t.kill_policy = Some(KillPolicy {
                grace_period: Some(DurationInfo { nanoseconds: 0 }),
            });
            vec![t]
        })
        .await;
        wait_update(&mut s, Duration::from_secs(60), true, |st| {
            st.task_id.value == id && st.state == TaskState::TASK_RUNNING
        })
        .await;
        drover.push(t0.lock().unwrap().elapsed());
        if template.is_none() {
            let c = containers_under(&d, &root).await;
            let name = c[0].id.clone().unwrap();
            template = Some(
                d.inspect_container(&name, None::<qp::InspectContainerOptions>)
                    .await
                    .unwrap(),
            );
        }
        // Free the resources for the next round (refuse filters are per offer; revive), and let
        // the agent remove the container, so the next launch meets a quiet Engine.
        s.call(kill_call(&id, &agent)).await.unwrap();
        wait_update(&mut s, Duration::from_secs(30), true, |st| {
            st.task_id.value == id && st.state.is_terminal()
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containers_under(&d, &root).await.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        s.call(Call::new(CallType::REVIVE, None)).await.unwrap();

        // The floor: the same container (its config and host config as the agent made them),
        // made directly.
        let template = template.as_ref().expect("a drover container to copy");
        let config = template.config.clone().unwrap_or_default();
        let same = bollard::models::ContainerCreateBody {
            image: config.image.clone(),
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            env: config.env.clone(),
            user: config.user.clone(),
            working_dir: config.working_dir.clone(),
            hostname: config.hostname.clone(),
            // Not the agent's labels: it would remove a container it does not know.
            labels: Some(HashMap::from([(
                "drover.work_dir".to_string(),
                format!("{root}/raw-{i}"),
            )])),
            host_config: template.host_config.clone(),
            ..Default::default()
        };
        // For reference: a bare container of the same image and command (host network, no
        // mounts, no limits, default logging) — less than any task's container asks for.
        let plain = bollard::models::ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec!["sleep".into(), "1000".into()]),
            labels: Some(HashMap::from([(
                "drover.work_dir".to_string(),
                format!("{root}/bare-{i}"),
            )])),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("host".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        for (body, out) in [(same, &mut raw), (plain, &mut bare)] {
            let t0 = Instant::now();
            let id = d
                .create_container(None::<qp::CreateContainerOptions>, body)
                .await
                .unwrap()
                .id;
            d.start_container(&id, None::<qp::StartContainerOptions>)
                .await
                .unwrap();
            out.push(t0.elapsed());
            remove(&d, &id).await;
        }
    }
    // Where the agent's part of each launch went (its log: image ready, created, running, in ms
    // after TASK_STARTING).
    for l in up.log().lines().filter(|l| l.contains("container running")) {
        if let Some(i) = l.find("container running") {
            let l = &l[i..];
            // Up to the log's fields (coloured on a terminal).
            let end = l.find(['\u{1b}', '\t']).unwrap_or(l.len());
            println!("agent: {}", l[..end].trim());
        }
    }
    let ms = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "docker launch latency, ACCEPT -> TASK_RUNNING (ms): {}",
        ms(&drover)
    );
    println!(
        "raw Engine API create + start, same container (ms): {}",
        ms(&raw)
    );
    println!(
        "raw Engine API create + start, bare container (ms): {}",
        ms(&bare)
    );
    // Nearest-rank percentiles.
    let pct = |v: &[Duration], p: f64| {
        let mut v = v.to_vec();
        v.sort();
        v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
    };
    let (m_drover, m_raw) = (pct(&drover, 50.0), pct(&raw, 50.0));
    let f = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "n={samples}: drover p50 {:.1} ms p99 {:.1} ms; same container raw p50 {:.1} ms p99 {:.1} ms \
         (p50 ratio {:.2}); bare raw p50 {:.1} ms p99 {:.1} ms",
        f(m_drover),
        f(pct(&drover, 99.0)),
        f(m_raw),
        f(pct(&raw, 99.0)),
        f(m_drover) / f(m_raw),
        f(pct(&bare, 50.0)),
        f(pct(&bare, 99.0)),
    );
    assert!(
        m_drover < Duration::from_secs(10),
        "docker launches take {m_drover:?}"
    );
}

/// The agent remembers images it has seen, to skip a lookup per launch; an image removed behind
/// its back is looked up (and, here without a registry, fails to pull) again, not assumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_removed_after_use_is_looked_up_again() {
    let d = engine().await;
    let base = test_image(&d).await;
    // A tag of our own, so removing it leaves the shared test image to the other tests.
    let tag = format!("gone-{}", std::process::id());
    d.tag_image(
        &base,
        Some(qp::TagImageOptions {
            repo: Some(REPO.to_string()),
            tag: Some(tag.clone()),
        }),
    )
    .await
    .unwrap();
    let image = format!("{REPO}:{tag}");
    let up = Up::start(1, &[]);
    let _clean = Cleanup {
        root: up.dir.path().display().to_string(),
    };
    let mut s = SchedulerClient::subscribe(&up.master, framework("docker-rmi", 60.0, false))
        .await
        .unwrap();
    for (i, expect) in [TaskState::TASK_FINISHED, TaskState::TASK_FAILED]
        .into_iter()
        .enumerate()
    {
        let id = format!("run-{i}");
        launch_infos(&mut s, |agent| {
            vec![docker_task(&id, agent, &image, "true")]
        })
        .await;
        let st = wait_update(&mut s, Duration::from_secs(60), true, |st| {
            st.task_id.value == id && st.state.is_terminal()
        })
        .await;
        assert_eq!(st.state, expect, "{st:?}\n{}", up.log());
        if i == 0 {
            d.remove_image(&image, None::<qp::RemoveImageOptions>, None)
                .await
                .unwrap();
            s.call(Call::new(CallType::REVIVE, None)).await.unwrap();
        } else {
            let msg = st.message.unwrap_or_default();
            assert!(msg.contains(&image), "names the image: {msg}");
            // Looked up and pulled again (no registry here), as on a first launch.
            assert!(msg.contains("Failed to pull image"), "{msg}");
            assert_eq!(st.reason, Some(Reason::REASON_CONTAINER_LAUNCH_FAILED));
        }
    }
}
