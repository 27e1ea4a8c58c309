//! Walks the bytes of one segment and returns its valid records plus how the walk ended:
//! cleanly (the rest of the segment holds nothing of ours), at a **torn** record (one a crash
//! could have left in the last write), or at **corruption** (anything a crash cannot
//! explain). How the end is recognised depends on what the segment overwrote:
//!
//! - A zero-filled segment ends at an all-zero header. A record whose payload fails the CRC
//!   while one of its 512-byte sectors is still all zeros (never written) is torn; a bad
//!   header (headers never straddle a sector), a CRC mismatch with every sector written, bad
//!   padding, an unknown type or a foreign tag are corruption.
//! - A recycled segment (its header carries [`FLAG_RECYCLED`]) holds an older segment's
//!   bytes after its last record, so the first record that is not ours and valid ends it.
//!   Whether that is the end or damage is told by what follows: if a later sync job's first
//!   record ([`FLAG_JOB_START`] with our tag) lies anywhere after it, the damaged record was
//!   durable before that job began, so it is corruption; otherwise it belongs to the last
//!   write and is torn (or simply the end). Bit rot inside that last write cannot be told
//!   from a torn write there; PostgreSQL and RocksDB, which recycle their logs too, share
//!   that limit. Across segments the chain still catches it: a sealed segment's last CRC is
//!   restated in the next segment's header.
//!
//! Whether a torn end is acceptable is the log's decision (only in the last segment); the
//! scanner only classifies. It is pure and never panics on any input, so it is fuzzed.

use crate::record::{
    self, FLAG_JOB_START, FLAG_RECYCLED, HEADER_LEN, Header, Record, RecordError, SECTOR, Stamp,
    segment_tag,
};

/// A record found by the scanner at byte `offset` of the segment, with its chained CRC and
/// the stamp it was written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub offset: usize,
    pub record: Record,
    pub crc: u32,
    pub stamp: Stamp,
}

/// Where and why the scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Nothing of ours follows the last record.
    Clean,
    /// A record a crash could have torn starts at `offset`.
    Torn { offset: usize },
    /// Damage a crash cannot explain, at `offset`.
    Corrupt { offset: usize, error: RecordError },
}

/// The result of scanning one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<Scanned>,
    /// Offset just past the last valid record: where the next record goes.
    pub end: usize,
    pub stop: Stop,
    /// The segment overwrites a recycled file.
    pub recycled: bool,
    /// Offset just past the last byte after `end` that a later scan could mistake for ours
    /// (any non-zero byte of a zero-filled segment; the extent of any record header with our
    /// tag in a recycled one); `end` when there is none. Repair zeroes up to here.
    pub dirty_end: usize,
}

impl Scan {
    /// The CRC of the last valid record, which seeds the next one.
    pub fn last_crc(&self) -> Option<u32> {
        self.records.last().map(|r| r.crc)
    }

    /// Something after `end` was left by a torn write, or is damage.
    pub fn dirty_after_end(&self) -> bool {
        self.dirty_end > self.end
    }
}

/// True if some sector-aligned piece of `bytes[from..to]` is all zeros: part of the record
/// was never written, which is what a torn write looks like.
fn has_unwritten_sector(bytes: &[u8], from: usize, to: usize) -> bool {
    let mut at = from;
    while at < to {
        let next = ((at / SECTOR) + 1) * SECTOR;
        let piece_end = next.min(to);
        if bytes
            .get(at..piece_end)
            .is_some_and(|p| p.iter().all(|&b| b == 0))
        {
            return true;
        }
        at = piece_end;
    }
    false
}

/// Why the walk over valid records halted at some offset.
enum Halt {
    /// Too few bytes for a header, or a record running past the end of the bytes.
    Short { header: Option<Header> },
    /// An all-zero header.
    Zero,
    /// A header with another segment's tag.
    Foreign { tag: u32 },
    /// A header or record that fails to decode.
    Bad {
        error: RecordError,
        header: Option<Header>,
    },
}

/// Headers with `tag` at 16-byte slots from `from` on: how far the furthest one's record
/// reaches, and whether one after `from` starts a sync job.
fn tagged_after(bytes: &[u8], from: usize, tag: u32) -> (usize, bool) {
    let mut reach = from;
    let mut job_start = false;
    let tag_bytes = tag.to_le_bytes();
    let mut at = from;
    while let Some(slot) = bytes.get(at..at + HEADER_LEN) {
        // The tag check first: it rejects nearly every slot before any CRC is computed.
        if slot[5..8] == tag_bytes[..3] {
            let mut h = [0u8; HEADER_LEN];
            h.copy_from_slice(slot);
            if let Ok(Some(header)) = record::decode_header(&h) {
                reach = reach.max(at.saturating_add(header.record_len()).min(bytes.len()));
                job_start |= at > from && header.stamp.flags & FLAG_JOB_START != 0;
            }
        }
        at += record::ALIGN;
    }
    (reach, job_start)
}

