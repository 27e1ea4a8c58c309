//! The `meta` table: the few numbers start-up needs, so opening never scans the keyspace.

use super::MvccError;
use super::source::{META, Source};
use crate::WriteTxn;
use crate::revision::Revision;

const CURRENT: &[u8] = b"current_revision";
const COMPACT: &[u8] = b"compact_revision";
const COMPACT_CURSOR: &[u8] = b"compact_cursor";
const CONSISTENT_INDEX: &[u8] = b"consistent_index";

/// What the meta table says about one committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaState {
    /// etcd's current revision: 1 in a fresh store.
    pub current: i64,
    /// The latest logical compaction (0 = never).
    pub compact: i64,
    /// The next `rev` table entry physical compaction looks at; done when `main > compact`.
    pub cursor: Revision,
    pub consistent_index: (u64, u64),
}

fn int(bytes: Option<&[u8]>, default: i64) -> Result<i64, MvccError> {
    match bytes {
        None => Ok(default),
        Some(b) => b
            .try_into()
            .map(i64::from_le_bytes)
            .map_err(|_| MvccError::Corrupt {
                reason: "meta revision is not 8 bytes",
            }),
    }
}

impl MetaState {
    pub fn load(src: &impl Source) -> Result<MetaState, MvccError> {
        let current = int(src.get(META, CURRENT)?, 1)?;
        let compact = int(src.get(META, COMPACT)?, 0)?;
        let cursor = match src.get(META, COMPACT_CURSOR)? {
            None => Revision::default(),
            Some(b) => Revision::from_bytes(b).ok_or(MvccError::Corrupt {
                reason: "meta compaction cursor malformed",
            })?,
        };
        let consistent_index = match src.get(META, CONSISTENT_INDEX)? {
            None => (0, 0),
            Some(b) => {
                let index = b.get(..8).and_then(|s| s.try_into().ok());
                let term = b.get(8..16).and_then(|s| s.try_into().ok());
                match (index, term, b.len()) {
                    (Some(i), Some(t), 16) => (u64::from_le_bytes(i), u64::from_le_bytes(t)),
                    _ => {
                        return Err(MvccError::Corrupt {
                            reason: "meta consistent index is not 16 bytes",
                        });
                    }
                }
            }
        };
        Ok(MetaState {
            current,
            compact,
            cursor,
            consistent_index,
        })
    }

    pub fn compaction_done(&self) -> bool {
        self.compact == 0 || self.cursor.main > self.compact
    }
}

pub fn set_current(w: &mut WriteTxn<'_>, rev: i64) -> Result<(), MvccError> {
    Ok(w.insert(META, CURRENT, &rev.to_le_bytes())?)
}

pub fn set_compact(w: &mut WriteTxn<'_>, rev: i64) -> Result<(), MvccError> {
    Ok(w.insert(META, COMPACT, &rev.to_le_bytes())?)
}

pub fn set_cursor(w: &mut WriteTxn<'_>, rev: Revision) -> Result<(), MvccError> {
    Ok(w.insert(META, COMPACT_CURSOR, &rev.to_bytes())?)
}

pub fn set_consistent_index(w: &mut WriteTxn<'_>, index: u64, term: u64) -> Result<(), MvccError> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&index.to_le_bytes());
    b[8..].copy_from_slice(&term.to_le_bytes());
    Ok(w.insert(META, CONSISTENT_INDEX, &b)?)
}
