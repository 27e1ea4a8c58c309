//! DATA frames (RFC 9113 §6.1): a stream's body bytes, optionally padded. The whole payload,
//! padding included, counts against flow control, so the parsed frame remembers it.

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    FrameHeader, H2Error, Kind, StreamId, flags, payload_len, put_padding, require_stream,
    strip_padding, take_pad_length,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub stream_id: StreamId,
    pub payload: Bytes,
    pub end_stream: bool,
    /// Padding to send (encode) or that was received (parse).
    pub pad_len: Option<u8>,
}

impl Data {
    pub fn new(stream_id: StreamId, payload: Bytes, end_stream: bool) -> Self {
        Data {
            stream_id,
            payload,
            end_stream,
            pad_len: None,
        }
    }

    pub fn parse(head: FrameHeader, mut payload: Bytes) -> Result<Data, H2Error> {
        require_stream(&head, "DATA frame on stream 0")?;
        let pad_len = take_pad_length(&head, &mut payload)?;
        strip_padding(pad_len, &mut payload)?;
        Ok(Data {
            stream_id: head.stream_id,
            payload,
            end_stream: head.flags & flags::END_STREAM != 0,
            pad_len,
        })
    }

    /// Octets this frame consumes from the flow-control windows (§6.9.1: the entire
    /// payload, padding and Pad Length included).
    pub fn flow_controlled_len(&self) -> u32 {
        let pad = self.pad_len.map_or(0, |p| 1 + usize::from(p));
        payload_len(self.payload.len() + pad)
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let mut f = 0;
        if self.end_stream {
            f |= flags::END_STREAM;
        }
        if self.pad_len.is_some() {
            f |= flags::PADDED;
        }
        FrameHeader::new(Kind::Data, f, self.stream_id, self.flow_controlled_len()).encode(dst);
        if let Some(pad) = self.pad_len {
            dst.put_u8(pad);
        }
        dst.extend_from_slice(&self.payload);
        put_padding(self.pad_len, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn plain_and_padded_round_trip() {
        let plain = Data::new(StreamId::new(1), Bytes::from_static(b"hello"), true);
        assert_eq!(
            round_trip(&Frame::Data(plain.clone())),
            Frame::Data(plain.clone())
        );
        assert_eq!(plain.flow_controlled_len(), 5);

        let padded = Data {
            pad_len: Some(3),
            end_stream: false,
            ..plain
        };
        let mut buf = BytesMut::new();
        padded.encode(&mut buf);
        assert_eq!(
            &buf[..],
            b"\x00\x00\x09\x00\x08\x00\x00\x00\x01\x03hello\x00\x00\x00"
        );
        assert_eq!(padded.flow_controlled_len(), 9);
        assert_eq!(
            round_trip(&Frame::Data(padded.clone())),
            Frame::Data(padded)
        );
    }

    #[test]
    fn padding_may_fill_the_frame_but_not_exceed_it() {
        // Pad Length 2 with two padding octets and no data: legal.
        let Frame::Data(d) = parse(Kind::Data, flags::PADDED, 1, &[2, 0, 0]).unwrap() else {
            panic!()
        };
        assert!(d.payload.is_empty());
        assert_eq!(d.flow_controlled_len(), 3);
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Data, 0, 0, b"x").unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Data, flags::PADDED, 1, &[3, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Data, flags::PADDED, 1, &[]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
    }
}
