//! An in-process unary round trip: our own minimal client and the server driver on one
//! glommio core, over loopback TCP. Measures the whole path: frames, HPACK, dispatch, a
//! task per call, flow control, one write per turn. A second benchmark makes the same call
//! through `ringkv_net::client`, so the client's own cost shows as the difference.
//!
//! `CARGO_TARGET_DIR=/work/target-net cargo bench -p ringkv-net --bench unary`

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use ringkv_net::client::{ClientConfig, handshake};
use ringkv_net::codec::{FrameReader, FrameWriter};
use ringkv_net::frame::{Frame, Settings, StreamId, WindowUpdate};
use ringkv_net::grpc::Metadata;
use ringkv_net::hpack::{Decoder, Encoder, Header};
use ringkv_net::server::{Peer, Router, ServerConfig, serve_connection};
use ringkv_net::sniff::HTTP2_PREFACE;

struct Client {
    stream: TcpStream,
    encoder: Encoder,
    decoder: Decoder,
    reader: FrameReader,
    buf: BytesMut,
    next_id: u32,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut w = FrameWriter::new();
        w.frame(&Frame::Settings(Settings::default()));
        // Open the connection window all the way once: this client never reads more than
        // a few GiB, so it needs no further WINDOW_UPDATEs.
        w.frame(&Frame::WindowUpdate(WindowUpdate::new(
            StreamId::ZERO,
            0x7fff_ffff - 65_535,
        )));
        let mut out = HTTP2_PREFACE.to_vec();
        for c in w.flush() {
            out.extend_from_slice(&c);
        }
        stream.write_all(&out).await.unwrap();
        stream.flush().await.unwrap();
        Client {
            stream,
            encoder: Encoder::new(4096),
            decoder: Decoder::new(4096, 1 << 16),
            reader: FrameReader::new(),
            buf: BytesMut::new(),
            next_id: 1,
        }
    }

    /// One unary call; returns when its trailers arrive.
    async fn unary(&mut self, message: &[u8]) {
        let id = StreamId::new(self.next_id);
        self.next_id += 2;
        let fields = [
            Header::new(":method", "POST"),
            Header::new(":scheme", "http"),
            Header::new(":path", "/bench.Svc/Noop"),
            Header::new("content-type", "application/grpc"),
            Header::new("te", "trailers"),
        ];
        let mut block = BytesMut::new();
        self.encoder.encode(&fields, &mut block);
        let mut body = vec![0u8, 0, 0, 0, message.len() as u8];
        body.extend_from_slice(message);
        let mut w = FrameWriter::new();
        w.headers(id, block.freeze(), false);
        w.data(id, Bytes::from(body), true);
        let mut out = Vec::new();
        for c in w.flush() {
            out.extend_from_slice(&c);
        }
        self.stream.write_all(&out).await.unwrap();
        self.stream.flush().await.unwrap();
        loop {
            while let Some(frame) = self.reader.decode(&mut self.buf).unwrap() {
                if let Frame::Headers(h) = frame {
                    self.decoder.decode(&h.header_block).unwrap();
                    if h.end_stream && h.stream_id == id {
                        return;
                    }
                }
            }
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "server closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn unary_round_trip(c: &mut Criterion) {
    // The server gets a core (thread) of its own, as in ringkv; the client another.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
        ex.run(async move {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let mut router = Router::new();
            router.unary("/bench.Svc/Noop", |_, request| async move { Ok(request) });
            let router = Rc::new(router);
            while let Ok(stream) = listener.accept().await {
                let router = router.clone();
                glommio::spawn_local(async move {
                    let _ = serve_connection(
                        stream,
                        &[],
                        router,
                        ServerConfig::default(),
                        Peer::default(),
                        std::future::pending(),
                    )
                    .await;
                })
                .detach();
            }
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let ex = glommio::LocalExecutorBuilder::default().make().unwrap();
    let mut client = ex.run(Client::connect(addr));
    let (send, driver) = ex.run(async {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (send, connection) = handshake(stream, ClientConfig::new("bench"));
        (send, glommio::spawn_local(connection).detach())
    });
    let none = Metadata::new();
    c.bench_function(
        "grpc unary round trip, ringkv_net::client (loopback)",
        |b| {
            b.iter_custom(|iters| {
                ex.run(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        send.unary("/bench.Svc/Noop", Bytes::from_static(b"ping"), &none, None)
                            .await
                            .unwrap();
                    }
                    start.elapsed()
                })
            })
        },
    );
    drop(driver);
    c.bench_function("grpc unary round trip (loopback, one core)", |b| {
        b.iter_custom(|iters| {
            ex.run(async {
                let start = Instant::now();
                for _ in 0..iters {
                    client.unary(b"ping").await;
                }
                start.elapsed()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = unary_round_trip
}
criterion_main!(benches);
