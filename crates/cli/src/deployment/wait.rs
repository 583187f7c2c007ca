//! Waiting for deployments: what every command that starts one, and `deployment watch`, does
//! until it ends. Progress comes from polling `/v2/deployments` and `/v2/apps` (and, when an app
//! lags, `/v2/queue` for why); the outcome — success, or failure when the deployment was
//! superseded or rolled back — from Marathon's event stream, subscribed to before the change is
//! sent so that a deployment finishing at once is not missed.

use crate::client::Client;
use crate::error::Error;
use crate::render::{outln, Live, StatusLine};
use crate::views::{AppStatus, Apps, Deployment, DeploymentEvent, MarathonTasks, Queue};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a watched deployment ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Marathon's `deployment_success`.
    Succeeded,
    /// Marathon's `deployment_failed` (superseded, cancelled or rolled back), with its reason
    /// (`it failed` when it gives none).
    Failed { reason: String },
    /// It left `/v2/deployments` with no event saying how (no event stream, or none within 2 s
    /// of it going): counted as done.
    Gone,
}

impl Outcome {
    /// Whether the command goes on as if the deployment succeeded (its success line printed).
    fn done(&self) -> bool {
        matches!(self, Outcome::Succeeded | Outcome::Gone)
    }
}

/// Deployment outcomes from Marathon's event stream (`deployment_success`/`deployment_failed`).
pub(crate) struct EventFeed {
    outcomes: Arc<Mutex<HashMap<String, Outcome>>>,
    live: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for EventFeed {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl EventFeed {
    pub fn none() -> EventFeed {
        EventFeed {
            outcomes: Default::default(),
            live: Default::default(),
            task: None,
        }
    }

    /// Subscribe; once this returns with the stream open, no later outcome is missed. Without
    /// the stream, waiting still works by polling (a vanished deployment counts as done).
    pub async fn subscribe(api: &Client) -> EventFeed {
        let mut feed = EventFeed::none();
        let Some(mut resp) = api
            .open_stream(
                "/v2/events",
                &[
                    ("event_type", "deployment_success"),
                    ("event_type", "deployment_failed"),
                ],
            )
            .await
        else {
            return feed;
        };
        feed.live.store(true, Ordering::SeqCst);
        let (outcomes, live) = (feed.outcomes.clone(), feed.live.clone());
        feed.task = Some(tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.extend(chunk.iter().filter(|b| **b != b'\r'));
                while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
                    let block: Vec<u8> = buf.drain(..pos + 2).collect();
                    if let Some((id, outcome)) = parse_sse(&String::from_utf8_lossy(&block)) {
                        if let Ok(mut m) = outcomes.lock() {
                            m.insert(id, outcome);
                        }
                    }
                }
            }
            live.store(false, Ordering::SeqCst);
        }));
        feed
    }

    fn outcome(&self, id: &str) -> Option<Outcome> {
        self.outcomes.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
}

/// One SSE block → (deployment id, outcome), for deployment_success and deployment_failed.
fn parse_sse(block: &str) -> Option<(String, Outcome)> {
    let mut kind = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            kind = k.trim().to_string();
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    let ev: DeploymentEvent = serde_json::from_str(&data).ok()?;
    if kind.is_empty() {
        kind = ev.event_type.clone().unwrap_or_default();
    }
    let id = ev.id.or(ev.plan.and_then(|p| p.id))?;
    match kind.as_str() {
        "deployment_success" => Some((id, Outcome::Succeeded)),
        "deployment_failed" => Some((
            id,
            Outcome::Failed {
                reason: ev.reason.unwrap_or_else(|| "it failed".to_string()),
            },
        )),
        _ => None,
    }
}

/// A deployment being waited for.
pub(crate) struct Watched {
    id: String,
    apps: Vec<String>,
    done_verb: String,
    line: Option<StatusLine>,
    gone_since: Option<Instant>,
    result: Option<Outcome>,
}

impl Watched {
    pub fn new(id: String, apps: Vec<String>, done_verb: &str) -> Watched {
        Watched {
            id,
            apps,
            done_verb: done_verb.to_string(),
            line: None,
            gone_since: None,
            result: None,
        }
    }

