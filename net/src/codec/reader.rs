//! The incremental frame reader. It enforces SETTINGS_MAX_FRAME_SIZE from the frame header
//! alone (before the payload is buffered), joins HEADERS or PUSH_PROMISE with their
//! CONTINUATION frames into one complete field block, and bounds that join both in octets
//! and in frame count so a CONTINUATION flood (CVE-2024-27316 and kin) costs little.

use bytes::{Buf, BytesMut};

use crate::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, ErrorCode, Frame, FrameHeader, H2Error, HEADER_LEN, Kind,
    StreamId,
};
use crate::sniff::HTTP2_PREFACE;

/// Default cap on a joined, still-compressed field block.
pub const DEFAULT_MAX_HEADER_BLOCK_SIZE: usize = 128 * 1024;
/// Default cap on CONTINUATION frames after one HEADERS: a real peer fills frames, so a few
/// suffice even for large blocks; many tiny ones are an attack.
pub const DEFAULT_MAX_CONTINUATION_FRAMES: usize = 32;

/// Consumes the client connection preface (RFC 9113 §3.4) from the front of `src`.
/// `Ok(false)` means more bytes are needed; anything else than the preface is a connection
/// PROTOCOL_ERROR.
pub fn strip_preface(src: &mut BytesMut) -> Result<bool, H2Error> {
    let n = src.len().min(HTTP2_PREFACE.len());
    if src[..n] != HTTP2_PREFACE[..n] {
        return Err(H2Error::connection(
            ErrorCode::ProtocolError,
            "invalid connection preface",
        ));
    }
    if n < HTTP2_PREFACE.len() {
        return Ok(false);
    }
    src.advance(HTTP2_PREFACE.len());
    Ok(true)
}

/// A field block waiting for its CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    /// The HEADERS or PUSH_PROMISE frame, its block holding the first fragment.
    first: Frame,
    stream_id: StreamId,
    block: BytesMut,
    continuations: usize,
}

#[derive(Debug)]
pub struct FrameReader {
    max_frame_size: u32,
    max_header_block_size: usize,
    max_continuation_frames: usize,
    pending: Option<PendingBlock>,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new()
    }
}

impl FrameReader {
    pub fn new() -> Self {
        FrameReader {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_block_size: DEFAULT_MAX_HEADER_BLOCK_SIZE,
            max_continuation_frames: DEFAULT_MAX_CONTINUATION_FRAMES,
            pending: None,
        }
    }

