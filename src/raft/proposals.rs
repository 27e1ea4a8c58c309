//! Proposals in flight: who waits for which entry. A proposal is matched to its entry by the
//! index raft gave it *and* the 8-byte id the node put in the entry's `context`, so an entry
//! at that index written by another leader (or replayed from before a restart) never
//! answers the wrong proposer.

use std::collections::BTreeMap;

use raft::eraftpb::Entry;

use super::error::ProposeError;
use super::handle::Reply;

struct Waiter<O> {
    id: u64,
    reply: Reply<O>,
}

pub(crate) struct Proposals<O> {
    next_id: u64,
    /// Appended entries whose proposer waits, by entry index.
    waiting: BTreeMap<u64, Waiter<O>>,
    /// Arrived while this node was not the leader; proposed once it is (or dropped when the
    /// proposer has given up).
    parked: Vec<(Vec<u8>, Reply<O>)>,
}

impl<O> Proposals<O> {
    pub(crate) fn new() -> Self {
        Proposals {
            next_id: 1,
            waiting: BTreeMap::new(),
            parked: Vec::new(),
        }
    }

    /// A fresh proposal id and the entry context carrying it.
    pub(crate) fn next_context(&mut self) -> (u64, Vec<u8>) {
        let id = self.next_id;
        self.next_id += 1;
        (id, id.to_be_bytes().to_vec())
    }

    pub(crate) fn wait(&mut self, index: u64, id: u64, reply: Reply<O>) {
        if let Some(old) = self.waiting.insert(index, Waiter { id, reply }) {
            // raft reused an index it gave us (a new leader term overwrote our entry).
            let _ = old.reply.send(Err(ProposeError::Dropped));
        }
    }

    pub(crate) fn park(&mut self, data: Vec<u8>, reply: Reply<O>) {
        self.parked.push((data, reply));
    }

    pub(crate) fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    pub(crate) fn take_parked(&mut self) -> Vec<(Vec<u8>, Reply<O>)> {
        std::mem::take(&mut self.parked)
    }

    /// Answers the proposer of `entry`, if it is ours.
    pub(crate) fn answer(&mut self, entry: &Entry, output: Option<O>) {
        let Some(waiter) = self.waiting.remove(&entry.index) else {
            return;
        };
        let ours = entry.context.as_ref() == waiter.id.to_be_bytes().as_slice();
        let result = match output {
            Some(output) if ours => Ok(output),
            _ => Err(ProposeError::Dropped),
        };
        // The proposer may have timed out and gone; nothing to do then.
        let _ = waiter.reply.send(result);
    }

    /// Fails every waiter at or below `applied` that `answer` did not reach.
    pub(crate) fn fail_through(&mut self, applied: u64) {
        let later = self.waiting.split_off(&(applied + 1));
        for (_, waiter) in std::mem::replace(&mut self.waiting, later) {
            let _ = waiter.reply.send(Err(ProposeError::Dropped));
        }
    }

    /// Forgets parked proposals whose proposer gave up (timed out).
    pub(crate) fn prune_parked(&mut self) {
        self.parked.retain(|(_, reply)| !reply.is_canceled());
    }

    pub(crate) fn fail_all(&mut self, error: ProposeError) {
        for (_, waiter) in std::mem::take(&mut self.waiting) {
            let _ = waiter.reply.send(Err(error.clone()));
        }
        for (_, reply) in std::mem::take(&mut self.parked) {
            let _ = reply.send(Err(error.clone()));
        }
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_channel::oneshot;

    fn entry(index: u64, context: &[u8]) -> Entry {
        Entry {
            index,
            context: bytes::Bytes::copy_from_slice(context),
            ..Default::default()
        }
    }

    #[test]
    fn answers_by_index_and_id() {
        let mut p = Proposals::<&str>::new();
        let (a_tx, mut a_rx) = oneshot::channel();
        let (b_tx, mut b_rx) = oneshot::channel();
        let (c_tx, mut c_rx) = oneshot::channel();
        let (a, a_ctx) = p.next_context();
        let (b, _) = p.next_context();
        let (c, c_ctx) = p.next_context();
        p.wait(5, a, a_tx);
        p.wait(6, b, b_tx);
        p.wait(7, c, c_tx);
        p.answer(&entry(5, &a_ctx), Some("a"));
        // Index 6 holds someone else's entry: our proposal was lost.
        p.answer(&entry(6, &[9; 8]), Some("other"));
        assert_eq!(a_rx.try_recv(), Ok(Some(Ok("a"))));
        assert_eq!(b_rx.try_recv(), Ok(Some(Err(ProposeError::Dropped))));
        p.fail_through(6);
        assert_eq!(c_rx.try_recv(), Ok(None), "7 is not applied yet");
        p.answer(&entry(7, &c_ctx), None);
        assert_eq!(c_rx.try_recv(), Ok(Some(Err(ProposeError::Dropped))));
        assert_eq!(p.in_flight(), 0);
    }
}
