//! The database handle: opening the file (picking the newest valid meta, loading the
//! freelist), publishing snapshots to readers, the writer's state, and `check`.
//!
//! Durability: every commit `pwrite`s its pages and publishes the new roots to readers; only a
//! `durable` commit also writes the freelist and a meta page, with an `fdatasync` before and
//! after the meta. Between checkpoints the WAL is what makes writes durable (ARCHITECTURE.md
//! "Write path"). Pages reachable from either on-disk meta, or from any live snapshot, are never
//! reused, so a crash at any point reopens at the newest durable meta, and a torn or damaged
//! newest meta falls back to the older one intact.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};

use crate::btree::check::{Checker, RawPages, TreeStats};
use crate::btree::mutator::PageSource;
use crate::btree::node::Child;
use crate::btree::page_view::{NodeView, PageView, TreeSource, run_pages};
use crate::error::{Error, Result};
use crate::page_store::file::DbFile;
use crate::page_store::freelist::Freelist;
use crate::page_store::mapping::{Mapping, reservation_for};
use crate::page_store::meta::{Meta, TABLES, VERSION};
use crate::page_store::page::{
    FIRST_DATA_PAGE, HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, TxId, pages_for, verify,
};
use crate::txn::{ReadTxn, WriteTxn};

/// Pages written (16 MiB) after which a commit unmaps the map's pages
/// ([`Mapping::release_resident`]): copy-on-write puts each changed page somewhere new, and
/// reading it there maps it, so without this RSS would climb to the whole file. Between
/// releases it holds what was read since; a page read again costs a minor fault.
pub(crate) const RELEASE_AFTER_PAGES: u64 = 4 << 10;

/// Pending pages past which a lagging reader is worth a warning.
const PENDING_WARN_PAGES: usize = 1 << 16;

/// One committed state of every table, as readers see it.
pub struct Snapshot {
    pub(crate) map: Arc<Mapping>,
    pub(crate) meta: Meta,
}

impl Snapshot {
    pub(crate) fn root(&self, table: usize) -> Option<Child> {
        match self.meta.roots.get(table) {
            Some(&r) if r != 0 => Some(Child::Page(r)),
            _ => None,
        }
    }
}

impl RawPages for Snapshot {
    fn run(&self, id: PageId, n: u64) -> Result<&[u8]> {
        self.map.run(id, n, self.meta.hwm)
    }
}

impl PageSource for Snapshot {
    fn page(&self, id: PageId) -> Result<PageView<'_>> {
        // A node holding a long key spans several pages: its first page's header says how
        // many, and the map bounds the run, so a corrupt count is an error, not a wild read.
        let n = run_pages(self.run(id, 1)?, id)?;
        PageView::new(self.run(id, n)?, id)
    }
}

impl TreeSource for Snapshot {
    fn node(&self, child: Child) -> Result<NodeView<'_>> {
        match child {
            Child::Page(id) => Ok(NodeView::Page(self.page(id)?)),
            Child::Dirty(_) => Err(Error::corrupt(0, "dirty node in a snapshot")),
        }
    }

    fn overflow(&self, page: PageId, len: u32) -> Result<&[u8]> {
        let run = self.run(page, pages_for(len as usize))?;
        let h = Header::decode(run, page)?;
        if h.kind != PageKind::Overflow || h.count != len {
            return Err(Error::corrupt(
                page,
                "overflow header disagrees with its leaf entry",
            ));
        }
        run.get(HEADER_LEN..HEADER_LEN + len as usize)
            .ok_or_else(|| Error::corrupt(page, "overflow run too short"))
    }
}

/// What only the single writer touches.
pub(crate) struct WriterState {
    pub freelist: Freelist,
    pub hwm: u64,
    pub txid: TxId,
    /// What each meta slot holds on disk; `None` if it did not validate at open.
    pub metas: [Option<Meta>; 2],
    /// The freelist run the newest on-disk meta points at.
    pub freelist_run: Option<(PageId, u64)>,
    pub current: Arc<Snapshot>,
    pub snapshots: Vec<Weak<Snapshot>>,
    pub map: Arc<Mapping>,
    pub poisoned: bool,
    pub warned_at: TxId,
    /// Pages written since the map's pages were last unmapped (see [`RELEASE_AFTER_PAGES`]).
    pub written_since_release: u64,
}

