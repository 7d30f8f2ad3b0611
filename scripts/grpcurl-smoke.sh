#!/usr/bin/env bash
# Drives the services of the one-command stack (a running one, or its own) with the
# real grpcurl, as a user would from the README: list, describe, health, then a
# register -> login -> current user flow, books, sessions (refresh, reuse, list,
# password, logout), a second factor enrolled and used, and a signing key rotated. Over
# TLS, trusting the stack's CA (-cacert); the revocation feed, reserved for the
# library's identity, is tried with no client certificate, the gateway's and the
# library's (-cert/-key).
# Usage: scripts/grpcurl-smoke.sh [target/debug]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bins=${1:-$root/target/debug}
grpcurl="$root/scripts/grpcurl.sh"
source "$root/scripts/one-command-stack.sh"
fail() { echo "grpcurl smoke: FAILED: $*" >&2; exit 1; }
expect() { # expect NEEDLE TEXT...
  local needle=$1; shift
  grep -qF -- "$needle" <<<"$*" || fail "expected '$needle' in: $*"
}

"$grpcurl" -version >/dev/null 2>&1 || "$grpcurl" -version
use_stack "$bins" || fail "no stack"
files=$(mktemp -d)
trap 'rm -rf "$files"; stop_stack' EXIT

services=$("$grpcurl" -cacert "$tls/ca.crt" "$auth" list)
expect auth.v1.AuthService "$services"
expect grpc.health.v1.Health "$services"
expect "rpc Login ( .auth.v1.LoginRequest ) returns ( .auth.v1.LoginResponse );" \
  "$("$grpcurl" -cacert "$tls/ca.crt" "$auth" describe auth.v1.AuthService)"
expect SERVING "$("$grpcurl" -cacert "$tls/ca.crt" -d '{"service": "auth.v1.AuthService"}' "$auth" grpc.health.v1.Health/Check)"

# A weak password: reflection serves google.rpc's error details, so grpcurl prints the
# field violation itself rather than "google.rpc.BadRequest is not recognized" and base64.
weak=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"name": "Ada Lovelace", "email": "weak@example.com", "password": "short"}' \
  "$auth" auth.v1.AuthService/Register 2>&1 | tr -d ' \t' || true)
expect "Code:InvalidArgument" "$weak"
expect '"@type":"type.googleapis.com/google.rpc.BadRequest"' "$weak"
expect '"field":"password"' "$weak"
if grep -qF "not recognized" <<<"$weak"; then fail "grpcurl cannot decode the details: $weak"; fi

registered=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"name": "Ada Lovelace", "email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Register)
expect '"email": "ada@example.com"' "$registered"
login=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$login")
me=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" "$auth" auth.v1.AuthService/GetCurrentUser)
expect '"name": "Ada Lovelace"' "$me"
if "$grpcurl" -cacert "$tls/ca.crt" "$auth" auth.v1.AuthService/GetCurrentUser >/dev/null 2>&1; then
  fail "GetCurrentUser without a token succeeded"
fi
echo "grpcurl smoke: auth-service ok"

# The revocation feed answers only the library's certificate.
denied=$("$grpcurl" -cacert "$tls/ca.crt" "$auth" auth.v1.AuthService/WatchRevocations 2>&1 || true)
expect "PermissionDenied" "$denied"
denied=$("$grpcurl" -cacert "$tls/ca.crt" -cert "$tls/gateway.crt" -key "$tls/gateway.key" \
  "$auth" auth.v1.AuthService/WatchRevocations 2>&1 || true)
expect "PermissionDenied" "$denied"
feed=$("$grpcurl" -cacert "$tls/ca.crt" -cert "$tls/library.crt" -key "$tls/library.key" -max-time 3 \
  "$auth" auth.v1.AuthService/WatchRevocations 2>&1 || true)
expect '"heartbeat"' "$feed"
if grep -qF "PermissionDenied" <<<"$feed"; then fail "the library's certificate was refused: $feed"; fi
if "$grpcurl" -plaintext "$auth" list >/dev/null 2>&1; then
  fail "a plaintext client was served"
fi
echo "grpcurl smoke: identities ok"

