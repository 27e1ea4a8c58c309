//! Crash simulation on byte buffers: for every byte offset inside the last records of the
//! last segment, cut the file there, zero it from that sector on (a torn write of
//! preallocated space), or flip a bit there. Cuts and zeroed sectors are torn tails: exactly
//! the records before the damage survive and the log accepts new appends. A flipped bit is
//! corruption: open fails with `WalError::Corrupt` naming the file and the record's offset.
//! Damage in a segment other than the last one is always refused.

use ringkv_wal::record::{SECTOR, align_up};
use ringkv_wal::scan::scan;
use ringkv_wal::{Damage, Entry, Log, MemDir, Options, Record, SnapshotMark, WalError, segment};

const LAST_N: usize = 4;

fn options() -> Options {
    Options {
        segment_size: 32768,
        max_wals: 5,
    }
}

/// Entry data never contains zero bytes (nor bytes that a flip turns to zero), so a zero
/// sector inside a record can only mean "never written".
fn entry(index: u64) -> Entry {
    let len = 37 + (index as usize * 53) % 700;
    Entry {
        index,
        term: 1,
        data: (0..len).map(|i| 2 + (i % 250) as u8).collect(),
    }
}

/// A log of `n` entries, each synced; returns the dir, the last segment's name, and for each
/// entry record in that segment (index, offset, payload end).
fn build(n: u64) -> (MemDir, String, Vec<EntryAt>) {
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    for i in 1..=n {
        log.append_entries(&[entry(i)]).unwrap();
        log.sync().unwrap();
    }
    let name = log.segment_names().last().unwrap().clone();
    let records = entry_records(&dir, &name);
    (dir, name, records)
}

fn seq_of(name: &str) -> u64 {
    segment::parse_file_name(name).unwrap().0
}

/// An entry record of a segment: (index, offset, payload end).
type EntryAt = (u64, usize, usize);

/// The index of the last record `kept` accepts, or `none` if it accepts no record.
fn last_kept(records: &[EntryAt], none: u64, kept: impl Fn(&EntryAt) -> bool) -> u64 {
    records
        .iter()
        .filter(|r| kept(r))
        .map(|r| r.0)
        .max()
        .unwrap_or(none)
}

/// The entry records of segment `name`.
fn entry_records(dir: &MemDir, name: &str) -> Vec<EntryAt> {
    let bytes = dir.bytes(name).unwrap();
    scan(&bytes, seq_of(name))
        .records
        .into_iter()
        .filter_map(|r| match r.record {
            Record::Entry(e) => Some((e.index, r.offset, r.offset + 32 + e.data.len())),
            _ => None,
        })
        .collect()
}

/// Where [`build_recycled`] snapshots: enough entries for more than `max_wals` segments.
const RECYCLE_SNAPSHOT: u64 = 800;

/// Like [`build`], but the last segment overwrites a recycled one: entries up to `RECYCLE_SNAPSHOT` fill
/// several segments, a snapshot there lets purge recycle the oldest, and entries go on to
/// `n` entries past the rotation that made that file the active segment. Also returns the recycled file's old bytes.
fn build_recycled(n: u64) -> (MemDir, String, Vec<EntryAt>, Vec<u8>) {
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    for i in 1..=RECYCLE_SNAPSHOT {
        log.append_entries(&[entry(i)]).unwrap();
        log.sync().unwrap();
    }
    let oldest = log.segment_names()[0].clone();
    let old_bytes = dir.bytes(&oldest).unwrap();
    let mark = SnapshotMark {
        index: RECYCLE_SNAPSHOT,
        term: 1,
        conf_state: vec![],
    };
    log.save_snapshot(mark).unwrap();
    log.sync().unwrap();
    assert!(log.purge().unwrap() > 0);
    let segments = log.segment_names().len();
    let mut i = RECYCLE_SNAPSHOT + 1;
    let mut rotated_at = None;
    while rotated_at.is_none_or(|at| i <= at + n) {
        log.append_entries(&[entry(i)]).unwrap();
        log.sync().unwrap();
        if rotated_at.is_none() && log.segment_names().len() > segments {
            rotated_at = Some(i);
        }
        i += 1;
    }
    let name = log.segment_names().last().unwrap().clone();
    assert!(scan(&dir.bytes(&name).unwrap(), seq_of(&name)).recycled);
    let records = entry_records(&dir, &name);
    assert!(
        records.len() > LAST_N,
        "the recycled segment holds the tail"
    );
    (dir, name, records, old_bytes)
}

