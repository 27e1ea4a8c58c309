//! The on-disk record: a 16-byte header, a payload, and zero padding to the next 16-byte
//! boundary. The header is `[payload length u32][type u8][segment tag u24][chained crc u32]
//! [header crc u32]`, little-endian. The type byte's low six bits are the record type and its
//! two high bits are flags ([`Stamp`]). The segment tag is derived from the sequence number of
//! the segment the record was written into, so records left over in a recycled segment file
//! (written under an older sequence) are recognised as stale, never replayed. The chained CRC
//! (crc32fast, IEEE CRC-32) covers the type byte and the payload and is seeded with the
//! previous record's CRC, so a record can only validate in its place in the stream; the
//! header CRC covers the first 12 header bytes so a damaged length is recognised as damage
//! instead of being followed. Records are 16-byte aligned so a header never straddles a
//! 512-byte sector: after a crash a header is either wholly old or wholly new, which is what
//! lets the scanner tell a torn write from corruption. An all-zero header marks the end of
//! the records in a zero-filled segment; type 0 and tag 0 are never written.

use thiserror::Error;

use crate::blocks::Blocks;

/// Bytes in a record header.
pub const HEADER_LEN: usize = 16;
/// Every record starts at a multiple of this.
pub const ALIGN: usize = 16;
/// The unit the disk writes atomically; a torn write leaves whole sectors old or new.
pub const SECTOR: usize = 512;

const TYPE_SEGMENT_HEADER: u8 = 1;
const TYPE_ENTRY: u8 = 2;
const TYPE_HARD_STATE: u8 = 3;
const TYPE_SNAPSHOT: u8 = 4;
const TYPE_TRUNCATE: u8 = 5;
const TYPE_MASK: u8 = 0x3f;

/// Type-byte flag: the first record a sync job wrote. A damaged record followed (anywhere in
/// its segment) by the start of a later job was durable before that job began, so it is
/// corruption; one without is part of the last, possibly torn, write.
pub const FLAG_JOB_START: u8 = 0x80;
/// Type-byte flag, on a segment header: the segment overwrites a recycled file, so what
/// follows its last record is stale data rather than zeros.
pub const FLAG_RECYCLED: u8 = 0x40;

/// The 24-bit tag of the segment with sequence `seq`: never 0, and different for every
/// sequence within 2^24 - 1 of it (a recycled file is always far closer than that).
pub const fn segment_tag(seq: u64) -> u32 {
    (seq % 0xff_ffff) as u32 + 1
}

/// What a record carries besides its content: its segment's tag and its flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub tag: u32,
    pub flags: u8,
}

impl Stamp {
    /// A record of segment `seq` without flags.
    pub const fn of(seq: u64) -> Stamp {
        Stamp {
            tag: segment_tag(seq),
            flags: 0,
        }
    }

    pub const fn with(self, flags: u8) -> Stamp {
        Stamp {
            tag: self.tag,
            flags: self.flags | flags,
        }
    }
}

/// A raft log entry; `data` is opaque to the WAL (the server stores its encoded entry there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// Raft's persistent vote state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

/// Marks that a snapshot at `index`/`term` exists; entries up to `index` are no longer needed.
/// `conf_state` is opaque (the server's encoded raft ConfState).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMark {
    pub index: u64,
    pub term: u64,
    pub conf_state: Vec<u8>,
}

/// One WAL record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// First record of every segment; `prev_crc` is the CRC of the previous segment's last
    /// record (0 for the very first segment) and seeds this segment's chain.
    SegmentHeader {
        prev_crc: u32,
        seq: u64,
    },
    Entry(Entry),
    HardState(HardState),
    Snapshot(SnapshotMark),
    /// Every entry after this index is gone: a follower that installs a leader's snapshot
    /// drops a log that disagrees with it (raft's InstallSnapshot rule).
    TruncateAfter(u64),
}

/// Why a record failed to decode. Offsets are added by the scanner.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordError {
    #[error("record header checksum mismatch")]
    HeaderChecksum,
    #[error("record checksum mismatch (expected {expected:#010x}, found {found:#010x})")]
    Checksum { expected: u32, found: u32 },
    #[error("non-zero padding after the payload")]
    Padding,
    #[error("unknown record type {0}")]
    UnknownType(u8),
    #[error("malformed {kind} payload of {len} bytes")]
    Payload { kind: &'static str, len: usize },
    #[error("segment header record where it does not belong")]
    MisplacedSegmentHeader,
    #[error("segment does not start with a segment header record")]
    MissingSegmentHeader,
    #[error(
        "untagged record: written by a ringkv before WAL segment recycling, which this version cannot read"
    )]
    UntaggedRecord,
    #[error("record of segment tag {found:#08x} in the segment tagged {expected:#08x}")]
    ForeignTag { expected: u32, found: u32 },
    #[error("records of a later write follow a missing record")]
    MissingBeforeLaterWrite,
}

