//! [`RaftNode`]: the `RawNode` on the raft core and its Ready loop. Everything that touches
//! replicated state happens in [`RaftNode::run`]'s loop, in this order each turn:
//!
//! 1. take every request queued for the raft core (one batch: group commit);
//! 2. tick if a heartbeat interval has passed; propose; start one ReadIndex round;
//! 3. [`RaftNode::handle_ready`]: send messages, persist entries + HardState, **one
//!    sync** (write + fdatasync, or one durable write; on the raft core for a small one
//!    while syncs are fast, else on glommio's blocking thread), apply committed entries in
//!    one state machine batch, answer proposers and readers, advance.
//!
//! A sole voter's Ready whose sync runs on the raft core overlaps the last two: its WAL
//! write is handed to the kernel, raft counts the entries persisted (so they commit), and
//! the state machine prepares the batch while the device writes; nothing is published or
//! answered until the write is durable ([`RaftNode::finish_ready_while_syncing`]).
//!
//! While a sync is in flight the loop is parked on it, so proposals arriving meanwhile wait
//! in the channel and all go into the next Ready.

use std::time::{Duration, Instant};

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message};
use raft::{RawNode, StateRole, Storage};
use ringkv_wal::{FileDir, FsFile, Options, SyncJob, SyncTicket, WalError, WalStorage};

use super::config::RaftConfig;
use super::error::{ProposeError, RaftError};
use super::handle::{RaftInbox, RaftRole, Request};
use super::logger::raft_logger;
use super::proposals::Proposals;
use super::read_index::ReadIndexBatches;
use super::{SnapshotJob, StateMachine};
use bytes::Bytes;

use std::sync::atomic::Ordering;

/// A snapshot begun at `index` whose state machine half runs on its own thread; the marker
/// is written when that is done, so the WAL never claims a snapshot the store lacks.
struct PendingSnapshot {
    index: u64,
    conf_state: ConfState,
    thread: std::thread::JoinHandle<Bytes>,
}

/// The raft node. Lives on the raft core; see the module docs.
pub struct RaftNode<S: StateMachine> {
    node: RawNode<WalStorage<FileDir>>,
    sm: S,
    inbox: RaftInbox<S::Output>,
    config: RaftConfig,
    proposals: Proposals<S::Output>,
    reads: ReadIndexBatches,
    /// Membership as of `applied` (raft-rs does not expose its own).
    conf_state: ConfState,
    applied: u64,
    snapshot_index: u64,
    /// A snapshot whose state machine half is still making itself durable off the core.
    snapshotting: Option<PendingSnapshot>,
    /// A snapshot marker was written; purge the WAL once a sync has made it durable.
    purge_pending: bool,
    ticks: u64,
    /// How long recent small syncs took (moving average), to decide where the next runs.
    small_sync: Duration,
    /// The WAL's device makes a write durable in one command (FUA, or no volatile cache):
    /// every Ready's write is then a durable one, however few its entries.
    durable_writes: bool,
}

/// A sync writing at most this much may run inline on the raft core, where its batch is
/// applied while the disk writes...
const INLINE_SYNC_BYTES: usize = 256 * 1024;
/// ...while such syncs take less than this. Handing a sync to the blocking pool costs two
/// thread wake-ups and gives up that overlap (put 1 conn × 1 client: p50 0.49 ms off-core,
/// 0.45 ms inline, with 0.2–0.3 ms syncs; put 16 × 256, six in seven of whose Readys wrote
/// more than 16 KiB, five paired runs with 256 KiB instead of 16 KiB here: −6% server CPU
/// per put, +5% req/s, p99 unchanged). A slow disk's syncs must not stall the clients that
/// share the raft core.
const INLINE_SYNC_MAX: Duration = Duration::from_millis(1);
/// A Ready applying at least this many entries while its WAL write is in flight makes the
/// write durable by itself (`RWF_DSYNC`), so the kernel starts the device's flush as soon
/// as the write lands rather than after the apply: a put's apply takes 5–7 µs of CPU and a
/// small write ~50 µs here, so from about eight entries on the apply outlasts the write.
/// Fewer entries leave the core waiting on the write anyway, and there the durable write
/// measured slower (put 1 × 1 at 1k/s: p50 +11–42 µs with a durable write for every
/// Ready, six paired runs; put 16 × 256, nine paired runs, six with every Ready's
/// write durable and three with this bound: 59–62k req/s against 48–61k, higher in every
/// pair, CPU per put unchanged). On a device that makes a write durable in one command
/// (FUA) every write is a durable one: there is no flush to start early or late, only one
/// command instead of two (`durable_writes`).
const DURABLE_WRITE_MIN_ENTRIES: usize = 8;

