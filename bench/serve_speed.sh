#!/usr/bin/env bash
# Serving benchmark (not a timed test): Encore's `POST /recommend` against the reference Flask
# service, under the same wrk load.
#
#   bash bench/serve_speed.sh            # full run: 1e5 users x 5e4 items x 5e6 rows, iALS 64 factors
#   ROWS=500000 USERS=20000 ITEMS=10000 bash bench/serve_speed.sh   # a quicker, smaller run
#   SKIP_FLASK=1 bash bench/serve_speed.sh                          # Encore only
#   ENCORE_BIN=/tmp/encore-old WORK=/tmp/old SKIP_FLASK=1 bash bench/serve_speed.sh  # another build
#   REUSE_DATA=1 ENCORE_SERVE_ARGS="--http-threads 1" bash bench/serve_speed.sh   # reuse the model
#   ACROSS=1 SKIP_FLASK=1 bash bench/serve_speed.sh                 # + a retrain under load
#   REUSE_DATA=1 ON_DEMAND=1 bash bench/serve_speed.sh              # every request scored on demand
#
# What it does, all on 127.0.0.1:
#  1. builds `encore` (release) and generates the synthetic set (TSV: user, item, weight);
#  2. imports it into a fresh data dir, starts `encore serve`, trains iALS (factors=64) through
#     the API with activate=always and waits for the job;
#  3. drives POST /recommend with random known user ids: wrk, 2 threads, 32 connections, 15 s,
#     using ../shared/baselines/flask-recommend/post_random_user.lua (prints a WRKJSON line);
#  4. trains the Flask baseline on the same TSV (venv with implicit==0.7.3 flask pandas scipy
#     threadpoolctl), starts it, runs the same load;
#  5. prints both results and the throughput ratio. Targets: >= 30x Flask, p99 <= 5 ms, 0 errors.
#
# With a fresh training (the default), wrk starts the moment the training job has succeeded:
# a job succeeds once the new version answers, and a new version answers only once its
# candidate table is built. ACROSS=1 adds a second training job under load (see below).
#
# Measured 2026-11-28 on the 2-core project machine while other builds ran (load average 5-8),
# full size, wrk -t2 -c32 -d20s after the candidate precomputation finished:
#   encore serve (2 HTTP workers, the default)  31,465 req/s  p50 0.96 ms  p99 3.63 ms  0 errors
#   the same with API keys on (commit 2b51759+)  30,470 req/s  p50 0.99 ms  p99 3.47 ms  0 errors
#   encore serve --http-threads 1               26,668 req/s  p50 1.11 ms  p99 24.2 ms  0 errors
#   Flask baseline (its own server)                668 req/s  p50 44.8 ms  p99 99.4 ms  0 errors
#   ratio 47x (target >= 30x)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

USERS=${USERS:-100000}
ITEMS=${ITEMS:-50000}
ROWS=${ROWS:-5000000}
FACTORS=${FACTORS:-64}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ENCORE_PORT=${ENCORE_PORT:-18080}
FLASK_PORT=${FLASK_PORT:-5055}
WORK=${WORK:-/tmp/encore-serve-bench}
BASELINE="$ROOT/../shared/baselines/flask-recommend"
LUA="$BASELINE/post_random_user.lua"
# ON_DEMAND=1: every request asks for 150 items, beyond the 100 precomputed per user, so each is
# scored on demand (the path that concurrent requests share GEMMs on). Encore only.
if [ "${ON_DEMAND:-0}" = 1 ]; then
  LUA="$ROOT/bench/post_on_demand.lua"
  SKIP_FLASK=1
fi
VENV=${VENV:-/tmp/flask-venv}

log() { printf '\n== %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk"
  apt-get update -qq && apt-get install -y -qq wrk
fi
[ -f "$LUA" ] || { echo "missing $LUA (../shared must sit beside the repository)" >&2; exit 1; }

# ENCORE_BIN=/path/to/encore measures another build (an older commit, for an A/B) as it is.
if [ -n "${ENCORE_BIN:-}" ]; then
  ENCORE="$ENCORE_BIN"
else
  log "building encore (release)"
  cargo build --release -p encore-cli --quiet
  ENCORE="$ROOT/target/release/encore"
fi

mkdir -p "$WORK"
DATA="$WORK/interactions_${USERS}x${ITEMS}x${ROWS}.tsv"
if [ ! -s "$DATA" ]; then
  log "generating $USERS users x $ITEMS items x $ROWS rows"
  "$ENCORE" generate --users "$USERS" --items "$ITEMS" --rows "$ROWS" --seed 7 --output "$DATA"
fi

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # url, seconds
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $url" >&2; return 1; }
    sleep 0.2
  done
}

