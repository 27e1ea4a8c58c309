//! The log against a model: a vector of entries plus the last HardState and snapshot marker,
//! replayed with raft's rule (an entry at index i replaces everything from i on). Random
//! appends, conflicts, snapshots, syncs, rotations (tiny segments), purges and reopens must
//! leave the log holding exactly what the model held at the last sync.

use proptest::prelude::*;
use ringkv_wal::{Entry, HardState, Log, MemDir, Options, Recovered, SnapshotMark};

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries starting `back` entries before the next index.
    Append {
        back: u64,
        count: u64,
        len: usize,
        term: u64,
    },
    HardState {
        term: u64,
        commit: u64,
    },
    Snapshot {
        back: u64,
    },
    Sync,
    Purge,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop_oneof![4 => Just(0u64), 1 => 0u64..6], 1u64..6, 0usize..400, 1u64..4)
            .prop_map(|(back, count, len, term)| Op::Append { back, count, len, term }),
        1 => (0u64..10, 0u64..50).prop_map(|(term, commit)| Op::HardState { term, commit }),
        1 => (0u64..8).prop_map(|back| Op::Snapshot { back }),
        3 => Just(Op::Sync),
        1 => Just(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

fn options() -> Options {
    Options {
        segment_size: 8192,
        max_wals: 2,
    }
}

/// The model's own replay, written independently of the log's.
fn model_append(m: &mut Recovered, entries: &[Entry]) {
    if let Some(first) = entries.first() {
        m.entries.retain(|e| e.index < first.index);
    }
    m.entries.extend_from_slice(entries);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = MemDir::new();
        let (mut log, rec) = Log::open(dir.clone(), options()).unwrap();
        prop_assert_eq!(&rec, &Recovered::default());
        let mut model = Recovered::default();
        let mut durable = Recovered::default();
        for op in ops {
            match op {
                Op::Append { back, count, len, term } => {
                    let last = model.last_index();
                    let start = (last + 1).saturating_sub(back).max(model.snapshot.index + 1);
                    let entries: Vec<Entry> = (start..start + count)
                        .map(|index| Entry { index, term, data: vec![(index % 251) as u8; len] })
                        .collect();
                    log.append_entries(&entries).unwrap();
                    model_append(&mut model, &entries);
                }
                Op::HardState { term, commit } => {
                    let hs = HardState { term, vote: term % 3, commit };
                    log.set_hard_state(hs).unwrap();
                    model.hard_state = hs;
                }
                Op::Snapshot { back } => {
                    let index = model.last_index().saturating_sub(back).max(model.snapshot.index);
                    let mark = SnapshotMark { index, term: 1, conf_state: vec![1, 2, 3] };
                    log.save_snapshot(mark.clone()).unwrap();
                    model.entries.retain(|e| e.index > index);
                    model.snapshot = mark;
                }
                Op::Sync => {
                    log.sync().unwrap();
                    durable = model.clone();
                }
                Op::Purge => {
                    log.purge().unwrap();
                    prop_assert!(!log.segment_names().is_empty());
                }
                Op::Reopen => {
                    drop(log);
                    let (reopened, rec) = Log::open(dir.clone(), options()).unwrap();
                    log = reopened;
                    prop_assert_eq!(&rec, &durable);
                    model = durable.clone();
                }
            }
            prop_assert_eq!(log.last_index(), model.last_index());
        }
        log.sync().unwrap();
        log.purge().unwrap();
        drop(log);
        let (_, rec) = Log::open(dir, options()).unwrap();
        prop_assert_eq!(rec, model);
    }
}

#[test]
fn appends_continue_while_a_sync_is_in_flight() {
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    let e = |index| Entry {
        index,
        term: 1,
        data: vec![7; 300],
    };
    log.append_entries(&[e(1), e(2)]).unwrap();
    let job = log.begin_sync().unwrap();
    // Appends (and rotations) while the job is out are buffered for the next job.
    for i in 3..60 {
        log.append_entries(&[e(i)]).unwrap();
    }
    assert!(log.begin_sync().is_err());
    let ticket = job.run().unwrap();
    assert_eq!(ticket.last_index, 2);
    log.finish_sync(ticket);
    let (_, rec) = Log::open(dir.clone(), options()).unwrap();
    assert_eq!(rec.entries.len(), 2);
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    for i in 3..60 {
        log.append_entries(&[e(i)]).unwrap();
    }
    log.sync().unwrap();
    assert!(log.segment_names().len() > 2);
    let (_, rec) = Log::open(dir, options()).unwrap();
    assert_eq!(rec.last_index(), 59);
}

