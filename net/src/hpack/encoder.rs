//! The sending half of a connection's HPACK state. It owns our dynamic table (mirroring the
//! peer's decoder) and the choices of how to represent each field. The choices are tuned
//! for gRPC, where the same few headers repeat on every call: anything already in a table
//! is sent as a one-octet index; stable headers (`content-type: application/grpc`,
//! `grpc-status: 0`, `:path`, `te`) are indexed on first use; per-call values
//! (`grpc-timeout`, `grpc-message`, `content-length`, `date`) are not indexed so they do not
//! churn the table; credentials are never indexed so no intermediary compresses them
//! (§7.1.3).

use bytes::BytesMut;

use super::table::{DEFAULT_TABLE_SIZE, DynamicTable, STATIC_TABLE, entry_size, find_static};
use super::{Header, huffman, integer};

/// Names whose values are secrets: always "never indexed".
const NEVER_INDEXED: [&[u8]; 5] = [
    b"authorization",
    b"proxy-authorization",
    b"token",
    b"cookie",
    b"set-cookie",
];

/// Names whose values change on nearly every message: indexing them would only evict
/// useful entries.
const NOT_INDEXED: [&[u8]; 8] = [
    b"grpc-timeout",
    b"grpc-message",
    b"content-length",
    b"date",
    b"etag",
    b"last-modified",
    b"if-modified-since",
    b"grpc-status-details-bin",
];

/// Which fields go into the dynamic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexPolicy {
    /// The gRPC-tuned choice described in the module docs.
    Selective,
    /// Every field not explicitly marked sensitive, as the RFC 7541 Appendix C encoder
    /// does (it indexes `set-cookie`); for fixtures and interop tests.
    Everything,
}

/// When string literals are Huffman-coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanPolicy {
    /// Whenever the code is shorter than the plain string.
    WhenShorter,
    Always,
    Never,
}

#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    index_policy: IndexPolicy,
    huffman_policy: HuffmanPolicy,
    /// Upper bound we impose on our own table whatever the peer allows, to bound memory.
    own_limit: usize,
    /// Size updates to emit at the start of the next block: the smallest size reached since
    /// the last block, then the final size (§4.2).
    pending_update: Option<(usize, usize)>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(DEFAULT_TABLE_SIZE)
    }
}

impl Encoder {
    /// An encoder whose table never exceeds `own_limit` octets. It starts at the protocol
    /// default of 4096 (capped by `own_limit`) until the peer's SETTINGS say otherwise.
    pub fn new(own_limit: usize) -> Self {
        let mut encoder = Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            own_limit,
            pending_update: None,
            index_policy: IndexPolicy::Selective,
            huffman_policy: HuffmanPolicy::WhenShorter,
        };
        if own_limit < DEFAULT_TABLE_SIZE {
            encoder.set_max_table_size(own_limit);
        }
        encoder
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE.
    pub fn set_max_table_size(&mut self, peer_size: usize) {
        let size = peer_size.min(self.own_limit);
        let smallest = match self.pending_update {
            Some((smallest, _)) => smallest.min(size),
            None => size.min(self.table.max_size()),
        };
        self.pending_update = Some((smallest, size));
        // Evict now, so entries the peer may already have dropped are never referenced.
        self.table.set_max_size(smallest);
    }

    pub fn set_index_policy(&mut self, policy: IndexPolicy) {
        self.index_policy = policy;
    }

