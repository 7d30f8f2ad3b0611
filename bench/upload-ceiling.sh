#!/usr/bin/env bash
# The upload rows' ceiling on this machine (BENCHMARKS.md, "The ceiling on this
# machine"): each row alone against the one-command stack, wrk at 64 connections, with
# `perf record -a` over the middle half of the row. The CPU each upload spends in the
# image's entropy decoding (JPEG) or inflate (PNG), and in wrk building and sending the
# form, is work no change to Bookshelf removes; the cores divided by it is the most
# uploads per second this machine could take. The rest of each upload's CPU (parsing,
# digests, copies, sockets, the hop to the library, the file) is what stands between
# the row and its ceiling.
#
# Usage: bench/upload-ceiling.sh [SECONDS]   (default 16 s a row; run from the
# repository after `cargo build --release`). Needs wrk, perf and Python with Pillow
# (PYTHON, default python3) to make the same noise images as the side-by-side runs.
set -euo pipefail
seconds=${1:-16}
python=${PYTHON:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
stack_pid=
cleanup() {
  [[ -n $stack_pid ]] && kill -INT "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$python" - "$work" <<'PY'
import sys
from PIL import Image
work = sys.argv[1]
Image.effect_noise((640, 480), 60).convert("RGB").save(f"{work}/small.jpg", "JPEG", quality=92)
Image.effect_noise((2000, 1500), 60).convert("RGB").save(f"{work}/large.jpg", "JPEG", quality=92)
Image.effect_noise((800, 600), 40).convert("RGB").save(f"{work}/medium.png", "PNG")
PY

base=http://127.0.0.1:8080
(cd "$work" && RUST_LOG=warn exec "$here/target/release/bookshelf" >"$work/stack.log" 2>&1) &
stack_pid=$!
for _ in $(seq 1 150); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$base/healthz" >/dev/null || { tail "$work/stack.log" >&2; exit 1; }

fresh_token() {
  local email="ceiling$RANDOM$RANDOM@example.com"
  curl -sf -X POST "$base/users/" -H 'content-type: application/json' \
    -d "{\"name\":\"Ceiling Runner\",\"email\":\"$email\",\"password\":\"Abc@12345\"}" >/dev/null
  curl -sf -X POST "$base/users/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"Abc@12345\"}" |
    "$python" -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])'
}

cores=$(nproc)
echo "| row | uploads/s alone | CPU ms per upload | decoding | wrk | ceiling /s | row / ceiling |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for image in small.jpg large.jpg medium.png; do
  token=$(fresh_token)
  COVER=$work/$image TOKEN=$token wrk -t1 -c64 -d"${seconds}s" --timeout 30s \
    -s "$here/bench/wrk/uploads.lua" "$base/books/" >"$work/wrk.txt" 2>&1 &
  wrk_pid=$!
  sleep "$((seconds / 4))"
  perf record -a -F 499 -o "$work/perf.data" -- sleep "$((seconds / 2))" 2>/dev/null
  wait "$wrk_pid"
  rate=$(grep -o '[0-9.]* uploads/s' "$work/wrk.txt" | cut -d' ' -f1)
  # Shares of every sample on the machine: the decoder's own functions (self time),
  # and everything wrk did.
  perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null >"$work/symbols.txt"
  perf report -i "$work/perf.data" --no-children --sort comm --stdio 2>/dev/null >"$work/comms.txt"
  decoding=$(awk '/^ *[0-9]/ && /decode_mcu|jpeg_fill_bit_buffer|jpeg_huff_decode|fdeflate/ { sub("%", "", $1); s += $1 } END { printf "%.1f", s }' "$work/symbols.txt")
  wrk_share=$(awk '$2 == "wrk" { sub("%", "", $1); print $1 }' "$work/comms.txt")
  "$python" - "$image" "$rate" "$decoding" "${wrk_share:-0}" "$cores" <<'PY'
import sys
image, rate, decoding, wrk, cores = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
per_upload = cores * 1000.0 / rate
fixed = per_upload * (decoding + wrk) / 100.0
ceiling = cores * 1000.0 / fixed if fixed else float("inf")
print(f"| {image} | {rate:.1f} | {per_upload:.1f} | {per_upload * decoding / 100:.1f} ms ({decoding:.0f}%) "
      f"| {per_upload * wrk / 100:.1f} ms ({wrk:.0f}%) | {ceiling:.0f} | {100 * rate / ceiling:.0f}% |")
PY
done
