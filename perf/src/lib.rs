//! ringkv-perf measures any etcd-compatible endpoint the way etcd users do (etcd's
//! `benchmark` workloads: put, range, txn, watch, lease-keepalive), and runs ringkv and the
//! real etcd side by side on one machine for the README's table.
//!
//! It is a client only: it never links the server crates, so ringkv and etcd face exactly
//! the same driver (the etcd-client crate), and etcd's own `benchmark` tool can be swapped in
//! as a second opinion.

pub mod benchmark_tool;
pub mod compare;
pub mod driver;
pub mod plot;
pub mod report;
pub mod server;
pub mod workload;
