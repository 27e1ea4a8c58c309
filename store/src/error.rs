//! Every error the store returns, in one table. Disk corruption always names the page it was
//! found on, so `ringkv debug db` and an operator can go straight to it; the store never panics
//! on bytes it read from the file.

use std::path::PathBuf;

use crate::page_store::PageId;

/// Errors from the page store and the B+tree.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store file {path} is locked by another process")]
    Locked { path: PathBuf },
    #[error("store file {path} has no valid meta page (meta 0: {meta0}; meta 1: {meta1})")]
    NoValidMeta {
        path: PathBuf,
        meta0: String,
        meta1: String,
    },
    #[error(
        "store file {path} has format version {found}; this build reads only version {supported}"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("corrupt page {page}: {reason}")]
    Corrupt { page: PageId, reason: &'static str },
    #[error("key of {len} bytes exceeds the limit of {max}")]
    KeyTooLarge { len: usize, max: usize },
    #[error("value of {len} bytes exceeds the limit of {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("an earlier commit failed half-way; reopen the store")]
    Poisoned,
    #[error("check failed: {0}")]
    Check(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(page: PageId, reason: &'static str) -> Error {
        Error::Corrupt { page, reason }
    }
}
