//! The package catalogue: Cosmos' package API over Universe repositories, as the `dcos` CLI
//! speaks it (`dcos package search|describe|install|list|uninstall|repo …`).
//!
//! Inside, the pure decisions: `universe` (the repository format), `catalog` (repositories
//! merged; search, describe, list-versions), `schema` (config defaults, draft-4 validation),
//! `mustache` and `render` (a package into a labelled Marathon app), `installed` (packages read
//! back from Marathon's apps; what an uninstall removes), `repositories` (the list and its
//! file), `media` (media-type negotiation), `rpc` (request bodies), `error` (Cosmos' errors).
#![forbid(unsafe_code)]
#![allow(dead_code)]

mod catalog;
mod error;
mod installed;
mod media;
mod mustache;
mod render;
mod repositories;
mod rpc;
mod schema;
mod universe;

pub use error::Error;
