//! Values a process already keeps, read at each scrape: a [`Snapshot`] is a collector that
//! calls a function for its [`Series`] (Mesos' `/metrics/snapshot`, a core's counters). What is
//! counted stays a plain field of the state that counts it, so pure code needs no metrics
//! handle and the numbers on `/metrics` are those of the JSON endpoints.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// A counter only goes up (its samples get `_total`); a gauge is a value now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its name (without `_total`), help, kind and points, each a label set
/// (empty for a plain value) and a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub points: Vec<(Vec<(String, String)>, f64)>,
}

impl Series {
    pub fn gauge(name: impl Into<String>, help: impl Into<String>, value: f64) -> Series {
        Series::one(name, help, Kind::Gauge, value)
    }

    pub fn counter(name: impl Into<String>, help: impl Into<String>, value: f64) -> Series {
        Series::one(name, help, Kind::Counter, value)
    }

    pub fn one(name: impl Into<String>, help: impl Into<String>, kind: Kind, value: f64) -> Series {
        Series {
            name: name.into(),
            help: help.into(),
            kind,
            points: vec![(Vec::new(), value)],
        }
    }

    /// A family with one label: a point per `(label value, value)`.
    pub fn by(
        name: impl Into<String>,
        help: impl Into<String>,
        kind: Kind,
        label: &str,
        points: impl IntoIterator<Item = (String, f64)>,
    ) -> Series {
        Series {
            name: name.into(),
            help: help.into(),
            kind,
            points: points
                .into_iter()
                .map(|(v, x)| (vec![(label.to_string(), v)], x))
                .collect(),
        }
    }
}

/// `name` with every character outside `[a-zA-Z0-9_]` an underscore (and one before a leading
/// digit): a valid Prometheus metric name.
pub fn prometheus_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A Mesos metric name as Prometheus spells it: `mesos_` before it, then [`prometheus_name`]:
/// `master/tasks_running` → `mesos_master_tasks_running`,
/// `allocator/mesos/allocation_runs` → `mesos_allocator_mesos_allocation_runs`.
pub fn mesos_name(name: &str) -> String {
    prometheus_name(&format!("mesos_{name}"))
}

type Read = dyn Fn() -> Vec<Series> + Send + Sync;

/// A collector of the series a function returns when scraped.
pub struct Snapshot(Box<Read>);

impl Snapshot {
    pub fn new(read: impl Fn() -> Vec<Series> + Send + Sync + 'static) -> Snapshot {
        Snapshot(Box::new(read))
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for s in (self.0)() {
            let kind = match s.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut family = encoder.encode_descriptor(&s.name, &s.help, None, kind)?;
            for (labels, v) in &s.points {
                let point = family.encode_family(labels)?;
                // Whole numbers (counts, most of them) are written as such: `1`, not `1.0`.
                let whole = v.fract() == 0.0 && v.abs() < 9.0e15;
                match (s.kind, whole) {
                    (Kind::Counter, true) if *v >= 0.0 => {
                        ConstCounter::new(*v as u64).encode(point)?
                    }
                    (Kind::Counter, _) => ConstCounter::new(*v).encode(point)?,
                    (Kind::Gauge, true) => ConstGauge::new(*v as i64).encode(point)?,
                    (Kind::Gauge, false) => ConstGauge::new(*v).encode(point)?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn mesos_names_map_to_prometheus_names() {
        for (mesos, prom) in [
            ("master/tasks_running", "mesos_master_tasks_running"),
            ("master/cpus_used", "mesos_master_cpus_used"),
            (
                "allocator/mesos/resources/cpus/offered_or_allocated",
                "mesos_allocator_mesos_resources_cpus_offered_or_allocated",
            ),
            (
                "slave/executors-running.x",
                "mesos_slave_executors_running_x",
            ),
        ] {
            assert_eq!(mesos_name(mesos), prom);
        }
        assert_eq!(prometheus_name("9lives"), "_9lives");
    }

    #[test]
    fn a_snapshot_is_read_at_each_scrape() {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let read = n.clone();
        let mut r = Registry::default();
        r.register_collector(Box::new(Snapshot::new(move || {
            let v = read.load(std::sync::atomic::Ordering::SeqCst) as f64;
            vec![
                Series::gauge("mesos_master_tasks_running", "master/tasks_running", v),
                Series::counter("mesos_master_tasks_finished", "master/tasks_finished", 2.0),
                Series::by(
                    "drover_master_task_state_transitions",
                    "Tasks that entered each state",
                    Kind::Counter,
                    "state",
                    [("TASK_RUNNING".to_string(), v)],
                ),
            ]
        })));
        let text = crate::encode(&r).expect("encodes");
        for line in [
            "# TYPE mesos_master_tasks_running gauge\n",
            "mesos_master_tasks_running 1\n",
            "# TYPE mesos_master_tasks_finished_total counter\n",
            "mesos_master_tasks_finished_total 2\n",
            "drover_master_task_state_transitions_total{state=\"TASK_RUNNING\"} 1\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        n.store(3, std::sync::atomic::Ordering::SeqCst);
        let text = crate::encode(&r).expect("encodes");
        assert!(text.contains("mesos_master_tasks_running 3\n"), "{text}");
        let mut r = Registry::default();
        r.register_collector(Box::new(Snapshot::new(|| {
            vec![Series::gauge("mesos_master_cpus_percent", "", 0.25)]
        })));
        let text = crate::encode(&r).expect("encodes");
        assert!(text.contains("mesos_master_cpus_percent 0.25\n"), "{text}");
    }
}
