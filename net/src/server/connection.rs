//! The server side of one HTTP/2 connection: a single future that reads frames, runs
//! them through the `proto` state machines, starts a task per gRPC call, and writes what
//! the calls produce. One loop turn handles everything the socket had, then writes all
//! queued frames, of every stream, in one vectored write.
//!
//! Memory stays bounded: inbound, the flow-control windows cap what calls have not read
//! (credit goes back only as handlers take messages); outbound, each call's queue has a
//! budget (`Responses::send` waits) and the encoded-but-unwritten output has a high-water
//! mark above which the connection neither reads nor pulls from calls.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite};

use super::call::{Call, Peer, Requests, Responses, Shared, Slot, StreamHandle};
use super::config::ServerConfig;
use super::router::{Route, Router};
use crate::codec::{FrameReader, FrameWriter, strip_preface};
use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, Data, ErrorCode, Frame, GoAway, H2Error, Headers, Ping, RstStream,
    Settings, StreamId, WindowUpdate,
};
use crate::grpc::{
    Code, MessageDecoder, Metadata, PREFIX_LEN, Status, parse_timeout, percent_encode,
};
use crate::hpack::{self, Header};
use crate::proto::{Disposition, FloodGuard, RecvWindow, Role, Streams};

/// Why a connection ended other than by a clean close.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// We sent GOAWAY with this error.
    #[error("closed with GOAWAY: {0}")]
    Protocol(H2Error),
    #[error("the client did not answer a keepalive ping")]
    KeepaliveTimeout,
}

/// grpc-go's `maxPingStrikes`: the third early ping closes the connection.
const MAX_PING_STRIKES: u32 = 2;
/// grpc-go's `defaultPingTimeout`: without streams (and without PermitWithoutStream) a
/// client has no reason to ping more often than this.
const IDLE_PING_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);
const STATUS_WIRE: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// Serves one HTTP/2 connection until it closes. `already_read` holds the bytes the
/// protocol sniffer consumed (normally the whole client preface); `shutdown` resolving
/// starts a graceful GOAWAY: no new calls, in-flight calls get `shutdown_grace` to finish.
pub async fn serve_connection<IO>(
    io: IO,
    already_read: &[u8],
    router: Rc<Router>,
    config: ServerConfig,
    peer: Peer,
    shutdown: impl Future<Output = ()> + 'static,
) -> Result<(), ConnectionError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Connection::new(io, already_read, router, config, Box::pin(shutdown));
    conn.peer = Rc::new(peer);
    // Dropping `conn` tells calls still running that the connection is gone.
    poll_fn(|cx| conn.poll(cx)).await
}

