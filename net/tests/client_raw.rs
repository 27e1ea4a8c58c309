//! Our client against a scripted server that writes frames by hand: the protocol rules
//! a well-behaved server never exercises (flow control to the octet, a server that
//! breaks the rules, resets, early ends).

mod common;

use std::future::Future;

use bytes::{Bytes, BytesMut};
use common::TokioIo;
use ringkv_net::client::{ClientConfig, ConnectionError, ResponseStream, SendRequest, handshake};
use ringkv_net::codec::{FrameReader, strip_preface};
use ringkv_net::frame::{
    Data, ErrorCode, Frame, Headers, Ping, PushPromise, RstStream, Settings, StreamId, WindowUpdate,
};
use ringkv_net::grpc::{Code, Metadata};
use ringkv_net::hpack::{self, Header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// The server end of one connection, driven by the test.
struct Peer {
    tcp: tokio::net::TcpStream,
    buf: BytesMut,
    reader: FrameReader,
    encoder: hpack::Encoder,
    decoder: hpack::Decoder,
}

impl Peer {
    /// The next frame from the client; `None` once it closed the connection.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.reader.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.tcp.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until `pick` accepts a frame.
    async fn until<T>(&mut self, mut pick: impl FnMut(&Frame) -> Option<T>) -> T {
        loop {
            let frame = self.next().await.expect("the client closed the connection");
            if let Some(found) = pick(&frame) {
                return found;
            }
        }
    }

    async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        frame.encode(&mut out);
        self.tcp.write_all(&out).await.unwrap();
    }

    fn block(&mut self, fields: &[(&'static str, &'static str)]) -> Bytes {
        let fields: Vec<Header> = fields
            .iter()
            .map(|(n, v)| Header::new(Bytes::from_static(n.as_bytes()), *v))
            .collect();
        let mut out = BytesMut::new();
        self.encoder.encode(&fields, &mut out);
        out.freeze()
    }

    async fn headers(
        &mut self,
        id: StreamId,
        fields: &[(&'static str, &'static str)],
        end_stream: bool,
    ) {
        let block = self.block(fields);
        self.send(Frame::Headers(Headers::new(id, block, end_stream)))
            .await;
    }

    /// The next request's stream id and decoded fields.
    async fn request(&mut self) -> (StreamId, Vec<Header>) {
        let (id, block) = self
            .until(|f| match f {
                Frame::Headers(h) => Some((h.stream_id, h.header_block.clone())),
                _ => None,
            })
            .await;
        (id, self.decoder.decode(&block).unwrap())
    }
}

/// A client connected to a scripted peer that has read the client preface.
async fn connect(
    config: ClientConfig,
) -> (SendRequest, JoinHandle<Result<(), ConnectionError>>, Peer) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (send, connection) = handshake(TokioIo(tcp), config);
    let driver = tokio::task::spawn_local(connection);
    let (server_tcp, _) = listener.accept().await.unwrap();
    let mut peer = Peer {
        tcp: server_tcp,
        buf: BytesMut::new(),
        reader: FrameReader::new(),
        encoder: hpack::Encoder::new(4096),
        decoder: hpack::Decoder::new(4096, 64 * 1024),
    };
    while peer.buf.len() < 24 {
        let mut chunk = [0u8; 1024];
        let n = peer.tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "no preface");
        peer.buf.extend_from_slice(&chunk[..n]);
    }
    assert!(strip_preface(&mut peer.buf).unwrap());
    (send, driver, peer)
}

/// Connects with `settings` as the server's SETTINGS frame.
async fn connect_with(
    settings: Settings,
) -> (SendRequest, JoinHandle<Result<(), ConnectionError>>, Peer) {
    let (send, driver, mut peer) = connect(ClientConfig::new("scripted")).await;
    peer.send(Frame::Settings(settings)).await;
    (send, driver, peer)
}

fn run<F: Future<Output = ()>>(f: F) {
    common::run_local(f);
}

/// Starts a unary call in the background; its result arrives through the handle.
fn spawn_unary(
    send: &SendRequest,
    request: &'static [u8],
) -> JoinHandle<Result<Bytes, ringkv_net::grpc::Status>> {
    let send = send.clone();
    tokio::task::spawn_local(async move {
        send.unary(
            "/s.S/M",
            Bytes::from_static(request),
            &Metadata::new(),
            None,
        )
        .await
    })
}

