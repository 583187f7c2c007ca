//! The deployment planner: given an app's target (version, instances, upgrade strategy) and its
//! instances as they are, decide how many to launch and which to kill now. Pure, so a rolling
//! update can be checked step by step in tests and shown as a dry run.

#[derive(Clone, Debug, PartialEq)]
pub struct InstanceView {
    pub id: String,
    pub version: String,
    /// Staged or starting: launched, not running yet.
    pub running: bool,
    /// Running and passing its health checks (or has none) and ready.
    pub healthy: bool,
    pub killing: bool,
    /// When it was launched (for kill selection).
    pub staged_at: f64,
}

#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub version: &'a str,
    pub instances: usize,
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
    pub youngest_first: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub launch: usize,
    pub kill: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.launch == 0 && self.kill.is_empty()
    }
}

/// Whether the target is reached: exactly `instances` healthy instances of the target version
/// and nothing else alive.
pub fn is_complete(t: &Target, instances: &[InstanceView]) -> bool {
    let live: Vec<&InstanceView> = instances.iter().collect();
    live.len() == t.instances
        && live
            .iter()
            .all(|i| i.version == t.version && i.healthy && !i.killing)
}

pub fn plan(t: &Target, instances: &[InstanceView]) -> Plan {
    let n = t.instances;
    let current: Vec<&InstanceView> = instances
        .iter()
        .filter(|i| !i.killing && i.version == t.version)
        .collect();
    let old: Vec<&InstanceView> = instances
        .iter()
        .filter(|i| !i.killing && i.version != t.version)
        .collect();
    let mut p = Plan::default();
    let order = |v: &mut Vec<&InstanceView>| {
        // Not-yet-running ones go first whatever the selection; then by age.
        v.sort_by(|a, b| {
            a.healthy.cmp(&b.healthy).then_with(|| {
                let o = a
                    .staged_at
                    .partial_cmp(&b.staged_at)
                    .unwrap_or(std::cmp::Ordering::Equal);
                if t.youngest_first {
                    o.reverse()
                } else {
                    o
                }
            })
        });
    };
    if old.is_empty() {
        if current.len() < n {
            p.launch = n - current.len();
        } else if current.len() > n {
            let mut c = current.clone();
            order(&mut c);
            p.kill = c
                .iter()
                .take(current.len() - n)
                .map(|i| i.id.clone())
                .collect();
        }
        return p;
    }
    // Rolling replacement of old instances by new ones.
    let max_total = ((n as f64) * (1.0 + t.maximum_over_capacity)).floor() as usize;
    let min_healthy = ((n as f64) * t.minimum_health_capacity).ceil() as usize;
    // Instances still being killed count against the ceiling until they are gone.
    let alive = instances.len();
    if current.len() < n {
        p.launch = (n - current.len()).min(max_total.saturating_sub(alive));
    }
    let healthy_total =
        current.iter().filter(|i| i.healthy).count() + old.iter().filter(|i| i.healthy).count();
    let mut olds = old.clone();
    order(&mut olds);
    let mut can_kill_healthy = healthy_total.saturating_sub(min_healthy);
    // Never keep more old than needed to fill the gap to n: surplus old ones go regardless.
    let surplus = (current.len() + old.len()).saturating_sub(max_total.max(n));
    for (k, i) in olds.iter().enumerate() {
        if !i.healthy {
            p.kill.push(i.id.clone());
        } else if can_kill_healthy > 0 || k < surplus {
            p.kill.push(i.id.clone());
            can_kill_healthy = can_kill_healthy.saturating_sub(1);
        }
    }
    // No headroom either way (maximumOverCapacity 0 and minimumHealthCapacity 1): Marathon
    // then replaces one at a time; kill one old to make room.
    // Only when nothing is in flight: instances still being killed or new ones not yet healthy
    // will make room or count soon, and killing more now would breach the minimum.
    let settled = instances.iter().all(|i| !i.killing) && current.iter().all(|i| i.healthy);
    if p.launch == 0 && p.kill.is_empty() && current.len() < n && settled {
        if let Some(i) = olds.first() {
            p.kill.push(i.id.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str, v: &str, healthy: bool, at: f64) -> InstanceView {
        InstanceView {
            id: id.into(),
            version: v.into(),
            running: healthy,
            healthy,
            killing: false,
            staged_at: at,
        }
    }

    fn target(v: &str, n: usize, min: f64, over: f64) -> Target<'_> {
        Target {
            version: v,
            instances: n,
            minimum_health_capacity: min,
            maximum_over_capacity: over,
            youngest_first: true,
        }
    }

    #[test]
    fn scale_up_and_down() {
        let t = target("v1", 3, 1.0, 1.0);
        assert_eq!(plan(&t, &[]).launch, 3);
        let xs = vec![
            inst("a", "v1", true, 1.0),
            inst("b", "v1", true, 2.0),
            inst("c", "v1", true, 3.0),
            inst("d", "v1", false, 4.0),
        ];
        let t2 = target("v1", 2, 1.0, 1.0);
        let p = plan(&t2, &xs);
        assert_eq!(
            p.kill,
            vec!["d".to_string(), "c".to_string()],
            "unhealthy first, then youngest"
        );
        let mut t3 = t2.clone();
        t3.youngest_first = false;
        assert_eq!(plan(&t3, &xs).kill, vec!["d".to_string(), "a".to_string()]);
        assert!(is_complete(&target("v1", 3, 1.0, 1.0), &xs[..3]));
    }

    #[test]
    fn rolling_update_keeps_minimum_health_capacity() {
        // 4 old healthy, target 4 new, min 0.5 (2 healthy), over 0.25 (5 total).
        let t = target("v2", 4, 0.5, 0.25);
        let mut xs: Vec<InstanceView> = (0..4)
            .map(|i| inst(&format!("o{i}"), "v1", true, i as f64))
            .collect();
        let mut rounds = 0;
        loop {
            let p = plan(&t, &xs);
            if p.is_empty() {
                break;
            }
            rounds += 1;
            assert!(rounds < 50, "converges");
            for k in &p.kill {
                xs.retain(|i| &i.id != k);
            }
            let healthy = xs.iter().filter(|i| i.healthy).count();
            assert!(healthy >= 2, "never below minimumHealthCapacity: {xs:?}");
            for j in 0..p.launch {
                xs.push(inst(
                    &format!("n{rounds}-{j}"),
                    "v2",
                    false,
                    100.0 + rounds as f64,
                ));
            }
            assert!(
                xs.len() <= 5,
                "never above maximumOverCapacity: {}",
                xs.len()
            );
            // The new ones become healthy before the next round.
            for i in xs.iter_mut() {
                i.healthy = true;
                i.running = true;
            }
        }
        assert!(is_complete(&t, &xs), "{xs:?}");
    }

    #[test]
    fn instances_in_flight_hold_further_kills() {
        // 2 old healthy, 2 old being killed, 2 new not yet healthy; ceiling 6, floor 2.
        let t = target("v2", 4, 0.5, 0.5);
        let mut xs = vec![
            inst("a", "v1", true, 1.0),
            inst("b", "v1", true, 2.0),
            inst("n1", "v2", false, 5.0),
            inst("n2", "v2", false, 5.0),
        ];
        for k in ["c", "d"] {
            let mut i = inst(k, "v1", true, 3.0);
            i.killing = true;
            xs.push(i);
        }
        assert_eq!(
            plan(&t, &xs),
            Plan::default(),
            "wait for the kills to finish and the new ones to be healthy"
        );
    }

    #[test]
    fn no_headroom_replaces_one_at_a_time() {
        let t = target("v2", 2, 1.0, 0.0);
        let xs = vec![inst("a", "v1", true, 1.0), inst("b", "v1", true, 2.0)];
        let p = plan(&t, &xs);
        assert_eq!(p.launch, 0);
        assert_eq!(p.kill.len(), 1);
    }
}
