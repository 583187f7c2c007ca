//! Marathon for Drover: long-running apps with rolling deploys, health checks and an event bus,
//! speaking Marathon's REST v2 API, scheduling through the master's public v1 scheduler API
//! like any other framework.
#![forbid(unsafe_code)]

pub mod constraints;
pub mod planner;
pub mod validate;
