//! Where the leading master is, from a `--master` flag: `host:port` (fixed), or `zk://…/mesos`
//! (followed: the address in the leading `json.info_` node, updated as leaders change).

use crate::group::{master_address, Layout};
use crate::{Sessions, ZkError, ZkUrl};
use std::time::Duration;
use tokio::sync::watch;

/// The leading master's `host:port`, as it is known now and as it changes.
#[derive(Clone)]
pub struct Leader {
    rx: watch::Receiver<Option<String>>,
    /// Keeps a fixed address' channel open.
    _fixed: Option<std::sync::Arc<watch::Sender<Option<String>>>>,
    /// What was asked for, for messages.
    flag: String,
}

impl Leader {
    /// A fixed address, or (for `zk://`) a detector started on the current tokio runtime.
    pub fn new(flag: &str, session_timeout: Duration) -> Result<Leader, ZkError> {
        if !ZkUrl::is_zk(flag) {
            let (tx, rx) = watch::channel(Some(flag.to_string()));
            return Ok(Leader {
                rx,
                _fixed: Some(std::sync::Arc::new(tx)),
                flag: flag.to_string(),
            });
        }
        let url = ZkUrl::parse(flag)?;
        let shown = url.to_string();
        let mut data = crate::detect(Sessions::new(url, session_timeout)?, Layout::Mesos);
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            loop {
                let addr = data.borrow_and_update().as_deref().and_then(master_address);
                if let Some(a) = &addr {
                    tracing::info!("the leading master is {a} (from {shown})");
                }
                tx.send_if_modified(|cur| {
                    if addr.is_some() && *cur != addr {
                        *cur = addr;
                        true
                    } else {
                        false
                    }
                });
                tokio::select! {
                    r = data.changed() => if r.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(Leader {
            rx,
            _fixed: None,
            flag: flag.to_string(),
        })
    }

    /// The address known now, if any.
    pub fn current(&self) -> Option<String> {
        self.rx.borrow().clone()
    }

    /// The address, waiting until one is known.
    pub async fn get(&mut self) -> String {
        loop {
            if let Some(a) = self.rx.borrow_and_update().clone() {
                return a;
            }
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves when the leader changes (never, for a fixed address).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// The `--master` value it was made from.
    pub fn flag(&self) -> &str {
        &self.flag
    }
}