/// An open store file. `Sync`: share it (e.g. in an `Arc`) between the writer and readers.
pub struct Db {
    pub(crate) file: DbFile,
    current: Mutex<Arc<Snapshot>>,
    writer: Mutex<WriterState>,
    pub(crate) checkpoints: Checkpoints,
    /// Free pages as of the latest commit, so size reporting never waits for the writer.
    free_pages: AtomicU64,
}

/// A checkpoint whose pages are written and published but not yet durable (see
/// [`Db::begin_checkpoint`]). Until it finishes, the older metas stay the on-disk ones, and
/// the freelist keeps every page they reach from reuse (their txids bound it), so a crash at
/// any point reopens at the older meta intact, as for a checkpoint made all at once.
pub struct Checkpoint {
    db: Arc<Db>,
    slot: usize,
    meta: Meta,
    finished: bool,
}

impl Checkpoint {
    /// Makes the checkpoint durable: its pages, then its meta. Blocking disk I/O without the
    /// writer lock. A failure poisons the store, as a failed durable commit does.
    pub fn finish(mut self) -> Result<()> {
        let file = &self.db.file;
        let slot = self.slot as PageId;
        let written = file
            .write_back()
            .and_then(|()| file.sync_and_write_meta(slot, &self.meta.encode(slot)));
        self.finished = true;
        self.db
            .checkpoints
            .finished(written.is_ok().then_some((self.slot, self.meta)));
        written
    }
}

impl Drop for Checkpoint {
    /// Dropped unfinished (its owner failed): the store is poisoned rather than leave the next
    /// durable commit waiting for it.
    fn drop(&mut self) {
        if !self.finished {
            self.db.checkpoints.finished(None);
        }
    }
}

/// Where a deferred checkpoint stands, between the writer and whoever finishes it.
#[derive(Default)]
pub(crate) struct Checkpoints {
    progress: Mutex<Progress>,
    changed: Condvar,
}

#[derive(Default)]
enum Progress {
    #[default]
    Idle,
    Running,
    /// Durable: the writer records the meta in its slot at its next transaction.
    Written {
        slot: usize,
        meta: Meta,
    },
    Failed,
}

impl Checkpoints {
    pub(crate) fn start(&self) {
        *self.lock() = Progress::Running;
    }

    fn finished(&self, written: Option<(usize, Meta)>) {
        *self.lock() = match written {
            Some((slot, meta)) => Progress::Written { slot, meta },
            None => Progress::Failed,
        };
        self.changed.notify_all();
    }

