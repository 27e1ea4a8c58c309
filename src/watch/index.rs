//! Which watchers want a key: an index over watchers' key ranges, so an event is matched
//! in O(log n + matches) instead of against every watcher. Single keys (the common case)
//! are a hash lookup; ranges, prefixes and open ranges (`range_end` = `\0`) are an interval
//! tree kept as an array sorted by start with the largest end of each implicit subtree,
//! rebuilt lazily on the first lookup after a change (watchers come and go in bursts,
//! lookups come per event).

use std::collections::HashMap;

/// Where a range stops. Declaration order is the order: every bounded end is below `Open`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Exclusive upper bound.
    Before(Vec<u8>),
    /// etcd's `range_end` of `\0`: every key from the start on.
    Open,
}

impl End {
    fn is_after(&self, key: &[u8]) -> bool {
        match self {
            End::Before(end) => key < end.as_slice(),
            End::Open => true,
        }
    }
}

#[derive(Debug)]
struct Interval<T> {
    start: Vec<u8>,
    end: End,
    id: T,
}

/// Watcher IDs by the keys they watch, in etcd's `key`/`range_end` convention.
#[derive(Debug)]
pub struct KeyIndex<T> {
    keys: HashMap<Vec<u8>, Vec<T>>,
    ranges: Vec<Interval<T>>,
    /// For the implicit subtree rooted at each index of `ranges` (the midpoint of its
    /// slice), the index of its interval with the largest end.
    max_end: Vec<usize>,
    /// `ranges` changed since `max_end` was built.
    stale: bool,
}

impl<T> Default for KeyIndex<T> {
    fn default() -> Self {
        KeyIndex {
            keys: HashMap::new(),
            ranges: Vec::new(),
            max_end: Vec::new(),
            stale: false,
        }
    }
}

impl<T: Copy + PartialEq> KeyIndex<T> {
    /// `range_end` empty: just `key`; `\0`: every key from `key` on; otherwise
    /// `[key, range_end)`.
    pub fn insert(&mut self, id: T, key: &[u8], range_end: &[u8]) {
        let end = match range_end {
            [] => {
                self.keys.entry(key.to_vec()).or_default().push(id);
                return;
            }
            [0] => End::Open,
            end => End::Before(end.to_vec()),
        };
        self.ranges.push(Interval {
            start: key.to_vec(),
            end,
            id,
        });
        self.stale = true;
    }

    /// Forgets `id`, inserted with the same `key` and `range_end`.
    pub fn remove(&mut self, id: T, key: &[u8], range_end: &[u8]) {
        if range_end.is_empty() {
            if let Some(ids) = self.keys.get_mut(key) {
                ids.retain(|&i| i != id);
                if ids.is_empty() {
                    self.keys.remove(key);
                }
            }
            return;
        }
        self.ranges.retain(|r| r.id != id);
        self.stale = true;
    }

    /// Appends to `out` every ID whose range holds `key` (in no particular order).
    pub fn matching(&mut self, key: &[u8], out: &mut Vec<T>) {
        if let Some(ids) = self.keys.get(key) {
            out.extend_from_slice(ids);
        }
        if self.ranges.is_empty() {
            return;
        }
        if self.stale {
            self.rebuild();
        }
        self.visit(0, self.ranges.len(), key, out);
    }

    fn rebuild(&mut self) {
        self.ranges.sort_by(|a, b| a.start.cmp(&b.start));
        self.max_end = (0..self.ranges.len()).collect();
        self.build(0, self.ranges.len());
        self.stale = false;
    }

    /// Fills `max_end` for the subtree over `ranges[lo..hi]`; returns its root's entry.
    fn build(&mut self, lo: usize, hi: usize) -> Option<usize> {
        if lo >= hi {
            return None;
        }
        let mid = lo + (hi - lo) / 2;
        let mut best = mid;
        for child in [self.build(lo, mid), self.build(mid + 1, hi)]
            .into_iter()
            .flatten()
        {
            let candidate = self.max_end[child];
            if self.ranges[candidate].end > self.ranges[best].end {
                best = candidate;
            }
        }
        self.max_end[mid] = best;
        Some(mid)
    }

    fn visit(&self, lo: usize, hi: usize, key: &[u8], out: &mut Vec<T>) {
        if lo >= hi {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        // Nothing below here reaches past `key`.
        if !self.ranges[self.max_end[mid]].end.is_after(key) {
            return;
        }
        self.visit(lo, mid, key, out);
        let interval = &self.ranges[mid];
        // Sorted by start: from here on everything starts after `key`.
        if interval.start.as_slice() > key {
            return;
        }
        if interval.end.is_after(key) {
            out.push(interval.id);
        }
        self.visit(mid + 1, hi, key, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ringkv_store::mvcc::in_range;

    fn matching(index: &mut KeyIndex<u32>, key: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        index.matching(key, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn keys_prefixes_ranges_and_open_ranges() {
        let mut index = KeyIndex::default();
        index.insert(0, b"a", b"");
        index.insert(1, b"a", b"b"); // prefix "a"
        index.insert(2, b"ab", b"\0"); // from "ab" on
        index.insert(3, b"\0", b"\0"); // everything
        index.insert(4, b"a", b"");
        assert_eq!(matching(&mut index, b"a"), [0, 1, 3, 4]);
        assert_eq!(matching(&mut index, b"aa"), [1, 3]);
        assert_eq!(matching(&mut index, b"ab"), [1, 2, 3]);
        assert_eq!(matching(&mut index, b"zz"), [2, 3]);
        index.remove(0, b"a", b"");
        index.remove(3, b"\0", b"\0");
        assert_eq!(matching(&mut index, b"a"), [1, 4]);
        assert_eq!(matching(&mut index, b"zz"), [2]);
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..4)
    }

    proptest! {
        /// Against the definition: a watcher matches exactly the keys `in_range` accepts.
        #[test]
        fn matches_what_in_range_says(
            watchers in prop::collection::vec(
                (key(), prop_oneof![Just(vec![]), Just(vec![0]), key()]),
                0..40,
            ),
            removed in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            probes in prop::collection::vec(key(), 1..20),
        ) {
            let mut index = KeyIndex::default();
            let mut live: Vec<(u32, Vec<u8>, Vec<u8>)> = Vec::new();
            for (id, (key, end)) in watchers.into_iter().enumerate() {
                let id = id as u32;
                index.insert(id, &key, &end);
                live.push((id, key, end));
            }
            for r in removed {
                if live.is_empty() {
                    break;
                }
                let (id, key, end) = live.remove(r.index(live.len()));
                index.remove(id, &key, &end);
            }
            for probe in probes {
                let mut want: Vec<u32> = live
                    .iter()
                    .filter(|(_, key, end)| in_range(&probe, key, end))
                    .map(|(id, _, _)| *id)
                    .collect();
                want.sort_unstable();
                prop_assert_eq!(matching(&mut index, &probe), want);
            }
        }
    }
}
