//! The server's whole request path in process: no network, no raft, no WAL. Each
//! iteration does what the client core and the raft core do for a request that has
//! already been framed by HTTP/2 + gRPC:
//!
//! - writes (Put, Txn): decode the gRPC body with prost → the KV service's checks → encode
//!   the `RaftRequest` as a proposal does (`Node::propose`) → wrap it in a committed raft
//!   entry → `Applier::apply_batch` (decode, apply to the MVCC store, one store commit per
//!   batch) → fill the header → encode the response body;
//! - serializable reads (Range): decode → checks → `kv::apply::range` on a fresh read
//!   snapshot → fill the header → encode.
//!
//! The store commit here is the server's: `commit(false)`, pages written to the file but
//! not fsynced (the WAL is the durability, and is not part of this bench), so no fsync
//! is measured. The server also checkpoints the store (a durable commit, two fsyncs) when
//! raft snapshots; until then no page freed by a commit can be reused and the writer's
//! pending-page bookkeeping grows with every commit. The write cases checkpoint every
//! [`CHECKPOINT_EVERY`] applied entries, outside the timed region, so they measure the
//! path at a steady state rather than a cost that grows with the number of iterations.
//! What is left out, and measured elsewhere: HTTP/2 and gRPC framing (`benches/net.rs`),
//! raft proposal and replication, the WAL append and its fdatasync.
//!
//! Run with `cargo bench --bench path`; every case is short (20 samples, 3 s).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use raft::eraftpb::Entry;
use ringkv::apply::{Applied, Applier};
use ringkv::lease::Lessor;
use ringkv::raft::StateMachine as _;
use ringkv::service::kv::{apply as kv, check};
use ringkv::store_jobs::{CompactionPace, StoreJobs};
use ringkv_proto::etcdserverpb::{
    Compare, PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest,
    TxnResponse, compare, request_op,
};
use ringkv_proto::ringkvpb::{RaftRequest, raft_request::Request};
use ringkv_store::mvcc::Mvcc;

/// Keys in the preloaded stores, and the key space the write cases cycle over.
const KEYS: usize = 10_000;
const VALUE_SIZE: usize = 256;
/// `--max-txn-ops`'s default, as the server checks Txns with it.
const MAX_TXN_OPS: usize = 128;
/// Applied entries between untimed store checkpoints in the write cases. The server's is
/// `--snapshot-count` (100 000); a short one keeps the measurement stationary.
const CHECKPOINT_EVERY: u64 = 1_000;

/// 8-byte keys: `key00000` … `key09999`.
fn key(i: usize) -> Bytes {
    Bytes::from(format!("key{i:05}"))
}

fn value() -> Bytes {
    Bytes::from(vec![b'v'; VALUE_SIZE])
}

/// The raft core's side of one member, over a store in its own temporary data dir.
struct Member {
    _dir: tempfile::TempDir,
    applier: Applier,
    /// Raft index of the last entry handed to the applier.
    index: u64,
    /// Raft index at the last store checkpoint.
    checkpointed: u64,
}

impl Member {
    fn new() -> Member {
        let dir = tempfile::tempdir().expect("temporary data dir");
        let mvcc = Mvcc::open(dir.path().join("db")).expect("open the store");
        let jobs = StoreJobs::start(mvcc.clone(), CompactionPace::default())
            .expect("start the store jobs thread");
        let applier = Applier::new(mvcc, Arc::new(Lessor::new(1, 2)), Arc::default(), jobs)
            .expect("open the applier");
        Member {
            _dir: dir,
            applier,
            index: 0,
            checkpointed: 0,
        }
    }

    /// The raft core's snapshot step (a durable store commit), once `CHECKPOINT_EVERY`
    /// entries have been applied since the last one.
    fn checkpoint_when_due(&mut self) {
        if self.index - self.checkpointed >= CHECKPOINT_EVERY {
            self.applier.snapshot();
            self.checkpointed = self.index;
        }
    }

    /// Times `iters` runs of the write path, leaving checkpoints out of the measurement.
    fn time_writes(
        &mut self,
        iters: u64,
        mut bodies: impl FnMut() -> (usize, usize),
        decode: fn(Bytes) -> Request,
        all: &[Bytes],
    ) -> Duration {
        let mut elapsed = Duration::ZERO;
        for _ in 0..iters {
            let (start, end) = bodies();
            let timer = Instant::now();
            black_box(self.write(&all[start..end], decode));
            elapsed += timer.elapsed();
            self.checkpoint_when_due();
        }
        elapsed
    }

    /// A member whose store holds `KEYS` keys with 256-byte values.
    fn loaded() -> Member {
        let mut member = Member::new();
        let bodies: Vec<Bytes> = (0..KEYS).map(put_body).collect();
        for chunk in bodies.chunks(1000) {
            member.write(chunk, decode_put);
        }
        member.applier.snapshot();
        member.checkpointed = member.index;
        member
    }

    /// The write path for a batch of gRPC bodies committed in one Ready: each is decoded
    /// and checked on its client core, proposed, and the batch applied in one store
    /// transaction; each answer is encoded as the gRPC response body.
    fn write(&mut self, bodies: &[Bytes], decode: fn(Bytes) -> Request) -> Vec<Bytes> {
        let entries: Vec<Entry> = bodies
            .iter()
            .map(|body| {
                let data = RaftRequest {
                    request: Some(decode(body.clone())),
                }
                .encode_to_vec();
                self.index += 1;
                Entry {
                    index: self.index,
                    term: 1,
                    data: data.into(),
                    ..Entry::default()
                }
            })
            .collect();
        let outcomes = self
            .applier
            .apply_batch(&entries, &mut || true)
            .expect("apply the batch")
            .expect("nothing to wait for");
        outcomes
            .into_iter()
            .map(|outcome| {
                match outcome
                    .expect("a normal entry")
                    .expect("the request applies")
                {
                    Applied::Put(mut resp) => {
                        fill(&mut resp.header);
                        Bytes::from(resp.encode_to_vec())
                    }
                    Applied::Txn(mut resp) => {
                        fill(&mut resp.header);
                        Bytes::from(resp.encode_to_vec())
                    }
                    other => panic!("unexpected answer {other:?}"),
                }
            })
            .collect()
    }

