//! The Watch service, as etcd's `v3rpc/watch.go` answers: one bidi stream carries many
//! watchers, split as etcd's `watchableStore` splits them. A *synced* watcher has been sent
//! everything up to the stream's horizon and takes later events from the batches the
//! [`WatchHub`] publishes after each commit, never reading the store. An *unsynced* one
//! (a start revision in the past, or every watcher of a stream that missed a batch because
//! it did not drain) reads the store's history in windows until it reaches the horizon,
//! then joins the synced ones. A stream keeps at most one published batch waiting, so a
//! stream that stops draining costs no memory however much is written meanwhile.
//!
//! The hub offers a stream only the batches with a key one of its watchers watches, so a
//! stream's horizon moves in jumps: a batch that starts past the horizon means the batches
//! in between had nothing for the stream (see [`WatchHub`]'s routing promises), and
//! [`Stream::sync`] moves the horizon up to the hub's last published revision where a
//! stream needs to know how far it is (a new watcher, a progress tick or request).
//!
//! Events are matched to the stream's watchers through a [`KeyIndex`] over their key
//! ranges. The index is per stream, not per core: a stream is its own task with its own
//! send budget, so a core-wide matcher would have to queue matches for streams that are
//! not draining; matching per stream keeps each stream's backlog at one shared batch.
//!
//! [`WatchHub`]: crate::watch::WatchHub

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Instant;

use prost::Message;
use ringkv_proto::etcdserverpb::{
    WatchCreateRequest, WatchRequest, WatchResponse, watch_create_request, watch_request,
};
use ringkv_proto::mvccpb;
use ringkv_store::mvcc::{MvccRead, RangeOptions};

use crate::service::Context;
use crate::service::kv::apply::to_proto;
use crate::watch::index::KeyIndex;
use crate::watch::{Batch, Feed, to_event};

/// Revisions read from history per turn, so one far-behind watcher never holds a huge
/// batch in memory.
const MAX_REVISIONS_PER_READ: i64 = 1000;

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
    /// The first revision this watcher has not been sent. For a synced watcher only a
    /// floor (its start revision): it has also been sent everything up to the horizon.
    next_revision: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    fragment: bool,
    /// No events were sent since the last progress tick (etcd's `progress[id]`).
    quiet: bool,
}

impl Watcher {
    fn wants(&self, event: &mvccpb::Event) -> bool {
        use mvccpb::event::EventType;
        match EventType::try_from(event.r#type) {
            Ok(EventType::Put) => !self.no_put,
            Ok(EventType::Delete) => !self.no_delete,
            Err(_) => false,
        }
    }
}

/// Each watcher's events of one batch or history window, by watch ID.
type Sorted = BTreeMap<i64, Vec<mvccpb::Event>>;

struct Stream {
    /// The stream's end of the hub, which knows every watcher's range too.
    feed: Feed,
    watchers: BTreeMap<i64, Watcher>,
    index: KeyIndex<i64>,
    /// Watchers still reading history; every other watcher is synced.
    unsynced: BTreeSet<i64>,
    /// Every synced watcher has been sent every event up to this revision, the end of a
    /// published batch, the hub's published revision or a store revision; every unsynced
    /// one is at or below it. Never past the store's revision.
    horizon: i64,
    next_id: i64,
    /// Reused for index lookups.
    matches: Vec<i64>,
}

