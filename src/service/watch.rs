//! The Watch service, as etcd's `v3rpc/watch.go` answers: one bidi stream carries many
//! watchers. Every watcher reads its events from the store's history from the revision it
//! needs next (etcd's "unsynced" path, used for all of them), woken by the [`WatchHub`]
//! after each commit — so a stream that does not drain simply stops reading, holds no
//! buffered events, and catches up when it drains.
//!
//! Each stream reads a window of history once for all its watchers. Not yet: one shared
//! event buffer across streams and an interval index over watchers' key ranges.
//!
//! [`WatchHub`]: crate::watch::WatchHub

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use prost::Message;
use ringkv_proto::etcdserverpb::{
    ResponseHeader, WatchCreateRequest, WatchRequest, WatchResponse, watch_create_request,
    watch_request,
};
use ringkv_proto::mvccpb;
use ringkv_store::mvcc::{EventKind, MvccRead, RangeOptions, in_range};

use crate::service::Context;
use crate::service::kv::apply::to_proto;

/// Revisions read from history per watcher per turn, so one far-behind watcher never
/// holds a huge batch in memory.
const MAX_REVISIONS_PER_READ: i64 = 1000;

/// etcd's `grpcOverheadBytes`: a `fragment` watcher's responses are split above
/// `--max-request-bytes` plus this.
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
const EMPTY_RANGE: &str = "mvcc: watcher range is empty";

/// Where a watch stream's requests come from and its responses go (the gRPC call).
pub trait WatchTransport {
    /// The next request; `None` once the call is gone or the client sent garbage (a
    /// client that only ended its side keeps the stream open, as with etcd).
    fn recv(&mut self) -> impl Future<Output = Option<WatchRequest>>;
    /// `Err` once the client is gone.
    fn send(&mut self, response: WatchResponse) -> impl Future<Output = Result<(), ()>>;
}

struct Watcher {
    key: Vec<u8>,
    range_end: Vec<u8>,
    /// The first revision this watcher has not seen yet.
    next_revision: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    fragment: bool,
    /// No events were sent since the last progress tick (etcd's `progress[id]`).
    quiet: bool,
}

struct Stream {
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
}

/// Serves one watch stream until the client ends it.
pub async fn serve(ctx: &Context, transport: &mut impl WatchTransport) {
    let woken = ctx.watch_hub.subscribe();
    let mut stream = Stream {
        watchers: BTreeMap::new(),
        next_id: 0,
    };
    let interval = ctx.watch_progress_interval;
    let mut next_tick = Instant::now() + interval;
    loop {
        if catch_up(ctx, &mut stream, transport).await.is_err() {
            return;
        }
        enum Input {
            Request(Option<WatchRequest>),
            Woken,
            Tick,
        }
        let request = async { Input::Request(transport.recv().await) };
        let woken = async {
            // The hub lives as long as the context, so this never fails while we run.
            let _ = woken.recv_async().await;
            Input::Woken
        };
        let tick = async {
            if interval.is_zero() {
                futures_lite::future::pending::<()>().await;
            }
            glommio::timer::sleep(next_tick.saturating_duration_since(Instant::now())).await;
            Input::Tick
        };
        let input = futures_lite::future::or(futures_lite::future::or(request, woken), tick).await;
        let request = match input {
            Input::Woken => continue,
            Input::Tick => {
                next_tick = Instant::now() + interval;
                if stream.progress(ctx, transport).await.is_err() {
                    return;
                }
                continue;
            }
            Input::Request(None) => return,
            Input::Request(Some(request)) => request,
        };
        let answer = match request.request_union {
            Some(watch_request::RequestUnion::CreateRequest(create)) => {
                Some(stream.create(ctx, create))
            }
            Some(watch_request::RequestUnion::CancelRequest(cancel)) => stream
                .watchers
                .remove(&cancel.watch_id)
                .map(|_| WatchResponse {
                    header: header(ctx, ctx.mvcc.read().revision()),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..WatchResponse::default()
                }),
            // A bookmark with watch ID -1: every watcher on the stream has been sent every
            // event up to the revision it carries (etcd 3.5's rule; 3.4 answered with the
            // current revision even while a watcher was still behind).
            Some(watch_request::RequestUnion::ProgressRequest(_)) => {
                let Ok(reached) = catch_up(ctx, &mut stream, transport).await else {
                    return;
                };
                Some(WatchResponse {
                    header: header(ctx, reached),
                    watch_id: -1,
                    ..WatchResponse::default()
                })
            }
            None => None,
        };
        if let Some(answer) = answer
            && transport.send(answer).await.is_err()
        {
            return;
        }
    }
}

