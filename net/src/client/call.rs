//! What a caller holds of a client connection: `SendRequest` starts calls; each call is a
//! `RequestStream` (messages to the server) and a `ResponseStream` (messages back, then
//! the final status). They share one `Shared` with the connection driver, as the server's
//! calls do: callers queue and take, the driver moves frames, and each side wakes the
//! other.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use crate::frame::StreamId;
use crate::grpc::{Code, MessageDecoder, Metadata, Status, encode_message, encode_timeout};
use crate::hpack::Header;

/// State shared by the driver and every handle of one connection.
pub(super) struct Shared {
    pub slots: HashMap<u64, Slot>,
    /// Calls waiting for a stream (the server's MAX_CONCURRENT_STREAMS), oldest first.
    pub waiting: VecDeque<u64>,
    /// Calls with something for the driver to do.
    pub ready: Vec<u64>,
    pub driver_waker: Option<Waker>,
    /// Once set, new calls fail with this: the server sent GOAWAY or the connection ended.
    pub refuse: Option<Status>,
    next_key: u64,
    /// Live `SendRequest` handles: with none left and no calls, the driver closes.
    pub handles: usize,
    /// Request octets a call may queue before `RequestStream::send` waits.
    pub send_budget: usize,
    pub max_recv_message_size: usize,
}

impl Shared {
    pub fn new(send_budget: usize, max_recv_message_size: usize) -> Self {
        Shared {
            slots: HashMap::new(),
            waiting: VecDeque::new(),
            ready: Vec::new(),
            driver_waker: None,
            refuse: None,
            next_key: 0,
            handles: 1,
            send_budget,
            max_recv_message_size,
        }
    }

    /// Every call still on the wire ends with `status`; calls waiting for a stream are
    /// dropped, and slots no handle reads any more are freed.
    pub fn finish_all(&mut self, status: &Status) {
        for slot in self.slots.values_mut() {
            if !slot.wire_done {
                slot.finish(status.clone());
            }
        }
        self.waiting.clear();
        self.slots.retain(|_, s| s.handles > 0);
    }

    /// Queues `key` for the driver's next turn and wakes it.
    pub fn schedule(&mut self, key: u64) {
        if let Some(slot) = self.slots.get_mut(&key)
            && !slot.queued
        {
            slot.queued = true;
            self.ready.push(key);
        }
        self.wake_driver();
    }

    pub fn wake_driver(&mut self) {
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
    }
}

/// One call as the driver and its handles see it.
pub(super) struct Slot {
    /// The request's field block, until the call gets a stream.
    pub fields: Option<Vec<Header>>,
    pub stream_id: Option<StreamId>,
    /// Encoded request messages not yet sent (flow control, or the write high-water mark).
    pub outbox: VecDeque<Bytes>,
    pub outbox_len: usize,
    /// The caller sent its last message: END_STREAM goes out after the outbox.
    pub send_closed: bool,
    pub end_sent: bool,
    pub send_waker: Option<Waker>,
    pub headers_received: bool,
    pub headers: Metadata,
    pub trailers: Metadata,
    /// Response messages with their wire size (what the windows counted).
    pub inbox: VecDeque<(Bytes, u32)>,
    pub decoder: MessageDecoder,
    /// The final status, once known; handed out after the inbox is drained.
    pub status: Option<Status>,
    pub recv_waker: Option<Waker>,
    /// Wire octets of messages the caller took, not yet credited back to the server.
    pub consumed: u32,
    /// Received payload octets charged to the connection window and not yet returned.
    pub held: u32,
    /// The caller gave up on the response: the driver resets the stream.
    pub cancelled: bool,
    /// Nothing more goes out or comes in on the wire for this call.
    pub wire_done: bool,
    pub queued: bool,
    /// `RequestStream` and `ResponseStream` still alive.
    pub handles: u8,
}

