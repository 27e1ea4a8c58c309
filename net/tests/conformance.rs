//! RFC 9113 conformance, in the spirit of h2spec: each test sends a bad (or notable)
//! frame sequence over a raw socket and asserts the exact answer. Organised by section.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::TestServer;
use ringkv_net::codec::{FrameReader, FrameWriter};
use ringkv_net::frame::{
    Continuation, Data, ErrorCode, Frame, FrameHeader, GoAway, Kind, Ping, RstStream, Settings,
    StreamId, WindowUpdate,
};
use ringkv_net::hpack::{Encoder, Header};
use ringkv_net::sniff::HTTP2_PREFACE;

struct Raw {
    stream: TcpStream,
    reader: FrameReader,
    buf: BytesMut,
    encoder: Encoder,
}

impl Raw {
    fn connect(server: &TestServer) -> Raw {
        let stream = TcpStream::connect(server.addr).unwrap();
        // Each frame goes out at once, as a real client's would (no Nagle delay).
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = FrameReader::new();
        reader.set_max_frame_size(0x00ff_ffff);
        Raw {
            stream,
            reader,
            buf: BytesMut::new(),
            encoder: Encoder::new(4096),
        }
    }

    /// Connects and sends the client preface (magic + empty SETTINGS).
    fn handshake(server: &TestServer) -> Raw {
        let mut raw = Raw::connect(server);
        raw.send(HTTP2_PREFACE);
        raw.frame(Frame::Settings(Settings::default()));
        raw
    }

    fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed after an earlier error: that is an answer too.
        let _ = self.stream.write_all(bytes);
    }

    fn frame(&mut self, frame: Frame) {
        let mut b = BytesMut::new();
        frame.encode(&mut b);
        self.send(&b);
    }

    fn request(&mut self, id: u32, path: &str, extra: &[Header], end_stream: bool) {
        let mut fields = vec![
            Header::new(":method", "POST"),
            Header::new(":scheme", "http"),
            Header::new(":path", path.to_owned()),
            Header::new("content-type", "application/grpc"),
        ];
        fields.extend_from_slice(extra);
        let mut block = BytesMut::new();
        self.encoder.encode(&fields, &mut block);
        let mut w = FrameWriter::new();
        w.headers(StreamId::new(id), block.freeze(), end_stream);
        for chunk in w.flush() {
            self.send(&chunk);
        }
    }

    /// The next frame, `None` once the server closed the connection.
    fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.reader.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("no answer from the server: {e}"),
            }
        }
    }

    fn expect_goaway(&mut self) -> GoAway {
        while let Some(frame) = self.next() {
            if let Frame::GoAway(g) = frame {
                return g;
            }
        }
        panic!("connection closed without GOAWAY");
    }

    fn expect_rst(&mut self, id: u32) -> ErrorCode {
        while let Some(frame) = self.next() {
            match frame {
                Frame::RstStream(r) if r.stream_id.value() == id => return r.error_code,
                Frame::GoAway(g) => panic!("GOAWAY instead of RST_STREAM: {g:?}"),
                _ => {}
            }
        }
        panic!("connection closed without RST_STREAM");
    }

    fn expect_closed(&mut self) {
        while self.next().is_some() {}
    }
}

fn goaway_code(server: &TestServer, send: impl FnOnce(&mut Raw)) -> ErrorCode {
    let mut raw = Raw::handshake(server);
    send(&mut raw);
    let code = raw.expect_goaway().error_code;
    raw.expect_closed();
    code
}

/// §3.4: the connection preface.
mod preface {
    use super::*;

    #[test]
    fn bad_preface_is_protocol_error() {
        let server = TestServer::start();
        let mut raw = Raw::connect(&server);
        raw.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
        assert_eq!(raw.expect_goaway().error_code, ErrorCode::ProtocolError);
        server.stop();
    }

    #[test]
    fn first_frame_must_be_settings() {
        let server = TestServer::start();
        let mut raw = Raw::connect(&server);
        raw.send(HTTP2_PREFACE);
        raw.frame(Frame::Ping(Ping::new([1; 8])));
        assert_eq!(raw.expect_goaway().error_code, ErrorCode::ProtocolError);
        server.stop();
    }

    #[test]
    fn server_preface_is_settings_and_acks_ours() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        assert!(matches!(raw.next(), Some(Frame::Settings(s)) if !s.ack));
        let mut acked = false;
        while let Some(frame) = raw.next() {
            if let Frame::Settings(s) = frame {
                acked = s.ack;
                break;
            }
        }
        assert!(acked);
        server.stop();
    }
}

/// §4.2: frame size.
mod frame_size {
    use super::*;

