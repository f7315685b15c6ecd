#!/usr/bin/env bash
# Try the live server's OpenAPI document with schemathesis (DESIGN.md, "Bad input").
#
# Builds and starts `deadbolt serve` on a free port with a fresh SQLite database and the test SMTP
# sink, signs in as a fresh account, then lets schemathesis call every operation with that token
# and check each response against the document. The server API for products that keep their
# own accounts (`/v1/subjects`) authenticates a client instead: a second run calls its operations
# with a confidential client's id and secret (HTTP Basic), made with `deadbolt clients create`.
# DEADBOLT_BIN=path skips the build.
# SCHEMATHESIS_MAX_EXAMPLES (default 30: CI's short run) and SCHEMATHESIS_TIMEOUT (default 20m)
# make the long run: SCHEMATHESIS_MAX_EXAMPLES=160 SCHEMATHESIS_TIMEOUT=90m generates over 10,000
# cases (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${DEADBOLT_BIN:-} ]]; then
  cargo build --bin deadbolt
  DEADBOLT_BIN=${CARGO_TARGET_DIR:-target}/debug/deadbolt
fi
# pip does not always put the command on PATH (pyenv shims, for one); its scripts dir has it.
schemathesis=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/schemathesis

tmp=$(mktemp -d /tmp/deadbolt-schemathesis.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "schemathesis.sh: $*" >&2
  echo "---- server log (last 60 lines) ----" >&2
  tail -n 60 "$tmp/server.log" >&2 || true
  exit 1
}

# Two free ports, held open together so they differ.
read -r port smtp_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
base=http://127.0.0.1:$port

cat >"$tmp/deadbolt.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
public_url = "$base"
[database]
url = "sqlite://$tmp/deadbolt.db"
[secrets]
master_key_file = "$tmp/master.key"
[email]
smtp_url = "smtp://127.0.0.1:$smtp_port"
from = "Deadbolt <no-reply@localhost>"
# Cheap password hashing and no lockouts: the fuzzer logs in and fails a lot.
[password]
memory_kib = 1024
iterations = 1
parallelism = 1
[limits]
login_failures_per_account = 1000000
login_failures_per_ip = 1000000
TOML

python3 tests/support/smtp_sink.py --port "$smtp_port" >"$tmp/smtp.log" 2>&1 &
pids+=($!)
"$DEADBOLT_BIN" serve --config "$tmp/deadbolt.toml" >"$tmp/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")

for _ in $(seq 60); do
  curl -fsS -o /dev/null "$base/healthz" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited during startup"
  sleep 0.5
done
curl -fsS -o /dev/null "$base/healthz" || fail "GET /healthz did not answer 200 within 30 s"
# Python may take longer to start than the server: wait for the sink too.
for _ in $(seq 40); do
  grep -qx READY "$tmp/smtp.log" && break
  sleep 0.5
done
grep -qx READY "$tmp/smtp.log" || fail "the SMTP sink did not start: $(cat "$tmp/smtp.log")"

# A fresh account and its access token.
post() { curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' -d "$2" "$base$1"; }
credentials='{"email":"schema@example.com","password":"correct horse battery staple 42"}'
body=$(post /v1/accounts "$credentials") || fail "POST /v1/accounts failed: $body"
body=$(post /v1/login "$credentials") || fail "POST /v1/login failed: $body"
token=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' <<<"$body") ||
  fail "no access_token in the login answer: $body"

# Fixed seed, one worker: a failure found here is found again on the next run. Run from $tmp so
# schemathesis' crash cache (.schemathesis/) starts empty and never lands in the repository.
# Logging out and deleting a session would revoke the token, so those two operations are left out.
status=0
(cd "$tmp" && timeout "${SCHEMATHESIS_TIMEOUT:-20m}" "$schemathesis" run "$base/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --exclude-name-regex '^(POST /v1/logout|DELETE /v1/me/sessions/\{[^}/]+\})$' \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --seed 20240601 \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --no-color) || status=$?
[[ $status -eq 0 ]] || fail "schemathesis found problems (exit status $status)"

# The server API, as a confidential client (the first run met it only with a bearer token: 401).
client=$("$DEADBOLT_BIN" clients create --config "$tmp/deadbolt.toml" --name schemathesis \
  --redirect-uri https://product.example/callback) || fail "deadbolt clients create failed: $client"
read -r client_id client_secret < <(python3 -c '
import json, sys
c = json.load(sys.stdin)
print(c["client_id"], c["client_secret"])' <<<"$client") || fail "no client in: $client"
(cd "$tmp" && timeout "${SCHEMATHESIS_TIMEOUT:-20m}" "$schemathesis" run "$base/openapi.json" \
  --url "$base" \
  --auth "$client_id:$client_secret" \
  --include-path-regex '^/v1/subjects' \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --seed 20240601 \
  --workers 1 \
  --request-timeout 10 \
  --generation-database none \
  --no-color) || status=$?
[[ $status -eq 0 ]] || fail "schemathesis found problems in the server API (exit status $status)"
curl -fsS -o /dev/null -u "$client_id:$client_secret" -X PUT "$base/v1/subjects/schemathesis" ||
  fail "the client's credentials no longer work after the run, so coverage was partial"

# Had the token died half-way, later operations would only have been tried unauthenticated.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$base/v1/me" ||
  fail "the access token no longer works after the run (revoked or expired), so coverage was partial"
echo "schemathesis.sh: passed"
