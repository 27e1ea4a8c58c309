//! Per-connection and per-request costs of the client port's front door.

use criterion::{Criterion, criterion_group, criterion_main};
use ringkv_net::http1::parse_head;
use ringkv_net::sniff::{HTTP2_PREFACE, detect};
use std::hint::black_box;

fn sniff(c: &mut Criterion) {
    c.bench_function("sniff/http2_preface", |b| {
        b.iter(|| detect(black_box(HTTP2_PREFACE)))
    });
    c.bench_function("sniff/http1_request_line", |b| {
        b.iter(|| detect(black_box(b"GET /version HTTP/1.1\r\n")))
    });
}

fn http1(c: &mut Criterion) {
    let request =
        b"POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nUser-Agent: curl/7.88.1\r\n\
Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n";
    c.bench_function("http1/parse_head", |b| {
        b.iter(|| parse_head(black_box(request)))
    });
}

criterion_group!(benches, sniff, http1);
criterion_main!(benches);
