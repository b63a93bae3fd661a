#!/usr/bin/env bash
# The fuzzing step of CI: every cargo-fuzz target for a short fixed time, so that a parser change
# that panics, hangs or allocates without bound on hostile bytes fails the build.
#
#   scripts/fuzz_ci.sh [SECONDS_PER_TARGET]        (default 15)
#
# Targets: the interaction-file readers (read_records), the item metadata readers
# (read_item_files), the model-file loader (model_file_load), the edge model loader of
# encore-edge (edge_open_bytes) and the HTTP request bodies with their validation
# (request_json). libFuzzer fails the run on a panic, on one input running longer than 10 s
# (-timeout=10: a hang) and on more than 2 GiB of resident memory (-rss_limit_mb=2048: unbounded
# allocation). Each run starts from the committed
# seeds (fuzz/seeds/TARGET, when present) and a throw-away corpus, so CI results do not depend on
# earlier runs. Builds without a sanitizer (`-s none`) on the stable toolchain; installs
# cargo-fuzz when missing. A crash input is left in fuzz/artifacts/TARGET/: after the fix, commit
# it under fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-15}"
targets=(read_records read_item_files model_file_load edge_open_bytes request_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for target in "${targets[@]}"; do
  cargo fuzz build -s none "$target"
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  corpus="$work/corpus-$target"
  mkdir -p "$corpus"
  dirs=("$corpus")
  [[ -d "seeds/$target" ]] && dirs+=("seeds/$target")
  log="$work/$target.log"
  if ! cargo fuzz run -s none "$target" "${dirs[@]}" -- -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "== fuzz $target: FAILED (input saved under fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')"
  rss="$(grep -Eo 'stat::peak_rss_mb: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')"
  echo "== fuzz $target: ok, $execs executions in ${seconds}s, peak RSS ${rss} MB"
done
