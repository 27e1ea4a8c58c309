//! The MVCC keyspace: etcd's `server/storage/mvcc` semantics over the B+tree, with no
//! in-memory index, so opening a store costs the same at 10 keys or 10 million.
//!
//! Tables (see `source.rs`): `kv` holds every version under (user key, revision descending)
//! (`key.rs`, records in `record.rs`); `rev` maps each revision to its key for watch history
//! (`view.rs` `events`) and compaction (`compact.rs`); `meta` holds the current and compact
//! revisions and the consistent index (`meta.rs`); one table multiplexes the side tables
//! (`side.rs`). Reads run on a [`MvccRead`] snapshot without locks; the one [`MvccWrite`] at a
//! time takes at most one main revision.

mod compact;
mod hash;
pub mod key;
mod meta;
pub mod record;
mod side;
mod source;
mod view;
mod write;

use std::path::Path;
use std::sync::Arc;

use crate::{Db, ReadTxn};
use meta::MetaState;
use view::View;

pub use key::MAX_USER_KEY_LEN;
pub use write::MvccWrite;

/// One version of a key, as etcd's mvccpb.KeyValue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// A change, as etcd's mvccpb.Event (a Delete's kv has key + mod_revision, the rest zero,
/// exactly as etcd's tombstone event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// `range_end` follows etcd: empty = just `key`; `[0]` (b"\0") = all keys >= key; otherwise
/// the half-open [key, range_end). (key == b"\0" with end b"\0" = everything.)
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeOptions {
    /// 0 = no limit. The store stops collecting kvs after `limit` (count is still the total).
    pub limit: u64,
    /// 0 = current revision.
    pub revision: i64,
    /// Only `count` is wanted; `kvs` stays empty.
    pub count_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// Number of keys in the range at that revision, ignoring limit (etcd's `count`).
    pub count: i64,
    /// The store's current revision when the range was served, as etcd's `rangeKeys` returns
    /// `curRev` (the response header revision), even for a read at an older revision.
    pub revision: i64,
}

/// A side table's (key, value) pairs in key order.
pub type SideEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// Side tables the server keeps next to the keyspace, written in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lease,
    AuthUser,
    AuthRole,
    AuthMeta,
    Member,
    Cluster,
    Alarm,
    Meta,
}

#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    /// etcd ErrCompacted: requested revision <= compact revision.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// etcd ErrFutureRev: requested revision > current revision.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// The key does not fit the `kv` table once encoded (etcd itself has no such limit below
    /// its request size). `max` is for keys without 0x00 bytes; each 0x00 costs one more.
    #[error("mvcc: key of {len} bytes exceeds the limit of {max}")]
    KeyTooLarge { len: usize, max: usize },
    #[error("mvcc: value of {len} bytes exceeds the limit of {max}")]
    ValueTooLarge { len: usize, max: usize },
    /// MVCC bytes read from the file do not decode.
    #[error("mvcc: corrupt store: {reason}")]
    Corrupt { reason: &'static str },
    /// An earlier operation of this write failed inside the B-tree; it cannot be committed.
    #[error("mvcc: an earlier operation of this write failed; the write was abandoned")]
    WriteFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashKv {
    pub hash: u32,
    pub compact_revision: i64,
    pub hash_revision: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub revision: i64,
    pub events: Vec<Event>,
}

/// The MVCC keyspace over one store file. Cheap to clone; Send + Sync.
#[derive(Clone)]
pub struct Mvcc {
    db: Arc<Db>,
}

impl Mvcc {
    /// Opens (creating if missing) the store; reads only the meta table, never the keyspace.
    pub fn open(path: impl AsRef<Path>) -> Result<Mvcc, MvccError> {
        let db = Arc::new(Db::open(path)?);
        // Fail at open, not at the first read, if the meta table does not decode.
        MetaState::load(&db.begin_read())?;
        Ok(Mvcc { db })
    }

    /// The B-tree underneath (for `check`, stats and debugging).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A consistent snapshot of the latest commit; usable on any thread, no lock.
    pub fn read(&self) -> MvccRead {
        let txn = self.db.begin_read();
        let state = MetaState::load(&txn).ok();
        MvccRead { txn, state }
    }

    /// The single writer. One MvccWrite = at most one main revision (etcd: one request/Txn).
    pub fn write(&self) -> Result<MvccWrite<'_>, MvccError> {
        MvccWrite::new(self.db.begin_write()?)
    }

    /// Physical compaction in bounded steps after a logical `MvccWrite::compact`; returns true
    /// when nothing is left to do. Each call is its own short write transaction.
    pub fn compact_step(&self, max_keys: usize) -> Result<bool, MvccError> {
        compact::step(&self.db, max_keys)
    }

    /// etcd's dbSize: bytes up to the high-water mark (bbolt's `tx.Size()`).
    pub fn db_size(&self) -> u64 {
        self.db.size()
    }

    /// etcd's dbSizeInUse: dbSize less the free pages.
    pub fn db_size_in_use(&self) -> u64 {
        self.db.size_in_use()
    }

    /// Make everything committed so far durable (fsync of data + meta): a checkpoint.
    pub fn checkpoint(&self) -> Result<(), MvccError> {
        self.db.begin_write()?.commit(true)?;
        Ok(())
    }
}

