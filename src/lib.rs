//! The ringkv server: an etcd v3-compatible, Raft-replicated MVCC key-value store.
//!
//! This crate owns the process: the command line and configuration (etcd's flags and
//! `ETCD_*` variables), the thread-per-core runtime, the front doors on the client port
//! (gRPC, HTTP/1.1), and later the raft node and the etcd services. It builds on
//! `ringkv-net` (protocol codecs), `ringkv-proto` (the wire messages), `ringkv-wal` and
//! `ringkv-store` (persistence), none of which know about each other's concerns.
//! Handlers never panic on client input; every client-visible error comes from one table.

pub mod apply;
pub mod auto_compact;
pub mod auto_tls;
pub mod blockdev;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod datadir;
pub mod debug;
pub mod error;
pub mod grpc;
pub mod http;
pub mod lease;
pub mod logging;
pub mod raft;
pub mod restore;
pub mod runtime;
pub mod server;
pub mod service;
pub mod store_jobs;
pub mod version;
pub mod watch;
