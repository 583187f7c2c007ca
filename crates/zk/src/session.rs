//! ZooKeeper sessions on a runtime of their own.
//!
//! The client's session task (its socket, pings, reconnects to another server) runs on a
//! single-threaded runtime in a thread of its own, so that a caller that blocks on a ZooKeeper
//! answer — the storage trait is synchronous, and is called from the master's request handlers —
//! can never starve the task that brings the answer in. Requests go out when a call is made
//! (the client sends on creation of the future), so futures can be awaited on any runtime.

use crate::{ZkError, ZkUrl};
use std::time::Duration;
use zookeeper_client as zk;

pub use zk::{Client, SessionState};

/// Where sessions are opened: the servers of one `zk://` URL, and the runtime they live on.
#[derive(Clone)]
pub struct Sessions {
    url: ZkUrl,
    timeout: Duration,
    rt: tokio::runtime::Handle,
}

/// The runtime every session of this process lives on, started on first use.
fn runtime() -> Result<tokio::runtime::Handle, ZkError> {
    static RT: std::sync::OnceLock<tokio::runtime::Handle> = std::sync::OnceLock::new();
    if let Some(h) = RT.get() {
        return Ok(h.clone());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("zookeeper".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(rt.handle().clone()));
            rt.block_on(std::future::pending::<()>());
        })
        .map_err(ZkError::Runtime)?;
    let h = rx
        .recv()
        .map_err(|_| ZkError::Runtime(std::io::Error::other("runtime thread died")))?
        .map_err(ZkError::Runtime)?;
    Ok(RT.get_or_init(|| h).clone())
}

impl Sessions {
    /// `timeout` is the session timeout the servers grant at most (Mesos' `--zk_session_timeout`,
    /// 10 s): how long a process cut off from ZooKeeper keeps its ephemeral nodes.
    pub fn new(url: ZkUrl, timeout: Duration) -> Result<Sessions, ZkError> {
        Ok(Sessions {
            url,
            timeout,
            rt: runtime()?,
        })
    }

    pub fn url(&self) -> &ZkUrl {
        &self.url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Open a new session (the client, after a session expired, is useless: make another).
    pub async fn connect(&self) -> Result<Client, ZkError> {
        let servers = self.url.servers.clone();
        let timeout = self.timeout;
        let digest = self.url.digest.clone();
        let task = self.rt.spawn(async move {
            let mut c = zk::Client::connector()
                .with_session_timeout(timeout)
                .with_connection_timeout(Duration::from_secs(2));
            if let Some(d) = digest {
                c = c.with_auth("digest", d.as_bytes());
            }
            c.connect(&servers).await
        });
        match task.await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(ZkError::Connect {
                url: self.url.to_string(),
                source: e,
            }),
            Err(e) => Err(ZkError::Runtime(std::io::Error::other(e.to_string()))),
        }
    }

    /// The ACL of nodes this process creates: open, or readable by all and writable by its
    /// creator when the URL carries credentials (Mesos' `EVERYONE_READ_CREATOR_ALL`).
    pub fn acls(&self) -> zk::Acls<'static> {
        static READ_CREATOR_ALL: std::sync::OnceLock<Vec<zk::Acl>> = std::sync::OnceLock::new();
        if self.url.digest.is_none() {
            return zk::Acls::anyone_all();
        }
        let acls = READ_CREATOR_ALL.get_or_init(|| {
            vec![
                zk::Acl::new(zk::Permission::READ, zk::AuthId::anyone()),
                zk::Acl::new(zk::Permission::ALL, zk::AuthId::authed()),
            ]
        });
        zk::Acls::new(acls)
    }

    /// Run `f` on the sessions' runtime and block this thread until it is done, or for at most
    /// five session timeouts (30 s at least): for the synchronous storage trait.
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, ZkError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        // Bounded: a caller (a request handler) never waits forever on servers it cannot
        // reach; what it waited for may still happen, or not. Generous, since a big batch
        // (thousands of records) takes seconds of real work.
        let limit = (self.timeout * 5).max(std::time::Duration::from_secs(30));
        rx.recv_timeout(limit).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => {
                ZkError::SessionEnded(format!("no answer from ZooKeeper within {limit:?}"))
            }
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                ZkError::Runtime(std::io::Error::other("ZooKeeper runtime stopped"))
            }
        })
    }
}
