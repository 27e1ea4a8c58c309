//! The raft core end to end on real glommio executors: the node on one executor (the raft
//! core), clients on another (the cross-core path), a WAL in a temp dir, and an in-memory
//! state machine that records every entry it applies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder};
use raft::eraftpb::Entry;
use ringkv::raft::{
    ProposeError, RaftConfig, RaftError, RaftHandle, RaftNode, RaftRole, SnapshotJob, StateMachine,
    channel,
};

const ID: u64 = 0xb5179d13d0285315;
const WAIT: Duration = Duration::from_secs(10);

/// What the test state machine has applied: (index, data) of every non-empty entry, and the
/// applied index it "persisted" with them (one mutex = one transaction).
#[derive(Default, Debug, Clone, PartialEq)]
struct Applied {
    entries: Vec<(u64, Vec<u8>)>,
    applied_index: u64,
    batches: usize,
}

/// Blocks `apply` on an entry whose data is `gate` until opened, so a test can pile up
/// requests while the raft core is busy (deterministic batching, no timing).
#[derive(Default)]
struct Gate {
    entered: AtomicBool,
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn wait_open(&self) {
        self.entered.store(true, Ordering::SeqCst);
        let open = self.open.lock().unwrap();
        let (open, timeout) = self.cv.wait_timeout_while(open, WAIT, |o| !*o).unwrap();
        assert!(*open && !timeout.timed_out(), "gate never opened");
    }
}

#[derive(Clone, Default)]
struct VecMachine {
    state: Arc<Mutex<Applied>>,
    gate: Arc<Gate>,
    /// Makes snapshots deferred: their off-core half waits for this gate.
    snapshot_gate: Option<Arc<Gate>>,
}

impl StateMachine for VecMachine {
    /// The entry's index.
    type Output = u64;

    fn apply(&mut self, entries: &[Entry]) -> Vec<Option<u64>> {
        if entries.iter().any(|e| e.data.as_ref() == b"gate") {
            self.gate.wait_open();
        }
        let mut state = self.state.lock().unwrap();
        state.batches += 1;
        let mut out = Vec::new();
        for e in entries {
            assert_eq!(
                e.index,
                state.applied_index + 1,
                "applied out of order or twice"
            );
            state.applied_index = e.index;
            if e.data.is_empty() {
                out.push(None);
            } else {
                state.entries.push((e.index, e.data.to_vec()));
                out.push(Some(e.index));
            }
        }
        out
    }

    fn applied_index(&self) -> u64 {
        self.state.lock().unwrap().applied_index
    }

    fn begin_snapshot(&mut self) -> SnapshotJob {
        match self.snapshot_gate.clone() {
            Some(gate) => SnapshotJob::Pending(Box::new(move || {
                gate.wait_open();
                bytes::Bytes::new()
            })),
            None => SnapshotJob::Done(self.snapshot()),
        }
    }
}

fn config(dir: &Path) -> RaftConfig {
    let mut c = RaftConfig::new(ID, vec![ID], dir.join("member/wal"));
    c.heartbeat_interval = Duration::from_millis(10);
    c.wal_segment_size = 64 << 10;
    c.request_timeout = WAIT;
    c
}

/// Snapshots every 16 entries over small segments, keeping two: a few big entries make
/// several snapshots and purges.
fn snapshotting_config(dir: &Path) -> RaftConfig {
    let mut c = config(dir);
    c.wal_segment_size = 8192;
    c.snapshot_count = 16;
    c.max_wals = 2;
    c
}

struct Running {
    handle: RaftHandle<u64>,
    raft_core: ExecutorJoinHandle<Result<(), RaftError>>,
    crash: flume::Sender<()>,
}

