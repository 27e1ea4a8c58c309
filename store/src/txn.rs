//! Read and write transactions. A [`ReadTxn`] is an `Arc` of a published snapshot: it reads
//! pages straight from the map with no lock, on any thread. A [`WriteTxn`] holds the writer
//! lock, edits copy-on-write nodes in memory, and on `commit` writes them to fresh pages and
//! publishes the new roots; dropping it uncommitted aborts, returning every page it took.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

use crate::btree::cursor::Cursor;
use crate::btree::mutator::Dirty;
use crate::btree::node::{Child, MAX_INLINE_VALUE, MAX_KEY_LEN, MAX_VALUE_LEN, Slice, Value};
use crate::btree::page_view::{self, NodeView, TreeSource};
use crate::db::{Db, RELEASE_AFTER_PAGES, Snapshot, WriterState};
use crate::error::{Error, Result};
use crate::page_store::mapping::{Mapping, reservation_for};
use crate::page_store::meta::{Meta, TABLES};
use crate::page_store::page::{
    HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, TxId, pages_for, seal,
};

/// When a commit is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Published to readers only: between checkpoints the WAL holds the writes.
    Published,
    /// A checkpoint, fsynced before the commit returns.
    Now,
    /// A checkpoint whose fsyncs and meta write are left to a [`crate::Checkpoint`].
    Deferred,
}

/// One of the file's independent trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table(u8);

impl Table {
    /// The table most callers use.
    pub const DEFAULT: Table = Table(0);
    pub const COUNT: usize = TABLES;

    pub const fn new(index: u8) -> Option<Table> {
        if (index as usize) < TABLES {
            Some(Table(index))
        } else {
            None
        }
    }

    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A consistent read-only view of the latest commit at `begin_read`.
pub struct ReadTxn {
    snap: Arc<Snapshot>,
}

/// A forward range over a read transaction.
pub type ReadCursor<'a> = Cursor<'a, Snapshot>;

impl ReadTxn {
    pub(crate) fn new(snap: Arc<Snapshot>) -> ReadTxn {
        ReadTxn { snap }
    }

    /// The commit this transaction sees.
    pub fn txid(&self) -> TxId {
        self.snap.meta.txid
    }

    /// Pages below the high-water mark in the commit this transaction sees.
    pub fn hwm(&self) -> u64 {
        self.snap.meta.hwm
    }

    /// The value of `key`, borrowed from the map (no copy).
    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<&[u8]>> {
        page_view::get(&*self.snap, self.snap.root(table.index()), key)
    }

    /// Keys in `[start, end)` (`end` `None`: to the last key), in order, streamed.
    pub fn range(&self, table: Table, start: &[u8], end: Option<&[u8]>) -> Result<ReadCursor<'_>> {
        Cursor::new(&*self.snap, self.snap.root(table.index()), start, end)
    }

    /// Writes everything this transaction sees into a new store file at `path` (created;
    /// it must not exist yet) and makes it durable: a consistent backup taken while the
    /// writer goes on, compact (no free pages). Memory stays bounded by committing the
    /// copy every few thousand entries.
    pub fn write_copy(&self, path: &std::path::Path) -> Result<()> {
        const ENTRIES_PER_COMMIT: usize = 4096;
        if path.exists() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        let copy = Db::open(path)?;
        for index in 0..TABLES {
            let table = Table(index as u8);
            let mut w = copy.begin_write()?;
            for (n, item) in self.range(table, &[], None)?.enumerate() {
                let (key, value) = item?;
                w.insert(table, key, value)?;
                if (n + 1) % ENTRIES_PER_COMMIT == 0 {
                    w.commit(false)?;
                    w = copy.begin_write()?;
                }
            }
            w.commit(false)?;
        }
        copy.begin_write()?.commit(true)?;
        Ok(())
    }
}

/// The single write transaction.
pub struct WriteTxn<'db> {
    db: &'db Db,
    state: MutexGuard<'db, WriterState>,
    snap: Arc<Snapshot>,
    roots: [Option<Child>; TABLES],
    dirty: Dirty,
    /// Overflow runs allocated by this transaction, written at commit.
    overflow: HashMap<PageId, Vec<u8>>,
    /// Committed overflow runs this transaction replaced.
    freed_overflow: Vec<PageId>,
    /// Runs taken from the freelist or the file end, returned on abort.
    allocated: Vec<(PageId, u64)>,
    begin_hwm: u64,
    /// A durable commit also cuts the free pages that end the file (defragmentation).
    cut_free_tail: bool,
    done: bool,
}

