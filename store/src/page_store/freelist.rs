//! The freelist: pages no tree references any more. A page freed by transaction T was
//! reachable from every snapshot older than T, so it stays *pending* until no live reader and
//! neither on-disk meta can be older than T (the reuse bound the writer computes); only then
//! does it become *free* for allocation. This is what lets readers run without locks while
//! the writer recycles pages, and what keeps the older meta a safe fallback after a crash.
//!
//! Pages allocated since the last durable meta (*young* pages) are reachable from neither
//! on-disk meta, so once freed they wait for readers only, not for the next checkpoint.
//! Without that, every non-durable commit between checkpoints (the server checkpoints every
//! `snapshot_count` entries) grew the file by a fresh root-to-leaf path.
//!
//! On disk it is one run of pages holding `(page id, freeing txid)` pairs, txid 0 for free.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::page::{
    FIRST_DATA_PAGE, HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, TxId, pages_for, read_u64,
    seal,
};
use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Freelist {
    free: BTreeSet<PageId>,
    /// Freed pages an on-disk meta may reach, by freeing txid.
    pending: BTreeMap<TxId, Vec<PageId>>,
    /// Freed young pages, by freeing txid: only readers can still reach them.
    pending_young: BTreeMap<TxId, Vec<PageId>>,
    /// Pages allocated since the last durable meta.
    young: HashSet<PageId>,
    /// Total ids in both pending maps, kept so the writer can read it on every transaction
    /// without walking every commit since the last checkpoint.
    pending_len: usize,
}

const ENTRY_LEN: usize = 16;

impl Freelist {
    /// Takes `n` contiguous free pages, lowest first, if there are any.
    pub fn allocate(&mut self, n: u64) -> Option<PageId> {
        let start = if n == 1 {
            *self.free.first()?
        } else {
            let mut run_start = 0;
            let mut run_len = 0;
            let mut found = None;
            for &id in &self.free {
                if run_len > 0 && id == run_start + run_len {
                    run_len += 1;
                } else {
                    run_start = id;
                    run_len = 1;
                }
                if run_len == n {
                    found = Some(run_start);
                    break;
                }
            }
            found?
        };
        for id in start..start + n {
            self.free.remove(&id);
        }
        Some(start)
    }

    /// Records that `[start, start + n)` was allocated after the last durable meta.
    pub fn mark_young(&mut self, start: PageId, n: u64) {
        self.young.extend(start..start + n);
    }

    /// A durable meta was written: every page now in use may be reachable from it.
    pub fn settle(&mut self) {
        self.young.clear();
    }

    /// Makes pages immediately reusable: for pages no committed snapshot ever referenced.
    pub fn free_now(&mut self, start: PageId, n: u64) {
        self.free.extend(start..start + n);
    }

    /// Drops free ids at or above `hwm`: pages an aborted transaction grew the file by.
    pub fn forget_from(&mut self, hwm: PageId) {
        self.free.split_off(&hwm);
        self.young.retain(|&id| id < hwm);
    }

    /// Records pages freed by the commit of `txid`.
    pub fn add_pending(&mut self, txid: TxId, ids: Vec<PageId>) {
        self.pending_len += ids.len();
        let (young, old): (Vec<PageId>, Vec<PageId>) =
            ids.into_iter().partition(|id| self.young.remove(id));
        for (map, ids) in [(&mut self.pending_young, young), (&mut self.pending, old)] {
            if !ids.is_empty() {
                map.entry(txid).or_default().extend(ids);
            }
        }
    }

    /// Frees every young page freed by a transaction `<= readers` and every other pending page
    /// freed by one `<= min(readers, on_disk)`: `readers` is the oldest live snapshot's txid,
    /// `on_disk` the older on-disk meta's.
    pub fn release(&mut self, readers: TxId, on_disk: TxId) {
        for (map, bound) in [
            (&mut self.pending_young, readers),
            (&mut self.pending, readers.min(on_disk)),
        ] {
            let later = map.split_off(&(bound + 1));
            for ids in std::mem::replace(map, later).into_values() {
                self.pending_len -= ids.len();
                self.free.extend(ids);
            }
        }
    }