struct Connection<IO> {
    io: IO,
    peer: Rc<Peer>,
    read_buf: BytesMut,
    preface_done: bool,
    got_settings: bool,
    reader: FrameReader,
    writer: FrameWriter,
    out: VecDeque<Bytes>,
    out_len: usize,
    hpack_decoder: hpack::Decoder,
    hpack_encoder: hpack::Encoder,
    hpack_buf: BytesMut,
    streams: Streams,
    shared: Rc<RefCell<Shared>>,
    router: Rc<Router>,
    config: ServerConfig,
    shutdown: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// Set once we sent a graceful GOAWAY: the last stream we accept and when we stop
    /// waiting for the calls in flight.
    draining: Option<(StreamId, Instant)>,
    peer_went_away: bool,
    /// Stop reading; close once the output is written.
    closing: bool,
    result: Option<ConnectionError>,
    deadlines: BinaryHeap<Reverse<(Instant, u32)>>,
    timer: Option<(Instant, glommio::timer::Timer)>,
    resets: FloodGuard,
    settings: FloodGuard,
    last_ping_at: Option<Instant>,
    ping_strikes: u32,
    reset_ping_strikes: bool,
    last_read: Instant,
    keepalive_sent: Option<Instant>,
    last_active: Instant,
    /// A WINDOW_UPDATE or drained output may unblock streams waiting to send.
    recheck_blocked: bool,
    started: bool,
    /// Once closing, when we stop trying to write the last frames.
    close_by: Option<Instant>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Connection<IO> {
    fn new(
        io: IO,
        already_read: &[u8],
        router: Rc<Router>,
        mut config: ServerConfig,
        shutdown: Pin<Box<dyn Future<Output = ()>>>,
    ) -> Self {
        // A stream window smaller than the largest message would deadlock: the credit
        // for a message comes back only once the whole message was read by its handler.
        let min_window = u32::try_from(config.max_recv_message_size + PREFIX_LEN + 16 * 1024)
            .unwrap_or(u32::MAX);
        config.stream_window = config.stream_window.max(min_window).min(0x7fff_ffff);
        config.connection_window = config.connection_window.max(config.stream_window);
        config.max_frame_size = config.max_frame_size.clamp(16_384, 0x00ff_ffff);
        let mut streams = Streams::new(
            Role::Server,
            config.max_concurrent_streams,
            config.stream_window,
        );
        streams.connection_recv = RecvWindow::new(
            StreamId::ZERO,
            DEFAULT_INITIAL_WINDOW_SIZE,
            config.connection_window,
        );
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(config.max_frame_size);
        let now = Instant::now();
        let mut conn = Connection {
            io,
            peer: Rc::default(),
            read_buf: BytesMut::from(already_read),
            preface_done: false,
            got_settings: false,
            reader,
            writer: FrameWriter::new(),
            out: VecDeque::new(),
            out_len: 0,
            hpack_decoder: hpack::Decoder::new(4096, config.max_header_list_size as usize),
            hpack_encoder: hpack::Encoder::new(4096),
            hpack_buf: BytesMut::new(),
            streams,
            shared: Rc::new(RefCell::new(Shared::new(config.stream_send_buffer))),
            router,
            shutdown: Some(shutdown),
            draining: None,
            peer_went_away: false,
            closing: false,
            result: None,
            deadlines: BinaryHeap::new(),
            timer: None,
            resets: FloodGuard::rapid_reset(),
            settings: FloodGuard::settings(),
            last_ping_at: None,
            ping_strikes: 0,
            reset_ping_strikes: false,
            last_read: now,
            keepalive_sent: None,
            last_active: now,
            recheck_blocked: false,
            started: false,
            close_by: None,
            config,
        };
        conn.send_preface();
        conn
    }

    /// Our SETTINGS and the connection window raise: the server connection preface.
    fn send_preface(&mut self) {
        let settings = Settings {
            max_concurrent_streams: Some(self.config.max_concurrent_streams),
            initial_window_size: Some(self.config.stream_window),
            max_frame_size: Some(self.config.max_frame_size),
            max_header_list_size: Some(self.config.max_header_list_size),
            ..Settings::default()
        };
        self.writer.frame(&Frame::Settings(settings));
        if let Some(increment) = self.streams.connection_recv.initial_update() {
            self.writer.frame(&Frame::WindowUpdate(WindowUpdate::new(
                StreamId::ZERO,
                increment,
            )));
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        if !self.started {
            // The sniffer's bytes may hold the whole first request: no read will bring it.
            self.started = true;
            self.process_input();
        }
        loop {
            let mut progress = false;
            let now = Instant::now();

            if let Some(shutdown) = self.shutdown.as_mut()
                && shutdown.as_mut().poll(cx).is_ready()
            {
                self.shutdown = None;
                self.start_drain(now);
                progress = true;
            }

            if self.closing && self.close_by.is_none() {
                self.close_by = Some(now + self.config.shutdown_grace);
            }
            if self.poll_timer(cx, now) {
                if !self.closing {
                    self.on_timer(Instant::now());
                } else if self.close_by.is_some_and(|t| Instant::now() >= t) {
                    // The peer does not take our last frames: give up on them.
                    return Poll::Ready(match self.result.take() {
                        Some(e) => Err(e),
                        None => Ok(()),
                    });
                }
                progress = true;
            }

            if !self.closing && self.out_len < self.config.write_high_water {
                match self.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        // The peer closed: nobody is left to answer.
                        self.closing = true;
                        self.abandon_all();
                        self.out.clear();
                        self.out_len = 0;
                        let _ = self.writer.flush();
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        self.last_read = Instant::now();
                        self.keepalive_sent = None;
                        self.process_input();
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
            }

            if !self.closing {
                self.service_streams();
            }
            if self.draining.is_some() && !self.closing && self.live_calls() == 0 {
                self.closing = true;
            }
            if self.peer_went_away && !self.closing && self.live_calls() == 0 {
                self.closing = true;
            }

            for chunk in self.writer.flush() {
                self.out_len += chunk.len();
                self.out.push_back(chunk);
            }
            match self.poll_write(cx) {
                Poll::Ready(Ok(true)) => {
                    progress = true;
                    self.recheck_blocked = true;
                }
                Poll::Ready(Ok(false)) | Poll::Pending => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            }

            if self.closing && self.out.is_empty() {
                let _ = Pin::new(&mut self.io).poll_flush(cx);
                let _ = Pin::new(&mut self.io).poll_close(cx);
                return Poll::Ready(match self.result.take() {
                    Some(e) => Err(e),
                    None => Ok(()),
                });
            }
            if !progress {
                let mut shared = self.shared.borrow_mut();
                if self.closing {
                    // Calls no longer produce output: only the socket can wake us.
                    shared.ready.clear();
                    self.recheck_blocked = false;
                }
                if shared.ready.is_empty() && !self.recheck_blocked {
                    shared.driver_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        crate::codec::io::poll_read(&mut self.io, &mut self.read_buf, cx)
    }

    /// Writes queued output; `Ok(true)` when something was written.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        crate::codec::io::poll_write(&mut self.io, &mut self.out, &mut self.out_len, cx)
    }

    fn process_input(&mut self) {
        if !self.preface_done {
            match strip_preface(&mut self.read_buf) {
                Ok(true) => self.preface_done = true,
                Ok(false) => return,
                Err(e) => return self.fail(e),
            }
        }
        while !self.closing {
            let frame = match self.reader.decode(&mut self.read_buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => return self.on_error(e),
            };
            if let Err(e) = self.on_frame(frame) {
                self.on_error(e);
            }
        }
    }

    fn on_error(&mut self, e: H2Error) {
        match e {
            H2Error::Stream {
                stream_id, code, ..
            } => self.reset_stream(stream_id, code),
            H2Error::Connection { .. } => self.fail(e),
        }
    }

    /// A connection error: GOAWAY with the code and the reason as debug data, then close.
    fn fail(&mut self, e: H2Error) {
        if self.closing {
            return;
        }
        let reason = match &e {
            H2Error::Connection { reason, .. } | H2Error::Stream { reason, .. } => *reason,
        };
        let mut goaway = GoAway::new(self.streams.last_peer_id(), e.code());
        goaway.debug_data = Bytes::from_static(reason.as_bytes());
        self.writer.frame(&Frame::GoAway(goaway));
        self.closing = true;
        self.result = Some(ConnectionError::Protocol(e));
        self.abandon_all();
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), H2Error> {
        if !self.got_settings && !matches!(&frame, Frame::Settings(s) if !s.ack) {
            // §3.4: the client preface ends with a SETTINGS frame.
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "first frame is not SETTINGS",
            ));
        }
        let now = Instant::now();
        match frame {
            Frame::Data(data) => self.on_data(data),
            Frame::Headers(headers) => self.on_headers(headers, now),
            // §5.3.2: priority signals are advisory; we schedule streams our own way.
            Frame::Priority(_) => Ok(()),
            Frame::RstStream(reset) => self.on_reset(reset, now),
            Frame::Settings(settings) => self.on_settings(settings, now),
            Frame::PushPromise(_) => Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE from a client",
            )),
            Frame::Ping(ping) => self.on_ping(ping, now),
            Frame::GoAway(_) => {
                self.peer_went_away = true;
                Ok(())
            }
            Frame::WindowUpdate(update) => {
                self.streams
                    .recv_window_update(update.stream_id, update.increment)?;
                self.recheck_blocked = true;
                Ok(())
            }
            // The reader joins CONTINUATIONs to their HEADERS and drops unknown frames.
            Frame::Continuation(_) | Frame::Unknown { .. } => Ok(()),
        }
    }

