//! `drover job run`: start a run and, with `--wait`, follow it with a live status line to its
//! end (SUCCESS 0, FAILED 1 with its tasks named, out of time 6), riding out a scheduler's
//! failover.

use super::*;

pub(super) async fn run(
    api: &Api,
    c: &JobsArgs,
    id: &str,
    wait: bool,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let path = format!("{}/runs", job_path(id));
    let v = api.call(Method::POST, &path, &[], None).await?;
    let started: JobRun = api.decode(&format!("POST {path}"), &v)?;
    if !wait {
        if c.json {
            print_json(&v);
        } else {
            outln!("started run {} of job {id}", started.id);
        }
        return Ok(());
    }
    if !c.json {
        outln!("started run {} of job {id}", started.id);
    }
    let start = Instant::now();
    let end = follow(api, id, started, timeout, !c.json).await?;
    if c.json {
        print_json(&end);
    }
    match end.status.as_str() {
        "SUCCESS" => {
            if !c.json {
                outln!(
                    "✔ run {} of job {id}: SUCCESS ({:.1} s)",
                    end.id,
                    start.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        _ => Err(run_failed(id, &end)),
    }
}

/// A run that ended FAILED: what its tasks ended as, and where to read why.
pub(super) fn run_failed(job: &str, r: &JobRun) -> Error {
    let mut lines = vec![format!("run {} of job {job} FAILED", r.id)];
    for t in &r.tasks {
        lines.push(format!("  task {}: {}", t.id, t.status));
    }
    if let Some(t) = r.tasks.last() {
        lines.push(format!("  its stderr: `drover task log {} --stderr`", t.id));
    }
    lines.push(format!("  the job's runs: `drover job history {job}`"));
    failure(lines)
}

/// A run's live line: `run 2026…AB12C of job nightly: ACTIVE, task TASK_RUNNING`.
pub(super) fn run_line(job: &str, r: &JobRun) -> String {
    let mut s = format!("run {} of job {job}: {}", r.id, r.status);
    if let Some(t) = r.tasks.last() {
        s.push_str(&format!(", task {}", t.status));
        if r.tasks.len() > 1 {
            s.push_str(&format!(" (attempt {})", r.tasks.len()));
        }
    }
    s
}

pub(super) fn finished(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILED")
}

/// Follow a run until it ends (or `timeout` passes): a live line on stderr for people. A
/// scheduler that stops answering for a while (a failover) is waited for, up to [`SILENCE`].
pub(super) async fn follow(
    api: &Api,
    job: &str,
    mut run: JobRun,
    timeout: Option<Duration>,
    show: bool,
) -> Result<JobRun, Error> {
    let live = Live::new(show);
    let mut line = live.line(&run_line(job, &run));
    let start = Instant::now();
    let mut silent_since: Option<Instant> = None;
    let path = format!("{}/runs/{}", job_path(job), segment(&run.id));
    loop {
        if finished(&run.status) {
            line.finish();
            return Ok(run);
        }
        if let Some(t) = timeout.filter(|t| start.elapsed() >= *t) {
            line.finish();
            return Err(Error::TimedOut {
                message: format!(
                    "run {} of job {job} has not ended within {} s ({})",
                    run.id,
                    t.as_secs_f64(),
                    run.status
                ),
                hint: format!(
                    "it goes on: `drover job show {job}`; stop it with `drover job kill {job} {}`",
                    run.id
                ),
            });
        }
        tokio::time::sleep(POLL).await;
        match read_run(api, job, &run.id, &path).await {
            Ok(r) => {
                silent_since = None;
                run = r;
                line.set(run_line(job, &run));
            }
            Err(e @ (Error::NotFound { .. } | Error::Usage { .. })) => {
                line.finish();
                return Err(e);
            }
            Err(e) => {
                let since = *silent_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= SILENCE {
                    line.finish();
                    return Err(e);
                }
                line.set(format!(
                    "{}: the jobs scheduler does not answer; waiting",
                    run_line(job, &run)
                ));
            }
        }
    }
}

/// A run as it is now: from `/runs/{run}`, or — Metronome forgets a run once it has finished —
/// from the job's history.
pub(super) async fn read_run(api: &Api, job: &str, run: &str, path: &str) -> Result<JobRun, Error> {
    let a = api.send(Method::GET, path, &[], None).await?;
    if a.status.is_success() {
        let request = a.request().to_string();
        let v = api.json(a)?;
        return api.decode(&request, &v);
    }
    if a.status != StatusCode::NOT_FOUND || a.body.get("jobSpec").is_none() {
        return Err(api.refused(a));
    }
    let jp = job_path(job);
    let v = api.get(&jp, &[("embed", "history")]).await?;
    let j: JobView = api.decode(&format!("GET {jp}"), &v)?;
    let found = finished_runs(j.history.as_ref())
        .into_iter()
        .find(|(_, r)| r.id == run);
    match found {
        Some((status, r)) => Ok(JobRun {
            id: r.id.clone(),
            job_id: job.to_string(),
            status: status.into(),
            created_at: r.created_at.clone(),
            completed_at: r.finished_at.clone(),
            tasks: r
                .tasks
                .iter()
                .map(|t| drover_api::metronome::RunTask {
                    id: t.clone(),
                    started_at: None,
                    completed_at: None,
                    status: String::new(),
                })
                .collect(),
        }),
        None => Err(Error::not_found(
            format!(
                "run {run} of job '{job}' is gone from the jobs scheduler at {}",
                api.addr()
            ),
            Some(format!("`drover job history {job}` lists the runs it kept")),
        )),
    }
}
