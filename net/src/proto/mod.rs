//! HTTP/2 connection and stream state (RFC 9113 §5, §6.9): which frames each stream may
//! send and receive, with the RFC's error for each violation, and the flow-control
//! windows. Pure state, no I/O: a connection driver feeds it frames from `codec/` and
//! writes what it decides through the frame writer.

mod flood;
mod flow;
mod stream;
mod streams;

pub use flood::FloodGuard;
pub use flow::{DEFAULT_CONNECTION_WINDOW, DEFAULT_STREAM_WINDOW, RecvWindow, SendWindow};
pub use stream::{CloseCause, Disposition, StreamState};
pub use streams::{Role, Stream, Streams};
