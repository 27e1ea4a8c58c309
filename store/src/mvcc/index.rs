//! The `index` table's value: what a write or a range needs to know about one version of a
//! key without reading its record from the `rev` table. A put reads its key's newest entry
//! for version and create_revision, a delete for the lease, a range for whether the key is
//! live at its revision; only the versions a range returns are read from `rev`. So a write
//! dirties small index pages and the `rev` table's tail, not a page per record.
//!
//! Encoding: a flags byte (bit 0: tombstone), then, for a live version only, LEB128
//! varints of create_revision, version and lease (as u64). Decoding takes nothing else.

use super::MvccError;

const TOMBSTONE: u8 = 1;
/// The longest LEB128 encoding of a u64.
const MAX_VARINT: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub tombstone: bool,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
}

fn corrupt() -> MvccError {
    MvccError::Corrupt {
        reason: "index entry malformed",
    }
}

impl IndexEntry {
    pub const TOMBSTONE: IndexEntry = IndexEntry {
        tombstone: true,
        create_revision: 0,
        version: 0,
        lease: 0,
    };

    pub fn encode(&self) -> Vec<u8> {
        if self.tombstone {
            return vec![TOMBSTONE];
        }
        let mut out = Vec::with_capacity(1 + 3 * MAX_VARINT);
        out.push(0);
        for n in [self.create_revision, self.version, self.lease] {
            let mut n = n as u64;
            while n >= 0x80 {
                out.push(n as u8 | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<IndexEntry, MvccError> {
        match bytes {
            [TOMBSTONE] => Ok(IndexEntry::TOMBSTONE),
            [0, rest @ ..] => {
                let mut rest = rest;
                let mut next = || -> Result<i64, MvccError> {
                    let mut n = 0u64;
                    for (i, &b) in rest.iter().take(MAX_VARINT).enumerate() {
                        // The tenth byte may carry only the top bit of a u64.
                        if i == MAX_VARINT - 1 && b > 1 {
                            return Err(corrupt());
                        }
                        n |= u64::from(b & 0x7f) << (7 * i);
                        if b & 0x80 == 0 {
                            rest = &rest[i + 1..];
                            return Ok(n as i64);
                        }
                    }
                    Err(corrupt())
                };
                let entry = IndexEntry {
                    tombstone: false,
                    create_revision: next()?,
                    version: next()?,
                    lease: next()?,
                };
                if rest.is_empty() {
                    Ok(entry)
                } else {
                    Err(corrupt())
                }
            }
            _ => Err(corrupt()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_malformed() {
        for bad in [
            &[][..],
            &[2],
            &[1, 0],
            &[0],
            &[0, 1, 1],
            &[0, 1, 1, 1, 0],
            &[0, 0x80],
        ] {
            assert!(IndexEntry::decode(bad).is_err(), "{bad:?}");
        }
        let mut long = vec![0];
        long.extend([0xff; 9]);
        long.push(2);
        long.extend([1, 1]);
        assert!(IndexEntry::decode(&long).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(c: i64, v: i64, l: i64) {
            let e = IndexEntry { tombstone: false, create_revision: c, version: v, lease: l };
            prop_assert_eq!(IndexEntry::decode(&e.encode()).unwrap(), e);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = IndexEntry::decode(&bytes);
        }
    }
}