    fn on_settings(&mut self, settings: Settings, now: Instant) -> Result<(), H2Error> {
        if settings.ack {
            return Ok(());
        }
        self.settings.record(now)?;
        self.streams.apply_peer_settings(&settings)?;
        if let Some(size) = settings.max_frame_size {
            self.writer.set_max_frame_size(size);
        }
        if let Some(size) = settings.header_table_size {
            self.hpack_encoder.set_max_table_size(size as usize);
        }
        self.writer.frame(&Frame::Settings(Settings::ack()));
        self.got_settings = true;
        self.recheck_blocked = true;
        Ok(())
    }

    fn on_ping(&mut self, ping: Ping, now: Instant) -> Result<(), H2Error> {
        if ping.ack {
            self.keepalive_sent = None;
            return Ok(());
        }
        // grpc-go's keepalive enforcement: a ping sooner than allowed after the previous
        // one is a strike, unless we sent HEADERS or DATA since (the client may be
        // probing bandwidth then); more than two strikes end the connection. This is also
        // the PING flood guard: a peer gets at most one early pong per HEADERS or DATA we
        // send it. A plain pings-per-second budget is not: grpc-go's BDP probe pings once
        // per round trip on a busy connection, hundreds of times a second.
        if std::mem::take(&mut self.reset_ping_strikes) {
            self.ping_strikes = 0;
        } else if let Some(last) = self.last_ping_at {
            let min = if self.streams.active() == 0 && !self.config.keepalive_permit_without_stream
            {
                IDLE_PING_INTERVAL
            } else {
                self.config.keepalive_min_time
            };
            if now.saturating_duration_since(last) < min {
                self.ping_strikes += 1;
            }
        }
        self.last_ping_at = Some(now);
        if self.ping_strikes > MAX_PING_STRIKES {
            return Err(H2Error::connection(
                ErrorCode::EnhanceYourCalm,
                "too_many_pings",
            ));
        }
        self.writer.frame(&Frame::Ping(Ping::pong(ping.payload)));
        Ok(())
    }

