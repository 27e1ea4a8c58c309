#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (when missing), then runs every
# check and test CI runs. Usage: scripts/test.sh   (root, or a user with sudo)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: etcdctl and the reference etcd server for end-to-end and differential
# tests; protoc for the etcd-client dev-dependency's build script.
missing=()
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
