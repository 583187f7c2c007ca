//! The agent's side of the agent↔master protocol: one registration stream from the master
//! (re-established with backoff whenever it drops or goes silent) and one sender that batches
//! status updates, executor messages and heartbeats into a single POST. What it needs of the
//! agent goes through [`Registrant`]; what the agent hands it goes through [`Link`].

use drover_api::agent_protocol::{
    AgentCallRef, CallRef, FromAgent, Register, StatusUpdate, ToAgent, UpdatesRef, CALL_PATH,
    PROTOCOL_VERSION, REGISTER_PATH,
};
use drover_api::{recordio, AgentID, AgentInfo, FrameworkInfo};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the master connection needs of the agent, which owns the tasks and their updates.
pub trait Registrant: Send + Sync + 'static {
    /// What to register with: the agent's info and id (if it has one), its tasks and their
    /// frameworks.
    fn registration(&self) -> Registration;
    /// The master accepted us as `agent_id`: remember it, send every unacknowledged update
    /// again.
    fn registered(&self, agent_id: AgentID, master: &str);
    /// The connection is gone; updates wait until we are registered again.
    fn unregistered(&self);
    /// A message from the master.
    fn on_master_message(&self, msg: ToAgent);
    /// The master refuses this agent for good (it was marked gone).
    fn refused_for_good(&self, why: &str);
    /// Once registered: our id and the status updates to (re)send now.
    fn due_updates(&self, now: f64) -> Option<(AgentID, Vec<Arc<StatusUpdate>>)>;
}

/// The parts of a registration the agent knows.
pub struct Registration {
    pub agent_info: AgentInfo,
    pub agent_id: Option<AgentID>,
    pub tasks: Vec<drover_api::agent_protocol::ReportedTask>,
    pub frameworks: Vec<FrameworkInfo>,
    pub checkpointed_resources: Vec<drover_api::Resource>,
}

/// The connection's state the agent reaches: calls waiting for the next batch, and the wakeups.
pub struct Link {
    /// `--master`: `host:port`, or `zk://…/mesos` to follow the leading master.
    master: String,
    /// The master registered with now (`host:port`), where calls go.
    current: Mutex<String>,
    started: Instant,
    /// Calls waiting for the next batch to the master.
    outbox: Mutex<Vec<FromAgent>>,
    /// Wakes the sender when updates or calls are waiting.
    flush: tokio::sync::Notify,
    /// Drop the master connection and register again.
    reconnect: tokio::sync::Notify,
    heartbeat_secs: Mutex<f64>,
}

impl Link {
    pub fn new(master: String) -> Link {
        Link {
            current: Mutex::new(if drover_zk::ZkUrl::is_zk(&master) {
                String::new()
            } else {
                master.clone()
            }),
            master,
            started: Instant::now(),
            outbox: Mutex::new(Vec::new()),
            flush: tokio::sync::Notify::new(),
            reconnect: tokio::sync::Notify::new(),
            heartbeat_secs: Mutex::new(5.0),
        }
    }

    /// Queue a call for the next batch.
    pub fn send_call(&self, call: FromAgent) {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
        self.flush.notify_one();
    }

    /// Status updates are waiting: send soon.
    pub fn flush(&self) {
        self.flush.notify_one();
    }

