//! The thin driver around the pure core: the clock, random run-id suffixes, the store writes
//! at the end of every decision, the ticker, and the link to the master. A decision's calls are
//! posted only if its writes landed: a run is durable before its task is launched, and a
//! scheduler whose write was refused (the store is gone, or a newer leader fenced it off)
//! launches nothing and reloads its state from the store before deciding again.

use crate::core::{Calls, Entropy, JobEvent, Jobs};
use crate::leadership::Standing;
use crate::{lock, JobsConfig, JobsError};
use drover_api::scheduler::{Event, EventType};
use drover_api::{Capability, FrameworkInfo};
use jiff::Timestamp;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Five random characters `[0-9A-Z]` for the runs started by hand (Metronome's run ids).
#[derive(Default)]
pub struct RandomSuffix {
    n: u64,
}

impl Entropy for RandomSuffix {
    fn suffix(&mut self) -> String {
        use std::hash::{BuildHasher, Hasher};
        self.n += 1;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(self.n);
        crate::core::base36(h.finish())
    }
}

/// The scheduler's state and the parts that drive it.
pub struct Shared {
    pub cfg: JobsConfig,
    core: Mutex<Jobs>,
    http: reqwest::Client,
    link: Mutex<Option<drover_framework::Link>>,
    ticker: Mutex<Option<tokio::task::AbortHandle>>,
    /// Woken when a change may have moved the next due time nearer.
    pub wake: tokio::sync::Notify,
    /// Writes that did not land since start.
    pub write_failures: AtomicU64,
    /// The core holds changes the store may not: reload before deciding.
    stale: AtomicBool,
    /// Runs started, finished, failed, skipped: for `/v1/events` and logs.
    pub events: tokio::sync::broadcast::Sender<JobEvent>,
    /// Leading, suspended or following (always leading without `--zk`).
    standing: std::sync::RwLock<Standing>,
}

impl Shared {
    pub fn new(cfg: JobsConfig, jobs: Jobs, http: reqwest::Client) -> Shared {
        Shared {
            cfg,
            core: Mutex::new(jobs),
            http,
            link: Mutex::new(None),
            ticker: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
            write_failures: AtomicU64::new(0),
            stale: AtomicBool::new(false),
            events: tokio::sync::broadcast::channel(4096).0,
            standing: std::sync::RwLock::new(Standing::Leading),
        }
    }

    pub fn standing(&self) -> Standing {
        self.standing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_standing(&self, s: Standing) {
        *self.standing.write().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// The leader's `host:port`, as far as this scheduler knows.
    pub fn leader(&self) -> Option<String> {
        match self.standing() {
            Standing::Leading | Standing::Suspended => Some(self.cfg.advertise.clone()),
            Standing::Following { leader } => leader,
        }
    }

    /// Replace the core (a new term's state).
    pub(crate) fn install(&self, j: Jobs) {
        *lock(&self.core) = j;
        self.stale.store(false, Ordering::SeqCst);
    }

    /// Forget the state (leadership ended): an empty core over an empty store.
    pub(crate) fn install_empty(&self) {
        match Jobs::open(
            Arc::new(drover_store::MemoryStore::default()),
            self.cfg.role.clone(),
            Box::new(RandomSuffix::default()),
        ) {
            Ok(j) => self.install(j),
            Err(e) => tracing::error!("jobs: resetting the state: {e}"),
        }
    }

    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }

    pub(crate) fn deciding(&self) -> bool {
        lock(&self.link).is_some()
    }

    /// Read the core.
    pub fn read<R>(&self, f: impl FnOnce(&Jobs) -> R) -> R {
        f(&lock(&self.core))
    }

    /// A change asked through the API: made, written, then its calls posted. An error if it
    /// was refused, or if its write did not land (then nothing of it is acted on).
    pub fn command<R>(
        &self,
        f: impl FnOnce(&mut Jobs, Timestamp) -> Result<(R, Calls), JobsError>,
    ) -> Result<R, JobsError> {
        let (r, calls) = {
            let mut core = lock(&self.core);
            self.fresh(&mut core)?;
            let out = f(&mut core, Timestamp::now());
            self.commit(&mut core)?;
            out?
        };
        self.post(calls);
        self.wake.notify_one();
        Ok(r)
    }

    /// A decision of the scheduler's own (a tick), its calls posted if its writes landed.
    pub fn decide(&self, f: impl FnOnce(&mut Jobs, Timestamp) -> Calls) {
        let calls = self.decided(f);
        self.post(calls);
    }

    /// A decision whose calls are returned (to the link) only if its writes landed.
    pub fn decided(&self, f: impl FnOnce(&mut Jobs, Timestamp) -> Calls) -> Calls {
        let mut core = lock(&self.core);
        if self.fresh(&mut core).is_err() {
            return vec![];
        }
        let calls = f(&mut core, Timestamp::now());
        if self.commit(&mut core).is_err() {
            return vec![];
        }
        calls
    }

    /// Reload the core from the store if a write failed since it was loaded.
    fn fresh(&self, core: &mut Jobs) -> Result<(), JobsError> {
        if !self.stale.load(Ordering::SeqCst) {
            return Ok(());
        }
        let store = core.store.clone();
        let fresh = Jobs::open(
            store,
            self.cfg.role.clone(),
            Box::new(RandomSuffix::default()),
        )?;
        let connected = core.connected;
        *core = fresh;
        core.connected = connected;
        self.stale.store(false, Ordering::SeqCst);
        tracing::info!("jobs: state reloaded from the store");
        Ok(())
    }

    /// Make the core's queued writes durable, in one transaction.
    fn commit(&self, core: &mut Jobs) -> Result<(), JobsError> {
        for e in core.take_events() {
            tracing::info!(job = %e.job_id, run = e.run_id.as_deref().unwrap_or(""), "{}: {}", e.kind, e.message);
            let _ = self.events.send(e);
        }
        let ops = core.take_pending();
        if ops.is_empty() {
            return Ok(());
        }
        if let Err(e) = core.store.apply(ops) {
            tracing::error!("jobs: a write did not land ({e}); nothing of it is acted on, and the state is reloaded");
            self.write_failures.fetch_add(1, Ordering::SeqCst);
            self.stale.store(true, Ordering::SeqCst);
            return Err(JobsError::NotStored);
        }
        Ok(())
    }

    fn post(&self, calls: Calls) {
        if calls.is_empty() {
            return;
        }
        if let Some(link) = lock(&self.link).as_ref() {
            link.send(calls);
        }
    }

    /// The master subscribed to now, if any.
    pub fn master(&self) -> Option<String> {
        lock(&self.link).as_ref().and_then(|l| l.master())
    }

    /// Start the link to the master and the ticker.
    pub fn start_deciding(self: &Arc<Self>) {
        let link = drover_framework::Link::start(
            &self.cfg.master,
            Arc::new(Adapter(Arc::downgrade(self))),
            self.http.clone(),
        );
        if let Some(old) = lock(&self.link).replace(link) {
            old.stop();
        }
        let me = self.clone();
        let ticker = tokio::spawn(async move { me.run_ticker().await }).abort_handle();
        if let Some(old) = lock(&self.ticker).replace(ticker) {
            old.abort();
        }
    }

    /// Stop launching: no offer is taken and no call posted after this.
    pub fn stop_deciding(&self) {
        if let Some(t) = lock(&self.ticker).take() {
            t.abort();
        }
        if let Some(l) = lock(&self.link).take() {
            l.stop();
        }
        lock(&self.core).connected = false;
    }

    /// Tick when the next occurrence falls due (at least every second, for deadlines and
    /// reconciliation), or sooner when woken by a change.
    async fn run_ticker(self: Arc<Self>) {
        loop {
            let now = Timestamp::now();
            let next = self.read(|j| j.next_due());
            let wait = match next {
                Some(t) if t <= now => Duration::ZERO,
                Some(t) => Duration::from_millis(
                    (t.as_millisecond() - now.as_millisecond()).clamp(0, 1000) as u64,
                ),
                None => Duration::from_secs(1),
            };
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.wake.notified() => {}
                }
            }
            self.decide(|j, now| {
                let mut calls = j.tick(now);
                calls.extend(j.reconcile_due(now));
                calls
            });
        }
    }
}

