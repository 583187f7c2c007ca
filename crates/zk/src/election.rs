//! Leader election and leader detection on ZooKeeper (the I/O around [`crate::group`]).
//!
//! A contender keeps one ephemeral sequential member node in the group for as long as its
//! session lives, and says what it is through a watch channel: following (and whom), leading
//! (with the term and the node that proves it), or suspended — it led, lost its connection, and
//! cannot tell whether its session (and so its leadership) survives, so it must not act until
//! the connection is back. A session that expires ends the term; the contender opens a new
//! session and joins again, at the back. It never gives up and never exits the process.
//!
//! A detector only watches: the leader's node data, kept while ZooKeeper is unreachable (the
//! last leader is the best guess), for agents, frameworks and tools that follow a leader.

use crate::group::Layout;
use crate::session::{Client, SessionState, Sessions};
use crate::ZkError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use zookeeper_client as zk;

/// One leadership of this process: from winning the election to losing the session (or
/// abdicating). Writes made in it are fenced by `node`: they succeed only while it exists.
#[derive(Clone, Debug)]
pub struct Term {
    /// Counts this process' terms, from 1.
    pub number: u64,
    /// The full path of the member node that makes this process the leader.
    pub node: String,
    /// The session the term lives in.
    pub client: Client,
}

/// What a contender is, as far as it can tell.
#[derive(Clone, Debug)]
pub enum Role {
    /// Not leading. `leader` is the leading member's node data when one is known.
    Follower {
        leader: Option<Vec<u8>>,
    },
    Leading(Term),
    /// It led, and lost its connection: the session may have expired on the servers (and
    /// another contender may lead) — do not act until the connection is back.
    Suspended(Term),
}

impl Role {
    pub fn is_leading(&self) -> bool {
        matches!(self, Role::Leading(_))
    }

    fn same(&self, other: &Role) -> bool {
        match (self, other) {
            (Role::Follower { leader: a }, Role::Follower { leader: b }) => a == b,
            (Role::Leading(a), Role::Leading(b)) | (Role::Suspended(a), Role::Suspended(b)) => {
                a.number == b.number
            }
            _ => false,
        }
    }
}

