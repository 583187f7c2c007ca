//! What the REST APIs ask of the core: jobs made, replaced and deleted, schedules added,
//! replaced and removed, runs started and stopped, Chronos' kill and mark-success. Each
//! checks what Metronome or Chronos checks and queues the writes; the driver makes them
//! durable before the answer goes out.

use super::{keys, plus, Calls, Job, Jobs, Run, RunStatus, Schedule, Trigger};
use crate::JobsError;
use drover_api::metronome::JobSpec;
use drover_api::scheduler::{Call, CallType, Kill};
use drover_api::{AgentID, TaskID};
use jiff::Timestamp;

impl Jobs {
    /// `POST /v1/jobs`: a new job (409 if the id is taken).
    pub fn create_job(&mut self, job: Job, now: Timestamp) -> Result<(), JobsError> {
        if self.jobs.contains_key(&job.spec.id) {
            return Err(JobsError::JobExists(job.spec.id));
        }
        self.check_parents(&job)?;
        self.store_job(job, now);
        Ok(())
    }

    /// `PUT /v1/jobs/{id}`: a new spec for a job; its schedules stay.
    pub fn replace_job(&mut self, spec: JobSpec, now: Timestamp) -> Result<Job, JobsError> {
        let Some(old) = self.jobs.get(&spec.id).cloned() else {
            return Err(JobsError::JobNotFound(spec.id));
        };
        let parents = if spec.dependencies.is_empty() && old.chronos.is_some() {
            old.parents.clone()
        } else {
            spec.dependencies.iter().map(|d| d.id.clone()).collect()
        };
        let job = Job {
            spec: JobSpec {
                schedules: vec![],
                ..spec
            },
            parents,
            ..old
        };
        self.check_parents(&job)?;
        self.store_job(job.clone(), now);
        Ok(job)
    }

    /// Chronos' upsert (`POST /iso8601`, `/dependency`): the job as given, replacing one of the
    /// same name; its counts and history stay, and its schedule's place stays unless it changed.
    pub fn upsert_job(&mut self, mut job: Job, now: Timestamp) -> Result<(), JobsError> {
        if let Some(old) = self.jobs.get(&job.spec.id) {
            job.created_at = old.created_at;
        }
        self.check_parents(&job)?;
        self.store_job(job, now);
        Ok(())
    }

    /// Write a job and (re)start the cursors of its new or changed schedules.
    fn store_job(&mut self, job: Job, now: Timestamp) {
        let id = job.spec.id.clone();
        let old = self.jobs.get(&id).cloned();
        self.put(keys::spec(&id), &job);
        let changed: Vec<String> = job
            .schedules
            .iter()
            .filter(|s| {
                let before = old
                    .as_ref()
                    .and_then(|o| o.schedules.iter().find(|o| o.id == s.id));
                before.is_none_or(|b| b.timing != s.timing || (!b.enabled && s.enabled))
                    || !self.cursors.contains_key(&(id.clone(), s.id.clone()))
            })
            .map(|s| s.id.clone())
            .collect();
        if let Some(old) = &old {
            for s in &old.schedules {
                if !job.schedules.iter().any(|n| n.id == s.id) {
                    self.cursors.remove(&(id.clone(), s.id.clone()));
                    self.delete(keys::cursor(&id, &s.id));
                }
            }
        }
        self.jobs.insert(id.clone(), job);
        for s in changed {
            self.start_cursor(&id, &s, now);
        }
        self.index_schedules(&id);
    }

