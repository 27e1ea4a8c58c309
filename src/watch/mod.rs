//! The watch hub: how every core's watch streams get what the store wrote. After each
//! committed batch the applier publishes the batch's events once, as one shared immutable
//! [`Batch`], to the one-slot mailbox of every stream that has a watcher on one of the
//! batch's keys (etcd's `watchableStore` likewise notifies only the watchers whose key
//! matches); a stream that is caught up takes its events from it without reading the
//! store. A stream that has not emptied its slot when the next batch for it comes misses
//! that batch: the hub marks it and the stream reads what it missed from the store's
//! history. So a stream holds at most one batch however far behind it is, and a slow
//! stream never delays the writer.
//!
//! # Routing
//!
//! Each stream tells the hub its watchers' key ranges ([`Feed::sync`] with a watcher,
//! [`Feed::unwatch`]); the hub keeps them in one [`KeyIndex`] and offers a batch only to
//! the streams it matches. Over-offering is harmless (the stream matches again against its
//! own watchers); under-offering would lose events, so the hub keeps two promises, both
//! because publishing, registering and [`Feed::sync`] all hold the hub's lock:
//!
//! 1. A batch published after a watcher was registered reaches its stream if one of the
//!    batch's keys is in the watcher's range (until the watcher is removed).
//! 2. [`Feed::sync`] hands the stream whatever its slot holds and the end of the last
//!    published batch, `published`: every batch up to `published` that was offered to the
//!    stream has then been handed to it (or marked missed), so one that was not offered had
//!    nothing for the watchers registered when it was published.
//!
//! So a stream that is offered a batch whose `after` is past the end of the last batch it
//! took has not missed anything in between for the watchers it had; a watcher registered
//! later reads what came before its registration from history (see
//! `service::watch::Stream::create`). Should the hub be told of a batch whose `after` is
//! past the last `upto` (the applier never does that), it cannot know what the revisions
//! in between held: it offers every stream a batch without events from the last `upto`
//! on, marked missed, so each reads them from history.

pub mod index;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ringkv_proto::mvccpb;
use ringkv_store::mvcc::{self, EventKind};

use crate::service::kv::apply::to_proto;
use index::KeyIndex;

/// One applied batch: the events of revisions `after + 1 ..= upto`, in revision order.
#[derive(Debug)]
pub struct Batch {
    pub after: i64,
    pub upto: i64,
    pub events: Vec<mvccpb::Event>,
}

struct Mailbox {
    slot: flume::Sender<Arc<Batch>>,
    missed: Arc<AtomicBool>,
}

/// A stream as the hub knows it: its mailbox and its watchers' key ranges.
struct Subscriber {
    mailbox: Mailbox,
    /// Each registered watcher's `key`, `range_end`, by watch ID (to unregister it).
    watchers: HashMap<i64, (Vec<u8>, Vec<u8>)>,
}

/// A watcher as the hub's index knows it: (stream, watch ID).
type WatcherRef = (u64, i64);

#[derive(Default)]
struct Hub {
    streams: HashMap<u64, Subscriber>,
    next_stream: u64,
    /// Every registered watcher's range.
    interest: KeyIndex<WatcherRef>,
    /// The end of the last published batch; `None` before the first.
    published: Option<i64>,
    /// Reused by `publish`.
    matches: Vec<WatcherRef>,
    targets: Vec<u64>,
}

/// One stream's end of the hub; dropping it unsubscribes (and forgets its watchers).
pub struct Feed {
    hub: Arc<WatchHub>,
    id: u64,
    slot: flume::Receiver<Arc<Batch>>,
    missed: Arc<AtomicBool>,
}

/// What [`Feed::sync`] found.
#[derive(Debug)]
pub struct Synced {
    /// The batch the slot held, if any.
    pub batch: Option<Arc<Batch>>,
    /// A batch was missed (the stream must read history up to the store's revision).
    pub missed: bool,
    /// The end of the last batch published, `None` before the first: every batch up to it
    /// that had something for the stream's watchers is `batch` or was taken before.
    pub published: Option<i64>,
}

