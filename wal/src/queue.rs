//! Block writes handed to the kernel without waiting for them: a small io_uring per log, so
//! a caller can start a job's O_DIRECT writes ([`crate::log::SyncJob::start`]), do other
//! work while the device writes, and reap them before the fdatasync. An O_DIRECT overwrite
//! of allocated blocks is issued by the kernel at submission and completes from the disk's
//! interrupt: no thread is woken on the way (an fdatasync would be punted to a kernel
//! worker, so it stays a plain blocking call). A job's only write goes with `RWF_DSYNC`
//! and needs no fdatasync after it (see [`QueuedWrite::durable`]).

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;

use io_uring::{IoUring, opcode, types};

/// At most this many writes are queued at once; a job with more writes them plainly.
pub(crate) const MAX_QUEUED: usize = 8;

/// One queued write: `len` bytes at `buf`, to `offset` of `fd`.
pub(crate) struct QueuedWrite {
    pub fd: RawFd,
    pub buf: *const u8,
    pub len: usize,
    pub offset: u64,
    /// Written with `RWF_DSYNC`: it completes only once its data is durable, as if an
    /// fdatasync had followed it. The kernel makes that one FUA write where the device
    /// takes them (most NVMe drives), and a write plus a cache flush elsewhere.
    pub durable: bool,
}

/// The ring. Only one job uses it at a time (the log has one job in flight), so the lock
/// is never contended; it is there because a job may be reaped on another thread.
pub(crate) struct WriteQueue {
    ring: Mutex<IoUring>,
}

impl WriteQueue {
    pub fn new() -> io::Result<WriteQueue> {
        Ok(WriteQueue {
            ring: Mutex::new(IoUring::new(MAX_QUEUED as u32)?),
        })
    }

    /// Queues `writes` (at most [`MAX_QUEUED`]) and submits them. A failed submission is
    /// not an error here: the writes stay queued and [`WriteQueue::reap`] submits them again.
    ///
    /// # Safety
    /// Every buffer must stay allocated, unmoved and unchanged until `reap` returns its
    /// results, and nothing else may be queued on this ring before that.
    pub unsafe fn submit(&self, writes: &[QueuedWrite]) -> io::Result<()> {
        let mut ring = self.lock();
        if writes.len() > MAX_QUEUED || writes.len() > ring.submission().capacity() {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // Every length is checked before anything is queued: a refusal must leave the ring
        // empty, since the caller then writes these buffers itself.
        let lens = writes
            .iter()
            .map(|w| u32::try_from(w.len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput)))
            .collect::<io::Result<Vec<u32>>>()?;
        for (i, (w, len)) in writes.iter().zip(lens).enumerate() {
            let sqe = opcode::Write::new(types::Fd(w.fd), w.buf, len)
                .offset(w.offset)
                .rw_flags(if w.durable { libc::RWF_DSYNC } else { 0 })
                .build()
                .user_data(i as u64);
            // SAFETY: the caller keeps the buffer alive until it is reaped; the queue has
            // room (it is drained by every `reap` and `writes` fits its capacity).
            unsafe { ring.submission().push(&sqe) }
                .map_err(|_| io::Error::other("write queue full"))?;
        }
        if let Err(e) = ring.submit() {
            tracing::debug!(error = %e, "queued WAL writes not submitted yet; reaping submits them");
        }
        Ok(())
    }

    /// Waits for the `n` writes last submitted; their results (bytes written, or a negative
    /// errno) in submission order.
    pub fn reap(&self, n: usize) -> io::Result<Vec<i32>> {
        let mut ring = self.lock();
        let mut results: Vec<Option<i32>> = vec![None; n];
        let mut got = 0;
        while got < n {
            match ring.submit_and_wait(n - got) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for cqe in ring.completion() {
                let slot = usize::try_from(cqe.user_data())
                    .ok()
                    .and_then(|i| results.get_mut(i));
                if let Some(slot @ None) = slot {
                    *slot = Some(cqe.result());
                    got += 1;
                }
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(0)).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IoUring> {
        // A panic while holding the lock leaves the ring as the kernel sees it: still usable.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}
