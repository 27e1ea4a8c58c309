//! Reads over one consistent state, shared by [`super::MvccRead`] (a snapshot) and
//! [`super::MvccWrite`] (the writer, seeing its own changes): Range, history for watchers,
//! and the newest-version lookup every put needs. Which versions exist comes from the
//! `index` table; the records themselves from `rev`, read only for what is returned.

use super::index::IndexEntry;
use super::key::{self, KeyRange};
use super::meta::MetaState;
use super::record::Record;
use super::source::{INDEX, REV, Source};
use super::{Event, EventKind, KeyValue, MvccError, RangeOptions, RangeResult};
use crate::revision::Revision;

/// How many older versions of one key a range steps over before it re-seeks past them.
const SKIP_BEFORE_SEEK: usize = 4;

/// One consistent state: the tables plus the revisions that apply to them.
pub struct View<'s, S: Source> {
    pub src: &'s S,
    pub state: MetaState,
}

pub fn corrupt(reason: &'static str) -> MvccError {
    MvccError::Corrupt { reason }
}

fn kv_of(rev: Revision, rec: &Record<'_>) -> KeyValue {
    KeyValue {
        key: rec.key.to_vec(),
        value: rec.value.to_vec(),
        create_revision: rec.create_revision,
        mod_revision: rev.main,
        version: rec.version,
        lease: rec.lease,
    }
}

/// Checks that a scan hands back strictly increasing keys: a damaged tree (a page reachable
/// twice, keys out of order) is reported instead of walked again and again.
pub fn ordered<'a>(last: &mut Option<&'a [u8]>, k: &'a [u8]) -> Result<(), MvccError> {
    if last.is_some_and(|l| k <= l) {
        return Err(corrupt("table keys out of order"));
    }
    *last = Some(k);
    Ok(())
}

/// Whether `k` is in etcd's range (`key`, `range_end`).
pub fn in_range(k: &[u8], key: &[u8], range_end: &[u8]) -> bool {
    match range_end {
        [] => k == key,
        [0] => k >= key,
        end => k >= key && k < end,
    }
}