/// A running contender: its role, and a way to step down.
pub struct Contender {
    role: watch::Receiver<Role>,
    abdicate: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Contender {
    /// Join the election of the group at the sessions' path with `data` as the member's node
    /// data (Mesos: the MasterInfo JSON; Curator: `host:port`). Runs until dropped.
    pub fn start(sessions: Sessions, layout: Layout, data: Vec<u8>) -> Contender {
        let (tx, role) = watch::channel(Role::Follower { leader: None });
        let abdicate = Arc::new(Notify::new());
        let task = tokio::spawn(contend(sessions, layout, data, tx, abdicate.clone()));
        Contender {
            role,
            abdicate,
            task,
        }
    }

    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// Leave the leadership (if this process has it) and join again at the back.
    pub fn abdicate(&self) {
        self.abdicate.notify_one();
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn set(tx: &watch::Sender<Role>, role: Role) {
    tx.send_if_modified(|r| {
        if r.same(&role) {
            false
        } else {
            *r = role;
            true
        }
    });
}

async fn contend(
    sessions: Sessions,
    layout: Layout,
    data: Vec<u8>,
    tx: watch::Sender<Role>,
    abdicate: Arc<Notify>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut terms = 0u64;
    loop {
        let client = match sessions.connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("election at {}: {e}; retrying", sessions.url());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        match member(
            &sessions, &client, layout, &data, &tx, &abdicate, &mut terms,
        )
        .await
        {
            Ok(()) => {}
            Err(e) => tracing::warn!("election at {}: {e}", sessions.url()),
        }
        // The session is over: whatever this process led, it leads no more.
        if !matches!(&*tx.borrow(), Role::Follower { .. }) {
            tracing::warn!(
                "election at {}: session ended; no longer leading",
                sessions.url()
            );
        }
        set(&tx, Role::Follower { leader: None });
    }
}

/// Wait for a lost connection to come back; false when the session is over.
async fn reconnected(states: &mut zk::StateWatcher) -> bool {
    loop {
        match states.state() {
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => return true,
            SessionState::Disconnected => {
                states.changed().await;
            }
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                return false
            }
        }
    }
}

/// Be a member for the life of one session; returns when the session is over.
async fn member(
    sessions: &Sessions,
    client: &Client,
    layout: Layout,
    data: &[u8],
    tx: &watch::Sender<Role>,
    abdicate: &Notify,
    terms: &mut u64,
) -> Result<(), ZkError> {
    let path = sessions.url().path.clone();
    let acls = sessions.acls();
    let mut states = client.state_watcher();
    let mut mine: Option<String> = None;
    let mut term: Option<Term> = None;
    loop {
        let step = async {
            client
                .mkdir(&path, &zk::CreateMode::Persistent.with_acls(acls))
                .await?;
            let name = match &mine {
                Some(n) => n.clone(),
                None => {
                    // A member of ours from an earlier attempt (a create whose answer was lost,
                    // an abdication whose delete failed) would lead in our place: remove it.
                    let me = client.session_id().0;
                    for c in client.list_children(&path).await? {
                        if layout.sequence(&c).is_none() {
                            continue;
                        }
                        let p = format!("{path}/{c}");
                        if let Ok(Some(st)) = client.check_stat(&p).await {
                            if st.ephemeral_owner == me {
                                tracing::info!(
                                    "election at {}: removing our stray member {c}",
                                    sessions.url()
                                );
                                let _ = client.delete(&p, None).await;
                            }
                        }
                    }
                    let prefix = layout.member_prefix();
                    let (_, seq) = client
                        .create(
                            &format!("{path}/{prefix}"),
                            data,
                            &zk::CreateMode::EphemeralSequential.with_acls(acls),
                        )
                        .await?;
                    let n = format!("{prefix}{seq}");
                    tracing::info!("election at {}: joined as {n}", sessions.url());
                    n
                }
            };
            let (children, _, watcher) = client.get_and_watch_children(&path).await?;
            let leader_data = match layout.leader(&children) {
                Some(l) if l == name => None,
                Some(l) => Some(
                    client
                        .get_data(&format!("{path}/{l}"))
                        .await
                        .map(|(d, _)| Some(d))
                        .or_else(|e| match e {
                            zk::Error::NoNode => Ok(None),
                            e => Err(e),
                        })?,
                ),
                None => Some(None),
            };
            Ok::<_, zk::Error>((name, children, leader_data, watcher))
        };
        let (name, children, leader_data, watcher) = match step.await {
            Ok(x) => x,
            Err(e) => {
                if let Some(t) = &term {
                    set(tx, Role::Suspended(t.clone()));
                }
                tracing::debug!("election at {}: {e}", sessions.url());
                if !reconnected(&mut states).await {
                    return Err(ZkError::SessionEnded(e.to_string()));
                }
                // Connected but failing (e.g. refused by an ACL): do not spin.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !children.contains(&name) {
            // Our node is gone though the session lives (deleted by hand, or we abdicated).
            mine = None;
            term = None;
            set(tx, Role::Follower { leader: None });
            continue;
        }
        mine = Some(name.clone());
        match leader_data {
            None => {
                let t = match &term {
                    Some(t) => t.clone(),
                    None => {
                        *terms += 1;
                        tracing::info!(
                            "election at {}: leading (term {}, {name})",
                            sessions.url(),
                            terms
                        );
                        let t = Term {
                            number: *terms,
                            node: format!("{path}/{name}"),
                            client: client.clone(),
                        };
                        term = Some(t.clone());
                        t
                    }
                };
                set(tx, Role::Leading(t));
            }
            Some(leader) => {
                term = None;
                set(tx, Role::Follower { leader });
            }
        }
        tokio::select! {
            _ = watcher.changed() => {}
            s = states.changed() => {
                if s == SessionState::Disconnected {
                    if let Some(t) = &term {
                        tracing::warn!("election at {}: connection lost; suspended", sessions.url());
                        set(tx, Role::Suspended(t.clone()));
                    }
                    if !reconnected(&mut states).await {
                        return Err(ZkError::SessionEnded(format!("{s:?}")));
                    }
                } else if !reconnected(&mut states).await {
                    return Err(ZkError::SessionEnded(format!("{s:?}")));
                }
            }
            _ = abdicate.notified(), if term.is_some() => {
                tracing::info!("election at {}: abdicating", sessions.url());
                if let Err(e) = client.delete(&format!("{path}/{name}"), None).await {
                    tracing::warn!("election at {}: abdicating: {e}", sessions.url());
                }
                mine = None;
                term = None;
                set(tx, Role::Follower { leader: None });
            }
        }
    }
}

/// The members of the group at the sessions' path, leader first (by sequence), with their node
/// data: a one-off read for tools (`drover master list`).
pub async fn members(
    sessions: &Sessions,
    layout: Layout,
) -> Result<Vec<(String, Vec<u8>)>, ZkError> {
    let client = sessions.connect().await?;
    let path = &sessions.url().path;
    let ended = |e: zk::Error| ZkError::SessionEnded(e.to_string());
    let children = match client.list_children(path).await {
        Ok(c) => c,
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(ended(e)),
    };
    let mut named: Vec<(u64, String)> = children
        .into_iter()
        .filter_map(|c| Some((layout.sequence(&c)?, c)))
        .collect();
    named.sort();
    let mut out = Vec::new();
    for (_, name) in named {
        match client.get_data(&format!("{path}/{name}")).await {
            Ok((d, _)) => out.push((name, d)),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(ended(e)),
        }
    }
    Ok(out)
}

/// Follow the leader of the group at the sessions' path: its node data, `None` until one is
/// known. Runs until the receiver is dropped.
pub fn detect(sessions: Sessions, layout: Layout) -> watch::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while !tx.is_closed() {
            let client = match sessions.connect().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("leader detection at {}: {e}; retrying", sessions.url());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            if let Err(e) = watch_leader(&sessions, &client, layout, &tx).await {
                tracing::debug!("leader detection at {}: {e}", sessions.url());
            }
        }
    });
    rx
}

