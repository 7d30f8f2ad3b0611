#!/usr/bin/env bash
# The /docs page in a real browser: Debian's Chromium driven by playwright-core (no
# browser download), against the one-command stack (a running one, or its own).
# Usage: scripts/docs-browser.sh [target/debug]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
tools=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/playwright
if [[ ! -d $tools/node_modules/playwright-core ]]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --silent --no-audit --no-fund playwright-core@1 >/dev/null
fi

source "$root/scripts/one-command-stack.sh"

use_stack "$bins"
sign_up "$api" docs@example.com 'Sup3r-Secret!'
# The script is run from the tools folder so that Node finds playwright-core there.
cp "$root/scripts/docs-browser.mjs" "$tools/"
node "$tools/docs-browser.mjs" "$api" docs@example.com 'Sup3r-Secret!'
