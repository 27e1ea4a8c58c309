//! CONTINUATION frames (RFC 9113 §6.10): the rest of a field block that did not fit in its
//! HEADERS or PUSH_PROMISE frame. The codec joins them; this file only parses one.

use bytes::{Bytes, BytesMut};

use super::{FrameHeader, H2Error, Kind, StreamId, flags, payload_len, require_stream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub stream_id: StreamId,
    pub header_block: Bytes,
    pub end_headers: bool,
}

impl Continuation {
    pub fn parse(head: FrameHeader, payload: Bytes) -> Result<Continuation, H2Error> {
        require_stream(&head, "CONTINUATION frame on stream 0")?;
        Ok(Continuation {
            stream_id: head.stream_id,
            header_block: payload,
            end_headers: head.flags & flags::END_HEADERS != 0,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let f = if self.end_headers {
            flags::END_HEADERS
        } else {
            0
        };
        let len = payload_len(self.header_block.len());
        FrameHeader::new(Kind::Continuation, f, self.stream_id, len).encode(dst);
        dst.extend_from_slice(&self.header_block);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_continuation() {
        for end_headers in [false, true] {
            let c = Continuation {
                stream_id: StreamId::new(1),
                header_block: Bytes::from_static(b"\x84"),
                end_headers,
            };
            assert_eq!(
                round_trip(&Frame::Continuation(c.clone())),
                Frame::Continuation(c)
            );
        }
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Continuation, flags::END_HEADERS, 0, b"\x84").unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
    }
}
