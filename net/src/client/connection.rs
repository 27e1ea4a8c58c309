//! The client side of one HTTP/2 connection: a future that writes the preface, opens a
//! stream per call as the server's MAX_CONCURRENT_STREAMS allows, reads frames through
//! the `proto` state machines, and writes what the calls queued. Built as the server's
//! driver is: one loop turn handles everything the socket had, then writes all queued
//! frames in one vectored write.
//!
//! Memory stays bounded: inbound, the flow-control windows cap what callers have not read
//! (credit goes back only as `ResponseStream::message` takes messages); outbound, each
//! call's queue has a budget and the encoded-but-unwritten output has a high-water mark
//! above which the connection neither reads nor pulls from calls.
//!
//! The driver owns no timer, so it runs on any executor: deadlines travel as
//! `grpc-timeout` and the server enforces them; `with_deadline` adds the caller's own.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite};

use super::call::{SendRequest, Shared, Slot};
use super::config::ClientConfig;
use crate::codec::FrameReader;
use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, Data, ErrorCode, Frame, GoAway, H2Error, Headers, Ping, RstStream,
    Settings, StreamId, WindowUpdate,
};
use crate::grpc::{Code, Metadata, PREFIX_LEN, Status, percent_decode};
use crate::hpack::{self, Header};
use crate::proto::{Disposition, FloodGuard, RecvWindow, Role, Streams};
use crate::sniff::HTTP2_PREFACE;

/// Why a client connection ended other than by a clean close.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// We sent GOAWAY with this error.
    #[error("closed with GOAWAY: {0}")]
    Protocol(H2Error),
    /// The server sent GOAWAY with an error code.
    #[error("the server sent GOAWAY {code:?}: {debug}")]
    Remote { code: ErrorCode, debug: String },
}

/// Prepares a client connection over `io` (already connected, and TLS-wrapped for
/// https). Nothing is sent until the returned `Connection` is polled: spawn it on the
/// executor, then start calls with the `SendRequest`. Calls made before the server's
/// SETTINGS arrive wait for them, so its concurrency limit is known before any stream
/// opens.
pub fn handshake<IO>(io: IO, config: ClientConfig) -> (SendRequest, Connection<IO>)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let connection = Connection::new(io, config);
    let send = SendRequest {
        shared: connection.shared.clone(),
        authority: Bytes::from(connection.config.authority.clone()),
        scheme: Bytes::from(connection.config.scheme.clone()),
    };
    (send, connection)
}

