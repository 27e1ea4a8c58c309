//! The log: an ordered run of preallocated segments, the last one active. Appends only
//! encode records into an in-memory buffer of whole blocks (no I/O, so the raft core never
//! waits on them); [`Log::begin_sync`] takes everything appended so far as a [`SyncJob`] —
//! block writes followed by one fdatasync per file — which runs anywhere (an I/O thread, or
//! inline via [`Log::sync`]) while appends continue into a fresh buffer: group commit with a
//! double buffer. A raft conflict needs no rewriting: appending entry `i` logically replaces
//! every entry from `i` on (etcd's rule), and recovery replays the same rule. Rotation writes
//! the old segment's last blocks and syncs them before the new segment gets any data, so only
//! the last segment can ever hold a torn tail; each new segment starts with a header chained
//! to the old one and restates the snapshot marker and HardState, so purging old segments
//! never loses state. Purged segments are recycled: the oldest one is renamed to be the next
//! segment, because overwriting blocks a file already holds is what keeps appends at the
//! disk's overwrite cost (records carry their segment's tag, so what it held before is never
//! replayed; see [`crate::scan`]). Only when none is at hand is the next segment zero-filled,
//! in the background once the active one is half full; either way rotation only renames it.
//! Recovery ([`Log::open`]) reads every segment,
//! checks names, sequence and chain, cuts a torn tail of the last segment back to its last
//! good record (logged), and refuses anything else with [`WalError::Corrupt`] naming the file
//! and offset.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::blocks::{Blocks, Pool};
use crate::dir::{BLOCK, SegmentDir, SegmentFile};
use crate::queue::{MAX_QUEUED, QueuedWrite, WriteQueue};
use crate::record::{
    Entry, FLAG_JOB_START, FLAG_RECYCLED, HardState, Record, RecordError, SnapshotMark, Stamp,
    encode_entry, entry_encoded_len,
};
use crate::scan::{self, Stop};
use crate::segment;

/// Tunables.
#[derive(Clone, Debug)]
pub struct Options {
    /// Bytes per segment, preallocated; a multiple of 4096. etcd's 64 MiB by default.
    pub segment_size: usize,
    /// `--max-wals`: purge never leaves fewer segments than this.
    pub max_wals: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: 64 << 20,
            max_wals: 5,
        }
    }
}

/// What recovery found that stops start-up. Never guessed around.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Damage {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("torn record in a segment that is not the last one")]
    TornBeforeLastSegment,
    #[error("non-zero bytes after the end of the records in a segment that is not the last one")]
    DataAfterEnd,
    #[error(
        "segment chain broken: header carries crc {found:#010x}, previous segment ended with {expected:#010x}"
    )]
    ChainBroken { expected: u32, found: u32 },
    #[error("segment header says sequence {found}, file name says {expected}")]
    WrongSequence { expected: u64, found: u64 },
    #[error("entry {found} follows entry {last}: a gap")]
    IndexGap { last: u64, found: u64 },
    #[error("segment with sequence {0} is missing")]
    MissingSegment(u64),
}

/// Every error the WAL returns.
#[derive(Debug, Error)]
pub enum WalError {
    #[error("{}: offset {offset}: {damage}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        damage: Damage,
    },
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("entry {index} cannot follow the log (snapshot {snapshot}, last index {last})")]
    NonContiguous {
        index: u64,
        snapshot: u64,
        last: u64,
    },
    #[error("snapshot at {index} is older than the recorded snapshot at {current}")]
    StaleSnapshot { index: u64, current: u64 },
    #[error("record of {len} bytes does not fit a {segment_size}-byte segment")]
    RecordTooLarge { len: usize, segment_size: usize },
    #[error("a sync job is already in flight")]
    SyncInFlight,
    #[error("invalid options: {0}")]
    Options(&'static str),
    #[error("the log already holds state; initial membership is only set on a new log")]
    AlreadyInitialized,
    /// A payload the raft storage layer could not decode (or that disagrees with its record).
    #[error("{what} at index {index}: {reason}")]
    Decode {
        what: &'static str,
        index: u64,
        reason: String,
    },
}

/// What the log held when it was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    pub hard_state: HardState,
    pub snapshot: SnapshotMark,
    /// Entries after the snapshot, consecutive.
    pub entries: Vec<Entry>,
}

