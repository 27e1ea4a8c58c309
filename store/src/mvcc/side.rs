//! Side tables (leases, auth, members, cluster, alarms, server meta) in one B-tree table,
//! each under its own leading byte: the file has only 8 tables and these stay small.

use super::source::{SIDE, Source};
use super::view::ordered;
use super::{MvccError, Side, SideEntries};
use crate::WriteTxn;

impl Side {
    fn tag(self) -> u8 {
        match self {
            Side::Lease => 1,
            Side::AuthUser => 2,
            Side::AuthRole => 3,
            Side::AuthMeta => 4,
            Side::Member => 5,
            Side::Cluster => 6,
            Side::Alarm => 7,
            Side::Meta => 8,
            Side::LeaseKey => 9,
        }
    }
}

fn side_key(side: Side, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(side.tag());
    out.extend_from_slice(key);
    out
}

pub fn get(src: &impl Source, side: Side, key: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
    Ok(src.get(SIDE, &side_key(side, key))?.map(<[u8]>::to_vec))
}

pub fn scan(src: &impl Source, side: Side) -> Result<SideEntries, MvccError> {
    scan_prefix(src, side, &[])
}

/// The entries of `side` whose keys start with `prefix`, in key order.
pub fn scan_prefix(src: &impl Source, side: Side, prefix: &[u8]) -> Result<SideEntries, MvccError> {
    let start = side_key(side, prefix);
    let end = successor_of_prefix(&start);
    let mut out = Vec::new();
    let mut last = None;
    for item in src.scan(SIDE, &start, Some(&end))? {
        let (k, v) = item?;
        ordered(&mut last, k)?;
        let user = k.get(1..).unwrap_or_default();
        out.push((user.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// The smallest key above every key that starts with `prefix` (which starts with a tag
/// byte below 0xFF, so it is never all 0xFF).
fn successor_of_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while end.last() == Some(&0xFF) {
        end.pop();
    }
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// The longest key a side table holds (the B-tree's limit less the tag byte).
pub const MAX_SIDE_KEY_LEN: usize = crate::MAX_KEY_LEN - 1;

/// Refuses what the B-tree would refuse, before the write is touched.
pub fn check(key: &[u8], value: &[u8]) -> Result<(), MvccError> {
    if key.len() > MAX_SIDE_KEY_LEN {
        return Err(MvccError::KeyTooLarge {
            len: key.len(),
            max: MAX_SIDE_KEY_LEN,
        });
    }
    if value.len() > crate::MAX_VALUE_LEN {
        return Err(MvccError::ValueTooLarge {
            len: value.len(),
            max: crate::MAX_VALUE_LEN,
        });
    }
    Ok(())
}

pub fn put(w: &mut WriteTxn<'_>, side: Side, key: &[u8], value: &[u8]) -> Result<(), MvccError> {
    Ok(w.insert(SIDE, &side_key(side, key), value)?)
}

pub fn delete(w: &mut WriteTxn<'_>, side: Side, key: &[u8]) -> Result<bool, MvccError> {
    Ok(w.remove(SIDE, &side_key(side, key))?)
}
