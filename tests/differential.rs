//! Differential: one scripted sequence of mixed KV operations, run through the `etcd-client`
//! crate against a reference etcd (Debian `etcd-server` 3.4.23) and against the target; the
//! two transcripts must be equal line by line.
//!
//! The script is a hand-written prologue of edge cases followed by `RANDOM_OPS` operations
//! from a fixed-seed generator. Each line is the operation and its normalised answer: a
//! response without cluster_id, member_id and raft_term (revisions kept), or an error's gRPC
//! code and message. The only input the generator takes from the server is the latest header
//! revision (to aim compactions and historical reads), so two servers that agree get the same
//! script; the first line where they disagree is reported.
//!
//! Both transcripts are written to the scratch directory (kept on failure, or always with
//! `RINGKV_KEEP_TRANSCRIPTS=1`). `etcd::transcript_matches_reference_etcd` is the sanity check (two fresh etcd members give
//! identical transcripts); `ringkv::…` is the real test.

mod common;

use std::fmt;

use common::{Target, TestServer, scratch_dir};
use etcd_client::{
    Client, CompactionOptions, Compare, CompareOp, DeleteOptions, GetOptions, KeyValue, PutOptions,
    ResponseHeader, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse, TxnResponse,
};

for_both_targets! {
    transcript_matches_reference_etcd,
    request_size_limits_answer_as_etcd,
}

const SEED: u64 = 0x5EED_0006_E7CD_0001;
const RANDOM_OPS: usize = 500;
/// etcd's default `--max-txn-ops`.
const MAX_TXN_OPS: usize = 128;