impl Feed {
    /// The next batch, and whether a later one was missed meanwhile (then the stream must
    /// read the store's history up to its current revision).
    pub async fn next(&self) -> (Arc<Batch>, bool) {
        let Ok(batch) = self.slot.recv_async().await else {
            // The hub keeps the sender until this feed is dropped, so this does not
            // happen; were it to, nothing more would come.
            return futures_lite::future::pending().await;
        };
        (batch, self.missed.swap(false, Ordering::AcqRel))
    }

    /// Empties the slot and reads the hub's published revision in one step with respect
    /// to publishing, first registering `watcher` (ID, `key`, `range_end`) if given: every
    /// batch published from here on with a key in its range is offered to this stream.
    pub fn sync(&self, watcher: Option<(i64, &[u8], &[u8])>) -> Synced {
        let mut hub = self.hub.lock();
        if let Some((id, key, range_end)) = watcher {
            hub.register((self.id, id), key, range_end);
        }
        let batch = self.slot.try_recv().ok();
        Synced {
            batch,
            missed: self.missed.swap(false, Ordering::AcqRel),
            published: hub.published,
        }
    }

    /// Stops routing batches to this stream for watcher `id`. Batches already offered
    /// may still carry its keys.
    pub fn unwatch(&self, id: i64) {
        self.hub.lock().unregister((self.id, id));
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut hub = self.hub.lock();
        if let Some(stream) = hub.streams.remove(&self.id) {
            for (id, (key, range_end)) in stream.watchers {
                hub.interest.remove((self.id, id), &key, &range_end);
            }
        }
    }
}

#[derive(Default)]
pub struct WatchHub {
    hub: Mutex<Hub>,
}

impl WatchHub {
    /// A new stream's feed, with no watchers: nothing is offered to it until it registers
    /// one with [`Feed::sync`].
    pub fn subscribe(self: &Arc<Self>) -> Feed {
        let (slot, rx) = flume::bounded(1);
        let missed = Arc::new(AtomicBool::new(false));
        let mut hub = self.lock();
        let id = hub.next_stream;
        hub.next_stream += 1;
        hub.streams.insert(
            id,
            Subscriber {
                mailbox: Mailbox {
                    slot,
                    missed: missed.clone(),
                },
                watchers: HashMap::new(),
            },
        );
        Feed {
            hub: self.clone(),
            id,
            slot: rx,
            missed,
        }
    }

