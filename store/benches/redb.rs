//! The B-tree (`Db`) against redb on the same keys and values in the same run, single
//! threaded, at 10k and 1M keys (16 B keys, 100 B values, one table):
//!
//! - `put`: one key per transaction, not durable (ours `commit(false)`, redb
//!   `Durability::None`), every 1,024th commit durable on both sides;
//! - `put_durable`: one key per transaction, every commit durable (ours `commit(true)`, redb's
//!   default `Durability::Immediate`);
//! - `put_1000`: 1,000 keys per transaction, not durable, every 16th durable;
//! - `get`, `range_100`: a read transaction each; `delete`: one key per transaction, not
//!   durable (the key the previous iteration deleted is put back, untimed, first).
//!
//! Both stores are filled once (1,000 keys per durable transaction) and each op starts from a
//! fresh copy of those files; each op runs on ours and then on redb, so load from the
//! machine's other users lands on both alike. redb after many non-durable commits (a fill
//! through them, or the `put_1000` op) stayed ~4× slower at later non-durable puts (measured
//! here: ~180 µs vs ~40 µs at 10k keys); copies and a durable fill keep that from flattering
//! us. Puts overwrite existing keys. After each size a table of ops/s and the ratio (ours ÷
//! redb, > 1 = ours faster) is printed, from the mean time per op over every iteration
//! criterion ran. redb keeps its default 1 GiB cache; ours reads through the page cache.
//! Run: `cargo bench -p ringkv-store --bench redb`.

mod support;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use ringkv_store::{Db, Table};
use support::{key, key_in_order, value};

const T: Table = Table::DEFAULT;
const REDB: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

/// Time per op, summed over every call criterion made (warm-up included).
#[derive(Default, Clone, Copy)]
struct Tally {
    ops: u64,
    time: Duration,
}

impl Tally {
    fn ops_per_sec(self) -> f64 {
        self.ops as f64 / self.time.as_secs_f64().max(1e-12)
    }
}

/// The ops both stores run; `n` is a running counter per op.
trait Store {
    /// One key per transaction.
    fn put(&self, n: u64, durable: bool);
    /// Keys `n·1000 .. n·1000 + 1000` in one transaction.
    fn put_1000(&self, n: u64, durable: bool);
    fn get(&self, n: u64);
    fn range_100(&self, n: u64);
    fn delete(&self, n: u64);
}

#[derive(Clone, Copy)]
enum Op {
    Put,
    PutDurable,
    Put1000,
    Get,
    Range100,
    Delete,
}

const OPS: [(Op, &str); 6] = [
    (Op::Put, "put"),
    (Op::PutDurable, "put_durable"),
    (Op::Put1000, "put_1000"),
    (Op::Get, "get"),
    (Op::Range100, "range_100"),
    (Op::Delete, "delete"),
];

/// Runs `op` on `store` under criterion, adding what it measured to `tally`.
fn timed(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    store: &dyn Store,
    op: Op,
    tally: &mut Tally,
) {
    let mut n = 0u64;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                if let Op::Delete = op {
                    // Put back what the previous iteration deleted, so every delete hits.
                    store.put(n - 1, n.is_multiple_of(1024));
                }
                let started = Instant::now();
                match op {
                    Op::Put => store.put(n, n.is_multiple_of(1024)),
                    Op::PutDurable => store.put(n, true),
                    Op::Put1000 => store.put_1000(n, n.is_multiple_of(16)),
                    Op::Get => store.get(n),
                    Op::Range100 => store.range_100(n),
                    Op::Delete => store.delete(n),
                }
                spent += started.elapsed();
            }
            tally.ops += iters * if let Op::Put1000 = op { 1000 } else { 1 };
            tally.time += spent;
            spent
        })
    });
}

struct Ours {
    db: Db,
    keys: u64,
}

impl Ours {
    fn open(path: &Path, keys: u64) -> Ours {
        Ours {
            db: Db::open(path).unwrap(),
            keys,
        }
    }
}

impl Store for Ours {
    fn put(&self, n: u64, durable: bool) {
        let mut w = self.db.begin_write().unwrap();
        w.insert(T, &key(n, self.keys), &value(n)).unwrap();
        w.commit(durable).unwrap();
    }

    fn put_1000(&self, n: u64, durable: bool) {
        let mut w = self.db.begin_write().unwrap();
        for i in n * 1000..(n + 1) * 1000 {
            w.insert(T, &key(i, self.keys), &value(i)).unwrap();
        }
        w.commit(durable).unwrap();
    }

