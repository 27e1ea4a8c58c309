//! The read-only memory map readers take pages from.
//!
//! Growth design: the map is reserved larger than the file (at least 256 MiB, then doubling,
//! then in 1 GiB steps), as bbolt does, so most growth needs no remap at all: the writer extends
//! the file with `pwrite` and the new pages simply appear inside the existing reservation. When
//! the file outgrows the reservation the writer makes a new, larger `Mapping` and publishes it
//! with the next snapshot; every snapshot holds an `Arc` of the mapping it was published with,
//! so the old map stays valid until its last reader drops. Nothing a reader holds is ever
//! unmapped under it, and no reader ever waits for a remap.
//!
//! Bytes are handed out per page run, never as one slice over the whole map, because the
//! writer is concurrently `pwrite`-ing other (free) pages of the same file.

use std::fs::File;

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};

use super::page::{PAGE_SIZE, PageId};
use crate::error::{Error, Result};

const MIN_RESERVATION: u64 = 256 << 20;
const STEP: u64 = 1 << 30;

/// How many bytes to reserve for a file of `pages` pages.
pub fn reservation_for(pages: u64) -> u64 {
    let need = pages.saturating_mul(PAGE_SIZE as u64);
    if need <= MIN_RESERVATION / 2 {
        MIN_RESERVATION
    } else if need < STEP {
        (need * 2).next_power_of_two()
    } else {
        (need / STEP + 2) * STEP
    }
}

pub struct Mapping {
    raw: MmapRaw,
}

impl Mapping {
    pub fn new(file: &File, len: u64) -> std::io::Result<Mapping> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let raw = MmapOptions::new().len(len).map_raw_read_only(file)?;
        Ok(Mapping { raw })
    }

    /// Drops every page of the map from this process's page tables (`MADV_DONTNEED`). The
    /// pages stay in the page cache, and the next read of one maps it back with a minor
    /// fault. Copy-on-write moves a page to a new place in the file at every change, and a
    /// reader (the writer's own search included) maps each place it reads: without this the
    /// process's RSS climbs to the whole file, pages nobody needs anymore included.
    pub fn release_resident(&self) {
        // SAFETY: the map is a read-only shared map of the file. Dropping its pages changes
        // no byte a reader sees: the next access maps the same page-cache page again.
        // Failure only leaves the pages mapped, which is harmless, so it is ignored.
        let _ = unsafe { self.raw.unchecked_advise(UncheckedAdvice::DontNeed) };
    }

    /// Pages the reservation covers (not all of them exist in the file).
    pub fn pages(&self) -> u64 {
        (self.raw.len() / PAGE_SIZE) as u64
    }

    /// The bytes of pages `[id, id + n)`, which must lie below `limit` (the snapshot's
    /// high-water mark, itself never past the end of the file).
    pub fn run(&self, id: PageId, n: u64, limit: u64) -> Result<&[u8]> {
        let end = id
            .checked_add(n)
            .ok_or_else(|| Error::corrupt(id, "page run overflows"))?;
        if n == 0 || end > limit || end > self.pages() {
            return Err(Error::corrupt(id, "page beyond the high-water mark"));
        }
        let start = id as usize * PAGE_SIZE;
        let len = n as usize * PAGE_SIZE;
        // SAFETY: `[start, start + len)` lies inside the mapping (checked above against
        // `self.pages()`) and inside the file (below `limit`, the high-water mark of a snapshot
        // whose pages were all written before it was published; the file never shrinks while
        // open), so the memory is mapped and backed: no SIGBUS. The slice borrows `self`, which
        // the snapshot keeps alive. Its bytes do not change while borrowed: pages below a
        // snapshot's high-water mark that its trees reach are never rewritten until every
        // reader of that snapshot is gone (freelist reuse bound), and the writer only writes
        // pages nobody can reach. (A corrupt file can point a reader at a free page; then it
        // may read bytes being written, which can yield garbage but is caught by the bounds
        // checks every decoder does.)
        Ok(unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(start), len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_grows_ahead_of_the_file() {
        assert_eq!(reservation_for(2), MIN_RESERVATION);
        let p = (200u64 << 20) / PAGE_SIZE as u64;
        assert!(reservation_for(p) >= 2 * (200 << 20));
        let p = (5u64 << 30) / PAGE_SIZE as u64;
        assert!(reservation_for(p) > 5 << 30);
    }
}
