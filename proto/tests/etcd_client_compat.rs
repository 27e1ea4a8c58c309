//! Our generated messages against the `etcd-client` crate's, byte for byte.
//!
//! For every request and response type etcd-client exposes, a value with every
//! field set (so proto3 cannot omit it) is encoded by etcd-client, decoded by
//! ringkv-proto and re-encoded: the bytes must be identical. Then the reverse:
//! our bytes decode in etcd-client to the value it started from, and re-encode
//! to the same bytes. A wrong field number, type or missing field loses or
//! moves data and fails the comparison.
//!
//! A coverage walker reads every encoding with our descriptor set and checks
//! that each field of each message touched appeared at least once, so a test
//! that forgets a field (or a oneof variant) fails too.
//!
//! Types etcd-client does not expose (election and lock requests, AuthStatus,
//! health, ...) are checked against bytes assembled by hand from the field
//! numbers in ETCD-CONTRACT.md §1.2.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use bytes::Bytes;
use etcd_client::proto::*;
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use ringkv_proto::{
    FILE_DESCRIPTOR_SET, authpb, etcdserverpb, grpc_health_v1, mvccpb, v3electionpb, v3lockpb,
};

// ------------------------------------------------------------------ coverage

/// Which fields of which messages have been seen on the wire.
struct Coverage {
    /// message full name → field number → (type, message type name)
    schema: BTreeMap<String, BTreeMap<i32, (Type, String)>>,
    seen: BTreeMap<String, BTreeSet<i32>>,
    /// Rust-side spelling (`grpc_health_v1.HashKvRequest`) → proto full name.
    aliases: BTreeMap<String, String>,
}

