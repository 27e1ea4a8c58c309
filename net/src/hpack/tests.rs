//! RFC 7541 Appendix C, every example, as fixtures for both directions, plus property
//! tests: encode→decode round trips and a decoder that never panics.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// Bytes from the RFC's hex dumps (whitespace ignored).
pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h(name: &'static str, value: &'static str) -> Header {
    Header::new(
        Bytes::from_static(name.as_bytes()),
        Bytes::from_static(value.as_bytes()),
    )
}

/// One header block of an Appendix C sequence: the fields, the wire bytes, and the dynamic
/// table afterwards (newest first) with its size.
struct Step {
    headers: Vec<Header>,
    wire: &'static str,
    table: Vec<(&'static str, &'static str)>,
    size: usize,
}

fn table_of(t: &table::DynamicTable) -> Vec<(Bytes, Bytes)> {
    t.iter().cloned().collect()
}

fn owned(t: &[(&'static str, &'static str)]) -> Vec<(Bytes, Bytes)> {
    t.iter()
        .map(|(n, v)| {
            (
                Bytes::from_static(n.as_bytes()),
                Bytes::from_static(v.as_bytes()),
            )
        })
        .collect()
}

fn check_decode(table_size: usize, steps: &[Step]) {
    let mut d = Decoder::new(table_size, DEFAULT_MAX_HEADER_LIST_SIZE);
    for (i, step) in steps.iter().enumerate() {
        let got = d.decode(&Bytes::from(hex(step.wire))).unwrap();
        assert_eq!(got, step.headers, "step {i}");
        assert_eq!(table_of(d.table()), owned(&step.table), "step {i}");
        assert_eq!(d.table().size(), step.size, "step {i}");
    }
}

fn check_encode(table_size: usize, huffman: HuffmanPolicy, steps: &[Step]) {
    let mut e = Encoder::default();
    e.set_index_policy(IndexPolicy::Everything);
    e.set_huffman_policy(huffman);
    let mut update = BytesMut::new();
    if table_size != table::DEFAULT_TABLE_SIZE {
        // Appendix C assumes both sides agreed on the size out of band; our encoder
        // announces it, so the first block carries one size update before the fields.
        e.set_max_table_size(table_size);
        integer::encode(table_size, 5, 0x20, &mut update);
    }
    for (i, step) in steps.iter().enumerate() {
        let mut dst = BytesMut::new();
        e.encode(&step.headers, &mut dst);
        let mut expected = if i == 0 { update.to_vec() } else { Vec::new() };
        expected.extend(hex(step.wire));
        assert_eq!(dst.to_vec(), expected, "step {i}");
        assert_eq!(table_of(e.table()), owned(&step.table), "step {i}");
        assert_eq!(e.table().size(), step.size, "step {i}");
    }
}

#[test]
fn c2_1_literal_with_indexing() {
    let steps = [Step {
        headers: vec![h("custom-key", "custom-header")],
        wire: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        table: vec![("custom-key", "custom-header")],
        size: 55,
    }];
    check_decode(4096, &steps);
    check_encode(4096, HuffmanPolicy::Never, &steps);
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::default();
    let got = d
        .decode(&Bytes::from(hex("040c 2f73 616d 706c 652f 7061 7468")))
        .unwrap();
    assert_eq!(got, vec![h(":path", "/sample/path")]);
    assert!(d.table().is_empty());
    // Our selective policy indexes :path (gRPC method paths repeat), so encode with
    // indexing and check the representation differs only in the pattern bits.
    let mut e = Encoder::default();
    e.set_huffman_policy(HuffmanPolicy::Never);
    let mut dst = BytesMut::new();
    e.encode(&got, &mut dst);
    assert_eq!(dst.to_vec(), hex("440c 2f73 616d 706c 652f 7061 7468"));
}

#[test]
fn c2_3_literal_never_indexed() {
    let steps = [Step {
        headers: vec![Header::sensitive("password", "secret")],
        wire: "1008 7061 7373 776f 7264 0673 6563 7265 74",
        table: vec![],
        size: 0,
    }];
    check_decode(4096, &steps);
    check_encode(4096, HuffmanPolicy::Never, &steps);
}

#[test]
fn c2_4_indexed() {
    let steps = [Step {
        headers: vec![h(":method", "GET")],
        wire: "82",
        table: vec![],
        size: 0,
    }];
    check_decode(4096, &steps);
    check_encode(4096, HuffmanPolicy::Never, &steps);
}

