//! A real crash: this test binary re-runs itself as a child (selected by an environment
//! variable) that commits to a store file in a loop — a deterministic set of inserts and
//! removes per txid, over two tables, some values in overflow runs, a few commits durable and
//! most not — printing each committed txid and whether it was durable. The parent SIGKILLs it
//! after a varying number of reports, 24 times on the same file, and after each kill reopens
//! the file: open must succeed, `check` must pass, and the content must be exactly the model's
//! state at the txid the store reopened at, which must lie between the last durable commit
//! reported and one past the last commit reported. No sleeps: kills are timed by the reports.
//!
//! The same again through `mvcc::Mvcc`: one write per revision (puts and deletes, the
//! consistent index set in the same write); each reopen must be at a revision no older than
//! the last durable one reported, with the consistent index of that revision and every live
//! key's value, create/mod revision and version as the model has them.
//!
//! Damaged files (cut short, bytes flipped) are covered by the proptest
//! `damaged_files_reopen_consistent_or_fail_cleanly` in tests/btree.rs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use ringkv_store::mvcc::{KeyValue, Mvcc, RangeOptions};
use ringkv_store::{Db, Table, TxId};

/// Set only in a child; `--exact` picks which child test runs.
const CHILD_ENV: &str = "RINGKV_STORE_CRASH_CHILD_FILE";
const ROUNDS: u64 = 24;
/// The keyspace is small enough that removes often hit and most commits replace values.
const KEYS: u64 = 1500;

type Model = [BTreeMap<Vec<u8>, Vec<u8>>; 2];

fn tables() -> [Table; 2] {
    [
        Table::DEFAULT,
        Table::new(1).expect("the store has at least two tables"),
    ]
}

/// splitmix64: the ops of a txid depend on nothing but the txid.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

enum Op {
    Insert(usize, Vec<u8>, Vec<u8>),
    Remove(usize, Vec<u8>),
}

/// What commit `txid` does. The first op always inserts, so every commit changes the tree
/// and takes a txid of its own.
fn ops(txid: TxId) -> Vec<Op> {
    let n = 1 + mix(txid) % 8;
    (0..n)
        .map(|i| {
            let x = mix(txid.wrapping_mul(31).wrapping_add(i));
            let table = (x >> 8) as usize % 2;
            let key = format!("key/{:06}", (x >> 16) % KEYS).into_bytes();
            if i > 0 && x.is_multiple_of(4) {
                return Op::Remove(table, key);
            }
            // One value in ten goes to an overflow run (inline values stop at 1000 bytes).
            let len = if (x >> 40).is_multiple_of(10) {
                1001 + (x >> 44) as usize % 20_000
            } else {
                (x >> 44) as usize % 300
            };
            let seed = (x >> 56) as u8;
            let value = (0..len).map(|j| seed.wrapping_add(j as u8)).collect();
            Op::Insert(table, key, value)
        })
        .collect()
}

fn durable(txid: TxId) -> bool {
    mix(txid ^ 0xD0_D0).is_multiple_of(6)
}

fn apply(model: &mut Model, txid: TxId) {
    for op in ops(txid) {
        match op {
            Op::Insert(t, k, v) => {
                model[t].insert(k, v);
            }
            Op::Remove(t, k) => {
                model[t].remove(&k);
            }
        }
    }
}

fn content(db: &Db) -> Model {
    let r = db.begin_read();
    tables().map(|t| {
        r.range(t, b"", None)
            .unwrap()
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect()
    })
}

