//! The MVCC keyspace against etcd's rules (ETCD-CONTRACT.md §1.3, etcd's
//! server/storage/mvcc): revisions, versions, ranges, tombstones, compaction, history, hashes,
//! side tables and the consistent index.

use ringkv_store::mvcc::{
    Event, EventKind, KeyValue, MAX_USER_KEY_LEN, Mvcc, MvccError, RangeOptions, Side,
};

fn open() -> (tempfile::TempDir, Mvcc) {
    let dir = tempfile::tempdir().unwrap();
    let m = Mvcc::open(dir.path().join("db")).unwrap();
    (dir, m)
}

fn put(m: &Mvcc, k: &str, v: &str) -> i64 {
    let mut w = m.write().unwrap();
    w.put(k.as_bytes(), v.as_bytes(), 0).unwrap();
    w.commit(false).unwrap().revision
}

fn del(m: &Mvcc, k: &str, end: &str) -> (i64, i64) {
    let mut w = m.write().unwrap();
    let n = w.delete_range(k.as_bytes(), end.as_bytes()).unwrap();
    (n, w.commit(false).unwrap().revision)
}

fn get(m: &Mvcc, k: &str, rev: i64) -> Option<KeyValue> {
    let r = m
        .read()
        .range(
            k.as_bytes(),
            b"",
            RangeOptions {
                revision: rev,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(r.kvs.len() <= 1);
    r.kvs.into_iter().next()
}

fn keys(m: &Mvcc, k: &[u8], end: &[u8], opts: RangeOptions) -> (Vec<Vec<u8>>, i64) {
    let r = m.read().range(k, end, opts).unwrap();
    (r.kvs.into_iter().map(|kv| kv.key).collect(), r.count)
}

fn compact_fully(m: &Mvcc, rev: i64) {
    let mut w = m.write().unwrap();
    w.compact(rev).unwrap();
    w.commit(false).unwrap();
    while !m.compact_step(3).unwrap() {}
}

#[test]
fn fresh_store_is_at_revision_one_and_first_put_is_two() {
    let (_d, m) = open();
    assert_eq!(m.read().revision(), 1);
    assert_eq!(m.read().compact_revision(), 0);
    assert_eq!(put(&m, "a", "1"), 2);
    let kv = get(&m, "a", 0).unwrap();
    assert_eq!(
        kv,
        KeyValue {
            key: b"a".to_vec(),
            value: b"1".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            lease: 0
        }
    );
}

#[test]
fn one_write_is_one_revision_with_sub_revisions() {
    let (_d, m) = open();
    let mut w = m.write().unwrap();
    assert_eq!(w.revision(), 1);
    w.put(b"a", b"1", 0).unwrap();
    assert_eq!(w.revision(), 2);
    w.put(b"b", b"2", 7).unwrap();
    w.put(b"a", b"3", 0).unwrap();
    // Reads inside the write see its own writes.
    let r = w.range(b"a", b"", RangeOptions::default()).unwrap();
    assert_eq!(r.kvs[0].value, b"3");
    assert_eq!(r.kvs[0].version, 2);
    assert_eq!(r.revision, 2);
    let c = w.commit(false).unwrap();
    assert_eq!(c.revision, 2);
    assert_eq!(c.events.len(), 3);
    assert!(c.events.iter().all(|e| e.kv.mod_revision == 2));
    assert_eq!(m.read().revision(), 2);
    let b = get(&m, "b", 0).unwrap();
    assert_eq!(b.lease, 7);
}

#[test]
fn requests_in_one_write_take_one_revision_each() {
    let (_d, m) = open();
    let mut w = m.write().unwrap();
    w.put(b"a", b"1", 0).unwrap();
    w.put(b"b", b"1", 0).unwrap();
    w.end_request();
    w.end_request(); // a request without changes takes no revision
    w.put(b"a", b"2", 0).unwrap();
    assert_eq!(w.revision(), 3);
    let a = w.range(b"a", b"", RangeOptions::default()).unwrap();
    assert_eq!(a.kvs[0].version, 2, "later requests see earlier ones");
    w.end_request();
    let c = w.commit(false).unwrap();
    assert_eq!(c.revision, 3);
    let revs: Vec<i64> = c.events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, [2, 2, 3]);
    assert_eq!(m.read().revision(), 3);
    assert_eq!(get(&m, "b", 2).unwrap().mod_revision, 2);
}

#[test]
fn writes_without_changes_do_not_bump() {
    let (_d, m) = open();
    put(&m, "a", "1");
    assert_eq!(del(&m, "zzz", ""), (0, 2));
    let w = m.write().unwrap();
    assert_eq!(w.commit(false).unwrap().revision, 2);
    let mut w = m.write().unwrap();
    w.side_put(Side::Lease, b"1", b"x").unwrap();
    w.set_consistent_index(5, 1);
    assert_eq!(w.commit(false).unwrap().revision, 2);
    assert_eq!(m.read().revision(), 2);
    assert_eq!(m.read().consistent_index(), (5, 1));
    // Same value again still bumps revision and version, as etcd.
    assert_eq!(put(&m, "a", "1"), 3);
    assert_eq!(get(&m, "a", 0).unwrap().version, 2);
}

#[test]
fn versions_and_generations() {
    let (_d, m) = open();
    put(&m, "k", "1"); // 2
    put(&m, "k", "2"); // 3
    let kv = get(&m, "k", 0).unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    assert_eq!(del(&m, "k", ""), (1, 4));
    assert_eq!(get(&m, "k", 0), None);
    assert_eq!(
        del(&m, "k", ""),
        (0, 4),
        "deleting a missing key is no change"
    );
    put(&m, "k", "3"); // 5
    let kv = get(&m, "k", 0).unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    // History stays readable.
    assert_eq!(get(&m, "k", 3).unwrap().value, b"2");
    assert_eq!(get(&m, "k", 4), None);
    assert_eq!(get(&m, "k", 2).unwrap().value, b"1");
    assert_eq!(get(&m, "k", 1), None);
}

#[test]
fn range_end_rules_count_and_limit() {
    let (_d, m) = open();
    for k in ["a", "a\0", "a\0b", "ab", "b", "b\u{7f}", "c"] {
        put(&m, k, "v");
    }
    let all = RangeOptions::default();
    let (k, n) = keys(&m, b"a", b"", all);
    assert_eq!((k, n), (vec![b"a".to_vec()], 1));
    let (k, _) = keys(&m, b"a", b"b", all);
    assert_eq!(
        k,
        vec![
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"a\0b".to_vec(),
            b"ab".to_vec()
        ]
    );
    let (k, _) = keys(&m, b"b", b"\0", all);
    assert_eq!(k, vec![b"b".to_vec(), b"b\x7f".to_vec(), b"c".to_vec()]);
    let (k, n) = keys(&m, b"\0", b"\0", all);
    assert_eq!((k.len(), n), (7, 7));
    assert_eq!(
        keys(&m, b"c", b"a", all),
        (vec![], 0),
        "key >= range_end is empty"
    );
    let lim = RangeOptions { limit: 2, ..all };
    let (k, n) = keys(&m, b"\0", b"\0", lim);
    assert_eq!((k.len(), n), (2, 7));
    let co = RangeOptions {
        count_only: true,
        ..all
    };
    assert_eq!(keys(&m, b"a", b"c", co), (vec![], 6));
}

#[test]
fn range_revision_rules() {
    let (_d, m) = open();
    for i in 0..5 {
        put(&m, "k", &i.to_string()); // 2..=6
    }
    let at = |rev| {
        m.read().range(
            b"k",
            b"",
            RangeOptions {
                revision: rev,
                ..Default::default()
            },
        )
    };
    assert!(matches!(at(7), Err(MvccError::FutureRevision)));
    let r = at(4).unwrap();
    assert_eq!(r.kvs[0].value, b"2");
    assert_eq!(r.revision, 6, "the result carries the current revision");
    compact_fully(&m, 4);
    assert!(matches!(at(3), Err(MvccError::Compacted)));
    assert_eq!(
        at(4).unwrap().kvs[0].value,
        b"2",
        "reading at the compact revision"
    );
    assert_eq!(at(5).unwrap().kvs[0].value, b"3");
}

#[test]
fn compaction_errors_as_etcd() {
    let (_d, m) = open();
    put(&m, "a", "1");
    put(&m, "a", "2"); // 3
    let mut w = m.write().unwrap();
    assert!(matches!(w.compact(4), Err(MvccError::FutureRevision)));
    w.compact(2).unwrap();
    assert!(matches!(w.compact(2), Err(MvccError::Compacted)));
    assert_eq!(w.compact_revision(), 2);
    let c = w.commit(false).unwrap();
    assert_eq!(c.revision, 3, "compaction does not bump the revision");
    let mut w = m.write().unwrap();
    assert!(matches!(w.compact(1), Err(MvccError::Compacted)));
    drop(w);
    assert_eq!(m.read().compact_revision(), 2);
}

#[test]
fn physical_compaction_keeps_newest_at_or_below_and_drops_tombstones() {
    let (_d, m) = open();
    put(&m, "a", "1"); // 2
    put(&m, "a", "2"); // 3
    put(&m, "b", "1"); // 4
    del(&m, "b", ""); // 5
    put(&m, "c", "1"); // 6
    put(&m, "a", "3"); // 7
    let before = m.read().hash_kv(0).unwrap();
    compact_fully(&m, 6);
    let r = m.read();
    assert!(r.compaction_done());
    // a@3 kept (newest <= 6), a@2 gone; b's tombstone at 5 and its put gone; c kept.
    assert_eq!(get(&m, "a", 6).unwrap().value, b"2");
    assert_eq!(get(&m, "a", 0).unwrap().value, b"3");
    assert_eq!(get(&m, "b", 6), None);
    assert_eq!(get(&m, "c", 6).unwrap().value, b"1");
    let hist = r.events(5, 7, b"\0", b"\0").unwrap();
    let revs: Vec<_> = hist
        .iter()
        .map(|e| (e.kv.key.clone(), e.kv.mod_revision))
        .collect();
    assert_eq!(revs, vec![(b"c".to_vec(), 6), (b"a".to_vec(), 7)]);
    assert!(matches!(
        r.events(4, 7, b"\0", b"\0"),
        Err(MvccError::Compacted)
    ));
    // Only a@3, c@6 and a@7 remain in the keyspace's history.
    let hk = r.hash_kv(0).unwrap();
    assert_eq!(hk.compact_revision, 6);
    assert_ne!(hk.hash, before.hash);
    // Next compaction drops the version an earlier one kept.
    put(&m, "c", "2"); // 8
    compact_fully(&m, 8);
    assert_eq!(get(&m, "c", 8).unwrap().value, b"2");
    assert_eq!(get(&m, "a", 8).unwrap().value, b"3");
    let r = m.read();
    assert_eq!(r.events(7, 8, b"\0", b"\0").unwrap().len(), 1);
    m.db().check().unwrap();
}

#[test]
fn events_in_revision_order_with_etcd_tombstones() {
    let (_d, m) = open();
    let mut w = m.write().unwrap();
    w.put(b"b", b"1", 3).unwrap();
    w.put(b"a", b"1", 0).unwrap();
    let c = w.commit(false).unwrap();
    let mut w = m.write().unwrap();
    w.delete_range(b"a", b"c").unwrap();
    let d = w.commit(false).unwrap();
    let ev = m.read().events(1, 100, b"\0", b"\0").unwrap();
    assert_eq!(ev.len(), 4);
    assert_eq!(&ev[..2], &c.events[..]);
    assert_eq!(&ev[2..], &d.events[..]);
    assert_eq!(ev[0].kv.key, b"b");
    assert_eq!(ev[0].kv.lease, 3);
    assert_eq!(
        ev[2],
        Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: b"a".to_vec(),
                mod_revision: 3,
                ..Default::default()
            }
        }
    );
    let only_b = m.read().events(0, 3, b"b", b"").unwrap();
    assert_eq!(only_b.len(), 2);
    assert!(m.read().events(2, 2, b"\0", b"\0").unwrap().is_empty());
}