/// Starts the node on its own executor. `crash` drops the node mid-flight (no stop, nothing
/// unsynced survives), as a kill would.
fn start(config: RaftConfig, sm: VecMachine) -> Running {
    let (handle, inbox) = channel(&config);
    let (crash, crashed) = flume::bounded::<()>(1);
    let raft_core = LocalExecutorBuilder::default()
        .name("raft-core")
        .spawn(move || async move {
            let node = RaftNode::open(config, sm, inbox)?;
            futures_lite::future::or(node.run(), async {
                let _ = crashed.recv_async().await;
                Ok(())
            })
            .await
        })
        .unwrap();
    Running {
        handle,
        raft_core,
        crash,
    }
}

impl Running {
    fn stop(self) {
        self.handle.stop();
        self.raft_core.join().unwrap().unwrap();
    }

    fn crash(self) {
        self.crash.send(()).unwrap();
        self.raft_core.join().unwrap().unwrap();
    }
}

/// Runs `f` on a second executor: the client core.
fn on_client<T, F, Fut>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    LocalExecutorBuilder::default()
        .name("client-core")
        .spawn(move || async move { f().await })
        .unwrap()
        .join()
        .unwrap()
}

fn propose_all(handle: &RaftHandle<u64>, items: Vec<Vec<u8>>) -> Vec<Result<u64, ProposeError>> {
    let handle = handle.clone();
    on_client(move || async move {
        let mut out = Vec::new();
        for item in items {
            out.push(handle.propose(item).await);
        }
        out
    })
}

fn items(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(|i| format!("put {i}").into_bytes()).collect()
}

fn datas(a: &Applied) -> Vec<Vec<u8>> {
    a.entries.iter().map(|(_, d)| d.clone()).collect()
}

fn wal_dir(dir: &Path) -> PathBuf {
    dir.join("member/wal")
}

fn wal_segments(dir: &Path) -> usize {
    std::fs::read_dir(wal_dir(dir)).unwrap().count()
}

/// ~300 bytes an entry: dozens of 8 KiB segments if nothing is purged.
fn big_entries() -> Vec<Vec<u8>> {
    (0..400u32)
        .map(|i| format!("{i:0>300}").into_bytes())
        .collect()
}

/// Restarts from the snapshot with the same state machine (whose `apply` asserts that no
/// entry comes twice): entries keep flowing, and it holds `before` then three more.
fn restart_and_continue(config: RaftConfig, sm: &VecMachine, before: Vec<Vec<u8>>) {
    let node = start(config, sm.clone());
    assert!(
        propose_all(&node.handle, items(0..3))
            .iter()
            .all(Result::is_ok)
    );
    node.stop();
    let mut expected = before;
    expected.extend(items(0..3));
    assert_eq!(datas(&sm.state.lock().unwrap()), expected);
}

#[test]
fn proposals_from_another_core_get_results_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    let results = propose_all(&node.handle, items(0..50));
    let indexes: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
    let applied = sm.state.lock().unwrap().clone();
    assert_eq!(datas(&applied), items(0..50));
    let status = node.handle.status();
    assert_eq!(status.id, ID);
    assert_eq!(status.leader, ID);
    assert_eq!(status.role, RaftRole::Leader);
    assert!(status.applied >= *indexes.last().unwrap());
    assert!(status.commit >= status.applied);
    node.stop();
}

#[test]
fn restart_after_clean_stop_applies_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    propose_all(&node.handle, items(0..20))
        .into_iter()
        .for_each(|r| assert!(r.is_ok(), "{r:?}"));
    node.stop();
    let before = sm.state.lock().unwrap().clone();

    // Same state machine: nothing is applied again (its apply asserts contiguity).
    let node = start(config(dir.path()), sm.clone());
    let more = propose_all(&node.handle, items(20..25));
    assert!(more.iter().all(Result::is_ok), "{more:?}");
    // A crash this time: the entries since the clean stop's snapshot stay in the WAL.
    node.crash();
    let after = sm.state.lock().unwrap().clone();
    assert_eq!(datas(&after), items(0..25));
    assert_eq!(after.entries[..20], before.entries[..]);

    // A store that lost its writes since the clean stop (not fsynced) replays them from
    // the WAL; what the clean stop checkpointed is not replayed.
    let lagging = VecMachine::default();
    *lagging.state.lock().unwrap() = before.clone();
    let node = start(config(dir.path()), lagging.clone());
    let target = after.applied_index;
    on_client({
        let h = node.handle.clone();
        move || async move { h.wait_applied(target).await.unwrap() }
    });
    node.stop();
    let replayed = lagging.state.lock().unwrap().clone();
    assert_eq!(replayed.entries, after.entries);
}

