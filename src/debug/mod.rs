//! `ringkv debug …`: look inside a data directory without changing it, so operators can
//! see what the server sees (as bbolt's and etcd's inspectors let them).

pub mod store;
pub mod wal;

/// What an inspection found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Damage a crash cannot explain (or, for the store, a failed check).
    Corrupt,
}

/// What `ringkv debug <part> <data-dir>` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Wal,
    Store,
}
