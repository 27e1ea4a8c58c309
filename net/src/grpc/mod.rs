//! gRPC over HTTP/2, the parts that are pure format: status codes and trailers, message
//! framing, `grpc-timeout`, request metadata. The call dispatch that uses them lives in
//! `server/` and `client/`.

mod message;
mod metadata;
mod status;
mod timeout;

pub use message::{
    DEFAULT_MAX_RECV_MESSAGE_SIZE, MessageDecoder, PREFIX_LEN, encode as encode_message,
};
pub use metadata::Metadata;
pub use status::{Code, Status, percent_decode, percent_encode};
pub use timeout::{encode_timeout, parse_timeout};
