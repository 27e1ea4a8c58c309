//! HTTP/2 frames (RFC 9113 §4 and §6): one file per frame type, each turning a header plus
//! payload into a typed value and back into bytes. This layer owns every rule that can be
//! checked on a single frame in isolation (lengths, stream id 0, padding, field ranges) and
//! reports the exact RFC error for each; rules that need connection or stream state belong
//! to `proto/`, and joining HEADERS with CONTINUATION belongs to `codec/`.

mod continuation;
mod data;
mod error;
mod goaway;
mod head;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod window_update;

use bytes::{Buf, Bytes, BytesMut};

pub use continuation::Continuation;
pub use data::Data;
pub use error::{ErrorCode, H2Error};
pub use goaway::GoAway;
pub use head::{FrameHeader, HEADER_LEN, Kind, StreamId};
pub use headers::{Headers, PrioritySpec};
pub use ping::Ping;
pub use priority::Priority;
pub use push_promise::PushPromise;
pub use rst_stream::RstStream;
pub use settings::{
    DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, MAX_INITIAL_WINDOW_SIZE,
    MAX_MAX_FRAME_SIZE, Settings,
};
pub use window_update::WindowUpdate;

/// Frame flags (RFC 9113 §6). ACK and END_STREAM share a bit on different frame types.
pub mod flags {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// Any HTTP/2 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data(Data),
    Headers(Headers),
    Priority(Priority),
    RstStream(RstStream),
    Settings(Settings),
    PushPromise(PushPromise),
    Ping(Ping),
    GoAway(GoAway),
    WindowUpdate(WindowUpdate),
    Continuation(Continuation),
    /// An extension frame type; receivers ignore it (§5.5) but it is surfaced so the codec
    /// can enforce "nothing between HEADERS and CONTINUATION".
    Unknown {
        kind: u8,
        flags: u8,
        stream_id: StreamId,
        payload: Bytes,
    },
}

impl Frame {
    /// Parses a payload whose header was already read. `payload.len()` must equal
    /// `head.length`; the caller checked it against SETTINGS_MAX_FRAME_SIZE.
    pub fn parse(head: FrameHeader, payload: Bytes) -> Result<Frame, H2Error> {
        Ok(match head.kind {
            Kind::Data => Frame::Data(Data::parse(head, payload)?),
            Kind::Headers => Frame::Headers(Headers::parse(head, payload)?),
            Kind::Priority => Frame::Priority(Priority::parse(head, &payload)?),
            Kind::RstStream => Frame::RstStream(RstStream::parse(head, &payload)?),
            Kind::Settings => Frame::Settings(Settings::parse(head, &payload)?),
            Kind::PushPromise => Frame::PushPromise(PushPromise::parse(head, payload)?),
            Kind::Ping => Frame::Ping(Ping::parse(head, &payload)?),
            Kind::GoAway => Frame::GoAway(GoAway::parse(head, payload)?),
            Kind::WindowUpdate => Frame::WindowUpdate(WindowUpdate::parse(head, &payload)?),
            Kind::Continuation => Frame::Continuation(Continuation::parse(head, payload)?),
            Kind::Unknown(kind) => Frame::Unknown {
                kind,
                flags: head.flags,
                stream_id: head.stream_id,
                payload,
            },
        })
    }

    /// Appends the frame, header included, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::Priority(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::PushPromise(f) => f.encode(dst),
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
            Frame::Continuation(f) => f.encode(dst),
            Frame::Unknown {
                kind,
                flags,
                stream_id,
                payload,
            } => {
                let len = payload_len(payload.len());
                FrameHeader::new(Kind::Unknown(*kind), *flags, *stream_id, len).encode(dst);
                dst.extend_from_slice(payload);
            }
        }
    }

    /// The stream the frame belongs to (0 for connection frames).
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown { stream_id, .. } => *stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }
}

/// Frames that must name a stream (DATA, HEADERS, …) are a connection PROTOCOL_ERROR on
/// stream 0; the RFC says so for each of them.
fn require_stream(head: &FrameHeader, reason: &'static str) -> Result<(), H2Error> {
    if head.stream_id.is_zero() {
        Err(H2Error::connection(ErrorCode::ProtocolError, reason))
    } else {
        Ok(())
    }
}

