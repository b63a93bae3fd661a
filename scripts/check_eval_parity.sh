#!/usr/bin/env bash
# Evaluator parity: Encore's metrics must agree with the reference ../shared/eval/eval.py to
# 4 decimal places on the same recommendations.
#
# For each shared split, `encore evaluate --write-recs` writes the top-10 lists of two models
# (iALS and popularity: a personalised model and one with many ties), eval.py scores those files,
# and every metric (precision, recall, NDCG, MAP, HR, coverage at 10), the number of evaluated
# users and the count of training items in the lists (must be 0) are compared.
# Skips (exit 0, with a message) when python3 is missing. Exits non-zero on any disagreement.
#
# Environment: ENCORE_BIN (default: target/release/encore, built here if missing),
#              SHARED (default: ../shared relative to the repository root),
#              DATASETS (default: "ml-100k lastfm-2k ml-latest-small").
set -euo pipefail

cd "$(dirname "$0")/.."
if ! command -v python3 >/dev/null 2>&1; then
    echo "check_eval_parity: SKIPPED: python3 is not installed (eval.py needs it)"
    exit 0
fi
SHARED=${SHARED:-../shared}
BIN=${ENCORE_BIN:-target/release/encore}
if [[ -z "${ENCORE_BIN:-}" ]]; then
    cargo build --release --quiet -p encore-cli --bin encore
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for ds in ${DATASETS:-ml-100k lastfm-2k ml-latest-small}; do
    split="$SHARED/eval/splits/$ds"
    "$BIN" evaluate --train "$split/train.tsv" --test "$split/test.tsv" \
        --model ials --model popularity --json --write-recs "$tmp/$ds.tsv" >"$tmp/$ds.json"
    for model in ials popularity; do
        python3 "$SHARED/eval/eval.py" "$split/test.tsv" "$tmp/$ds.$model.tsv" \
            --train "$split/train.tsv" --json >"$tmp/$ds.$model.ref.json"
        python3 - "$tmp/$ds.json" "$tmp/$ds.$model.ref.json" "$ds" "$model" <<'PY' || status=1
import json, sys
ours_all, ref, ds, model = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
ours = next(r for r in ours_all["results"] if r["model"] == model)
pairs = [("precision@10", "P@10"), ("recall@10", "R@10"), ("ndcg@10", "NDCG@10"),
         ("map@10", "MAP@10"), ("hr@10", "HR@10"), ("coverage@10", "coverage@10")]
bad = []
for o, r in pairs:
    a, b = ours["metrics"][o], ref[r]
    if round(a, 4) != round(b, 4) and abs(a - b) >= 5e-5:
        bad.append(f"{o}: encore {a:.6f} vs eval.py {b:.6f}")
if ours["evaluated_users"] != ref["eval_users"]:
    bad.append(f"evaluated users: encore {ours['evaluated_users']} vs eval.py {ref['eval_users']}")
if ref["train_items_in_recs"]:
    bad.append(f"{ref['train_items_in_recs']} training items recommended")
line = "  ".join(f"{o} {ours['metrics'][o]:.4f}" for o, _ in pairs)
worst = max(abs(ours["metrics"][o] - ref[r]) for o, r in pairs)
print(f"{ds:<16} {model:<11} {'ok  ' if not bad else 'FAIL'} {line}  max|diff| {worst:.1e}")
for b in bad:
    print(f"    {b}")
sys.exit(1 if bad else 0)
PY
    done
done
if ((status != 0)); then
    echo "check_eval_parity: Encore and eval.py disagree" >&2
    exit 1
fi
echo "check_eval_parity: Encore agrees with eval.py to 4 decimal places"
