//! ringkv-perf measures any etcd-compatible endpoint the way etcd users do (etcd's
//! `benchmark` workloads: put, range, txn, watch, lease-keepalive), and runs ringkv and the
//! real etcd side by side on one machine for the README's table.
//!
//! It is a client only: it never links the server crates, so ringkv and etcd face exactly
//! the same driver.
//!
//! Status: skeleton. The workload names are settled; the driver is the "perf" issue.

pub mod workload;