impl Recovered {
    /// The last index the log knows of: the last entry, or the snapshot.
    pub fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.snapshot.index, |e| e.index)
    }

    /// Applies one record with the replay rules shared by the writer and recovery.
    fn apply(&mut self, record: &Record, seen_entry: &mut bool) -> Result<(), Damage> {
        match record {
            Record::SegmentHeader { .. } => {}
            Record::HardState(h) => self.hard_state = *h,
            Record::Snapshot(s) => {
                // `entries` stays in index order, so the covered ones are a prefix.
                let covered = self.entries.partition_point(|e| e.index <= s.index);
                self.entries.drain(..covered);
                self.snapshot = s.clone();
            }
            Record::TruncateAfter(index) => {
                let keep = self.entries.partition_point(|e| e.index <= *index);
                self.entries.truncate(keep);
            }
            Record::Entry(e) => {
                if e.index <= self.snapshot.index {
                    return Ok(());
                }
                // The first entry after a purge may start anywhere above the snapshot.
                let last = self.last_index();
                if *seen_entry && e.index > last + 1 {
                    return Err(Damage::IndexGap {
                        last,
                        found: e.index,
                    });
                }
                *seen_entry = true;
                // A rewritten index replaces that entry and every later one (raft's conflict
                // truncation). A binary search, not a scan: recovery replays up to
                // --snapshot-count entries, and a scan per entry made start-up quadratic.
                let keep = self.entries.partition_point(|x| x.index < e.index);
                self.entries.truncate(keep);
                self.entries.push(e.clone());
            }
        }
        Ok(())
    }
}

struct Segment<F> {
    seq: u64,
    name: String,
    file: Arc<F>,
    /// Highest entry index ever written here (0: none); purge compares it to the snapshot.
    max_entry_index: u64,
}

struct BlockWrite<F> {
    file: Arc<F>,
    offset: u64,
    bytes: Blocks,
}

/// What a sync made durable, handed back to [`Log::finish_sync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncTicket {
    /// The last index appended before the job was taken.
    pub last_index: u64,
    snapshot_index: u64,
    snapshot_seq: u64,
}

/// Everything appended before [`Log::begin_sync`]: block writes in order, each file synced
/// before the next file's writes start. `run` blocks (O_DIRECT writes and fdatasync), so the
/// server runs it on its WAL I/O thread or, for a small job, inline; [`SyncJob::start`]
/// first hands the writes to the kernel, so the caller can work while the device writes.
#[must_use = "a sync job does nothing until it is run and finished"]
pub struct SyncJob<F> {
    writes: Vec<BlockWrite<F>>,
    names: Vec<PathBuf>,
    ticket: SyncTicket,
    /// Where the written buffers go back to, for the log to encode into again.
    pool: Pool,
    /// The log's write queue, for `start`.
    queue: Option<Arc<WriteQueue>>,
    /// Writes `start` queued that have not been reaped: their buffers must outlive them.
    queued: usize,
    /// `start` queued the job's only write durable (`RWF_DSYNC`): once it is reaped whole,
    /// no fdatasync is needed.
    queued_durable: bool,
}

impl<F: SegmentFile> SyncJob<F> {
    /// Bytes the job writes before it syncs.
    pub fn bytes(&self) -> usize {
        self.writes.iter().map(|w| w.bytes.len()).sum()
    }

    /// Hands the block writes to the kernel and returns without waiting for the device;
    /// [`SyncJob::run`] then waits for them and syncs. Where that cannot be done (writes to
    /// more than one file or more than a few, a file not opened O_DIRECT, no io_uring) it
    /// does nothing and `run` writes as it always does.
    ///
    /// `durable`: the job's write, if it is the only one, is made durable by the write
    /// itself (`RWF_DSYNC`) and `run` needs no fdatasync after it. The kernel then starts
    /// the device's flush the moment the write lands (from a worker thread, where the
    /// device has no FUA writes), which pays when the caller has more to do meanwhile than
    /// the write takes; a caller that would be waiting anyway measured no better off (see
    /// the raft core's `DURABLE_WRITE_MIN_ENTRIES`). Several writes are always synced once
    /// after them all: each durable write would bring its own flush.
    pub fn start(&mut self, durable: bool) {
        let (Some(queue), Some(first)) = (&self.queue, self.writes.first()) else {
            return;
        };
        let Some(fd) = first.file.direct_fd() else {
            return;
        };
        if self.queued > 0
            || self.writes.len() > MAX_QUEUED
            || !self
                .writes
                .iter()
                .all(|w| Arc::ptr_eq(&w.file, &first.file))
        {
            return;
        }
        let durable = durable && self.writes.len() == 1;
        let writes: Vec<QueuedWrite> = self
            .writes
            .iter()
            .map(|w| QueuedWrite {
                fd,
                buf: w.bytes.as_ptr(),
                len: w.bytes.len(),
                offset: w.offset,
                durable,
            })
            .collect();
        // SAFETY: the buffers belong to `self.writes`, which is neither changed nor dropped
        // before `reap` (in `run`, or in `drop` for a job that is never run) returns.
        match unsafe { queue.submit(&writes) } {
            Ok(()) => {
                self.queued = writes.len();
                self.queued_durable = durable;
            }
            Err(e) => tracing::debug!(error = %e, "WAL writes not queued; the sync writes them"),
        }
    }

