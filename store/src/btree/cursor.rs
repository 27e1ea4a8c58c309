//! Forward range iteration: a stack of (node, index) from the root to the current leaf. It
//! holds only the path, never the results, so a range over millions of keys streams in
//! constant memory; keys and values borrow straight from the map (or the writer's dirty nodes).

use super::node::Child;
use super::page_view::{NodeView, TreeSource};
use crate::error::{Error, Result};

pub struct Cursor<'a, S: TreeSource> {
    src: &'a S,
    stack: Vec<(NodeView<'a>, usize)>,
    end: Option<Vec<u8>>,
    done: bool,
}

impl<'a, S: TreeSource> Cursor<'a, S> {
    /// Positions at the first key `>= start`; iteration stops before `end` (exclusive).
    pub fn new(src: &'a S, root: Option<Child>, start: &[u8], end: Option<&[u8]>) -> Result<Self> {
        let mut c = Cursor {
            src,
            stack: Vec::new(),
            end: end.map(<[u8]>::to_vec),
            done: root.is_none(),
        };
        if let Some(mut at) = root {
            loop {
                if c.stack.len() > 64 {
                    return Err(Error::corrupt(0, "tree deeper than 64 levels"));
                }
                let node = src.node(at)?;
                if node.is_leaf() {
                    let i = match node.search(start)? {
                        Ok(i) | Err(i) => i,
                    };
                    c.stack.push((node, i));
                    break;
                }
                let i = node.child_index(start)?;
                at = node.child(i)?;
                c.stack.push((node, i));
            }
        }
        Ok(c)
    }

    /// Moves to the next leaf after the current one is exhausted; false at the end of the tree.
    fn next_leaf(&mut self) -> Result<bool> {
        // Pop exhausted levels until a branch has a next child.
        loop {
            self.stack.pop();
            let Some((node, i)) = self.stack.last_mut() else {
                return Ok(false);
            };
            *i += 1;
            if *i < node.len() {
                break;
            }
        }
        // Descend to that child's leftmost leaf.
        loop {
            let Some((node, i)) = self.stack.last() else {
                return Ok(false);
            };
            if node.is_leaf() {
                return Ok(true);
            }
            if self.stack.len() > 64 {
                return Err(Error::corrupt(0, "tree deeper than 64 levels"));
            }
            let child = self.src.node(node.child(*i)?)?;
            self.stack.push((child, 0));
        }
    }

    fn step(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        loop {
            let Some(&(node, i)) = self.stack.last() else {
                return Ok(None);
            };
            if i < node.len() {
                let (key, value) = node.leaf_entry(i)?;
                if self.end.as_deref().is_some_and(|end| key >= end) {
                    return Ok(None);
                }
                let value = self.src.value_bytes(value)?;
                if let Some(top) = self.stack.last_mut() {
                    top.1 += 1;
                }
                return Ok(Some((key, value)));
            }
            if !self.next_leaf()? {
                return Ok(None);
            }
        }
    }
}

impl<'a, S: TreeSource> Iterator for Cursor<'a, S> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
