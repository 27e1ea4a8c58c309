//! raft-rs [`Storage`] over the [`Log`]: the server drives a `RawNode` directly on a
//! [`WalStorage`]. Every raft entry is stored whole (its protobuf encoding, so entry type,
//! context and conf-change payloads survive) as the opaque `data` of a WAL [`Entry`] carrying
//! the same index and term; the raft ConfState is stored protobuf-encoded in the snapshot
//! marker; HardState maps field for field. The mapping is lossless and checked on open: an
//! entry whose payload does not decode, or decodes to another index or term, fails the open
//! with [`WalError::Decode`] instead of being guessed around.
//!
//! In memory it keeps the HardState, the snapshot's index, term and ConfState, and **every
//! entry since the last snapshot** (decoded). That cache is bounded by compaction only: the
//! server must call [`WalStorage::create_snapshot`] every so often (etcd's `--snapshot-count`,
//! 100 000 entries by default), after which the entries up to the snapshot are dropped from
//! memory and their segments become purgeable. Nothing here reads entries back from disk.
//!
//! Writes (`append`, `set_hard_state`, snapshots) go to the log immediately but are durable
//! only after a sync ([`WalStorage::sync`], or `begin_sync`/`finish_sync` on the WAL I/O
//! thread); raft-rs expects the Ready's entries and HardState to be persisted before
//! `advance`, so the server syncs before advancing.
//!
//! `initial_state` returns the ConfState of the last snapshot marker. Conf changes committed
//! after it are not restated in the WAL: the server starts the `RawNode` with `applied` no
//! higher than the snapshot index (or its own persisted applied index together with the conf
//! state it persisted with it), and raft re-delivers the committed conf-change entries.

use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfState, Entry as RaftEntry, HardState as RaftHardState, Snapshot, SnapshotMetadata,
};
use raft::{Error as RaftError, GetEntriesContext, RaftState, Storage, StorageError};

use crate::dir::SegmentDir;
use crate::log::{Log, Options, SyncJob, SyncTicket, WalError};
use crate::record::{Entry, HardState, SnapshotMark};

/// A [`Log`] plus the in-memory view raft-rs reads through [`Storage`]. See the module docs.
pub struct WalStorage<D: SegmentDir> {
    log: Log<D>,
    hard_state: RaftHardState,
    conf_state: ConfState,
    snap_index: u64,
    snap_term: u64,
    /// Every entry after the snapshot: `entries[i].index == snap_index + 1 + i`.
    entries: Vec<RaftEntry>,
    /// The data of the snapshot at `snap_index`, when the server has handed it over.
    snapshot_data: Option<Bytes>,
}

fn decode_error(what: &'static str, index: u64, reason: impl ToString) -> WalError {
    WalError::Decode {
        what,
        index,
        reason: reason.to_string(),
    }
}

fn encode_entry(e: &RaftEntry) -> Result<Entry, WalError> {
    let data = e
        .write_to_bytes()
        .map_err(|err| decode_error("raft entry", e.index, err))?;
    Ok(Entry {
        index: e.index,
        term: e.term,
        data,
    })
}

fn decode_entry(e: &Entry) -> Result<RaftEntry, WalError> {
    let r = RaftEntry::parse_from_bytes(&e.data)
        .map_err(|err| decode_error("raft entry", e.index, err))?;
    if r.index != e.index || r.term != e.term {
        return Err(decode_error(
            "raft entry",
            e.index,
            format!(
                "payload says index {} term {}, record says index {} term {}",
                r.index, r.term, e.index, e.term
            ),
        ));
    }
    Ok(r)
}

fn encode_conf_state(cs: &ConfState, index: u64) -> Result<Vec<u8>, WalError> {
    cs.write_to_bytes()
        .map_err(|err| decode_error("conf state", index, err))
}

fn store_err(e: StorageError) -> RaftError {
    RaftError::Store(e)
}