    fn on_reset(&mut self, reset: RstStream, now: Instant) -> Result<(), H2Error> {
        let id = reset.stream_id;
        self.streams.recv_reset(id)?;
        let reset = {
            let mut shared = self.shared.borrow_mut();
            match shared.slots.get_mut(&id.value()) {
                Some(slot) if !slot.wire_done => {
                    slot.wire_done = true;
                    // Only a call reset before we answered it counts as a flood: grpc-go
                    // resets every stream it stops reading before our trailers (clientv3's
                    // KeepAliveOnce does so after each response), thousands a second.
                    let unanswered = slot.trailers.is_none() && !slot.headers_sent;
                    slot.abandon(Status::new(Code::Canceled, "context canceled"));
                    Some((unanswered, std::mem::take(&mut slot.held)))
                }
                _ => None,
            }
        };
        if let Some((unanswered, held)) = reset {
            self.release_connection(held);
            self.drop_if_done(id.value());
            if unanswered {
                // CVE-2023-44487: each reset of a running call cost us a handler start.
                self.resets.record(now)?;
            }
        }
        Ok(())
    }

    fn on_data(&mut self, data: Data) -> Result<(), H2Error> {
        let id = data.stream_id;
        let writer = &mut self.writer;
        let Some(payload_len) = self
            .streams
            .receive_data(&data, |update| writer.frame(&Frame::WindowUpdate(update)))?
        else {
            return Ok(());
        };
        let mut shared = self.shared.borrow_mut();
        let Some(slot) = shared.slots.get_mut(&id.value()) else {
            drop(shared);
            self.release_connection(payload_len);
            return Ok(());
        };
        if slot.gone {
            drop(shared);
            self.release_connection(payload_len);
            return Ok(());
        }
        slot.held = slot.held.saturating_add(payload_len);
        let mut failure = None;
        if let Some(decoder) = slot.decoder.as_mut() {
            if let Err(status) = decoder.push(data.payload, &mut slot.inbox) {
                failure = Some(status);
            } else if data.end_stream && !decoder.is_idle() {
                failure = Some(Status::new(
                    Code::Internal,
                    "grpc: the request ended inside a message",
                ));
            }
        }
        if data.end_stream {
            slot.client_done = true;
            slot.inbox_done = true;
        }
        if let Some(w) = slot.recv_waker.take() {
            w.wake();
        }
        drop(shared);
        if let Some(status) = failure {
            self.fail_call(id.value(), status);
        }
        Ok(())
    }

