//! The life of one stream (RFC 9113 §5.1): the seven states and the transitions frames
//! cause, in both directions. Receiving a frame the current state forbids yields exactly
//! the error §5.1 names: a connection PROTOCOL_ERROR for frames on idle or reserved
//! streams, a stream STREAM_CLOSED after the peer ended or reset the stream, a connection
//! STREAM_CLOSED for frames after a stream fully closed with END_STREAM.

use crate::frame::{ErrorCode, H2Error, StreamId};

/// How a closed stream got there; the rules for late frames depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Both sides sent END_STREAM.
    EndStream,
    /// We sent RST_STREAM: frames the peer sent before seeing it are ignored.
    ResetLocal,
    /// The peer sent RST_STREAM.
    ResetRemote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    Idle,
    ReservedLocal,
    ReservedRemote,
    Open,
    HalfClosedLocal,
    HalfClosedRemote,
    Closed(CloseCause),
}

/// What to do with a received frame that is not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Process,
    /// Allowed to arrive but meaningless now (e.g. DATA after we reset the stream). DATA
    /// still counts against the connection window, and a HEADERS block must still be
    /// HPACK-decoded so the dynamic table stays in step with the peer's.
    Ignore,
}

fn conn(code: ErrorCode, reason: &'static str) -> H2Error {
    H2Error::connection(code, reason)
}

impl StreamState {
    pub fn is_closed(self) -> bool {
        matches!(self, StreamState::Closed(_))
    }

