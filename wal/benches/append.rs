//! WAL append throughput and durable-append latency on real files (O_DIRECT where the
//! filesystem allows), beside the raw 4 KiB overwrite+fdatasync floor of the same disk.
//! Run: `cargo bench -p ringkv-wal --bench append` (set TMPDIR to put files on another disk).

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ringkv_wal::{Entry, FileDir, Log, Options};

fn options() -> Options {
    Options {
        segment_size: 64 << 20,
        max_wals: 2,
    }
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_append_sync");
    g.sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    for &size in &[128usize, 1024, 16 << 10] {
        for &batch in &[1u64, 16, 256] {
            let dir = tempfile::tempdir().unwrap();
            let (mut log, _) = Log::open(FileDir::new(dir.path()).unwrap(), options()).unwrap();
            let data = vec![0x5au8; size];
            g.throughput(Throughput::Bytes(size as u64 * batch));
            g.bench_function(
                BenchmarkId::new(format!("{size}B"), format!("batch{batch}")),
                |b| {
                    // The entries are built outside the timed part: the server hands the
                    // log entries it already holds.
                    let next = std::cell::Cell::new(log.last_index() + 1);
                    b.iter_batched(
                        || {
                            let first = next.get();
                            next.set(first + batch);
                            (first..first + batch)
                                .map(|index| Entry {
                                    index,
                                    term: 1,
                                    data: data.clone(),
                                })
                                .collect::<Vec<Entry>>()
                        },
                        |entries| {
                            log.append_entries(&entries).unwrap();
                            log.sync().unwrap();
                            support::mark_and_purge(&mut log);
                            entries
                        },
                        BatchSize::SmallInput,
                    )
                },
            );
        }
    }
    g.finish();
}

fn floor(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("floor");
    {
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![0u8; 8 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    let block = vec![0xa5u8; 4096];
    let mut i = 0u64;
    let mut g = c.benchmark_group("floor");
    g.sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    g.bench_function("4KiB_overwrite_fdatasync_buffered", |b| {
        b.iter(|| {
            f.write_all_at(&block, (i % 2048) * 4096).unwrap();
            f.sync_data().unwrap();
            i += 1;
        })
    });
    // The same-sized raw write as a batch of 256 × 1 KiB records, through O_DIRECT as the
    // WAL writes: the bandwidth that batch size can get from this disk at all.
    let direct = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
        .unwrap();
    let all = support::zeroed_blocks(272 << 10);
    let buf = &all[..256 << 10];
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("256KiB_overwrite_fdatasync_direct", |b| {
        b.iter(|| {
            direct
                .write_all_at(buf, (i % 32) * buf.len() as u64)
                .unwrap();
            direct.sync_data().unwrap();
            i += 1;
        })
    });
    // What a 256 × 1 KiB sync job writes on the disk (266 KiB of records and the rewritten
    // partial block: 272 KiB), sequentially through a 64 MiB preallocated file as the WAL
    // writes its segment, each write starting on the previous one's last block.
    let seq_path = dir.path().join("sequential");
    {
        let mut f = std::fs::File::create(&seq_path).unwrap();
        f.write_all(&vec![0u8; 64 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    let sequential = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&seq_path)
        .unwrap();
    let mut at = 0u64;
    g.bench_function("272KiB_sequential_fdatasync_direct", |b| {
        b.iter(|| {
            if at + all.len() as u64 > 64 << 20 {
                at = 0;
            }
            sequential.write_all_at(&all, at).unwrap();
            sequential.sync_data().unwrap();
            at += (all.len() - 4096) as u64;
        })
    });
    g.finish();
}

criterion_group!(benches, floor, append);
criterion_main!(benches);
