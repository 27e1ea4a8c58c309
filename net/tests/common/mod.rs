//! A test server: our driver on a glommio executor in its own thread, listening on
//! 127.0.0.1 port 0, with a few test services; and helpers for raw frame exchanges.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ringkv_net::grpc::{Code, Status};
use ringkv_net::server::{Call, Peer, Router, ServerConfig, serve_connection};

mod raw_codec;
// Not every test binary that includes `common` calls tonic.
#[allow(unused_imports)]
pub use raw_codec::RawCodec;

/// The request of the test services' `ServerStream`: `count` messages of `size` bytes each.
pub fn stream_request(count: u32, size: u32) -> Bytes {
    let mut b = count.to_be_bytes().to_vec();
    b.extend_from_slice(&size.to_be_bytes());
    Bytes::from(b)
}

/// Reads a server stream to its end, checking every message is `size` bytes; returns how
/// many there were.
pub async fn count_messages(
    responses: &mut ringkv_net::client::ResponseStream,
    size: usize,
) -> usize {
    let mut n = 0;
    while let Some(message) = responses.message().await.unwrap() {
        assert_eq!(message.len(), size, "message {n}");
        n += 1;
    }
    n
}

/// How long one test of our client may run before it fails.
pub const CLIENT_TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a current-thread tokio runtime inside a `LocalSet` (our client's connection
/// driver is spawned locally), failing the test after [`CLIENT_TEST_LIMIT`].
pub fn run_local<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::time::timeout(CLIENT_TEST_LIMIT, f)
            .await
            .expect("test timed out")
    })
}

/// Opens our client over plain TCP (h2c) to `addr` and spawns its connection driver on the
/// current `LocalSet`.
pub async fn connect_client(
    addr: SocketAddr,
    config: ringkv_net::client::ClientConfig,
) -> (
    ringkv_net::client::SendRequest,
    tokio::task::JoinHandle<Result<(), ringkv_net::client::ConnectionError>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (send, connection) = ringkv_net::client::handshake(TokioIo(tcp), config);
    (send, tokio::task::spawn_local(connection))
}

/// Messages `Flood` managed to queue (its `send` returned).
pub static FLOOD_SENT: AtomicU64 = AtomicU64::new(0);

pub struct TestServer {
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> TestServer {
        TestServer::with_tls(config, None)
    }

