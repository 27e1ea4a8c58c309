//! ringkv-store is etcd's bbolt + mvcc in one: a single-file, mmap'd, copy-on-write B+tree
//! (4 KiB pages, two checksummed meta pages, a freelist) holding the MVCC keyspace (records
//! keyed by user key and revision, a revision index for watch history and compaction).
//! One writer; any number of lock-free readers on any core.
//!
//! It never blocks on the network and never knows gRPC, raft or etcd's wire messages.
//!
//! Layers, bottom up: `page_store/` (pages, metas, freelist, map, file), `btree/` (nodes,
//! cursor, split/merge, check), then [`Db`] with its [`ReadTxn`] and [`WriteTxn`], and on top
//! the MVCC keyspace, [`mvcc::Mvcc`] (issue 5).

pub mod btree;
mod db;
mod defrag;
pub mod error;
pub mod mvcc;
pub mod page_store;
pub mod revision;
mod txn;

pub use btree::check::TreeStats;
pub use btree::node::{MAX_INLINE_VALUE, MAX_KEY_LEN, MAX_VALUE_LEN};
pub use db::{CheckReport, Checkpoint, Db, PageHeld, PageInfo, Snapshot};
pub use defrag::DefragReport;
pub use error::{Error, Result};
pub use page_store::{PAGE_SIZE, PageId, TxId};
pub use txn::{ReadCursor, ReadTxn, Table, WriteCursor, WriteTxn};