    /// Records a finished checkpoint's meta in the writer's state; with `wait`, waits for a
    /// running one first (only the finishing side takes this lock, never the writer's).
    pub(crate) fn collect(&self, state: &mut WriterState, wait: bool) -> Result<()> {
        let mut progress = self.lock();
        while wait && matches!(*progress, Progress::Running) {
            progress = self
                .changed
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match std::mem::take(&mut *progress) {
            Progress::Written { slot, meta } => state.metas[slot] = Some(meta),
            Progress::Failed => {
                state.poisoned = true;
                return Err(Error::Poisoned);
            }
            Progress::Running => *progress = Progress::Running,
            Progress::Idle => {}
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one page run of the file holds, as `ringkv debug` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub id: PageId,
    /// Pages in the run (1 + the header's extra pages; 1 for free pages).
    pub pages: u64,
    pub held: PageHeld,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageHeld {
    Meta,
    Branch {
        children: u32,
    },
    Leaf {
        entries: u32,
    },
    Overflow {
        bytes: u32,
    },
    Freelist {
        entries: u32,
    },
    Free,
    /// Freed by transaction `freed_by`; reusable once no reader or meta can reach it.
    Pending {
        freed_by: TxId,
    },
    /// The header does not decode.
    Unreadable {
        reason: String,
    },
}

/// Result of [`Db::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Pages below the high-water mark (the file's used size in pages).
    pub pages: u64,
    pub tree: TreeStats,
    pub free_pages: u64,
    pub pending_pages: u64,
}

impl Db {
    /// Opens (creating if missing) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        let file = DbFile::open(path.as_ref())?;
        let mut len = file.file_len()?;
        if len == 0 {
            let m = Meta::empty();
            file.write_pages(0, &m.encode(0))?;
            file.write_pages(1, &m.encode(1))?;
            file.sync()?;
            len = 2 * PAGE_SIZE as u64;
        }
        let file_pages = len / PAGE_SIZE as u64;
        let pages = [file.read_page(0)?, file.read_page(1)?];
        let m0 = Meta::decode(&pages[0], 0, file_pages);
        let m1 = Meta::decode(&pages[1], 1, file_pages);
        let meta = match (m0, m1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(e0), Err(e1)) => {
                // An intact meta of another format version is not damage: say which it is.
                let other = (0..2).find_map(|slot| {
                    Meta::version_of(&pages[slot], slot as PageId).filter(|&v| v != VERSION)
                });
                if let Some(found) = other {
                    return Err(Error::UnsupportedVersion {
                        path: file.path.clone(),
                        found,
                        supported: VERSION,
                    });
                }
                return Err(Error::NoValidMeta {
                    path: file.path.clone(),
                    meta0: e0.to_string(),
                    meta1: e1.to_string(),
                });
            }
        };
        let metas = [m0.ok(), m1.ok()];
        let map = Mapping::new(&file.file, reservation_for(meta.hwm.max(file_pages))).map_err(
            |source| Error::Io {
                path: file.path.clone(),
                source,
            },
        )?;
        let map = Arc::new(map);
        let (mut freelist, freelist_run) = if meta.freelist == 0 {
            (Freelist::default(), None)
        } else {
            let id = meta.freelist;
            let first = map.run(id, 1, meta.hwm)?;
            let n = u64::from(Header::decode(first, id)?.extra) + 1;
            let run = map.run(id, n, meta.hwm)?;
            verify(run, id)?;
            (Freelist::decode(run, id, meta.hwm)?, Some((id, n)))
        };
        // Pages freed after the older meta are still reachable from it: keep them pending.
        let bound = metas
            .iter()
            .flatten()
            .map(|m| m.txid)
            .min()
            .unwrap_or(meta.txid);
        freelist.release(bound, bound);
        let snap = Arc::new(Snapshot {
            map: map.clone(),
            meta,
        });
        Ok(Db {
            file,
            free_pages: AtomicU64::new(freelist.free_count() as u64),
            current: Mutex::new(snap.clone()),
            checkpoints: Checkpoints::default(),
            writer: Mutex::new(WriterState {
                freelist,
                hwm: meta.hwm,
                txid: meta.txid,
                metas,
                freelist_run,
                snapshots: vec![Arc::downgrade(&snap)],
                current: snap,
                map,
                poisoned: false,
                warned_at: 0,
                written_since_release: 0,
            }),
        })
    }

    /// A read transaction on the latest committed state. It holds no lock while reading and
    /// is `Send`: hand it to any thread.
    pub fn begin_read(&self) -> ReadTxn {
        let snap = match self.current.lock() {
            Ok(g) => g.clone(),
            // The guarded value is a plain Arc swap; a panic elsewhere cannot leave it torn.
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        ReadTxn::new(snap)
    }

    /// The write transaction; waits while another one is open.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        let mut state = self.writer.lock().map_err(|_| Error::Poisoned)?;
        self.checkpoints.collect(&mut state, false)?;
        if state.poisoned {
            return Err(Error::Poisoned);
        }
        state.snapshots.retain(|w| w.strong_count() > 0);
        let oldest_reader = state
            .snapshots
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| s.meta.txid)
            .min()
            .unwrap_or(state.txid);
        let on_disk = state
            .metas
            .iter()
            .flatten()
            .map(|m| m.txid)
            .min()
            .unwrap_or(0);
        state.freelist.release(oldest_reader, on_disk);
        let pending = state.freelist.pending_count();
        if pending > PENDING_WARN_PAGES
            && state.txid >= state.warned_at + 1000
            && oldest_reader < on_disk
        {
            state.warned_at = state.txid;
            tracing::warn!(
                pending_pages = pending,
                oldest_reader_txid = oldest_reader,
                current_txid = state.txid,
                "a long-running read transaction keeps freed pages from reuse; the store file grows"
            );
        }
        Ok(WriteTxn::new(self, state))
    }

    /// Starts a checkpoint that does not hold up the writer: the commit writes every page and
    /// the freelist and publishes as a durable commit does, and the returned [`Checkpoint`]
    /// does the waiting part (fsync, meta, fsync) wherever its owner runs it, while writes go
    /// on. A durable commit or another checkpoint started meanwhile waits for it.
    pub fn begin_checkpoint(self: &Arc<Self>) -> Result<Checkpoint> {
        let (slot, meta) = self.begin_write()?.commit_deferred()?;
        Ok(Checkpoint {
            db: Arc::clone(self),
            slot,
            meta,
            finished: false,
        })
    }

