//! What Chronos asks of the core beyond Metronome's operations: a schedule written back as
//! Chronos rewrites it after each run (`R{left}/{next start}/{period}`, from the cursor), and
//! deleting a job that others depend on — Chronos never refuses that (mesos/chronos
//! `JobManagementResource.delete`, `JobScheduler.deregisterJob`): a dependent job's children are
//! handed to its own parents; the only child of a scheduled job takes over its schedule (where
//! it stands now); a child that has other parents just loses this one.

use super::{Calls, Cursor, Job, Jobs, Schedule, Timing};
use crate::schedule::{Repeating, When};
use crate::JobsError;
use jiff::{SignedDuration, Timestamp};

/// A Chronos schedule as it stands.
#[derive(Clone, Debug, PartialEq)]
pub struct ChronosSchedule {
    /// `R{n}/{start}/{period}`: the next occurrence not yet handled as the start, the
    /// occurrences left as the count.
    pub spec: String,
    /// No occurrence is left (Chronos then writes `R0` and disables the job).
    pub exhausted: bool,
}

/// `R{n}/` or `R/`.
fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "R".to_string(), |n| format!("R{n}"))
}

/// What follows the count: `{start}/{period}`.
fn tail(r: &Repeating) -> String {
    let s = r.to_string();
    match s.split_once('/') {
        Some((_, t)) => t.to_string(),
        None => s,
    }
}

impl Jobs {
    /// An ISO 8601 schedule of `job` as Chronos shows it after its runs; `None` for a cron one.
    pub fn chronos_schedule(&self, job: &str, s: &Schedule) -> Option<ChronosSchedule> {
        let Timing::Iso8601 { spec, .. } = &s.timing else {
            return None;
        };
        let as_given = ChronosSchedule {
            spec: spec.clone(),
            exhausted: false,
        };
        let key = (job.to_string(), s.id.clone());
        let Some(When::Repeating(r)) = self.whens.get(&key) else {
            return Some(as_given);
        };
        match self.cursors.get(&key) {
            Some(Cursor {
                next_due: Some(t),
                remaining,
            }) if *remaining != Some(0) => {
                // The schedule restarted at its next occurrence (the first one after just
                // before it), its count the cursor's.
                let at = t
                    .checked_sub(SignedDuration::from_nanos(1))
                    .ok()
                    .and_then(|before| r.after(before))
                    .filter(|a| a.start() == *t);
                Some(match at {
                    Some(a) => ChronosSchedule {
                        spec: format!("{}/{}", count(*remaining), tail(&a)),
                        exhausted: false,
                    },
                    None => as_given,
                })
            }
            Some(_) => Some(ChronosSchedule {
                spec: format!("R0/{}", tail(r)),
                exhausted: true,
            }),
            None => Some(as_given),
        }
    }

