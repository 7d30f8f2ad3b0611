#!/usr/bin/env bash
# Gateway read throughput: the one-command stack (release build) on free ports, one
# user and one book, then three 10 s wrk runs of an authenticated GET /books/{id}.
# Extra arguments are environment settings for the stack, to compare configurations:
#   scripts/wrk-reads.sh target/release/bookshelf metrics-on
#   scripts/wrk-reads.sh target/release/bookshelf metrics-off GATEWAY_METRICS_LISTEN=off \
#     AUTH_METRICS_LISTEN=off LIBRARY_METRICS_LISTEN=off
#   scripts/wrk-reads.sh target/release/bookshelf warn RUST_LOG=warn
# Needs wrk (Debian package `wrk`). Quote the median of the runs: the machine is shared.
set -euo pipefail
bin=$1
label=$2
shift 2
work=$(mktemp -d)
env BOOKSHELF_DATA_DIR="$work" BOOKSHELF_HTTP_PORT=0 BOOKSHELF_AUTH_PORT=0 \
  BOOKSHELF_LIBRARY_PORT=0 GATEWAY_METRICS_LISTEN=127.0.0.1:0 \
  AUTH_METRICS_LISTEN=127.0.0.1:0 LIBRARY_METRICS_LISTEN=127.0.0.1:0 "$@" \
  "$bin" >"$work/stack.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
api=
for _ in $(seq 1 100); do
  api=$(grep -oE 'REST gateway +http://[0-9.:]+' "$work/stack.log" | grep -oE 'http://[0-9.:]+' || true)
  [[ -n $api ]] && curl -sf "$api/healthz" >/dev/null && break
  sleep 0.2
done
curl -s -X POST "$api/users/" -H 'Content-Type: application/json' \
  -d '{"name": "Ada Lovelace", "email": "ada@example.com", "password": "Sup3r-Secret!"}' >/dev/null
token=$(curl -s -X POST "$api/users/login" -H 'Content-Type: application/json' \
  -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
python3 - "$work/cover.png" <<'PY'
import struct, sys, zlib
width, height = 40, 40
rows = b"".join(b"\0" + b"".join(bytes((x, y, 128)) for x in range(width)) for y in range(height))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
book=$(curl -s -X POST "$api/books/" -H "Authorization: Bearer $token" -F title=Dune \
  -F description=Spice -F category=science -F cover_image=@"$work/cover.png" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["_id"])')
wrk -t2 -c32 -d3s -H "Authorization: Bearer $token" "$api/books/$book" >/dev/null  # warm-up
for run in 1 2 3; do
  rate=$(wrk -t2 -c32 -d10s -H "Authorization: Bearer $token" "$api/books/$book" |
    awk '/Requests\/sec/ {print $2}')
  echo "$label run $run: $rate req/s"
done
