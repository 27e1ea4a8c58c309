//! MVCC micro-benchmarks at 10k keys: a one-put write (one revision), a point Range, a
//! 100-key Range (limit 100, so `count` walks the rest of the range as etcd's does), a one-key
//! delete and a 1,000-put write. Run: `cargo bench -p ringkv-store --bench mvcc`; the same at
//! 1M keys is `--bench mvcc_1m`.
//! Writes commit non-durably (the WAL is the durability) with a checkpoint every 1,024.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ringkv_store::mvcc::{Mvcc, RangeOptions};

const KEYS: u64 = 10_000;

/// Every key number maps to one of the 10k filled keys, so deletes always hit.
fn key(i: u64) -> [u8; 16] {
    support::key(i, KEYS)
}

fn filled() -> (tempfile::TempDir, Mvcc) {
    let dir = tempfile::tempdir().unwrap();
    let m = Mvcc::open(dir.path().join("db")).unwrap();
    let mut w = m.write().unwrap();
    for i in 0..KEYS {
        w.put(&key(i), &[7u8; 100], 0).unwrap();
    }
    w.commit(true).unwrap();
    (dir, m)
}

fn bench(c: &mut Criterion) {
    let (_dir, m) = filled();
    let mut g = c.benchmark_group("mvcc_10k");
    let mut i = 0u64;
    g.bench_function("put", |b| {
        b.iter(|| {
            i += 1;
            let mut w = m.write().unwrap();
            w.put(&key(i), &[9u8; 100], 0).unwrap();
            w.commit(i.is_multiple_of(1024)).unwrap();
        })
    });
    g.bench_function("get", |b| {
        let r = m.read();
        b.iter(|| {
            i += 1;
            black_box(r.range(&key(i), b"", RangeOptions::default()).unwrap());
        })
    });
    g.bench_function("range_100", |b| {
        let r = m.read();
        let opts = RangeOptions {
            limit: 100,
            ..RangeOptions::default()
        };
        b.iter(|| {
            i += 1;
            // A 100-key window: the next 100 keys in order, bounded so count stays ~100.
            let start = i % (KEYS - 100);
            let (from, to) = (
                support::key_in_order(start),
                support::key_in_order(start + 100),
            );
            black_box(r.range(&from, &to, opts).unwrap());
        })
    });
    g.bench_function("delete", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                // Put back (untimed) the key the previous iteration deleted, so every delete
                // hits a live key other than the one just written (whose fresh pages a delete
                // could rewrite in place, a best case).
                let mut w = m.write().unwrap();
                w.put(&key(i - 1), &[1u8; 100], 0).unwrap();
                w.commit(i.is_multiple_of(1024)).unwrap();
                let started = Instant::now();
                let mut w = m.write().unwrap();
                assert_eq!(w.delete_range(&key(i), b"").unwrap(), 1);
                w.commit(false).unwrap();
                spent += started.elapsed();
            }
            spent
        })
    });
    g.bench_function("write_1000_puts", |b| {
        b.iter(|| {
            let mut w = m.write().unwrap();
            for _ in 0..1000 {
                i += 1;
                w.put(&key(i), &[3u8; 100], 0).unwrap();
            }
            w.commit(i % 16_000 < 1000).unwrap();
        })
    });
    g.finish();
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
