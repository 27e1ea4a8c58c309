#!/usr/bin/env bash
# Where one put's time goes on the server, stage by stage, from kernel tracepoints: starts a
# release ringkv on a fresh data dir and a free loopback port, drives it with put 1×1 from
# ringkv-perf, records syscall, io_uring and block tracepoints for a second, and prints the
# p50/p90/p99 of each stage of the request's path (read → WAL write queued → device write →
# fdatasync → device flush → answer). perf/README.md ("put 1×1") quotes its output.
#   scripts/trace-put.sh                 # back-to-back puts (put 1×1)
#   scripts/trace-put.sh --rate 1000     # paced puts, each finding the server idle (the watch
#                                        # benchmark's puts)
# Needs root (system-wide tracepoints); installs linux-perf and python3 when missing. Where
# the WAL's device takes FUA writes, a put's sync is one durable write with no fdatasync, and
# the stages from "fdatasync" on are not there to find.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
need_packages perf=linux-perf python3=python3
cargo build --release --locked --bin ringkv --bin ringkv-perf

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill "$server"
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
client=$(free_port)
peer=$(free_port)
target/release/ringkv --data-dir "$work/data" \
  --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
  --listen-peer-urls "http://127.0.0.1:$peer" >"$work/server.log" 2>&1 &
server=$!
python3 - "$client" <<'EOF'
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("ringkv did not start listening within 30 s")
EOF

target/release/ringkv-perf put --endpoints "127.0.0.1:$client" --conns 1 --clients 1 \
  --key-size 8 --val-size 256 --sequential-keys --total 8000 "$@" >"$work/load.txt" 2>&1 &
load=$!
sleep 0.5 # past the connection set-up, into the steady state
perf record -q -a -o "$work/trace.data" \
  -e syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto \
  -e syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync \
  -e io_uring:io_uring_submit_req,io_uring:io_uring_complete \
  -e block:block_rq_issue,block:block_rq_complete -- sleep 1 2>/dev/null
wait "$load"
grep -E " p50 | p99 " "$work/load.txt" | sed 's/^/harness /'
perf script -i "$work/trace.data" -F comm,time,event,trace 2>/dev/null >"$work/trace.txt"

python3 - "$work/trace.txt" <<'EOF'
# One put's stages, in order. The WAL's writes are the io_uring WRITEs on the WAL's own ring,
# found as the ring whose completions are block-sized (glommio's rings write 8-byte eventfd
# wake-ups); the device's write and flush are the block requests issued after them.
import re, sys

lines = open(sys.argv[1]).read().splitlines()
wal_rings = {m.group(1) for m in (re.search(r"io_uring_complete: ring (\S+),.*result (\d{3,})", l)
                                  for l in lines) if m and int(m.group(2)) >= 512}

stages = ["read", "queued", "issued", "written", "reaped", "fdatasync", "flush issued",
          "flushed", "synced", "answer"]
puts, put = [], None
for line in lines:
    m = re.match(r"\s*(\S+)\s+([\d.]+):\s+(\S+):\s*(.*)", line)
    if not m:
        continue
    comm, t, event, args = m.group(1), float(m.group(2)) * 1e6, m.group(3), m.group(4)
    event = event.split(":")[-1]
    if event == "sys_enter_recvfrom" and comm.startswith("ringkv"):
        put = {"read": t}
    elif put is None:
        continue
    elif event == "io_uring_submit_req" and "opcode WRITE" in args and "queued" not in put:
        if re.search(r"ring (\S+),", args).group(1) in wal_rings:
            put["queued"] = t
            put["req"] = re.search(r"req (\S+),", args).group(1)
    elif event == "io_uring_complete" and "req" in put and put["req"] in args and "reaped" not in put:
        put["reaped"] = t
    elif event == "block_rq_issue" and " W" in args and "queued" in put and "issued" not in put:
        put["issued"] = t
    elif event == "block_rq_complete" and " W" in args and "issued" in put and "written" not in put:
        put["written"] = t
    elif event == "sys_enter_fdatasync" and "fdatasync" not in put:
        put["fdatasync"] = t
    elif event == "block_rq_issue" and " FF " in args and "fdatasync" in put and "flush issued" not in put:
        put["flush issued"] = t
    elif event == "block_rq_complete" and " FF " in args and "flush issued" in put and "flushed" not in put:
        put["flushed"] = t
    elif event == "sys_exit_fdatasync" and "fdatasync" in put and "synced" not in put:
        put["synced"] = t
    elif event == "sys_enter_sendto" and comm.startswith("ringkv"):
        put["answer"] = t
        if all(s in put for s in stages):
            puts.append(put)
        put = None

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]

print(f"{len(puts)} puts with every stage traced (µs)")
print(f"{'stage':<32} {'p50':>6} {'p90':>6} {'p99':>6}")
for a, b in zip(stages, stages[1:]) if puts else []:
    d = [p[b] - p[a] for p in puts]
    print(f"{a + ' → ' + b:<32} {pct(d, .5):6.0f} {pct(d, .9):6.0f} {pct(d, .99):6.0f}")
if puts:
    d = [p["answer"] - p["read"] for p in puts]
    print(f"{'read → answer':<32} {pct(d, .5):6.0f} {pct(d, .9):6.0f} {pct(d, .99):6.0f}")
EOF
