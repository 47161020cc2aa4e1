# The two commands of the Quickstart. Both run scripts/bootstrap first (idempotent).
CARGO ?= cargo
# onnxruntime's own telemetry (a usage database under ~/.cache/Microsoft, uploads): off.
export ORT_DISABLE_TELEMETRY = 1
ARENA_DATA_DIR ?= ./data

.PHONY: bootstrap bootstrap-gpu gpu-check demo test fixtures baselines fuzz-smoke

bootstrap:
	./scripts/bootstrap

## Also onnxruntime's GPU build and the CUDA/cuDNN libraries (PyPI wheels, ~2.4 GB) for GPU workers.
bootstrap-gpu:
	./scripts/bootstrap --gpu

## On a machine with an NVIDIA GPU: CPU vs CUDA scores and frames/s (docs/BENCHMARKS.md, "GPU").
gpu-check:
	./scripts/gpu-check

## Build, seed the demo competition and serve http://127.0.0.1:8080 (Ctrl-C to stop).
demo: bootstrap
	$(CARGO) build --bins
	ARENA_DATA_DIR=$(ARENA_DATA_DIR) ./target/debug/arena up --demo

## Format, lints and the whole test suite (what .ci/run runs). A test that had to skip something
## (no PostgreSQL URL, no Python reference modules) writes a line to SKIP_LOG, summed up at the end;
## ARENA_REQUIRE_POSTGRES=1 / ARENA_REQUIRE_PYTHON_REFERENCE=1 (set by .ci/run) make skips fail.
SKIP_LOG ?= $(CURDIR)/target/skipped-tests.txt
## First scripts/module-cycles: no two modules of arena, web or worker import each other, directly
## or in a circle.
test: bootstrap
	./scripts/module-cycles --self-test arena/src web/src worker/src
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	@mkdir -p $(dir $(SKIP_LOG)) && rm -f $(SKIP_LOG)
	ARENA_SKIP_LOG=$(SKIP_LOG) $(CARGO) test --workspace
	@if [ -s $(SKIP_LOG) ]; then \
	  echo "SKIPPED (set ARENA_REQUIRE_POSTGRES=1 / ARENA_REQUIRE_PYTHON_REFERENCE=1 to fail instead):"; \
	  sort $(SKIP_LOG) | uniq -c; \
	else echo "skip summary: nothing was skipped"; fi

## Regenerate the small committed fixtures (videos, ONNX detectors).
fixtures: bootstrap
	./datasets/fixtures/make_fixtures.sh

## Each cargo-fuzz target for FUZZ_SECONDS (10) s; needs nightly, installs cargo-fuzz. Not part of
## `test` (its first build takes longer than the whole suite); .ci/run runs it after `make test`.
fuzz-smoke:
	./scripts/fuzz-smoke

## Retrain the baseline detectors (datasets/baselines/models) from synthetic data; deterministic.
baselines: bootstrap
	$(CARGO) build --bin arena
	python3 datasets/baselines/train.py
