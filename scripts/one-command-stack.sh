# Sourced by the scripts that drive the one-command stack: `start_stack BIN_DIR`
# starts `bookshelf` on free ports with its data in a temporary folder `work` and sets
# `api` to the gateway's URL; the stack stops and the folder goes when the script
# exits. Metrics are off and logs go to $work/stack.log.
stack_pid=
work=
start_stack() {
  local bins=$1
  work=$(mktemp -d)
  trap stop_stack EXIT
  BOOKSHELF_DATA_DIR="$work/data" BOOKSHELF_HTTP_PORT=0 BOOKSHELF_AUTH_PORT=0 \
    BOOKSHELF_LIBRARY_PORT=0 GATEWAY_METRICS_LISTEN=off AUTH_METRICS_LISTEN=off \
    LIBRARY_METRICS_LISTEN=off RUST_LOG=warn "$bins/bookshelf" >"$work/stack.out" 2>"$work/stack.log" &
  stack_pid=$!
  api=
  for _ in $(seq 1 200); do
    api=$(grep -oE 'REST gateway +http://[0-9.:]+' "$work/stack.out" | grep -oE 'http://[0-9.:]+' || true)
    [[ -n $api ]] && curl -fs "$api/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the stack did not start: $(cat "$work/stack.log")" >&2
  return 1
}
stop_stack() {
  if [[ -n $stack_pid ]]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  [[ -n $work ]] && rm -rf "$work"
  return 0
}
# sign_up API EMAIL PASSWORD: registers an account.
sign_up() {
  curl -fs -X POST "$1/users/" -H 'Content-Type: application/json' \
    -d "{\"name\": \"Test Reader\", \"email\": \"$2\", \"password\": \"$3\"}" >/dev/null
}
