//! The cross-core side: [`RaftHandle`] (cheap to clone, `Send`), the requests it sends to the
//! raft core, and the status the raft core publishes through atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use futures_channel::oneshot;

use super::config::RaftConfig;
use super::error::ProposeError;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ProposeError>>;

/// What a core asks of the raft core.
pub(crate) enum Request<O> {
    Propose { data: Vec<u8>, reply: Reply<O> },
    ReadIndex { reply: Reply<u64> },
    WaitApplied { index: u64, reply: Reply<u64> },
    Stop,
}

/// The raft core's end of the channel, handed to `RaftNode::open`.
pub struct RaftInbox<O> {
    pub(crate) rx: flume::Receiver<Request<O>>,
    pub(crate) shared: Arc<Shared>,
}

impl<O> RaftInbox<O> {
    /// Marks the node stopped and fails every request still queued. Requests sent after
    /// this see `stopped` (see `RaftHandle::ask`).
    pub(crate) fn close(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        for request in self.rx.drain() {
            request.fail(ProposeError::Stopped);
        }
    }
}

impl<O> Drop for RaftInbox<O> {
    /// Also on a crash-like drop (the node's task dropped mid-flight): queued requests hold
    /// reply senders the channel would otherwise keep alive while any handle lives.
    fn drop(&mut self) {
        self.close();
    }
}

impl<O> Request<O> {
    pub(crate) fn fail(self, error: ProposeError) {
        // The requester may be gone already; nothing to tell then.
        match self {
            Request::Propose { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Request::ReadIndex { reply } | Request::WaitApplied { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Request::Stop => {}
        }
    }
}

/// This node's role in its raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaftRole {
    Follower,
    Candidate,
    PreCandidate,
    Leader,
}

impl RaftRole {
    fn from_u8(v: u8) -> RaftRole {
        match v {
            1 => RaftRole::Candidate,
            2 => RaftRole::PreCandidate,
            3 => RaftRole::Leader,
            _ => RaftRole::Follower,
        }
    }

    pub(crate) fn from_raft(r: raft::StateRole) -> RaftRole {
        match r {
            raft::StateRole::Follower => RaftRole::Follower,
            raft::StateRole::Candidate => RaftRole::Candidate,
            raft::StateRole::PreCandidate => RaftRole::PreCandidate,
            raft::StateRole::Leader => RaftRole::Leader,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            RaftRole::Follower => 0,
            RaftRole::Candidate => 1,
            RaftRole::PreCandidate => 2,
            RaftRole::Leader => 3,
        }
    }
}

/// A snapshot of the node's state, for Status, response headers and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    pub id: u64,
    /// 0 when no leader is known.
    pub leader: u64,
    pub term: u64,
    pub commit: u64,
    pub applied: u64,
    pub role: RaftRole,
    /// Ready rounds handled and WAL fdatasyncs done since start (group commit shows as
    /// fewer syncs than proposals).
    pub readies: u64,
    pub syncs: u64,
    /// raft ReadIndex rounds started (many readers share one).
    pub read_rounds: u64,
    pub stopped: bool,
}

/// Written only by the raft core; read by anyone.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) leader: AtomicU64,
    pub(crate) term: AtomicU64,
    pub(crate) commit: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) role: AtomicU8,
    pub(crate) readies: AtomicU64,
    pub(crate) syncs: AtomicU64,
    pub(crate) read_rounds: AtomicU64,
    pub(crate) stopped: AtomicBool,
}

impl Shared {
    pub(crate) fn set_role(&self, role: RaftRole) {
        self.role.store(role.to_u8(), Ordering::Relaxed);
    }
}

/// Creates the handle (clone it to every core) and the inbox (give it to `RaftNode::open` on
/// the raft core). Made before the executors start so each core gets its handle at spawn.
pub fn channel<O: Send + 'static>(config: &RaftConfig) -> (RaftHandle<O>, RaftInbox<O>) {
    // Unbounded: a core never blocks on the raft core; back-pressure comes from each
    // proposer awaiting its answer (and later from the request quota).
    let (tx, rx) = flume::unbounded();
    let shared = Arc::new(Shared {
        id: config.id,
        ..Default::default()
    });
    (
        RaftHandle {
            tx,
            shared: shared.clone(),
            request_timeout: config.request_timeout,
        },
        RaftInbox { rx, shared },
    )
}

