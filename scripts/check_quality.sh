#!/usr/bin/env bash
# Quality gate: Encore must match or beat the peers on the shared splits.
#
# For each of lastfm-2k, ml-100k and ml-latest-small, runs the release `encore evaluate` at default
# hyperparameters on ../shared/eval/splits/<dataset>/{train,test}.tsv with all five models, then
# checks (k = 10, exact full ranking, PROTOCOL.md):
#   * the best model's NDCG@10 >= the best peer's (PEERS.md: implicit ALS tuned on the test set)
#   * Encore's iALS NDCG@10 >= implicit's ALS with raw weights (the like-for-like baseline)
# Then the second bar: `encore tune` with a short budget on a train file, its pick evaluated once
# on the test file, must reach a measured NDCG@10 (see TUNED below).
# Prints the tables and exits non-zero if any check fails.
#
# Environment: ENCORE_BIN (default: target/release/encore, built here if missing),
#              SHARED (default: ../shared relative to the repository root).
set -euo pipefail

cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${ENCORE_BIN:-target/release/encore}
if [[ -z "${ENCORE_BIN:-}" ]]; then
    cargo build --release --quiet -p encore-cli --bin encore
fi

if command -v jq >/dev/null 2>&1; then
    ndcg_of() { jq -r --arg m "$2" '.results[] | select(.model == $m) | .metrics["ndcg@10"]' "$1"; }
    best_of() { jq -r '[.results[] | {m: .model, v: .metrics["ndcg@10"]}] | max_by(.v) | "\(.m) \(.v)"' "$1"; }
    pick_of() { jq -r '.best.model' "$1"; }
elif command -v python3 >/dev/null 2>&1; then
    ndcg_of() {
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(next(x["metrics"]["ndcg@10"] for x in r["results"] if x["model"]==sys.argv[2]))' "$1" "$2"
    }
    best_of() {
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); b=max(r["results"], key=lambda x: x["metrics"]["ndcg@10"]); print(b["model"], b["metrics"]["ndcg@10"])' "$1"
    }
    pick_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"]["model"])' "$1"; }
else
    echo "check_quality: needs jq or python3 to read the JSON report" >&2
    exit 2
fi

# dataset, best peer NDCG@10, implicit ALS (raw) NDCG@10 — from ../shared/eval/PEERS.md.
DATASETS=(
    "lastfm-2k 0.2453 0.1270"
    "ml-100k 0.4334 0.3487"
    "ml-latest-small 0.3454 0.3102"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
rows=()
for entry in "${DATASETS[@]}"; do
    read -r ds peer_best peer_ials <<<"$entry"
    split="$SHARED/eval/splits/$ds"
    out="$tmp/$ds.json"
    start=$(date +%s.%N)
    "$BIN" evaluate --train "$split/train.tsv" --test "$split/test.tsv" \
        --model ials --model ease --model itemknn --model bpr --model popularity --json >"$out"
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    read -r best_model best <<<"$(best_of "$out")"
    ials=$(ndcg_of "$out" ials)
    verdict=ok
    if ! awk -v a="$best" -v b="$peer_best" 'BEGIN { exit !(a >= b) }'; then
        verdict="FAIL(best)"; failures=$((failures + 1))
    fi
    if ! awk -v a="$ials" -v b="$peer_ials" 'BEGIN { exit !(a >= b) }'; then
        verdict="${verdict/ok/}FAIL(ials)"; failures=$((failures + 1))
    fi
    rows+=("$(printf '%-16s %-10s %8.4f %9.4f %8.4f %9.4f %6ss  %s' \
        "$ds" "$best_model" "$best" "$peer_best" "$ials" "$peer_ials" "$secs" "$verdict")")
done

printf '%-16s %-10s %8s %9s %8s %9s %7s  %s\n' \
    dataset best-model ndcg@10 peer-best ials peer-ials time result
printf '%s\n' "${rows[@]}"

# Second bar: `encore tune` on the train file alone, its pick evaluated once on the test file.
# CI budget: 45 s on ml-100k only (the README's figures are 240 s on all three; lastfm-2k's EASE
# trial alone takes about a minute). Measured at 45 s: 0.4500 with the release build this script
# uses (2026-12-02, load average 2-3), 0.4444 with the debug build (99 trials, load average 3-5);
# the bar 0.4400 leaves 1-2 % for a slower runner cutting the search earlier. It is above what the
# defaults alone give (a 5 s budget, only the default trials: iALS at 8 epochs, 0.4385), so it
# checks that the search finds something, and above the best peer (0.4334).
TUNED=(
    "ml-100k 45 0.4400"
)
tuned_rows=()
for entry in "${TUNED[@]}"; do
    read -r ds budget bar <<<"$entry"
    split="$SHARED/eval/splits/$ds"
    start=$(date +%s.%N)
    "$BIN" tune --train "$split/train.tsv" --budget-seconds "$budget" --json >"$tmp/$ds.tune.json"
    pick=$(pick_of "$tmp/$ds.tune.json")
    "$BIN" evaluate --train "$split/train.tsv" --test "$split/test.tsv" --model "$pick" --json \
        >"$tmp/$ds.tuned.json"
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    tuned=$(ndcg_of "$tmp/$ds.tuned.json" "$pick")
    verdict=ok
    if ! awk -v a="$tuned" -v b="$bar" 'BEGIN { exit !(a >= b) }'; then
        verdict="FAIL(tuned)"; failures=$((failures + 1))
    fi
    tuned_rows+=("$(printf '%-16s %6ss %8.4f %8.4f %6ss  %s  %s' \
        "$ds" "$budget" "$tuned" "$bar" "$secs" "$verdict" "$pick")")
done
printf '\n%-16s %7s %8s %8s %7s  %s  %s\n' dataset budget ndcg@10 bar time result pick
printf '%s\n' "${tuned_rows[@]}"
if ((failures > 0)); then
    echo "check_quality: $failures check(s) failed" >&2
    exit 1
fi
echo "check_quality: all checks passed"