impl<D: SegmentDir> WalStorage<D> {
    /// Opens the log in `dir` and builds the in-memory view from what it recovered.
    pub fn open(dir: D, opts: Options) -> Result<Self, WalError> {
        let (log, rec) = Log::open(dir, opts)?;
        let snap = &rec.snapshot;
        let conf_state = ConfState::parse_from_bytes(&snap.conf_state)
            .map_err(|err| decode_error("conf state", snap.index, err))?;
        let entries = rec
            .entries
            .iter()
            .map(decode_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(first) = entries.first()
            && first.index != snap.index + 1
        {
            return Err(decode_error(
                "raft entry",
                first.index,
                format!("first entry does not follow the snapshot at {}", snap.index),
            ));
        }
        let h = rec.hard_state;
        let hard_state = RaftHardState {
            term: h.term,
            vote: h.vote,
            commit: h.commit,
            ..Default::default()
        };
        Ok(WalStorage {
            log,
            hard_state,
            conf_state,
            snap_index: snap.index,
            snap_term: snap.term,
            entries,
            snapshot_data: None,
        })
    }

    /// Records the initial membership of a new cluster (as a snapshot marker at index 0).
    /// Only valid on an empty log.
    pub fn initialize_with_conf_state(&mut self, conf_state: ConfState) -> Result<(), WalError> {
        if self.last() != 0 || self.snap_index != 0 {
            return Err(WalError::AlreadyInitialized);
        }
        self.log.save_snapshot(SnapshotMark {
            index: 0,
            term: 0,
            conf_state: encode_conf_state(&conf_state, 0)?,
        })?;
        self.conf_state = conf_state;
        Ok(())
    }

    fn last(&self) -> u64 {
        self.snap_index + self.entries.len() as u64
    }

    /// Appends a Ready's entries. The first may be at most `last_index + 1`; a lower index
    /// replaces every entry from it on (a raft conflict), in the log and in memory.
    pub fn append(&mut self, entries: &[RaftEntry]) -> Result<(), WalError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let encoded = entries
            .iter()
            .map(encode_entry)
            .collect::<Result<Vec<_>, _>>()?;
        // Validates contiguity (and the snapshot bound) before anything is written.
        self.log.append_entries(&encoded)?;
        let keep = (first.index - self.snap_index - 1) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Records raft's HardState.
    pub fn set_hard_state(&mut self, hs: &RaftHardState) -> Result<(), WalError> {
        self.log.set_hard_state(HardState {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit,
        })?;
        self.hard_state = hs.clone();
        Ok(())
    }

    /// Records a new commit index (a `LightReady`'s `commit_index`).
    pub fn set_commit(&mut self, commit: u64) -> Result<(), WalError> {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(&hs)
    }

    /// Records a snapshot received from the leader (a Ready's snapshot). Entries up to its
    /// index are dropped. Later ones are kept only if the log holds the snapshot's own entry
    /// (same index and term); otherwise the log disagrees with the leader's history and
    /// every later entry goes too (raft's InstallSnapshot rule), durably, so a restart
    /// before the leader's next append cannot bring them back.
    pub fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), WalError> {
        let meta = snapshot.get_metadata();
        let agrees = self.term_of(meta.index).ok() == Some(meta.term);
        self.save_mark(meta.index, meta.term, meta.get_conf_state().clone())?;
        if !agrees {
            self.log.truncate_after(meta.index)?;
            self.entries.clear();
        }
        self.snapshot_data = Some(snapshot.data.clone());
        Ok(())
    }