    /// As `with_config`, each connection TLS-wrapped when `tls` is given.
    pub fn with_tls(
        config: ServerConfig,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> TestServer {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let thread = std::thread::spawn(move || {
            let ex = glommio::LocalExecutorBuilder::default()
                .spawn(move || async move {
                    let listener = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    addr_tx.send(listener.local_addr().unwrap()).unwrap();
                    let router = Rc::new(test_router());
                    let mut connections = Vec::new();
                    loop {
                        let mut stopped = stop_rx.clone();
                        let accepted = futures_lite::future::or(
                            async { Some(listener.accept().await) },
                            async {
                                let _ = stopped.wait_for(|v| *v).await;
                                None
                            },
                        )
                        .await;
                        let Some(Ok(stream)) = accepted else { break };
                        let router = router.clone();
                        let config = config.clone();
                        let mut shutdown = stop_rx.clone();
                        let tls = tls.clone();
                        connections.push(glommio::spawn_local(async move {
                            let shutdown = async move {
                                let _ = shutdown.wait_for(|v| *v).await;
                            };
                            match tls {
                                None => {
                                    let peer = Peer::default();
                                    let _ = serve_connection(
                                        stream,
                                        &[],
                                        router,
                                        config,
                                        peer,
                                        shutdown,
                                    )
                                    .await;
                                }
                                Some(tls) => {
                                    let acceptor = ringkv_net::tls::TlsAcceptor::from(tls);
                                    let Ok(stream) = acceptor.accept(stream).await else {
                                        return;
                                    };
                                    let peer = Peer {
                                        common_name: ringkv_net::tls::peer_common_name(&stream),
                                    };
                                    let _ = serve_connection(
                                        stream,
                                        &[],
                                        router,
                                        config,
                                        peer,
                                        shutdown,
                                    )
                                    .await;
                                }
                            }
                        }));
                    }
                    for c in connections {
                        c.await;
                    }
                })
                .unwrap();
            ex.join().unwrap();
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        TestServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Starts the graceful shutdown of the listener and every connection.
    pub fn trigger_shutdown(&self) {
        let _ = self.stop.send(true);
    }

    /// Shuts down and waits (bounded by the drivers' grace period) for the thread.
    pub fn stop(mut self) {
        self.trigger_shutdown();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The test services:
/// - `Unary`: echoes the request.
/// - `ServerStream`: request `count: u32, size: u32` (big-endian); answers `count`
///   messages of `size` octets, message `i` filled with `i as u8`.
/// - `Bidi`: echoes each message as it arrives.
/// - `ClientStream`: answers the concatenation of all requests.
/// - `Fail`: INVALID_ARGUMENT with a message that needs percent-encoding.
/// - `Metadata`: answers the `token` metadata value.
/// - `Flood`: sends 64 KiB messages until the stream closes, counting in `FLOOD_SENT`.
/// - `WaitDeadline`: waits until the call is over (deadline or cancel).
pub fn test_router() -> Router {
    let mut router = Router::new();
    router.health(&["test.Echo"]);
    router.unary("/test.Echo/Unary", |_, request| async move { Ok(request) });
    // The client certificate's CN, as the transport reported it ("" without one).
    router.add("/test.Echo/Peer", |mut call: Call| async move {
        let _ = call.requests.next().await;
        let name = call.peer.common_name.clone().unwrap_or_default();
        // A client that went away is no error of the handler's.
        let _ = call.responses.send(Bytes::from(name)).await;
        Ok(())
    });
    router.add("/test.Echo/ServerStream", |mut call: Call| async move {
        let Some(Ok(request)) = call.requests.next().await else {
            return Err(Status::new(Code::InvalidArgument, "no request"));
        };
        let (count, size) = match request.as_ref() {
            [a, b, c, d, e, f, g, h] => (
                u32::from_be_bytes([*a, *b, *c, *d]),
                u32::from_be_bytes([*e, *f, *g, *h]) as usize,
            ),
            _ => return Err(Status::new(Code::InvalidArgument, "bad request")),
        };
        for i in 0..count {
            let message = Bytes::from(vec![i as u8; size]);
            if call.responses.send(message).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    });
    router.add("/test.Echo/Bidi", |mut call: Call| async move {
        while let Some(message) = call.requests.next().await {
            let message = message?;
            if call.responses.send(message).await.is_err() {
                break;
            }
        }
        Ok(())
    });
    router.add("/test.Echo/ClientStream", |mut call: Call| async move {
        let mut all = BytesMut::new();
        while let Some(message) = call.requests.next().await {
            all.extend_from_slice(&message?);
        }
        let _ = call.responses.send(all.freeze()).await;
        Ok(())
    });
    router.unary("/test.Echo/Fail", |_, _| async move {
        Err(Status::new(
            Code::InvalidArgument,
            "bad thing: 100% wrong\n",
        ))
    });
    router.unary("/test.Echo/Metadata", |metadata, _| async move {
        Ok(metadata.get("token").cloned().unwrap_or_default())
    });
    router.add("/test.Echo/Flood", |mut call: Call| async move {
        let message = Bytes::from(vec![0u8; 64 * 1024]);
        while call.responses.send(message.clone()).await.is_ok() {
            FLOOD_SENT.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    });
    router.add("/test.Echo/WaitDeadline", |mut call: Call| async move {
        call.responses.closed().await;
        Ok(())
    });
    router
}

/// A gRPC length-prefixed message.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(message.len() as u32);
    b.extend_from_slice(message);
    b.freeze()
}

/// Splits a response body into its messages.
pub fn grpc_messages(mut body: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push(Bytes::copy_from_slice(&body[5..5 + len]));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "trailing partial message");
    out
}

/// A tokio stream seen through the futures-io traits, so our runtime-agnostic client
/// runs on tokio in tests.
pub struct TokioIo<T>(pub T);

impl<T: tokio::io::AsyncRead + Unpin> futures_lite::AsyncRead for TokioIo<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut read = tokio::io::ReadBuf::new(buf);
        std::pin::Pin::new(&mut self.0)
            .poll_read(cx, &mut read)
            .map_ok(|()| read.filled().len())
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> futures_lite::AsyncWrite for TokioIo<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
