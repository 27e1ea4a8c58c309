//! The page: the 4 KiB unit of the file, and the 24-byte header every page run starts with.
//! A run is one page or several contiguous ones (a big freelist, an overflow value); its header
//! carries a crc32 over the whole run, its own page id (so a misdirected write is caught), its
//! kind, an item count and how many extra pages follow.
//!
//! Header layout (little-endian): `crc32(4) kind(1) reserved(3) page_id(8) count(4) extra(4)`.

use crate::error::{Error, Result};

/// Index of a page in the file; byte offset is `id * PAGE_SIZE`.
pub type PageId = u64;
/// Transaction id: bumped by every commit.
pub type TxId = u64;

pub const PAGE_SIZE: usize = 4096;
pub const HEADER_LEN: usize = 24;
/// Pages 0 and 1 are the two meta pages; data starts at 2.
pub const FIRST_DATA_PAGE: PageId = 2;

/// What a page run holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PageKind {
    Branch = 1,
    Leaf = 2,
    Overflow = 3,
    Freelist = 4,
    Meta = 5,
}

impl PageKind {
    fn from_u8(b: u8) -> Option<PageKind> {
        Some(match b {
            1 => PageKind::Branch,
            2 => PageKind::Leaf,
            3 => PageKind::Overflow,
            4 => PageKind::Freelist,
            5 => PageKind::Meta,
            _ => return None,
        })
    }
}

/// Number of pages a run needs to hold `payload` bytes after the header.
pub fn pages_for(payload: usize) -> u64 {
    (HEADER_LEN + payload).div_ceil(PAGE_SIZE) as u64
}

/// A decoded, bounds-checked page header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub kind: PageKind,
    pub id: PageId,
    pub count: u32,
    /// Pages after the first that belong to this run.
    pub extra: u32,
}

impl Header {
    /// Decodes the header of the run starting at `bytes` (which must be at least one page) and
    /// checks that it claims to be page `expect`.
    pub fn decode(bytes: &[u8], expect: PageId) -> Result<Header> {
        let kind = bytes
            .get(4)
            .and_then(|b| PageKind::from_u8(*b))
            .ok_or_else(|| Error::corrupt(expect, "unknown page kind"))?;
        let id = read_u64(bytes, 8).ok_or_else(|| Error::corrupt(expect, "short page"))?;
        if id != expect {
            return Err(Error::corrupt(expect, "page header names another page id"));
        }
        let count = read_u32(bytes, 16).ok_or_else(|| Error::corrupt(expect, "short page"))?;
        let extra = read_u32(bytes, 20).ok_or_else(|| Error::corrupt(expect, "short page"))?;
        Ok(Header {
            kind,
            id,
            count,
            extra,
        })
    }

    /// Writes the header into `buf` (checksum left zero; see [`seal`]).
    pub fn encode(&self, buf: &mut [u8]) {
        buf[..HEADER_LEN].fill(0);
        buf[4] = self.kind as u8;
        buf[8..16].copy_from_slice(&self.id.to_le_bytes());
        buf[16..20].copy_from_slice(&self.count.to_le_bytes());
        buf[20..24].copy_from_slice(&self.extra.to_le_bytes());
    }
}

/// Stores the crc32 of `run[4..]` in its first four bytes. `run` is a buffer we built, at least
/// a header long.
pub fn seal(run: &mut [u8]) {
    let crc = crc32fast::hash(&run[4..]);
    run[..4].copy_from_slice(&crc.to_le_bytes());
}

/// Verifies a run's checksum (used by `check`, not on the read path: see ARCHITECTURE.md).
pub fn verify(run: &[u8], id: PageId) -> Result<()> {
    let stored = read_u32(run, 0).ok_or_else(|| Error::corrupt(id, "short page"))?;
    let body = run
        .get(4..)
        .ok_or_else(|| Error::corrupt(id, "short page"))?;
    if crc32fast::hash(body) != stored {
        return Err(Error::corrupt(id, "checksum mismatch"));
    }
    Ok(())
}

pub fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_checksum_catches_flips() {
        let mut buf = vec![0u8; PAGE_SIZE];
        let h = Header {
            kind: PageKind::Leaf,
            id: 7,
            count: 3,
            extra: 0,
        };
        h.encode(&mut buf);
        seal(&mut buf);
        verify(&buf, 7).unwrap();
        let back = Header::decode(&buf, 7).unwrap();
        assert_eq!((back.kind, back.count, back.extra), (PageKind::Leaf, 3, 0));
        assert!(Header::decode(&buf, 8).is_err());
        buf[100] ^= 1;
        assert!(verify(&buf, 7).is_err());
    }
}
