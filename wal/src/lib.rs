//! ringkv-wal is the durability of everything ringkv acknowledges: a segmented write-ahead
//! log of CRC-chained records (raft entries, HardState, snapshot markers) in
//! `<data-dir>/member/wal/`, with group commit (one fdatasync per batch), rotation, purge,
//! and crash recovery that cuts back only a torn tail.
//!
//! It never knows gRPC or etcd requests: payloads are opaque bytes to it. It never guesses:
//! damage anywhere but the tail stops start-up with an error naming the file and offset.
//! Layers, bottom up: `blocks` (the block-aligned buffers records are encoded into),
//! `record` (one record's bytes), `scan` (one segment's bytes), `segment` (file names), `dir`
//! (where bytes live), `log` (appends, group commit, rotation, purge, recovery), `storage`
//! (raft-rs `Storage` over the log).

pub mod blocks;
pub mod dir;
pub mod log;
mod queue;
pub mod record;
pub mod scan;
pub mod segment;
pub mod storage;

pub use dir::{FileDir, FsFile, MemDir, SegmentDir, SegmentFile};
pub use log::{Damage, Log, Options, Recovered, SyncJob, SyncTicket, WalError};
pub use record::{Entry, HardState, Record, SnapshotMark};
pub use storage::WalStorage;