/// Frames that belong to the connection (SETTINGS, PING, GOAWAY) are a connection
/// PROTOCOL_ERROR on any other stream.
fn require_connection(head: &FrameHeader, reason: &'static str) -> Result<(), H2Error> {
    if head.stream_id.is_zero() {
        Ok(())
    } else {
        Err(H2Error::connection(ErrorCode::ProtocolError, reason))
    }
}

/// Removes the Pad Length octet from the front of a PADDED payload. Returns the pad length;
/// the caller removes `fixed` more octets of its own fields and then calls `strip_tail`.
fn take_pad_length(head: &FrameHeader, payload: &mut Bytes) -> Result<Option<u8>, H2Error> {
    if head.flags & flags::PADDED == 0 {
        return Ok(None);
    }
    if payload.is_empty() {
        // Too small to hold the mandatory Pad Length field (§4.2).
        return Err(H2Error::connection(
            ErrorCode::FrameSizeError,
            "PADDED frame without a Pad Length octet",
        ));
    }
    Ok(Some(payload.get_u8()))
}

/// Cuts the padding off the end. Padding as long as the rest of the payload or longer is a
/// connection PROTOCOL_ERROR (§6.1, §6.2, §6.6).
fn strip_padding(pad_len: Option<u8>, payload: &mut Bytes) -> Result<(), H2Error> {
    let Some(pad) = pad_len else { return Ok(()) };
    let pad = usize::from(pad);
    if pad > payload.len() {
        return Err(H2Error::connection(
            ErrorCode::ProtocolError,
            "padding longer than the frame payload",
        ));
    }
    payload.truncate(payload.len() - pad);
    Ok(())
}

/// Writes `pad` zero octets; padding MUST be zero on send (§6.1).
fn put_padding(pad_len: Option<u8>, dst: &mut BytesMut) {
    if let Some(pad) = pad_len {
        dst.resize(dst.len() + usize::from(pad), 0);
    }
}

/// Payload length as the 24-bit header field. Callers split anything larger than the
/// peer's SETTINGS_MAX_FRAME_SIZE (at most 2^24-1) before encoding.
fn payload_len(len: usize) -> u32 {
    debug_assert!(len <= 0x00ff_ffff, "payload must be split before encoding");
    u32::try_from(len).unwrap_or(u32::MAX) & 0x00ff_ffff
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    /// Encodes, then parses back through the generic entry point.
    pub fn round_trip(frame: &Frame) -> Frame {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        let head = FrameHeader::parse(&buf).unwrap();
        assert_eq!(head.length as usize, buf.len() - HEADER_LEN);
        let payload = buf.split_off(HEADER_LEN).freeze();
        Frame::parse(head, payload).unwrap()
    }

    pub fn parse(kind: Kind, flags: u8, stream: u32, payload: &[u8]) -> Result<Frame, H2Error> {
        let head = FrameHeader::new(kind, flags, StreamId::new(stream), payload.len() as u32);
        Frame::parse(head, Bytes::copy_from_slice(payload))
    }

    pub fn conn(code: ErrorCode) -> impl Fn(&H2Error) -> bool {
        move |e| e.is_connection_error() && e.code() == code
    }

    pub fn stream(code: ErrorCode, id: u32) -> impl Fn(&H2Error) -> bool {
        move |e| {
            matches!(e, H2Error::Stream { stream_id, code: c, .. }
                if *c == code && stream_id.value() == id)
        }
    }

    #[test]
    fn unknown_frames_pass_through() {
        let frame = parse(Kind::Unknown(0xee), 0xff, 0, b"ext").unwrap();
        assert_eq!(
            frame,
            Frame::Unknown {
                kind: 0xee,
                flags: 0xff,
                stream_id: StreamId::ZERO,
                payload: Bytes::from_static(b"ext")
            }
        );
        assert_eq!(round_trip(&frame), frame);
    }
}