/// Rounds `n` up to the record alignment.
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

impl Record {
    fn type_byte(&self) -> u8 {
        match self {
            Record::SegmentHeader { .. } => TYPE_SEGMENT_HEADER,
            Record::Entry(_) => TYPE_ENTRY,
            Record::HardState(_) => TYPE_HARD_STATE,
            Record::Snapshot(_) => TYPE_SNAPSHOT,
            Record::TruncateAfter(_) => TYPE_TRUNCATE,
        }
    }

    fn payload_len(&self) -> usize {
        match self {
            Record::SegmentHeader { .. } => 12,
            Record::Entry(e) => entry_payload_len(e),
            Record::HardState(_) => 24,
            Record::Snapshot(s) => 16 + s.conf_state.len(),
            Record::TruncateAfter(_) => 8,
        }
    }

    /// Bytes this record occupies on disk, header and padding included.
    pub fn encoded_len(&self) -> usize {
        align_up(HEADER_LEN + self.payload_len())
    }

    /// Appends the encoded record to `out`, chained from `prev_crc` and stamped with
    /// `stamp`; returns its CRC, which seeds the next record (a segment header ignores
    /// `prev_crc` and chains from the CRC it carries). Payloads over 4 GiB are the caller's
    /// bug (the log caps records far below that), hence the `expect`.
    pub fn encode(&self, prev_crc: u32, stamp: Stamp, out: &mut impl RecordBuf) -> u32 {
        // A segment header starts a new chain, seeded with the CRC it carries.
        let seed = match self {
            Record::SegmentHeader { prev_crc, .. } => *prev_crc,
            _ => prev_crc,
        };
        let mut w = Sealer::begin(out, self.type_byte(), stamp, seed);
        match self {
            Record::SegmentHeader { prev_crc, seq } => {
                w.put(&prev_crc.to_le_bytes());
                w.put(&seq.to_le_bytes());
            }
            Record::Entry(e) => w.put_entry(e),
            Record::HardState(h) => {
                w.put(&h.term.to_le_bytes());
                w.put(&h.vote.to_le_bytes());
                w.put(&h.commit.to_le_bytes());
            }
            Record::Snapshot(s) => {
                w.put(&s.index.to_le_bytes());
                w.put(&s.term.to_le_bytes());
                w.put(&s.conf_state);
            }
            Record::TruncateAfter(index) => w.put(&index.to_le_bytes()),
        }
        w.seal()
    }
}

/// Where records are encoded: a `Vec`, or the log's block-aligned [`Blocks`].
pub trait RecordBuf: std::ops::DerefMut<Target = [u8]> {
    fn reserve(&mut self, additional: usize);
    /// Sets the length; new bytes are zero.
    fn resize_zeroed(&mut self, len: usize);
    fn extend_from_slice(&mut self, bytes: &[u8]);
}

impl RecordBuf for Vec<u8> {
    fn reserve(&mut self, additional: usize) {
        Vec::reserve(self, additional);
    }
    fn resize_zeroed(&mut self, len: usize) {
        self.resize(len, 0);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

impl RecordBuf for Blocks {
    fn reserve(&mut self, additional: usize) {
        Blocks::reserve(self, additional);
    }
    fn resize_zeroed(&mut self, len: usize) {
        Blocks::resize_zeroed(self, len);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Blocks::extend_from_slice(self, bytes);
    }
}

fn entry_payload_len(e: &Entry) -> usize {
    16 + e.data.len()
}

/// [`Record::encoded_len`] of an entry, from a borrowed one.
pub fn entry_encoded_len(e: &Entry) -> usize {
    align_up(HEADER_LEN + entry_payload_len(e))
}

/// [`Record::encode`] of an entry, from a borrowed one: the log appends every raft entry
/// this way, so its payload is copied once, into the record buffer.
pub fn encode_entry(e: &Entry, prev_crc: u32, stamp: Stamp, out: &mut impl RecordBuf) -> u32 {
    out.reserve(entry_encoded_len(e));
    let mut w = Sealer::begin(out, TYPE_ENTRY, stamp, prev_crc);
    w.put_entry(e);
    w.seal()
}

/// Writes one record: header space, then the payload in pieces, hashing each piece as it
/// goes, then the header and padding. The CRC comes from the pieces rather than from reading
/// the payload back out of `out`: the log's buffers were last read by an O_DIRECT write, so
/// they are cold in the cache, and reading 256 KiB back doubled the time to encode it.
struct Sealer<'a, B: RecordBuf> {
    out: &'a mut B,
    start: usize,
    type_byte: u8,
    stamp: Stamp,
    crc: crc32fast::Hasher,
}

impl<'a, B: RecordBuf> Sealer<'a, B> {
    fn begin(out: &'a mut B, ty: u8, stamp: Stamp, seed: u32) -> Self {
        let start = out.len();
        out.resize_zeroed(start + HEADER_LEN);
        let type_byte = ty | stamp.flags;
        let mut crc = crc32fast::Hasher::new_with_initial(seed);
        crc.update(&[type_byte]);
        Sealer {
            out,
            start,
            type_byte,
            stamp,
            crc,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.crc.update(bytes);
    }

    fn put_entry(&mut self, e: &Entry) {
        self.put(&e.index.to_le_bytes());
        self.put(&e.term.to_le_bytes());
        self.put(&e.data);
    }

    /// Fills in the header, pads the record, and returns its CRC ([`chained_crc`] of the
    /// payload).
    fn seal(self) -> u32 {
        let Sealer {
            out,
            start,
            type_byte,
            stamp,
            crc,
        } = self;
        let payload_len = out.len() - start - HEADER_LEN;
        let len = u32::try_from(payload_len).expect("record payload over 4 GiB");
        let crc = crc.finalize();
        let header = &mut out[start..start + HEADER_LEN];
        header[0..4].copy_from_slice(&len.to_le_bytes());
        header[4] = type_byte;
        header[5..8].copy_from_slice(&stamp.tag.to_le_bytes()[..3]);
        header[8..12].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc32fast::hash(&header[0..12]);
        header[12..16].copy_from_slice(&hcrc.to_le_bytes());
        out.resize_zeroed(start + align_up(HEADER_LEN + payload_len));
        crc
    }
}

fn chained_crc(prev: u32, ty: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(prev);
    h.update(&[ty]);
    h.update(payload);
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A validated record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub payload_len: usize,
    /// The record type, flags masked off.
    pub ty: u8,
    pub stamp: Stamp,
    pub crc: u32,
}

impl Header {
    fn type_byte(&self) -> u8 {
        self.ty | self.stamp.flags
    }