    /// Our SETTINGS_MAX_FRAME_SIZE, once the peer has acknowledged it.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size;
    }

    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    pub fn set_max_header_block_size(&mut self, size: usize) {
        self.max_header_block_size = size;
    }

    pub fn set_max_continuation_frames(&mut self, count: usize) {
        self.max_continuation_frames = count;
    }

    /// True while a HEADERS frame waits for CONTINUATION (no other frame may arrive).
    pub fn is_mid_block(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes the next complete frame off the front of `src`. `Ok(None)` means `src` holds
    /// only part of a frame; read more and call again. Frames of unknown type are consumed
    /// and skipped (§5.5). Any error is fatal to the connection's framing.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, H2Error> {
        loop {
            let Some(head) = FrameHeader::parse(src) else {
                return Ok(None);
            };
            // Refuse before buffering. The RFC would allow a stream error for some kinds,
            // but §5.4 lets any stream error be treated as a connection error, and skipping
            // a payload we refuse to buffer is not worth the complexity.
            if let Err(e) = head.check_max_frame_size(self.max_frame_size) {
                return Err(H2Error::connection(
                    e.code(),
                    "frame larger than SETTINGS_MAX_FRAME_SIZE",
                ));
            }
            let total = HEADER_LEN + head.length as usize;
            if src.len() < total {
                src.reserve(total - src.len());
                return Ok(None);
            }
            src.advance(HEADER_LEN);
            let payload = src.split_to(head.length as usize).freeze();

            if self.pending.is_some() {
                if let Some(frame) = self.continue_block(head, payload)? {
                    return Ok(Some(frame));
                }
                continue;
            }
            match Frame::parse(head, payload)? {
                Frame::Headers(h) if !h.end_headers => {
                    let first = h.header_block.clone();
                    self.start_block(h.stream_id, &first, Frame::Headers(h))?;
                }
                Frame::PushPromise(p) if !p.end_headers => {
                    let first = p.header_block.clone();
                    self.start_block(p.stream_id, &first, Frame::PushPromise(p))?;
                }
                Frame::Continuation(_) => {
                    return Err(H2Error::connection(
                        ErrorCode::ProtocolError,
                        "CONTINUATION without a preceding HEADERS",
                    ));
                }
                Frame::Unknown { .. } => {}
                frame => return Ok(Some(frame)),
            }
        }
    }

    fn start_block(
        &mut self,
        stream_id: StreamId,
        first: &[u8],
        frame: Frame,
    ) -> Result<(), H2Error> {
        self.check_block_size(first.len())?;
        self.pending = Some(PendingBlock {
            first: frame,
            stream_id,
            block: BytesMut::from(first),
            continuations: 0,
        });
        Ok(())
    }

    fn check_block_size(&self, size: usize) -> Result<(), H2Error> {
        if size > self.max_header_block_size {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "field block larger than the configured limit",
            ));
        }
        Ok(())
    }

    /// Adds a CONTINUATION; returns the joined frame once END_HEADERS arrives.
    fn continue_block(
        &mut self,
        head: FrameHeader,
        payload: bytes::Bytes,
    ) -> Result<Option<Frame>, H2Error> {
        // The caller only comes here with a block pending.
        let Some(pending) = self.pending.as_mut() else {
            return Ok(None);
        };
        // §6.10: anything but a CONTINUATION on the same stream is a connection error.
        if head.kind != Kind::Continuation || head.stream_id != pending.stream_id {
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "expected CONTINUATION for the open field block",
            ));
        }
        let cont = Continuation::parse(head, payload)?;
        pending.continuations += 1;
        if pending.continuations > self.max_continuation_frames {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "too many CONTINUATION frames",
            ));
        }
        let joined = pending.block.len() + cont.header_block.len();
        if joined > self.max_header_block_size {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "field block larger than the configured limit",
            ));
        }
        pending.block.extend_from_slice(&cont.header_block);
        if !cont.end_headers {
            return Ok(None);
        }
        let Some(done) = self.pending.take() else {
            return Ok(None);
        };
        let block = done.block.freeze();
        Ok(Some(match done.first {
            Frame::Headers(mut h) => {
                h.header_block = block;
                h.end_headers = true;
                Frame::Headers(h)
            }
            Frame::PushPromise(mut p) => {
                p.header_block = block;
                p.end_headers = true;
                Frame::PushPromise(p)
            }
            other => other,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Data, Headers, Ping, Settings, WindowUpdate, flags};
    use bytes::Bytes;

    fn encode(frames: &[Frame]) -> BytesMut {
        let mut buf = BytesMut::new();
        for f in frames {
            f.encode(&mut buf);
        }
        buf
    }

    fn raw_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        FrameHeader::new(
            Kind::from_u8(kind),
            flags,
            StreamId::new(stream),
            payload.len() as u32,
        )
        .encode(&mut buf);
        buf.extend_from_slice(payload);
        buf.to_vec()
    }

    fn conn_err(e: H2Error, code: ErrorCode) {
        assert!(e.is_connection_error(), "{e}");
        assert_eq!(e.code(), code, "{e}");
    }

    #[test]
    fn preface() {
        let mut src = BytesMut::from(&HTTP2_PREFACE[..10]);
        assert_eq!(strip_preface(&mut src), Ok(false));
        src.extend_from_slice(&HTTP2_PREFACE[10..]);
        src.extend_from_slice(b"rest");
        assert_eq!(strip_preface(&mut src), Ok(true));
        assert_eq!(&src[..], b"rest");
        let mut bad = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        conn_err(
            strip_preface(&mut bad).unwrap_err(),
            ErrorCode::ProtocolError,
        );
    }

    #[test]
    fn byte_at_a_time() {
        let frames = [
            Frame::Settings(Settings {
                max_concurrent_streams: Some(10),
                ..Settings::default()
            }),
            Frame::Ping(Ping::new(*b"pingpong")),
            Frame::Data(Data::new(
                StreamId::new(1),
                Bytes::from_static(b"body"),
                true,
            )),
        ];
        let wire = encode(&frames);
        let mut reader = FrameReader::new();
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for &byte in wire.iter() {
            src.extend_from_slice(&[byte]);
            while let Some(frame) = reader.decode(&mut src).unwrap() {
                got.push(frame);
            }
        }
        assert_eq!(got, frames);
        assert!(src.is_empty());
    }

    #[test]
    fn oversized_frame_refused_from_its_header() {
        let mut reader = FrameReader::new();
        let mut src = BytesMut::from(&raw_frame(0, 0, 1, &[])[..]);
        src[2] = 0x01; // length 16385, no payload yet
        src[1] = 0x40;
        conn_err(
            reader.decode(&mut src).unwrap_err(),
            ErrorCode::FrameSizeError,
        );
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(1 << 20);
        let mut src = BytesMut::from(&raw_frame(0, 0, 1, &vec![0; 20_000])[..]);
        assert!(matches!(reader.decode(&mut src), Ok(Some(Frame::Data(_)))));
    }

    #[test]
    fn headers_and_continuations_are_joined() {
        let mut wire = raw_frame(1, flags::END_STREAM, 3, b"\x82");
        wire.extend(raw_frame(9, 0, 3, b"\x86"));
        wire.extend(raw_frame(9, flags::END_HEADERS, 3, b"\x84"));
        wire.extend(raw_frame(8, 0, 0, &[0, 0, 0, 1]));
        let mut reader = FrameReader::new();
        let mut src = BytesMut::from(&wire[..]);
        let Some(Frame::Headers(h)) = reader.decode(&mut src).unwrap() else {
            panic!()
        };
        assert_eq!(&h.header_block[..], b"\x82\x86\x84");
        assert!(h.end_headers && h.end_stream);
        assert_eq!(
            reader.decode(&mut src).unwrap(),
            Some(Frame::WindowUpdate(WindowUpdate::new(StreamId::ZERO, 1)))
        );
        assert_eq!(reader.decode(&mut src).unwrap(), None);
    }

    #[test]
    fn push_promise_continuations_are_joined() {
        let mut wire = raw_frame(5, 0, 1, &[0, 0, 0, 2, 0x82]);
        wire.extend(raw_frame(9, flags::END_HEADERS, 1, b"\x84"));
        let mut reader = FrameReader::new();
        let Some(Frame::PushPromise(p)) = reader.decode(&mut BytesMut::from(&wire[..])).unwrap()
        else {
            panic!()
        };
        assert_eq!(&p.header_block[..], b"\x82\x84");
    }

    #[test]
    fn continuation_sequence_errors() {
        let headers = raw_frame(1, 0, 3, b"\x82");
        let cases = [
            raw_frame(0, 0, 3, b"x"),                     // DATA in between
            raw_frame(6, 0, 0, &[0; 8]),                  // PING in between
            raw_frame(0xfa, 0, 0, b""),                   // even an unknown frame
            raw_frame(9, flags::END_HEADERS, 5, b"\x84"), // other stream
        ];
        for case in cases {
            let mut wire = headers.clone();
            wire.extend(case);
            let mut reader = FrameReader::new();
            let err = reader.decode(&mut BytesMut::from(&wire[..])).unwrap_err();
            conn_err(err, ErrorCode::ProtocolError);
        }
        let lone = raw_frame(9, flags::END_HEADERS, 1, b"\x84");
        let err = FrameReader::new()
            .decode(&mut BytesMut::from(&lone[..]))
            .unwrap_err();
        conn_err(err, ErrorCode::ProtocolError);
    }

    #[test]
    fn continuation_flood_is_cut_off() {
        let mut wire = raw_frame(1, 0, 1, b"\x82");
        for _ in 0..=DEFAULT_MAX_CONTINUATION_FRAMES {
            wire.extend(raw_frame(9, 0, 1, b""));
        }
        let mut reader = FrameReader::new();
        let err = reader.decode(&mut BytesMut::from(&wire[..])).unwrap_err();
        conn_err(err, ErrorCode::EnhanceYourCalm);

        let mut reader = FrameReader::new();
        reader.set_max_header_block_size(10);
        let mut wire = raw_frame(1, 0, 1, &[0x82; 8]);
        wire.extend(raw_frame(9, 0, 1, &[0x82; 8]));
        let err = reader.decode(&mut BytesMut::from(&wire[..])).unwrap_err();
        conn_err(err, ErrorCode::EnhanceYourCalm);
        let mut reader = FrameReader::new();
        reader.set_max_header_block_size(4);
        let wire = raw_frame(1, 0, 1, &[0x82; 8]);
        let err = reader.decode(&mut BytesMut::from(&wire[..])).unwrap_err();
        conn_err(err, ErrorCode::EnhanceYourCalm);
    }

    #[test]
    fn unknown_frames_are_skipped_and_errors_surface() {
        let mut wire = raw_frame(0xfa, 0xff, 7, b"whatever");
        wire.extend(raw_frame(6, 0, 0, &[1; 8]));
        wire.extend(raw_frame(6, 0, 0, &[1; 7]));
        let mut reader = FrameReader::new();
        let mut src = BytesMut::from(&wire[..]);
        assert_eq!(
            reader.decode(&mut src).unwrap(),
            Some(Frame::Ping(Ping::new([1; 8])))
        );
        conn_err(
            reader.decode(&mut src).unwrap_err(),
            ErrorCode::FrameSizeError,
        );
    }

    #[test]
    fn end_headers_on_first_frame_passes_straight_through() {
        let h = Headers::new(StreamId::new(1), Bytes::from_static(b"\x82"), false);
        let mut src = encode(&[Frame::Headers(h.clone())]);
        assert_eq!(
            FrameReader::new().decode(&mut src).unwrap(),
            Some(Frame::Headers(h))
        );
    }
}