fn header(ctx: &Context, revision: i64) -> Option<ResponseHeader> {
    let mut header = ctx.header();
    if let Some(h) = &mut header {
        h.revision = revision;
    }
    header
}

impl Stream {
    /// etcd's progress ticker: every `progress_notify` watcher that is caught up and got
    /// no events since the last tick hears the current revision, with no events.
    async fn progress(
        &mut self,
        ctx: &Context,
        transport: &mut impl WatchTransport,
    ) -> Result<(), ()> {
        let current = ctx.mvcc.read().revision();
        for (&id, w) in self.watchers.iter_mut().filter(|(_, w)| w.progress_notify) {
            if w.quiet && w.next_revision > current {
                transport
                    .send(WatchResponse {
                        header: header(ctx, current),
                        watch_id: id,
                        ..WatchResponse::default()
                    })
                    .await?;
            }
            w.quiet = true;
        }
        Ok(())
    }

    /// etcd's create: key/range_end conventions, auto IDs from 0 (skipping IDs in use),
    /// a client's ID refused if taken, start revision 0 meaning "after now".
    fn create(&mut self, ctx: &Context, create: WatchCreateRequest) -> WatchResponse {
        let current = ctx.mvcc.read().revision();
        // \0 is the smallest key; a range_end of \0 means "every key from key on".
        let key = if create.key.is_empty() {
            vec![0]
        } else {
            create.key.to_vec()
        };
        let range_end = create.range_end.to_vec();
        let refused = |reason: &str| WatchResponse {
            header: header(ctx, current),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.to_owned(),
            ..WatchResponse::default()
        };
        if !range_end.is_empty() && range_end != [0] && key >= range_end {
            return refused(EMPTY_RANGE);
        }
        let id = if create.watch_id != 0 {
            if self.watchers.contains_key(&create.watch_id) {
                return refused(DUPLICATE_ID);
            }
            create.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        };
        use watch_create_request::FilterType;
        let filtered = |f: FilterType| create.filters.contains(&(f as i32));
        self.watchers.insert(
            id,
            Watcher {
                key,
                range_end,
                next_revision: if create.start_revision > 0 {
                    create.start_revision
                } else {
                    current + 1
                },
                prev_kv: create.prev_kv,
                no_put: filtered(FilterType::Noput),
                no_delete: filtered(FilterType::Nodelete),
                progress_notify: create.progress_notify,
                fragment: create.fragment,
                quiet: true,
            },
        );
        WatchResponse {
            header: header(ctx, current),
            watch_id: id,
            created: true,
            ..WatchResponse::default()
        }
    }
}

