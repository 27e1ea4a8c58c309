//! Insert and remove on the copy-on-write tree. The first time the writer touches a committed
//! page on a root-to-leaf path it copies it into an in-memory [`Node`] and records the page as
//! freed; further edits in the same transaction change that node in place. A node that grows
//! past a page splits at the point that best balances the halves, or, when the entry that
//! overflowed it was appended at its end, keeps the left page 90% full (etcd fills its
//! sequentially written bbolt buckets to 90% for the same reason); one that shrinks under a
//! quarter page merges with a sibling (and re-splits if the two do not fit in one page).
//!
//! Long keys: a leaf splits down to one entry per piece, but a branch keeps at least two
//! children per piece and one of fewer than four is not split at all (bbolt's
//! `minKeysPerPage`); otherwise a long separator would split every level into one-child
//! branches and the tree would grow a level per insert. A node that stays over a page is
//! written as a run of several pages.

use super::node::{Child, Node, Slice, Value};
use super::page_view::{NodeView, PageView, ValueRef};
use crate::error::Result;
use crate::page_store::page::{PAGE_SIZE, PageId};

/// Committed pages the mutator copies from.
pub trait PageSource {
    fn page(&self, id: PageId) -> Result<PageView<'_>>;
}

/// A write transaction's dirty nodes and the committed pages it has replaced.
#[derive(Debug, Default)]
pub struct Dirty {
    pub nodes: Vec<Node>,
    pub freed: Vec<PageId>,
}

type Splits = Vec<(Slice, usize)>;

/// What a relocation walk carries down the tree.
struct Relocation<'a> {
    target: PageId,
    budget: &'a mut usize,
    values: &'a mut Vec<Vec<u8>>,
}

/// How much of a page the left half keeps when an appended entry splits a node: the rest of
/// the page is room for an occasional key inserted between existing ones later.
const APPEND_FILL: usize = PAGE_SIZE * 9 / 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// Halves of (nearly) equal size: random inserts land on either side.
    Balanced,
    /// The overflowing entry was appended: fill the left page, carry the rest right.
    Append,
}

impl Dirty {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Copy-on-write: the arena index of `child`, copying its page in if it is still clean.
    fn touch(&mut self, pages: &impl PageSource, child: Child) -> Result<usize> {
        match child {
            Child::Dirty(i) => Ok(i),
            Child::Page(id) => {
                let page = pages.page(id)?;
                let node = page.to_node()?;
                self.freed.extend(id..id + page.pages());
                Ok(self.push(node))
            }
        }
    }

    /// Copies the child of branch `idx` that covers `key` into the arena and points the
    /// branch at the copy; returns the child's position and arena index.
    fn descend(
        &mut self,
        pages: &impl PageSource,
        idx: usize,
        key: &[u8],
    ) -> Result<(usize, usize)> {
        let view = NodeView::Mem(&self.nodes[idx]);
        let pos = view.child_index(key)?;
        let child = view.child(pos)?;
        let c = self.touch(pages, child)?;
        self.set_child(idx, pos, Child::Dirty(c));
        Ok((pos, c))
    }

    fn set_child(&mut self, parent: usize, pos: usize, child: Child) {
        if let Node::Branch { children, .. } = &mut self.nodes[parent] {
            children[pos] = child;
        }
    }

    /// Inserts or replaces; returns the replaced value so its overflow pages can be freed.
    pub fn insert(
        &mut self,
        pages: &impl PageSource,
        root: &mut Option<Child>,
        key: &[u8],
        value: Value,
    ) -> Result<Option<Value>> {
        let r = match *root {
            None => self.push(Node::Leaf {
                keys: Vec::new(),
                values: Vec::new(),
            }),
            Some(c) => self.touch(pages, c)?,
        };
        *root = Some(Child::Dirty(r));
        let (old, mut splits) = self.insert_at(pages, r, key, value)?;
        let mut top = r;
        // A new root over long keys may itself be too big: grow until it fits or cannot split.
        while !splits.is_empty() {
            let mut keys = vec![Slice::default()];
            let mut children = vec![Child::Dirty(top)];
            for (k, n) in splits {
                keys.push(k);
                children.push(Child::Dirty(n));
            }
            top = self.push(Node::Branch { keys, children });
            splits = self.split_if_needed(top, Split::Balanced);
        }
        *root = Some(Child::Dirty(top));
        Ok(old)
    }

