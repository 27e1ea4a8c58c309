//! MVCC at 1M keys (16 B keys, 100 B values): a one-put write, a point Range, a 100-key
//! Range, a one-key delete, a 1,000-put write, and open time (open + the first point Range,
//! page cache warm and dropped). Run: `cargo bench -p ringkv-store --bench mvcc_1m`; the first
//! run builds the 1M-key store (see `support/mod.rs`). Not run by CI (no bench is).
//!
//! Writes go to a copy of the cached store, commit non-durably with a checkpoint every 1,024,
//! as in `mvcc.rs`; puts overwrite existing keys, so each adds a version.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ringkv_store::mvcc::{Mvcc, RangeOptions};
use support::{KEYS_1M, key, key_in_order, value};

fn bench(c: &mut Criterion) {
    if !support::benching() {
        return;
    }
    let cached = support::mvcc_1m();
    let scratch = tempfile::tempdir_in(support::bench_dir()).unwrap();
    let copy = scratch.path().join("db");
    std::fs::copy(&cached, &copy).unwrap();
    let m = Mvcc::open(&copy).unwrap();

    let mut g = c.benchmark_group("mvcc_1m");
    let mut i = 0u64;
    g.bench_function("put", |b| {
        b.iter(|| {
            i += 1;
            let mut w = m.write().unwrap();
            w.put(&key(i, KEYS_1M), &value(i), 0).unwrap();
            w.commit(i.is_multiple_of(1024)).unwrap();
        })
    });
    g.bench_function("get", |b| {
        let r = m.read();
        b.iter(|| {
            i += 1;
            black_box(
                r.range(&key(i, KEYS_1M), b"", RangeOptions::default())
                    .unwrap(),
            );
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
            let start = (i * 7919) % (KEYS_1M - 100);
            let (from, to) = (key_in_order(start), key_in_order(start + 100));
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
                w.put(&key(i - 1, KEYS_1M), &value(i - 1), 0).unwrap();
                w.commit(i.is_multiple_of(1024)).unwrap();
                let started = Instant::now();
                let mut w = m.write().unwrap();
                assert_eq!(w.delete_range(&key(i, KEYS_1M), b"").unwrap(), 1);
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
                w.put(&key(i, KEYS_1M), &value(i), 0).unwrap();
            }
            w.commit(i % 16_000 < 1000).unwrap();
        })
    });
    drop(m);

    // Open the pristine cached file: what a restart at 1M keys pays before its first read.
    let open_and_get = |i: u64| {
        let m = Mvcc::open(&cached).unwrap();
        let r = m.read();
        let got = r
            .range(&key(i, KEYS_1M), b"", RangeOptions::default())
            .unwrap();
        assert_eq!(got.kvs.len(), 1);
    };
    g.bench_function("open_first_get_warm", |b| {
        b.iter(|| {
            i += 1;
            open_and_get(i);
        })
    });
    g.bench_function("open_first_get_cold", |b| {
        b.iter_batched(
            || {
                i += 1;
                support::drop_page_cache(&cached);
                i
            },
            open_and_get,
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
