//! Drover's wire types: Mesos v1 scheduler, executor and operator messages with the exact JSON
//! mapping Mesos uses, the v0 JSON endpoint shapes, Drover's own agent↔master protocol, RecordIO
//! framing and resource arithmetic. Nothing here does I/O.
#![forbid(unsafe_code)]
// Wire enums keep the names Mesos gives them (`TASK_RUNNING`, `ID` suffixes).
#![allow(non_camel_case_types, clippy::upper_case_acronyms)]

pub mod agent_protocol;
pub mod chronos;
pub mod container;
pub mod executor;
pub mod health_check;
pub mod maintenance;
pub mod marathon;
pub mod mesos;
pub mod metronome;
pub mod operator;
pub mod quota;
pub mod recordio;
pub mod resources;
pub mod scheduler;

pub use container::{ContainerInfo, ContainerType};
pub use mesos::*;
pub use resources::Resources;

/// The Mesos version Drover reports, so version-checking clients accept it.
pub const MESOS_COMPAT_VERSION: &str = "1.11.0";
