//! RST_STREAM frames (RFC 9113 §6.4): end one stream immediately with an error code.

use bytes::{BufMut, BytesMut};

use super::{ErrorCode, FrameHeader, H2Error, Kind, StreamId, require_stream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RstStream {
    pub stream_id: StreamId,
    pub error_code: ErrorCode,
}

impl RstStream {
    pub fn new(stream_id: StreamId, error_code: ErrorCode) -> Self {
        RstStream {
            stream_id,
            error_code,
        }
    }

    pub fn parse(head: FrameHeader, payload: &[u8]) -> Result<RstStream, H2Error> {
        require_stream(&head, "RST_STREAM frame on stream 0")?;
        let raw: [u8; 4] = payload.try_into().map_err(|_| {
            H2Error::connection(
                ErrorCode::FrameSizeError,
                "RST_STREAM frame length is not 4",
            )
        })?;
        Ok(RstStream {
            stream_id: head.stream_id,
            error_code: ErrorCode::from_u32(u32::from_be_bytes(raw)),
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        FrameHeader::new(Kind::RstStream, 0, self.stream_id, 4).encode(dst);
        dst.put_u32(self.error_code.to_u32());
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_rst() {
        let r = RstStream::new(StreamId::new(5), ErrorCode::Cancel);
        let mut buf = BytesMut::new();
        r.encode(&mut buf);
        assert_eq!(
            &buf[..],
            b"\x00\x00\x04\x03\x00\x00\x00\x00\x05\x00\x00\x00\x08"
        );
        assert_eq!(
            round_trip(&Frame::RstStream(r.clone())),
            Frame::RstStream(r)
        );
        let Frame::RstStream(r) = parse(Kind::RstStream, 0, 1, &[0, 0, 1, 0]).unwrap() else {
            panic!()
        };
        assert_eq!(r.error_code, ErrorCode::Unknown(256));
    }

    #[test]
    fn errors() {
        let e = parse(Kind::RstStream, 0, 0, &[0, 0, 0, 8]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::RstStream, 0, 1, &[0, 0, 8]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::RstStream, 0, 1, &[0, 0, 0, 8, 0]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
    }
}