    /// The driver ends a call with `status` (bad request message, deadline): the handler
    /// sees the error, queued responses are dropped, the trailers go out.
    fn fail_call(&mut self, id: u32, status: Status) {
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&id)
            && !slot.wire_done
            && !slot.gone
        {
            slot.abandon(status.clone());
            slot.trailers = Some(status);
            if !slot.queued {
                slot.queued = true;
                shared.ready.push(id);
            }
        }
    }

    fn on_headers(&mut self, headers: Headers, now: Instant) -> Result<(), H2Error> {
        let id = headers.stream_id;
        // Decode before anything else, even for a stream we will refuse: the HPACK
        // table must stay in step with the client's (§4.3).
        let fields = match self.hpack_decoder.decode(&headers.header_block) {
            Ok(fields) => Some(fields),
            Err(e) if e.is_compression_error() => {
                return Err(H2Error::connection(
                    ErrorCode::CompressionError,
                    "HPACK decoding failed",
                ));
            }
            Err(_) => None,
        };
        if self.streams.recv_headers(id, headers.end_stream)? == Disposition::Ignore {
            return Ok(());
        }
        if self.shared.borrow().slots.contains_key(&id.value()) {
            return self.on_request_trailers(id, headers.end_stream);
        }
        if let Some((last, _)) = self.draining
            && id > last
        {
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "the server is shutting down",
            ));
        }
        let Some(fields) = fields else {
            self.early_response(
                id,
                headers.end_stream,
                431,
                Status::new(Code::ResourceExhausted, "header list too large"),
            );
            return Ok(());
        };
        self.start_call(id, fields, headers.end_stream, now)
    }

    /// A second HEADERS on a request: trailers, which must end the stream (§8.1).
    fn on_request_trailers(&mut self, id: StreamId, end_stream: bool) -> Result<(), H2Error> {
        if !end_stream {
            return Err(H2Error::stream(
                id,
                ErrorCode::ProtocolError,
                "second HEADERS without END_STREAM",
            ));
        }
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&id.value()) {
            slot.client_done = true;
            slot.inbox_done = true;
            if let Some(w) = slot.recv_waker.take() {
                w.wake();
            }
        }
        Ok(())
    }

    fn start_call(
        &mut self,
        id: StreamId,
        fields: Vec<Header>,
        end_stream: bool,
        now: Instant,
    ) -> Result<(), H2Error> {
        let request = parse_request(fields)
            .ok_or_else(|| H2Error::stream(id, ErrorCode::ProtocolError, "malformed request"))?;
        if request.method.as_ref() != b"POST" {
            let message = format!(
                "Received a HEADERS frame with :method {:?} which should be POST",
                String::from_utf8_lossy(&request.method)
            );
            self.early_response(id, end_stream, 405, Status::new(Code::Internal, message));
            return Ok(());
        }
        if !is_grpc_content_type(request.content_type.as_deref()) {
            let message = format!(
                "invalid gRPC request content-type {:?}",
                String::from_utf8_lossy(request.content_type.as_deref().unwrap_or_default())
            );
            self.early_response(
                id,
                end_stream,
                415,
                Status::new(Code::InvalidArgument, message),
            );
            return Ok(());
        }
        let deadline = match request.timeout.as_deref().map(parse_timeout) {
            None => None,
            Some(Some(timeout)) => now.checked_add(timeout),
            Some(None) => {
                let message = format!(
                    "malformed grpc-timeout: {:?}",
                    String::from_utf8_lossy(request.timeout.as_deref().unwrap_or_default())
                );
                self.early_response(id, end_stream, 400, Status::new(Code::Internal, message));
                return Ok(());
            }
        };
        let handler = match self.router.route(&request.path) {
            Route::Found(handler) => handler,
            Route::Missing(status) => {
                self.early_response(id, end_stream, 200, status);
                return Ok(());
            }
        };
        let decoder = MessageDecoder::new(self.config.max_recv_message_size);
        self.shared
            .borrow_mut()
            .slots
            .insert(id.value(), Slot::new(end_stream, decoder));
        if let Some(deadline) = deadline {
            self.deadlines.push(Reverse((deadline, id.value())));
            self.prune_deadlines();
        }
        let handle = StreamHandle {
            shared: self.shared.clone(),
            id: id.value(),
        };
        let call = Call {
            path: request.path,
            peer: self.peer.clone(),
            metadata: request.metadata,
            deadline,
            requests: Requests {
                handle: handle.clone(),
            },
            responses: Responses {
                handle: handle.clone(),
            },
        };
        let running = handler(call);
        glommio::spawn_local(async move {
            let result = running.await;
            handle.complete(result);
        })
        .detach();
        Ok(())
    }

    /// Answers a request without running a handler: one HEADERS carrying the HTTP
    /// status and the gRPC status, as grpc-go's early abort does.
    fn early_response(&mut self, id: StreamId, end_stream: bool, http_status: u16, status: Status) {
        let mut slot = Slot::new(end_stream, MessageDecoder::new(0));
        slot.decoder = None;
        slot.http_status = http_status;
        slot.trailers = Some(status);
        slot.handler_done = true;
        slot.gone = true;
        slot.queued = true;
        let mut shared = self.shared.borrow_mut();
        shared.slots.insert(id.value(), slot);
        shared.ready.push(id.value());
    }

    /// Keeps the deadline heap from outgrowing the calls it times: entries of finished
    /// calls are dropped once they dominate.
    fn prune_deadlines(&mut self) {
        let limit = 2 * self.config.max_concurrent_streams.min(100_000) as usize + 64;
        if self.deadlines.len() > limit {
            let shared = self.shared.borrow();
            self.deadlines
                .retain(|Reverse((_, id))| shared.slots.contains_key(id));
        }
    }

    /// Moves what calls queued (and the credit they freed) into frames.
    fn service_streams(&mut self) {
        let mut ready = std::mem::take(&mut self.shared.borrow_mut().ready);
        if std::mem::take(&mut self.recheck_blocked) {
            let shared = self.shared.borrow();
            ready.extend(
                shared
                    .slots
                    .iter()
                    .filter(|(_, s)| !s.wire_done && !s.queued && !s.outbox.is_empty())
                    .map(|(id, _)| *id),
            );
        }
        for id in ready {
            self.service_stream(id);
        }
        if self.streams.active() > 0 {
            self.last_active = Instant::now();
        }
    }

    fn service_stream(&mut self, raw_id: u32) {
        let id = StreamId::new(raw_id);
        let shared_rc = self.shared.clone();
        let mut shared = shared_rc.borrow_mut();
        let budget = shared.stream_send_buffer;
        let Some(slot) = shared.slots.get_mut(&raw_id) else {
            return;
        };
        slot.queued = false;
        if slot.wire_done {
            if slot.handler_done {
                shared.slots.remove(&raw_id);
            }
            return;
        }
        let consumed = std::mem::take(&mut slot.consumed);
        if consumed > 0 {
            slot.held = slot.held.saturating_sub(consumed);
            self.release_connection(consumed);
            self.release_stream(id, consumed);
        }
        if !slot.headers_sent {
            if slot.outbox.is_empty() {
                let Some(status) = slot.trailers.as_ref() else {
                    return;
                };
                // Trailers-only: the whole response is one HEADERS frame.
                let fields = response_fields(slot.http_status, Some(status));
                self.send_headers_block(id, &fields, true);
                self.end_stream(slot, raw_id);
                if slot.handler_done {
                    shared.slots.remove(&raw_id);
                }
                return;
            }
            let fields = response_fields(200, None);
            self.send_headers_block(id, &fields, false);
            slot.headers_sent = true;
        }
        while self.out_len + self.writer.len() < self.config.write_high_water {
            let Some(front) = slot.outbox.front_mut() else {
                break;
            };
            let capacity = self.streams.send_capacity(id) as usize;
            if capacity == 0 {
                break;
            }
            let chunk = if front.len() <= capacity {
                slot.outbox.pop_front().unwrap_or_default()
            } else {
                front.split_to(capacity)
            };
            let len = chunk.len();
            slot.outbox_len = slot.outbox_len.saturating_sub(len);
            if self
                .streams
                .send_data(id, u32::try_from(len).unwrap_or(u32::MAX), false)
                .is_err()
            {
                slot.outbox.clear();
                slot.outbox_len = 0;
                break;
            }
            self.writer.data(id, chunk, false);
            self.reset_ping_strikes = true;
        }
        if slot.outbox_len < budget
            && let Some(w) = slot.send_waker.take()
        {
            w.wake();
        }
        if slot.outbox.is_empty()
            && let Some(status) = slot.trailers.as_ref()
        {
            let fields = trailer_fields(status);
            self.send_headers_block(id, &fields, true);
            self.end_stream(slot, raw_id);
            if slot.handler_done {
                shared.slots.remove(&raw_id);
            }
        }
    }

    /// After our END_STREAM: a client still sending gets RST_STREAM NO_ERROR, so it
    /// stops (RFC 9113 §8.1, as grpc-go does); the slot's unread credit goes back.
    fn end_stream(&mut self, slot: &mut Slot, raw_id: u32) {
        let id = StreamId::new(raw_id);
        let _ = self.streams.send_headers(id, true);
        if !slot.client_done {
            self.writer
                .frame(&Frame::RstStream(RstStream::new(id, ErrorCode::NoError)));
            self.streams.reset(id);
        }
        slot.wire_done = true;
        slot.gone = true;
        slot.wake_all();
        let held = std::mem::take(&mut slot.held);
        self.release_connection(held);
    }

    fn send_headers_block(&mut self, id: StreamId, fields: &[Header], end_stream: bool) {
        self.hpack_encoder.encode(fields, &mut self.hpack_buf);
        let block = self.hpack_buf.split().freeze();
        self.writer.headers(id, block, end_stream);
        if !end_stream {
            let _ = self.streams.send_headers(id, false);
        }
        self.reset_ping_strikes = true;
    }

    /// We end a stream with RST_STREAM (a stream error).
    fn reset_stream(&mut self, id: StreamId, code: ErrorCode) {
        self.writer
            .frame(&Frame::RstStream(RstStream::new(id, code)));
        self.streams.reset(id);
        let held = {
            let mut shared = self.shared.borrow_mut();
            match shared.slots.get_mut(&id.value()) {
                Some(slot) if !slot.wire_done => {
                    slot.wire_done = true;
                    slot.abandon(Status::new(Code::Internal, "stream reset by the server"));
                    std::mem::take(&mut slot.held)
                }
                _ => 0,
            }
        };
        self.release_connection(held);
        self.drop_if_done(id.value());
    }

    fn drop_if_done(&mut self, raw_id: u32) {
        let mut shared = self.shared.borrow_mut();
        if shared
            .slots
            .get(&raw_id)
            .is_some_and(|s| s.wire_done && s.handler_done)
        {
            shared.slots.remove(&raw_id);
        }
    }

    fn release_connection(&mut self, n: u32) {
        if let Some(update) = self.streams.release_connection(n) {
            self.writer.frame(&Frame::WindowUpdate(update));
        }
    }

    fn release_stream(&mut self, id: StreamId, n: u32) {
        if let Some(update) = self.streams.release_stream(id, n) {
            self.writer.frame(&Frame::WindowUpdate(update));
        }
    }

    /// Calls still on the wire.
    fn live_calls(&self) -> usize {
        self.shared
            .borrow()
            .slots
            .values()
            .filter(|s| !s.wire_done)
            .count()
    }

    /// Graceful shutdown: tell the client which streams we will still serve, refuse
    /// newer ones, and give the calls in flight a bounded time.
    fn start_drain(&mut self, now: Instant) {
        if self.draining.is_some() || self.closing {
            return;
        }
        let last = self.streams.last_peer_id();
        let mut goaway = GoAway::new(last, ErrorCode::NoError);
        goaway.debug_data = Bytes::from_static(b"server shutting down");
        self.writer.frame(&Frame::GoAway(goaway));
        self.draining = Some((last, now + self.config.shutdown_grace));
    }

    /// Every call still running learns the connection is gone.
    fn abandon_all(&mut self) {
        abandon_slots(&mut self.shared.borrow_mut());
    }

    fn next_wakeup(&self) -> Option<Instant> {
        if self.closing {
            return self.close_by;
        }
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        if let Some(Reverse((t, _))) = self.deadlines.peek() {
            consider(*t);
        }
        if let Some((_, grace)) = self.draining {
            consider(grace);
        }
        if let Some(interval) = self.config.keepalive_interval {
            match self.keepalive_sent {
                Some(sent) => consider(sent + self.config.keepalive_timeout),
                None => consider(self.last_read + interval),
            }
        }
        if let Some(idle) = self.config.max_idle {
            consider(self.last_active + idle);
        }
        next
    }

    /// Arms the timer for the next wake-up; true when it fired.
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let Some(at) = self.next_wakeup() else {
            self.timer = None;
            return false;
        };
        if at <= now {
            self.timer = None;
            return true;
        }
        match &mut self.timer {
            // An armed timer that fires no later is kept: when it fires, `on_timer` finds
            // nothing due and the next turn arms the later time. Re-arming on every read
            // (which moves the keepalive time) would cost a timer per read.
            Some((armed, _)) if *armed <= at => {}
            timer => *timer = Some((at, glommio::timer::Timer::new(at - now))),
        }
        let Some((_, timer)) = self.timer.as_mut() else {
            return false;
        };
        if Pin::new(timer).poll(cx).is_ready() {
            self.timer = None;
            return true;
        }
        false
    }

    fn on_timer(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            self.fail_call(
                id,
                Status::new(Code::DeadlineExceeded, "context deadline exceeded"),
            );
        }
        if let Some((_, grace)) = self.draining
            && now >= grace
        {
            self.closing = true;
            self.abandon_all();
        }
        if let Some(interval) = self.config.keepalive_interval {
            match self.keepalive_sent {
                Some(sent) if now >= sent + self.config.keepalive_timeout => {
                    self.closing = true;
                    self.result = Some(ConnectionError::KeepaliveTimeout);
                    self.abandon_all();
                }
                None if now >= self.last_read + interval => {
                    self.writer.frame(&Frame::Ping(Ping::new(*b"ringkvka")));
                    self.keepalive_sent = Some(now);
                }
                _ => {}
            }
        }
        if let Some(idle) = self.config.max_idle
            && self.streams.active() == 0
            && now >= self.last_active + idle
            && !self.closing
        {
            let mut goaway = GoAway::new(self.streams.last_peer_id(), ErrorCode::NoError);
            goaway.debug_data = Bytes::from_static(b"max_idle");
            self.writer.frame(&Frame::GoAway(goaway));
            self.closing = true;
        }
    }
}

