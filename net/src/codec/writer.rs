//! The frame writer. Control frames and small DATA are appended to one growing buffer;
//! a DATA payload at or above `ZERO_COPY_THRESHOLD` is kept as its own `Bytes` (its frame
//! header still goes in the shared buffer), so message bodies are never copied. `flush`
//! hands back the chunks in order, ready for one vectored write.

use bytes::{Bytes, BytesMut};

use crate::frame::{
    Continuation, DEFAULT_MAX_FRAME_SIZE, Data, Frame, FrameHeader, Headers, Kind, StreamId, flags,
};

/// DATA payloads this large are referenced, not copied.
pub const ZERO_COPY_THRESHOLD: usize = 4096;

#[derive(Debug)]
pub struct FrameWriter {
    buf: BytesMut,
    chunks: Vec<Bytes>,
    /// The peer's SETTINGS_MAX_FRAME_SIZE: no frame we send may be larger.
    max_frame_size: usize,
}

impl Default for FrameWriter {
    fn default() -> Self {
        FrameWriter::new()
    }
}

impl FrameWriter {
    pub fn new() -> Self {
        FrameWriter {
            buf: BytesMut::with_capacity(16 * 1024),
            chunks: Vec::new(),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE as usize,
        }
    }

    /// Applies the peer's SETTINGS_MAX_FRAME_SIZE.
    pub fn set_max_frame_size(&mut self, size: u32) {
        self.max_frame_size = size as usize;
    }

    /// Queues one frame as is. Callers split DATA and field blocks with `data` and
    /// `headers`; this is for control frames, which are always small.
    pub fn frame(&mut self, frame: &Frame) {
        frame.encode(&mut self.buf);
    }

    /// Queues a complete field block as HEADERS plus as many CONTINUATION frames as the
    /// peer's maximum frame size requires (they go out back to back, as §6.10 demands).
    pub fn headers(&mut self, stream_id: StreamId, block: Bytes, end_stream: bool) {
        let first_len = block.len().min(self.max_frame_size);
        let mut rest = block;
        let first = rest.split_to(first_len);
        let mut headers = Headers::new(stream_id, first, end_stream);
        headers.end_headers = rest.is_empty();
        headers.encode(&mut self.buf);
        while !rest.is_empty() {
            let len = rest.len().min(self.max_frame_size);
            let header_block = rest.split_to(len);
            Continuation {
                stream_id,
                header_block,
                end_headers: rest.is_empty(),
            }
            .encode(&mut self.buf);
        }
    }

    /// Queues a body as DATA frames no larger than the peer allows. Flow control is the
    /// caller's: it passes only what the windows permit.
    pub fn data(&mut self, stream_id: StreamId, mut payload: Bytes, end_stream: bool) {
        loop {
            let len = payload.len().min(self.max_frame_size);
            let chunk = payload.split_to(len);
            let last = payload.is_empty();
            let end = end_stream && last;
            if chunk.len() >= ZERO_COPY_THRESHOLD {
                let f = if end { flags::END_STREAM } else { 0 };
                FrameHeader::new(Kind::Data, f, stream_id, chunk.len() as u32)
                    .encode(&mut self.buf);
                self.chunks.push(self.buf.split().freeze());
                self.chunks.push(chunk);
            } else {
                Data::new(stream_id, chunk, end).encode(&mut self.buf);
            }
            if last {
                return;
            }
        }
    }