impl<S: StateMachine> RaftNode<S> {
    /// Opens the WAL (bootstrapping a new cluster on an empty one), starts raft at the state
    /// machine's applied index, and campaigns at once when this member is the only voter.
    /// Blocking file I/O: call it once, at start-up, on the raft core.
    pub fn open(
        config: RaftConfig,
        sm: S,
        inbox: RaftInbox<S::Output>,
    ) -> Result<RaftNode<S>, RaftError> {
        config.validate()?;
        let dir = FileDir::new(&config.wal_dir).map_err(|source| RaftError::WalDir {
            dir: config.wal_dir.clone(),
            source,
        })?;
        let options = Options {
            segment_size: config.wal_segment_size,
            max_wals: config.max_wals,
        };
        let mut storage = WalStorage::open(dir, options)?;
        let initial = storage.initial_state()?;
        if initial.conf_state == ConfState::default() && storage.last_index()? == 0 {
            let conf_state = ConfState {
                voters: config.initial_voters.clone(),
                ..Default::default()
            };
            storage.initialize_with_conf_state(conf_state)?;
            storage.sync()?;
            tracing::info!(
                member = %format!("{:x}", config.id),
                voters = ?config.initial_voters.iter().map(|v| format!("{v:x}")).collect::<Vec<_>>(),
                "bootstrapped a new raft group"
            );
        }

        let first = storage.first_index()?;
        let last = storage.last_index()?;
        let applied = sm.applied_index();
        if applied + 1 < first || applied > last {
            return Err(RaftError::AppliedOutOfRange {
                applied,
                first: first - 1,
                last,
            });
        }
        let state = storage.initial_state()?;
        if applied > state.hard_state.commit {
            // The commit index in the HardState may lag (it is synced with the next Ready),
            // but anything the state machine applied was committed.
            storage.set_commit(applied)?;
            storage.sync()?;
        }
        let conf_state = state.conf_state;

        let raft_config = raft::Config {
            id: config.id,
            election_tick: config.election_ticks,
            heartbeat_tick: 1,
            applied,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            ..Default::default()
        };
        let logger = raft_logger(config.id);
        let mut node = RawNode::new(&raft_config, storage, &logger)?;
        if conf_state.voters == [config.id] && conf_state.learners.is_empty() {
            // A single voter need not wait an election timeout: it wins at once.
            node.campaign()?;
        }
        tracing::info!(
            member = %format!("{:x}", config.id),
            applied,
            first_index = first,
            last_index = last,
            term = node.raft.term,
            "raft node started"
        );
        let durable_writes = crate::blockdev::writes_durably_in_one_command(&config.wal_dir);
        if durable_writes {
            tracing::info!(
                "the WAL's device makes a write durable in one command (FUA or no volatile \
                 cache): WAL writes go with RWF_DSYNC and no fdatasync"
            );
        }
        let node = RaftNode {
            node,
            sm,
            inbox,
            proposals: Proposals::new(),
            reads: ReadIndexBatches::new(),
            conf_state,
            applied,
            snapshot_index: first - 1,
            snapshotting: None,
            purge_pending: false,
            ticks: 0,
            small_sync: Duration::ZERO,
            durable_writes,
            config,
        };
        node.publish();
        node.inbox.shared.applied.store(applied, Ordering::Release);
        Ok(node)
    }

    /// Runs the Ready loop until [`RaftHandle::stop`](super::RaftHandle::stop), every handle
    /// is dropped, or a fatal error (WAL I/O, a committed entry that does not decode). On
    /// return every pending request has failed with [`ProposeError::Stopped`].
    pub async fn run(mut self) -> Result<(), RaftError> {
        let mut result = self.serve().await;
        if result.is_ok() {
            result = self.record_snapshot(true);
        }
        if result.is_ok() && self.applied > self.snapshot_index {
            // A clean stop checkpoints the store and marks the WAL, so the next start
            // replays nothing (etcd replays up to --snapshot-count entries after any stop).
            result = self.snapshot();
            if result.is_ok() {
                result = self.sync_wal().await;
            }
        }
        match &result {
            Ok(()) => tracing::info!("raft node stopped"),
            Err(e) => tracing::error!(error = %e, "raft node stopped on a fatal error"),
        }
        self.fail_pending();
        result
    }

