//! Opening the core from the store (the only time it reads it) and keeping what it writes
//! bounded: a job's finished runs and skipped occurrences beyond the last
//! [`HISTORY_PER_JOB`] are deleted as new ones are written.

use super::{keys, Cursor, Entropy, Job, Jobs, Run, Skipped, Totals};
use crate::JobsError;
use drover_api::FrameworkID;
use drover_store::Store;
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Finished runs (and skipped occurrences) kept per job.
pub const HISTORY_PER_JOB: usize = 100;

/// The store key of a job's counts.
fn totals_key(job: &str) -> String {
    format!("jobs/totals/{job}")
}

impl Jobs {
    /// Open the core over `store`: jobs, schedules' cursors, runs, history, the framework id.
    pub fn open(
        store: Arc<dyn Store>,
        role: String,
        entropy: Box<dyn Entropy>,
    ) -> Result<Jobs, JobsError> {
        let mut j = Jobs {
            store,
            jobs: BTreeMap::new(),
            whens: HashMap::new(),
            cursors: HashMap::new(),
            due_index: Default::default(),
            runs: BTreeMap::new(),
            history: HashMap::new(),
            totals: HashMap::new(),
            skipped: HashMap::new(),
            by_task: HashMap::new(),
            framework_id: None,
            connected: false,
            suppressed: false,
            // Launched runs are reconciled as soon as the master is there.
            next_reconcile: Some(Timestamp::UNIX_EPOCH),
            role,
            counters: Default::default(),
            entropy,
            pending: Vec::new(),
            events: Vec::new(),
        };
        j.load()?;
        Ok(j)
    }

    fn load(&mut self) -> Result<(), JobsError> {
        let store = self.store.clone();
        if let Some(v) = store.get(keys::FRAMEWORK_ID)? {
            self.framework_id = Some(FrameworkID::new(String::from_utf8_lossy(&v).to_string()));
        }
        for (k, v) in store.scan(keys::SPECS)? {
            match serde_json::from_slice::<Job>(&v) {
                Ok(job) => {
                    self.jobs.insert(job.spec.id.clone(), job);
                }
                Err(e) => tracing::error!("jobs: unreadable job at {k}: {e}"),
            }
        }
        for (k, v) in store.scan(keys::CURSORS)? {
            let rest = &k[keys::CURSORS.len()..];
            let (Some((job, sched)), Ok(c)) =
                (rest.split_once('/'), serde_json::from_slice::<Cursor>(&v))
            else {
                tracing::error!("jobs: unreadable cursor at {k}");
                continue;
            };
            self.cursors.insert((job.to_string(), sched.to_string()), c);
        }
        for (k, v) in store.scan(keys::RUNS)? {
            match serde_json::from_slice::<Run>(&v) {
                Ok(r) => self.index_run(r),
                Err(e) => tracing::error!("jobs: unreadable run at {k}: {e}"),
            }
        }
        for (k, v) in store.scan(keys::HISTORY)? {
            match serde_json::from_slice::<Run>(&v) {
                Ok(r) => self
                    .history
                    .entry(r.job_id.clone())
                    .or_default()
                    .push_back(r),
                Err(e) => tracing::error!("jobs: unreadable finished run at {k}: {e}"),
            }
        }
        for h in self.history.values_mut() {
            h.make_contiguous()
                .sort_by_key(|r| (r.completed_at.unwrap_or(r.created_at), r.id.clone()));
        }
        for (k, v) in store.scan("jobs/totals/")? {
            if let Ok(t) = serde_json::from_slice::<Totals>(&v) {
                self.totals.insert(k["jobs/totals/".len()..].to_string(), t);
            }
        }
        for (_, v) in store.scan(keys::SKIPPED)? {
            if let Ok(s) = serde_json::from_slice::<Skipped>(&v) {
                self.skipped
                    .entry(s.job_id.clone())
                    .or_default()
                    .push_back(s);
            }
        }
        let ids: Vec<String> = self.jobs.keys().cloned().collect();
        for id in ids {
            self.add_to_index(&id);
        }
        Ok(())
    }

