//! The first bytes of every connection decide its protocol; any bytes must classify
//! without panicking, and the HTTP/2 verdict only ever follows the full preface.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_net::sniff::{HTTP2_PREFACE, Protocol, detect};

fuzz_target!(|data: &[u8]| {
    if detect(data) == Some(Protocol::Http2) {
        assert!(data.starts_with(HTTP2_PREFACE));
    }
});
