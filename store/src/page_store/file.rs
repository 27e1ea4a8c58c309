//! The db file as the writer sees it: positioned reads and writes (never through the map, so
//! a write can't fault and readers' pages are untouched), `fdatasync`, and an exclusive
//! `flock` so two processes never open the same store.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::page::{PAGE_SIZE, PageId};
use crate::error::{Error, Result};

pub struct DbFile {
    pub file: File,
    pub path: PathBuf,
    /// The file's length as the writer last set or saw it, so a commit does not `statx` the
    /// file to learn whether it must grow (only the writer and open change the length).
    len: AtomicU64,
}

impl DbFile {
    pub fn open(path: &Path) -> Result<DbFile> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        // SAFETY: flock on a valid, owned descriptor; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::Locked {
                path: path.to_owned(),
            });
        }
        let len = file.metadata().map_err(io)?.len();
        Ok(DbFile {
            file,
            path: path.to_owned(),
            len: AtomicU64::new(len),
        })
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    pub fn file_len(&self) -> Result<u64> {
        Ok(self.len.load(Ordering::Relaxed))
    }

    fn set_len(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| self.io(e))?;
        self.len.store(len, Ordering::Relaxed);
        Ok(())
    }

    /// Extends the file (with a hole) to at least `pages` pages. Pages a transaction took from
    /// the file end but never wrote (an overflow run it freed again) still count below the
    /// high-water mark, and a meta's high-water mark must never pass the end of the file.
    pub fn ensure_pages(&self, pages: u64) -> Result<()> {
        let want = pages * PAGE_SIZE as u64;
        if self.file_len()? < want {
            self.set_len(want)?;
        }
        Ok(())
    }

    /// Shortens the file to `pages` pages (defragmentation gives its free tail back).
    pub fn truncate_pages(&self, pages: u64) -> Result<()> {
        let want = pages * PAGE_SIZE as u64;
        if self.file_len()? > want {
            self.set_len(want)?;
        }
        Ok(())
    }

    pub fn write_pages(&self, id: PageId, bytes: &[u8]) -> Result<()> {
        let at = id * PAGE_SIZE as u64;
        self.file.write_all_at(bytes, at).map_err(|e| self.io(e))?;
        // A write past the end extends the file.
        self.len
            .fetch_max(at + bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Reads one page; a short file yields the bytes that exist.
    pub fn read_page(&self, id: PageId) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; PAGE_SIZE];
        let mut got = 0;
        while got < PAGE_SIZE {
            let n = self
                .file
                .read_at(&mut buf[got..], id * PAGE_SIZE as u64 + got as u64)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf)
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| self.io(e))
    }

    /// A checkpoint's last step: everything written so far made durable, then the meta page
    /// at `slot`, then that, so a meta never reaches pages that are not on disk.
    pub fn sync_and_write_meta(&self, slot: PageId, meta_page: &[u8]) -> Result<()> {
        self.sync()?;
        self.write_pages(slot, meta_page)?;
        self.sync()
    }

    /// Writes the file's dirty pages back a slice at a time, waiting for each, before a
    /// checkpoint's `fdatasync`: the WAL's syncs on the same disk then wait behind one slice at
    /// most, not behind everything written since the last checkpoint. Only an optimisation of
    /// when the data goes out: durability is the `fdatasync` that follows.
    pub fn write_back(&self) -> Result<()> {
        const SLICE: u64 = 4 << 20;
        let len = self.file_len()?;
        let mut at = 0;
        while at < len {
            let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: sync_file_range on a valid, owned descriptor; no memory is involved.
            let rc = unsafe {
                libc::sync_file_range(self.file.as_raw_fd(), at as i64, SLICE as i64, flags)
            };
            if rc != 0 {
                return Err(self.io(std::io::Error::last_os_error()));
            }
            at += SLICE;
        }
        Ok(())
    }
}
