//! Tools for driving a Drover cluster from Rust: a minimal Mesos v1 HTTP scheduler client
//! (used by the load generator under `bench/` and by the integration tests) and the RecordIO
//! event stream it reads.
#![forbid(unsafe_code)]

pub mod client;
pub mod fake;