async fn watch_leader(
    sessions: &Sessions,
    client: &Client,
    layout: Layout,
    tx: &watch::Sender<Option<Vec<u8>>>,
) -> Result<(), ZkError> {
    let path = &sessions.url().path;
    let mut states = client.state_watcher();
    loop {
        if tx.is_closed() {
            return Ok(());
        }
        let step = async {
            let (children, _, watcher) = match client.get_and_watch_children(path).await {
                Ok(x) => x,
                // No group yet: wait for its node to appear (or look again at once if it
                // appeared in between).
                Err(zk::Error::NoNode) => {
                    let (stat, w) = client.check_and_watch_stat(path).await?;
                    if stat.is_some() {
                        return Ok((None, None));
                    }
                    return Ok((None, Some(w)));
                }
                Err(e) => return Err(e),
            };
            let data = match layout.leader(&children) {
                Some(l) => match client.get_data(&format!("{path}/{l}")).await {
                    Ok((d, _)) => Some(d),
                    Err(zk::Error::NoNode) => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            Ok((data, Some(watcher)))
        };
        match step.await {
            Ok((data, None)) => {
                let _ = data;
                continue;
            }
            Ok((data, Some(watcher))) => {
                tx.send_if_modified(|cur| {
                    if *cur == data {
                        false
                    } else {
                        *cur = data;
                        true
                    }
                });
                tokio::select! {
                    _ = watcher.changed() => {}
                    _ = states.changed() => {
                        if !reconnected(&mut states).await {
                            return Err(ZkError::SessionEnded("expired".into()));
                        }
                    }
                    _ = tx.closed() => return Ok(()),
                }
            }
            Err(e) => {
                if !reconnected(&mut states).await {
                    return Err(ZkError::SessionEnded(e.to_string()));
                }
                // Connected but failing: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
