//! Reading branch and leaf pages in place, straight from the map: every accessor is bounds
//! checked (against the node's whole run when it spans several pages) and turns a bad offset
//! into an error naming the page, so a corrupt file can never make a reader panic. [`NodeView`] puts a page and a write transaction's dirty node behind
//! one interface, so lookups and the cursor are written once for readers and the writer.

use super::node::{Child, FLAG_OVERFLOW, Node, SLOT_LEN, Slice, Value};
use crate::error::{Error, Result};
use crate::page_store::page::{
    HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, read_u32, read_u64,
};

/// Bytes of a leaf entry before its key: `flags(1) key_len(4) value_len(4)`.
const LEAF_FIXED: usize = 9;
/// Bytes of a branch entry before its key: `key_len(4) child(8)`.
const BRANCH_FIXED: usize = 12;
/// Entries a node copied from its page can take before its vectors grow.
const INSERT_ROOM: usize = 8;

/// A value as found in a leaf, before an overflow run is followed.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    Inline(&'a [u8]),
    Overflow { page: PageId, len: u32 },
}

/// A branch or leaf page, validated just enough to be read safely.
#[derive(Debug, Clone, Copy)]
pub struct PageView<'a> {
    bytes: &'a [u8],
    id: PageId,
    leaf: bool,
    count: usize,
}

impl<'a> PageView<'a> {
    /// Views the node whose run starts `bytes`; `bytes` must hold the whole run (1 + the
    /// header's `extra` pages, see [`run_pages`]).
    pub fn new(bytes: &'a [u8], id: PageId) -> Result<PageView<'a>> {
        let h = Header::decode(bytes, id)?;
        let leaf = match h.kind {
            PageKind::Leaf => true,
            PageKind::Branch => false,
            _ => return Err(Error::corrupt(id, "expected a branch or leaf page")),
        };
        let len = usize::try_from(u64::from(h.extra) + 1)
            .ok()
            .and_then(|n| n.checked_mul(PAGE_SIZE))
            .ok_or_else(|| Error::corrupt(id, "page run too long"))?;
        let bytes = bytes
            .get(..len)
            .ok_or_else(|| Error::corrupt(id, "page run shorter than its header says"))?;
        let count = h.count as usize;
        if count == 0 || count > (len - HEADER_LEN) / SLOT_LEN {
            return Err(Error::corrupt(id, "bad entry count"));
        }
        Ok(PageView {
            bytes,
            id,
            leaf,
            count,
        })
    }

    pub fn id(&self) -> PageId {
        self.id
    }

    /// Pages of this node's run.
    pub fn pages(&self) -> u64 {
        (self.bytes.len() / PAGE_SIZE) as u64
    }

    /// The node's run, header first.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn corrupt(&self, why: &'static str) -> Error {
        Error::corrupt(self.id, why)
    }

    fn offset(&self, i: usize) -> Result<usize> {
        if i >= self.count {
            return Err(self.corrupt("entry index out of range"));
        }
        read_u32(self.bytes, HEADER_LEN + SLOT_LEN * i)
            .map(|o| o as usize)
            .ok_or_else(|| self.corrupt("short offset table"))
    }