    /// Writes (or waits for the writes `start` queued) and syncs (a durable write needs no
    /// sync). An error here is fatal for the log (after a failed fdatasync the kernel may
    /// have dropped the dirty pages; etcd exits too), so it is not retried.
    pub fn run(mut self) -> Result<SyncTicket, WalError> {
        let reaped = self.reap().map_err(|source| WalError::Io {
            file: self.names.first().cloned().unwrap_or_default(),
            source,
        })?;
        let io = |i: usize, source| WalError::Io {
            file: self.names.get(i).cloned().unwrap_or_default(),
            source,
        };
        // Whether everything so far is durable without an fdatasync: a durable write's
        // data is, unless part of it had to be written again the plain way.
        let mut durable = self.queued_durable;
        for (i, w) in self.writes.iter().enumerate() {
            match reaped.get(i) {
                Some(&n) if usize::try_from(n) == Ok(w.bytes.len()) => {}
                Some(&errno) if errno < 0 => {
                    return Err(io(i, std::io::Error::from_raw_os_error(-errno)));
                }
                // Not queued, or a short write (the disk filled, a signal): write it whole.
                _ => {
                    w.file.write_at(w.offset, &w.bytes).map_err(|e| io(i, e))?;
                    durable = false;
                }
            }
            let last_of_file = self
                .writes
                .get(i + 1)
                .is_none_or(|next| !Arc::ptr_eq(&next.file, &w.file));
            if last_of_file && !durable {
                w.file.sync_data().map_err(|e| io(i, e))?;
            }
        }
        for w in std::mem::take(&mut self.writes) {
            self.pool.give_back(w.bytes);
        }
        Ok(self.ticket)
    }
}

impl<F> SyncJob<F> {
    /// Waits for the queued writes; their results (bytes written or a negative errno), none
    /// if nothing was queued.
    fn reap(&mut self) -> std::io::Result<Vec<i32>> {
        let (Some(queue), 1..) = (&self.queue, self.queued) else {
            return Ok(Vec::new());
        };
        let results = queue.reap(self.queued)?;
        self.queued = 0;
        Ok(results)
    }
}

impl<F> Drop for SyncJob<F> {
    fn drop(&mut self) {
        // The kernel may still be reading the buffers: wait for it, and if even that
        // fails, leak them rather than free memory a write is reading.
        if self.reap().is_err() {
            tracing::error!("queued WAL writes could not be reaped; leaking their buffers");
            std::mem::forget(std::mem::take(&mut self.writes));
        }
    }
}

/// The write-ahead log. See the module documentation.
pub struct Log<D: SegmentDir> {
    dir: D,
    opts: Options,
    segments: Vec<Segment<D::File>>,
    /// Writes for sealed (rotated-away) segments not yet handed to a job.
    sealed: Vec<BlockWrite<D::File>>,
    sealed_names: Vec<PathBuf>,
    /// Bytes of the active segment from `pending_start` (block-aligned) to `end`, in
    /// block-aligned memory so that an O_DIRECT write takes them without a copy.
    pending: Blocks,
    /// Buffers finished jobs gave back.
    pool: Pool,
    pending_start: usize,
    /// Where the next record goes in the active segment.
    end: usize,
    tail_crc: u32,
    last_index: u64,
    hard_state: HardState,
    snapshot: SnapshotMark,
    durable_snapshot_index: u64,
    /// Sequence of the segment holding the latest snapshot marker / the durable one: purge
    /// keeps that segment and everything after it, so the marker and the HardState written
    /// after it always survive.
    snapshot_seq: u64,
    durable_snapshot_seq: u64,
    sync_in_flight: bool,
    /// The active segment's stamp, and whether the job being collected has a record yet
    /// (its first one carries [`FLAG_JOB_START`]).
    stamp: Stamp,
    job_started: bool,
    /// A purged segment renamed to [`RECYCLED`]; the next rotation takes it first (its old
    /// records are stale under the new segment's tag).
    recycled: bool,
    /// A segment being zero-filled under [`PREPARED`] on a thread of its own, for when none
    /// is recycled: filling 64 MiB on the raft core stalled every write for tens of
    /// milliseconds each rotation.
    prepared: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// Where jobs queue their writes (see [`SyncJob::start`]): `None` until a job first
    /// asks, then the queue, or `None` inside where io_uring could not be set up.
    queue: Option<Option<Arc<WriteQueue>>>,
}