    async fn serve(&mut self) -> Result<(), RaftError> {
        let interval = self.config.heartbeat_interval;
        let mut next_tick = Instant::now() + interval;
        loop {
            // Wait for a request or the next tick unless there is work already.
            // Clients share core 0 with raft: let them run between turns when raft is busy.
            glommio::yield_if_needed().await;
            let first = if self.has_work() {
                None
            } else {
                let wait = next_tick.saturating_duration_since(Instant::now());
                let rx = &self.inbox.rx;
                futures_lite::future::or(async { Some(rx.recv_async().await) }, async {
                    glommio::timer::sleep(wait).await;
                    None
                })
                .await
            };
            let mut stop = match first {
                Some(Ok(request)) => self.take(request),
                // Every handle is gone: nobody can ask anything any more.
                Some(Err(_)) => true,
                None => false,
            };
            // Everything else queued right now joins the same Ready.
            while !stop && let Ok(request) = self.inbox.rx.try_recv() {
                stop = self.take(request);
            }
            if stop {
                return Ok(());
            }

            let now = Instant::now();
            if now >= next_tick {
                // Missed ticks (a slow sync) are dropped, as Go's ticker does, so a stall
                // does not fire an election timeout's worth of ticks at once.
                self.tick();
                next_tick = now + interval;
            }
            self.propose_parked();
            if self.ready_for_reads()
                && let Some(ctx) = self.reads.start_round(self.ticks)
            {
                self.inbox
                    .shared
                    .read_rounds
                    .fetch_add(1, Ordering::Relaxed);
                self.node.read_index(ctx);
            }

            if self.node.has_ready() {
                self.handle_ready().await?;
            } else if self.purge_pending {
                self.sync_wal().await?;
            }
            self.publish();
        }
    }

    /// Work that needs no new request: a Ready, a snapshot marker to make durable, or
    /// requests that waited for leadership (or for a leader's first commit) and can go now.
    fn has_work(&self) -> bool {
        self.node.has_ready()
            || self.purge_pending
            || (self.reads.has_queued() && self.ready_for_reads())
            || (self.proposals.has_parked() && self.node.raft.state == StateRole::Leader)
    }

    /// Takes one request; true for a stop.
    fn take(&mut self, request: Request<S::Output>) -> bool {
        match request {
            Request::Propose { data, reply } => self.propose(data, reply),
            Request::ReadIndex { reply } => self.reads.queue(reply),
            Request::WaitApplied { index, reply } => {
                if self.applied >= index {
                    let _ = reply.send(Ok(self.applied));
                } else {
                    self.reads.wait_applied(index, reply);
                }
            }
            Request::Stop => return true,
        }
        false
    }

    fn propose(&mut self, data: Vec<u8>, reply: super::handle::Reply<S::Output>) {
        if self.node.raft.state != StateRole::Leader {
            // Forwarding to a remote leader needs to learn the entry's index there; until
            // clustering lands, wait here to become leader (or for the proposer's timeout).
            self.proposals.park(data, reply);
            return;
        }
        let (id, context) = self.proposals.next_context();
        match self.node.propose(context, data) {
            Ok(()) => {
                let index = self.node.raft.raft_log.last_index();
                self.proposals.wait(index, id, reply);
            }
            Err(e) => {
                tracing::debug!(error = %e, "proposal dropped by raft");
                let _ = reply.send(Err(ProposeError::Dropped));
            }
        }
    }

    fn propose_parked(&mut self) {
        if self.node.raft.state != StateRole::Leader {
            return;
        }
        for (data, reply) in self.proposals.take_parked() {
            self.propose(data, reply);
        }
    }

    /// raft silently drops a ReadIndex it cannot serve; do not start rounds it would drop.
    fn ready_for_reads(&self) -> bool {
        let raft = &self.node.raft;
        match raft.state {
            StateRole::Leader => raft.commit_to_current_term(),
            _ => raft.leader_id != 0,
        }
    }

    fn tick(&mut self) {
        self.node.tick();
        self.ticks += 1;
        self.reads
            .retry_stale(self.ticks, self.config.election_ticks as u64);
        self.proposals.prune_parked();
    }

