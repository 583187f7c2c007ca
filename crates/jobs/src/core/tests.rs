//! The core driven directly: occurrences become runs once, across reopenings of the store (a
//! failover), catch-up within the deadline, skips with reasons, launches written before they
//! are made, reconciliation, retries, FORBID, dependent jobs.

use super::*;
use drover_api::metronome::{JobRef, Placement, Restart, RunSpec};
use drover_api::scheduler::CallType;
use drover_api::*;
use drover_store::MemoryStore;

struct Counter(u32);
impl Entropy for Counter {
    fn suffix(&mut self) -> String {
        self.0 += 1;
        format!("M{:04}", self.0)
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn spec(id: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        description: None,
        labels: Default::default(),
        run: RunSpec {
            cpus: 0.1,
            mem: 32.0,
            disk: 0.0,
            gpus: 0.0,
            cmd: Some("true".into()),
            args: None,
            user: None,
            env: Default::default(),
            placement: Placement::default(),
            artifacts: vec![],
            max_launch_delay: 3600,
            docker: None,
            ucr: None,
            volumes: vec![],
            restart: Restart::default(),
            task_kill_grace_period_seconds: None,
            networks: vec![],
            secrets: Default::default(),
        },
        schedules: vec![],
        dependencies: vec![],
    }
}

fn every_minute(deadline: u64) -> Schedule {
    Schedule {
        id: "every".into(),
        timing: Timing::Cron {
            expr: "* * * * *".into(),
            timezone: "UTC".into(),
        },
        starting_deadline_seconds: deadline,
        forbid_concurrent: false,
        enabled: true,
    }
}

fn job(id: &str, schedules: Vec<Schedule>, now: Timestamp) -> Job {
    Job {
        spec: spec(id),
        schedules,
        parents: vec![],
        chronos: None,
        retries: None,
        created_at: now,
    }
}

fn open(store: &Arc<MemoryStore>) -> Jobs {
    let mut j = Jobs::open(store.clone(), "*".into(), Box::new(Counter(0))).expect("opens");
    j.framework_id = Some(FrameworkID::new("fw"));
    j.connected = true;
    j
}

/// The driver's part: the queued writes land.
fn commit(j: &mut Jobs) {
    let ops = j.take_pending();
    j.store.apply(ops).expect("written");
}

fn offer(id: &str) -> Offer {
    Offer {
        id: OfferID::new(id),
        framework_id: FrameworkID::new("fw"),
        agent_id: AgentID::new("a1"),
        hostname: "host1".into(),
        url: None,
        resources: vec![
            Resource::scalar("cpus", 8.0),
            Resource::scalar("mem", 8192.0),
        ],
        attributes: vec![],
        executor_ids: vec![],
        allocation_info: None,
        unavailability: None,
    }
}

fn status(task: &str, state: TaskState) -> TaskStatus {
    let mut s = TaskStatus::new(TaskID::new(task), state);
    s.agent_id = Some(AgentID::new("a1"));
    s
}

fn launched(calls: &Calls) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.kind == CallType::ACCEPT)
        .flat_map(|c| c.accept.iter().flat_map(|a| a.operations.iter()))
        .flat_map(|o| o.launch.iter().flat_map(|l| l.task_infos.iter()))
        .map(|t| t.task_id.value.clone())
        .collect()
}

#[test]
fn an_occurrence_becomes_one_run_named_by_its_key() {
    let store = Arc::new(MemoryStore::default());
    let mut j = open(&store);
    let t0 = at("2026-12-04T10:00:30Z");
    j.create_job(job("nightly", vec![every_minute(900)], t0), t0)
        .expect("made");
    commit(&mut j);
    assert_eq!(j.next_due(), Some(at("2026-12-04T10:01:00Z")));
    j.tick(at("2026-12-04T10:01:00.200Z"));
    j.tick(at("2026-12-04T10:01:00.700Z"));
    commit(&mut j);
    let runs: Vec<&Run> = j.active_runs("nightly").collect();
    assert_eq!(runs.len(), 1);
    let due = at("2026-12-04T10:01:00Z");
    assert_eq!(runs[0].id, scheduled_run_id("nightly", "every", due));
    assert!(runs[0].id.starts_with("20261204100100"));
    assert_eq!(runs[0].task_id(1), format!("nightly_{}.1", runs[0].id));
    assert_eq!(j.next_due(), Some(at("2026-12-04T10:02:00Z")));
}

