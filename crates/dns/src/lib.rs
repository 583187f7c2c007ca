//! DNS discovery of tasks as mesos-dns names them: records built from the master's operator
//! event stream (not a poll), served over DNS (UDP and TCP) and mesos-dns' HTTP API.
//!
//! Inside: `names` (label rules, the canonical-name hash), `config` (mesos-dns' config.json),
//! `state` (the cluster, from operator events), `records` (the immutable record snapshot, a pure
//! build), `answer` (a DNS query against a snapshot, pure), `follow` (the master's stream,
//! coalesced rebuilds), `server` (the UDP/TCP loops and forwarding), `http` (the HTTP API).
#![forbid(unsafe_code)]

mod answer;
mod config;
mod error;
mod names;
mod records;
mod state;
#[cfg(test)]
mod testing;

pub use answer::{answer, error_reply, Outcome, Transport, Zone, MAX_QUERY};
pub use config::Config;
pub use error::Error;
pub use names::{hash5, LabelRule};
pub use records::{build, BuildConfig, Builder, Hosts, IpSource, RecordSet, Srv};
pub use state::{Applied, ClusterState};
