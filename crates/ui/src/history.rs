//! The dashboard's last minute, kept by the server so a new tab shows it at once: a sample
//! every 2 s of CPU, memory and disk allocation and of the task failure rate (31 samples, as
//! DC/OS' dashboard keeps). Pure: the caller says when.

use crate::model::cluster::Ended;
use crate::model::resources::Res;
use serde::Serialize;
use std::collections::VecDeque;

/// Samples kept: 60 s at one every 2 s, both ends included.
pub const SAMPLES: usize = 31;
/// Seconds between samples.
pub const EVERY: f64 = 2.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the epoch.
    pub t: f64,
    pub used: Res,
    pub total: Res,
    /// Failed tasks as a percentage of the tasks that ended since the previous sample.
    pub failure_rate: f64,
}

impl Sample {
    /// `used` as a percentage of `total` for one resource (`cpus`, `mem`, `disk`).
    pub fn percent(&self, what: &str) -> f64 {
        let (u, t) = match what {
            "cpus" => (self.used.cpus, self.total.cpus),
            "mem" => (self.used.mem, self.total.mem),
            _ => (self.used.disk, self.total.disk),
        };
        if t > 0.0 {
            (u / t * 100.0).clamp(0.0, 100.0)
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct History {
    pub samples: VecDeque<Sample>,
    last_ended: Option<Ended>,
}

impl History {
    /// Record the cluster at `t`; `ended` counts tasks that ended since the start.
    pub fn record(&mut self, t: f64, used: Res, total: Res, ended: Ended) -> Sample {
        let prev = self.last_ended.unwrap_or(ended);
        let terminal = ended.terminal.saturating_sub(prev.terminal);
        let failed = ended.failed.saturating_sub(prev.failed);
        self.last_ended = Some(ended);
        let failure_rate = if terminal > 0 {
            failed as f64 / terminal as f64 * 100.0
        } else {
            0.0
        };
        let s = Sample {
            t,
            used,
            total,
            failure_rate,
        };
        if self.samples.len() >= SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
        s
    }

    /// An SVG polyline's points for one series over the kept samples, in a `w`×`h` box, values
    /// 0–100 bottom to top; the newest sample at the right edge.
    pub fn points(&self, what: &str, w: f64, h: f64) -> String {
        let n = self.samples.len();
        let step = w / (SAMPLES - 1) as f64;
        self.samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = if what == "failure" {
                    s.failure_rate
                } else {
                    s.percent(what)
                };
                let x = w - (n - 1 - i) as f64 * step;
                let y = h - v.clamp(0.0, 100.0) / 100.0 * h;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(cpus: f64) -> Res {
        Res {
            cpus,
            mem: cpus * 100.0,
            disk: 0.0,
            gpus: 0.0,
        }
    }

    #[test]
    fn keeps_a_minute_and_rates_failures_per_interval() {
        let mut h = History::default();
        let mut ended = Ended::default();
        for i in 0..40 {
            if i == 35 {
                ended.terminal += 4;
                ended.failed += 1;
            }
            h.record(i as f64 * 2.0, res(1.0), res(4.0), ended);
        }
        assert_eq!(h.samples.len(), SAMPLES);
        assert_eq!(h.samples.front().unwrap().t, 18.0);
        let rates: Vec<f64> = h.samples.iter().map(|s| s.failure_rate).collect();
        assert_eq!(rates.iter().filter(|r| **r > 0.0).count(), 1);
        assert!(rates.contains(&25.0));
        assert_eq!(h.samples.back().unwrap().percent("cpus"), 25.0);
        assert_eq!(
            h.samples.back().unwrap().percent("disk"),
            0.0,
            "no disk: 0, not NaN"
        );
    }

    #[test]
    fn points_put_the_newest_sample_at_the_right_edge() {
        let mut h = History::default();
        h.record(0.0, res(0.0), res(4.0), Ended::default());
        h.record(2.0, res(4.0), res(4.0), Ended::default());
        assert_eq!(h.points("cpus", 300.0, 60.0), "290.0,60.0 300.0,0.0");
    }
}
