//! `ringkv debug …`: look inside a data directory without changing it, so operators can
//! see what the server sees (as bbolt's and etcd's inspectors let them).

pub mod wal;
