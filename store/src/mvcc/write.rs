//! The single writer: one [`MvccWrite`] holds one or more etcd requests (or Txns), each
//! taking at most one main revision, `current + 1`, with sub revisions 0, 1, 2… in the
//! order of its changes; [`MvccWrite::end_request`] separates them, so the applier commits
//! a whole raft batch at once. A request that changes nothing leaves the revision where it
//! was, as etcd.

use super::index::IndexEntry;
use super::key::{self, KeyRange};
use super::meta::MetaState;
use super::record::Record;
use super::source::{INDEX, REV};
use super::view::View;
use super::{
    Committed, Event, EventKind, KeyValue, MvccError, RangeOptions, RangeResult, Side, side,
};
use crate::WriteTxn;
use crate::revision::Revision;

use super::record::MAX_OVERHEAD as RECORD_OVERHEAD;

pub struct MvccWrite<'a> {
    txn: WriteTxn<'a>,
    /// The state at begin; `compact` follows a `compact` call inside this write.
    state: MetaState,
    /// Changes so far: the next sub revision.
    sub: i64,
    events: Vec<Event>,
    consistent_index: Option<(u64, u64)>,
    /// A compaction changed `state.compact`: meta must be written at commit.
    meta_changed: bool,
    /// A store error left the B-tree transaction unusable: commit must refuse.
    failed: bool,
}

impl<'a> MvccWrite<'a> {
    pub(super) fn new(txn: WriteTxn<'a>) -> Result<MvccWrite<'a>, MvccError> {
        let state = MetaState::load(&txn)?;
        Ok(MvccWrite {
            txn,
            state,
            sub: 0,
            events: Vec::new(),
            consistent_index: None,
            meta_changed: false,
            failed: false,
        })
    }

    fn view(&self) -> View<'_, WriteTxn<'a>> {
        View {
            src: &self.txn,
            state: MetaState {
                current: self.revision(),
                ..self.state
            },
        }
    }

    /// The revision reads inside this write see: begin revision, +1 once it has changes
    /// (etcd storeTxnWrite.Range) — reads see this txn's own earlier writes.
    pub fn revision(&self) -> i64 {
        if self.sub > 0 {
            self.state.current + 1
        } else {
            self.state.current
        }
    }

    pub fn compact_revision(&self) -> i64 {
        self.state.compact
    }

    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        opts: RangeOptions,
    ) -> Result<RangeResult, MvccError> {
        self.view().range(key, range_end, opts)
    }

    fn next_revision(&self) -> Revision {
        Revision {
            main: self.state.current + 1,
            sub: self.sub,
        }
    }

