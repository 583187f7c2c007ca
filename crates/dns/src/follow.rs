//! Keeping the records current: apply the leading master's operator events (followed by
//! `drover-follow`) to the DNS' view of the cluster, and rebuild the snapshot
//! after changes — coalesced (at most one build per interval, the interval growing with what a
//! build costs), hostnames resolved here at the edge. A build reads a snapshot of the state
//! (copy on write), not holding its lock; the last records keep being served while the master
//! is away, and when a build panics.

use crate::metrics::DnsMetrics;
use crate::records::{BuildConfig, Builder, Hosts, RecordSet};
use crate::server::Published;
use crate::state::{Applied, ClusterState};
use drover_zk::{Layout, Leader, Sessions};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{watch, Notify};

/// The shortest time between two builds.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long a resolved hostname is trusted.
const HOST_TTL: Duration = Duration::from_secs(60);

/// What the follower and the builder share.
pub(crate) struct Shared {
    /// Copy on write: a build reads a clone of the `Arc` taken under the lock, the follower
    /// changes it with `Arc::make_mut` (copying it once if a build is reading it), so the lock
    /// is never held for longer than applying one event.
    pub state: Mutex<Arc<ClusterState>>,
    /// Set once a SUBSCRIBED was applied: before it there is nothing to publish.
    pub loaded: AtomicBool,
    pub wake: Notify,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            state: Mutex::new(Arc::new(ClusterState::default())),
            loaded: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Arc<ClusterState>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state now, to read without the lock.
    fn snapshot(&self) -> Arc<ClusterState> {
        self.lock().clone()
    }
}

/// What builds records from a state: [`Builder`], or a fake in tests.
pub(crate) trait Build: Send + 'static {
    fn build(&mut self, state: &ClusterState, hosts: &Hosts, serial: u32) -> RecordSet;
}

impl Build for Builder {
    fn build(&mut self, state: &ClusterState, hosts: &Hosts, serial: u32) -> RecordSet {
        Builder::build(self, state, hosts, serial)
    }
}

/// Follow the leading master until `stop`, keeping the state from its events; a master silent
/// for `silence` (no answer to the SUBSCRIBE, or nothing on the stream) is given up on, and
/// subscribed to again.
pub(crate) async fn follow(
    leader: Leader,
    http: reqwest::Client,
    shared: Arc<Shared>,
    masters: watch::Receiver<Vec<String>>,
    stop: watch::Receiver<bool>,
    silence: Duration,
) {
    let opts = drover_follow::Options {
        name: "dns",
        silence,
    };
    let sink = move |addr: &str, ev: serde_json::Value| {
        let subscribed = ev["type"] == "SUBSCRIBED";
        let applied = {
            let mut guard = shared.lock();
            let st = Arc::make_mut(&mut guard);
            let a = st.apply(&ev);
            if subscribed && a == Applied::Changed {
                let mut list = masters.borrow().clone();
                if list.is_empty() {
                    list.push(addr.to_string());
                }
                st.set_masters(Some(addr.to_string()), list);
            }
            a
        };
        if subscribed && applied == Applied::Changed {
            shared.loaded.store(true, Ordering::Release);
            tracing::info!("dns: subscribed to the master at {addr}");
        }
        if applied == Applied::Changed {
            shared.wake.notify_one();
        }
        subscribed && applied == Applied::Changed
    };
    drover_follow::follow(leader, http, opts, stop, sink).await;
}

