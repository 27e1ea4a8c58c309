//! HPACK (RFC 7541): header compression for HTTP/2 field blocks. `huffman` owns the string
//! code, `table` the static and dynamic tables, `decoder` and `encoder` one direction each
//! of a connection's compression state. Everything here works on whole field blocks; the
//! codec has already joined CONTINUATION frames, and meaning (pseudo-headers, gRPC
//! metadata) is the next layer's business.

mod decoder;
mod encoder;
pub mod huffman;
mod integer;
pub mod table;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use decoder::{DEFAULT_MAX_HEADER_LIST_SIZE, Decoder};
pub use encoder::{Encoder, HuffmanPolicy, IndexPolicy};

/// One header field as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Bytes,
    pub value: Bytes,
    /// Sent or received as "never indexed" (§6.2.3): intermediaries must not compress it
    /// either, because its value is a secret (credentials, tokens).
    pub sensitive: bool,
}

impl Header {
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
            sensitive: true,
        }
    }

    /// The size the header list limit counts (RFC 9113 §6.5.2: name + value + 32).
    pub fn list_size(&self) -> usize {
        table::entry_size(&self.name, &self.value)
    }
}

/// Why a field block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("HPACK integer overflows")]
    IntegerOverflow,
    #[error("HPACK field block ends mid-representation")]
    Truncated,
    #[error("HPACK index {0} is not in the static or dynamic table")]
    InvalidIndex(usize),
    #[error("invalid Huffman-coded string")]
    InvalidHuffman,
    #[error("dynamic table size update to {requested} exceeds the allowed {allowed}")]
    SizeUpdateTooLarge { requested: usize, allowed: usize },
    #[error("dynamic table size update after the first header field of a block")]
    SizeUpdateNotAtStart,
    #[error("field block lacks the dynamic table size update a SETTINGS change requires")]
    SizeUpdateMissing,
    /// The block decoded cleanly but its headers exceed SETTINGS_MAX_HEADER_LIST_SIZE; the
    /// compression state is intact, so only the stream fails (RFC 9113 §10.5.1).
    #[error("header list larger than {limit} octets")]
    HeaderListTooLarge { limit: usize },
}

impl HpackError {
    /// True when the connection's compression state is lost: RFC 9113 §4.3 makes that a
    /// connection error of type COMPRESSION_ERROR.
    pub fn is_compression_error(&self) -> bool {
        !matches!(self, HpackError::HeaderListTooLarge { .. })
    }
}
