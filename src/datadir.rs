//! The data directory, laid out as etcd lays it out (`member/wal`, `member/snap`) so
//! operators find files where they expect them, and owned by exactly one process.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories are private to the server's user, as etcd requires (`-rwx------`).
const DIR_MODE: u32 = 0o700;
const LOCK_FILE: &str = "member/lock";

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create data directory {path:?}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open lock file {path:?}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "data directory {dir:?} is in use by another ringkv process (lock file {lock:?} is held); \
         stop that process or choose another --data-dir"
    )]
    InUse { dir: PathBuf, lock: PathBuf },
}

/// An opened, locked data directory. The lock is held until this value is dropped.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the layout if missing and takes the exclusive lock. A directory that exists
    /// with wider permissions is used as is, with a warning, as etcd 3.5 does.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        for dir in [
            root.to_path_buf(),
            root.join("member/wal"),
            root.join("member/snap"),
        ] {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)
                .map_err(|source| DataDirError::Create {
                    path: dir.clone(),
                    source,
                })?;
        }
        if let Ok(meta) = fs::metadata(root) {
            let mode = meta.permissions().mode() & 0o777;
            if mode != DIR_MODE {
                tracing::warn!(
                    path = %root.display(),
                    permission = %format!("{mode:o}"),
                    "data directory permission is wider than the recommended 700"
                );
            }
        }
        let lock_path = root.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| DataDirError::Lock {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(DataDirError::InUse {
                    dir: root.to_path_buf(),
                    lock: lock_path,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(DataDirError::Lock {
                    path: lock_path,
                    source,
                });
            }
        }
        // The PID helps an operator find the holder; failing to write it is harmless.
        let _ = lock
            .set_len(0)
            .and_then(|()| writeln!(lock, "{}", std::process::id()));
        Ok(DataDir {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("member/wal")
    }

    pub fn snap_dir(&self) -> PathBuf {
        self.root.join("member/snap")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringkv-datadir-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn creates_etcds_layout_private() {
        let root = scratch("layout");
        let dd = DataDir::open(&root).unwrap();
        assert!(dd.wal_dir().is_dir());
        assert!(dd.snap_dir().is_dir());
        for dir in [
            root.clone(),
            root.join("member"),
            dd.wal_dir(),
            dd.snap_dir(),
        ] {
            let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{dir:?}");
        }
        drop(dd);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn second_open_is_refused_until_the_first_is_dropped() {
        let root = scratch("lock");
        let first = DataDir::open(&root).unwrap();
        let err = DataDir::open(&root).unwrap_err();
        assert!(matches!(err, DataDirError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("in use by another ringkv process"));
        drop(first);
        DataDir::open(&root).unwrap();
        fs::remove_dir_all(&root).unwrap();
    }
}
