//! HTTP/1.1 on the client port: request-head parsing and response encoding. The server's
//! router decides what each path means; this module only frames bytes.

mod request;
mod response;

pub use request::{Head, Http1Error, MAX_HEAD_BYTES, parse_head};
pub use response::Response;
