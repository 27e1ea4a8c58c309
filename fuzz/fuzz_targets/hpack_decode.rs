//! HPACK field blocks come straight from clients: the decoder must never panic, must keep
//! its table within bounds, and whatever it decodes must survive our encoder and decode
//! back to the same fields.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringkv_net::hpack::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(4096, 16 * 1024);
    // Several blocks through one decoder: 0xfe separates them, so dynamic-table
    // state carries across blocks as on a real connection.
    for block in data.split(|&b| b == 0xfe) {
        let Ok(headers) = decoder.decode(&Bytes::copy_from_slice(block)) else {
            continue;
        };
        assert!(decoder.table().size() <= decoder.table().max_size());
        let mut encoder = Encoder::default();
        let mut out = BytesMut::new();
        encoder.encode(&headers, &mut out);
        let again = Decoder::new(4096, usize::MAX)
            .decode(&out.freeze())
            .expect("re-decode");
        assert_eq!(again.len(), headers.len());
        for (a, b) in again.iter().zip(&headers) {
            assert_eq!((&a.name, &a.value), (&b.name, &b.value));
        }
    }
});
