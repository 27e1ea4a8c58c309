//! A real gRPC client (tonic, with a raw-bytes codec so no protobuf types are needed)
//! calling the test services on our server: unary, server-stream and bidi.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes};
use common::{RawCodec, TestServer};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

fn run<F: std::future::Future<Output = ()>>(f: F) {
    common::run_local(f);
}

async fn client(server: &TestServer) -> tonic::client::Grpc<Channel> {
    let channel = Endpoint::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

fn path(p: &'static str) -> http::uri::PathAndQuery {
    http::uri::PathAndQuery::from_static(p)
}

#[test]
fn tonic_unary_and_errors() {
    let server = TestServer::start();
    run(async {
        let mut grpc = client(&server).await;
        grpc.ready().await.unwrap();
        let reply = grpc
            .unary(
                Request::new(Bytes::from_static(b"hi tonic")),
                path("/test.Echo/Unary"),
                RawCodec,
            )
            .await
            .unwrap();
        assert_eq!(reply.into_inner(), Bytes::from_static(b"hi tonic"));

        let big = Bytes::from(vec![9u8; 2 * 1024 * 1024]);
        grpc.ready().await.unwrap();
        let reply = grpc
            .unary(
                Request::new(big.clone()),
                path("/test.Echo/Unary"),
                RawCodec,
            )
            .await
            .unwrap();
        assert_eq!(reply.into_inner(), big);

        grpc.ready().await.unwrap();
        let err = grpc
            .unary(
                Request::new(Bytes::new()),
                path("/test.Echo/Fail"),
                RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.message(), "bad thing: 100% wrong\n");

        grpc.ready().await.unwrap();
        let err = grpc
            .unary(Request::new(Bytes::new()), path("/x.Y/Z"), RawCodec)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unimplemented);
        assert_eq!(err.message(), "unknown service x.Y");

        let mut request = Request::new(Bytes::new());
        request.set_timeout(Duration::from_millis(50));
        grpc.ready().await.unwrap();
        let err = grpc
            .unary(request, path("/test.Echo/WaitDeadline"), RawCodec)
            .await
            .unwrap_err();
        // tonic also times the call itself: whichever side fires first answers (the
        // server's own DEADLINE_EXCEEDED is asserted in h2_client.rs).
        assert!(
            matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
            "{err:?}"
        );
    });
    server.stop();
}

#[test]
fn tonic_server_stream() {
    let server = TestServer::start();
    run(async {
        let mut grpc = client(&server).await;
        grpc.ready().await.unwrap();
        let mut req = Vec::new();
        req.put_u32(20);
        req.put_u32(70_000);
        let mut stream = grpc
            .server_streaming(
                Request::new(Bytes::from(req)),
                path("/test.Echo/ServerStream"),
                RawCodec,
            )
            .await
            .unwrap()
            .into_inner();
        let mut n = 0u32;
        while let Some(m) = stream.message().await.unwrap() {
            assert_eq!(m.len(), 70_000);
            assert!(m.iter().all(|b| *b == n as u8));
            n += 1;
        }
        assert_eq!(n, 20);
    });
    server.stop();
}

#[test]
fn tonic_bidi() {
    let server = TestServer::start();
    run(async {
        let mut grpc = client(&server).await;
        grpc.ready().await.unwrap();
        let messages: Vec<Bytes> = (0..100u32)
            .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
            .collect();
        let outbound = tokio_stream::iter(messages.clone());
        let mut inbound = grpc
            .streaming(Request::new(outbound), path("/test.Echo/Bidi"), RawCodec)
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(m) = inbound.message().await.unwrap() {
            got.push(m);
        }
        assert_eq!(got, messages);
    });
    server.stop();
}

#[test]
fn tonic_concurrent_unary() {
    let server = TestServer::start();
    run(async {
        let grpc = client(&server).await;
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let mut grpc = grpc.clone();
            tasks.push(tokio::spawn(async move {
                grpc.ready().await.unwrap();
                let msg = Bytes::from(i.to_be_bytes().to_vec());
                let reply = grpc
                    .unary(
                        Request::new(msg.clone()),
                        path("/test.Echo/Unary"),
                        RawCodec,
                    )
                    .await
                    .unwrap();
                assert_eq!(reply.into_inner(), msg);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    server.stop();
}