#[test]
fn hash_kv_is_deterministic_and_bounded_by_revision() {
    let build = || {
        let (d, m) = open();
        put(&m, "a", "1");
        put(&m, "b", "1");
        del(&m, "a", "");
        (d, m)
    };
    let (_d1, m1) = build();
    let (_d2, m2) = build();
    assert_eq!(m1.read().hash_kv(0).unwrap(), m2.read().hash_kv(0).unwrap());
    assert_eq!(m1.read().hash().unwrap(), m2.read().hash().unwrap());
    let at3 = m1.read().hash_kv(3).unwrap();
    assert_eq!(at3.hash_revision, 3);
    put(&m1, "c", "1");
    assert_eq!(m1.read().hash_kv(3).unwrap(), at3);
    assert_ne!(m1.read().hash_kv(0).unwrap().hash, at3.hash);
    assert!(matches!(
        m1.read().hash_kv(99),
        Err(MvccError::FutureRevision)
    ));
    // HashKV above the compact revision does not depend on physical progress.
    let mut w = m1.write().unwrap();
    w.compact(3).unwrap();
    w.commit(false).unwrap();
    let logical = m1.read().hash_kv(0).unwrap();
    while !m1.compact_step(1).unwrap() {}
    assert_eq!(m1.read().hash_kv(0).unwrap(), logical);
    assert!(matches!(m1.read().hash_kv(2), Err(MvccError::Compacted)));
}

