//! Online defragmentation: shrink the file in place while readers and the writer go on.
//!
//! etcd's defragment copies the whole bbolt file into a new one while every request waits.
//! Here the file shrinks where it is: short write transactions move every node and overflow
//! value that lies above a target page into free pages below it (copy-on-write does the
//! moving: a node the writer copies is written to the lowest free page at commit), then
//! checkpoints let the pages left behind become free, and a last durable commit cuts the free
//! tail off the file. Between two steps the writer lock is free, so the server's own writes
//! wait for at most one step; readers never wait.

use crate::db::Db;
use crate::error::Result;
use crate::page_store::meta::TABLES;
use crate::txn::Table;

/// Nodes one step moves: a few MiB of writes, a few milliseconds of holding the writer.
const NODES_PER_STEP: usize = 512;
/// Rounds of "checkpoint twice, cut the tail": a checkpoint's own freelist run may sit in
/// the tail the first time; the next round frees it.
const CUT_ROUNDS: usize = 4;

/// What a defragmentation achieved, in bytes of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragReport {
    pub size_before: u64,
    pub size_after: u64,
}

impl Db {
    /// Shrinks the file to about the pages in use (see the module comment). `between_steps`
    /// runs after each step with the writer lock released: the caller's chance to let other
    /// writers in. Pages a long-running reader still holds stay where they are.
    pub fn defragment(&self, between_steps: &mut dyn FnMut()) -> Result<DefragReport> {
        let size_before = self.size();
        let (target, hwm) = {
            let w = self.begin_write()?;
            (w.relocation_target(), w.hwm())
        };
        if target >= hwm {
            // Too few free pages to be worth the checkpoints.
            return Ok(DefragReport {
                size_before,
                size_after: size_before,
            });
        }
        for index in 0..TABLES {
            let Some(table) = Table::new(index as u8) else {
                continue;
            };
            let mut from = Some(Vec::new());
            while let Some(key) = from {
                let mut w = self.begin_write()?;
                from = w.relocate(table, &key, target, NODES_PER_STEP)?;
                w.commit(false)?;
                between_steps();
            }
        }
        for _ in 0..CUT_ROUNDS {
            let before = self.size();
            // Two checkpoints: neither on-disk meta reaches the pages moved away from.
            self.begin_write()?.commit(true)?;
            self.begin_write()?.commit(true)?;
            let mut w = self.begin_write()?;
            w.cut_free_tail();
            w.commit(true)?;
            between_steps();
            if self.size() >= before {
                break;
            }
        }
        Ok(DefragReport {
            size_before,
            size_after: self.size(),
        })
    }
}

impl DefragReport {
    /// Bytes given back to the file system.
    pub fn freed(&self) -> u64 {
        self.size_before.saturating_sub(self.size_after)
    }
}