#[test]
fn a_new_leader_runs_what_fell_due_while_no_one_led_and_nothing_twice() {
    let store = Arc::new(MemoryStore::default());
    let t0 = at("2026-12-04T10:00:30Z");
    {
        let mut a = open(&store);
        a.create_job(job("report", vec![every_minute(900)], t0), t0)
            .expect("made");
        a.tick(at("2026-12-04T10:01:00Z"));
        commit(&mut a);
        // The leader dies here; three more minutes pass without one.
    }
    let mut b = open(&store);
    assert_eq!(b.active_runs("report").count(), 1, "the first run survives");
    let calls = b.tick(at("2026-12-04T10:04:10Z"));
    commit(&mut b);
    let dues: Vec<Option<Timestamp>> = b.active_runs("report").map(|r| r.due()).collect();
    assert_eq!(
        dues,
        vec![
            Some(at("2026-12-04T10:01:00Z")),
            Some(at("2026-12-04T10:02:00Z")),
            Some(at("2026-12-04T10:03:00Z")),
            Some(at("2026-12-04T10:04:00Z")),
        ]
    );
    assert!(calls.is_empty() || calls.iter().all(|c| c.kind == CallType::REVIVE));
    // A third opening (another failover) adds nothing.
    let mut c = open(&store);
    c.tick(at("2026-12-04T10:04:20Z"));
    assert_eq!(c.active_runs("report").count(), 4);
    assert!(b.skipped.is_empty());
}

#[test]
fn occurrences_past_their_deadline_are_skipped_and_reported_once() {
    let store = Arc::new(MemoryStore::default());
    let mut j = open(&store);
    let t0 = at("2026-12-04T10:00:30Z");
    j.create_job(job("r", vec![every_minute(120)], t0), t0)
        .expect("made");
    // Down for an hour: 10:01 … 10:58 are past the 120 s deadline at 11:00:30.
    j.tick(at("2026-12-04T11:00:30Z"));
    commit(&mut j);
    let dues: Vec<Timestamp> = j.active_runs("r").filter_map(|r| r.due()).collect();
    assert_eq!(
        dues,
        vec![at("2026-12-04T10:59:00Z"), at("2026-12-04T11:00:00Z")]
    );
    let skipped = j.skipped.get("r").expect("skips recorded");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].count, 58);
    assert_eq!(skipped[0].due, at("2026-12-04T10:01:00Z"));
    assert!(skipped[0].reason.contains("startingDeadlineSeconds"));
    // Durable: a reopened core knows them.
    let again = open(&store);
    assert_eq!(again.skipped.get("r").map(|q| q.len()), Some(1));
}

#[test]
fn a_launch_is_written_before_it_is_made_and_reconciled_after_a_failover() {
    let store = Arc::new(MemoryStore::default());
    let t0 = at("2026-12-04T10:00:30Z");
    let mut a = open(&store);
    a.create_job(job("etl", vec![every_minute(900)], t0), t0)
        .expect("made");
    a.tick(at("2026-12-04T10:01:00Z"));
    commit(&mut a);
    let calls = a.offers(vec![offer("o1")], at("2026-12-04T10:01:00.100Z"));
    let tasks = launched(&calls);
    let run_id = scheduled_run_id("etl", "every", at("2026-12-04T10:01:00Z"));
    assert_eq!(tasks, vec![format!("etl_{run_id}.1")]);
    // The driver writes before it posts: the STARTING run with its task is in the write.
    commit(&mut a);
    drop(a);
    let mut b = open(&store);
    let r = b.run("etl", &run_id).expect("the run").clone();
    assert_eq!(r.status, RunStatus::Starting);
    assert_eq!(r.tasks.len(), 1);
    let calls = b.reconcile_after_subscribing(at("2026-12-04T10:01:05Z"));
    let asked: Vec<String> = calls
        .iter()
        .filter_map(|c| c.reconcile.as_ref())
        .flat_map(|r| r.tasks.iter().map(|t| t.task_id.value.clone()))
        .collect();
    assert_eq!(asked, vec![format!("etl_{run_id}.1")]);
    // No offer launches it again while the master has not answered.
    assert!(launched(&b.offers(vec![offer("o2")], at("2026-12-04T10:01:06Z"))).is_empty());
    // The master never had it: launched again, as attempt 2.
    let mut gone = status(&format!("etl_{run_id}.1"), TaskState::TASK_GONE);
    gone.reason = Some(Reason::REASON_RECONCILIATION);
    gone.message = Some("Reconciliation: Task is unknown to the agent".into());
    b.update(&gone, at("2026-12-04T10:01:07Z"));
    let calls = b.offers(vec![offer("o3")], at("2026-12-04T10:01:08Z"));
    assert_eq!(launched(&calls), vec![format!("etl_{run_id}.2")]);
}

