//! Chunked request bodies come straight from clients: decoding arbitrary bytes, split at an
//! arbitrary point, must never panic, never consume more than it was given, and never
//! produce more body than its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_net::http1::ChunkedDecoder;

const MAX_BODY: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split).min(data.len());
    let mut decoder = ChunkedDecoder::new(MAX_BODY);
    let mut body = Vec::new();
    let mut buf = data[..cut].to_vec();
    for more in [&data[cut..], &[][..]] {
        match decoder.decode(&buf, &mut body) {
            Ok(got) => {
                assert!(got.consumed <= buf.len());
                assert!(body.len() <= MAX_BODY);
                buf.drain(..got.consumed);
                if got.done {
                    return;
                }
            }
            Err(_) => return,
        }
        buf.extend_from_slice(more);
    }
});
