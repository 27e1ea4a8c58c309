//! SETTINGS frames (RFC 9113 §6.5): every parameter of §6.5.2 with its range checks, and
//! the ACK form. Unknown parameters are ignored as §6.5.2 requires.

use bytes::{BufMut, BytesMut};

use super::{ErrorCode, FrameHeader, H2Error, Kind, StreamId, flags, require_connection};

/// SETTINGS_INITIAL_WINDOW_SIZE before any SETTINGS arrives.
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;
/// Largest legal flow-control window (2^31-1).
pub const MAX_INITIAL_WINDOW_SIZE: u32 = 0x7fff_ffff;
/// SETTINGS_MAX_FRAME_SIZE before any SETTINGS arrives, and its lower bound.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Upper bound of SETTINGS_MAX_FRAME_SIZE (2^24-1).
pub const MAX_MAX_FRAME_SIZE: u32 = 0x00ff_ffff;

const HEADER_TABLE_SIZE: u16 = 0x1;
const ENABLE_PUSH: u16 = 0x2;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
const INITIAL_WINDOW_SIZE: u16 = 0x4;
const MAX_FRAME_SIZE: u16 = 0x5;
const MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// Octets per parameter: 16-bit identifier, 32-bit value.
const ENTRY_LEN: usize = 6;

/// A SETTINGS frame. `None` means the parameter was not in the frame (its value is
/// unchanged), which is different from sending the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub ack: bool,
    pub header_table_size: Option<u32>,
    pub enable_push: Option<bool>,
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: Option<u32>,
    pub max_frame_size: Option<u32>,
    pub max_header_list_size: Option<u32>,
}

impl Settings {
    /// The empty acknowledgement of a peer's SETTINGS.
    pub fn ack() -> Self {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    pub fn parse(head: FrameHeader, payload: &[u8]) -> Result<Settings, H2Error> {
        require_connection(&head, "SETTINGS frame on a stream")?;
        if head.flags & flags::ACK != 0 {
            if !payload.is_empty() {
                return Err(H2Error::connection(
                    ErrorCode::FrameSizeError,
                    "SETTINGS ACK with a payload",
                ));
            }
            return Ok(Settings::ack());
        }
        if !payload.len().is_multiple_of(ENTRY_LEN) {
            return Err(H2Error::connection(
                ErrorCode::FrameSizeError,
                "SETTINGS length is not a multiple of 6",
            ));
        }
        let mut settings = Settings::default();
        // Indexing below cannot fail: `chunks_exact` yields exactly ENTRY_LEN octets.
        for entry in payload.chunks_exact(ENTRY_LEN) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            settings.apply(id, value)?;
        }
        Ok(settings)
    }

    /// Records one parameter; later occurrences of an identifier win (§6.5.3 processes
    /// values in order).
    fn apply(&mut self, id: u16, value: u32) -> Result<(), H2Error> {
        match id {
            HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            ENABLE_PUSH => {
                self.enable_push = Some(match value {
                    0 => false,
                    1 => true,
                    _ => {
                        return Err(H2Error::connection(
                            ErrorCode::ProtocolError,
                            "SETTINGS_ENABLE_PUSH is neither 0 nor 1",
                        ));
                    }
                })
            }
            MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            INITIAL_WINDOW_SIZE => {
                if value > MAX_INITIAL_WINDOW_SIZE {
                    return Err(H2Error::connection(
                        ErrorCode::FlowControlError,
                        "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                    ));
                }
                self.initial_window_size = Some(value);
            }
            MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "SETTINGS_MAX_FRAME_SIZE outside 2^14..2^24-1",
                    ));
                }
                self.max_frame_size = Some(value);
            }
            MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            _ => {} // §6.5.2: unknown or unsupported identifiers MUST be ignored.
        }
        Ok(())
    }

    fn entries(&self) -> impl Iterator<Item = (u16, u32)> {
        [
            (HEADER_TABLE_SIZE, self.header_table_size),
            (ENABLE_PUSH, self.enable_push.map(u32::from)),
            (MAX_CONCURRENT_STREAMS, self.max_concurrent_streams),
            (INITIAL_WINDOW_SIZE, self.initial_window_size),
            (MAX_FRAME_SIZE, self.max_frame_size),
            (MAX_HEADER_LIST_SIZE, self.max_header_list_size),
        ]
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
    }

    pub fn encode(&self, dst: &mut BytesMut) {
        if self.ack {
            FrameHeader::new(Kind::Settings, flags::ACK, StreamId::ZERO, 0).encode(dst);
            return;
        }
        let len = self.entries().count() * ENTRY_LEN;
        FrameHeader::new(Kind::Settings, 0, StreamId::ZERO, len as u32).encode(dst);
        for (id, value) in self.entries() {
            dst.put_u16(id);
            dst.put_u32(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;

    fn every() -> Settings {
        Settings {
            ack: false,
            header_table_size: Some(8192),
            enable_push: Some(false),
            max_concurrent_streams: Some(100),
            initial_window_size: Some(MAX_INITIAL_WINDOW_SIZE),
            max_frame_size: Some(MAX_MAX_FRAME_SIZE),
            max_header_list_size: Some(1 << 20),
        }
    }

    #[test]
    fn every_parameter_round_trips() {
        let s = every();
        assert_eq!(round_trip(&Frame::Settings(s.clone())), Frame::Settings(s));
        let empty = Settings::default();
        assert_eq!(
            round_trip(&Frame::Settings(empty.clone())),
            Frame::Settings(empty)
        );
        let mut buf = BytesMut::new();
        Settings::ack().encode(&mut buf);
        assert_eq!(&buf[..], b"\x00\x00\x00\x04\x01\x00\x00\x00\x00");
        assert_eq!(
            round_trip(&Frame::Settings(Settings::ack())),
            Frame::Settings(Settings::ack())
        );
    }

    #[test]
    fn wire_order_unknown_ids_and_last_wins() {
        let payload = [
            0, 4, 0, 0, 0, 1, // INITIAL_WINDOW_SIZE 1
            0, 0x99, 0xff, 0xff, 0xff, 0xff, // unknown: ignored
            0, 4, 0, 0, 0, 2, // INITIAL_WINDOW_SIZE 2
            0, 5, 0, 0, 0x40, 0, // MAX_FRAME_SIZE 16384 (the lower bound)
        ];
        let Frame::Settings(s) = parse(Kind::Settings, 0, 0, &payload).unwrap() else {
            panic!()
        };
        assert_eq!(s.initial_window_size, Some(2));
        assert_eq!(s.max_frame_size, Some(16_384));
        assert_eq!(s.header_table_size, None);
    }

    #[test]
    fn errors() {
        let e = parse(Kind::Settings, 0, 1, &[]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Settings, flags::ACK, 0, &[0, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::Settings, 0, 0, &[0, 1, 0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::FrameSizeError)(&e), "{e}");
        let e = parse(Kind::Settings, 0, 0, &[0, 2, 0, 0, 0, 2]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Settings, 0, 0, &[0, 4, 0x80, 0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::FlowControlError)(&e), "{e}");
        let e = parse(Kind::Settings, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
        let e = parse(Kind::Settings, 0, 0, &[0, 5, 1, 0, 0, 0]).unwrap_err();
        assert!(conn(ErrorCode::ProtocolError)(&e), "{e}");
    }
}