    fn read_len(&self, at: Option<usize>) -> Result<usize> {
        at.and_then(|at| read_u32(self.bytes, at))
            .map(|l| l as usize)
            .ok_or_else(|| self.corrupt("short entry"))
    }

    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8]> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| self.corrupt("entry runs past the page"))
    }

    pub fn key(&self, i: usize) -> Result<&'a [u8]> {
        let at = self.offset(i)?;
        let (len_at, fixed) = if self.leaf {
            (at.checked_add(1), LEAF_FIXED)
        } else {
            (Some(at), BRANCH_FIXED)
        };
        let klen = self.read_len(len_at)?;
        let key_at = at
            .checked_add(fixed)
            .ok_or_else(|| self.corrupt("short entry"))?;
        self.slice(key_at, klen)
    }

    pub fn value(&self, i: usize) -> Result<ValueRef<'a>> {
        self.leaf_entry(i).map(|(_, value)| value)
    }

    /// Leaf entry `i`'s key and value, its offset and lengths read once.
    pub fn leaf_entry(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        if !self.leaf {
            return Err(self.corrupt("value asked of a branch"));
        }
        let at = self.offset(i)?;
        let flags = *self
            .bytes
            .get(at)
            .ok_or_else(|| self.corrupt("short entry"))?;
        let klen = self.read_len(at.checked_add(1))?;
        let vlen = self.read_len(at.checked_add(5))? as u32;
        let kat = at
            .checked_add(LEAF_FIXED)
            .ok_or_else(|| self.corrupt("entry runs past the page"))?;
        let key = self.slice(kat, klen)?;
        let vat = kat + klen;
        let value = if flags & FLAG_OVERFLOW != 0 {
            let page = read_u64(self.bytes, vat).ok_or_else(|| self.corrupt("short entry"))?;
            ValueRef::Overflow { page, len: vlen }
        } else {
            ValueRef::Inline(self.slice(vat, vlen as usize)?)
        };
        Ok((key, value))
    }

    pub fn child(&self, i: usize) -> Result<PageId> {
        if self.leaf {
            return Err(self.corrupt("child asked of a leaf"));
        }
        let at = self.offset(i)?.checked_add(4);
        at.and_then(|at| read_u64(self.bytes, at))
            .ok_or_else(|| self.corrupt("short entry"))
    }

    /// Copies the page into an editable node: the run is copied once, and every key and
    /// inline value is a [`Slice`] of that copy, so decoding a node of many small entries
    /// allocates once, not twice per entry.
    pub fn to_node(&self) -> Result<Node> {
        let run = Slice::copy_of(self.bytes);
        let at = |part: &[u8]| {
            let start = part.as_ptr().addr() - self.bytes.as_ptr().addr();
            run.part(start..start + part.len())
        };
        // The writer copies a page to change it: room for a few inserts saves growing (a
        // reallocation and a copy of every entry) at the first one.
        let room = self.count + INSERT_ROOM;
        let mut keys = Vec::with_capacity(room);
        if self.leaf {
            let mut values = Vec::with_capacity(room);
            for i in 0..self.count {
                let (key, value) = self.leaf_entry(i)?;
                keys.push(at(key));
                values.push(match value {
                    ValueRef::Inline(v) => Value::Inline(at(v)),
                    ValueRef::Overflow { page, len } => Value::Overflow { page, len },
                });
            }
            Ok(Node::Leaf { keys, values })
        } else {
            let mut children = Vec::with_capacity(room);
            for i in 0..self.count {
                keys.push(at(self.key(i)?));
                children.push(Child::Page(self.child(i)?));
            }
            Ok(Node::Branch { keys, children })
        }
    }
}

/// A page or a dirty node, read the same way.
#[derive(Debug, Clone, Copy)]
pub enum NodeView<'a> {
    Page(PageView<'a>),
    Mem(&'a Node),
}

impl<'a> NodeView<'a> {
    pub fn is_leaf(&self) -> bool {
        match self {
            NodeView::Page(p) => p.leaf,
            NodeView::Mem(n) => matches!(n, Node::Leaf { .. }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            NodeView::Page(p) => p.count,
            NodeView::Mem(n) => n.len(),
        }
    }

    pub fn key(&self, i: usize) -> Result<&'a [u8]> {
        match self {
            NodeView::Page(p) => p.key(i),
            NodeView::Mem(n) => n
                .keys()
                .get(i)
                .map(|k| &k[..])
                .ok_or_else(|| Error::corrupt(0, "dirty node index out of range")),
        }
    }

    pub fn value(&self, i: usize) -> Result<ValueRef<'a>> {
        match self {
            NodeView::Page(p) => p.value(i),
            NodeView::Mem(Node::Leaf { values, .. }) => match values.get(i) {
                Some(Value::Inline(v)) => Ok(ValueRef::Inline(v)),
                Some(Value::Overflow { page, len }) => Ok(ValueRef::Overflow {
                    page: *page,
                    len: *len,
                }),
                None => Err(Error::corrupt(0, "dirty node index out of range")),
            },
            NodeView::Mem(_) => Err(Error::corrupt(0, "value asked of a branch")),
        }
    }

    /// Leaf entry `i`'s key and value (a page's entry parsed once).
    pub fn leaf_entry(&self, i: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        match self {
            NodeView::Page(p) => p.leaf_entry(i),
            NodeView::Mem(_) => Ok((self.key(i)?, self.value(i)?)),
        }
    }

    pub fn child(&self, i: usize) -> Result<Child> {
        match self {
            NodeView::Page(p) => p.child(i).map(Child::Page),
            NodeView::Mem(Node::Branch { children, .. }) => children
                .get(i)
                .copied()
                .ok_or_else(|| Error::corrupt(0, "dirty node index out of range")),
            NodeView::Mem(_) => Err(Error::corrupt(0, "child asked of a leaf")),
        }
    }

    /// Binary search among the keys: `Ok(i)` if key `i` equals `key`, else `Err(i)` with the
    /// insertion point.
    pub fn search(&self, key: &[u8]) -> Result<Result<usize, usize>> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key(mid)?.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// For a branch: which child may hold `key` (the last whose lower bound is `<= key`; child
    /// 0 for anything smaller).
    pub fn child_index(&self, key: &[u8]) -> Result<usize> {
        Ok(match self.search(key)? {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        })
    }
}