    /// Put a run in the maps (not the store).
    pub(crate) fn index_run(&mut self, r: Run) {
        for t in &r.tasks {
            self.by_task
                .insert(t.id.clone(), (r.job_id.clone(), r.id.clone()));
        }
        self.runs
            .entry(r.job_id.clone())
            .or_default()
            .insert(r.id.clone(), r);
    }

    /// Write a run that is not finished.
    pub(crate) fn save_run(&mut self, r: &Run) {
        self.put(keys::run(&r.job_id, &r.id), r);
    }

    /// Move a finished run to the history: one transaction with whatever else is pending, so
    /// the run is never both active and finished, nor neither.
    pub(crate) fn retire(&mut self, r: Run) {
        for t in &r.tasks {
            self.by_task.remove(&t.id);
        }
        if let Some(m) = self.runs.get_mut(&r.job_id) {
            m.remove(&r.id);
            if m.is_empty() {
                self.runs.remove(&r.job_id);
            }
        }
        self.delete(keys::run(&r.job_id, &r.id));
        let t = self.totals.entry(r.job_id.clone()).or_default();
        let at = r.completed_at.unwrap_or(r.created_at);
        if r.status == super::RunStatus::Success {
            t.success_count += 1;
            t.last_success_at = Some(at);
            t.errors_since_success = 0;
        } else {
            t.failure_count += 1;
            t.last_failure_at = Some(at);
            t.errors_since_success += 1;
        }
        let t = t.clone();
        self.put(totals_key(&r.job_id), &t);
        self.put(keys::history(&r.job_id, &r.id), &r);
        let h = self.history.entry(r.job_id.clone()).or_default();
        h.push_back(r);
        let mut gone = Vec::new();
        while h.len() > HISTORY_PER_JOB {
            if let Some(old) = h.pop_front() {
                gone.push(keys::history(&old.job_id, &old.id));
            }
        }
        for k in gone {
            self.delete(k);
        }
    }

    /// Record occurrences that were not run.
    pub(crate) fn record_skip(&mut self, s: Skipped) {
        let key = keys::skipped(
            &s.job_id,
            &super::scheduled_run_id(&s.job_id, &s.schedule, s.due),
        );
        self.put(key, &s);
        self.counters.occurrences_skipped += s.count;
        let q = self.skipped.entry(s.job_id.clone()).or_default();
        q.push_back(s);
        let mut gone = Vec::new();
        while q.len() > HISTORY_PER_JOB {
            if let Some(old) = q.pop_front() {
                gone.push(keys::skipped(
                    &old.job_id,
                    &super::scheduled_run_id(&old.job_id, &old.schedule, old.due),
                ));
            }
        }
        for k in gone {
            self.delete(k);
        }
    }

    /// Forget a job's history and counts (the job was deleted).
    pub(crate) fn forget_history(&mut self, job: &str) {
        for r in self.history.remove(job).unwrap_or_default() {
            self.delete(keys::history(job, &r.id));
        }
        for s in self.skipped.remove(job).unwrap_or_default() {
            self.delete(keys::skipped(
                job,
                &super::scheduled_run_id(job, &s.schedule, s.due),
            ));
        }
        if self.totals.remove(job).is_some() {
            self.delete(totals_key(job));
        }
    }

    pub fn set_framework_id(&mut self, id: FrameworkID) {
        if self.framework_id.as_ref() != Some(&id) {
            self.pending.push(drover_store::Op::Put(
                keys::FRAMEWORK_ID.into(),
                id.value.clone().into_bytes(),
            ));
            self.framework_id = Some(id);
        }
    }

    /// A fresh framework (the old one was torn down): its tasks are gone, so are the runs.
    pub fn forget_framework(&mut self, now: Timestamp) {
        self.framework_id = None;
        self.delete(keys::FRAMEWORK_ID.into());
        let runs: Vec<Run> = self
            .runs
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        for mut r in runs {
            r.status = super::RunStatus::Failed;
            r.completed_at = Some(now);
            r.reason = Some("the framework was removed from the master; its tasks are gone".into());
            self.retire(r);
        }
    }
}

/// The history of a job, newest first, as the APIs list it.
pub fn newest_first(h: Option<&VecDeque<Run>>) -> Vec<&Run> {
    h.map(|h| h.iter().rev().collect()).unwrap_or_default()
}