impl Slot {
    fn new(fields: Vec<Header>, max_recv_message_size: usize) -> Self {
        Slot {
            fields: Some(fields),
            stream_id: None,
            outbox: VecDeque::new(),
            outbox_len: 0,
            send_closed: false,
            end_sent: false,
            send_waker: None,
            headers_received: false,
            headers: Metadata::new(),
            trailers: Metadata::new(),
            inbox: VecDeque::new(),
            decoder: MessageDecoder::new(max_recv_message_size),
            status: None,
            recv_waker: None,
            consumed: 0,
            held: 0,
            cancelled: false,
            wire_done: false,
            queued: false,
            handles: 2,
        }
    }

    /// Ends the call on our side with `status` (unless one is already known): pending
    /// sends are dropped and both handles wake.
    pub fn finish(&mut self, status: Status) {
        if self.status.is_none() {
            self.status = Some(status);
        }
        self.wire_done = true;
        self.outbox.clear();
        self.outbox_len = 0;
        self.wake_all();
    }

    pub fn wake_all(&mut self) {
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
    }
}

/// Starts calls on one connection. Clones share the connection; once every clone and
/// every call is gone, the driver says GOAWAY and closes.
pub struct SendRequest {
    pub(super) shared: Rc<RefCell<Shared>>,
    pub(super) authority: Bytes,
    pub(super) scheme: Bytes,
}

impl Clone for SendRequest {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().handles += 1;
        SendRequest {
            shared: self.shared.clone(),
            authority: self.authority.clone(),
            scheme: self.scheme.clone(),
        }
    }
}

impl Drop for SendRequest {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.handles = shared.handles.saturating_sub(1);
        shared.wake_driver();
    }
}

/// The request side of a call was ended: the call is over (read the `ResponseStream` for
/// its status) or the message could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call is over")]
pub struct Closed;

impl SendRequest {
    /// Starts a call: the request HEADERS go out as soon as the server's concurrency limit
    /// allows. `timeout` is sent as `grpc-timeout` and enforced by the server; to enforce
    /// it locally too, wrap the call in `with_deadline`.
    pub fn call(
        &self,
        path: &str,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<(RequestStream, ResponseStream), Status> {
        let fields = self.request_fields(path, metadata, timeout)?;
        let mut shared = self.shared.borrow_mut();
        if let Some(status) = &shared.refuse {
            return Err(status.clone());
        }
        let key = shared.next_key;
        shared.next_key += 1;
        let slot = Slot::new(fields, shared.max_recv_message_size);
        shared.slots.insert(key, slot);
        shared.waiting.push_back(key);
        shared.wake_driver();
        drop(shared);
        let handle = CallHandle {
            shared: self.shared.clone(),
            key,
        };
        Ok((
            RequestStream {
                handle: handle.clone(),
            },
            ResponseStream { handle },
        ))
    }

    /// Whether new calls are refused: the server sent GOAWAY or the connection ended. A
    /// caller pooling connections opens a new one then.
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().refuse.is_some()
    }

