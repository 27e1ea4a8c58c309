//! WINDOW_UPDATE frames (RFC 9113 §6.9): grant flow-control credit to the connection
//! (stream 0) or one stream.

use bytes::{BufMut, BytesMut};

use super::{ErrorCode, FrameHeader, H2Error, Kind, StreamId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowUpdate {
    pub stream_id: StreamId,
    /// 1..=2^31-1 octets.
    pub increment: u32,
}

impl WindowUpdate {
    pub fn new(stream_id: StreamId, increment: u32) -> Self {
        WindowUpdate {
            stream_id,
            increment,
        }
    }

    pub fn parse(head: FrameHeader, payload: &[u8]) -> Result<WindowUpdate, H2Error> {
        let raw: [u8; 4] = payload.try_into().map_err(|_| {
            H2Error::connection(ErrorCode::FrameSizeError, "WINDOW_UPDATE length is not 4")
        })?;
        // The reserved bit is ignored (§6.9).
        let increment = u32::from_be_bytes(raw) & 0x7fff_ffff;
        if increment == 0 {
            let reason = "WINDOW_UPDATE with a zero increment";
            return Err(if head.stream_id.is_zero() {
                H2Error::connection(ErrorCode::ProtocolError, reason)
            } else {
                H2Error::stream(head.stream_id, ErrorCode::ProtocolError, reason)
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        FrameHeader::new(Kind::WindowUpdate, 0, self.stream_id, 4).encode(dst);
        dst.put_u32(self.increment & 0x7fff_ffff);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_window_update() {
        for (id, inc) in [(0, 1), (3, 0x7fff_ffff)] {
            let w = WindowUpdate::new(StreamId::new(id), inc);
            assert_eq!(
                round_trip(&Frame::WindowUpdate(w.clone())),
                Frame::WindowUpdate(w)
            );
        }
        let Frame::WindowUpdate(w) = parse(Kind::WindowUpdate, 0, 1, &[0x80, 0, 0, 9]).unwrap()
        else {
            panic!()
        };
        assert_eq!(w.increment, 9);
    }

    #[test]
    fn errors() {
        let e = parse(Kind::WindowUpdate, 0, 0, &[0, 0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::WindowUpdate, 0, 5, &[0x80, 0, 0, 0]).unwrap_err();
        assert!(stream(ErrorCode::ProtocolError, 5)(&e), "{e}");
        let e = parse(Kind::WindowUpdate, 0, 5, &[0, 0, 1]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::WindowUpdate, 0, 0, &[0, 0, 0, 1, 0]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
    }
}
