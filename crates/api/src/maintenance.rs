//! Mesos' maintenance and draining wire types (`mesos.v1.maintenance`, `MachineID`,
//! `Unavailability`, `InverseOffer`, `DrainConfig`/`DrainInfo`), as `/maintenance/schedule`,
//! `/maintenance/status`, `/machine/down|up`, the operator calls and the scheduler's inverse
//! offers carry them.

use crate::mesos::{AgentID, FrameworkID, OfferID, Resource, TimeInfo, URL};
use serde::{Deserialize, Deserializer, Serialize};

/// An int64 as protobuf's JSON writes it: a number, or a string of digits (Java's and Go's
/// protobuf JSON print 64-bit integers as strings).
pub fn i64_num_or_str<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        N(i64),
        F(f64),
        S(String),
    }
    match NumOrStr::deserialize(d)? {
        NumOrStr::N(n) => Ok(n),
        NumOrStr::F(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        NumOrStr::F(f) => Err(D::Error::custom(format!("not an integer: {f}"))),
        NumOrStr::S(s) => s
            .parse()
            .map_err(|_| D::Error::custom(format!("not an integer: {s:?}"))),
    }
}

/// A machine: its hostname, its IP, or both.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MachineID {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl MachineID {
    /// Whether an agent on `hostname` at `ip` is on this machine: every field the machine
    /// names must match (a hostname without regard to case, as DNS compares them).
    pub fn matches(&self, hostname: &str, ip: &str) -> bool {
        let host_ok = self
            .hostname
            .as_deref()
            .is_none_or(|h| h.is_empty() || h.eq_ignore_ascii_case(hostname));
        let ip_ok = self.ip.as_deref().is_none_or(|i| i.is_empty() || i == ip);
        host_ok && ip_ok && !self.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.hostname.as_deref().unwrap_or("").is_empty()
            && self.ip.as_deref().unwrap_or("").is_empty()
    }

    /// Mesos' JSON form of the id, as its messages quote it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A duration that may be negative (so the master can refuse one with Mesos' words).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Duration {
    #[serde(deserialize_with = "i64_num_or_str")]
    pub nanoseconds: i64,
}

/// A point in time in nanoseconds since the epoch.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    #[serde(deserialize_with = "i64_num_or_str")]
    pub nanoseconds: i64,
}

impl From<Time> for TimeInfo {
    fn from(t: Time) -> TimeInfo {
        TimeInfo {
            nanoseconds: t.nanoseconds,
        }
    }
}

/// When a machine will be unavailable: from `start`, for `duration` (none: indefinitely).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unavailability {
    pub start: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

/// Machines that go into maintenance together.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    #[serde(default)]
    pub machine_ids: Vec<MachineID>,
    pub unavailability: Unavailability,
}

/// The cluster's maintenance schedule (a `POST` replaces it whole).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<Window>,
}

/// A framework's answer to an inverse offer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InverseOfferStatusKind {
    UNKNOWN,
    ACCEPT,
    DECLINE,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct InverseOfferStatus {
    pub status: InverseOfferStatusKind,
    pub framework_id: FrameworkID,
    pub timestamp: TimeInfo,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DrainingMachine {
    pub id: MachineID,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<InverseOfferStatus>,
}

/// `/maintenance/status`: the machines in each mode but UP.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ClusterStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draining_machines: Vec<DrainingMachine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down_machines: Vec<MachineID>,
}

/// The master asks a framework to give back what it uses on an agent, which will be
/// unavailable; advisory.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct InverseOffer {
    pub id: OfferID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<URL>,
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    pub unavailability: Unavailability,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainState {
    UNKNOWN,
    DRAINING,
    DRAINED,
}

/// How an agent is drained: tasks' kill grace periods capped at `max_grace_period`, and the
/// agent marked gone once drained when `mark_gone`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grace_period: Option<Duration>,
    #[serde(default)]
    pub mark_gone: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DrainInfo {
    pub state: DrainState,
    pub config: DrainConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_matches_on_every_field_it_names() {
        let both = MachineID {
            hostname: Some("Node-1".into()),
            ip: Some("10.0.0.1".into()),
        };
        let host = MachineID {
            hostname: Some("node-1".into()),
            ip: None,
        };
        let ip = MachineID {
            hostname: None,
            ip: Some("10.0.0.1".into()),
        };
        // (machine, agent hostname, agent ip, matches)
        let cases = [
            (&both, "node-1", "10.0.0.1", true),
            (&both, "node-1", "10.0.0.2", false),
            (&both, "node-2", "10.0.0.1", false),
            (&host, "NODE-1", "10.9.9.9", true),
            (&ip, "anything", "10.0.0.1", true),
            (&ip, "anything", "10.0.0.11", false),
        ];
        for (m, h, i, want) in cases {
            assert_eq!(m.matches(h, i), want, "{m:?} {h} {i}");
        }
        assert!(!MachineID::default().matches("", ""));
    }

    #[test]
    fn times_are_read_as_numbers_or_strings() {
        let w: Window = serde_json::from_str(
            r#"{"machine_ids":[{"hostname":"a"}],"unavailability":{"start":{"nanoseconds":"1700000000000000000"},"duration":{"nanoseconds":-5}}}"#,
        )
        .expect("parsed");
        assert_eq!(
            w.unavailability.start.nanoseconds,
            1_700_000_000_000_000_000
        );
        assert_eq!(w.unavailability.duration.map(|d| d.nanoseconds), Some(-5));
    }
}