    /// The lowest page from which every page in use above could move into the free pages
    /// below, with slack for the branches a move rewrites and the freelist's own run. Pending
    /// pages count as in use: they are free only once no reader and no meta can reach them.
    /// `hwm` when nothing is worth moving.
    pub fn relocation_target(&self, hwm: PageId) -> PageId {
        let fits = |t: PageId| {
            let free_below = self.free.range(..t).count() as u64;
            let in_use_above = (hwm - t) - self.free.range(t..).count() as u64;
            free_below >= in_use_above + in_use_above / 16 + 16
        };
        // `fits` turns from false to true as `t` rises: binary search for the first true.
        let (mut lo, mut hi) = (FIRST_DATA_PAGE.min(hwm), hwm);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if fits(mid) { hi = mid } else { lo = mid + 1 }
        }
        lo
    }

    /// Drops the free pages that end the file below `hwm`; returns the new high-water mark.
    pub fn cut_free_tail(&mut self, hwm: PageId) -> PageId {
        let mut end = hwm;
        while end > FIRST_DATA_PAGE && self.free.contains(&(end - 1)) {
            end -= 1;
        }
        self.forget_from(end);
        end
    }

    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    pub fn pending_count(&self) -> usize {
        self.pending_len
    }

    /// Every page the freelist holds, free or pending.
    pub fn all(&self) -> impl Iterator<Item = PageId> + '_ {
        self.free
            .iter()
            .copied()
            .chain(self.pending_entries().map(|(p, _)| p))
    }

    /// Every page the freelist holds, with the txid that freed it if it is still pending.
    pub fn entries(&self) -> impl Iterator<Item = (PageId, Option<TxId>)> + '_ {
        self.free
            .iter()
            .map(|p| (*p, None))
            .chain(self.pending_entries().map(|(p, tx)| (p, Some(tx))))
    }

    fn pending_entries(&self) -> impl Iterator<Item = (PageId, TxId)> + '_ {
        self.pending
            .iter()
            .chain(&self.pending_young)
            .flat_map(|(tx, ids)| ids.iter().map(move |p| (*p, *tx)))
    }

    /// Pages needed to encode this freelist (an upper bound stays valid after allocating, as
    /// allocation only removes entries).
    pub fn encoded_pages(&self) -> u64 {
        pages_for((self.free.len() + self.pending_count()) * ENTRY_LEN)
    }

    /// Encodes into a run starting at page `id` of exactly `pages` pages. Young pending pages
    /// are written as ordinary pending ones: after a restart they wait for both metas, which is
    /// only conservative.
    pub fn encode(&self, id: PageId, pages: u64) -> Vec<u8> {
        let mut buf = vec![0u8; pages as usize * PAGE_SIZE];
        let entries: Vec<(PageId, TxId)> = self
            .free
            .iter()
            .map(|p| (*p, 0))
            .chain(self.pending_entries())
            .collect();
        Header {
            kind: PageKind::Freelist,
            id,
            count: entries.len() as u32,
            extra: (pages - 1) as u32,
        }
        .encode(&mut buf);
        for (i, (p, tx)) in entries.iter().enumerate() {
            let at = HEADER_LEN + i * ENTRY_LEN;
            buf[at..at + 8].copy_from_slice(&p.to_le_bytes());
            buf[at + 8..at + 16].copy_from_slice(&tx.to_le_bytes());
        }
        seal(&mut buf);
        buf
    }

    /// Decodes a freelist run (already checksum-verified by the caller), rejecting ids outside
    /// `[FIRST_DATA_PAGE, hwm)`, duplicates, and ids inside the run itself.
    pub fn decode(run: &[u8], id: PageId, hwm: u64) -> Result<Freelist> {
        let h = Header::decode(run, id)?;
        if h.kind != PageKind::Freelist {
            return Err(Error::corrupt(id, "expected a freelist page"));
        }
        let mut fl = Freelist::default();
        let run_end = id + 1 + u64::from(h.extra);
        let mut seen = BTreeSet::new();
        for i in 0..h.count as usize {
            let at = HEADER_LEN + i * ENTRY_LEN;
            let (Some(p), Some(tx)) = (read_u64(run, at), read_u64(run, at + 8)) else {
                return Err(Error::corrupt(id, "freelist entries run past the page"));
            };
            if !(FIRST_DATA_PAGE..hwm).contains(&p) || (id..run_end).contains(&p) {
                return Err(Error::corrupt(id, "freelist names an impossible page"));
            }
            if !seen.insert(p) {
                return Err(Error::corrupt(id, "freelist names a page twice"));
            }
            if tx == 0 {
                fl.free.insert(p);
            } else {
                // Every page is old after a restart: both metas may reach it.
                fl.pending.entry(tx).or_default().push(p);
                fl.pending_len += 1;
            }
        }
        Ok(fl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_pages_wait_for_the_bound() {
        let mut fl = Freelist::default();
        fl.add_pending(5, vec![10, 11]);
        fl.add_pending(7, vec![12]);
        assert_eq!(fl.allocate(1), None);
        fl.release(6, 6);
        assert_eq!(fl.allocate(2), Some(10));
        assert_eq!(fl.allocate(1), None);
        assert_eq!(fl.pending_count(), 1);
        fl.release(7, 7);
        assert_eq!(fl.pending_count(), 0);
        assert_eq!(fl.allocate(1), Some(12));
    }

    #[test]
    fn young_pages_wait_for_readers_only() {
        let mut fl = Freelist::default();
        fl.mark_young(20, 2);
        fl.add_pending(5, vec![10, 20, 21]);
        // The on-disk meta (txid 3) may reach page 10, but not the pages allocated after it.
        fl.release(5, 3);
        assert_eq!(fl.pending_count(), 1);
        assert_eq!(fl.allocate(2), Some(20));
        fl.release(5, 5);
        assert_eq!(fl.allocate(1), Some(10));
    }

    #[test]
    fn settled_pages_are_old_again() {
        let mut fl = Freelist::default();
        fl.mark_young(20, 1);
        fl.settle();
        fl.add_pending(5, vec![20]);
        fl.release(5, 3);
        assert_eq!(fl.allocate(1), None);
    }

    #[test]
    fn contiguous_runs() {
        let mut fl = Freelist::default();
        fl.free_now(3, 1);
        fl.free_now(5, 3);
        assert_eq!(fl.allocate(3), Some(5));
        assert_eq!(fl.allocate(2), None);
        assert_eq!(fl.allocate(1), Some(3));
    }

    #[test]
    fn relocation_target_leaves_room_below_for_what_lies_above() {
        let mut fl = Freelist::default();
        // 1000 pages: 2..500 free, the rest in use.
        fl.free_now(2, 498);
        let t = fl.relocation_target(1000);
        let in_use_above = 1000 - t;
        assert!(fl.free.range(..t).count() as u64 >= in_use_above + in_use_above / 16 + 16);
        assert!(t < 700, "target {t}");
        // Nothing free: nothing can move.
        assert_eq!(Freelist::default().relocation_target(1000), 1000);
    }

    #[test]
    fn the_free_tail_is_cut() {
        let mut fl = Freelist::default();
        fl.free_now(5, 1);
        fl.free_now(8, 4);
        assert_eq!(fl.cut_free_tail(12), 8);
        assert_eq!(fl.all().collect::<Vec<_>>(), vec![5]);
        assert_eq!(fl.cut_free_tail(7), 7);
    }

    #[test]
    fn encode_decode() {
        let mut fl = Freelist::default();
        fl.free_now(3, 2);
        fl.add_pending(9, vec![8]);
        let pages = fl.encoded_pages();
        let buf = fl.encode(20, pages);
        assert_eq!(Freelist::decode(&buf, 20, 30).unwrap(), fl);
        assert!(Freelist::decode(&buf, 20, 8).is_err());
    }
}
