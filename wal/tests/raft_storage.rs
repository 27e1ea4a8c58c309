//! raft-rs `Storage` over the WAL: a real single-node `RawNode` on a `MemDir`, reopened, plus
//! the bounds raft-rs relies on.

use bytes::Bytes;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{Config, GetEntriesContext, RawNode, Storage, StorageError};
use ringkv_wal::{MemDir, Options, WalStorage};

fn opts() -> Options {
    Options {
        segment_size: 8192,
        max_wals: 1,
    }
}

fn voters(ids: &[u64]) -> ConfState {
    ConfState {
        voters: ids.to_vec(),
        ..Default::default()
    }
}

fn entry(index: u64, term: u64, data: &str) -> Entry {
    Entry {
        index,
        term,
        data: Bytes::copy_from_slice(data.as_bytes()),
        ..Default::default()
    }
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

fn store_err<T: std::fmt::Debug>(r: raft::Result<T>) -> StorageError {
    match r {
        Err(raft::Error::Store(e)) => e,
        other => panic!("expected a storage error, got {other:?}"),
    }
}

/// Persists and applies every Ready until there is none; returns committed entries seen.
fn drive(node: &mut RawNode<WalStorage<MemDir>>, applied: &mut Vec<Entry>) {
    while node.has_ready() {
        let mut rd = node.ready();
        let store = node.mut_store();
        if !rd.snapshot().is_empty() {
            store.apply_snapshot(rd.snapshot()).unwrap();
        }
        store.append(rd.entries()).unwrap();
        if let Some(hs) = rd.hs() {
            store.set_hard_state(hs).unwrap();
        }
        store.sync().unwrap();
        let committed = rd.take_committed_entries();
        apply(node, committed, applied);
        let mut light = node.advance(rd);
        if let Some(commit) = light.commit_index() {
            node.mut_store().set_commit(commit).unwrap();
            node.mut_store().sync().unwrap();
        }
        let committed = light.take_committed_entries();
        apply(node, committed, applied);
        node.advance_apply();
    }
}

fn apply(node: &mut RawNode<WalStorage<MemDir>>, entries: Vec<Entry>, applied: &mut Vec<Entry>) {
    for e in entries {
        if e.get_entry_type() == EntryType::EntryConfChange {
            let mut cc = ConfChange::default();
            protobuf::Message::merge_from_bytes(&mut cc, &e.data).unwrap();
            node.apply_conf_change(&cc).unwrap();
        }
        applied.push(e);
    }
}

#[test]
fn single_node_raw_node_survives_reopen() {
    let dir = MemDir::new();
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let mut store = WalStorage::open(dir.clone(), opts()).unwrap();
    store.initialize_with_conf_state(voters(&[1])).unwrap();
    store.sync().unwrap();
    let cfg = Config {
        id: 1,
        election_tick: 10,
        heartbeat_tick: 1,
        ..Default::default()
    };
    let mut node = RawNode::new(&cfg, store, &logger).unwrap();
    let mut applied = Vec::new();
    node.campaign().unwrap();
    drive(&mut node, &mut applied);
    assert_eq!(node.raft.state, raft::StateRole::Leader);
    // Enough payload to rotate through several 8 KiB segments.
    for i in 0..40 {
        node.propose(vec![], format!("put {i} {}", "x".repeat(300)).into_bytes())
            .unwrap();
        drive(&mut node, &mut applied);
    }
    let mut cc = ConfChange::default();
    cc.set_change_type(ConfChangeType::AddLearnerNode);
    cc.node_id = 2;
    node.propose_conf_change(b"ctx".to_vec(), cc).unwrap();
    drive(&mut node, &mut applied);

    let store = node.store();
    let last = store.last_index().unwrap();
    let first = store.first_index().unwrap();
    assert_eq!(first, 1);
    // 1 empty leader entry + 40 proposals + 1 conf change.
    assert_eq!(last, 42);
    assert_eq!(applied.len(), 42);
    let before = store.entries(first, last + 1, None, ctx()).unwrap();
    assert_eq!(before, applied);
    let cc_entry = before.last().unwrap();
    assert_eq!(cc_entry.get_entry_type(), EntryType::EntryConfChange);
    assert_eq!(&cc_entry.context[..], b"ctx");
    let state = store.initial_state().unwrap();
    assert_eq!(state.hard_state.commit, 42);
    assert_eq!(state.hard_state.vote, 1);
    assert!(store.log().segment_names().len() > 1);

    let reopened = WalStorage::open(dir, opts()).unwrap();
    let again = reopened.initial_state().unwrap();
    assert_eq!(again.hard_state, state.hard_state);
    assert_eq!(again.conf_state, voters(&[1]));
    assert_eq!(reopened.first_index().unwrap(), first);
    assert_eq!(reopened.last_index().unwrap(), last);
    assert_eq!(
        reopened.entries(first, last + 1, None, ctx()).unwrap(),
        before
    );
    for e in &before {
        assert_eq!(reopened.term(e.index).unwrap(), e.term);
    }
    assert_eq!(reopened.term(0).unwrap(), 0);

    // A node restarted on it stays leader-capable and keeps the log.
    // Raft re-delivers the committed entries (the conf change among them) before it lets
    // the node campaign.
    let mut node = RawNode::new(&cfg, reopened, &logger).unwrap();
    let mut applied = Vec::new();
    drive(&mut node, &mut applied);
    assert_eq!(applied, before);
    node.campaign().unwrap();
    drive(&mut node, &mut applied);
    assert_eq!(node.raft.state, raft::StateRole::Leader);
    assert_eq!(node.store().last_index().unwrap(), last + 1);
    assert_eq!(
        node.store().initial_state().unwrap().hard_state.term,
        state.hard_state.term + 1
    );
}

fn store_with(entries: &[Entry]) -> (MemDir, WalStorage<MemDir>) {
    let dir = MemDir::new();
    let mut s = WalStorage::open(dir.clone(), opts()).unwrap();
    s.append(entries).unwrap();
    s.sync().unwrap();
    (dir, s)
}

#[test]
fn term_and_entries_bounds() {
    let (_dir, mut s) = store_with(&[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c")]);
    assert_eq!(s.first_index().unwrap(), 1);
    assert_eq!(s.last_index().unwrap(), 3);
    assert_eq!(s.term(0).unwrap(), 0);
    assert_eq!(s.term(3).unwrap(), 2);
    assert_eq!(store_err(s.term(4)), StorageError::Unavailable);
    assert_eq!(
        store_err(s.entries(2, 5, None, ctx())),
        StorageError::Unavailable
    );
    assert!(s.entries(4, 4, None, ctx()).unwrap().is_empty());
    assert_eq!(s.entries(2, 4, None, ctx()).unwrap().len(), 2);
    // max_size cuts, but never to nothing.
    assert_eq!(s.entries(1, 4, 0, ctx()).unwrap().len(), 1);

    s.create_snapshot(2, voters(&[1]), Bytes::from_static(b"state"))
        .unwrap();
    s.sync().unwrap();
    assert_eq!(s.first_index().unwrap(), 3);
    assert_eq!(s.term(2).unwrap(), 1);
    assert_eq!(store_err(s.term(1)), StorageError::Compacted);
    assert_eq!(
        store_err(s.entries(2, 4, None, ctx())),
        StorageError::Compacted
    );
    assert_eq!(
        s.entries(3, 4, None, ctx()).unwrap(),
        vec![entry(3, 2, "c")]
    );
    let snap = s.snapshot(2, 2).unwrap();
    assert_eq!(snap.get_metadata().index, 2);
    assert_eq!(snap.get_metadata().term, 1);
    assert_eq!(&snap.data[..], b"state");
    assert_eq!(
        store_err(s.snapshot(3, 2)),
        StorageError::SnapshotTemporarilyUnavailable
    );
    // Beyond the log: refused, nothing written.
    assert!(s.create_snapshot(9, voters(&[1]), Bytes::new()).is_err());
}

#[test]
fn snapshot_survives_reopen_without_data() {
    let (dir, mut s) = store_with(&[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c")]);
    s.create_snapshot(2, voters(&[1, 2]), Bytes::from_static(b"state"))
        .unwrap();
    s.sync().unwrap();
    let r = WalStorage::open(dir, opts()).unwrap();
    assert_eq!(r.first_index().unwrap(), 3);
    assert_eq!(r.last_index().unwrap(), 3);
    assert_eq!(r.term(2).unwrap(), 1);
    assert_eq!(r.initial_state().unwrap().conf_state, voters(&[1, 2]));
    // The data lives with the state machine; until handed over, raft must wait.
    assert_eq!(
        store_err(r.snapshot(0, 2)),
        StorageError::SnapshotTemporarilyUnavailable
    );
}

#[test]
fn applied_snapshot_from_leader() {
    let (dir, mut s) = store_with(&[entry(1, 1, "a")]);
    let mut snap = Snapshot {
        data: Bytes::from_static(b"leader state"),
        ..Default::default()
    };
    let meta = snap.mut_metadata();
    meta.index = 10;
    meta.term = 3;
    meta.set_conf_state(voters(&[1, 2, 3]));
    s.apply_snapshot(&snap).unwrap();
    s.append(&[entry(11, 3, "k")]).unwrap();
    s.sync().unwrap();
    assert_eq!(s.first_index().unwrap(), 11);
    assert_eq!(s.last_index().unwrap(), 11);
    assert_eq!(s.snapshot(10, 1).unwrap(), snap);
    let r = WalStorage::open(dir, opts()).unwrap();
    assert_eq!(r.first_index().unwrap(), 11);
    assert_eq!(r.term(10).unwrap(), 3);
    assert_eq!(r.term(11).unwrap(), 3);
    assert_eq!(r.initial_state().unwrap().conf_state, voters(&[1, 2, 3]));
}

/// A leader's snapshot inside a log that disagrees with it (another term at its index)
/// drops every later entry, durably; one that agrees keeps them (raft's InstallSnapshot).
#[test]
fn a_disagreeing_log_is_dropped_after_an_installed_snapshot() {
    let stale = [
        entry(1, 1, "a"),
        entry(2, 1, "b"),
        entry(3, 1, "c"),
        entry(4, 1, "d"),
    ];
    let install = |s: &mut WalStorage<MemDir>, index: u64, term: u64| {
        let mut snap = Snapshot::default();
        snap.mut_metadata().index = index;
        snap.mut_metadata().term = term;
        snap.mut_metadata().set_conf_state(voters(&[1, 2, 3]));
        s.apply_snapshot(&snap).unwrap();
        s.sync().unwrap();
    };

    let (dir, mut s) = store_with(&stale);
    install(&mut s, 2, 5);
    assert_eq!(s.last_index().unwrap(), 2);
    let r = WalStorage::open(dir.clone(), opts()).unwrap();
    assert_eq!((r.first_index().unwrap(), r.last_index().unwrap()), (3, 2));
    // The leader's entries then follow the snapshot as usual.
    let mut r = r;
    r.append(&[entry(3, 5, "new")]).unwrap();
    r.sync().unwrap();
    let r = WalStorage::open(dir, opts()).unwrap();
    assert_eq!(
        r.entries(3, 4, None, ctx()).unwrap(),
        vec![entry(3, 5, "new")]
    );

    let (dir, mut s) = store_with(&stale);
    install(&mut s, 2, 1);
    let r = WalStorage::open(dir, opts()).unwrap();
    assert_eq!(
        r.last_index().unwrap(),
        4,
        "an agreeing log keeps its later entries"
    );
}

#[test]
fn conflict_truncates_in_memory_and_on_reopen() {
    let (dir, mut s) = store_with(&[
        entry(1, 1, "a"),
        entry(2, 1, "b"),
        entry(3, 1, "c"),
        entry(4, 1, "d"),
    ]);
    s.append(&[entry(3, 2, "C"), entry(4, 2, "D"), entry(5, 2, "E")])
        .unwrap();
    s.sync().unwrap();
    s.append(&[entry(4, 3, "x")]).unwrap();
    s.sync().unwrap();
    let want = vec![
        entry(1, 1, "a"),
        entry(2, 1, "b"),
        entry(3, 2, "C"),
        entry(4, 3, "x"),
    ];
    assert_eq!(s.last_index().unwrap(), 4);
    assert_eq!(s.entries(1, 5, None, ctx()).unwrap(), want);
    assert_eq!(store_err(s.term(5)), StorageError::Unavailable);
    // A gap is refused without touching the cache.
    assert!(s.append(&[entry(7, 3, "gap")]).is_err());
    assert_eq!(s.last_index().unwrap(), 4);
    let r = WalStorage::open(dir, opts()).unwrap();
    assert_eq!(r.last_index().unwrap(), 4);
    assert_eq!(r.entries(1, 5, None, ctx()).unwrap(), want);
    let hs = HardState {
        term: 3,
        vote: 1,
        commit: 2,
        ..Default::default()
    };
    let mut s = r;
    s.set_hard_state(&hs).unwrap();
    assert!(s.initialize_with_conf_state(voters(&[1])).is_err());
}
