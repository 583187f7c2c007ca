//! A container's stdout and stderr, copied from the Engine's log stream into the sandbox as they
//! come, from where an earlier copy (before an agent restart) got to.

use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::query_parameters as qp;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the log cursor is checkpointed while output flows.
const CURSOR_EVERY: Duration = Duration::from_millis(250);

/// Nanoseconds since the epoch of an RFC 3339 UTC timestamp as the Engine writes them
/// (`2024-05-07T21:09:36.123456789Z`).
fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>());
    let (y, m, dd) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + nanos)
}

/// For an entry stamped `ts`: `None` when an earlier pass (which got to `resume`) wrote it
/// already, else the cursor after it (the latest stamp written so far).
fn advance(resume: Option<i64>, cursor: Option<i64>, ts: i64) -> Option<i64> {
    if resume.is_some_and(|r| ts <= r) {
        return None;
    }
    Some(cursor.map_or(ts, |c| c.max(ts)))
}

/// Copy the container's stdout/stderr into the sandbox from where the last copy got to, until
/// the container stops (the Engine then ends the stream).
pub(super) async fn copy_logs(
    docker: Docker,
    name: String,
    sandbox: PathBuf,
    meta: PathBuf,
    cid: String,
) {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.create(true).append(true);
    let (mut out, mut err) = match (
        options.open(sandbox.join("stdout")).await,
        options.open(sandbox.join("stderr")).await,
    ) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(container = %name, "cannot open the sandbox's stdout/stderr: {e}");
            return;
        }
    };
    let mut cursor = crate::checkpoint::read_docker_log_cursor(&meta, &cid);
    let mut saved = cursor;
    let mut last_save = Instant::now();
    loop {
        let since = cursor.map(|c| (c / 1_000_000_000) as i32).unwrap_or(0);
        let opts = qp::LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since,
            timestamps: true,
            ..Default::default()
        };
        let mut s = docker.logs(&name, Some(opts));
        let mut broken = false;
        // What an earlier pass already wrote ends here. The stream interleaves stdout and
        // stderr, whose timestamps are not in order across the two: only entries up to where
        // the last pass got are skipped, never one older than an entry of this pass.
        let resume = cursor;
        while let Some(item) = s.next().await {
            let (file, message) = match item {
                Ok(LogOutput::StdOut { message }) => (&mut out, message),
                Ok(LogOutput::StdErr { message }) => (&mut err, message),
                Ok(_) => continue,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => break,
                Err(e) => {
                    tracing::warn!(container = %name, "log stream broke: {e}; resuming");
                    broken = true;
                    break;
                }
            };
            // "<timestamp> <output>": skip what an earlier copy already wrote.
            let split = message.iter().position(|&b| b == b' ');
            let ts = split
                .and_then(|i| std::str::from_utf8(&message[..i]).ok())
                .and_then(parse_timestamp);
            let payload = match (ts, split) {
                (Some(ts), Some(i)) => {
                    let Some(c) = advance(resume, cursor, ts) else {
                        continue;
                    };
                    cursor = Some(c);
                    &message[i + 1..]
                }
                _ => &message[..],
            };
            if let Err(e) = async {
                file.write_all(payload).await?;
                file.flush().await
            }
            .await
            {
                tracing::error!(container = %name, "writing the task's output: {e}");
            }
            if cursor != saved && last_save.elapsed() >= CURSOR_EVERY {
                if let Some(c) = cursor {
                    let _ = crate::checkpoint::write_docker_log_cursor(&meta, &cid, c);
                }
                saved = cursor;
                last_save = Instant::now();
            }
        }
        if let (Some(c), true) = (cursor, cursor != saved) {
            let _ = crate::checkpoint::write_docker_log_cursor(&meta, &cid, c);
            saved = cursor;
        }
        if !broken {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_older_than_one_of_the_same_pass_is_kept() {
        // stdout at 10, then stderr stamped 9 (the two streams' stamps interleave): both are
        // written; the cursor stays at the latest.
        let c = advance(None, None, 10).expect("written");
        assert_eq!(advance(None, Some(c), 9), Some(10));
        // A later pass resumes after 10: what it sees again up to 10 is skipped.
        assert_eq!(advance(Some(10), Some(10), 9), None);
        assert_eq!(advance(Some(10), Some(10), 10), None);
        assert_eq!(advance(Some(10), Some(10), 11), Some(11));
    }

    #[test]
    fn engine_timestamps_parse_to_nanoseconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.5Z"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T12:34:56.123456789Z"),
            Some(1_709_210_096_123_456_789)
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
