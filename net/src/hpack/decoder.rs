//! The receiving half of a connection's HPACK state (RFC 7541 §3, §6). It owns the peer's
//! dynamic table and the limits that keep a hostile field block cheap: integers capped at
//! 32 bits, strings bounded by the block, size updates only where §4.2 allows them, and a
//! header list limit after which fields are still processed (the table must stay in sync)
//! but no longer stored, so a block that indexes one large entry many times (an "HPACK
//! bomb") costs memory only up to the limit.

use bytes::Bytes;

use super::table::{DEFAULT_TABLE_SIZE, DynamicTable, lookup};
use super::{Header, HpackError, huffman, integer};

/// Default SETTINGS_MAX_HEADER_LIST_SIZE we enforce: generous for gRPC metadata, small
/// enough that one request cannot pin much memory.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 64 * 1024;

#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: the largest size update the peer may send.
    allowed_table_size: usize,
    /// Set when we lowered the allowed size below the table's current maximum; the next
    /// block must then open with a size update (§4.2).
    size_update_required: bool,
    max_header_list_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DEFAULT_TABLE_SIZE, DEFAULT_MAX_HEADER_LIST_SIZE)
    }
}

impl Decoder {
    pub fn new(table_size: usize, max_header_list_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(table_size),
            allowed_table_size: table_size,
            size_update_required: false,
            max_header_list_size,
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours once the peer has acknowledged it.
    pub fn set_allowed_table_size(&mut self, size: usize) {
        if size < self.table.max_size() {
            self.size_update_required = true;
        }
        self.allowed_table_size = size;
    }

    pub fn set_max_header_list_size(&mut self, size: usize) {
        self.max_header_list_size = size;
    }

    /// The dynamic table, for inspection and tests.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete field block. On `HeaderListTooLarge` the table is still up to
    /// date and the connection can continue; any other error loses the compression state.
    pub fn decode(&mut self, block: &Bytes) -> Result<Vec<Header>, HpackError> {
        let src: &[u8] = block;
        let mut pos = 0;
        let mut headers = Vec::with_capacity(12);
        let mut list_size = 0usize;
        let mut too_large = false;
        let mut seen_field = false;

        while let Some(&first) = src.get(pos) {
            let header = if first & 0x80 != 0 {
                // §6.1 Indexed Header Field.
                let index = integer::decode(src, &mut pos, 7)?;
                let (name, value) =
                    lookup(&self.table, index).ok_or(HpackError::InvalidIndex(index))?;
                Header {
                    name,
                    value,
                    sensitive: false,
                }
            } else if first & 0x40 != 0 {
                // §6.2.1 Literal with Incremental Indexing.
                let (name, value) = self.literal(block, &mut pos, 6)?;
                self.table.insert(name.clone(), value.clone());
                Header {
                    name,
                    value,
                    sensitive: false,
                }
            } else if first & 0x20 != 0 {
                // §6.3 Dynamic Table Size Update: only before the first field (§4.2).
                if seen_field {
                    return Err(HpackError::SizeUpdateNotAtStart);
                }
                let size = integer::decode(src, &mut pos, 5)?;
                if size > self.allowed_table_size {
                    return Err(HpackError::SizeUpdateTooLarge {
                        requested: size,
                        allowed: self.allowed_table_size,
                    });
                }
                self.table.set_max_size(size);
                self.size_update_required = false;
                continue;
            } else {
                // §6.2.2 without indexing (0000) or §6.2.3 never indexed (0001).
                let sensitive = first & 0x10 != 0;
                let (name, value) = self.literal(block, &mut pos, 4)?;
                Header {
                    name,
                    value,
                    sensitive,
                }
            };
            if self.size_update_required {
                return Err(HpackError::SizeUpdateMissing);
            }
            seen_field = true;
            list_size = list_size.saturating_add(header.list_size());
            if list_size > self.max_header_list_size {
                // Keep decoding so the dynamic table matches the encoder's, but stop
                // holding on to fields.
                too_large = true;
                headers = Vec::new();
            } else {
                headers.push(header);
            }
        }
        if too_large {
            return Err(HpackError::HeaderListTooLarge {
                limit: self.max_header_list_size,
            });
        }
        Ok(headers)
    }

    /// A literal representation: name by index (non-zero prefix value) or as a string,
    /// then the value string.
    fn literal(
        &self,
        block: &Bytes,
        pos: &mut usize,
        prefix_bits: u8,
    ) -> Result<(Bytes, Bytes), HpackError> {
        let index = integer::decode(block, pos, prefix_bits)?;
        let name = if index == 0 {
            read_string(block, pos)?
        } else {
            lookup(&self.table, index)
                .ok_or(HpackError::InvalidIndex(index))?
                .0
        };
        let value = read_string(block, pos)?;
        Ok((name, value))
    }
}

/// A string literal (§5.2). Plain strings are zero-copy slices of the block.
fn read_string(block: &Bytes, pos: &mut usize) -> Result<Bytes, HpackError> {
    let huffman_coded = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer::decode(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    if end > block.len() {
        return Err(HpackError::Truncated);
    }
    let raw = block.slice(*pos..end);
    *pos = end;
    if huffman_coded {
        let mut out = Vec::new();
        huffman::decode(&raw, &mut out)?;
        Ok(Bytes::from(out))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    #[test]
    fn index_zero_and_out_of_range() {
        let mut d = Decoder::default();
        assert_eq!(d.decode(&block(&[0x80])), Err(HpackError::InvalidIndex(0)));
        assert_eq!(d.decode(&block(&[0xbe])), Err(HpackError::InvalidIndex(62)));
        assert_eq!(
            d.decode(&block(&[0x7e, 0x00])),
            Err(HpackError::InvalidIndex(62))
        );
    }

    #[test]
    fn truncated_literals() {
        let mut d = Decoder::default();
        // Literal name, length 5, but only 2 octets.
        assert_eq!(
            d.decode(&block(&[0x40, 0x05, b'a', b'b'])),
            Err(HpackError::Truncated)
        );
        // Name present, value missing.
        assert_eq!(
            d.decode(&block(&[0x40, 0x01, b'a'])),
            Err(HpackError::Truncated)
        );
        assert_eq!(d.decode(&block(&[0x0f])), Err(HpackError::Truncated));
        assert!(d.decode(&block(&[])).unwrap().is_empty());
    }

    #[test]
    fn never_indexed_is_reported_and_not_stored() {
        let mut d = Decoder::default();
        // 0001 0000, name "password", value "secret" (C.2.3).
        let raw = b"\x10\x08password\x06secret";
        let headers = d.decode(&block(raw)).unwrap();
        assert_eq!(headers, vec![Header::sensitive("password", "secret")]);
        assert!(d.table().is_empty());
    }

    #[test]
    fn size_update_rules() {
        let mut d = Decoder::default();
        // Two updates at the start are fine (§4.2: smallest then final).
        assert!(d.decode(&block(&[0x20, 0x3f, 0xe1, 0x1f, 0x82])).is_ok());
        assert_eq!(d.table().max_size(), 4096);
        // An update after a field.
        assert_eq!(
            d.decode(&block(&[0x82, 0x20])),
            Err(HpackError::SizeUpdateNotAtStart)
        );
        // Above our SETTINGS_HEADER_TABLE_SIZE.
        let mut d = Decoder::default();
        assert_eq!(
            d.decode(&block(&[0x3f, 0xe2, 0x1f])),
            Err(HpackError::SizeUpdateTooLarge {
                requested: 4097,
                allowed: 4096
            })
        );
        // We lowered our setting: the next block must start with an update.
        let mut d = Decoder::default();
        d.set_allowed_table_size(100);
        assert_eq!(
            d.decode(&block(&[0x82])),
            Err(HpackError::SizeUpdateMissing)
        );
        let mut d = Decoder::default();
        d.set_allowed_table_size(100);
        assert!(d.decode(&block(&[0x3f, 0x45, 0x82])).is_ok());
        assert_eq!(d.table().max_size(), 100);
        assert!(d.decode(&block(&[0x82])).is_ok());
    }

    #[test]
    fn header_list_limit_keeps_table_in_sync() {
        let mut d = Decoder::new(4096, 100);
        // Inserts a 32+1+100-octet field, over the 100 limit.
        let mut raw = vec![0x40, 0x01, b'x', 0x64];
        raw.extend_from_slice(&[b'v'; 100]);
        assert_eq!(
            d.decode(&block(&raw)),
            Err(HpackError::HeaderListTooLarge { limit: 100 })
        );
        assert_eq!(d.table().len(), 1, "entry still inserted");
        assert!(!HpackError::HeaderListTooLarge { limit: 1 }.is_compression_error());
    }

    #[test]
    fn hpack_bomb_is_bounded() {
        let mut d = Decoder::new(4096, 16 * 1024);
        // One 4000-octet entry, then index it 10 000 times: 40 MB if stored.
        let mut raw = vec![0x40, 0x01, b'x', 0x7f];
        let mut len = BytesMutLen::default();
        len.push_int(4000 - 127);
        raw.extend_from_slice(&len.0);
        raw.extend(std::iter::repeat_n(b'v', 4000));
        raw.extend(std::iter::repeat_n(0xbe, 10_000));
        assert!(matches!(
            d.decode(&block(&raw)),
            Err(HpackError::HeaderListTooLarge { .. })
        ));
    }

    #[derive(Default)]
    struct BytesMutLen(Vec<u8>);
    impl BytesMutLen {
        fn push_int(&mut self, mut v: usize) {
            while v >= 0x80 {
                self.0.push((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
        }
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = Decoder::default();
            let _ = d.decode(&Bytes::from(bytes.clone()));
            let _ = d.decode(&Bytes::from(bytes));
            prop_assert!(d.table().size() <= d.table().max_size());
        }
    }
}
