//! Oversubscription with real processes: an agent with `--oversubscription` estimates what a
//! latency-critical task leaves unused and offers it as revocable cpus to a framework with
//! REVOCABLE_RESOURCES; a CPU-burning revocable task runs there. While the latency-critical
//! task idles (the machine loaded by the burner, the task itself not waiting) nothing is
//! evicted; once it wants its CPUs and waits on the run queue, the revocable task is evicted:
//! TASK_LOST (the framework is not partition-aware), REASON_CONTAINER_PREEMPTED, "Container
//! preempted by QoS correction". No timing asserts: every wait is for a condition, with a
//! deadline.

mod common;
use common::cluster::*;
use common::sched::*;
use common::*;
use drover_api::scheduler::{Call, CallType, Decline};
use drover_api::*;
use drover_bench::client::SchedulerClient;
use std::time::Duration;

fn cgroups_available() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists()
        || std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map(|c| c.contains("cpu"))
            .unwrap_or(false)
}

fn revocable(name: &str, v: f64) -> Resource {
    let mut r = Resource::scalar(name, v);
    r.revocable = Some(serde_json::json!({}));
    r
}

fn revocable_cpus(o: &Offer) -> f64 {
    o.resources
        .iter()
        .filter(|r| r.name == "cpus" && r.revocable.is_some())
        .filter_map(|r| r.scalar.map(|s| s.value))
        .sum()
}

fn metric(agent: &str, name: &str) -> f64 {
    get_json(&format!("http://{agent}/metrics/snapshot"))
        .and_then(|m| m[name].as_f64())
        .unwrap_or(-1.0)
}

async fn decline(s: &SchedulerClient, offer: &OfferID, secs: f64) {
    let mut d = Call::new(CallType::DECLINE, None);
    d.decline = Some(Decline {
        offer_ids: vec![offer.clone()],
        filters: Some(Filters {
            refuse_seconds: Some(secs),
        }),
    });
    let _ = s.call(d).await;
}

