//! HTTP/1.1 on the client port: request heads and bodies (fixed-length or chunked), and
//! responses (whole, or streamed in chunks). The server's router decides what each path
//! means; this module only frames bytes.

mod body;
mod request;
mod response;

pub use body::{BodyKind, ChunkedDecoder, Decoded, LAST_CHUNK, chunk};
pub use request::{Head, Http1Error, MAX_HEAD_BYTES, parse_head};
pub use response::Response;