    fn insert_at(
        &mut self,
        pages: &impl PageSource,
        idx: usize,
        key: &[u8],
        value: Value,
    ) -> Result<(Option<Value>, Splits)> {
        // Whether the new entry landed at the node's end: the append pattern of revision
        // keys and sequentially created user keys.
        let mut appended = false;
        let old = match &mut self.nodes[idx] {
            Node::Leaf { keys, values } => match keys.binary_search_by(|k| k[..].cmp(key)) {
                Ok(i) => Some(std::mem::replace(&mut values[i], value)),
                Err(i) => {
                    appended = i == keys.len();
                    keys.insert(i, Slice::copy_of(key));
                    values.insert(i, value);
                    None
                }
            },
            Node::Branch { .. } => {
                let (pos, c) = self.descend(pages, idx, key)?;
                let (old, splits) = self.insert_at(pages, c, key, value)?;
                if let Node::Branch { keys, children } = &mut self.nodes[idx] {
                    appended = !splits.is_empty() && pos + 1 == children.len();
                    for (j, (k, n)) in splits.into_iter().enumerate() {
                        keys.insert(pos + 1 + j, k);
                        children.insert(pos + 1 + j, Child::Dirty(n));
                    }
                }
                old
            }
        };
        let split = if appended {
            Split::Append
        } else {
            Split::Balanced
        };
        Ok((old, self.split_if_needed(idx, split)))
    }

    /// Splits an oversized node into page-sized pieces; returns the new right siblings with
    /// their separator keys, in order.
    fn split_if_needed(&mut self, idx: usize, split: Split) -> Splits {
        let node = &self.nodes[idx];
        // Entries each piece keeps at least.
        let min = min_entries(node);
        if node.size() <= PAGE_SIZE || node.len() < 2 * min {
            return Vec::new();
        }
        let sizes: Vec<usize> = (0..node.len()).map(|i| node.entry_size(i)).collect();
        let total: usize = sizes.iter().sum();
        let header = node.size() - total;
        // Split points that leave both pieces `min` entries.
        let (first, last) = (min, sizes.len() - min);
        let best = match split {
            // Fill the left page and carry the rest right: appended keys never come back to
            // the left page, so a balanced split would leave every page half empty.
            Split::Append => {
                let mut left = header;
                sizes
                    .iter()
                    .take_while(|&&size| {
                        left += size;
                        left <= APPEND_FILL
                    })
                    .count()
                    .clamp(first, last)
            }
            Split::Balanced => {
                let (mut best, mut best_max) = (first, usize::MAX);
                let mut left: usize = sizes[..first - 1].iter().sum();
                for (s, size) in sizes.iter().enumerate().take(last).skip(first - 1) {
                    left += size;
                    let worst = left.max(total - left);
                    if worst < best_max {
                        best_max = worst;
                        best = s + 1;
                    }
                }
                best
            }
        };
        let right = self.nodes[idx].split_off(best);
        let sep = right.keys().first().cloned().unwrap_or_default();
        let r = self.push(right);
        let mut out = self.split_if_needed(idx, Split::Balanced);
        out.push((sep, r));
        out.extend(self.split_if_needed(r, split));
        out
    }

