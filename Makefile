# Developer entry points. Each target is exactly what CI (.ci/run) runs for that step.
.PHONY: fmt clippy architecture test-sqlite test-postgres doctest schemathesis browser readme-run footprint bench load-smoke crash-delivery fuzz ci

# Formatting check (fix with `cargo fmt --all`).
fmt:
	cargo fmt --all -- --check

# Lints on every target; warnings are errors.
clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# The architecture's rules: no import circle, no web framework under the use cases, no source
# file over 600 lines (docs/architecture.md).
architecture:
	bash scripts/architecture-check.sh

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

# An idle server's memory and start-up time, with the default configuration (measured, never asserted).
footprint:
	bash scripts/footprint.sh

# Delivery survives a SIGKILL mid-delivery, briefly: 100 messages on SQLite, then on PostgreSQL with
# two instances (a throwaway cluster unless $DEADBOLT_TEST_POSTGRES_URL is set). The long runs
# (1,000 messages, release build) are scripts/crash-delivery.py's defaults; see docs/development.md.
crash-delivery:
	cargo build --bin deadbolt
	python3 scripts/crash-delivery.py --bin $${CARGO_TARGET_DIR:-target}/debug/deadbolt --database sqlite --messages 100 --outage 2
	python3 scripts/crash-delivery.py --bin $${CARGO_TARGET_DIR:-target}/debug/deadbolt --database postgres --instances 2 --messages 100 --outage 2

# Every fuzz target briefly (nightly toolchain, cargo-fuzz), so none can rot: FUZZ_SECONDS each
# (20 by default, as in CI). Long runs: scripts/fuzz.sh SECONDS. Crashes once found are replayed on stable by
# the test suite (crates/deadbolt-fuzz-targets).
FUZZ_SECONDS ?= 20
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

# Benchmarks (not part of CI: speed is measured, never asserted).
bench:
	cargo bench --workspace

# The load harness briefly, every phase and then the overload storms, against a release build,
# so that it cannot rot: it fails only when a phase errs or the server crashes or answers a
# storm wrongly; its ratios and latencies are printed, never asserted.
load-smoke:
	cargo build --release -p deadbolt -p deadbolt-load
	target/release/deadbolt-load --seconds 1 --bound-seconds 1 --burst 50 --mfa-accounts 200 --flow-accounts 100 --subject-checks 200
	target/release/deadbolt-load overload --seconds 1 --storm-seconds 5 --probes 2

# Everything CI does, including installing what is missing.
ci:
	bash .ci/run
