//! Response encoding: status line, headers, body, in one buffer ready for one write.

use bytes::{BufMut, Bytes, BytesMut};

/// A complete HTTP/1.1 response with a fixed-length body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into(),
        }
    }

    /// Go's `net/http` plain-text error shape (`http.Error`), which etcd's mux returns for
    /// unknown paths and wrong methods.
    pub fn plain_error(status: u16, message: &str) -> Self {
        let mut r = Response::new(status, "text/plain; charset=utf-8", format!("{message}\n"));
        r.headers.push(("X-Content-Type-Options", "nosniff".into()));
        r
    }

    pub fn encode(&self, keep_alive: bool) -> Bytes {
        self.encode_with(keep_alive, Some(self.body.len()))
    }

    /// The status line and headers of a streamed response: `Transfer-Encoding: chunked`,
    /// the body to follow as [`super::chunk`]s and [`super::LAST_CHUNK`] (`body` unused).
    pub fn encode_streaming_head(&self, keep_alive: bool) -> Bytes {
        self.encode_with(keep_alive, None)
    }

    fn encode_with(&self, keep_alive: bool, length: Option<usize>) -> Bytes {
        let body = if length.is_some() {
            &self.body[..]
        } else {
            &[]
        };
        let mut out = BytesMut::with_capacity(128 + body.len());
        out.put_slice(b"HTTP/1.1 ");
        out.put_slice(self.status.to_string().as_bytes());
        out.put_u8(b' ');
        out.put_slice(reason(self.status).as_bytes());
        out.put_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(b"\r\n");
        }
        match length {
            Some(n) => out.put_slice(format!("Content-Length: {n}\r\n").as_bytes()),
            None => out.put_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        if !keep_alive {
            out.put_slice(b"Connection: close\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(body);
        out.freeze()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_status_headers_and_body() {
        let r = Response::new(200, "application/json", r#"{"health":"true"}"#);
        let bytes = r.encode(true);
        assert_eq!(
            &bytes[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"health\":\"true\"}"
        );
    }

    #[test]
    fn close_is_announced() {
        let bytes = Response::plain_error(404, "404 page not found").encode(false);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n404 page not found\n"));
    }

    #[test]
    fn a_streamed_response_is_chunked() {
        let r = Response::new(200, "application/json", "ignored");
        assert_eq!(
            &r.encode_streaming_head(true)[..],
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(&crate::http1::chunk(b"{}")[..], b"2\r\n{}\r\n");
    }
}