    /// Hands a committed batch (revisions `after + 1 ..= upto`) to every stream with a
    /// watcher on one of its keys. Called after the store commit, so a stream that reads
    /// history on a miss finds the batch.
    pub fn publish(&self, after: i64, upto: i64, events: Vec<mvcc::Event>) {
        let mut guard = self.lock();
        let hub = &mut *guard;
        let previous = hub.published;
        hub.published = Some(previous.map_or(upto, |p| p.max(upto)));
        // The applier publishes every commit in order; were one left out, no stream could
        // tell whether it had anything for it, so every stream reads history from the
        // last revision published on (a batch without events, marked missed).
        let gap = previous.filter(|&p| after > p);
        hub.targets.clear();
        if gap.is_some() {
            hub.targets.extend(hub.streams.keys());
        } else {
            for event in &events {
                hub.matches.clear();
                hub.interest.matching(&event.kv.key, &mut hub.matches);
                hub.targets
                    .extend(hub.matches.iter().map(|&(stream, _)| stream));
            }
            hub.targets.sort_unstable();
            hub.targets.dedup();
        }
        if hub.targets.is_empty() {
            return;
        }
        let batch = Arc::new(match gap {
            Some(previous) => Batch {
                after: previous,
                upto,
                events: Vec::new(),
            },
            None => Batch {
                after,
                upto,
                events: events.into_iter().map(to_event).collect(),
            },
        });
        for stream in &hub.targets {
            if let Some(stream) = hub.streams.get(stream) {
                if gap.is_some() {
                    stream.mailbox.missed.store(true, Ordering::Release);
                }
                stream.mailbox.offer(&batch);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hub {
    fn register(&mut self, watcher: WatcherRef, key: &[u8], range_end: &[u8]) {
        let (stream, id) = watcher;
        let Some(subscriber) = self.streams.get_mut(&stream) else {
            return;
        };
        let old = subscriber
            .watchers
            .insert(id, (key.to_vec(), range_end.to_vec()));
        if let Some((key, range_end)) = old {
            self.interest.remove(watcher, &key, &range_end);
        }
        self.interest.insert(watcher, key, range_end);
    }

    fn unregister(&mut self, watcher: WatcherRef) {
        let (stream, id) = watcher;
        let Some(subscriber) = self.streams.get_mut(&stream) else {
            return;
        };
        if let Some((key, range_end)) = subscriber.watchers.remove(&id) {
            self.interest.remove(watcher, &key, &range_end);
        }
    }
}

impl Mailbox {
    fn offer(&self, batch: &Arc<Batch>) {
        use flume::TrySendError::Full;
        if let Err(Full(_)) = self.slot.try_send(batch.clone()) {
            // Marked before offering again: a stream that emptied the slot in between
            // gets this batch; one that has not will see the mark when it does.
            self.missed.store(true, Ordering::Release);
            let _ = self.slot.try_send(batch.clone());
        }
        // Disconnected: the stream is going; its feed's drop unsubscribes it.
    }
}

/// A store event as the wire carries it (no prev_kv; the stream adds it per watcher).
pub fn to_event(e: mvcc::Event) -> mvccpb::Event {
    mvccpb::Event {
        r#type: match e.kind {
            EventKind::Put => mvccpb::event::EventType::Put as i32,
            EventKind::Delete => mvccpb::event::EventType::Delete as i32,
        },
        kv: Some(to_proto(e.kv)),
        prev_kv: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, revision: i64) -> mvcc::Event {
        mvcc::Event {
            kind: EventKind::Put,
            kv: mvcc::KeyValue {
                key: key.as_bytes().to_vec(),
                mod_revision: revision,
                ..mvcc::KeyValue::default()
            },
        }
    }

    fn take(feed: &Feed) -> Option<(i64, i64, bool)> {
        let batch = feed.slot.try_recv().ok()?;
        Some((
            batch.after,
            batch.upto,
            feed.missed.swap(false, Ordering::AcqRel),
        ))
    }

    /// A feed with one watcher (ID 0) on `key`..`range_end`.
    fn watching(hub: &Arc<WatchHub>, key: &str, range_end: &str) -> Feed {
        let feed = hub.subscribe();
        feed.sync(Some((0, key.as_bytes(), range_end.as_bytes())));
        feed
    }

    #[test]
    fn a_stream_holds_one_batch_and_learns_what_it_missed() {
        let hub = Arc::new(WatchHub::default());
        let a = watching(&hub, "k", "");
        let b = watching(&hub, "k", "");
        hub.publish(1, 2, vec![put("k", 2)]);
        assert_eq!(take(&a), Some((1, 2, false)));
        hub.publish(2, 3, vec![put("k", 3)]);
        hub.publish(3, 3, vec![]); // nothing written: nothing published
        hub.publish(3, 4, vec![put("k", 4)]);
        // `a` took its slot in time for 3 but not for 4; `b` has held 2 all along.
        assert_eq!(take(&a), Some((2, 3, true)));
        assert_eq!(take(&b), Some((1, 2, true)));
        assert_eq!(take(&b), None);
        drop(b);
        hub.publish(4, 5, vec![put("k", 5)]);
        assert_eq!(hub.lock().streams.len(), 1);
    }

    #[test]
    fn a_batch_is_offered_only_to_the_streams_watching_one_of_its_keys() {
        let hub = Arc::new(WatchHub::default());
        let key = watching(&hub, "x", "");
        let prefix = watching(&hub, "p", "q");
        let open = watching(&hub, "y", "\0");
        let none = hub.subscribe();
        hub.publish(1, 2, vec![put("x", 2)]);
        assert_eq!(take(&key), Some((1, 2, false)));
        assert_eq!(
            (take(&prefix), take(&open), take(&none)),
            (None, None, None)
        );
        hub.publish(2, 4, vec![put("a", 3), put("pa", 4)]);
        assert_eq!(take(&prefix), Some((2, 4, false)));
        assert_eq!((take(&key), take(&open), take(&none)), (None, None, None));
        // One batch per stream however many of its keys match.
        hub.publish(4, 7, vec![put("x", 5), put("z", 6), put("zz", 7)]);
        assert_eq!(take(&key), Some((4, 7, false)));
        assert_eq!(take(&open), Some((4, 7, false)));
        assert_eq!((take(&prefix), take(&none)), (None, None));
        // Nothing watched: nothing offered, but the published revision moves on.
        hub.publish(7, 8, vec![put("b", 8)]);
        let synced = none.sync(None);
        assert!(synced.batch.is_none() && !synced.missed);
        assert_eq!(synced.published, Some(8));
    }

    #[test]
    fn sync_registers_then_hands_over_the_slot_and_the_published_revision() {
        let hub = Arc::new(WatchHub::default());
        let feed = hub.subscribe();
        assert_eq!(feed.sync(None).published, None);
        hub.publish(1, 2, vec![put("k", 2)]); // before the registration: not offered
        let synced = feed.sync(Some((3, b"k", b"")));
        assert!(synced.batch.is_none());
        assert_eq!(synced.published, Some(2));
        hub.publish(2, 3, vec![put("k", 3)]);
        hub.publish(3, 4, vec![put("other", 4)]);
        let synced = feed.sync(None);
        let batch = synced.batch.expect("offered after the registration");
        assert_eq!((batch.after, batch.upto, synced.missed), (2, 3, false));
        assert_eq!(synced.published, Some(4));
        hub.publish(4, 5, vec![put("k", 5)]);
        hub.publish(5, 6, vec![put("k", 6)]);
        let synced = feed.sync(None);
        assert_eq!(synced.batch.map(|b| b.upto), Some(5));
        assert!(synced.missed);
    }

    #[test]
    fn unwatch_and_drop_stop_the_routing() {
        let hub = Arc::new(WatchHub::default());
        let a = watching(&hub, "k", "");
        a.sync(Some((1, b"r", b"s")));
        let b = watching(&hub, "k", "");
        a.unwatch(0);
        hub.publish(1, 2, vec![put("k", 2)]);
        assert_eq!((take(&a), take(&b)), (None, Some((1, 2, false))));
        hub.publish(2, 3, vec![put("ra", 3)]);
        assert_eq!((take(&a), take(&b)), (Some((2, 3, false)), None));
        drop(a);
        drop(b);
        let mut hub = hub.lock();
        assert!(hub.streams.is_empty());
        let mut matches = Vec::new();
        hub.interest.matching(b"k", &mut matches);
        hub.interest.matching(b"ra", &mut matches);
        assert!(matches.is_empty());
    }

    #[test]
    fn a_gap_in_what_is_published_sends_every_stream_to_history() {
        let hub = Arc::new(WatchHub::default());
        let a = watching(&hub, "k", "");
        let b = hub.subscribe();
        hub.publish(1, 2, vec![put("k", 2)]);
        assert_eq!(take(&a), Some((1, 2, false)));
        hub.publish(4, 5, vec![put("other", 5)]);
        let synced = b.sync(None);
        let batch = synced.batch.expect("every stream");
        assert_eq!((batch.after, batch.upto, synced.missed), (2, 5, true));
        assert!(batch.events.is_empty());
        assert_eq!(take(&a), Some((2, 5, true)));
    }
}
