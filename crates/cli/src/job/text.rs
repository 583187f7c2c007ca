//! How jobs, runs, history and schedules read: tables, `label: value` rows, and Metronome's
//! times (read as UTC, shown as clock times and spans relative to now).

use super::*;

/// Seconds since the epoch, now.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Chronos' words for a job's state: `running` (a run has its task), `queued` (a run waits for
/// a place), `idle`.
pub(super) fn status(runs: &[JobRun]) -> String {
    let running = runs
        .iter()
        .filter(|r| matches!(r.status.as_str(), "ACTIVE" | "STARTING"))
        .count();
    let queued = runs.len() - running;
    match (running, queued) {
        (0, 0) => "idle".into(),
        (0, 1) => "queued".into(),
        (0, n) => format!("{n} queued"),
        (1, 0) => "running".into(),
        (n, 0) => format!("{n} running"),
        (n, q) => format!("{n} running, {q} queued"),
    }
}

/// `0 3 * * * Europe/Berlin`, `(disabled)` after one that is off; several on their own lines.
pub(super) fn schedule_text(s: &[ScheduleSpec]) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.iter()
        .map(|s| {
            let off = if s.enabled { "" } else { " (disabled)" };
            format!("{} {}{off}", s.cron, s.timezone)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The soonest next run of the enabled schedules, from now: `in 4h 59m`.
pub(super) fn next_run(s: &[ScheduleSpec], now: i64) -> String {
    s.iter()
        .filter(|s| s.enabled)
        .filter_map(|s| s.next_run_at.as_deref().and_then(parse_time))
        .min()
        .map(|t| relative(t, now))
        .unwrap_or_else(|| "-".into())
}

/// The later of the last success and the last failure: `success 3m ago`.
pub(super) fn last_run(h: Option<&History>, now: i64) -> String {
    let Some(h) = h else { return "-".into() };
    let s = h.last_success_at.as_deref().and_then(parse_time);
    let f = h.last_failure_at.as_deref().and_then(parse_time);
    match (s, f) {
        (Some(s), Some(f)) if f > s => format!("failure {}", relative(f, now)),
        (Some(s), _) => format!("success {}", relative(s, now)),
        (None, Some(f)) => format!("failure {}", relative(f, now)),
        (None, None) => "-".into(),
    }
}

/// `3 succeeded, 1 failed; last success 2m ago`.
pub(super) fn counts(h: &History, now: i64) -> String {
    let mut s = format!("{} succeeded, {} failed", h.success_count, h.failure_count);
    let last = last_run(Some(h), now);
    if last != "-" {
        s.push_str(&format!("; last {last}"));
    }
    s
}

pub(super) fn jobs_table(jobs: &[JobView], now: i64) -> Table {
    let mut t = table(&[
        "ID", "STATUS", "SCHEDULE", "NEXT RUN", "LAST RUN", "SUCCESS", "FAILURE",
    ]);
    for j in jobs {
        let h = j.history_summary.as_ref().or(j.history.as_ref());
        t.add_row(vec![
            j.id.clone(),
            status(&j.active_runs),
            schedule_text(&j.schedules),
            next_run(&j.schedules, now),
            last_run(h, now),
            h.map(|h| h.success_count.to_string()).unwrap_or_default(),
            h.map(|h| h.failure_count.to_string()).unwrap_or_default(),
        ]);
    }
    t
}

/// What a job runs: its cmd, else its args, else its image.
pub(super) fn command_of(r: &RunView) -> String {
    if let Some(c) = &r.cmd {
        return c.clone();
    }
    if let Some(a) = &r.args {
        return a.join(" ");
    }
    match &r.docker {
        Some(d) => format!("(image {})", d.image),
        None => String::new(),
    }
}

pub(super) fn show_rows(j: &JobView, now: i64) -> Vec<(&'static str, String)> {
    let mut rows: Vec<(&str, String)> = vec![("id", j.id.clone())];
    if let Some(d) = j.description.as_deref().filter(|d| !d.is_empty()) {
        rows.push(("description", d.to_string()));
    }
    let r = &j.run;
    rows.push(("cmd", command_of(r)));
    if let Some(d) = &r.docker {
        rows.push(("image", d.image.clone()));
    }
    let mut res = format!(
        "cpus {}, mem {} MiB, disk {} MiB",
        num(r.cpus),
        num(r.mem),
        num(r.disk)
    );
    if r.gpus > 0.0 {
        res.push_str(&format!(", gpus {}", num(r.gpus)));
    }
    rows.push(("resources", res));
    if let Some(u) = &r.user {
        rows.push(("user", u.clone()));
    }
    if let Some(p) = &r.restart {
        let mut s = p.policy.clone();
        if let Some(d) = p.active_deadline_seconds {
            s.push_str(&format!(" (activeDeadlineSeconds {d})"));
        }
        rows.push(("restart", s));
    }
    for (i, (k, v)) in r.env.iter().enumerate() {
        rows.push((
            if i == 0 { "env" } else { "" },
            format!("{k}={}", value_text(v)),
        ));
    }
    for (i, (k, v)) in j.labels.iter().enumerate() {
        rows.push((if i == 0 { "labels" } else { "" }, format!("{k}={v}")));
    }
    if !j.dependencies.is_empty() {
        let ids: Vec<&str> = j.dependencies.iter().map(|d| d.id.as_str()).collect();
        rows.push(("depends on", ids.join(", ")));
    }
    if j.schedules.is_empty() {
        rows.push((
            "schedule",
            "none (runs when started: `drover job run`)".into(),
        ));
    }
    for (i, s) in j.schedules.iter().enumerate() {
        let next = match s.next_run_at.as_deref().and_then(parse_time) {
            Some(t) if s.enabled => format!("next {} ({})", clock(t), relative(t, now)),
            _ if !s.enabled => "disabled".into(),
            _ => "no next run".into(),
        };
        rows.push((
            if i == 0 { "schedule" } else { "" },
            format!(
                "{}: {} {}, {next}; startingDeadlineSeconds {}, {}",
                s.id, s.cron, s.timezone, s.starting_deadline_seconds, s.concurrency_policy
            ),
        ));
    }
    if let Some(h) = &j.history {
        rows.push(("runs", counts(h, now)));
    }
    rows
}

/// A run's tasks: `TASK_RUNNING`, or with several attempts `TASK_FAILED, TASK_RUNNING`.
pub(super) fn task_states(r: &JobRun) -> String {
    if r.tasks.is_empty() {
        return "-".into();
    }
    r.tasks
        .iter()
        .map(|t| t.status.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn runs_table(runs: &[JobRun], now: i64) -> Table {
    let mut t = table(&["ID", "STATUS", "CREATED", "TASKS"]);
    let mut runs: Vec<&JobRun> = runs.iter().collect();
    runs.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    for r in runs {
        t.add_row(vec![
            r.id.clone(),
            r.status.clone(),
            parse_time(&r.created_at)
                .map(|c| relative(c, now))
                .unwrap_or_default(),
            task_states(r),
        ]);
    }
    t
}

/// A job's finished runs, newest first, each with its outcome.
pub(super) fn finished_runs(h: Option<&History>) -> Vec<(&'static str, &FinishedRun)> {
    let Some(h) = h else { return vec![] };
    let mut runs: Vec<(&str, &FinishedRun)> = h
        .successful_finished_runs
        .iter()
        .flatten()
        .map(|r| ("SUCCESS", r))
        .chain(
            h.failed_finished_runs
                .iter()
                .flatten()
                .map(|r| ("FAILED", r)),
        )
        .collect();
    runs.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
    runs
}

pub(super) fn history_table<'a>(
    runs: impl Iterator<Item = (&'static str, &'a FinishedRun)>,
    now: i64,
) -> Table {
    let mut t = table(&["ID", "STATUS", "CREATED", "FINISHED", "TASKS"]);
    for (status, r) in runs {
        let created = parse_time(&r.created_at);
        let finished = r.finished_at.as_deref().and_then(parse_time);
        t.add_row(vec![
            r.id.clone(),
            status.to_string(),
            created.map(clock).unwrap_or_else(|| r.created_at.clone()),
            match (created, finished) {
                (Some(c), Some(f)) => format!("{} (took {})", relative(f, now), span(f - c)),
                (None, Some(f)) => relative(f, now),
                _ => "-".into(),
            },
            r.tasks.len().to_string(),
        ]);
    }
    t
}

pub(super) fn skipped_table(skipped: &[Skipped]) -> Table {
    let mut t = table(&["DUE", "SCHEDULE", "OCCURRENCES", "REASON", "RECORDED"]);
    for s in skipped {
        let at = |ts: &str| parse_time(ts).map(clock).unwrap_or_else(|| ts.to_string());
        t.add_row(vec![
            at(&s.due_at),
            s.schedule_id.clone(),
            s.count.to_string(),
            truncate(&s.reason, 100),
            at(&s.recorded_at),
        ]);
    }
    t
}

pub(super) fn schedules_table(list: &[ScheduleSpec], now: i64) -> Table {
    let mut t = table(&[
        "ID",
        "CRON",
        "TIMEZONE",
        "ENABLED",
        "CONCURRENCY",
        "DEADLINE (s)",
        "NEXT RUN (UTC)",
    ]);
    for s in list {
        let next = s
            .next_run_at
            .as_deref()
            .and_then(parse_time)
            .filter(|_| s.enabled)
            .map(|t| format!("{} ({})", clock(t), relative(t, now)))
            .unwrap_or_else(|| "-".into());
        t.add_row(vec![
            s.id.clone(),
            s.cron.clone(),
            s.timezone.clone(),
            s.enabled.to_string(),
            s.concurrency_policy.clone(),
            s.starting_deadline_seconds.to_string(),
            next,
        ]);
    }
    t
}

/// Seconds since the epoch of Metronome's timestamp (`2016-07-15T13:02:59.735+0000`; also
/// RFC 3339's `Z` and `+01:00`).
pub(super) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let field = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (h, mi, sec) = (field(11..13)?, field(14..16)?, field(17..19)?);
    if !matches!(s.as_bytes().get(10), Some(b'T' | b' ')) {
        return None;
    }
    let rest = s.get(19..)?;
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            let oh: i64 = digits.get(0..2)?.parse().ok()?;
            let om: i64 = digits.get(2..4).unwrap_or("00").parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// `2026-03-01 02:00:00 UTC`.
pub(super) fn clock(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `45s`, `3m`, `4h 59m`, `2d 3h`.
pub(super) fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `in 4h 59m`, `3m ago`, `just now`.
pub(super) fn relative(t: i64, now: i64) -> String {
    match t - now {
        0 => "just now".into(),
        d if d > 0 => format!("in {}", span(d)),
        d => format!("{} ago", span(-d)),
    }
}
