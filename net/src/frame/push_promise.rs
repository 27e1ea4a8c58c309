//! PUSH_PROMISE frames (RFC 9113 §6.6). ringkv never pushes and always advertises
//! SETTINGS_ENABLE_PUSH 0, so this exists to parse what a misbehaving peer sends and answer
//! it with the right error; encoding is here for tests and completeness.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    ErrorCode, FrameHeader, H2Error, Kind, StreamId, flags, payload_len, put_padding,
    require_stream, strip_padding, take_pad_length,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromise {
    pub stream_id: StreamId,
    pub promised_stream_id: StreamId,
    pub header_block: Bytes,
    pub end_headers: bool,
    pub pad_len: Option<u8>,
}

impl PushPromise {
    pub fn parse(head: FrameHeader, mut payload: Bytes) -> Result<PushPromise, H2Error> {
        require_stream(&head, "PUSH_PROMISE frame on stream 0")?;
        let pad_len = take_pad_length(&head, &mut payload)?;
        if payload.len() < 4 {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "PUSH_PROMISE too short for the promised stream id",
            ));
        }
        let promised_stream_id = StreamId::new(payload.get_u32());
        strip_padding(pad_len, &mut payload)?;
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_stream_id,
            header_block: payload,
            end_headers: head.flags & flags::END_HEADERS != 0,
            pad_len,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let mut f = 0;
        let mut len = 4 + self.header_block.len();
        if self.end_headers {
            f |= flags::END_HEADERS;
        }
        if let Some(pad) = self.pad_len {
            f |= flags::PADDED;
            len += 1 + usize::from(pad);
        }
        FrameHeader::new(Kind::PushPromise, f, self.stream_id, payload_len(len)).encode(dst);
        if let Some(pad) = self.pad_len {
            dst.put_u8(pad);
        }
        dst.put_u32(self.promised_stream_id.value());
        dst.extend_from_slice(&self.header_block);
        put_padding(self.pad_len, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_push_promise() {
        let p = PushPromise {
            stream_id: StreamId::new(1),
            promised_stream_id: StreamId::new(2),
            header_block: Bytes::from_static(b"\x82"),
            end_headers: true,
            pad_len: Some(4),
        };
        assert_eq!(
            round_trip(&Frame::PushPromise(p.clone())),
            Frame::PushPromise(p)
        );
    }

    #[test]
    fn errors() {
        let e = parse(Kind::PushPromise, 0, 0, &[0, 0, 0, 2]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::PushPromise, 0, 1, &[0, 0, 2]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::PushPromise, flags::PADDED, 1, &[]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::PushPromise, flags::PADDED, 1, &[1, 0, 0, 0, 2]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
    }
}
