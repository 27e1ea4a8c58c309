//! The WAL's bandwidth target, measured the way it is stated: batches of 256 × 1 KiB records
//! against the raw write of the same 256 KiB (O_DIRECT overwrite + fdatasync) on the same
//! disk. This disk's speed drifts by ±30% within minutes, so the two are measured in
//! alternating phases of 50 steps (WAL, raw, WAL, raw, …) and summed, rather than one after
//! the other as criterion would. Two ways of driving the log:
//! - serial: append a batch, sync it, append the next (`Log::sync`);
//! - group commit, as the server drives it: a `SyncJob` runs on an I/O thread while the next
//!   batch is appended, one job in flight.
//!
//! Each step also writes a snapshot marker and purges, so segments are recycled as in the
//! server. Run: `cargo bench -p ringkv-wal --bench bandwidth` (set TMPDIR to put the files
//! on another disk).

mod support;

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringkv_wal::blocks::Blocks;
use ringkv_wal::{Entry, FileDir, FsFile, Log, Options, SyncJob};

const RECORDS: u64 = 256;
const RECORD_LEN: usize = 1024;
const RAW_LEN: usize = 256 << 10;
const STEPS_PER_PHASE: u32 = 50;
const PHASES: u32 = 42;
/// Phases left out at the start, while the first segments are created and caches settle.
const WARM_UP_PHASES: u32 = 2;

#[derive(Clone, Copy, PartialEq)]
enum Drive {
    Serial,
    GroupCommit,
}

/// The raw floor: a preallocated, written file and one aligned 256 KiB buffer.
struct Raw {
    file: std::fs::File,
    buf: Blocks,
    next: u64,
}

impl Raw {
    fn new(dir: &std::path::Path) -> Raw {
        let path = dir.join("raw");
        {
            let f = std::fs::File::create(&path).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for i in 0..64u64 {
                f.write_all_at(&zeros, i << 20).unwrap();
            }
            f.sync_all().unwrap();
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .unwrap();
        let buf = support::zeroed_blocks(RAW_LEN);
        Raw { file, buf, next: 0 }
    }

    fn step(&mut self) {
        let at = (self.next % 256) * RAW_LEN as u64;
        self.file.write_all_at(&self.buf, at).unwrap();
        self.file.sync_data().unwrap();
        self.next += 1;
    }
}

/// Returns (time per WAL step, time per raw write) over the measured phases.
fn measure(drive: Drive) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        segment_size: 64 << 20,
        max_wals: 2,
    };
    let (mut log, _) = Log::open(FileDir::new(dir.path()).unwrap(), opts).unwrap();
    let mut raw = Raw::new(dir.path());
    // The entries are built once and renumbered: the server hands the log entries it holds.
    let data = vec![0x5au8; RECORD_LEN];
    let mut entries: Vec<Entry> = (1..=RECORDS)
        .map(|index| Entry {
            index,
            term: 1,
            data: data.clone(),
        })
        .collect();
    let (jobs, jobs_rx) = mpsc::channel::<SyncJob<FsFile>>();
    let (done_tx, done) = mpsc::channel();
    let io_thread = std::thread::spawn(move || {
        for job in jobs_rx {
            done_tx.send(job.run().unwrap()).unwrap();
        }
    });
    let (mut wal_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for phase in 0..PHASES {
        let started = Instant::now();
        let mut in_flight = false;
        for _ in 0..STEPS_PER_PHASE {
            log.append_entries(&entries).unwrap();
            for e in &mut entries {
                e.index += RECORDS;
            }
            if drive == Drive::GroupCommit && in_flight {
                log.finish_sync(done.recv().unwrap());
            }
            if drive == Drive::Serial {
                log.sync().unwrap();
            }
            support::mark_and_purge(&mut log);
            if drive == Drive::GroupCommit {
                jobs.send(log.begin_sync().unwrap()).unwrap();
                in_flight = true;
            }
        }
        if in_flight {
            log.finish_sync(done.recv().unwrap());
        }
        let wal_done = Instant::now();
        for _ in 0..STEPS_PER_PHASE {
            raw.step();
        }
        if phase >= WARM_UP_PHASES {
            wal_time += wal_done - started;
            raw_time += wal_done.elapsed();
        }
    }
    drop(jobs);
    io_thread.join().unwrap();
    let steps = STEPS_PER_PHASE * (PHASES - WARM_UP_PHASES);
    (wal_time / steps, raw_time / steps)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported here.
    const ROUNDS: usize = 5;
    println!(
        "| drive | WAL step (256 × 1 KiB) | raw 256 KiB write | WAL bandwidth | share of raw, each round | median share |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, drive) in [
        ("serial", Drive::Serial),
        ("group commit", Drive::GroupCommit),
    ] {
        let mut rounds: Vec<(Duration, Duration)> = (0..ROUNDS).map(|_| measure(drive)).collect();
        let share = |(wal, raw): (Duration, Duration)| raw.as_secs_f64() / wal.as_secs_f64();
        let each: Vec<String> = rounds
            .iter()
            .map(|&r| format!("{:.0}%", 100.0 * share(r)))
            .collect();
        rounds.sort_by(|a, b| share(*a).total_cmp(&share(*b)));
        let (wal, raw) = rounds[ROUNDS / 2];
        let mib_s = (RECORDS as usize * RECORD_LEN) as f64 / wal.as_secs_f64() / f64::from(1 << 20);
        println!(
            "| {name} | {:.0} µs | {:.0} µs | {mib_s:.0} MiB/s | {} | {:.0}% |",
            wal.as_secs_f64() * 1e6,
            raw.as_secs_f64() * 1e6,
            each.join(", "),
            100.0 * share((wal, raw)),
        );
    }
}