const OK_HEADERS: &[(&str, &str)] = &[(":status", "200"), ("content-type", "application/grpc")];

fn message(body: &[u8]) -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&(body.len() as u32).to_be_bytes());
    b.extend_from_slice(body);
    Bytes::from(b)
}

#[test]
fn preface_settings_ack_request_fields_and_ping() {
    run(async {
        let (send, driver, mut peer) = connect(ClientConfig::new("scripted:1")).await;
        // The client's SETTINGS: push off, large windows.
        let settings = peer
            .until(|f| match f {
                Frame::Settings(s) if !s.ack => Some(s.clone()),
                _ => None,
            })
            .await;
        assert_eq!(settings.enable_push, Some(false));
        assert!(settings.initial_window_size.unwrap() > 4 << 20);
        peer.send(Frame::Settings(Settings::default())).await;
        peer.until(|f| matches!(f, Frame::Settings(s) if s.ack).then_some(()))
            .await;
        peer.send(Frame::Ping(Ping::new(*b"12345678"))).await;
        let pong = peer
            .until(|f| match f {
                Frame::Ping(p) => Some(p.clone()),
                _ => None,
            })
            .await;
        assert!(pong.ack);
        assert_eq!(&pong.payload, b"12345678");

        let call = spawn_unary(&send, b"req");
        let (id, fields) = peer.request().await;
        assert_eq!(id, StreamId::new(1));
        let get = |name: &str| {
            fields
                .iter()
                .find(|h| h.name.as_ref() == name.as_bytes())
                .map(|h| h.value.clone())
        };
        assert_eq!(get(":method").unwrap(), "POST");
        assert_eq!(get(":scheme").unwrap(), "http");
        assert_eq!(get(":path").unwrap(), "/s.S/M");
        assert_eq!(get(":authority").unwrap(), "scripted:1");
        assert_eq!(get("te").unwrap(), "trailers");
        assert_eq!(get("content-type").unwrap(), "application/grpc");
        let body = peer
            .until(|f| match f {
                Frame::Data(d) if d.stream_id == id => Some(d.clone()),
                _ => None,
            })
            .await;
        assert_eq!(body.payload, message(b"req"));
        assert!(body.end_stream, "a unary request ends with its message");
        peer.headers(id, OK_HEADERS, false).await;
        peer.send(Frame::Data(Data::new(id, message(b"resp"), false)))
            .await;
        peer.headers(id, &[("grpc-status", "0")], true).await;
        assert_eq!(call.await.unwrap().unwrap(), "resp");
        drop(send);
        // No handle and no call left: GOAWAY NO_ERROR and close.
        let goaway = peer
            .until(|f| match f {
                Frame::GoAway(g) => Some(g.clone()),
                _ => None,
            })
            .await;
        assert_eq!(goaway.error_code, ErrorCode::NoError);
        driver.await.unwrap().unwrap();
    });
}

/// The server's windows pace the request to the octet: 100 octets on the stream, then
/// what its WINDOW_UPDATEs grant, in frames no larger than SETTINGS_MAX_FRAME_SIZE.
#[test]
fn request_respects_the_servers_windows() {
    run(async {
        let settings = Settings {
            initial_window_size: Some(100),
            ..Settings::default()
        };
        let (send, _driver, mut peer) = connect_with(settings).await;
        let big = Bytes::from(vec![5u8; 100_000]);
        let expected = message(&big);
        let send2 = send.clone();
        let call = tokio::task::spawn_local(async move {
            send2.unary("/s.S/M", big, &Metadata::new(), None).await
        });
        let (id, _) = peer.request().await;
        // Exactly the stream window before any credit (the PING's answer comes after
        // everything the client could send).
        peer.send(Frame::Ping(Ping::new(*b"barrier!"))).await;
        let mut received = 0;
        loop {
            match peer.next().await.expect("connection closed") {
                Frame::Data(d) => received += d.payload.len(),
                Frame::Ping(p) if p.ack => break,
                _ => {}
            }
        }
        assert_eq!(received, 100);
        // The stream may take everything; the connection window (65 535) limits next.
        peer.send(Frame::WindowUpdate(WindowUpdate::new(id, 1 << 20)))
            .await;
        while received < 65_535 {
            let data = peer
                .until(|f| match f {
                    Frame::Data(d) => Some(d.clone()),
                    _ => None,
                })
                .await;
            assert!(
                data.payload.len() <= 16_384,
                "frame over the max frame size"
            );
            received += data.payload.len();
        }
        assert_eq!(received, 65_535);
        peer.send(Frame::Ping(Ping::new(*b"barrier2"))).await;
        peer.until(|f| match f {
            Frame::Data(_) => panic!("DATA beyond the connection window"),
            Frame::Ping(p) if p.ack => Some(()),
            _ => None,
        })
        .await;
        peer.send(Frame::WindowUpdate(WindowUpdate::new(
            StreamId::ZERO,
            1 << 20,
        )))
        .await;
        let mut ended = false;
        while !ended {
            let data = peer
                .until(|f| match f {
                    Frame::Data(d) => Some(d.clone()),
                    _ => None,
                })
                .await;
            received += data.payload.len();
            ended = data.end_stream;
        }
        assert_eq!(received, expected.len());
        peer.headers(id, &[(":status", "200"), ("grpc-status", "0")], true)
            .await;
        // Trailers-only OK with no message is not a valid unary answer.
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert!(err.message.starts_with("cardinality violation"), "{err:?}");
        drop(send);
    });
}