/// Brings every watcher up to the store's current revision, which it returns: one
/// response per window of at most `MAX_REVISIONS_PER_READ` revisions with matching
/// events, or a compacted cancel for a watcher whose history is gone. Each window of
/// history is read once for all the stream's watchers it is due for.
async fn catch_up(
    ctx: &Context,
    stream: &mut Stream,
    transport: &mut impl WatchTransport,
) -> Result<i64, ()> {
    loop {
        let read = ctx.mvcc.read();
        let current = read.revision();
        let compact = read.compact_revision();
        // etcd lets a watcher start at the compact revision itself, not before it.
        let compacted: Vec<i64> = stream
            .watchers
            .iter()
            .filter(|(_, w)| compact > 0 && w.next_revision < compact)
            .map(|(&id, _)| id)
            .collect();
        for id in compacted {
            stream.watchers.remove(&id);
            transport
                .send(WatchResponse {
                    // etcd stamps this one with revision 0.
                    header: header(ctx, 0),
                    watch_id: id,
                    canceled: true,
                    compact_revision: compact,
                    ..WatchResponse::default()
                })
                .await?;
        }
        let Some(from) = stream
            .watchers
            .values()
            .map(|w| w.next_revision)
            .filter(|&r| r <= current)
            .min()
        else {
            return Ok(current);
        };
        // The furthest-behind watcher sets the window; watchers past its end wait a turn.
        let upto = current.min(from - 1 + MAX_REVISIONS_PER_READ);
        let due = |w: &Watcher| w.next_revision <= upto;
        let wanted = |key: &[u8]| {
            stream
                .watchers
                .values()
                .any(|w| due(w) && in_range(key, &w.key, &w.range_end))
        };
        let events = match read.events_where(from - 1, upto, wanted) {
            Ok(events) => events,
            Err(e) => {
                // Not the client's doing; it sees the stream end, as on a server error.
                tracing::error!(error = %e, "watch history read failed");
                return Err(());
            }
        };
        let limit = ctx
            .limits
            .max_request_bytes
            .saturating_add(GRPC_OVERHEAD_BYTES);
        for (&id, w) in stream.watchers.iter_mut().filter(|(_, w)| due(w)) {
            let mine: Vec<mvccpb::Event> = events
                .iter()
                .filter(|e| {
                    e.kv.mod_revision >= w.next_revision
                        && in_range(&e.kv.key, &w.key, &w.range_end)
                        && match e.kind {
                            EventKind::Put => !w.no_put,
                            EventKind::Delete => !w.no_delete,
                        }
                })
                .map(|e| to_event(&read, e.clone(), w.prev_kv))
                .collect();
            w.next_revision = upto + 1;
            if mine.is_empty() {
                continue;
            }
            w.quiet = false;
            // Like etcd's sync of an unsynced watcher: every event of the window in one
            // response, stamped with the revision the window reaches.
            let response = WatchResponse {
                header: header(ctx, upto),
                watch_id: id,
                events: mine,
                ..WatchResponse::default()
            };
            if w.fragment {
                for fragment in fragments(response, limit) {
                    transport.send(fragment).await?;
                }
            } else {
                transport.send(response).await?;
            }
        }
        if upto >= current {
            return Ok(current);
        }
    }
}

/// etcd's `sendFragments`: a response of at least `limit` bytes with more than one event
/// is cut into responses that stay below `limit` (a single event may exceed it), each but
/// the last marked `fragment`.
fn fragments(response: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if response.encoded_len() < limit || response.events.len() < 2 {
        return vec![response];
    }
    let mut template = response;
    let events = std::mem::take(&mut template.events);
    template.fragment = true;
    let base = template.encoded_len();
    let mut out = Vec::new();
    let mut current = template.clone();
    let mut size = base;
    for event in events {
        let len = event.encoded_len();
        // Field 11, length-delimited: one tag byte, the length, the message.
        let field = 1 + prost::encoding::encoded_len_varint(len as u64) + len;
        if !current.events.is_empty() && size + field >= limit {
            out.push(std::mem::replace(&mut current, template.clone()));
            size = base;
        }
        size += field;
        current.events.push(event);
    }
    current.fragment = false;
    out.push(current);
    out
}

fn to_event(read: &MvccRead, e: ringkv_store::mvcc::Event, with_prev: bool) -> mvccpb::Event {
    let prev_kv = if with_prev {
        // The version before this event; gone (compacted) or none means no prev_kv.
        read.range(
            &e.kv.key,
            &[],
            RangeOptions {
                revision: e.kv.mod_revision - 1,
                ..RangeOptions::default()
            },
        )
        .ok()
        .and_then(|r| r.kvs.into_iter().next())
        .map(to_proto)
    } else {
        None
    };
    mvccpb::Event {
        r#type: match e.kind {
            EventKind::Put => mvccpb::event::EventType::Put as i32,
            EventKind::Delete => mvccpb::event::EventType::Delete as i32,
        },
        kv: Some(to_proto(e.kv)),
        prev_kv,
    }
}
