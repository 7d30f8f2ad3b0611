#!/usr/bin/env bash
# A client generated from the gateway's /openapi.json by openapi-python-client, driven
# through every route (scripts/generated_client.py), against the one-command stack (a
# running one, or its own). The description is first checked by openapi-spec-validator:
# a document a validator refuses is one client generators trip on.
# Usage: scripts/generated-client.sh [target/debug]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
venv=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/openapi-client
if [[ ! -x $venv/bin/openapi-python-client || ! -x $venv/bin/openapi-spec-validator ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'openapi-python-client>=0.28,<0.29' 'openapi-spec-validator>=0.7,<0.8'
fi
source "$root/scripts/one-command-stack.sh"
fail() { echo "generated client: FAILED: $*" >&2; exit 1; }

use_stack "$bins" || fail "no stack"
generated=$(mktemp -d)
trap 'rm -rf "$generated"; stop_stack' EXIT
curl -fs "$api/openapi.json" -o "$generated/openapi.json" || fail "no description"
"$venv/bin/openapi-spec-validator" "$generated/openapi.json" || fail "the description is not valid OpenAPI"
(cd "$generated" && "$venv/bin/openapi-python-client" generate --path openapi.json --meta none \
  --output-path bookshelf_client >"$generated/generate.log" 2>&1) ||
  fail "generation failed: $(cat "$generated/generate.log")"
"$venv/bin/python" "$root/scripts/generated_client.py" "$generated" "$api"
