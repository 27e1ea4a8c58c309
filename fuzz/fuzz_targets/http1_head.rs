//! HTTP/1 request heads come straight from clients: parsing must never panic, and a
//! parsed head's accessors must not either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_net::http1::parse_head;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((head, consumed))) = parse_head(data) {
        assert!(consumed <= data.len());
        let _ = head.path();
        let _ = head.keep_alive();
        let _ = head.content_length();
        let _ = head.body_kind();
    }
});