/// Folds a Rust or proto message path to one spelling: prost renames
/// `HashKVRequest` to `HashKvRequest` and we name `grpc.health.v1` as
/// `grpc_health_v1`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Coverage {
    fn new() -> Self {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let mut schema = BTreeMap::new();
        fn add(
            schema: &mut BTreeMap<String, BTreeMap<i32, (Type, String)>>,
            prefix: &str,
            msg: &prost_types::DescriptorProto,
        ) {
            let name = format!("{prefix}.{}", msg.name());
            let fields = msg
                .field
                .iter()
                .map(|f| {
                    let type_name = f.type_name().trim_start_matches('.').to_string();
                    (f.number(), (f.r#type(), type_name))
                })
                .collect();
            for nested in &msg.nested_type {
                add(schema, &name, nested);
            }
            schema.insert(name, fields);
        }
        for file in &fds.file {
            for msg in &file.message_type {
                add(&mut schema, file.package(), msg);
            }
        }
        let aliases = schema.keys().map(|k| (fold(k), k.clone())).collect();
        Coverage {
            schema,
            seen: BTreeMap::new(),
            aliases,
        }
    }

    /// Walks `buf` as an encoding of `message`, recording each field seen.
    fn record(&mut self, message: &str, mut buf: &[u8]) {
        let message = self
            .aliases
            .get(&fold(message))
            .unwrap_or_else(|| panic!("no message {message} in our descriptor set"))
            .clone();
        let message = message.as_str();
        let fields = self
            .schema
            .get(message)
            .unwrap_or_else(|| panic!("no message {message} in our descriptor set"))
            .clone();
        self.seen.entry(message.to_string()).or_default();
        while !buf.is_empty() {
            let key = prost::encoding::decode_varint(&mut buf).unwrap();
            let (number, wire_type) = ((key >> 3) as i32, key & 7);
            let (ty, type_name) = fields
                .get(&number)
                .unwrap_or_else(|| panic!("{message} has no field {number}"));
            self.seen.get_mut(message).unwrap().insert(number);
            match wire_type {
                0 => {
                    prost::encoding::decode_varint(&mut buf).unwrap();
                }
                1 => buf = &buf[8..],
                5 => buf = &buf[4..],
                2 => {
                    let len = prost::encoding::decode_varint(&mut buf).unwrap() as usize;
                    let (body, rest) = buf.split_at(len);
                    if *ty == Type::Message {
                        self.record(&type_name.clone(), body);
                    }
                    buf = rest;
                }
                other => panic!("{message}.{number}: unexpected wire type {other}"),
            }
        }
    }

    /// Every field of every message seen so far was present at least once.
    fn assert_complete(&self) {
        for (message, seen) in &self.seen {
            let all: BTreeSet<i32> = self.schema[message].keys().copied().collect();
            let missing: Vec<_> = all.difference(seen).collect();
            assert!(
                missing.is_empty(),
                "{message}: fields {missing:?} never set in this test"
            );
        }
    }
}

// ------------------------------------------------------------------ round trip

/// etcd-client → ours → identical bytes, then ours → etcd-client → the same
/// value and identical bytes.
fn round_trip<Ours, Theirs>(cov: &mut Coverage, name: &str, theirs: &Theirs)
where
    Ours: Message + Default + Debug,
    Theirs: Message + Default + PartialEq + Debug,
{
    let bytes = theirs.encode_to_vec();
    let ours = Ours::decode(bytes.as_slice()).unwrap();
    let ours_bytes = ours.encode_to_vec();
    assert_eq!(
        ours_bytes, bytes,
        "{name}: re-encoded by ringkv differs\nours: {ours:?}"
    );
    assert_eq!(ours.encoded_len(), bytes.len(), "{name}: encoded_len");

    let back = Theirs::decode(ours_bytes.as_slice()).unwrap();
    assert_eq!(
        &back, theirs,
        "{name}: etcd-client decodes our bytes differently"
    );
    assert_eq!(
        back.encode_to_vec(),
        bytes,
        "{name}: etcd-client re-encode differs"
    );
    cov.record(name, &bytes);
}

/// Like `round_trip`, for the one message where etcd-client's encoding is not
/// the canonical one: prost-build emits `packed = "false"` for any repeated
/// scalar that carries a custom field option, and etcd's own proto files put
/// a version option on `WatchCreateRequest.filters`. So etcd-client sends the
/// filters unpacked, while etcd (gogoproto) and ringkv send them packed, the
/// proto3 default. Decoders must accept both forms, so check that each side
/// decodes the other's bytes to the same value.
fn round_trip_by_value<Ours, Theirs>(cov: &mut Coverage, name: &str, theirs: &Theirs)
where
    Ours: Message + Default + PartialEq + Debug,
    Theirs: Message + Default + PartialEq + Debug,
{
    let bytes = theirs.encode_to_vec();
    let ours = Ours::decode(bytes.as_slice()).unwrap();
    let ours_bytes = ours.encode_to_vec();
    let back = Theirs::decode(ours_bytes.as_slice()).unwrap();
    assert_eq!(
        &back, theirs,
        "{name}: etcd-client decodes our bytes differently"
    );
    assert_eq!(Ours::decode(ours_bytes.as_slice()).unwrap(), ours, "{name}");
    cov.record(name, &bytes);
    cov.record(name, &ours_bytes);
}

/// `compat!(cov, pkg::Message, their_value)`: round-trips `their_value`
/// through `ringkv_proto::pkg::Message`.
macro_rules! compat {
    ($cov:expr, $pkg:ident :: $msg:ident, $theirs:expr) => {
        round_trip::<$pkg::$msg, _>(
            &mut $cov,
            concat!(stringify!($pkg), ".", stringify!($msg)),
            &$theirs,
        )
    };
}

/// Checks our encoding of `ours` against bytes assembled by hand, and that
/// those bytes decode back to `ours`.
fn assert_hand_encoding<M: Message + Default + PartialEq + Debug>(
    cov: &mut Coverage,
    name: &str,
    ours: &M,
    expected: Vec<u8>,
) {
    assert_eq!(
        ours.encode_to_vec(),
        expected,
        "{name}: encoding differs from the hand-built bytes"
    );
    assert_eq!(
        &M::decode(expected.as_slice()).unwrap(),
        ours,
        "{name}: decoding hand-built bytes"
    );
    cov.record(name, &expected);
}

macro_rules! by_hand {
    ($cov:expr, $pkg:ident :: $msg:ident, $ours:expr, $expected:expr) => {
        assert_hand_encoding::<$pkg::$msg>(
            &mut $cov,
            concat!(stringify!($pkg), ".", stringify!($msg)),
            &$ours,
            $expected,
        )
    };
}

// Tiny protobuf writer for the hand-built bytes: every helper names the field
// number explicitly, so these bytes do not depend on our generated code.
fn tag(field: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from(field << 3 | wire_type))
}
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}
/// A varint field (int64, uint64, int32, bool, enum).
fn f_varint(field: u32, v: u64) -> Vec<u8> {
    [tag(field, 0), varint(v)].concat()
}
/// A length-delimited field (bytes, string, nested message, packed repeated).
fn f_len(field: u32, body: &[u8]) -> Vec<u8> {
    [tag(field, 2), varint(body.len() as u64), body.to_vec()].concat()
}

// ------------------------------------------------------------------ their values

fn header() -> PbResponseHeader {
    PbResponseHeader {
        cluster_id: 0x1122_3344_5566_7788,
        member_id: u64::MAX,
        revision: 1 << 40,
        raft_term: 7,
    }
}

fn kv(n: u8) -> PbKeyValue {
    PbKeyValue {
        key: vec![b'k', n],
        create_revision: 10 + i64::from(n),
        mod_revision: 20 + i64::from(n),
        version: 3,
        value: vec![b'v', n, 0xff],
        lease: 0x2040_a200_7dc3_eb05,
    }
}

fn member(n: u64) -> PbMember {
    PbMember {
        id: 0x8e9e_05c5_2164_694d + n,
        name: format!("node{n}"),
        peer_ur_ls: vec![
            format!("http://10.0.0.{n}:2380"),
            format!("http://10.0.1.{n}:2380"),
        ],
        client_ur_ls: vec![
            format!("http://10.0.0.{n}:2379"),
            format!("https://10.0.1.{n}:2379"),
        ],
        is_learner: true,
    }
}

