//! Differential tests: the `h2` crate's client (on tokio) against our server (on glommio).

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{TestServer, grpc_frame, grpc_messages};
use h2::client::SendRequest;
use http::{HeaderMap, Request};

struct Reply {
    http_status: u16,
    headers: HeaderMap,
    messages: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Reply {
    /// `grpc-status` from the trailers, or from the headers of a trailers-only response.
    fn grpc_status(&self) -> u32 {
        self.field("grpc-status").unwrap().parse().unwrap()
    }

    fn grpc_message(&self) -> Option<String> {
        self.field("grpc-message")
    }

    fn field(&self, name: &str) -> Option<String> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .or_else(|| self.headers.get(name))
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

async fn connect(server: &TestServer) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // A large connection window, as gRPC clients use; it also sizes h2's budget for
    // small DATA frames, which 150 concurrent tiny responses would otherwise exceed.
    let (send, conn) = h2::client::Builder::new()
        .initial_connection_window_size(16 << 20)
        .handshake(tcp)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

fn request(path: &str, extra: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::post(format!("http://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

async fn call(
    send: &SendRequest<Bytes>,
    path: &str,
    extra: &[(&str, &str)],
    messages: &[&[u8]],
) -> Reply {
    let mut send = send.clone().ready().await.unwrap();
    let (response, mut body) = send.send_request(request(path, extra), false).unwrap();
    for m in messages {
        body.send_data(grpc_frame(m), false).unwrap();
    }
    body.send_data(Bytes::new(), true).unwrap();
    read_reply(response).await
}

async fn read_reply(response: h2::client::ResponseFuture) -> Reply {
    let response = response.await.unwrap();
    let http_status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = response.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    Reply {
        http_status,
        headers,
        messages: grpc_messages(&data),
        trailers,
    }
}

fn run<F: std::future::Future<Output = ()>>(f: F) {
    common::run_local(f);
}

#[test]
fn unary_echo() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/test.Echo/Unary", &[], &[b"hello"]).await;
        assert_eq!(reply.http_status, 200);
        assert_eq!(reply.headers["content-type"], "application/grpc");
        assert_eq!(reply.messages, vec![Bytes::from_static(b"hello")]);
        assert_eq!(reply.grpc_status(), 0);
        // A second call on the same connection (HPACK dynamic table in use both ways).
        let reply = call(&send, "/test.Echo/Unary", &[], &[b""]).await;
        assert_eq!(reply.messages, vec![Bytes::new()]);
        assert_eq!(reply.grpc_status(), 0);
    });
    server.stop();
}

#[test]
fn health_check() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/grpc.health.v1.Health/Check", &[], &[b""]).await;
        assert_eq!(reply.messages, vec![Bytes::from_static(&[0x08, 0x01])]);
        let reply = call(
            &send,
            "/grpc.health.v1.Health/Check",
            &[],
            &[b"\x0a\x09test.Echo"],
        )
        .await;
        assert_eq!(reply.grpc_status(), 0);
        let reply = call(
            &send,
            "/grpc.health.v1.Health/Check",
            &[],
            &[b"\x0a\x03foo"],
        )
        .await;
        assert_eq!(reply.grpc_status(), 5);
        assert_eq!(reply.grpc_message().as_deref(), Some("unknown service"));
    });
    server.stop();
}

#[test]
fn large_messages_both_ways() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let reply = call(&send, "/test.Echo/Unary", &[], &[&big]).await;
        assert_eq!(reply.grpc_status(), 0);
        assert_eq!(reply.messages.len(), 1);
        assert_eq!(reply.messages[0].as_ref(), &big[..]);
    });
    server.stop();
}

#[test]
fn too_large_message_is_resource_exhausted() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let big = vec![1u8; 5 * 1024 * 1024];
        let reply = call(&send, "/test.Echo/Unary", &[], &[&big]).await;
        assert_eq!(reply.grpc_status(), 8);
        assert_eq!(
            reply.grpc_message().as_deref(),
            Some("grpc: received message larger than max (5242880 vs. 4194304)")
        );
        // The connection is still good.
        let reply = call(&send, "/test.Echo/Unary", &[], &[b"x"]).await;
        assert_eq!(reply.grpc_status(), 0);
    });
    server.stop();
}