fn transcript_matches_reference_etcd(target: Target) {
    let dir = scratch_dir(&format!("differential-{target:?}"));
    let actual = common::assert_same_transcript(target, &dir, run_script);
    // The script must really have exercised the error paths it was written for.
    for error in [
        "etcdserver: key is not provided",
        "etcdserver: value is provided",
        "etcdserver: key not found",
        "etcdserver: requested lease not found",
        "etcdserver: too many operations in txn request",
        "etcdserver: duplicate key given in txn request",
        "etcdserver: mvcc: required revision has been compacted",
        "etcdserver: mvcc: required revision is a future revision",
    ] {
        assert!(
            actual.iter().any(|line| line.ends_with(error)),
            "the script never produced {error:?}"
        );
    }
    if std::env::var_os("RINGKV_KEEP_TRANSCRIPTS").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `--max-request-bytes` (1.5 MiB) is checked on the raft request; the gRPC receive limit
/// is that plus 512 KiB, above which the request never reaches the server's handlers.
fn request_size_limits_answer_as_etcd(target: Target) {
    let dir = scratch_dir(&format!("request-size-{target:?}"));
    let server = target.start(&dir);
    let answers: Vec<String> = common::block_on(async {
        let mut client = common::connect_client(&server).await;
        let mut answers = Vec::new();
        for len in [1_000_000, 1_600_000, 2_200_000] {
            let answer = match client.put("big", vec![b'v'; len], None).await {
                Ok(_) => "ok".to_owned(),
                Err(etcd_client::Error::GRpcStatus(status)) => {
                    format!("{:?}: {}", status.code(), status.message())
                }
                Err(other) => format!("{other}"),
            };
            answers.push(answer);
        }
        answers
    });
    assert_eq!(
        answers,
        [
            "ok",
            "InvalidArgument: etcdserver: request is too large",
            "ResourceExhausted: grpc: received message larger than max (2200010 vs. 2097152)",
        ]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the whole script against `server` and returns the transcript.
fn run_script(server: &TestServer) -> Vec<String> {
    common::block_on(async {
        let mut client = common::connect_client(server).await;
        let mut rng = Rng(SEED);
        let mut last_rev = 1;
        let mut transcript = Vec::new();
        let prologue = prologue();
        let total = prologue.len() + RANDOM_OPS;
        for i in 0..total {
            let op = match prologue.get(i) {
                Some(op) => op.clone(),
                None => random_op(&mut rng, last_rev),
            };
            let (answer, rev) = execute(&mut client, &op).await;
            last_rev = rev.unwrap_or(last_rev);
            transcript.push(format!("{i:03} {op:?} => {answer}"));
        }
        transcript
    })
}

// ---------------------------------------------------------------------------------------------
// The operations.

/// A key or value, printed as escaped ASCII.
#[derive(Clone, PartialEq)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

fn b(s: &[u8]) -> Bytes {
    Bytes(s.to_vec())
}

#[derive(Clone, Debug)]
enum Span {
    Single,
    Prefix,
    FromKey,
    To(Bytes),
    All,
}

#[derive(Clone, Debug, Default)]
struct Get {
    limit: i64,
    rev: i64,
    sort: Option<(SortTarget, SortOrder)>,
    count_only: bool,
    keys_only: bool,
    serializable: bool,
    min_mod: i64,
    max_mod: i64,
    min_create: i64,
    max_create: i64,
}

#[derive(Clone, Debug)]
enum CompareTarget {
    Value(Bytes),
    Version(i64),
    Create(i64),
    Mod(i64),
}

#[derive(Clone, Debug)]
struct Cmp {
    key: Bytes,
    prefix: bool,
    op: CompareOp,
    target: CompareTarget,
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        key: Bytes,
        value: Bytes,
        prev_kv: bool,
        ignore_value: bool,
        ignore_lease: bool,
        lease: i64,
    },
    Get {
        key: Bytes,
        span: Span,
        options: Get,
    },
    Delete {
        key: Bytes,
        span: Span,
        prev_kv: bool,
    },
    Txn {
        compares: Vec<Cmp>,
        success: Vec<Op>,
        failure: Vec<Op>,
    },
    Compact {
        rev: i64,
        physical: bool,
    },
}

fn put(key: &[u8], value: &[u8]) -> Op {
    Op::Put {
        key: b(key),
        value: b(value),
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
        lease: 0,
    }
}

fn get(key: &[u8], span: Span, options: Get) -> Op {
    Op::Get {
        key: b(key),
        span,
        options,
    }
}

fn delete(key: &[u8], span: Span) -> Op {
    Op::Delete {
        key: b(key),
        span,
        prev_kv: true,
    }
}

fn txn(compares: Vec<Cmp>, success: Vec<Op>, failure: Vec<Op>) -> Op {
    Op::Txn {
        compares,
        success,
        failure,
    }
}

/// Hand-written edge cases, run first on the fresh store (revision 1).
fn prologue() -> Vec<Op> {
    let all = Get::default();
    let at = |rev| Get {
        rev,
        ..Get::default()
    };
    let ignore_value = |key: &[u8], value: &[u8]| Op::Put {
        key: b(key),
        value: b(value),
        prev_kv: true,
        ignore_value: true,
        ignore_lease: false,
        lease: 0,
    };
    let ignore_lease = |key: &[u8], lease| Op::Put {
        key: b(key),
        value: b(b"v"),
        prev_kv: false,
        ignore_value: false,
        ignore_lease: true,
        lease,
    };
    let value_is = |key: &[u8], value: &[u8]| Cmp {
        key: b(key),
        prefix: false,
        op: CompareOp::Equal,
        target: CompareTarget::Value(b(value)),
    };
    vec![
        get(b"a", Span::Single, all.clone()),
        get(b"", Span::Single, all.clone()),
        put(b"", b"v"),
        delete(b"", Span::Single),
        get(b"a", Span::Single, at(2)),
        put(b"a", b"1"),
        put(b"a", b"1"),
        put(b"a/b", b"2"),
        put(b"\xff", b"ff"),
        put(b"c\xff\xff", b"cff"),
        ignore_value(b"a", b""),
        ignore_value(b"a", b"x"),
        ignore_value(b"missing", b""),
        ignore_lease(b"a", 0),
        ignore_lease(b"a", 7),
        ignore_lease(b"missing", 0),
        Op::Put {
            key: b(b"leased"),
            value: b(b"v"),
            prev_kv: false,
            ignore_value: false,
            ignore_lease: false,
            lease: 0x1234,
        },
        get(b"", Span::All, all.clone()),
        get(b"c\xff", Span::Prefix, all.clone()),
        get(b"\xff", Span::Prefix, all.clone()),
        get(b"b", Span::To(b(b"a")), all.clone()),
        get(b"a", Span::Single, at(1)),
        // Empty txn, read-only txn: no new revision.
        txn(vec![], vec![], vec![]),
        txn(
            vec![value_is(b"a", b"1")],
            vec![get(b"a", Span::Prefix, all.clone())],
            vec![],
        ),
        // A value compare on a missing key is false; version/create/mod compare against 0.
        txn(
            vec![value_is(b"missing", b"")],
            vec![put(b"t", b"then")],
            vec![put(b"t", b"else")],
        ),
        txn(
            vec![Cmp {
                key: b(b"missing"),
                prefix: false,
                op: CompareOp::Equal,
                target: CompareTarget::Create(0),
            }],
            vec![put(b"t", b"then")],
            vec![put(b"t", b"else")],
        ),
        // Reads in a txn see its own earlier writes.
        txn(
            vec![],
            vec![
                put(b"t", b"x"),
                get(b"t", Span::Single, all.clone()),
                delete(b"t", Span::Single),
                get(b"t", Span::Single, all.clone()),
            ],
            vec![],
        ),
        // Duplicate keys: two puts; a put inside a delete range; a nested txn's put.
        txn(vec![], vec![put(b"d", b"1"), put(b"d", b"2")], vec![]),
        txn(
            vec![],
            vec![delete(b"d", Span::Prefix), put(b"d/1", b"1")],
            vec![],
        ),
        txn(
            vec![],
            vec![put(b"d", b"1"), txn(vec![], vec![put(b"d", b"2")], vec![])],
            vec![],
        ),
        // Allowed: overlapping deletes; one key in a nested txn's then and else branches.
        txn(
            vec![],
            vec![delete(b"a", Span::Prefix), delete(b"a/b", Span::Single)],
            vec![],
        ),
        txn(
            vec![],
            vec![txn(
                vec![value_is(b"t", b"then")],
                vec![put(b"n", b"1")],
                vec![put(b"n", b"2")],
            )],
            vec![],
        ),
        // The op limit: MAX_TXN_OPS reads are fine, one more is not.
        txn(
            vec![],
            vec![get(b"a", Span::Single, all.clone()); MAX_TXN_OPS],
            vec![],
        ),
        txn(
            vec![],
            vec![get(b"a", Span::Single, all.clone()); MAX_TXN_OPS + 1],
            vec![],
        ),
        txn(vec![value_is(b"a", b"1"); MAX_TXN_OPS + 1], vec![], vec![]),
        // Compaction: at a future revision, then the current one, then below it.
        Op::Compact {
            rev: 100,
            physical: false,
        },
        put(b"h", b"1"),
        put(b"h", b"2"),
        put(b"h", b"3"),
        Op::Compact {
            rev: 10,
            physical: true,
        },
        Op::Compact {
            rev: 10,
            physical: false,
        },
        Op::Compact {
            rev: 9,
            physical: false,
        },
        get(b"h", Span::Single, at(9)),
        get(b"h", Span::Single, at(10)),
        get(b"h", Span::Single, at(100)),
        delete(b"nothing", Span::Prefix),
    ]
}

const KEYS: &[&[u8]] = &[
    b"a",
    b"a/1",
    b"a/2",
    b"a/3",
    b"ab",
    b"b",
    b"b/1",
    b"b/2",
    b"c",
    b"c\xff",
    b"c\xff\xff",
    b"d",
    b"\x00",
    b"\xff",
    b"z",
];
const VALUES: &[&[u8]] = &[b"", b"0", b"1", b"2", b"abc", b"xyz", b"\xff\x00"];

/// A seeded splitmix64: the whole script follows from `SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn upto(&mut self, n: i64) -> i64 {
        i64::try_from(self.below(u64::try_from(n.max(0)).unwrap_or(0) + 1)).unwrap_or(0)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)].clone()
    }

    fn key(&mut self) -> Bytes {
        b(self.pick(KEYS))
    }

    fn value(&mut self) -> Bytes {
        b(self.pick(VALUES))
    }

    fn span(&mut self) -> Span {
        match self.below(10) {
            0..=3 => Span::Single,
            4..=6 => Span::Prefix,
            7 => Span::FromKey,
            8 => Span::To(self.key()),
            _ => Span::All,
        }
    }
}

