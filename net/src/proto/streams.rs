//! All streams of one connection and the connection's own windows. It owns the rules that
//! need more than one stream's state: identifier parity and ordering (§5.1.1), the
//! concurrency limit (§5.1.2), frames for streams that are already gone, the connection
//! flow-control windows, and SETTINGS_INITIAL_WINDOW_SIZE changes applied to every stream
//! (§6.9.2). Closed streams leave the map; a bounded memory of recent closures keeps the
//! §5.1 "closed" rules exact for late frames without growing with the connection's age.

use std::collections::{HashMap, VecDeque};

use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, Data, ErrorCode, H2Error, MAX_INITIAL_WINDOW_SIZE, Settings,
    StreamId, WindowUpdate,
};

use super::flow::{DEFAULT_CONNECTION_WINDOW, RecvWindow, SendWindow};
use super::stream::{CloseCause, Disposition, StreamState};

/// How many closed streams are remembered for late frames.
const RECENTLY_CLOSED: usize = 256;

/// Which side of the connection we are: it decides whose stream ids are odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// One live stream.
#[derive(Debug)]
pub struct Stream {
    pub state: StreamState,
    pub send: SendWindow,
    pub recv: RecvWindow,
}

#[derive(Debug)]
pub struct Streams {
    role: Role,
    streams: HashMap<StreamId, Stream>,
    recently_closed: VecDeque<(StreamId, CloseCause)>,
    /// Highest stream id the peer has opened (every lower idle id is implicitly closed).
    last_peer_id: StreamId,
    next_local_id: u32,
    /// Our SETTINGS_MAX_CONCURRENT_STREAMS.
    max_peer_streams: u32,
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says otherwise).
    max_local_streams: u32,
    peer_streams: u32,
    local_streams: u32,
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE: where our stream send windows start.
    peer_initial_window: u32,
    /// Our advertised SETTINGS_INITIAL_WINDOW_SIZE and the receive window we aim for.
    local_initial_window: u32,
    pub connection_send: SendWindow,
    pub connection_recv: RecvWindow,
}

impl Streams {
    /// `initial_window` is the SETTINGS_INITIAL_WINDOW_SIZE we advertise (and keep each
    /// stream topped up to); the connection window is raised to
    /// `DEFAULT_CONNECTION_WINDOW` by the first WINDOW_UPDATE (`connection_recv.initial_update`).
    pub fn new(role: Role, max_concurrent_streams: u32, initial_window: u32) -> Self {
        Streams {
            role,
            streams: HashMap::new(),
            recently_closed: VecDeque::with_capacity(RECENTLY_CLOSED),
            last_peer_id: StreamId::ZERO,
            next_local_id: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            max_peer_streams: max_concurrent_streams,
            max_local_streams: u32::MAX,
            peer_streams: 0,
            local_streams: 0,
            peer_initial_window: DEFAULT_INITIAL_WINDOW_SIZE,
            local_initial_window: initial_window.min(MAX_INITIAL_WINDOW_SIZE),
            connection_send: SendWindow::connection(),
            connection_recv: RecvWindow::new(
                StreamId::ZERO,
                DEFAULT_INITIAL_WINDOW_SIZE,
                DEFAULT_CONNECTION_WINDOW,
            ),
        }
    }

    pub fn get(&self, id: StreamId) -> Option<&Stream> {
        self.streams.get(&id)
    }

