//! What a handler sees of one call, and the per-stream state it shares with the
//! connection driver. Both run on the same core: the state sits in one `RefCell` that is
//! never borrowed across an await, and each side wakes the other through stored wakers.
//!
//! Inbound, the driver appends whole messages to a stream's inbox; the flow-control
//! credit for them goes back to the peer only when the handler takes them, so a handler
//! that does not read stops the peer (bounded by the windows). Outbound, `send` queues
//! framed messages and waits while the stream's queue is over its budget; the driver
//! moves queued octets into frames as the peer's windows allow.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::Bytes;

use crate::grpc::{Code, MessageDecoder, Metadata, Status, encode_message};

/// The call is over: the peer reset the stream, the connection closed, or the call was
/// already finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call is over: the stream was reset or the connection closed")]
pub struct Closed;

/// Everything a handler gets for one call.
pub struct Call {
    /// The `:path`, e.g. `/etcdserverpb.KV/Range`.
    pub path: Bytes,
    /// Who is at the other end of the connection, as far as its transport says.
    pub peer: Rc<Peer>,
    pub metadata: Metadata,
    /// From `grpc-timeout`; the driver ends the call with DEADLINE_EXCEEDED when it passes.
    pub deadline: Option<Instant>,
    pub requests: Requests,
    pub responses: Responses,
}

/// What the transport knows of a connection's client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// The subject CN of the client's certificate, on TLS connections that verified one
    /// (etcd takes it as the user name under `--client-cert-auth`).
    pub common_name: Option<String>,
}

impl Call {
    pub fn path_str(&self) -> &str {
        std::str::from_utf8(&self.path).unwrap_or("")
    }
}

/// The request messages of a call, in order.
pub struct Requests {
    pub(crate) handle: StreamHandle,
}

/// The response side of a call.
pub struct Responses {
    pub(crate) handle: StreamHandle,
}

#[derive(Clone)]
pub(crate) struct StreamHandle {
    pub(crate) shared: Rc<RefCell<Shared>>,
    pub(crate) id: u32,
}

/// State shared by the driver and the calls of one connection.
pub(crate) struct Shared {
    pub(crate) slots: HashMap<u32, Slot>,
    /// Streams whose output or consumed input the driver should look at.
    pub(crate) ready: Vec<u32>,
    pub(crate) driver_waker: Option<Waker>,
    pub(crate) stream_send_buffer: usize,
}

impl Shared {
    pub(crate) fn new(stream_send_buffer: usize) -> Self {
        Shared {
            slots: HashMap::new(),
            ready: Vec::new(),
            driver_waker: None,
            stream_send_buffer,
        }
    }

    fn notify(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(&id)
            && !slot.queued
        {
            slot.queued = true;
            self.ready.push(id);
        }
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
    }
}

/// One call's shared state.
#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) inbox: VecDeque<(Bytes, u32)>,
    /// The request side ended cleanly (END_STREAM with no partial message).
    pub(crate) inbox_done: bool,
    /// The request side failed; handed to the handler once the inbox is empty.
    pub(crate) inbox_error: Option<Status>,
    pub(crate) recv_waker: Option<Waker>,
    /// Octets the handler consumed whose window credit is not yet returned.
    pub(crate) consumed: u32,
    pub(crate) outbox: VecDeque<Bytes>,
    pub(crate) outbox_len: usize,
    /// The final status, once the handler (or the driver) ended the call.
    pub(crate) trailers: Option<Status>,
    /// HTTP status of an early refusal; 200 for every call that reached a handler.
    pub(crate) http_status: u16,
    pub(crate) send_waker: Option<Waker>,
    /// The call is over for the handler (reset, deadline, connection closed): sends
    /// fail at once and the inbox yields its error or its end.
    pub(crate) gone: bool,
    /// The handler task returned (or there never was one): the slot may be dropped once
    /// the stream is also done on the wire.
    pub(crate) handler_done: bool,
    /// Nothing more goes on the wire for this stream (END_STREAM or RST_STREAM).
    pub(crate) wire_done: bool,
    pub(crate) headers_sent: bool,
    /// The peer ended its side (END_STREAM).
    pub(crate) client_done: bool,
    pub(crate) queued: bool,
    /// Received flow-controlled octets not yet credited back to the peer.
    pub(crate) held: u32,
    /// Driver-side reassembly of request messages.
    pub(crate) decoder: Option<MessageDecoder>,
}

impl Slot {
    pub(crate) fn new(client_done: bool, decoder: MessageDecoder) -> Self {
        Slot {
            inbox_done: client_done,
            client_done,
            http_status: 200,
            decoder: Some(decoder),
            ..Slot::default()
        }
    }

