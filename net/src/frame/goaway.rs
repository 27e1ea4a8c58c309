//! GOAWAY frames (RFC 9113 §6.8): start a graceful or an error shutdown, naming the last
//! stream the sender will process, with optional opaque debug data.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{ErrorCode, FrameHeader, H2Error, Kind, StreamId, payload_len, require_connection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    pub last_stream_id: StreamId,
    pub error_code: ErrorCode,
    pub debug_data: Bytes,
}

impl GoAway {
    pub fn new(last_stream_id: StreamId, error_code: ErrorCode) -> Self {
        GoAway {
            last_stream_id,
            error_code,
            debug_data: Bytes::new(),
        }
    }

    pub fn parse(head: FrameHeader, mut payload: Bytes) -> Result<GoAway, H2Error> {
        require_connection(&head, "GOAWAY frame on a stream")?;
        if payload.len() < 8 {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "GOAWAY frame shorter than 8 octets",
            ));
        }
        let last_stream_id = StreamId::new(payload.get_u32());
        let error_code = ErrorCode::from_u32(payload.get_u32());
        Ok(GoAway {
            last_stream_id,
            error_code,
            debug_data: payload,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let len = payload_len(8 + self.debug_data.len());
        FrameHeader::new(Kind::GoAway, 0, StreamId::ZERO, len).encode(dst);
        dst.put_u32(self.last_stream_id.value());
        dst.put_u32(self.error_code.to_u32());
        dst.extend_from_slice(&self.debug_data);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_goaway() {
        let g = GoAway {
            last_stream_id: StreamId::new(7),
            error_code: ErrorCode::EnhanceYourCalm,
            debug_data: Bytes::from_static(b"too_many_pings"),
        };
        assert_eq!(round_trip(&Frame::GoAway(g.clone())), Frame::GoAway(g));
        let g = GoAway::new(StreamId::MAX, ErrorCode::NoError);
        assert_eq!(round_trip(&Frame::GoAway(g.clone())), Frame::GoAway(g));
    }

    #[test]
    fn errors() {
        let e = parse(Kind::GoAway, 0, 3, &[0; 8]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::GoAway, 0, 0, &[0; 7]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
    }
}
