//! Schedules falling due. Each schedule has a cursor: the next occurrence not yet handled.
//! A tick handles every occurrence at or before now, oldest first: one whose
//! `startingDeadlineSeconds` has not passed becomes a run (unless `FORBID` and a run is
//! active), older ones are skipped with the reason, and the cursor moves past them — all in the
//! same write. A new leader reads the cursors, so the occurrences that fell due while no one
//! led are run at once (Metronome computed the next run from "now" and silently lost them).

use super::{keys, plus, Cursor, Jobs, Run, RunStatus, Skipped, Timing, Trigger};
use crate::schedule::{Cron, Repeating, When};
use jiff::Timestamp;

/// At most this many skipped occurrences are counted one by one; past it a gap is jumped.
const COUNT_SKIPS: u64 = 10_000;

impl Jobs {
    /// Parse a timing (validated when the schedule was accepted; `None` if not parseable now).
    pub(crate) fn parse_timing(t: &Timing, now: Timestamp) -> Option<When> {
        match t {
            Timing::Cron { expr, timezone } => Cron::parse(expr, timezone).ok().map(When::Cron),
            Timing::Iso8601 { spec, timezone } => {
                Repeating::parse_at(spec, timezone.as_deref(), now)
                    .ok()
                    .map(When::Repeating)
            }
        }
    }

    /// Rebuild a job's parsed schedules and their places in the due index from its cursors.
    pub(crate) fn index_schedules(&mut self, job: &str) {
        self.due_index.retain(|(_, j, _)| j != job);
        self.whens.retain(|(j, _), _| j != job);
        self.add_to_index(job);
    }

    /// Parse a job's schedules and put them in the due index, which holds nothing of the job
    /// yet (opening: the index is built from empty, one job after another, without the scans
    /// of the whole index that `index_schedules` makes — they made opening 10,000 jobs
    /// quadratic, 16 s).
    pub(crate) fn add_to_index(&mut self, job: &str) {
        let Some(spec) = self.jobs.get(job) else {
            return;
        };
        let created = spec.created_at;
        for s in spec.schedules.clone() {
            let key = (job.to_string(), s.id.clone());
            let Some(when) = Self::parse_timing(&s.timing, created) else {
                tracing::error!("jobs: the schedule {}/{} no longer parses", job, s.id);
                continue;
            };
            if let (
                true,
                Some(Cursor {
                    next_due: Some(t), ..
                }),
            ) = (s.enabled, self.cursors.get(&key))
            {
                self.due_index.insert((*t, key.0.clone(), key.1.clone()));
            }
            self.whens.insert(key, when);
        }
    }

    /// Set a schedule's cursor to its first occurrence after `now` (a new or changed schedule).
    pub(crate) fn start_cursor(&mut self, job: &str, schedule: &str, now: Timestamp) {
        let key = (job.to_string(), schedule.to_string());
        let Some(s) = self
            .jobs
            .get(job)
            .and_then(|j| j.schedules.iter().find(|s| s.id == schedule))
        else {
            return;
        };
        let Some(when) = Self::parse_timing(&s.timing, now) else {
            return;
        };
        let (next_due, remaining) = match &when {
            // A Chronos schedule starts at its start, even one a little in the past (within
            // its deadline it still runs, as Chronos runs a job whose start just passed).
            When::Repeating(r) => {
                let back = plus(now, -(s.starting_deadline_seconds as i64));
                let first = if r.start() >= back {
                    Some(r.start())
                } else {
                    r.next_after(back)
                };
                (first, r.remaining())
            }
            When::Cron(c) => (c.next_after(now), None),
        };
        let c = Cursor {
            next_due,
            remaining,
        };
        self.put(keys::cursor(job, schedule), &c);
        self.cursors.insert(key, c);
        self.index_schedules(job);
    }