    /// What its status line says (empty before the first poll).
    fn text(&self) -> &str {
        self.line
            .as_ref()
            .map(|l| l.text.as_str())
            .unwrap_or_default()
    }
}

/// The counts of one app for a status line: `3/5 running, 2 healthy`.
fn counts(app: &AppStatus) -> String {
    let mut out = format!("{}/{} running", app.tasks_running, app.def.instances);
    if !app.def.health_checks.is_empty() {
        out.push_str(&format!(", {} healthy", app.tasks_healthy));
    }
    if app.tasks_staged > 0 {
        out.push_str(&format!(", {} staging", app.tasks_staged));
    }
    out
}

/// Why a waiting app gets no instances, from the launch queue: `offers refused: InsufficientCpus`.
fn queue_hint(queue: &Queue, id: &str) -> Option<String> {
    let item = queue.queue.iter().find(|i| i.app.def.id == id)?;
    let delay = item.delay.time_left_seconds;
    if delay > 0 {
        return Some(format!("launch delayed {delay} s after failures"));
    }
    let mut reasons: Vec<(u64, &str)> = item
        .processed_offers_summary
        .reject_summary_last_offers
        .iter()
        .filter(|r| r.declined > 0)
        .map(|r| (r.declined, r.reason.as_str()))
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
    (!reasons.is_empty()).then(|| {
        format!(
            "offers refused: {}",
            reasons.iter().map(|r| r.1).collect::<Vec<_>>().join(", ")
        )
    })
}

async fn status_line(
    api: &Client,
    d: &Deployment,
    apps: &HashMap<String, AppStatus>,
    slow: bool,
) -> String {
    let affected = &d.affected_apps;
    let actions: Vec<&str> = d
        .current_actions
        .iter()
        .map(|a| a.action.as_str())
        .collect();
    let stopping = !actions.is_empty() && actions.iter().all(|a| *a == "StopApplication");
    let mut tasks: Option<MarathonTasks> = None;
    let mut queue: Option<Queue> = None;
    let mut parts = Vec::new();
    let mut hints = Vec::new();
    for id in affected {
        match apps.get(id) {
            Some(a) => {
                let behind = (a.tasks_running as i64) < a.def.instances;
                if behind && slow {
                    if queue.is_none() {
                        queue = api.get("/v2/queue").await.ok();
                    }
                    if let Some(h) = queue.as_ref().and_then(|q| queue_hint(q, id)) {
                        hints.push(if affected.len() == 1 {
                            h
                        } else {
                            format!("{id}: {h}")
                        });
                    }
                }
                parts.push((id.clone(), counts(a)));
            }
            None => {
                if tasks.is_none() {
                    tasks = api.get("/v2/tasks").await.ok();
                }
                let left = tasks
                    .as_ref()
                    .map(|t| t.tasks.iter().filter(|x| x.app_id == *id).count())
                    .unwrap_or(0);
                parts.push((id.clone(), format!("{left} task(s) left")));
            }
        }
    }
    let mut dedup = actions.clone();
    dedup.dedup();
    let step = format!(
        "step {}/{} ({})",
        d.current_step,
        d.total_steps,
        dedup.join(", ")
    );
    let verb = if stopping { "removing" } else { "deploying" };
    let body = parts
        .iter()
        .map(|(id, p)| format!("{id}: {p}"))
        .collect::<Vec<_>>()
        .join("; ");
    let hint = if hints.is_empty() {
        String::new()
    } else {
        format!(" — {}", hints.join("; "))
    };
    format!("{verb} {body}, {step}{hint}")
}

/// The end state of a deployment's apps, for its success line.
fn summary(w: &Watched, apps: &HashMap<String, AppStatus>) -> String {
    let parts: Vec<String> = w
        .apps
        .iter()
        .map(|id| match apps.get(id) {
            Some(a) => format!("{id} {}: {}", w.done_verb, counts(a)),
            None => format!("{id} removed"),
        })
        .collect();
    if parts.is_empty() {
        format!("deployment {} done", w.id)
    } else {
        parts.join("; ")
    }
}

async fn apps_by_id(api: &Client) -> Result<HashMap<String, AppStatus>, Error> {
    let v: Apps = api.get("/v2/apps").await?;
    Ok(v.apps
        .into_iter()
        .map(|a| (a.view.def.id.clone(), a.view))
        .collect())
}

