#!/usr/bin/env bash
# The footprint of an idle server: `deadbolt serve` with the default configuration (no config
# file, SQLite, keys generated) in a fresh directory. Prints how long it took to answer /readyz
# and its resident memory a few seconds later (VmRSS, split into anonymous memory and mapped
# files), and the same after a restart on the existing data. Measured, never asserted.
#   scripts/footprint.sh [path/to/deadbolt]      (default: a release build of this tree)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-}
if [[ -z $bin ]]; then
  cargo build --release -p deadbolt
  bin=${CARGO_TARGET_DIR:-target}/release/deadbolt
fi
bin=$(realpath "$bin")
settle=${FOOTPRINT_SETTLE_SECONDS:-3}

dir=$(mktemp -d /tmp/deadbolt-footprint.XXXXXX)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# measure LABEL: start the server in $dir, time /readyz, let it settle, print its memory, stop it.
measure() {
  local label=$1 start ready
  start=$(date +%s%N)
  (cd "$dir" && exec env DEADBOLT_SERVER__BIND="127.0.0.1:$port" "$bin" serve >>"$dir/server.log" 2>&1) &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/server.log" >&2; echo "footprint: the server stopped" >&2; exit 1; }
    sleep 0.01
  done
  ready=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep "$settle"
  local rss anon file
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
  anon=$(awk '/^RssAnon/{print $2}' "/proc/$pid/status")
  file=$(awk '/^RssFile/{print $2}' "/proc/$pid/status")
  printf '%-28s ready in %4d ms   idle RSS %5.1f MiB (anonymous %4.1f MiB, mapped files %4.1f MiB)\n' \
    "$label" "$ready" "$(bc -l <<<"$rss/1024")" "$(bc -l <<<"$anon/1024")" "$(bc -l <<<"$file/1024")"
  kill -INT "$pid"
  wait "$pid" || true
  pid=
}

measure "first start (keys created)"
measure "restart (existing data)"