/// A read snapshot. Holds its pages alive (and off the freelist) until dropped.
pub struct MvccRead {
    txn: ReadTxn,
    /// `None` if the meta table did not decode; every fallible read then reports why.
    state: Option<MetaState>,
}

impl MvccRead {
    fn view(&self) -> Result<View<'_, ReadTxn>, MvccError> {
        let state = match self.state {
            Some(s) => s,
            None => MetaState::load(&self.txn)?,
        };
        Ok(View {
            src: &self.txn,
            state,
        })
    }

    /// etcd's current revision (1 in a fresh store, as etcd: the first put gets revision 2).
    /// 0 only if the meta table is corrupt (then every other read returns the error).
    pub fn revision(&self) -> i64 {
        self.state.map_or(0, |s| s.current)
    }

    pub fn compact_revision(&self) -> i64 {
        self.state.map_or(0, |s| s.compact)
    }

    /// Whether physical compaction has caught up with the compact revision.
    pub fn compaction_done(&self) -> bool {
        self.state.is_none_or(|s| s.compaction_done())
    }

    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        self.view()?.range(key, range_end, opts)
    }

    /// All events with revision in (after, upto], in (revision, sub) order, restricted to
    /// [key, range_end) with the same range_end rules. `upto` is clamped to the current
    /// revision. Err(Compacted) if `after + 1 < compact_revision` (etcd's watch allows
    /// starting at the compact revision itself).
    pub fn events(
        &self,
        after: i64,
        upto: i64,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<Vec<Event>, MvccError> {
        self.view()?.events(after, upto, key, range_end)
    }

    /// (raft index, raft term) of the last applied entry recorded with the data.
    pub fn consistent_index(&self) -> (u64, u64) {
        self.state.map_or((0, 0), |s| s.consistent_index)
    }

    pub fn side_get(&self, side: Side, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
        side::get(&self.txn, side, key)
    }

    pub fn side_scan(&self, side: Side) -> Result<SideEntries, MvccError> {
        side::scan(&self.txn, side)
    }

    /// HashKV(revision) (0 = current): hash of all versions with mod_revision in
    /// (compact_revision, revision], deterministic across members with the same history.
    pub fn hash_kv(&self, revision: i64) -> Result<HashKv, MvccError> {
        let view = self.view()?;
        hash::hash_kv(view.src, &view.state, revision)
    }

    /// Hash of the whole store contents (Maintenance.Hash).
    pub fn hash(&self) -> Result<u32, MvccError> {
        hash::hash_all(&self.txn)
    }
}
