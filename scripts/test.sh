#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (when missing), then runs every
# check and test CI runs. Usage: scripts/test.sh   (root, or a user with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: etcdctl and the reference etcd server for end-to-end and differential
# tests; protoc for the etcd-client dev-dependency's build script.
source scripts/deps.sh
need_packages etcdctl=etcd-client etcd=etcd-server protoc=protobuf-compiler
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
