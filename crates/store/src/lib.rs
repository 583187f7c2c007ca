//! Durable state behind one trait. Records are opaque bytes under string keys grouped by a
//! prefix (`agents/`, `frameworks/`, …); a record has no size cliff. The embedded implementation
//! is a redb database in the work dir: ACID, readers never block the writer. The ZooKeeper one,
//! for HA, is in `drover-zk`.
#![forbid(unsafe_code)]

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the store at {path}: {source}")]
    Open {
        path: String,
        source: redb::DatabaseError,
    },
    #[error("store transaction failed: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("store table error: {0}")]
    Table(#[from] redb::TableError),
    #[error("store read/write failed: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("store commit failed: {0}")]
    Commit(#[from] redb::CommitError),
    /// A remote store (ZooKeeper) could not be reached or refused the request.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The write was refused because this process no longer holds the leadership it was made
    /// under (a deposed leader's write never lands).
    #[error("the write was refused: this process is no longer the leader ({0})")]
    Fenced(String),
}

/// A change to apply atomically.
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

/// Durable key/value state shared by the master registry and Marathon.
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// All records whose key starts with `prefix`, in key order.
    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Apply all operations in one transaction, durably.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;

    fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.apply(vec![Op::Put(key.to_string(), value)])
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.apply(vec![Op::Delete(key.to_string())])
    }
}

const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("drover");

/// The embedded store: one redb file.
pub struct EmbeddedStore {
    db: redb::Database,
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = redb::Database::create(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(EmbeddedStore { db })
    }
}

impl Store for EmbeddedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        use redb::ReadableDatabase;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        use redb::ReadableDatabase;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TABLE)?;
        let mut out = Vec::new();
        for item in table.range(prefix..)? {
            let (k, v) = item?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(TABLE)?;
            for op in &ops {
                match op {
                    Op::Put(k, v) => {
                        table.insert(k.as_str(), v.as_slice())?;
                    }
                    Op::Delete(k) => {
                        table.remove(k.as_str())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// An in-memory store for tests and `--no-persist` runs.
#[derive(Default)]
pub struct MemoryStore {
    map: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }
    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(s: &dyn Store) {
        s.apply(vec![
            Op::Put("a/1".into(), b"x".to_vec()),
            Op::Put("a/2".into(), vec![7; 3 << 20]),
            Op::Put("b/1".into(), b"z".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.get("a/1").unwrap().as_deref(), Some(&b"x"[..]));
        let a = s.scan("a/").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[1].1.len(),
            3 << 20,
            "a 3 MiB record survives: no size cliff"
        );
        s.delete("a/1").unwrap();
        assert_eq!(s.get("a/1").unwrap(), None);
        assert_eq!(s.scan("a/").unwrap().len(), 1);
    }

    #[test]
    fn embedded_store_keeps_records_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.redb");
        contract(&EmbeddedStore::open(&path).unwrap());
        let again = EmbeddedStore::open(&path).unwrap();
        assert_eq!(again.get("b/1").unwrap().as_deref(), Some(&b"z"[..]));
    }

    #[test]
    fn memory_store_meets_the_contract() {
        contract(&MemoryStore::default());
    }
}