    /// Removes `key`; returns its value if it was there.
    pub fn remove(
        &mut self,
        pages: &impl PageSource,
        root: &mut Option<Child>,
        key: &[u8],
    ) -> Result<Option<Value>> {
        let Some(c) = *root else { return Ok(None) };
        let r = self.touch(pages, c)?;
        *root = Some(Child::Dirty(r));
        let old = self.remove_at(pages, r, key)?;
        // A root branch with one child gives way to it; an empty root leaf empties the table.
        while let Some(Child::Dirty(i)) = *root {
            match &self.nodes[i] {
                Node::Branch { children, .. } if children.len() == 1 => *root = Some(children[0]),
                Node::Leaf { keys, .. } if keys.is_empty() => *root = None,
                _ => break,
            }
        }
        Ok(old)
    }

    fn remove_at(
        &mut self,
        pages: &impl PageSource,
        idx: usize,
        key: &[u8],
    ) -> Result<Option<Value>> {
        match &mut self.nodes[idx] {
            Node::Leaf { keys, values } => Ok(match keys.binary_search_by(|k| k[..].cmp(key)) {
                Ok(i) => {
                    keys.remove(i);
                    Some(values.remove(i))
                }
                Err(_) => None,
            }),
            Node::Branch { .. } => {
                let (pos, c) = self.descend(pages, idx, key)?;
                let old = self.remove_at(pages, c, key)?;
                let child = &self.nodes[c];
                // A branch left with one child is merged whatever its size: a long key 0
                // must not keep a useless level alive.
                if old.is_some()
                    && (child.size() < PAGE_SIZE / 4 || child.len() < min_entries(child))
                {
                    self.rebalance(pages, idx, pos)?;
                }
                Ok(old)
            }
        }
    }

    /// Merges child `pos` of `parent` with a neighbour, re-splitting if they overflow.
    fn rebalance(&mut self, pages: &impl PageSource, parent: usize, pos: usize) -> Result<()> {
        let Node::Branch { children, keys } = &self.nodes[parent] else {
            return Ok(());
        };
        if children.len() < 2 {
            return Ok(());
        }
        let (l, r) = if pos > 0 { (pos - 1, pos) } else { (0, 1) };
        let (lc, rc, r_bound) = (children[l], children[r], keys[r].clone());
        let li = self.touch(pages, lc)?;
        let ri = self.touch(pages, rc)?;
        self.set_child(parent, l, Child::Dirty(li));
        let empty = Node::Leaf {
            keys: Vec::new(),
            values: Vec::new(),
        };
        let mut right = std::mem::replace(&mut self.nodes[ri], empty);
        match (&mut self.nodes[li], &mut right) {
            (
                Node::Leaf { keys, values },
                Node::Leaf {
                    keys: rk,
                    values: rv,
                },
            ) => {
                keys.append(rk);
                values.append(rv);
            }
            (
                Node::Branch { keys, children },
                Node::Branch {
                    keys: rk,
                    children: rch,
                },
            ) => {
                // The parent's bound is the authoritative lower bound of the right node.
                if let Some(first) = rk.first_mut() {
                    *first = r_bound;
                }
                keys.append(rk);
                children.append(rch);
            }
            _ => {
                return Err(crate::error::Error::corrupt(
                    0,
                    "siblings at different depths",
                ));
            }
        }
        let splits = self.split_if_needed(li, Split::Balanced);
        if let Node::Branch { keys, children } = &mut self.nodes[parent] {
            keys.remove(r);
            children.remove(r);
            for (j, (k, n)) in splits.into_iter().enumerate() {
                keys.insert(r + j, k);
                children.insert(r + j, Child::Dirty(n));
            }
        }
        Ok(())
    }