/// The child: continues from whatever txid the file reopens at, forever (bounded), reporting
/// each commit once it has returned.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    let start = db.txid();
    for txid in start + 1..start + 1_000_000 {
        let mut w = db.begin_write().unwrap();
        for op in ops(txid) {
            match op {
                Op::Insert(t, k, v) => w.insert(tables()[t], &k, &v).unwrap(),
                Op::Remove(t, k) => {
                    w.remove(tables()[t], &k).unwrap();
                }
            }
        }
        let d = durable(txid);
        assert_eq!(w.commit(d).unwrap(), txid);
        // One short line per write(2), so a kill never leaves half a report in the pipe.
        writeln!(
            out,
            "committed {txid} {}",
            if d { "durable" } else { "volatile" }
        )
        .unwrap();
        out.flush().unwrap();
    }
}

/// Runs `child_test` on `path`, reads reports until `kill_after` of them, SIGKILLs the child,
/// then drains what it had already written. Returns the last durable and the last commit
/// reported (txids, or revisions for the MVCC child).
fn run_child(child_test: &str, path: &Path, kill_after: u64) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut durable_txid, mut last) = (0, 0);
    let mut note = |line: &str| {
        let mut words = line.split(' ');
        if words.next() != Some("committed") {
            return false;
        }
        let txid: u64 = words.next().unwrap().parse().unwrap();
        assert!(txid > last, "reports out of order: {txid} after {last}");
        last = txid;
        if words.next() == Some("durable") {
            durable_txid = txid;
        }
        true
    };
    let mut seen = 0;
    while seen < kill_after {
        let line = lines.next().expect("child exited early").unwrap();
        if note(&line) {
            seen += 1;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Commits the child reported after the one that triggered the kill count too: it runs
    // ahead of this reader by up to a pipe's worth of lines.
    for line in lines {
        note(&line.unwrap());
    }
    (durable_txid, last)
}

#[test]
fn sigkilled_writer_reopens_at_a_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // The model at the txid the previous round reopened at.
    let (mut base_txid, mut base) = (0, Model::default());
    let mut last_durable = 0;
    for round in 0..ROUNDS {
        let kill_after = 1 + (round * 37) % 160;
        let (durable_txid, last) = run_child("crash_child", &path, kill_after);
        last_durable = last_durable.max(durable_txid);
        // A state seen after a reopen is never lost by a later crash either.
        let floor = last_durable.max(base_txid);

        let db = Db::open(&path).unwrap_or_else(|e| panic!("round {round}: open: {e}"));
        db.check()
            .unwrap_or_else(|e| panic!("round {round}: check: {e}"));
        let got = content(&db);
        let reopened = db.txid();
        // At most one commit can have returned without its report reaching the pipe.
        assert!(
            (floor..=last + 1).contains(&reopened),
            "round {round}: reopened at txid {reopened}; floor {floor}, last reported {last}"
        );
        // Walk the model from where this round started to every candidate txid; the content
        // must be the state at one of them, and that one must be the txid the store reports.
        let mut model = base.clone();
        let mut matched = None;
        for txid in base_txid..=last + 1 {
            if txid > base_txid {
                apply(&mut model, txid);
            }
            if txid >= floor && model == got {
                matched = Some((txid, model.clone()));
                break;
            }
        }
        let Some((txid, model)) = matched else {
            panic!(
                "round {round}: content matches no committed state in {floor}..={}",
                last + 1
            );
        };
        assert_eq!(txid, reopened, "round {round}: content of txid {txid}");
        (base_txid, base) = (txid, model);
        drop(db);
    }
    // The rounds got somewhere, with overflow values in the file.
    assert!(base_txid > 100, "only reached txid {base_txid}");
    assert!(
        base.iter().flat_map(|t| t.values()).any(|v| v.len() > 1000),
        "no overflow value survived"
    );
}

/// The MVCC model: live keys with etcd's per-key fields.
type KvModel = BTreeMap<Vec<u8>, KeyValue>;

