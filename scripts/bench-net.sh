#!/usr/bin/env bash
# Issue 3's throughput comparison: a no-op unary gRPC method served by ringkv-net and by
# tonic (net/examples/noop_server.rs), each on 1 and 2 cores, driven by the same load
# generator (h2load, Debian nghttp2-client) with the same gRPC request. Prints a Markdown
# table of medians over ROUNDS rounds (default 3), alternating the servers.
#   scripts/bench-net.sh            # 300k requests, 16 connections x 32 streams
#   ROUNDS=5 REQUESTS=1000000 scripts/bench-net.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
need_packages h2load=nghttp2-client
cargo build --release --locked -p ringkv-net --example noop_server
server=target/release/examples/noop_server
rounds=${ROUNDS:-3}
requests=${REQUESTS:-300000}
body=$(mktemp)
printf '\x00\x00\x00\x00\x00' > "$body" # one empty gRPC message: flag 0, length 0
trap 'rm -f "$body"; pkill -9 -f "$server" || true' EXIT

# A fresh loopback port each run: tonic binds without SO_REUSEADDR, so a port whose last
# connections are still in TIME_WAIT would refuse it.
port=$((20000 + RANDOM % 20000))
run() { # kind cores port -> req/s
  local port=$3
  "$server" "$1" "$port" "$2" > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
    sleep 0.1
  done
  h2load -n "$requests" -c 16 -m 32 -t 1 -d "$body" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/bench.Noop/Call" |
    awk '/^finished in/ { gsub(",", "", $4); print $4 } /^requests:/ && $10 != 0 { print "FAILED " $10 " requests" > "/dev/stderr" }'
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "| cores | ringkv-net req/s | tonic req/s | ratio |"
echo "|---|---|---|---|"
for cores in 1 2; do
  ours=() theirs=()
  for _ in $(seq "$rounds"); do
    port=$((port + 2)) # counted out here: each $(run …) is a subshell
    ours+=("$(run ringkv "$cores" "$port")")
    theirs+=("$(run tonic "$cores" $((port + 1)))")
  done
  a=$(printf '%s\n' "${ours[@]}" | median)
  b=$(printf '%s\n' "${theirs[@]}" | median)
  echo "| $cores | ${a%.*} | ${b%.*} | ×$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') |"
done