#[test]
fn resets_and_broken_responses_fail_only_their_call() {
    run(async {
        let (send, driver, mut peer) = connect_with(Settings::default()).await;

        // REFUSED_STREAM: not processed, UNAVAILABLE.
        let call = spawn_unary(&send, b"a");
        let (id, _) = peer.request().await;
        peer.send(Frame::RstStream(RstStream::new(
            id,
            ErrorCode::RefusedStream,
        )))
        .await;
        assert_eq!(call.await.unwrap().unwrap_err().code, Code::Unavailable);

        // DATA before the response headers: PROTOCOL_ERROR reset, INTERNAL.
        let call = spawn_unary(&send, b"b");
        let (id, _) = peer.request().await;
        peer.send(Frame::Data(Data::new(id, message(b"x"), false)))
            .await;
        let reset = peer
            .until(|f| match f {
                Frame::RstStream(r) if r.stream_id == id => Some(r.error_code),
                _ => None,
            })
            .await;
        assert_eq!(reset, ErrorCode::ProtocolError);
        assert_eq!(call.await.unwrap().unwrap_err().code, Code::Internal);

        // An HTTP error without grpc-status: the HTTP mapping.
        let call = spawn_unary(&send, b"c");
        let (id, _) = peer.request().await;
        peer.headers(id, &[(":status", "503")], true).await;
        assert_eq!(call.await.unwrap().unwrap_err().code, Code::Unavailable);

        // END_STREAM on DATA: no trailers, INTERNAL.
        let call = spawn_unary(&send, b"d");
        let (id, _) = peer.request().await;
        peer.headers(id, OK_HEADERS, false).await;
        peer.send(Frame::Data(Data::new(id, message(b"x"), true)))
            .await;
        assert_eq!(call.await.unwrap().unwrap_err().code, Code::Internal);

        // Trailers in the middle of a message.
        let call = spawn_unary(&send, b"e");
        let (id, _) = peer.request().await;
        peer.headers(id, OK_HEADERS, false).await;
        peer.send(Frame::Data(Data::new(
            id,
            message(b"abcdef").slice(..7),
            false,
        )))
        .await;
        peer.headers(id, &[("grpc-status", "0")], true).await;
        assert_eq!(call.await.unwrap().unwrap_err().code, Code::Internal);

        // The connection is still good.
        let call = spawn_unary(&send, b"f");
        let (id, _) = peer.request().await;
        peer.headers(id, OK_HEADERS, false).await;
        peer.send(Frame::Data(Data::new(id, message(b"fine"), false)))
            .await;
        peer.headers(id, &[("grpc-status", "0")], true).await;
        assert_eq!(call.await.unwrap().unwrap(), "fine");
        drop(send);
        driver.await.unwrap().unwrap();
    });
}