    /// The earliest time any enabled schedule falls due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.due_index.first().map(|(t, _, _)| *t)
    }

    /// Handle everything due at or before `now`: occurrences become runs (or skips), runs that
    /// could not start before their deadline fail. Returns the calls to make (revive).
    pub fn tick(&mut self, now: Timestamp) -> super::Calls {
        while let Some((t, job, sched)) = self.due_index.first().cloned() {
            if t > now {
                break;
            }
            self.due_index.pop_first();
            self.handle_due(&job, &sched, now);
        }
        self.expire(now);
        self.launch_wanted(now)
    }

    fn handle_due(&mut self, job: &str, sched: &str, now: Timestamp) {
        let key = (job.to_string(), sched.to_string());
        let (Some(spec), Some(when), Some(mut cursor)) = (
            self.jobs.get(job),
            self.whens.get(&key).cloned(),
            self.cursors.get(&key).cloned(),
        ) else {
            return;
        };
        let Some(schedule) = spec.schedules.iter().find(|s| s.id == sched).cloned() else {
            return;
        };
        if !schedule.enabled {
            return;
        }
        let deadline = schedule.starting_deadline_seconds as i64;
        let horizon = plus(now, -deadline);
        let mut next = cursor.next_due;
        // Occurrences whose deadline passed: skipped, counted, reported once.
        let mut first_skipped = None;
        let mut skipped = 0u64;
        while let Some(t) = next {
            if t >= horizon || cursor.remaining == Some(0) {
                break;
            }
            first_skipped.get_or_insert(t);
            skipped += 1;
            cursor.remaining = cursor.remaining.map(|n| n.saturating_sub(1));
            next = when.next_after(t);
            if skipped >= COUNT_SKIPS {
                // A long gap: jump to the window (the remaining count is then unknown).
                next = when.next_after(plus(horizon, -1)).filter(|n| *n > t);
                break;
            }
        }
        if let Some(first) = first_skipped {
            let reason = format!(
                "not started: startingDeadlineSeconds ({deadline} s) passed before any scheduler could start it{}",
                if skipped >= COUNT_SKIPS { " (at least this many occurrences)" } else { "" }
            );
            self.emit(
                "job_run_skipped",
                job,
                None,
                format!("{skipped} occurrence(s) from {first}: {reason}"),
                now,
            );
            tracing::warn!(
                job,
                schedule = sched,
                "skipped {skipped} occurrence(s) from {first}: {reason}"
            );
            self.record_skip(Skipped {
                job_id: job.to_string(),
                schedule: sched.to_string(),
                due: first,
                count: skipped,
                reason,
                at: now,
            });
        }
        while let Some(t) = next {
            if t > now || cursor.remaining == Some(0) {
                break;
            }
            cursor.remaining = cursor.remaining.map(|n| n.saturating_sub(1));
            let active = self
                .active_runs(job)
                .find(|r| !r.status.finished())
                .map(|r| r.id.clone());
            match active {
                Some(other) if schedule.forbid_concurrent => {
                    let reason = format!("concurrencyPolicy FORBID: run {other} is still active");
                    self.emit(
                        "job_run_skipped",
                        job,
                        None,
                        format!("occurrence {t}: {reason}"),
                        now,
                    );
                    self.record_skip(Skipped {
                        job_id: job.to_string(),
                        schedule: sched.to_string(),
                        due: t,
                        count: 1,
                        reason,
                        at: now,
                    });
                }
                _ => self.create_scheduled_run(job, sched, t, deadline, now),
            }
            next = when.next_after(t);
        }
        if cursor.remaining == Some(0) {
            next = None;
        }
        cursor.next_due = next;
        self.put(keys::cursor(job, sched), &cursor);
        if let Some(t) = next {
            self.due_index
                .insert((t, job.to_string(), sched.to_string()));
        }
        self.cursors.insert(key, cursor);
    }

    fn create_scheduled_run(
        &mut self,
        job: &str,
        sched: &str,
        due: Timestamp,
        deadline: i64,
        now: Timestamp,
    ) {
        let id = super::scheduled_run_id(job, sched, due);
        if self.run(job, &id).is_some() {
            return;
        }
        let run = self.new_run(
            job,
            id,
            Trigger::Schedule {
                schedule: sched.to_string(),
                due,
            },
            plus(due, deadline),
            None,
            now,
        );
        if let Some(run) = run {
            self.emit(
                "job_run_started",
                job,
                Some(&run.id),
                format!("occurrence {due}"),
                now,
            );
            self.save_run(&run);
            self.index_run(run);
        }
    }

    /// A new run of `job` (not yet written or indexed).
    pub(crate) fn new_run(
        &mut self,
        job: &str,
        id: String,
        trigger: Trigger,
        start_by: Timestamp,
        arguments: Option<Vec<String>>,
        now: Timestamp,
    ) -> Option<Run> {
        let spec = self.jobs.get(job)?;
        self.counters.runs_created += 1;
        Some(Run {
            id,
            job_id: job.to_string(),
            trigger,
            status: RunStatus::Initial,
            created_at: now,
            completed_at: None,
            start_by,
            retry_until: spec
                .spec
                .run
                .restart
                .active_deadline_seconds
                .map(|d| plus(now, d as i64)),
            attempts: 0,
            tasks: vec![],
            arguments,
            stopping: false,
            reason: None,
        })
    }

    /// Runs still waiting for a place when their deadline passed: failed, with the reason.
    fn expire(&mut self, now: Timestamp) {
        let late: Vec<Run> = self
            .runs
            .values()
            .flat_map(|m| m.values())
            .filter(|r| r.status == RunStatus::Initial && r.start_by < now)
            .cloned()
            .collect();
        for mut r in late {
            let why = if r.attempts == 0 {
                "not started before its starting deadline: no offer fit it in time".to_string()
            } else {
                format!(
                    "attempt {} failed and no retry could start in time",
                    r.attempts
                )
            };
            self.emit("job_run_failed", &r.job_id, Some(&r.id), why.clone(), now);
            r.status = RunStatus::Failed;
            r.completed_at = Some(now);
            r.reason = Some(why);
            self.counters.runs_failed += 1;
            self.retire(r);
        }
    }
}