# A second factor. Codes are computed here, by RFC 6238 with Python's own hmac, apart
# from the service: `totp SECRET STEPS` is the code STEPS steps from now.
totp() {
  python3 -c '
import base64, hmac, struct, sys, time
secret = sys.argv[1] + "=" * (-len(sys.argv[1]) % 8)
counter = int(time.time()) // 30 + int(sys.argv[2])
digest = hmac.new(base64.b32decode(secret.upper()), struct.pack(">Q", counter), "sha1").digest()
offset = digest[-1] & 15
print("%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000))
' "$1" "$2"
}
field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
# A user of its own, so the flows after this one log in with a password alone.
"$grpcurl" -cacert "$tls/ca.crt" -d '{"name": "Grace Hopper", "email": "grace@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Register >/dev/null
grace_login=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "grace@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
grace_token=$(field token <<<"$grace_login")
enrolment=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $grace_token" "$auth" auth.v1.AuthService/EnrollTotp)
expect '"otpauthUrl": "otpauth://totp/Bookshelf:grace%40example.com' "$enrolment"
secret=$(field secret <<<"$enrolment")
confirmed=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $grace_token" -d "{\"code\": \"$(totp "$secret" 0)\"}" \
  "$auth" auth.v1.AuthService/ConfirmTotp)
expect '"recoveryCodes"' "$confirmed"
first_step=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "grace@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
expect '"mfaRequired": true' "$first_step"
mfa_token=$(field mfaToken <<<"$first_step")
# The confirming code's step is spent; the next step's code is within the drift.
second=$("$grpcurl" -cacert "$tls/ca.crt" -d "{\"mfa_token\": \"$mfa_token\", \"code\": \"$(totp "$secret" 1)\"}" \
  "$auth" auth.v1.AuthService/LoginMfa)
expect '"refreshToken"' "$second"
expect '"name": "Grace Hopper"' \
  "$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $(field token <<<"$second")" "$auth" auth.v1.AuthService/GetCurrentUser)"
if "$grpcurl" -cacert "$tls/ca.crt" -d "{\"mfa_token\": \"$mfa_token\", \"code\": \"$(totp "$secret" 1)\"}" \
  "$auth" auth.v1.AuthService/LoginMfa >/dev/null 2>&1; then
  fail "a spent mfa_token and a used code were accepted again"
fi
echo "grpcurl smoke: second factor ok"

# A rotation by the operator's command: the running service publishes the new key.
keys_before=$("$grpcurl" -cacert "$tls/ca.crt" "$auth" auth.v1.AuthService/GetSigningKeys | grep -c '"kid"')
AUTH_DATA_DIR="$auth_data" RUST_LOG=warn "$bins/auth-service" rotate-signing-key >/dev/null
for _ in $(seq 1 100); do
  keys=$("$grpcurl" -cacert "$tls/ca.crt" "$auth" auth.v1.AuthService/GetSigningKeys | grep -c '"kid"')
  [ "$keys" -gt "$keys_before" ] && break
  sleep 0.1
done
[ "$keys" -gt "$keys_before" ] || fail "the rotated key is not published"
expect '"name": "Ada Lovelace"' \
  "$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" "$auth" auth.v1.AuthService/GetCurrentUser)"
echo "grpcurl smoke: key rotation ok"

services=$("$grpcurl" -cacert "$tls/ca.crt" "$library" list)
expect library.v1.LibraryService "$services"
expect "rpc CreateBook ( stream .library.v1.CreateBookRequest ) returns ( .library.v1.CreateBookResponse );" \
  "$("$grpcurl" -cacert "$tls/ca.crt" "$library" describe library.v1.LibraryService)"

# A 300x200 PNG written by hand, then streamed as metadata + one chunk, as the README shows.
python3 - "$files/cover.png" <<'PY'
import struct, sys, zlib
width, height = 300, 200
rows = b"".join(b"\0" + b"".join(bytes((x % 256, y % 256, 128)) for x in range(width)) for y in range(height))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
# The library learns the auth service's keys in the background; wait until it accepts the token.
for _ in $(seq 1 50); do
  "$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" "$library" library.v1.LibraryService/ListBooks >/dev/null 2>&1 && break
  sleep 0.1