    #[test]
    fn frame_over_max_frame_size_is_frame_size_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            let mut b = BytesMut::new();
            FrameHeader::new(Kind::Data, 0, StreamId::new(1), 16_385).encode(&mut b);
            b.extend_from_slice(&[0; 16_385]);
            raw.send(&b);
        });
        assert_eq!(code, ErrorCode::FrameSizeError);
        server.stop();
    }
}

/// §5.1: stream states and identifiers.
mod stream_states {
    use super::*;

    #[test]
    fn headers_on_even_stream_is_protocol_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            raw.request(2, "/test.Echo/Unary", &[], true);
        });
        assert_eq!(code, ErrorCode::ProtocolError);
        server.stop();
    }

    #[test]
    fn data_on_idle_stream_is_protocol_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            raw.frame(Frame::Data(Data::new(
                StreamId::new(5),
                Bytes::new(),
                false,
            )));
        });
        assert_eq!(code, ErrorCode::ProtocolError);
        server.stop();
    }

    #[test]
    fn decreasing_stream_id_is_protocol_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            raw.request(5, "/test.Echo/WaitDeadline", &[], false);
            raw.request(3, "/test.Echo/WaitDeadline", &[], false);
        });
        assert_eq!(code, ErrorCode::ProtocolError);
        server.stop();
    }
}

/// §6.1: DATA.
mod data {
    use super::*;

    #[test]
    fn data_on_stream_zero_is_protocol_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            let mut b = BytesMut::new();
            FrameHeader::new(Kind::Data, 0, StreamId::ZERO, 1).encode(&mut b);
            b.extend_from_slice(&[0]);
            raw.send(&b);
        });
        assert_eq!(code, ErrorCode::ProtocolError);
        server.stop();
    }
}

/// §6.5 and §6.7: SETTINGS and PING are acknowledged.
mod ping {
    use super::*;

    #[test]
    fn ping_is_answered_with_the_same_payload() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        raw.frame(Frame::Ping(Ping::new(*b"12345678")));
        loop {
            match raw.next() {
                Some(Frame::Ping(p)) if p.ack => {
                    assert_eq!(&p.payload, b"12345678");
                    break;
                }
                Some(_) => {}
                None => panic!("closed"),
            }
        }
        server.stop();
    }

    /// grpc-go's BDP estimator pings once per round trip while responses flow: hundreds
    /// of pings a second on a busy connection, each after our DATA, are never a flood.
    #[test]
    fn a_ping_after_each_response_is_always_answered() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        for i in 0..500u32 {
            let id = 2 * i + 1;
            raw.request(id, "/test.Echo/Unary", &[], false);
            raw.frame(Frame::Data(Data::new(
                StreamId::new(id),
                Bytes::from_static(&[0, 0, 0, 0, 0]),
                true,
            )));
            // Wait for the response's end, then probe as grpc-go does.
            loop {
                match raw.next() {
                    Some(Frame::Headers(h)) if h.end_stream && h.stream_id.value() == id => break,
                    Some(Frame::GoAway(g)) => panic!("GOAWAY after {i} pings: {g:?}"),
                    Some(_) => {}
                    None => panic!("closed after {i} pings"),
                }
            }
            let payload = (u64::from(i)).to_be_bytes();
            raw.frame(Frame::Ping(Ping::new(payload)));
            loop {
                match raw.next() {
                    Some(Frame::Ping(p)) if p.ack => {
                        assert_eq!(p.payload, payload);
                        break;
                    }
                    Some(Frame::GoAway(g)) => panic!("GOAWAY after {i} pings: {g:?}"),
                    Some(_) => {}
                    None => panic!("closed after {i} pings"),
                }
            }
        }
        server.stop();
    }

    #[test]
    fn too_many_pings_get_enhance_your_calm_like_grpc_go() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        for i in 0..4u8 {
            raw.frame(Frame::Ping(Ping::new([i; 8])));
        }
        let goaway = raw.expect_goaway();
        assert_eq!(goaway.error_code, ErrorCode::EnhanceYourCalm);
        assert_eq!(goaway.debug_data.as_ref(), b"too_many_pings");
        server.stop();
    }
}

/// §6.4 and CVE-2023-44487: a flood of opened-then-reset streams.
mod rst_stream {
    use super::*;

