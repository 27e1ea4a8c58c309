//! Connection-preface sniffing runs once per accepted connection.

use criterion::{Criterion, criterion_group, criterion_main};
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

criterion_group!(benches, sniff);
criterion_main!(benches);
