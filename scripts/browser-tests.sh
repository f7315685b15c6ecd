#!/usr/bin/env bash
# The hosted pages in a real browser: Debian's Chromium driven by playwright-core (pinned in
# tests/browser/package-lock.json) through Node's test runner, against the real `deadbolt`
# binary with a fresh SQLite database and the test SMTP sink (see tests/browser/harness.mjs);
# and the OpenID Connect provider through the same pages with real relying-party libraries
# (oidc.test.mjs: openid-client, and Authlib in tests/rp/authlib_rp.py); a device signed in by
# the device authorization grant, openid-client polling while Chromium approves on /device
# (device.test.mjs); and the example product
# of examples/existing-accounts, a Flask app adding the second factor by the signed redirect
# (existing_accounts.test.mjs; its Python packages are pinned in its requirements.txt, and
# .ci/run installs them).
# DEADBOLT_BIN=path skips the build; SCREENSHOTS=1 also rewrites docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${DEADBOLT_BIN:-} ]]; then
  cargo build --bin deadbolt
  DEADBOLT_BIN=$(realpath "${CARGO_TARGET_DIR:-target}/debug/deadbolt")
fi
export DEADBOLT_BIN
command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || {
  echo "browser-tests.sh: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
  exit 1
}
python3 -c 'import authlib, flask, joserfc, requests' 2>/dev/null || {
  echo "browser-tests.sh: the Python relying parties need their packages:" \
    "python3 -m pip install -r examples/existing-accounts/requirements.txt" >&2
  exit 1
}
cd tests/browser
# the lockfile pins playwright-core (which downloads no browser of its own) and the relying
# party libraries of oidc.test.mjs; a checkout that lacks any of them installs them all
for module in playwright-core openid-client jose; do
  if [[ ! -d node_modules/$module ]]; then
    npm ci --no-audit --no-fund
    break
  fi
done
node --test --test-concurrency=1