impl<IO> Drop for Connection<IO> {
    /// Calls outlive a connection future that is dropped mid-way (its task cancelled):
    /// they must learn that nobody will drain their queues, or a `send` would wait forever.
    fn drop(&mut self) {
        abandon_slots(&mut self.shared.borrow_mut());
    }
}

fn abandon_slots(shared: &mut Shared) {
    for slot in shared.slots.values_mut() {
        slot.wire_done = true;
        slot.abandon(Status::new(Code::Unavailable, "the connection closed"));
    }
    shared.slots.retain(|_, s| !s.handler_done);
}

/// The parts of a request's field block a gRPC server looks at.
struct Request {
    method: Bytes,
    path: Bytes,
    content_type: Option<Bytes>,
    timeout: Option<Bytes>,
    metadata: Metadata,
}

/// Checks the request rules of RFC 9113 §8.2–8.3 and picks out the fields gRPC needs;
/// `None` for a malformed request (a stream error PROTOCOL_ERROR).
fn parse_request(fields: Vec<Header>) -> Option<Request> {
    let mut method = None;
    let mut scheme = false;
    let mut path = None;
    let mut authority = false;
    let mut content_type = None;
    let mut timeout = None;
    let mut metadata = Metadata::new();
    let mut regular_seen = false;
    for field in fields {
        let name: &[u8] = &field.name;
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular_seen {
                return None;
            }
            let slot_taken = match pseudo {
                b"method" => method.replace(field.value).is_some(),
                b"path" => path.replace(field.value).is_some(),
                b"scheme" => std::mem::replace(&mut scheme, true),
                b"authority" => std::mem::replace(&mut authority, true),
                _ => return None,
            };
            if slot_taken {
                return None;
            }
            continue;
        }
        regular_seen = true;
        if name.iter().any(u8::is_ascii_uppercase) || name.is_empty() {
            return None;
        }
        match name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => return None,
            b"te" if field.value.as_ref() != b"trailers" => return None,
            b"content-type" => content_type = Some(field.value.clone()),
            b"grpc-timeout" => timeout = Some(field.value.clone()),
            _ => {}
        }
        metadata.insert(field.name, field.value);
    }
    let path = path.filter(|p| !p.is_empty())?;
    if !scheme {
        return None;
    }
    Some(Request {
        method: method?,
        path,
        content_type,
        timeout,
        metadata,
    })
}

