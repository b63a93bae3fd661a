#!/usr/bin/env bash
# Training-speed benchmark: Encore's iALS against implicit 0.7.3's ALS on the same synthetic file.
#
#   bench/train_speed.sh            # 1e5 users x 5e4 items x 5e6 rows
#   bench/train_speed.sh --large    # 1e6 users x 5e5 items x 5e7 rows
#
# Both systems: 64 factors, 15 iterations, conjugate gradient (3 steps) on both sides, 2 threads
# (RAYON_NUM_THREADS=2 / num_threads=2, OPENBLAS_NUM_THREADS=1). implicit runs its fixed peer
# configuration (regularization 0.05, alpha 1, raw weights, ../shared/eval/PEERS.md); Encore runs
# its defaults. Data: `encore generate`, then a per-user 20 % holdout (bench/split.py, the rule of
# ../shared/eval/PROTOCOL.md); both train on train.tsv and are scored on test.tsv.
#
# Needs python3 (for the venv), /usr/bin/time and network access to PyPI on the first run.
# Everything it writes goes to bench/out/ (and the venv to bench/.venv/), both git-ignored.
set -euo pipefail

cd "$(dirname "$0")/.."

size=default users=100000 items=50000 rows=5000000 eval_users=0
if [[ "${1:-}" == "--large" ]]; then
    # Held-out metrics on 20,000 sampled users (bench/split.py --eval-users): ranking the whole
    # catalogue for all 1e6 users would take longer than both trainings together.
    size=large users=1000000 items=500000 rows=50000000 eval_users=20000
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--large]" >&2
    exit 2
fi
iterations=15
spec="ials:factors=64,iterations=${iterations},solver=cg,cg_steps=3"
out="bench/out/${size}"
mkdir -p "${out}"

if [[ ! -x bench/.venv/bin/python ]]; then
    echo "== creating bench/.venv with implicit 0.7.3"
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet implicit==0.7.3 numpy scipy pandas
fi
py=bench/.venv/bin/python

echo "== building encore (release)"
cargo build --quiet --release -p encore-cli
encore=target/release/encore

if [[ ! -s "${out}/train.tsv" || ! -s "${out}/test.tsv" ]]; then
    echo "== generating ${rows} rows (${users} users, ${items} items) and splitting 80/20"
    "${encore}" generate --users "${users}" --items "${items}" --rows "${rows}" \
        --output "${out}/all.tsv"
    "${py}" bench/split.py "${out}/all.tsv" "${out}" --eval-users "${eval_users}"
    rm -f "${out}/all.tsv"
fi

export RAYON_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1

echo "== encore: read + matrix build alone (popularity model, trivial fit)"
/usr/bin/time -v -o "${out}/time_encore_read.txt" \
    "${encore}" train --input "${out}/train.tsv" --model popularity \
    --output "${out}/popularity.enc" --json >/dev/null

echo "== encore: ${spec}"
/usr/bin/time -v -o "${out}/time_encore_train.txt" \
    "${encore}" train --input "${out}/train.tsv" --model "${spec}" \
    --output "${out}/ials.enc" --json >"${out}/encore_train.json"

echo "== encore: NDCG@10 on the holdout (trains the same model again, deterministic)"
"${encore}" evaluate --train "${out}/train.tsv" --test "${out}/test.tsv" --model "${spec}" \
    --json >"${out}/encore_evaluate.json"

echo "== implicit: AlternatingLeastSquares(factors=64, iterations=${iterations}, use_cg=True)"
/usr/bin/time -v -o "${out}/time_implicit.txt" \
    "${py}" bench/implicit_bench.py "${out}/train.tsv" "${out}/test.tsv" \
    --factors 64 --iterations "${iterations}" --threads 2 >"${out}/implicit.json"

echo
"${py}" bench/report.py "${out}" "${iterations}" | tee "${out}/report.txt"
