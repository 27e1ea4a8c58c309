//! The `meta` table: the few numbers start-up and every read snapshot need, in one entry so a
//! snapshot costs a single lookup and opening never scans the keyspace.
//!
//! Entry `state`, 49 bytes: `current(8, LE) | compact(8, LE) | compaction cursor (17, etcd's
//! revision form) | consistent index(8, LE) | consistent term(8, LE)`.

use super::MvccError;
use super::source::{META, Source};
use crate::WriteTxn;
use crate::revision::Revision;

const STATE: &[u8] = b"state";
const LEN: usize = 8 + 8 + Revision::ENCODED_LEN + 8 + 8;

/// What the meta table says about one committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaState {
    /// etcd's current revision: 1 in a fresh store.
    pub current: i64,
    /// The latest logical compaction (0 = never).
    pub compact: i64,
    /// The next `rev` table entry physical compaction looks at; done when `main > compact`.
    pub cursor: Revision,
    pub consistent_index: (u64, u64),
}

impl Default for MetaState {
    fn default() -> MetaState {
        MetaState {
            current: 1,
            compact: 0,
            cursor: Revision::default(),
            consistent_index: (0, 0),
        }
    }
}

fn corrupt() -> MvccError {
    MvccError::Corrupt {
        reason: "meta state is not 49 well-formed bytes",
    }
}

impl MetaState {
    pub fn load(src: &impl Source) -> Result<MetaState, MvccError> {
        match src.get(META, STATE)? {
            None => Ok(MetaState::default()),
            Some(b) => MetaState::decode(b),
        }
    }

    fn decode(b: &[u8]) -> Result<MetaState, MvccError> {
        if b.len() != LEN {
            return Err(corrupt());
        }
        let word = |at: usize| -> Result<[u8; 8], MvccError> {
            b.get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .ok_or_else(corrupt)
        };
        let cursor = b
            .get(16..16 + Revision::ENCODED_LEN)
            .and_then(Revision::from_bytes)
            .ok_or_else(corrupt)?;
        Ok(MetaState {
            current: i64::from_le_bytes(word(0)?),
            compact: i64::from_le_bytes(word(8)?),
            cursor,
            consistent_index: (u64::from_le_bytes(word(33)?), u64::from_le_bytes(word(41)?)),
        })
    }

    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(&self.current.to_le_bytes());
        b[8..16].copy_from_slice(&self.compact.to_le_bytes());
        b[16..33].copy_from_slice(&self.cursor.to_bytes());
        b[33..41].copy_from_slice(&self.consistent_index.0.to_le_bytes());
        b[41..].copy_from_slice(&self.consistent_index.1.to_le_bytes());
        b
    }

    pub fn store(&self, w: &mut WriteTxn<'_>) -> Result<(), MvccError> {
        Ok(w.insert(META, STATE, &self.encode())?)
    }

    pub fn compaction_done(&self) -> bool {
        self.compact == 0 || self.cursor.main > self.compact
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(c: i64, k: i64, m in 0i64.., s in 0i64.., i: u64, t: u64) {
            let st = MetaState { current: c, compact: k, cursor: Revision { main: m, sub: s }, consistent_index: (i, t) };
            prop_assert_eq!(MetaState::decode(&st.encode()).unwrap(), st);
        }

        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..60)) {
            let _ = MetaState::decode(&b);
        }
    }
}
