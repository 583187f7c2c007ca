//! The `drover <noun> <verb>` commands. `node`, `framework` and `task` read the master's public
//! endpoints (the ones Mesos tools read), `quota` and `reservation` its operator API, `role`
//! `/master/roles` and `/weights`; `app` and `deployment`
//! drive Marathon's REST v2 API; `job` the jobs scheduler's Metronome API.
//! Each prints a table for people, or the server's own JSON with `--json`.
//!
//! Inside: `client` is the one HTTP client (and where an answer becomes a typed value or an
//! [`Error`]); `views` the JSON shapes read that `drover_api` has no type for; `render` tables,
//! `--json` and the live status line of a wait; `args` the shared flags; then one module per
//! noun (`node`, `framework`, `task`, `quota`, `reservation`, `role`, `app`, `deployment` with its `wait`, `job`).
//!
//! # Errors and exit codes
//!
//! A failed command prints `error: <what failed, where>` and, when there is something to do
//! about it, an indented line saying what (see [`report`]), then exits with:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the server refused the request (its status and message), answered something unreadable, or a deployment failed |
//! | 2 | usage: bad flags or arguments (clap's own errors too), an unreadable or invalid app file, an ambiguous id prefix |
//! | 3 | not found: no such app, task, deployment or sandbox |
//! | 4 | conflict: a deployment holds the app (`--force` overrides it), or the app already exists |
//! | 5 | unreachable: nothing answers at the master's, Marathon's or the agent's address |
//! | 6 | timed out waiting for a deployment (it goes on in Marathon) |
//!
//! [`Error::exit_code`] is the one place these are mapped.
#![forbid(unsafe_code)]

mod app;
mod args;
mod client;
mod deployment;
mod dns;
mod error;
mod framework;
mod job;
mod master;
mod node;
mod package;
mod quota;
mod render;
mod reservation;
mod role;
mod task;
mod views;

pub use app::{app, AppCmd};
pub use args::{Common, MarathonArgs, WaitArgs};
pub use deployment::{deployment, DeploymentCmd};
pub use dns::{dns, DnsArgs, DnsCmd, LookupType};
pub use error::{report, Error, Server};
pub use framework::{framework, FrameworkCmd};
pub use job::{job, JobCmd, JobsArgs, ScheduleCmd};
pub use master::{master, MasterCmd};
pub use node::{node, NodeCmd};
pub use package::{package, PackageArgs, PackageCmd, RepoCmd};
pub use quota::{quota, QuotaCmd};
pub use reservation::{reservation, ReservationCmd};
pub use role::{role, RoleCmd};
pub use task::{task, TaskCmd};