#[test]
fn side_tables_and_consistent_index_commit_with_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let m = Mvcc::open(&path).unwrap();
        let mut w = m.write().unwrap();
        w.put(b"k", b"v", 9).unwrap();
        w.side_put(Side::Lease, b"9", b"ttl").unwrap();
        w.side_put(Side::Member, b"1", b"m").unwrap();
        w.side_put(Side::Lease, b"8", b"ttl8").unwrap();
        w.set_consistent_index(10, 2);
        w.commit(true).unwrap();
        // An aborted write leaves nothing behind.
        let mut w = m.write().unwrap();
        w.put(b"x", b"v", 0).unwrap();
        w.side_put(Side::Alarm, b"a", b"b").unwrap();
        w.set_consistent_index(11, 2);
        drop(w);
        let mut w = m.write().unwrap();
        assert!(w.side_delete(Side::Member, b"1").unwrap());
        assert!(!w.side_delete(Side::Member, b"1").unwrap());
        w.commit(false).unwrap();
        m.checkpoint().unwrap();
    }
    let m = Mvcc::open(&path).unwrap();
    let r = m.read();
    assert_eq!(r.revision(), 2);
    assert_eq!(r.consistent_index(), (10, 2));
    assert_eq!(
        r.side_get(Side::Lease, b"9").unwrap(),
        Some(b"ttl".to_vec())
    );
    assert_eq!(r.side_get(Side::Member, b"1").unwrap(), None);
    assert_eq!(r.side_get(Side::Alarm, b"a").unwrap(), None);
    assert_eq!(
        r.side_scan(Side::Lease).unwrap(),
        vec![
            (b"8".to_vec(), b"ttl8".to_vec()),
            (b"9".to_vec(), b"ttl".to_vec())
        ]
    );
    assert!(r.side_scan(Side::AuthUser).unwrap().is_empty());
}

