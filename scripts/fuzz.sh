#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS_PER_TARGET (default 30), one at a time
# on one core, from the committed corpus and crash regressions, and prints per target the
# executions, the CPU time and whether it crashed. Exits non-zero when any target crashed (the
# input is under fuzz/artifacts/<target>/) or could not run.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_GROW=1 scripts/fuzz.sh 600    # long run: new inputs go into fuzz/corpus/<target>
#                                      # (then minimise: cargo +nightly fuzz cmin <target>)
#
# Needs the nightly toolchain (sanitizer coverage) and cargo-fuzz; `.ci/run` installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-30}
shift || true
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (cargo install cargo-fuzz --locked)" >&2
  exit 1
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# debug assertions on: an arithmetic overflow is a finding too
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! cargo +nightly fuzz build --debug-assertions >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log" >&2
  echo "fuzz: the targets do not build" >&2
  exit 1
fi
failed=0
rows=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dirs=()
  if [[ -n "${FUZZ_GROW:-}" ]]; then
    dirs=("corpus/$t")
  else
    # new inputs of a short run are thrown away: the committed corpus stays as it is
    mkdir -p "$scratch/$t"
    dirs=("$scratch/$t" "corpus/$t")
  fi
  [[ -d "regressions/$t" ]] && dirs+=("regressions/$t")
  log="$scratch/$t.log"
  status=ok
  TIMEFORMAT='%U %S'
  if ! { time cargo +nightly fuzz run --debug-assertions "$t" "${dirs[@]}" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1 ; } 2>"$scratch/$t.time"; then
    status=CRASH
    failed=1
    tail -n 40 "$log" >&2
  fi
  read -r user sys <"$scratch/$t.time" || { user=0; sys=0; }
  execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", u + s }')
  rows+=("$(printf '%-26s %12s %8s  %s' "$t" "${execs:-?}" "$cpu" "$status")")
done

printf '\n%-26s %12s %8s  %s\n' target executions cpu_s result
printf '%s\n' "${rows[@]}"
if ((failed)); then
  echo "fuzz: a target crashed or failed; inputs under fuzz/artifacts/<target>/" >&2
  exit 1
fi
