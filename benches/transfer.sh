#!/usr/bin/env bash
# Transfer benchmark (issue #4): `ossguard cp` peak RSS and throughput for a large upload and
# download against `ossguard serve` on 127.0.0.1, next to curl (presigned URLs) on the same
# server in the same run. Writes target/bench/transfer.json and prints a table.
# Usage: benches/transfer.sh [SIZE_MIB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
cargo build --release --quiet -p ossguard-cli
BIN=target/release/ossguard
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export OSS_ACCESS_KEY_ID=bench-ak OSS_ACCESS_KEY_SECRET=bench-secret-value
"$BIN" serve --addr 127.0.0.1:0 --data "$WORK/data" >"$WORK/serve.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do grep -q '^listening on' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
export OSS_ENDPOINT=$(head -1 "$WORK/serve.out" | sed 's/^listening on //')
"$BIN" -q mb oss://bench-bucket
head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/src.bin"
BYTES=$((SIZE_MIB << 20))

# `measure NAME CMD...`: wall seconds and peak RSS (KiB) of one command.
declare -A SECS RSS
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@" >/dev/null
  read -r SECS[$name] RSS[$name] <"$WORK/$name.time"
}
measure ossguard_upload "$BIN" -q cp "$WORK/src.bin" oss://bench-bucket/big.bin
measure ossguard_download "$BIN" -q cp oss://bench-bucket/big.bin "$WORK/down.bin"
cmp "$WORK/src.bin" "$WORK/down.bin"
PUT_URL=$("$BIN" presign --method PUT oss://bench-bucket/curl.bin)
measure curl_upload curl -sS --fail -T "$WORK/src.bin" "$PUT_URL"
GET_URL=$("$BIN" presign oss://bench-bucket/big.bin)
measure curl_download curl -sS --fail -o "$WORK/curl-down.bin" "$GET_URL"
cmp "$WORK/src.bin" "$WORK/curl-down.bin"

mkdir -p target/bench
python3 - "$BYTES" "$SIZE_MIB" >target/bench/transfer.json <<PY
import json, sys
b, mib = int(sys.argv[1]), int(sys.argv[2])
r = {}
for name, s, k in [("ossguard_upload", ${SECS[ossguard_upload]}, ${RSS[ossguard_upload]}),
                   ("ossguard_download", ${SECS[ossguard_download]}, ${RSS[ossguard_download]}),
                   ("curl_upload", ${SECS[curl_upload]}, ${RSS[curl_upload]}),
                   ("curl_download", ${SECS[curl_download]}, ${RSS[curl_download]})]:
    r[name] = {"seconds": s, "mib_per_s": round(mib / max(s, 1e-9), 1), "peak_rss_mib": round(k / 1024, 1)}
r["upload_ratio_vs_curl"] = round(r["ossguard_upload"]["mib_per_s"] / r["curl_upload"]["mib_per_s"], 2)
r["download_ratio_vs_curl"] = round(r["ossguard_download"]["mib_per_s"] / r["curl_download"]["mib_per_s"], 2)
r["size_mib"] = mib
print(json.dumps(r, indent=1))
PY
cat target/bench/transfer.json
