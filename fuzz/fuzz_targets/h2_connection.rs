//! A whole server connection fed an arbitrary byte stream: preface, frames, HPACK, gRPC
//! messages and calls, over an in-memory socket. The driver must never panic and must
//! end (the input ends with EOF).
#![no_main]

use std::rc::Rc;

use libfuzzer_sys::fuzz_target;
use ringkv_net::server::{Call, Peer, Router, ServerConfig, serve_connection};
use ringkv_net::sniff::HTTP2_PREFACE;

#[path = "support/duplex.rs"]
mod duplex;
use duplex::Duplex;

fn router() -> Router {
    let mut router = Router::new();
    router.health(&["fuzz.Svc"]);
    router.unary("/fuzz.Svc/Unary", |_, request| async move { Ok(request) });
    router.add("/fuzz.Svc/Bidi", |mut call: Call| async move {
        while let Some(message) = call.requests.next().await {
            if call.responses.send(message?).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    router
}

thread_local! {
    static EXECUTOR: glommio::LocalExecutor =
        glommio::LocalExecutorBuilder::default().make().expect("a glommio executor");
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, body)) = data.split_first() else {
        return;
    };
    // Most inputs start with a valid preface so the fuzzer spends its time on frames.
    let mut input = HTTP2_PREFACE.to_vec();
    input.extend_from_slice(body);
    let duplex = Duplex {
        input,
        pos: 0,
        chunk: usize::from(chunk).max(1),
    };
    EXECUTOR.with(|ex| {
        ex.run(async {
            let router = Rc::new(router());
            let _ = serve_connection(duplex, &[], router, ServerConfig::default(), Peer::default(), std::future::pending()).await;
        })
    });
});