run_wrk() { # base url, users file, [extra wrk args such as -H "Authorization: …"] -> WRKJSON
  local url=$1 users=$2
  # What else runs changes the figures (2 cores): say it beside them.
  echo "load average before wrk: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" -s "$LUA" "$url" -- "$users" \
    | tee "$WORK/wrk_last.txt" | sed -n 's/^WRKJSON //p'
}

# ---------------------------------------------------------------------------------- Encore
DATA_DIR="$WORK/encore-data"
# REUSE_DATA=1 keeps the data dir (and its trained model) of a previous run of the same size.
if [ "${REUSE_DATA:-0}" = 1 ] && [ -s "$DATA_DIR/encore.db" ]; then
  log "reusing $DATA_DIR"
  TRAIN=0
else
  rm -rf "$DATA_DIR"
  log "importing into $DATA_DIR"
  "$ENCORE" import --data-dir "$DATA_DIR" --catalog music "$DATA"
  TRAIN=1
fi

# Every API call needs a key: make an admin key (the secret goes to a file, never to the log).
"$ENCORE" keys create --data-dir "$DATA_DIR" --role admin --name serve-speed >"$WORK/key.txt"
AUTH="Authorization: Bearer $(cat "$WORK/key.txt")"

log "starting encore serve on 127.0.0.1:$ENCORE_PORT"
# ENCORE_SERVE_ARGS adds flags, e.g. "--http-threads 1" to compare runtime sizes.
# shellcheck disable=SC2086
"$ENCORE" serve --data-dir "$DATA_DIR" --listen "127.0.0.1:$ENCORE_PORT" --training-threads 2 \
  ${ENCORE_SERVE_ARGS:-} >"$WORK/encore.log" 2>&1 &
PIDS+=($!)
ENCORE_PID=$!
wait_http "http://127.0.0.1:$ENCORE_PORT/healthz" 60
# Live at once; the catalog loads in the background (503 not_ready until then).
wait_http "http://127.0.0.1:$ENCORE_PORT/readyz" 120

train_job() { # -> job id; trains iALS through the API with activate=always
  curl -fsS -X POST "http://127.0.0.1:$ENCORE_PORT/v1/catalogs/music/models" \
    -H 'content-type: application/json' -H "$AUTH" \
    -d "{\"model\":\"ials\",\"params\":{\"factors\":$FACTORS},\"activate\":\"always\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])'
}
job_state() { # job id -> "state activation_seconds error"
  curl -fsS -H "$AUTH" "http://127.0.0.1:$ENCORE_PORT/v1/jobs/$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(j["state"], j.get("activation_seconds") or 0, j.get("error") or "")'
}
wait_job() { # job id -> activation seconds
  local state
  while :; do
    state=$(job_state "$1")
    case "$state" in
      succeeded*) echo "$state" | cut -d' ' -f2; return 0 ;;
      failed*|cancelled*) echo "training job $1: $state" >&2; return 1 ;;
    esac
    sleep 0.2
  done
}

cut -f1 "$DATA" | sort -u >"$WORK/users.txt"
if [ "$TRAIN" = 1 ]; then
  log "training iALS ($FACTORS factors) through the API"
  JOB=$(train_job)
  ACTIVATION=$(wait_job "$JOB")
  # The job succeeds once the new version answers (its candidate table built first), so the
  # load starts at once: no warm-up, no waiting for a background pass.
  log "job $JOB succeeded (activation ${ACTIVATION} s); wrk -t$THREADS -c$CONNECTIONS -d$DURATION at once"
  ENCORE_JSON=$(run_wrk "http://127.0.0.1:$ENCORE_PORT" "$WORK/users.txt" -H "$AUTH")
else
  log "warm-up (5 s), then wrk -t$THREADS -c$CONNECTIONS -d$DURATION against encore"
  DURATION=5s run_wrk "http://127.0.0.1:$ENCORE_PORT" "$WORK/users.txt" -H "$AUTH" >/dev/null
  ENCORE_JSON=$(run_wrk "http://127.0.0.1:$ENCORE_PORT" "$WORK/users.txt" -H "$AUTH")
