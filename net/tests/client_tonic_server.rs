//! Differential tests: our client against tonic's server (hyper + h2 underneath), with a
//! raw-bytes codec so no protobuf types are needed.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{RawCodec, stream_request};
use ringkv_net::client::{ClientConfig, SendRequest};
use ringkv_net::grpc::{Code, Metadata, Status};
use tonic::codegen::{BoxFuture, Context, Poll, Service, tokio_stream};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;

/// Unary echo, a failing unary, server-streaming (`count: u32, size: u32` as the test
/// server's) and bidi echo.
#[derive(Clone)]
struct Echo;

impl NamedService for Echo {
    const NAME: &'static str = "test.Echo";
}

impl Service<http::Request<tonic::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            Ok(match request.uri().path() {
                "/test.Echo/Unary" => grpc.unary(Method(Kind::Unary), request).await,
                "/test.Echo/Fail" => grpc.unary(Method(Kind::Fail), request).await,
                "/test.Echo/ServerStream" => grpc.server_streaming(Streams, request).await,
                "/test.Echo/Bidi" => grpc.streaming(Method(Kind::Bidi), request).await,
                _ => tonic::Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Unary,
    Fail,
    Bidi,
}

#[derive(Clone, Copy)]
struct Method(Kind);

impl Service<tonic::Request<Bytes>> for Method {
    type Response = tonic::Response<Bytes>;
    type Error = tonic::Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let kind = self.0;
        Box::pin(async move {
            match kind {
                Kind::Fail => Err(tonic::Status::already_exists("taken: 50% off\n")),
                _ => Ok(tonic::Response::new(request.into_inner())),
            }
        })
    }
}

type Messages = tokio_stream::Iter<std::vec::IntoIter<Result<Bytes, tonic::Status>>>;

impl Service<tonic::Request<Bytes>> for Streams {
    type Response = tonic::Response<Messages>;
    type Error = tonic::Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        Box::pin(async move {
            let request = request.into_inner();
            let (count, size) = match request.as_ref() {
                [a, b, c, d, e, f, g, h] => (
                    u32::from_be_bytes([*a, *b, *c, *d]),
                    u32::from_be_bytes([*e, *f, *g, *h]) as usize,
                ),
                _ => return Err(tonic::Status::invalid_argument("bad request")),
            };
            let messages: Vec<_> = (0..count)
                .map(|i| Ok(Bytes::from(vec![i as u8; size])))
                .collect();
            Ok(tonic::Response::new(tokio_stream::iter(messages)))
        })
    }
}

/// Server-streaming as its own service type: tonic wants the stream type per service.
#[derive(Clone, Copy)]
struct Streams;

impl Service<tonic::Request<tonic::Streaming<Bytes>>> for Method {
    type Response = tonic::Response<tonic::Streaming<Bytes>>;
    type Error = tonic::Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Bidi echo: the request stream is the response stream.
    fn call(&mut self, request: tonic::Request<tonic::Streaming<Bytes>>) -> Self::Future {
        Box::pin(async move { Ok(tonic::Response::new(request.into_inner())) })
    }
}

async fn start_tonic_server() -> SocketAddr {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Echo)
            .serve_with_incoming(incoming),
    );
    addr
}

fn run<F, Fut>(body: F)
where
    F: FnOnce(SendRequest) -> Fut,
    Fut: Future<Output = ()>,
{
    common::run_local(async {
        let addr = start_tonic_server().await;
        let (send, driver) =
            common::connect_client(addr, ClientConfig::new(addr.to_string())).await;
        body(send).await;
        driver.await.unwrap().unwrap();
    });
}

#[test]
fn tonic_server_unary_and_errors() {
    run(|send| async move {
        let none = Metadata::new();
        let reply = send
            .unary("/test.Echo/Unary", Bytes::from("hi"), &none, None)
            .await
            .unwrap();
        assert_eq!(reply, "hi");
        let big = Bytes::from(vec![7u8; 3 << 20]);
        let reply = send
            .unary("/test.Echo/Unary", big.clone(), &none, None)
            .await
            .unwrap();
        assert!(reply == big);
        let err = send
            .unary("/test.Echo/Fail", Bytes::new(), &none, None)
            .await
            .unwrap_err();
        assert_eq!(err, Status::new(Code::AlreadyExists, "taken: 50% off\n"));
        let err = send
            .unary("/test.Echo/Missing", Bytes::new(), &none, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unimplemented);
    });
}

#[test]
fn tonic_server_streaming_and_bidi() {
    run(|send| async move {
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(40, 200_000),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        let mut i = 0u32;
        while let Some(message) = responses.message().await.unwrap() {
            assert_eq!(message.len(), 200_000);
            assert!(message.iter().all(|&b| b == i as u8));
            i += 1;
        }
        assert_eq!(i, 40);

        let (mut requests, mut responses) = send
            .call("/test.Echo/Bidi", &Metadata::new(), None)
            .unwrap();
        for i in 0..10u32 {
            let message = Bytes::from(format!("ping {i}"));
            requests.send(message.clone()).await.unwrap();
            assert_eq!(responses.message().await.unwrap(), Some(message));
        }
        requests.finish();
        assert_eq!(responses.message().await, Ok(None));
    });
}