impl<'s, S: Source> View<'s, S> {
    /// The newest version of the key with escaped `prefix` at or below `main`, tombstones
    /// included.
    pub fn newest_at(
        &self,
        prefix: &[u8],
        main: i64,
    ) -> Result<Option<(Revision, IndexEntry)>, MvccError> {
        let end = key::prefix_end(prefix);
        let mut cur = self
            .src
            .scan(INDEX, &key::seek_at(prefix, main), Some(&end))?;
        match cur.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                let (_, rev) = key::split(k).ok_or_else(|| corrupt("index key malformed"))?;
                Ok(Some((rev, IndexEntry::decode(v)?)))
            }
        }
    }

    /// etcd's `rangeKeys`: FutureRevision above the current revision, Compacted below the
    /// compact revision (reading *at* it is allowed); `revision` of the result is always the
    /// current one, as etcd's header.
    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        let rev = self.check_revision(opts.revision)?;
        let mut out = RangeResult {
            revision: self.state.current,
            ..RangeResult::default()
        };
        let limit = usize::try_from(opts.limit).unwrap_or(usize::MAX);
        self.visit(&KeyRange::new(key, range_end), rev, |_, r, _| {
            out.count += 1;
            if !opts.count_only && (limit == 0 || out.kvs.len() < limit) {
                out.kvs.push(kv_of(r, &self.record(r)?));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// The record of the version written at `rev`.
    pub fn record(&self, rev: Revision) -> Result<Record<'s>, MvccError> {
        let raw = self
            .src
            .get(REV, &rev.to_bytes())?
            .ok_or_else(|| corrupt("index entry without its rev record"))?;
        Record::decode(raw)
    }

    /// Calls `f` with the escaped key, revision and index entry of the version visible at
    /// `rev` of every key in `range` that is live there (not deleted), in key order, until `f`
    /// returns false. Streams: nothing but the current key is held.
    pub fn visit(
        &self,
        range: &KeyRange,
        rev: i64,
        mut f: impl FnMut(&'s [u8], Revision, IndexEntry) -> Result<bool, MvccError>,
    ) -> Result<(), MvccError> {
        if range.empty {
            return Ok(());
        }
        let mut start = range.start.clone();
        // The key whose visible version was already seen, and how many of its older
        // versions the cursor has stepped over since.
        let mut taken: Option<&'s [u8]> = None;
        let mut skipped = 0;
        // Every seek moves past the last key seen; on a damaged tree that hands back keys out
        // of order this check is what stops a seek loop.
        let mut last: Option<&'s [u8]> = None;
        'seek: loop {
            let cur = self.src.scan(INDEX, &start, range.end.as_deref())?;
            for item in cur {
                let (k, v) = item?;
                if last.is_some_and(|l| k <= l) || k < start.as_slice() {
                    return Err(corrupt("index keys out of order"));
                }
                last = Some(k);
                let (prefix, r) = key::split(k).ok_or_else(|| corrupt("index key malformed"))?;
                if taken == Some(prefix) {
                    skipped += 1;
                    if skipped > SKIP_BEFORE_SEEK {
                        start = key::prefix_end(prefix);
                        continue 'seek;
                    }
                    continue;
                }
                if r.main > rev {
                    // Versions newer than the read: jump straight to the one at `rev`.
                    start = key::seek_at(prefix, rev);
                    continue 'seek;
                }
                taken = Some(prefix);
                skipped = 0;
                let entry = IndexEntry::decode(v)?;
                if !entry.tombstone && !f(prefix, r, entry)? {
                    return Ok(());
                }
            }
            return Ok(());
        }
    }

    /// [`View::range`] without collecting: `f` gets each live kv in key order until it returns
    /// false. Returns the current revision (the response header's).
    pub fn range_each(
        &self,
        key: &[u8],
        range_end: &[u8],
        revision: i64,
        mut f: impl FnMut(KeyValue) -> bool,
    ) -> Result<i64, MvccError> {
        let rev = self.check_revision(revision)?;
        self.visit(&KeyRange::new(key, range_end), rev, |_, r, _| {
            Ok(f(kv_of(r, &self.record(r)?)))
        })?;
        Ok(self.state.current)
    }

    /// 0 = current; otherwise as etcd's rangeKeys checks.
    fn check_revision(&self, rev: i64) -> Result<i64, MvccError> {
        if rev > self.state.current {
            return Err(MvccError::FutureRevision);
        }
        let rev = if rev <= 0 { self.state.current } else { rev };
        if rev < self.state.compact {
            return Err(MvccError::Compacted);
        }
        Ok(rev)
    }

    /// Events with main revision in (after, upto] (upto clamped to the current revision), in
    /// (main, sub) order. As etcd's watch, starting at the compact revision itself is allowed
    /// (`after == compact - 1`); at that one revision only versions compaction keeps are
    /// reported, so the answer does not depend on how far physical compaction has got.
    pub fn events(
        &self,
        after: i64,
        upto: i64,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<Vec<Event>, MvccError> {
        self.events_where(after, upto, |user| in_range(user, key, range_end))
    }

    /// [`View::events`] for the keys `wanted` accepts: one pass over the revision window
    /// serves many watchers.
    pub fn events_where(
        &self,
        after: i64,
        upto: i64,
        mut wanted: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vec<Event>, MvccError> {
        let compact = self.state.compact;
        if compact > 0 && after < compact - 1 {
            return Err(MvccError::Compacted);
        }
        // Revision 0 is before the first write; negative bounds would wrap the key order.
        let after = after.max(0);
        let upto = upto.min(self.state.current);
        let mut out = Vec::new();
        if after >= upto {
            return Ok(out);
        }
        let start = Revision {
            main: after.saturating_add(1),
            sub: 0,
        };
        let end = Revision {
            main: upto.saturating_add(1),
            sub: 0,
        };
        let mut last = None;
        for item in self
            .src
            .scan(REV, &start.to_bytes(), Some(&end.to_bytes()))?
        {
            let (k, v) = item?;
            ordered(&mut last, k)?;
            let rev = Revision::from_bytes(k).ok_or_else(|| corrupt("rev key malformed"))?;
            let rec = Record::decode(v)?;
            if !wanted(rec.key) {
                continue;
            }
            if compact > 0 && rev.main == compact {
                let kept = !rec.tombstone
                    && self
                        .newest_at(&key::prefix(rec.key), compact)?
                        .map(|(r, _)| r)
                        == Some(rev);
                if !kept {
                    continue;
                }
            }
            out.push(if rec.tombstone {
                Event {
                    kind: EventKind::Delete,
                    kv: KeyValue {
                        key: rec.key.to_vec(),
                        mod_revision: rev.main,
                        ..KeyValue::default()
                    },
                }
            } else {
                Event {
                    kind: EventKind::Put,
                    kv: kv_of(rev, &rec),
                }
            });
        }
        Ok(out)
    }
}