    pub(crate) fn publish(&self, state: &mut MutexGuard<'_, WriterState>, snap: Arc<Snapshot>) {
        state.snapshots.push(Arc::downgrade(&snap));
        state.current = snap.clone();
        self.free_pages
            .store(state.freelist.free_count() as u64, Ordering::Relaxed);
        match self.current.lock() {
            Ok(mut g) => *g = snap,
            Err(poisoned) => *poisoned.into_inner() = snap,
        }
    }

    /// Bytes up to the high-water mark of the latest commit (etcd's dbSize, bbolt's
    /// `tx.Size()`).
    pub fn size(&self) -> u64 {
        self.begin_read().hwm() * PAGE_SIZE as u64
    }

    /// [`Db::size`] less the free pages (etcd's dbSizeInUse).
    pub fn size_in_use(&self) -> u64 {
        let hwm = self.begin_read().hwm();
        hwm.saturating_sub(self.free_pages.load(Ordering::Relaxed)) * PAGE_SIZE as u64
    }

    /// The txid of the latest commit.
    pub fn txid(&self) -> TxId {
        self.begin_read().txid()
    }

    /// Every page run below the high-water mark of the latest commit, in file order: what
    /// each holds according to its header or the freelist. No checksums (see [`Db::check`]).
    pub fn pages(&self) -> Result<Vec<PageInfo>> {
        let state = self.writer.lock().map_err(|_| Error::Poisoned)?;
        let snap = state.current.clone();
        let freed: std::collections::HashMap<PageId, Option<TxId>> =
            state.freelist.entries().collect();
        drop(state);
        let mut out = Vec::new();
        let mut id = 0;
        while id < snap.meta.hwm {
            let (pages, held) = match freed.get(&id) {
                Some(None) => (1, PageHeld::Free),
                Some(Some(tx)) => (1, PageHeld::Pending { freed_by: *tx }),
                None if id < FIRST_DATA_PAGE => (1, PageHeld::Meta),
                None => match snap.run(id, 1).and_then(|page| Header::decode(page, id)) {
                    Ok(h) => {
                        let held = match h.kind {
                            PageKind::Branch => PageHeld::Branch { children: h.count },
                            PageKind::Leaf => PageHeld::Leaf { entries: h.count },
                            PageKind::Overflow => PageHeld::Overflow { bytes: h.count },
                            PageKind::Freelist => PageHeld::Freelist { entries: h.count },
                            PageKind::Meta => PageHeld::Meta,
                        };
                        // Never past the high-water mark, even if `extra` is damaged.
                        let pages = (u64::from(h.extra) + 1).min(snap.meta.hwm - id);
                        (pages, held)
                    }
                    Err(e) => (
                        1,
                        PageHeld::Unreadable {
                            reason: e.to_string(),
                        },
                    ),
                },
            };
            out.push(PageInfo { id, pages, held });
            id += pages;
        }
        Ok(out)
    }

    /// Verifies the latest committed state: every tree (see `btree/check.rs`), and that the
    /// trees, the freelist, its own pages and the two metas account for every page below the
    /// high-water mark exactly once.
    pub fn check(&self) -> Result<CheckReport> {
        let state = self.writer.lock().map_err(|_| Error::Poisoned)?;
        let snap = state.current.clone();
        let mut c = Checker::new(&*snap);
        for t in 0..TABLES {
            if let Some(Child::Page(root)) = snap.root(t) {
                c.tree(root)?;
            }
        }
        let tree = c.stats.clone();
        let mut owned = std::mem::take(&mut c.seen);
        let mut claim = |p: PageId, what: &str| -> Result<()> {
            if p >= snap.meta.hwm {
                return Err(Error::Check(format!(
                    "{what} page {p} beyond the high-water mark"
                )));
            }
            if !owned.insert(p) {
                return Err(Error::Check(format!(
                    "{what} page {p} is also reachable or listed twice"
                )));
            }
            Ok(())
        };
        claim(0, "meta")?;
        claim(1, "meta")?;
        if let Some((id, n)) = state.freelist_run {
            for p in id..id + n {
                claim(p, "freelist")?;
            }
        }
        for p in state.freelist.all() {
            claim(p, "free")?;
        }
        if owned.len() as u64 != snap.meta.hwm {
            let leaked = (0..snap.meta.hwm).find(|p| !owned.contains(p)).unwrap_or(0);
            return Err(Error::Check(format!(
                "{} pages neither reachable nor free (first: {leaked})",
                snap.meta.hwm - owned.len() as u64
            )));
        }
        Ok(CheckReport {
            pages: snap.meta.hwm,
            tree,
            free_pages: state.freelist.free_count() as u64,
            pending_pages: state.freelist.pending_count() as u64,
        })
    }
}
