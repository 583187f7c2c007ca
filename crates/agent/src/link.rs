//! The agent's side of the agent↔master protocol: one registration stream from the master
//! (re-established with backoff whenever it drops or goes silent) and one sender that batches
//! status updates, executor messages and heartbeats into a single POST.

use crate::agent::Agent;
use drover_api::agent_protocol::{
    AgentCallRef, CallRef, FromAgent, Register, ToAgent, UpdatesRef, CALL_PATH, PROTOCOL_VERSION,
    REGISTER_PATH,
};
use drover_api::recordio;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Queue a call for the next batch.
pub fn send_call(agent: &Agent, call: FromAgent) {
    agent
        .outbox
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(call);
    agent.flush.notify_one();
}

/// The master went silent for this long: reconnect (it pings every 15 s).
const MASTER_SILENCE: Duration = Duration::from_secs(45);

pub async fn run_link(agent: Arc<Agent>, client: reqwest::Client) {
    let mut backoff = 0.2f64;
    loop {
        let master = agent.cfg.master.clone();
        let url = format!("http://{master}{REGISTER_PATH}");
        let (tasks, frameworks) = agent.report();
        let reg = {
            let st = agent.lock();
            Register {
                version: PROTOCOL_VERSION,
                agent_info: st.info.clone(),
                agent_id: st.id.clone(),
                tasks,
                frameworks,
            }
        };
        match client.post(&url).json(&reg).send().await {
            Ok(resp) if resp.status().is_success() => {
                backoff = 0.2;
                let mut body = resp.bytes_stream();
                let mut dec = recordio::Decoder::new(64 << 20);
                'stream: loop {
                    let next = tokio::select! {
                        n = tokio::time::timeout(MASTER_SILENCE, body.next()) => n,
                        _ = agent.reconnect.notified() => {
                            tracing::warn!("master asked us to re-register");
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
                                    if let Err(e) = crate::checkpoint::write_agent_id(
                                        &agent.cfg.meta_dir(),
                                        &agent_id,
                                    ) {
                                        tracing::error!("checkpointing agent id: {e}");
                                    }
                                    let mut st = agent.lock();
                                    st.id = Some(agent_id);
                                    st.registered = true;
                                    st.master = Some(master.clone());
                                    st.updates.resend_all(None);
                                    drop(st);
                                    *agent
                                        .heartbeat_secs
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner()) =
                                        heartbeat_interval_seconds;
                                    agent.flush.notify_one();
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
                agent.lock().registered = false;
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                tracing::error!("master {master} refused registration ({status}): {text}");
            }
            Err(e) => tracing::warn!("cannot reach master {master}: {e}"),
        }
        tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
        backoff = (backoff * 2.0).min(5.0);
    }
}

pub async fn run_sender(agent: Arc<Agent>, client: reqwest::Client) {
    let mut last_hb = 0.0f64;
    loop {
        tokio::select! {
            _ = agent.flush.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let now = agent.now();
        let (registered, id) = {
            let st = agent.lock();
            (st.registered, st.id.clone())
        };
        let Some(agent_id) = id.filter(|_| registered) else {
            continue;
        };
        let mut queued: Vec<FromAgent> =
            std::mem::take(&mut *agent.outbox.lock().unwrap_or_else(|e| e.into_inner()));
        let due = agent.lock().updates.due(now);
        let hb = *agent
            .heartbeat_secs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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
        let url = format!("http://{}{CALL_PATH}", agent.cfg.master);
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
                agent.reconnect.notify_one();
            }
            Ok(r) => tracing::warn!("master answered {} to agent call", r.status()),
            Err(e) => tracing::warn!("agent call failed: {e}"),
        }
    }
}