/// The link's view of the scheduler (weak: the link must not keep it alive).
struct Adapter(std::sync::Weak<Shared>);

impl drover_framework::Scheduler for Adapter {
    fn framework_info(&self) -> FrameworkInfo {
        let Some(s) = self.0.upgrade() else {
            return FrameworkInfo::default();
        };
        let id = s.read(|j| j.framework_id.clone());
        let role = s.read(|j| j.role.clone());
        FrameworkInfo {
            user: s.cfg.user.clone(),
            name: s.cfg.framework_name.clone(),
            id,
            failover_timeout: Some(s.cfg.failover_timeout_secs),
            checkpoint: Some(true),
            role: None,
            roles: vec![role],
            hostname: Some(s.cfg.hostname.clone()),
            principal: None,
            webui_url: Some(format!("http://{}", s.cfg.advertise)),
            capabilities: ["MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE"]
                .iter()
                .map(|c| Capability {
                    kind: c.to_string(),
                })
                .collect(),
            labels: None,
            offer_filters: None,
        }
    }

    fn on_event(&self, ev: Event) -> Calls {
        let Some(s) = self.0.upgrade() else {
            return vec![];
        };
        s.decided(|j, now| match ev.kind {
            EventType::SUBSCRIBED => {
                if let Some(sub) = ev.subscribed {
                    tracing::info!(framework_id = %sub.framework_id, "jobs scheduler subscribed");
                    j.set_framework_id(sub.framework_id);
                }
                j.connected = true;
                j.suppressed = false;
                let mut calls = j.reconcile_after_subscribing(now);
                calls.push(drover_api::scheduler::Call::new(
                    drover_api::scheduler::CallType::REVIVE,
                    j.framework_id.clone(),
                ));
                calls.extend(j.tick(now));
                calls
            }
            EventType::OFFERS => j.offers(ev.offers.map(|o| o.offers).unwrap_or_default(), now),
            EventType::UPDATE => match ev.update {
                Some(u) => j.update(&u.status, now),
                None => vec![],
            },
            EventType::ERROR => {
                tracing::error!(
                    "master says: {}",
                    ev.error.map(|e| e.message).unwrap_or_default()
                );
                vec![]
            }
            _ => vec![],
        })
    }

    fn on_disconnected(&self) {
        if let Some(s) = self.0.upgrade() {
            lock(&s.core).connected = false;
        }
    }

    fn on_removed(&self) {
        if let Some(s) = self.0.upgrade() {
            s.decide(|j, now| {
                j.forget_framework(now);
                vec![]
            });
        }
    }
}
