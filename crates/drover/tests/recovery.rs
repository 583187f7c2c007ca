//! Failures with real processes: `kill -9` of an agent (tasks survive, the agent re-adopts
//! them, unacknowledged updates are delivered after the restart), `kill -9` of the master
//! (agents re-register, the framework re-subscribes, nothing runs twice), an agent that goes
//! silent (TASK_UNREACHABLE for partition-aware frameworks, TASK_LOST for others), and a
//! scheduler failing over within its failover timeout.

mod common;
use common::cluster::*;
use common::sched::*;
use common::*;
use drover_api::scheduler::{Call, CallType, Reconcile};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_kill9_restart_readopts_tasks_and_delivers_pending_updates() {
    let mut c = Cluster::start(1, &[]);
    let mut s = SchedulerClient::subscribe(&c.master_addr, framework("recover", 300.0, false))
        .await
        .unwrap();
    let agent_id = launch(&mut s, &[("long", "sleep 1000"), ("quick", "sleep 1")]).await;
    // Acknowledge everything but quick's FINISHED: that one stays pending in the agent's checkpoint.
    let mut long_running = false;
    let mut unacked: Option<TaskStatus> = None;
    while !(long_running && unacked.is_some()) {
        let ev = s
            .next_event(Duration::from_secs(20))
            .await
            .expect("updates");
        let Some(u) = ev.update else { continue };
        let st = u.status;
        if st.task_id.value == "quick" && st.state == TaskState::TASK_FINISHED {
            unacked = Some(st);
            continue;
        }
        long_running |= st.task_id.value == "long" && st.state == TaskState::TASK_RUNNING;
        ack(&s, &st).await;
    }
    let unacked = unacked.unwrap();
    let pid = pid_of_task(c.dir.path(), "long").expect("long task's process");

    let (mut agent, _, port) = c.agents.remove(0);
    agent.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the task outlives its agent"
    );
    let (agent, _) = start_agent(c.dir.path(), &c.master_addr, 0, port);
    c.agents.push((agent, format!("127.0.0.1:{port}"), port));
    c.wait_agents(1);

    // The pending update comes again after the restart (at-least-once), same uuid.
    let again = wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.task_id.value == "quick" && st.state == TaskState::TASK_FINISHED
    })
    .await;
    assert_eq!(again.uuid, unacked.uuid, "the very update that was pending");
    // The long task was re-adopted, not restarted: same process, same agent, still RUNNING.
    assert_eq!(pid_of_task(c.dir.path(), "long"), Some(pid));
    let slaves = get_json(&format!("http://{}/master/slaves", c.master_addr)).unwrap();
    assert_eq!(
        slaves["slaves"][0]["id"],
        agent_id.value.as_str(),
        "same agent id after restart"
    );
    let tasks = get_json(&format!("http://{}/master/tasks", c.master_addr)).unwrap();
    let long: Vec<_> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "long")
        .collect();
    assert_eq!(long.len(), 1);
    assert_eq!(long[0]["state"], "TASK_RUNNING", "{}", c.logs());
    // And it is still under control: a kill reaches it.
    let mut k = Call::new(CallType::KILL, None);
    k.kill = Some(drover_api::scheduler::Kill {
        task_id: TaskID::new("long"),
        agent_id: Some(agent_id),
        kill_policy: None,
    });
    s.call(k).await.unwrap();
    wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.task_id.value == "long" && st.state == TaskState::TASK_KILLED
    })
    .await;
    wait_for(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_kill9_restart_keeps_the_cluster_and_runs_nothing_twice() {
    let mut c = Cluster::start(2, &[]);
    let fw = framework("survivor", 300.0, false);
    let mut s = SchedulerClient::subscribe(&c.master_addr, fw.clone())
        .await
        .unwrap();
    let fid = s.framework_id.clone();
    launch(&mut s, &[("svc", "sleep 1000")]).await;
    wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    let pid = pid_of_task(c.dir.path(), "svc").expect("task process");

    let port: u16 = c.master_addr.rsplit(':').next().unwrap().parse().unwrap();
    c.master.kill9();
    drop(s);
    let (m, addr) = start_master(c.dir.path(), port, &[]);
    c.master = m;
    assert_eq!(addr, c.master_addr);
    c.wait_agents(2);

    // The framework re-subscribes with its id and learns its task is still running.
    let mut again = fw.clone();
    again.id = Some(fid.clone());
    let mut s = SchedulerClient::subscribe(&c.master_addr, again)
        .await
        .unwrap();
    assert_eq!(s.framework_id, fid);
    let mut r = Call::new(CallType::RECONCILE, None);
    r.reconcile = Some(Reconcile { tasks: vec![] });
    s.call(r).await.unwrap();
    let st = wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.task_id.value == "svc"
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_RUNNING, "{}", c.logs());
    assert_eq!(
        pid_of_task(c.dir.path(), "svc"),
        Some(pid),
        "the same process: nothing restarted"
    );
    let tasks = get_json(&format!("http://{}/master/tasks", c.master_addr)).unwrap();
    let svc = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == "svc")
        .count();
    assert_eq!(svc, 1, "exactly one svc task: {tasks}");
    // A removed framework stays removed across restarts.
    s.call(Call::new(CallType::TEARDOWN, None)).await.unwrap();
    wait_for(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agent_gives_unreachable_or_lost_and_lost_tasks_do_not_come_back() {
    let mut c = Cluster::start(1, &["--agent-timeout", "2"]);
    let mut pa = SchedulerClient::subscribe(&c.master_addr, framework("aware", 300.0, true))
        .await
        .unwrap();
    launch(&mut pa, &[("pa-task", "sleep 1000")]).await;
    wait_update(&mut pa, Duration::from_secs(20), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    let mut old = SchedulerClient::subscribe(&c.master_addr, framework("classic", 300.0, false))
        .await
        .unwrap();
    launch(&mut old, &[("old-task", "sleep 1000")]).await;
    wait_update(&mut old, Duration::from_secs(20), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;

    // Freeze the agent: its connection stays open but it says nothing.
    let (agent, _, port) = c.agents.remove(0);
    agent.signal(19); // SIGSTOP
    let u = wait_update(&mut pa, Duration::from_secs(20), true, |st| {
        st.task_id.value == "pa-task" && st.state != TaskState::TASK_RUNNING
    })
    .await;
    assert_eq!(u.state, TaskState::TASK_UNREACHABLE);
    assert_eq!(u.reason, Some(Reason::REASON_AGENT_REMOVED));
    assert!(u.unreachable_time.is_some());
    let u = wait_update(&mut old, Duration::from_secs(20), true, |st| {
        st.task_id.value == "old-task" && st.state != TaskState::TASK_RUNNING
    })
    .await;
    assert_eq!(u.state, TaskState::TASK_LOST);

    // It comes back: the partition-aware task is running again; the LOST one is killed.
    agent.signal(18); // SIGCONT
    let u = wait_update(&mut pa, Duration::from_secs(30), true, |st| {
        st.task_id.value == "pa-task"
    })
    .await;
    assert_eq!(u.state, TaskState::TASK_RUNNING, "{}", c.logs());
    wait_for(Duration::from_secs(20), || {
        find_task_pid(c.dir.path(), "old-task").is_none()
    });
    assert!(pid_of_task(c.dir.path(), "pa-task").is_some());
    c.agents.push((agent, format!("127.0.0.1:{port}"), port));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_failover_within_timeout_loses_no_update() {
    let c = Cluster::start(1, &[]);
    let fw = framework("failover", 60.0, false);
    let mut s = SchedulerClient::subscribe(&c.master_addr, fw.clone())
        .await
        .unwrap();
    let fid = s.framework_id.clone();
    launch(&mut s, &[("soon-done", "sleep 2")]).await;
    wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;
    // The scheduler process dies; the task finishes while nobody listens.
    drop(s);
    std::thread::sleep(Duration::from_secs(3));
    let mut again = fw;
    again.id = Some(fid.clone());
    let mut s = SchedulerClient::subscribe(&c.master_addr, again)
        .await
        .unwrap();
    assert_eq!(s.framework_id, fid);
    let st = wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.task_id.value == "soon-done" && st.reason != Some(Reason::REASON_RECONCILIATION)
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_FINISHED, "{}", c.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_pymesos_executor_reconnects_to_a_restarted_agent() {
    let py = pyclients();
    let mut c = Cluster::start(1, &[]);
    let mut s = SchedulerClient::subscribe(&c.master_addr, framework("exec-recover", 300.0, false))
        .await
        .unwrap();
    let executor_cmd = format!(
        "{} {}",
        py.join("mesos/bin/python").display(),
        repo_root()
            .join("tests/clients/pymesos_executor.py")
            .display()
    );
    let agent_id = launch_infos(&mut s, |agent| {
        let mut t = command_task("via-executor", agent, "unused");
        t.command = None;
        t.executor = Some(ExecutorInfo {
            kind: None,
            executor_id: ExecutorID::new("echo"),
            framework_id: None,
            command: Some(CommandInfo {
                value: Some(executor_cmd.clone()),
                ..Default::default()
            }),
            container: None,
            resources: vec![scalar("cpus", 0.1), scalar("mem", 64.0)],
            name: Some("echo executor".into()),
            source: None,
            data: None,
            shutdown_grace_period: None,
            labels: None,
        });
        vec![t]
    })
    .await;
    wait_update(&mut s, Duration::from_secs(30), true, |st| {
        st.state == TaskState::TASK_RUNNING
    })
    .await;

    let (mut agent, _, port) = c.agents.remove(0);
    agent.kill9();
    let (agent, _) = start_agent(c.dir.path(), &c.master_addr, 0, port);
    c.agents.push((agent, format!("127.0.0.1:{port}"), port));
    c.wait_agents(1);

    // Messages reach the executor once it has re-subscribed: ping until it answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let mut ponged = false;
    while !ponged && tokio::time::Instant::now() < deadline {
        let mut m = Call::new(CallType::MESSAGE, None);
        m.message = Some(drover_api::scheduler::Message {
            agent_id: agent_id.clone(),
            executor_id: ExecutorID::new("echo"),
            data: b"ping".to_vec(),
        });
        s.call(m).await.unwrap();
        while let Some(ev) = s.next_event(Duration::from_millis(500)).await {
            if let Some(msg) = ev.message {
                ponged |= msg.data == b"pong";
            }
        }
    }
    assert!(
        ponged,
        "the executor answered after the agent restart\n{}",
        c.logs()
    );
    let mut m = Call::new(CallType::MESSAGE, None);
    m.message = Some(drover_api::scheduler::Message {
        agent_id: agent_id.clone(),
        executor_id: ExecutorID::new("echo"),
        data: b"finish".to_vec(),
    });
    s.call(m).await.unwrap();
    let st = wait_update(&mut s, Duration::from_secs(20), true, |st| {
        st.task_id.value == "via-executor" && st.state.is_terminal()
    })
    .await;
    assert_eq!(st.state, TaskState::TASK_FINISHED, "{}", c.logs());
}

/// MARK_AGENT_GONE (operator API): the agent is told to shut down, stops its tasks and exits
/// with an error; started again with its work dir, it is refused and exits again.
#[test]
fn an_agent_marked_gone_shuts_down_and_is_never_admitted_again() {
    let mut c = Cluster::start(1, &[]);
    let agents = get_json(&format!("http://{}/master/slaves", c.master_addr)).unwrap();
    let id = agents["slaves"][0]["id"].as_str().unwrap().to_string();
    let (code, _) = call(
        "POST",
        &format!("http://{}/api/v1", c.master_addr),
        Some(
            &serde_json::json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": id}}}),
        ),
    );
    assert_eq!(code, 200);
    let agent = &mut c.agents[0].0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = agent.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not stop\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "it exits with an error");
    assert!(
        c.logs().contains("the master shut this agent down"),
        "{}",
        c.logs()
    );
    let slaves = get_json(&format!("http://{}/master/slaves", c.master_addr)).unwrap();
    assert_eq!(slaves["slaves"].as_array().map(|a| a.len()), Some(0));
    // Started again with the same work dir (and so the same id): refused, and it stops.
    let (mut again, _) = start_agent(c.dir.path(), &c.master_addr.clone(), 0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while again.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the gone agent was admitted\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _) = call(
        "POST",
        &format!("http://{}/api/v1", c.master_addr),
        Some(
            &serde_json::json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": "no-such-agent"}}}),
        ),
    );
    assert_eq!(code, 404);
}
