//! Compiles ringkv's own .proto files (in `proto/`) into Rust with prost, and
//! keeps the encoded descriptor set for the JSON gateway.
//!
//! protox parses the files in pure Rust, so building needs no protoc.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";

const PROTO_FILES: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3electionpb/v3election.proto",
    "v3lockpb/v3lock.proto",
    "grpc/health/v1/health.proto",
    "ringkvpb/raft.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let files: Vec<PathBuf> = PROTO_FILES
        .iter()
        .map(|f| PathBuf::from(PROTO_ROOT).join(f))
        .collect();
    let fds = protox::compile(&files, [PROTO_ROOT])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    prost_build::Config::new()
        // Keys and values become `bytes::Bytes`, so the server can hand out
        // slices of a received buffer without copying.
        .bytes(["."])
        .compile_fds(fds)?;
    Ok(())
}