/// Serves one watch stream until the client ends it.
pub async fn serve(ctx: &Context, transport: &mut impl WatchTransport) {
    let mut stream = Stream::new(ctx);
    let interval = ctx.watch_progress_interval;
    let mut next_tick = Instant::now() + interval;
    loop {
        if stream.catch_up(ctx, transport).await.is_err() {
            return;
        }
        enum Input {
            Request(Option<WatchRequest>),
            Published(std::sync::Arc<Batch>, bool),
            Tick,
        }
        let request = async { Input::Request(transport.recv().await) };
        let feed = &stream.feed;
        let published = async {
            let (batch, missed) = feed.next().await;
            Input::Published(batch, missed)
        };
        let tick = async {
            if interval.is_zero() {
                futures_lite::future::pending::<()>().await;
            }
            glommio::timer::sleep(next_tick.saturating_duration_since(Instant::now())).await;
            Input::Tick
        };
        let input =
            futures_lite::future::or(futures_lite::future::or(request, published), tick).await;
        let request = match input {
            Input::Published(batch, missed) => {
                if stream.take(ctx, &batch, missed, transport).await.is_err() {
                    return;
                }
                continue;
            }
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
                match stream.create(ctx, create, transport).await {
                    Ok(created) => Some(created),
                    Err(()) => return,
                }
            }
            Some(watch_request::RequestUnion::CancelRequest(cancel)) => {
                stream.remove(cancel.watch_id).map(|_| WatchResponse {
                    header: ctx.header_at(ctx.mvcc.read().revision()),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..WatchResponse::default()
                })
            }
            // A bookmark with watch ID -1: every watcher on the stream has been sent every
            // event up to the revision it carries (etcd 3.5's rule; 3.4 answered with the
            // current revision even while a watcher was still behind). Synced with the hub
            // first, the horizon is at its published revision, so only a batch committed
            // but not yet published is read from history.
            Some(watch_request::RequestUnion::ProgressRequest(_)) => {
                if stream.sync(ctx, transport, None).await.is_err() {
                    return;
                }
                stream.fall_behind(ctx.mvcc.read().revision());
                if stream.catch_up(ctx, transport).await.is_err() {
                    return;
                }
                Some(WatchResponse {
                    header: ctx.header_at(stream.horizon),
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

impl Stream {
    fn new(ctx: &Context) -> Stream {
        let feed = ctx.watch_hub.subscribe();
        Stream {
            feed,
            watchers: BTreeMap::new(),
            index: KeyIndex::default(),
            unsynced: BTreeSet::new(),
            // With no watchers registered nothing is offered yet; a watcher's creation
            // syncs with the hub before it relies on the horizon.
            horizon: ctx.mvcc.read().revision(),
            next_id: 0,
            matches: Vec::new(),
        }
    }

    /// Brings the stream up to the hub, registering `watcher` (ID, key, range_end) with it
    /// first if given: takes the batch waiting in the slot, if any, and then moves the
    /// horizon up to the hub's published revision. Every batch up to that revision that
    /// had a key of the stream's watchers has then been taken, and the ones it was not
    /// offered had nothing for them, so the synced watchers have been sent everything up
    /// to it.
    async fn sync(
        &mut self,
        ctx: &Context,
        transport: &mut impl WatchTransport,
        watcher: Option<(i64, &[u8], &[u8])>,
    ) -> Result<(), ()> {
        let synced = self.feed.sync(watcher);
        match synced.batch {
            Some(batch) => self.take(ctx, &batch, synced.missed, transport).await?,
            None if synced.missed => self.fall_behind(ctx.mvcc.read().revision()),
            None => {}
        }
        if let Some(published) = synced.published {
            self.horizon = self.horizon.max(published);
        }
        Ok(())
    }

    /// etcd's progress ticker: every `progress_notify` watcher that is caught up and got
    /// no events since the last tick hears the current revision, with no events. The
    /// stream syncs with the hub first: a quiet stream is offered no batches, so only the
    /// hub knows how far every watcher has been sent (etcd's `progressIfSync` likewise
    /// reports the store's revision to a synced watcher whatever other keys changed).
    async fn progress(
        &mut self,
        ctx: &Context,
        transport: &mut impl WatchTransport,
    ) -> Result<(), ()> {
        self.sync(ctx, transport, None).await?;
        let current = ctx.mvcc.read().revision();
        for (&id, w) in self.watchers.iter_mut().filter(|(_, w)| w.progress_notify) {
            let next = if self.unsynced.contains(&id) {
                w.next_revision
            } else {
                w.next_revision.max(self.horizon + 1)
            };
            if w.quiet && next > current {
                transport
                    .send(WatchResponse {
                        header: ctx.header_at(current),
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
    /// a client's ID refused if taken, start revision 0 meaning "after now". May first
    /// send the other watchers the events of a batch waiting in the slot.
    async fn create(
        &mut self,
        ctx: &Context,
        create: WatchCreateRequest,
        transport: &mut impl WatchTransport,
    ) -> Result<WatchResponse, ()> {
        // \0 is the smallest key; a range_end of \0 means "every key from key on".
        let key = if create.key.is_empty() {
            vec![0]
        } else {
            create.key.to_vec()
        };
        let range_end = create.range_end.to_vec();
        let refused = |reason: &str| WatchResponse {
            header: ctx.header_at(ctx.mvcc.read().revision()),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.to_owned(),
            ..WatchResponse::default()
        };
        if !range_end.is_empty() && range_end != [0] && key >= range_end {
            return Ok(refused(EMPTY_RANGE));
        }
        let id = if create.watch_id != 0 {
            if self.watchers.contains_key(&create.watch_id) {
                return Ok(refused(DUPLICATE_ID));
            }
            create.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        };
        // Registered with the hub, and the horizon brought up to the hub's published
        // revision in the same locked step, before the watcher is classified: a batch
        // published before the registration ends at or below the horizon, so the watcher
        // reads it from history if it wants it; one published after is offered to this
        // stream if it has the watcher's key. `current`, read after, is at or above the
        // horizon (the store commits before the hub publishes).
        self.sync(ctx, transport, Some((id, &key, &range_end)))
            .await?;
        let current = ctx.mvcc.read().revision();
        let next_revision = if create.start_revision > 0 {
            create.start_revision
        } else {
            current + 1
        };
        // A watcher from after the horizon takes its events from the batches offered
        // from now on (those up to `current` may still be on their way); one from at or
        // before it reads history up to the horizon first.
        if next_revision <= self.horizon {
            self.unsynced.insert(id);
        }
        self.index.insert(id, &key, &range_end);
        use watch_create_request::FilterType;
        let filtered = |f: FilterType| create.filters.contains(&(f as i32));
        self.watchers.insert(
            id,
            Watcher {
                key,
                range_end,
                next_revision,
                prev_kv: create.prev_kv,
                no_put: filtered(FilterType::Noput),
                no_delete: filtered(FilterType::Nodelete),
                progress_notify: create.progress_notify,
                fragment: create.fragment,
                quiet: true,
            },
        );
        Ok(WatchResponse {
            header: ctx.header_at(current),
            watch_id: id,
            created: true,
            ..WatchResponse::default()
        })
    }

    fn remove(&mut self, id: i64) -> Option<Watcher> {
        let w = self.watchers.remove(&id)?;
        self.feed.unwatch(id);
        self.index.remove(id, &w.key, &w.range_end);
        self.unsynced.remove(&id);
        Some(w)
    }

    /// Moves the horizon on to `revision` without a batch: the synced watchers that want
    /// revisions up to it become unsynced and read them from history.
    fn fall_behind(&mut self, revision: i64) {
        if revision <= self.horizon {
            return;
        }
        let from = self.horizon + 1;
        for (&id, w) in &mut self.watchers {
            if self.unsynced.contains(&id) {
                continue;
            }
            w.next_revision = w.next_revision.max(from);
            if w.next_revision <= revision {
                self.unsynced.insert(id);
            }
        }
        self.horizon = revision;
    }

    /// A published batch: its events to the synced watchers, or, if the stream missed a
    /// batch (it was not draining), a fall back to history up to the store's revision.
    async fn take(
        &mut self,
        ctx: &Context,
        batch: &Batch,
        missed: bool,
        transport: &mut impl WatchTransport,
    ) -> Result<(), ()> {
        if batch.after > self.horizon {
            // The batches in between were not offered: they had nothing for the watchers
            // registered when they were published, and a watcher registered later had the
            // horizon raised past them when it was created (`create` syncs). A miss
            // learnt with this batch is of a later one (offered while this one filled the
            // slot), so it is read from history from here on.
            self.horizon = batch.after;
        }
        if missed {
            // Whatever was missed is in the store: the hub publishes after the commit.
            self.fall_behind(ctx.mvcc.read().revision());
            return Ok(());
        }
        if batch.upto <= self.horizon {
            // Already read from history.
            return Ok(());
        }
        let horizon = self.horizon;
        let unsynced = &self.unsynced;
        let sorted = sort_out(
            &mut self.index,
            &self.watchers,
            &mut self.matches,
            &batch.events,
            |id, w, revision| {
                revision > horizon && revision >= w.next_revision && !unsynced.contains(&id)
            },
        );
        self.horizon = batch.upto;
        self.send(ctx, transport, sorted, batch.upto, &mut None)
            .await
    }

    /// Brings every unsynced watcher up to the horizon, where it joins the synced ones:
    /// one response per window of at most `MAX_REVISIONS_PER_READ` revisions with
    /// matching events, or a compacted cancel for a watcher whose history is gone. Each
    /// window of history is read once for all the watchers it is due for.
    async fn catch_up(
        &mut self,
        ctx: &Context,
        transport: &mut impl WatchTransport,
    ) -> Result<(), ()> {
        while !self.unsynced.is_empty() {
            let read = ctx.mvcc.read();
            let compact = read.compact_revision();
            // etcd lets a watcher start at the compact revision itself, not before it.
            let compacted: Vec<i64> = self
                .unsynced
                .iter()
                .copied()
                .filter(|id| {
                    compact > 0
                        && self
                            .watchers
                            .get(id)
                            .is_some_and(|w| w.next_revision < compact)
                })
                .collect();
            for id in compacted {
                self.remove(id);
                transport
                    .send(WatchResponse {
                        // etcd stamps this one with revision 0.
                        header: ctx.header_at(0),
                        watch_id: id,
                        canceled: true,
                        compact_revision: compact,
                        ..WatchResponse::default()
                    })
                    .await?;
            }
            let Some(from) = self
                .unsynced
                .iter()
                .filter_map(|id| self.watchers.get(id))
                .map(|w| w.next_revision)
                .min()
            else {
                return Ok(());
            };
            if from > self.horizon {
                // Unsynced watchers are never past the horizon; were one, it is synced.
                self.unsynced.clear();
                return Ok(());
            }
            // The furthest-behind watcher sets the window; watchers past its end wait a
            // turn. The horizon never passes the store's revision.
            let upto = self.horizon.min(from - 1 + MAX_REVISIONS_PER_READ);
            let unsynced = &self.unsynced;
            let due = |id: i64, w: &Watcher| unsynced.contains(&id) && w.next_revision <= upto;
            let Stream {
                watchers,
                index,
                matches,
                ..
            } = self;
            let wanted = |key: &[u8]| {
                matches.clear();
                index.matching(key, matches);
                matches
                    .iter()
                    .any(|id| watchers.get(id).is_some_and(|w| due(*id, w)))
            };
            let events: Vec<mvccpb::Event> = match read.events_where(from - 1, upto, wanted) {
                Ok(events) => events.into_iter().map(to_event).collect(),
                Err(e) => {
                    // Not the client's doing; it sees the stream end, as on a server error.
                    tracing::error!(error = %e, "watch history read failed");
                    return Err(());
                }
            };
            let sorted = sort_out(index, watchers, matches, &events, |id, w, revision| {
                due(id, w) && revision >= w.next_revision
            });
            let reached: Vec<i64> = unsynced
                .iter()
                .copied()
                .filter(|id| watchers.get(id).is_some_and(|w| due(*id, w)))
                .collect();
            for id in reached {
                if let Some(w) = self.watchers.get_mut(&id) {
                    w.next_revision = upto + 1;
                }
                if upto >= self.horizon {
                    self.unsynced.remove(&id);
                }
            }
            self.send(ctx, transport, sorted, upto, &mut Some(read))
                .await?;
        }
        Ok(())
    }

    /// Sends each watcher its events in one response (fragmented if it asked for it)
    /// stamped with `revision`, the end of the batch or window they come from.
    async fn send(
        &mut self,
        ctx: &Context,
        transport: &mut impl WatchTransport,
        sorted: Sorted,
        revision: i64,
        read: &mut Option<MvccRead>,
    ) -> Result<(), ()> {
        let limit = ctx.limits.max_message_bytes();
        for (id, mut events) in sorted {
            let Some(w) = self.watchers.get_mut(&id) else {
                continue;
            };
            w.quiet = false;
            if w.prev_kv {
                let read = read.get_or_insert_with(|| ctx.mvcc.read());
                for event in &mut events {
                    event.prev_kv = prev_kv(read, event);
                }
            }
            let response = WatchResponse {
                header: ctx.header_at(revision),
                watch_id: id,
                events,
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
        Ok(())
    }
}

/// Each event to the watchers whose range holds its key, that take its kind, and that
/// `eligible` accepts (watch ID, watcher, event revision); in revision order per watcher.
fn sort_out(
    index: &mut KeyIndex<i64>,
    watchers: &BTreeMap<i64, Watcher>,
    matches: &mut Vec<i64>,
    events: &[mvccpb::Event],
    eligible: impl Fn(i64, &Watcher, i64) -> bool,
) -> Sorted {
    let mut sorted = Sorted::new();
    for event in events {
        let Some(kv) = &event.kv else {
            continue;
        };
        matches.clear();
        index.matching(&kv.key, matches);
        for &id in matches.iter() {
            if let Some(w) = watchers.get(&id)
                && eligible(id, w, kv.mod_revision)
                && w.wants(event)
            {
                sorted.entry(id).or_default().push(event.clone());
            }
        }
    }
    sorted
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

/// The version before `event`; gone (compacted) or none (a create) means no prev_kv.
fn prev_kv(read: &MvccRead, event: &mvccpb::Event) -> Option<mvccpb::KeyValue> {
    let kv = event.kv.as_ref()?;
    read.range(
        &kv.key,
        &[],
        RangeOptions {
            revision: kv.mod_revision - 1,
            ..RangeOptions::default()
        },
    )
    .ok()
    .and_then(|r| r.kvs.into_iter().next())
    .map(to_proto)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use ringkv_store::mvcc::{self, EventKind, Mvcc};

    use super::*;
    use crate::lease::Lessor;
    use crate::raft::{RaftConfig, channel};
    use crate::service::node::Node;
    use crate::service::{Identity, Limits};
    use crate::store_jobs::{CompactionPace, StoreJobs};
    use crate::watch::WatchHub;

    /// A client on two channels; the test holds the other ends.
    struct Client {
        requests: flume::Receiver<WatchRequest>,
        responses: flume::Sender<WatchResponse>,
    }

    impl WatchTransport for Client {
        async fn recv(&mut self) -> Option<WatchRequest> {
            self.requests.recv_async().await.ok()
        }

        async fn send(&mut self, response: WatchResponse) -> Result<(), ()> {
            self.responses.send_async(response).await.map_err(drop)
        }
    }

    fn context(dir: &Path) -> Context {
        let (handle, _) = channel(&RaftConfig::new(1, vec![1], dir.join("wal")));
        let mvcc = Mvcc::open(dir.join("db")).unwrap();
        Context {
            node: Node::new(handle),
            identity: Identity::default(),
            limits: Limits {
                max_txn_ops: 128,
                max_request_bytes: 1 << 20,
                quota_bytes: None,
            },
            lessor: Arc::new(Lessor::new(1, 2)),
            snap_dir: dir.to_owned(),
            watch_hub: Arc::new(WatchHub::default()),
            watch_progress_interval: Duration::ZERO,
            leader_loss: Arc::default(),
            store_jobs: StoreJobs::start(mvcc.clone(), CompactionPace::default()).unwrap(),
            mvcc,
        }
    }

    /// Runs `test` on a fresh store's context, on an executor of its own.
    fn on_executor<F: Future<Output = ()>>(test: impl FnOnce(Context) -> F + Send + 'static) {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async move {
                let dir = tempfile::tempdir().unwrap();
                test(context(dir.path())).await;
            })
            .unwrap();
        ex.join().unwrap();
    }

    type Requests = flume::Sender<WatchRequest>;
    type Responses = flume::Receiver<WatchResponse>;

    /// A client, and the test's ends of it.
    fn client() -> (Client, Requests, Responses) {
        let (requests, requests_rx) = flume::unbounded();
        let (responses_tx, responses) = flume::unbounded();
        let client = Client {
            requests: requests_rx,
            responses: responses_tx,
        };
        (client, requests, responses)
    }

    /// Serves a stream on a fresh store; runs `test` on the context and the client's ends.
    fn with_stream<F: Future<Output = ()>>(
        test: impl FnOnce(Context, Requests, Responses) -> F + Send + 'static,
    ) {
        on_executor(|ctx| async move {
            let (mut client, requests, responses) = self::client();
            let served = ctx.clone();
            let stream = glommio::spawn_local(async move {
                serve(&served, &mut client).await;
            });
            test(ctx, requests.clone(), responses).await;
            drop(requests);
            stream.await;
        });
    }

    /// Serves a stream on a fresh store with one watcher on `k`, created; runs `test` on
    /// the context and the client's ends.
    fn with_watcher<F: Future<Output = ()>>(
        test: impl FnOnce(Context, Requests, Responses) -> F + Send + 'static,
    ) {
        with_stream(|ctx, requests, responses| async move {
            send_create(&requests, watch_on(b"k"));
            assert!(responses.recv_async().await.unwrap().created);
            test(ctx, requests, responses).await;
        });
    }

    fn watch_on(key: &[u8]) -> WatchCreateRequest {
        WatchCreateRequest {
            key: key.to_vec().into(),
            ..WatchCreateRequest::default()
        }
    }

    fn send_create(requests: &Requests, create: WatchCreateRequest) {
        requests
            .send(WatchRequest {
                request_union: Some(watch_request::RequestUnion::CreateRequest(create)),
            })
            .unwrap();
    }

    fn send_progress_request(requests: &Requests) {
        let progress = watch_request::RequestUnion::ProgressRequest(Default::default());
        requests
            .send(WatchRequest {
                request_union: Some(progress),
            })
            .unwrap();
    }

    /// Commits a put of `key` as a batch of its own and publishes it, as the applier
    /// does; returns its revision.
    fn put_on(mvcc: &Mvcc, hub: &WatchHub, key: &[u8]) -> i64 {
        let mut w = mvcc.write().unwrap();
        let before = w.revision();
        w.put(key, b"v", 0).unwrap();
        w.end_request();
        let committed = w.commit(false).unwrap();
        let revision = committed.revision;
        hub.publish(before, revision, committed.events);
        revision
    }

    fn put(ctx: &Context, key: &[u8]) -> i64 {
        put_on(&ctx.mvcc, &ctx.watch_hub, key)
    }

    fn revisions(response: &WatchResponse) -> Vec<i64> {
        let kv = |e: &mvccpb::Event| e.kv.as_ref().map_or(0, |kv| kv.mod_revision);
        response.events.iter().map(kv).collect()
    }

    /// Puts `k` once per revision, one batch each, published as the applier does.
    fn put_batches(ctx: &Context, n: usize) {
        for _ in 0..n {
            put(ctx, b"k");
        }
    }

    #[test]
    fn a_synced_watcher_takes_its_events_from_the_batch_not_the_store() {
        with_watcher(|ctx, _, responses| async move {
            // Revision 2 exists only in the published batch, not in the store.
            let event = mvcc::Event {
                kind: EventKind::Put,
                kv: mvcc::KeyValue {
                    key: b"k".to_vec(),
                    value: b"from the batch".to_vec(),
                    create_revision: 2,
                    mod_revision: 2,
                    version: 1,
                    lease: 0,
                },
            };
            ctx.watch_hub.publish(1, 2, vec![event]);
            let response = responses.recv_async().await.unwrap();
            assert_eq!(revisions(&response), [2]);
            let kv = response.events[0].kv.as_ref().unwrap();
            assert_eq!(&kv.value[..], b"from the batch");
            assert_eq!(response.header.unwrap().revision, 2);
        });
    }

    #[test]
    fn a_stream_that_missed_batches_reads_them_from_history_once() {
        with_watcher(|ctx, requests, responses| async move {
            // The stream does not run meanwhile: it holds the first batch, misses the rest.
            put_batches(&ctx, 3);
            let response = responses.recv_async().await.unwrap();
            assert_eq!(revisions(&response), [2, 3, 4], "one history window");
            assert_eq!(response.header.unwrap().revision, 4);
            // Taken in time, the next batch comes through the feed again.
            put_batches(&ctx, 1);
            let response = responses.recv_async().await.unwrap();
            assert_eq!(revisions(&response), [5]);
            send_progress_request(&requests);
            let bookmark = responses.recv_async().await.unwrap();
            assert_eq!((bookmark.watch_id, bookmark.events.len()), (-1, 0));
            assert_eq!(bookmark.header.unwrap().revision, 5);
        });
    }

    #[test]
    fn only_streams_watching_a_key_are_offered_its_batches_until_the_watcher_is_canceled() {
        on_executor(|ctx| async move {
            let (mut client, _requests, _responses) = client();
            let mut a = Stream::new(&ctx);
            let mut b = Stream::new(&ctx);
            for (stream, key) in [(&mut a, b"a"), (&mut b, b"b")] {
                let created = stream.create(&ctx, watch_on(key), &mut client).await;
                assert_eq!(created.map(|c| c.watch_id), Ok(0));
            }
            let revision = put(&ctx, b"a");
            let synced = b.feed.sync(None);
            assert!(
                synced.batch.is_none() && !synced.missed,
                "b was not offered it"
            );
            assert_eq!(synced.published, Some(revision));
            let synced = a.feed.sync(None);
            assert_eq!(synced.batch.map(|batch| batch.upto), Some(revision));
            assert!(a.remove(0).is_some());
            put(&ctx, b"a");
            assert!(
                a.feed.sync(None).batch.is_none(),
                "canceled: no longer offered"
            );
        });
    }

    #[test]
    fn progress_notify_reaches_a_quiet_watcher_while_other_keys_change() {
        on_executor(|ctx| async move {
            let (mut client, _requests, responses) = client();
            let mut stream = Stream::new(&ctx);
            let create = WatchCreateRequest {
                progress_notify: true,
                ..watch_on(b"k")
            };
            let created = stream.create(&ctx, create, &mut client).await.unwrap();
            assert_eq!(created.header.unwrap().revision, 1);
            for _ in 0..3 {
                put(&ctx, b"other");
            }
            // The stream was offered none of those batches; the hub tells how far it is.
            stream.progress(&ctx, &mut client).await.unwrap();
            let notify = responses.try_recv().unwrap();
            assert_eq!((notify.watch_id, notify.events.len()), (0, 0));
            assert_eq!(notify.header.unwrap().revision, 4);
            // An event since the last tick: no notification this time.
            put(&ctx, b"k");
            stream.progress(&ctx, &mut client).await.unwrap();
            assert_eq!(revisions(&responses.try_recv().unwrap()), [5]);
            assert!(responses.try_recv().is_err());
        });
    }

    #[test]
    fn a_progress_request_on_a_stream_offered_nothing_answers_the_published_revision() {
        with_watcher(|ctx, requests, responses| async move {
            for _ in 0..3 {
                put(&ctx, b"other");
            }
            send_progress_request(&requests);
            let bookmark = responses.recv_async().await.unwrap();
            assert_eq!((bookmark.watch_id, bookmark.events.len()), (-1, 0));
            assert_eq!(bookmark.header.unwrap().revision, 4);
        });
    }

    #[test]
    fn a_watcher_from_the_past_reads_what_its_stream_was_not_offered_from_history() {
        with_watcher(|ctx, requests, responses| async move {
            for _ in 0..3 {
                put(&ctx, b"other");
            }
            send_create(
                &requests,
                WatchCreateRequest {
                    start_revision: 2,
                    ..watch_on(b"other")
                },
            );
            let created = responses.recv_async().await.unwrap();
            assert_eq!((created.created, created.watch_id), (true, 1));
            let history = responses.recv_async().await.unwrap();
            assert_eq!((history.watch_id, revisions(&history)), (1, vec![2, 3, 4]));
            put(&ctx, b"other");
            let live = responses.recv_async().await.unwrap();
            assert_eq!((live.watch_id, revisions(&live)), (1, vec![5]));
            put(&ctx, b"k");
            let live = responses.recv_async().await.unwrap();
            assert_eq!((live.watch_id, revisions(&live)), (0, vec![6]));
        });
    }

    #[test]
    fn a_watcher_created_while_a_batch_waits_leaves_it_to_the_others() {
        with_watcher(|ctx, requests, responses| async move {
            // The stream does not run until the test waits: the batch of `k` is in its
            // slot when the create comes (a request is taken before a batch).
            put(&ctx, b"k");
            put(&ctx, b"j");
            send_create(
                &requests,
                WatchCreateRequest {
                    start_revision: 2,
                    ..watch_on(b"j")
                },
            );
            let waiting = responses.recv_async().await.unwrap();
            assert_eq!((waiting.watch_id, revisions(&waiting)), (0, vec![2]));
            let created = responses.recv_async().await.unwrap();
            assert_eq!((created.created, created.watch_id), (true, 1));
            let history = responses.recv_async().await.unwrap();
            assert_eq!((history.watch_id, revisions(&history)), (1, vec![3]));
            send_progress_request(&requests);
            let bookmark = responses.recv_async().await.unwrap();
            assert_eq!(bookmark.watch_id, -1, "nothing else was sent");
        });
    }

    /// Whatever the interleaving of creates with another thread's commits and publishes,
    /// each watcher hears every event in its range from its start revision on, once and
    /// in order.
    #[test]
    fn watchers_created_while_another_thread_publishes_get_every_later_event_once() {
        const KEYS: [&[u8]; 4] = [b"c0", b"c1", b"c2", b"c3"];
        const PUTS: usize = 2000;
        with_stream(|ctx, requests, responses| async move {
            let (mvcc, hub) = (ctx.mvcc.clone(), ctx.watch_hub.clone());
            let (done, writer_done) = flume::bounded(1);
            let writer = std::thread::spawn(move || {
                for i in 0..PUTS {
                    put_on(&mvcc, &hub, KEYS[i % KEYS.len()]);
                }
                done.send(()).unwrap();
            });
            let mut heard: BTreeMap<i64, Vec<(Vec<u8>, i64)>> = BTreeMap::new();
            let mut hear = |response: WatchResponse| {
                let events = response.events.into_iter().filter_map(|e| e.kv);
                let heard = heard.entry(response.watch_id).or_default();
                heard.extend(events.map(|kv| (kv.key.to_vec(), kv.mod_revision)));
            };
            // (key, range_end, first revision) by watch ID.
            let mut watchers = BTreeMap::new();
            for n in 0..40 {
                let (key, range_end) = match n % 5 {
                    4 => (b"c".to_vec(), b"d".to_vec()),
                    _ => (KEYS[n % KEYS.len()].to_vec(), Vec::new()),
                };
                // Some from now, some from a little in the past.
                let start_revision = match n % 3 {
                    0 => 0,
                    _ => (ctx.mvcc.read().revision() - n as i64 % 7).max(1),
                };
                send_create(
                    &requests,
                    WatchCreateRequest {
                        key: key.clone().into(),
                        range_end: range_end.clone().into(),
                        start_revision,
                        ..WatchCreateRequest::default()
                    },
                );
                let created = loop {
                    let response = responses.recv_async().await.unwrap();
                    if response.created {
                        break response;
                    }
                    hear(response);
                };
                let from = match start_revision {
                    0 => created.header.unwrap().revision + 1,
                    start => start,
                };
                watchers.insert(created.watch_id, (key, range_end, from));
            }
            writer_done.recv_async().await.unwrap();
            writer.join().unwrap();
            send_progress_request(&requests);
            let last = loop {
                let response = responses.recv_async().await.unwrap();
                if response.watch_id == -1 {
                    break response.header.unwrap().revision;
                }
                hear(response);
            };
            assert_eq!(last, 1 + PUTS as i64);
            for (id, (key, range_end, from)) in watchers {
                let want: Vec<(Vec<u8>, i64)> = (from.max(2)..=last)
                    .map(|revision| {
                        let i = (revision - 2) as usize;
                        (KEYS[i % KEYS.len()].to_vec(), revision)
                    })
                    .filter(|(k, _)| mvcc::in_range(k, &key, &range_end))
                    .collect();
                let got = heard.remove(&id).unwrap_or_default();
                assert_eq!(got, want, "watcher {id} from {from}");
            }
        });
    }
}