    /// The serializable read path: served on the client's core from a read snapshot.
    fn range(&self, body: Bytes) -> Bytes {
        let r = RangeRequest::decode(body).expect("decode RangeRequest");
        check::check_range(&r).expect("a valid range");
        let read = self.applier.mvcc().read();
        let Ok(mut resp) = kv::range(&read, &r) else {
            panic!("range failed");
        };
        fill(&mut resp.header);
        Bytes::from(resp.encode_to_vec())
    }
}

/// `Context::fill` without a raft node: the fields it sets, so responses encode at their
/// real size. The applied answers already carry their revision.
fn fill(header: &mut Option<ResponseHeader>) {
    let h = header.get_or_insert_with(ResponseHeader::default);
    h.cluster_id = 0x1c4f_0e3a_5b2d_9871;
    h.member_id = 0x8e9e_05c5_2164_694d;
    h.raft_term = 2;
}

fn put_body(i: usize) -> Bytes {
    Bytes::from(
        PutRequest {
            key: key(i),
            value: value(),
            ..PutRequest::default()
        }
        .encode_to_vec(),
    )
}

fn decode_put(body: Bytes) -> Request {
    let r = PutRequest::decode(body).expect("decode PutRequest");
    check::check_put(&r).expect("a valid put");
    Request::Put(r)
}

/// A Txn as a compare-and-swap writes it: if the key exists (version > 0), put it.
fn txn_body(i: usize) -> Bytes {
    Bytes::from(
        TxnRequest {
            compare: vec![Compare {
                key: key(i),
                target: compare::CompareTarget::Version as i32,
                result: compare::CompareResult::Greater as i32,
                target_union: Some(compare::TargetUnion::Version(0)),
                ..Compare::default()
            }],
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: key(i),
                    value: value(),
                    ..PutRequest::default()
                })),
            }],
            failure: vec![],
        }
        .encode_to_vec(),
    )
}

fn decode_txn(body: Bytes) -> Request {
    let r = TxnRequest::decode(body).expect("decode TxnRequest");
    check::check_txn(&r, MAX_TXN_OPS).expect("a valid txn");
    // The KV service serves a read-only Txn locally; this one writes, so it is proposed.
    assert!(!kv::txn_is_read_only(&r));
    Request::Txn(r)
}

fn range_body(key: Bytes, range_end: Bytes, limit: i64) -> Bytes {
    Bytes::from(
        RangeRequest {
            key,
            range_end,
            limit,
            serializable: true,
            ..RangeRequest::default()
        }
        .encode_to_vec(),
    )
}

fn short(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn put(c: &mut Criterion) {
    let mut member = Member::new();
    let bodies: Vec<Bytes> = (0..KEYS).map(put_body).collect();
    let mut group = c.benchmark_group("path/put");
    short(&mut group);
    for batch in [1, 100] {
        group.throughput(Throughput::Elements(batch as u64));
        let mut next = 0;
        let name = format!("8B_key_256B_value/batch_{batch}_per_commit");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let next_batch = || {
                    let start = next;
                    // KEYS is a multiple of both batch sizes, so a batch never wraps.
                    next = (next + batch) % KEYS;
                    (start, start + batch)
                };
                member.time_writes(iters, next_batch, decode_put, &bodies)
            })
        });
    }
    group.finish();
}

fn range(c: &mut Criterion) {
    let member = Member::loaded();
    let one = range_body(key(4242), Bytes::new(), 0);
    // Every key under the `key` prefix: all 10k of them, the first 100 returned.
    let limited = range_body(Bytes::from_static(b"key"), Bytes::from_static(b"kez"), 100);

    let resp = RangeResponse::decode(member.range(limited.clone())).expect("decode");
    assert_eq!(
        (resp.kvs.len(), resp.count, resp.more),
        (100, KEYS as i64, true)
    );
    let resp = RangeResponse::decode(member.range(one.clone())).expect("decode");
    assert_eq!(resp.kvs.len(), 1);

    let mut group = c.benchmark_group("path/range_serializable");
    short(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_key", |b| b.iter(|| member.range(one.clone())));
    group.bench_function("limit_100_of_10k_keys", |b| {
        b.iter(|| member.range(limited.clone()))
    });
    group.finish();
}

fn txn(c: &mut Criterion) {
    let mut member = Member::loaded();
    let bodies: Vec<Bytes> = (0..KEYS).map(txn_body).collect();
    let resp = TxnResponse::decode(member.write(&bodies[..1], decode_txn).remove(0))
        .expect("decode TxnResponse");
    assert!(resp.succeeded, "the compare holds: the key exists");

    let mut group = c.benchmark_group("path/txn");
    short(&mut group);
    group.throughput(Throughput::Elements(1));
    let mut next = 0;
    group.bench_function("compare_version_then_put/batch_1_per_commit", |b| {
        b.iter_custom(|iters| {
            let next_one = || {
                next = (next + 1) % KEYS;
                (next, next + 1)
            };
            member.time_writes(iters, next_one, decode_txn, &bodies)
        })
    });
    group.finish();
}

criterion_group!(benches, put, range, txn);
criterion_main!(benches);