/// The failure of a wait that ran out: each open deployment with what it was doing, and what to
/// do next.
fn timed_out(timeout: Duration, open: &[&Watched]) -> Error {
    let mut message = format!(
        "timed out after {:.0} s waiting for deployment",
        timeout.as_secs_f64()
    );
    for w in open {
        let text = if w.text().is_empty() {
            "no progress seen"
        } else {
            w.text()
        };
        message.push_str(&format!("\n  {}: {text}", w.id));
    }
    let first = open.first().map(|w| w.id.as_str()).unwrap_or_default();
    let mut hint = String::new();
    if let Some(app) = open
        .iter()
        .find(|w| w.text().contains("offers refused"))
        .and_then(|w| w.apps.first())
    {
        hint.push_str(&format!(
            "why its instances do not start: `drover app why {app}`\n"
        ));
    }
    hint.push_str(&format!(
        "it goes on in Marathon: follow it with `drover deployment watch {first}`, or undo it with `drover deployment rollback {first}`"
    ));
    Error::TimedOut { message, hint }
}

/// Wait until every watched deployment ends. People get a live line per deployment (on
/// stderr) and a success line on stdout; `show == false` prints nothing. Fails if one fails or
/// the timeout passes; else the ids of the deployments, in order.
pub(crate) async fn wait_for(
    api: &Client,
    feed: &EventFeed,
    mut watched: Vec<Watched>,
    timeout: Duration,
    show: bool,
) -> Result<Vec<String>, Error> {
    let start = Instant::now();
    let live = Live::new(show);
    for w in watched.iter_mut() {
        w.line = Some(live.line(&format!("deployment {}", w.id)));
    }
    loop {
        let deps: Vec<Deployment> = api.get("/v2/deployments").await?;
        let apps = apps_by_id(api).await?;
        let slow = start.elapsed() > Duration::from_secs(3);
        let mut ended = Vec::new();
        for (i, w) in watched
            .iter_mut()
            .enumerate()
            .filter(|(_, w)| w.result.is_none())
        {
            if let Some(o) = feed.outcome(&w.id) {
                w.result = Some(o);
                ended.push(i);
                continue;
            }
            match deps.iter().find(|d| d.id == w.id) {
                Some(d) => {
                    w.gone_since = None;
                    if !d.affected_apps.is_empty() {
                        w.apps = d.affected_apps.clone();
                    }
                    let text = status_line(api, d, &apps, slow).await;
                    if let Some(l) = w.line.as_mut() {
                        l.set(text);
                    }
                }
                None => {
                    // Gone from the list: its event tells how it ended; without the stream, done.
                    let since = *w.gone_since.get_or_insert_with(Instant::now);
                    if !feed.live() || since.elapsed() > Duration::from_secs(2) {
                        w.result = Some(Outcome::Gone);
                        ended.push(i);
                    }
                }
            }
        }
        if !ended.is_empty() {
            let apps = apps_by_id(api).await.unwrap_or(apps);
            for i in ended {
                let w = &mut watched[i];
                if let Some(l) = w.line.as_mut() {
                    l.finish();
                }
                // Failures end the command with an error below.
                if show && w.result.as_ref().is_some_and(Outcome::done) {
                    outln!(
                        "✔ {} (deployment {}, {:.1} s)",
                        summary(w, &apps),
                        w.id,
                        start.elapsed().as_secs_f64()
                    );
                }
            }
        }
        if watched.iter().all(|w| w.result.is_some()) {
            break;
        }
        if start.elapsed() >= timeout {
            for w in watched.iter_mut() {
                if let Some(l) = w.line.as_mut() {
                    l.finish();
                }
            }
            let open: Vec<&Watched> = watched.iter().filter(|w| w.result.is_none()).collect();
            return Err(timed_out(timeout, &open));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Some(e) = failed(&watched) {
        return Err(e);
    }
    Ok(watched.into_iter().map(|w| w.id).collect())
}

/// The failure of a wait whose deployments ended, if one of them failed: a line for each that
/// did.
fn failed(watched: &[Watched]) -> Option<Error> {
    let failures: Vec<String> = watched
        .iter()
        .filter_map(|w| match &w.result {
            Some(Outcome::Failed { reason }) => Some(format!(
                "deployment {} of {} failed: {reason}",
                w.id,
                w.apps.join(", ")
            )),
            _ => None,
        })
        .collect();
    (!failures.is_empty()).then_some(Error::DeploymentFailed { failures })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sse_blocks_give_deployment_outcomes() {
        assert_eq!(parse_sse("event: deployment_success\ndata: {\"id\":\"d1\",\"eventType\":\"deployment_success\"}\n\n"), Some(("d1".into(), Outcome::Succeeded)));
        assert_eq!(
            parse_sse("event: deployment_failed\ndata: {\"plan\":{\"id\":\"d2\"},\"reason\":\"superseded or cancelled\"}\n\n"),
            Some(("d2".into(), Outcome::Failed { reason: "superseded or cancelled".into() }))
        );
        assert_eq!(
            parse_sse("data: {\"id\":\"d3\",\"eventType\":\"deployment_failed\"}\n\n"),
            Some((
                "d3".into(),
                Outcome::Failed {
                    reason: "it failed".into()
                }
            ))
        );
        assert_eq!(parse_sse(": keep-alive\n\n"), None);
    }

    #[test]
    fn failed_deployments_fail_the_wait_one_line_each() {
        let ended = |id: &str, apps: &[&str], o: Outcome| {
            let mut w = Watched::new(
                id.into(),
                apps.iter().map(|a| a.to_string()).collect(),
                "deployed",
            );
            w.result = Some(o);
            w
        };
        let ok = [
            ended("d1", &["/a"], Outcome::Succeeded),
            ended("d2", &["/b"], Outcome::Gone),
        ];
        assert!(ok
            .iter()
            .all(|w| w.result.as_ref().is_some_and(Outcome::done)));
        assert!(failed(&ok).is_none());
        let mixed = [
            ended("d1", &["/a"], Outcome::Succeeded),
            ended(
                "d2",
                &["/b", "/c"],
                Outcome::Failed {
                    reason: "superseded or cancelled".into(),
                },
            ),
            ended(
                "d3",
                &["/d"],
                Outcome::Failed {
                    reason: "it failed".into(),
                },
            ),
        ];
        assert!(!mixed[1].result.as_ref().is_some_and(Outcome::done));
        let e = failed(&mixed).unwrap();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.render(),
            "error: deployment d2 of /b, /c failed: superseded or cancelled\ndeployment d3 of /d failed: it failed"
        );
    }

    #[test]
    fn queue_hints_name_the_refusals() {
        let q: Queue = serde_json::from_value(json!({"queue": [{"app": {"id": "/big"}, "delay": {"timeLeftSeconds": 0},
            "processedOffersSummary": {"rejectSummaryLastOffers": [{"reason": "InsufficientCpus", "declined": 4}, {"reason": "InsufficientMemory", "declined": 0}]}}]}))
        .unwrap();
        assert_eq!(
            queue_hint(&q, "/big").unwrap(),
            "offers refused: InsufficientCpus"
        );
        assert_eq!(queue_hint(&q, "/other"), None);
    }

    #[test]
    fn a_wait_that_runs_out_says_where_it_was_and_what_to_do() {
        let live = Live::new(false);
        let mut w = Watched::new("d-1234".into(), vec!["/big".into()], "deployed");
        w.line = Some(live.line("deployment d-1234"));
        if let Some(l) = w.line.as_mut() {
            l.set("deploying /big: 0/1 running, step 1/1 (StartApplication) — offers refused: InsufficientCpus".into());
        }
        let e = timed_out(Duration::from_secs(1), &[&w]);
        assert_eq!(e.exit_code(), 6);
        assert_eq!(
            e.render(),
            "error: timed out after 1 s waiting for deployment
  d-1234: deploying /big: 0/1 running, step 1/1 (StartApplication) — offers refused: InsufficientCpus
  why its instances do not start: `drover app why /big`
  it goes on in Marathon: follow it with `drover deployment watch d-1234`, or undo it with `drover deployment rollback d-1234`"
        );
    }
}