#[test]
fn crash_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    let acked = propose_all(&node.handle, items(0..30));
    assert!(acked.iter().all(Result::is_ok));
    node.crash();
    let before = sm.state.lock().unwrap().clone();

    // The store kept its state: replay applies nothing twice.
    let node = start(config(dir.path()), sm.clone());
    assert!(propose_all(&node.handle, items(30..31))[0].is_ok());
    node.crash();
    assert_eq!(datas(&sm.state.lock().unwrap()), items(0..31));

    // The store lost everything: replay rebuilds the identical state from the WAL.
    let fresh = VecMachine::default();
    let node = start(config(dir.path()), fresh.clone());
    let target = sm.state.lock().unwrap().applied_index;
    on_client({
        let h = node.handle.clone();
        move || async move { h.wait_applied(target).await.unwrap() }
    });
    node.stop();
    let rebuilt = fresh.state.lock().unwrap().clone();
    assert_eq!(rebuilt.entries, sm.state.lock().unwrap().entries);
    assert_eq!(rebuilt.entries[..30], before.entries[..]);
}

#[test]
fn read_index_is_at_least_the_commit_before_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    propose_all(&node.handle, items(0..10));
    let h = node.handle.clone();
    let (commit_before, reads, applied_after) = on_client(move || async move {
        let commit_before = h.status().commit;
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let h = h.clone();
                glommio::spawn_local(async move { h.read_index().await })
            })
            .collect();
        let mut reads = Vec::new();
        for t in tasks {
            reads.push(t.await);
        }
        (commit_before, reads, h.status().applied)
    });
    for r in reads {
        let index = r.unwrap();
        assert!(index >= commit_before, "{index} < {commit_before}");
        assert!(applied_after >= index);
    }
    node.stop();
}

#[test]
fn concurrent_proposals_share_readies_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    assert!(propose_all(&node.handle, items(0..1))[0].is_ok());
    let h = node.handle.clone();
    let gate = sm.gate.clone();
    const N: usize = 100;
    let (before, results) = on_client(move || async move {
        // The gate entry blocks the raft core inside apply ...
        let gated = glommio::spawn_local({
            let h = h.clone();
            async move { h.propose(b"gate".to_vec()).await }
        });
        while !gate.entered.load(Ordering::SeqCst) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        let before = h.status();
        // ... while N proposals queue up behind it.
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let h = h.clone();
                glommio::spawn_local(async move { h.propose(format!("p{i}").into_bytes()).await })
            })
            .collect();
        while h.queued() < N {
            glommio::yield_if_needed().await;
            glommio::executor().yield_task_queue_now().await;
        }
        gate.open();
        let mut results = vec![gated.await];
        for t in tasks {
            results.push(t.await);
        }
        (before, results)
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let after = node.handle.status();
    let syncs = after.syncs - before.syncs;
    let readies = after.readies - before.readies;
    // The N queued proposals go into one Ready with one sync (plus the gate's own round).
    assert!(syncs <= 3, "{syncs} syncs for {N} proposals");
    assert!(readies <= 4, "{readies} readies for {N} proposals");
    node.stop();
}

