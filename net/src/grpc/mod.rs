//! gRPC over HTTP/2: status codes and trailers now; message framing and call dispatch with
//! the HTTP/2 connection (issue "net").

mod status;

pub use status::{Code, Status, percent_decode, percent_encode};