/// Launch `task` (built for the offer's agent) on the first offer with at least 0.5 revocable
/// cpus, declining others for a second; retried when the offer was rescinded meanwhile (a new
/// estimate) and the task dropped. Returns the task id that runs.
async fn launch_revocable(s: &mut SchedulerClient, cmd: &str) -> TaskID {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut attempt = 0;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no revocable cpus were offered within 120 s"
        );
        let Some(ev) = s.next_event(Duration::from_secs(5)).await else {
            continue;
        };
        let Some(offers) = ev.offers else { continue };
        for o in offers.offers {
            let cpus = revocable_cpus(&o);
            if cpus < 0.5 {
                decline(s, &o.id, 1.0).await;
                continue;
            }
            attempt += 1;
            let id = format!("batch-{attempt}");
            let mut t = command_task(&id, &o.agent_id, cmd);
            t.resources = vec![revocable("cpus", cpus.min(1.0)), revocable("mem", 32.0)];
            // Only revocable resources: the task takes none of the regular ones.
            if !o
                .resources
                .iter()
                .any(|r| r.name == "mem" && r.revocable.is_some())
            {
                t.resources = vec![revocable("cpus", cpus.min(1.0)), scalar("mem", 32.0)];
            }
            let (st, body) = s.call(accept_call(&o.id, vec![t])).await.unwrap();
            assert_eq!(st.as_u16(), 202, "{body}");
            let update = wait_update(s, Duration::from_secs(60), true, |u| {
                u.task_id.value == id
                    && (u.state == TaskState::TASK_RUNNING || u.state.is_terminal())
            })
            .await;
            if update.state == TaskState::TASK_RUNNING {
                return TaskID::new(id);
            }
            // Dropped (the offer was rescinded by a new estimate): the next one.
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocable_task_is_evicted_when_the_latency_critical_task_is_starved_and_not_before() {
    assert!(
        cgroups_available(),
        "this test needs a cpu cgroup hierarchy (v1 or v2), which these machines have"
    );
    let dir = tempfile::tempdir().unwrap();
    let (master, master_addr) = start_master(dir.path(), 0, &["--allocation-interval", "0.2"]);
    let (agent_proc, port) = start_agent_with(
        dir.path(),
        &master_addr,
        0,
        0,
        &[
            "--oversubscription",
            "--oversubscribed-resources-interval",
            "1",
            "--oversubscription-window",
            "2",
        ],
    );
    let agent = format!("127.0.0.1:{port}");
    let c = Cluster {
        master,
        master_addr: master_addr.clone(),
        agents: vec![(agent_proc, agent.clone(), port)],
        dir,
    };
    c.wait_agents(1);

    // The latency-critical task: idle, blocked on a FIFO, until the test writes to it; then
    // it wants two CPUs.
    let fifo = c.dir.path().join("go.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let lc_cmd = format!(
        "read x < {}; for i in 1 2; do (while :; do :; done) & done; wait",
        fifo.display()
    );
    let mut lc = SchedulerClient::subscribe(&master_addr, framework("lc", 0.0, false))
        .await
        .unwrap();
    launch_infos(&mut lc, |agent| {
        let mut t = command_task("lc", agent, &lc_cmd);
        t.resources = vec![scalar("cpus", 1.9), scalar("mem", 512.0)];
        vec![t]
    })
    .await;
    wait_update(&mut lc, Duration::from_secs(60), true, |u| {
        u.state == TaskState::TASK_RUNNING
    })
    .await;

    // A batch framework that takes revocable resources gets the slack and burns two CPUs.
    let mut info = framework("batch", 0.0, false);
    info.capabilities.push(Capability {
        kind: "REVOCABLE_RESOURCES".into(),
    });
    let mut batch = SchedulerClient::subscribe(&master_addr, info)
        .await
        .unwrap();
    let burner = launch_revocable(
        &mut batch,
        "for i in 1 2; do (while :; do :; done) & done; wait",
    )
    .await;

    // Control: the machine is loaded, the latency-critical task is not waiting. Several QoS
    // samples later nothing was evicted.
    let seen = metric(&agent, "slave/qos_samples");
    wait_for(Duration::from_secs(120), || {
        metric(&agent, "slave/qos_samples") >= seen + 5.0
    });
    assert_eq!(
        metric(&agent, "slave/qos_evictions"),
        0.0,
        "evicted while the latency-critical task idled\n{}",
        c.logs()
    );
    assert_eq!(metric(&agent, "slave/tasks_running"), 2.0, "{}", c.logs());
    assert!(metric(&agent, "slave/cpus_revocable_total") > 0.0);
    // The master shows the estimate as Mesos does: `cpus_revocable` apart from `cpus`, and the
    // burner's revocable cpus in use.
    let m = c.master_addr.clone();
    assert!(
        metric(&m, "master/cpus_revocable_total") > 0.0,
        "{}",
        c.logs()
    );
    assert!(
        metric(&m, "master/cpus_revocable_used") > 0.0,
        "{}",
        c.logs()
    );
    let slaves = get_json(&format!("http://{m}/master/slaves")).expect("slaves");
    let agent_view = &slaves["slaves"][0];
    assert!(
        agent_view["resources"]["cpus_revocable"].as_f64() > Some(0.0),
        "{slaves:#}"
    );
    assert!(
        agent_view["used_resources"]["cpus_revocable"].as_f64() > Some(0.0),
        "{slaves:#}"
    );
    assert!(
        agent_view["used_resources"]["cpus"].as_f64() <= agent_view["resources"]["cpus"].as_f64(),
        "{slaves:#}"
    );

    // The latency-critical task wants its CPUs: it waits on the run queue behind the burner,
    // and the burner is evicted.
    let writer = std::thread::spawn(move || std::fs::write(&fifo, "go\n"));
    let ended = wait_update(&mut batch, Duration::from_secs(120), true, |u| {
        u.task_id == burner && u.state.is_terminal()
    })
    .await;
    assert_eq!(ended.state, TaskState::TASK_LOST, "{ended:?}\n{}", c.logs());
    assert_eq!(ended.reason, Some(Reason::REASON_CONTAINER_PREEMPTED));
    assert_eq!(
        ended.message.as_deref(),
        Some("Container preempted by QoS correction")
    );
    writer.join().unwrap().unwrap();
    assert!(metric(&agent, "slave/qos_evictions") >= 1.0);
    // The latency-critical task runs on.
    wait_for(Duration::from_secs(30), || {
        metric(&agent, "slave/tasks_running") == 1.0
    });
}
