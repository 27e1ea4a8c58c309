//! The MVCC keyspace against a model that keeps every version forever (a `BTreeMap` of key →
//! history): random multi-op writes, ranges at random revisions with limits and counts,
//! history, logical compactions with physical steps in between, and reopens between steps.
//! After every step the store must answer exactly as the model; HashKV must not move while
//! physical compaction runs. Also: readers on other threads during heavy writes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use proptest::prelude::*;
use ringkv_store::Table;
use ringkv_store::mvcc::{Event, EventKind, KeyValue, Mvcc, MvccError, RangeOptions, RangeResult};

const KEYS: &[&[u8]] = &[b"a", b"a\0", b"ab", b"b", b"b\0\0", b"c"];
const ENDS: &[&[u8]] = &[b"", b"\0", b"b", b"ab", b"z", b"a"];

#[derive(Debug, Clone)]
enum WriteOp {
    Put(usize, u8, i64),
    Delete(usize, usize),
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<WriteOp>, bool),
    Range {
        key: usize,
        end: usize,
        back: i64,
        limit: u64,
        count_only: bool,
    },
    Events {
        after_back: i64,
        upto_back: i64,
        key: usize,
        end: usize,
    },
    Compact(i64),
    Step(usize),
    Reopen,
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>(), 0i64..3).prop_map(|(k, v, l)| WriteOp::Put(k, v, l)),
        1 => (0..KEYS.len(), 0..ENDS.len()).prop_map(|(k, e)| WriteOp::Delete(k, e)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec(write_op(), 0..4), any::<bool>())
            .prop_map(|(ops, durable)| Op::Write(ops, durable)),
        3 => (0..KEYS.len(), 0..ENDS.len(), -1i64..8, 0u64..3, any::<bool>()).prop_map(
            |(key, end, back, limit, count_only)| Op::Range { key, end, back, limit, count_only }
        ),
        2 => (0i64..10, -1i64..4, 0..KEYS.len(), 0..ENDS.len()).prop_map(
            |(after_back, upto_back, key, end)| Op::Events { after_back, upto_back, key, end }
        ),
        1 => (-1i64..8).prop_map(Op::Compact),
        2 => (1usize..4).prop_map(Op::Step),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct Version {
    main: i64,
    sub: i64,
    /// `None` = tombstone.
    kv: Option<KeyValue>,
}

#[derive(Default)]
struct Model {
    rev: i64,
    compact: i64,
    hist: BTreeMap<Vec<u8>, Vec<Version>>,
}

fn in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        e => k >= key && k < e,
    }
}

impl Model {
    fn new() -> Model {
        Model {
            rev: 1,
            ..Model::default()
        }
    }

    fn newest(&self, k: &[u8], at: i64) -> Option<&Version> {
        self.hist.get(k)?.iter().rev().find(|v| v.main <= at)
    }

    fn live(&self, k: &[u8], at: i64) -> Option<&KeyValue> {
        self.newest(k, at)?.kv.as_ref()
    }

    fn range(&self, key: &[u8], end: &[u8], o: RangeOptions) -> Result<RangeResult, String> {
        if o.revision > self.rev {
            return Err("future".into());
        }
        let at = if o.revision <= 0 {
            self.rev
        } else {
            o.revision
        };
        if at < self.compact {
            return Err("compacted".into());
        }
        let mut out = RangeResult {
            revision: self.rev,
            ..Default::default()
        };
        for k in self.hist.keys().filter(|k| in_range(k, key, end)) {
            if let Some(kv) = self.live(k, at) {
                out.count += 1;
                if !o.count_only && (o.limit == 0 || (out.kvs.len() as u64) < o.limit) {
                    out.kvs.push(kv.clone());
                }
            }
        }
        Ok(out)
    }