    /// Whether the peer may still send DATA or HEADERS on the stream.
    pub fn is_recv_open(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedLocal)
    }

    /// Whether we may still send DATA or HEADERS on the stream.
    pub fn is_send_open(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedRemote)
    }

    /// The peer's END_STREAM moves us along (§5.1: open → half-closed (remote),
    /// half-closed (local) → closed).
    fn recv_end_stream(self) -> StreamState {
        match self {
            StreamState::HalfClosedLocal => StreamState::Closed(CloseCause::EndStream),
            _ => StreamState::HalfClosedRemote,
        }
    }

    fn send_end_stream(self) -> StreamState {
        match self {
            StreamState::HalfClosedRemote => StreamState::Closed(CloseCause::EndStream),
            _ => StreamState::HalfClosedLocal,
        }
    }

    /// Rules shared by every frame that carries content (HEADERS, DATA) in states where
    /// the peer is not allowed to send it.
    fn recv_refused(self, id: StreamId, kind: &'static str) -> Result<Disposition, H2Error> {
        match self {
            StreamState::Idle => Err(conn(ErrorCode::ProtocolError, kind)),
            StreamState::ReservedLocal | StreamState::ReservedRemote => Err(conn(
                ErrorCode::ProtocolError,
                "frame not allowed on a reserved stream",
            )),
            StreamState::HalfClosedRemote | StreamState::Closed(CloseCause::ResetRemote) => {
                Err(H2Error::stream(
                    id,
                    ErrorCode::StreamClosed,
                    "frame after the peer ended the stream",
                ))
            }
            StreamState::Closed(CloseCause::EndStream) => Err(conn(
                ErrorCode::StreamClosed,
                "frame on a stream closed with END_STREAM",
            )),
            StreamState::Closed(CloseCause::ResetLocal) => Ok(Disposition::Ignore),
            StreamState::Open | StreamState::HalfClosedLocal => Ok(Disposition::Process),
        }
    }

    /// A HEADERS frame arrived (its END_STREAM flag given).
    pub fn recv_headers(&mut self, id: StreamId, end_stream: bool) -> Result<Disposition, H2Error> {
        let next = match *self {
            StreamState::Idle => StreamState::Open,
            // The response to a promised stream (§5.1 reserved (remote)).
            StreamState::ReservedRemote => StreamState::HalfClosedLocal,
            StreamState::Open | StreamState::HalfClosedLocal => *self,
            other => return other.recv_refused(id, "HEADERS not allowed here"),
        };
        *self = if end_stream {
            next.recv_end_stream()
        } else {
            next
        };
        Ok(Disposition::Process)
    }

    /// A DATA frame arrived.
    pub fn recv_data(&mut self, id: StreamId, end_stream: bool) -> Result<Disposition, H2Error> {
        let disposition = self.recv_refused(id, "DATA on an idle stream")?;
        if disposition == Disposition::Process && end_stream {
            *self = self.recv_end_stream();
        }
        Ok(disposition)
    }

    /// RST_STREAM arrived.
    pub fn recv_reset(&mut self) -> Result<Disposition, H2Error> {
        match *self {
            StreamState::Idle => Err(conn(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            )),
            StreamState::Closed(_) => Ok(Disposition::Ignore),
            _ => {
                *self = StreamState::Closed(CloseCause::ResetRemote);
                Ok(Disposition::Process)
            }
        }
    }

    /// WINDOW_UPDATE arrived for this stream.
    pub fn recv_window_update(&self, id: StreamId) -> Result<Disposition, H2Error> {
        match self {
            StreamState::Idle => Err(conn(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            )),
            StreamState::ReservedRemote => Err(conn(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on a reserved (remote) stream",
            )),
            StreamState::Closed(CloseCause::ResetRemote) => Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "WINDOW_UPDATE after the peer reset the stream",
            )),
            // Permitted shortly after we ended or reset the stream (§5.1 closed).
            StreamState::Closed(_) => Ok(Disposition::Ignore),
            _ => Ok(Disposition::Process),
        }
    }

    /// PRIORITY is allowed in every state (§5.1) and ignored (§5.3.2).
    pub fn recv_priority(&self) -> Disposition {
        Disposition::Ignore
    }

    /// The peer promised this stream (client role).
    pub fn recv_push_promise(&mut self) -> Result<(), H2Error> {
        match *self {
            StreamState::Idle => {
                *self = StreamState::ReservedRemote;
                Ok(())
            }
            _ => Err(conn(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE for a stream already in use",
            )),
        }
    }

    /// We send HEADERS. Sending where the state forbids it is our own bug, reported as
    /// INTERNAL_ERROR on the stream rather than breaking the connection.
    pub fn send_headers(&mut self, id: StreamId, end_stream: bool) -> Result<(), H2Error> {
        let next = match *self {
            StreamState::Idle => StreamState::Open,
            StreamState::ReservedLocal => StreamState::HalfClosedRemote,
            StreamState::Open | StreamState::HalfClosedRemote => *self,
            _ => return Err(send_error(id)),
        };
        *self = if end_stream {
            next.send_end_stream()
        } else {
            next
        };
        Ok(())
    }

    pub fn send_data(&mut self, id: StreamId, end_stream: bool) -> Result<(), H2Error> {
        if !self.is_send_open() {
            return Err(send_error(id));
        }
        if end_stream {
            *self = self.send_end_stream();
        }
        Ok(())
    }

    /// We reset the stream. Resetting an idle stream is not allowed (§6.4).
    pub fn send_reset(&mut self, id: StreamId) -> Result<(), H2Error> {
        match *self {
            StreamState::Idle => Err(send_error(id)),
            StreamState::Closed(_) => Ok(()),
            _ => {
                *self = StreamState::Closed(CloseCause::ResetLocal);
                Ok(())
            }
        }
    }

    /// We promise this stream (server role; ringkv never pushes, kept for completeness).
    pub fn reserve_local(&mut self, id: StreamId) -> Result<(), H2Error> {
        match *self {
            StreamState::Idle => {
                *self = StreamState::ReservedLocal;
                Ok(())
            }
            _ => Err(send_error(id)),
        }
    }
}

