//! `ringkv snapshot restore`: a new data dir from a snapshot file, as
//! `etcdctl snapshot restore` makes one from etcd's. The file is what Maintenance/Snapshot
//! streams (`etcdctl snapshot save` writes it): a ringkv store file followed by the SHA-256
//! of its bytes. The store keeps its keys, revisions, leases and alarms; the WAL starts
//! afresh with a raft snapshot marker at the store's consistent index, naming the members
//! of `--initial-cluster` as the voters of a new cluster.

use std::io::Write;
use std::path::{Path, PathBuf};

use ringkv_store::mvcc::Mvcc;
use ringkv_wal::{FileDir, Options, WalStorage};
use sha2::{Digest, Sha256};

use crate::datadir::DataDir;
use crate::raft::RaftConfig;
use raft::eraftpb::{ConfState, HardState, Snapshot};

/// The flags of `ringkv snapshot restore`, with etcdctl's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreOptions {
    pub file: PathBuf,
    pub name: String,
    /// `None`: `<name>.etcd`.
    pub data_dir: Option<PathBuf>,
    pub wal_dir: Option<PathBuf>,
    /// `name=url` pairs.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_token: String,
    pub skip_hash_check: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            file: PathBuf::new(),
            name: "default".into(),
            data_dir: None,
            wal_dir: None,
            initial_cluster: vec![("default".into(), "http://localhost:2380".into())],
            initial_cluster_token: "etcd-cluster".into(),
            skip_hash_check: false,
        }
    }
}

/// What a restore made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub data_dir: PathBuf,
    pub member_id: u64,
    /// The store's revision and the raft index the new log starts after.
    pub revision: i64,
    pub index: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot read the snapshot {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    // etcd's wording for both hash errors.
    #[error("snapshot missing hash but --skip-hash-check=false")]
    MissingHash,
    #[error("expected sha256 {expected}, got {actual}")]
    HashMismatch { expected: String, actual: String },
    #[error("data-dir {0:?} exists")]
    DataDirExists(PathBuf),
    #[error("{0}")]
    Config(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the snapshot is not a readable ringkv store: {0}")]
    Store(String),
    #[error("cannot create the WAL: {0}")]
    Wal(String),
}

/// Size of the SHA-256 trailer; a store file is whole 4 KiB pages, so a file with the
/// trailer is 32 bytes past a multiple of 512 (etcd's own test for "has a hash").
const HASH_LEN: usize = 32;

pub fn restore(options: &RestoreOptions) -> Result<Restored, RestoreError> {
    let data_dir = options
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", options.name)));
    if data_dir.exists() {
        return Err(RestoreError::DataDirExists(data_dir));
    }
    let raft = RaftConfig::from_initial_cluster(
        &options.name,
        &options.initial_cluster,
        &options.initial_cluster_token,
        PathBuf::new(),
    )
    .map_err(|e| RestoreError::Config(e.to_string()))?;

    let bytes = std::fs::read(&options.file).map_err(|source| RestoreError::Read {
        path: options.file.clone(),
        source,
    })?;
    let db = store_bytes(&bytes, options.skip_hash_check)?;

    let dir = DataDir::open(&data_dir).map_err(|e| RestoreError::Config(e.to_string()))?;
    let db_path = dir.snap_dir().join("db");
    write_synced(&db_path, db)?;
    let read = Mvcc::open(&db_path)
        .map_err(|e| RestoreError::Store(e.to_string()))?
        .read();
    let revision = read.revision();
    let (index, term) = read.consistent_index();
    drop(read);

    let wal_dir = options.wal_dir.clone().unwrap_or_else(|| dir.wal_dir());
    std::fs::create_dir_all(&wal_dir).map_err(|source| RestoreError::Write {
        path: wal_dir.clone(),
        source,
    })?;
    let wal = |e: ringkv_wal::WalError| RestoreError::Wal(e.to_string());
    let file_dir = FileDir::new(&wal_dir).map_err(|source| RestoreError::Write {
        path: wal_dir.clone(),
        source,
    })?;
    let mut storage = WalStorage::open(file_dir, Options::default()).map_err(wal)?;
    let conf_state = ConfState {
        voters: raft.initial_voters.clone(),
        ..ConfState::default()
    };
    if index == 0 {
        storage
            .initialize_with_conf_state(conf_state)
            .map_err(wal)?;
    } else {
        // The store holds everything up to its consistent index: the new log starts there.
        let mut snapshot = Snapshot::default();
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(conf_state);
        storage.apply_snapshot(&snapshot).map_err(wal)?;
        let hard_state = HardState {
            term,
            commit: index,
            ..HardState::default()
        };
        storage.set_hard_state(&hard_state).map_err(wal)?;
    }
    storage.sync().map_err(wal)?;
    Ok(Restored {
        data_dir,
        member_id: raft.id,
        revision,
        index,
    })
}

/// The store file inside a snapshot, its SHA-256 trailer checked (and cut) unless skipped.
fn store_bytes(bytes: &[u8], skip_hash_check: bool) -> Result<&[u8], RestoreError> {
    let has_hash = bytes.len() % 512 == HASH_LEN;
    if !has_hash {
        return if skip_hash_check {
            Ok(bytes)
        } else {
            Err(RestoreError::MissingHash)
        };
    }
    let (db, trailer) = bytes.split_at(bytes.len() - HASH_LEN);
    if !skip_hash_check {
        let actual = Sha256::digest(db);
        if actual.as_slice() != trailer {
            return Err(RestoreError::HashMismatch {
                expected: hex(trailer),
                actual: hex(&actual),
            });
        }
    }
    Ok(db)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RestoreError> {
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|source| RestoreError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trailer_is_checked_cut_or_skipped_as_etcd_does() {
        let db = vec![7u8; 4096];
        let mut file = db.clone();
        file.extend_from_slice(&Sha256::digest(&db));
        assert_eq!(store_bytes(&file, false).unwrap(), &db[..]);
        assert_eq!(store_bytes(&file, true).unwrap(), &db[..]);

        let mut damaged = file.clone();
        damaged[100] ^= 1;
        assert!(matches!(
            store_bytes(&damaged, false),
            Err(RestoreError::HashMismatch { .. })
        ));
        assert_eq!(store_bytes(&damaged, true).unwrap().len(), 4096);

        assert!(matches!(
            store_bytes(&db, false),
            Err(RestoreError::MissingHash)
        ));
        assert_eq!(store_bytes(&db, true).unwrap(), &db[..]);
    }
}
