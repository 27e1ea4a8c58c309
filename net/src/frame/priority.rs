//! PRIORITY frames (RFC 9113 §6.3): deprecated, parsed only so malformed ones get the
//! right error; their content is otherwise ignored.

use bytes::BytesMut;

use super::headers::PRIORITY_LEN;
use super::{ErrorCode, FrameHeader, H2Error, Kind, PrioritySpec, StreamId, require_stream};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    pub stream_id: StreamId,
    pub spec: PrioritySpec,
}

impl Priority {
    pub fn parse(head: FrameHeader, payload: &[u8]) -> Result<Priority, H2Error> {
        require_stream(&head, "PRIORITY frame on stream 0")?;
        if payload.len() != PRIORITY_LEN {
            // §6.3: a stream error, since PRIORITY cannot change connection state.
            return Err(H2Error::stream(
                head.stream_id,
                ErrorCode::FrameSizeError,
                "PRIORITY frame length is not 5",
            ));
        }
        let mut src = payload;
        let spec = PrioritySpec::parse(head.stream_id, &mut src)?;
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
        })
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        FrameHeader::new(Kind::Priority, 0, self.stream_id, PRIORITY_LEN as u32).encode(dst);
        self.spec.encode(dst);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    #[test]
    fn round_trip_priority() {
        let p = Priority {
            stream_id: StreamId::new(9),
            spec: PrioritySpec {
                exclusive: false,
                dependency: StreamId::new(3),
                weight: 200,
            },
        };
        assert_eq!(round_trip(&Frame::Priority(p.clone())), Frame::Priority(p));
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Priority, 0, 0, &[0, 0, 0, 1, 0]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Priority, 0, 3, &[0, 0, 0, 1]).unwrap_err();
        assert!(stream(ErrorCode::FrameSizeError, 3)(&e), "{e}");
        let e = parse(Kind::Priority, 0, 3, &[0, 0, 0, 1, 0, 0]).unwrap_err();
        assert!(stream(ErrorCode::FrameSizeError, 3)(&e), "{e}");
        let e = parse(Kind::Priority, 0, 3, &[0x80, 0, 0, 3, 0]).unwrap_err();
        assert!(stream(ErrorCode::ProtocolError, 3)(&e), "{e}");
    }
}
