//! Request heads, parsed with `httparse` under fixed limits so a client cannot make the
//! server buffer without bound.

/// A request head larger than this is refused (431), like Go's default `MaxHeaderBytes`
/// order of magnitude; etcd's front doors never need more.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;

/// The parts of a request head the router needs, owned so the read buffer can be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// The request target as sent: path plus optional `?query`.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(|v| v.to_ascii_lowercase());
        match (self.minor_version, connection.as_deref()) {
            (_, Some(b"close")) => false,
            (0, Some(b"keep-alive")) => true,
            (0, _) => false,
            _ => true,
        }
    }

    /// The declared `Content-Length` (0 when absent); see [`Head::body_kind`] for chunked
    /// bodies.
    pub fn content_length(&self) -> Result<usize, Http1Error> {
        match self.header("content-length") {
            None => Ok(0),
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(Http1Error::BadContentLength),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Http1Error {
    #[error("malformed HTTP/1 request: {0}")]
    Malformed(String),
    #[error("request head larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("invalid Content-Length")]
    BadContentLength,
    #[error("unsupported transfer encoding")]
    UnsupportedTransferEncoding,
    #[error("request body too large")]
    BodyTooLarge,
}

/// Parses one request head from the front of `buf`.
///
/// `Ok(None)` means the head is incomplete and more bytes are needed; `Ok(Some((head, n)))`
/// means the head took the first `n` bytes of `buf`.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Http1Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req
        .parse(buf)
        .map_err(|e| Http1Error::Malformed(e.to_string()))?;
    let consumed = match status {
        httparse::Status::Partial => {
            return if buf.len() >= MAX_HEAD_BYTES {
                Err(Http1Error::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        httparse::Status::Complete(n) if n > MAX_HEAD_BYTES => {
            return Err(Http1Error::HeadTooLarge);
        }
        httparse::Status::Complete(n) => n,
    };
    // httparse guarantees method, path and version are set once the head is complete.
    let head = Head {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        minor_version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
    };
    Ok(Some((head, consumed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_get() {
        let raw = b"GET /version?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nrest";
        let (head, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(n, raw.len() - 4);
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/version");
        assert_eq!(head.header("host"), Some(&b"a"[..]));
        assert!(!head.keep_alive());
        assert_eq!(head.content_length(), Ok(0));
    }

    #[test]
    fn partial_head_needs_more() {
        assert_eq!(parse_head(b"GET /health HTTP/1.1\r\nHo"), Ok(None));
    }

    #[test]
    fn http10_closes_by_default() {
        let (head, _) = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive());
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut raw = b"GET / HTTP/1.1\r\nX: ".to_vec();
        raw.resize(MAX_HEAD_BYTES + 1, b'a');
        assert_eq!(parse_head(&raw), Err(Http1Error::HeadTooLarge));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            parse_head(b"\x16\x03\x01\x02\x00"),
            Err(Http1Error::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(Some((head, _))) = parse_head(&bytes) {
                let _ = head.content_length();
                let _ = head.keep_alive();
            }
        }
    }
}
