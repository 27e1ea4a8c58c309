//! B+tree micro-benchmarks at 10k keys: single-put commits, point gets, 100-key ranges,
//! deletes, and a 1,000-put commit. Run: `cargo bench -p ringkv-store --bench btree`.
//! Commits are non-durable (the WAL is the durability); a checkpoint every 1,024 commits keeps
//! page reuse going, as the server's periodic checkpoint will.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ringkv_store::{Db, Table};

const KEYS: u64 = 10_000;
const T: Table = Table::DEFAULT;

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"key/000000000000";
    let n = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS).to_be_bytes();
    k[8..].copy_from_slice(&n);
    k
}

fn filled() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db")).unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..KEYS {
        w.insert(T, &key(i), &[7u8; 100]).unwrap();
    }
    w.commit(true).unwrap();
    (dir, db)
}

fn bench(c: &mut Criterion) {
    let (_dir, db) = filled();
    let mut g = c.benchmark_group("btree_10k");
    let mut i = 0u64;
    g.bench_function("put_commit", |b| {
        b.iter(|| {
            i += 1;
            let mut w = db.begin_write().unwrap();
            w.insert(T, &key(i), &[9u8; 100]).unwrap();
            w.commit(i.is_multiple_of(1024)).unwrap();
        })
    });
    g.bench_function("get", |b| {
        let r = db.begin_read();
        b.iter(|| {
            i += 1;
            black_box(r.get(T, &key(i)).unwrap());
        })
    });
    g.bench_function("range_100", |b| {
        let r = db.begin_read();
        b.iter(|| {
            i += 1;
            black_box(r.range(T, &key(i), None).unwrap().take(100).count());
        })
    });
    g.bench_function("delete_commit", |b| {
        b.iter_batched(
            || {
                i += 1;
                let mut w = db.begin_write().unwrap();
                w.insert(T, &key(i), &[1u8; 100]).unwrap();
                w.commit(i.is_multiple_of(1024)).unwrap();
                key(i)
            },
            |k| {
                let mut w = db.begin_write().unwrap();
                w.remove(T, &k).unwrap();
                w.commit(false).unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("commit_1000_puts", |b| {
        b.iter(|| {
            let mut w = db.begin_write().unwrap();
            for _ in 0..1000 {
                i += 1;
                w.insert(T, &key(i), &[3u8; 100]).unwrap();
            }
            w.commit(i % 16_000 < 1000).unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
