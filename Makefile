# Developer entry points. Each target is exactly what CI (.ci/run) runs for that step.
.PHONY: fmt clippy test-sqlite test-postgres doctest schemathesis browser readme-run fuzz bench ci

# Formatting check (fix with `cargo fmt --all`).
fmt:
	cargo fmt --all -- --check

# Lints on every target; warnings are errors.
clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# The whole test suite against SQLite.
test-sqlite:
	DEADBOLT_TEST_DATABASE=sqlite cargo nextest run --workspace --no-fail-fast

# The whole test suite against PostgreSQL at $DEADBOLT_TEST_POSTGRES_URL (or: scripts/with-postgres.sh make test-postgres).
test-postgres:
	@test -n "$${DEADBOLT_TEST_POSTGRES_URL:-}" || { echo "test-postgres: set DEADBOLT_TEST_POSTGRES_URL, or run: scripts/with-postgres.sh make test-postgres" >&2; exit 1; }
	DEADBOLT_TEST_DATABASE=postgres cargo nextest run --workspace --no-fail-fast

# Doctests (cargo nextest does not run them).
doctest:
	cargo test --workspace --doc

# Schemathesis against a live server built from this tree.
schemathesis:
	bash scripts/schemathesis.sh

# The hosted pages in headless Chromium (Debian's package) driven by playwright-core.
browser:
	bash scripts/browser-tests.sh

# The README's run command, exactly as written: it must reach /readyz and stop on Ctrl-C.
readme-run:
	bash scripts/readme-run.sh

# Every fuzz target briefly (nightly toolchain, cargo-fuzz), so none can rot: FUZZ_SECONDS each
# (20 by default, as in CI). Long runs: scripts/fuzz.sh SECONDS. Crashes once found are replayed on stable by
# the test suite (crates/deadbolt-fuzz-targets).
FUZZ_SECONDS ?= 20
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# Benchmarks (not part of CI: speed is measured, never asserted).
bench:
	cargo bench --workspace

# Everything CI does, including installing what is missing.
ci:
	bash .ci/run