fn range_request() -> PbRangeRequest {
    PbRangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        limit: 100,
        revision: 42,
        sort_order: 2,
        sort_target: 4,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 1,
        max_mod_revision: 2,
        min_create_revision: 3,
        max_create_revision: 4,
    }
}

fn put_request() -> PbPutRequest {
    PbPutRequest {
        key: b"foo".to_vec(),
        value: b"bar".to_vec(),
        lease: 99,
        prev_kv: true,
        ignore_value: true,
        ignore_lease: true,
    }
}

fn delete_request() -> PbDeleteRequest {
    PbDeleteRequest {
        key: b"a".to_vec(),
        range_end: b"\0".to_vec(),
        prev_kv: true,
    }
}

fn range_response() -> PbRangeResponse {
    PbRangeResponse {
        header: Some(header()),
        kvs: vec![kv(1), kv(2)],
        more: true,
        count: 12,
    }
}

fn put_response() -> PbPutResponse {
    PbPutResponse {
        header: Some(header()),
        prev_kv: Some(kv(3)),
    }
}

fn delete_response() -> PbDeleteResponse {
    PbDeleteResponse {
        header: Some(header()),
        deleted: 2,
        prev_kvs: vec![kv(4), kv(5)],
    }
}

fn compares() -> Vec<PbCompare> {
    let targets = [
        PbTargetUnion::Version(5),
        PbTargetUnion::CreateRevision(6),
        PbTargetUnion::ModRevision(7),
        PbTargetUnion::Value(b"val".to_vec()),
        PbTargetUnion::Lease(8),
    ];
    targets
        .into_iter()
        .enumerate()
        .map(|(i, t)| PbCompare {
            result: 1 + (i as i32 % 3),
            target: 1 + (i as i32 % 4),
            key: vec![b'c', i as u8],
            target_union: Some(t),
            range_end: vec![b'd', i as u8],
        })
        .collect()
}

fn txn_request() -> PbTxnRequest {
    let inner = PbTxnRequest {
        compare: compares(),
        success: vec![PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestRange(range_request())),
        }],
        failure: vec![PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestPut(put_request())),
        }],
    };
    PbTxnRequest {
        compare: compares(),
        success: vec![
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestRange(range_request())),
            },
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestPut(put_request())),
            },
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestDeleteRange(delete_request())),
            },
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestTxn(inner)),
            },
        ],
        failure: vec![
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestDeleteRange(delete_request())),
            },
            PbTxnRequestOp {
                request: Some(PbTxnOpRequest::RequestPut(put_request())),
            },
        ],
    }
}

