//! Physical compaction, in bounded steps after a logical `MvccWrite::compact(R)`.
//!
//! It walks the `rev` table from a cursor persisted in `meta` up to R. For each version it
//! meets, if that version is the key's newest at or below R it is kept (and every older
//! version of the key goes), unless it is a tombstone, which goes too; any other version goes.
//! Versions above R are never touched, so reads at or above R, HashKV and watch history from
//! R on are the same before, during and after. Each step is its own short write transaction,
//! and a lost step (crash before a checkpoint) is simply redone from the older cursor.

use super::MvccError;
use super::key;
use super::meta::MetaState;
use super::record::Record;
use super::source::{INDEX, REV, Source};
use super::view::{View, corrupt};
use crate::revision::Revision;
use crate::{Db, WriteTxn};

/// One step over at most `max_keys` history entries; true when compaction is complete.
pub fn step(db: &Db, max_keys: usize) -> Result<bool, MvccError> {
    let mut w = db.begin_write()?;
    let state = MetaState::load(&w)?;
    if state.compaction_done() {
        return Ok(true);
    }
    let end = Revision {
        main: state.compact + 1,
        sub: 0,
    };
    let max = max_keys.max(1);
    let mut batch = Vec::with_capacity(max.min(4096));
    for item in w.scan(REV, &state.cursor.to_bytes(), Some(&end.to_bytes()))? {
        let (k, v) = item?;
        let rev = Revision::from_bytes(k).ok_or_else(|| corrupt("rev key malformed"))?;
        batch.push((rev, key::prefix(Record::decode(v)?.key)));
        if batch.len() == max {
            break;
        }
    }
    let cursor = match batch.last() {
        Some(&(last, _)) if batch.len() == max => Revision {
            main: last.main,
            sub: last.sub + 1,
        },
        _ => end,
    };
    for (rev, prefix) in batch {
        compact_version(&mut w, &state, rev, &prefix)?;
    }
    MetaState { cursor, ..state }.store(&mut w)?;
    w.commit(false)?;
    Ok(cursor.main > state.compact)
}

fn compact_version(
    w: &mut WriteTxn<'_>,
    state: &MetaState,
    rev: Revision,
    prefix: &[u8],
) -> Result<(), MvccError> {
    let this = key::encode(prefix, rev);
    if w.get(INDEX, &this)?.is_none() {
        // Already removed as an older version of a key met earlier.
        w.remove(REV, &rev.to_bytes())?;
        return Ok(());
    }
    let view = View {
        src: &*w,
        state: *state,
    };
    let newest = view.newest_at(prefix, state.compact)?;
    let mut doomed = Vec::new();
    match newest {
        Some((r, entry)) if r == rev => {
            if entry.tombstone {
                doomed.push(rev);
            }
            let end = key::prefix_end(prefix);
            for item in w.scan(INDEX, &this, Some(&end))? {
                let (k, _) = item?;
                let (_, older) = key::split(k).ok_or_else(|| corrupt("index key malformed"))?;
                if older != rev {
                    doomed.push(older);
                }
            }
        }
        _ => doomed.push(rev),
    }
    for r in doomed {
        w.remove(INDEX, &key::encode(prefix, r))?;
        w.remove(REV, &r.to_bytes())?;
    }
    Ok(())
}