#[test]
fn oversized_keys_get_a_clear_error_and_change_nothing() {
    let (_d, m) = open();
    let mut w = m.write().unwrap();
    // Long keys are fine (etcd allows keys up to its request size); only the store's
    // 256 MiB bound refuses one.
    let long = vec![b'k'; 100 << 10];
    w.put(&long, b"v", 0).unwrap();
    let over = vec![b'k'; MAX_USER_KEY_LEN + 1];
    assert!(matches!(
        w.put(&over, b"v", 0),
        Err(MvccError::KeyTooLarge { .. })
    ));
    drop(over);
    // Each 0x00 costs one more byte once escaped: half the index's key limit (less the
    // terminator and revision) is too long.
    let zeros = vec![0u8; (ringkv_store::MAX_KEY_LEN - 18) / 2 + 1];
    assert!(matches!(
        w.put(&zeros, b"v", 0),
        Err(MvccError::KeyTooLarge { .. })
    ));
    drop(zeros);
    assert_eq!(w.commit(false).unwrap().revision, 2);
    let r = m.read().range(&long, b"", RangeOptions::default()).unwrap();
    assert_eq!(r.kvs.len(), 1);
    assert_eq!((r.kvs[0].key.len(), r.kvs[0].version), (100 << 10, 1));
}