    /// Bytes the whole record occupies, padding included.
    pub fn record_len(&self) -> usize {
        align_up(HEADER_LEN + self.payload_len)
    }
}

/// Parses a 16-byte header. `Ok(None)` for an all-zero header (end of records).
pub fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<Option<Header>, RecordError> {
    if bytes.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let stored = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc32fast::hash(&bytes[0..12]) != stored {
        return Err(RecordError::HeaderChecksum);
    }
    Ok(Some(Header {
        payload_len: u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize,
        ty: bytes[4] & TYPE_MASK,
        stamp: Stamp {
            tag: u32::from_le_bytes([bytes[5], bytes[6], bytes[7], 0]),
            flags: bytes[4] & !TYPE_MASK,
        },
        crc: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
    }))
}

/// Checks the chained CRC and padding of a record whose header is `header` and whose
/// payload and padding are `body` (exactly `record_len - HEADER_LEN` bytes), then decodes it.
/// `prev_crc` is `None` for the first record of a segment, which must be a segment header
/// and is chained from the `prev_crc` it carries.
pub fn decode_body(
    header: &Header,
    body: &[u8],
    prev_crc: Option<u32>,
) -> Result<Record, RecordError> {
    let payload = body.get(..header.payload_len).ok_or(RecordError::Payload {
        kind: "truncated",
        len: body.len(),
    })?;
    let seed = match prev_crc {
        Some(seed) => seed,
        None if header.ty == TYPE_SEGMENT_HEADER => {
            u32_at(payload, 0).ok_or(RecordError::Payload {
                kind: "segment header",
                len: payload.len(),
            })?
        }
        None => return Err(RecordError::MissingSegmentHeader),
    };
    let expected = chained_crc(seed, header.type_byte(), payload);
    if expected != header.crc {
        return Err(RecordError::Checksum {
            expected,
            found: header.crc,
        });
    }
    if body[header.payload_len..].iter().any(|&b| b != 0) {
        return Err(RecordError::Padding);
    }
    let bad = |kind| RecordError::Payload {
        kind,
        len: payload.len(),
    };
    match header.ty {
        TYPE_SEGMENT_HEADER => {
            if prev_crc.is_some() {
                return Err(RecordError::MisplacedSegmentHeader);
            }
            if payload.len() != 12 {
                return Err(bad("segment header"));
            }
            Ok(Record::SegmentHeader {
                prev_crc: seed,
                seq: u64_at(payload, 4).ok_or(bad("segment header"))?,
            })
        }
        TYPE_ENTRY => {
            let index = u64_at(payload, 0).ok_or(bad("entry"))?;
            let term = u64_at(payload, 8).ok_or(bad("entry"))?;
            Ok(Record::Entry(Entry {
                index,
                term,
                data: payload.get(16..).unwrap_or_default().to_vec(),
            }))
        }
        TYPE_HARD_STATE => {
            if payload.len() != 24 {
                return Err(bad("hard state"));
            }
            Ok(Record::HardState(HardState {
                term: u64_at(payload, 0).ok_or(bad("hard state"))?,
                vote: u64_at(payload, 8).ok_or(bad("hard state"))?,
                commit: u64_at(payload, 16).ok_or(bad("hard state"))?,
            }))
        }
        TYPE_SNAPSHOT => {
            let index = u64_at(payload, 0).ok_or(bad("snapshot"))?;
            let term = u64_at(payload, 8).ok_or(bad("snapshot"))?;
            Ok(Record::Snapshot(SnapshotMark {
                index,
                term,
                conf_state: payload.get(16..).unwrap_or_default().to_vec(),
            }))
        }
        TYPE_TRUNCATE => {
            if payload.len() != 8 {
                return Err(bad("truncate"));
            }
            Ok(Record::TruncateAfter(
                u64_at(payload, 0).ok_or(bad("truncate"))?,
            ))
        }
        other => Err(RecordError::UnknownType(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(r: &Record, prev: u32) -> (Vec<u8>, u32) {
        let mut out = Vec::new();
        let crc = r.encode(prev, Stamp::of(0), &mut out);
        (out, crc)
    }

    fn decode(bytes: &[u8], prev: Option<u32>) -> Result<Record, RecordError> {
        let h = decode_header(bytes[..HEADER_LEN].try_into().unwrap())?.unwrap();
        decode_body(&h, &bytes[HEADER_LEN..h.record_len()], prev)
    }

    #[test]
    fn every_type_round_trips_and_is_aligned() {
        let records = [
            Record::SegmentHeader {
                prev_crc: 0xdead_beef,
                seq: 7,
            },
            Record::Entry(Entry {
                index: 5,
                term: 2,
                data: b"hello".to_vec(),
            }),
            Record::Entry(Entry {
                index: 6,
                term: 2,
                data: vec![],
            }),
            Record::HardState(HardState {
                term: 3,
                vote: 1,
                commit: 9,
            }),
            Record::Snapshot(SnapshotMark {
                index: 4,
                term: 2,
                conf_state: vec![1, 2, 3],
            }),
            Record::TruncateAfter(4),
        ];
        for r in &records {
            let (bytes, crc) = one(r, 42);
            assert_eq!(bytes.len() % ALIGN, 0);
            assert_eq!(bytes.len(), r.encoded_len());
            let prev = match r {
                Record::SegmentHeader { .. } => None,
                _ => Some(42),
            };
            assert_eq!(&decode(&bytes, prev).unwrap(), r);
            assert_eq!(
                decode_header(bytes[..16].try_into().unwrap())
                    .unwrap()
                    .unwrap()
                    .crc,
                crc
            );
        }
    }

    #[test]
    fn the_chain_binds_a_record_to_its_predecessor() {
        let r = Record::Entry(Entry {
            index: 1,
            term: 1,
            data: b"x".to_vec(),
        });
        let (bytes, _) = one(&r, 1);
        assert!(matches!(
            decode(&bytes, Some(2)),
            Err(RecordError::Checksum { .. })
        ));
    }

    #[test]
    fn a_damaged_length_is_caught_by_the_header_crc() {
        let (mut bytes, _) = one(&Record::HardState(HardState::default()), 0);
        bytes[1] ^= 1;
        assert_eq!(
            decode_header(bytes[..16].try_into().unwrap()),
            Err(RecordError::HeaderChecksum)
        );
    }

    #[test]
    fn padding_must_be_zero() {
        let (mut bytes, _) = one(
            &Record::Entry(Entry {
                index: 1,
                term: 1,
                data: vec![9],
            }),
            0,
        );
        *bytes.last_mut().unwrap() = 1;
        assert_eq!(decode(&bytes, Some(0)), Err(RecordError::Padding));
    }

    #[test]
    fn zero_header_is_the_end() {
        assert_eq!(decode_header(&[0; 16]), Ok(None));
    }

    #[test]
    fn a_segment_must_open_with_its_header() {
        let (bytes, _) = one(&Record::HardState(HardState::default()), 0);
        assert_eq!(decode(&bytes, None), Err(RecordError::MissingSegmentHeader));
        let (bytes, _) = one(
            &Record::SegmentHeader {
                prev_crc: 0,
                seq: 0,
            },
            5,
        );
        // A segment header in the middle of a segment is refused even if its CRC chains.
        let h = decode_header(bytes[..16].try_into().unwrap())
            .unwrap()
            .unwrap();
        let mut again = Vec::new();
        let seed = 0;
        Record::SegmentHeader {
            prev_crc: 0,
            seq: 0,
        }
        .encode(seed, Stamp::of(0), &mut again);
        assert_eq!(
            decode_body(&h, &again[16..], Some(0)),
            Err(RecordError::MisplacedSegmentHeader)
        );
    }
}