/// Proposes and reads through the raft core from any core. Async methods must run on a
/// glommio executor (they use its timer for the request timeout).
pub struct RaftHandle<O> {
    tx: flume::Sender<Request<O>>,
    shared: Arc<Shared>,
    request_timeout: Duration,
}

impl<O> Clone for RaftHandle<O> {
    fn clone(&self) -> Self {
        RaftHandle {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            request_timeout: self.request_timeout,
        }
    }
}

impl<O: Send + 'static> RaftHandle<O> {
    /// Proposes `data` as one entry; returns the state machine's output once it is committed
    /// and applied.
    pub async fn propose(&self, data: Vec<u8>) -> Result<O, ProposeError> {
        self.ask(|reply| Request::Propose { data, reply }).await
    }

    /// A linearizable read point: returns a read index once this node's applied index has
    /// reached it (so a read of local state afterwards is linearizable). Concurrent callers
    /// share one raft ReadIndex round.
    pub async fn read_index(&self) -> Result<u64, ProposeError> {
        self.ask(|reply| Request::ReadIndex { reply }).await
    }

    /// Returns once the applied index is at least `index` (at once if it already is), with
    /// the applied index.
    pub async fn wait_applied(&self, index: u64) -> Result<u64, ProposeError> {
        let applied = self.shared.applied.load(Ordering::Acquire);
        if applied >= index {
            return Ok(applied);
        }
        self.ask(|reply| Request::WaitApplied { index, reply })
            .await
    }

    /// Asks the node to stop: pending requests fail with [`ProposeError::Stopped`] and
    /// `RaftNode::run` returns after the Ready in progress (bounded by one WAL sync).
    pub fn stop(&self) {
        // A closed channel means the node is gone already.
        let _ = self.tx.send(Request::Stop);
    }

    /// Requests queued for the raft core and not yet taken (diagnostics and tests).
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    pub fn status(&self) -> RaftStatus {
        let s = &self.shared;
        RaftStatus {
            id: s.id,
            leader: s.leader.load(Ordering::Relaxed),
            term: s.term.load(Ordering::Relaxed),
            commit: s.commit.load(Ordering::Relaxed),
            applied: s.applied.load(Ordering::Acquire),
            role: RaftRole::from_u8(s.role.load(Ordering::Relaxed)),
            readies: s.readies.load(Ordering::Relaxed),
            syncs: s.syncs.load(Ordering::Relaxed),
            read_rounds: s.read_rounds.load(Ordering::Relaxed),
            stopped: s.stopped.load(Ordering::Acquire),
        }
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(Reply<T>) -> Request<O>,
    ) -> Result<T, ProposeError> {
        if self.shared.stopped.load(Ordering::SeqCst) {
            return Err(ProposeError::Stopped);
        }
        let (reply, mut answer) = oneshot::channel();
        self.tx
            .send(request(reply))
            .map_err(|_| ProposeError::Stopped)?;
        if self.shared.stopped.load(Ordering::SeqCst) {
            // The node closed its inbox around our send: the request was either answered
            // before, or failed by the close, or landed after the close's drain and will
            // never be taken. Only the first has an answer to wait for.
            return answer
                .try_recv()
                .ok()
                .flatten()
                .unwrap_or(Err(ProposeError::Stopped));
        }
        let timeout = async {
            glommio::timer::sleep(self.request_timeout).await;
            Err(if self.shared.leader.load(Ordering::Relaxed) == 0 {
                ProposeError::NoLeader
            } else {
                ProposeError::Timeout
            })
        };
        let answered = async {
            // A dropped reply sender means the node went away without answering.
            answer.await.unwrap_or(Err(ProposeError::Stopped))
        };
        futures_lite::future::or(answered, timeout).await
    }
}
