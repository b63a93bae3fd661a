#!/usr/bin/env bash
# BPR training speed: Encore's BPR against implicit 0.7.3's BayesianPersonalizedRanking on the same
# synthetic file (about 4e6 rows: 80,000 users x 40,000 items, `encore_core::synth`, seed 42).
#
#   bench/bpr_speed.sh               # 100 epochs
#   bench/bpr_speed.sh --epochs 10   # quicker
#
# Both systems: 64 factors (implicit adds one column for the item bias), 2 threads
# (RAYON pool of 2 / num_threads=2, OPENBLAS_NUM_THREADS=1), their own default step size and
# regularisation. Encore's example prints wall time and CPU time of `fit` only (the data are
# generated and parsed before the clock starts); implicit's script times `fit` the same way. On a
# shared machine compare the CPU seconds as well as the wall time.
#
# Uses bench/.venv (created by bench/train_speed.sh) when present, else python3 with implicit
# installed. Writes to bench/out/bpr/ (git-ignored).
set -euo pipefail

cd "$(dirname "$0")/.."

epochs=100
if [[ "${1:-}" == "--epochs" && -n "${2:-}" ]]; then
    epochs=$2
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--epochs N]" >&2
    exit 2
fi
out=bench/out/bpr
mkdir -p "${out}"
py=python3
[[ -x bench/.venv/bin/python ]] && py=bench/.venv/bin/python
if ! "${py}" -c "import implicit" 2>/dev/null; then
    echo "bpr_speed: ${py} cannot import implicit (pip install implicit==0.7.3)" >&2
    exit 2
fi

echo "== building the bpr_speed example (release)"
cargo build --quiet --release -p encore-core --example bpr_speed

export OPENBLAS_NUM_THREADS=1
echo "== encore: bpr, ${epochs} epochs (also writes ${out}/synth.tsv for implicit)"
target/release/examples/bpr_speed --epochs "${epochs}" --threads 2 \
    --write-tsv "${out}/synth.tsv" | tee "${out}/encore.txt"

echo "== implicit: BayesianPersonalizedRanking(factors=64, iterations=${epochs}, num_threads=2)"
"${py}" bench/implicit_bpr.py "${out}/synth.tsv" "${epochs}" 2 | tee "${out}/implicit.txt"