fn send_error(id: StreamId) -> H2Error {
    H2Error::stream(
        id,
        ErrorCode::InternalError,
        "frame not allowed in the stream's state",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use StreamState::*;

    const ID: StreamId = StreamId::MAX;

    fn is_conn(e: H2Error, code: ErrorCode) {
        assert!(e.is_connection_error(), "{e}");
        assert_eq!(e.code(), code);
    }

    fn is_stream(e: H2Error, code: ErrorCode) {
        assert!(!e.is_connection_error(), "{e}");
        assert_eq!(e.code(), code);
    }

    #[test]
    fn unary_call_server_side() {
        let mut s = Idle;
        s.recv_headers(ID, false).unwrap();
        assert_eq!(s, Open);
        s.recv_data(ID, true).unwrap();
        assert_eq!(s, HalfClosedRemote);
        s.send_headers(ID, false).unwrap();
        s.send_data(ID, false).unwrap();
        s.send_headers(ID, true).unwrap(); // trailers
        assert_eq!(s, Closed(CloseCause::EndStream));
    }

    #[test]
    fn client_side_and_headers_only() {
        let mut s = Idle;
        s.send_headers(ID, true).unwrap();
        assert_eq!(s, HalfClosedLocal);
        s.recv_headers(ID, false).unwrap();
        s.recv_data(ID, false).unwrap();
        s.recv_headers(ID, true).unwrap();
        assert_eq!(s, Closed(CloseCause::EndStream));
        let mut s = Idle;
        s.recv_headers(ID, true).unwrap();
        assert_eq!(s, HalfClosedRemote);
    }

    #[test]
    fn idle_stream_errors() {
        is_conn(
            Idle.recv_data(ID, false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        is_conn(Idle.recv_reset().unwrap_err(), ErrorCode::ProtocolError);
        is_conn(
            Idle.recv_window_update(ID).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        assert_eq!(Idle.recv_priority(), Disposition::Ignore);
        is_stream(
            Idle.send_data(ID, false).unwrap_err(),
            ErrorCode::InternalError,
        );
        is_stream(Idle.send_reset(ID).unwrap_err(), ErrorCode::InternalError);
    }

    #[test]
    fn half_closed_remote_refuses_content() {
        is_stream(
            HalfClosedRemote.recv_data(ID, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        is_stream(
            HalfClosedRemote.recv_headers(ID, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        assert_eq!(
            HalfClosedRemote.recv_window_update(ID),
            Ok(Disposition::Process)
        );
        let mut s = HalfClosedRemote;
        s.recv_reset().unwrap();
        assert_eq!(s, Closed(CloseCause::ResetRemote));
    }

    #[test]
    fn closed_stream_rules_depend_on_the_cause() {
        let mut end = Closed(CloseCause::EndStream);
        is_conn(
            end.recv_data(ID, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        is_conn(
            end.recv_headers(ID, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        assert_eq!(end.recv_window_update(ID), Ok(Disposition::Ignore));
        assert_eq!(end.recv_reset(), Ok(Disposition::Ignore));

        let mut remote = Closed(CloseCause::ResetRemote);
        is_stream(
            remote.recv_data(ID, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        is_stream(
            remote.recv_window_update(ID).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        assert_eq!(remote.recv_priority(), Disposition::Ignore);

        let mut local = Open;
        local.send_reset(ID).unwrap();
        assert_eq!(local, Closed(CloseCause::ResetLocal));
        assert_eq!(local.recv_data(ID, true), Ok(Disposition::Ignore));
        assert_eq!(local.recv_headers(ID, true), Ok(Disposition::Ignore));
        assert_eq!(local, Closed(CloseCause::ResetLocal));
        is_stream(
            local.send_data(ID, false).unwrap_err(),
            ErrorCode::InternalError,
        );
    }

    #[test]
    fn reserved_states() {
        let mut s = Idle;
        s.recv_push_promise().unwrap();
        assert_eq!(s, ReservedRemote);
        is_conn(
            s.recv_data(ID, false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        is_conn(
            s.recv_window_update(ID).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        s.recv_headers(ID, false).unwrap();
        assert_eq!(s, HalfClosedLocal);
        is_conn(
            Open.recv_push_promise().unwrap_err(),
            ErrorCode::ProtocolError,
        );

        let mut s = Idle;
        s.reserve_local(ID).unwrap();
        is_conn(
            s.recv_headers(ID, false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        is_conn(
            s.recv_data(ID, false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        assert_eq!(s.recv_window_update(ID), Ok(Disposition::Process));
        s.send_headers(ID, false).unwrap();
        assert_eq!(s, HalfClosedRemote);
    }
}