/// Drives one client connection; resolves when it closes.
pub struct Connection<IO> {
    io: IO,
    read_buf: BytesMut,
    got_settings: bool,
    reader: FrameReader,
    writer: crate::codec::FrameWriter,
    out: VecDeque<Bytes>,
    out_len: usize,
    hpack_decoder: hpack::Decoder,
    hpack_encoder: hpack::Encoder,
    hpack_buf: BytesMut,
    streams: Streams,
    shared: Rc<RefCell<Shared>>,
    /// Which call each open stream belongs to.
    calls: HashMap<u32, u64>,
    config: ClientConfig,
    /// The last stream id of the server's GOAWAY, once received.
    goaway: Option<StreamId>,
    /// The server's SETTINGS_MAX_HEADER_LIST_SIZE, once it said one.
    peer_max_header_list_size: Option<u32>,
    settings: FloodGuard,
    /// Stop reading; close once the output is written.
    closing: bool,
    done: bool,
    result: Option<ConnectionError>,
    /// A WINDOW_UPDATE or drained output may unblock calls waiting to send.
    recheck_blocked: bool,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Connection<IO> {
    type Output = Result<(), ConnectionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_drive(cx)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Connection<IO> {
    fn new(io: IO, mut config: ClientConfig) -> Self {
        // A stream window smaller than the largest message would deadlock: the credit
        // for a message comes back only once the caller took the whole message.
        let min_window = u32::try_from(config.max_recv_message_size + PREFIX_LEN + 16 * 1024)
            .unwrap_or(u32::MAX);
        config.stream_window = config.stream_window.max(min_window).min(0x7fff_ffff);
        config.connection_window = config.connection_window.max(config.stream_window);
        config.max_frame_size = config.max_frame_size.clamp(16_384, 0x00ff_ffff);
        // The server may not open streams (no push), so its limit is zero.
        let mut streams = Streams::new(Role::Client, 0, config.stream_window);
        streams.connection_recv = RecvWindow::new(
            StreamId::ZERO,
            DEFAULT_INITIAL_WINDOW_SIZE,
            config.connection_window,
        );
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(config.max_frame_size);
        let shared = Shared::new(config.stream_send_buffer, config.max_recv_message_size);
        let mut conn = Connection {
            io,
            read_buf: BytesMut::new(),
            got_settings: false,
            reader,
            writer: crate::codec::FrameWriter::new(),
            out: VecDeque::new(),
            out_len: 0,
            hpack_decoder: hpack::Decoder::new(4096, config.max_header_list_size as usize),
            hpack_encoder: hpack::Encoder::new(4096),
            hpack_buf: BytesMut::new(),
            streams,
            shared: Rc::new(RefCell::new(shared)),
            calls: HashMap::new(),
            config,
            goaway: None,
            peer_max_header_list_size: None,
            settings: FloodGuard::settings(),
            closing: false,
            done: false,
            result: None,
            recheck_blocked: false,
        };
        conn.send_preface();
        conn
    }

    /// The client connection preface (§3.4): the magic octets, our SETTINGS, and the
    /// connection window raise.
    fn send_preface(&mut self) {
        self.out_len += HTTP2_PREFACE.len();
        self.out.push_back(Bytes::from_static(HTTP2_PREFACE));
        let settings = Settings {
            enable_push: Some(false),
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

    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectionError>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut progress = false;

            if !self.closing && self.out_len < self.config.write_high_water {
                match self.poll_read(cx) {
                    Poll::Ready(Ok(0)) => {
                        // The server closed: nobody is left to answer.
                        self.closing = true;
                        self.fail_all(Status::new(
                            Code::Unavailable,
                            "the server closed the connection",
                        ));
                        self.out.clear();
                        self.out_len = 0;
                        let _ = self.writer.flush();
                        progress = true;
                    }
                    Poll::Ready(Ok(_)) => {
                        self.process_input();
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return self.end(Err(e.into())),
                    Poll::Pending => {}
                }
            }

            if !self.closing {
                self.service_calls();
                self.check_close();
            }

            for chunk in self.writer.flush() {
                self.out_len += chunk.len();
                self.out.push_back(chunk);
            }
            let write = self.poll_write(cx);
            match write {
                Poll::Ready(Ok(true)) => {
                    progress = true;
                    self.recheck_blocked = true;
                }
                Poll::Ready(Ok(false)) | Poll::Pending => {}
                Poll::Ready(Err(e)) => return self.end(Err(e.into())),
            }

            // Closing is best effort: a server that does not take our last frames (the
            // GOAWAY) is not waited for, as we have no timer to bound the wait.
            if self.closing && (self.out.is_empty() || write.is_pending()) {
                let _ = Pin::new(&mut self.io).poll_flush(cx);
                let _ = Pin::new(&mut self.io).poll_close(cx);
                let result = match self.result.take() {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
                return self.end(result);
            }
            if !progress {
                let mut shared = self.shared.borrow_mut();
                if shared.ready.is_empty() && !self.recheck_blocked {
                    shared.driver_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }

    fn end(&mut self, result: Result<(), ConnectionError>) -> Poll<Result<(), ConnectionError>> {
        self.done = true;
        self.closing = true;
        self.fail_all(Status::new(Code::Unavailable, "the connection closed"));
        Poll::Ready(result)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        crate::codec::io::poll_read(&mut self.io, &mut self.read_buf, cx)
    }

    /// Writes queued output; `Ok(true)` when something was written.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        crate::codec::io::poll_write(&mut self.io, &mut self.out, &mut self.out_len, cx)
    }

    fn process_input(&mut self) {
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
            } => self.reset_stream(
                stream_id,
                code,
                Status::new(Code::Internal, format!("stream error: {e}")),
            ),
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
        self.fail_all(Status::new(
            Code::Internal,
            format!("connection error: {e}"),
        ));
        self.result = Some(ConnectionError::Protocol(e));
    }

    /// Every call not yet ended ends with `status`; new calls are refused.
    fn fail_all(&mut self, status: Status) {
        let mut shared = self.shared.borrow_mut();
        shared.finish_all(&status);
        if shared.refuse.is_none() || self.closing {
            shared.refuse = Some(status);
        }
        self.calls.clear();
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), H2Error> {
        if !self.got_settings && !matches!(&frame, Frame::Settings(s) if !s.ack) {
            // §3.4: the server preface is a SETTINGS frame.
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "first frame is not SETTINGS",
            ));
        }
        match frame {
            Frame::Data(data) => self.on_data(data),
            Frame::Headers(headers) => self.on_headers(headers),
            // §5.3.2: priority signals are advisory.
            Frame::Priority(_) => Ok(()),
            Frame::RstStream(reset) => self.on_reset(reset),
            Frame::Settings(settings) => self.on_settings(settings),
            // We sent SETTINGS_ENABLE_PUSH 0 (§8.4).
            Frame::PushPromise(_) => Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "PUSH_PROMISE although push is disabled",
            )),
            Frame::Ping(ping) => {
                // Answered at once; a server flooding pings is held back by the
                // write high-water mark, above which we stop reading.
                if !ping.ack {
                    self.writer.frame(&Frame::Ping(Ping::pong(ping.payload)));
                }
                Ok(())
            }
            Frame::GoAway(goaway) => {
                self.on_goaway(goaway);
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

    fn on_settings(&mut self, settings: Settings) -> Result<(), H2Error> {
        if settings.ack {
            return Ok(());
        }
        self.settings.record(Instant::now())?;
        if settings.enable_push == Some(true) {
            // §6.5.2: only a client may enable push.
            return Err(H2Error::connection(
                ErrorCode::ProtocolError,
                "SETTINGS_ENABLE_PUSH from a server",
            ));
        }
        self.streams.apply_peer_settings(&settings)?;
        if let Some(size) = settings.max_frame_size {
            self.writer.set_max_frame_size(size);
        }
        if let Some(size) = settings.max_header_list_size {
            self.peer_max_header_list_size = Some(size);
        }
        if let Some(size) = settings.header_table_size {
            self.hpack_encoder.set_max_table_size(size as usize);
        }
        self.writer.frame(&Frame::Settings(Settings::ack()));
        self.got_settings = true;
        self.recheck_blocked = true;
        Ok(())
    }

    /// The server stops taking streams: calls on streams above its last id were not
    /// processed and fail UNAVAILABLE (safe to retry elsewhere); calls at or below it
    /// finish; new calls are refused.
    fn on_goaway(&mut self, goaway: GoAway) {
        let last = self
            .goaway
            .map_or(goaway.last_stream_id, |l| l.min(goaway.last_stream_id));
        self.goaway = Some(last);
        let debug = String::from_utf8_lossy(&goaway.debug_data).into_owned();
        let refused = Status::new(
            Code::Unavailable,
            format!(
                "the server sent GOAWAY {:?} ({debug}); the call was not processed",
                goaway.error_code
            ),
        );
        if goaway.error_code != ErrorCode::NoError && self.result.is_none() {
            self.result = Some(ConnectionError::Remote {
                code: goaway.error_code,
                debug,
            });
        }
        let shared_rc = self.shared.clone();
        let mut shared = shared_rc.borrow_mut();
        shared.refuse = Some(refused.clone());
        for slot in shared.slots.values_mut() {
            let Some(id) = slot.stream_id else {
                if !slot.wire_done {
                    slot.finish(refused.clone());
                }
                continue;
            };
            if id > last && !slot.wire_done {
                self.streams.reset(id);
                self.calls.remove(&id.value());
                slot.finish(refused.clone());
            }
        }
        shared.waiting.clear();
    }

    fn on_reset(&mut self, reset: RstStream) -> Result<(), H2Error> {
        let id = reset.stream_id;
        if self.streams.recv_reset(id)? == Disposition::Ignore {
            return Ok(());
        }
        let Some(key) = self.calls.remove(&id.value()) else {
            return Ok(());
        };
        let status = reset_status(reset.error_code);
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&key) {
            slot.finish(status);
        }
        shared.schedule(key);
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
        let key = self.calls.get(&id.value()).copied();
        let shared_rc = self.shared.clone();
        let mut shared = shared_rc.borrow_mut();
        let Some(slot) = key.and_then(|k| shared.slots.get_mut(&k)) else {
            drop(shared);
            self.release_connection(payload_len);
            return Ok(());
        };
        if slot.wire_done {
            drop(shared);
            self.release_connection(payload_len);
            return Ok(());
        }
        if !slot.headers_received {
            drop(shared);
            self.release_connection(payload_len);
            self.reset_stream(
                id,
                ErrorCode::ProtocolError,
                Status::new(Code::Internal, "DATA before the response headers"),
            );
            return Ok(());
        }
        slot.held = slot.held.saturating_add(payload_len);
        let failure = slot.decoder.push(data.payload, &mut slot.inbox).err();
        if let Some(w) = slot.recv_waker.take() {
            w.wake();
        }
        drop(shared);
        if let Some(status) = failure {
            self.reset_stream(id, ErrorCode::Cancel, status);
        } else if data.end_stream {
            // A gRPC response ends with trailers; END_STREAM on DATA means it has none.
            self.end_call(
                id,
                Status::new(
                    Code::Internal,
                    "server closed the stream without sending trailers",
                ),
            );
        }
        Ok(())
    }

    fn on_headers(&mut self, headers: Headers) -> Result<(), H2Error> {
        let id = headers.stream_id;
        // Decode before anything else: the HPACK table must stay in step (§4.3).
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
        let Some(key) = self.calls.get(&id.value()).copied() else {
            return Ok(());
        };
        let Some(fields) = fields else {
            self.reset_stream(
                id,
                ErrorCode::Cancel,
                Status::new(Code::Internal, "response header list too large"),
            );
            return Ok(());
        };
        let response = parse_response(fields);
        let shared_rc = self.shared.clone();
        let mut shared = shared_rc.borrow_mut();
        let Some(slot) = shared.slots.get_mut(&key) else {
            return Ok(());
        };
        if slot.wire_done {
            return Ok(());
        }
        let mut fatal = None;
        let mut ended = None;
        if !slot.headers_received {
            let http_status = response.http_status;
            if (100..200).contains(&http_status.unwrap_or(0)) && !headers.end_stream {
                // An informational response; the real one follows (§8.1).
                return Ok(());
            }
            slot.headers_received = true;
            if headers.end_stream {
                // Trailers-only: the status, and the trailer metadata, are in these headers.
                ended = Some(response.status());
                slot.trailers = response.metadata.clone();
            } else if http_status != Some(200) {
                fatal = Some(http_status_to_grpc(http_status));
            } else if !response.is_grpc {
                fatal = Some(Status::new(
                    Code::Unknown,
                    "unexpected content-type in the response",
                ));
            }
            slot.headers = response.metadata;
        } else if !headers.end_stream {
            drop(shared);
            self.reset_stream(
                id,
                ErrorCode::ProtocolError,
                Status::new(Code::Internal, "second HEADERS without END_STREAM"),
            );
            return Ok(());
        } else {
            slot.trailers = response.metadata.clone();
            ended = Some(response.status());
        }
        if let Some(status) = &ended
            && !slot.decoder.is_idle()
        {
            ended = Some(Status::new(
                Code::Internal,
                format!(
                    "the response ended inside a message (status {:?})",
                    status.code
                ),
            ));
        }
        drop(shared);
        if let Some(status) = fatal {
            self.reset_stream(id, ErrorCode::Cancel, status);
        } else if let Some(status) = ended {
            self.end_call(id, status);
        }
        Ok(())
    }

    /// The server ended the response (END_STREAM). A request still being sent is cut off
    /// with RST_STREAM NO_ERROR, as grpc-go does: the server has no use for it (§8.1).
    fn end_call(&mut self, id: StreamId, status: Status) {
        let Some(key) = self.calls.remove(&id.value()) else {
            return;
        };
        let still_sending = self.streams.get(id).is_some_and(|s| s.state.is_send_open());
        if still_sending {
            self.writer
                .frame(&Frame::RstStream(RstStream::new(id, ErrorCode::NoError)));
            self.streams.reset(id);
        }
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&key) {
            slot.finish(status);
        }
        shared.schedule(key);
    }

    /// We end a call's stream with RST_STREAM; the caller sees `status`.
    fn reset_stream(&mut self, id: StreamId, code: ErrorCode, status: Status) {
        self.writer
            .frame(&Frame::RstStream(RstStream::new(id, code)));
        self.streams.reset(id);
        let Some(key) = self.calls.remove(&id.value()) else {
            return;
        };
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&key) {
            slot.finish(status);
        }
        shared.schedule(key);
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

    /// Opens streams for waiting calls and moves what calls queued (and the credit they
    /// freed) into frames.
    fn service_calls(&mut self) {
        let mut ready = std::mem::take(&mut self.shared.borrow_mut().ready);
        if std::mem::take(&mut self.recheck_blocked) {
            let shared = self.shared.borrow();
            ready.extend(
                shared
                    .slots
                    .iter()
                    .filter(|(_, s)| {
                        !s.wire_done && !s.queued && s.stream_id.is_some() && !s.end_sent
                    })
                    .map(|(key, _)| *key),
            );
        }
        for key in ready {
            self.service_call(key);
        }
        if self.got_settings {
            self.open_waiting();
        }
    }

    /// Gives waiting calls streams, oldest first, as far as the server's limit allows.
    fn open_waiting(&mut self) {
        loop {
            let shared_rc = self.shared.clone();
            let mut guard = shared_rc.borrow_mut();
            let shared = &mut *guard;
            let Some(&key) = shared.waiting.front() else {
                return;
            };
            let Some(slot) = shared.slots.get_mut(&key) else {
                shared.waiting.pop_front();
                continue;
            };
            if slot.wire_done || slot.cancelled {
                shared.waiting.pop_front();
                drop(guard);
                self.service_call(key);
                continue;
            }
            let list_size: usize = slot.fields.iter().flatten().map(Header::list_size).sum();
            if let Some(limit) = self.peer_max_header_list_size
                && list_size > limit as usize
            {
                // The server would refuse it anyway (§6.5.2); grpc-go fails it locally too.
                shared.waiting.pop_front();
                slot.finish(Status::new(
                    Code::Internal,
                    format!("header list size {list_size} exceeds the server's limit of {limit}"),
                ));
                drop(guard);
                self.service_call(key);
                continue;
            }
            let Some(id) = self.streams.open_local(false) else {
                return;
            };
            shared.waiting.pop_front();
            let fields = slot.fields.take().unwrap_or_default();
            slot.stream_id = Some(id);
            self.calls.insert(id.value(), key);
            self.hpack_encoder.encode(&fields, &mut self.hpack_buf);
            let block = self.hpack_buf.split().freeze();
            self.writer.headers(id, block, false);
            drop(guard);
            self.service_call(key);
        }
    }

    fn service_call(&mut self, key: u64) {
        let shared_rc = self.shared.clone();
        let mut shared = shared_rc.borrow_mut();
        let budget = shared.send_budget;
        let Some(slot) = shared.slots.get_mut(&key) else {
            return;
        };
        slot.queued = false;
        let consumed = std::mem::take(&mut slot.consumed);
        if consumed > 0 {
            slot.held = slot.held.saturating_sub(consumed);
            self.release_connection(consumed);
            if let Some(id) = slot.stream_id {
                self.release_stream(id, consumed);
            }
        }
        if slot.cancelled && !slot.wire_done {
            if let Some(id) = slot.stream_id {
                self.writer
                    .frame(&Frame::RstStream(RstStream::new(id, ErrorCode::Cancel)));
                self.streams.reset(id);
                self.calls.remove(&id.value());
            }
            slot.finish(Status::new(Code::Canceled, "the call was canceled"));
        }
        if !slot.wire_done
            && let Some(id) = slot.stream_id
        {
            self.send_requests(slot, id);
            if slot.outbox_len < budget
                && let Some(w) = slot.send_waker.take()
            {
                w.wake();
            }
        }
        if slot.wire_done && slot.handles == 0 {
            let held = slot.held;
            if let Some(id) = slot.stream_id {
                self.calls.remove(&id.value());
            }
            shared.slots.remove(&key);
            self.release_connection(held);
        }
    }

    /// Queued request messages as DATA within the windows, then END_STREAM once the
    /// caller finished.
    fn send_requests(&mut self, slot: &mut Slot, id: StreamId) {
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
            // The last message of a finished request carries END_STREAM itself.
            let end = slot.outbox.is_empty() && slot.send_closed;
            if self
                .streams
                .send_data(id, u32::try_from(len).unwrap_or(u32::MAX), end)
                .is_err()
            {
                slot.outbox.clear();
                slot.outbox_len = 0;
                return;
            }
            self.writer.data(id, chunk, end);
            slot.end_sent |= end;
        }
        let send_open = self.streams.get(id).is_some_and(|s| s.state.is_send_open());
        if slot.outbox.is_empty() && slot.send_closed && !slot.end_sent && send_open {
            // END_STREAM on an empty DATA frame costs no window.
            if self.streams.send_data(id, 0, true).is_ok() {
                self.writer.data(id, Bytes::new(), true);
            }
            slot.end_sent = true;
        }
    }

    /// Closes once nobody can start calls and none is left, or once the server went
    /// away and the calls it kept are done.
    fn check_close(&mut self) {
        let shared = self.shared.borrow();
        let idle = shared.slots.values().all(|s| s.wire_done) && shared.waiting.is_empty();
        let unused = shared.handles == 0 && idle;
        let drained = self.goaway.is_some() && idle;
        drop(shared);
        if unused || drained {
            let goaway = GoAway::new(self.streams.last_peer_id(), ErrorCode::NoError);
            self.writer.frame(&Frame::GoAway(goaway));
            self.closing = true;
        }
    }
}

impl<IO> Drop for Connection<IO> {
    /// Calls outlive a connection future that is dropped mid-way: they must learn that
    /// nobody will move their frames, or they would wait forever.
    fn drop(&mut self) {
        let status = Status::new(Code::Unavailable, "the connection closed");
        let mut shared = self.shared.borrow_mut();
        shared.finish_all(&status);
        shared.refuse = Some(status);
    }
}

/// The parts of a response field block a gRPC client looks at.
struct Response {
    http_status: Option<u16>,
    is_grpc: bool,
    grpc_status: Option<Bytes>,
    grpc_message: Option<Bytes>,
    metadata: Metadata,
}

impl Response {
    /// The call's status from `grpc-status` and `grpc-message`, or, when a server sent
    /// none, from the HTTP status (gRPC's "HTTP to gRPC status code mapping").
    fn status(&self) -> Status {
        let message = self
            .grpc_message
            .as_deref()
            .map(percent_decode)
            .unwrap_or_default();
        match self.grpc_status.as_deref() {
            Some(code) => match std::str::from_utf8(code).ok().and_then(|c| c.parse().ok()) {
                Some(code) => Status::new(Code::from_wire(code), message),
                None => Status::new(Code::Unknown, "malformed grpc-status"),
            },
            None if self.http_status != Some(200) => http_status_to_grpc(self.http_status),
            None => Status::new(Code::Internal, "grpc-status missing from the trailers"),
        }
    }
}

fn parse_response(fields: Vec<Header>) -> Response {
    let mut response = Response {
        http_status: None,
        is_grpc: false,
        grpc_status: None,
        grpc_message: None,
        metadata: Metadata::new(),
    };
    for field in fields {
        match field.name.as_ref() {
            b":status" => {
                response.http_status = std::str::from_utf8(&field.value)
                    .ok()
                    .and_then(|s| s.parse().ok());
            }
            b"content-type" => {
                response.is_grpc = field.value.starts_with(b"application/grpc");
            }
            b"grpc-status" => response.grpc_status = Some(field.value),
            b"grpc-message" => response.grpc_message = Some(field.value),
            name if name.starts_with(b":") => {}
            _ => response.metadata.insert(field.name, field.value),
        }
    }
    response
}

/// gRPC's mapping for a response without `grpc-status` (doc/http-grpc-status-mapping.md).
fn http_status_to_grpc(http_status: Option<u16>) -> Status {
    let code = match http_status {
        Some(400) => Code::Internal,
        Some(401) => Code::Unauthenticated,
        Some(403) => Code::PermissionDenied,
        Some(404) => Code::Unimplemented,
        Some(429 | 502 | 503 | 504) => Code::Unavailable,
        _ => Code::Unknown,
    };
    let shown = http_status.map_or_else(|| "none".to_owned(), |s| s.to_string());
    Status::new(code, format!("unexpected HTTP status code {shown}"))
}

/// grpc-go's mapping of a RST_STREAM error code to the call's status.
fn reset_status(code: ErrorCode) -> Status {
    let grpc = match code {
        ErrorCode::RefusedStream => Code::Unavailable,
        ErrorCode::Cancel => Code::Canceled,
        ErrorCode::EnhanceYourCalm | ErrorCode::FlowControlError => Code::ResourceExhausted,
        ErrorCode::InadequateSecurity => Code::PermissionDenied,
        _ => Code::Internal,
    };
    Status::new(grpc, format!("stream reset by the server: {code:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FrameHeader, Kind};
    use proptest::prelude::*;

    /// Reads `input` in chunks of `chunk` octets, then EOF; swallows writes.
    struct Script {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<std::io::Result<usize>> {
            let rest = self.input.get(self.pos..).unwrap_or_default();
            let n = rest.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Poll::Ready(Ok(n))
        }
    }

    impl AsyncWrite for Script {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A field block from a fresh encoder with no dynamic table, so it decodes whatever
    /// came before it.
    fn block(fields: &[(&'static str, &'static str)]) -> Vec<u8> {
        let fields: Vec<Header> = fields
            .iter()
            .map(|(n, v)| Header::new(Bytes::from_static(n.as_bytes()), *v))
            .collect();
        let mut out = BytesMut::new();
        hpack::Encoder::new(0).encode(&fields, &mut out);
        out.to_vec()
    }

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..48),
            Just(block(&[
                (":status", "200"),
                ("content-type", "application/grpc")
            ])),
            Just(block(&[("grpc-status", "0")])),
            Just(block(&[(":status", "503")])),
            Just(vec![0, 0, 0, 0, 3, b'a', b'b', b'c']),
            Just(vec![0, 0, 0, 0, 9, 1]),
            Just(0x7fff_ffffu32.to_be_bytes().to_vec()),
        ]
    }

    fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        FrameHeader::new(
            Kind::from_u8(kind),
            flags,
            StreamId::new(stream),
            payload.len() as u32,
        )
        .encode(&mut out);
        out.extend_from_slice(payload);
        out.to_vec()
    }