    fn get(&self, n: u64) {
        let r = self.db.begin_read();
        assert!(r.get(T, &key(n, self.keys)).unwrap().is_some());
    }

    fn range_100(&self, n: u64) {
        let r = self.db.begin_read();
        let from = key_in_order((n * 7919) % (self.keys - 100));
        let got = r.range(T, &from, None).unwrap().take(100);
        black_box(got.map(|kv| kv.unwrap().1.len()).sum::<usize>());
    }

    fn delete(&self, n: u64) {
        let mut w = self.db.begin_write().unwrap();
        assert!(w.remove(T, &key(n, self.keys)).unwrap());
        w.commit(false).unwrap();
    }
}

struct Redb {
    db: Database,
    keys: u64,
}

impl Redb {
    fn open(path: &Path, keys: u64) -> Redb {
        Redb {
            db: Database::create(path).unwrap(),
            keys,
        }
    }

    fn write(&self, durable: bool, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>)) {
        let mut w = self.db.begin_write().unwrap();
        if !durable {
            w.set_durability(Durability::None).unwrap();
        }
        f(&mut w.open_table(REDB).unwrap());
        w.commit().unwrap();
    }
}

impl Store for Redb {
    fn put(&self, n: u64, durable: bool) {
        self.write(durable, |t| {
            t.insert(key(n, self.keys).as_slice(), value(n).as_slice())
                .unwrap();
        });
    }

    fn put_1000(&self, n: u64, durable: bool) {
        self.write(durable, |t| {
            for i in n * 1000..(n + 1) * 1000 {
                t.insert(key(i, self.keys).as_slice(), value(i).as_slice())
                    .unwrap();
            }
        });
    }

    // A read transaction per get and per range, as ours: both are cheap snapshots.
    fn get(&self, n: u64) {
        let r = self.db.begin_read().unwrap();
        let t = r.open_table(REDB).unwrap();
        assert!(t.get(key(n, self.keys).as_slice()).unwrap().is_some());
    }

    fn range_100(&self, n: u64) {
        let r = self.db.begin_read().unwrap();
        let t = r.open_table(REDB).unwrap();
        let from = key_in_order((n * 7919) % (self.keys - 100));
        let got = t.range(from.as_slice()..).unwrap().take(100);
        black_box(got.map(|kv| kv.unwrap().1.value().len()).sum::<usize>());
    }

    fn delete(&self, n: u64) {
        self.write(false, |t| {
            assert!(t.remove(key(n, self.keys).as_slice()).unwrap().is_some());
        });
    }
}

fn fill(store: &dyn Store, keys: u64) {
    for batch in 0..keys / 1000 {
        store.put_1000(batch, true);
    }
}

fn compare(c: &mut Criterion, keys: u64, label: &str) {
    std::fs::create_dir_all(support::bench_dir()).unwrap();
    let dir = tempfile::tempdir_in(support::bench_dir()).unwrap();
    let (ours_filled, redb_filled) = (dir.path().join("db.filled"), dir.path().join("redb.filled"));
    fill(&Ours::open(&ours_filled, keys), keys);
    fill(&Redb::open(&redb_filled, keys), keys);
    let mut g = c.benchmark_group(format!("btree_vs_redb_{label}"));
    let mut rows = Vec::new();
    for (op, name) in OPS {
        // Each op starts from a copy of the filled files: what one op leaves behind (redb's
        // state after many non-durable commits, say) must not weigh on the next.
        let (ours_path, redb_path) = (dir.path().join("db"), dir.path().join("redb"));
        std::fs::copy(&ours_filled, &ours_path).unwrap();
        std::fs::copy(&redb_filled, &redb_path).unwrap();
        let (ours, redb) = (Ours::open(&ours_path, keys), Redb::open(&redb_path, keys));
        let (mut a, mut b) = (Tally::default(), Tally::default());
        timed(&mut g, &format!("ours/{name}"), &ours, op, &mut a);
        timed(&mut g, &format!("redb/{name}"), &redb, op, &mut b);
        rows.push((name, a.ops_per_sec(), b.ops_per_sec()));
    }
    g.finish();
    println!("\n{label} keys: ops/s ours / redb (×ratio)");
    for (name, x, y) in rows {
        println!("  {name:<12} {x:>10.0} / {y:>10.0} (×{:.2})", x / y);
    }
    println!();
}

fn bench(c: &mut Criterion) {
    compare(c, 10_000, "10k");
    if support::benching() {
        compare(c, support::KEYS_1M, "1m");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
