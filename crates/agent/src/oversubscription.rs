//! Oversubscription, the agent's two pure decisions (samples in, a decision out; no clock, no
//! I/O): the resource estimator (how much of what tasks were given they leave unused, offered
//! again as revocable resources) and the QoS controller's interference guard (which revocable
//! tasks to evict when a regular task is starved of CPU). The agent samples its containers and
//! acts on the answers (`agent::qos`).

use drover_api::{Resource, Resources};
use std::collections::{HashMap, VecDeque};

/// The oversubscription settings of an agent (`drover agent --oversubscription`).
#[derive(Clone, Debug, PartialEq)]
pub struct OversubscriptionConfig {
    /// Seconds between estimates sent to the master (Mesos'
    /// `--oversubscribed_resources_interval`, 15 s); the agent samples its tasks at the same
    /// period, or every 5 s when that is shorter.
    pub interval_secs: f64,
    pub estimator: EstimatorConfig,
    pub qos: QosConfig,
}

impl Default for OversubscriptionConfig {
    fn default() -> Self {
        OversubscriptionConfig {
            interval_secs: 15.0,
            estimator: EstimatorConfig::default(),
            qos: QosConfig::default(),
        }
    }
}

/// How slack is estimated.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimatorConfig {
    /// Samples the peak usage is taken over: a spike shrinks slack at once, and it grows back
    /// only when the spike leaves the window.
    pub window: usize,
    /// Fraction of what is allocated never offered as slack (the safety margin).
    pub margin: f64,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        EstimatorConfig {
            window: 8,
            margin: 0.1,
        }
    }
}

/// What the regular (non-revocable) tasks of the agent were given and used in one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UsageSample {
    pub allocated_cpus: f64,
    pub allocated_mem_mb: f64,
    /// CPUs used on average since the previous sample.
    pub used_cpus: f64,
    pub used_mem_mb: f64,
}

/// Allocated but unused: what can be offered as revocable resources.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slack {
    pub cpus: f64,
    pub mem_mb: f64,
}

impl Slack {
    /// As revocable resources (`"revocable": {}`), leaving out what is zero.
    pub fn to_resources(self) -> Vec<Resource> {
        let mut out = Vec::new();
        for (name, v) in [("cpus", self.cpus), ("mem", self.mem_mb)] {
            if v > 0.0 {
                let mut r = Resource::scalar(name, v);
                r.revocable = Some(serde_json::json!({}));
                out.push(r);
            }
        }
        out
    }

    /// The slack named in revocable resources (what the agent last sent).
    pub fn of(resources: &[Resource]) -> Slack {
        let r = Resources::from_list(resources);
        Slack {
            cpus: r.scalar("cpus"),
            mem_mb: r.scalar("mem"),
        }
    }
}

/// The estimate over the last samples (oldest first): what the current allocation leaves
/// beyond the peak usage in the window and the margin, cut down to steps of 0.1 cpus and
/// 32 MB, so that small changes in usage do not change it (each change the master hears
/// rescinds the agent's outstanding revocable offers).
pub fn estimate(history: &[UsageSample], cfg: &EstimatorConfig) -> Slack {
    let Some(last) = history.last() else {
        return Slack::default();
    };
    let window = &history[history.len().saturating_sub(cfg.window.max(1))..];
    // A usage that is not a number counts as unbounded: no slack rather than a guess.
    let peak = |f: fn(&UsageSample) -> f64| {
        window
            .iter()
            .map(f)
            .map(|v| if v.is_nan() { f64::INFINITY } else { v })
            .fold(0.0, f64::max)
    };
    let keep = 1.0 - cfg.margin.clamp(0.0, 1.0);
    let cpus = last.allocated_cpus * keep - peak(|s| s.used_cpus);
    let mem = last.allocated_mem_mb * keep - peak(|s| s.used_mem_mb);
    let finite = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    Slack {
        // The small epsilon keeps 3.1 from flooring to 3.0 through binary rounding.
        cpus: ((finite(cpus) + 1e-9) * 10.0).floor() / 10.0,
        mem_mb: ((finite(mem) + 1e-9) / 32.0).floor() * 32.0,
    }
}