    /// Parents must exist and not lead back to the job.
    fn check_parents(&self, job: &Job) -> Result<(), JobsError> {
        for p in &job.parents {
            if p != &job.spec.id && !self.jobs.contains_key(p) {
                return Err(JobsError::ParentNotFound(p.clone()));
            }
        }
        // Walk up from each parent; reaching the job again is a cycle.
        let mut stack: Vec<&str> = job.parents.iter().map(String::as_str).collect();
        let mut seen = std::collections::HashSet::new();
        while let Some(p) = stack.pop() {
            if p == job.spec.id {
                return Err(JobsError::DependencyCycle(job.spec.id.clone()));
            }
            if !seen.insert(p) {
                continue;
            }
            if let Some(j) = self.jobs.get(p) {
                stack.extend(j.parents.iter().map(String::as_str));
            }
        }
        Ok(())
    }

    /// `DELETE /v1/jobs/{id}`: 409 while runs are active unless they are stopped too.
    pub fn delete_job(
        &mut self,
        id: &str,
        stop_current: bool,
        now: Timestamp,
    ) -> Result<(Job, Calls), JobsError> {
        let Some(job) = self.jobs.get(id).cloned() else {
            return Err(JobsError::JobNotFound(id.to_string()));
        };
        let active: Vec<String> = self.active_runs(id).map(|r| r.id.clone()).collect();
        if !active.is_empty() && !stop_current {
            return Err(JobsError::ActiveRuns);
        }
        if let Some(child) = self
            .jobs
            .values()
            .find(|j| j.parents.iter().any(|p| p == id))
        {
            return Err(JobsError::HasDependents {
                job: id.to_string(),
                child: child.spec.id.clone(),
            });
        }
        let mut calls = Vec::new();
        for r in active {
            calls.extend(self.stop_run(id, &r, now)?);
        }
        // Runs go with the job: their tasks are being killed, and no update will find them.
        let runs: Vec<Run> = self
            .runs
            .remove(id)
            .map(|m| m.into_values().collect())
            .unwrap_or_default();
        for r in runs {
            for t in &r.tasks {
                self.by_task.remove(&t.id);
            }
            self.delete(keys::run(id, &r.id));
        }
        for s in &job.schedules {
            self.cursors.remove(&(id.to_string(), s.id.clone()));
            self.delete(keys::cursor(id, &s.id));
        }
        self.forget_history(id);
        self.jobs.remove(id);
        self.delete(keys::spec(id));
        self.index_schedules(id);
        Ok((job, calls))
    }

    /// `POST /v1/jobs/{id}/schedules`: Metronome takes one schedule per job.
    pub fn add_schedule(
        &mut self,
        job: &str,
        s: Schedule,
        now: Timestamp,
    ) -> Result<(), JobsError> {
        let Some(mut j) = self.jobs.get(job).cloned() else {
            return Err(JobsError::JobNotFound(job.to_string()));
        };
        if j.schedules.iter().any(|o| o.id == s.id) {
            return Err(JobsError::ScheduleExists(s.id));
        }
        if !j.schedules.is_empty() {
            return Err(JobsError::OneSchedule);
        }
        j.schedules.push(s);
        self.store_job(j, now);
        Ok(())
    }

    /// `PUT /v1/jobs/{id}/schedules/{sid}`.
    pub fn replace_schedule(
        &mut self,
        job: &str,
        s: Schedule,
        now: Timestamp,
    ) -> Result<(), JobsError> {
        let Some(mut j) = self.jobs.get(job).cloned() else {
            return Err(JobsError::JobNotFound(job.to_string()));
        };
        let Some(slot) = j.schedules.iter_mut().find(|o| o.id == s.id) else {
            return Err(JobsError::ScheduleNotFound(s.id));
        };
        *slot = s;
        self.store_job(j, now);
        Ok(())
    }

    /// `DELETE /v1/jobs/{id}/schedules/{sid}`.
    pub fn delete_schedule(
        &mut self,
        job: &str,
        sid: &str,
        now: Timestamp,
    ) -> Result<(), JobsError> {
        let Some(mut j) = self.jobs.get(job).cloned() else {
            return Err(JobsError::JobNotFound(job.to_string()));
        };
        let before = j.schedules.len();
        j.schedules.retain(|s| s.id != sid);
        if j.schedules.len() == before {
            return Err(JobsError::ScheduleNotFound(sid.to_string()));
        }
        self.store_job(j, now);
        Ok(())
    }