    /// One Ready, raft-rs style. See the module docs.
    async fn handle_ready(&mut self) -> Result<(), RaftError> {
        let mut rd = self.node.ready();
        self.inbox.shared.readies.fetch_add(1, Ordering::Relaxed);

        // A leader's appends go to followers in parallel with its own fsync.
        self.send(rd.take_messages());

        let has_snapshot = !rd.snapshot().is_empty();
        if has_snapshot {
            // Only a follower receives one, and there is no peer transport yet.
            tracing::warn!(
                index = rd.snapshot().get_metadata().index,
                "received a raft snapshot; restoring the state machine from it is not implemented"
            );
            self.node.mut_store().apply_snapshot(rd.snapshot())?;
        }
        let store = self.node.mut_store();
        store.append(rd.entries())?;
        if let Some(hs) = rd.hs() {
            store.set_hard_state(hs)?;
        }
        if has_snapshot {
            self.sync_wal().await?;
        } else if rd.must_sync() {
            let job = self.node.mut_store().begin_sync()?;
            if self.may_apply_while_syncing(&rd, &job) {
                return self.finish_ready_while_syncing(rd, job);
            }
            self.run_sync(job).await?;
        }

        self.reads.on_read_states(rd.take_read_states());
        self.send(rd.take_persisted_messages());
        self.apply_committed(rd.take_committed_entries())?;

        let mut light = self.node.advance(rd);
        if let Some(commit) = light.commit_index() {
            // Durable with the next sync: the commit index is recoverable, the entries are
            // already durable.
            self.node.mut_store().set_commit(commit)?;
        }
        self.send(light.take_messages());
        self.apply_committed(light.take_committed_entries())?;
        self.finish_apply()
    }

    /// Whether this Ready's entries may be applied while its sync runs
    /// ([`RaftNode::finish_ready_while_syncing`]): only a sole voter's (with no learners),
    /// whose appended entries commit as soon as they are durable, so counting them
    /// persisted early cannot let anyone else commit them; only for a sync that runs
    /// inline; and not for membership changes, which raft applies to itself at once.
    fn may_apply_while_syncing(&self, rd: &raft::Ready, job: &SyncJob<FsFile>) -> bool {
        let raft = &self.node.raft;
        raft.state == StateRole::Leader
            && raft.prs().is_singleton()
            && raft.prs().iter().len() == 1
            && self.runs_inline(job)
            && rd
                .entries()
                .iter()
                .all(|e| e.get_entry_type() == EntryType::EntryNormal)
    }

    /// The rest of a sole voter's Ready, overlapping the apply with the disk: the WAL's
    /// writes are handed to the kernel, raft is told they are persisted (so they commit),
    /// and the state machine prepares the batch while the device writes. It waits for the
    /// sync (write + fdatasync, or a durable write) before anything of the batch is
    /// published or answered, so nothing is seen or acknowledged before it is durable. A
    /// failed sync stops the node before that. Saves the apply's CPU time (~20 µs a put)
    /// from every small write's latency.
    fn finish_ready_while_syncing(
        &mut self,
        mut rd: raft::Ready,
        mut job: SyncJob<FsFile>,
    ) -> Result<(), RaftError> {
        let started = Instant::now();
        job.start(self.durable_writes || rd.entries().len() >= DURABLE_WRITE_MIN_ENTRIES);
        self.reads.on_read_states(rd.take_read_states());
        self.send(rd.take_persisted_messages());
        let mut entries = rd.take_committed_entries();
        let mut light = self.node.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().set_commit(commit)?;
        }
        self.send(light.take_messages());
        entries.extend(light.take_committed_entries());