/// A response that ends while the request is still open cuts the request off with
/// RST_STREAM NO_ERROR; a response nobody reads any more is cancelled.
#[test]
fn early_end_and_cancel() {
    run(async {
        let (send, _driver, mut peer) = connect_with(Settings::default()).await;
        let (mut requests, mut responses) = send.call("/s.S/Bidi", &Metadata::new(), None).unwrap();
        requests.send(Bytes::from("one")).await.unwrap();
        let (id, _) = peer.request().await;
        peer.headers(
            id,
            &[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("grpc-status", "7"),
                ("grpc-message", "no%20way"),
            ],
            true,
        )
        .await;
        let err = responses.message().await.unwrap_err();
        assert_eq!(err.code, Code::PermissionDenied);
        assert_eq!(err.message, "no way");
        let reset = peer
            .until(|f| match f {
                Frame::RstStream(r) if r.stream_id == id => Some(r.error_code),
                _ => None,
            })
            .await;
        assert_eq!(reset, ErrorCode::NoError);
        assert!(requests.send(Bytes::from("two")).await.is_err());

        let (_requests, responses): (_, ResponseStream) =
            send.call("/s.S/Bidi", &Metadata::new(), None).unwrap();
        let (id, _) = peer.request().await;
        drop(responses);
        let reset = peer
            .until(|f| match f {
                Frame::RstStream(r) if r.stream_id == id => Some(r.error_code),
                _ => None,
            })
            .await;
        assert_eq!(reset, ErrorCode::Cancel);
    });
}

#[test]
fn server_protocol_violations_end_the_connection() {
    // Anything but SETTINGS first.
    run(async {
        let (send, driver, mut peer) = connect(ClientConfig::new("scripted")).await;
        let call = spawn_unary(&send, b"a");
        peer.send(Frame::Ping(Ping::new([0; 8]))).await;
        let goaway = peer
            .until(|f| match f {
                Frame::GoAway(g) => Some(g.clone()),
                _ => None,
            })
            .await;
        assert_eq!(goaway.error_code, ErrorCode::ProtocolError);
        assert!(matches!(
            driver.await.unwrap(),
            Err(ConnectionError::Protocol(_))
        ));
        assert!(call.await.unwrap().is_err());
        // New calls fail at once.
        let err = send
            .unary("/s.S/M", Bytes::new(), &Metadata::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
    });
    // PUSH_PROMISE although we disabled push.
    run(async {
        let (send, driver, mut peer) = connect_with(Settings::default()).await;
        let call = spawn_unary(&send, b"a");
        let (id, _) = peer.request().await;
        let block = peer.block(&[(":method", "GET"), (":path", "/x")]);
        peer.send(Frame::PushPromise(PushPromise {
            stream_id: id,
            promised_stream_id: StreamId::new(2),
            header_block: block,
            end_headers: true,
            pad_len: None,
        }))
        .await;
        let goaway = peer
            .until(|f| match f {
                Frame::GoAway(g) => Some(g.clone()),
                _ => None,
            })
            .await;
        assert_eq!(goaway.error_code, ErrorCode::ProtocolError);
        assert!(driver.await.unwrap().is_err());
        assert!(call.await.unwrap().is_err());
    });
    // The server closes the socket mid-call.
    run(async {
        let (send, driver, mut peer) = connect_with(Settings::default()).await;
        let call = spawn_unary(&send, b"a");
        let _ = peer.request().await;
        drop(peer);
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
        let _ = driver.await.unwrap();
    });
}

/// A request larger than the server's SETTINGS_MAX_HEADER_LIST_SIZE fails locally; the
/// next call goes out as usual.
#[test]
fn request_over_the_servers_header_list_size_fails_locally() {
    run(async {
        let settings = Settings {
            max_header_list_size: Some(1000),
            ..Settings::default()
        };
        let (send, _driver, mut peer) = connect_with(settings).await;
        peer.until(|f| matches!(f, Frame::Settings(s) if s.ack).then_some(()))
            .await;
        let mut metadata = Metadata::new();
        metadata.insert(Bytes::from_static(b"big"), Bytes::from(vec![b'x'; 2000]));
        let err = send
            .unary("/s.S/M", Bytes::new(), &metadata, None)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Internal, "{err:?}");
        let call = spawn_unary(&send, b"ok");
        let (id, _) = peer.request().await;
        assert_eq!(id, StreamId::new(1), "the refused call used no stream");
        peer.headers(id, OK_HEADERS, false).await;
        peer.send(Frame::Data(Data::new(id, message(b"fine"), false)))
            .await;
        peer.headers(id, &[("grpc-status", "0")], true).await;
        assert_eq!(call.await.unwrap().unwrap(), "fine");
    });
}