/// A launch that started and ended while no leader recorded it: reconciliation answers with
/// the task's own end (reason RECONCILIATION); launching it again would be a second start.
#[test]
fn a_task_that_ended_unseen_during_a_failover_is_not_launched_again() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut a = open(&store);
    a.create_job(job("etl", vec![], now), now).expect("made");
    let (run, _) = a.start_run("etl", None, now).expect("started");
    let t = launched(&a.offers(vec![offer("o1")], now));
    commit(&mut a);
    drop(a);
    let mut b = open(&store);
    b.reconcile_after_subscribing(now);
    let mut failed = status(&t[0], TaskState::TASK_FAILED);
    failed.reason = Some(Reason::REASON_RECONCILIATION);
    failed.message = Some("Command exited with status 1".into());
    b.update(&failed, now);
    assert_eq!(
        b.run("etl", &run.id).map(|r| r.status),
        Some(RunStatus::Failed)
    );
    assert!(launched(&b.offers(vec![offer("o2")], now)).is_empty());
}

/// The master lost the launch in an agent's re-registration (the agent never had the task):
/// the run is launched again rather than failed (a restart policy of NEVER would lose it).
#[test]
fn a_launch_lost_in_an_agents_reregistration_is_launched_again() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("etl", vec![], now), now).expect("made");
    let (run, _) = j.start_run("etl", None, now).expect("started");
    let t = launched(&j.offers(vec![offer("o1")], now));
    // As Mesos' agent answers a task the master knows and it does not (LOST to a framework
    // that is not partition-aware; DROPPED below).
    let mut gone = status(&t[0], TaskState::TASK_LOST);
    gone.source = Some(StatusSource::SOURCE_MASTER);
    gone.reason = Some(Reason::REASON_RECONCILIATION);
    gone.message = Some("Reconciliation: task unknown to the agent".into());
    j.update(&gone, now);
    assert_eq!(
        j.run("etl", &run.id).map(|r| r.status),
        Some(RunStatus::Initial)
    );
    assert_eq!(
        launched(&j.offers(vec![offer("o2")], now)),
        vec![format!("etl_{}.2", run.id)]
    );
    // Once it ran, the same loss is the run's end (no second start).
    let t2 = format!("etl_{}.2", run.id);
    j.update(&status(&t2, TaskState::TASK_RUNNING), now);
    let mut gone2 = status(&t2, TaskState::TASK_DROPPED);
    gone2.reason = Some(Reason::REASON_RECONCILIATION);
    gone2.message = Some("Reconciliation: task unknown to the agent".into());
    j.update(&gone2, now);
    assert_eq!(
        j.run("etl", &run.id).map(|r| r.status),
        Some(RunStatus::Failed)
    );
}

#[test]
fn a_task_that_ran_and_was_lost_is_not_run_again_without_a_restart_policy() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("once", vec![], now), now).expect("made");
    let (run, _) = j.start_run("once", None, now).expect("started");
    let t = launched(&j.offers(vec![offer("o1")], now));
    assert_eq!(t, vec![format!("once_{}.1", run.id)]);
    j.update(&status(&t[0], TaskState::TASK_RUNNING), now);
    assert_eq!(
        j.run("once", &run.id).map(|r| r.status),
        Some(RunStatus::Active)
    );
    j.update(&status(&t[0], TaskState::TASK_LOST), now);
    let r = j.run("once", &run.id).expect("in the history");
    assert_eq!(r.status, RunStatus::Failed);
    assert!(launched(&j.offers(vec![offer("o2")], now)).is_empty());
}

#[test]
fn on_failure_retries_until_the_active_deadline_and_success_is_counted() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    let mut jb = job("flaky", vec![], now);
    jb.spec.run.restart = Restart {
        policy: "ON_FAILURE".into(),
        active_deadline_seconds: Some(60),
    };
    j.create_job(jb, now).expect("made");
    let (run, _) = j.start_run("flaky", None, now).expect("started");
    let t1 = launched(&j.offers(vec![offer("o1")], now));
    j.update(&status(&t1[0], TaskState::TASK_RUNNING), now);
    j.update(&status(&t1[0], TaskState::TASK_FAILED), now);
    assert_eq!(
        j.run("flaky", &run.id).map(|r| r.status),
        Some(RunStatus::Initial)
    );
    let t2 = launched(&j.offers(vec![offer("o2")], now));
    assert_eq!(t2, vec![format!("flaky_{}.2", run.id)]);
    j.update(&status(&t2[0], TaskState::TASK_FINISHED), now);
    assert_eq!(
        j.run("flaky", &run.id).map(|r| r.status),
        Some(RunStatus::Success)
    );
    assert_eq!(j.totals.get("flaky").map(|t| t.success_count), Some(1));
    commit(&mut j);
    let again = open(&store);
    assert_eq!(again.history.get("flaky").map(|h| h.len()), Some(1));
    assert_eq!(again.active_runs("flaky").count(), 0);
}