/// A bounded history of samples and the estimate over it.
#[derive(Clone, Debug)]
pub struct Estimator {
    cfg: EstimatorConfig,
    history: VecDeque<UsageSample>,
    /// Samples left during which no cpus are estimated (after an eviction).
    hold: usize,
}

impl Estimator {
    pub fn new(cfg: EstimatorConfig) -> Self {
        Estimator {
            cfg,
            history: VecDeque::new(),
            hold: 0,
        }
    }

    /// Take one sample; the estimate with it.
    pub fn observe(&mut self, s: UsageSample) -> Slack {
        self.history.push_back(s);
        while self.history.len() > self.cfg.window.max(1) {
            self.history.pop_front();
        }
        let mut slack = estimate(self.history.make_contiguous(), &self.cfg);
        if self.hold > 0 {
            self.hold -= 1;
            slack.cpus = 0.0;
        }
        slack
    }

    /// A regular task was starved with revocable tasks beside it: the usage said there was
    /// slack, the run queue says there was not. Estimate no cpus for the next `window` samples,
    /// so that what was evicted is not offered (and launched and evicted) again at once.
    pub fn back_off(&mut self) {
        self.hold = self.cfg.window.max(1);
    }
}

/// When the interference guard trips.
#[derive(Clone, Debug, PartialEq)]
pub struct QosConfig {
    /// A regular task is starved when, of the time it was runnable, at least this fraction was
    /// spent waiting on a run queue (run-queue delay / (delay + CPU time)).
    pub stall_ratio: f64,
    /// …and it waited at least this many seconds per second of wall time (an idle task's few
    /// short waits are not starvation).
    pub min_stall_secs_per_sec: f64,
    /// Also starved when its cgroup was throttled by its CFS quota for at least this fraction of
    /// the wall time (off when `None`: a task throttled by its own quota is not suffering from
    /// its neighbours, so this is off by default).
    pub throttle_ratio: Option<f64>,
    /// Consecutive starved samples before the guard trips (one revocable task is evicted per
    /// trip, newest first, until the starvation ends).
    pub trip_after: u32,
}

impl Default for QosConfig {
    fn default() -> Self {
        QosConfig {
            stall_ratio: 0.3,
            min_stall_secs_per_sec: 0.05,
            throttle_ratio: None,
            trip_after: 2,
        }
    }
}

/// What one regular task went through since the previous sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Interference {
    pub task: String,
    pub wall_secs: f64,
    /// Its threads' run-queue delay (sum over threads).
    pub stall_secs: f64,
    /// CPU time it got.
    pub cpu_secs: f64,
    /// Time its cgroup was throttled, when known.
    pub throttled_secs: Option<f64>,
}

impl Interference {
    /// Whether this sample says the task is starved.
    pub fn starved(&self, cfg: &QosConfig) -> bool {
        if self.wall_secs <= 0.0 {
            return false;
        }
        let runnable = self.stall_secs + self.cpu_secs;
        let stalled = runnable > 0.0
            && self.stall_secs / runnable >= cfg.stall_ratio
            && self.stall_secs / self.wall_secs >= cfg.min_stall_secs_per_sec;
        let throttled = match (cfg.throttle_ratio, self.throttled_secs) {
            (Some(limit), Some(t)) => t / self.wall_secs >= limit,
            _ => false,
        };
        stalled || throttled
    }
}

/// A revocable task that may be evicted; `launched` orders them (higher is newer).
#[derive(Clone, Debug, PartialEq)]
pub struct RevocableTask<K> {
    pub key: K,
    pub launched: u64,
}

/// The interference guard: counts consecutive starved samples of each regular task.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    cfg: QosConfig,
    strikes: HashMap<String, u32>,
}

impl Guard {
    pub fn new(cfg: QosConfig) -> Self {
        Guard {
            cfg,
            strikes: HashMap::new(),
        }
    }