#[test]
fn stop_fails_pending_requests_with_server_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    let h = node.handle.clone();
    let gate = sm.gate.clone();
    let results = on_client(move || async move {
        let gated = glommio::spawn_local({
            let h = h.clone();
            async move { h.propose(b"gate".to_vec()).await }
        });
        while !gate.entered.load(Ordering::SeqCst) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        let pending = glommio::spawn_local({
            let h = h.clone();
            async move { h.propose(b"late".to_vec()).await }
        });
        let read = glommio::spawn_local({
            let h = h.clone();
            async move { h.read_index().await.map(|_| 0) }
        });
        while h.queued() < 2 {
            glommio::executor().yield_task_queue_now().await;
        }
        h.stop();
        gate.open();
        let results = vec![pending.await, read.await, gated.await];
        (results, h.propose(b"after".to_vec()).await)
    });
    node.raft_core.join().unwrap().unwrap();
    let (pending, after) = results;
    assert_eq!(pending[0], Err(ProposeError::Stopped));
    assert_eq!(pending[1], Err(ProposeError::Stopped));
    assert!(
        pending[2].is_ok(),
        "the gate entry was applied: {:?}",
        pending[2]
    );
    assert_eq!(after, Err(ProposeError::Stopped));
    assert_eq!(
        ProposeError::Stopped.to_string(),
        "etcdserver: server stopped"
    );
}

#[test]
fn snapshots_purge_the_wal_and_restart_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = snapshotting_config(dir.path());
    let sm = VecMachine::default();
    let node = start(c.clone(), sm.clone());
    let big = big_entries();
    assert!(
        propose_all(&node.handle, big.clone())
            .iter()
            .all(Result::is_ok)
    );
    node.stop();
    let segments = wal_segments(dir.path());
    assert!(segments <= 4, "{segments} WAL segments left after purging");

    restart_and_continue(c, &sm, big);
}

/// A state machine whose snapshot finishes off the raft core (the server's store checkpoint):
/// entries keep being applied while it waits, the WAL keeps every entry until it is done (no
/// marker, no purge), and a clean stop waits for it.
#[test]
fn a_deferred_snapshot_lets_entries_apply_and_purges_only_once_done() {
    let dir = tempfile::tempdir().unwrap();
    let c = snapshotting_config(dir.path());
    let snapshot_gate = Arc::new(Gate::default());
    let sm = VecMachine {
        snapshot_gate: Some(snapshot_gate.clone()),
        ..VecMachine::default()
    };
    let node = start(c.clone(), sm.clone());
    let big = big_entries();
    assert!(
        propose_all(&node.handle, big.clone())
            .iter()
            .all(Result::is_ok)
    );
    assert!(snapshot_gate.entered.load(Ordering::SeqCst));
    let segments = wal_segments(dir.path());
    assert!(
        segments > 4,
        "only {segments} WAL segments: purged before the snapshot was done"
    );
    snapshot_gate.open();
    node.stop();
    let segments = wal_segments(dir.path());
    assert!(segments <= 4, "{segments} WAL segments left after purging");

    restart_and_continue(c, &sm, big);
}

#[test]
fn concurrent_reads_share_one_read_index_round() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    assert!(propose_all(&node.handle, items(0..1))[0].is_ok());
    let h = node.handle.clone();
    let gate = sm.gate.clone();
    const N: usize = 50;
    let (before, gated_index, reads) = on_client(move || async move {
        let gated = glommio::spawn_local({
            let h = h.clone();
            async move { h.propose(b"gate".to_vec()).await }
        });
        while !gate.entered.load(Ordering::SeqCst) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        let before = h.status();
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let h = h.clone();
                glommio::spawn_local(async move { h.read_index().await })
            })
            .collect();
        while h.queued() < N {
            glommio::executor().yield_task_queue_now().await;
        }
        gate.open();
        let gated_index = gated.await;
        let mut reads = Vec::new();
        for t in tasks {
            reads.push(t.await);
        }
        (before, gated_index, reads)
    });
    let gated_index = gated_index.unwrap();
    for r in &reads {
        // The reads arrived after the gate entry was committed: they must see it.
        assert!(*r.as_ref().unwrap() >= gated_index, "{r:?} < {gated_index}");
    }
    let rounds = node.handle.status().read_rounds - before.read_rounds;
    assert_eq!(rounds, 1, "{N} reads took {rounds} ReadIndex rounds");
    node.stop();
}