/// The names the next segment is kept under until rotation; never segment names.
const PREPARED: &str = "next-segment.wal.tmp";
const RECYCLED: &str = "recycled-segment.wal.tmp";

/// Where recovery starts reading, given the segments found (sorted) and the scan of the last
/// one: the latest snapshot marker is in the last segment (every segment restates the marker
/// when it starts, and later ones are appended), and every entry after it lies in the
/// segments from the last one whose name's first index is at most the marker's index + 1
/// (a segment is named after `last_index + 1` when it starts, so older ones hold only
/// entries the snapshot covers). Those older segments are not read, as etcd skips the WAL
/// files before its snapshot: what purge would remove needs no verifying. Without a marker
/// in the last segment, everything is read.
fn first_segment_to_read(found: &[(u64, u64, String)], last: &scan::Scan) -> usize {
    let snapshot = last.records.iter().rev().find_map(|r| match &r.record {
        Record::Snapshot(mark) => Some(mark.index),
        _ => None,
    });
    snapshot.map_or(0, |index| {
        found
            .iter()
            .rposition(|(_, first, _)| *first <= index.saturating_add(1))
            .unwrap_or(0)
    })
}

fn align_down(n: usize) -> usize {
    n / BLOCK * BLOCK
}

impl<D: SegmentDir> Log<D> {
    /// Opens (or creates) the log in `dir` and returns what it holds. See the module docs for
    /// what is repaired and what is refused.
    pub fn open(dir: D, opts: Options) -> Result<(Self, Recovered), WalError> {
        if !opts.segment_size.is_multiple_of(BLOCK) || opts.segment_size < 2 * BLOCK {
            return Err(WalError::Options(
                "segment_size must be a multiple of 4096, at least 8192",
            ));
        }
        let list_err = |source| WalError::Io {
            file: dir.path(""),
            source,
        };
        let names = dir.list().map_err(list_err)?;
        // Files of an earlier run kept under temporary names: a recycled segment of the
        // right size is kept for the next rotation (it was renamed there durably, whole);
        // anything else (a prepared segment, a creation cut short) is removed, since every
        // segment is created durably under its own name before it is used.
        let mut recycled = false;
        for tmp in names.iter().filter(|n| n.ends_with(".tmp")) {
            if tmp == RECYCLED
                && dir
                    .open(tmp)
                    .and_then(|f| f.size())
                    .is_ok_and(|size| size == opts.segment_size as u64)
            {
                recycled = true;
                continue;
            }
            dir.remove(tmp).map_err(|source| WalError::Io {
                file: dir.path(tmp),
                source,
            })?;
        }
        let mut found: Vec<(u64, u64, String)> = names
            .into_iter()
            .filter_map(|n| segment::parse_file_name(&n).map(|(s, i)| (s, i, n)))
            .collect();
        found.sort();
        let mut log = Log {
            dir,
            opts,
            segments: Vec::new(),
            sealed: Vec::new(),
            sealed_names: Vec::new(),
            pending: Blocks::new(),
            pool: Pool::default(),
            pending_start: 0,
            end: 0,
            tail_crc: 0,
            last_index: 0,
            hard_state: HardState::default(),
            snapshot: SnapshotMark::default(),
            durable_snapshot_index: 0,
            snapshot_seq: 0,
            durable_snapshot_seq: 0,
            sync_in_flight: false,
            stamp: Stamp::of(0),
            job_started: false,
            recycled,
            prepared: None,
            queue: None,
        };
        // Segments at the end without a record of their own were made by a rotation whose
        // first sync never finished (a sync writes and syncs a segment before touching the
        // next, and its first record opens the segment), so nothing in them was acknowledged;
        // drop them and let the last written segment be the tail.
        let mut tail: Option<(Vec<u8>, scan::Scan)> = None;
        while let Some((seq, _, name)) = found.last() {
            let path = log.dir.path(name);
            let bytes = log
                .dir
                .open(name)
                .and_then(|f| f.read_all())
                .map_err(|source| WalError::Io {
                    file: path.clone(),
                    source,
                })?;
            let scanned = scan::scan(&bytes, *seq);
            if !scanned.records.is_empty() || scanned.stop != Stop::Clean {
                tail = Some((bytes, scanned));
                break;
            }
            tracing::warn!(file = %path.display(), "WAL: removing a never-written segment");
            log.dir
                .remove(name)
                .map_err(|source| WalError::Io { file: path, source })?;
            found.pop();
        }
        let mut recovered = Recovered::default();
        if found.is_empty() {
            log.start_segment(0, 0)?;
            log.sync()?;
            return Ok((log, recovered));
        }
        let count = found.len();
        let first_read = tail
            .as_ref()
            .map_or(0, |(_, scanned)| first_segment_to_read(&found, scanned));
        let next_firsts: Vec<u64> = found.iter().skip(1).map(|(_, first, _)| *first).collect();
        let mut seen_entry = false;
        let mut prev_seq: Option<u64> = None;
        // (seq, last crc) of the previous segment read; `None` before the first one read.
        let mut prev: Option<(u64, u32)> = None;
        for (i, (seq, _first, name)) in found.into_iter().enumerate() {
            let path = log.dir.path(&name);
            let corrupt = |offset: usize, damage: Damage| WalError::Corrupt {
                file: path.clone(),
                offset: offset as u64,
                damage,
            };
            if let Some(prev_seq) = prev_seq
                && seq != prev_seq + 1
            {
                return Err(corrupt(0, Damage::MissingSegment(prev_seq + 1)));
            }
            prev_seq = Some(seq);
            let file = log.dir.open(&name).map_err(|source| WalError::Io {
                file: path.clone(),
                source,
            })?;
            if i < first_read {
                // Wholly covered by the latest snapshot: kept for purge, never read. Its
                // entries all precede the next segment's first index.
                log.segments.push(Segment {
                    seq,
                    name,
                    file: Arc::new(file),
                    max_entry_index: next_firsts.get(i).map_or(0, |f| f.saturating_sub(1)),
                });
                continue;
            }
            let is_last = i + 1 == count;
            let read_before = if is_last { tail.take() } else { None };
            let (bytes, scan) = match read_before {
                Some(read) => read,
                None => {
                    let bytes = file.read_all().map_err(|source| WalError::Io {
                        file: path.clone(),
                        source,
                    })?;
                    let scanned = scan::scan(&bytes, seq);
                    (bytes, scanned)
                }
            };
            match (&scan.stop, is_last) {
                (Stop::Corrupt { offset, error }, _) => {
                    return Err(corrupt(*offset, Damage::Record(error.clone())));
                }
                (Stop::Torn { offset }, false) => {
                    return Err(corrupt(*offset, Damage::TornBeforeLastSegment));
                }
                (Stop::Clean, false) if scan.dirty_after_end() => {
                    return Err(corrupt(scan.end, Damage::DataAfterEnd));
                }
                _ => {}
            }
            let mut max_entry_index = 0;
            for (k, r) in scan.records.iter().enumerate() {
                if let Record::SegmentHeader {
                    prev_crc,
                    seq: header_seq,
                } = r.record
                {
                    // The scanner only accepts a segment header as the first record.
                    if header_seq != seq {
                        return Err(corrupt(
                            r.offset,
                            Damage::WrongSequence {
                                expected: seq,
                                found: header_seq,
                            },
                        ));
                    }
                    if let Some((_, expected)) = prev
                        && expected != prev_crc
                    {
                        return Err(corrupt(
                            r.offset,
                            Damage::ChainBroken {
                                expected,
                                found: prev_crc,
                            },
                        ));
                    }
                } else if k == 0 {
                    return Err(corrupt(
                        r.offset,
                        Damage::Record(RecordError::MissingSegmentHeader),
                    ));
                }
                if let Record::Entry(e) = &r.record {
                    max_entry_index = max_entry_index.max(e.index);
                }
                recovered
                    .apply(&r.record, &mut seen_entry)
                    .map_err(|d| corrupt(r.offset, d))?;
            }
            let file = Arc::new(file);
            let seg_crc = scan.last_crc();
            if is_last {
                let short = bytes.len() < log.opts.segment_size;
                let needs_repair =
                    !matches!(scan.stop, Stop::Clean) || scan.dirty_after_end() || short;
                // Keep the partial last block in memory: the next write rewrites it whole.
                log.pending_start = align_down(scan.end);
                log.pending =
                    Blocks::copy_of(bytes.get(log.pending_start..scan.end).unwrap_or_default());
                log.end = scan.end;
                if needs_repair {
                    tracing::warn!(
                        file = %path.display(),
                        offset = scan.end,
                        stop = ?scan.stop,
                        "WAL: cutting a torn tail back to the last good record"
                    );
                    // Zero everything from the cut to the end of what a later scan could take
                    // for ours, and restore the preallocated length, so later scans see a
                    // clean end.
                    let min_len = if short { log.opts.segment_size } else { 0 };
                    let repair_end = scan.dirty_end.max(min_len).div_ceil(BLOCK) * BLOCK;
                    let mut block = Blocks::copy_of(&log.pending);
                    block.resize_zeroed(repair_end - log.pending_start);
                    file.write_at(log.pending_start as u64, &block)
                        .and_then(|()| file.sync_data())
                        .map_err(|source| WalError::Io {
                            file: path.clone(),
                            source,
                        })?;
                }
            }
            log.segments.push(Segment {
                seq,
                name,
                file,
                max_entry_index,
            });
            match seg_crc {
                Some(crc) => prev = Some((seq, crc)),
                None if is_last => {
                    // The last segment's header never reached the disk: write it now.
                    log.tail_crc = prev.map_or(0, |(_, crc)| crc);
                    log.stamp = Stamp::of(seq);
                    log.encode(&Record::SegmentHeader {
                        prev_crc: log.tail_crc,
                        seq,
                    });
                    prev = Some((seq, log.tail_crc));
                }
                None => {
                    return Err(corrupt(
                        0,
                        Damage::Record(RecordError::MissingSegmentHeader),
                    ));
                }
            }
        }
        log.tail_crc = prev.map_or(0, |(_, crc)| crc);
        log.stamp = Stamp::of(log.segments.last().map_or(0, |s| s.seq));
        log.last_index = recovered.last_index();
        log.hard_state = recovered.hard_state;
        log.snapshot = recovered.snapshot.clone();
        log.durable_snapshot_index = recovered.snapshot.index;
        // Every segment restates the marker, so the last one holds it durably.
        log.snapshot_seq = log.segments.last().map_or(0, |s| s.seq);
        log.durable_snapshot_seq = log.snapshot_seq;
        log.sync()?;
        Ok((log, recovered))
    }