    /// Seconds since the link was made: the clock status update retries are timed by.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn take_calls(&self) -> Vec<FromAgent> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn heartbeat(&self) -> f64 {
        *self
            .heartbeat_secs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    pub fn queued_calls(&self) -> Vec<FromAgent> {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The master went silent for this long: reconnect (it pings every 15 s).
const MASTER_SILENCE: Duration = Duration::from_secs(45);

/// The ZooKeeper session timeout of an agent following the leader through `zk://`.
const ZK_SESSION: Duration = Duration::from_secs(10);

/// The `host:port` a master's redirect names (`//host:port/path` or `http://host:port/path`).
fn redirect_target(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("//"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    (!host.is_empty()).then(|| host.to_string())
}

/// `client` must not follow redirects: a standby's 307 is followed here, once, so the master
/// registered with is the one calls go to — a followed redirect registered us with the leader
/// while calls went to the standby, and the leader's announcement in ZooKeeper then made us
/// register with it a second time, dropping what it sent meanwhile (a launch lost in between).
pub async fn run_link(link: Arc<Link>, agent: Arc<dyn Registrant>, client: reqwest::Client) {
    let mut backoff = 0.2f64;
    // The leader a standby named, tried next instead of the detected one.
    let mut named: Option<String> = None;
    let mut leader = match drover_zk::Leader::new(&link.master, ZK_SESSION) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot follow the master: {e}");
            return;
        }
    };
    loop {
        let hop = named.take();
        let hopped = hop.is_some();
        let master = match hop {
            Some(m) => m,
            None => leader.get().await,
        };
        *link.current.lock().unwrap_or_else(|e| e.into_inner()) = master.clone();
        let url = format!("http://{master}{REGISTER_PATH}");
        let r = agent.registration();
        let reg = Register {
            version: PROTOCOL_VERSION,
            agent_info: r.agent_info,
            agent_id: r.agent_id,
            tasks: r.tasks,
            frameworks: r.frameworks,
            checkpointed_resources: r.checkpointed_resources,
        };
        match client.post(&url).json(&reg).send().await {
            Ok(resp) if resp.status().is_success() => {
                backoff = 0.2;
                let mut body = resp.bytes_stream();
                let mut dec = recordio::Decoder::new(64 << 20);
                'stream: loop {
                    let next = tokio::select! {
                        n = tokio::time::timeout(MASTER_SILENCE, body.next()) => n,
                        _ = link.reconnect.notified() => {
                            tracing::warn!("master asked us to re-register");
                            break 'stream;
                        }
                        _ = leader.changed() => {
                            // The one a standby sent us to being announced is no change.
                            if leader.current().as_deref() == Some(master.as_str()) {
                                continue 'stream;
                            }
                            tracing::warn!("the leading master changed; re-registering");
                            break 'stream;
                        }
                    };
                    let chunk = match next {
                        Err(_) => {
                            tracing::warn!("master silent for {MASTER_SILENCE:?}; reconnecting");
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(Err(e))) => {
                            tracing::warn!("connection to master lost: {e}");
                            break;
                        }
                        Ok(Some(Ok(b))) => b,
                    };
                    dec.feed(&chunk);
                    loop {
                        match dec.next_record() {
                            Ok(Some(rec)) => match serde_json::from_slice::<ToAgent>(&rec) {
                                Ok(ToAgent::Registered {
                                    agent_id,
                                    heartbeat_interval_seconds,
                                    master_id,
                                }) => {
                                    tracing::info!(agent_id = %agent_id, master_id, "registered with master {master}");
                                    *link
                                        .heartbeat_secs
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner()) =
                                        heartbeat_interval_seconds;
                                    agent.registered(agent_id, &master);
                                    link.flush();
                                }
                                Ok(msg) => agent.on_master_message(msg),
                                Err(e) => tracing::error!("undecodable message from master: {e}"),
                            },
                            Ok(None) => break,
                            Err(e) => {
                                tracing::error!("bad framing from master: {e}");
                                break 'stream;
                            }
                        }
                    }
                }
                agent.unregistered();
            }
            Ok(resp) if resp.status() == reqwest::StatusCode::TEMPORARY_REDIRECT => {
                let to = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(redirect_target);
                match to {
                    // One hop: two standbys naming each other wait for ZooKeeper instead.
                    Some(to) if to != master && !hopped => {
                        tracing::info!("master {master} is not leading; registering with {to}");
                        named = Some(to);
                        continue;
                    }
                    _ => tracing::warn!("master {master} is not leading and names no other"),
                }
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                tracing::error!("master {master} refused registration ({status}): {text}");
                if status == reqwest::StatusCode::FORBIDDEN && text.contains("marked gone") {
                    agent.refused_for_good(&text);
                }
            }
            Err(e) => tracing::warn!("cannot reach master {master}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
        backoff = (backoff * 2.0).min(5.0);
    }
}

pub async fn run_sender(link: Arc<Link>, agent: Arc<dyn Registrant>, client: reqwest::Client) {
    let mut last_hb = 0.0f64;
    loop {
        tokio::select! {
            _ = link.flush.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let now = link.now();
        let Some((agent_id, due)) = agent.due_updates(now) else {
            continue;
        };
        let mut queued = link.take_calls();
        let hb = link.heartbeat();
        let idle = queued.is_empty() && due.is_empty();
        if idle && now - last_hb < hb {
            continue;
        }
        if idle {
            queued.push(FromAgent::Heartbeat);
        }
        last_hb = now;
        let mut calls: Vec<CallRef<'_>> = queued.iter().map(CallRef::Call).collect();
        if !due.is_empty() {
            calls.push(CallRef::Updates(UpdatesRef(&due)));
        }
        let master = link
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let url = format!("http://{master}{CALL_PATH}");
        match client
            .post(&url)
            .json(&AgentCallRef {
                agent_id: &agent_id,
                calls,
            })
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r)
                if r.status() == reqwest::StatusCode::NOT_FOUND
                    || r.status() == reqwest::StatusCode::CONFLICT =>
            {
                link.reconnect.notify_one();
            }
            Ok(r) => tracing::warn!("master answered {} to agent call", r.status()),
            Err(e) => tracing::warn!("agent call failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_target;

    #[test]
    fn a_standbys_redirect_names_the_leader() {
        assert_eq!(
            redirect_target("//10.0.0.2:5050/slave/api/v1/register").as_deref(),
            Some("10.0.0.2:5050")
        );
        assert_eq!(
            redirect_target("http://m2:5050").as_deref(),
            Some("m2:5050")
        );
        assert_eq!(redirect_target("/relative"), None);
        assert_eq!(redirect_target("//"), None);
    }
}
