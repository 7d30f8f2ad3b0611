#!/usr/bin/env bash
# The clients that drive Bookshelf from outside, one after another against one running
# one-command stack: grpcurl on both services, a client generated from the OpenAPI
# description through every route, the /docs page in Chromium, and schemathesis last,
# because its fuzzing spends the loopback address's sign-up and login allowances.
# Usage: scripts/clients.sh [target/debug] [schemathesis seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
budget=${2:-60}
source "$root/scripts/one-command-stack.sh"

start_stack "$bins"
export BOOKSHELF_STACK_API=$api BOOKSHELF_STACK_AUTH=$auth BOOKSHELF_STACK_LIBRARY=$library \
  BOOKSHELF_STACK_AUTH_DATA=$auth_data BOOKSHELF_STACK_LOG=$stack_log BOOKSHELF_STACK_TLS=$tls
for client in "grpcurl-smoke.sh $bins" generated-client.sh docs-browser.sh "schemathesis.sh $bins $budget"; do
  printf '\n--> %s (at %d s)\n' "${client%% *}" "$SECONDS"
  # shellcheck disable=SC2086 # the script's name and its arguments
  "$root/scripts/"$client
done