#[test]
fn crash_under_load_keeps_every_acknowledged_proposal() {
    use std::sync::atomic::AtomicUsize;
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let client = LocalExecutorBuilder::default()
        .name("client-core")
        .spawn({
            let (h, acked, count) = (node.handle.clone(), acked.clone(), count.clone());
            move || async move {
                // 16 writers: Readys of 8+ entries, whose WAL writes are durable ones.
                let writers: Vec<_> = (0..16)
                    .map(|w| {
                        let (h, acked, count) = (h.clone(), acked.clone(), count.clone());
                        glommio::spawn_local(async move {
                            for i in 0.. {
                                let data = format!("w{w} {i}").into_bytes();
                                match h.propose(data.clone()).await {
                                    Ok(_) => {
                                        acked.lock().unwrap().push(data);
                                        count.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Err(e) => return e,
                                }
                            }
                            unreachable!()
                        })
                    })
                    .collect();
                let mut errors = Vec::new();
                for w in writers {
                    errors.push(w.await);
                }
                errors
            }
        })
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count.load(Ordering::SeqCst) < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "writers made no progress"
        );
        std::thread::yield_now();
    }
    node.crash();
    let errors = client.join().unwrap();
    assert!(
        errors.iter().all(|e| *e == ProposeError::Stopped),
        "{errors:?}"
    );

    // Everything the crashed node applied was durable first, so a store rebuilt from the
    // WAL has it all, in the same order (and perhaps entries that were synced but not yet
    // applied).
    let crashed = sm.state.lock().unwrap().clone();
    let fresh = VecMachine::default();
    let node = start(config(dir.path()), fresh.clone());
    let target = crashed.applied_index;
    on_client({
        let h = node.handle.clone();
        move || async move { h.wait_applied(target).await.unwrap() }
    });
    node.stop();
    let rebuilt = fresh.state.lock().unwrap().clone();
    assert_eq!(
        rebuilt.entries[..crashed.entries.len()],
        crashed.entries[..]
    );
    let rebuilt_data = datas(&rebuilt);
    for data in acked.lock().unwrap().iter() {
        assert!(rebuilt_data.contains(data), "acknowledged {data:?} lost");
    }
}

#[test]
fn reads_right_after_restart_wait_for_the_new_term_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    let node = start(config(dir.path()), sm.clone());
    assert!(
        propose_all(&node.handle, items(0..5))
            .iter()
            .all(Result::is_ok)
    );
    node.stop();
    let before = sm.state.lock().unwrap().applied_index;

    let node = start(config(dir.path()), sm.clone());
    let h = node.handle.clone();
    let index = on_client(move || async move { h.read_index().await }).unwrap();
    // The new leader's empty entry (index before + 1) commits before it serves a read.
    assert!(index > before, "{index} <= {before}");
    node.stop();
}

#[test]
fn unanswered_requests_time_out_with_etcds_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.request_timeout = Duration::from_millis(50);
    let node = start(c, VecMachine::default());
    let h = node.handle.clone();
    let result = on_client(move || async move { h.wait_applied(u64::MAX).await });
    assert_eq!(result, Err(ProposeError::Timeout));
    assert_eq!(
        ProposeError::Timeout.to_string(),
        "etcdserver: request timed out"
    );
    node.stop();
}

#[test]
fn a_store_ahead_of_the_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sm = VecMachine::default();
    sm.state.lock().unwrap().applied_index = 1000;
    let c = config(dir.path());
    let (_handle, inbox) = channel::<u64>(&c);
    match RaftNode::open(c, sm, inbox) {
        Err(RaftError::AppliedOutOfRange { applied, .. }) => assert_eq!(applied, 1000),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a WAL that lacks entries the store applied"),
    }
}
