//! Resident memory of a 1M-key MVCC store (16 B keys, 100 B values) as reads go on: RssAnon
//! (heap, stacks: what the store costs beyond the page cache; the target is < 64 MiB,
//! where etcd's in-memory index alone is ~218 MB at 1M keys) and RssFile (the mapped file's
//! pages touched so far, reclaimable by the kernel), from /proc/self/status.
//! Run: `cargo bench -p ringkv-store --bench memory_1m`.
//!
//! The measuring runs in a fresh child process, so nothing the fill allocated (when the cached
//! store had to be built first) is counted.

mod support;

use std::process::Command;
use std::time::Instant;

use ringkv_store::mvcc::{Mvcc, RangeOptions};
use support::{KEYS_1M, key};

const CHILD_ENV: &str = "RINGKV_BENCH_MEMORY_CHILD";
const GETS: u64 = 100_000;

/// (RssAnon, RssFile) in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

fn report(step: &str, base: (u64, u64)) {
    let (anon, file) = rss();
    println!(
        "{step:<34} RssAnon {:>7.1} MiB (+{:>6.1})   RssFile {:>7.1} MiB",
        anon as f64 / 1024.0,
        anon.saturating_sub(base.0) as f64 / 1024.0,
        file as f64 / 1024.0,
    );
}

fn measure(path: &std::path::Path) {
    let base = rss();
    report("process start", base);
    let started = Instant::now();
    let m = Mvcc::open(path).unwrap();
    let r = m.read();
    assert_eq!(r.revision(), 1 + (KEYS_1M / support::FILL_BATCH) as i64);
    println!(
        "open + read(): {:.3} ms (page cache as left)",
        started.elapsed().as_secs_f64() * 1e3
    );
    report("after open", base);
    // Open decodes the freelist into memory: its size, not the key count, sets open time.
    println!(
        "file {} MiB, free pages {}",
        m.db_size() >> 20,
        (m.db_size() - m.db_size_in_use()) / ringkv_store::PAGE_SIZE as u64
    );
    for i in 0..GETS {
        // A scattered sample of the 1M keys.
        let k = key(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20, KEYS_1M);
        let got = r.range(&k, b"", RangeOptions::default()).unwrap();
        assert_eq!(got.kvs.len(), 1);
    }
    report("after 100k random gets", base);
    let mut n = 0u64;
    r.range_each(b"\0", b"\0", 0, |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, KEYS_1M);
    report("after a scan of all 1M keys", base);
    let counted = r
        .range(
            b"\0",
            b"\0",
            RangeOptions {
                count_only: true,
                ..RangeOptions::default()
            },
        )
        .unwrap();
    assert_eq!(counted.count, KEYS_1M as i64);
    report("after count of all 1M keys", base);
}

fn main() {
    if !support::benching() && std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let path = support::mvcc_1m();
    if std::env::var_os(CHILD_ENV).is_some() {
        measure(&path);
        return;
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .arg("--bench")
        .env(CHILD_ENV, "1")
        .status()
        .unwrap();
    assert!(status.success(), "measuring child failed: {status}");
}