fi
ENCORE_RSS=$(ps -o rss= -p "$ENCORE_PID" | awk '{printf "%d", $1/1024}')
echo "encore: $ENCORE_JSON (RSS ${ENCORE_RSS} MB)"

# ACROSS=1: a second training job under load. wrk runs in 10 s slices from the job's start until
# one slice after it succeeded, so training, activation (the new table is built while the old
# model serves) and the swap all happen under load; each slice is printed.
if [ "${ACROSS:-0}" = 1 ]; then
  log "a second training job under load (10 s wrk slices)"
  JOB2=$(train_job)
  slice=0 after=0
  while [ "$after" -lt 1 ]; do
    slice=$((slice + 1))
    J=$(DURATION=10s run_wrk "http://127.0.0.1:$ENCORE_PORT" "$WORK/users.txt" -H "$AUTH")
    S=$(job_state "$JOB2")
    python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f'slice {sys.argv[2]:>3} ({sys.argv[3]}): {r[\"rps\"]:.0f} req/s p50 {r[\"lat_p50_ms\"]:.2f} ms p99 {r[\"lat_p99_ms\"]:.2f} ms errors {r[\"errors\"]}')" "$J" "$slice" "$S"
    case "$S" in
      succeeded*) after=$((after + 1)) ;;
      failed*|cancelled*) echo "training job $JOB2: $S" >&2; exit 1 ;;
    esac
  done
fi
kill "$ENCORE_PID" 2>/dev/null || true

if [ "${SKIP_FLASK:-0}" = 1 ]; then
  python3 - "$ENCORE_JSON" <<'PY'
import json, sys
e = json.loads(sys.argv[1])
print(f"encore: {e['rps']:.0f} req/s, p50 {e['lat_p50_ms']:.2f} ms, p99 {e['lat_p99_ms']:.2f} ms, errors {e['errors']}")
PY
  exit 0
fi

# ---------------------------------------------------------------------------------- Flask
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import implicit, flask, pandas, scipy, threadpoolctl' 2>/dev/null; then
  log "creating the Flask baseline venv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q implicit==0.7.3 flask pandas scipy threadpoolctl
fi
FLASK_MODEL="$WORK/flask-model"
if [ ! -s "$FLASK_MODEL/users.txt" ]; then
  log "training the Flask baseline model"
  "$VENV/bin/python" "$BASELINE/train_model.py" "$DATA" "$FLASK_MODEL"
fi
log "starting the Flask baseline on 127.0.0.1:$FLASK_PORT"
(cd "$BASELINE" && ANCHOR_MODEL_DIR="$FLASK_MODEL" OPENBLAS_NUM_THREADS=1 \
  exec "$VENV/bin/python" -m flask --app app run --host 127.0.0.1 --port "$FLASK_PORT") \
  >"$WORK/flask.log" 2>&1 &
PIDS+=($!)
FLASK_PID=$!
# Flask answers 405 on GET /recommend once it is up; wait for any HTTP answer.
deadline=$((SECONDS + 120))
until curl -s -o /dev/null "http://127.0.0.1:$FLASK_PORT/recommend"; do
  [ $SECONDS -lt $deadline ] || { echo "Flask did not start; see $WORK/flask.log" >&2; exit 1; }
  sleep 0.5
done
log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION against Flask"
FLASK_JSON=$(run_wrk "http://127.0.0.1:$FLASK_PORT" "$FLASK_MODEL/users.txt")
echo "flask: $FLASK_JSON"
kill "$FLASK_PID" 2>/dev/null || true

python3 - "$ENCORE_JSON" "$FLASK_JSON" <<'PY'
import json, sys
e, f = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print()
print(f"{'server':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
for name, r in (("encore", e), ("flask", f)):
    print(f"{name:<8} {r['rps']:>10.0f} {r['lat_p50_ms']:>8.2f} {r['lat_p99_ms']:>8.2f} {r['errors']:>7}")
ratio = e["rps"] / f["rps"] if f["rps"] else float("inf")
print(f"\nthroughput ratio encore/flask: {ratio:.1f}x (target >= 30x); "
      f"encore p99 {e['lat_p99_ms']:.2f} ms (target <= 5 ms); encore errors {e['errors']} (target 0)")
PY