    /// A unary call: one request message, exactly one response message and an OK status.
    pub async fn unary(
        &self,
        path: &str,
        request: Bytes,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<Bytes, Status> {
        let mut responses = self
            .server_streaming(path, request, metadata, timeout)
            .await?;
        let Some(response) = responses.message().await? else {
            // grpc-go's words for a server that breaks unary's one-message rule.
            return Err(Status::new(
                Code::Internal,
                "cardinality violation: received no response message from non-server-streaming RPC",
            ));
        };
        match responses.message().await? {
            None => Ok(response),
            Some(_) => Err(Status::new(
                Code::Internal,
                "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message",
            )),
        }
    }

    /// A server-streaming call: one request message, then the responses as they come.
    pub async fn server_streaming(
        &self,
        path: &str,
        request: Bytes,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<ResponseStream, Status> {
        let (mut requests, mut responses) = self.call(path, metadata, timeout)?;
        if requests.send(request).await.is_err() {
            // The call ended before the request went out: its status says why.
            let status = match responses.message().await {
                Err(status) => status,
                Ok(_) => Status::new(Code::Internal, "the call ended before the request"),
            };
            return Err(status);
        }
        requests.finish();
        Ok(responses)
    }

    fn request_fields(
        &self,
        path: &str,
        metadata: &Metadata,
        timeout: Option<Duration>,
    ) -> Result<Vec<Header>, Status> {
        if !path.starts_with('/') {
            return Err(Status::new(
                Code::Internal,
                format!("malformed method name: {path:?}"),
            ));
        }
        let mut fields = Vec::with_capacity(7 + metadata.len());
        let field =
            |name: &'static [u8], value: Bytes| Header::new(Bytes::from_static(name), value);
        fields.push(field(b":method", Bytes::from_static(b"POST")));
        fields.push(field(b":scheme", self.scheme.clone()));
        fields.push(field(b":path", Bytes::copy_from_slice(path.as_bytes())));
        fields.push(field(b":authority", self.authority.clone()));
        fields.push(field(
            b"content-type",
            Bytes::from_static(b"application/grpc"),
        ));
        // gRPC over HTTP/2 requires it: it says the client understands trailers.
        fields.push(field(b"te", Bytes::from_static(b"trailers")));
        if let Some(timeout) = timeout {
            fields.push(field(b"grpc-timeout", Bytes::from(encode_timeout(timeout))));
        }
        for (name, value) in metadata.iter() {
            if !is_valid_metadata(name, value) {
                return Err(Status::new(
                    Code::Internal,
                    format!(
                        "invalid metadata {:?}",
                        String::from_utf8_lossy(name.as_ref())
                    ),
                ));
            }
            fields.push(Header::new(name.clone(), value.clone()));
        }
        Ok(fields)
    }
}

/// Runs `call` until `timer` (any runtime's sleep) fires, then gives up with
/// DEADLINE_EXCEEDED: the local half of a deadline, for servers that do not enforce
/// `grpc-timeout`. Dropping the call resets its stream (RST_STREAM CANCEL).
pub async fn with_deadline<T>(
    call: impl Future<Output = Result<T, Status>>,
    timer: impl Future<Output = ()>,
) -> Result<T, Status> {
    futures_lite::future::or(call, async {
        timer.await;
        Err(Status::new(
            Code::DeadlineExceeded,
            "context deadline exceeded",
        ))
    })
    .await
}

/// Names the caller may send: lowercase HTTP tokens, none of the fields this layer owns or
/// HTTP/2 forbids (RFC 9113 §8.2.2); values without line breaks or NUL (§8.2.1).
fn is_valid_metadata(name: &[u8], value: &[u8]) -> bool {
    let token = !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    let reserved = matches!(
        name,
        b"connection"
            | b"keep-alive"
            | b"proxy-connection"
            | b"transfer-encoding"
            | b"upgrade"
            | b"te"
            | b"content-type"
            | b"grpc-timeout"
    );
    token && !reserved && !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

#[derive(Clone)]
struct CallHandle {
    shared: Rc<RefCell<Shared>>,
    key: u64,
}

impl CallHandle {
    /// One handle is gone; the driver removes the slot once both are and the wire is done.
    fn release(&self, update: impl FnOnce(&mut Slot)) {
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&self.key) {
            update(slot);
            slot.handles = slot.handles.saturating_sub(1);
        }
        shared.schedule(self.key);
    }
}

/// The request side of a call.
pub struct RequestStream {
    handle: CallHandle,
}

impl RequestStream {
    /// Queues one message. Waits while the call's queued requests exceed its budget (the
    /// server is not granting window), so a fast caller cannot grow memory without bound.
    pub async fn send(&mut self, message: Bytes) -> Result<(), Closed> {
        let handle = &self.handle;
        poll_fn(|cx| {
            let mut shared = handle.shared.borrow_mut();
            let budget = shared.send_budget;
            let Some(slot) = shared.slots.get_mut(&handle.key) else {
                return Poll::Ready(Err(Closed));
            };
            if slot.wire_done || slot.send_closed || slot.cancelled {
                return Poll::Ready(Err(Closed));
            }
            if slot.outbox_len >= budget {
                slot.send_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if u32::try_from(message.len()).is_err() {
                // The length prefix cannot say it: fail the call rather than desync.
                slot.cancelled = true;
                slot.status = Some(Status::new(
                    Code::ResourceExhausted,
                    "grpc: message larger than 4 GiB",
                ));
                shared.schedule(handle.key);
                return Poll::Ready(Err(Closed));
            }
            let (head, body) = encode_message(message.clone());
            slot.outbox_len += head.len() + body.as_ref().map_or(0, Bytes::len);
            slot.outbox.push_back(head);
            slot.outbox.extend(body);
            shared.schedule(handle.key);
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the request side (END_STREAM after the queued messages). Dropping does the same.
    pub fn finish(self) {}
}

impl Drop for RequestStream {
    fn drop(&mut self) {
        self.handle.release(|slot| slot.send_closed = true);
    }
}

/// The response side of a call: messages, then the final status.
pub struct ResponseStream {
    handle: CallHandle,
}

impl ResponseStream {
    /// The next response message; `Ok(None)` once the call ended with OK, `Err` with its
    /// status otherwise. Messages that arrived before an error status are handed out first.
    pub async fn message(&mut self) -> Result<Option<Bytes>, Status> {
        let handle = &self.handle;
        poll_fn(|cx| {
            let mut shared = handle.shared.borrow_mut();
            let Some(slot) = shared.slots.get_mut(&handle.key) else {
                return Poll::Ready(Err(Status::new(Code::Unavailable, "the connection closed")));
            };
            if let Some((message, wire_size)) = slot.inbox.pop_front() {
                slot.consumed = slot.consumed.saturating_add(wire_size);
                // The driver turns what was taken into WINDOW_UPDATEs.
                shared.schedule(handle.key);
                return Poll::Ready(Ok(Some(message)));
            }
            match &slot.status {
                Some(status) if status.code == Code::Ok => Poll::Ready(Ok(None)),
                Some(status) => Poll::Ready(Err(status.clone())),
                None => {
                    slot.recv_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The response's header metadata (empty until the headers arrived).
    pub fn headers(&self) -> Metadata {
        self.with_slot(|slot| slot.headers.clone())
    }

    /// The trailer metadata besides `grpc-status` and `grpc-message` (empty until the
    /// call ended).
    pub fn trailers(&self) -> Metadata {
        self.with_slot(|slot| slot.trailers.clone())
    }

    fn with_slot(&self, f: impl FnOnce(&Slot) -> Metadata) -> Metadata {
        let shared = self.handle.shared.borrow();
        shared
            .slots
            .get(&self.handle.key)
            .map(f)
            .unwrap_or_default()
    }
}

impl Drop for ResponseStream {
    /// A call whose response nobody will read is cancelled (RST_STREAM CANCEL).
    fn drop(&mut self) {
        self.handle.release(|slot| {
            if slot.status.is_none() {
                slot.cancelled = true;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        assert!(is_valid_metadata(b"token", b"abc"));
        assert!(is_valid_metadata(b"x-bin_1.a", b""));
        assert!(!is_valid_metadata(b"Token", b"abc"));
        assert!(!is_valid_metadata(b":path", b"/x"));
        assert!(!is_valid_metadata(b"", b"x"));
        assert!(!is_valid_metadata(b"te", b"trailers"));
        assert!(!is_valid_metadata(b"connection", b"close"));
        assert!(!is_valid_metadata(b"token", b"a\r\nb"));
    }
}
