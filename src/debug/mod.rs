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

/// What `ringkv debug <part> <path>` looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The WAL of a data dir.
    Wal,
    /// A store file: a data dir's (`debug store <data-dir>`) or any other, such as a saved
    /// snapshot (`debug db <file>`).
    Store(store::Listing),
}