    /// Runs a B-tree mutation, remembering a failure: after one the B-tree transaction must
    /// be dropped, so this write must not commit.
    fn guard<T>(&mut self, r: Result<T, MvccError>) -> Result<T, MvccError> {
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// Put at (begin+1, next sub). Version/create_revision continue the key's live history
    /// (a put after a tombstone starts a new generation: version 1).
    pub fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> Result<(), MvccError> {
        check_key(key)?;
        // The record holds the key too; a key that fits leaves at most this for the value.
        let max = crate::MAX_VALUE_LEN - RECORD_OVERHEAD - key.len();
        if value.len() > max {
            return Err(MvccError::ValueTooLarge {
                len: value.len(),
                max,
            });
        }
        let prefix = key::prefix(key);
        let rev = self.next_revision();
        let (create_revision, version, prev_lease) =
            match self.view().newest_at(&prefix, i64::MAX)? {
                Some((_, prev)) if !prev.tombstone => {
                    (prev.create_revision, prev.version + 1, prev.lease)
                }
                _ => (rev.main, 1, 0),
            };
        let record = Record {
            tombstone: false,
            create_revision,
            version,
            lease,
            key,
            value,
        };
        let r = self.insert_version(&prefix, rev, &record);
        self.guard(r)?;
        if prev_lease != lease {
            self.detach(prev_lease, key)?;
            self.attach(lease, key)?;
        }
        self.events.push(Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.to_vec(),
                value: value.to_vec(),
                create_revision,
                mod_revision: rev.main,
                version,
                lease,
            },
        });
        Ok(())
    }

    /// Writes one version: its record at the `rev` table's tail, its index entry under
    /// `prefix` (the record's key, escaped).
    fn insert_version(
        &mut self,
        prefix: &[u8],
        rev: Revision,
        record: &Record<'_>,
    ) -> Result<(), MvccError> {
        let entry = IndexEntry {
            tombstone: record.tombstone,
            create_revision: record.create_revision,
            version: record.version,
            lease: record.lease,
        };
        self.txn
            .insert(INDEX, &key::encode(prefix, rev), &entry.encode())?;
        self.txn.insert(REV, &rev.to_bytes(), &record.encode())?;
        self.sub += 1;
        Ok(())
    }

    /// Deletes every live key in the range (tombstones); returns how many. 0 = no change.
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> Result<i64, MvccError> {
        let mut live = Vec::new();
        {
            let view = self.view();
            let at = view.state.current;
            view.visit(&KeyRange::new(key, range_end), at, |prefix, _, entry| {
                live.push((prefix.to_vec(), entry.lease));
                Ok(true)
            })?;
        }
        for (prefix, lease) in &live {
            let user = key::unescape(prefix).ok_or(MvccError::Corrupt {
                reason: "index key malformed",
            })?;
            let rev = self.next_revision();
            let r = self.insert_version(prefix, rev, &Record::tombstone(&user));
            self.guard(r)?;
            self.detach(*lease, &user)?;
            self.events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: user,
                    mod_revision: rev.main,
                    ..KeyValue::default()
                },
            });
        }
        Ok(live.len() as i64)
    }

    /// Records `key` as attached to `lease` (0: no lease, nothing to record).
    fn attach(&mut self, lease: i64, key: &[u8]) -> Result<(), MvccError> {
        if lease == 0 {
            return Ok(());
        }
        let r = side::put(&mut self.txn, Side::LeaseKey, &lease_key(lease, key), &[]);
        self.guard(r)
    }

    fn detach(&mut self, lease: i64, key: &[u8]) -> Result<(), MvccError> {
        if lease == 0 {
            return Ok(());
        }
        let r = side::delete(&mut self.txn, Side::LeaseKey, &lease_key(lease, key)).map(drop);
        self.guard(r)
    }

    /// Ends the current request: the next change takes the next main revision. Requests
    /// that changed nothing take none, as etcd.
    pub fn end_request(&mut self) {
        if self.sub > 0 {
            self.state.current += 1;
            self.sub = 0;
            self.meta_changed = true;
        }
    }

    /// Logical compaction: validates (Compacted if rev <= compact_revision, FutureRevision if
    /// rev > current), persists the new compact revision. Physical work: Mvcc::compact_step.
    pub fn compact(&mut self, revision: i64) -> Result<(), MvccError> {
        if revision <= self.state.compact {
            return Err(MvccError::Compacted);
        }
        if revision > self.revision() {
            return Err(MvccError::FutureRevision);
        }
        // Persisted with the rest of the meta state at commit.
        self.state.compact = revision;
        self.meta_changed = true;
        Ok(())
    }

    pub fn set_consistent_index(&mut self, index: u64, term: u64) {
        self.consistent_index = Some((index, term));
    }

    /// Reads a side-table entry, seeing this write's own side changes.
    pub fn side_get(&self, side: Side, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
        side::get(&self.txn, side, key)
    }

    /// Every entry of one side table, seeing this write's own side changes.
    pub fn side_scan(&self, side: Side) -> Result<super::SideEntries, MvccError> {
        side::scan(&self.txn, side)
    }

    /// The entries of `side` whose keys start with `prefix`.
    pub fn side_scan_prefix(
        &self,
        side: Side,
        prefix: &[u8],
    ) -> Result<super::SideEntries, MvccError> {
        side::scan_prefix(&self.txn, side, prefix)
    }

    /// The keys attached to `lease`, in key order.
    pub fn lease_keys(&self, lease: i64) -> Result<Vec<Vec<u8>>, MvccError> {
        let entries = self.side_scan_prefix(Side::LeaseKey, &lease.to_be_bytes())?;
        Ok(entries.into_iter().map(|(k, _)| k[8..].to_vec()).collect())
    }

    pub fn side_put(&mut self, side: Side, key: &[u8], value: &[u8]) -> Result<(), MvccError> {
        side::check(key, value)?;
        let r = side::put(&mut self.txn, side, key, value);
        self.guard(r)
    }

    pub fn side_delete(&mut self, side: Side, key: &[u8]) -> Result<bool, MvccError> {
        if key.len() > side::MAX_SIDE_KEY_LEN {
            // Too long to have been stored.
            return Ok(false);
        }
        let r = side::delete(&mut self.txn, side, key);
        self.guard(r)
    }

    /// Commits: publishes the new root (no fsync unless `durable`). Returns the store's
    /// revision after the commit (bumped only if there were puts/deletes) and the events in
    /// (revision, sub) order for watchers.
    pub fn commit(mut self, durable: bool) -> Result<Committed, MvccError> {
        let revision = self.finish()?;
        self.txn.commit(durable)?;
        Ok(Committed {
            revision,
            events: self.events,
        })
    }

    /// [`MvccWrite::commit`], not durable, published only once `gate` returns true (see
    /// `WriteTxn::commit_gated`); `Ok(None)` if it said no and the write was discarded.
    pub fn commit_gated(
        mut self,
        gate: &mut dyn FnMut() -> bool,
    ) -> Result<Option<Committed>, MvccError> {
        let revision = self.finish()?;
        Ok(self.txn.commit_gated(gate)?.map(|_| Committed {
            revision,
            events: self.events,
        }))
    }

    /// Writes the meta state a commit publishes; the store's revision after it.
    fn finish(&mut self) -> Result<i64, MvccError> {
        if self.failed {
            return Err(MvccError::WriteFailed);
        }
        let revision = self.revision();
        if self.sub > 0 || self.meta_changed || self.consistent_index.is_some() {
            MetaState {
                current: revision,
                consistent_index: self.consistent_index.unwrap_or(self.state.consistent_index),
                ..self.state
            }
            .store(&mut self.txn)?;
        }
        Ok(revision)
    }
}

fn lease_key(lease: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&lease.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Keys the store cannot hold once encoded get a clear error before anything changes.
fn check_key(key: &[u8]) -> Result<(), MvccError> {
    if !key::fits(key) {
        return Err(MvccError::KeyTooLarge {
            len: key.len(),
            max: key::MAX_USER_KEY_LEN,
        });
    }
    Ok(())
}