fn requests(wire: [&'static str; 3]) -> [Step; 3] {
    [
        Step {
            headers: vec![
                h(":method", "GET"),
                h(":scheme", "http"),
                h(":path", "/"),
                h(":authority", "www.example.com"),
            ],
            wire: wire[0],
            table: vec![(":authority", "www.example.com")],
            size: 57,
        },
        Step {
            headers: vec![
                h(":method", "GET"),
                h(":scheme", "http"),
                h(":path", "/"),
                h(":authority", "www.example.com"),
                h("cache-control", "no-cache"),
            ],
            wire: wire[1],
            table: vec![
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ],
            size: 110,
        },
        Step {
            headers: vec![
                h(":method", "GET"),
                h(":scheme", "https"),
                h(":path", "/index.html"),
                h(":authority", "www.example.com"),
                h("custom-key", "custom-value"),
            ],
            wire: wire[2],
            table: vec![
                ("custom-key", "custom-value"),
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ],
            size: 164,
        },
    ]
}

#[test]
fn c3_requests_without_huffman() {
    let steps = requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
    check_decode(4096, &steps);
    check_encode(4096, HuffmanPolicy::Never, &steps);
}

#[test]
fn c4_requests_with_huffman() {
    let steps = requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
    check_decode(4096, &steps);
    check_encode(4096, HuffmanPolicy::Always, &steps);
}

const DATE_1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn responses(wire: [&'static str; 3]) -> [Step; 3] {
    [
        Step {
            headers: vec![
                h(":status", "302"),
                h("cache-control", "private"),
                h("date", DATE_1),
                h("location", LOCATION),
            ],
            wire: wire[0],
            table: vec![
                ("location", LOCATION),
                ("date", DATE_1),
                ("cache-control", "private"),
                (":status", "302"),
            ],
            size: 222,
        },
        Step {
            headers: vec![
                h(":status", "307"),
                h("cache-control", "private"),
                h("date", DATE_1),
                h("location", LOCATION),
            ],
            wire: wire[1],
            table: vec![
                (":status", "307"),
                ("location", LOCATION),
                ("date", DATE_1),
                ("cache-control", "private"),
            ],
            size: 222,
        },
        Step {
            headers: vec![
                h(":status", "200"),
                h("cache-control", "private"),
                h("date", DATE_2),
                h("location", LOCATION),
                h("content-encoding", "gzip"),
                h("set-cookie", COOKIE),
            ],
            wire: wire[2],
            table: vec![
                ("set-cookie", COOKIE),
                ("content-encoding", "gzip"),
                ("date", DATE_2),
            ],
            size: 215,
        },
    ]
}

#[test]
fn c5_responses_without_huffman() {
    let steps = responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
    check_decode(256, &steps);
    check_encode(256, HuffmanPolicy::Never, &steps);
}

#[test]
fn c6_responses_with_huffman() {
    let steps = responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
    check_decode(256, &steps);
    check_encode(256, HuffmanPolicy::Always, &steps);
}

fn header_strategy() -> impl Strategy<Value = Header> {
    let names = prop_oneof![
        Just(":status".to_string()),
        Just("content-type".to_string()),
        Just("grpc-status".to_string()),
        Just("authorization".to_string()),
        Just("grpc-timeout".to_string()),
        "[a-z-]{1,12}",
    ];
    let values = prop_oneof![Just("200".to_string()), Just("0".to_string()), ".{0,40}"];
    (
        names,
        values,
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(|(n, v, sensitive, raw)| {
            let mut value = v.into_bytes();
            value.extend(raw);
            Header {
                name: Bytes::from(n),
                value: Bytes::from(value),
                sensitive,
            }
        })
}

proptest! {
    /// Several blocks through one encoder/decoder pair, so dynamic-table references and
    /// evictions are exercised, with table size changes in between.
    #[test]
    fn encode_decode_round_trip(
        blocks in proptest::collection::vec(
            (proptest::collection::vec(header_strategy(), 0..12), proptest::option::of(0usize..600)),
            1..6,
        ),
        huffman in prop_oneof![
            Just(HuffmanPolicy::WhenShorter), Just(HuffmanPolicy::Always), Just(HuffmanPolicy::Never)
        ],
        everything in any::<bool>(),
    ) {
        let mut e = Encoder::default();
        e.set_huffman_policy(huffman);
        if everything {
            e.set_index_policy(IndexPolicy::Everything);
        }
        let mut d = Decoder::new(4096, usize::MAX);
        for (headers, resize) in blocks {
            if let Some(size) = resize {
                e.set_max_table_size(size);
            }
            let mut dst = BytesMut::new();
            e.encode(&headers, &mut dst);
            let got = d.decode(&dst.freeze()).unwrap();
            prop_assert_eq!(got.len(), headers.len());
            for (g, want) in got.iter().zip(&headers) {
                prop_assert_eq!(&g.name, &want.name);
                prop_assert_eq!(&g.value, &want.value);
                // Sensitive in, sensitive out.
                if want.sensitive {
                    prop_assert!(g.sensitive);
                }
                if !everything && want.name.as_ref() == b"authorization" {
                    prop_assert!(g.sensitive);
                }
            }
            prop_assert_eq!(table_of(d.table()), table_of(e.table()));
        }
    }

    #[test]
    fn decoder_never_panics(blocks in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..128), 1..4)
    ) {
        let mut d = Decoder::new(4096, 8192);
        for block in blocks {
            let _ = d.decode(&Bytes::from(block));
            prop_assert!(d.table().size() <= d.table().max_size());
        }
    }
}
