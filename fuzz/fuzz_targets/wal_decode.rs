//! Arbitrary bytes as a WAL segment: the scanner and the record decoder must never panic,
//! and whatever they accept must re-encode to exactly the bytes they read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_wal::record::{HEADER_LEN, decode_body, decode_header};
use ringkv_wal::scan::{Stop, scan};

fuzz_target!(|data: &[u8]| {
    // The sequence a segment is scanned as decides which tag is its own; take it from the
    // input so inputs can reach both the own-tag and the foreign-tag paths.
    let seq = data.get(5).map_or(0, |&b| u64::from(b % 4));
    let s = scan(data, seq);
    let mut prev = None;
    for r in &s.records {
        let mut again = Vec::new();
        let crc = r.record.encode(prev.unwrap_or(0), r.stamp, &mut again);
        assert_eq!(crc, r.crc);
        assert_eq!(&data[r.offset..r.offset + again.len()], &again[..]);
        prev = Some(crc);
    }
    assert!(s.end <= data.len());
    assert!(s.end <= s.dirty_end && s.dirty_end <= data.len());
    if let Stop::Corrupt { offset, .. } | Stop::Torn { offset } = s.stop {
        assert_eq!(offset, s.end);
    }
    // The single-record decoder on its own.
    if let Some(h) = data.get(..HEADER_LEN)
        && let Ok(Some(header)) = decode_header(h.try_into().unwrap())
        && let Some(body) = data.get(HEADER_LEN..HEADER_LEN.saturating_add(header.record_len() - HEADER_LEN))
    {
        let _ = decode_body(&header, body, None);
        let _ = decode_body(&header, body, Some(0));
    }
});
