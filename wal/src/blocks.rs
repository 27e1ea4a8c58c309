//! [`Blocks`]: the byte buffer records are encoded into, aligned to [`BLOCK`] so that an
//! O_DIRECT write takes it as it is (an unaligned buffer must first be copied into an aligned
//! one: ~24 µs for a 272 KiB job, a tenth of the job). A buffer keeps its memory when it is
//! cleared, and a finished job hands its buffers back through a [`Pool`], so the log encodes
//! into memory that is already faulted in instead of a fresh allocation per job.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use crate::dir::BLOCK;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; BLOCK]);

/// A growable byte buffer whose bytes start on a [`BLOCK`] boundary.
#[derive(Default)]
pub struct Blocks {
    /// Every block here has been initialised; bytes past `len` hold whatever was there.
    blocks: Vec<Block>,
    len: usize,
}

impl Blocks {
    pub fn new() -> Blocks {
        Blocks::default()
    }

    /// A buffer holding a copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Blocks {
        let mut b = Blocks::new();
        b.extend_from_slice(bytes);
        b
    }

    /// Makes room for `additional` more bytes without moving them later.
    pub fn reserve(&mut self, additional: usize) {
        let want = (self.len + additional).div_ceil(BLOCK);
        if want > self.blocks.len() {
            self.blocks.resize(want, Block([0; BLOCK]));
        }
    }

    /// Sets the length; new bytes are zero.
    pub fn resize_zeroed(&mut self, len: usize) {
        if len > self.len {
            self.reserve(len - self.len);
            let from = self.len;
            self.len = len;
            self[from..].fill(0);
        } else {
            self.len = len;
        }
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let from = self.len;
        self.len += bytes.len();
        self[from..].copy_from_slice(bytes);
    }

    /// Empties the buffer, keeping its memory.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Zero-pads to whole blocks.
    pub fn pad_to_block(&mut self) {
        self.resize_zeroed(self.len.div_ceil(BLOCK) * BLOCK);
    }
}

impl Deref for Blocks {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `Block` is a plain byte array with no padding (size == align == BLOCK),
        // every block in `blocks` is initialised, and `len <= blocks.len() * BLOCK`.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().cast::<u8>(), self.len) }
    }
}

impl DerefMut for Blocks {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, borrowed exclusively through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("len", &self.len)
            .field("capacity", &(self.blocks.len() * BLOCK))
            .finish()
    }
}

/// Where finished jobs leave their buffers for the log to encode into again. Holds a few at
/// most: the log keeps one buffer collecting while one job runs.
#[derive(Clone, Default)]
pub struct Pool(Arc<Mutex<Vec<Blocks>>>);

/// Buffers kept beyond this are let go.
const POOL_MAX: usize = 4;
/// A buffer bigger than this (a burst of large entries) is let go rather than kept.
const KEEP_MAX_BYTES: usize = 4 << 20;

impl Pool {
    /// An empty buffer, with memory if one was given back.
    pub fn take(&self) -> Blocks {
        self.lock().pop().unwrap_or_default()
    }

    pub fn give_back(&self, mut b: Blocks) {
        if b.blocks.len() * BLOCK > KEEP_MAX_BYTES {
            return;
        }
        b.clear();
        let mut spare = self.lock();
        if spare.len() < POOL_MAX {
            spare.push(b);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Blocks>> {
        // A buffer list left by a panicking thread is still a list of empty buffers.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_start_on_a_block_and_survive_growth() {
        let mut b = Blocks::new();
        b.extend_from_slice(b"head");
        b.resize_zeroed(BLOCK + 3);
        b.extend_from_slice(b"tail");
        assert!(b.as_ptr().addr().is_multiple_of(BLOCK));
        assert_eq!(&b[..4], b"head");
        assert!(b[4..BLOCK + 3].iter().all(|&x| x == 0));
        assert_eq!(&b[BLOCK + 3..], b"tail");
        b.pad_to_block();
        assert_eq!(b.len(), 2 * BLOCK);
        assert!(b[BLOCK + 7..].iter().all(|&x| x == 0));
    }

    #[test]
    fn a_reused_buffer_reads_zeros_where_it_grows_again() {
        let pool = Pool::default();
        let mut b = pool.take();
        b.extend_from_slice(&[7; 100]);
        pool.give_back(b);
        let mut b = pool.take();
        assert!(b.is_empty());
        b.resize_zeroed(50);
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(Blocks::copy_of(b"abc").to_vec(), b"abc");
    }
}