#[test]
fn server_stream_with_backpressure() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let mut req = Vec::new();
        req.extend_from_slice(&50u32.to_be_bytes());
        req.extend_from_slice(&100_000u32.to_be_bytes());
        let reply = call(&send, "/test.Echo/ServerStream", &[], &[&req]).await;
        assert_eq!(reply.grpc_status(), 0);
        assert_eq!(reply.messages.len(), 50);
        for (i, m) in reply.messages.iter().enumerate() {
            assert_eq!(m.len(), 100_000);
            assert!(m.iter().all(|b| *b == i as u8));
        }
    });
    server.stop();
}

#[test]
fn client_stream_concatenates() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/test.Echo/ClientStream", &[], &[b"ab", b"", b"cd"]).await;
        assert_eq!(reply.messages, vec![Bytes::from_static(b"abcd")]);
        assert_eq!(reply.grpc_status(), 0);
    });
    server.stop();
}

#[test]
fn bidi_ping_pong() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let mut send = send.ready().await.unwrap();
        let (response, mut body) = send
            .send_request(request("/test.Echo/Bidi", &[]), false)
            .unwrap();
        body.send_data(grpc_frame(b"one"), false).unwrap();
        let response = response.await.unwrap();
        let mut rx = response.into_body();
        let mut pending = BytesMut::new();
        for expected in [&b"one"[..], b"two", b"three"] {
            // Each echo arrives before the next request is sent: a real conversation.
            while grpc_messages_prefix(&pending).is_none() {
                let chunk = rx.data().await.unwrap().unwrap();
                let _ = rx.flow_control().release_capacity(chunk.len());
                pending.extend_from_slice(&chunk);
            }
            let (m, used) = grpc_messages_prefix(&pending).unwrap();
            assert_eq!(m.as_ref(), expected);
            let _ = pending.split_to(used);
            match expected {
                b"one" => body.send_data(grpc_frame(b"two"), false).unwrap(),
                b"two" => body.send_data(grpc_frame(b"three"), false).unwrap(),
                _ => body.send_data(Bytes::new(), true).unwrap(),
            }
        }
        assert!(rx.data().await.is_none());
        let trailers = rx.trailers().await.unwrap().unwrap();
        assert_eq!(trailers["grpc-status"], "0");
    });
    server.stop();
}

fn grpc_messages_prefix(buf: &[u8]) -> Option<(Bytes, usize)> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let m = buf.get(5..5 + len)?;
    Some((Bytes::copy_from_slice(m), 5 + len))
}

#[test]
fn many_concurrent_streams() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let mut tasks = Vec::new();
        for i in 0..150u32 {
            let send = send.clone();
            tasks.push(tokio::spawn(async move {
                let msg = i.to_be_bytes();
                let reply = call(&send, "/test.Echo/Unary", &[], &[&msg]).await;
                assert_eq!(reply.grpc_status(), 0);
                assert_eq!(reply.messages, vec![Bytes::copy_from_slice(&msg)]);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    server.stop();
}

#[test]
fn errors_are_trailers_only() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/test.Echo/Fail", &[], &[b"x"]).await;
        assert_eq!(reply.http_status, 200);
        assert!(reply.trailers.is_none(), "trailers-only response");
        assert!(reply.messages.is_empty());
        assert_eq!(reply.headers["grpc-status"], "3");
        assert_eq!(reply.headers["grpc-message"], "bad thing: 100%25 wrong%0A");
    });
    server.stop();
}

