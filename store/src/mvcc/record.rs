//! The `kv` table's value: one version of a key. This is the only file that knows the layout,
//! so switching the codec (the issue asks for flatbuffers) touches nothing else.
//!
//! Layout, little-endian, fixed header then the value bytes:
//! `format(1) = 1 | kind(1): 0 put, 1 tombstone | create_revision(8) | version(8) | lease(8) | value`.
//! The key and mod_revision are not repeated: they are the `kv` key. Decoding checks every
//! length and enum byte and returns an error, never panics, since the bytes come from disk.

use super::MvccError;

const FORMAT: u8 = 1;
const HEADER_LEN: usize = 2 + 3 * 8;

/// A version as stored; `value` borrows from the map (or the writer's pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub tombstone: bool,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub value: &'a [u8],
}

impl<'a> Record<'a> {
    pub fn tombstone() -> Record<'static> {
        Record {
            tombstone: true,
            create_revision: 0,
            version: 0,
            lease: 0,
            value: &[],
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.value.len());
        out.push(FORMAT);
        out.push(u8::from(self.tombstone));
        out.extend_from_slice(&self.create_revision.to_le_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.lease.to_le_bytes());
        out.extend_from_slice(self.value);
        out
    }

    pub fn decode(bytes: &'a [u8]) -> Result<Record<'a>, MvccError> {
        let corrupt = |reason| MvccError::Corrupt { reason };
        let (header, value) = bytes
            .split_at_checked(HEADER_LEN)
            .ok_or(corrupt("kv record shorter than its header"))?;
        let [format, kind, rest @ ..] = header else {
            return Err(corrupt("kv record shorter than its header"));
        };
        if *format != FORMAT {
            return Err(corrupt("kv record of an unknown format"));
        }
        let tombstone = match kind {
            0 => false,
            1 => true,
            _ => return Err(corrupt("kv record of an unknown kind")),
        };
        let field = |i: usize| -> Result<i64, MvccError> {
            rest.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_le_bytes)
                .ok_or(corrupt("kv record field out of bounds"))
        };
        Ok(Record {
            tombstone,
            create_revision: field(0)?,
            version: field(1)?,
            lease: field(2)?,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(t: bool, c: i64, v: i64, l: i64, value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let r = Record { tombstone: t, create_revision: c, version: v, lease: l, value: &value };
            let bytes = r.encode();
            prop_assert_eq!(Record::decode(&bytes).unwrap(), r);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Record::decode(&bytes);
        }
    }
}
