//! Everything Drover does with ZooKeeper: `zk://` URLs, sessions, the election of a leader among
//! masters (Mesos' `json.info_` group, which Mesos-aware clients read) or Marathons (Curator's
//! latch), following a leader from outside, and the storage trait on ZooKeeper for HA state.
//! `testing` starts real ZooKeeper servers for tests.
#![forbid(unsafe_code)]

mod election;
mod group;
mod leader;
mod session;
mod store;
pub mod testing;
mod url;

pub use election::{detect, members, Contender, Role, Term};
pub use group::{master_address, Layout};
pub use leader::Leader;
pub use session::{Client, SessionState, Sessions};
pub use store::ZkStore;
pub use url::ZkUrl;

/// What went wrong with ZooKeeper.
#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("bad ZooKeeper URL '{url}': {why}")]
    BadUrl { url: String, why: String },
    #[error("cannot connect to ZooKeeper at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: zookeeper_client::Error,
    },
    #[error("the ZooKeeper session ended: {0}")]
    SessionEnded(String),
    #[error("starting the ZooKeeper client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
