//! Our client (on tokio, through a futures-io adapter) against our server (on glommio).

mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use common::{TestServer, count_messages, stream_request};
use ringkv_net::client::{ClientConfig, ConnectionError, SendRequest, handshake, with_deadline};
use ringkv_net::grpc::{Code, Metadata, Status};
use ringkv_net::server::ServerConfig;

/// Connects to `server`, runs `body` with the call handle on a tokio LocalSet, then
/// checks the connection closes cleanly once the handle is gone.
fn with_client<F, Fut>(server: &TestServer, config: ClientConfig, body: F)
where
    F: FnOnce(SendRequest) -> Fut,
    Fut: Future<Output = ()>,
{
    with_client_result(server, config, body).unwrap();
}

/// As `with_client`, returning how the connection ended.
fn with_client_result<F, Fut>(
    server: &TestServer,
    config: ClientConfig,
    body: F,
) -> Result<(), ConnectionError>
where
    F: FnOnce(SendRequest) -> Fut,
    Fut: Future<Output = ()>,
{
    common::run_local(async {
        let (send, driver) = common::connect_client(server.addr, config).await;
        body(send).await;
        driver.await.unwrap()
    })
}

fn config() -> ClientConfig {
    ClientConfig::new("localhost")
}

#[test]
fn unary_echo_and_metadata() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        assert!(!send.is_closed());
        let none = Metadata::new();
        let reply = send
            .unary(
                "/test.Echo/Unary",
                Bytes::from_static(b"hello"),
                &none,
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply, "hello");
        // Again, with the HPACK dynamic tables in use both ways; an empty message.
        let reply = send
            .unary("/test.Echo/Unary", Bytes::new(), &none, None)
            .await
            .unwrap();
        assert_eq!(reply, "");
        let mut metadata = Metadata::new();
        metadata.insert(Bytes::from_static(b"token"), Bytes::from_static(b"secret"));
        let reply = send
            .unary("/test.Echo/Metadata", Bytes::new(), &metadata, None)
            .await
            .unwrap();
        assert_eq!(reply, "secret");
    });
    server.stop();
}

#[test]
fn server_streaming() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(50, 100_000),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        let mut i = 0u32;
        while let Some(message) = responses.message().await.unwrap() {
            assert_eq!(message.len(), 100_000);
            assert!(message.iter().all(|&b| b == i as u8), "message {i}");
            i += 1;
        }
        assert_eq!(i, 50);
        // The end is sticky.
        assert_eq!(responses.message().await, Ok(None));
    });
    server.stop();
}

#[test]
fn bidi_ping_pong() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let (mut requests, mut responses) = send
            .call("/test.Echo/Bidi", &Metadata::new(), None)
            .unwrap();
        for i in 0..20u32 {
            let message = Bytes::from(format!("message {i}"));
            requests.send(message.clone()).await.unwrap();
            assert_eq!(responses.message().await.unwrap(), Some(message));
        }
        requests.finish();
        assert_eq!(responses.message().await, Ok(None));
    });
    server.stop();
}

#[test]
fn client_streaming() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let (mut requests, mut responses) = send
            .call("/test.Echo/ClientStream", &Metadata::new(), None)
            .unwrap();
        for part in ["a", "bc", "def"] {
            requests.send(Bytes::from(part)).await.unwrap();
        }
        drop(requests);
        assert_eq!(
            responses.message().await.unwrap(),
            Some(Bytes::from("abcdef"))
        );
        assert_eq!(responses.message().await, Ok(None));
    });
    server.stop();
}

/// Messages well over every window (64 KiB default, 4 MiB ours): flow control both ways.
#[test]
fn large_messages_both_ways() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let big = Bytes::from(big);
        for _ in 0..3 {
            let reply = send
                .unary("/test.Echo/Unary", big.clone(), &Metadata::new(), None)
                .await
                .unwrap();
            assert!(reply == big);
        }
        // Many large messages in one stream, more than the connection window holds.
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(24, 1 << 20),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(count_messages(&mut responses, 1 << 20).await, 24);
    });
    server.stop();
}

/// Bidi with 2 MiB messages flowing both ways at once: the sender runs ahead of the reader
/// as far as the windows and budgets let it, and nothing deadlocks.
#[test]
fn bidi_large_messages_both_ways_at_once() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let (mut requests, mut responses) = send
            .call("/test.Echo/Bidi", &Metadata::new(), None)
            .unwrap();
        let sender = tokio::task::spawn_local(async move {
            for i in 0..20u8 {
                requests.send(Bytes::from(vec![i; 2 << 20])).await.unwrap();
            }
        });
        for i in 0..20u8 {
            let message = responses.message().await.unwrap().unwrap();
            assert_eq!(message.len(), 2 << 20);
            assert!(message.iter().all(|&b| b == i), "message {i}");
        }
        sender.await.unwrap();
        assert_eq!(responses.message().await, Ok(None));
    });
    server.stop();
}