/// A forward range over a write transaction, seeing its own uncommitted changes.
pub type WriteCursor<'a, 'db> = Cursor<'a, WriteTxn<'db>>;

impl TreeSource for WriteTxn<'_> {
    fn node(&self, child: Child) -> Result<NodeView<'_>> {
        match child {
            Child::Page(_) => self.snap.node(child),
            Child::Dirty(i) => self
                .dirty
                .nodes
                .get(i)
                .map(NodeView::Mem)
                .ok_or_else(|| Error::corrupt(0, "dirty node index out of range")),
        }
    }

    fn overflow(&self, page: PageId, len: u32) -> Result<&[u8]> {
        match self.overflow.get(&page) {
            Some(buf) => buf
                .get(HEADER_LEN..HEADER_LEN + len as usize)
                .ok_or_else(|| Error::corrupt(page, "overflow run too short")),
            None => self.snap.overflow(page, len),
        }
    }
}

impl<'db> WriteTxn<'db> {
    pub(crate) fn new(db: &'db Db, state: MutexGuard<'db, WriterState>) -> WriteTxn<'db> {
        let snap = state.current.clone();
        let roots = std::array::from_fn(|t| snap.root(t));
        WriteTxn {
            db,
            begin_hwm: state.hwm,
            state,
            snap,
            roots,
            dirty: Dirty::default(),
            overflow: HashMap::new(),
            freed_overflow: Vec::new(),
            allocated: Vec::new(),
            cut_free_tail: false,
            done: false,
        }
    }

    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<&[u8]>> {
        page_view::get(self, self.roots[table.index()], key)
    }

    pub fn range(
        &self,
        table: Table,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<WriteCursor<'_, 'db>> {
        Cursor::new(self, self.roots[table.index()], start, end)
    }

    fn allocate(&mut self, n: u64) -> PageId {
        let id = allocate_run(&mut self.state, n);
        self.allocated.push((id, n));
        id
    }

    fn free_value(&mut self, v: Value) {
        if let Value::Overflow { page, len } = v {
            let n = pages_for(len as usize);
            if self.overflow.remove(&page).is_some() {
                // Never committed: no reader can have seen it.
                self.state.freelist.free_now(page, n);
            } else {
                self.freed_overflow.extend(page..page + n);
            }
        }
    }

    /// Inserts or replaces `key`. After an error the transaction must be dropped.
    pub fn insert(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::ValueTooLarge {
                len: value.len(),
                max: MAX_VALUE_LEN,
            });
        }
        let stored = if value.len() > MAX_INLINE_VALUE {
            let n = pages_for(value.len());
            let id = self.allocate(n);
            let mut buf = vec![0u8; n as usize * PAGE_SIZE];
            Header {
                kind: PageKind::Overflow,
                id,
                count: value.len() as u32,
                extra: (n - 1) as u32,
            }
            .encode(&mut buf);
            buf[HEADER_LEN..HEADER_LEN + value.len()].copy_from_slice(value);
            seal(&mut buf);
            self.overflow.insert(id, buf);
            Value::Overflow {
                page: id,
                len: value.len() as u32,
            }
        } else {
            Value::Inline(Slice::copy_of(value))
        };
        let old = self
            .dirty
            .insert(&*self.snap, &mut self.roots[table.index()], key, stored)?;
        if let Some(old) = old {
            self.free_value(old);
        }
        Ok(())
    }

    /// Removes `key`; false if it was absent (then nothing is copied).
    pub fn remove(&mut self, table: Table, key: &[u8]) -> Result<bool> {
        if self.get(table, key)?.is_none() {
            return Ok(false);
        }
        let old = self
            .dirty
            .remove(&*self.snap, &mut self.roots[table.index()], key)?;
        let found = old.is_some();
        if let Some(old) = old {
            self.free_value(old);
        }
        Ok(found)
    }

    /// One bounded step of defragmentation over `table`: rewrites, in key order from `from`,
    /// the nodes and overflow values that lie at or above page `target`, about `budget` of
    /// them, so the commit moves them to free pages lower in the file. Returns the key to
    /// continue from, `None` when the table is done. The content does not change.
    pub fn relocate(
        &mut self,
        table: Table,
        from: &[u8],
        target: PageId,
        budget: usize,
    ) -> Result<Option<Vec<u8>>> {
        let mut budget = budget.max(1);
        let mut values = Vec::new();
        let resume = self.dirty.relocate(
            &*self.snap,
            &mut self.roots[table.index()],
            from,
            target,
            &mut budget,
            &mut values,
        )?;
        for key in values {
            // Writing the value again puts it in a fresh run, lowest free pages first.
            if let Some(value) = self.get(table, &key)?.map(<[u8]>::to_vec) {
                self.insert(table, &key, &value)?;
            }
        }
        Ok(resume)
    }

    /// The high-water mark as this transaction began.
    pub(crate) fn hwm(&self) -> u64 {
        self.begin_hwm
    }

    /// Where defragmentation should move pages from (see `Freelist::relocation_target`).
    pub(crate) fn relocation_target(&self) -> PageId {
        self.state.freelist.relocation_target(self.state.hwm)
    }

    /// Makes a durable commit of this transaction also give the free pages that end the file
    /// back to the file system.
    pub fn cut_free_tail(&mut self) {
        self.cut_free_tail = true;
    }

    /// Writes the transaction's pages and publishes it to new readers. `durable` also writes
    /// the freelist and a meta page and fsyncs (a checkpoint). Returns the commit's txid.
    pub fn commit(self, durable: bool) -> Result<TxId> {
        let durability = if durable {
            Durability::Now
        } else {
            Durability::Published
        };
        self.commit_as(durability, &mut || true)
            .map(|(txid, _)| txid)
    }

    /// A published (not durable) commit held back until `gate` returns true: the pages are
    /// written first, so the caller's wait (for the WAL's sync) overlaps none of this work
    /// with the publishing. `Ok(None)`: the gate said no, and the transaction was aborted.
    /// A transaction that changed nothing has nothing to publish and does not ask.
    pub fn commit_gated(self, gate: &mut dyn FnMut() -> bool) -> Result<Option<TxId>> {
        let mut opened = true;
        let committed = self.commit_as(Durability::Published, &mut || {
            opened = gate();
            opened
        })?;
        Ok(opened.then_some(committed.0))
    }

    /// The first half of a deferred checkpoint: a durable commit up to, not including, its
    /// fsyncs and its meta, which are returned with the meta slot to write (see
    /// [`crate::Checkpoint`]).
    pub(crate) fn commit_deferred(self) -> Result<(usize, Meta)> {
        match self.commit_as(Durability::Deferred, &mut || true)? {
            (_, Some(deferred)) => Ok(deferred),
            (_, None) => Err(Error::Check("a deferred checkpoint wrote no meta".into())),
        }
    }

    /// Commits as `durability` says; a published commit asks `gate` before it publishes and
    /// aborts if it says no (the result is then the last published txid).
    fn commit_as(
        mut self,
        durability: Durability,
        gate: &mut dyn FnMut() -> bool,
    ) -> Result<(TxId, Option<(usize, Meta)>)> {
        let durable = durability != Durability::Published;
        if durable {
            // One checkpoint at a time: the slot to write depends on the last one's.
            self.db.checkpoints.collect(&mut self.state, true)?;
        }
        debug_assert!(!(self.cut_free_tail && durability == Durability::Deferred));
        let txid = self.state.txid + 1;
        let mut roots = self.snap.meta.roots;
        let mut out: Vec<(PageId, Vec<u8>)> = Vec::new();
        for (t, root) in roots.iter_mut().enumerate() {
            *root = match self.roots[t] {
                None => 0,
                Some(Child::Page(id)) => id,
                Some(Child::Dirty(i)) => {
                    let state = &mut *self.state;
                    let allocated = &mut self.allocated;
                    let mut alloc = |n| {
                        let id = allocate_run(state, n);
                        allocated.push((id, n));
                        id
                    };
                    self.dirty.write_out(i, &mut alloc, &mut out)
                }
            };
        }
        let changed = !out.is_empty() || !self.overflow.is_empty() || roots != self.snap.meta.roots;
        if !changed && !durable {
            // Nothing to publish, so nothing references the pages this transaction took (an
            // overflow run it freed again): give them back as an abort does, or they would sit
            // on the freelist above the published high-water mark.
            self.give_back();
            self.done = true;
            return Ok((self.state.txid, None));
        }
        for (id, buf) in out.iter().map(|(k, v)| (k, v)).chain(self.overflow.iter()) {
            self.db.file.write_pages(*id, buf)?;
            self.state.written_since_release += (buf.len() / PAGE_SIZE) as u64;
        }
        let mut freed = std::mem::take(&mut self.dirty.freed);
        freed.append(&mut self.freed_overflow);
        let mut meta = Meta {
            txid,
            hwm: self.state.hwm,
            freelist: self.snap.meta.freelist,
            roots,
        };
        let mut deferred = None;
        if durable {
            self.state.poisoned = true;
            if let Some((id, n)) = self.state.freelist_run {
                freed.extend(id..id + n);
            }
            self.state
                .freelist
                .add_pending(txid, std::mem::take(&mut freed));
            if self.cut_free_tail {
                // Free pages reach no reader and no meta; every page this commit wrote was
                // allocated, so none of them lies in the cut.
                let hwm = self.state.hwm;
                self.state.hwm = self.state.freelist.cut_free_tail(hwm);
            }
            let n = self.state.freelist.encoded_pages();
            let id = self.allocate(n);
            let buf = self.state.freelist.encode(id, n);
            self.db.file.write_pages(id, &buf)?;
            meta.freelist = id;
            meta.hwm = self.state.hwm;
            self.db.file.ensure_pages(meta.hwm)?;
            self.ensure_mapping(meta.hwm)?;
            let slot = match self.state.metas {
                [None, _] => 0,
                [_, None] => 1,
                [Some(a), Some(b)] => usize::from(a.txid > b.txid),
            };
            self.state.freelist.settle();
            self.state.freelist_run = Some((id, n));
            if durability == Durability::Deferred {
                self.db.checkpoints.start();
                deferred = Some((slot, meta));
            } else {
                self.db
                    .file
                    .sync_and_write_meta(slot as PageId, &meta.encode(slot as PageId))?;
                if self.cut_free_tail {
                    // Only now that the meta no longer reaches past `hwm`: a crash before this
                    // point reopens the longer file at either meta.
                    self.db.file.truncate_pages(meta.hwm)?;
                }
                self.state.metas[slot] = Some(meta);
            }
            self.state.poisoned = false;
        } else {
            self.db.file.ensure_pages(meta.hwm)?;
            self.ensure_mapping(meta.hwm)?;
            if !gate() {
                // The written pages were allocated here and are referenced by nothing.
                self.give_back();
                self.done = true;
                return Ok((self.state.txid, None));
            }
            self.state.freelist.add_pending(txid, freed);
        }
        let snap = Arc::new(Snapshot {
            map: self.state.map.clone(),
            meta,
        });
        self.state.txid = txid;
        self.db.publish(&mut self.state, snap);
        if self.state.written_since_release >= RELEASE_AFTER_PAGES {
            self.state.map.release_resident();
            self.state.written_since_release = 0;
        }
        self.allocated.clear();
        self.done = true;
        Ok((txid, deferred))
    }

    /// Remaps when the file has outgrown the reservation; the old map lives on in the
    /// snapshots that hold it.
    fn ensure_mapping(&mut self, hwm: u64) -> Result<()> {
        if hwm > self.state.map.pages() {
            let map = Mapping::new(&self.db.file.file, reservation_for(hwm)).map_err(|source| {
                Error::Io {
                    path: self.db.file.path.clone(),
                    source,
                }
            })?;
            self.state.map = Arc::new(map);
        }
        Ok(())
    }
}

/// Takes `n` contiguous pages from the freelist, or from the end of the file.
fn allocate_run(state: &mut WriterState, n: u64) -> PageId {
    let id = state.freelist.allocate(n).unwrap_or_else(|| {
        let id = state.hwm;
        state.hwm += n;
        id
    });
    state.freelist.mark_young(id, n);
    id
}

impl Drop for WriteTxn<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.give_back();
        }
    }
}

impl WriteTxn<'_> {
    /// Abort: everything this transaction took goes back; nothing it freed was published.
    fn give_back(&mut self) {
        let begin_hwm = self.begin_hwm;
        let state = &mut *self.state;
        for (id, n) in self.allocated.drain(..) {
            state.freelist.free_now(id, n);
        }
        state.freelist.forget_from(begin_hwm);
        state.hwm = begin_hwm;
    }
}
