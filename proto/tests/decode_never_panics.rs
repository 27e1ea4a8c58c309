//! Decoding bytes from a client must fail cleanly, never panic: these are the
//! first messages the server parses off the wire.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use ringkv_proto::etcdserverpb::{RangeRequest, TxnRequest, WatchRequest};

/// Decodes `buf` as each request type; the results are irrelevant, only
/// that nothing panics. Valid messages must survive a re-encode round trip.
fn decode_all(buf: &[u8]) {
    fn one<M: Message + Default + PartialEq + std::fmt::Debug>(buf: &[u8]) {
        if let Ok(m) = M::decode(Bytes::copy_from_slice(buf)) {
            let again = M::decode(m.encode_to_vec().as_slice()).unwrap();
            assert_eq!(again, m);
        }
    }
    one::<RangeRequest>(buf);
    one::<TxnRequest>(buf);
    one::<WatchRequest>(buf);
}

/// Well-formed-looking input: a run of (tag, payload) pairs with plausible
/// field numbers, so the decoder gets past the first byte far more often than
/// with uniform noise.
fn fieldish() -> impl Strategy<Value = Vec<u8>> {
    let field = (
        1u32..16,
        0u32..6,
        proptest::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(number, wire_type, payload)| {
            let mut out = Vec::new();
            prost::encoding::encode_varint(u64::from(number << 3 | wire_type), &mut out);
            if wire_type == 2 {
                prost::encoding::encode_varint(payload.len() as u64, &mut out);
            }
            out.extend(payload);
            out
        });
    proptest::collection::vec(field, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&buf);
    }

    #[test]
    fn arbitrary_fields(buf in fieldish()) {
        decode_all(&buf);
    }
}

/// Deep nesting (a Txn inside a Txn inside ...) hits prost's recursion
/// limit and is rejected, not a stack overflow.
#[test]
fn deeply_nested_txn_is_rejected() {
    let mut buf: Vec<u8> = Vec::new();
    for _ in 0..200 {
        // TxnRequest.success (2) → RequestOp.request_txn (4) → TxnRequest ...
        let mut op = Vec::new();
        prost::encoding::encode_varint(4 << 3 | 2, &mut op);
        prost::encoding::encode_varint(buf.len() as u64, &mut op);
        op.extend(&buf);
        let mut txn = Vec::new();
        prost::encoding::encode_varint(2 << 3 | 2, &mut txn);
        prost::encoding::encode_varint(op.len() as u64, &mut txn);
        txn.extend(op);
        buf = txn;
    }
    assert!(TxnRequest::decode(buf.as_slice()).is_err());
}
