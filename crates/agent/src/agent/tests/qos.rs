//! An evicted revocable task's terminal update: TASK_GONE for a partition-aware framework,
//! TASK_LOST otherwise, both REASON_CONTAINER_PREEMPTED with Mesos' message; a task killed by
//! its framework afterwards ends as a kill.

use super::*;

fn revocable_task(id: &str) -> TaskInfo {
    let mut t = task(id, "while :; do :; done");
    let mut cpus = Resource::scalar("cpus", 0.5);
    cpus.revocable = Some(serde_json::json!({}));
    t.resources = vec![cpus, Resource::scalar("mem", 64.0)];
    t
}

#[tokio::test]
async fn an_evicted_task_ends_gone_or_lost_as_preempted() {
    for (caps, state) in [
        (&["PARTITION_AWARE"][..], TaskState::TASK_GONE),
        (&[][..], TaskState::TASK_LOST),
    ] {
        let h = agent();
        h.run(
            framework(caps),
            vec![revocable_task("b"), task("c", "sleep 9")],
        );
        until("running", || {
            h.updates("b") == running() && h.updates("c") == running()
        })
        .await;
        assert!(super::super::qos::is_revocable(
            &h.agent.lock().tasks[&(fid(), TaskID::new("b"))].info
        ));
        h.agent.preempt(&(fid(), TaskID::new("b")));
        h.process.exit(&h.cid("b"), Exit::of(End::Signal(15)));
        until("b ended", || h.updates("b").len() == 3).await;
        assert_eq!(
            h.updates("b")[2],
            seen(
                state,
                "Container preempted by QoS correction",
                Some(Reason::REASON_CONTAINER_PREEMPTED)
            )
        );
        // A regular kill afterwards is a kill.
        h.kill("c", None);
        h.process.exit(&h.cid("c"), Exit::of(End::Signal(15)));
        until("c ended", || h.updates("c").len() == 3).await;
        assert_eq!(h.updates("c")[2].0, TaskState::TASK_KILLED);
    }
}
