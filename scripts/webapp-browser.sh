#!/usr/bin/env bash
# The web app at `/` in a real browser: Debian's Chromium driven by playwright-core (no
# browser download), with axe-core's accessibility rules, against a one-command stack
# of its own whose public URL and WebAuthn origin are the address the browser opens,
# http://localhost:PORT (passkeys are bound to it).
# Usage: scripts/webapp-browser.sh [target/debug] [screenshot.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
screenshot=${2:+$(realpath -m "$2")}
tools=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/playwright
if [[ ! -d $tools/node_modules/playwright-core || ! -d $tools/node_modules/axe-core ]]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --silent --no-audit --no-fund playwright-core@1 axe-core@4 >/dev/null
fi

source "$root/scripts/one-command-stack.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
origin=http://localhost:$port
BOOKSHELF_STACK_HTTP_PORT=$port GATEWAY_PUBLIC_URL=$origin AUTH_WEBAUTHN_ORIGIN=$origin \
  AUTH_WEBAUTHN_RP_ID=localhost start_stack "$bins"
# The script is run from the tools folder so that Node finds its packages there.
cp "$root/scripts/webapp-browser.mjs" "$tools/"
node "$tools/webapp-browser.mjs" "$origin" ${screenshot:+"$screenshot"}
