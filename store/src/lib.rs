//! ringkv-store is etcd's bbolt + mvcc in one: a single-file, mmap'd, copy-on-write B+tree
//! (4 KiB pages, two checksummed meta pages, a freelist) holding the MVCC keyspace (records
//! keyed by user key and revision, a revision index for watch history and compaction).
//! One writer; any number of lock-free readers on any core.
//!
//! It never blocks on the network and never knows gRPC, raft or etcd's wire messages.
//!
//! Status: skeleton. The revision type below is settled; the tree is the "store" issue.

pub mod revision;
