//! Crash simulation on byte buffers: for every byte offset inside the last records of the
//! last segment, cut the file there, zero it from that sector on (a torn write of
//! preallocated space), or flip a bit there. Cuts and zeroed sectors are torn tails: exactly
//! the records before the damage survive and the log accepts new appends. A flipped bit is
//! corruption: open fails with `WalError::Corrupt` naming the file and the record's offset.
//! Damage in a segment other than the last one is always refused.

use ringkv_wal::record::SECTOR;
use ringkv_wal::scan::scan;
use ringkv_wal::{Damage, Entry, Log, MemDir, Options, Record, WalError};

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
fn build(n: u64) -> (MemDir, String, Vec<(u64, usize, usize)>) {
    let dir = MemDir::new();
    let (mut log, _) = Log::open(dir.clone(), options()).unwrap();
    for i in 1..=n {
        log.append_entries(&[entry(i)]).unwrap();
        log.sync().unwrap();
    }
    let name = log.segment_names().last().unwrap().clone();
    let bytes = dir.bytes(&name).unwrap();
    let records = scan(&bytes)
        .records
        .into_iter()
        .filter_map(|r| match r.record {
            Record::Entry(e) => Some((e.index, r.offset, r.offset + 32 + e.data.len())),
            _ => None,
        })
        .collect();
    (dir, name, records)
}

fn reopen_expecting(dir: &MemDir, survivors: u64, what: &str) {
    let (mut log, rec) =
        Log::open(dir.clone(), options()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(rec.last_index(), survivors, "{what}");
    let want: Vec<Entry> = (1..=survivors).map(entry).collect();
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

#[test]
fn torn_tails_keep_exactly_the_records_before_them() {
    let (dir, name, records) = build(40);
    let original = dir.bytes(&name).unwrap();
    let tail = &records[records.len() - LAST_N..];
    let (from, to) = (tail[0].1, tail[LAST_N - 1].2);
    for x in from..=to {
        // A cut keeps the records (padding included) wholly before it.
        let survivors = records
            .iter()
            .filter(|r| r.2.div_ceil(16) * 16 <= x)
            .map(|r| r.0)
            .max()
            .unwrap_or(0);

        dir.set_bytes(&name, original[..x].to_vec());
        reopen_expecting(&dir, survivors, &format!("cut at {x}"));

        // Zeroed sectors keep the records whose header and payload lie before them.
        let sector = x / SECTOR * SECTOR;
        let zeroed_survivors = records
            .iter()
            .filter(|r| r.2 <= sector)
            .map(|r| r.0)
            .max()
            .unwrap_or(0);
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
        let record_end = tail
            .get(i + 1)
            .map_or(payload_end.div_ceil(16) * 16, |n| n.1);
        for x in offset..record_end {
            let mut bytes = original.clone();
            bytes[x] ^= 0x01;
            dir.set_bytes(&name, bytes);
            match Log::open(dir.clone(), options()) {
                Err(WalError::Corrupt {
                    file,
                    offset: at,
                    damage: Damage::Record(_),
                }) => {
                    assert_eq!(at, offset as u64, "flip at {x}");
                    assert!(file.ends_with(&name));
                }
                Err(e) => panic!("flip at {x}: unexpected error {e}"),
                Ok(_) => panic!("flip at {x}: corruption was accepted"),
            }
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
    let s = scan(&bytes);
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
