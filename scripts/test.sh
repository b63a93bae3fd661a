#!/usr/bin/env bash
# The project's test command (README.md "Quick start"): lint gates, every unit and integration
# test, the dashboard's browser tests, the quality bar on the shared evaluation splits,
# spec-driven API testing and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build (the integration tests start the real encore binary)"
cargo build --workspace --all-targets --quiet

echo "== the dashboard in headless chromium, against a real encore serve (screenshots: target/browser-screenshots)"
bash scripts/browser_test.sh

echo "== encore-edge: the no_std core builds; the C example and its Python ctypes twin run"
cargo rustc -p encore-edge --no-default-features --lib --crate-type rlib --quiet
make -C examples/edge-c --no-print-directory run

echo "== quality bar and evaluator parity on ../shared/eval/splits"
# encore-core is compiled at opt-level 3 even in the dev profile, so the debug binary trains at
# near-release speed and CI skips a second (release) build of the whole workspace.
ENCORE_BIN=target/debug/encore bash scripts/check_quality.sh
ENCORE_BIN=target/debug/encore bash scripts/check_eval_parity.sh

echo "== spec-driven API testing (Schemathesis against /openapi.json)"
bash scripts/schemathesis.sh 50

echo "== fuzz targets, a short fixed time each"
bash scripts/fuzz_ci.sh

echo "== unit and integration tests"
cargo nextest run --workspace --no-fail-fast