/// Keep the list of masters: ZooKeeper's group members (`zk://`), else the configured ones.
pub(crate) async fn masters_loop(
    zk: Option<Sessions>,
    tx: watch::Sender<Vec<String>>,
    shared: Arc<Shared>,
    mut leader: Leader,
    mut stop: watch::Receiver<bool>,
) {
    let Some(sessions) = zk else {
        return;
    };
    loop {
        match drover_zk::members(&sessions, Layout::Mesos).await {
            Ok(m) => {
                let list: Vec<String> = m
                    .iter()
                    .filter_map(|(_, d)| drover_zk::master_address(d))
                    .collect();
                if !list.is_empty() && *tx.borrow() != list {
                    tx.send_replace(list.clone());
                    let changed =
                        Arc::make_mut(&mut shared.lock()).set_masters(leader.current(), list);
                    if changed == Applied::Changed && shared.loaded.load(Ordering::Acquire) {
                        shared.wake.notify_one();
                    }
                }
            }
            Err(e) => tracing::debug!("dns: listing the masters in ZooKeeper: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            _ = leader.changed() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Hostnames resolved, and when.
#[derive(Default)]
struct HostCache(HashMap<String, (Vec<IpAddr>, Instant)>);

impl HostCache {
    /// Resolve the names not known (or known too long ago), then give the map a build reads.
    async fn refresh(&mut self, names: Vec<String>) -> Hosts {
        let now = Instant::now();
        let due: Vec<String> = names
            .iter()
            .filter(|n| {
                self.0
                    .get(*n)
                    .is_none_or(|(_, at)| now.duration_since(*at) > HOST_TTL)
            })
            .cloned()
            .collect();
        let looked = futures_util::future::join_all(due.into_iter().map(|n| async move {
            let target = format!("{n}:0");
            let r =
                tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(target)).await;
            let ips: Vec<IpAddr> = match r {
                Ok(Ok(it)) => it.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            };
            (n, ips)
        }))
        .await;
        for (n, ips) in looked {
            self.0.insert(n, (ips, now));
        }
        names
            .into_iter()
            .filter_map(|n| Some((n.clone(), self.0.get(&n)?.0.clone())))
            .collect()
    }
}

/// The hostnames of the state that are not IP addresses.
fn hostnames(st: &ClusterState) -> Vec<String> {
    let hosts = st
        .agents
        .values()
        .map(|a| a.host.as_str())
        .chain(st.frameworks.values().filter_map(|f| f.host.as_deref()))
        .chain(
            st.leader
                .iter()
                .chain(st.masters.iter())
                .filter_map(|m| m.rsplit_once(':').map(|(h, _)| h)),
        );
    let mut out: Vec<String> = hosts
        .filter(|h| {
            !h.is_empty()
                && h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_err()
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Rebuild and publish the records whenever the state changed, coalescing bursts.
pub(crate) async fn rebuild_loop(
    shared: Arc<Shared>,
    cfg: BuildConfig,
    published: Published,
    metrics: DnsMetrics,
    stop: watch::Receiver<bool>,
) {
    let fresh = move || Builder::new(cfg.clone());
    rebuild_with(shared, fresh, published, metrics, stop).await;
}

/// [`rebuild_loop`] with builders from `fresh`: one kept across builds (its cache), a new one
/// after a build panicked. A build reads a snapshot of the state, off the lock and off the
/// async workers; a panic keeps the records served and the loop waiting for the next change.
pub(crate) async fn rebuild_with<B: Build>(
    shared: Arc<Shared>,
    fresh: impl Fn() -> B,
    published: Published,
    metrics: DnsMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = Some(fresh());
    let mut hosts = HostCache::default();
    let mut last: Option<(Instant, Duration)> = None;
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = stop.changed() => return,
        }
        if !shared.loaded.load(Ordering::Acquire) {
            continue;
        }
        if let Some((at, cost)) = last {
            // Bursts coalesce here: events go on being applied meanwhile.
            let next = at + MIN_INTERVAL.max(cost * 2);
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = stop.changed() => return,
            }
        }
        let state = shared.snapshot();
        let resolved = hosts.refresh(hostnames(&state)).await;
        let mut b = builder.take().unwrap_or_else(&fresh);
        let t0 = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            let serial = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32);
            let rs = b.build(&state, &resolved, serial);
            (b, rs)
        })
        .await;
        let cost = t0.elapsed();
        last = Some((Instant::now(), cost));
        match built {
            Ok((b, rs)) => {
                tracing::debug!("dns: {} names built in {cost:?}", rs.len());
                builder = Some(b);
                published.publish(rs);
                metrics.rebuilt(cost);
            }
            Err(e) if e.is_panic() => {
                metrics.rebuild_panicked();
                tracing::error!(
                    "dns: building the records panicked; keeping the old ones, building afresh \
                     after the next change"
                );
            }
            Err(_) => return, // cancelled: the runtime is going away
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::LabelRule;
    use std::sync::mpsc;

    fn cfg() -> BuildConfig {
        BuildConfig {
            domain: "mesos".into(),
            rule: LabelRule::Rfc1123,
            ip_sources: vec![crate::IpSource::Host],
            ns_name: "ns1.mesos.".into(),
            ns_ips: Vec::new(),
            health_aware: false,
        }
    }

    /// A real builder that first calls `hook` with the state.
    struct Hooked {
        inner: Builder,
        hook: Arc<dyn Fn(&ClusterState) + Send + Sync>,
    }

    impl Build for Hooked {
        fn build(&mut self, state: &ClusterState, hosts: &Hosts, serial: u32) -> RecordSet {
            (self.hook)(state);
            self.inner.build(state, hosts, serial)
        }
    }

    /// The rebuild loop with `hook` before each build, and what it publishes.
    fn start(
        hook: impl Fn(&ClusterState) + Send + Sync + 'static,
    ) -> (Arc<Shared>, Published, watch::Sender<bool>) {
        start_counted(hook).0
    }

    /// [`start`], counting in the metrics `/metrics` would serve.
    fn start_counted(
        hook: impl Fn(&ClusterState) + Send + Sync + 'static,
    ) -> (
        (Arc<Shared>, Published, watch::Sender<bool>),
        crate::Metrics,
    ) {
        let shared = Arc::new(Shared::new());
        let published = Published::default();
        let metrics = crate::Metrics::new(&published);
        let (stop, stop_rx) = watch::channel(false);
        let hook: Arc<dyn Fn(&ClusterState) + Send + Sync> = Arc::new(hook);
        let fresh = move || Hooked {
            inner: Builder::new(cfg()),
            hook: hook.clone(),
        };
        tokio::spawn(rebuild_with(
            shared.clone(),
            fresh,
            published.clone(),
            metrics.dns.clone(),
            stop_rx,
        ));
        ((shared, published, stop), metrics)
    }

    fn apply(shared: &Shared, ev: &serde_json::Value) {
        Arc::make_mut(&mut shared.lock()).apply(ev);
        shared.loaded.store(true, Ordering::Release);
        shared.wake.notify_one();
    }

    fn cluster(tasks: Vec<serde_json::Value>) -> serde_json::Value {
        subscribed(
            tasks,
            vec![framework("f1", "marathon")],
            vec![agent("a1-S1", "10.0.0.1")],
        )
    }

    /// Wait until `name` has addresses in what is published, for at most 10 s.
    async fn resolves(published: &Published, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while published
            .current()
            .is_none_or(|rs| rs.addrs(name).is_empty())
        {
            assert!(Instant::now() < deadline, "{name} never published");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_build_does_not_hold_the_state_lock() {
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
        let (shared, published, _stop) = start(move |_| {
            let _ = entered_tx.lock().unwrap().send(());
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
        });
        apply(&shared, &cluster(vec![task("web.1", "web", "f1", "a1-S1")]));
        tokio::task::spawn_blocking(move || entered.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("a build started");
        // Mid-build: the lock is free and events apply.
        assert!(shared.state.try_lock().is_ok(), "the build holds the lock");
        apply(
            &shared,
            &serde_json::json!({"type": "TASK_ADDED", "task_added": {"task": task("db.1", "db", "f1", "a1-S1")}}),
        );
        release.send(()).unwrap();
        resolves(&published, "web.marathon.mesos.").await;
        // The change made meanwhile gets its own build.
        release.send(()).unwrap();
        resolves(&published, "db.marathon.mesos.").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_build_that_panics_keeps_the_records_and_the_loop_alive() {
        let (boom_tx, boom) = mpsc::channel::<()>();
        let boom_tx = Mutex::new(boom_tx);
        let ((shared, published, _stop), metrics) = start_counted(move |st| {
            if st.tasks.keys().any(|(_, id)| id == "boom.1") {
                let _ = boom_tx.lock().unwrap().send(());
                panic!("a build that panics (on purpose)");
            }
        });
        apply(&shared, &cluster(vec![task("web.1", "web", "f1", "a1-S1")]));
        resolves(&published, "web.marathon.mesos.").await;
        let added = |id: &str, name: &str| serde_json::json!({"type": "TASK_ADDED", "task_added": {"task": task(id, name, "f1", "a1-S1")}});
        apply(&shared, &added("boom.1", "boom"));
        tokio::task::spawn_blocking(move || boom.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the build that panics ran");
        // Its state is never published; the records before it stay.
        let rs = published.current().unwrap();
        assert!(rs.addrs("boom.marathon.mesos.").is_empty());
        assert!(!rs.addrs("web.marathon.mesos.").is_empty());
        apply(&shared, &task_updated("f1", "boom.1", "TASK_KILLED", None));
        apply(&shared, &added("db.1", "db"));
        resolves(&published, "db.marathon.mesos.").await;
        // Counted: the panic, and the sets published (web; db, maybe after one without boom).
        let text = drover_metrics::encode(&metrics.registry).unwrap();
        use drover_metrics::testing::value;
        assert_eq!(value(&text, "drover_dns_rebuild_panics_total"), Some(1.0));
        let built = value(&text, "drover_dns_rebuild_duration_seconds_count").unwrap();
        assert!(built >= 2.0, "{text}");
    }
}