    pub fn set_huffman_policy(&mut self, policy: HuffmanPolicy) {
        self.huffman_policy = policy;
    }

    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Appends one field block for `headers` to `dst`.
    pub fn encode<'h>(
        &mut self,
        headers: impl IntoIterator<Item = &'h Header>,
        dst: &mut BytesMut,
    ) {
        if let Some((smallest, size)) = self.pending_update.take() {
            if smallest < size {
                integer::encode(smallest, 5, 0x20, dst);
            }
            integer::encode(size, 5, 0x20, dst);
            self.table.set_max_size(size);
        }
        for header in headers {
            self.encode_field(header, dst);
        }
    }

    fn encode_field(&mut self, header: &Header, dst: &mut BytesMut) {
        let name: &[u8] = &header.name;
        let value: &[u8] = &header.value;
        let sensitive = header.sensitive
            || (self.index_policy == IndexPolicy::Selective && NEVER_INDEXED.contains(&name));

        let static_match = find_static(name, value);
        let (dynamic_full, dynamic_name) = self.find_dynamic(name, value);
        if !sensitive {
            if let Some((index, true)) = static_match {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
            if let Some(index) = dynamic_full {
                integer::encode(index, 7, 0x80, dst);
                return;
            }
        }
        let name_index = static_match.map(|(i, _)| i).or(dynamic_name).unwrap_or(0);

        let size = entry_size(name, value);
        // An entry over half the table would evict most of what is worth keeping.
        let index_it = !sensitive
            && match self.index_policy {
                IndexPolicy::Selective => {
                    !NOT_INDEXED.contains(&name) && size <= self.table.max_size() / 2
                }
                IndexPolicy::Everything => true,
            };
        let (prefix, flags) = if sensitive {
            (4, 0x10)
        } else if index_it {
            (6, 0x40)
        } else {
            (4, 0x00)
        };
        integer::encode(name_index, prefix, flags, dst);
        if name_index == 0 {
            self.write_string(name, dst);
        }
        self.write_string(value, dst);
        if index_it {
            self.table.insert(header.name.clone(), header.value.clone());
        }
    }

    /// Index of a full match and of a name match in the dynamic table.
    fn find_dynamic(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut name_match = None;
        for (pos, (n, v)) in self.table.iter().enumerate() {
            if n == name {
                let index = STATIC_TABLE.len() + 1 + pos;
                if v == value {
                    return (Some(index), Some(index));
                }
                name_match.get_or_insert(index);
            }
        }
        (None, name_match)
    }
    /// A string literal, Huffman-coded as the policy says.
    fn write_string(&self, s: &[u8], dst: &mut BytesMut) {
        let coded_len = huffman::encoded_len(s);
        let use_huffman = match self.huffman_policy {
            HuffmanPolicy::WhenShorter => coded_len < s.len(),
            HuffmanPolicy::Always => true,
            HuffmanPolicy::Never => false,
        };
        if use_huffman {
            integer::encode(coded_len, 7, 0x80, dst);
            huffman::encode(s, dst);
        } else {
            integer::encode(s.len(), 7, 0x00, dst);
            dst.extend_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Decoder;
    use super::*;
    use bytes::Bytes;

    fn static_header(name: &'static str, value: &'static str) -> Header {
        Header::new(
            Bytes::from_static(name.as_bytes()),
            Bytes::from_static(value.as_bytes()),
        )
    }

    fn encode(e: &mut Encoder, headers: &[Header]) -> BytesMut {
        let mut dst = BytesMut::new();
        e.encode(headers, &mut dst);
        dst
    }

    #[test]
    fn grpc_response_headers_become_single_octets() {
        let mut e = Encoder::default();
        let headers = [
            static_header(":status", "200"),
            static_header("content-type", "application/grpc"),
        ];
        let first = encode(&mut e, &headers);
        assert_eq!(first[0], 0x88, ":status 200 is static index 8");
        // Second time, content-type is in the dynamic table.
        let second = encode(&mut e, &headers);
        assert_eq!(&second[..], &[0x88, 0xbe]);

        let trailers = [static_header("grpc-status", "0")];
        encode(&mut e, &trailers);
        assert_eq!(encode(&mut e, &trailers).len(), 1);
    }

    #[test]
    fn credentials_are_never_indexed() {
        let mut e = Encoder::default();
        let headers = [
            static_header("authorization", "Bearer x"),
            static_header("token", "t"),
        ];
        let block = encode(&mut e, &headers);
        assert_eq!(
            block[0],
            0x10 | 0x0f,
            "never indexed, name index 23 needs 15+8"
        );
        assert!(e.table().is_empty());
        let decoded = Decoder::default().decode(&block.freeze()).unwrap();
        assert!(decoded.iter().all(|h| h.sensitive));
        let explicit = [Header::sensitive("x-secret", "s")];
        let block = encode(&mut e, &explicit);
        assert_eq!(block[0], 0x10);
    }

    #[test]
    fn per_call_values_are_not_indexed() {
        let mut e = Encoder::default();
        encode(&mut e, &[static_header("grpc-timeout", "5S")]);
        assert!(e.table().is_empty());
    }

    #[test]
    fn table_size_updates_lead_the_next_block() {
        let mut e = Encoder::default();
        e.set_max_table_size(0);
        e.set_max_table_size(1000);
        let block = encode(&mut e, &[static_header(":status", "200")]);
        // 0 then 1000 (31 + 969 = 0xc9 0x07), then the field.
        assert_eq!(&block[..], &[0x20, 0x3f, 0xc9, 0x07, 0x88]);
        let mut d = Decoder::default();
        d.decode(&block.freeze()).unwrap();
        assert_eq!(d.table().max_size(), 1000);

        let mut e = Encoder::new(256);
        let block = encode(&mut e, &[]);
        assert_eq!(&block[..], &[0x3f, 0xe1, 0x01]);
        e.set_max_table_size(1 << 20);
        assert_eq!(e.table().max_size(), 256, "own limit caps the peer's offer");
    }
}
