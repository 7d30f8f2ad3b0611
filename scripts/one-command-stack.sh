# Sourced by the scripts that drive the one-command stack from outside. `use_stack
# BIN_DIR` joins the stack that scripts/clients.sh started (named by the BOOKSHELF_STACK_*
# variables it exports) or, run alone, starts `bookshelf` on free ports with its data in
# a temporary folder, stopped and removed when the script exits. Either way it sets
# `api` (the gateway's URL), `auth` and `library` (the gRPC services' host:port),
# `auth_data` (the auth service's data folder), `tls` (the folder of the CA and the
# parts' certificates the stack made: `$tls/ca.crt` for grpcurl's -cacert) and
# `stack_log`. Metrics are off. `start_stack` listens on BOOKSHELF_STACK_HTTP_PORT when
# set (a browser test needs its origin before the stack starts), else on a free port.
stack_pid=
stack_dir=
use_stack() {
  if [[ -n ${BOOKSHELF_STACK_API:-} ]]; then
    api=$BOOKSHELF_STACK_API auth=$BOOKSHELF_STACK_AUTH library=$BOOKSHELF_STACK_LIBRARY
    auth_data=$BOOKSHELF_STACK_AUTH_DATA stack_log=$BOOKSHELF_STACK_LOG tls=$BOOKSHELF_STACK_TLS
    return 0
  fi
  start_stack "$1"
}
start_stack() {
  local bins=$1 out
  stack_dir=$(mktemp -d)
  trap stop_stack EXIT
  out=$stack_dir/stack.out stack_log=$stack_dir/stack.log auth_data=$stack_dir/data/auth
  tls=$stack_dir/data/tls
  # Keys reloaded every 100 ms, so a rotation by the operator's command shows at once.
  BOOKSHELF_DATA_DIR="$stack_dir/data" BOOKSHELF_HTTP_PORT=${BOOKSHELF_STACK_HTTP_PORT:-0} BOOKSHELF_AUTH_PORT=0 \
    BOOKSHELF_LIBRARY_PORT=0 GATEWAY_METRICS_LISTEN=off AUTH_METRICS_LISTEN=off \
    LIBRARY_METRICS_LISTEN=off AUTH_SIGNING_KEYS_REFRESH_MS=100 RUST_LOG=warn \
    "$bins/bookshelf" >"$out" 2>"$stack_log" &
  stack_pid=$!
  api=
  for _ in $(seq 1 200); do
    api=$(grep -oE 'REST gateway +http://[0-9.:]+' "$out" | grep -oE 'http://[0-9.:]+' || true)
    if [[ -n $api ]] && curl -fs "$api/healthz" >/dev/null; then
      auth=$(grep -oE 'auth service +https://[0-9.:]+' "$out" | grep -oE '[0-9.]+:[0-9]+$')
      library=$(grep -oE 'library service +https://[0-9.:]+' "$out" | grep -oE '[0-9.]+:[0-9]+$')
      return 0
    fi
    sleep 0.1
  done
  echo "the stack did not start: $(cat "$stack_log")" >&2
  return 1
}
stop_stack() {
  if [[ -n $stack_pid ]]; then
    kill "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
  fi
  [[ -n $stack_dir ]] && rm -rf "$stack_dir"
  return 0
}
# sign_up API EMAIL PASSWORD: registers an account.
sign_up() {
  curl -fs -X POST "$1/users/" -H 'Content-Type: application/json' \
    -d "{\"name\": \"Test Reader\", \"email\": \"$2\", \"password\": \"$3\"}" >/dev/null
}
