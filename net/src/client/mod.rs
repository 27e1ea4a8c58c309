//! The client role: HTTP/2 connections we open (h2c, or TLS through any stream that
//! implements `AsyncRead + AsyncWrite`, such as a futures-rustls client stream) and gRPC
//! calls on them, unary and streaming. `handshake` returns a `SendRequest` to start calls
//! and the `Connection` future that drives the socket; the caller spawns the future on its
//! executor (glommio in the server, any executor in tests). Handles are `Rc`-based: a
//! connection and its calls live on one thread, as a server connection does.

mod call;
mod config;
mod connection;

pub use call::{Closed, RequestStream, ResponseStream, SendRequest, with_deadline};
pub use config::ClientConfig;
pub use connection::{Connection, ConnectionError, handshake};