    /// Defragmentation's move: in key order from `from`, copies every node that sits on a
    /// page at or above `target` (so the commit writes it to a lower free page) along with
    /// the branches above it, whose child pointers change. Stops at the next child boundary
    /// once `budget` nodes were copied and returns the key to resume from; `None` when the
    /// walk reached the end. Keys whose overflow value lies at or above `target` are added to
    /// `values` for the caller to write again.
    pub fn relocate(
        &mut self,
        pages: &impl PageSource,
        root: &mut Option<Child>,
        from: &[u8],
        target: PageId,
        budget: &mut usize,
        values: &mut Vec<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>> {
        let Some(r) = *root else { return Ok(None) };
        let mut walk = Relocation {
            target,
            budget,
            values,
        };
        let (moved, resume) = self.relocate_in(pages, r, from, &mut walk, 0)?;
        *root = Some(moved);
        Ok(resume)
    }

    fn view<'a>(&'a self, pages: &'a impl PageSource, at: Child) -> Result<NodeView<'a>> {
        match at {
            Child::Page(id) => Ok(NodeView::Page(pages.page(id)?)),
            Child::Dirty(i) => self
                .nodes
                .get(i)
                .map(NodeView::Mem)
                .ok_or_else(|| crate::error::Error::corrupt(0, "dirty node index out of range")),
        }
    }

    fn relocate_in(
        &mut self,
        pages: &impl PageSource,
        child: Child,
        from: &[u8],
        walk: &mut Relocation<'_>,
        depth: usize,
    ) -> Result<(Child, Option<Vec<u8>>)> {
        if depth > 64 {
            return Err(crate::error::Error::corrupt(
                0,
                "tree deeper than 64 levels",
            ));
        }
        let mut me = child;
        // A node's run (several pages when it holds a long key) moves if any of it is above.
        if let Child::Page(id) = child
            && id + pages.page(id)?.pages() > walk.target
        {
            me = Child::Dirty(self.touch(pages, child)?);
            *walk.budget = walk.budget.saturating_sub(1);
        }
        let node = self.view(pages, me)?;
        if node.is_leaf() {
            let start = match node.search(from)? {
                Ok(i) | Err(i) => i,
            };
            for i in start..node.len() {
                if let ValueRef::Overflow { page, .. } = node.value(i)?
                    && page >= walk.target
                {
                    walk.values.push(node.key(i)?.to_vec());
                }
            }
            return Ok((me, None));
        }
        let start = node.child_index(from)?;
        for pos in start..node.len() {
            let node = self.view(pages, me)?;
            if pos > start && *walk.budget == 0 {
                return Ok((me, Some(node.key(pos)?.to_vec())));
            }
            let c = node.child(pos)?;
            let child_from = if pos == start { from } else { &[] };
            let (moved, resume) = self.relocate_in(pages, c, child_from, walk, depth + 1)?;
            if moved != c {
                if let Child::Page(_) = me {
                    me = Child::Dirty(self.touch(pages, me)?);
                }
                if let Child::Dirty(i) = me {
                    self.set_child(i, pos, moved);
                }
            }
            if resume.is_some() {
                return Ok((me, resume));
            }
        }
        Ok((me, None))
    }

    /// Assigns page runs (`alloc(n)`: `n` contiguous pages) to the dirty subtree under `idx`,
    /// children first, and encodes it.
    pub fn write_out(
        &mut self,
        idx: usize,
        alloc: &mut impl FnMut(u64) -> PageId,
        out: &mut Vec<(PageId, Vec<u8>)>,
    ) -> PageId {
        let dirty_children: Vec<(usize, usize)> = match &self.nodes[idx] {
            Node::Branch { children, .. } => children
                .iter()
                .enumerate()
                .filter_map(|(pos, c)| match c {
                    Child::Dirty(i) => Some((pos, *i)),
                    Child::Page(_) => None,
                })
                .collect(),
            Node::Leaf { .. } => Vec::new(),
        };
        for (pos, i) in dirty_children {
            let id = self.write_out(i, alloc, out);
            self.set_child(idx, pos, Child::Page(id));
        }
        let id = alloc(self.nodes[idx].pages());
        out.push((id, self.nodes[idx].encode(id)));
        id
    }
}

/// The fewest entries a piece of a split keeps: a leaf may hold one (long) key alone, a branch
/// needs two children to be worth a level.
fn min_entries(node: &Node) -> usize {
    if node.is_leaf() { 1 } else { 2 }
}
