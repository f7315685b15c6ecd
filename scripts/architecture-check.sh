#!/usr/bin/env bash
# The architecture's rules, checked (docs/architecture.md explains them):
# 1. no import circle between the modules of a crate;
# 2. the use cases depend on no web framework;
# 3. no source file over 600 lines (tests aside: a test file reads top to bottom).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

echo "import circles:"
python3 scripts/module-cycles.py crates/deadbolt-* || status=1

echo "web frameworks under deadbolt-usecases:"
if ! tree=$(cargo tree -p deadbolt-usecases -e normal --prefix none); then
  echo "cargo tree failed"
  exit 1
fi
web=$(grep -E '^(axum|axum-core|hyper|hyper-util|tower|tower-http|utoipa|utoipa-axum) ' <<<"$tree" | sort -u || true)
if [[ -n $web ]]; then
  echo "$web"
  status=1
else
  echo "none"
fi

echo "source files over 600 lines:"
long=$(find crates -path '*/tests' -prune -o -path '*/benches' -prune -o -name '*.rs' -print \
  | xargs wc -l | awk '$2 != "total" && $1 > 600 { print "  " $2 ": " $1 }')
if [[ -n $long ]]; then
  echo "$long"
  status=1
else
  echo "none"
fi
exit $status