/// Keys of a few bytes to 100 KiB, many sharing long prefixes, each with several versions
/// (in the `index` table those differ only in their trailing revision), some attached to a
/// lease: ranges, deletes, compaction and a reopen see them all, and the file checks.
#[test]
fn long_keys_with_versions_leases_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let shared = vec![b'p'; 30 << 10];
    let key = |i: usize| -> Vec<u8> {
        let mut k = if i.is_multiple_of(3) {
            Vec::new()
        } else {
            shared.clone()
        };
        k.extend_from_slice(format!("/{i:03}/").as_bytes());
        k.resize(k.len() + (i * 7919) % (100 << 10), b'x');
        k
    };
    let n: usize = 40;
    let m = Mvcc::open(&path).unwrap();
    for round in 0..3 {
        let mut w = m.write().unwrap();
        for i in 0..n {
            let lease = if i.is_multiple_of(4) { 7 } else { 0 };
            w.put(&key(i), format!("v{round}").as_bytes(), lease)
                .unwrap();
            w.end_request();
        }
        w.commit(false).unwrap();
    }
    let all = |m: &Mvcc| keys(m, b"\0", b"\0", RangeOptions::default());
    let mut want: Vec<Vec<u8>> = (0..n).map(key).collect();
    want.sort();
    assert_eq!(all(&m), (want.clone(), n as i64));
    // A prefix range over the long shared prefix.
    let mut end = shared.clone();
    end.push(b'/' + 1);
    let (got, count) = keys(&m, &shared, &end, RangeOptions::default());
    assert_eq!(count as usize, (0..n).filter(|i| i % 3 != 0).count());
    assert!(got.iter().all(|k| k.starts_with(&shared)));
    // An old version of a long key.
    let first = key(1);
    let old = m
        .read()
        .range(
            &first,
            b"",
            RangeOptions {
                revision: 2 + n as i64,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(old.kvs[0].value, b"v0");
    let attached: Vec<Vec<u8>> = (0..n).filter(|i| i.is_multiple_of(4)).map(key).collect();
    let mut leased = m.read().lease_keys(7).unwrap();
    leased.sort();
    let mut want_leased = attached.clone();
    want_leased.sort();
    assert_eq!(leased, want_leased);
    // Delete the long-prefix keys, compact everything away, reopen.
    let mut w = m.write().unwrap();
    let deleted = w.delete_range(&shared, &end).unwrap();
    assert_eq!(deleted as usize, (0..n).filter(|i| i % 3 != 0).count());
    let rev = w.commit(false).unwrap().revision;
    compact_fully(&m, rev);
    m.checkpoint().unwrap();
    let report = m.db().check().unwrap();
    assert!(report.tree.multi_page_nodes > 0);
    drop(m);
    let m = Mvcc::open(&path).unwrap();
    let left: Vec<Vec<u8>> = want
        .into_iter()
        .filter(|k| !k.starts_with(&shared))
        .collect();
    assert_eq!(all(&m), (left.clone(), left.len() as i64));
    let mut leased = m.read().lease_keys(7).unwrap();
    leased.sort();
    let want_leased: Vec<Vec<u8>> = {
        let mut v: Vec<Vec<u8>> = attached
            .into_iter()
            .filter(|k| !k.starts_with(&shared))
            .collect();
        v.sort();
        v
    };
    assert_eq!(leased, want_leased);
    m.db().check().unwrap();
}

#[test]
fn large_values_round_trip() {
    let (_d, m) = open();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    let mut w = m.write().unwrap();
    w.put(b"big", &big, 0).unwrap();
    w.commit(false).unwrap();
    assert_eq!(get(&m, "big", 0).unwrap().value, big);
}

#[test]
fn sizes_are_reported() {
    let (_d, m) = open();
    let empty = m.db_size();
    assert!(empty >= 2 * 4096);
    for i in 0..200 {
        put(&m, &format!("key{i}"), &"v".repeat(200));
    }
    m.checkpoint().unwrap();
    assert!(m.db_size() > empty);
    assert!(m.db_size_in_use() <= m.db_size());
    assert!(m.db_size_in_use() > 0);
}

#[test]
fn validation_errors_do_not_spoil_the_write() {
    let (_d, m) = open();
    assert!(
        m.read().compaction_done(),
        "nothing to compact in a fresh store"
    );
    let mut w = m.write().unwrap();
    w.put(b"a", b"1", 0).unwrap();
    let over = vec![1u8; ringkv_store::MAX_KEY_LEN + 1];
    assert!(matches!(
        w.side_put(Side::Lease, &over, b"x"),
        Err(MvccError::KeyTooLarge { .. })
    ));
    assert!(!w.side_delete(Side::Lease, &over).unwrap());
    assert!(matches!(
        w.put(&over, b"v", 0),
        Err(MvccError::KeyTooLarge { .. })
    ));
    drop(over);
    assert_eq!(w.commit(false).unwrap().revision, 2);
    // Negative and out-of-order bounds of the history are harmless.
    let r = m.read();
    assert_eq!(r.events(-5, 10, b"\0", b"\0").unwrap().len(), 1);
    assert!(r.events(5, 1, b"\0", b"\0").unwrap().is_empty());
}

#[test]
fn range_each_streams_and_stops() {
    let (_d, m) = open();
    for k in ["a", "b", "c", "d"] {
        put(&m, k, "v");
    }
    del(&m, "b", "");
    let mut seen = Vec::new();
    let rev = m
        .read()
        .range_each(b"a", b"\0", 0, |kv| {
            seen.push(kv.key);
            seen.len() < 2
        })
        .unwrap();
    assert_eq!(rev, 6);
    assert_eq!(seen, vec![b"a".to_vec(), b"c".to_vec()]);
    let mut at4 = Vec::new();
    m.read()
        .range_each(b"\0", b"\0", 4, |kv| {
            at4.push(kv.key);
            true
        })
        .unwrap();
    assert_eq!(at4, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert!(matches!(
        m.read().range_each(b"a", b"", 99, |_| true),
        Err(MvccError::FutureRevision)
    ));
}

/// Between checkpoints commits are not durable (the WAL is): a reopen without one comes back
/// at the last checkpoint, with the consistent index of that same state, so the server knows
/// exactly which raft entries to apply again.
#[test]
fn reopen_without_checkpoint_returns_to_the_last_one_with_its_consistent_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let m = Mvcc::open(&path).unwrap();
        for i in 1..=10u64 {
            let mut w = m.write().unwrap();
            w.put(format!("k{i}").as_bytes(), b"v", 0).unwrap();
            w.set_consistent_index(i, 1);
            w.commit(i == 6).unwrap();
        }
        assert_eq!(m.read().revision(), 11);
    }
    let m = Mvcc::open(&path).unwrap();
    let r = m.read();
    assert_eq!(r.revision(), 7);
    assert_eq!(r.consistent_index(), (6, 1));
    let all = r.range(b"\0", b"\0", RangeOptions::default()).unwrap();
    assert_eq!(all.count, 6);
    m.db().check().unwrap();
    // Applying the lost entries again gives the same revisions.
    let mut w = m.write().unwrap();
    w.put(b"k7", b"v", 0).unwrap();
    assert_eq!(w.commit(false).unwrap().revision, 8);
}

