#!/usr/bin/env bash
# The project's test command (README.md "Quick start"): lint gates, every unit and integration
# test, then the quality bar on the shared evaluation splits.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== build (the integration tests start the real encore binary)"
cargo build --workspace --all-targets --quiet

echo "== tests"
cargo nextest run --workspace --no-fail-fast

echo "== quality bar on ../shared/eval/splits"
bash scripts/check_quality.sh