    fn events(&self, after: i64, upto: i64, key: &[u8], end: &[u8]) -> Result<Vec<Event>, String> {
        if self.compact > 0 && after < self.compact - 1 {
            return Err("compacted".into());
        }
        let upto = upto.min(self.rev);
        let mut all: Vec<(i64, i64, Event)> = Vec::new();
        for (k, vs) in &self.hist {
            if !in_range(k, key, end) {
                continue;
            }
            for v in vs.iter().filter(|v| v.main > after && v.main <= upto) {
                if v.main == self.compact {
                    let newest = self.newest(k, self.compact).map(|n| (n.main, n.sub));
                    if v.kv.is_none() || newest != Some((v.main, v.sub)) {
                        continue;
                    }
                }
                let ev = match &v.kv {
                    Some(kv) => Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                    },
                    None => Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key: k.clone(),
                            mod_revision: v.main,
                            ..Default::default()
                        },
                    },
                };
                all.push((v.main, v.sub, ev));
            }
        }
        all.sort_by_key(|(m, s, _)| (*m, *s));
        Ok(all.into_iter().map(|(_, _, e)| e).collect())
    }

    /// Applies a write; returns the events it made.
    fn write(&mut self, ops: &[WriteOp]) -> Vec<Event> {
        let main = self.rev + 1;
        let mut sub = 0;
        let mut events = Vec::new();
        for op in ops {
            match *op {
                WriteOp::Put(k, v, lease) => {
                    let key = KEYS[k].to_vec();
                    let (create, version) = match self.live(&key, main) {
                        Some(prev) => (prev.create_revision, prev.version + 1),
                        None => (main, 1),
                    };
                    let kv = KeyValue {
                        key: key.clone(),
                        value: vec![v; usize::from(v % 7)],
                        create_revision: create,
                        mod_revision: main,
                        version,
                        lease,
                    };
                    events.push(Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                    });
                    self.hist.entry(key).or_default().push(Version {
                        main,
                        sub,
                        kv: Some(kv),
                    });
                    sub += 1;
                }
                WriteOp::Delete(k, e) => {
                    let live: Vec<Vec<u8>> = self
                        .hist
                        .keys()
                        .filter(|key| in_range(key, KEYS[k], ENDS[e]))
                        .filter(|key| self.live(key, main).is_some())
                        .cloned()
                        .collect();
                    for key in live {
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv: KeyValue {
                                key: key.clone(),
                                mod_revision: main,
                                ..Default::default()
                            },
                        });
                        self.hist.entry(key).or_default().push(Version {
                            main,
                            sub,
                            kv: None,
                        });
                        sub += 1;
                    }
                }
            }
        }
        if sub > 0 {
            self.rev = main;
        }
        events
    }
}

fn err_name(e: MvccError) -> String {
    match e {
        MvccError::Compacted => "compacted".into(),
        MvccError::FutureRevision => "future".into(),
        other => panic!("unexpected error {other}"),
    }
}

fn apply_write(m: &Mvcc, ops: &[WriteOp], durable: bool) -> (i64, Vec<Event>) {
    let mut w = m.write().unwrap();
    for op in ops {
        match *op {
            WriteOp::Put(k, v, lease) => {
                w.put(KEYS[k], &vec![v; usize::from(v % 7)], lease).unwrap()
            }
            WriteOp::Delete(k, e) => {
                w.delete_range(KEYS[k], ENDS[e]).unwrap();
            }
        }
    }
    let c = w.commit(durable).unwrap();
    (c.revision, c.events)
}

/// Everything the store and the model must agree on at every revision they both keep.
fn compare_all(m: &Mvcc, model: &Model) {
    let r = m.read();
    assert_eq!(r.revision(), model.rev);
    assert_eq!(r.compact_revision(), model.compact);
    for at in model.compact.max(1)..=model.rev {
        let o = RangeOptions {
            revision: at,
            ..Default::default()
        };
        assert_eq!(
            r.range(b"\0", b"\0", o).map_err(err_name),
            model.range(b"\0", b"\0", o),
            "full range at {at}"
        );
    }
    let after = (model.compact - 1).max(0);
    assert_eq!(
        r.events(after, model.rev, b"\0", b"\0").map_err(err_name),
        model.events(after, model.rev, b"\0", b"\0")
    );
}