    /// Start a run now (`POST /v1/jobs/{id}/runs`, Chronos' `PUT /job/{name}`).
    pub fn start_run(
        &mut self,
        job: &str,
        arguments: Option<Vec<String>>,
        now: Timestamp,
    ) -> Result<(Run, Calls), JobsError> {
        let Some(j) = self.jobs.get(job) else {
            return Err(JobsError::JobNotFound(job.to_string()));
        };
        let delay = j.spec.run.max_launch_delay as i64;
        let id = format!("{}{}", super::stamp(now), self.entropy.suffix());
        let run = self
            .new_run(job, id, Trigger::Manual, plus(now, delay), arguments, now)
            .ok_or_else(|| JobsError::JobNotFound(job.to_string()))?;
        self.emit(
            "job_run_started",
            job,
            Some(&run.id),
            "started through the API".into(),
            now,
        );
        self.save_run(&run);
        self.index_run(run.clone());
        let calls = self.launch_wanted(now);
        Ok((run, calls))
    }

    /// Stop a run: kill its task; the run fails when the task is gone (at once if none runs).
    pub fn stop_run(&mut self, job: &str, run: &str, now: Timestamp) -> Result<Calls, JobsError> {
        if !self.jobs.contains_key(job) {
            return Err(JobsError::JobNotFound(job.to_string()));
        }
        let Some(mut r) = self.runs.get(job).and_then(|m| m.get(run)).cloned() else {
            return Err(JobsError::RunNotFound {
                job: job.to_string(),
                run: run.to_string(),
            });
        };
        r.stopping = true;
        let live = r.tasks.last().filter(|t| !t.state.is_terminal()).cloned();
        match live {
            Some(t) if r.status != RunStatus::Initial => {
                self.save_run(&r);
                self.index_run(r);
                let mut c = Call::new(CallType::KILL, self.framework_id.clone());
                c.kill = Some(Kill {
                    task_id: TaskID::new(t.id),
                    agent_id: Some(AgentID::new(t.agent_id)),
                    kill_policy: None,
                });
                Ok(vec![c])
            }
            _ => {
                r.status = RunStatus::Failed;
                r.completed_at = Some(now);
                r.reason = Some("stopped before it was launched".into());
                self.emit("job_run_failed", job, Some(run), "stopped".into(), now);
                self.retire(r);
                Ok(vec![])
            }
        }
    }

    /// Chronos' `DELETE /task/kill/{name}`: stop every active run of the job.
    pub fn kill_job_tasks(&mut self, job: &str, now: Timestamp) -> Result<Calls, JobsError> {
        if !self.jobs.contains_key(job) {
            return Err(JobsError::JobNotFound(job.to_string()));
        }
        let ids: Vec<String> = self.active_runs(job).map(|r| r.id.clone()).collect();
        let mut calls = Vec::new();
        for r in ids {
            calls.extend(self.stop_run(job, &r, now)?);
        }
        Ok(calls)
    }

    /// Chronos' `PUT /job/success/{name}`: count a success now (and start the jobs waiting on it).
    pub fn mark_success(&mut self, job: &str, now: Timestamp) -> Result<(), JobsError> {
        if !self.jobs.contains_key(job) {
            return Err(JobsError::JobNotFound(job.to_string()));
        }
        let id = format!("{}{}", super::stamp(now), self.entropy.suffix());
        let Some(mut r) = self.new_run(job, id, Trigger::Manual, now, None, now) else {
            return Err(JobsError::JobNotFound(job.to_string()));
        };
        r.status = RunStatus::Success;
        r.completed_at = Some(now);
        r.reason = Some("marked successful".into());
        let done = r.clone();
        self.retire(r);
        self.start_dependents_of(&done.job_id, &done.id, now);
        Ok(())
    }
}
