//! A whole client connection fed an arbitrary server byte stream: SETTINGS, frames, HPACK,
//! gRPC messages and trailers, over an in-memory socket, with a bidi and a unary call in
//! flight. The driver and the calls must never panic and must end (the input ends with EOF).
#![no_main]


use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringkv_net::client::{ClientConfig, handshake};
use ringkv_net::grpc::Metadata;

#[path = "support/duplex.rs"]
mod duplex;
use duplex::Duplex;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, body)) = data.split_first() else {
        return;
    };
    // Most inputs start with an empty SETTINGS so the fuzzer spends its time on frames.
    let mut input = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
    input.extend_from_slice(body);
    let duplex = Duplex {
        input,
        pos: 0,
        chunk: usize::from(chunk).max(1),
    };
    let (send, connection) = handshake(duplex, ClientConfig::new("fuzz"));
    let none = Metadata::new();
    let Ok((mut requests, mut responses)) = send.call("/fuzz.Svc/Bidi", &none, None) else {
        return;
    };
    let calls = async {
        let unary = send.unary("/fuzz.Svc/Unary", Bytes::from_static(b"u"), &none, None);
        let bidi = async {
            let _ = requests.send(Bytes::from_static(b"x")).await;
            drop(requests);
            while let Ok(Some(_)) = responses.message().await {}
        };
        let _ = futures_lite::future::zip(unary, bidi).await;
    };
    // The calls are polled first, so the unary call is queued before the input runs.
    let _ = futures_lite::future::block_on(futures_lite::future::zip(calls, connection));
});
