//! PING frames (RFC 9113 §6.7): liveness and round-trip probes with 8 opaque octets that an
//! ACK echoes back.

use bytes::BytesMut;

use super::{ErrorCode, FrameHeader, H2Error, Kind, StreamId, flags, require_connection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub ack: bool,
    pub payload: [u8; 8],
}

impl Ping {
    pub fn new(payload: [u8; 8]) -> Self {
        Ping {
            ack: false,
            payload,
        }
    }

    /// The reply a PING demands: same payload, ACK set.
    pub fn pong(payload: [u8; 8]) -> Self {
        Ping { ack: true, payload }
    }

    pub fn parse(head: FrameHeader, payload: &[u8]) -> Result<Ping, H2Error> {
        require_connection(&head, "PING frame on a stream")?;
        let payload: [u8; 8] = payload.try_into().map_err(|_| {
            H2Error::connection(ErrorCode::FrameSizeError, "PING frame length is not 8")
        })?;
        Ok(Ping {
            ack: head.flags & flags::ACK != 0,
            payload,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        let f = if self.ack { flags::ACK } else { 0 };
        FrameHeader::new(Kind::Ping, f, StreamId::ZERO, 8).encode(dst);
        dst.extend_from_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_ping() {
        let p = Ping::new(*b"12345678");
        assert_eq!(round_trip(&Frame::Ping(p.clone())), Frame::Ping(p));
        let p = Ping::pong(*b"abcdefgh");
        assert_eq!(round_trip(&Frame::Ping(p.clone())), Frame::Ping(p));
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Ping, 0, 1, &[0; 8]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Ping, 0, 0, &[0; 7]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::Ping, flags::ACK, 0, &[0; 9]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
    }
}
