//! A real crash: this test binary re-runs itself as a child (selected by an environment
//! variable) that appends and syncs through real files with O_DIRECT, printing each synced
//! index; the parent SIGKILLs it after reading a varying number of reports, reopens the log
//! and checks that every reported index is there with its data. The child snapshots and
//! purges as it goes, so later segments overwrite recycled files; every other sync hands its
//! writes to the kernel first (`SyncJob::start`). No sleeps: kills are timed by the reports
//! themselves.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ringkv_wal::{Entry, FileDir, Log, Options, SnapshotMark, scan::scan, segment};

const CHILD_ENV: &str = "RINGKV_WAL_CRASH_CHILD_DIR";

fn options() -> Options {
    Options {
        segment_size: 64 << 10,
        max_wals: 5,
    }
}

fn data(index: u64) -> Vec<u8> {
    vec![(index % 251) as u8 + 1; 700 + (index % 300) as usize]
}

/// The child: appends batches and syncs forever (bounded), reporting each synced index.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mut log, _) = Log::open(FileDir::new(dir).unwrap(), options()).unwrap();
    let mut out = std::io::stdout().lock();
    for round in 0..100_000u64 {
        let first = log.last_index() + 1;
        let batch: Vec<Entry> = (first..first + 1 + round % 4)
            .map(|index| Entry {
                index,
                term: 1,
                data: data(index),
            })
            .collect();
        log.append_entries(&batch).unwrap();
        if round % 16 == 15 && log.last_index() > log.snapshot().index + 200 {
            let mark = SnapshotMark {
                index: log.last_index() - 100,
                term: 1,
                conf_state: vec![],
            };
            log.save_snapshot(mark).unwrap();
        }
        // Two syncs in three queue their writes first, as the raft core does for small
        // ones, one of them as a durable (RWF_DSYNC) write that needs no fdatasync.
        let mut job = log.begin_sync().unwrap();
        match round % 3 {
            0 => {}
            1 => job.start(false),
            _ => job.start(true),
        }
        let ticket = job.run().unwrap();
        log.finish_sync(ticket);
        log.purge().unwrap();
        writeln!(out, "synced {}", log.last_index()).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkilled_writer_loses_nothing_it_reported() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut highest = 0u64;
    let mut recycled_tails = 0;
    for round in 0..8u64 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reports = 3 + round * 29;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < reports {
            let line = lines.next().expect("child exited early").unwrap();
            if let Some(n) = line.strip_prefix("synced ") {
                highest = highest.max(n.parse().unwrap());
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (log, rec) = Log::open(FileDir::new(dir.path()).unwrap(), options()).unwrap();
        assert!(
            rec.last_index() >= highest,
            "round {round}: reported {highest}, recovered {}",
            rec.last_index()
        );
        for (i, e) in rec.entries.iter().enumerate() {
            assert_eq!(e.index, rec.snapshot.index + i as u64 + 1);
            assert!(e.data == data(e.index), "entry {} data", e.index);
        }
        let tail = log.segment_names().last().unwrap().clone();
        let seq = segment::parse_file_name(&tail).unwrap().0;
        let bytes = std::fs::read(dir.path().join(&tail)).unwrap();
        recycled_tails += usize::from(scan(&bytes, seq).recycled);
        // Whatever was recovered is what the next child builds on.
        highest = rec.last_index();
        drop(log);
    }
    assert!(highest > 100);
    assert!(recycled_tails > 0, "no crash hit a recycled segment");
}