#[test]
fn unknown_service_and_method() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/nope.Svc/Do", &[], &[b""]).await;
        assert_eq!(reply.grpc_status(), 12);
        assert_eq!(
            reply.grpc_message().as_deref(),
            Some("unknown service nope.Svc")
        );
        let reply = call(&send, "/test.Echo/Nope", &[], &[b""]).await;
        assert_eq!(reply.grpc_status(), 12);
        assert_eq!(
            reply.grpc_message().as_deref(),
            Some("unknown method Nope for service test.Echo")
        );
    });
    server.stop();
}

#[test]
fn not_grpc_requests_get_grpc_go_answers() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let mut s = send.clone().ready().await.unwrap();
        let req = Request::post("http://localhost/test.Echo/Unary")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let (response, _) = s.send_request(req, true).unwrap();
        let reply = read_reply(response).await;
        assert_eq!(reply.http_status, 415);
        assert_eq!(reply.grpc_status(), 3);
        let mut s = send.clone().ready().await.unwrap();
        let req = Request::get("http://localhost/test.Echo/Unary")
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let (response, _) = s.send_request(req, true).unwrap();
        let reply = read_reply(response).await;
        assert_eq!(reply.http_status, 405);
        assert_eq!(reply.grpc_status(), 13);
    });
    server.stop();
}

#[test]
fn metadata_and_timeout() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let reply = call(&send, "/test.Echo/Metadata", &[("token", "secret")], &[b""]).await;
        assert_eq!(reply.messages, vec![Bytes::from_static(b"secret")]);
        let started = std::time::Instant::now();
        let reply = call(
            &send,
            "/test.Echo/WaitDeadline",
            &[("grpc-timeout", "100m")],
            &[b""],
        )
        .await;
        assert_eq!(reply.grpc_status(), 4);
        assert!(started.elapsed() >= Duration::from_millis(100));
        let reply = call(
            &send,
            "/test.Echo/Unary",
            &[("grpc-timeout", "bogus")],
            &[b""],
        )
        .await;
        assert_eq!(reply.http_status, 400);
        assert_eq!(reply.grpc_status(), 13);
    });
    server.stop();
}

#[test]
fn shutdown_drains_in_flight_calls_then_closes() {
    let server = TestServer::start();
    run(async {
        let send = connect(&server).await;
        let mut s = send.clone().ready().await.unwrap();
        let (response, mut body) = s
            .send_request(request("/test.Echo/Bidi", &[]), false)
            .unwrap();
        body.send_data(grpc_frame(b"before"), false).unwrap();
        let response = response.await.unwrap();
        let mut rx = response.into_body();
        let first = rx.data().await.unwrap().unwrap();
        assert_eq!(grpc_messages(&first), vec![Bytes::from_static(b"before")]);
        server.trigger_shutdown();
        // The call in flight still completes after the GOAWAY.
        body.send_data(grpc_frame(b"after"), true).unwrap();
        let mut rest = BytesMut::new();
        while let Some(chunk) = rx.data().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(grpc_messages(&rest), vec![Bytes::from_static(b"after")]);
        assert_eq!(rx.trailers().await.unwrap().unwrap()["grpc-status"], "0");
    });
    server.stop();
}

/// A client that never reads must not make the server buffer without bound: the
/// handler's `send` stops returning once the windows, its budget and the socket are full.
#[test]
fn slow_reader_blocks_the_sender() {
    use std::sync::atomic::Ordering;

    let server = TestServer::start();
    run(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        // Default (64 KiB) windows and no reading at all.
        let (send, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut send = send.ready().await.unwrap();
        let (response, mut body) = send
            .send_request(request("/test.Echo/Flood", &[]), false)
            .unwrap();
        body.send_data(grpc_frame(b""), true).unwrap();
        let _response = response.await.unwrap();
        // Poll until the count stops moving (bounded), then check the bound.
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
        assert!(sent > 0, "the handler never ran");
        // 64 KiB window + 256 KiB call budget + 1 MiB high water + socket buffers: far
        // below the 64 MiB an unbounded queue would reach in that time.
        assert!(
            sent * 64 * 1024 < 64 << 20,
            "sent {sent} messages to a client that reads nothing"
        );
    });
    server.stop();
}