#[test]
fn purge_keeps_max_wals_and_the_snapshot() {
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    for i in 1..200 {
        log.append_entries(&[Entry {
            index: i,
            term: 1,
            data: vec![1; 200],
        }])
        .unwrap();
    }
    log.sync().unwrap();
    let before = log.segment_names().len();
    assert!(before > 4);
    assert_eq!(
        log.purge().unwrap(),
        0,
        "nothing is covered by a snapshot yet"
    );
    log.save_snapshot(SnapshotMark {
        index: 150,
        term: 1,
        conf_state: vec![9],
    })
    .unwrap();
    log.append_entries(&[Entry {
        index: 200,
        term: 1,
        data: vec![1; 200],
    }])
    .unwrap();
    assert_eq!(
        log.purge().unwrap(),
        0,
        "the snapshot marker is not durable yet"
    );
    log.sync().unwrap();
    let removed = log.purge().unwrap();
    assert!(removed > 0);
    assert!(log.segment_names().len() >= 2);
    drop(log);
    let (_, rec) = Log::open(dir, options()).unwrap();
    assert_eq!(rec.snapshot.index, 150);
    assert_eq!(rec.entries.first().map(|e| e.index), Some(151));
    assert_eq!(rec.last_index(), 200);
}

/// Once the active segment is half full the next one is prepared (zero-filled) on a thread
/// under a temporary name; rotation renames it instead of filling a segment on the caller's
/// thread, and a reopen removes a prepared file left behind.
#[test]
fn rotation_renames_the_segment_prepared_in_the_background() {
    use ringkv_wal::SegmentDir as _;
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    let e = |index| Entry {
        index,
        term: 1,
        data: vec![7; 300],
    };
    let tmp_files = |dir: &MemDir| {
        let mut names = dir.list().unwrap();
        names.retain(|n| n.ends_with(".tmp"));
        names
    };
    // 16 records of ~320 bytes: past half of the first 8 KiB segment, short of its end.
    for index in 1..=16 {
        log.append_entries(&[e(index)]).unwrap();
    }
    assert_eq!(log.segment_names().len(), 1);
    // The preparing thread finishes on its own; wait for it, boundedly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tmp_files(&dir).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no segment prepared");
        std::thread::yield_now();
    }
    let mut index = 17;
    let segments = log.segment_names().len();
    while log.segment_names().len() == segments {
        log.append_entries(&[e(index)]).unwrap();
        index += 1;
    }
    assert!(
        tmp_files(&dir).is_empty(),
        "the prepared segment was renamed into place"
    );
    log.sync().unwrap();
    let (_, rec) = Log::open(dir.clone(), options()).unwrap();
    assert_eq!(rec.last_index(), index - 1);
    assert!(
        tmp_files(&dir).is_empty(),
        "reopening clears prepared files"
    );
}

/// Purge keeps one segment back for recycling, a reopen keeps it, and the next rotation
/// writes over it (its header says so) instead of zero-filling a new file.
#[test]
fn a_purged_segment_is_recycled_across_a_reopen() {
    use ringkv_wal::SegmentDir as _;
    let dir = MemDir::new();
    let opts = Options {
        segment_size: 8192,
        max_wals: 1,
    };
    let e = |index| Entry {
        index,
        term: 1,
        data: vec![7; 300],
    };
    let (mut log, _) = Log::open(dir.clone(), opts.clone()).unwrap();
    let mut index = 1;
    while log.segment_names().len() < 3 {
        log.append_entries(&[e(index)]).unwrap();
        index += 1;
    }
    let mark = SnapshotMark {
        index: index - 1,
        term: 1,
        conf_state: vec![],
    };
    log.save_snapshot(mark).unwrap();
    log.sync().unwrap();
    assert!(log.purge().unwrap() > 0);
    let spare = "recycled-segment.wal.tmp";
    assert!(dir.list().unwrap().iter().any(|n| n == spare));
    drop(log);

    let (mut log, _) = Log::open(dir.clone(), opts).unwrap();
    assert!(
        dir.list().unwrap().iter().any(|n| n == spare),
        "kept by reopen"
    );
    let segments = log.segment_names().len();
    while log.segment_names().len() == segments {
        log.append_entries(&[e(index)]).unwrap();
        index += 1;
    }
    log.sync().unwrap();
    assert!(
        !dir.list().unwrap().iter().any(|n| n == spare),
        "taken by rotation"
    );
    let newest = log.segment_names().last().unwrap().clone();
    let seq = ringkv_wal::segment::parse_file_name(&newest).unwrap().0;
    assert!(ringkv_wal::scan::scan(&dir.bytes(&newest).unwrap(), seq).recycled);
}