    pub fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.get_mut(&id)
    }

    pub fn active(&self) -> usize {
        self.streams.len()
    }

    pub fn last_peer_id(&self) -> StreamId {
        self.last_peer_id
    }

    fn is_peer_initiated(&self, id: StreamId) -> bool {
        match self.role {
            Role::Server => id.is_client_initiated(),
            Role::Client => !id.is_client_initiated(),
        }
    }

    fn new_stream(&self, id: StreamId) -> Stream {
        Stream {
            state: StreamState::Idle,
            send: SendWindow::new(id, self.peer_initial_window),
            recv: RecvWindow::new(id, self.local_initial_window, self.local_initial_window),
        }
    }

    /// The state of a stream not in the map: recently closed, long closed, or idle.
    fn absent_state(&self, id: StreamId) -> StreamState {
        if let Some((_, cause)) = self.recently_closed.iter().find(|(c, _)| *c == id) {
            return StreamState::Closed(*cause);
        }
        let used = if self.is_peer_initiated(id) {
            id <= self.last_peer_id
        } else {
            id.value() < self.next_local_id
        };
        if used {
            // Forgotten: assume the common case, both sides ended it.
            StreamState::Closed(CloseCause::EndStream)
        } else {
            StreamState::Idle
        }
    }

    /// Moves a stream that reached `closed` out of the map.
    fn settle(&mut self, id: StreamId) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        let StreamState::Closed(cause) = stream.state else {
            return;
        };
        self.streams.remove(&id);
        if self.is_peer_initiated(id) {
            self.peer_streams = self.peer_streams.saturating_sub(1);
        } else {
            self.local_streams = self.local_streams.saturating_sub(1);
        }
        if self.recently_closed.len() == RECENTLY_CLOSED {
            self.recently_closed.pop_front();
        }
        self.recently_closed.push_back((id, cause));
    }

    /// A HEADERS frame (after CONTINUATIONs were joined) arrived.
    pub fn recv_headers(&mut self, id: StreamId, end_stream: bool) -> Result<Disposition, H2Error> {
        if let Some(stream) = self.streams.get_mut(&id) {
            let d = stream.state.recv_headers(id, end_stream)?;
            self.settle(id);
            return Ok(d);
        }
        if !self.is_peer_initiated(id) {
            // Our own ids only come back on streams we opened (§5.1.1).
            let mut state = self.absent_state(id);
            if state == StreamState::Idle {
                return Err(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "HEADERS opening a stream with the wrong parity",
                ));
            }
            return state.recv_headers(id, end_stream);
        }
        if id <= self.last_peer_id {
            if !self.recently_closed.iter().any(|(c, _)| *c == id) {
                // §5.1.1: new stream ids must increase; a stream this old is long closed.
                return Err(H2Error::connection(
                    ErrorCode::ProtocolError,
                    "stream id not greater than previous ones",
                ));
            }
            return self.absent_state(id).recv_headers(id, end_stream);
        }
        self.last_peer_id = id;
        if self.peer_streams >= self.max_peer_streams {
            // §5.1.2: REFUSED_STREAM tells the client nothing was processed, so it may retry.
            self.recently_closed.push_back((id, CloseCause::ResetLocal));
            if self.recently_closed.len() > RECENTLY_CLOSED {
                self.recently_closed.pop_front();
            }
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "SETTINGS_MAX_CONCURRENT_STREAMS reached",
            ));
        }
        let mut stream = self.new_stream(id);
        let d = stream.state.recv_headers(id, end_stream)?;
        self.peer_streams += 1;
        self.streams.insert(id, stream);
        self.settle(id);
        Ok(d)
    }

    /// A DATA frame of `flow_len` flow-controlled octets arrived. The connection window is
    /// charged first, whatever happens to the stream (§6.9). For `Ignore` the caller
    /// returns the octets with `release_connection`.
    pub fn recv_data(
        &mut self,
        id: StreamId,
        flow_len: u32,
        end_stream: bool,
    ) -> Result<Disposition, H2Error> {
        self.connection_recv.recv(flow_len)?;
        let Some(stream) = self.streams.get_mut(&id) else {
            return self.absent_state(id).recv_data(id, end_stream);
        };
        stream.recv.recv(flow_len)?;
        let d = stream.state.recv_data(id, end_stream)?;
        self.settle(id);
        Ok(d)
    }

    /// A DATA frame arrived, for either role: charges the windows ([`Streams::recv_data`]),
    /// gives back at once the octets of a frame nobody takes and of its padding, and returns
    /// how many payload octets the caller now holds (`None`: nothing to process). The
    /// caller returns those with [`Streams::release_connection`] and
    /// [`Streams::release_stream`] as it consumes them. WINDOW_UPDATEs due go to `send`.
    pub fn receive_data(
        &mut self,
        data: &Data,
        mut send: impl FnMut(WindowUpdate),
    ) -> Result<Option<u32>, H2Error> {
        let id = data.stream_id;
        let flow = data.flow_controlled_len();
        match self.recv_data(id, flow, data.end_stream) {
            Ok(Disposition::Process) => {}
            Ok(Disposition::Ignore) => {
                if let Some(update) = self.release_connection(flow) {
                    send(update);
                }
                return Ok(None);
            }
            Err(e) => {
                if !e.is_connection_error()
                    && let Some(update) = self.release_connection(flow)
                {
                    send(update);
                }
                return Err(e);
            }
        }
        let payload_len = u32::try_from(data.payload.len()).unwrap_or(u32::MAX);
        // Padding carries nothing for the caller: credit it back at once.
        let padding = flow.saturating_sub(payload_len);
        if padding > 0 {
            let updates = [
                self.release_connection(padding),
                self.release_stream(id, padding),
            ];
            updates.into_iter().flatten().for_each(&mut send);
        }
        Ok(Some(payload_len))
    }

    /// Gives `n` received octets back to the connection window: the WINDOW_UPDATE to send,
    /// once enough have come back to be worth one.
    pub fn release_connection(&mut self, n: u32) -> Option<WindowUpdate> {
        if n == 0 {
            return None;
        }
        let increment = self.connection_recv.release(n)?;
        Some(WindowUpdate::new(StreamId::ZERO, increment))
    }

    /// Gives `n` received octets back to stream `id`'s window; nothing for a stream the
    /// peer has ended, since credit would be of no use to it.
    pub fn release_stream(&mut self, id: StreamId, n: u32) -> Option<WindowUpdate> {
        let stream = self.streams.get_mut(&id)?;
        if !stream.state.is_recv_open() {
            return None;
        }
        let increment = stream.recv.release(n)?;
        Some(WindowUpdate::new(id, increment))
    }

    /// RST_STREAM arrived.
    pub fn recv_reset(&mut self, id: StreamId) -> Result<Disposition, H2Error> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return self.absent_state(id).recv_reset();
        };
        let d = stream.state.recv_reset()?;
        self.settle(id);
        Ok(d)
    }

    /// WINDOW_UPDATE arrived (stream 0: the connection).
    pub fn recv_window_update(
        &mut self,
        id: StreamId,
        increment: u32,
    ) -> Result<Disposition, H2Error> {
        if id.is_zero() {
            self.connection_send.grow(increment)?;
            return Ok(Disposition::Process);
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            return self.absent_state(id).recv_window_update(id);
        };
        let d = stream.state.recv_window_update(id)?;
        stream.send.grow(increment)?;
        Ok(d)
    }

    /// Applies the peer's SETTINGS (not an ACK).
    pub fn apply_peer_settings(&mut self, settings: &Settings) -> Result<(), H2Error> {
        if let Some(max) = settings.max_concurrent_streams {
            self.max_local_streams = max;
        }
        if let Some(initial) = settings.initial_window_size {
            let delta = i64::from(initial) - i64::from(self.peer_initial_window);
            self.peer_initial_window = initial;
            for stream in self.streams.values_mut() {
                stream.send.adjust_initial(delta)?;
            }
        }
        Ok(())
    }

    /// Octets of DATA we may send on `id` now: the smaller of its and the connection's
    /// window.
    pub fn send_capacity(&self, id: StreamId) -> u32 {
        self.streams
            .get(&id)
            .filter(|s| s.state.is_send_open())
            .map_or(0, |s| {
                s.send.available().min(self.connection_send.available())
            })
    }

    /// Records DATA we send; `len` must not exceed `send_capacity`.
    pub fn send_data(&mut self, id: StreamId, len: u32, end_stream: bool) -> Result<(), H2Error> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Err(H2Error::stream(
                id,
                ErrorCode::InternalError,
                "DATA for an unknown stream",
            ));
        };
        stream.state.send_data(id, end_stream)?;
        stream.send.consume(len);
        self.connection_send.consume(len);
        self.settle(id);
        Ok(())
    }

    /// Records HEADERS we send on an existing stream (responses, trailers).
    pub fn send_headers(&mut self, id: StreamId, end_stream: bool) -> Result<(), H2Error> {
        let Some(stream) = self.streams.get_mut(&id) else {
            return Err(H2Error::stream(
                id,
                ErrorCode::InternalError,
                "HEADERS for an unknown stream",
            ));
        };
        stream.state.send_headers(id, end_stream)?;
        self.settle(id);
        Ok(())
    }

    /// Opens a stream of ours (client role requests). `None` while the peer's concurrency
    /// limit is reached or ids are exhausted; the caller queues the request.
    pub fn open_local(&mut self, end_stream: bool) -> Option<StreamId> {
        if self.local_streams >= self.max_local_streams
            || self.next_local_id > StreamId::MAX.value()
        {
            return None;
        }
        let id = StreamId::new(self.next_local_id);
        self.next_local_id += 2;
        let mut stream = self.new_stream(id);
        // Cannot fail: a fresh stream is idle, and idle streams may send HEADERS.
        stream.state.send_headers(id, end_stream).ok()?;
        self.local_streams += 1;
        self.streams.insert(id, stream);
        Some(id)
    }

    /// We reset a stream (a handler failed, a limit hit).
    pub fn reset(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&id) {
            let _ = stream.state.send_reset(id);
            self.settle(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Streams {
        Streams::new(Role::Server, 2, 65_535)
    }

    fn id(n: u32) -> StreamId {
        StreamId::new(n)
    }

    fn conn(e: H2Error, code: ErrorCode) {
        assert!(e.is_connection_error(), "{e}");
        assert_eq!(e.code(), code);
    }

    fn stream(e: H2Error, code: ErrorCode) {
        assert!(!e.is_connection_error(), "{e}");
        assert_eq!(e.code(), code);
    }

    #[test]
    fn stream_ids_must_increase_and_have_client_parity() {
        let mut s = server();
        s.recv_headers(id(3), false).unwrap();
        conn(
            s.recv_headers(id(1), false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        conn(
            s.recv_headers(id(2), false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        // Trailers on the open stream are fine.
        s.recv_headers(id(3), true).unwrap();
        assert_eq!(s.last_peer_id(), id(3));
    }

    #[test]
    fn concurrency_limit_refuses_streams() {
        let mut s = server();
        s.recv_headers(id(1), false).unwrap();
        s.recv_headers(id(3), false).unwrap();
        stream(
            s.recv_headers(id(5), false).unwrap_err(),
            ErrorCode::RefusedStream,
        );
        // The refused stream's late DATA is ignored, not an error.
        assert_eq!(s.recv_data(id(5), 10, true), Ok(Disposition::Ignore));
        s.reset(id(1));
        s.recv_headers(id(7), false).unwrap();
        assert_eq!(s.active(), 2);
    }

    #[test]
    fn frames_for_idle_and_closed_streams() {
        let mut s = server();
        conn(
            s.recv_data(id(9), 1, false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
        conn(s.recv_reset(id(9)).unwrap_err(), ErrorCode::ProtocolError);
        conn(
            s.recv_window_update(id(9), 1).unwrap_err(),
            ErrorCode::ProtocolError,
        );

        // A stream both sides ended: late DATA is a connection STREAM_CLOSED.
        s.recv_headers(id(1), true).unwrap();
        s.send_headers(id(1), true).unwrap();
        assert_eq!(s.active(), 0);
        conn(
            s.recv_data(id(1), 1, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        assert_eq!(s.recv_window_update(id(1), 5), Ok(Disposition::Ignore));

        // The peer reset it: late DATA is a stream STREAM_CLOSED.
        s.recv_headers(id(3), false).unwrap();
        s.recv_reset(id(3)).unwrap();
        stream(
            s.recv_data(id(3), 1, false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
        stream(
            s.recv_headers(id(3), false).unwrap_err(),
            ErrorCode::StreamClosed,
        );
    }

    #[test]
    fn flow_control_on_stream_and_connection() {
        let mut s = Streams::new(Role::Server, 100, 100);
        s.recv_headers(id(1), false).unwrap();
        s.recv_data(id(1), 100, false).unwrap();
        stream(
            s.recv_data(id(1), 1, false).unwrap_err(),
            ErrorCode::FlowControlError,
        );
        // The connection window was charged even for the refused octet.
        assert_eq!(s.connection_recv.available(), 65_535 - 101);
        let mut s = Streams::new(Role::Server, 100, 1 << 20);
        s.recv_headers(id(1), false).unwrap();
        conn(
            s.recv_data(id(1), 65_536, false).unwrap_err(),
            ErrorCode::FlowControlError,
        );
    }

    #[test]
    fn send_capacity_and_settings_changes() {
        let mut s = server();
        s.recv_headers(id(1), true).unwrap();
        assert_eq!(s.send_capacity(id(1)), 65_535);
        s.send_headers(id(1), false).unwrap();
        s.send_data(id(1), 65_535, false).unwrap();
        assert_eq!(s.send_capacity(id(1)), 0);
        s.recv_window_update(id(1), 1000).unwrap();
        assert_eq!(s.send_capacity(id(1)), 0, "connection window still empty");
        s.recv_window_update(StreamId::ZERO, 500).unwrap();
        assert_eq!(s.send_capacity(id(1)), 500);
        let lower = Settings {
            initial_window_size: Some(0),
            ..Settings::default()
        };
        s.apply_peer_settings(&lower).unwrap();
        assert_eq!(s.send_capacity(id(1)), 0, "stream window now negative");
        // The window sits at 1000 - 65 535 = -64 535: it may grow by 2^31-1 once, and
        // then overflows.
        s.recv_window_update(id(1), MAX_INITIAL_WINDOW_SIZE)
            .unwrap();
        stream(
            s.recv_window_update(id(1), 64_536).unwrap_err(),
            ErrorCode::FlowControlError,
        );
        conn(
            s.recv_window_update(StreamId::ZERO, u32::MAX >> 1)
                .unwrap_err(),
            ErrorCode::FlowControlError,
        );
        let mut s = server();
        s.recv_headers(id(1), false).unwrap();
        s.recv_window_update(id(1), MAX_INITIAL_WINDOW_SIZE - 65_535)
            .unwrap();
        let raise = Settings {
            initial_window_size: Some(65_536),
            ..Settings::default()
        };
        conn(
            s.apply_peer_settings(&raise).unwrap_err(),
            ErrorCode::FlowControlError,
        );
    }

    #[test]
    fn client_role_opens_odd_streams_within_the_peer_limit() {
        let mut c = Streams::new(Role::Client, 100, 65_535);
        let limit = Settings {
            max_concurrent_streams: Some(1),
            ..Settings::default()
        };
        c.apply_peer_settings(&limit).unwrap();
        assert_eq!(c.open_local(true), Some(id(1)));
        assert_eq!(c.open_local(true), None);
        c.recv_headers(id(1), true).unwrap();
        assert_eq!(c.active(), 0);
        assert_eq!(c.open_local(false), Some(id(3)));
        // A server may not open odd streams, nor unknown even ones without PUSH_PROMISE.
        conn(
            c.recv_headers(id(5), false).unwrap_err(),
            ErrorCode::ProtocolError,
        );
    }
}
