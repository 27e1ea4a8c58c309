//! The raft core: one raft-rs `RawNode` over the WAL (`ringkv_wal::WalStorage`), driven on the
//! raft core's executor (core 0) by one explicit Ready loop ([`node`]), and a cheap, `Send`
//! [`RaftHandle`] every core uses to propose, ask for a read index and read the status.
//!
//! It knows nothing of the store or of gRPC: committed entries go to a [`StateMachine`], and
//! whatever that returns for an entry goes back to the core that proposed it. Exactly one
//! thread (the raft core's) ever calls the state machine, so it may be `!Send`.
//!
//! Starting it (the server's runtime wires this; `tests/raft_node.rs` does it by hand):
//! ```ignore
//! let config = RaftConfig::from_initial_cluster(&name, &initial_cluster, &token, data_dir.wal_dir())?;
//! let (handle, inbox) = raft::channel::<MyOutput>(&config); // before the executors start
//! // on core 0 (the raft core):
//! let node = RaftNode::open(config, state_machine, inbox)?; // opens/bootstraps the WAL, campaigns
//! let raft_task = glommio::spawn_local(node.run());
//! // on every core, from any task (a clone per core or per connection):
//! let output = handle.propose(request_bytes).await?;        // committed + applied
//! let index = handle.read_index().await?;                    // then read local state
//! let status = handle.status();                              // atomics, no hop
//! // shutdown: fails everything pending with `etcdserver: server stopped`
//! handle.stop();
//! raft_task.await?;
//! ```
//!
//! Channel choice: requests travel over one flume MPSC channel rather than glommio's SPSC
//! shared channels, because the handle must be `Clone + Send` for any task on any core, and
//! glommio wakers accept remote wakeups (a foreign `wake` queues the waker on the owning
//! executor and kicks its ring), so the raft core sleeps in its own reactor and the sender's
//! reply future in its own; the raft core drains everything queued in one turn (the batch).

//! Not yet (single member only): a peer transport (`RaftNode::send` is the seam), forwarding
//! proposals from a follower (they wait here for leadership or their timeout), restoring
//! the state machine from a leader's snapshot, and persisting the ConfState with the state
//! machine's applied index (conf changes between the WAL snapshot and `applied` would not be
//! re-delivered on restart). If the node's task is dropped while a WAL sync runs (a
//! crash-like teardown; `stop` never does this), glommio's blocking thread logs a panic.

mod config;
mod error;
mod handle;
mod logger;
mod node;
mod proposals;
mod read_index;

pub use config::{ConfigError, RaftConfig};
pub use error::{ProposeError, RaftError};
pub use handle::{RaftHandle, RaftInbox, RaftRole, RaftStatus, channel};
pub use node::RaftNode;

use bytes::Bytes;
use raft::eraftpb::Entry;

/// What committed entries are applied to (the store, for the server; a vector in tests).
///
/// Entries arrive in index order, each exactly once across restarts as long as
/// [`StateMachine::applied_index`] reports what was durably applied: the node starts raft with
/// `applied` = that index, so older entries are never handed over again.
pub trait StateMachine {
    /// What a proposer gets back for its entry.
    type Output: Send + 'static;

    /// Applies a batch of committed entries: normal entries (including the empty ones raft
    /// appends when a leader is elected) and conf changes, which raft has already applied to
    /// its own configuration. An implementation writes the batch in ONE store transaction,
    /// together with the last entry's (index, term) as its consistent index.
    ///
    /// Returns one slot per entry: `Some(output)` for the proposer, `None` for entries
    /// nobody waits for (a proposer whose entry yields `None` gets
    /// [`ProposeError::Dropped`]). An entry's `context` holds the node's 8-byte proposal id,
    /// not client data; the state machine reads `data` only.
    ///
    /// There is no error path: a state machine that cannot persist must stop the process
    /// (etcd panics on a backend write failure), because raft has already committed the
    /// entries and continuing would diverge.
    fn apply(&mut self, entries: &[Entry]) -> Vec<Option<Self::Output>>;

    /// [`StateMachine::apply`] for a batch that is not durable yet: `durable` makes it so
    /// (it waits for the WAL's sync the first time, and repeats its answer after) and returns
    /// whether it did. An implementation calls it before any effect of the batch can be seen
    /// (by a reader, a watcher or a proposer), and may prepare the batch before that, while
    /// the disk writes. If `durable` returns false nothing may be applied, and the result is
    /// `None`.
    fn apply_once_durable(
        &mut self,
        entries: &[Entry],
        durable: &mut dyn FnMut() -> bool,
    ) -> Option<Vec<Option<Self::Output>>> {
        durable().then(|| self.apply(entries))
    }

    /// The last applied index that is durable (the store's consistent index): the restart
    /// point.
    fn applied_index(&self) -> u64;

    /// Called before the node records a raft snapshot at the applied index, after which
    /// the WAL entries up to it may be purged: the implementation must make everything it
    /// applied durable before returning. The bytes become the snapshot's data (empty is
    /// fine for a single member, whose store file is the state).
    fn snapshot(&mut self) -> Bytes {
        Bytes::new()
    }

    /// [`StateMachine::snapshot`] without holding up the raft core: starts making everything
    /// applied so far durable and returns what is left to wait for, which the node runs on a
    /// thread of its own while it goes on applying; the snapshot is recorded (and the WAL
    /// purged up to it) only once that returns. The default does it all here.
    fn begin_snapshot(&mut self) -> SnapshotJob {
        SnapshotJob::Done(self.snapshot())
    }
}

/// The rest of a snapshot begun by [`StateMachine::begin_snapshot`].
pub enum SnapshotJob {
    /// Already durable; the bytes are the snapshot's data.
    Done(Bytes),
    /// Blocking work (the disk's fsyncs) that returns the snapshot's data once durable.
    Pending(Box<dyn FnOnce() -> Bytes + Send>),
}