/// A copy is the state of one commit, whatever the writer does meanwhile, and opens as a
/// store of its own with the same contents, hash and consistent index.
#[test]
fn write_copy_is_a_consistent_store_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mvcc::open(dir.path().join("db")).unwrap();
    for i in 0..5000u64 {
        let mut w = m.write().unwrap();
        w.put(format!("k{i:05}").as_bytes(), b"value", 0).unwrap();
        w.set_consistent_index(i + 1, 1);
        w.commit(false).unwrap();
    }
    let copy_path = dir.path().join("copy.db");
    m.write_copy(&copy_path).unwrap();
    assert!(m.write_copy(&copy_path).is_err(), "never overwrites");
    put(&m, "after", "x");

    let copy = Mvcc::open(&copy_path).unwrap();
    let r = copy.read();
    assert_eq!(r.revision(), 5001);
    assert_eq!(r.consistent_index(), (5000, 1));
    assert_eq!(r.hash_kv(5001).unwrap(), m.read().hash_kv(5001).unwrap());
    assert!(get(&copy, "after", 0).is_none());
    assert_eq!(get(&copy, "k04999", 0).unwrap().value, b"value");
    copy.db().check().unwrap();
}

/// The writer keeps the lease → keys index itself: a put attaches, a put with another or
/// no lease moves or detaches, a delete detaches.
#[test]
fn lease_keys_follow_puts_and_deletes() {
    let (_d, m) = open();
    let write = |f: &dyn Fn(&mut ringkv_store::mvcc::MvccWrite<'_>)| {
        let mut w = m.write().unwrap();
        f(&mut w);
        w.commit(false).unwrap();
    };
    write(&|w| {
        w.put(b"a", b"1", 7).unwrap();
        w.put(b"b", b"1", 7).unwrap();
        w.put(b"c", b"1", 8).unwrap();
    });
    assert_eq!(
        m.read().lease_keys(7).unwrap(),
        [b"a".to_vec(), b"b".to_vec()]
    );
    write(&|w| w.put(b"a", b"2", 8).unwrap());
    write(&|w| w.put(b"b", b"2", 0).unwrap());
    assert!(m.read().lease_keys(7).unwrap().is_empty());
    assert_eq!(
        m.read().lease_keys(8).unwrap(),
        [b"a".to_vec(), b"c".to_vec()]
    );
    write(&|w| {
        w.delete_range(b"a", b"").unwrap();
    });
    let w = m.write().unwrap();
    assert_eq!(w.lease_keys(8).unwrap(), [b"c".to_vec()]);
}

