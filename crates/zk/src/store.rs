//! The storage trait on ZooKeeper: one znode per record, under a root path.
//!
//! A key's `/`-separated segments are the znode path below the root (so a prefix scan lists one
//! parent), each segment escaped so that any key is a legal, unambiguous path. ZooKeeper refuses
//! a node (and a whole transaction) over about 1 MiB, so there is no size cliff here: a value
//! too big to go inline is written first as chunks under `<root>/.chunks/<uuid>/` (invisible until
//! referenced), then its record points at them in the same transaction as everything else.
//!
//! Every transaction of a leader's store begins with a check of the leader's election node
//! (version 0, as created): once the leader's session is gone, so is its node, and ZooKeeper
//! itself refuses the write. A deposed leader can never overwrite its successor's state.

use crate::session::{Client, Sessions};
use crate::ZkError;
use drover_store::{Op, Store, StoreError};
use std::collections::HashSet;
use std::sync::Mutex;
use zookeeper_client as zk;

/// Values up to this size go inline in their record's node.
const INLINE_MAX: usize = 256 << 10;
/// What one transaction may carry inline in all (ZooKeeper's packet limit is 1 MiB).
const TXN_BUDGET: usize = 640 << 10;
/// The most one transaction may carry, paths and per-op overhead included; a bigger batch is
/// split into several transactions.
const TXN_MAX: usize = 900 << 10;
/// The size of a chunk of a big value.
const CHUNK: usize = 512 << 10;
/// The first byte of a record's node: the value follows, or a pointer to its chunks.
const INLINE: u8 = b'=';
const CHUNKED: u8 = b'@';
const CHUNK_DIR: &str = ".chunks";

pub struct ZkStore {
    sessions: Sessions,
    client: Client,
    root: String,
    /// The election node that must still exist for a write to be made.
    fence: Option<String>,
    /// Parent nodes known to exist.
    dirs: Mutex<HashSet<String>>,
}

/// Escape one key segment into a znode name: `%` and characters ZooKeeper refuses or reserves
/// become `%XX`, and so do a leading `.` (keeping `.chunks` and `.`/`..` apart from keys).
fn escape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    for (i, c) in seg.chars().enumerate() {
        let reserved = c == '%'
            || c.is_control()
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
            || (i == 0 && c == '.');
        if reserved {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        // A bare `%` is no escape of anything else.
        out.push('%');
    }
    out
}

