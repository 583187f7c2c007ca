//! What the UI knows of the cluster, kept from events: the master's (agents, frameworks, tasks)
//! and Marathon's (apps, deployments, the launch queue). Pure: events in, changes out. The
//! jobs scheduler's JSON is read per page (`jobs`), not followed, and so are the master's
//! roles, reservations and maintenance (`roles`).

pub mod cluster;
pub mod jobs;
pub mod marathon;
pub mod resources;
pub mod roles;