    /// Records a snapshot the server took of its state machine at `index` (applied), with the
    /// membership at that index; entries up to `index` leave memory and their segments
    /// become purgeable once the marker is durable. `index` must be in
    /// `[first_index - 1, last_index]`. Returns the entries that left memory: freeing a
    /// snapshot's worth (100k by default) takes milliseconds, which the caller may spend
    /// elsewhere.
    pub fn create_snapshot(
        &mut self,
        index: u64,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<Vec<RaftEntry>, WalError> {
        let term = self.term_of(index).map_err(|_| WalError::NonContiguous {
            index,
            snapshot: self.snap_index,
            last: self.last(),
        })?;
        let released = self.save_mark(index, term, conf_state)?;
        self.snapshot_data = Some(data);
        Ok(released)
    }

    /// Writes the marker and takes the entries up to `index` out of memory (returned).
    fn save_mark(
        &mut self,
        index: u64,
        term: u64,
        conf_state: ConfState,
    ) -> Result<Vec<RaftEntry>, WalError> {
        self.log.save_snapshot(SnapshotMark {
            index,
            term,
            conf_state: encode_conf_state(&conf_state, index)?,
        })?;
        let drop = (index.saturating_sub(self.snap_index) as usize).min(self.entries.len());
        // The entries kept are the few after the snapshot: moving those is what is cheap.
        let kept = self.entries.split_off(drop);
        let released = std::mem::replace(&mut self.entries, kept);
        if self.entries.first().is_some_and(|e| e.index != index + 1) {
            // The snapshot lies beyond the last entry: nothing after it is known.
            self.entries.clear();
        }
        self.snap_index = index;
        self.snap_term = term;
        self.conf_state = conf_state;
        Ok(released)
    }

    fn term_of(&self, idx: u64) -> Result<u64, StorageError> {
        if idx == self.snap_index {
            return Ok(self.snap_term);
        }
        if idx < self.snap_index {
            return Err(StorageError::Compacted);
        }
        let i = (idx - self.snap_index - 1) as usize;
        self.entries
            .get(i)
            .map(|e| e.term)
            .ok_or(StorageError::Unavailable)
    }

    /// The underlying log (segment names, last index, ...).
    pub fn log(&self) -> &Log<D> {
        &self.log
    }

    /// See [`Log::begin_sync`].
    pub fn begin_sync(&mut self) -> Result<SyncJob<D::File>, WalError> {
        self.log.begin_sync()
    }

    /// See [`Log::finish_sync`].
    pub fn finish_sync(&mut self, ticket: SyncTicket) {
        self.log.finish_sync(ticket)
    }

    /// See [`Log::sync`].
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.log.sync()
    }

    /// See [`Log::purge`].
    pub fn purge(&mut self) -> Result<usize, WalError> {
        self.log.purge()
    }
}

impl<D: SegmentDir> Storage for WalStorage<D> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    /// Entries in `[low, high)`, cut to `max_size` bytes but never to nothing. `low` at or
    /// below the snapshot is `Compacted`; `high` past `last_index + 1` is `Unavailable`
    /// (raft-rs's MemStorage panics there; we never panic).
    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<RaftEntry>> {
        if low <= self.snap_index {
            return Err(store_err(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(store_err(StorageError::Unavailable));
        }
        let lo = (low - self.snap_index - 1) as usize;
        let hi = (high - self.snap_index - 1) as usize;
        let slice = self.entries.get(lo..hi).unwrap_or_default();
        let max = max_size.into().unwrap_or(u64::MAX);
        let mut size = 0u64;
        let mut out = Vec::new();
        for e in slice {
            size += u64::from(e.compute_size());
            if !out.is_empty() && size > max {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.term_of(idx).map_err(store_err)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snap_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    /// The snapshot at the last marker, if the server handed over its data
    /// (`create_snapshot`/`apply_snapshot` since open) and it is not older than
    /// `request_index`; otherwise `SnapshotTemporarilyUnavailable`, and raft asks again.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match &self.snapshot_data {
            Some(data) if self.snap_index >= request_index => {
                let mut meta = SnapshotMetadata {
                    index: self.snap_index,
                    term: self.snap_term,
                    ..Default::default()
                };
                meta.set_conf_state(self.conf_state.clone());
                let mut snap = Snapshot {
                    data: data.clone(),
                    ..Default::default()
                };
                snap.set_metadata(meta);
                Ok(snap)
            }
            _ => Err(store_err(StorageError::SnapshotTemporarilyUnavailable)),
        }
    }
}
