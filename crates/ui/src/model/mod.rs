//! What the UI knows of the cluster, kept from events: the master's (agents, frameworks, tasks)
//! and Marathon's (apps, deployments, the launch queue). Pure: events in, changes out.

pub mod cluster;
pub mod marathon;
pub mod resources;
