//! ringkv-net moves bytes between sockets and request handlers: it tells HTTP/2 from
//! HTTP/1.x on a fresh connection, and (issue "net") carries gRPC calls over a hand-written
//! HTTP/2 + HPACK codec and plain requests over HTTP/1.1.
//!
//! It owns protocol framing only. It never knows etcd: no etcd message, error string or
//! key appears here, and handlers are plain functions the server plugs in. Every decoder
//! of outside bytes in this crate returns an error on bad input and never panics.
//!
//! Layers, bottom up: `frame` (one file per RFC 9113 frame type), `hpack` (RFC 7541),
//! `codec` (bytes ↔ frames), `proto` (stream states, flow control, flood limits), `grpc`
//! (status codes, message framing, metadata), `server` (the connection driver and call
//! dispatch, on glommio), `client` (connections we open and the calls on them, on any
//! executor); `http1`
//! and `sniff` serve the HTTP/1.1 side of the same port; `tls` wraps either in TLS.

pub mod client;
pub mod codec;
pub mod frame;
pub mod grpc;
pub mod hpack;
pub mod http1;
pub mod proto;
pub mod server;
pub mod sniff;
pub mod tls;
