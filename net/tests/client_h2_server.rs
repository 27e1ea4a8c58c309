//! Differential tests: our client (on tokio, through a futures-io adapter) against the
//! `h2` crate's server, an independent HTTP/2 implementation.

mod common;

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Request, Response};
use ringkv_net::client::{ClientConfig, SendRequest};
use ringkv_net::grpc::{Code, Metadata, Status};

/// PINGs of the h2 server our client acknowledged.
static PONGS: AtomicU32 = AtomicU32::new(0);

/// An h2 server on 127.0.0.1 that answers gRPC-shaped requests:
/// - `/echo`: the request body back, then trailers `grpc-status: 0` and `x-trailer`; the
///   response headers report what the request carried (`x-saw-*`).
/// - `/fail`: a trailers-only response, FAILED_PRECONDITION with a percent-encoded message.
/// - `/goaway`: as `/echo`, after starting h2's graceful shutdown (GOAWAY, PING, GOAWAY).
///
/// Each connection also pings the client once, counting the answers in `PONGS`.
async fn start_h2_server(max_concurrent_streams: u32) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::Builder::new()
                    .max_concurrent_streams(max_concurrent_streams)
                    .handshake::<_, Bytes>(tcp)
                    .await
                else {
                    return;
                };
                if let Some(mut pings) = conn.ping_pong() {
                    tokio::spawn(async move {
                        if pings.ping(h2::Ping::opaque()).await.is_ok() {
                            PONGS.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
                while let Some(Ok((request, respond))) = conn.accept().await {
                    if request.uri().path() == "/goaway" {
                        conn.graceful_shutdown();
                    }
                    tokio::spawn(handle(request, respond));
                }
            });
        }
    });
    addr
}

