//! `drover agent` flags for oversubscription: Mesos' `--oversubscribed_resources_interval` and
//! the thresholds of the estimator and the QoS controller's interference guard.

use anyhow::{bail, Result};
use drover_agent::oversubscription::{EstimatorConfig, OversubscriptionConfig, QosConfig};

#[derive(clap::Args, Debug, Clone)]
pub struct OversubscriptionFlags {
    /// Offer what tasks are given but leave unused as revocable resources (to frameworks with
    /// REVOCABLE_RESOURCES), evicting revocable tasks when a regular task is starved of CPU.
    /// Off by default, as in Mesos.
    #[arg(long)]
    oversubscription: bool,
    /// Seconds between estimates sent to the master (Mesos'
    /// `--oversubscribed_resources_interval`); sent only when it changed.
    #[arg(long, default_value_t = 15.0, value_name = "SECS")]
    oversubscribed_resources_interval: f64,
    /// Samples the peak usage of regular tasks is taken over (a spike shrinks the estimate at
    /// once; it grows back once the spike is out of the window).
    #[arg(long, default_value_t = 8, value_name = "N")]
    oversubscription_window: usize,
    /// Fraction of what regular tasks are given never offered as revocable (safety margin).
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    oversubscription_margin: f64,
    /// A regular task is starved when this fraction of its runnable time was spent waiting on a
    /// run queue…
    #[arg(long, default_value_t = 0.3, value_name = "FRACTION")]
    qos_stall_ratio: f64,
    /// …and it waited at least this many seconds per second.
    #[arg(long, default_value_t = 0.05, value_name = "SECS")]
    qos_min_stall: f64,
    /// Also starved when CFS-throttled this fraction of the time (off unless given: a task
    /// throttled by its own quota is not suffering from its neighbours).
    #[arg(long, value_name = "FRACTION")]
    qos_throttle_ratio: Option<f64>,
    /// Consecutive starved samples before a revocable task is evicted (newest first).
    #[arg(long, default_value_t = 2, value_name = "N")]
    qos_trip_after: u32,
}

impl OversubscriptionFlags {
    pub fn config(&self) -> Result<Option<OversubscriptionConfig>> {
        if !self.oversubscription {
            return Ok(None);
        }
        let fraction = |name: &str, v: f64| -> Result<()> {
            if !(0.0..=1.0).contains(&v) {
                bail!("--{name} must be between 0 and 1, not {v}");
            }
            Ok(())
        };
        if !(self.oversubscribed_resources_interval.is_finite()
            && self.oversubscribed_resources_interval > 0.0)
        {
            bail!("--oversubscribed-resources-interval must be a positive number of seconds");
        }
        fraction("oversubscription-margin", self.oversubscription_margin)?;
        fraction("qos-stall-ratio", self.qos_stall_ratio)?;
        if let Some(t) = self.qos_throttle_ratio {
            fraction("qos-throttle-ratio", t)?;
        }
        if !(self.qos_min_stall.is_finite() && self.qos_min_stall >= 0.0) {
            bail!("--qos-min-stall must be a non-negative number of seconds");
        }
        Ok(Some(OversubscriptionConfig {
            interval_secs: self.oversubscribed_resources_interval,
            estimator: EstimatorConfig {
                window: self.oversubscription_window.max(1),
                margin: self.oversubscription_margin,
            },
            qos: QosConfig {
                stall_ratio: self.qos_stall_ratio,
                min_stall_secs_per_sec: self.qos_min_stall,
                throttle_ratio: self.qos_throttle_ratio,
                trip_after: self.qos_trip_after.max(1),
            },
        }))
    }
}
