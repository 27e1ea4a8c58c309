//! HashKV and Hash, for etcd's corruption checks. HashKV covers exactly the versions with
//! main revision in (compact revision, revision]: compaction never touches those, so members
//! with the same history agree however far their physical compaction has got.

use super::meta::MetaState;
use super::source::{REV, Source};
use super::view::ordered;
use super::{HashKv, MvccError};
use crate::Table;
use crate::revision::Revision;

pub fn hash_kv(src: &impl Source, state: &MetaState, revision: i64) -> Result<HashKv, MvccError> {
    if revision > state.current {
        return Err(MvccError::FutureRevision);
    }
    let rev = if revision <= 0 {
        state.current
    } else {
        revision
    };
    if rev < state.compact {
        return Err(MvccError::Compacted);
    }
    let mut h = crc32fast::Hasher::new();
    let start = Revision {
        main: state.compact.saturating_add(1),
        sub: 0,
    };
    let end = Revision {
        main: rev.saturating_add(1),
        sub: 0,
    };
    let mut last = None;
    for item in src.scan(REV, &start.to_bytes(), Some(&end.to_bytes()))? {
        let (k, v) = item?;
        ordered(&mut last, k)?;
        // The record holds everything of the version but its revision, the table key.
        h.update(k);
        h.update(&(v.len() as u64).to_le_bytes());
        h.update(v);
    }
    Ok(HashKv {
        hash: h.finalize(),
        compact_revision: state.compact,
        hash_revision: rev,
    })
}

/// Every table's every entry, length-prefixed so different contents cannot collide by
/// concatenation.
pub fn hash_all(src: &impl Source) -> Result<u32, MvccError> {
    let mut h = crc32fast::Hasher::new();
    for t in 0..Table::COUNT {
        let Some(table) = u8::try_from(t).ok().and_then(Table::new) else {
            continue;
        };
        h.update(&[t as u8]);
        let mut last = None;
        for item in src.scan(table, &[], None)? {
            let (k, v) = item?;
            ordered(&mut last, k)?;
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k);
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v);
        }
    }
    Ok(h.finalize())
}