        let mut sync = OnceSync::new(job);
        self.apply_committed_once(entries, &mut || sync.run())?;
        let ticket = sync.finish()?;
        self.synced(ticket, true, started)?;
        self.finish_apply()
    }

    /// After a Ready's entries are applied: tell raft, answer reads, snapshot if due.
    fn finish_apply(&mut self) -> Result<(), RaftError> {
        self.node.advance_apply();
        self.reads.on_applied(self.applied);
        self.maybe_snapshot()?;
        Ok(())
    }

    /// Everything appended so far becomes durable.
    async fn sync_wal(&mut self) -> Result<(), RaftError> {
        let job = self.node.mut_store().begin_sync()?;
        self.run_sync(job).await
    }

    /// Runs a sync job. A small sync on a fast disk runs right here; anything else runs on
    /// glommio's blocking thread pool so the core keeps serving.
    async fn run_sync(&mut self, job: SyncJob<FsFile>) -> Result<(), RaftError> {
        let small = job.bytes() <= INLINE_SYNC_BYTES;
        let started = Instant::now();
        let ticket = if self.runs_inline(&job) {
            job.run()?
        } else {
            glommio::executor()
                .spawn_blocking(move || job.run())
                .await?
        };
        self.synced(ticket, small, started)
    }

    /// Whether a sync job runs on the raft core: a small one while small ones are fast.
    fn runs_inline(&self, job: &SyncJob<FsFile>) -> bool {
        job.bytes() <= INLINE_SYNC_BYTES && self.small_sync < INLINE_SYNC_MAX
    }

    /// A sync job begun at `started` is done.
    fn synced(
        &mut self,
        ticket: SyncTicket,
        small: bool,
        started: Instant,
    ) -> Result<(), RaftError> {
        if small {
            // A moving average (a quarter of the newest sample): one slow sync moves the
            // next ones off-core; sampled off-core too, so a disk that got fast comes back.
            self.small_sync = (self.small_sync * 3 + started.elapsed()) / 4;
        }
        self.node.mut_store().finish_sync(ticket);
        self.inbox.shared.syncs.fetch_add(1, Ordering::Relaxed);
        if self.purge_pending {
            self.purge_pending = false;
            let removed = self.node.mut_store().purge()?;
            tracing::debug!(removed, "purged WAL segments covered by the snapshot");
        }
        Ok(())
    }

    /// The peer transport's seam: a single member has nobody to talk to.
    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            tracing::trace!(to = m.to, kind = ?m.get_msg_type(), "dropping raft message: no peer transport");
        }
    }

    /// Applies one batch of committed, durable entries.
    fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), RaftError> {
        self.apply_committed_once(entries, &mut || true)
    }

    /// Applies one batch of committed entries once `durable` has made them durable (see
    /// [`StateMachine::apply_once_durable`]): conf changes to raft first, then the whole
    /// batch to the state machine, then answers each proposer. If `durable` fails, nothing
    /// is applied and the caller stops on the sync's error.
    fn apply_committed_once(
        &mut self,
        entries: Vec<Entry>,
        durable: &mut dyn FnMut() -> bool,
    ) -> Result<(), RaftError> {
        let Some(last) = entries.last().map(|e| e.index) else {
            return Ok(());
        };
        for e in &entries {
            let conf_state = match e.get_entry_type() {
                EntryType::EntryNormal => continue,
                EntryType::EntryConfChange => {
                    if !durable() {
                        return Ok(());
                    }
                    let cc = ConfChange::parse_from_bytes(&e.data)
                        .map_err(|err| conf_change_error(e, err))?;
                    self.node.apply_conf_change(&cc)?
                }
                EntryType::EntryConfChangeV2 => {
                    if !durable() {
                        return Ok(());
                    }
                    let cc = ConfChangeV2::parse_from_bytes(&e.data)
                        .map_err(|err| conf_change_error(e, err))?;
                    self.node.apply_conf_change(&cc)?
                }
            };
            tracing::info!(index = e.index, ?conf_state, "applied a membership change");
            self.conf_state = conf_state;
        }
        let Some(outputs) = self.sm.apply_once_durable(&entries, durable) else {
            return Ok(());
        };
        let mut outputs = outputs.into_iter();
        // Published before anyone is answered: a proposer that got its result and then
        // reads `status().applied` or calls `wait_applied` must see its own entry.
        self.applied = last;
        self.publish();
        self.inbox.shared.applied.store(last, Ordering::Release);
        for e in &entries {
            self.proposals.answer(e, outputs.next().flatten());
        }
        self.proposals.fail_through(last);
        Ok(())
    }

    /// Every `snapshot_count` applied entries: a snapshot at the applied index, so the
    /// entries before it leave memory and their segments can be purged. The state machine's
    /// half (the store's checkpoint fsyncs, tens of milliseconds under load) runs on a thread
    /// of its own while this core goes on applying; the marker is written once it is done.
    fn maybe_snapshot(&mut self) -> Result<(), RaftError> {
        if self.snapshotting.is_some() {
            return self.record_snapshot(false);
        }
        if self.applied - self.snapshot_index < self.config.snapshot_count.max(1) {
            return Ok(());
        }
        let index = self.applied;
        let conf_state = self.conf_state.clone();
        match self.sm.begin_snapshot() {
            SnapshotJob::Done(data) => self.mark_snapshot(index, conf_state, data),
            SnapshotJob::Pending(job) => {
                let thread = std::thread::Builder::new()
                    .name("ringkv-checkpoint".into())
                    .spawn(job)
                    .map_err(|e| RaftError::SnapshotThread(e.to_string()))?;
                self.snapshotting = Some(PendingSnapshot {
                    index,
                    conf_state,
                    thread,
                });
                Ok(())
            }
        }
    }

    /// Writes the marker of a snapshot begun earlier once its thread is done (with `wait`,
    /// waiting for it).
    fn record_snapshot(&mut self, wait: bool) -> Result<(), RaftError> {
        let Some(pending) = self.snapshotting.take() else {
            return Ok(());
        };
        if !wait && !pending.thread.is_finished() {
            self.snapshotting = Some(pending);
            return Ok(());
        }
        let data = pending
            .thread
            .join()
            .map_err(|_| RaftError::SnapshotThread("it panicked".into()))?;
        self.mark_snapshot(pending.index, pending.conf_state, data)
    }

    /// A raft snapshot at the applied index, made all at once (a clean stop).
    fn snapshot(&mut self) -> Result<(), RaftError> {
        let data = self.sm.snapshot();
        self.mark_snapshot(self.applied, self.conf_state.clone(), data)
    }

    /// Records a snapshot the state machine has made durable: the WAL marker; purging waits
    /// for the next sync.
    fn mark_snapshot(
        &mut self,
        index: u64,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<(), RaftError> {
        let released = self
            .node
            .mut_store()
            .create_snapshot(index, conf_state, data)?;
        // Freeing a snapshot's worth of entries takes milliseconds: not on the raft core.
        if released.len() > 1024 {
            let freed = std::thread::Builder::new()
                .name("ringkv-release".into())
                .spawn(move || drop(released));
            if let Err(e) = freed {
                tracing::debug!(error = %e, "freed the snapshot's entries on the raft core");
            }
        }
        tracing::info!(
            index,
            previous = self.snapshot_index,
            "created a raft snapshot"
        );
        self.snapshot_index = index;
        self.purge_pending = true;
        Ok(())
    }

    fn publish(&self) {
        let raft = &self.node.raft;
        let shared = &self.inbox.shared;
        shared.leader.store(raft.leader_id, Ordering::Relaxed);
        shared.term.store(raft.term, Ordering::Relaxed);
        shared
            .commit
            .store(raft.raft_log.committed, Ordering::Relaxed);
        shared.set_role(RaftRole::from_raft(raft.state));
    }

    fn fail_pending(&mut self) {
        let shared = &self.inbox.shared;
        shared.leader.store(0, Ordering::Relaxed);
        shared.set_role(RaftRole::Follower);
        self.inbox.close();
        self.proposals.fail_all(ProposeError::Stopped);
        self.reads.fail_all(ProposeError::Stopped);
    }
}

fn conf_change_error(e: &Entry, err: protobuf::ProtobufError) -> RaftError {
    RaftError::ConfChange {
        index: e.index,
        reason: err.to_string(),
    }
}

/// A sync job run once, by whichever asks first: the state machine when it is ready to
/// publish, or the node afterwards if the state machine never asked.
struct OnceSync {
    job: Option<SyncJob<FsFile>>,
    result: Option<Result<SyncTicket, WalError>>,
}

impl OnceSync {
    fn new(job: SyncJob<FsFile>) -> OnceSync {
        OnceSync {
            job: Some(job),
            result: None,
        }
    }

    /// Runs the job if it has not run; whether it succeeded.
    fn run(&mut self) -> bool {
        if let Some(job) = self.job.take() {
            self.result = Some(job.run());
        }
        matches!(self.result, Some(Ok(_)))
    }

    fn finish(mut self) -> Result<SyncTicket, WalError> {
        self.run();
        // `run` has always left a result; the error only keeps this free of a panic path.
        self.result.take().unwrap_or(Err(WalError::SyncInFlight))
    }
}