#[test]
fn forbid_skips_an_occurrence_while_a_run_is_active() {
    let store = Arc::new(MemoryStore::default());
    let t0 = at("2026-12-04T10:00:30Z");
    let mut j = open(&store);
    let mut s = every_minute(900);
    s.forbid_concurrent = true;
    j.create_job(job("solo", vec![s], t0), t0).expect("made");
    j.tick(at("2026-12-04T10:01:00Z"));
    j.tick(at("2026-12-04T10:02:00Z"));
    assert_eq!(j.active_runs("solo").count(), 1);
    let sk = j.skipped.get("solo").expect("skipped");
    assert!(sk[0].reason.contains("FORBID"));
}

#[test]
fn a_child_runs_once_when_all_its_parents_succeeded() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("a", vec![], now), now).expect("a");
    j.create_job(job("b", vec![], now), now).expect("b");
    let mut c = job("c", vec![], now);
    c.parents = vec!["a".into(), "b".into()];
    c.spec.dependencies = vec![JobRef { id: "a".into() }, JobRef { id: "b".into() }];
    j.create_job(c, now).expect("c");
    let (ra, _) = j.start_run("a", None, now).expect("a runs");
    let ta = launched(&j.offers(vec![offer("o1")], now));
    j.update(
        &status(&ta[0], TaskState::TASK_FINISHED),
        at("2026-12-04T10:00:01Z"),
    );
    assert_eq!(j.active_runs("c").count(), 0, "b has not succeeded yet");
    let _ = ra;
    j.start_run("b", None, now).expect("b runs");
    let tb = launched(&j.offers(vec![offer("o2")], now));
    j.update(
        &status(&tb[0], TaskState::TASK_FINISHED),
        at("2026-12-04T10:00:02Z"),
    );
    assert_eq!(j.active_runs("c").count(), 1);
    // A repeated update changes nothing.
    j.update(
        &status(&tb[0], TaskState::TASK_FINISHED),
        at("2026-12-04T10:00:03Z"),
    );
    assert_eq!(j.active_runs("c").count(), 1);
}

#[test]
fn a_disabled_child_does_not_run_when_its_parent_succeeds() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("p", vec![], now), now).expect("p");
    let mut c = job("c", vec![], now);
    c.parents = vec!["p".into()];
    c.chronos = Some(serde_json::json!({"name": "c", "disabled": true}));
    j.create_job(c, now).expect("c");
    j.start_run("p", None, now).expect("p runs");
    let t = launched(&j.offers(vec![offer("o1")], now));
    j.update(&status(&t[0], TaskState::TASK_FINISHED), now);
    assert_eq!(j.active_runs("c").count(), 0);
}

#[test]
fn a_cycle_and_a_missing_parent_are_refused() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    let mut a = job("a", vec![], now);
    a.parents = vec!["nope".into()];
    assert!(matches!(
        j.create_job(a, now),
        Err(crate::JobsError::ParentNotFound(_))
    ));
    j.create_job(job("a", vec![], now), now).expect("a");
    let mut b = job("b", vec![], now);
    b.parents = vec!["a".into()];
    j.create_job(b, now).expect("b");
    let mut a2 = job("a", vec![], now);
    a2.parents = vec!["b".into()];
    assert!(matches!(
        j.upsert_job(a2, now),
        Err(crate::JobsError::DependencyCycle(_))
    ));
}

#[test]
fn stopping_a_run_kills_its_task_and_deleting_needs_stop_current() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("long", vec![], now), now).expect("made");
    let (run, _) = j.start_run("long", None, now).expect("started");
    let t = launched(&j.offers(vec![offer("o1")], now));
    j.update(&status(&t[0], TaskState::TASK_RUNNING), now);
    assert!(matches!(
        j.delete_job("long", false, now),
        Err(crate::JobsError::ActiveRuns)
    ));
    let calls = j.stop_run("long", &run.id, now).expect("stops");
    assert!(calls.iter().any(|c| c.kind == CallType::KILL));
    j.update(&status(&t[0], TaskState::TASK_KILLED), now);
    let r = j.run("long", &run.id).expect("finished");
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.reason.as_deref(), Some("stopped"));
    j.delete_job("long", false, now).expect("deleted");
    commit(&mut j);
    assert!(open(&store).jobs.is_empty());
}

