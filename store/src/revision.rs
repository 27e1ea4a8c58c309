//! etcd's revision pair: `main` is the cluster-wide counter bumped once per mutating
//! request, `sub` orders the changes inside one request (a Txn's puts and deletes).

/// A revision, ordered by `main` then `sub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub const ENCODED_LEN: usize = 17;

    /// etcd's 17-byte key form `main(8, BE) '_' sub(8, BE)`: big-endian so byte order is
    /// revision order in the B-tree.
    pub fn to_bytes(self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.main.to_be_bytes());
        out[8] = b'_';
        out[9..].copy_from_slice(&self.sub.to_be_bytes());
        out
    }

    /// Decodes the 17-byte form; `None` for any other shape (the bytes come from disk).
    pub fn from_bytes(bytes: &[u8]) -> Option<Revision> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        if bytes[8] != b'_' {
            return None;
        }
        let main = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        let sub = i64::from_be_bytes(bytes[9..].try_into().ok()?);
        Some(Revision { main, sub })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_wrong_shapes() {
        assert_eq!(Revision::from_bytes(&[0; 16]), None);
        assert_eq!(Revision::from_bytes(&[0; 17]), None);
    }

    proptest! {
        #[test]
        fn round_trips_and_orders(a_main in 0i64.., a_sub in 0i64.., b_main in 0i64.., b_sub in 0i64..) {
            let a = Revision { main: a_main, sub: a_sub };
            let b = Revision { main: b_main, sub: b_sub };
            prop_assert_eq!(Revision::from_bytes(&a.to_bytes()), Some(a));
            prop_assert_eq!(a.cmp(&b), a.to_bytes().cmp(&b.to_bytes()));
        }
    }
}
