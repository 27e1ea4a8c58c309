//! The watch hub: how every core's watch streams learn that the store moved on. The
//! applier rings it after each committed batch; each stream holds a one-slot channel, so a
//! ring is at most one pending wake-up per stream however many batches commit meanwhile,
//! and the stream then reads what it missed from the store's history. Nothing is buffered
//! per event, so a slow stream costs no memory and never delays the writer.

use std::sync::Mutex;

#[derive(Default)]
pub struct WatchHub {
    streams: Mutex<Vec<flume::Sender<()>>>,
}

impl WatchHub {
    /// A wake-up channel for one stream; dropping the receiver unsubscribes.
    pub fn subscribe(&self) -> flume::Receiver<()> {
        let (tx, rx) = flume::bounded(1);
        self.lock().push(tx);
        rx
    }

    /// Wakes every stream (a full slot already means "look again").
    pub fn notify(&self) {
        self.lock()
            .retain(|tx| !matches!(tx.try_send(()), Err(flume::TrySendError::Disconnected(()))));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<flume::Sender<()>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_wakes_each_stream_once_and_forgets_dropped_ones() {
        let hub = WatchHub::default();
        let a = hub.subscribe();
        let b = hub.subscribe();
        hub.notify();
        hub.notify();
        assert_eq!(a.try_iter().count(), 1);
        drop(b);
        hub.notify();
        assert_eq!(hub.lock().len(), 1);
        assert_eq!(a.try_iter().count(), 1);
    }
}
