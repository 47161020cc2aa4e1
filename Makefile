# The two commands of the Quickstart. Both run scripts/bootstrap first (idempotent).
CARGO ?= cargo
ARENA_DATA_DIR ?= ./data

.PHONY: bootstrap demo test fixtures

bootstrap:
	./scripts/bootstrap

## Build, seed the demo competition and serve http://127.0.0.1:8080 (Ctrl-C to stop).
demo: bootstrap
	$(CARGO) build --bins
	ARENA_DATA_DIR=$(ARENA_DATA_DIR) ./target/debug/arena up --demo

## Format, lints and the whole test suite (what .ci/run runs).
test: bootstrap
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test --workspace

## Regenerate the small committed fixtures (videos, ONNX detectors).
fixtures: bootstrap
	./datasets/fixtures/make_fixtures.sh
