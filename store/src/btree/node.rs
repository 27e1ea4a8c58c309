//! A node as the write transaction edits it: decoded when the writer first touches a page
//! (copy-on-write) into one copy of the page whose keys and values it slices, encoded back
//! into a fresh page at commit. Also the on-page layout of branch and leaf pages, which
//! `page_view.rs` reads without copying.
//!
//! Layout after the page header: `count` little-endian u32 offsets (from the start of the
//! run), then the entries.
//! Leaf entry: `flags(1) key_len(4) value_len(4) key value` where `flags & 1` means the value
//! lives in an overflow run and the 8 value bytes are its first page id.
//! Branch entry: `key_len(4) child(8) key`. A branch's key `i` is a lower bound of child `i`'s
//! keys (key 0 is not consulted: child 0 takes everything below key 1).
//!
//! A node that does not fit one page (a long key) is written to a run of contiguous pages, as
//! bbolt does: the header's `extra` counts the pages after the first and the crc covers the
//! run. Only a one-entry leaf or a branch of two or three children can be that large (see
//! `mutator.rs`); keys stay plain slices of the map either way.

use std::rc::Rc;

use crate::page_store::page::{HEADER_LEN, Header, PAGE_SIZE, PageId, PageKind, pages_for, seal};

/// Longest key. A node holds at most three keys over a page, so with this bound every offset
/// of a node's run fits the u32 fields.
pub const MAX_KEY_LEN: usize = MAX_VALUE_LEN;
/// Longer values go to an overflow run of their own pages.
pub const MAX_INLINE_VALUE: usize = 1000;
/// Longest value (an overflow run's length is a u32 in its header).
pub const MAX_VALUE_LEN: usize = 256 << 20;

/// Offset slot plus `flags key_len value_len`.
pub const LEAF_ENTRY_OVERHEAD: usize = 4 + 9;
/// Offset slot plus `key_len child`.
pub const BRANCH_ENTRY_OVERHEAD: usize = 4 + 12;
/// Bytes of an offset slot.
pub const SLOT_LEN: usize = 4;
pub const FLAG_OVERFLOW: u8 = 1;

/// A key or inline value of a node the writer edits: a range of the one copy of the page the
/// node was decoded from (so decoding a page of many small entries allocates once, not twice
/// per entry), or bytes of its own for an entry the writer added. Not `Send`: a write
/// transaction stays on its thread, so the count need not be atomic.
#[derive(Clone)]
pub struct Slice {
    buf: Rc<[u8]>,
    start: usize,
    end: usize,
}

impl Slice {
    /// Bytes of their own.
    pub fn copy_of(bytes: &[u8]) -> Slice {
        Slice {
            buf: Rc::from(bytes),
            start: 0,
            end: bytes.len(),
        }
    }

    /// The length, without forming the slice (`Deref` would bounds-check the range).
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// `range` of this slice, sharing its bytes. The range must lie within it.
    pub fn part(&self, range: std::ops::Range<usize>) -> Slice {
        debug_assert!(range.start <= range.end && self.start + range.end <= self.end);
        Slice {
            buf: Rc::clone(&self.buf),
            start: self.start + range.start,
            end: self.start + range.end,
        }
    }
}

impl Default for Slice {
    fn default() -> Slice {
        Slice::copy_of(&[])
    }
}

impl std::ops::Deref for Slice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl PartialEq for Slice {
    fn eq(&self, other: &Slice) -> bool {
        **self == **other
    }
}

impl Eq for Slice {}

impl std::fmt::Debug for Slice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// A value as stored in a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Often a slice of the page the node was decoded from (see `PageView::to_node`).
    Inline(Slice),
    Overflow {
        page: PageId,
        len: u32,
    },
}

impl Value {
    fn stored_len(&self) -> usize {
        match self {
            Value::Inline(v) => v.len(),
            Value::Overflow { .. } => 8,
        }
    }
}

/// Where a child lives: a committed page, or a node dirtied by this write transaction
/// (an index into its arena).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    Page(PageId),
    Dirty(usize),
}

#[derive(Debug, Clone)]
pub enum Node {
    Leaf {
        keys: Vec<Slice>,
        values: Vec<Value>,
    },
    Branch {
        keys: Vec<Slice>,
        children: Vec<Child>,
    },
}