    /// The last entry index (or the snapshot index when no entry follows it).
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    pub fn snapshot(&self) -> &SnapshotMark {
        &self.snapshot
    }

    /// Names of the segment files, oldest first.
    pub fn segment_names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.clone()).collect()
    }

    /// Appends entries. The first may be at most `last_index + 1`; a lower index replaces
    /// every entry from it on (a raft conflict). Entries must be consecutive and above the
    /// snapshot. Not durable until a sync taken after this call has finished.
    pub fn append_entries(&mut self, entries: &[Entry]) -> Result<(), WalError> {
        let mut last = self.last_index;
        for (i, e) in entries.iter().enumerate() {
            let ok = if i == 0 {
                e.index > self.snapshot.index && e.index <= last + 1
            } else {
                e.index == last + 1
            };
            if !ok {
                return Err(WalError::NonContiguous {
                    index: e.index,
                    snapshot: self.snapshot.index,
                    last,
                });
            }
            last = e.index;
        }
        self.pending
            .reserve(entries.iter().map(entry_encoded_len).sum::<usize>());
        for e in entries {
            self.append_encoded(entry_encoded_len(e), |prev, stamp, out| {
                encode_entry(e, prev, stamp, out)
            })?;
            self.last_index = e.index;
            if let Some(s) = self.segments.last_mut() {
                s.max_entry_index = s.max_entry_index.max(e.index);
            }
        }
        Ok(())
    }

    /// Records raft's HardState.
    pub fn set_hard_state(&mut self, hard_state: HardState) -> Result<(), WalError> {
        self.append(Record::HardState(hard_state))?;
        self.hard_state = hard_state;
        Ok(())
    }

    /// Records that a snapshot exists at `mark.index`; entries up to it are dropped.
    pub fn save_snapshot(&mut self, mark: SnapshotMark) -> Result<(), WalError> {
        if mark.index < self.snapshot.index {
            return Err(WalError::StaleSnapshot {
                index: mark.index,
                current: self.snapshot.index,
            });
        }
        self.append(Record::Snapshot(mark.clone()))?;
        self.last_index = self.last_index.max(mark.index);
        self.snapshot = mark;
        self.snapshot_seq = self.segments.last().map_or(0, |s| s.seq);
        Ok(())
    }

    /// Drops every entry after `index` (not below the snapshot): what a follower does with
    /// a log that disagrees with a snapshot it installs. Durable with the next sync.
    pub fn truncate_after(&mut self, index: u64) -> Result<(), WalError> {
        let index = index.max(self.snapshot.index);
        if index >= self.last_index {
            return Ok(());
        }
        self.append(Record::TruncateAfter(index))?;
        self.last_index = index;
        Ok(())
    }

    fn append(&mut self, record: Record) -> Result<(), WalError> {
        self.append_encoded(record.encoded_len(), |prev, stamp, out| {
            record.encode(prev, stamp, out)
        })
    }

    /// Appends a record `len` bytes long that `encode` writes (chained from the CRC it is
    /// given, stamped as given, returning its own CRC), rotating first if it does not fit.
    fn append_encoded(
        &mut self,
        len: usize,
        encode: impl FnOnce(u32, Stamp, &mut Blocks) -> u32,
    ) -> Result<(), WalError> {
        if self.end + len > self.opts.segment_size {
            self.rotate()?;
            if self.end + len > self.opts.segment_size {
                return Err(WalError::RecordTooLarge {
                    len,
                    segment_size: self.opts.segment_size,
                });
            }
        }
        let stamp = self.next_stamp();
        self.tail_crc = encode(self.tail_crc, stamp, &mut self.pending);
        self.end = self.pending_start + self.pending.len();
        if !self.recycled && self.prepared.is_none() && self.end >= self.opts.segment_size / 2 {
            self.prepare_next_segment();
        }
        Ok(())
    }

    /// Starts zero-filling the next segment on a thread of its own.
    fn prepare_next_segment(&mut self) {
        let dir = self.dir.clone();
        let len = self.opts.segment_size;
        let spawned = std::thread::Builder::new()
            .name("ringkv-wal-prepare".into())
            .spawn(move || dir.create(PREPARED, len).map(drop));
        match spawned {
            Ok(handle) => self.prepared = Some(handle),
            // Rotation then creates the segment itself, as it would without a thread.
            Err(e) => tracing::warn!(error = %e, "WAL: cannot start preparing the next segment"),
        }
    }

    /// The file for a new segment `name`, and whether it is a recycled one: the recycled
    /// one or the prepared one renamed, or (neither, or preparing failed) one created here.
    fn new_segment_file(&mut self, name: &str) -> std::io::Result<(D::File, bool)> {
        if std::mem::take(&mut self.recycled) {
            match self
                .dir
                .rename(RECYCLED, name)
                .and_then(|()| self.dir.open(name))
            {
                Ok(file) => return Ok((file, true)),
                // Gone or unusable: a new segment does as well, only slower to write.
                Err(e) => tracing::warn!(error = %e, "WAL: cannot reuse the recycled segment"),
            }
        }
        if let Some(handle) = self.prepared.take() {
            match handle.join() {
                Ok(Ok(())) => {
                    self.dir.rename(PREPARED, name)?;
                    return Ok((self.dir.open(name)?, false));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "WAL: preparing the next segment failed")
                }
                Err(_) => tracing::warn!("WAL: the thread preparing the next segment panicked"),
            }
        }
        Ok((self.dir.create(name, self.opts.segment_size)?, false))
    }

    /// The stamp for the next record: the active segment's, marked as a job's first record
    /// if it is one.
    fn next_stamp(&mut self) -> Stamp {
        let first_of_job = !std::mem::replace(&mut self.job_started, true);
        if first_of_job {
            self.stamp.with(FLAG_JOB_START)
        } else {
            self.stamp
        }
    }

    fn encode(&mut self, record: &Record) {
        self.encode_flagged(record, 0);
    }

    /// Encodes `record` with the next stamp and `flags` added to it.
    fn encode_flagged(&mut self, record: &Record, flags: u8) {
        let stamp = self.next_stamp().with(flags);
        self.tail_crc = record.encode(self.tail_crc, stamp, &mut self.pending);
        self.end = self.pending_start + self.pending.len();
    }

    /// Seals the active segment and starts the next one.
    fn rotate(&mut self) -> Result<(), WalError> {
        let seq = self.segments.last().map_or(0, |s| s.seq + 1);
        let first = self.last_index + 1;
        self.take_active_writes();
        self.start_segment(seq, first)?;
        // Restated so that purging older segments never loses them.
        self.encode(&Record::Snapshot(self.snapshot.clone()));
        self.encode(&Record::HardState(self.hard_state));
        Ok(())
    }

    fn start_segment(&mut self, seq: u64, first_index: u64) -> Result<(), WalError> {
        let name = segment::file_name(seq, first_index);
        let (file, recycled) = self
            .new_segment_file(&name)
            .map_err(|source| WalError::Io {
                file: self.dir.path(&name),
                source,
            })?;
        self.segments.push(Segment {
            seq,
            name,
            file: Arc::new(file),
            max_entry_index: 0,
        });
        self.pending.clear();
        self.pending_start = 0;
        self.end = 0;
        self.stamp = Stamp::of(seq);
        let header = Record::SegmentHeader {
            prev_crc: self.tail_crc,
            seq,
        };
        self.encode_flagged(&header, if recycled { FLAG_RECYCLED } else { 0 });
        Ok(())
    }

    /// Moves the active segment's unwritten bytes into `sealed`, keeping the partial last
    /// block in `pending` so the next write rewrites it whole.
    fn take_active_writes(&mut self) {
        let Some(seg) = self.segments.last() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let keep_from = align_down(self.end);
        let mut kept = self.pool.take();
        kept.extend_from_slice(
            self.pending
                .get(keep_from - self.pending_start..)
                .unwrap_or_default(),
        );
        let mut bytes = std::mem::replace(&mut self.pending, kept);
        bytes.pad_to_block();
        self.sealed.push(BlockWrite {
            file: Arc::clone(&seg.file),
            offset: self.pending_start as u64,
            bytes,
        });
        self.sealed_names.push(self.dir.path(&seg.name));
        self.pending_start = keep_from;
    }

    /// Takes everything appended so far as a job; appends may continue while it runs.
    /// Only one job may be in flight.
    pub fn begin_sync(&mut self) -> Result<SyncJob<D::File>, WalError> {
        if self.sync_in_flight {
            return Err(WalError::SyncInFlight);
        }
        self.take_active_writes();
        self.sync_in_flight = true;
        self.job_started = false;
        Ok(SyncJob {
            writes: std::mem::take(&mut self.sealed),
            names: std::mem::take(&mut self.sealed_names),
            ticket: SyncTicket {
                last_index: self.last_index,
                snapshot_index: self.snapshot.index,
                snapshot_seq: self.snapshot_seq,
            },
            pool: self.pool.clone(),
            queue: self.write_queue(),
            queued: 0,
            queued_durable: false,
        })
    }

    /// The log's write queue, made the first time a job asks; `None` where io_uring cannot
    /// be set up (jobs then write with plain calls).
    fn write_queue(&mut self) -> Option<Arc<WriteQueue>> {
        self.queue
            .get_or_insert_with(|| {
                WriteQueue::new()
                    .map(Arc::new)
                    .inspect_err(|e| {
                        tracing::info!(error = %e, "no io_uring for the WAL; its writes are plain calls");
                    })
                    .ok()
            })
            .clone()
    }

    /// Records that a job finished: what it covered is durable.
    pub fn finish_sync(&mut self, ticket: SyncTicket) {
        self.sync_in_flight = false;
        self.durable_snapshot_index = self.durable_snapshot_index.max(ticket.snapshot_index);
        self.durable_snapshot_seq = self.durable_snapshot_seq.max(ticket.snapshot_seq);
    }

    /// Appended → durable, inline: begin, run and finish one job.
    pub fn sync(&mut self) -> Result<(), WalError> {
        let ticket = self.begin_sync()?.run()?;
        self.finish_sync(ticket);
        Ok(())
    }

    /// Removes the oldest segments whose entries are all covered by a durable snapshot
    /// marker, never the active one and never leaving fewer than `max_wals`. Returns how
    /// many were removed. Segments from the one holding the durable snapshot marker on are
    /// kept. One removed segment is kept back, renamed, to be recycled as the next one.
    pub fn purge(&mut self) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.segments.len() > self.opts.max_wals.max(1) {
            let Some(oldest) = self.segments.first() else {
                break;
            };
            if oldest.seq >= self.durable_snapshot_seq
                || oldest.max_entry_index > self.durable_snapshot_index
            {
                break;
            }
            let recycle = !self.recycled
                && oldest
                    .file
                    .size()
                    .is_ok_and(|size| size == self.opts.segment_size as u64);
            let done = if recycle {
                self.dir.rename(&oldest.name, RECYCLED)
            } else {
                self.dir.remove(&oldest.name)
            };
            done.map_err(|source| WalError::Io {
                file: self.dir.path(&oldest.name),
                source,
            })?;
            self.recycled |= recycle;
            tracing::info!(file = %self.dir.path(&oldest.name).display(), recycle, "WAL: purged segment");
            self.segments.remove(0);
            removed += 1;
        }
        Ok(removed)
    }
}