    /// Mostly well-formed frames on the streams our calls use (1 and 3), so cases reach
    /// the call logic; some fully random ones.
    fn frame() -> impl Strategy<Value = Vec<u8>> {
        let stream = || prop_oneof![4 => Just(1u32), 2 => Just(3), 1 => Just(5), 1 => Just(2)];
        prop_oneof![
            3 => (stream(), any::<bool>(), payload())
                .prop_map(|(id, end, p)| raw(0, u8::from(end), id, &p)),
            3 => (stream(), any::<bool>(), payload())
                .prop_map(|(id, end, p)| raw(1, 0x4 | u8::from(end), id, &p)),
            1 => (stream(), 0u32..16).prop_map(|(id, code)| raw(3, 0, id, &code.to_be_bytes())),
            2 => (prop_oneof![Just(0u32), stream()], any::<u32>())
                .prop_map(|(id, inc)| raw(8, 0, id, &(inc >> (inc % 31)).to_be_bytes())),
            1 => (any::<bool>(), proptest::collection::vec((1u16..8, any::<u32>()), 0..3))
                .prop_map(|(ack, entries)| {
                    let mut p = Vec::new();
                    for (id, value) in entries {
                        p.extend_from_slice(&id.to_be_bytes());
                        p.extend_from_slice(&(value >> (value % 32)).to_be_bytes());
                    }
                    raw(4, u8::from(ack && p.is_empty()), 0, &p)
                }),
            1 => (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, p)| raw(6, u8::from(ack), 0, &p)),
            1 => (prop_oneof![Just(0u32), Just(1), Just(0x7fff_ffff)], 0u32..14).prop_map(
                |(last, code)| {
                    let mut p = last.to_be_bytes().to_vec();
                    p.extend_from_slice(&code.to_be_bytes());
                    raw(7, 0, 0, &p)
                }
            ),
            1 => (0u8..11, any::<u8>(), prop_oneof![Just(0u32), stream()], payload())
                .prop_map(|(kind, flags, id, p)| raw(kind, flags, id, &p)),
        ]
    }

    /// Runs a connection with two calls against `input` as everything the server says;
    /// both the driver and the calls must end.
    fn drive(input: Vec<u8>, chunk: usize) {
        let script = Script {
            input,
            pos: 0,
            chunk,
        };
        let (send, connection) = handshake(script, ClientConfig::new("prop"));
        let none = Metadata::new();
        let (mut requests, mut responses) = send
            .call("/a/Bidi", &none, None)
            .expect("a fresh connection takes calls");
        let calls = async {
            let unary = send.unary("/a/Unary", Bytes::from_static(b"u"), &none, None);
            let bidi = async {
                let _ = requests.send(Bytes::from_static(b"x")).await;
                drop(requests);
                while let Ok(Some(_)) = responses.message().await {}
            };
            let _ = futures_lite::future::zip(unary, bidi).await;
        };
        // The calls are polled first, so the unary call is queued before the input runs.
        let _ = futures_lite::future::block_on(futures_lite::future::zip(calls, connection));
    }

    proptest! {
        #[test]
        fn any_server_frames_end_cleanly(
            settings_first in proptest::bool::weighted(0.9),
            frames in proptest::collection::vec(frame(), 0..24),
            // Small reads let the calls open their streams between frames.
            chunk in 1usize..24,
        ) {
            let mut input = Vec::new();
            if settings_first {
                // An empty SETTINGS, so most cases get past the preface rule.
                input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            }
            for f in frames {
                input.extend_from_slice(&f);
            }
            drive(input, chunk);
        }

        #[test]
        fn any_server_bytes_end_cleanly(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            chunk in 1usize..64,
        ) {
            let mut input = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
            input.extend_from_slice(&bytes);
            drive(input, chunk);
        }
    }

    fn h(name: &'static str, value: &'static str) -> Header {
        Header::new(
            Bytes::from_static(name.as_bytes()),
            Bytes::from_static(value.as_bytes()),
        )
    }

    #[test]
    fn status_from_trailers_and_http() {
        let r = parse_response(vec![
            h(":status", "200"),
            h("content-type", "application/grpc+proto"),
            h("grpc-status", "3"),
            h("grpc-message", "100%25 bad%0A"),
            h("x", "1"),
        ]);
        assert!(r.is_grpc);
        assert_eq!(r.status(), Status::new(Code::InvalidArgument, "100% bad\n"));
        assert_eq!(r.metadata.get_str("x"), Some("1"));
        let r = parse_response(vec![h(":status", "503")]);
        assert_eq!(r.status().code, Code::Unavailable);
        let r = parse_response(vec![h(":status", "200"), h("grpc-status", "x")]);
        assert_eq!(r.status().code, Code::Unknown);
        let r = parse_response(vec![h(":status", "200")]);
        assert_eq!(r.status().code, Code::Internal);
        let r = parse_response(vec![h(":status", "2000000")]);
        assert_eq!(r.status().code, Code::Unknown);
    }

    #[test]
    fn reset_codes() {
        assert_eq!(
            reset_status(ErrorCode::RefusedStream).code,
            Code::Unavailable
        );
        assert_eq!(reset_status(ErrorCode::Cancel).code, Code::Canceled);
        assert_eq!(reset_status(ErrorCode::Unknown(99)).code, Code::Internal);
    }
}
