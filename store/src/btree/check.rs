//! Structural verification of one tree, as `bbolt check` does: every page's checksum and
//! header (a node spanning several pages as its whole run), key order within and across pages
//! (each key inside the bounds its parent gives), all leaves at one depth, overflow runs well
//! formed, and no page reachable twice. The caller adds the freelist and the metas and checks
//! that together they cover the file exactly.

use std::collections::BTreeSet;

use super::node::Child;
use super::page_view::{NodeView, PageView, ValueRef, run_pages};
use crate::error::{Error, Result};
use crate::page_store::page::{HEADER_LEN, Header, PageId, PageKind, pages_for, verify};

/// Raw page runs of one snapshot.
pub trait RawPages {
    fn run(&self, id: PageId, n: u64) -> Result<&[u8]>;
}

/// What a check saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeStats {
    pub branch_pages: u64,
    pub leaf_pages: u64,
    pub overflow_pages: u64,
    pub keys: u64,
    /// Branch and leaf nodes spanning more than one page (they hold long keys).
    pub multi_page_nodes: u64,
    /// Levels of the tallest tree checked (a lone root leaf is 1).
    pub height: u64,
}

pub struct Checker<'a, P: RawPages> {
    pub pages: &'a P,
    pub seen: BTreeSet<PageId>,
    pub stats: TreeStats,
    leaf_depth: Option<usize>,
}

impl<'a, P: RawPages> Checker<'a, P> {
    pub fn new(pages: &'a P) -> Self {
        Checker {
            pages,
            seen: BTreeSet::new(),
            stats: TreeStats::default(),
            leaf_depth: None,
        }
    }

    fn claim(&mut self, id: PageId) -> Result<()> {
        if !self.seen.insert(id) {
            return Err(Error::corrupt(id, "page reachable twice"));
        }
        Ok(())
    }

    pub fn tree(&mut self, root: PageId) -> Result<()> {
        self.leaf_depth = None;
        self.node(root, None, None, 0)
    }

    fn node(
        &mut self,
        id: PageId,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        depth: usize,
    ) -> Result<()> {
        if depth > 64 {
            return Err(Error::corrupt(id, "tree deeper than 64 levels"));
        }
        let pages = run_pages(self.pages.run(id, 1)?, id)?;
        let run = self.pages.run(id, pages)?;
        verify(run, id)?;
        let view = NodeView::Page(PageView::new(run, id)?);
        for p in id..id + pages {
            self.claim(p)?;
        }
        if pages > 1 {
            self.stats.multi_page_nodes += 1;
        }
        self.stats.height = self.stats.height.max(depth as u64 + 1);
        let n = view.len();
        let in_bounds = |k: &[u8]| lower.is_none_or(|l| k >= l) && upper.is_none_or(|u| k < u);
        let mut prev: Option<&[u8]> = None;
        let leaf = view.is_leaf();
        for i in 0..n {
            let k = view.key(i)?;
            if prev.is_some_and(|p| p >= k) {
                return Err(Error::corrupt(id, "keys out of order"));
            }
            // Key 0 of a branch is not consulted, so it need not lie within the bounds.
            if (leaf || i > 0) && !in_bounds(k) {
                return Err(Error::corrupt(
                    id,
                    "key outside the bounds its parent gives",
                ));
            }
            prev = Some(k);
        }
        if leaf {
            match self.leaf_depth {
                None => self.leaf_depth = Some(depth),
                Some(d) if d != depth => {
                    return Err(Error::corrupt(id, "leaves at different depths"));
                }
                Some(_) => {}
            }
            self.stats.leaf_pages += pages;
            self.stats.keys += n as u64;
            for i in 0..n {
                if let ValueRef::Overflow { page, len } = view.value(i)? {
                    self.overflow(page, len)?;
                }
            }
        } else {
            self.stats.branch_pages += pages;
            for i in 0..n {
                let lo = if i == 0 { lower } else { Some(view.key(i)?) };
                let hi = if i + 1 < n {
                    Some(view.key(i + 1)?)
                } else {
                    upper
                };
                let Child::Page(child) = view.child(i)? else {
                    return Err(Error::corrupt(id, "dirty child on a page"));
                };
                self.node(child, lo, hi, depth + 1)?;
            }
        }
        Ok(())
    }

    fn overflow(&mut self, id: PageId, len: u32) -> Result<()> {
        let n = pages_for(len as usize);
        let run = self.pages.run(id, n)?;
        verify(run, id)?;
        let h = Header::decode(run, id)?;
        if h.kind != PageKind::Overflow || h.count != len || u64::from(h.extra) + 1 != n {
            return Err(Error::corrupt(
                id,
                "overflow header disagrees with its leaf entry",
            ));
        }
        if run.len() < HEADER_LEN + len as usize {
            return Err(Error::corrupt(id, "overflow run too short"));
        }
        for p in id..id + n {
            self.claim(p)?;
        }
        self.stats.overflow_pages += n;
        Ok(())
    }
}