fn txn_response() -> PbTxnResponse {
    let inner = PbTxnResponse {
        header: Some(header()),
        succeeded: true,
        responses: vec![PbResponseOp {
            response: Some(PbTxnOpResponse::ResponsePut(put_response())),
        }],
    };
    PbTxnResponse {
        header: Some(header()),
        succeeded: true,
        responses: vec![
            PbResponseOp {
                response: Some(PbTxnOpResponse::ResponseRange(range_response())),
            },
            PbResponseOp {
                response: Some(PbTxnOpResponse::ResponsePut(put_response())),
            },
            PbResponseOp {
                response: Some(PbTxnOpResponse::ResponseDeleteRange(delete_response())),
            },
            PbResponseOp {
                response: Some(PbTxnOpResponse::ResponseTxn(inner)),
            },
        ],
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn kv_service_messages() {
    let mut cov = Coverage::new();
    compat!(cov, etcdserverpb::ResponseHeader, header());
    compat!(cov, mvccpb::KeyValue, kv(9));
    compat!(cov, etcdserverpb::RangeRequest, range_request());
    compat!(cov, etcdserverpb::RangeResponse, range_response());
    compat!(
        cov,
        etcdserverpb::RangeStreamResponse,
        PbRangeStreamResponse {
            range_response: Some(range_response())
        }
    );
    compat!(cov, etcdserverpb::PutRequest, put_request());
    compat!(cov, etcdserverpb::PutResponse, put_response());
    compat!(cov, etcdserverpb::DeleteRangeRequest, delete_request());
    compat!(cov, etcdserverpb::DeleteRangeResponse, delete_response());
    for c in compares() {
        compat!(cov, etcdserverpb::Compare, c);
    }
    for op in txn_request().success {
        compat!(cov, etcdserverpb::RequestOp, op);
    }
    for op in txn_response().responses {
        compat!(cov, etcdserverpb::ResponseOp, op);
    }
    compat!(cov, etcdserverpb::TxnRequest, txn_request());
    compat!(cov, etcdserverpb::TxnResponse, txn_response());
    compat!(
        cov,
        etcdserverpb::CompactionRequest,
        PbCompactionRequest {
            revision: 77,
            physical: true
        }
    );
    compat!(
        cov,
        etcdserverpb::CompactionResponse,
        PbCompactionResponse {
            header: Some(header())
        }
    );
    cov.assert_complete();
}

#[test]
fn watch_service_messages() {
    let mut cov = Coverage::new();
    // etcd-client does not name WatchCreateRequest and friends, but they are
    // reachable through the oneof and filled in place by type inference.
    let mut create = PbWatchRequestUnion::CreateRequest(Default::default());
    if let PbWatchRequestUnion::CreateRequest(c) = &mut create {
        c.key = b"/registry/".to_vec();
        c.range_end = b"/registry0".to_vec();
        c.start_revision = 1234;
        c.progress_notify = true;
        c.filters = vec![1, 0, 1];
        c.prev_kv = true;
        c.watch_id = 5;
        c.fragment = true;
    }
    let mut cancel = PbWatchRequestUnion::CancelRequest(Default::default());
    if let PbWatchRequestUnion::CancelRequest(c) = &mut cancel {
        c.watch_id = 6;
    }
    let progress = PbWatchRequestUnion::ProgressRequest(Default::default());
    round_trip_by_value::<etcdserverpb::WatchRequest, _>(
        &mut cov,
        "etcdserverpb.WatchRequest",
        &PbWatchRequest {
            request_union: Some(create),
        },
    );
    for union in [cancel, progress] {
        compat!(
            cov,
            etcdserverpb::WatchRequest,
            PbWatchRequest {
                request_union: Some(union)
            }
        );
    }

    let events = vec![
        PbEvent {
            r#type: 1,
            kv: Some(kv(1)),
            prev_kv: Some(kv(2)),
        },
        PbEvent {
            r#type: 0,
            kv: Some(kv(3)),
            prev_kv: Some(kv(4)),
        },
    ];
    for e in &events {
        compat!(cov, mvccpb::Event, e.clone());
    }
    compat!(
        cov,
        etcdserverpb::WatchResponse,
        PbWatchResponse {
            header: Some(header()),
            watch_id: 5,
            created: true,
            canceled: true,
            compact_revision: 17,
            cancel_reason: "mvcc: required revision has been compacted".into(),
            fragment: true,
            events,
        }
    );
    cov.assert_complete();
}

#[test]
fn lease_service_messages() {
    let mut cov = Coverage::new();
    compat!(
        cov,
        etcdserverpb::LeaseGrantRequest,
        PbLeaseGrantRequest {
            ttl: 30,
            id: 0x1234
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseGrantResponse,
        PbLeaseGrantResponse {
            header: Some(header()),
            id: 0x1234,
            ttl: 30,
            error: "oops".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseRevokeRequest,
        PbLeaseRevokeRequest { id: 0x1234 }
    );
    compat!(
        cov,
        etcdserverpb::LeaseRevokeResponse,
        PbLeaseRevokeResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseKeepAliveRequest,
        PbLeaseKeepAliveRequest { id: -1 }
    );
    compat!(
        cov,
        etcdserverpb::LeaseKeepAliveResponse,
        PbLeaseKeepAliveResponse {
            header: Some(header()),
            id: 0x1234,
            ttl: 29
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseTimeToLiveRequest,
        PbLeaseTimeToLiveRequest {
            id: 0x1234,
            keys: true
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseTimeToLiveResponse,
        PbLeaseTimeToLiveResponse {
            header: Some(header()),
            id: 0x1234,
            ttl: -1,
            granted_ttl: 60,
            keys: vec![b"k1".to_vec(), b"k2".to_vec()],
        }
    );
    compat!(
        cov,
        etcdserverpb::LeaseLeasesRequest,
        PbLeaseLeasesRequest {}
    );
    compat!(cov, etcdserverpb::LeaseStatus, PbLeaseStatus { id: 7 });
    compat!(
        cov,
        etcdserverpb::LeaseLeasesResponse,
        PbLeaseLeasesResponse {
            header: Some(header()),
            leases: vec![PbLeaseStatus { id: 7 }, PbLeaseStatus { id: 8 }]
        }
    );
    cov.assert_complete();
}

#[test]
fn cluster_service_messages() {
    let mut cov = Coverage::new();
    compat!(cov, etcdserverpb::Member, member(1));
    compat!(
        cov,
        etcdserverpb::MemberAddRequest,
        PbMemberAddRequest {
            peer_ur_ls: vec!["http://a:2380".into(), "http://b:2380".into()],
            is_learner: true
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberAddResponse,
        PbMemberAddResponse {
            header: Some(header()),
            member: Some(member(3)),
            members: vec![member(1), member(2)]
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberRemoveRequest,
        PbMemberRemoveRequest { id: 42 }
    );
    compat!(
        cov,
        etcdserverpb::MemberRemoveResponse,
        PbMemberRemoveResponse {
            header: Some(header()),
            members: vec![member(1), member(2)]
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberUpdateRequest,
        PbMemberUpdateRequest {
            id: 42,
            peer_ur_ls: vec!["http://a:2380".into(), "http://b:2380".into()]
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberUpdateResponse,
        PbMemberUpdateResponse {
            header: Some(header()),
            members: vec![member(1), member(2)]
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberListRequest,
        PbMemberListRequest { linearizable: true }
    );
    compat!(
        cov,
        etcdserverpb::MemberListResponse,
        PbMemberListResponse {
            header: Some(header()),
            members: vec![member(1), member(2)]
        }
    );
    compat!(
        cov,
        etcdserverpb::MemberPromoteRequest,
        PbMemberPromoteRequest { id: 42 }
    );
    compat!(
        cov,
        etcdserverpb::MemberPromoteResponse,
        PbMemberPromoteResponse {
            header: Some(header()),
            members: vec![member(1), member(2)]
        }
    );
    cov.assert_complete();
}

#[test]
fn maintenance_service_messages() {
    let mut cov = Coverage::new();
    compat!(
        cov,
        etcdserverpb::AlarmRequest,
        PbAlarmRequest {
            action: 2,
            member_id: 9,
            alarm: 2
        }
    );
    compat!(
        cov,
        etcdserverpb::AlarmMember,
        PbAlarmMember {
            member_id: 9,
            alarm: 1
        }
    );
    compat!(
        cov,
        etcdserverpb::AlarmResponse,
        PbAlarmResponse {
            header: Some(header()),
            alarms: vec![
                PbAlarmMember {
                    member_id: 9,
                    alarm: 1
                },
                PbAlarmMember {
                    member_id: 10,
                    alarm: 2
                }
            ],
        }
    );
    compat!(cov, etcdserverpb::StatusRequest, PbStatusRequest {});
    compat!(
        cov,
        etcdserverpb::DowngradeInfo,
        PbDowngradeInfo {
            enabled: true,
            target_version: "3.5.0".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::StatusResponse,
        PbStatusResponse {
            header: Some(header()),
            version: "3.6.0".into(),
            db_size: 1 << 30,
            leader: 0xdead_beef,
            raft_index: 100,
            raft_term: 5,
            raft_applied_index: 99,
            errors: vec!["memberID:1 alarm:NOSPACE".into(), "second".into()],
            db_size_in_use: 1 << 20,
            is_learner: true,
            storage_version: "3.6.0".into(),
            db_size_quota: 2 << 30,
            downgrade_info: Some(PbDowngradeInfo {
                enabled: true,
                target_version: "3.5.0".into()
            }),
        }
    );
    compat!(cov, etcdserverpb::DefragmentRequest, PbDefragmentRequest {});
    compat!(
        cov,
        etcdserverpb::DefragmentResponse,
        PbDefragmentResponse {
            header: Some(header())
        }
    );
    compat!(cov, etcdserverpb::HashRequest, PbHashRequest {});
    compat!(
        cov,
        etcdserverpb::HashResponse,
        PbHashResponse {
            header: Some(header()),
            hash: u32::MAX
        }
    );
    compat!(
        cov,
        etcdserverpb::HashKvRequest,
        PbHashKvRequest { revision: 55 }
    );
    compat!(
        cov,
        etcdserverpb::HashKvResponse,
        PbHashKvResponse {
            header: Some(header()),
            hash: 0x8000_0001,
            compact_revision: 3,
            hash_revision: 55
        }
    );
    compat!(cov, etcdserverpb::SnapshotRequest, PbSnapshotRequest {});
    compat!(
        cov,
        etcdserverpb::SnapshotResponse,
        PbSnapshotResponse {
            header: Some(header()),
            remaining_bytes: 4096,
            blob: vec![0, 1, 2, 255],
            version: "3.6.0".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::MoveLeaderRequest,
        PbMoveLeaderRequest { target_id: 77 }
    );
    compat!(
        cov,
        etcdserverpb::MoveLeaderResponse,
        PbMoveLeaderResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::DowngradeRequest,
        PbDowngradeRequest {
            action: 2,
            version: "3.5".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::DowngradeResponse,
        PbDowngradeResponse {
            header: Some(header()),
            version: "3.6".into()
        }
    );
    cov.assert_complete();
}

#[test]
fn auth_service_messages() {
    let mut cov = Coverage::new();
    let strings = || vec!["root".to_string(), "reader".to_string()];
    compat!(cov, etcdserverpb::AuthEnableRequest, PbAuthEnableRequest {});
    compat!(
        cov,
        etcdserverpb::AuthEnableResponse,
        PbAuthEnableResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthDisableRequest,
        PbAuthDisableRequest {}
    );
    compat!(
        cov,
        etcdserverpb::AuthDisableResponse,
        PbAuthDisableResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthenticateRequest,
        PbAuthenticateRequest {
            name: "u".into(),
            password: "p".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthenticateResponse,
        PbAuthenticateResponse {
            header: Some(header()),
            token: "tok.123".into()
        }
    );

    // UserAddOptions is reachable only through the request's field.
    let mut user_add = PbAuthUserAddRequest {
        name: "u".into(),
        password: "p".into(),
        options: Some(Default::default()),
        hashed_password: "$2a$10$abc".into(),
    };
    if let Some(o) = user_add.options.as_mut() {
        o.no_password = true;
    }
    compat!(cov, etcdserverpb::AuthUserAddRequest, user_add);
    compat!(
        cov,
        etcdserverpb::AuthUserAddResponse,
        PbAuthUserAddResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserGetRequest,
        PbAuthUserGetRequest { name: "u".into() }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserGetResponse,
        PbAuthUserGetResponse {
            header: Some(header()),
            roles: strings()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserListRequest,
        PbAuthUserListRequest {}
    );
    compat!(
        cov,
        etcdserverpb::AuthUserListResponse,
        PbAuthUserListResponse {
            header: Some(header()),
            users: strings()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserDeleteRequest,
        PbAuthUserDeleteRequest { name: "u".into() }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserDeleteResponse,
        PbAuthUserDeleteResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserChangePasswordRequest,
        PbAuthUserChangePasswordRequest {
            name: "u".into(),
            password: "p2".into(),
            hashed_password: "$2a$10$def".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserChangePasswordResponse,
        PbAuthUserChangePasswordResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserGrantRoleRequest,
        PbAuthUserGrantRoleRequest {
            user: "u".into(),
            role: "r".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserGrantRoleResponse,
        PbAuthUserGrantRoleResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserRevokeRoleRequest,
        PbAuthUserRevokeRoleRequest {
            name: "u".into(),
            role: "r".into()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthUserRevokeRoleResponse,
        PbAuthUserRevokeRoleResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleAddRequest,
        PbAuthRoleAddRequest { name: "r".into() }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleAddResponse,
        PbAuthRoleAddResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleGetRequest,
        PbAuthRoleGetRequest { role: "r".into() }
    );

    // authpb.Permission is reachable only through the messages that hold it.
    let mut grant = PbAuthRoleGrantPermissionRequest {
        name: "r".into(),
        perm: Some(Default::default()),
    };
    if let Some(p) = grant.perm.as_mut() {
        p.perm_type = 2;
        p.key = b"a".to_vec();
        p.range_end = b"b".to_vec();
    }
    let perm = grant.perm.clone().unwrap();
    let mut perm2 = perm.clone();
    perm2.perm_type = 1;
    compat!(cov, authpb::Permission, perm.clone());
    compat!(cov, etcdserverpb::AuthRoleGrantPermissionRequest, grant);
    compat!(
        cov,
        etcdserverpb::AuthRoleGetResponse,
        PbAuthRoleGetResponse {
            header: Some(header()),
            perm: vec![perm, perm2]
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleListRequest,
        PbAuthRoleListRequest {}
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleListResponse,
        PbAuthRoleListResponse {
            header: Some(header()),
            roles: strings()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleDeleteRequest,
        PbAuthRoleDeleteRequest { role: "r".into() }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleDeleteResponse,
        PbAuthRoleDeleteResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleGrantPermissionResponse,
        PbAuthRoleGrantPermissionResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleRevokePermissionRequest,
        PbAuthRoleRevokePermissionRequest {
            role: "r".into(),
            key: b"a".to_vec(),
            range_end: b"b".to_vec()
        }
    );
    compat!(
        cov,
        etcdserverpb::AuthRoleRevokePermissionResponse,
        PbAuthRoleRevokePermissionResponse {
            header: Some(header())
        }
    );
    cov.assert_complete();
}

#[test]
fn election_and_lock_responses() {
    let mut cov = Coverage::new();
    let leader = PbLeaderKey {
        name: b"ele".to_vec(),
        key: b"ele/2040a2007dc3eb05".to_vec(),
        rev: 9,
        lease: 0x2040_a200_7dc3_eb05,
    };
    compat!(cov, v3electionpb::LeaderKey, leader.clone());
    compat!(
        cov,
        v3electionpb::CampaignResponse,
        PbCampaignResponse {
            header: Some(header()),
            leader: Some(leader)
        }
    );
    compat!(
        cov,
        v3electionpb::LeaderResponse,
        PbLeaderResponse {
            header: Some(header()),
            kv: Some(kv(1))
        }
    );
    compat!(
        cov,
        v3electionpb::ProclaimResponse,
        PbProclaimResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        v3electionpb::ResignResponse,
        PbResignResponse {
            header: Some(header())
        }
    );
    compat!(
        cov,
        v3lockpb::LockResponse,
        PbLockResponse {
            header: Some(header()),
            key: b"mylock/2040a2007dc3eb05".to_vec()
        }
    );
    compat!(
        cov,
        v3lockpb::UnlockResponse,
        PbUnlockResponse {
            header: Some(header())
        }
    );
    cov.assert_complete();
}

// ------------------------------------------------------------------ by hand

fn our_leader_key() -> v3electionpb::LeaderKey {
    v3electionpb::LeaderKey {
        name: Bytes::from_static(b"ele"),
        key: Bytes::from_static(b"ele/1f"),
        rev: 300,
        lease: 31,
    }
}

fn leader_key_bytes() -> Vec<u8> {
    [
        f_len(1, b"ele"),
        f_len(2, b"ele/1f"),
        f_varint(3, 300),
        f_varint(4, 31),
    ]
    .concat()
}

fn our_header() -> etcdserverpb::ResponseHeader {
    etcdserverpb::ResponseHeader {
        cluster_id: 1,
        member_id: 2,
        revision: 3,
        raft_term: 4,
    }
}

fn header_bytes() -> Vec<u8> {
    [
        f_varint(1, 1),
        f_varint(2, 2),
        f_varint(3, 3),
        f_varint(4, 4),
    ]
    .concat()
}

#[test]
fn election_and_lock_requests_by_hand() {
    let mut cov = Coverage::new();
    by_hand!(
        cov,
        v3electionpb::CampaignRequest,
        v3electionpb::CampaignRequest {
            name: Bytes::from_static(b"ele"),
            lease: 31,
            value: Bytes::from_static(b"me")
        },
        [f_len(1, b"ele"), f_varint(2, 31), f_len(3, b"me")].concat()
    );
    by_hand!(
        cov,
        v3electionpb::LeaderKey,
        our_leader_key(),
        leader_key_bytes()
    );
    by_hand!(
        cov,
        v3electionpb::ProclaimRequest,
        v3electionpb::ProclaimRequest {
            leader: Some(our_leader_key()),
            value: Bytes::from_static(b"new")
        },
        [f_len(1, &leader_key_bytes()), f_len(2, b"new")].concat()
    );
    by_hand!(
        cov,
        v3electionpb::LeaderRequest,
        v3electionpb::LeaderRequest {
            name: Bytes::from_static(b"ele")
        },
        f_len(1, b"ele")
    );
    by_hand!(
        cov,
        v3electionpb::ResignRequest,
        v3electionpb::ResignRequest {
            leader: Some(our_leader_key())
        },
        f_len(1, &leader_key_bytes())
    );
    by_hand!(
        cov,
        v3lockpb::LockRequest,
        v3lockpb::LockRequest {
            name: Bytes::from_static(b"mylock"),
            lease: 31
        },
        [f_len(1, b"mylock"), f_varint(2, 31)].concat()
    );
    by_hand!(
        cov,
        v3lockpb::LockResponse,
        v3lockpb::LockResponse {
            header: Some(our_header()),
            key: Bytes::from_static(b"mylock/1f")
        },
        [f_len(1, &header_bytes()), f_len(2, b"mylock/1f")].concat()
    );
    by_hand!(
        cov,
        v3lockpb::UnlockRequest,
        v3lockpb::UnlockRequest {
            key: Bytes::from_static(b"mylock/1f")
        },
        f_len(1, b"mylock/1f")
    );
    cov.assert_complete();
}

#[test]
fn watch_create_request_by_hand() {
    let mut cov = Coverage::new();
    let create = etcdserverpb::WatchCreateRequest {
        key: Bytes::from_static(b"k"),
        range_end: Bytes::from_static(b"l"),
        start_revision: 5,
        progress_notify: true,
        filters: vec![1, 0],
        prev_kv: true,
        watch_id: 9,
        fragment: true,
    };
    // filters is a packed repeated enum (proto3 default): one length-delimited field.
    let create_bytes = [
        f_len(1, b"k"),
        f_len(2, b"l"),
        f_varint(3, 5),
        f_varint(4, 1),
        f_len(5, &[1, 0]),
        f_varint(6, 1),
        f_varint(7, 9),
        f_varint(8, 1),
    ]
    .concat();
    by_hand!(
        cov,
        etcdserverpb::WatchCreateRequest,
        create.clone(),
        create_bytes.clone()
    );
    use etcdserverpb::watch_request::RequestUnion;
    by_hand!(
        cov,
        etcdserverpb::WatchRequest,
        etcdserverpb::WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create))
        },
        f_len(1, &create_bytes)
    );
    by_hand!(
        cov,
        etcdserverpb::WatchRequest,
        etcdserverpb::WatchRequest {
            request_union: Some(RequestUnion::CancelRequest(
                etcdserverpb::WatchCancelRequest { watch_id: 9 }
            ))
        },
        f_len(2, &f_varint(1, 9))
    );
    by_hand!(
        cov,
        etcdserverpb::WatchRequest,
        etcdserverpb::WatchRequest {
            request_union: Some(RequestUnion::ProgressRequest(
                etcdserverpb::WatchProgressRequest {}
            ))
        },
        f_len(3, &[])
    );
    // A negative int64 is a ten-byte varint (two's complement), not zigzag.
    by_hand!(
        cov,
        etcdserverpb::WatchCancelRequest,
        etcdserverpb::WatchCancelRequest { watch_id: -1 },
        f_varint(1, u64::MAX)
    );
    cov.assert_complete();
}

#[test]
fn messages_etcd_client_does_not_expose_by_hand() {
    let mut cov = Coverage::new();
    by_hand!(
        cov,
        etcdserverpb::AuthStatusRequest,
        etcdserverpb::AuthStatusRequest {},
        vec![]
    );
    by_hand!(
        cov,
        etcdserverpb::AuthStatusResponse,
        etcdserverpb::AuthStatusResponse {
            header: Some(our_header()),
            enabled: true,
            auth_revision: 12
        },
        [f_len(1, &header_bytes()), f_varint(2, 1), f_varint(3, 12)].concat()
    );
    by_hand!(
        cov,
        etcdserverpb::LeaseCheckpointRequest,
        etcdserverpb::LeaseCheckpointRequest {
            checkpoints: vec![
                etcdserverpb::LeaseCheckpoint {
                    id: 1,
                    remaining_ttl: 10
                },
                etcdserverpb::LeaseCheckpoint {
                    id: 2,
                    remaining_ttl: 20
                },
            ],
        },
        [
            f_len(1, &[f_varint(1, 1), f_varint(2, 10)].concat()),
            f_len(1, &[f_varint(1, 2), f_varint(2, 20)].concat())
        ]
        .concat()
    );
    by_hand!(
        cov,
        etcdserverpb::LeaseCheckpointResponse,
        etcdserverpb::LeaseCheckpointResponse {
            header: Some(our_header())
        },
        f_len(1, &header_bytes())
    );
    by_hand!(
        cov,
        etcdserverpb::DowngradeVersionTestRequest,
        etcdserverpb::DowngradeVersionTestRequest { ver: "3.6".into() },
        f_len(1, b"3.6")
    );
    by_hand!(
        cov,
        authpb::User,
        authpb::User {
            name: Bytes::from_static(b"u"),
            password: Bytes::from_static(b"h"),
            roles: vec!["a".into(), "b".into()],
            options: Some(authpb::UserAddOptions { no_password: true }),
        },
        [
            f_len(1, b"u"),
            f_len(2, b"h"),
            f_len(3, b"a"),
            f_len(3, b"b"),
            f_len(4, &f_varint(1, 1))
        ]
        .concat()
    );
    by_hand!(
        cov,
        authpb::Role,
        authpb::Role {
            name: Bytes::from_static(b"r"),
            key_permission: vec![authpb::Permission {
                perm_type: authpb::permission::Type::Readwrite as i32,
                key: Bytes::from_static(b"a"),
                range_end: Bytes::from_static(b"b"),
            }],
        },
        [
            f_len(1, b"r"),
            f_len(
                2,
                &[f_varint(1, 2), f_len(2, b"a"), f_len(3, b"b")].concat()
            )
        ]
        .concat()
    );
    by_hand!(
        cov,
        grpc_health_v1::HealthCheckRequest,
        grpc_health_v1::HealthCheckRequest {
            service: "etcdserverpb.KV".into()
        },
        f_len(1, b"etcdserverpb.KV")
    );
    for (status, n) in [
        (
            grpc_health_v1::health_check_response::ServingStatus::Serving,
            1,
        ),
        (
            grpc_health_v1::health_check_response::ServingStatus::NotServing,
            2,
        ),
        (
            grpc_health_v1::health_check_response::ServingStatus::ServiceUnknown,
            3,
        ),
    ] {
        by_hand!(
            cov,
            grpc_health_v1::HealthCheckResponse,
            grpc_health_v1::HealthCheckResponse {
                status: status as i32
            },
            f_varint(1, n)
        );
    }
    cov.assert_complete();
}

/// Compare's range_end sits at field 64, which needs a two-byte tag; a
/// generator that renumbered it would still round-trip with itself.
#[test]
fn compare_range_end_is_field_64() {
    let c = etcdserverpb::Compare {
        result: etcdserverpb::compare::CompareResult::NotEqual as i32,
        target: etcdserverpb::compare::CompareTarget::Lease as i32,
        key: Bytes::from_static(b"k"),
        range_end: Bytes::from_static(b"m"),
        target_union: Some(etcdserverpb::compare::TargetUnion::Lease(8)),
    };
    // prost writes fields in field-number order, so the oneof comes first.
    let expected = [
        f_varint(1, 3),
        f_varint(2, 4),
        f_len(3, b"k"),
        f_varint(8, 8),
        f_len(64, b"m"),
    ]
    .concat();
    assert_eq!(&expected[9..12], &[0x82, 0x04, 1]);
    let mut cov = Coverage::new();
    by_hand!(cov, etcdserverpb::Compare, c, expected);
}

/// Bytes fields are `bytes::Bytes`, and decoding from a `Bytes` buffer
/// shares it rather than copying.
#[test]
fn bytes_fields_slice_the_input_buffer() {
    let put = etcdserverpb::PutRequest {
        key: Bytes::from_static(b"key"),
        value: Bytes::from(vec![7u8; 64]),
        ..Default::default()
    };
    let buf = Bytes::from(put.encode_to_vec());
    let decoded = etcdserverpb::PutRequest::decode(buf.clone()).unwrap();
    assert_eq!(decoded, put);
    let range = buf.as_ptr_range();
    assert!(
        range.contains(&decoded.value.as_ptr()),
        "value was copied out of the buffer"
    );
}
