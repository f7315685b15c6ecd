#!/usr/bin/env bash
# Runs the README's run command exactly as written (the first ```sh block of README.md), waits
# until the service answers /readyz on the default address, then stops it with Ctrl-C (SIGINT)
# and checks that it exits cleanly. This keeps the README's front door from breaking unnoticed.
#
# The command builds in release mode first, so the wait allows for a cold build.
set -euo pipefail
cd "$(dirname "$0")/.."

command=$(awk '/^```sh$/ { inside = 1; next } inside && /^```/ { exit } inside { print }' README.md)
if [[ -z "$command" || "$command" == *$'\n'* ]]; then
  echo "readme-run: the first \`\`\`sh block of README.md must hold exactly one command; found:" >&2
  printf '%s\n' "$command" >&2
  exit 1
fi
url=http://127.0.0.1:8080
if curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; then
  echo "readme-run: something already answers on $url; stop it first" >&2
  exit 1
fi

log=$(mktemp)
echo "readme-run: $command"
# its own process group, so that Ctrl-C reaches cargo and the server alike
setsid bash -c "exec $command" >"$log" 2>&1 &
pid=$!
stop() { kill -INT -- "-$pid" 2>/dev/null || true; }
trap 'stop; rm -f "$log"' EXIT

deadline=$((SECONDS + 1800))
until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "readme-run: the command exited before the service was ready:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "readme-run: no answer from $url/readyz within 30 minutes:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 1
done
echo "readme-run: $url/readyz answered"
for expected in "listening on http://127.0.0.1:8080" "open http://localhost:8080/" "mail is written to files under"; do
  if ! grep -qF "$expected" "$log"; then
    echo "readme-run: the start-up lines do not say \"$expected\":" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
done

stop
status=0
for _ in $(seq 1 30); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "readme-run: the service did not stop within 30 s of Ctrl-C" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true
  exit 1
fi
wait "$pid" || status=$?
# 130 is bash's code for "ended by SIGINT": cargo passes the signal on and may report it so
if ((status != 0 && status != 130)); then
  echo "readme-run: the command exited with status $status after Ctrl-C:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
echo "readme-run: stopped cleanly"