    #[test]
    fn rapid_reset_gets_enhance_your_calm() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            for i in 0..400u32 {
                let id = 2 * i + 1;
                raw.request(id, "/test.Echo/WaitDeadline", &[], false);
                raw.frame(Frame::RstStream(RstStream::new(
                    StreamId::new(id),
                    ErrorCode::Cancel,
                )));
            }
        });
        assert_eq!(code, ErrorCode::EnhanceYourCalm);
        server.stop();
    }

    /// clientv3's `KeepAliveOnce` (etcd's `benchmark lease-keepalive`): open a bidi
    /// stream, send one message, read the answer, cancel. grpc-go resets every such
    /// stream; a reset after our answer is a client done with the call, not a flood, and
    /// closing the connection for it failed calls in flight (clientv3 saw `EOF`).
    #[test]
    fn resets_after_the_answer_are_not_a_flood() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        let ids: Vec<u32> = (0..400).map(|i| 2 * i + 1).collect();
        for &id in &ids {
            raw.request(id, "/test.Echo/Bidi", &[], false);
            raw.frame(Frame::Data(Data::new(
                StreamId::new(id),
                Bytes::from_static(&[0, 0, 0, 0, 1, 7]),
                false,
            )));
        }
        let mut answered = std::collections::HashSet::new();
        while answered.len() < ids.len() {
            match raw.next() {
                Some(Frame::Data(d)) => {
                    answered.insert(d.stream_id.value());
                }
                Some(Frame::GoAway(g)) => panic!("GOAWAY before the resets: {g:?}"),
                Some(_) => {}
                None => panic!("closed before the resets"),
            }
        }
        // All resets in one write, so they land well within one flood-guard window.
        let mut resets = BytesMut::new();
        for &id in &ids {
            Frame::RstStream(RstStream::new(StreamId::new(id), ErrorCode::Cancel))
                .encode(&mut resets);
        }
        raw.send(&resets);
        raw.frame(Frame::Ping(Ping::new(*b"still-up")));
        loop {
            match raw.next() {
                Some(Frame::Ping(p)) if p.ack => {
                    assert_eq!(&p.payload, b"still-up");
                    break;
                }
                Some(Frame::GoAway(g)) => panic!("GOAWAY after the resets: {g:?}"),
                Some(_) => {}
                None => panic!("closed after the resets"),
            }
        }
        server.stop();
    }
}

/// §6.9: flow control.
mod flow_control {
    use super::*;

    #[test]
    fn connection_window_overflow_is_flow_control_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            raw.frame(Frame::WindowUpdate(WindowUpdate::new(
                StreamId::ZERO,
                0x7fff_ffff,
            )));
        });
        assert_eq!(code, ErrorCode::FlowControlError);
        server.stop();
    }

    #[test]
    fn stream_window_overflow_resets_the_stream() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        raw.request(1, "/test.Echo/Bidi", &[], false);
        raw.frame(Frame::WindowUpdate(WindowUpdate::new(
            StreamId::new(1),
            0x7fff_ffff,
        )));
        assert_eq!(raw.expect_rst(1), ErrorCode::FlowControlError);
        server.stop();
    }
}

/// §6.10: CONTINUATION.
mod continuation {
    use super::*;

    #[test]
    fn continuation_without_headers_is_protocol_error() {
        let server = TestServer::start();
        let code = goaway_code(&server, |raw| {
            raw.frame(Frame::Continuation(Continuation {
                stream_id: StreamId::new(1),
                header_block: Bytes::new(),
                end_headers: true,
            }));
        });
        assert_eq!(code, ErrorCode::ProtocolError);
        server.stop();
    }
}

/// §8.2: malformed requests are stream errors.
mod messages {
    use super::*;

    #[test]
    fn uppercase_field_name_resets_the_stream() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        raw.request(1, "/test.Echo/Unary", &[Header::new("X-Upper", "1")], true);
        assert_eq!(raw.expect_rst(1), ErrorCode::ProtocolError);
        server.stop();
    }
}

/// §6.8: GOAWAY on graceful shutdown.
mod goaway {
    use super::*;

    #[test]
    fn shutdown_sends_goaway_no_error_then_closes() {
        let server = TestServer::start();
        let mut raw = Raw::handshake(&server);
        raw.request(1, "/test.Echo/Unary", &[], false);
        raw.frame(Frame::Data(Data::new(
            StreamId::new(1),
            Bytes::from_static(&[0, 0, 0, 0, 1, 7]),
            true,
        )));
        // Wait for the call's trailers so the stream is known to be done.
        loop {
            match raw.next() {
                Some(Frame::Headers(h)) if h.end_stream => break,
                Some(_) => {}
                None => panic!("closed"),
            }
        }
        server.trigger_shutdown();
        let goaway = raw.expect_goaway();
        assert_eq!(goaway.error_code, ErrorCode::NoError);
        assert_eq!(goaway.last_stream_id, StreamId::new(1));
        raw.expect_closed();
        server.stop();
    }
}