    /// Octets queued and not yet flushed.
    pub fn len(&self) -> usize {
        self.buf.len() + self.chunks.iter().map(Bytes::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything queued since the last flush, in order, for one vectored write. When no
    /// large DATA was queued this is a single buffer.
    pub fn flush(&mut self) -> Vec<Bytes> {
        if !self.buf.is_empty() {
            self.chunks.push(self.buf.split().freeze());
        }
        std::mem::take(&mut self.chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameReader;
    use crate::frame::{ErrorCode, GoAway, Ping, RstStream, Settings, WindowUpdate};
    use proptest::prelude::*;

    fn read_all(chunks: Vec<Bytes>, max_frame_size: u32) -> Vec<Frame> {
        let mut src = BytesMut::new();
        for c in chunks {
            src.extend_from_slice(&c);
        }
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(max_frame_size);
        let mut frames = Vec::new();
        while let Some(f) = reader.decode(&mut src).unwrap() {
            frames.push(f);
        }
        assert!(src.is_empty());
        frames
    }

    #[test]
    fn control_frames_coalesce_into_one_buffer() {
        let mut w = FrameWriter::new();
        w.frame(&Frame::Settings(Settings::ack()));
        w.frame(&Frame::Ping(Ping::pong([7; 8])));
        w.frame(&Frame::WindowUpdate(WindowUpdate::new(
            StreamId::ZERO,
            1000,
        )));
        w.data(StreamId::new(1), Bytes::from_static(b"small"), false);
        assert_eq!(w.len(), 9 + 17 + 13 + 14);
        let chunks = w.flush();
        assert_eq!(chunks.len(), 1);
        assert!(w.is_empty());
        assert!(w.flush().is_empty());
        assert_eq!(read_all(chunks, 16_384).len(), 4);
    }

    #[test]
    fn large_data_is_split_and_not_copied() {
        let mut w = FrameWriter::new();
        let body = Bytes::from(vec![9u8; 40_000]);
        w.data(StreamId::new(1), body.clone(), true);
        let chunks = w.flush();
        // Three (frame header, payload) pairs: every piece is over the threshold.
        assert_eq!(chunks.len(), 6);
        assert_eq!(
            chunks[1].as_ptr(),
            body.as_ptr(),
            "payload is the caller's bytes"
        );
        let frames = read_all(chunks, 16_384);
        let sizes: Vec<(usize, bool)> = frames
            .iter()
            .map(|f| match f {
                Frame::Data(d) => (d.payload.len(), d.end_stream),
                _ => panic!(),
            })
            .collect();
        assert_eq!(sizes, vec![(16_384, false), (16_384, false), (7_232, true)]);

        let mut w = FrameWriter::new();
        w.data(StreamId::new(3), Bytes::new(), true);
        let frames = read_all(w.flush(), 16_384);
        assert_eq!(
            frames,
            vec![Frame::Data(Data::new(StreamId::new(3), Bytes::new(), true))]
        );
    }

    #[test]
    fn big_field_blocks_use_continuations() {
        let mut w = FrameWriter::new();
        let block = Bytes::from(vec![0x82u8; 40_000]);
        w.headers(StreamId::new(5), block.clone(), true);
        let chunks = w.flush();
        let bytes: usize = chunks.iter().map(Bytes::len).sum();
        assert_eq!(bytes, 40_000 + 3 * 9);
        let frames = read_all(chunks, 16_384);
        let Frame::Headers(h) = &frames[0] else {
            panic!()
        };
        assert_eq!(h.header_block, block);
        assert!(h.end_stream && h.end_headers);
    }

    proptest! {
        #[test]
        fn writer_reader_round_trip(
            ops in proptest::collection::vec((0u8..5, 1u32..50, 0usize..40_000, any::<bool>()), 0..20),
            max in prop_oneof![Just(16_384u32), Just(20_000u32), Just(1u32 << 20)],
        ) {
            let mut w = FrameWriter::new();
            w.set_max_frame_size(max);
            let mut expected_frames = 0usize;
            let mut expected_body = 0usize;
            for (op, id, len, flag) in &ops {
                let id = StreamId::new(*id);
                match op {
                    0 => {
                        w.data(id, Bytes::from(vec![1u8; *len]), *flag);
                        expected_frames += len.div_ceil(max as usize).max(1);
                        expected_body += len;
                    }
                    1 => {
                        w.headers(id, Bytes::from(vec![0x82u8; *len % 70_000]), *flag);
                        expected_frames += 1;
                    }
                    2 => { w.frame(&Frame::RstStream(RstStream::new(id, ErrorCode::Cancel))); expected_frames += 1; }
                    3 => { w.frame(&Frame::GoAway(GoAway::new(id, ErrorCode::NoError))); expected_frames += 1; }
                    _ => { w.frame(&Frame::Ping(Ping::new([0; 8]))); expected_frames += 1; }
                }
            }
            let frames = read_all(w.flush(), max);
            prop_assert_eq!(frames.len(), expected_frames);
            let body: usize = frames.iter().map(|f| match f {
                Frame::Data(d) => d.payload.len(),
                _ => 0,
            }).sum();
            prop_assert_eq!(body, expected_body);
        }
    }
}
