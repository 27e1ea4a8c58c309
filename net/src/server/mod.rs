//! The server role: the HTTP/2 connection driver (`connection`), what a handler sees of
//! a call (`call`), and method dispatch (`router`). Runs on glommio: one connection is
//! one future on one core, each call a local task beside it.

mod call;
mod config;
mod connection;
mod router;

pub use call::{Call, Closed, Peer, Requests, Responses};
pub use config::ServerConfig;
pub use connection::{ConnectionError, serve_connection};
pub use router::{HEALTH_CHECK_PATH, Router, health};