#[test]
fn history_is_bounded_per_job() {
    let store = Arc::new(MemoryStore::default());
    let now = at("2026-12-04T10:00:00Z");
    let mut j = open(&store);
    j.create_job(job("many", vec![], now), now).expect("made");
    for i in 0..(HISTORY_PER_JOB + 5) {
        let t = plus(now, i as i64);
        let (_, _) = j.start_run("many", None, t).expect("started");
        let ts = launched(&j.offers(vec![offer(&format!("o{i}"))], t));
        j.update(&status(&ts[0], TaskState::TASK_FINISHED), t);
    }
    commit(&mut j);
    assert_eq!(
        j.history.get("many").map(|h| h.len()),
        Some(HISTORY_PER_JOB)
    );
    assert_eq!(
        j.totals.get("many").map(|t| t.success_count),
        Some(HISTORY_PER_JOB as u64 + 5)
    );
    let again = open(&store);
    assert_eq!(
        again.history.get("many").map(|h| h.len()),
        Some(HISTORY_PER_JOB)
    );
}

/// A simulated clock ticking every 30 s through both DST changes of 2026 in New York, with a
/// failover (a reopened core) right at each change: one run per day for a 02:30 and a 01:30
/// daily job, never two, and an hourly job runs by real time (25 runs on the day with 25 hours).
#[test]
fn dst_days_run_each_daily_occurrence_once_across_failovers() {
    let store = Arc::new(MemoryStore::default());
    let ny = |expr: &str| Schedule {
        id: "s".into(),
        timing: Timing::Cron {
            expr: expr.into(),
            timezone: "America/New_York".into(),
        },
        starting_deadline_seconds: 900,
        forbid_concurrent: false,
        enabled: true,
    };
    for (start, end, gap_day) in [
        ("2026-03-07T12:00:00Z", "2026-03-10T12:00:00Z", true),
        ("2026-10-31T12:00:00Z", "2026-11-03T12:00:00Z", false),
    ] {
        let t0 = at(start);
        let mut j = open(&store);
        for id in ["two-thirty", "one-thirty", "hourly"] {
            let _ = j.delete_job(id, true, t0);
        }
        commit(&mut j);
        j.create_job(job("two-thirty", vec![ny("30 2 * * *")], t0), t0)
            .expect("made");
        j.create_job(job("one-thirty", vec![ny("30 1 * * *")], t0), t0)
            .expect("made");
        j.create_job(job("hourly", vec![ny("0 * * * *")], t0), t0)
            .expect("made");
        commit(&mut j);
        let mut now = t0;
        let mut ticks = 0;
        while now < at(end) {
            now = plus(now, 30);
            ticks += 1;
            j.tick(now);
            commit(&mut j);
            // A failover every 97 ticks (and so across the changes at some point).
            if ticks % 97 == 0 {
                j = open(&store);
            }
        }
        // Every run made, active or finished (no offers come here: they fail at their deadline).
        let all = |j: &Jobs, id: &str| -> Vec<Run> {
            j.active_runs(id)
                .chain(j.history.get(id).into_iter().flatten())
                .cloned()
                .collect()
        };
        let dues = |j: &Jobs, id: &str| -> Vec<Timestamp> {
            let mut d: Vec<Timestamp> = all(j, id).iter().filter_map(|r| r.due()).collect();
            d.sort();
            d
        };
        let two = dues(&j, "two-thirty");
        assert_eq!(two.len(), 3, "one 02:30 run a day ({start}): {two:?}");
        let one = dues(&j, "one-thirty");
        assert_eq!(one.len(), 3, "one 01:30 run a day ({start}): {one:?}");
        let ids: std::collections::HashSet<String> =
            all(&j, "hourly").into_iter().map(|r| r.id).collect();
        let hourly = dues(&j, "hourly");
        assert_eq!(ids.len(), hourly.len(), "run ids are unique");
        // 72 hours of real time: 72 hourly runs whether the day had 23 or 25 hours.
        assert_eq!(hourly.len(), 72, "{start}");
        if gap_day {
            // 02:30 does not exist on 2026-03-08: it runs at 03:00 EDT (07:00 UTC).
            assert!(two.contains(&at("2026-03-08T07:00:00Z")), "{two:?}");
        } else {
            // 01:30 happens twice on 2026-11-01: it runs once, the first time (EDT, 05:30 UTC).
            assert!(one.contains(&at("2026-11-01T05:30:00Z")), "{one:?}");
            assert!(!one.contains(&at("2026-11-01T06:30:00Z")), "{one:?}");
        }
        assert!(!j.skipped.contains_key("two-thirty") && !j.skipped.contains_key("hourly"));
    }
}