done
cover_bytes=$(stat -c %s "$files/cover.png")
cover_sha=$(python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' "$files/cover.png")
# Without the finished message the upload is refused and nothing is stored.
if unfinished=$( { echo '{"metadata": {"title": "Cut", "description": "", "category": "science"}}'
                   printf '{"cover": {"chunk": "%s"}}' "$(base64 -w0 "$files/cover.png")"; } |
  "$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" -d @ "$library" library.v1.LibraryService/CreateBook 2>&1); then
  fail "an upload without its finished message was accepted: $unfinished"
fi
expect "InvalidArgument" "$unfinished"
created=$( { echo '{"metadata": {"title": "Dune", "description": "Spice", "category": "science"}}'
             printf '{"cover": {"chunk": "%s"}}' "$(base64 -w0 "$files/cover.png")"
             printf '{"cover": {"finished": {"cover_bytes": %d, "sha256": "%s"}}}' "$cover_bytes" "$cover_sha"; } |
  "$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" -d @ "$library" library.v1.LibraryService/CreateBook)
expect '"coverContentType": "image/png"' "$created"
book_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["book"]["id"])' <<<"$created")
expect '"title": "Dune"' "$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" -d "{\"id\": \"$book_id\"}" \
  "$library" library.v1.LibraryService/GetBook)"
expect "$book_id" "$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" -d '{"category": "science"}' \
  "$library" library.v1.LibraryService/ListBooks)"
echo "grpcurl smoke: library-service ok"

# Whether the library refuses a token within a second.
refused_within_a_second() {
  for _ in $(seq 1 10); do
    "$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $1" "$library" library.v1.LibraryService/ListBooks \
      >/dev/null 2>&1 || return 0
    sleep 0.1
  done
  return 1
}

# Sessions: refresh (the refresh token is spent, and its reuse ends the session), list,
# change the password, log out; the library refuses the logged-out token within a second.
refresh=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["refreshToken"])' <<<"$login")
refreshed=$("$grpcurl" -cacert "$tls/ca.crt" -d "{\"refresh_token\": \"$refresh\"}" "$auth" auth.v1.AuthService/RefreshToken)
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$refreshed")
if "$grpcurl" -cacert "$tls/ca.crt" -d "{\"refresh_token\": \"$refresh\"}" "$auth" auth.v1.AuthService/RefreshToken >/dev/null 2>&1; then
  fail "a spent refresh token was accepted"
fi
# That reuse ended the session: log in again for a live one, and a second beside it.
login=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$login")
other=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
other_token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$other")
sessions=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" "$auth" auth.v1.AuthService/ListSessions)
expect '"current": true' "$sessions"
wrong=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" \
  -d '{"current_password": "Wr0ng-Guess!", "new_password": "N3w-Secret-Phrase!"}' \
  "$auth" auth.v1.AuthService/ChangePassword 2>&1 | tr -d ' \t' || true)
expect "Code:Unauthenticated" "$wrong"
expect '"reason":"WRONG_PASSWORD"' "$wrong"
"$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $token" "$auth" auth.v1.AuthService/Logout >/dev/null
refused_within_a_second "$token" || fail "the library still accepts a logged-out session's token after a second"
"$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $other_token" "$library" library.v1.LibraryService/ListBooks >/dev/null \
  || fail "the other session was refused"
# From a third session: end the other one by its id, then change the password.
third=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
third_token=$(field token <<<"$third")
other_id=$(field sessionId <<<"$other")
"$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $third_token" -d "{\"session_id\": \"$other_id\"}" \
  "$auth" auth.v1.AuthService/RevokeSession >/dev/null
expect "NotFound" "$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $third_token" -d "{\"session_id\": \"$other_id\"}" \
  "$auth" auth.v1.AuthService/RevokeSession 2>&1 || true)"
refused_within_a_second "$other_token" || fail "the library still accepts a revoked session's token after a second"
fourth=$("$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login)
changed=$("$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $third_token" \
  -d '{"current_password": "Sup3r-Secret!", "new_password": "N3w-Secret-Phrase!"}' \
  "$auth" auth.v1.AuthService/ChangePassword)
expect '"endedSessions": 1' "$changed"
"$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $third_token" "$auth" auth.v1.AuthService/GetCurrentUser >/dev/null \
  || fail "the session that changed the password was ended"
if "$grpcurl" -cacert "$tls/ca.crt" -H "authorization: Bearer $(field token <<<"$fourth")" \
  "$auth" auth.v1.AuthService/GetCurrentUser >/dev/null 2>&1; then
  fail "another session survived the password change"
fi
if "$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "Sup3r-Secret!"}' \
  "$auth" auth.v1.AuthService/Login >/dev/null 2>&1; then
  fail "the old password still logs in"
fi
"$grpcurl" -cacert "$tls/ca.crt" -d '{"email": "ada@example.com", "password": "N3w-Secret-Phrase!"}' \
  "$auth" auth.v1.AuthService/Login >/dev/null || fail "the new password does not log in"
echo "grpcurl smoke: sessions ok"