#[test]
fn a_gated_commit_publishes_only_once_its_gate_opens() {
    let (_d, m) = open();
    put(&m, "a", "1");
    let mut w = m.write().unwrap();
    w.put(b"a", b"2", 0).unwrap();
    let mut asked = 0;
    let committed = w
        .commit_gated(&mut || {
            asked += 1;
            // The pages are written, but a reader still sees the last published revision.
            assert_eq!(get(&m, "a", 0).unwrap().value, b"1");
            true
        })
        .unwrap()
        .expect("the gate opened");
    assert_eq!(asked, 1);
    assert_eq!(committed.revision, 3);
    assert_eq!(get(&m, "a", 0).unwrap().value, b"2");
}

#[test]
fn a_gated_commit_whose_gate_stays_shut_changes_nothing() {
    let (_d, m) = open();
    let (_d2, control) = open();
    put(&m, "a", "1");
    put(&control, "a", "1");
    let mut w = m.write().unwrap();
    for i in 0..200 {
        w.put(format!("k{i}").as_bytes(), &[7; 300], 0).unwrap();
    }
    assert!(w.commit_gated(&mut || false).unwrap().is_none());
    assert_eq!(m.read().revision(), 2);
    assert_eq!(get(&m, "k0", 0), None);
    // What it allocated went back: the next write takes the room it takes without it.
    assert_eq!(put(&m, "b", "1"), 3);
    put(&control, "b", "1");
    assert_eq!(m.db_size(), control.db_size());
    assert_eq!(get(&m, "a", 0).unwrap().value, b"1");
}