impl Node {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            Node::Leaf { keys, .. } | Node::Branch { keys, .. } => keys.len(),
        }
    }

    pub fn keys(&self) -> &[Slice] {
        match self {
            Node::Leaf { keys, .. } | Node::Branch { keys, .. } => keys,
        }
    }

    /// Encoded size of entry `i`, offset slot included.
    pub fn entry_size(&self, i: usize) -> usize {
        match self {
            Node::Leaf { keys, values } => {
                LEAF_ENTRY_OVERHEAD + keys[i].len() + values[i].stored_len()
            }
            Node::Branch { keys, .. } => BRANCH_ENTRY_OVERHEAD + keys[i].len(),
        }
    }

    /// Encoded size, header included. One pass over the lengths (the writer asks this of
    /// every node on an insert's path, to see whether it must split).
    pub fn size(&self) -> usize {
        let keys: usize = self.keys().iter().map(Slice::len).sum();
        HEADER_LEN
            + keys
            + match self {
                Node::Leaf { keys, values } => {
                    keys.len() * LEAF_ENTRY_OVERHEAD
                        + values.iter().map(Value::stored_len).sum::<usize>()
                }
                Node::Branch { keys, .. } => keys.len() * BRANCH_ENTRY_OVERHEAD,
            }
    }

    /// Pages of the run this node encodes to.
    pub fn pages(&self) -> u64 {
        pages_for(self.size() - HEADER_LEN)
    }

    pub fn is_leaf(&self) -> bool {
        matches!(self, Node::Leaf { .. })
    }

    /// Splits off entries `[at..]` into a new node of the same kind.
    pub fn split_off(&mut self, at: usize) -> Node {
        match self {
            Node::Leaf { keys, values } => Node::Leaf {
                keys: keys.split_off(at),
                values: values.split_off(at),
            },
            Node::Branch { keys, children } => Node::Branch {
                keys: keys.split_off(at),
                children: children.split_off(at),
            },
        }
    }

    /// Encodes into a run of [`Node::pages`] pages starting at `id`. Every child must already
    /// be a page (the commit writes children before parents).
    pub fn encode(&self, id: PageId) -> Vec<u8> {
        let pages = self.pages();
        let mut page = vec![0u8; pages as usize * PAGE_SIZE];
        let kind = match self {
            Node::Leaf { .. } => PageKind::Leaf,
            Node::Branch { .. } => PageKind::Branch,
        };
        Header {
            kind,
            id,
            count: self.len() as u32,
            // The size bound makes the run far shorter than 2^32 pages.
            extra: (pages - 1) as u32,
        }
        .encode(&mut page);
        let mut at = HEADER_LEN + SLOT_LEN * self.len();
        for i in 0..self.len() {
            let slot = HEADER_LEN + SLOT_LEN * i;
            // MAX_KEY_LEN keeps every offset and length of a node below 2^32.
            page[slot..slot + SLOT_LEN].copy_from_slice(&(at as u32).to_le_bytes());
            let mut put = |b: &[u8]| {
                page[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            };
            match self {
                Node::Leaf { keys, values } => {
                    let overflow_page;
                    let (flags, len, bytes): (u8, u32, &[u8]) = match &values[i] {
                        Value::Inline(v) => (0, v.len() as u32, v),
                        Value::Overflow { page, len } => {
                            overflow_page = page.to_le_bytes();
                            (FLAG_OVERFLOW, *len, &overflow_page)
                        }
                    };
                    put(&[flags]);
                    put(&(keys[i].len() as u32).to_le_bytes());
                    put(&len.to_le_bytes());
                    put(&keys[i]);
                    put(bytes);
                }
                Node::Branch { keys, children } => {
                    let child = match children[i] {
                        Child::Page(p) => p,
                        // The commit resolves every dirty child before encoding its parent.
                        Child::Dirty(_) => unreachable!("dirty child encoded before its parent"),
                    };
                    put(&(keys[i].len() as u32).to_le_bytes());
                    put(&child.to_le_bytes());
                    put(&keys[i]);
                }
            }
        }
        seal(&mut page);
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_of_one_copy_read_their_own_range_and_compare_by_bytes() {
        let page = Slice::copy_of(b"key-a,value-a,key-b");
        let (a, b) = (page.part(0..5), page.part(14..19));
        assert_eq!(&*a, b"key-a");
        assert_eq!(&*b, b"key-b");
        assert_eq!(&*b.part(4..5), b"b");
        assert_eq!(a, Slice::copy_of(b"key-a"));
        assert_ne!(a, b);
        assert!(Slice::default().is_empty());
    }
}
