#!/usr/bin/env bash
# Batch export speed: `encore recommend --all` against implicit 0.7.3's batched recommend() over
# every user, on the serving benchmark's set (1e5 users x 5e4 items x 5e6 rows), 64 factors,
# top 10 with each user's training items left out, 2 threads each (RAYON_NUM_THREADS=2,
# implicit num_threads=2, OPENBLAS_NUM_THREADS=1).
#
#   bench/batch_recommend.sh
#
# Both train their own ALS of the same shape first (not timed). Printed: users/s of the scoring
# alone (Encore's own figure from its stderr note; implicit's recommend() call), the wall and CPU
# seconds of the whole `encore recommend --all` command (load, score, write), and the ratio.
# Needs python3 and PyPI on the first run (bench/.venv). Writes to bench/out/batch/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

users=100000 items=50000 rows=5000000 n=10
out=bench/out/batch
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

if [[ ! -s "${out}/plays.tsv" ]]; then
    echo "== generating ${rows} rows (${users} users, ${items} items)"
    "${encore}" generate --users "${users}" --items "${items}" --rows "${rows}" \
        --output "${out}/plays.tsv"
fi
export RAYON_NUM_THREADS=2 OPENBLAS_NUM_THREADS=1
if [[ ! -s "${out}/ials.enc" ]]; then
    echo "== encore: training ials:factors=64"
    "${encore}" train --input "${out}/plays.tsv" --model ials:factors=64 \
        --output "${out}/ials.enc" --json >/dev/null
fi

echo "== encore recommend --all -n ${n}"
/usr/bin/time -f "%e %U %S %M" -o "${out}/time_encore.txt" \
    "${encore}" recommend --model "${out}/ials.enc" --all -n "${n}" --threads 2 \
    --output "${out}/encore_recs.tsv" 2> "${out}/encore_note.txt"
cat "${out}/encore_note.txt"

echo "== implicit 0.7.3: recommend(all users, N=${n}, filter_already_liked_items=True)"
"${py}" bench/batch_recommend.py "${out}/plays.tsv" "${out}/implicit_recs.tsv" \
    --factors 64 --threads 2 -n "${n}" > "${out}/implicit.json"
cat "${out}/implicit.json"

"${py}" - "${out}" <<'PY'
import json, re, sys
out = sys.argv[1]
wall, user, sys_, rss_kb = open(f"{out}/time_encore.txt").read().split()
note = open(f"{out}/encore_note.txt").read()
m = re.search(r"of (\d+) users.*scored in ([0-9.]+) s", note)
users, score_s = int(m.group(1)), float(m.group(2))
imp = json.load(open(f"{out}/implicit.json"))
enc_ups = users / score_s
print()
print(f"{'':34} {'users/s':>10} {'scoring s':>10} {'cpu s':>8}")
print(f"{'encore recommend --all (scoring)':34} {enc_ups:>10,.0f} {score_s:>10.2f} {'':>8}")
print(f"{'encore recommend --all (command)':34} {users/float(wall):>10,.0f} {float(wall):>10.2f} "
      f"{float(user)+float(sys_):>8.2f}   peak RSS {int(rss_kb)/1024:.0f} MiB")
print(f"{'implicit recommend() batched':34} {imp['users_per_second']:>10,.0f} {imp['seconds']:>10.2f} "
      f"{imp['cpu_seconds']:>8.2f}")
print(f"ratio (scoring): {enc_ups / imp['users_per_second']:.2f}x;"
      f" whole encore command vs implicit's call: {users/float(wall) / imp['users_per_second']:.2f}x")
PY
