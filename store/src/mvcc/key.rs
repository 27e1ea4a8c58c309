//! The `index` table's key: an order-preserving encoding of (user key, revision descending).
//!
//! `escape(user key) 0x00 0x00 !main(8, BE) !sub(8, BE)`, where escaping writes each 0x00 of
//! the user key as `0x00 0xFF`. The terminator `0x00 0x00` sorts below any escaped byte, so the
//! encoded prefixes sort exactly as the user keys do and no key's prefix is a prefix of
//! another's; inverting the revision makes the newest version of a key come first, so a seek to
//! (key, R) lands on the newest version at or below R.

use super::record::MAX_OVERHEAD as RECORD_OVERHEAD;
use crate::revision::Revision;
use crate::{MAX_KEY_LEN, MAX_VALUE_LEN};

/// The longest user key the store can hold: its record in the `rev` table must fit a value
/// (256 MiB less the record's overhead), and its `index` key 256 MiB, where each 0x00 byte of
/// the key costs one more byte. Far above any sensible `--max-request-bytes`, which is what
/// limits keys in practice, as in etcd.
pub const MAX_USER_KEY_LEN: usize = MAX_VALUE_LEN - RECORD_OVERHEAD;

/// Length of `key` once escaped and terminated (without the revision).
pub fn prefix_len(key: &[u8]) -> usize {
    key.len() + key.iter().filter(|&&b| b == 0).count() + 2
}

/// Whether the store can hold `key` (see [`MAX_USER_KEY_LEN`]).
pub fn fits(key: &[u8]) -> bool {
    key.len() <= MAX_USER_KEY_LEN && prefix_len(key) + 16 <= MAX_KEY_LEN
}

/// `escape(key) 0x00 0x00`: every version of `key` starts with this.
pub fn prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix_len(key) + 16);
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The exclusive upper bound of every version of the key whose prefix is `prefix`: the
/// terminator's second byte raised to 0x01, a pair that never occurs in an encoding (0x00 is
/// always followed by 0xFF or 0x00).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    if let Some(last) = out.last_mut() {
        *last = 1;
    }
    out
}

/// The full `index` key of `key` at `rev`.
pub fn encode(prefix: &[u8], rev: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + 16);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&(!(rev.main as u64)).to_be_bytes());
    out.extend_from_slice(&(!(rev.sub as u64)).to_be_bytes());
    out
}

/// Seek key for "the newest version of the key at or below main revision `main`".
pub fn seek_at(prefix: &[u8], main: i64) -> Vec<u8> {
    encode(
        prefix,
        Revision {
            main,
            sub: i64::MAX,
        },
    )
}

/// Splits a stored `index` key into (escaped prefix including terminator, revision). `None`
/// if the bytes are not a valid encoding (they come from disk).
pub fn split(encoded: &[u8]) -> Option<(&[u8], Revision)> {
    let cut = encoded.len().checked_sub(16)?;
    let (prefix, rev) = encoded.split_at(cut);
    if prefix.len() < 2 || !prefix.ends_with(&[0, 0]) {
        return None;
    }
    let main = !u64::from_be_bytes(rev.get(..8)?.try_into().ok()?);
    let sub = !u64::from_be_bytes(rev.get(8..)?.try_into().ok()?);
    Some((
        prefix,
        Revision {
            main: main as i64,
            sub: sub as i64,
        },
    ))
}

/// The user key of an escaped, terminated prefix; `None` if it is malformed.
pub fn unescape(prefix: &[u8]) -> Option<Vec<u8>> {
    let body = prefix.strip_suffix(&[0, 0])?;
    let mut out = Vec::with_capacity(body.len());
    let mut it = body.iter();
    while let Some(&b) = it.next() {
        out.push(b);
        if b == 0 && it.next() != Some(&0xFF) {
            return None;
        }
    }
    Some(out)
}

/// A key range in etcd's terms, resolved to bounds on the `index` table.
#[derive(Debug, Clone)]
pub struct KeyRange {
    pub start: Vec<u8>,
    /// Exclusive; `None` = to the end of the keyspace.
    pub end: Option<Vec<u8>>,
    /// The range is empty (key >= range_end): nothing to scan.
    pub empty: bool,
}

impl KeyRange {
    /// etcd's `range_end` rules: empty = only `key`; `"\0"` = every key >= `key`; otherwise
    /// `[key, range_end)`, empty when `key >= range_end`.
    pub fn new(key: &[u8], range_end: &[u8]) -> KeyRange {
        let start = prefix(key);
        match range_end {
            [] => {
                let end = prefix_end(&start);
                KeyRange {
                    start,
                    end: Some(end),
                    empty: false,
                }
            }
            [0] => KeyRange {
                start,
                end: None,
                empty: false,
            },
            end => KeyRange {
                start,
                end: Some(prefix(end)),
                empty: key >= end,
            },
        }
    }

    /// Whether a user key lies inside the range (for the `rev` table's entries).
    pub fn contains_prefix(&self, prefix: &[u8]) -> bool {
        !self.empty
            && prefix >= self.start.as_slice()
            && self.end.as_deref().is_none_or(|e| prefix < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_malformed() {
        assert_eq!(split(&[0; 10]), None);
        assert_eq!(unescape(&[0, 1, 0, 0]), None);
        assert_eq!(unescape(&[1, 2]), None);
    }

    proptest! {
        #[test]
        fn orders_as_user_keys_then_revision_descending(
            a in proptest::collection::vec(0u8..4, 0..6),
            b in proptest::collection::vec(0u8..4, 0..6),
            ra in 1i64..1000, sa in 0i64..4, rb in 1i64..1000, sb in 0i64..4,
        ) {
            let ea = encode(&prefix(&a), Revision { main: ra, sub: sa });
            let eb = encode(&prefix(&b), Revision { main: rb, sub: sb });
            let want = a.cmp(&b).then((rb, sb).cmp(&(ra, sa)));
            prop_assert_eq!(ea.cmp(&eb), want);
            let (p, r) = split(&ea).unwrap();
            prop_assert_eq!(unescape(p).unwrap(), a.clone());
            prop_assert_eq!(r, Revision { main: ra, sub: sa });
            prop_assert!(ea.as_slice() < prefix_end(&prefix(&a)).as_slice());
            let range = KeyRange::new(&a, &b);
            let want = b.is_empty() || b == [0] || a < b;
            prop_assert_eq!(range.contains_prefix(&prefix(&a)), want);
        }
    }
}