    /// One sample of every regular task; the revocable tasks to evict (the newest one when some
    /// regular task has been starved for `trip_after` samples, nothing otherwise). Tasks not in
    /// `regular` any more are forgotten.
    pub fn decide<K: Clone>(
        &mut self,
        regular: &[Interference],
        revocable: &[RevocableTask<K>],
    ) -> Vec<K> {
        self.strikes
            .retain(|task, _| regular.iter().any(|r| &r.task == task));
        let mut tripped = false;
        for r in regular {
            let n = self.strikes.entry(r.task.clone()).or_default();
            if r.starved(&self.cfg) {
                *n += 1;
                if *n >= self.cfg.trip_after.max(1) {
                    tripped = true;
                }
            } else {
                *n = 0;
            }
        }
        if !tripped {
            return Vec::new();
        }
        let Some(newest) = revocable.iter().max_by_key(|t| t.launched) else {
            return Vec::new();
        };
        // The starved task's count starts again: the next eviction only if it stays starved.
        for n in self.strikes.values_mut() {
            if *n >= self.cfg.trip_after.max(1) {
                *n = 0;
            }
        }
        vec![newest.key.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(alloc_cpus: f64, used_cpus: f64, alloc_mem: f64, used_mem: f64) -> UsageSample {
        UsageSample {
            allocated_cpus: alloc_cpus,
            allocated_mem_mb: alloc_mem,
            used_cpus,
            used_mem_mb: used_mem,
        }
    }

    #[test]
    fn slack_is_allocation_less_margin_less_peak_usage_in_the_window() {
        let cfg = EstimatorConfig {
            window: 3,
            margin: 0.1,
        };
        // (history oldest first, expected cpus, expected mem)
        let table: Vec<(Vec<UsageSample>, f64, f64)> = vec![
            (vec![], 0.0, 0.0),
            // 4 cpus given, 0.4 kept back, 0.5 used: 3.1 cpus; 1024 MB, 102.4 kept, 200 used: 721.6
            // MB, 704 in steps of 32.
            (vec![s(4.0, 0.5, 1024.0, 200.0)], 3.1, 704.0),
            // A spike in the window counts.
            (
                vec![
                    s(4.0, 0.5, 1024.0, 200.0),
                    s(4.0, 3.0, 1024.0, 200.0),
                    s(4.0, 0.5, 1024.0, 200.0),
                ],
                0.6,
                704.0,
            ),
            // Out of the window (3 samples) it does not.
            (
                vec![
                    s(4.0, 3.0, 1024.0, 900.0),
                    s(4.0, 0.5, 1024.0, 200.0),
                    s(4.0, 0.5, 1024.0, 200.0),
                    s(4.0, 0.5, 1024.0, 200.0),
                ],
                3.1,
                704.0,
            ),
            // Usage above the allocation less the margin: no slack, never negative.
            (vec![s(1.0, 0.95, 100.0, 100.0)], 0.0, 0.0),
            // Nothing allocated: nothing to oversubscribe.
            (vec![s(0.0, 0.0, 0.0, 0.0)], 0.0, 0.0),
            // Garbage in (NaN usage): no slack.
            (vec![s(2.0, f64::NAN, 64.0, 0.0)], 0.0, 32.0),
        ];
        for (history, cpus, mem) in table {
            let got = estimate(&history, &cfg);
            assert!(
                (got.cpus - cpus).abs() < 1e-9 && (got.mem_mb - mem).abs() < 1e-9,
                "{history:?}: got {got:?}, want cpus {cpus} mem {mem}"
            );
        }
    }

    #[test]
    fn a_spike_shrinks_slack_at_once_and_it_grows_back_after_the_window() {
        let mut e = Estimator::new(EstimatorConfig {
            window: 3,
            margin: 0.0,
        });
        let cpus: Vec<f64> = [0.0, 3.0, 0.0, 0.0, 0.0, 0.0]
            .into_iter()
            .map(|used| e.observe(s(4.0, used, 0.0, 0.0)).cpus)
            .collect();
        assert_eq!(cpus, [4.0, 1.0, 1.0, 1.0, 4.0, 4.0]);
    }

    #[test]
    fn after_an_eviction_no_cpus_are_estimated_for_a_window() {
        let mut e = Estimator::new(EstimatorConfig {
            window: 2,
            margin: 0.0,
        });
        let idle = s(4.0, 1.0, 1024.0, 0.0);
        assert_eq!(e.observe(idle).cpus, 3.0);
        e.back_off();
        let seen: Vec<(f64, f64)> = (0..4)
            .map(|_| e.observe(idle))
            .map(|x| (x.cpus, x.mem_mb))
            .collect();
        // Memory is still estimated: the guard is about CPU.
        assert_eq!(
            seen,
            [(0.0, 1024.0), (0.0, 1024.0), (3.0, 1024.0), (3.0, 1024.0)]
        );
    }

    #[test]
    fn slack_as_revocable_resources() {
        let r = Slack {
            cpus: 1.5,
            mem_mb: 0.0,
        }
        .to_resources();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].name, "cpus");
        assert_eq!(r[0].revocable, Some(serde_json::json!({})));
        assert_eq!(Slack::of(&r).cpus, 1.5);
    }

