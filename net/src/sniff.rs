//! Connection-preface sniffing: one client port serves gRPC (HTTP/2 with prior knowledge)
//! and HTTP/1.x (JSON gateway, /health, /version), as etcd's cmux does.

/// The fixed bytes an HTTP/2 client sends first (RFC 9113 §3.4).
pub const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The full HTTP/2 connection preface arrived.
    Http2,
    /// Anything that is not (a prefix of) the HTTP/2 preface is treated as HTTP/1.x,
    /// whose own parser then accepts or rejects it.
    Http1,
}

/// Classifies a connection from the bytes read so far.
///
/// Returns `None` while `prefix` is still a proper prefix of the HTTP/2 preface and more
/// bytes are needed to decide; the caller reads more (with a timeout) and asks again.
pub fn detect(prefix: &[u8]) -> Option<Protocol> {
    let n = prefix.len().min(HTTP2_PREFACE.len());
    if prefix[..n] != HTTP2_PREFACE[..n] {
        return Some(Protocol::Http1);
    }
    if n == HTTP2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_preface_is_http2() {
        assert_eq!(detect(HTTP2_PREFACE), Some(Protocol::Http2));
        let mut with_settings = HTTP2_PREFACE.to_vec();
        with_settings.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(detect(&with_settings), Some(Protocol::Http2));
    }

    #[test]
    fn http1_request_line_is_http1() {
        assert_eq!(detect(b"GET /version HTTP/1.1\r\n"), Some(Protocol::Http1));
        // "P" could still be "PRI": wait; "POST" cannot.
        assert_eq!(detect(b"P"), None);
        assert_eq!(detect(b"POST /v3/kv/range"), Some(Protocol::Http1));
    }

    #[test]
    fn empty_input_needs_more() {
        assert_eq!(detect(b""), None);
    }

    proptest! {
        #[test]
        fn any_proper_prefix_needs_more(len in 0usize..24) {
            prop_assert_eq!(detect(&HTTP2_PREFACE[..len]), None);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = detect(&bytes);
        }
    }
}
