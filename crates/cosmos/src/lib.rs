//! The package catalogue: Cosmos' package API over Universe repositories, as the `dcos` CLI
//! speaks it (`dcos package search|describe|install|list|uninstall|repo …`).
//!
//! Inside, the pure decisions: `universe` (the repository format), `catalog` (repositories
//! merged; search, describe, list-versions), `schema` (config defaults, draft-4 validation),
//! `mustache` and `render` (a package into a labelled Marathon app), `installed` (packages read
//! back from Marathon's apps; what an uninstall removes), `repositories` (the list and its
//! file), `media` (media-type negotiation), `rpc` (request bodies), `error` (Cosmos' errors);
//! `builtin` is the repository shipped in the binary. The I/O is at the edges: `upstream`
//! (Marathon and the master), `service` ([`Cosmos`], the operations) and `http` ([`router`]).
#![forbid(unsafe_code)]

mod builtin;
mod catalog;
mod error;
mod http;
mod installed;
mod media;
mod mustache;
mod render;
mod repositories;
mod rpc;
mod schema;
mod service;
mod universe;
mod upstream;

pub use error::Error;
pub use http::router;
pub use service::Cosmos;
pub use upstream::Upstreams;