/// Scans a whole segment's bytes from offset 0; `seq` is the segment's sequence number.
pub fn scan(bytes: &[u8], seq: u64) -> Scan {
    let tag = segment_tag(seq);
    let mut records: Vec<Scanned> = Vec::new();
    let mut at = 0usize;
    let halt = loop {
        let Some(header_bytes) = bytes.get(at..at + HEADER_LEN) else {
            break Halt::Short { header: None };
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(header_bytes);
        let header = match record::decode_header(&h) {
            Ok(Some(header)) => header,
            Ok(None) => break Halt::Zero,
            Err(error) => {
                break Halt::Bad {
                    error,
                    header: None,
                };
            }
        };
        if header.stamp.tag != tag {
            if at == 0 && header.stamp.tag == 0 {
                break Halt::Bad {
                    error: RecordError::UntaggedRecord,
                    header: None,
                };
            }
            break Halt::Foreign {
                tag: header.stamp.tag,
            };
        }
        let body_start = at + HEADER_LEN;
        let record_end = at.saturating_add(header.record_len());
        let Some(body) = bytes.get(body_start..record_end) else {
            break Halt::Short {
                header: Some(header),
            };
        };
        let prev = records.last().map(|r| r.crc);
        match record::decode_body(&header, body, prev) {
            Ok(record) => {
                records.push(Scanned {
                    offset: at,
                    record,
                    crc: header.crc,
                    stamp: header.stamp,
                });
                at = record_end;
            }
            Err(error) => {
                break Halt::Bad {
                    error,
                    header: Some(header),
                };
            }
        }
    };
    let recycled = records
        .first()
        .is_some_and(|r| r.stamp.flags & FLAG_RECYCLED != 0);
    let (stop, dirty_end) = if recycled {
        let (reach, later_job) = tagged_after(bytes, at, tag);
        let stop = match halt {
            _ if later_job => Stop::Corrupt {
                offset: at,
                error: match halt {
                    Halt::Bad { error, .. } => error,
                    _ => RecordError::MissingBeforeLaterWrite,
                },
            },
            Halt::Short { header: Some(_) }
            | Halt::Bad {
                header: Some(_), ..
            } => Stop::Torn { offset: at },
            Halt::Short { header: None } | Halt::Zero | Halt::Foreign { .. } | Halt::Bad { .. } => {
                Stop::Clean
            }
        };
        (stop, reach)
    } else {
        let stop = match halt {
            Halt::Zero => Stop::Clean,
            // Too few bytes left for a header: fine if they are zeros, torn otherwise.
            Halt::Short { header: None } => {
                if bytes
                    .get(at..)
                    .is_some_and(|rest| rest.iter().any(|&b| b != 0))
                {
                    Stop::Torn { offset: at }
                } else {
                    Stop::Clean
                }
            }
            Halt::Short { header: Some(_) } => Stop::Torn { offset: at },
            // A recycled file whose first write never landed holds nothing of ours.
            Halt::Foreign { .. } if at == 0 => Stop::Clean,
            Halt::Foreign { tag: found } => Stop::Corrupt {
                offset: at,
                error: RecordError::ForeignTag {
                    expected: tag,
                    found,
                },
            },
            Halt::Bad {
                error: error @ RecordError::Checksum { .. },
                header: Some(header),
            } => {
                let body_start = at + HEADER_LEN;
                if has_unwritten_sector(bytes, body_start, body_start + header.payload_len) {
                    Stop::Torn { offset: at }
                } else {
                    Stop::Corrupt { offset: at, error }
                }
            }
            Halt::Bad { error, .. } => Stop::Corrupt { offset: at, error },
        };
        let dirty_end = bytes
            .get(at..)
            .and_then(|rest| rest.iter().rposition(|&b| b != 0))
            .map_or(at, |p| at + p + 1);
        (stop, dirty_end)
    };
    Scan {
        records,
        end: at,
        stop,
        recycled,
        dirty_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Entry, HardState, Stamp};

    fn segment(n: usize, data_len: usize, size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut crc = Record::SegmentHeader {
            prev_crc: 7,
            seq: 0,
        }
        .encode(0, Stamp::of(0), &mut out);
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(out.len());
            let e = Entry {
                index: i as u64 + 1,
                term: 1,
                data: vec![0xab; data_len],
            };
            crc = Record::Entry(e).encode(crc, Stamp::of(0), &mut out);
        }
        out.resize(size, 0);
        (out, starts)
    }

    #[test]
    fn reads_all_records_up_to_the_zero_tail() {
        let (bytes, starts) = segment(10, 100, 8192);
        let s = scan(&bytes, 0);
        assert_eq!(s.stop, Stop::Clean);
        assert_eq!(s.records.len(), 11);
        assert!(!s.dirty_after_end());
        assert_eq!(s.records[1].offset, starts[0]);
    }

    #[test]
    fn a_short_file_is_a_torn_tail() {
        let (bytes, starts) = segment(10, 100, 8192);
        for cut in starts[9]..starts[9] + 128 {
            let s = scan(&bytes[..cut], 0);
            if cut == starts[9] {
                assert_eq!(s.stop, Stop::Clean);
            } else {
                assert_eq!(s.stop, Stop::Torn { offset: starts[9] }, "cut at {cut}");
            }
            assert_eq!(s.records.len(), 10);
        }
    }

    #[test]
    fn an_unwritten_sector_inside_a_record_is_torn() {
        let (mut bytes, starts) = segment(3, 2000, 16384);
        // The header's sector landed, the next one did not.
        let sector = (starts[2] / SECTOR + 1) * SECTOR;
        bytes[sector..sector + SECTOR].fill(0);
        let s = scan(&bytes, 0);
        assert_eq!(s.stop, Stop::Torn { offset: starts[2] });
        assert!(s.dirty_after_end());
    }

    #[test]
    fn a_flipped_bit_is_corruption() {
        let (mut bytes, starts) = segment(3, 100, 4096);
        bytes[starts[1] + 40] ^= 0x10;
        let s = scan(&bytes, 0);
        assert!(
            matches!(s.stop, Stop::Corrupt { offset, error: RecordError::Checksum { .. } } if offset == starts[1])
        );
        assert_eq!(s.records.len(), 2);
    }

    #[test]
    fn a_damaged_length_is_corruption_not_a_tail() {
        let (mut bytes, starts) = segment(3, 100, 4096);
        bytes[starts[1] + 2] = 0xff;
        assert_eq!(
            scan(&bytes, 0).stop,
            Stop::Corrupt {
                offset: starts[1],
                error: RecordError::HeaderChecksum
            }
        );
    }

    #[test]
    fn records_out_of_chain_are_corruption() {
        let (mut bytes, starts) = segment(2, 16, 4096);
        let mut other = Vec::new();
        Record::HardState(HardState {
            term: 1,
            vote: 2,
            commit: 3,
        })
        .encode(12345, Stamp::of(0), &mut other);
        bytes[starts[1]..starts[1] + other.len()].copy_from_slice(&other);
        assert!(matches!(scan(&bytes, 0).stop, Stop::Corrupt { .. }));
    }

    #[test]
    fn garbage_after_the_end_is_reported() {
        let (mut bytes, _) = segment(2, 16, 4096);
        bytes[4000] = 1;
        let s = scan(&bytes, 0);
        assert_eq!(s.stop, Stop::Clean);
        assert!(s.dirty_after_end());
    }

    /// Segment `seq` written over `base` (zeros for a fresh segment, an older segment's bytes
    /// for a recycled one): a header, then `jobs[k]` entries for each sync job `k`, each job's
    /// first record flagged. Returns the bytes and each entry's offset.
    fn written_over(base: Vec<u8>, seq: u64, jobs: &[usize]) -> (Vec<u8>, Vec<usize>) {
        let fill = 0x50 + (seq % 16) as u8;
        let recycled = base.iter().any(|&b| b != 0);
        let mut out = Vec::new();
        let mut header_stamp = Stamp::of(seq).with(FLAG_JOB_START);
        if recycled {
            header_stamp = header_stamp.with(FLAG_RECYCLED);
        }
        let mut crc = Record::SegmentHeader { prev_crc: 7, seq }.encode(0, header_stamp, &mut out);
        let mut starts = Vec::new();
        let mut index = 1;
        for (k, &n) in jobs.iter().enumerate() {
            for i in 0..n {
                let stamp = if i == 0 && k > 0 {
                    Stamp::of(seq).with(FLAG_JOB_START)
                } else {
                    Stamp::of(seq)
                };
                starts.push(out.len());
                let e = Entry {
                    index,
                    term: 1,
                    data: vec![fill; 1400],
                };
                index += 1;
                crc = Record::Entry(e).encode(crc, stamp, &mut out);
            }
        }
        let mut bytes = base;
        bytes[..out.len()].copy_from_slice(&out);
        (bytes, starts)
    }

    /// A torn write: the first whole sector of the record at `record`'s payload kept the
    /// bytes the recycled file held there.
    fn keep_old_sector(bytes: &mut [u8], old: &[u8], record: usize) {
        let sector = (record + 16).div_ceil(SECTOR) * SECTOR;
        bytes[sector..sector + SECTOR].copy_from_slice(&old[sector..sector + SECTOR]);
    }

    /// A full segment of an older sequence, the bytes a recycled file starts with.
    fn old_segment() -> Vec<u8> {
        let (mut bytes, _) = written_over(vec![0; 32768], 3, &[20]);
        bytes.truncate(32768);
        bytes
    }

    #[test]
    fn a_recycled_segment_ends_where_its_own_records_end() {
        let (bytes, starts) = written_over(old_segment(), 9, &[2, 3]);
        let s = scan(&bytes, 9);
        assert!(s.recycled);
        assert_eq!(s.stop, Stop::Clean);
        assert_eq!(s.records.len(), 6);
        assert!(
            !s.dirty_after_end(),
            "the old segment's records are not ours"
        );
        assert_eq!(s.end, starts[4] + s.records[5].record.encoded_len());
    }

    #[test]
    fn a_recycled_file_that_was_never_written_holds_nothing() {
        let s = scan(&old_segment(), 9);
        assert_eq!(s.stop, Stop::Clean);
        assert!(s.records.is_empty());
    }

    #[test]
    fn a_stale_sector_in_the_last_write_of_a_recycled_segment_is_torn() {
        let old = old_segment();
        let (mut bytes, starts) = written_over(old.clone(), 9, &[2, 3]);
        // The last job's second record: one of its sectors kept the old bytes.
        keep_old_sector(&mut bytes, &old, starts[3]);
        let s = scan(&bytes, 9);
        assert_eq!(s.stop, Stop::Torn { offset: starts[3] });
        assert_eq!(s.records.len(), 4);
        assert!(
            s.dirty_after_end(),
            "the torn write's records must be cleared"
        );
        assert!(s.dirty_end >= starts[4] + 1440);
    }

    #[test]
    fn damage_before_a_later_write_of_a_recycled_segment_is_corruption() {
        let old = old_segment();
        let (mut bytes, starts) = written_over(old.clone(), 9, &[2, 3]);
        // A record of the first job, which a later job followed: it was durable.
        keep_old_sector(&mut bytes, &old, starts[1]);
        assert!(matches!(
            scan(&bytes, 9).stop,
            Stop::Corrupt { offset, error: RecordError::Checksum { .. } } if offset == starts[1]
        ));
        // A lost header is corruption too when a later job follows it.
        let (mut bytes, starts) = written_over(old, 9, &[2, 3]);
        bytes[starts[1] + 1] ^= 1;
        assert!(matches!(
            scan(&bytes, 9).stop,
            Stop::Corrupt { offset, error: RecordError::HeaderChecksum } if offset == starts[1]
        ));
    }

    #[test]
    fn a_foreign_tag_in_a_fresh_segment_is_corruption() {
        let (mut bytes, starts) = written_over(vec![0; 16384], 9, &[3]);
        let (other, other_starts) = written_over(vec![0; 16384], 4, &[3]);
        let at = starts[1];
        assert_eq!(at, other_starts[1]);
        bytes[at..at + 16].copy_from_slice(&other[at..at + 16]);
        assert!(matches!(
            scan(&bytes, 9).stop,
            Stop::Corrupt {
                error: RecordError::ForeignTag { .. },
                ..
            }
        ));
    }

    #[test]
    fn an_untagged_segment_is_refused() {
        let (bytes, _) = segment(2, 16, 4096);
        let s = scan(&bytes, 0);
        assert_eq!(
            s.records.len(),
            3,
            "tag of sequence 0 written by these tests"
        );
        let mut untagged = bytes.clone();
        untagged[5..8].fill(0);
        let hcrc = crc32fast::hash(&untagged[0..12]);
        untagged[12..16].copy_from_slice(&hcrc.to_le_bytes());
        assert!(matches!(
            scan(&untagged, 0).stop,
            Stop::Corrupt {
                offset: 0,
                error: RecordError::UntaggedRecord
            }
        ));
    }
}
