//! What the store benches share: the keys, and an MVCC store holding 1M of them, built once
//! and cached next to the bench binaries (`target/release/bench-data/`, or
//! `$RINGKV_BENCH_DIR`) so `mvcc_1m` and `memory_1m` do not each spend a minute filling it.
//! Delete that folder to reclaim the disk (~0.5 GB).

// Each bench binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

use ringkv_store::mvcc::Mvcc;

pub const KEYS_1M: u64 = 1_000_000;
/// Puts per write while filling: 1,000 revisions of 1,000 keys each.
pub const FILL_BATCH: u64 = 1_000;
pub const VALUE_LEN: usize = 100;
/// Bump when the fill changes; a cached file that no longer opens is rebuilt anyway.
const CACHE_VERSION: u32 = 1;

/// The `n`th of `keys` distinct 16-byte keys, in a scattered order (`i ↦ i·611953 mod keys`
/// is a bijection when `keys` has no factor other than 2 and 5): fills insert all over the
/// tree, as etcd's benchmark with random keys does.
pub fn key(i: u64, keys: u64) -> [u8; 16] {
    let n = (i % keys) * 611_953 % keys;
    let mut k = *b"key/000000000000";
    k[4..].copy_from_slice(format!("{n:012}").as_bytes());
    k
}

/// Key number `n` itself, unscattered: consecutive `n` are neighbours in key order.
pub fn key_in_order(n: u64) -> [u8; 16] {
    let mut k = *b"key/000000000000";
    k[4..].copy_from_slice(format!("{n:012}").as_bytes());
    k
}

pub fn value(i: u64) -> [u8; VALUE_LEN] {
    [(i % 251) as u8; VALUE_LEN]
}

/// `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it
/// (criterion's test mode, one pass each). The 1M-key work is skipped there, so tests stay
/// quick.
pub fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn bench_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RINGKV_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<bench>-<hash> → target/<profile>/bench-data
    let exe = std::env::current_exe().expect("the bench binary's path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("bench binaries live in target/<profile>/deps")
        .join("bench-data")
}

/// The path of the cached 1M-key MVCC store, built first if missing or unreadable.
pub fn mvcc_1m() -> PathBuf {
    let dir = bench_dir();
    let path = dir.join(format!("mvcc-1m-v{CACHE_VERSION}.db"));
    let expected = 1 + (KEYS_1M / FILL_BATCH) as i64;
    if let Ok(m) = Mvcc::open(&path)
        && m.read().revision() == expected
    {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("create the bench data dir");
    // Filled under another name and renamed, so an interrupted fill is never taken as done.
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let _ = std::fs::remove_file(&path);
    eprintln!("building the 1M-key MVCC store at {} …", path.display());
    let started = Instant::now();
    {
        let m = Mvcc::open(&partial).expect("open the store being filled");
        for batch in 0..KEYS_1M / FILL_BATCH {
            let mut w = m.write().expect("begin write");
            for i in batch * FILL_BATCH..(batch + 1) * FILL_BATCH {
                w.put(&key(i, KEYS_1M), &value(i), 0).expect("put");
            }
            w.commit(batch % 16 == 15).expect("commit");
        }
        m.checkpoint().expect("checkpoint");
        assert_eq!(m.read().revision(), expected);
    }
    std::fs::rename(&partial, &path).expect("rename the filled store");
    eprintln!(
        "built in {:.1} s, {} MiB",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&path).map_or(0, |m| m.len() >> 20)
    );
    path
}

/// Asks the kernel to drop the file's cached pages (no root needed; only pages nobody has
/// mapped or dirty go), so the next open reads from the disk.
pub fn drop_page_cache(path: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).expect("open for fadvise");
    // SAFETY: fadvise on a valid, owned descriptor; it only advises the page cache.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
}
