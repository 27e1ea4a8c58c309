//! Our `.proto` files against etcd's own, as vendored by the `etcd-client`
//! crate: every message, field (name, number, type, label, oneof), enum value
//! and RPC etcd declares must exist in ours, spelled the same.
//!
//! The byte-compat tests cannot see field names (they are not on the wire),
//! but the JSON gateway prints them, so they are checked here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};
use ringkv_proto::FILE_DESCRIPTOR_SET;

/// etcd's proto files, shipped inside the etcd-client package that cargo
/// downloaded as our dev-dependency.
fn etcd_client_proto_dir() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let registry = cargo_home.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("{}: {e}", registry.display()))
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("etcd-client-0.21."))
        })
        .collect();
    found.sort();
    let dir = found
        .pop()
        .expect("etcd-client 0.21 sources not found in the cargo registry");
    dir.join("proto")
}

fn etcd_descriptors() -> FileDescriptorSet {
    let root = etcd_client_proto_dir();
    let files = [
        "etcd/api/mvccpb/kv.proto",
        "etcd/api/authpb/auth.proto",
        "etcd/api/etcdserverpb/rpc.proto",
        "etcd/server/etcdserver/api/v3election/v3electionpb/v3election.proto",
        "etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
    ];
    protox::compile(files, [root]).unwrap()
}

/// Full name → message, for the packages both sides define.
fn messages(fds: &FileDescriptorSet) -> BTreeMap<String, DescriptorProto> {
    fn add(out: &mut BTreeMap<String, DescriptorProto>, prefix: &str, m: &DescriptorProto) {
        let name = format!("{prefix}.{}", m.name());
        for nested in &m.nested_type {
            add(out, &name, nested);
        }
        out.insert(name, m.clone());
    }
    let mut out = BTreeMap::new();
    for f in fds.file.iter().filter(|f| is_etcd_package(f.package())) {
        for m in &f.message_type {
            add(&mut out, f.package(), m);
        }
    }
    out
}

fn enums(fds: &FileDescriptorSet) -> BTreeMap<String, EnumDescriptorProto> {
    fn add(out: &mut BTreeMap<String, EnumDescriptorProto>, prefix: &str, m: &DescriptorProto) {
        let name = format!("{prefix}.{}", m.name());
        for e in &m.enum_type {
            out.insert(format!("{name}.{}", e.name()), e.clone());
        }
        for nested in &m.nested_type {
            add(out, &name, nested);
        }
    }
    let mut out = BTreeMap::new();
    for f in fds.file.iter().filter(|f| is_etcd_package(f.package())) {
        for e in &f.enum_type {
            out.insert(format!("{}.{}", f.package(), e.name()), e.clone());
        }
        for m in &f.message_type {
            add(&mut out, f.package(), m);
        }
    }
    out
}

fn is_etcd_package(p: &str) -> bool {
    matches!(
        p,
        "etcdserverpb" | "mvccpb" | "authpb" | "v3electionpb" | "v3lockpb"
    )
}

fn ours() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap()
}

#[test]
fn every_etcd_message_and_field_is_ours() {
    let (theirs, ours) = (messages(&etcd_descriptors()), messages(&ours()));
    assert!(
        theirs.len() > 100,
        "parsed only {} etcd messages",
        theirs.len()
    );
    for (name, t) in &theirs {
        let o = ours
            .get(name)
            .unwrap_or_else(|| panic!("message {name} missing"));
        assert_eq!(o.field.len(), t.field.len(), "{name}: field count");
        for tf in &t.field {
            let of = o
                .field
                .iter()
                .find(|f| f.number() == tf.number())
                .unwrap_or_else(|| panic!("{name}: field {} missing", tf.number()));
            let what = format!("{name}.{}", tf.name());
            assert_eq!(of.name(), tf.name(), "{what}: name");
            assert_eq!(of.json_name(), tf.json_name(), "{what}: json name");
            assert_eq!(of.r#type(), tf.r#type(), "{what}: type");
            assert_eq!(of.label(), tf.label(), "{what}: label");
            assert_eq!(of.type_name(), tf.type_name(), "{what}: type name");
            assert_eq!(
                of.proto3_optional(),
                tf.proto3_optional(),
                "{what}: optional"
            );
            let oneof = |m: &DescriptorProto, f: &prost_types::FieldDescriptorProto| {
                f.oneof_index
                    .map(|i| m.oneof_decl[i as usize].name().to_string())
            };
            assert_eq!(oneof(o, of), oneof(t, tf), "{what}: oneof");
        }
    }
    // Nothing of ours that etcd lacks, except the health package.
    let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    assert!(extra.is_empty(), "messages etcd does not have: {extra:?}");
}

#[test]
fn every_etcd_enum_value_is_ours() {
    let (theirs, ours) = (enums(&etcd_descriptors()), enums(&ours()));
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>()
    );
    for (name, t) in &theirs {
        let values = |e: &EnumDescriptorProto| {
            e.value
                .iter()
                .map(|v| (v.name().to_string(), v.number()))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(&ours[name]), values(t), "enum {name}");
    }
}

#[test]
fn every_etcd_rpc_is_ours() {
    let rpcs = |fds: &FileDescriptorSet| {
        let mut out = BTreeMap::new();
        for f in fds.file.iter().filter(|f| is_etcd_package(f.package())) {
            for s in &f.service {
                for m in &s.method {
                    out.insert(
                        format!("/{}.{}/{}", f.package(), s.name(), m.name()),
                        (
                            m.input_type().to_string(),
                            m.output_type().to_string(),
                            m.client_streaming(),
                            m.server_streaming(),
                        ),
                    );
                }
            }
        }
        out
    };
    let (theirs, ours) = (rpcs(&etcd_descriptors()), rpcs(&ours()));
    assert_eq!(ours, theirs);
}
