#!/usr/bin/env bash
# Installs tus-js-client (the resumable uploads client, which speaks the IETF draft as
# `ietf-draft-05`) into the tools cache, where the gateway's resumable upload test
# finds it, and prints that folder. Usage: scripts/tus-client.sh
set -euo pipefail
tools=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/tus
if [[ ! -d $tools/node_modules/tus-js-client ]]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --silent --no-audit --no-fund tus-js-client@4.3.1 >/dev/null
fi
echo "$tools"