    /// The call ended for the handler with `status` (what `Requests::next` reports).
    pub(crate) fn abandon(&mut self, status: Status) {
        if !self.gone {
            self.gone = true;
            if !self.inbox_done {
                self.inbox_error = Some(status);
            }
        }
        self.outbox.clear();
        self.outbox_len = 0;
        self.wake_all();
    }

    pub(crate) fn wake_all(&mut self) {
        if let Some(w) = self.recv_waker.take() {
            w.wake();
        }
        if let Some(w) = self.send_waker.take() {
            w.wake();
        }
    }
}

impl Requests {
    /// The next request message, `None` once the client ended its side, or the error
    /// that ended the request (too large, compressed, reset, deadline).
    pub async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        poll_fn(|cx| {
            let mut shared = self.handle.shared.borrow_mut();
            let Some(slot) = shared.slots.get_mut(&self.handle.id) else {
                return Poll::Ready(None);
            };
            if let Some((message, wire)) = slot.inbox.pop_front() {
                slot.consumed = slot.consumed.saturating_add(wire);
                shared.notify(self.handle.id);
                return Poll::Ready(Some(Ok(message)));
            }
            if let Some(status) = slot.inbox_error.take() {
                slot.inbox_done = true;
                return Poll::Ready(Some(Err(status)));
            }
            if slot.inbox_done || slot.gone {
                return Poll::Ready(None);
            }
            slot.recv_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Resolves once the call is gone (reset, deadline, connection closed). A handler that
    /// keeps answering after the client ended its side (a watch stream) waits on this to
    /// learn when to stop.
    pub async fn closed(&mut self) {
        poll_fn(|cx| {
            let mut shared = self.handle.shared.borrow_mut();
            match shared.slots.get_mut(&self.handle.id) {
                Some(slot) if !slot.gone => {
                    slot.recv_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }
}

impl Responses {
    /// Queues one response message. Waits while this call already has its budget of
    /// octets queued and unsent, so a client that reads slowly slows the handler instead
    /// of growing memory. `Err(Closed)` once the stream is gone or the call finished.
    pub async fn send(&mut self, message: Bytes) -> Result<(), Closed> {
        let mut message = Some(message);
        poll_fn(|cx| {
            let mut shared = self.handle.shared.borrow_mut();
            let budget = shared.stream_send_buffer;
            let Some(slot) = shared.slots.get_mut(&self.handle.id) else {
                return Poll::Ready(Err(Closed));
            };
            if slot.gone || slot.trailers.is_some() {
                return Poll::Ready(Err(Closed));
            }
            if slot.outbox_len >= budget {
                slot.send_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let Some(message) = message.take() else {
                return Poll::Ready(Ok(()));
            };
            let (head, body) = encode_message(message);
            slot.outbox_len += head.len() + body.as_ref().map_or(0, Bytes::len);
            slot.outbox.push_back(head);
            if let Some(body) = body {
                slot.outbox.push_back(body);
            }
            shared.notify(self.handle.id);
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the call: queued messages go out, then the trailers with this status. Later
    /// calls (and the handler's return value, when it finished already) are ignored.
    pub fn finish(&mut self, result: Result<(), Status>) {
        self.handle.finish(result);
    }

    /// True once the stream is gone or the call finished; a streaming handler can stop.
    pub fn is_closed(&self) -> bool {
        let shared = self.handle.shared.borrow();
        shared
            .slots
            .get(&self.handle.id)
            .is_none_or(|s| s.gone || s.trailers.is_some())
    }

    /// Resolves when the stream is gone (the client cancelled, the deadline passed, the
    /// connection closed) — for handlers that wait on something else, like a watch.
    pub async fn closed(&mut self) {
        poll_fn(|cx| {
            let mut shared = self.handle.shared.borrow_mut();
            match shared.slots.get_mut(&self.handle.id) {
                Some(slot) if !slot.gone => {
                    slot.send_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                _ => Poll::Ready(()),
            }
        })
        .await
    }
}

impl StreamHandle {
    /// The handler task returned `result`: finish the call with it (unless finished
    /// already) and let the slot go once the wire is done too.
    pub(crate) fn complete(&self, result: Result<(), Status>) {
        self.finish(result);
        let mut shared = self.shared.borrow_mut();
        if let Some(slot) = shared.slots.get_mut(&self.id) {
            slot.handler_done = true;
            if slot.wire_done {
                shared.slots.remove(&self.id);
            }
        }
    }

    pub(crate) fn finish(&self, result: Result<(), Status>) {
        let mut shared = self.shared.borrow_mut();
        let Some(slot) = shared.slots.get_mut(&self.id) else {
            return;
        };
        if slot.trailers.is_some() || slot.gone {
            return;
        }
        slot.trailers = Some(match result {
            Ok(()) => Status::new(Code::Ok, ""),
            Err(status) => status,
        });
        shared.notify(self.id);
    }
}