    fn lc(stall: f64, cpu: f64, throttled: Option<f64>) -> Interference {
        Interference {
            task: "lc".into(),
            wall_secs: 1.0,
            stall_secs: stall,
            cpu_secs: cpu,
            throttled_secs: throttled,
        }
    }

    #[test]
    fn starved_only_when_the_task_itself_waits() {
        let cfg = QosConfig::default();
        let with_throttle = QosConfig {
            throttle_ratio: Some(0.2),
            ..QosConfig::default()
        };
        // (sample, config, starved)
        let table = [
            // Waited 0.5 s of 0.6 s runnable: starved.
            (lc(0.5, 0.1, None), &cfg, true),
            // Busy and rarely waiting (the machine may be loaded; this task is not stalled).
            (lc(0.02, 0.9, None), &cfg, false),
            // Idle: a few short waits are not starvation even at a high ratio.
            (lc(0.01, 0.001, None), &cfg, false),
            // Waiting as much as running, above the floor.
            (lc(0.3, 0.7, None), &cfg, true),
            (lc(0.2, 0.8, None), &cfg, false),
            // Throttled by its quota: only when asked for.
            (lc(0.0, 0.5, Some(0.5)), &cfg, false),
            (lc(0.0, 0.5, Some(0.5)), &with_throttle, true),
            (lc(0.0, 0.5, Some(0.1)), &with_throttle, false),
        ];
        for (sample, c, want) in table {
            assert_eq!(sample.starved(c), want, "{sample:?} {c:?}");
        }
        let no_wall = Interference {
            wall_secs: 0.0,
            ..lc(1.0, 0.0, None)
        };
        assert!(!no_wall.starved(&cfg));
    }

    fn rev(key: &str, launched: u64) -> RevocableTask<String> {
        RevocableTask {
            key: key.into(),
            launched,
        }
    }

    #[test]
    fn the_guard_evicts_the_newest_revocable_task_after_consecutive_starved_samples() {
        let mut g = Guard::new(QosConfig::default());
        let batch = [rev("old", 1), rev("new", 2)];
        let starved = [lc(0.5, 0.1, None)];
        let fine = [lc(0.01, 0.9, None)];
        // (samples, evicted) in order: two starved samples trip it; one fine sample resets.
        assert!(g.decide(&starved, &batch).is_empty());
        assert!(g.decide(&fine, &batch).is_empty());
        assert!(g.decide(&starved, &batch).is_empty());
        assert_eq!(g.decide(&starved, &batch), ["new"]);
        // The count starts again after an eviction.
        assert!(g.decide(&starved, &batch[..1]).is_empty());
        assert_eq!(g.decide(&starved, &batch[..1]), ["old"]);
        // Starved but nothing revocable runs: nothing to evict.
        assert!(g
            .decide(&starved, &[] as &[RevocableTask<String>])
            .is_empty());
        assert!(g
            .decide(&starved, &[] as &[RevocableTask<String>])
            .is_empty());
    }

    #[test]
    fn the_guard_does_not_evict_when_regular_tasks_are_not_starved() {
        let mut g = Guard::new(QosConfig::default());
        let batch = [rev("b", 1)];
        // Loaded (busy) but not waiting, for many samples.
        for _ in 0..10 {
            assert!(g.decide(&[lc(0.05, 0.95, None)], &batch).is_empty());
        }
        // No regular tasks at all.
        for _ in 0..10 {
            assert!(g.decide(&[], &batch).is_empty());
        }
    }
}