async fn handle(request: Request<RecvStream>, mut respond: SendResponse<Bytes>) {
    let path = request.uri().path().to_owned();
    let saw = |name: &str| {
        request
            .headers()
            .get(name)
            .cloned()
            .unwrap_or(HeaderValue::from_static("-"))
    };
    let mut reply = Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("x-saw-te", saw("te"))
        .header("x-saw-content-type", saw("content-type"))
        .header("x-saw-timeout", saw("grpc-timeout"))
        .header("x-saw-token", saw("token"))
        .header(
            "x-saw-authority",
            request.uri().authority().map_or("-", |a| a.as_str()),
        )
        .header("x-saw-scheme", request.uri().scheme_str().unwrap_or("-"));
    let mut body = request.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    if path == "/fail" {
        reply = reply
            .header("grpc-status", "9")
            .header("grpc-message", "not%20now%3A 100%25");
        let _ = respond.send_response(reply.body(()).unwrap(), true);
        return;
    }
    let Ok(mut send) = respond.send_response(reply.body(()).unwrap(), false) else {
        return;
    };
    // Sent within the capacity h2 grants, so the client's windows pace the body.
    let mut rest = data.freeze();
    while !rest.is_empty() {
        send.reserve_capacity(rest.len());
        let Some(Ok(capacity)) = poll_fn(|cx| send.poll_capacity(cx)).await else {
            return;
        };
        let chunk = rest.split_to(capacity.min(rest.len()));
        if send.send_data(chunk, false).is_err() {
            return;
        }
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    trailers.insert("x-trailer", HeaderValue::from_static("yes"));
    let _ = send.send_trailers(trailers);
}

fn run<F, Fut>(max_concurrent_streams: u32, body: F)
where
    F: FnOnce(SendRequest) -> Fut,
    Fut: Future<Output = ()>,
{
    common::run_local(async {
        let addr = start_h2_server(max_concurrent_streams).await;
        let (send, driver) = common::connect_client(addr, ClientConfig::new("example.test")).await;
        body(send).await;
        driver.await.unwrap().unwrap();
    });
}

#[test]
fn unary_exchange_with_trailers() {
    run(100, |send| async move {
        let mut metadata = Metadata::new();
        metadata.insert(Bytes::from_static(b"token"), Bytes::from_static(b"t0k"));
        let (mut requests, mut responses) = send
            .call("/echo", &metadata, Some(Duration::from_secs(5)))
            .unwrap();
        requests.send(Bytes::from("hello")).await.unwrap();
        requests.finish();
        assert_eq!(
            responses.message().await.unwrap(),
            Some(Bytes::from("hello"))
        );
        assert_eq!(responses.message().await, Ok(None));
        let headers = responses.headers();
        assert_eq!(headers.get_str("x-saw-te"), Some("trailers"));
        assert_eq!(
            headers.get_str("x-saw-content-type"),
            Some("application/grpc")
        );
        assert_eq!(headers.get_str("x-saw-timeout"), Some("5000000u"));
        assert_eq!(headers.get_str("x-saw-token"), Some("t0k"));
        assert_eq!(headers.get_str("x-saw-authority"), Some("example.test"));
        assert_eq!(headers.get_str("x-saw-scheme"), Some("http"));
        assert_eq!(responses.trailers().get_str("x-trailer"), Some("yes"));

        let err = send
            .unary("/fail", Bytes::from("x"), &Metadata::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err, Status::new(Code::FailedPrecondition, "not now: 100%"));
    });
}

/// 3 MiB each way through h2's default 64 KiB windows, and several messages per body.
#[test]
fn large_body_flow_control() {
    run(100, |send| async move {
        let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
        let big = Bytes::from(big);
        let reply = send
            .unary("/echo", big.clone(), &Metadata::new(), None)
            .await
            .unwrap();
        assert!(reply == big);
        let (mut requests, mut responses) = send.call("/echo", &Metadata::new(), None).unwrap();
        for i in 0..8u8 {
            requests.send(Bytes::from(vec![i; 700_000])).await.unwrap();
        }
        requests.finish();
        for i in 0..8u8 {
            let message = responses.message().await.unwrap().unwrap();
            assert_eq!(message.len(), 700_000);
            assert!(message.iter().all(|&b| b == i));
        }
        assert_eq!(responses.message().await, Ok(None));
    });
}

/// h2 refuses streams over its limit; the client must never get that far.
#[test]
fn concurrent_calls_within_h2s_stream_limit() {
    run(4, |send| async move {
        let mut tasks = Vec::new();
        for i in 0..60u32 {
            let send = send.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let request = Bytes::from(i.to_be_bytes().to_vec());
                let reply = send
                    .unary("/echo", request.clone(), &Metadata::new(), None)
                    .await
                    .unwrap();
                assert_eq!(reply, request);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn pings_are_answered() {
    run(100, |send| async move {
        let reply = send
            .unary("/echo", Bytes::from("x"), &Metadata::new(), None)
            .await
            .unwrap();
        assert_eq!(reply, "x");
        for _ in 0..1000 {
            if PONGS.load(Ordering::SeqCst) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server's PING was not acknowledged");
    });
}

/// h2's graceful shutdown: the call that triggered it completes, later calls are refused
/// locally with UNAVAILABLE, and the connection ends cleanly.
#[test]
fn graceful_goaway_from_h2() {
    run(100, |send| async move {
        let (mut requests, mut responses) = send.call("/goaway", &Metadata::new(), None).unwrap();
        requests.send(Bytes::from("last")).await.unwrap();
        requests.finish();
        assert_eq!(
            responses.message().await.unwrap(),
            Some(Bytes::from("last"))
        );
        assert_eq!(responses.message().await, Ok(None));
        let mut refused = None;
        for _ in 0..500 {
            match send
                .unary("/echo", Bytes::from("x"), &Metadata::new(), None)
                .await
            {
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(status) => {
                    refused = Some(status);
                    break;
                }
            }
        }
        let refused = refused.expect("calls still accepted after GOAWAY");
        assert_eq!(refused.code, Code::Unavailable, "{refused:?}");
    });
}