fn is_grpc_content_type(value: Option<&[u8]>) -> bool {
    let Some(value) = value else { return false };
    match value.strip_prefix(b"application/grpc") {
        Some(rest) => rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b";"),
        None => false,
    }
}

fn response_fields(http_status: u16, status: Option<&Status>) -> Vec<Header> {
    let mut fields = Vec::with_capacity(4);
    fields.push(Header::new(
        Bytes::from_static(b":status"),
        match http_status {
            200 => Bytes::from_static(b"200"),
            other => Bytes::from(other.to_string()),
        },
    ));
    fields.push(Header::new(
        Bytes::from_static(b"content-type"),
        Bytes::from_static(b"application/grpc"),
    ));
    if let Some(status) = status {
        push_status(&mut fields, status);
    }
    fields
}

fn trailer_fields(status: &Status) -> Vec<Header> {
    let mut fields = Vec::with_capacity(2);
    push_status(&mut fields, status);
    fields
}

fn push_status(fields: &mut Vec<Header>, status: &Status) {
    let code = STATUS_WIRE
        .get(status.code.as_wire() as usize)
        .copied()
        .unwrap_or("2");
    fields.push(Header::new(
        Bytes::from_static(b"grpc-status"),
        Bytes::from_static(code.as_bytes()),
    ));
    if !status.message.is_empty() {
        fields.push(Header::new(
            Bytes::from_static(b"grpc-message"),
            Bytes::from(percent_encode(&status.message)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        assert!(is_grpc_content_type(Some(b"application/grpc")));
        assert!(is_grpc_content_type(Some(b"application/grpc+proto")));
        assert!(is_grpc_content_type(Some(
            b"application/grpc;charset=utf-8"
        )));
        assert!(!is_grpc_content_type(Some(b"application/grpcx")));
        assert!(!is_grpc_content_type(Some(b"application/json")));
        assert!(!is_grpc_content_type(None));
    }

    fn h(name: &'static str, value: &'static str) -> Header {
        Header::new(
            Bytes::from_static(name.as_bytes()),
            Bytes::from_static(value.as_bytes()),
        )
    }

    #[test]
    fn request_rules() {
        let ok = vec![
            h(":method", "POST"),
            h(":scheme", "http"),
            h(":path", "/a/b"),
            h("te", "trailers"),
            h("token", "t"),
        ];
        let r = parse_request(ok).unwrap();
        assert_eq!(r.metadata.get_str("token"), Some("t"));
        assert!(parse_request(vec![h(":path", "/a/b"), h(":method", "POST")]).is_none());
        assert!(
            parse_request(vec![
                h(":method", "POST"),
                h(":scheme", "http"),
                h("x", "1"),
                h(":path", "/a/b"),
            ])
            .is_none()
        );
        assert!(
            parse_request(vec![
                h(":method", "POST"),
                h(":scheme", "http"),
                h(":path", "/a/b"),
                h("Upper", "1"),
            ])
            .is_none()
        );
        assert!(
            parse_request(vec![
                h(":method", "POST"),
                h(":scheme", "http"),
                h(":path", "/a/b"),
                h("connection", "close"),
            ])
            .is_none()
        );
    }
}
