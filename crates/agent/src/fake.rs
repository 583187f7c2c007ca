//! A recording fake [`Containerizer`] for the agent's unit tests (no root, no cgroups, no
//! Engine): it records every call, and the test says how each launch goes (fails, is held until
//! released, asks [`Launching::proceed`]), how containers end ([`Fake::exit`], or on a kill) and
//! what a recovery finds.

use crate::containerizer::{
    Containerizer, End, Exit, Known, Launch, LaunchError, Launching, Recovered, Started, Stop,
    Usage,
};
use drover_api::AgentID;
use futures_util::future::BoxFuture;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// One call the agent made.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Launch(String),
    Wait(String),
    Kill(String, Stop),
    Usage(String),
    Recover(Vec<String>),
    Destroy(String),
    Shutdown,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    launches: Vec<Launch>,
    /// Launches wait until their container is released.
    hold: bool,
    released: HashSet<String>,
    /// Ask `proceed` before the container "starts" (as a Docker launch does).
    asks_proceed: bool,
    /// The next launches fail with these, in order.
    failures: VecDeque<LaunchError>,
    /// Ends waiting to be seen by `wait`.
    exits: HashMap<String, Exit>,
    /// A kill ends the container: SIGTERM (graceful, term) or SIGKILL.
    exit_on_kill: bool,
    /// What `recover` answers, by container id (missing: gone).
    running: HashSet<String>,
    usage: Option<Usage>,
    next_pid: u32,
}

#[derive(Default)]
pub struct Fake {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.changed.notify_waiters();
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn launches(&self) -> Vec<Launch> {
        self.lock().launches.clone()
    }

    /// Launches wait until [`Fake::release`]d.
    pub fn hold_launches(&self) {
        self.lock().hold = true;
    }

    pub fn release(&self, container_id: &str) {
        self.lock().released.insert(container_id.to_string());
        self.changed();
    }

    pub fn ask_proceed(&self) {
        self.lock().asks_proceed = true;
    }

    pub fn fail_next_launch(&self, e: LaunchError) {
        self.lock().failures.push_back(e);
    }

    pub fn exit_on_kill(&self) {
        self.lock().exit_on_kill = true;
    }

    /// The container ends so.
    pub fn exit(&self, container_id: &str, exit: Exit) {
        self.lock().exits.insert(container_id.to_string(), exit);
        self.changed();
    }

    /// A recovery finds this container running.
    pub fn runs(&self, container_id: &str) {
        self.lock().running.insert(container_id.to_string());
    }

    pub fn set_usage(&self, u: Usage) {
        self.lock().usage = Some(u);
    }

    async fn launch_one(
        &self,
        l: Launch,
        launching: &dyn Launching,
    ) -> Result<Started, LaunchError> {
        let cid = l.container_id.clone();
        let failure = {
            let mut st = self.lock();
            st.calls.push(Call::Launch(cid.clone()));
            st.launches.push(l);
            st.failures.pop_front()
        };
        if let Some(LaunchError::InvalidDocker(why)) = failure {
            return Err(LaunchError::InvalidDocker(why));
        }
        launching.starting();
        if let Some(e) = failure {
            return Err(e);
        }
        loop {
            let changed = self.changed.notified();
            {
                let st = self.lock();
                if !st.hold || st.released.contains(&cid) {
                    break;
                }
            }
            changed.await;
        }
        if self.lock().asks_proceed && !launching.proceed() {
            return Err(LaunchError::Killed);
        }
        let mut st = self.lock();
        st.next_pid += 1;
        Ok(Started {
            pid: Some(10_000 + st.next_pid),
            pid_start: Some(1),
        })
    }

    async fn wait_one(&self, cid: &str) -> Exit {
        self.lock().calls.push(Call::Wait(cid.to_string()));
        loop {
            let changed = self.changed.notified();
            if let Some(e) = self.lock().exits.remove(cid) {
                return e;
            }
            changed.await;
        }
    }
}

impl Containerizer for Fake {
    fn launch<'a>(
        &'a self,
        launch: Launch,
        launching: &'a dyn Launching,
    ) -> BoxFuture<'a, Result<Started, LaunchError>> {
        Box::pin(self.launch_one(launch, launching))
    }

    fn wait<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Exit> {
        Box::pin(self.wait_one(container_id))
    }

    fn kill(&self, container_id: &str, stop: Stop) {
        let mut st = self.lock();
        st.calls.push(Call::Kill(container_id.to_string(), stop));
        if st.exit_on_kill {
            let sig = if stop == Stop::Kill { 9 } else { 15 };
            st.exits
                .insert(container_id.to_string(), Exit::of(End::Signal(sig)));
            drop(st);
            self.changed();
        }
    }

    fn usage<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, Option<Usage>> {
        let mut st = self.lock();
        st.calls.push(Call::Usage(container_id.to_string()));
        Box::pin(std::future::ready(st.usage.clone()))
    }

    fn recover<'a>(
        &'a self,
        _agent_id: Option<&'a AgentID>,
        containers: Vec<Known>,
    ) -> BoxFuture<'a, Vec<Recovered>> {
        let mut st = self.lock();
        let ids = containers.iter().map(|k| k.container_id.clone()).collect();
        st.calls.push(Call::Recover(ids));
        let out = containers
            .iter()
            .map(|k| {
                if st.running.contains(&k.container_id) {
                    Recovered::Running
                } else {
                    Recovered::Gone(format!("{} was gone", k.container_id))
                }
            })
            .collect();
        Box::pin(std::future::ready(out))
    }

    fn destroy<'a>(&'a self, container_id: &'a str) -> BoxFuture<'a, ()> {
        self.lock()
            .calls
            .push(Call::Destroy(container_id.to_string()));
        Box::pin(std::future::ready(()))
    }

    fn shutdown(&self, _grace: Duration) -> BoxFuture<'_, ()> {
        self.lock().calls.push(Call::Shutdown);
        Box::pin(std::future::ready(()))
    }
}