/// More calls than the server's MAX_CONCURRENT_STREAMS, all at once on one connection:
/// the client queues what the limit does not admit instead of drawing REFUSED_STREAM.
#[test]
fn many_concurrent_calls_within_the_server_limit() {
    let server = TestServer::with_config(ServerConfig {
        max_concurrent_streams: 16,
        ..ServerConfig::default()
    });
    with_client(&server, config(), |send| async move {
        let mut tasks = Vec::new();
        for i in 0..150u32 {
            let send = send.clone();
            tasks.push(tokio::task::spawn_local(async move {
                let request = Bytes::from(vec![i as u8; (i as usize) * 100]);
                let reply = send
                    .unary("/test.Echo/Unary", request.clone(), &Metadata::new(), None)
                    .await
                    .unwrap();
                assert_eq!(reply, request);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    server.stop();
}

#[test]
fn error_status_and_unknown_method() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let err = send
            .unary("/test.Echo/Fail", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Status::new(Code::InvalidArgument, "bad thing: 100% wrong\n")
        );
        let err = send
            .unary("/test.Echo/Nope", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unimplemented);
        // The connection is still good.
        let reply = send
            .unary("/test.Echo/Unary", Bytes::from("x"), &Metadata::new(), None)
            .await
            .unwrap();
        assert_eq!(reply, "x");
    });
    server.stop();
}

#[test]
fn deadline_exceeded() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let err = send
            .unary(
                "/test.Echo/WaitDeadline",
                Bytes::new(),
                &Metadata::new(),
                Some(Duration::from_millis(50)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::DeadlineExceeded, "{err:?}");
    });
    server.stop();
}

/// The local half of a deadline: no `grpc-timeout`, a server that would wait forever; the
/// caller's timer ends the call, which cancels the stream and frees the handler.
#[test]
fn local_deadline_cancels_the_call() {
    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let err = with_deadline(
            send.unary(
                "/test.Echo/WaitDeadline",
                Bytes::new(),
                &Metadata::new(),
                None,
            ),
            tokio::time::sleep(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, Code::DeadlineExceeded);
        let reply = send
            .unary("/test.Echo/Unary", Bytes::from("x"), &Metadata::new(), None)
            .await
            .unwrap();
        assert_eq!(reply, "x");
    });
    server.stop();
}

#[test]
fn response_over_the_receive_limit_fails_only_that_call() {
    let server = TestServer::start();
    let config = ClientConfig {
        max_recv_message_size: 1 << 20,
        ..config()
    };
    with_client(&server, config, |send| async move {
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(3, 2 << 20),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        let err = responses.message().await.unwrap_err();
        assert_eq!(err.code, Code::ResourceExhausted, "{err:?}");
        let reply = send
            .unary("/test.Echo/Unary", Bytes::from("x"), &Metadata::new(), None)
            .await
            .unwrap();
        assert_eq!(reply, "x");
    });
    server.stop();
}

/// A response nobody reads: the call is cancelled when dropped, and while it is not, the
/// windows bound what the server can push into us.
#[test]
fn unread_and_dropped_calls() {
    use std::sync::atomic::Ordering;

    let server = TestServer::start();
    with_client(&server, config(), |send| async move {
        let responses = send
            .server_streaming("/test.Echo/Flood", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap();
        let mut last = u64::MAX;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = common::FLOOD_SENT.load(Ordering::SeqCst);
            if now == last && now > 0 {
                break;
            }
            last = now;
        }
        let sent = common::FLOOD_SENT.load(Ordering::SeqCst);
        // Our 4 MiB stream window + the server's 256 KiB call budget + 1 MiB high water +
        // socket buffers: far below what an unbounded receive queue would let through.
        assert!(
            sent * 64 * 1024 < 32 << 20,
            "the server sent {sent} messages to a caller that reads nothing"
        );
        drop(responses);
        let reply = send
            .unary(
                "/test.Echo/Unary",
                Bytes::from("after"),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply, "after");
    });
    server.stop();
}

/// The server's graceful GOAWAY: the call in flight finishes, new calls fail UNAVAILABLE.
#[test]
fn goaway_lets_in_flight_calls_finish() {
    let server = TestServer::start();
    let srv = &server;
    // The server closes the socket once drained, perhaps before our GOAWAY arrives: how
    // the connection ends is not what this test checks.
    let _ = with_client_result(&server, config(), |send| async move {
        let (mut requests, mut responses) = send
            .call("/test.Echo/Bidi", &Metadata::new(), None)
            .unwrap();
        requests.send(Bytes::from("before")).await.unwrap();
        assert_eq!(
            responses.message().await.unwrap(),
            Some(Bytes::from("before"))
        );
        srv.trigger_shutdown();
        let mut refused = None;
        for _ in 0..500 {
            match send
                .unary("/test.Echo/Unary", Bytes::from("x"), &Metadata::new(), None)
                .await
            {
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(status) => {
                    refused = Some(status);
                    break;
                }
            }
        }
        let refused = refused.expect("new calls still accepted after GOAWAY");
        assert_eq!(refused.code, Code::Unavailable, "{refused:?}");
        assert!(send.is_closed());
        requests.send(Bytes::from("after")).await.unwrap();
        requests.finish();
        assert_eq!(
            responses.message().await.unwrap(),
            Some(Bytes::from("after"))
        );
        assert_eq!(responses.message().await, Ok(None));
        drop(send);
    });
    server.stop();
}

/// The client on glommio, as grpc-proxy and peer traffic will run it: same calls, the
/// driver a local task beside them.
#[test]
fn on_glommio() {
    let server = TestServer::start();
    let addr = server.addr;
    let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
    ex.run(async move {
        let tcp = glommio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = handshake(tcp, config());
        let driver = glommio::spawn_local(connection);
        let reply = send
            .unary(
                "/test.Echo/Unary",
                Bytes::from("glommio"),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply, "glommio");
        let mut responses = send
            .server_streaming(
                "/test.Echo/ServerStream",
                stream_request(30, 300_000),
                &Metadata::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(count_messages(&mut responses, 300_000).await, 30);
        drop(responses);
        drop(send);
        driver.await.unwrap();
    });
    server.stop();
}
