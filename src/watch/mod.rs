//! The watch hub: how every core's watch streams get what the store wrote. After each
//! committed batch the applier publishes the batch's events once, as one shared immutable
//! [`Batch`], to every stream's one-slot mailbox; a stream that is caught up takes its
//! events from it without reading the store. A stream that has not emptied its slot when
//! the next batch comes misses that batch: the hub marks it and the stream reads what it
//! missed from the store's history. So a stream holds at most one batch however far
//! behind it is, and a slow stream never delays the writer.

pub mod index;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ringkv_proto::mvccpb;
use ringkv_store::mvcc::{self, EventKind};

use crate::service::kv::apply::to_proto;

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

/// One stream's end of the hub; dropping it unsubscribes.
pub struct Feed {
    slot: flume::Receiver<Arc<Batch>>,
    missed: Arc<AtomicBool>,
}

impl Feed {
    /// The next batch, and whether a later one was missed meanwhile (then the stream must
    /// read the store's history up to its current revision).
    pub async fn next(&self) -> (Arc<Batch>, bool) {
        let Ok(batch) = self.slot.recv_async().await else {
            // Only a hub that is gone disconnects; nothing more will come.
            return futures_lite::future::pending().await;
        };
        (batch, self.missed.swap(false, Ordering::AcqRel))
    }
}

#[derive(Default)]
pub struct WatchHub {
    streams: Mutex<Vec<Mailbox>>,
}

impl WatchHub {
    pub fn subscribe(&self) -> Feed {
        let (slot, rx) = flume::bounded(1);
        let missed = Arc::new(AtomicBool::new(false));
        self.lock().push(Mailbox {
            slot,
            missed: missed.clone(),
        });
        Feed { slot: rx, missed }
    }

    /// Hands a committed batch (revisions `after + 1 ..= upto`) to every stream. Called
    /// after the store commit, so a stream that reads history on a miss finds the batch.
    pub fn publish(&self, after: i64, upto: i64, events: Vec<mvcc::Event>) {
        if events.is_empty() {
            return;
        }
        let mut streams = self.lock();
        if streams.is_empty() {
            return;
        }
        let batch = Arc::new(Batch {
            after,
            upto,
            events: events.into_iter().map(to_event).collect(),
        });
        streams.retain(|mailbox| mailbox.offer(&batch));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Mailbox>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Mailbox {
    /// False once the stream is gone.
    fn offer(&self, batch: &Arc<Batch>) -> bool {
        use flume::TrySendError::{Disconnected, Full};
        match self.slot.try_send(batch.clone()) {
            Ok(()) => true,
            Err(Disconnected(_)) => false,
            Err(Full(_)) => {
                // Marked before offering again: a stream that emptied the slot in between
                // gets this batch; one that has not will see the mark when it does.
                self.missed.store(true, Ordering::Release);
                !matches!(self.slot.try_send(batch.clone()), Err(Disconnected(_)))
            }
        }
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

    #[test]
    fn a_stream_holds_one_batch_and_learns_what_it_missed() {
        let hub = WatchHub::default();
        let a = hub.subscribe();
        let b = hub.subscribe();
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
        assert_eq!(hub.lock().len(), 1);
    }
}
