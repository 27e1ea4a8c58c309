//! Per-call codec costs: HPACK for a typical gRPC request and response, cold (first call on
//! a connection) and warm (dynamic table primed, the steady state), and frame parsing of
//! one unary request's frames.

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ringkv_net::codec::FrameReader;
use ringkv_net::frame::{Data, Frame, Headers, Ping, StreamId, WindowUpdate};
use ringkv_net::hpack::{Decoder, Encoder, Header};
use std::hint::black_box;

fn h(name: &'static str, value: &'static str) -> Header {
    Header::new(
        Bytes::from_static(name.as_bytes()),
        Bytes::from_static(value.as_bytes()),
    )
}

fn request() -> Vec<Header> {
    vec![
        h(":method", "POST"),
        h(":scheme", "http"),
        h(":path", "/example.v1.KV/Range"),
        h(":authority", "127.0.0.1:2379"),
        h("content-type", "application/grpc"),
        h("user-agent", "grpc-go/1.60.1"),
        h("te", "trailers"),
        h("grpc-timeout", "4999m"),
        h("token", "sFbIUyKmDsnHMFtb.42"),
    ]
}

fn response() -> Vec<Header> {
    vec![h(":status", "200"), h("content-type", "application/grpc")]
}

fn trailers() -> Vec<Header> {
    vec![h("grpc-status", "0"), h("grpc-message", "")]
}

fn encode(encoder: &mut Encoder, headers: &[Header]) -> Bytes {
    let mut dst = BytesMut::new();
    encoder.encode(headers, &mut dst);
    dst.freeze()
}

fn hpack(c: &mut Criterion) {
    for (name, headers) in [
        ("request", request()),
        ("response", response()),
        ("trailers", trailers()),
    ] {
        c.bench_function(&format!("hpack/encode_{name}_cold"), |b| {
            b.iter(|| encode(&mut Encoder::default(), black_box(&headers)))
        });
        let mut warm = Encoder::default();
        let first = encode(&mut warm, &headers);
        let steady = encode(&mut warm, &headers);
        c.bench_function(&format!("hpack/encode_{name}_warm"), |b| {
            let mut dst = BytesMut::with_capacity(256);
            b.iter(|| {
                dst.clear();
                warm.encode(black_box(&headers), &mut dst);
            })
        });
        c.bench_function(&format!("hpack/decode_{name}_cold"), |b| {
            b.iter(|| Decoder::default().decode(black_box(&first)).unwrap())
        });
        // The steady-state block only references the table (or sends literals without
        // indexing), so decoding it repeatedly leaves the table unchanged.
        let mut decoder = Decoder::default();
        decoder.decode(&first).unwrap();
        c.bench_function(&format!("hpack/decode_{name}_warm"), |b| {
            b.iter(|| decoder.decode(black_box(&steady)).unwrap())
        });
    }
}

fn frames(c: &mut Criterion) {
    let mut encoder = Encoder::default();
    let block = encode(&mut encoder, &request());
    let mut message = vec![0u8, 0, 0, 0, 100];
    message.extend([7u8; 100]);
    let mut wire = BytesMut::new();
    for frame in [
        Frame::Headers(Headers::new(StreamId::new(1), block, false)),
        Frame::Data(Data::new(StreamId::new(1), Bytes::from(message), true)),
        Frame::WindowUpdate(WindowUpdate::new(StreamId::ZERO, 105)),
        Frame::Ping(Ping::new(*b"bdp-ping")),
    ] {
        frame.encode(&mut wire);
    }
    c.bench_function("frame/parse_unary_request", |b| {
        let mut reader = FrameReader::new();
        b.iter_batched(
            || wire.clone(),
            |mut src| {
                let mut n = 0;
                while let Some(frame) = reader.decode(&mut src).unwrap() {
                    black_box(frame);
                    n += 1;
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, hpack, frames);
criterion_main!(benches);