fn random_op(rng: &mut Rng, last_rev: i64) -> Op {
    match rng.below(100) {
        0..=34 => random_put(rng),
        35..=59 => random_get(rng, last_rev),
        60..=69 => Op::Delete {
            key: rng.key(),
            span: rng.span(),
            prev_kv: rng.percent(50),
        },
        70..=95 => random_txn(rng, last_rev, 0),
        _ => Op::Compact {
            // Mostly a little below the current revision: sometimes already compacted.
            rev: if rng.percent(10) {
                last_rev + 1
            } else {
                (last_rev - rng.upto(12)).max(1)
            },
            physical: rng.percent(50),
        },
    }
}

fn random_put(rng: &mut Rng) -> Op {
    let (ignore_value, ignore_lease, lease) = match rng.below(40) {
        0 => (true, false, 0),
        1 => (false, true, 0),
        2 => (false, false, 0x1234),
        _ => (false, false, 0),
    };
    Op::Put {
        key: rng.key(),
        value: if ignore_value && rng.percent(70) {
            b(b"")
        } else {
            rng.value()
        },
        prev_kv: rng.percent(40),
        ignore_value,
        ignore_lease,
        lease,
    }
}

fn random_get(rng: &mut Rng, last_rev: i64) -> Op {
    let sort_targets = [
        SortTarget::Key,
        SortTarget::Version,
        SortTarget::Create,
        SortTarget::Mod,
        SortTarget::Value,
    ];
    let sort_orders = [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
    let mut options = Get::default();
    if rng.percent(30) {
        options.limit = rng.upto(4);
    }
    if rng.percent(30) {
        // Anywhere from the first revision to a little past the current one.
        options.rev = rng.upto(last_rev + 2);
    }
    if rng.percent(30) {
        options.sort = Some((rng.pick(&sort_targets), rng.pick(&sort_orders)));
    }
    options.count_only = rng.percent(10);
    options.keys_only = rng.percent(15);
    options.serializable = rng.percent(20);
    if rng.percent(15) {
        options.min_mod = rng.upto(last_rev);
    }
    if rng.percent(15) {
        options.max_mod = rng.upto(last_rev);
    }
    if rng.percent(15) {
        options.min_create = rng.upto(last_rev);
    }
    if rng.percent(15) {
        options.max_create = rng.upto(last_rev);
    }
    Op::Get {
        key: rng.key(),
        span: rng.span(),
        options,
    }
}

fn random_txn(rng: &mut Rng, last_rev: i64, depth: u32) -> Op {
    let compare_ops = [
        CompareOp::Equal,
        CompareOp::NotEqual,
        CompareOp::Greater,
        CompareOp::Less,
    ];
    let compares = (0..rng.below(4))
        .map(|_| Cmp {
            key: rng.key(),
            prefix: rng.percent(20),
            op: rng.pick(&compare_ops),
            target: match rng.below(4) {
                0 => CompareTarget::Value(rng.value()),
                1 => CompareTarget::Version(rng.upto(3)),
                2 => CompareTarget::Create(rng.upto(last_rev)),
                _ => CompareTarget::Mod(rng.upto(last_rev)),
            },
        })
        .collect();
    let branch = |rng: &mut Rng| -> Vec<Op> {
        (0..rng.below(4))
            .map(|_| match rng.below(10) {
                0..=3 => random_put(rng),
                4..=6 => random_get(rng, last_rev),
                7..=8 => Op::Delete {
                    key: rng.key(),
                    span: rng.span(),
                    prev_kv: rng.percent(50),
                },
                _ if depth < 2 => random_txn(rng, last_rev, depth + 1),
                _ => random_get(rng, last_rev),
            })
            .collect()
    };
    let success = branch(rng);
    let failure = branch(rng);
    txn(compares, success, failure)
}

// ---------------------------------------------------------------------------------------------
// Running an operation and writing down its answer.

fn put_options(prev_kv: bool, ignore_value: bool, ignore_lease: bool, lease: i64) -> PutOptions {
    let mut options = PutOptions::new();
    if prev_kv {
        options = options.with_prev_key();
    }
    if ignore_value {
        options = options.with_ignore_value();
    }
    if ignore_lease {
        options = options.with_ignore_lease();
    }
    if lease != 0 {
        options = options.with_lease(lease);
    }
    options
}

fn get_options(span: &Span, get: &Get) -> GetOptions {
    let mut options = match span {
        Span::Single => GetOptions::new(),
        Span::Prefix => GetOptions::new().with_prefix(),
        Span::FromKey => GetOptions::new().with_from_key(),
        Span::To(end) => GetOptions::new().with_range(end.0.clone()),
        Span::All => GetOptions::new().with_all_keys(),
    }
    .with_limit(get.limit)
    .with_revision(get.rev)
    .with_min_mod_revision(get.min_mod)
    .with_max_mod_revision(get.max_mod)
    .with_min_create_revision(get.min_create)
    .with_max_create_revision(get.max_create);
    if let Some((target, order)) = get.sort {
        options = options.with_sort(target, order);
    }
    if get.count_only {
        options = options.with_count_only();
    }
    if get.keys_only {
        options = options.with_keys_only();
    }
    if get.serializable {
        options = options.with_serializable();
    }
    options
}

fn delete_options(span: &Span, prev_kv: bool) -> DeleteOptions {
    let options = match span {
        Span::Single => DeleteOptions::new(),
        Span::Prefix => DeleteOptions::new().with_prefix(),
        Span::FromKey => DeleteOptions::new().with_from_key(),
        Span::To(end) => DeleteOptions::new().with_range(end.0.clone()),
        Span::All => DeleteOptions::new().with_all_keys(),
    };
    if prev_kv {
        options.with_prev_key()
    } else {
        options
    }
}

fn compare(cmp: &Cmp) -> Compare {
    let key = cmp.key.0.clone();
    let compare = match &cmp.target {
        CompareTarget::Value(v) => Compare::value(key, cmp.op, v.0.clone()),
        CompareTarget::Version(v) => Compare::version(key, cmp.op, *v),
        CompareTarget::Create(r) => Compare::create_revision(key, cmp.op, *r),
        CompareTarget::Mod(r) => Compare::mod_revision(key, cmp.op, *r),
    };
    if cmp.prefix {
        compare.with_prefix()
    } else {
        compare
    }
}

fn to_txn(compares: &[Cmp], success: &[Op], failure: &[Op]) -> Txn {
    Txn::new()
        .when(compares.iter().map(compare).collect::<Vec<_>>())
        .and_then(success.iter().map(to_txn_op).collect::<Vec<_>>())
        .or_else(failure.iter().map(to_txn_op).collect::<Vec<_>>())
}

fn to_txn_op(op: &Op) -> TxnOp {
    match op {
        Op::Put {
            key,
            value,
            prev_kv,
            ignore_value,
            ignore_lease,
            lease,
        } => TxnOp::put(
            key.0.clone(),
            value.0.clone(),
            Some(put_options(*prev_kv, *ignore_value, *ignore_lease, *lease)),
        ),
        Op::Get { key, span, options } => {
            TxnOp::get(key.0.clone(), Some(get_options(span, options)))
        }
        Op::Delete { key, span, prev_kv } => {
            TxnOp::delete(key.0.clone(), Some(delete_options(span, *prev_kv)))
        }
        Op::Txn {
            compares,
            success,
            failure,
        } => TxnOp::txn(to_txn(compares, success, failure)),
        Op::Compact { .. } => unreachable!("the generator never puts a compaction in a txn"),
    }
}

/// Runs `op`; returns its normalised answer and the header revision (if it succeeded).
async fn execute(client: &mut Client, op: &Op) -> (String, Option<i64>) {
    let result = match op {
        Op::Put {
            key,
            value,
            prev_kv,
            ignore_value,
            ignore_lease,
            lease,
        } => client
            .put(
                key.0.clone(),
                value.0.clone(),
                Some(put_options(*prev_kv, *ignore_value, *ignore_lease, *lease)),
            )
            .await
            .map(|r| {
                let prev = r.prev_key().map(show_kv).unwrap_or_default();
                (
                    format!("put {} prev=[{prev}]", header(r.header())),
                    rev(r.header()),
                )
            }),
        Op::Get { key, span, options } => client
            .get(key.0.clone(), Some(get_options(span, options)))
            .await
            .map(|r| {
                let kvs = show_kvs(r.kvs());
                let text = format!(
                    "range {} count={} more={} kvs=[{kvs}]",
                    header(r.header()),
                    r.count(),
                    r.more()
                );
                (text, rev(r.header()))
            }),
        Op::Delete { key, span, prev_kv } => client
            .delete(key.0.clone(), Some(delete_options(span, *prev_kv)))
            .await
            .map(|r| {
                let prev = show_kvs(r.prev_kvs());
                let text = format!(
                    "delete {} deleted={} prev=[{prev}]",
                    header(r.header()),
                    r.deleted()
                );
                (text, rev(r.header()))
            }),
        Op::Txn {
            compares,
            success,
            failure,
        } => client
            .txn(to_txn(compares, success, failure))
            .await
            .map(|r| (show_txn(&r), rev(r.header()))),
        Op::Compact { rev: at, physical } => {
            let options = if *physical {
                CompactionOptions::new().with_physical()
            } else {
                CompactionOptions::new()
            };
            client
                .compact(*at, Some(options))
                .await
                .map(|r| (format!("compact {}", header(r.header())), rev(r.header())))
        }
    };
    match result {
        Ok((text, rev)) => (text, rev),
        Err(etcd_client::Error::GRpcStatus(status)) => (
            format!("error {:?}: {}", status.code(), status.message()),
            None,
        ),
        Err(other) => (format!("client error: {other}"), None),
    }
}

fn rev(header: Option<&ResponseHeader>) -> Option<i64> {
    header.map(ResponseHeader::revision)
}

/// Only the revision: cluster_id, member_id and raft_term differ between servers.
fn header(header: Option<&ResponseHeader>) -> String {
    match header {
        Some(h) => format!("rev={}", h.revision()),
        None => "no-header".to_owned(),
    }
}

fn show_kv(kv: &KeyValue) -> String {
    format!(
        "{:?}={:?} c{} m{} v{} l{}",
        Bytes(kv.key().to_vec()),
        Bytes(kv.value().to_vec()),
        kv.create_revision(),
        kv.mod_revision(),
        kv.version(),
        kv.lease()
    )
}

fn show_kvs(kvs: &[KeyValue]) -> String {
    kvs.iter().map(show_kv).collect::<Vec<_>>().join(", ")
}

fn show_txn(r: &TxnResponse) -> String {
    let responses: Vec<String> = r
        .op_responses()
        .iter()
        .map(|op| match op {
            TxnOpResponse::Put(p) => format!(
                "put {} prev=[{}]",
                header(p.header()),
                p.prev_key().map(show_kv).unwrap_or_default()
            ),
            TxnOpResponse::Get(g) => format!(
                "range {} count={} more={} kvs=[{}]",
                header(g.header()),
                g.count(),
                g.more(),
                show_kvs(g.kvs())
            ),
            TxnOpResponse::Delete(d) => format!(
                "delete {} deleted={} prev=[{}]",
                header(d.header()),
                d.deleted(),
                show_kvs(d.prev_kvs())
            ),
            TxnOpResponse::Txn(t) => format!("({})", show_txn(t)),
        })
        .collect();
    format!(
        "txn {} succeeded={} [{}]",
        header(r.header()),
        r.succeeded(),
        responses.join("; ")
    )
}
