//! Scalar resources as the UI shows them: CPUs, memory, disk and GPUs summed from Mesos
//! `Resource`s, whatever their role or reservation.

use drover_api::Resource;
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Res {
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: f64,
}

impl Res {
    pub fn of(resources: &[Resource]) -> Res {
        let mut r = Res::default();
        for x in resources {
            let v = x.scalar.as_ref().map_or(0.0, |s| s.value);
            match x.name.as_str() {
                "cpus" => r.cpus += v,
                "mem" => r.mem += v,
                "disk" => r.disk += v,
                "gpus" => r.gpus += v,
                _ => {}
            }
        }
        r
    }

    pub fn add(&mut self, o: &Res) {
        self.cpus += o.cpus;
        self.mem += o.mem;
        self.disk += o.disk;
        self.gpus += o.gpus;
    }

    pub fn sub(&mut self, o: &Res) {
        // Floating sums drift: never show -0.0000001 CPUs.
        self.cpus = (self.cpus - o.cpus).max(0.0);
        self.mem = (self.mem - o.mem).max(0.0);
        self.disk = (self.disk - o.disk).max(0.0);
        self.gpus = (self.gpus - o.gpus).max(0.0);
    }
}

/// Port numbers of `ports` resources.
pub fn ports(resources: &[Resource]) -> Vec<u64> {
    let mut out = Vec::new();
    for x in resources.iter().filter(|x| x.name == "ports") {
        for r in x.ranges.iter().flat_map(|r| r.range.iter()) {
            // A task holds a handful of ports; a range of thousands is shown by its ends.
            if r.end.saturating_sub(r.begin) > 16 {
                out.extend([r.begin, r.end]);
            } else {
                out.extend(r.begin..=r.end);
            }
        }
    }
    out
}
