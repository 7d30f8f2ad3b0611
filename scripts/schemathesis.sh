#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis, driven by the gateway's own OpenAPI
# description: the one-command stack (a running one, or its own), a signed-up user's token
# for the protected routes, every check (no 5xx, statuses, content types, headers and
# bodies as described, invalid data refused), for a fixed time budget.
#
# One check is left out: that every request the description allows is accepted. Some
# rules cannot be said in JSON Schema in a form the fuzzer can generate from (a
# password needs four classes of character, a name 2 to 30 words, and a form's cover
# must come after its text fields because it is streamed), so requests that the
# description allows are still refused with 400 and their field errors.
#
# One operation is left out: appending to a resumable upload, whose body is
# `application/partial-upload`, a media type the fuzzer has no way to write. The route is
# driven by a real resumable-upload client and by raw HTTP in the gateway's tests.
# Usage: scripts/schemathesis.sh [target/debug] [seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
budget=${2:-60}
venv=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/schemathesis
if [[ ! -x $venv/bin/schemathesis ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

source "$root/scripts/one-command-stack.sh"
fail() { echo "schemathesis: FAILED: $*" >&2; exit 1; }

use_stack "$bins" || fail "no stack"
sign_up "$api" fuzz@example.com 'Sup3r-Secret!'
token=$(curl -fs -X POST "$api/users/login" -H 'Content-Type: application/json' \
  -d '{"email": "fuzz@example.com", "password": "Sup3r-Secret!"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])')

"$venv/bin/schemathesis" run "$api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --exclude-operation-id append_upload \
  --max-time "$budget" \
  --seed 1 \
  --request-timeout 30 \
  || fail "see the report above; the stack's log: $(tail -n 50 "$stack_log")"
if grep -E ' ERROR |panicked' "$stack_log"; then fail "the stack logged errors"; fi
echo "schemathesis: passed"
