//! Arbitrary bytes as the MVCC layer's table contents: a `rev` record, an `index` entry and
//! an `index` key. The decoders must never panic, and whatever they accept must encode back
//! to a value that decodes the same (records) or to exactly the bytes read (index entries
//! and keys, whose encodings are canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_store::mvcc::index::IndexEntry;
use ringkv_store::mvcc::key;
use ringkv_store::mvcc::record::Record;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Record::decode(data) {
        let again = r.encode();
        assert_eq!(Record::decode(&again).ok(), Some(r));
    }
    if let Ok(e) = IndexEntry::decode(data) {
        // A varint may carry needless continuation bytes, so only the value must round-trip.
        let again = e.encode();
        assert_eq!(IndexEntry::decode(&again).ok(), Some(e));
    }
    if let Some((prefix, rev)) = key::split(data)
        && let Some(user) = key::unescape(prefix)
    {
        assert_eq!(key::encode(&key::prefix(&user), rev), data);
    }
});
