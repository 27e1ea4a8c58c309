//! Request bodies (RFC 9112 §6): a fixed `Content-Length` or `Transfer-Encoding: chunked`,
//! decoded incrementally as bytes arrive so a slow client never makes the server wait for
//! more than it has, and bounded so a client can never make it buffer without limit. And
//! the chunked framing of streamed responses.

use bytes::{BufMut, Bytes, BytesMut};

use super::request::{Head, Http1Error};

/// How the request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// Exactly this many bytes follow the head (0: no body).
    Length(usize),
    /// Chunks follow, ending with a zero-size chunk and optional trailers.
    Chunked,
}

/// A chunk-size line (with extensions) or a trailer line longer than this is refused: it
/// would otherwise be buffered while waiting for its end.
const MAX_LINE: usize = 4096;

impl Head {
    /// The body framing: `Transfer-Encoding` must end in `chunked` (anything else cannot be
    /// delimited, 501), and a request with both it and `Content-Length` is refused, the
    /// request-smuggling shape RFC 9112 §6.1 lets a server reject.
    pub fn body_kind(&self) -> Result<BodyKind, Http1Error> {
        let Some(te) = self.header("transfer-encoding") else {
            return self.content_length().map(BodyKind::Length);
        };
        if self.header("content-length").is_some() {
            return Err(Http1Error::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
        if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Ok(BodyKind::Chunked)
        } else {
            Err(Http1Error::UnsupportedTransferEncoding)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line.
    Size,
    /// This many data bytes of the current chunk are still to come.
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
    Done,
}

/// What one [`ChunkedDecoder::decode`] call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used; the caller drops them from its buffer.
    pub consumed: usize,
    /// The body (and its trailers) ended.
    pub done: bool,
}

/// Decodes a chunked body as its bytes arrive.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    max_body: usize,
    body_len: usize,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max_body` bytes (after decoding).
    pub fn new(max_body: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            max_body,
            body_len: 0,
        }
    }

    /// Decodes what it can of `input`, appending body bytes to `body`.
    pub fn decode(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Decoded, Http1Error> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.state {
                State::Done => return Ok(self.progress(at)),
                State::Size => {
                    let Some(line) = line(rest)? else {
                        return Ok(self.progress(at));
                    };
                    at += line.len() + 2;
                    let size = chunk_size(line)?;
                    if self.body_len.saturating_add(size) > self.max_body {
                        return Err(Http1Error::BodyTooLarge);
                    }
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if rest.is_empty() {
                        return Ok(self.progress(at));
                    }
                    let n = left.min(rest.len());
                    body.extend_from_slice(&rest[..n]);
                    self.body_len += n;
                    at += n;
                    self.state = if n == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n)
                    };
                }
                State::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::Size;
                    }
                    [] | [b'\r'] => return Ok(self.progress(at)),
                    _ => {
                        return Err(Http1Error::Malformed(
                            "chunk data not followed by CRLF".into(),
                        ));
                    }
                },
                State::Trailers => {
                    let Some(line) = line(rest)? else {
                        return Ok(self.progress(at));
                    };
                    at += line.len() + 2;
                    // Trailer fields are not used by any route: skipped, up to the empty line.
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    fn progress(&self, consumed: usize) -> Decoded {
        Decoded {
            consumed,
            done: self.state == State::Done,
        }
    }
}

/// The next CRLF-terminated line of `input` (without the CRLF), `None` if it has not all
/// arrived yet.
fn line(input: &[u8]) -> Result<Option<&[u8]>, Http1Error> {
    match input.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= MAX_LINE => Ok(Some(&input[..end])),
        None if input.len() <= MAX_LINE + 1 => Ok(None),
        _ => Err(Http1Error::Malformed("chunk line too long".into())),
    }
}

/// `1*HEXDIG [ chunk-ext ]`: the size, extensions ignored.
fn chunk_size(line: &[u8]) -> Result<usize, Http1Error> {
    let hex = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let bad = || Http1Error::Malformed("bad chunk size".into());
    if hex.is_empty() || hex.len() > 15 {
        return Err(bad());
    }
    let text = std::str::from_utf8(hex).map_err(|_| bad())?;
    usize::from_str_radix(text, 16).map_err(|_| bad())
}

/// One chunk of a streamed (`Transfer-Encoding: chunked`) response. An empty `data` would end
/// the body, so it yields nothing: end it with [`LAST_CHUNK`].
pub fn chunk(data: &[u8]) -> Bytes {
    if data.is_empty() {
        return Bytes::new();
    }
    let mut out = BytesMut::with_capacity(data.len() + 20);
    out.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.put_slice(data);
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The end of a streamed response's body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::parse_head;
    use proptest::prelude::*;

    fn head(extra: &str) -> Head {
        let raw = format!("POST /v3/kv/put HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(head("").body_kind(), Ok(BodyKind::Length(0)));
        assert_eq!(
            head("Content-Length: 12\r\n").body_kind(),
            Ok(BodyKind::Length(12))
        );
        assert_eq!(
            head("Transfer-Encoding: gzip, Chunked\r\n").body_kind(),
            Ok(BodyKind::Chunked)
        );
        assert_eq!(
            head("Transfer-Encoding: gzip\r\n").body_kind(),
            Err(Http1Error::UnsupportedTransferEncoding)
        );
        assert!(matches!(
            head("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n").body_kind(),
            Err(Http1Error::Malformed(_))
        ));
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let wire = b"5;name=v\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let mut d = ChunkedDecoder::new(100);
        let mut body = Vec::new();
        let got = d.decode(wire, &mut body).unwrap();
        assert_eq!(body, b"hello, world");
        assert!(got.done);
        assert_eq!(&wire[got.consumed..], b"NEXT");
    }

    #[test]
    fn refuses_what_it_must() {
        let refuse = |wire: &[u8], max: usize| {
            ChunkedDecoder::new(max)
                .decode(wire, &mut Vec::new())
                .unwrap_err()
        };
        assert_eq!(refuse(b"10\r\n", 15), Http1Error::BodyTooLarge);
        assert!(matches!(refuse(b"zz\r\n", 15), Http1Error::Malformed(_)));
        assert!(matches!(refuse(b"2\r\nabX", 15), Http1Error::Malformed(_)));
        assert!(matches!(
            refuse(&vec![b'1'; MAX_LINE + 10], 15),
            Http1Error::Malformed(_)
        ));
        assert!(matches!(
            refuse(b"ffffffffffffffffff\r\n", usize::MAX),
            Http1Error::Malformed(_)
        ));
    }

    #[test]
    fn streamed_chunks_decode_back() {
        let mut wire = chunk(b"abc").to_vec();
        wire.extend_from_slice(&chunk(b""));
        wire.extend_from_slice(&chunk(&[7; 300]));
        wire.extend_from_slice(LAST_CHUNK);
        let mut body = Vec::new();
        let got = ChunkedDecoder::new(1000).decode(&wire, &mut body).unwrap();
        assert!(got.done && got.consumed == wire.len());
        assert_eq!(body.len(), 303);
    }

    proptest! {
        /// However the bytes are split across reads, the body decodes the same.
        #[test]
        fn any_split_decodes_the_same(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 0..8),
            cuts in proptest::collection::vec(1usize..40, 1..20),
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(&chunk(c));
            }
            wire.extend_from_slice(LAST_CHUNK);
            let mut d = ChunkedDecoder::new(usize::MAX);
            let (mut body, mut buf, mut fed, mut done) = (Vec::new(), Vec::new(), 0, false);
            for cut in cuts.iter().cycle() {
                let end = (fed + cut).min(wire.len());
                buf.extend_from_slice(&wire[fed..end]);
                fed = end;
                let got = d.decode(&buf, &mut body).unwrap();
                buf.drain(..got.consumed);
                if got.done {
                    done = true;
                    break;
                }
                if fed == wire.len() && got.consumed == 0 {
                    break;
                }
            }
            prop_assert!(done);
            prop_assert_eq!(body, chunks.concat());
        }
    }
}