/// What the write that makes `revision` does: puts and deletes of distinct keys, the first
/// always a put so that every write takes a revision. One value in ten overflows a page.
fn mvcc_ops(revision: i64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let r = revision as u64;
    let mut ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for i in 0..1 + mix(r ^ 0x3333) % 6 {
        let x = mix(r.wrapping_mul(131).wrapping_add(i));
        let key = format!("k{}", (x >> 16) % 800).into_bytes();
        if ops.iter().any(|(k, _)| *k == key) {
            continue;
        }
        if i > 0 && x.is_multiple_of(3) {
            ops.push((key, None));
            continue;
        }
        let len = if (x >> 40).is_multiple_of(10) {
            1001 + (x >> 44) as usize % 9000
        } else {
            (x >> 44) as usize % 200
        };
        let seed = (x >> 56) as u8;
        ops.push((
            key,
            Some((0..len).map(|j| seed.wrapping_add(j as u8)).collect()),
        ));
    }
    ops
}

fn mvcc_durable(revision: i64) -> bool {
    mix(revision as u64 ^ 0xABCD).is_multiple_of(5)
}

fn mvcc_apply(model: &mut KvModel, revision: i64) {
    for (key, value) in mvcc_ops(revision) {
        let Some(value) = value else {
            model.remove(&key);
            continue;
        };
        let kv = model.entry(key.clone()).or_insert_with(|| KeyValue {
            key,
            create_revision: revision,
            ..KeyValue::default()
        });
        kv.value = value;
        kv.mod_revision = revision;
        kv.version += 1;
    }
}

/// The MVCC child: one write per revision, the consistent index set to the revision (as the
/// server records the raft index it applied), reported once `commit` returned.
#[test]
fn mvcc_crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let m = Mvcc::open(&path).unwrap();
    let mut out = std::io::stdout().lock();
    let start = m.read().revision();
    for revision in start + 1..start + 1_000_000 {
        let mut w = m.write().unwrap();
        for (key, value) in mvcc_ops(revision) {
            match value {
                Some(v) => w.put(&key, &v, 0).unwrap(),
                None => {
                    w.delete_range(&key, b"").unwrap();
                }
            }
        }
        w.set_consistent_index(revision as u64, 1);
        let d = mvcc_durable(revision);
        assert_eq!(w.commit(d).unwrap().revision, revision);
        writeln!(
            out,
            "committed {revision} {}",
            if d { "durable" } else { "volatile" }
        )
        .unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkilled_mvcc_writer_reopens_at_a_committed_revision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // A fresh store is at revision 1 with no keys.
    let (mut base_rev, mut base) = (1i64, KvModel::new());
    let mut last_durable = 1i64;
    for round in 0..ROUNDS {
        let kill_after = 1 + (round * 41) % 150;
        let (durable, last) = run_child("mvcc_crash_child", &path, kill_after);
        let (durable, last) = (durable as i64, last as i64);
        last_durable = last_durable.max(durable);
        let floor = last_durable.max(base_rev);

        let m = Mvcc::open(&path).unwrap_or_else(|e| panic!("round {round}: open: {e}"));
        m.db()
            .check()
            .unwrap_or_else(|e| panic!("round {round}: check: {e}"));
        let r = m.read();
        let revision = r.revision();
        assert!(
            (floor..=last + 1).contains(&revision),
            "round {round}: reopened at revision {revision}; floor {floor}, last reported {last}"
        );
        // The consistent index is written in the same transaction as the keys.
        assert_eq!(r.consistent_index(), (revision as u64, 1), "round {round}");
        let got = r.range(b"\0", b"\0", RangeOptions::default()).unwrap();
        let mut model = base.clone();
        for rev in base_rev + 1..=revision {
            mvcc_apply(&mut model, rev);
        }
        let want: Vec<KeyValue> = model.values().cloned().collect();
        assert!(
            got.kvs == want,
            "round {round}: content at revision {revision} differs from the model"
        );
        (base_rev, base) = (revision, model);
        drop(r);
        drop(m);
    }
    assert!(base_rev > 100, "only reached revision {base_rev}");
    assert!(
        base.values().any(|kv| kv.value.len() > 1000),
        "no overflow value survived"
    );
}
