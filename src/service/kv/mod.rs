//! The KV service: Range, Put, DeleteRange, Txn, Compact. Request checks run on the
//! client's core before anything reaches raft, exactly as etcd's `v3rpc/key.go` checks.

pub mod check;
pub mod apply;
