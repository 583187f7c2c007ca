//! Agent-run health checks of command tasks (Mesos v1 `TaskInfo.health_check`), over real HTTP
//! against real `drover` processes: HTTP, TCP and COMMAND checks report `healthy` in
//! `TASK_RUNNING` updates with `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`; a task failing
//! `consecutive_failures` checks in a row is killed and its `TASK_KILLED` says `healthy: false`;
//! a re-adopted task is checked again after an agent restart; an invalid health check is a
//! `TASK_ERROR` naming the field. Semantics follow Apache Mesos' `src/checks/health_checker.cpp`
//! and `src/launcher/executor.cpp`.

#![allow(clippy::unwrap_used)]

mod common;
use common::cluster::*;
use common::sched::*;
use common::*;
use drover_api::scheduler::{Call, CallType};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// `drover up` that stops its tasks when the test ends (SIGINT), whatever happens.
struct Kernel(Up);

impl Drop for Kernel {
    fn drop(&mut self) {
        self.0.proc.signal(2);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.proc.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn checked_task(id: &str, agent: &AgentID, cmd: &str, hc: Value) -> TaskInfo {
    let mut t = command_task(id, agent, cmd);
    t.health_check = Some(hc);
    t
}

fn set_env(t: &mut TaskInfo, vars: &[(&str, &str)]) {
    let c = t.command.as_mut().unwrap();
    c.environment = Some(Environment {
        variables: vars
            .iter()
            .map(|(k, v)| Variable {
                name: k.to_string(),
                kind: None,
                value: v.to_string(),
            })
            .collect(),
    });
}

/// A port in the agent's offered range (31000-32000) that nothing listens on right now.
fn free_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let seed = std::process::id() as u64 * 7919 + nanos;
    (0..1000u64)
        .map(|i| 31000 + ((seed + i * 37) % 1000) as u16)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 31000-32000")
}

fn is_health_update(st: &TaskStatus, healthy: bool) -> bool {
    st.state == TaskState::TASK_RUNNING
        && st.healthy == Some(healthy)
        && st.reason == Some(Reason::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)
}

async fn kill(s: &SchedulerClient, agent: &AgentID, id: &str) {
    let mut k = Call::new(CallType::KILL, None);
    k.kill = Some(drover_api::scheduler::Kill {
        task_id: TaskID::new(id),
        agent_id: Some(agent.clone()),
        kill_policy: None,
    });
    let (code, body) = s.call(k).await.unwrap();
    assert_eq!(code.as_u16(), 202, "{body}");
}

/// Every update of `id` until its terminal one, acknowledged.
async fn updates_until_terminal(s: &mut SchedulerClient, id: &str) -> Vec<TaskStatus> {
    let mut seen = Vec::new();
    loop {
        let st = wait_update(s, WAIT, true, |st| st.task_id.value == id).await;
        let done = st.state.is_terminal();
        seen.push(st);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_reports_a_serving_task_healthy() {
    let up = Kernel(Up::start(1, &[]));
    let mut s = SchedulerClient::subscribe(&up.0.master, framework("hc-http", 60.0, false))
        .await
        .unwrap();
    let port = free_port();
    // The real interpreter, not a shim that may need the tester's HOME.
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    let python = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let agent = launch_infos(&mut s, |agent| {
        let mut t = checked_task(
            "web",
            agent,
            &format!("exec {python} -m http.server $PORT --bind 127.0.0.1"),
            json!({"type": "HTTP", "http": {"port": port, "path": "/"}, "delay_seconds": 0.2, "interval_seconds": 0.2,
                   "timeout_seconds": 5, "grace_period_seconds": 60}),
        );
        set_env(&mut t, &[("PORT", &port.to_string())]);
        t.resources.push(Resource::ranges("ports", vec![Range { begin: port as u64, end: port as u64 }]));
        vec![t]
    })
    .await;
    let st = wait_update(&mut s, WAIT, true, |st| {
        st.task_id.value == "web" && (st.healthy.is_some() || st.state.is_terminal())
    })
    .await;
    assert!(is_health_update(&st, true), "{st:?}\n{}", up.0.log());
    assert_eq!(st.source, Some(StatusSource::SOURCE_EXECUTOR));
    assert!(
        st.uuid.is_some(),
        "an update like any other: acknowledged and retried"
    );
    // The master keeps it in the task's statuses too.
    let tasks = get_json(&format!("http://{}/master/tasks", up.0.master)).unwrap();
    let web = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "web")
        .cloned()
        .unwrap();
    assert!(
        web["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["healthy"] == true),
        "{web}"
    );

    // A kill that is not the health checker's: TASK_KILLED without a verdict on health.
    kill(&s, &agent, "web").await;
    let seen = updates_until_terminal(&mut s, "web").await;
    let last = seen.last().unwrap();
    assert_eq!(last.state, TaskState::TASK_KILLED, "{seen:?}");
    assert_eq!(last.healthy, None, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_on_a_closed_port_kills_the_task_after_consecutive_failures() {
    let up = Kernel(Up::start(1, &[]));
    let mut s = SchedulerClient::subscribe(&up.0.master, framework("hc-tcp", 60.0, false))
        .await
        .unwrap();
    let port = free_port();
    launch_infos(&mut s, |agent| {
        vec![checked_task(
            "deaf",
            agent,
            "sleep 1000",
            json!({"type": "TCP", "tcp": {"port": port}, "delay_seconds": 0, "interval_seconds": 0.2,
                   "timeout_seconds": 2, "grace_period_seconds": 0, "consecutive_failures": 3}),
        )]
    })
    .await;
    let seen = updates_until_terminal(&mut s, "deaf").await;
    let unhealthy: Vec<&TaskStatus> = seen
        .iter()
        .filter(|st| is_health_update(st, false))
        .collect();
    // Mesos reports every counted failure, and nothing after it decided to kill.
    assert_eq!(unhealthy.len(), 3, "{seen:#?}\n{}", up.0.log());
    assert!(!seen.iter().any(|st| st.healthy == Some(true)), "{seen:#?}");
    let last = seen.last().unwrap();
    assert_eq!(last.state, TaskState::TASK_KILLED, "{seen:#?}");
    assert_eq!(
        last.healthy,
        Some(false),
        "a kill by the health checker says so: {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_check_turns_unhealthy_when_its_file_goes() {
    let up = Kernel(Up::start(1, &[]));
    let mut s = SchedulerClient::subscribe(&up.0.master, framework("hc-cmd", 60.0, false))
        .await
        .unwrap();
    launch_infos(&mut s, |agent| {
        let mut t = checked_task(
            "ready",
            agent,
            "touch ready && exec sleep 1000",
            // In the task's sandbox, with the task's environment plus the check's own.
            json!({"type": "COMMAND", "command": {"value": "test -f ready && test \"$MARK\" = yes && test \"$EXTRA\" = 1",
                   "environment": {"variables": [{"name": "EXTRA", "value": "1"}]}},
                   "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 5, "grace_period_seconds": 60,
                   "consecutive_failures": 2}),
        );
        set_env(&mut t, &[("MARK", "yes")]);
        vec![t]
    })
    .await;
    let st = wait_update(&mut s, WAIT, true, |st| {
        st.task_id.value == "ready" && (st.healthy.is_some() || st.state.is_terminal())
    })
    .await;
    assert!(is_health_update(&st, true), "{st:?}\n{}", up.0.log());

    let pid = pid_of_task(up.0.dir.path(), "ready").expect("the task's process");
    let sandbox = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    std::fs::remove_file(sandbox.join("ready")).unwrap();
    // Past the grace period's reach (there was a success): failures count at once.
    let seen = updates_until_terminal(&mut s, "ready").await;
    let unhealthy = seen.iter().filter(|st| is_health_update(st, false)).count();
    assert_eq!(unhealthy, 2, "{seen:#?}");
    let last = seen.last().unwrap();
    assert_eq!(
        (last.state, last.healthy),
        (TaskState::TASK_KILLED, Some(false)),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_health_checks_are_task_errors_naming_the_field() {
    let up = Kernel(Up::start(1, &[]));
    let mut s = SchedulerClient::subscribe(&up.0.master, framework("hc-invalid", 60.0, false))
        .await
        .unwrap();
    let cases = [
        (
            "no-port",
            json!({"type": "HTTP", "http": {"path": "/"}}),
            "'http.port'",
        ),
        ("no-command", json!({"type": "COMMAND"}), "'command'"),
        (
            "negative",
            json!({"type": "TCP", "tcp": {"port": 31000}, "interval_seconds": -1}),
            "'interval_seconds'",
        ),
        ("no-type", json!({"tcp": {"port": 31000}}), "'type'"),
    ];
    launch_infos(&mut s, |agent| {
        cases
            .iter()
            .map(|(id, hc, _)| checked_task(id, agent, "sleep 1000", hc.clone()))
            .collect()
    })
    .await;
    for _ in 0..cases.len() {
        let st = wait_update(&mut s, WAIT, true, |_| true).await;
        let (_, _, field) = cases
            .iter()
            .find(|(id, _, _)| *id == st.task_id.value)
            .expect("one of ours");
        assert_eq!(st.state, TaskState::TASK_ERROR, "{st:?}");
        assert_eq!(st.reason, Some(Reason::REASON_TASK_INVALID));
        let msg = st.message.clone().unwrap_or_default();
        assert!(
            msg.starts_with("Task uses invalid health check: ") && msg.contains(field),
            "{msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readopted_task_is_checked_again_after_an_agent_restart() {
    let mut c = Cluster::start(1, &[]);
    let mut s = SchedulerClient::subscribe(&c.master_addr, framework("hc-restart", 300.0, false))
        .await
        .unwrap();
    let agent_id = launch_infos(&mut s, |agent| {
        vec![checked_task(
            "survivor",
            agent,
            "touch ready && exec sleep 1000",
            json!({"type": "COMMAND", "command": {"value": "test -f ready"}, "delay_seconds": 0, "interval_seconds": 0.2,
                   "grace_period_seconds": 0.5, "consecutive_failures": 1000}),
        )]
    })
    .await;
    wait_update(&mut s, WAIT, true, |st| {
        st.task_id.value == "survivor" && is_health_update(st, true)
    })
    .await;
    // Past the grace period (a restarted agent does not know the task was healthy before).
    std::thread::sleep(Duration::from_millis(600));
    let pid = pid_of_task(c.dir.path(), "survivor").expect("the task's process");

    let (mut agent, _, port) = c.agents.remove(0);
    agent.kill9();
    let (agent, _) = start_agent(c.dir.path(), &c.master_addr, 0, port);
    c.agents.push((agent, format!("127.0.0.1:{port}"), port));
    c.wait_agents(1);
    assert_eq!(
        pid_of_task(c.dir.path(), "survivor"),
        Some(pid),
        "re-adopted, not relaunched"
    );

    // Only the restarted agent can notice this.
    let sandbox = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    std::fs::remove_file(sandbox.join("ready")).unwrap();
    let st = wait_update(&mut s, WAIT, true, |st| {
        st.task_id.value == "survivor" && (is_health_update(st, false) || st.state.is_terminal())
    })
    .await;
    assert!(is_health_update(&st, false), "{st:?}\n{}", c.logs());

    kill(&s, &agent_id, "survivor").await;
    let seen = updates_until_terminal(&mut s, "survivor").await;
    assert_eq!(
        seen.last().unwrap().state,
        TaskState::TASK_KILLED,
        "{seen:#?}"
    );
    wait_for(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}