fn reopen_expecting(dir: &MemDir, survivors: u64, what: &str) {
    reopen_expecting_after(dir, 0, survivors, what)
}

/// Reopens and checks that the entries after `snapshot` up to `survivors` are there, and
/// that the repaired log takes and keeps new appends.
fn reopen_expecting_after(dir: &MemDir, snapshot: u64, survivors: u64, what: &str) {
    let (mut log, rec) =
        Log::open(dir.clone(), options()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(rec.last_index(), survivors, "{what}");
    let want: Vec<Entry> = (snapshot + 1..=survivors).map(entry).collect();
    assert!(rec.entries == want, "{what}: entries differ");
    // The repaired log takes new appends and they survive another reopen.
    log.append_entries(&[entry(survivors + 1)]).unwrap();
    log.sync().unwrap();
    drop(log);
    let (_, rec) = Log::open(dir.clone(), options()).unwrap();
    assert_eq!(
        rec.last_index(),
        survivors + 1,
        "{what}: append after repair"
    );
}

/// Opening fails with a record error in segment `name` at the record starting at `offset`.
fn expect_refused_at(dir: &MemDir, name: &str, offset: usize, what: &str) {
    match Log::open(dir.clone(), options()) {
        Err(WalError::Corrupt {
            file,
            offset: at,
            damage: Damage::Record(_),
        }) => {
            assert_eq!(at, offset as u64, "{what}");
            assert!(file.ends_with(name), "{what}");
        }
        Err(e) => panic!("{what}: unexpected error {e}"),
        Ok(_) => panic!("{what}: corruption was accepted"),
    }
}

#[test]
fn torn_tails_keep_exactly_the_records_before_them() {
    let (dir, name, records) = build(40);
    let original = dir.bytes(&name).unwrap();
    let tail = &records[records.len() - LAST_N..];
    let (from, to) = (tail[0].1, tail[LAST_N - 1].2);
    for x in from..=to {
        // A cut keeps the records (padding included) wholly before it.
        let survivors = last_kept(&records, 0, |r| align_up(r.2) <= x);

        dir.set_bytes(&name, original[..x].to_vec());
        reopen_expecting(&dir, survivors, &format!("cut at {x}"));

        // Zeroed sectors keep the records whose header and payload lie before them.
        let sector = x / SECTOR * SECTOR;
        let zeroed_survivors = last_kept(&records, 0, |r| r.2 <= sector);
        let mut zeroed = original.clone();
        zeroed[sector..].fill(0);
        dir.set_bytes(&name, zeroed);
        reopen_expecting(
            &dir,
            zeroed_survivors,
            &format!("zeroed from sector {sector}"),
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_last_records_is_refused_with_file_and_offset() {
    let (dir, name, records) = build(40);
    let original = dir.bytes(&name).unwrap();
    let tail = &records[records.len() - LAST_N..];
    for (i, &(_, offset, payload_end)) in tail.iter().enumerate() {
        let record_end = tail.get(i + 1).map_or(align_up(payload_end), |n| n.1);
        for x in offset..record_end {
            let mut bytes = original.clone();
            bytes[x] ^= 0x01;
            dir.set_bytes(&name, bytes);
            expect_refused_at(&dir, &name, offset, &format!("flip at {x}"));
        }
    }
}

#[test]
fn a_torn_record_before_the_last_segment_is_refused() {
    let (dir, _, _) = build(150);
    let (log, _) = Log::open(dir.clone(), options()).unwrap();
    let names = log.segment_names();
    drop(log);
    assert!(names.len() >= 2);
    let first = &names[0];
    let bytes = dir.bytes(first).unwrap();
    let s = scan(&bytes, seq_of(first));
    let last = s.records.last().unwrap().offset;
    dir.set_bytes(first, bytes[..last + 20].to_vec());
    match Log::open(dir, options()) {
        Err(WalError::Corrupt {
            offset,
            damage: Damage::TornBeforeLastSegment,
            ..
        }) => {
            assert_eq!(offset, last as u64)
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// In a recycled segment the rest of the file holds an older segment's records, not zeros.
/// A torn write there leaves whole sectors old: exactly the records before the first old
/// sector survive.
#[test]
fn torn_tails_of_a_recycled_segment_keep_exactly_the_records_before_them() {
    let (dir, name, records, old) = build_recycled(40);
    let original = dir.bytes(&name).unwrap();
    assert_eq!(original.len(), old.len());
    let tail = &records[records.len() - LAST_N..];
    let (from, to) = (tail[0].1, tail[LAST_N - 1].2);
    for x in from..=to {
        let survivors = last_kept(&records, RECYCLE_SNAPSHOT, |r| align_up(r.2) <= x);
        dir.set_bytes(&name, original[..x].to_vec());
        reopen_expecting_after(&dir, RECYCLE_SNAPSHOT, survivors, &format!("cut at {x}"));

        // Old sectors from `sector` on: a record survives if its payload lies before them
        // and its padding (not covered by the CRC) happens to read as zeros.
        let sector = x / SECTOR * SECTOR;
        let mut torn = original.clone();
        torn[sector..].copy_from_slice(&old[sector..]);
        let old_survivors = last_kept(&records, RECYCLE_SNAPSHOT, |r| {
            let padded = align_up(r.2);
            r.2 <= sector && torn[r.2..padded].iter().all(|&b| b == 0)
        });
        dir.set_bytes(&name, torn);
        reopen_expecting_after(
            &dir,
            RECYCLE_SNAPSHOT,
            old_survivors,
            &format!("old bytes from sector {sector}"),
        );
    }
}

/// In a recycled segment damage is told from a torn write by what follows it: a record that
/// a later sync job followed was durable, so a flipped bit in it is refused. In the last
/// job a flip cannot be told from a torn write, so that record is cut.
#[test]
fn a_flipped_bit_before_a_later_write_of_a_recycled_segment_is_refused() {
    let (dir, name, records, _) = build_recycled(40);
    let original = dir.bytes(&name).unwrap();
    let tail = &records[records.len() - LAST_N..];
    for (i, &(index, offset, payload_end)) in tail.iter().enumerate() {
        let last = i + 1 == tail.len();
        let record_end = tail.get(i + 1).map_or(align_up(payload_end), |n| n.1);
        for x in offset..record_end {
            let mut bytes = original.clone();
            bytes[x] ^= 0x01;
            dir.set_bytes(&name, bytes);
            if last {
                reopen_expecting_after(&dir, RECYCLE_SNAPSHOT, index - 1, &format!("flip at {x}"));
                continue;
            }
            expect_refused_at(&dir, &name, offset, &format!("flip at {x}"));
        }
    }
}

/// Segments wholly covered by the latest snapshot marker are not read at open (etcd skips
/// the WAL files before its snapshot too), so damage there does not stop a start; damage in
/// a segment holding entries after the marker still does.
#[test]
fn segments_covered_by_the_snapshot_are_not_read() {
    let dir = MemDir::new();
    let opts = Options {
        segment_size: 32768,
        max_wals: 100,
    };
    let (mut log, _) = Log::open(dir.clone(), opts.clone()).unwrap();
    for i in 1..=300 {
        log.append_entries(&[entry(i)]).unwrap();
        log.sync().unwrap();
    }
    let names = log.segment_names();
    assert!(names.len() > 3);
    // A marker inside the second-to-last segment's range: it and the last one are needed.
    let needed_from = names.len() - 2;
    let (_, first_needed) = segment::parse_file_name(&names[needed_from]).unwrap();
    let mark = SnapshotMark {
        index: first_needed + 1,
        term: 1,
        conf_state: vec![],
    };
    log.save_snapshot(mark).unwrap();
    log.sync().unwrap();
    drop(log);

    let flip = |name: &str| {
        let mut bytes = dir.bytes(name).unwrap();
        bytes[200] ^= 0x01;
        dir.set_bytes(name, bytes);
    };
    for name in &names[..needed_from] {
        flip(name);
    }
    let (log, rec) = Log::open(dir.clone(), opts.clone()).expect("covered segments are not read");
    assert_eq!(rec.snapshot.index, first_needed + 1);
    let want: Vec<Entry> = (first_needed + 2..=300).map(entry).collect();
    assert!(rec.entries == want);
    assert_eq!(
        log.segment_names(),
        names,
        "unread segments are kept for purge"
    );
    drop(log);

    flip(&names[needed_from]);
    assert!(matches!(
        Log::open(dir, opts),
        Err(WalError::Corrupt { file, .. }) if file.ends_with(&names[needed_from])
    ));
}