fn run(ops: Vec<Op>, path: &Path) {
    let mut m = Mvcc::open(path).unwrap();
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Write(ops, durable) => {
                let want = model.write(&ops);
                let (rev, events) = apply_write(&m, &ops, durable);
                assert_eq!(rev, model.rev);
                assert_eq!(events, want);
            }
            Op::Range {
                key,
                end,
                back,
                limit,
                count_only,
            } => {
                let o = RangeOptions {
                    limit,
                    revision: if back < 0 { 0 } else { model.rev - back },
                    count_only,
                };
                assert_eq!(
                    m.read().range(KEYS[key], ENDS[end], o).map_err(err_name),
                    model.range(KEYS[key], ENDS[end], o),
                    "range {:?} {:?} {o:?}",
                    KEYS[key],
                    ENDS[end]
                );
            }
            Op::Events {
                after_back,
                upto_back,
                key,
                end,
            } => {
                let after = (model.rev - after_back).max(0);
                let upto = model.rev - upto_back;
                assert_eq!(
                    m.read()
                        .events(after, upto, KEYS[key], ENDS[end])
                        .map_err(err_name),
                    model.events(after, upto, KEYS[key], ENDS[end]),
                );
            }
            Op::Compact(back) => {
                let rev = model.rev - back;
                let mut w = m.write().unwrap();
                let got = w.compact(rev).map_err(err_name);
                let want = if rev <= model.compact {
                    Err("compacted".to_string())
                } else if rev > model.rev {
                    Err("future".to_string())
                } else {
                    model.compact = rev;
                    Ok(())
                };
                assert_eq!(got, want);
                w.commit(false).unwrap();
            }
            Op::Step(n) => {
                let before = m.read().hash_kv(0).unwrap();
                m.compact_step(n).unwrap();
                assert_eq!(m.read().hash_kv(0).unwrap(), before);
            }
            Op::Reopen => {
                let before = m.read().hash().unwrap();
                m.checkpoint().unwrap();
                drop(m);
                m = Mvcc::open(path).unwrap();
                assert_eq!(m.read().hash().unwrap(), before);
            }
        }
        compare_all(&m, &model);
    }
    while !m.compact_step(2).unwrap() {}
    compare_all(&m, &model);
    m.db().check().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run(ops, &dir.path().join("db"));
    }
}

/// After a complete compaction to R only the newest version <= R of live keys is left below
/// R: the file holds no more than the model keeps.
#[test]
fn physical_compaction_removes_everything_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mvcc::open(dir.path().join("db")).unwrap();
    for i in 0..200u32 {
        let mut w = m.write().unwrap();
        w.put(format!("k{}", i % 10).as_bytes(), &i.to_le_bytes(), 0)
            .unwrap();
        if i % 7 == 0 {
            w.delete_range(format!("k{}", i % 3).as_bytes(), b"")
                .unwrap();
        }
        w.commit(false).unwrap();
    }
    let rev = m.read().revision();
    let mut w = m.write().unwrap();
    w.compact(rev).unwrap();
    w.commit(false).unwrap();
    let live = m
        .read()
        .range(b"\0", b"\0", RangeOptions::default())
        .unwrap();
    let mut steps = 0;
    while !m.compact_step(16).unwrap() {
        steps += 1;
    }
    assert!(steps > 5, "bounded steps");
    let r = m.read();
    assert_eq!(
        r.range(b"\0", b"\0", RangeOptions::default()).unwrap(),
        live
    );
    // Exactly one version (and one history entry) per live key remains in the file.
    let raw = m.db().begin_read();
    for table in [0u8, 1] {
        let t = Table::new(table).unwrap();
        assert_eq!(raw.range(t, b"", None).unwrap().count() as i64, live.count);
    }
    assert!(live.kvs.iter().all(|kv| kv.mod_revision <= rev));
    m.db().check().unwrap();
}

/// Readers on other threads, during a stream of writes, always see a consistent snapshot:
/// every key holds the same value (the writer updates all keys in one write), the revision
/// matches, and a snapshot does not change under them.
#[test]
fn readers_see_consistent_snapshots_during_writes() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mvcc::open(dir.path().join("db")).unwrap();
    const N: usize = 30;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = m.read();
                    let rev = r.revision();
                    let res = r.range(b"\0", b"\0", RangeOptions::default()).unwrap();
                    if rev == 1 {
                        assert_eq!(res.count, 0);
                        continue;
                    }
                    assert_eq!(res.count, N as i64);
                    let first = res.kvs[0].value.clone();
                    for kv in &res.kvs {
                        assert_eq!(kv.value, first, "torn snapshot at {rev}");
                        assert_eq!(kv.mod_revision, rev);
                    }
                    // The same snapshot answers the same later.
                    let again = r.range(b"\0", b"\0", RangeOptions::default()).unwrap();
                    assert_eq!(again, res);
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for i in 0..150u32 {
        let mut w = m.write().unwrap();
        for k in 0..N {
            w.put(format!("key{k:03}").as_bytes(), &i.to_le_bytes(), 0)
                .unwrap();
        }
        w.commit(i % 50 == 0).unwrap();
        if i % 50 == 49 {
            let mut w = m.write().unwrap();
            let rev = w.revision() - 10;
            w.compact(rev).unwrap();
            w.commit(false).unwrap();
            while !m.compact_step(100).unwrap() {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    m.db().check().unwrap();
}
