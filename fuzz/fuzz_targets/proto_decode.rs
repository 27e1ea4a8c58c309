//! Every etcd request message arrives as protobuf bytes from a client: decoding any bytes
//! must fail cleanly, never panic, and what decodes must re-encode and decode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use ringkv_proto::etcdserverpb as pb;

fn check<M: Message + Default + PartialEq>(bytes: &[u8]) {
    if let Ok(msg) = M::decode(bytes) {
        let again = M::decode(msg.encode_to_vec().as_slice()).expect("re-encoded message decodes");
        assert!(again == msg);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => check::<pb::RangeRequest>(bytes),
        1 => check::<pb::PutRequest>(bytes),
        2 => check::<pb::DeleteRangeRequest>(bytes),
        3 => check::<pb::TxnRequest>(bytes),
        4 => check::<pb::WatchRequest>(bytes),
        5 => check::<pb::LeaseKeepAliveRequest>(bytes),
        6 => check::<pb::CompactionRequest>(bytes),
        _ => check::<pb::AuthenticateRequest>(bytes),
    }
});