fn unescape(name: &str) -> String {
    if name == "%" {
        return String::new();
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Some(b) = name
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl ZkStore {
    /// A store under `root` (created if missing). With `fence`, every write requires that
    /// node to exist at version 0.
    pub fn new(sessions: Sessions, client: Client, root: &str, fence: Option<String>) -> ZkStore {
        ZkStore {
            sessions,
            client,
            root: root.trim_end_matches('/').to_string(),
            fence,
            dirs: Mutex::new(HashSet::new()),
        }
    }

    fn path(&self, key: &str) -> String {
        let mut p = self.root.clone();
        for seg in key.split('/') {
            p.push('/');
            p.push_str(&escape(seg));
        }
        p
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.sessions.block_on(f).map_err(|e| match e {
            ZkError::Runtime(e) => unavailable(e),
            e => unavailable(e),
        })?
    }
}

/// Read a record's value, following a pointer to chunks.
async fn read_value(client: &Client, root: &str, data: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    match data.split_first() {
        Some((&INLINE, rest)) => Ok(rest.to_vec()),
        Some((&CHUNKED, rest)) => {
            let ptr = String::from_utf8_lossy(rest).into_owned();
            let (id, count) = ptr
                .split_once(':')
                .and_then(|(id, n)| Some((id.to_string(), n.parse::<usize>().ok()?)))
                .ok_or_else(|| unavailable(format!("bad chunk pointer '{ptr}'")))?;
            let reads: Vec<_> = (0..count)
                .map(|i| client.get_data(&format!("{root}/{CHUNK_DIR}/{id}/{i:06}")))
                .collect();
            let mut out = Vec::new();
            for r in reads {
                out.extend(r.await.map_err(unavailable)?.0);
            }
            Ok(out)
        }
        _ => Err(unavailable("record without a header")),
    }
}

fn chunk_id(data: &[u8]) -> Option<String> {
    let rest = data.strip_prefix(&[CHUNKED])?;
    Some(String::from_utf8_lossy(rest).split(':').next()?.to_string())
}

/// Nodes read in one ZooKeeper request (3.6's multiRead). A new leader loads tens of thousands
/// of records; one request per node made the load of 10,000 scheduled jobs (some 40,000 nodes)
/// take 2-3 s, the server handling each request of a session in turn.
const MULTI_READ: usize = 256;

type Read<T> = Result<T, zk::Error>;

/// What to read of each node, and how (one request per node, or an op of a multiRead).
trait ReadKind {
    type Out;
    fn add(r: &mut zk::MultiReader<'_>, path: &str) -> Result<(), zk::Error>;
    fn take(r: zk::MultiReadResult) -> Read<Self::Out>;
    fn one(client: &Client, path: &str) -> impl std::future::Future<Output = Read<Self::Out>>;
}

/// A node's data and stat.
struct Data;
impl ReadKind for Data {
    type Out = (Vec<u8>, zk::Stat);
    fn add(r: &mut zk::MultiReader<'_>, path: &str) -> Result<(), zk::Error> {
        r.add_get_data(path)
    }
    fn take(r: zk::MultiReadResult) -> Read<Self::Out> {
        match r {
            zk::MultiReadResult::Data { data, stat } => Ok((data, stat)),
            zk::MultiReadResult::Error { err } => Err(err),
            _ => Err(zk::Error::UnexpectedError(
                "not data for a data read".into(),
            )),
        }
    }
    fn one(client: &Client, path: &str) -> impl std::future::Future<Output = Read<Self::Out>> {
        client.get_data(path)
    }
}

/// A node's children.
struct Children;
impl ReadKind for Children {
    type Out = Vec<String>;
    fn add(r: &mut zk::MultiReader<'_>, path: &str) -> Result<(), zk::Error> {
        r.add_get_children(path)
    }
    fn take(r: zk::MultiReadResult) -> Read<Self::Out> {
        match r {
            zk::MultiReadResult::Children { children } => Ok(children),
            zk::MultiReadResult::Error { err } => Err(err),
            _ => Err(zk::Error::UnexpectedError(
                "not children for a children read".into(),
            )),
        }
    }
    fn one(client: &Client, path: &str) -> impl std::future::Future<Output = Read<Self::Out>> {
        client.list_children(path)
    }
}

/// `K` of each path, in order: batches of [`MULTI_READ`] sent at once; a batch the server
/// refuses whole (a server without multiRead) is read node by node.
async fn read_many<K: ReadKind>(client: &Client, paths: &[&str]) -> Vec<Read<K::Out>> {
    let batches: Vec<_> = paths
        .chunks(MULTI_READ)
        .map(|batch| {
            let mut r = client.new_multi_reader();
            let added = batch.iter().all(|p| K::add(&mut r, p).is_ok());
            added.then(|| r.commit())
        })
        .collect();
    let mut out = Vec::with_capacity(paths.len());
    for (batch, sent) in paths.chunks(MULTI_READ).zip(batches) {
        let answered = match sent {
            Some(f) => f.await.ok().filter(|r| r.len() == batch.len()),
            None => None,
        };
        match answered {
            Some(results) => out.extend(results.into_iter().map(K::take)),
            None => {
                let one: Vec<_> = batch.iter().map(|p| K::one(client, p)).collect();
                for f in one {
                    out.push(f.await);
                }
            }
        }
    }
    out
}

impl Store for ZkStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client.clone();
        let path = self.path(key);
        let root = self.root.clone();
        self.run(async move {
            match client.get_data(&path).await {
                // A bare directory of other keys is no record.
                Ok((d, _)) if d.is_empty() => Ok(None),
                Ok((d, _)) => read_value(&client, &root, d).await.map(Some),
                Err(zk::Error::NoNode) => Ok(None),
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        // Keys may hold `/` in their last part (Marathon's app ids): walk the whole subtree
        // under the prefix's directory, level by level, every request of a level sent at once.
        let (dir_key, partial) = match prefix.rsplit_once('/') {
            Some((d, p)) => (Some(d.to_string()), p.to_string()),
            None => (None, prefix.to_string()),
        };
        let dir = match &dir_key {
            Some(d) => self.path(d),
            None => self.root.clone(),
        };
        let client = self.client.clone();
        let root = self.root.clone();
        let prefix = prefix.to_string();
        self.run(async move {
            let top = match client.list_children(&dir).await {
                Ok(c) => c,
                Err(zk::Error::NoNode) => return Ok(Vec::new()),
                Err(e) => return Err(unavailable(e)),
            };
            let key_of = |parent: &Option<String>, name: &str| match parent {
                Some(p) => format!("{p}/{}", unescape(name)),
                None => unescape(name),
            };
            // (znode path, key) of the nodes to visit next.
            let mut frontier: Vec<(String, String)> = top
                .into_iter()
                .filter(|n| !n.starts_with('.') && unescape(n).starts_with(&partial))
                .map(|n| (format!("{dir}/{n}"), key_of(&dir_key, &n)))
                .collect();
            let mut out = Vec::new();
            while !frontier.is_empty() {
                let paths: Vec<&str> = frontier.iter().map(|(p, _)| p.as_str()).collect();
                let reads = read_many::<Data>(&client, &paths).await;
                let mut parents = Vec::new();
                for ((path, key), r) in frontier.drain(..).zip(reads) {
                    let (data, stat) = match r {
                        Ok(x) => x,
                        // Deleted between the listing and the read.
                        Err(zk::Error::NoNode) => continue,
                        Err(e) => return Err(unavailable(e)),
                    };
                    // A record has at least its header byte; a bare directory has nothing.
                    if !data.is_empty() && key.starts_with(&prefix) {
                        out.push((key.clone(), read_value(&client, &root, data).await?));
                    }
                    if stat.num_children > 0 {
                        parents.push((path, key));
                    }
                }
                let paths: Vec<&str> = parents.iter().map(|(p, _)| p.as_str()).collect();
                let lists = read_many::<Children>(&client, &paths).await;
                let mut next = Vec::new();
                for ((path, key), l) in parents.iter().zip(lists) {
                    let children = match l {
                        Ok(c) => c,
                        Err(zk::Error::NoNode) => continue,
                        Err(e) => return Err(unavailable(e)),
                    };
                    for n in children.into_iter().filter(|n| !n.starts_with('.')) {
                        next.push((format!("{path}/{n}"), format!("{key}/{}", unescape(&n))));
                    }
                }
                frontier = next;
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let client = self.client.clone();
        let root = self.root.clone();
        let fence = self.fence.clone();
        let acls = self.sessions.acls();
        // Paths and values; the last op on a path wins, as when the ops are applied in order
        // (each path appears once in a ZooKeeper transaction: whether it is a create or a set
        // is decided from what is there before it).
        let mut last: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let all: Vec<(String, Option<Vec<u8>>)> = ops
            .into_iter()
            .map(|op| match op {
                Op::Put(k, v) => (self.path(&k), Some(v)),
                Op::Delete(k) => (self.path(&k), None),
            })
            .collect();
        for (i, (p, _)) in all.iter().enumerate() {
            last.insert(p.clone(), i);
        }
        let mut writes: Vec<(String, Option<Vec<u8>>)> = all
            .into_iter()
            .enumerate()
            .filter(|(i, (p, _))| last.get(p) == Some(i))
            .map(|(_, w)| w)
            .collect();
        let deleted: Vec<String> = writes
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        let mut inline: usize = writes
            .iter()
            .filter_map(|(_, v)| v.as_ref().map(|v| v.len()))
            .sum();
        let mut by_size: Vec<usize> = (0..writes.len()).collect();
        by_size.sort_by_key(|&i| std::cmp::Reverse(writes[i].1.as_ref().map_or(0, |v| v.len())));
        let mut chunked = vec![false; writes.len()];
        for i in by_size {
            let len = writes[i].1.as_ref().map_or(0, |v| v.len());
            if len > INLINE_MAX || (inline > TXN_BUDGET && len > 0) {
                chunked[i] = true;
                inline -= len;
            }
        }
        let parents: Vec<String> = writes
            .iter()
            .filter(|(_, v)| v.is_some())
            .filter_map(|(p, _)| p.rsplit_once('/').map(|(d, _)| d.to_string()))
            .collect::<HashSet<_>>()
            .into_iter()
            .filter(|d| {
                !self
                    .dirs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(d)
            })
            .collect();
        let made = self.run(async move {
            for d in &parents {
                client
                    .mkdir(d, &zk::CreateMode::Persistent.with_acls(acls))
                    .await
                    .map_err(unavailable)?;
            }
            // What is there now: create or set, delete or skip, and old chunks to remove.
            let stats: Vec<_> = writes.iter().map(|(p, _)| client.check_stat(p)).collect();
            let mut present = Vec::with_capacity(stats.len());
            for s in stats {
                present.push(s.await.map_err(unavailable)?);
            }
            let mut old_chunks = Vec::new();
            for ((p, _), st) in writes.iter().zip(&present) {
                if let Some(st) = st {
                    if st.data_length < 64 {
                        if let Ok((d, _)) = client.get_data(p).await {
                            old_chunks.extend(chunk_id(&d));
                        }
                    }
                }
            }
            // Big values first, as chunks nobody refers to yet (removed again if the
            // transaction fails).
            let mut new_chunks = Vec::new();
            for (i, (_, v)) in writes.iter_mut().enumerate() {
                let Some(value) = v.as_mut() else { continue };
                if !chunked[i] {
                    value.insert(0, INLINE);
                    continue;
                }
                let id = uuid::Uuid::new_v4().to_string();
                let dir = format!("{root}/{CHUNK_DIR}/{id}");
                new_chunks.push(id.clone());
                client
                    .mkdir(&dir, &zk::CreateMode::Persistent.with_acls(acls))
                    .await
                    .map_err(unavailable)?;
                let mut n = 0;
                for part in value.chunks(CHUNK) {
                    client
                        .create(
                            &format!("{dir}/{n:06}"),
                            part,
                            &zk::CreateMode::Persistent.with_acls(acls),
                        )
                        .await
                        .map_err(unavailable)?;
                    n += 1;
                }
                let mut ptr = vec![CHUNKED];
                ptr.extend(format!("{id}:{n}").into_bytes());
                *value = ptr;
            }
            // One transaction, unless it would pass ZooKeeper's packet limit (paths count too:
            // thousands of deletes do): then several, each fenced, in order.
            let mut groups: Vec<Vec<usize>> = vec![Vec::new()];
            let mut size = 0;
            for (i, (p, v)) in writes.iter().enumerate() {
                let sz = p.len() + v.as_ref().map_or(0, |v| v.len()) + 64;
                if size + sz > TXN_MAX && groups.last().is_some_and(|g| !g.is_empty()) {
                    groups.push(Vec::new());
                    size = 0;
                }
                size += sz;
                if let Some(g) = groups.last_mut() {
                    g.push(i);
                }
            }
            let bad = |e: zk::Error| unavailable(e);
            let mut committed = false;
            for g in groups {
                let mut txn = client.new_multi_writer();
                if let Some(f) = &fence {
                    txn.add_check_version(f, 0).map_err(bad)?;
                }
                let mut any = false;
                for i in g {
                    let ((p, v), st) = (&writes[i], &present[i]);
                    match (v, st) {
                        (Some(v), Some(_)) => txn.add_set_data(p, v, None).map_err(bad)?,
                        (Some(v), None) => txn
                            .add_create(p, v, &zk::CreateMode::Persistent.with_acls(acls))
                            .map_err(bad)?,
                        // A record that is also the directory of other keys keeps its node.
                        (None, Some(st)) if st.num_children > 0 => {
                            txn.add_set_data(p, &[], None).map_err(bad)?
                        }
                        (None, Some(st)) if st.data_length == 0 => continue,
                        (None, Some(_)) => txn.add_delete(p, None).map_err(bad)?,
                        (None, None) => continue,
                    }
                    any = true;
                }
                if !any {
                    continue;
                }
                let failed = match txn.commit().await {
                    Ok(_) => None,
                    Err(zk::MultiWriteError::OperationFailed { index: 0, source })
                        if fence.is_some() =>
                    {
                        Some(StoreError::Fenced(format!(
                            "{}: {source}",
                            fence.as_deref().unwrap_or_default()
                        )))
                    }
                    Err(e) => Some(unavailable(e)),
                };
                if let Some(e) = failed {
                    // Chunks nothing committed refers to.
                    if !committed {
                        remove_chunks(&client, &root, new_chunks).await;
                    }
                    return Err(e);
                }
                committed = true;
            }
            remove_chunks(&client, &root, old_chunks).await;
            Ok(parents)
        })?;
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        dirs.extend(made);
        // A deleted record may have been a directory the cache knew.
        for d in deleted {
            let under = format!("{d}/");
            dirs.retain(|x| *x != d && !x.starts_with(&under));
        }
        Ok(())
    }
}

/// Remove the chunks of values no record refers to (best effort).
async fn remove_chunks(client: &Client, root: &str, ids: Vec<String>) {
    for id in ids {
        let dir = format!("{root}/{CHUNK_DIR}/{id}");
        if let Ok(parts) = client.list_children(&dir).await {
            for p in parts {
                let _ = client.delete(&format!("{dir}/{p}"), None).await;
            }
        }
        let _ = client.delete(&dir, None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_key_segment_escapes_to_a_legal_name_and_back() {
        for seg in [
            "a", "app.1", ".hidden", ".", "..", "", "50%", "x\u{1}y", "ünï",
        ] {
            let e = escape(seg);
            assert!(!e.starts_with('.'), "{seg:?} -> {e}");
            assert!(!e.is_empty());
            assert!(!e.chars().any(|c| c.is_control()), "{seg:?} -> {e}");
            assert_eq!(unescape(&e), seg, "{seg:?} -> {e}");
        }
    }
}
