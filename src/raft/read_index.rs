//! ReadIndex batching: every read that arrives in one turn of the raft loop shares one raft
//! ReadIndex round; each reader is answered once the applied index reaches the read index.
//! The same "wait until applied" queue serves `wait_applied`.

use std::collections::BTreeMap;

use raft::ReadState;

use super::error::ProposeError;
use super::handle::Reply;

struct Waiting {
    reply: Reply<u64>,
    /// `Some(read index)` for a reader; `None` for `wait_applied`, answered with the applied
    /// index.
    answer: Option<u64>,
}

struct Round {
    issued_at_tick: u64,
    readers: Vec<Reply<u64>>,
}

pub(crate) struct ReadIndexBatches {
    next_ctx: u64,
    /// Readers for the next round.
    queued: Vec<Reply<u64>>,
    /// Rounds raft has not answered yet, by request context.
    in_flight: BTreeMap<u64, Round>,
    /// Answered rounds (and `wait_applied` callers), by the index they wait for.
    until_applied: BTreeMap<u64, Vec<Waiting>>,
}

impl ReadIndexBatches {
    pub(crate) fn new() -> Self {
        ReadIndexBatches {
            next_ctx: 1,
            queued: Vec::new(),
            in_flight: BTreeMap::new(),
            until_applied: BTreeMap::new(),
        }
    }

    pub(crate) fn queue(&mut self, reply: Reply<u64>) {
        self.queued.push(reply);
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    pub(crate) fn wait_applied(&mut self, index: u64, reply: Reply<u64>) {
        self.until_applied.entry(index).or_default().push(Waiting {
            reply,
            answer: None,
        });
    }

    /// Takes the queued readers as one round; returns its context for `RawNode::read_index`.
    pub(crate) fn start_round(&mut self, tick: u64) -> Option<Vec<u8>> {
        if self.queued.is_empty() {
            return None;
        }
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        let readers = std::mem::take(&mut self.queued);
        self.in_flight.insert(
            ctx,
            Round {
                issued_at_tick: tick,
                readers,
            },
        );
        Some(ctx.to_be_bytes().to_vec())
    }

    /// Rounds raft answered move on to wait for their index to be applied.
    pub(crate) fn on_read_states(&mut self, states: Vec<ReadState>) {
        for state in states {
            let Ok(ctx) = <[u8; 8]>::try_from(state.request_ctx.as_slice()) else {
                continue; // not one of ours
            };
            let Some(round) = self.in_flight.remove(&u64::from_be_bytes(ctx)) else {
                continue; // answered already (a retried round)
            };
            let waiting = self.until_applied.entry(state.index).or_default();
            waiting.extend(round.readers.into_iter().map(|reply| Waiting {
                reply,
                answer: Some(state.index),
            }));
        }
    }

    /// Answers everyone waiting for an index at or below `applied`.
    pub(crate) fn on_applied(&mut self, applied: u64) {
        let later = self.until_applied.split_off(&(applied + 1));
        for (_, waiting) in std::mem::replace(&mut self.until_applied, later) {
            for w in waiting {
                let _ = w.reply.send(Ok(w.answer.unwrap_or(applied)));
            }
        }
    }

    /// raft drops a ReadIndex it cannot serve (no leader, or a new leader that has not yet
    /// committed in its term) without a word, so a round unanswered for `ticks` ticks is
    /// queued again; readers that gave up (timed out) are forgotten.
    pub(crate) fn retry_stale(&mut self, tick: u64, ticks: u64) {
        let stale: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, r)| tick.saturating_sub(r.issued_at_tick) >= ticks)
            .map(|(ctx, _)| *ctx)
            .collect();
        for ctx in stale {
            if let Some(round) = self.in_flight.remove(&ctx) {
                self.queued.extend(round.readers);
            }
        }
        self.queued.retain(|r| !r.is_canceled());
        for waiting in self.until_applied.values_mut() {
            waiting.retain(|w| !w.reply.is_canceled());
        }
        self.until_applied.retain(|_, w| !w.is_empty());
    }

    pub(crate) fn fail_all(&mut self, error: ProposeError) {
        let rounds = std::mem::take(&mut self.in_flight);
        let readers = std::mem::take(&mut self.queued)
            .into_iter()
            .chain(rounds.into_values().flat_map(|r| r.readers));
        for reply in readers {
            let _ = reply.send(Err(error.clone()));
        }
        for (_, waiting) in std::mem::take(&mut self.until_applied) {
            for w in waiting {
                let _ = w.reply.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_channel::oneshot;

    #[test]
    fn one_round_for_many_readers_answered_when_applied() {
        let mut b = ReadIndexBatches::new();
        let mut rxs: Vec<_> = (0..3)
            .map(|_| {
                let (tx, rx) = oneshot::channel();
                b.queue(tx);
                rx
            })
            .collect();
        let ctx = b.start_round(0).unwrap();
        assert!(
            b.start_round(0).is_none(),
            "everyone joined the first round"
        );
        b.on_read_states(vec![ReadState {
            index: 10,
            request_ctx: ctx,
        }]);
        b.on_applied(9);
        assert!(rxs.iter_mut().all(|rx| rx.try_recv() == Ok(None)));
        b.on_applied(12);
        for rx in &mut rxs {
            assert_eq!(rx.try_recv(), Ok(Some(Ok(10))));
        }
    }

    #[test]
    fn unanswered_rounds_are_retried() {
        let mut b = ReadIndexBatches::new();
        let (tx, mut rx) = oneshot::channel();
        b.queue(tx);
        let first = b.start_round(0).unwrap();
        b.retry_stale(5, 10);
        assert!(b.start_round(5).is_none());
        b.retry_stale(10, 10);
        let second = b.start_round(10).unwrap();
        assert_ne!(first, second);
        // A late answer to the first round is ignored.
        b.on_read_states(vec![ReadState {
            index: 3,
            request_ctx: first,
        }]);
        b.on_applied(3);
        assert_eq!(rx.try_recv(), Ok(None));
        b.fail_all(ProposeError::Stopped);
        assert_eq!(rx.try_recv(), Ok(Some(Err(ProposeError::Stopped))));
    }
}
