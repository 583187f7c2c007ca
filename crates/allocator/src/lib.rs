//! Drover's offer allocator: Mesos' hierarchical DRF allocator as a pure state machine.
//!
//! The master tells the [`Allocator`] about agents, frameworks, role weights and resources coming
//! back, and calls [`Allocator::allocate`] with the current time; the allocator answers with the
//! offers to make. No I/O, no clock reads, no unseeded randomness: the same calls give the same
//! allocations.
//!
//! A cycle visits the agents that have something to offer, in a seeded shuffled order. For each
//! it walks the roles by weighted dominant share (the largest fraction of any cluster scalar the
//! role holds, divided by its weight), and within a role the frameworks by their dominant share
//! in that role, ties by name; the first framework that is active, not suppressed for the role
//! and not filtered from the agent gets everything there the role may use (unreserved plus
//! reserved to it), if that is at least the minimum allocatable. Shares are updated after each
//! offer, so one cycle interleaves frameworks across agents. Roles reserved on the agent then get
//! their reservations the same way.
//!
//! Quota works as in Mesos 1.11: a cycle first offers roles with unmet guarantees what moves them
//! towards those guarantees (stage 1), then walks the roles by share as above (stage 2); offers
//! of unreserved resources are cut to a role's limits and to what the cluster can spare beyond
//! the guarantees still unmet (the headroom). Consumption is allocated (offered included) plus
//! reserved.
//!
//! Roles form a tree (`eng/web` under `eng`): the walk above is depth first, each level in share
//! order, a role's share being everything under it over its weight, and a role with frameworks
//! of its own and children competing with them as one more child (Mesos' `.` leaf).
//! Reservations to a role are offered to it and to the roles under it, never above.
//!
//! Differences from Mesos: quota only on cpus, mem, disk and gpus (and, as in Mesos 1.11, only
//! on top-level roles); no inverse offers; a framework's refuse filter for an
//! (agent, role) is replaced, not stacked, by a later one.
#![forbid(unsafe_code)]

mod allocator;
mod hash;
mod pool;

pub use allocator::{Allocation, Allocator, Config, Conversion, Quota};

/// What the allocator refuses.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("role '{role}': weight {weight} is not a positive finite number")]
    InvalidWeight { role: String, weight: f64 },
    #[error("role '{role}': quota on '{name}' is not supported (only cpus, mem, disk and gpus)")]
    QuotaResource { role: String, name: String },
    #[error("role '{role}': quota of '{name}' ({value}) is not a non-negative finite number")]
    QuotaValue {
        role: String,
        name: String,
        value: f64,
    },
    #[error("framework '{framework}' does not hold those resources for role '{role}' on agent '{agent}'")]
    NotHeld {
        agent: String,
        framework: String,
        role: String,
    },
    #[error("agent '{agent}' does not have those resources unallocated")]
    NotAvailable { agent: String },
    #[error("Updating quota on nested role '{role}' is not supported yet")]
    NestedQuota { role: String },
    #[error("role '{role}': the guarantee of '{name}' is above its limit")]
    GuaranteeAboveLimit { role: String, name: String },
}
