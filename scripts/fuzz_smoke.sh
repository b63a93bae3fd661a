#!/usr/bin/env bash
# Builds and runs every fuzz target in fuzz/ for a short time each, on the stable toolchain.
#
#   scripts/fuzz_smoke.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 20; the targets default to all of them. Each run starts from the
# committed seeds (fuzz/seeds/TARGET) and the local corpus (fuzz/corpus/TARGET, git-ignored, grows
# across runs). `-s none` builds without a sanitizer, which works on stable Rust (ASan needs
# nightly, or RUSTC_BOOTSTRAP=1). A crash stops the script with a non-zero status; libFuzzer
# leaves the input in fuzz/artifacts/TARGET/: fix the bug, then copy the input to
# fuzz/regressions/TARGET/ so that the unit tests keep checking it.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`; installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-20}"
shift || true
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=(model_file_load read_records)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

for target in "${targets[@]}"; do
  cargo fuzz build -s none "$target"
done

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="$(mktemp)"
  echo "== $target: ${seconds}s"
  if ! cargo fuzz run -s none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "== $target: CRASH (input saved under fuzz/artifacts/$target/)" >&2
    rm -f "$log"
    exit 1
  fi
  execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')"
  cov="$(grep -Eo '#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+' "$log" | grep -Eo 'cov: [0-9]+' || echo 'cov: ?')"
  echo "== $target: ok, $execs executions, $cov"
  rm -f "$log"
done