/// Pages of the node run starting at page `id`, read from the header on its first page
/// (`first`, at least one page). The caller bounds the run against the map.
pub fn run_pages(first: &[u8], id: PageId) -> Result<u64> {
    Ok(u64::from(Header::decode(first, id)?.extra) + 1)
}

/// Where a tree's nodes come from: a read snapshot (pages only) or a write transaction
/// (pages plus its dirty nodes and not-yet-written overflow values).
pub trait TreeSource {
    fn node(&self, child: Child) -> Result<NodeView<'_>>;
    /// The bytes of an overflow value.
    fn overflow(&self, page: PageId, len: u32) -> Result<&[u8]>;

    fn value_bytes<'a>(&'a self, v: ValueRef<'a>) -> Result<&'a [u8]> {
        match v {
            ValueRef::Inline(b) => Ok(b),
            ValueRef::Overflow { page, len } => self.overflow(page, len),
        }
    }
}

/// Point lookup from `root`.
pub fn get<'a, S: TreeSource>(
    src: &'a S,
    root: Option<Child>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    let Some(mut at) = root else { return Ok(None) };
    // A depth limit turns a cycle in a corrupt file into an error instead of a hang.
    for _ in 0..64 {
        let node = src.node(at)?;
        if node.is_leaf() {
            return match node.search(key)? {
                Ok(i) => Ok(Some(src.value_bytes(node.value(i)?)?)),
                Err(_) => Ok(None),
            };
        }
        at = node.child(node.child_index(key)?)?;
    }
    Err(Error::corrupt(0, "tree deeper than 64 levels"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn long_leaf() -> Vec<u8> {
        let node = Node::Leaf {
            keys: vec![Slice::copy_of(&[b'k'; 10_000])],
            values: vec![Value::Inline(Slice::copy_of(b"v"))],
        };
        assert_eq!(node.pages(), 3);
        node.encode(9)
    }

    #[test]
    fn a_node_run_reads_whole_and_bad_lengths_are_errors() {
        let run = long_leaf();
        let view = PageView::new(&run, 9).unwrap();
        assert_eq!(view.pages(), 3);
        assert_eq!(view.key(0).unwrap(), &[b'k'; 10_000][..]);
        assert!(matches!(view.value(0).unwrap(), ValueRef::Inline(b"v")));
        // Fewer bytes than the header's run.
        assert!(PageView::new(&run[..2 * PAGE_SIZE], 9).is_err());
        // A run length no map could hold.
        let mut bad = run.clone();
        bad[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PageView::new(&bad, 9).is_err());
        // A key length past the run.
        let mut bad = run.clone();
        let at = HEADER_LEN + SLOT_LEN + 1;
        bad[at..at + 4].copy_from_slice(&20_000u32.to_le_bytes());
        assert!(PageView::new(&bad, 9).unwrap().key(0).is_err());
        // An offset near u32::MAX cannot overflow the arithmetic.
        let mut bad = run;
        bad[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let view = PageView::new(&bad, 9).unwrap();
        assert!(view.key(0).is_err() && view.value(0).is_err());
    }
}
