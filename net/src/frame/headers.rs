//! HEADERS frames (RFC 9113 §6.2): open a stream or carry trailers with a field block
//! fragment, optionally padded and optionally carrying RFC 7540 priority fields (parsed for
//! their errors, otherwise ignored as §5.3.2 allows). Also home of the priority fields that
//! PRIORITY frames share.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    ErrorCode, FrameHeader, H2Error, Kind, StreamId, flags, payload_len, put_padding,
    require_stream, strip_padding, take_pad_length,
};

/// Octets of the priority fields: E bit + 31-bit dependency, then weight.
pub(super) const PRIORITY_LEN: usize = 5;

/// The deprecated RFC 7540 priority signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrioritySpec {
    pub exclusive: bool,
    pub dependency: StreamId,
    /// Weight minus one, as on the wire.
    pub weight: u8,
}

impl PrioritySpec {
    /// Reads the 5 priority octets; `src` must hold them.
    pub(super) fn parse(stream_id: StreamId, src: &mut impl Buf) -> Result<PrioritySpec, H2Error> {
        if src.remaining() < PRIORITY_LEN {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "frame too short for its priority fields",
            ));
        }
        let raw = src.get_u32();
        let spec = PrioritySpec {
            exclusive: raw & 0x8000_0000 != 0,
            dependency: StreamId::new(raw),
            weight: src.get_u8(),
        };
        if spec.dependency == stream_id {
            // §5.3.1: a stream cannot depend on itself.
            return Err(H2Error::stream(
                stream_id,
                ErrorCode::ProtocolError,
                "stream depends on itself",
            ));
        }
        Ok(spec)
    }

    pub(super) fn encode(&self, dst: &mut BytesMut) {
        let e = if self.exclusive { 0x8000_0000 } else { 0 };
        dst.put_u32(e | self.dependency.value());
        dst.put_u8(self.weight);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub stream_id: StreamId,
    /// An HPACK field block fragment (the whole block once the codec has joined any
    /// CONTINUATION frames).
    pub header_block: Bytes,
    pub end_stream: bool,
    pub end_headers: bool,
    pub priority: Option<PrioritySpec>,
    pub pad_len: Option<u8>,
}

impl Headers {
    pub fn new(stream_id: StreamId, header_block: Bytes, end_stream: bool) -> Self {
        Headers {
            stream_id,
            header_block,
            end_stream,
            end_headers: true,
            priority: None,
            pad_len: None,
        }
    }

    pub fn parse(head: FrameHeader, mut payload: Bytes) -> Result<Headers, H2Error> {
        require_stream(&head, "HEADERS frame on stream 0")?;
        let pad_len = take_pad_length(&head, &mut payload)?;
        let priority = if head.flags & flags::PRIORITY != 0 {
            Some(PrioritySpec::parse(head.stream_id, &mut payload)?)
        } else {
            None
        };
        strip_padding(pad_len, &mut payload)?;
        Ok(Headers {
            stream_id: head.stream_id,
            header_block: payload,
            end_stream: head.flags & flags::END_STREAM != 0,
            end_headers: head.flags & flags::END_HEADERS != 0,
            priority,
            pad_len,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let mut f = 0;
        let mut len = self.header_block.len();
        if self.end_stream {
            f |= flags::END_STREAM;
        }
        if self.end_headers {
            f |= flags::END_HEADERS;
        }
        if let Some(pad) = self.pad_len {
            f |= flags::PADDED;
            len += 1 + usize::from(pad);
        }
        if self.priority.is_some() {
            f |= flags::PRIORITY;
            len += PRIORITY_LEN;
        }
        FrameHeader::new(Kind::Headers, f, self.stream_id, payload_len(len)).encode(dst);
        if let Some(pad) = self.pad_len {
            dst.put_u8(pad);
        }
        if let Some(spec) = &self.priority {
            spec.encode(dst);
        }
        dst.extend_from_slice(&self.header_block);
        put_padding(self.pad_len, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    fn full() -> Headers {
        Headers {
            stream_id: StreamId::new(3),
            header_block: Bytes::from_static(b"\x82\x86"),
            end_stream: true,
            end_headers: false,
            priority: Some(PrioritySpec {
                exclusive: true,
                dependency: StreamId::new(1),
                weight: 15,
            }),
            pad_len: Some(2),
        }
    }

    #[test]
    fn round_trips() {
        let plain = Headers::new(StreamId::new(1), Bytes::from_static(b"\x82"), false);
        assert_eq!(
            round_trip(&Frame::Headers(plain.clone())),
            Frame::Headers(plain)
        );
        let mut buf = BytesMut::new();
        full().encode(&mut buf);
        assert_eq!(
            &buf[..],
            b"\x00\x00\x0a\x01\x29\x00\x00\x00\x03\x02\x80\x00\x00\x01\x0f\x82\x86\x00\x00"
        );
        assert_eq!(round_trip(&Frame::Headers(full())), Frame::Headers(full()));
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Headers, flags::END_HEADERS, 0, b"\x82").unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        // Pad Length 5 but only 1 octet follows.
        let e = parse(Kind::Headers, flags::PADDED, 1, &[5, 0x82]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        // Padding must fit after the priority fields too.
        let e = parse(
            Kind::Headers,
            flags::PADDED | flags::PRIORITY,
            1,
            &[1, 0, 0, 0, 0, 7],
        )
        .unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Headers, flags::PADDED, 1, &[]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::Headers, flags::PRIORITY, 1, &[0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        // Depends on itself: a stream error only.
        let e = parse(Kind::Headers, flags::PRIORITY, 5, &[0, 0, 0, 5, 16]).unwrap_err();
        assert!(stream(ErrorCode::ProtocolError, 5)(&e), "{e}");
    }
}
