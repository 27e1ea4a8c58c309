//! Walks the bytes of one segment and returns its valid records plus how the walk ended:
//! cleanly at an all-zero header (the preallocated rest of the segment), at a **torn** record
//! (one a crash could have left: it runs past the end of the file, or its payload fails the
//! CRC while one of its 512-byte sector pieces is still all zeros, i.e. was never written),
//! or at **corruption** (anything a crash cannot explain: a bad header CRC — headers never
//! straddle a sector — a CRC mismatch with every sector written, bad padding, an unknown
//! type). Whether a torn end is acceptable is the log's decision (only in the last segment);
//! the scanner only classifies. It is pure and never panics on any input, so it is fuzzed.

use crate::record::{self, HEADER_LEN, Record, RecordError, SECTOR};

/// A record found by the scanner at byte `offset` of the segment, with its chained CRC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub offset: usize,
    pub record: Record,
    pub crc: u32,
}

/// Where and why the scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An all-zero header or the end of the bytes exactly at a record boundary.
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
    /// Some byte at or after `end` is non-zero (left by a torn write, or damage).
    pub dirty_after_end: bool,
}

impl Scan {
    /// The CRC of the last valid record, which seeds the next one.
    pub fn last_crc(&self) -> Option<u32> {
        self.records.last().map(|r| r.crc)
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

/// Scans a whole segment's bytes from offset 0.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut records: Vec<Scanned> = Vec::new();
    let mut at = 0usize;
    let stop = loop {
        let Some(header_bytes) = bytes.get(at..at + HEADER_LEN) else {
            // Too few bytes left for a header: fine if they are zeros, torn otherwise.
            if bytes
                .get(at..)
                .is_some_and(|rest| rest.iter().any(|&b| b != 0))
            {
                break Stop::Torn { offset: at };
            }
            break Stop::Clean;
        };
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(header_bytes);
        let header = match record::decode_header(&h) {
            Ok(Some(header)) => header,
            Ok(None) => break Stop::Clean,
            Err(error) => break Stop::Corrupt { offset: at, error },
        };
        let body_start = at + HEADER_LEN;
        let record_end = at.saturating_add(header.record_len());
        let Some(body) = bytes.get(body_start..record_end) else {
            break Stop::Torn { offset: at };
        };
        let prev = records.last().map(|r| r.crc);
        match record::decode_body(&header, body, prev) {
            Ok(record) => {
                records.push(Scanned {
                    offset: at,
                    record,
                    crc: header.crc,
                });
                at = record_end;
            }
            Err(RecordError::Checksum { .. })
                if has_unwritten_sector(bytes, body_start, body_start + header.payload_len) =>
            {
                break Stop::Torn { offset: at };
            }
            Err(error) => break Stop::Corrupt { offset: at, error },
        }
    };
    let dirty_after_end = bytes
        .get(at..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0));
    Scan {
        records,
        end: at,
        stop,
        dirty_after_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Entry, HardState};

    fn segment(n: usize, data_len: usize, size: usize) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut crc = Record::SegmentHeader {
            prev_crc: 7,
            seq: 0,
        }
        .encode(0, &mut out);
        let mut starts = Vec::new();
        for i in 0..n {
            starts.push(out.len());
            let e = Entry {
                index: i as u64 + 1,
                term: 1,
                data: vec![0xab; data_len],
            };
            crc = Record::Entry(e).encode(crc, &mut out);
        }
        out.resize(size, 0);
        (out, starts)
    }

    #[test]
    fn reads_all_records_up_to_the_zero_tail() {
        let (bytes, starts) = segment(10, 100, 8192);
        let s = scan(&bytes);
        assert_eq!(s.stop, Stop::Clean);
        assert_eq!(s.records.len(), 11);
        assert!(!s.dirty_after_end);
        assert_eq!(s.records[1].offset, starts[0]);
    }

    #[test]
    fn a_short_file_is_a_torn_tail() {
        let (bytes, starts) = segment(10, 100, 8192);
        for cut in starts[9]..starts[9] + 128 {
            let s = scan(&bytes[..cut]);
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
        let s = scan(&bytes);
        assert_eq!(s.stop, Stop::Torn { offset: starts[2] });
        assert!(s.dirty_after_end);
    }

    #[test]
    fn a_flipped_bit_is_corruption() {
        let (mut bytes, starts) = segment(3, 100, 4096);
        bytes[starts[1] + 40] ^= 0x10;
        let s = scan(&bytes);
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
            scan(&bytes).stop,
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
        .encode(12345, &mut other);
        bytes[starts[1]..starts[1] + other.len()].copy_from_slice(&other);
        assert!(matches!(scan(&bytes).stop, Stop::Corrupt { .. }));
    }

    #[test]
    fn garbage_after_the_end_is_reported() {
        let (mut bytes, _) = segment(2, 16, 4096);
        bytes[4000] = 1;
        let s = scan(&bytes);
        assert_eq!(s.stop, Stop::Clean);
        assert!(s.dirty_after_end);
    }
}
