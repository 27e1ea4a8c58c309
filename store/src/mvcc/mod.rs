#![allow(unused_variables, dead_code)]
//! TEMPORARY STUB of the MVCC API (replaced by the mvcc branch at merge).
//! (src/service/kv/apply.rs) is being written against exactly these names at the same time,
//! so keep them; you may ADD items, and you may change a signature only if you must (then say
//! so clearly in your final report). Owned Vec<u8> is fine for now (store has no `bytes` dep).
//!
//! etcd semantics: ETCD-CONTRACT.md §1.3 and etcd's server/storage/mvcc (kvstore_txn.go,
//! kvstore_compaction.go, key_index.go, hash.go).

use std::path::Path;
use std::sync::Arc;

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
pub enum EventKind { Put, Delete }

/// A change, as etcd's mvccpb.Event (a Delete's kv has key + mod_revision, the rest zero,
/// exactly as etcd's tombstone event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event { pub kind: EventKind, pub kv: KeyValue }

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
    /// The revision the range was served at (etcd's header revision for the read).
    pub revision: i64,
}

/// Side tables the server keeps next to the keyspace, written in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side { Lease, AuthUser, AuthRole, AuthMeta, Member, Cluster, Alarm, Meta }

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
    // ... key too large, corrupt record { .. } etc.
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashKv { pub hash: u32, pub compact_revision: i64, pub hash_revision: i64 }

/// The MVCC keyspace over one store file. Cheap to clone; Send + Sync.
#[derive(Clone)]
pub struct Mvcc {}

impl Mvcc {
    pub fn open(path: impl AsRef<Path>) -> Result<Mvcc, MvccError> { todo!() }
    /// A consistent snapshot of the latest commit; usable on any thread, no lock.
    pub fn read(&self) -> MvccRead { todo!() }
    /// The single writer. One MvccWrite = at most one main revision (etcd: one request/Txn).
    pub fn write(&self) -> Result<MvccWrite<'_>, MvccError> { todo!() }
    /// Physical compaction in bounded steps after a logical `MvccWrite::compact`; returns true
    /// when nothing is left to do. Each call is its own short write transaction.
    pub fn compact_step(&self, max_keys: usize) -> Result<bool, MvccError> { todo!() }
    /// etcd's dbSize (file bytes) and dbSizeInUse (bytes of pages in use).
    pub fn db_size(&self) -> u64 { todo!() }
    pub fn db_size_in_use(&self) -> u64 { todo!() }
    /// Make everything committed so far durable (fsync of data + meta): a checkpoint.
    pub fn checkpoint(&self) -> Result<(), MvccError> { todo!() }
}

pub struct MvccRead {}

impl MvccRead {
    /// etcd's current revision (1 in a fresh store, as etcd: the first put gets revision 2).
    pub fn revision(&self) -> i64 { todo!() }
    pub fn compact_revision(&self) -> i64 { todo!() }
    pub fn range(&self, key: &[u8], range_end: &[u8], opts: RangeOptions) -> Result<RangeResult, MvccError> { todo!() }
    /// All events with revision in (after, upto], key order within a revision = sub order,
    /// restricted to [key, range_end) with the same range_end rules. Err(Compacted) if
    /// `after < compact_revision` would be needed.
    pub fn events(&self, after: i64, upto: i64, key: &[u8], range_end: &[u8]) -> Result<Vec<Event>, MvccError> { todo!() }
    /// (raft index, raft term) of the last applied entry recorded with the data.
    pub fn consistent_index(&self) -> (u64, u64) { todo!() }
    pub fn side_get(&self, side: Side, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> { todo!() }
    pub fn side_scan(&self, side: Side) -> Result<Vec<(Vec<u8>, Vec<u8>)>, MvccError> { todo!() }
    /// HashKV(revision) (0 = current): hash of all versions with mod_revision in
    /// (compact_revision, revision], deterministic across members with the same history.
    pub fn hash_kv(&self, revision: i64) -> Result<HashKv, MvccError> { todo!() }
    /// Hash of the whole store contents (Maintenance.Hash).
    pub fn hash(&self) -> Result<u32, MvccError> { todo!() }
}

pub struct MvccWrite<'a> { /* WriteTxn<'a>, begin revision, changes so far, sub counter */ _p: std::marker::PhantomData<&'a ()> }

impl MvccWrite<'_> {
    /// The revision reads inside this write see: begin revision, +1 once it has changes
    /// (etcd storeTxnWrite.Range) — reads see this txn's own earlier writes.
    pub fn revision(&self) -> i64 { todo!() }
    pub fn compact_revision(&self) -> i64 { todo!() }
    pub fn range(&self, key: &[u8], range_end: &[u8], opts: RangeOptions) -> Result<RangeResult, MvccError> { todo!() }
    /// Put at (begin+1, next sub). Version/create_revision continue the key's live history
    /// (a put after a tombstone starts a new generation: version 1).
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<(), MvccError> { todo!() }
    /// Deletes every live key in the range (tombstones); returns how many. 0 = no change.
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> Result<i64, MvccError> { todo!() }
    /// Logical compaction: validates (Compacted if rev <= compact_revision, FutureRevision if
    /// rev > current), persists the new compact revision. Physical work: Mvcc::compact_step.
    pub fn compact(&mut self, revision: i64) -> Result<(), MvccError> { todo!() }
    pub fn set_consistent_index(&mut self, index: u64, term: u64) { todo!() }
    pub fn side_put(&mut self, side: Side, key: &[u8], value: &[u8]) -> Result<(), MvccError> { todo!() }
    pub fn side_get(&self, side: Side, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> { todo!() }
    pub fn side_scan(&self, side: Side) -> Result<Vec<(Vec<u8>, Vec<u8>)>, MvccError> { todo!() }
    pub fn side_delete(&mut self, side: Side, key: &[u8]) -> Result<bool, MvccError> { todo!() }
    /// Commits: publishes the new root (no fsync unless `durable`). Returns the store's
    /// revision after the commit (bumped only if there were puts/deletes) and the events in
    /// (revision, sub) order for watchers.
    pub fn commit(self, durable: bool) -> Result<Committed, MvccError> { todo!() }
}

#[derive(Debug, Clone, Default)]
pub struct Committed { pub revision: i64, pub events: Vec<Event> }