    /// Chronos' `DELETE /job/{name}`: the job's children re-parented or scheduled (see the
    /// module doc), then the job deleted with its runs stopped — in one write.
    pub fn delete_chronos_job(
        &mut self,
        name: &str,
        now: Timestamp,
    ) -> Result<(Job, Calls), JobsError> {
        let Some(job) = self.jobs.get(name).cloned() else {
            return Err(JobsError::JobNotFound(name.to_string()));
        };
        let children: Vec<Job> = self
            .jobs
            .values()
            .filter(|j| j.parents.iter().any(|p| p == name))
            .cloned()
            .collect();
        // The schedule a sole child inherits: where the parent's stands now.
        let inherited = job.schedules.first().map(|s| {
            let timing = match (&s.timing, self.chronos_schedule(name, s)) {
                (Timing::Iso8601 { timezone, .. }, Some(now_at)) if !now_at.exhausted => {
                    Timing::Iso8601 {
                        spec: now_at.spec,
                        timezone: timezone.clone(),
                    }
                }
                (t, _) => t.clone(),
            };
            (s.clone(), timing)
        });
        for mut child in children {
            let mut parents: Vec<String> = child
                .parents
                .iter()
                .filter(|p| p.as_str() != name)
                .cloned()
                .collect();
            if !job.parents.is_empty() {
                for p in &job.parents {
                    if !parents.contains(p) && p != &child.spec.id {
                        parents.push(p.clone());
                    }
                }
            } else if let (true, Some((s, timing))) = (parents.is_empty(), &inherited) {
                let chronos = child.chronos.as_ref();
                let flag = |k: &str| chronos.and_then(|c| c.get(k)).and_then(|v| v.as_bool());
                child.schedules = vec![Schedule {
                    id: s.id.clone(),
                    timing: timing.clone(),
                    starting_deadline_seconds: s.starting_deadline_seconds,
                    // Chronos' default is not concurrent; a Metronome job's is ALLOW.
                    forbid_concurrent: flag("concurrent").map_or(chronos.is_some(), |c| !c),
                    enabled: !flag("disabled").unwrap_or(false),
                }];
            }
            child.parents = parents;
            self.upsert_job(child, now)?;
        }
        self.delete_job(name, true, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Entropy;
    use drover_api::metronome::JobSpec;
    use serde_json::json;
    use std::sync::Arc;

    struct Fixed;
    impl Entropy for Fixed {
        fn suffix(&mut self) -> String {
            "AAAAA".into()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("a time")
    }

    fn core() -> Jobs {
        Jobs::open(
            Arc::new(drover_store::MemoryStore::default()),
            "*".into(),
            Box::new(Fixed),
        )
        .expect("a core")
    }

    fn job(name: &str, parents: &[&str], schedule: Option<&str>) -> Job {
        let spec: JobSpec = serde_json::from_value(json!({
            "id": name, "run": {"cpus": 0.1, "mem": 32, "cmd": "true"}
        }))
        .expect("a spec");
        Job {
            spec,
            schedules: schedule
                .map(|s| Schedule {
                    id: "chronos".into(),
                    timing: Timing::Iso8601 {
                        spec: s.into(),
                        timezone: None,
                    },
                    starting_deadline_seconds: 60,
                    forbid_concurrent: true,
                    enabled: true,
                })
                .into_iter()
                .collect(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            chronos: Some(json!({"name": name, "concurrent": false})),
            retries: Some(2),
            created_at: ts("2030-01-01T00:00:00Z"),
        }
    }

    #[test]
    fn the_schedule_is_written_from_where_its_cursor_stands() {
        let mut j = core();
        let now = ts("2030-01-01T00:00:00Z");
        j.upsert_job(job("a", &[], Some("R3/2030-01-01T10:00:00.000Z/PT2H")), now)
            .expect("stored");
        let s = j.jobs["a"].schedules[0].clone();
        let shown = j.chronos_schedule("a", &s).expect("iso");
        assert_eq!(shown.spec, "R3/2030-01-01T10:00:00.000Z/PT2H");
        // The first occurrence handled: one left fewer, the start moved on.
        let _ = j.tick(ts("2030-01-01T10:00:01Z"));
        let shown = j.chronos_schedule("a", &s).expect("iso");
        assert_eq!(shown.spec, "R2/2030-01-01T12:00:00.000Z/PT2H");
        assert!(!shown.exhausted);
    }

    #[test]
    fn deleting_a_parent_hands_its_children_on() {
        let mut j = core();
        let now = ts("2030-01-01T00:00:00Z");
        j.upsert_job(
            job("root", &[], Some("R/2030-01-02T00:00:00.000Z/P1D")),
            now,
        )
        .expect("root");
        j.upsert_job(job("mid", &["root"], None), now).expect("mid");
        j.upsert_job(job("leaf", &["mid"], None), now)
            .expect("leaf");
        j.upsert_job(
            job("other", &[], Some("R/2030-01-02T00:00:00.000Z/P1D")),
            now,
        )
        .expect("other");
        j.upsert_job(job("both", &["root", "other"], None), now)
            .expect("both");
        // A dependent job: its child takes its parents.
        j.delete_chronos_job("mid", now).expect("deleted");
        assert_eq!(j.jobs["leaf"].parents, ["root"]);
        // A scheduled job: its sole child takes the schedule; one with another parent keeps it.
        j.delete_chronos_job("root", now).expect("deleted");
        assert!(j.jobs["leaf"].parents.is_empty());
        assert_eq!(
            j.jobs["leaf"].schedules[0].timing,
            Timing::Iso8601 {
                spec: "R/2030-01-02T00:00:00.000Z/P1D".into(),
                timezone: None
            }
        );
        assert!(j.jobs["leaf"].schedules[0].forbid_concurrent);
        assert_eq!(j.jobs["both"].parents, ["other"]);
        assert!(j.jobs["both"].schedules.is_empty());
        assert!(!j.jobs.contains_key("root"));
        assert!(matches!(
            j.delete_chronos_job("root", now),
            Err(JobsError::JobNotFound(_))
        ));
    }
}
