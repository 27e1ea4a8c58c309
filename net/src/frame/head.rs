//! The 9-octet frame header (RFC 9113 §4.1) and stream identifiers. Every frame parse starts
//! here; the payload length is trusted only after it is checked against the negotiated
//! SETTINGS_MAX_FRAME_SIZE.

use bytes::{BufMut, BytesMut};

use super::{ErrorCode, H2Error};

/// Octets in a frame header.
pub const HEADER_LEN: usize = 9;

/// A 31-bit stream identifier; the reserved high bit is always cleared on parse (§4.1 says
/// it MUST be ignored when receiving).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: the connection itself.
    pub const ZERO: StreamId = StreamId(0);
    /// The largest identifier a stream can have.
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// Builds an id from 32 bits, dropping the reserved bit.
    pub fn new(raw: u32) -> Self {
        StreamId(raw & 0x7fff_ffff)
    }

    pub fn value(self) -> u32 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Client-initiated streams are odd (§5.1.1).
    pub fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl From<u32> for StreamId {
    fn from(raw: u32) -> Self {
        StreamId::new(raw)
    }
}

/// Frame types of RFC 9113 §6. Unknown types are kept so the reader can skip them (§4.1:
/// implementations MUST ignore and discard frames of unknown types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl Kind {
    pub fn from_u8(raw: u8) -> Self {
        match raw {
            0x0 => Kind::Data,
            0x1 => Kind::Headers,
            0x2 => Kind::Priority,
            0x3 => Kind::RstStream,
            0x4 => Kind::Settings,
            0x5 => Kind::PushPromise,
            0x6 => Kind::Ping,
            0x7 => Kind::GoAway,
            0x8 => Kind::WindowUpdate,
            0x9 => Kind::Continuation,
            other => Kind::Unknown(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Kind::Data => 0x0,
            Kind::Headers => 0x1,
            Kind::Priority => 0x2,
            Kind::RstStream => 0x3,
            Kind::Settings => 0x4,
            Kind::PushPromise => 0x5,
            Kind::Ping => 0x6,
            Kind::GoAway => 0x7,
            Kind::WindowUpdate => 0x8,
            Kind::Continuation => 0x9,
            Kind::Unknown(other) => other,
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits on the wire).
    pub length: u32,
    pub kind: Kind,
    pub flags: u8,
    pub stream_id: StreamId,
}

impl FrameHeader {
    pub fn new(kind: Kind, flags: u8, stream_id: StreamId, length: u32) -> Self {
        FrameHeader {
            length,
            kind,
            flags,
            stream_id,
        }
    }

    /// Reads a header from the first 9 octets of `src`; `None` if fewer are available.
    pub fn parse(src: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: Kind::from_u8(h[3]),
            flags: h[4],
            stream_id: StreamId::new(u32::from_be_bytes([h[5], h[6], h[7], h[8]])),
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        debug_assert!(self.length <= 0x00ff_ffff, "frame length is 24 bits");
        let len = self.length.to_be_bytes();
        dst.put_slice(&len[1..]);
        dst.put_u8(self.kind.to_u8());
        dst.put_u8(self.flags);
        dst.put_u32(self.stream_id.value());
    }

    /// Checks the length against SETTINGS_MAX_FRAME_SIZE (§4.2). Frames that can change
    /// connection state (field blocks, SETTINGS, anything on stream 0) MUST be connection
    /// errors; for the rest the RFC allows a stream error.
    pub fn check_max_frame_size(&self, max_frame_size: u32) -> Result<(), H2Error> {
        if self.length <= max_frame_size {
            return Ok(());
        }
        let connection_wide = self.stream_id.is_zero()
            || matches!(
                self.kind,
                Kind::Headers | Kind::PushPromise | Kind::Continuation | Kind::Settings
            );
        let reason = "frame larger than SETTINGS_MAX_FRAME_SIZE";
        if connection_wide {
            Err(H2Error::connection(ErrorCode::FrameSizeError, reason))
        } else {
            Err(H2Error::stream(
                self.stream_id,
                ErrorCode::FrameSizeError,
                reason,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_reserved_bit() {
        let mut buf = BytesMut::new();
        FrameHeader::new(Kind::Headers, 0x25, StreamId::new(7), 0x12_3456).encode(&mut buf);
        assert_eq!(&buf[..], &[0x12, 0x34, 0x56, 0x01, 0x25, 0, 0, 0, 7]);
        let head = FrameHeader::parse(&buf).unwrap();
        assert_eq!(head.length, 0x12_3456);
        assert_eq!(head.kind, Kind::Headers);
        assert_eq!(head.flags, 0x25);
        assert_eq!(head.stream_id.value(), 7);

        // The reserved bit is ignored on receipt.
        let raw = [0, 0, 0, 0xfa, 0, 0x80, 0, 0, 1];
        let head = FrameHeader::parse(&raw).unwrap();
        assert_eq!(head.stream_id, StreamId::new(1));
        assert_eq!(head.kind, Kind::Unknown(0xfa));
    }

    #[test]
    fn short_header_needs_more() {
        assert_eq!(FrameHeader::parse(&[0; 8]), None);
    }

    #[test]
    fn max_frame_size_scope() {
        let data = FrameHeader::new(Kind::Data, 0, StreamId::new(1), 16_385);
        assert!(
            !data
                .check_max_frame_size(16_384)
                .unwrap_err()
                .is_connection_error()
        );
        assert!(data.check_max_frame_size(16_385).is_ok());
        for kind in [
            Kind::Headers,
            Kind::PushPromise,
            Kind::Continuation,
            Kind::Settings,
        ] {
            let head = FrameHeader::new(kind, 0, StreamId::new(1), 16_385);
            let err = head.check_max_frame_size(16_384).unwrap_err();
            assert!(err.is_connection_error());
            assert_eq!(err.code(), ErrorCode::FrameSizeError);
        }
        let ping = FrameHeader::new(Kind::Unknown(0x42), 0, StreamId::ZERO, 16_385);
        assert!(
            ping.check_max_frame_size(16_384)
                .unwrap_err()
                .is_connection_error()
        );
    }
}
